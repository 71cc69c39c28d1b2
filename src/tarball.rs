//! OCI image layouts as tarballs (`.tar`, or `.tar.zst` detected by magic bytes): a streaming,
//! verifying reader that treats every entry as hostile, and a deterministic writer.
//!
//! Spec: `formats/layout.md`, section "Tarballs". The reader makes one pass over its input with
//! no temporary directory: each blob entry is hashed as it streams and fails on a digest or size
//! mismatch; `index.json` and `oci-layout` are small and held until the end.

use std::cell::Cell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::rc::Rc;
use std::sync::Arc;

use crate::digest::{Algorithm, Digest, DigestError, Expected, HashingReader, digest_error};
use crate::graph::{BlobStore, Graph, GraphError, check_size};
use crate::layout::{
    self, BLOBS_DIR, INDEX_FILE, IndexEntry, Layout, LayoutError, OCI_LAYOUT_FILE,
    parse_index_entries,
};
use crate::limits::Limits;

const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const READ_BUFFER: usize = 1 << 20;
const MAX_EXTENSION_BYTES: u64 = 64 * 1024;

/// How a tarball is compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// Plain tar.
    None,
    /// Zstandard.
    Zstd,
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Compression::None => "none",
            Compression::Zstd => "zstd",
        })
    }
}

/// Why a tarball was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TarballError {
    /// Reading or writing the stream failed.
    #[error("{action}: {source}")]
    Io {
        /// What was being done.
        action: String,
        /// The failure.
        source: io::Error,
    },
    /// The input is neither tar nor zstd.
    #[error("input is not a tar or zstd-compressed tar stream ({0})")]
    UnknownFormat(String),
    /// An entry name with `..`.
    #[error("tar entry {0:?} escapes the layout (path traversal)")]
    PathTraversal(String),
    /// An absolute entry name.
    #[error("tar entry {0:?} is an absolute path")]
    AbsolutePath(String),
    /// An entry that is not part of an OCI layout.
    #[error(
        "tar entry {0:?} is outside the OCI layout (allowed: oci-layout, index.json, blobs/<alg>/<hex>)"
    )]
    OutsideLayout(String),
    /// A symlink or hard link.
    #[error("tar entry {name:?} is a {kind}; links are not allowed in a layout tarball")]
    Link {
        /// The entry.
        name: String,
        /// Symlink or hard link.
        kind: &'static str,
    },
    /// A device, FIFO or other special file, or an extension airlock does not accept.
    #[error("tar entry {name:?} has unsupported type {kind}")]
    UnsupportedEntry {
        /// The entry.
        name: String,
        /// The type.
        kind: String,
    },
    /// The same name twice.
    #[error("tar entry {0:?} appears more than once")]
    Duplicate(String),
    /// More entries than `max_tar_entries`.
    #[error("tarball has more than {0} entries (max_tar_entries)")]
    TooManyEntries(u64),
    /// An entry larger than allowed for its kind.
    #[error("tar entry {name:?} is {size} bytes, more than the limit of {limit}")]
    EntryTooLarge {
        /// The entry.
        name: String,
        /// Its declared size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The tar or zstd stream is malformed (a bad header checksum, a corrupt frame).
    #[error("tarball is malformed: {0}")]
    Malformed(String),
    /// The zstd frame needs a larger window than `max_zstd_window_log` allows.
    #[error("zstd stream needs a window larger than 2^{0} bytes (max_zstd_window_log)")]
    WindowTooLarge(u32),
    /// The (decompressed) stream is longer than `max_tarball_bytes`.
    #[error("tarball expands past the limit of {0} bytes (max_tarball_bytes)")]
    ExpandsPastLimit(u64),
    /// The stream ended early.
    #[error("tarball is truncated: {0}")]
    Truncated(String),
    /// Non-zero bytes after the end-of-archive marker.
    #[error("tarball has data after its end-of-archive marker")]
    TrailingData,
    /// A blob entry does not match its name.
    #[error("tar entry {name:?} does not match its digest: {source}")]
    BlobMismatch {
        /// The entry.
        name: String,
        /// The mismatch.
        source: DigestError,
    },
    /// `oci-layout` or `index.json` is absent.
    #[error("tarball has no {0}; it is not an OCI image layout")]
    MissingFile(&'static str),
    /// A layout document is invalid.
    #[error(transparent)]
    Layout(#[from] LayoutError),
    /// The content graph is incomplete or invalid.
    #[error(transparent)]
    Graph(#[from] GraphError),
}

impl TarballError {
    pub(crate) fn io(action: impl Into<String>) -> impl FnOnce(io::Error) -> Self {
        let action = action.into();
        move |source| TarballError::Io { action, source }
    }
}

/// What a tarball entry's name says it is.
#[derive(Clone, Debug, PartialEq, Eq)]
enum EntryName {
    Dir,
    OciLayout,
    IndexJson,
    Blob(Digest),
}

/// Classifies a tar entry name, refusing anything that is not part of a layout.
fn classify(raw: &str) -> Result<(String, EntryName), TarballError> {
    if raw.starts_with('/') {
        return Err(TarballError::AbsolutePath(raw.to_owned()));
    }
    if raw.split('/').any(|c| c == "..") || raw.contains('\\') {
        return Err(TarballError::PathTraversal(raw.to_owned()));
    }
    let trimmed = raw.strip_prefix("./").unwrap_or(raw);
    let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
    let parts: Vec<&str> = trimmed.split('/').collect();
    let name = match parts.as_slice() {
        [""] | ["."] | [BLOBS_DIR] => EntryName::Dir,
        [BLOBS_DIR, alg] if Algorithm::parse(alg).is_ok() => EntryName::Dir,
        [OCI_LAYOUT_FILE] => EntryName::OciLayout,
        [INDEX_FILE] => EntryName::IndexJson,
        [BLOBS_DIR, alg, hex] => match Algorithm::parse(alg).and_then(|a| Digest::new(a, hex)) {
            Ok(d) => EntryName::Blob(d),
            Err(_) => return Err(TarballError::OutsideLayout(raw.to_owned())),
        },
        _ => return Err(TarballError::OutsideLayout(raw.to_owned())),
    };
    Ok((trimmed.to_owned(), name))
}

/// Watches the raw input: any error it returns is a genuine I/O failure (a disk, a pipe), as
/// opposed to malformed content found by the layers above it.
struct IoWatch<R> {
    inner: R,
    failed: Rc<Cell<bool>>,
}

impl<R: Read> Read for IoWatch<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let r = self.inner.read(buf);
        if r.is_err() {
            self.failed.set(true);
        }
        r
    }
}

/// The input with its first bytes put back in front.
type Input<R> = io::Chain<io::Take<io::Cursor<[u8; 4]>>, IoWatch<R>>;

/// The decompressed stream: plain, or one zstd frame.
enum Stream<R: Read> {
    Plain(BufReader<Input<R>>),
    Zstd(zstd::stream::read::Decoder<'static, BufReader<Input<R>>>),
}

impl<R: Read> Read for Stream<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(r) => r.read(buf),
            Stream::Zstd(r) => r.read(buf),
        }
    }
}

/// Counts bytes read below the tar parser, enforces the expansion limit, and remembers whether
/// the input hit EOF (which tells a truncated archive from one ended by its zero blocks).
struct Counting<R> {
    inner: R,
    count: u64,
    limit: u64,
    hit_eof: bool,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() {
            self.hit_eof = true;
        }
        self.count += n as u64;
        if self.count > self.limit {
            return Err(io::Error::other(TarballError::ExpandsPastLimit(self.limit)));
        }
        Ok(n)
    }
}

/// Records whether reading a tar entry failed, so a failure inside a blob callback can be told
/// apart from one of the callback's own (writing to the target disk, say).
struct Recording<'r> {
    inner: &'r mut dyn Read,
    failed: bool,
}

impl Read for Recording<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let r = self.inner.read(buf);
        if r.is_err() {
            self.failed = true;
        }
        r
    }
}

/// The layout documents and blob list of a tarball that was read and verified.
#[derive(Debug)]
pub struct TarballContents {
    /// How it was compressed.
    pub compression: Compression,
    /// The exact bytes of `oci-layout`.
    pub oci_layout: Vec<u8>,
    /// The exact bytes of `index.json`.
    pub index_json: Vec<u8>,
    /// The parsed `index.json` entries.
    pub entries: Vec<IndexEntry>,
    /// Every blob, with its verified size.
    pub blobs: BTreeMap<Digest, u64>,
    /// Bytes of tar stream read (after decompression).
    pub tar_bytes: u64,
}

/// A blob entry being streamed; reading it to EOF verifies its digest and size.
pub type BlobReader<'r> = HashingReader<&'r mut dyn Read>;

/// Turns `io::Error`s from the layers under the tar parser into the failure they stand for.
struct ErrorContext {
    io_failed: Rc<Cell<bool>>,
    window_log: u32,
}

impl ErrorContext {
    fn classify(&self, action: &str, e: io::Error, entries_seen: u64) -> TarballError {
        if e.get_ref().is_some_and(|i| i.is::<TarballError>()) {
            if let Some(Ok(t)) = e.into_inner().map(|inner| inner.downcast::<TarballError>()) {
                return *t;
            }
            return TarballError::Malformed(format!("{action}: unreadable error"));
        }
        if let Some(de) = digest_error(&e) {
            return TarballError::Malformed(format!("{action}: {de}"));
        }
        if self.io_failed.get() {
            return TarballError::Io {
                action: action.to_owned(),
                source: e,
            };
        }
        let text = e.to_string();
        if e.kind() == io::ErrorKind::UnexpectedEof || text.contains("failed to read entire block")
        {
            return TarballError::Truncated(format!("{action}: {text}"));
        }
        if text.contains("Frame requires too much memory") {
            return TarballError::WindowTooLarge(self.window_log);
        }
        if entries_seen == 0 {
            return TarballError::UnknownFormat(format!("{action}: {text}"));
        }
        TarballError::Malformed(format!("{action}: {text}"))
    }

    /// A blob entry failed: while reading the stream, in the verifying reader, or in the callback.
    fn blob(&self, e: BlobFailure, stream_failed: bool, name: &str) -> TarballError {
        let from_digest = |de: &DigestError| match de {
            DigestError::SizeMismatch {
                actual, expected, ..
            } if actual < expected => {
                TarballError::Truncated(format!("entry {name:?} is cut short"))
            }
            other => TarballError::BlobMismatch {
                name: name.to_owned(),
                source: other.clone(),
            },
        };
        let from_io = |e: io::Error| match digest_error(&e) {
            Some(de) => from_digest(de),
            None => self.classify(&format!("read {name}"), e, 1),
        };
        match e {
            BlobFailure::Read(e) => from_io(e),
            BlobFailure::Callback(TarballError::Layout(LayoutError::Content {
                source, ..
            })) => from_digest(&source),
            BlobFailure::Callback(
                TarballError::Layout(LayoutError::Io { source, .. })
                | TarballError::Io { source, .. },
            ) if stream_failed || digest_error(&source).is_some() => from_io(source),
            BlobFailure::Callback(other) => other,
        }
    }
}

enum BlobFailure {
    Read(io::Error),
    Callback(TarballError),
}

/// Reads a layout tarball from `input` in one pass, verifying every blob against its name and
/// refusing hostile entries. `on_blob` is handed each blob as a verifying reader; whatever it
/// leaves unread is read (and verified) before the next entry.
pub fn read_tarball(
    input: impl Read,
    limits: &Limits,
    on_blob: impl FnMut(&Digest, u64, &mut BlobReader<'_>) -> Result<(), TarballError>,
) -> Result<TarballContents, TarballError> {
    read_tarball_with(input, limits, |_, _| Ok(()), on_blob)
}

/// A layout document met in a tarball stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Document {
    /// `oci-layout`.
    OciLayout,
    /// `index.json`.
    IndexJson,
}

/// [`read_tarball`], also handing `on_document` each layout document as soon as its entry has
/// been read (in stream order), so a reader can act on `index.json` before the blobs after it.
pub fn read_tarball_with(
    input: impl Read,
    limits: &Limits,
    mut on_document: impl FnMut(Document, &[u8]) -> Result<(), TarballError>,
    mut on_blob: impl FnMut(&Digest, u64, &mut BlobReader<'_>) -> Result<(), TarballError>,
) -> Result<TarballContents, TarballError> {
    let ctx = ErrorContext {
        io_failed: Rc::new(Cell::new(false)),
        window_log: limits.max_zstd_window_log,
    };
    let mut watched = IoWatch {
        inner: input,
        failed: ctx.io_failed.clone(),
    };
    // The format is decided on the first four bytes, however the input arrives (a pipe may
    // deliver one byte at a time); they are then read again as part of the stream.
    let mut head = [0u8; 4];
    let mut got = 0;
    while got < head.len() {
        match watched.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                return Err(TarballError::Io {
                    action: "read tarball".into(),
                    source: e,
                });
            }
        }
    }
    let magic = &head[..got];
    let input = io::Cursor::new(head).take(got as u64).chain(watched);
    let buffered = BufReader::with_capacity(READ_BUFFER, input);
    let (compression, stream) = if magic.starts_with(&ZSTD_MAGIC) {
        let mut decoder = zstd::stream::read::Decoder::with_buffer(buffered)
            .map_err(TarballError::io("start zstd decoder"))?
            .single_frame();
        decoder
            .window_log_max(limits.max_zstd_window_log)
            .map_err(TarballError::io("configure zstd decoder"))?;
        (Compression::Zstd, Stream::Zstd(decoder))
    } else if magic.starts_with(&GZIP_MAGIC) {
        return Err(TarballError::UnknownFormat(
            "gzip is not supported; decompress it or re-pack with zstd".into(),
        ));
    } else if magic.is_empty() {
        return Err(TarballError::Truncated("input is empty".into()));
    } else {
        (Compression::None, Stream::Plain(buffered))
    };
    let counting = Counting {
        inner: stream,
        count: 0,
        limit: limits.max_tarball_bytes,
        hit_eof: false,
    };
    let mut archive = tar::Archive::new(counting);
    let mut seen: HashSet<String> = HashSet::new();
    let mut oci_layout = None;
    let mut index_json = None;
    let mut blobs = BTreeMap::new();
    let mut count: u64 = 0;
    // Extension headers (GNU long name, PAX) apply to the next entry; they are read here with a
    // cap instead of by the tar crate, which would buffer them whole.
    let mut long_name: Option<String> = None;
    let mut pax_path: Option<String> = None;
    let mut pending_extension = false;

    let entries = archive
        .entries()
        .map_err(|e| ctx.classify("read tar header", e, 0))?
        .raw(true);
    for entry in entries {
        let mut entry = entry.map_err(|e| ctx.classify("read tar header", e, count))?;
        count += 1;
        if count > limits.max_tar_entries {
            return Err(TarballError::TooManyEntries(limits.max_tar_entries));
        }
        let header_name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        // Only POSIX ustar and GNU headers: in anything else (a pre-POSIX header, or a "ustar"
        // magic with an unknown version) tar readers disagree on whether the prefix field is
        // part of the name.
        if entry.header().as_ustar().is_none() && entry.header().as_gnu().is_none() {
            return Err(TarballError::UnsupportedEntry {
                name: header_name,
                kind: "a tar header that is neither POSIX ustar nor GNU".into(),
            });
        }
        let entry_type = entry.header().entry_type();
        let size = entry.size();

        if entry_type.is_gnu_longname() || entry_type.is_pax_local_extensions() {
            if size > MAX_EXTENSION_BYTES {
                return Err(TarballError::EntryTooLarge {
                    name: header_name,
                    size,
                    limit: MAX_EXTENSION_BYTES,
                });
            }
            let mut data = Vec::new();
            (&mut entry)
                .take(MAX_EXTENSION_BYTES)
                .read_to_end(&mut data)
                .map_err(|e| ctx.classify("read tar extension header", e, count))?;
            let duplicate = if entry_type.is_gnu_longname() {
                let name = data.strip_suffix(&[0]).unwrap_or(&data);
                long_name.replace(utf8_name(name)?).is_some()
            } else {
                match apply_pax(&data, &header_name)? {
                    Some(p) => pax_path.replace(p).is_some(),
                    None => false,
                }
            };
            if duplicate {
                return Err(TarballError::UnsupportedEntry {
                    name: header_name,
                    kind: "a second extension header naming the same entry".into(),
                });
            }
            pending_extension = true;
            continue;
        }
        // A GNU long name and a PAX path for one entry: tar readers disagree on which wins.
        let raw_name = match (long_name.take(), pax_path.take()) {
            (Some(_), Some(_)) => {
                return Err(TarballError::UnsupportedEntry {
                    name: header_name,
                    kind: "both a GNU long name and a PAX path".into(),
                });
            }
            (Some(n), None) | (None, Some(n)) => n,
            (None, None) => utf8_name(&entry.path_bytes())?,
        };
        pending_extension = false;

        if entry_type.is_symlink() {
            return Err(TarballError::Link {
                name: raw_name,
                kind: "symbolic link",
            });
        }
        if entry_type.is_hard_link() || entry_type.is_gnu_longlink() {
            return Err(TarballError::Link {
                name: raw_name,
                kind: "hard link",
            });
        }
        let (name, kind) = classify(&raw_name)?;
        let is_file = entry_type.is_file() || entry_type.is_contiguous();
        // A trailing '/' makes some readers extract a regular file as a directory.
        let ok = match &kind {
            EntryName::Dir => entry_type.is_dir(),
            _ => is_file && !raw_name.ends_with('/'),
        };
        if !ok {
            return Err(TarballError::UnsupportedEntry {
                name: raw_name,
                kind: format!("{entry_type:?} for this path"),
            });
        }
        // Blob names are checked against the blob list itself; only the few other names are kept.
        let duplicate = match &kind {
            EntryName::Blob(d) => blobs.contains_key(d),
            _ => !seen.insert(name.clone()),
        };
        if duplicate {
            return Err(TarballError::Duplicate(raw_name));
        }
        match kind {
            EntryName::Dir => {
                if size != 0 {
                    return Err(TarballError::EntryTooLarge {
                        name: raw_name,
                        size,
                        limit: 0,
                    });
                }
            }
            EntryName::OciLayout | EntryName::IndexJson => {
                let limit = limits.max_layout_json_bytes;
                if size > limit {
                    return Err(TarballError::EntryTooLarge {
                        name: raw_name,
                        size,
                        limit,
                    });
                }
                let mut data = Vec::with_capacity(size as usize);
                (&mut entry)
                    .take(limit)
                    .read_to_end(&mut data)
                    .map_err(|e| ctx.classify("read tar entry", e, count))?;
                if data.len() as u64 != size {
                    return Err(TarballError::Truncated(format!(
                        "entry {raw_name:?} is cut short"
                    )));
                }
                if kind == EntryName::OciLayout {
                    on_document(Document::OciLayout, &data)?;
                    oci_layout = Some(data);
                } else {
                    on_document(Document::IndexJson, &data)?;
                    index_json = Some(data);
                }
            }
            EntryName::Blob(digest) => {
                if size > limits.max_blob_bytes {
                    return Err(TarballError::EntryTooLarge {
                        name: raw_name,
                        size,
                        limit: limits.max_blob_bytes,
                    });
                }
                let mut recording = Recording {
                    inner: &mut entry,
                    failed: false,
                };
                let result = {
                    let expected = Expected {
                        digest: digest.clone(),
                        size: Some(size),
                    };
                    let mut reader =
                        HashingReader::verifying(&mut recording as &mut dyn Read, expected);
                    match on_blob(&digest, size, &mut reader) {
                        Ok(()) if reader.digest().is_none() => {
                            reader.drain().map(drop).map_err(BlobFailure::Read)
                        }
                        Ok(()) => Ok(()),
                        Err(e) => Err(BlobFailure::Callback(e)),
                    }
                };
                result.map_err(|e| ctx.blob(e, recording.failed, &raw_name))?;
                tracing::debug!(%digest, size, "blob verified");
                blobs.insert(digest, size);
            }
        }
    }
    if pending_extension {
        return Err(TarballError::Truncated(
            "extension header with no entry after it".into(),
        ));
    }
    let mut counting = archive.into_inner();
    if counting.hit_eof {
        return Err(TarballError::Truncated(
            "stream ended without the end-of-archive marker".into(),
        ));
    }
    // The rest is the second zero block and record padding: read it all (for zstd this also
    // checks the frame checksum) and refuse anything but zeros.
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = counting
            .read(&mut buf)
            .map_err(|e| ctx.classify("read end of tarball", e, count))?;
        if n == 0 {
            break;
        }
        if buf[..n].iter().any(|&b| b != 0) {
            return Err(TarballError::TrailingData);
        }
    }
    // After a zstd frame, nothing may follow (a second frame would be data no one verified).
    if let Stream::Zstd(decoder) = counting.inner {
        let mut rest = decoder.finish();
        let more = rest
            .fill_buf()
            .map_err(|e| ctx.classify("read end of tarball", e, count))?;
        if !more.is_empty() {
            return Err(TarballError::TrailingData);
        }
    }
    let oci_layout = oci_layout.ok_or(TarballError::MissingFile(OCI_LAYOUT_FILE))?;
    let index_json = index_json.ok_or(TarballError::MissingFile(INDEX_FILE))?;
    layout::check_layout_marker(&oci_layout, "oci-layout in tarball")?;
    let entries = parse_index_entries(&index_json, "index.json in tarball", limits)?;
    tracing::info!(%compression, blobs = blobs.len(), entries = entries.len(), tar_bytes = counting.count, "tarball read and verified");
    Ok(TarballContents {
        compression,
        oci_layout,
        index_json,
        entries,
        blobs,
        tar_bytes: counting.count,
    })
}

fn utf8_name(bytes: &[u8]) -> Result<String, TarballError> {
    String::from_utf8(bytes.to_vec())
        .map_err(|_| TarballError::OutsideLayout(String::from_utf8_lossy(bytes).into_owned()))
}

/// Applies a PAX extended header: `path` renames the next entry; `size`, `linkpath` and sparse
/// records are refused (they would make airlock and other tar readers disagree); timestamps,
/// ownership and vendor records are ignored.
fn apply_pax(data: &[u8], header_name: &str) -> Result<Option<String>, TarballError> {
    let mut path = None;
    for ext in tar::PaxExtensions::new(data) {
        let ext = ext.map_err(|_| TarballError::UnsupportedEntry {
            name: header_name.to_owned(),
            kind: "malformed PAX header".into(),
        })?;
        let key = ext.key().map_err(|_| TarballError::UnsupportedEntry {
            name: header_name.to_owned(),
            kind: "PAX header with a non-UTF-8 key".into(),
        })?;
        match key {
            "path" => path = Some(utf8_name(ext.value_bytes())?),
            "mtime" | "atime" | "ctime" | "uid" | "gid" | "uname" | "gname" | "comment" => {}
            k if k.starts_with("SCHILY.") || k.starts_with("LIBARCHIVE.") => {}
            k => {
                return Err(TarballError::UnsupportedEntry {
                    name: header_name.to_owned(),
                    kind: format!("PAX record {k:?}"),
                });
            }
        }
    }
    Ok(path)
}

/// A tarball's content held for a graph check: manifests in memory (bounded), blobs by size.
#[derive(Debug)]
pub struct TarballStore<'a> {
    manifests: HashMap<Digest, Arc<[u8]>>,
    blobs: &'a BTreeMap<Digest, u64>,
    /// Small blobs not held because the memory budget was spent.
    over_budget: HashSet<Digest>,
    budget: u64,
}

impl BlobStore for TarballStore<'_> {
    fn fetch_manifest(
        &self,
        digest: &Digest,
        size: u64,
        max: u64,
    ) -> Result<Arc<[u8]>, LayoutError> {
        let Some(bytes) = self.manifests.get(digest) else {
            if self.over_budget.contains(digest) {
                return Err(LayoutError::TooLarge {
                    what: "the manifests held in memory to inspect this tarball (max_buffered_manifest_bytes)".into(),
                    limit: self.budget,
                });
            }
            return Err(match self.blobs.get(digest) {
                Some(_) => LayoutError::InvalidDocument {
                    path: digest.to_string(),
                    reason: "referenced as a manifest but not a JSON document".into(),
                },
                None => LayoutError::BlobMissing(digest.clone()),
            });
        };
        held_manifest(digest, size, max, bytes)
    }

    fn check_blob(&self, digest: &Digest, size: u64) -> Result<(), LayoutError> {
        check_listed(self.blobs, digest, size)
    }
}

/// A manifest held in memory, handed out if it has the size asked for and is within `max`.
pub(crate) fn held_manifest(
    digest: &Digest,
    size: u64,
    max: u64,
    bytes: &Arc<[u8]>,
) -> Result<Arc<[u8]>, LayoutError> {
    check_size(digest, size, bytes.len() as u64)?;
    if size > max {
        return Err(LayoutError::TooLarge {
            what: format!("manifest {digest}"),
            limit: max,
        });
    }
    Ok(Arc::clone(bytes))
}

/// Checks a blob against the list of blobs a tarball delivered (with their verified sizes).
pub(crate) fn check_listed(
    blobs: &BTreeMap<Digest, u64>,
    digest: &Digest,
    size: u64,
) -> Result<(), LayoutError> {
    let actual = blobs
        .get(digest)
        .ok_or_else(|| LayoutError::BlobMissing(digest.clone()))?;
    check_size(digest, size, *actual)
}

/// A tarball read, verified blob by blob, and its graph checked for completeness.
#[derive(Debug)]
pub struct InspectedTarball {
    /// The documents and blob list.
    pub contents: TarballContents,
    /// The closure of every top-level entry, walked together.
    pub graph: Graph,
}

/// Whether a small blob looks like a manifest or index: a JSON object with `schemaVersion`
/// (configs, SBOMs and other JSON blobs have none, and are not held in memory).
fn looks_like_manifest(data: &[u8]) -> bool {
    #[derive(serde::Deserialize)]
    struct Probe {
        #[serde(rename = "schemaVersion")]
        schema_version: Option<serde_json::Value>,
    }
    serde_json::from_slice::<Probe>(data).is_ok_and(|p| p.schema_version.is_some())
}

/// Reads a tarball without writing anything: every blob is hashed, and the closure of every
/// top-level entry must be complete. Blobs that look like manifests are kept in memory for the
/// graph check, within `max_manifest_bytes` each and `max_buffered_manifest_bytes` in all.
pub fn inspect_tarball(
    input: impl Read,
    limits: &Limits,
) -> Result<InspectedTarball, TarballError> {
    let mut manifests: HashMap<Digest, Arc<[u8]>> = HashMap::new();
    let mut over_budget = HashSet::new();
    let mut buffered: u64 = 0;
    let mut data = Vec::new();
    let contents = read_tarball(input, limits, |digest, size, reader| {
        if size > limits.max_manifest_bytes {
            return Ok(());
        }
        // Look at the start first: layers and other non-JSON blobs are never buffered.
        data.clear();
        // Read 1 KiB at a time while there is only leading whitespace.
        let mut first = None;
        while first.is_none() && (data.len() as u64) < size {
            let start = data.len();
            (&mut *reader)
                .take(1024)
                .read_to_end(&mut data)
                .map_err(TarballError::io("read blob"))?;
            if data.len() == start {
                break;
            }
            first = data[start..]
                .iter()
                .copied()
                .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'));
        }
        let first = first.as_ref();
        if first != Some(&b'{') {
            return Ok(());
        }
        reader
            .read_to_end(&mut data)
            .map_err(TarballError::io("read blob"))?;
        if !looks_like_manifest(&data) {
            return Ok(());
        }
        if buffered + size > limits.max_buffered_manifest_bytes {
            over_budget.insert(digest.clone());
            return Ok(());
        }
        buffered += size;
        manifests.insert(digest.clone(), Arc::from(data.as_slice()));
        Ok(())
    })?;
    let store = TarballStore {
        manifests,
        blobs: &contents.blobs,
        over_budget,
        budget: limits.max_buffered_manifest_bytes,
    };
    let graph = Graph::walk_entries(store, &contents.entries, limits)?;
    Ok(InspectedTarball { contents, graph })
}

/// What an unpack has written so far: manifests are read back from the target (where they were
/// written verified), and a blob counts as present only if this tarball delivered it.
struct Unpacked<'a> {
    layout: &'a Layout,
    blobs: &'a BTreeMap<Digest, u64>,
}

impl BlobStore for Unpacked<'_> {
    fn fetch_manifest(
        &self,
        digest: &Digest,
        size: u64,
        max: u64,
    ) -> Result<Arc<[u8]>, LayoutError> {
        self.check_blob(digest, size)?;
        self.layout.fetch_manifest(digest, size, max)
    }

    fn check_blob(&self, digest: &Digest, size: u64) -> Result<(), LayoutError> {
        check_listed(self.blobs, digest, size)
    }
}

/// Unpacks a tarball into `dir`, which must not exist or be empty. Blobs are verified as they
/// are written; `index.json` is written last, after the closure of every entry is complete within
/// what the tarball delivered, so an interrupted or refused unpack leaves nothing tagged.
pub fn unpack_tarball(
    input: impl Read,
    dir: &std::path::Path,
    limits: &Limits,
) -> Result<(Layout, TarballContents), TarballError> {
    // Only a new or empty directory: blobs already in an existing layout were not delivered
    // by this tarball, and its files may be links to anywhere.
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(LayoutError::NotEmpty(dir.to_path_buf()).into());
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(LayoutError::io("read directory", dir)(e).into()),
    }
    let layout = Layout::init(dir, limits.clone())?;
    let contents = read_tarball(input, limits, |digest, _size, reader| {
        layout.write_verified(reader, digest)?;
        Ok(())
    })?;
    let store = Unpacked {
        layout: &layout,
        blobs: &contents.blobs,
    };
    Graph::walk_entries(store, &contents.entries, limits)?;
    // Blobs durable first, then the index that names them.
    layout.sync_blob_dirs()?;
    layout.replace_index(&contents.index_json)?;
    Ok((layout, contents))
}

/// Options for [`write_tarball`].
#[derive(Clone, Copy, Debug)]
pub struct PackOptions {
    /// Plain or zstd.
    pub compression: Compression,
    /// zstd level (1–19) when compressing.
    pub zstd_level: i32,
    /// The mtime of every entry (`SOURCE_DATE_EPOCH`, or 0).
    pub mtime: u64,
}

impl Default for PackOptions {
    fn default() -> Self {
        PackOptions {
            compression: Compression::None,
            zstd_level: 3,
            mtime: 0,
        }
    }
}

impl PackOptions {
    /// The mtime from `SOURCE_DATE_EPOCH` when it is set to a number, else 0.
    pub fn mtime_from_env() -> u64 {
        std::env::var("SOURCE_DATE_EPOCH")
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    }
}

/// What [`write_tarball`] wrote.
#[derive(Debug, Clone)]
pub struct PackSummary {
    /// Blobs written.
    pub blobs: usize,
    /// Their total size.
    pub blob_bytes: u64,
}

/// Writes the layout as a deterministic tarball: only what `index.json` reaches (children,
/// configs, layers, referrers), each blob verified as it streams; entries sorted, mtime fixed,
/// uid/gid 0, modes 0755/0644, ustar headers. The same content gives the same bytes.
pub fn write_tarball(
    layout: &Layout,
    out: impl Write,
    opts: PackOptions,
) -> Result<PackSummary, TarballError> {
    let limits = layout.limits();
    // index.json is read once: the closure and the bytes written come from the same version.
    let index_json = layout.index_bytes()?;
    let entries = parse_index_entries(
        &index_json,
        &layout.root().join(INDEX_FILE).display().to_string(),
        limits,
    )?;
    let graph = Graph::walk_entries(layout, &entries, limits)?;
    let blobs: BTreeMap<Digest, u64> = graph
        .nodes
        .into_iter()
        .map(|(d, n)| (d, n.descriptor.size()))
        .collect();
    let oci_layout = layout::read_capped(
        &layout.root().join(OCI_LAYOUT_FILE),
        limits.max_layout_json_bytes,
    )?;
    match opts.compression {
        Compression::None => {
            write_entries(layout, out, &blobs, &index_json, &oci_layout, opts.mtime)
        }
        Compression::Zstd => {
            let mut enc = zstd::stream::write::Encoder::new(out, opts.zstd_level)
                .map_err(TarballError::io("start zstd encoder"))?;
            enc.include_checksum(true)
                .map_err(TarballError::io("configure zstd encoder"))?;
            let summary = write_entries(
                layout,
                &mut enc,
                &blobs,
                &index_json,
                &oci_layout,
                opts.mtime,
            )?;
            enc.finish()
                .map_err(TarballError::io("finish zstd stream"))?;
            Ok(summary)
        }
    }
}

/// The header of every entry airlock writes: ustar, mode 0755 (directories) or 0644, uid and gid
/// 0, the given mtime. Paths are set by `append_data`, which writes a GNU long-name entry for
/// names that do not fit a ustar header (sha512 blobs).
pub(crate) fn entry_header(size: u64, dir: bool, mtime: u64) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_size(size);
    h.set_entry_type(if dir {
        tar::EntryType::Directory
    } else {
        tar::EntryType::Regular
    });
    h.set_mode(if dir { 0o755 } else { 0o644 });
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(mtime);
    h
}

fn write_entries(
    layout: &Layout,
    out: impl Write,
    blobs: &BTreeMap<Digest, u64>,
    index_json: &[u8],
    oci_layout: &[u8],
    mtime: u64,
) -> Result<PackSummary, TarballError> {
    let mut builder = tar::Builder::new(out);
    let header = |size: u64, dir: bool| entry_header(size, dir, mtime);
    let write_err = TarballError::io("write tarball");
    builder
        .append_data(&mut header(0, true), "blobs/", io::empty())
        .map_err(write_err)?;
    // Digests order by algorithm, then hex: one directory entry before each algorithm's blobs.
    let mut current: Option<Algorithm> = None;
    let mut total = 0;
    for (digest, size) in blobs {
        let alg = digest.algorithm();
        if current != Some(alg) {
            builder
                .append_data(&mut header(0, true), format!("blobs/{alg}/"), io::empty())
                .map_err(TarballError::io("write tarball"))?;
            current = Some(alg);
        }
        let name = format!("blobs/{alg}/{}", digest.hex());
        let reader = layout.open_blob(digest, Some(*size))?;
        builder
            .append_data(&mut header(*size, false), &name, reader)
            .map_err(|e| match digest_error(&e) {
                Some(de) => TarballError::Layout(LayoutError::Content {
                    what: digest.to_string(),
                    source: de.clone(),
                }),
                None => TarballError::Io {
                    action: format!("pack {name}"),
                    source: e,
                },
            })?;
        total += size;
    }
    for (name, bytes) in [(INDEX_FILE, index_json), (OCI_LAYOUT_FILE, oci_layout)] {
        builder
            .append_data(&mut header(bytes.len() as u64, false), name, bytes)
            .map_err(TarballError::io("write tarball"))?;
    }
    let mut out = builder
        .into_inner()
        .map_err(TarballError::io("finish tarball"))?;
    out.flush().map_err(TarballError::io("flush tarball"))?;
    Ok(PackSummary {
        blobs: blobs.len(),
        blob_bytes: total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build;
    use crate::media;
    use crate::reference::LayoutTag;

    #[test]
    fn classify_accepts_layout_names_only() {
        let hex = "a".repeat(64);
        assert_eq!(classify("./index.json").unwrap().1, EntryName::IndexJson);
        assert_eq!(classify("blobs/sha256/").unwrap().1, EntryName::Dir);
        assert!(matches!(
            classify(&format!("blobs/sha256/{hex}")).unwrap().1,
            EntryName::Blob(_)
        ));
        assert!(matches!(
            classify("/etc/passwd"),
            Err(TarballError::AbsolutePath(_))
        ));
        assert!(matches!(
            classify("blobs/../../x"),
            Err(TarballError::PathTraversal(_))
        ));
        assert!(matches!(
            classify("blobs/md5/abc"),
            Err(TarballError::OutsideLayout(_))
        ));
        assert!(matches!(
            classify(&format!("blobs/sha256/{}", hex.to_uppercase())),
            Err(TarballError::OutsideLayout(_))
        ));
        assert!(matches!(
            classify("././/index.json"),
            Err(TarballError::OutsideLayout(_))
        ));
    }

    #[test]
    fn sha512_blobs_round_trip_with_long_names() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::init(dir.path().join("src"), Limits::default()).unwrap();
        let data = b"sha512 content".to_vec();
        let digest = Digest::of(Algorithm::Sha512, &data);
        layout
            .write_blob(
                &data[..],
                Some(Expected {
                    digest: digest.clone(),
                    size: Some(data.len() as u64),
                }),
            )
            .unwrap();
        let layer = layout::descriptor(media::OCI_LAYER_TAR, &digest, data.len() as u64);
        let config = build::put_json(&layout, media::OCI_CONFIG, &serde_json::json!({})).unwrap();
        let manifest = build::put_json(
            &layout,
            media::OCI_MANIFEST,
            &serde_json::json!({"schemaVersion": 2, "mediaType": media::OCI_MANIFEST,
                "config": config, "layers": [layer]}),
        )
        .unwrap();
        layout
            .tag(&LayoutTag::new("x").unwrap(), &manifest)
            .unwrap();
        let mut tar = Vec::new();
        write_tarball(&layout, &mut tar, PackOptions::default()).unwrap();
        let inspected = inspect_tarball(&tar[..], &Limits::default()).unwrap();
        assert_eq!(
            inspected.contents.blobs.get(&digest),
            Some(&(data.len() as u64))
        );
        let (out, _) =
            unpack_tarball(&tar[..], &dir.path().join("dst"), &Limits::default()).unwrap();
        assert_eq!(std::fs::read(out.blob_path(&digest)).unwrap(), data);
    }

    #[test]
    fn zstd_and_plain_carry_the_same_content() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::init(dir.path(), Limits::default()).unwrap();
        build::write_sample(&layout, &LayoutTag::new("latest").unwrap(), "t").unwrap();
        let mut plain = Vec::new();
        write_tarball(&layout, &mut plain, PackOptions::default()).unwrap();
        let mut zst = Vec::new();
        let opts = PackOptions {
            compression: Compression::Zstd,
            ..PackOptions::default()
        };
        write_tarball(&layout, &mut zst, opts).unwrap();
        let a = inspect_tarball(&plain[..], &Limits::default()).unwrap();
        let b = inspect_tarball(&zst[..], &Limits::default()).unwrap();
        assert_eq!(
            (a.contents.compression, b.contents.compression),
            (Compression::None, Compression::Zstd)
        );
        assert_eq!(a.contents.blobs, b.contents.blobs);
        assert_eq!(a.contents.index_json, b.contents.index_json);
        assert_eq!(a.graph.roots.len(), 2);
        // A tight window limit refuses the stream instead of allocating for it.
        let tight = Limits {
            max_zstd_window_log: 10,
            ..Limits::default()
        };
        let mut big = Vec::new();
        let mut enc = zstd::stream::write::Encoder::new(&mut big, 19).unwrap();
        enc.window_log(22).unwrap();
        enc.write_all(&plain).unwrap();
        enc.finish().unwrap();
        assert!(inspect_tarball(&big[..], &tight).is_err());
    }
}
