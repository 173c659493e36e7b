//! The benchmark baseline for `cache-verify`: one single-thread inflate of a gzip file with the
//! same zlib-rs backend, discarding the output. `cargo run --release --example inflate F`.

use std::io::{self, BufReader};

fn main() -> io::Result<()> {
    let path = std::env::args().nth(1).expect("usage: inflate FILE.gz");
    let file = BufReader::with_capacity(1 << 20, std::fs::File::open(path)?);
    let mut decoder = flate2::bufread::MultiGzDecoder::new(file);
    let bytes = io::copy(&mut decoder, &mut io::sink())?;
    eprintln!("{bytes} bytes inflated");
    Ok(())
}
