//! Writing a large file past the page cache: whole aligned windows go out with `O_DIRECT`, the
//! unaligned tail through an ordinary handle. Blobs and bundles are written once and read
//! later, if at all; caching their pages only makes the kernel copy every byte once more and
//! reclaim memory while they are written. Where the file system refuses `O_DIRECT` (tmpfs, some
//! network file systems), every write goes through the ordinary handle instead.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;

/// Alignment of the buffer address, file offsets and lengths of direct writes.
const ALIGN: usize = 4096;
/// The largest window: bytes per direct write.
const CHUNK: usize = 4 << 20;

/// One aligned buffer of `window` bytes from `start`.
#[derive(Debug)]
struct Window {
    buf: Vec<u8>,
    start: usize,
}

impl Window {
    fn new(window: usize) -> Window {
        let buf = vec![0u8; window + ALIGN];
        let start = buf.as_ptr().align_offset(ALIGN).min(ALIGN);
        Window { buf, start }
    }
}

/// The thread that writes full windows while the caller fills the next one.
#[derive(Debug)]
struct Flusher {
    jobs: Option<mpsc::SyncSender<(Window, usize, u64)>>,
    done: mpsc::Receiver<io::Result<Window>>,
    handle: Option<JoinHandle<()>>,
    /// Windows handed over and not yet returned.
    in_flight: usize,
}

/// The first write error, kept so that every later call fails with it (`io::Error` is not
/// `Clone`).
#[derive(Clone, Debug)]
struct Failure {
    os: Option<i32>,
    kind: io::ErrorKind,
    message: String,
}

impl Failure {
    fn of(e: &io::Error) -> Failure {
        Failure {
            os: e.raw_os_error(),
            kind: e.kind(),
            message: e.to_string(),
        }
    }

    fn error(&self) -> io::Error {
        match self.os {
            Some(code) => io::Error::from_raw_os_error(code),
            None => io::Error::new(self.kind, self.message.clone()),
        }
    }
}

/// A positional writer of one file: full windows go out with `O_DIRECT` on a thread of their
/// own (so writing one overlaps filling the next), the tail and whatever the file system
/// refuses through an ordinary handle. After a write fails, every call fails with that error:
/// the file has a hole where the window should be.
#[derive(Debug)]
pub struct DirectWriter {
    path: PathBuf,
    plain: File,
    /// The window's size: a multiple of `ALIGN`, at most `CHUNK`.
    window: usize,
    current: Window,
    /// Bytes waiting in the current window.
    pending: usize,
    /// Bytes handed to the flusher (the file offset of the current window).
    offset: u64,
    flusher: Option<Flusher>,
    /// The first write error, if a write failed.
    failed: Option<Failure>,
    /// Makes the flusher panic at its first window (to test how that is reported).
    #[cfg(test)]
    panic_in_flusher: bool,
}

impl DirectWriter {
    /// Writes to the file at `path`, open (empty) as `plain`, in windows of up to 4 MiB.
    pub fn new(path: &Path, plain: File) -> DirectWriter {
        DirectWriter::with_window(path, plain, u64::MAX)
    }

    /// As [`DirectWriter::new`] with windows of about `bytes` (the smallest multiple of 4 KiB
    /// that holds them, at most 4 MiB): the size of a small file, so that the memory held is no
    /// more than it needs, or a bound on that memory (two windows per large file).
    pub fn with_window(path: &Path, plain: File, bytes: u64) -> DirectWriter {
        let wanted = usize::try_from(bytes).unwrap_or(CHUNK).min(CHUNK);
        let window = wanted.div_ceil(ALIGN).max(1) * ALIGN;
        DirectWriter {
            path: path.to_path_buf(),
            plain,
            window,
            current: Window::new(window),
            pending: 0,
            offset: 0,
            flusher: None,
            failed: None,
            #[cfg(test)]
            panic_in_flusher: false,
        }
    }

    /// The error of an earlier failed write, if there was one.
    fn check(&self) -> io::Result<()> {
        match &self.failed {
            Some(f) => Err(f.error()),
            None => Ok(()),
        }
    }

    /// Bytes accepted so far.
    pub fn written(&self) -> u64 {
        self.offset + self.pending as u64
    }

    /// Copies `reader` to its end into the file, reading straight into the window (one copy of
    /// each byte in memory, none in the kernel when writes are direct). Returns the bytes read.
    pub fn copy_from(&mut self, reader: &mut dyn Read) -> io::Result<u64> {
        self.check()?;
        let mut total = 0u64;
        loop {
            let at = self.current.start + self.pending;
            let end = self.current.start + self.window;
            match reader.read(&mut self.current.buf[at..end]) {
                Ok(0) => return Ok(total),
                Ok(n) => {
                    total += n as u64;
                    self.pending += n;
                    if self.pending == self.window {
                        self.hand_over()?;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Hands the full window to the flusher (started at the first one, so small files never
    /// start it) and takes a free window: a second one the first time, after that the one the
    /// flusher returns (waiting for its write, and failing with its error). Two windows at most.
    /// A failure is kept: the file now lacks a window, so nothing more may be written.
    fn hand_over(&mut self) -> io::Result<()> {
        self.send_window().inspect_err(|e| {
            self.failed.get_or_insert_with(|| Failure::of(e));
        })
    }

    fn send_window(&mut self) -> io::Result<()> {
        if self.flusher.is_none() {
            self.flusher = Some(self.start_flusher()?);
        }
        let Some(flusher) = self.flusher.as_mut() else {
            return Err(io::Error::other("the window writer did not start"));
        };
        let next = if flusher.in_flight == 0 {
            Window::new(self.window)
        } else {
            flusher.take_returned()?
        };
        let full = std::mem::replace(&mut self.current, next);
        let sent = flusher
            .jobs
            .as_ref()
            .map(|jobs| jobs.send((full, self.pending, self.offset)));
        if !matches!(sent, Some(Ok(()))) {
            // The flusher stopped: it reports why.
            return Err(flusher.error_after_stop());
        }
        flusher.in_flight += 1;
        self.offset += self.pending as u64;
        self.pending = 0;
        Ok(())
    }

    fn start_flusher(&self) -> io::Result<Flusher> {
        let (jobs_tx, jobs_rx) = mpsc::sync_channel::<(Window, usize, u64)>(1);
        let (done_tx, done_rx) = mpsc::sync_channel::<io::Result<Window>>(2);
        let path = self.path.clone();
        let plain = self.plain.try_clone()?;
        #[cfg(test)]
        let panic_in_flusher = self.panic_in_flusher;
        let handle = std::thread::Builder::new()
            .name("airlock-direct".into())
            .spawn(move || {
                let mut direct = open_direct(&path, &plain);
                for (window, len, offset) in jobs_rx {
                    #[cfg(test)]
                    if panic_in_flusher {
                        panic!("a test asked for this panic");
                    }
                    let data = &window.buf[window.start..window.start + len];
                    let result = write_at(&mut direct, &plain, data, offset).map(|()| window);
                    let failed = result.is_err();
                    if done_tx.send(result).is_err() || failed {
                        return;
                    }
                }
            })?;
        Ok(Flusher {
            jobs: Some(jobs_tx),
            done: done_rx,
            handle: Some(handle),
            in_flight: 0,
        })
    }

    /// Writes what is left and returns the ordinary handle (not yet synced).
    pub fn finish(mut self) -> io::Result<File> {
        self.check()?;
        if let Some(mut flusher) = self.flusher.take() {
            while flusher.in_flight > 0 {
                flusher.take_returned()?;
            }
            flusher.stop();
        }
        if self.pending > 0 {
            // The tail is not a whole window: the ordinary handle takes it.
            let w = &self.current;
            self.plain
                .write_all_at(&w.buf[w.start..w.start + self.pending], self.offset)?;
            self.offset += self.pending as u64;
            self.pending = 0;
        }
        Ok(self.plain)
    }
}

impl Flusher {
    /// The next window the flusher is done with, or its write error.
    fn take_returned(&mut self) -> io::Result<Window> {
        match self.done.recv() {
            Ok(result) => {
                self.in_flight -= 1;
                result
            }
            Err(_) => Err(self.ended()),
        }
    }

    /// The error a stopped flusher left, if it left one.
    fn error_after_stop(&mut self) -> io::Error {
        while self.in_flight > 0 {
            if let Err(e) = self.take_returned() {
                return e;
            }
        }
        self.ended()
    }

    /// Why the thread ended without reporting an error: a panic, with its message.
    fn ended(&mut self) -> io::Error {
        // Its channels are closed, so the thread has ended (or is unwinding): the join is
        // quick.
        self.jobs = None;
        match self.handle.take().map(JoinHandle::join) {
            Some(Err(payload)) => {
                let message = payload
                    .downcast_ref::<&str>()
                    .copied()
                    .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
                    .unwrap_or("no message");
                io::Error::other(format!("the window writer panicked: {message}"))
            }
            _ => io::Error::other("the window writer stopped"),
        }
    }

    /// Ends the thread once its queue is written.
    fn stop(&mut self) {
        self.jobs = None;
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        // Abandoned (an error elsewhere): let the thread finish its one write and end, so
        // nothing writes to the file after its owner has moved on.
        self.stop();
    }
}

/// Opens `path` for direct writes, or says that it cannot be. The handle must reach the file
/// `plain` has open: if the path was replaced since (by a link to another file, say), windows
/// go through `plain`.
fn open_direct(path: &Path, plain: &File) -> Option<File> {
    // No link followed; and a FIFO put in its place fails to open instead of blocking.
    let flags = direct_flag() | libc::O_NOFOLLOW | libc::O_NONBLOCK;
    let file = match OpenOptions::new()
        .write(true)
        .custom_flags(flags)
        .open(path)
    {
        Ok(file) => file,
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            tracing::warn!(
                path = %path.display(),
                "the file being written was replaced by a symbolic link; writing through the handle already open"
            );
            return None;
        }
        Err(e) => {
            tracing::debug!(error = %e, "O_DIRECT refused here; writing through the page cache");
            return None;
        }
    };
    match (file.metadata(), plain.metadata()) {
        (Ok(d), Ok(p)) if d.dev() == p.dev() && d.ino() == p.ino() => Some(file),
        (Ok(_), Ok(_)) => {
            tracing::warn!(
                path = %path.display(),
                "the file being written was replaced by another; writing through the handle already open"
            );
            None
        }
        (Err(e), _) | (_, Err(e)) => {
            tracing::debug!(error = %e, "cannot compare the O_DIRECT handle; writing through the page cache");
            None
        }
    }
}

/// Writes `data` at `offset`: directly while the file system accepts it, else (from then on)
/// through the ordinary handle.
fn write_at(direct: &mut Option<File>, plain: &File, data: &[u8], offset: u64) -> io::Result<()> {
    if let Some(file) = direct {
        match file.write_all_at(data, offset) {
            Ok(()) => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                tracing::debug!("O_DIRECT refused here; writing through the page cache");
                *direct = None;
            }
            Err(e) => return Err(e),
        }
    }
    plain.write_all_at(data, offset)
}

impl Write for DirectWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.check()?;
        let room = self.window - self.pending;
        let n = data.len().min(room);
        let at = self.current.start + self.pending;
        self.current.buf[at..at + n].copy_from_slice(&data[..n]);
        self.pending += n;
        if self.pending == self.window {
            self.hand_over()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        // Whole windows are written as they fill; the tail waits for `finish`.
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
    use super::*;

    fn pattern(i: usize, size: usize) -> Vec<u8> {
        (0..size).map(|j| (i * 31 + j) as u8).collect()
    }

    /// A writer of 8 KiB windows onto `/dev/full`, where every write fails with ENOSPC
    /// (whichever handle makes it).
    fn full_writer() -> DirectWriter {
        let path = Path::new("/dev/full");
        let plain = OpenOptions::new()
            .write(true)
            .open(path)
            .expect("open /dev/full");
        DirectWriter::with_window(path, plain, 8192)
    }

    fn read_back(path: &Path) -> Vec<u8> {
        let mut got = Vec::new();
        File::open(path)
            .expect("open")
            .read_to_end(&mut got)
            .expect("read");
        got
    }

    #[test]
    fn the_file_holds_exactly_what_was_written_whatever_the_sizes() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("out");
        let plain = File::create(&path).expect("create");
        let mut w = DirectWriter::new(&path, plain);
        let mut expected = Vec::new();
        // Odd sizes that cross window boundaries, and one write larger than a window.
        for (i, size) in [1usize, 4095, 4097, CHUNK - 3, 7, CHUNK + 12_345, 10]
            .iter()
            .enumerate()
        {
            let data = pattern(i, *size);
            w.write_all(&data).expect("write");
            expected.extend_from_slice(&data);
        }
        assert_eq!(w.written(), expected.len() as u64);
        let file = w.finish().expect("finish");
        file.sync_all().expect("sync");
        let got = read_back(&path);
        assert_eq!(got.len(), expected.len());
        assert!(got == expected, "the content differs");
    }

    /// A reader that hands out a few bytes at a time, so reads end mid-window.
    struct Dribble<'a>(&'a [u8], usize);

    impl Read for Dribble<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let n = out.len().min(self.1).min(self.0.len());
            out[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn copy_from_fills_windows_from_any_reader_and_the_window_follows_the_hint() {
        let dir = tempfile::tempdir().expect("temp dir");
        for (i, (size, hint, step)) in [
            (0usize, 0u64, 1usize),
            (5_000, 5_000, 333),
            (3 * ALIGN, 3 * ALIGN as u64, ALIGN),
            (2 * CHUNK + 17, u64::MAX, 1 << 20),
            // A window smaller than the file: more, smaller direct writes.
            (100_000, 10_000, 7_777),
        ]
        .into_iter()
        .enumerate()
        {
            let path = dir.path().join(format!("out-{i}"));
            let plain = File::create(&path).expect("create");
            let mut w = DirectWriter::with_window(&path, plain, hint);
            assert!(w.window <= CHUNK && w.window.is_multiple_of(ALIGN) && w.window > 0);
            assert!(
                w.window as u64 >= hint.min(CHUNK as u64),
                "window {} for hint {hint}",
                w.window
            );
            let data = pattern(i, size);
            let n = w.copy_from(&mut Dribble(&data, step)).expect("copy");
            assert_eq!(n, size as u64);
            w.finish().expect("finish");
            assert!(read_back(&path) == data, "file {i} differs");
        }
    }

    #[test]
    fn a_failed_window_write_is_reported_not_lost() {
        let mut w = full_writer();
        let data = pattern(0, 5 * 8192);
        let err = w
            .copy_from(&mut &data[..])
            .expect_err("a window write failed");
        assert_eq!(err.raw_os_error(), Some(libc::ENOSPC), "{err}");

        // A failure of the last window surfaces in finish.
        let mut w = full_writer();
        w.copy_from(&mut &data[..8192])
            .expect("the first window is only handed over");
        let err = w.finish().expect_err("the window write failed");
        assert_eq!(err.raw_os_error(), Some(libc::ENOSPC), "{err}");
    }

    #[test]
    fn after_a_failed_window_every_call_fails_with_its_error() {
        let mut w = full_writer();
        let data = pattern(0, 5 * 8192);
        let err = w
            .copy_from(&mut &data[..])
            .expect_err("a window write failed");
        assert_eq!(err.raw_os_error(), Some(libc::ENOSPC), "{err}");
        // Not "done" (an empty read of the full window), not "the writer stopped": the same
        // error, from every call.
        for _ in 0..2 {
            let err = w
                .copy_from(&mut &data[..])
                .expect_err("copy after a failure");
            assert_eq!(err.raw_os_error(), Some(libc::ENOSPC), "{err}");
            let err = w.write(b"x").expect_err("write after a failure");
            assert_eq!(err.raw_os_error(), Some(libc::ENOSPC), "{err}");
        }
        let err = w.finish().expect_err("finish after a failure");
        assert_eq!(err.raw_os_error(), Some(libc::ENOSPC), "{err}");
    }

    #[test]
    fn a_path_replaced_before_the_first_window_is_not_written_through() {
        let dir = tempfile::tempdir().expect("temp dir");
        for link in [true, false] {
            let path = dir.path().join("out");
            let plain = OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(&path)
                .expect("create");
            // The writer's file moves away (the same file, under another name); a link to
            // another file, or another file, takes its name.
            let moved = dir.path().join(format!("moved-{link}"));
            std::fs::rename(&path, &moved).expect("rename");
            let other = dir.path().join(format!("other-{link}"));
            std::fs::write(&other, b"not yours").expect("other");
            if link {
                std::os::unix::fs::symlink(&other, &path).expect("symlink");
            } else {
                std::fs::rename(&other, &path).expect("replace");
            }
            let mut w = DirectWriter::with_window(&path, plain, 8192);
            let data = pattern(7, 3 * 8192 + 100);
            w.copy_from(&mut &data[..]).expect("copy");
            w.finish().expect("finish");
            let other = if link { other } else { path.clone() };
            assert!(
                read_back(&other) == b"not yours",
                "link: {link}: the other file was written"
            );
            assert!(read_back(&moved) == data, "link: {link}: the file differs");
            std::fs::remove_file(&path).expect("remove");
        }
    }

    #[test]
    fn a_panic_of_the_window_writer_is_reported_with_its_message() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("out");
        let plain = File::create(&path).expect("create");
        let mut w = DirectWriter::with_window(&path, plain, 8192);
        w.panic_in_flusher = true;
        let data = pattern(1, 3 * 8192);
        let err = w
            .copy_from(&mut &data[..])
            .expect_err("the writer panicked");
        assert!(
            err.to_string()
                .contains("the window writer panicked: a test asked for this panic"),
            "{err}"
        );
    }

    #[test]
    fn a_small_file_never_starts_the_window_writer() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("small");
        let plain = File::create(&path).expect("create");
        let mut w = DirectWriter::with_window(&path, plain, 100);
        w.write_all(b"hello").expect("write");
        assert!(w.flusher.is_none());
        w.finish().expect("finish");
        assert_eq!(read_back(&path), b"hello");
    }
}
