//! Multi-member gzip whose members can be found without inflating.
//!
//! The uncompressed stream is cut into fixed 1 MiB chunks; each becomes a complete gzip member
//! whose header carries an extra subfield `RF` with the member's total size (like BGZF's `BC`,
//! but 32-bit so members can be larger than 64 KiB). Any gzip reader sees one ordinary
//! multi-member file (`gzip -t`, `docker load`, skopeo); rocforge-ci can hand members to both
//! cores. Members are compressed in parallel, but the chunking does not depend on the number of
//! threads, so the bytes are the same on any machine.

use std::io::{self, Write};

use flate2::Compression;
use flate2::write::DeflateEncoder;
use rayon::prelude::*;

pub const CHUNK: usize = 1 << 20;
/// Fixed header: ID1 ID2 CM FLG MTIME(4) XFL OS, XLEN, then `R` `F` LEN(2) SIZE(4).
pub const HEADER_LEN: usize = 20;
const LEVEL: u32 = 6;

/// Writes multi-member gzip to `inner`, compressing batches of chunks on every core.
pub struct MemberWriter<W: Write> {
    inner: W,
    pending: Vec<Vec<u8>>,
    current: Vec<u8>,
    batch: usize,
}

impl<W: Write> MemberWriter<W> {
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            pending: Vec::new(),
            current: Vec::with_capacity(CHUNK),
            batch: 2 * rayon::current_num_threads().max(1),
        }
    }

    fn flush_pending(&mut self) -> io::Result<()> {
        let members: Vec<io::Result<Vec<u8>>> =
            self.pending.par_iter().map(|chunk| member(chunk)).collect();
        self.pending.clear();
        for m in members {
            self.inner.write_all(&m?)?;
        }
        Ok(())
    }

    /// Writes the last member and returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        if !self.current.is_empty() {
            let last = std::mem::take(&mut self.current);
            self.pending.push(last);
        }
        self.flush_pending()?;
        self.inner.flush()?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for MemberWriter<W> {
    fn write(&mut self, mut buf: &[u8]) -> io::Result<usize> {
        let written = buf.len();
        while !buf.is_empty() {
            let take = (CHUNK - self.current.len()).min(buf.len());
            self.current.extend_from_slice(&buf[..take]);
            buf = &buf[take..];
            if self.current.len() == CHUNK {
                let full = std::mem::replace(&mut self.current, Vec::with_capacity(CHUNK));
                self.pending.push(full);
                if self.pending.len() >= self.batch {
                    self.flush_pending()?;
                }
            }
        }
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// One complete gzip member for `data`.
pub fn member(data: &[u8]) -> io::Result<Vec<u8>> {
    let mut encoder = DeflateEncoder::new(
        Vec::with_capacity(data.len() / 2 + 64),
        Compression::new(LEVEL),
    );
    encoder.write_all(data)?;
    let deflated = encoder.finish()?;
    let total = HEADER_LEN + deflated.len() + 8;
    let size =
        u32::try_from(total).map_err(|_| io::Error::other("gzip member larger than 4 GiB"))?;
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&[0x1f, 0x8b, 8, 0x04, 0, 0, 0, 0, 0, 0xff]);
    out.extend_from_slice(&8u16.to_le_bytes());
    out.extend_from_slice(b"RF");
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&size.to_le_bytes());
    out.extend_from_slice(&deflated);
    let mut crc = flate2::Crc::new();
    crc.update(data);
    out.extend_from_slice(&crc.sum().to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    Ok(out)
}

/// The total size of the member starting with `header`, if it carries an `RF` subfield.
pub fn member_size(header: &[u8]) -> Option<usize> {
    if header.len() < HEADER_LEN
        || header[0..4] != [0x1f, 0x8b, 8, 0x04]
        || header[10..12] != 8u16.to_le_bytes()
    {
        return None;
    }
    if &header[12..14] != b"RF" || header[14..16] != 4u16.to_le_bytes() {
        return None;
    }
    let size = u32::from_le_bytes(header[16..20].try_into().ok()?) as usize;
    (size >= HEADER_LEN + 8).then_some(size)
}

/// Inflates one member found by [`member_size`], checking its CRC-32 and length.
pub fn inflate_member(member: &[u8]) -> io::Result<Vec<u8>> {
    let bad = |why: &str| io::Error::new(io::ErrorKind::InvalidData, why.to_owned());
    if member.len() < HEADER_LEN + 8 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "gzip member cut short",
        ));
    }
    let trailer = &member[member.len() - 8..];
    let crc = u32::from_le_bytes(trailer[0..4].try_into().expect("4 bytes"));
    let isize = u32::from_le_bytes(trailer[4..8].try_into().expect("4 bytes")) as usize;
    if isize > CHUNK * 64 {
        return Err(bad("gzip member claims an absurd size"));
    }
    // Straight into a buffer of the announced size: no intermediate copy.
    let mut out = Vec::with_capacity(isize + 1);
    let mut inflater = flate2::Decompress::new(false);
    let body = &member[HEADER_LEN..member.len() - 8];
    let status = inflater
        .decompress_vec(body, &mut out, flate2::FlushDecompress::Finish)
        .map_err(|e| bad(&format!("corrupt deflate data: {e}")))?;
    if status != flate2::Status::StreamEnd || inflater.total_in() != body.len() as u64 {
        return Err(bad(
            "corrupt deflate data: the stream does not end where the member does",
        ));
    }
    let mut check = flate2::Crc::new();
    check.update(&out);
    if check.sum() != crc || out.len() != isize {
        return Err(bad("CRC-32 or length mismatch"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn members_are_plain_gzip_and_self_describing() {
        let data: Vec<u8> = (0..(CHUNK * 2 + 12345)).map(|i| (i % 251) as u8).collect();
        let mut writer = MemberWriter::new(Vec::new());
        writer.write_all(&data).unwrap();
        let gz = writer.finish().unwrap();
        let mut plain = Vec::new();
        flate2::read::MultiGzDecoder::new(&gz[..])
            .read_to_end(&mut plain)
            .unwrap();
        assert_eq!(plain, data);
        let first = member_size(&gz).unwrap();
        assert_eq!(inflate_member(&gz[..first]).unwrap(), &data[..CHUNK]);
        let second = member_size(&gz[first..]).unwrap();
        let third = member_size(&gz[first + second..]).unwrap();
        assert_eq!(first + second + third, gz.len());
    }

    #[test]
    fn bytes_do_not_depend_on_the_thread_count() {
        let data: Vec<u8> = (0..(CHUNK * 3)).map(|i| (i * 7 % 253) as u8).collect();
        let run = |threads| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| {
                    let mut w = MemberWriter::new(Vec::new());
                    w.write_all(&data).unwrap();
                    w.finish().unwrap()
                })
        };
        assert_eq!(run(1), run(3));
    }

    #[test]
    fn corruption_is_detected() {
        let mut gz = member(b"hello world").unwrap();
        let n = gz.len();
        gz[n - 9] ^= 1;
        assert!(inflate_member(&gz).is_err());
    }
}
