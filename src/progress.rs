//! Progress of long work (pulls, pushes, hashing), reported to whoever renders it. The library
//! never draws: the CLI passes a terminal progress bar, everything else passes [`Silent`].

pub trait Progress: Send + Sync {
    /// A new phase; `total` in bytes when known.
    fn start(&self, _label: &str, _total: Option<u64>) {}
    fn advance(&self, _bytes: u64) {}
    fn finish(&self) {}
}

/// Reports nothing.
pub struct Silent;

impl Progress for Silent {}
