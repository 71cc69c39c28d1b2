//! Writing a large file past the page cache: whole aligned chunks go out with `O_DIRECT`, the
//! unaligned tail through an ordinary handle. A bundle is written once and read elsewhere, so
//! caching its pages only makes the kernel reclaim memory while it is written; direct writes
//! keep that cost out of the export. Where the file system refuses `O_DIRECT` (tmpfs, some
//! network file systems), every write goes through the ordinary handle instead.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;

/// Alignment of the buffer address, file offsets and lengths of direct writes.
const ALIGN: usize = 4096;
/// Bytes per direct write.
const CHUNK: usize = 4 << 20;

/// A positional writer of one file: direct chunks while it can, ordinary writes otherwise.
#[derive(Debug)]
pub struct DirectWriter {
    direct: Option<File>,
    plain: File,
    /// Over-allocated so that `CHUNK` bytes from `start` are aligned.
    buf: Vec<u8>,
    start: usize,
    /// Bytes waiting in the window.
    pending: usize,
    /// Bytes written to the file.
    offset: u64,
}

impl DirectWriter {
    /// Writes to the file at `path`, open (empty) as `plain`.
    pub fn new(path: &Path, plain: File) -> DirectWriter {
        let direct = OpenOptions::new()
            .write(true)
            .custom_flags(direct_flag())
            .open(path)
            .ok();
        let buf = vec![0u8; CHUNK + ALIGN];
        let start = buf.as_ptr().align_offset(ALIGN).min(ALIGN);
        DirectWriter {
            direct,
            plain,
            buf,
            start,
            pending: 0,
            offset: 0,
        }
    }

    /// Whether chunks still go out directly.
    pub fn is_direct(&self) -> bool {
        self.direct.is_some()
    }

    /// Writes the full window: directly, or (when the file system refuses) through the ordinary
    /// handle from then on.
    fn write_window(&mut self) -> io::Result<()> {
        let window = &self.buf[self.start..self.start + self.pending];
        if let Some(direct) = &self.direct {
            match direct.write_all_at(window, self.offset) {
                Ok(()) => {
                    self.offset += self.pending as u64;
                    self.pending = 0;
                    return Ok(());
                }
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                    tracing::debug!("O_DIRECT refused here; writing through the page cache");
                    self.direct = None;
                }
                Err(e) => return Err(e),
            }
        }
        self.plain.write_all_at(window, self.offset)?;
        self.offset += self.pending as u64;
        self.pending = 0;
        Ok(())
    }

    /// Writes what is left and returns the ordinary handle (not yet synced).
    pub fn finish(mut self) -> io::Result<File> {
        if self.pending > 0 {
            // The tail is not a whole chunk: the ordinary handle takes it.
            let window = &self.buf[self.start..self.start + self.pending];
            self.plain.write_all_at(window, self.offset)?;
            self.offset += self.pending as u64;
            self.pending = 0;
        }
        Ok(self.plain)
    }
}

impl Write for DirectWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = CHUNK - self.pending;
        let n = data.len().min(room);
        let at = self.start + self.pending;
        self.buf[at..at + n].copy_from_slice(&data[..n]);
        self.pending += n;
        if self.pending == CHUNK {
            self.write_window()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        // Whole chunks are written as they fill; the tail waits for `finish`.
        Ok(())
    }
}

#[cfg(target_os = "linux")]
fn direct_flag() -> i32 {
    libc::O_DIRECT
}

#[cfg(not(target_os = "linux"))]
fn direct_flag() -> i32 {
    0
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    #[test]
    fn the_file_holds_exactly_what_was_written_whatever_the_sizes() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("out");
        let plain = File::create(&path).expect("create");
        let mut w = DirectWriter::new(&path, plain);
        let mut expected = Vec::new();
        // Odd sizes that cross chunk boundaries, and one write larger than a chunk.
        for (i, size) in [1usize, 4095, 4097, CHUNK - 3, 7, CHUNK + 12_345, 10]
            .iter()
            .enumerate()
        {
            let data: Vec<u8> = (0..*size).map(|j| (i * 31 + j) as u8).collect();
            w.write_all(&data).expect("write");
            expected.extend_from_slice(&data);
        }
        let file = w.finish().expect("finish");
        file.sync_all().expect("sync");
        let mut got = Vec::new();
        File::open(&path)
            .expect("open")
            .read_to_end(&mut got)
            .expect("read");
        assert_eq!(got.len(), expected.len());
        assert!(got == expected, "the content differs");
    }
}
