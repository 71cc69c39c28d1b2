//! OCI image layout directories: `oci-layout`, `index.json` and `blobs/<alg>/<hex>`.
//!
//! Spec: `formats/layout.md`, section "Layout directories". Blobs are written to a temporary file
//! beside their final place, checked against their digest, synced and only then renamed, so an
//! interrupted write never leaves a blob under its final name. `index.json` is rewritten the same
//! way while holding an exclusive lock on the `oci-layout` file, so concurrent writers of one layout
//! never lose each other's entries or leave a torn file.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use oci_spec::image::Descriptor;
use serde_json::{Map, Value};

use crate::digest::{
    Algorithm, Digest, DigestError, Expected, HashingReader, HashingWriter, digest_error,
};
use crate::limits::Limits;
use crate::media::{self, ANNOTATION_REF_NAME};
use crate::reference::{LayoutTag, Selector};

mod direct;

pub use direct::DirectWriter;

/// The `imageLayoutVersion` airlock writes and reads.
pub const LAYOUT_VERSION: &str = "1.0.0";
/// File name of the layout marker.
pub const OCI_LAYOUT_FILE: &str = "oci-layout";
/// File name of the layout's top-level index.
pub const INDEX_FILE: &str = "index.json";
/// Directory of blobs.
pub const BLOBS_DIR: &str = "blobs";
const TEMP_PREFIX: &str = ".airlock-tmp-";

/// Errors reading or writing a layout directory.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LayoutError {
    /// An I/O operation on a path failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The directory is not an OCI image layout.
    #[error("{path} is not an OCI image layout: {reason}")]
    NotALayout {
        /// The directory.
        path: PathBuf,
        /// What is missing or wrong.
        reason: String,
    },
    /// `layout init` on a directory that holds other files.
    #[error("{0} exists and is not empty")]
    NotEmpty(PathBuf),
    /// A JSON document is malformed or breaks the spec.
    #[error("{path} is invalid: {reason}")]
    InvalidDocument {
        /// Where the document came from.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// A document is larger than the limit for its kind.
    #[error("{what} is larger than the limit of {limit} bytes")]
    TooLarge {
        /// What was being read.
        what: String,
        /// The limit.
        limit: u64,
    },
    /// A file of the layout is a directory, device, FIFO, or a link loop.
    #[error("{0} is not a regular file")]
    NotRegularFile(PathBuf),
    /// A descriptor points at a blob the layout does not have.
    #[error("blob {0} is missing from the layout")]
    BlobMissing(Digest),
    /// Stored or streamed content does not match its digest or size.
    #[error("blob {what} failed verification: {source}")]
    Content {
        /// Which blob or entry.
        what: String,
        /// The mismatch.
        source: DigestError,
    },
    /// No `index.json` entry has the tag.
    #[error("tag {tag:?} not found in {path} (tags: {available})")]
    TagNotFound {
        /// The tag asked for.
        tag: String,
        /// The layout.
        path: PathBuf,
        /// The tags that exist, comma-separated.
        available: String,
    },
    /// A registry request failed (a registry standing where a layout could: a copy's source
    /// or destination, a graph walk's store).
    #[error(transparent)]
    Registry(Box<crate::registry::RegistryError>),
    /// The layout has several top-level entries and the reference chose none.
    #[error("{path} has {count} tagged or untagged entries; name one as oci:{path}:TAG or @DIGEST")]
    Ambiguous {
        /// The layout.
        path: PathBuf,
        /// How many entries.
        count: usize,
    },
    /// The source of a blob broke off (a dropped connection, a stalled registry) on every
    /// attempt to read it.
    #[error(
        "reading blob {digest} from {from} failed after {attempts} attempts: {source}; check that the source is reachable and run the copy again (blobs already copied are kept)"
    )]
    SourceBroke {
        /// The blob.
        digest: Digest,
        /// Where it was read from: `HOST/REPOSITORY`, or "the source".
        from: String,
        /// How many times it was read.
        attempts: u32,
        /// Why the last attempt failed.
        source: io::Error,
    },
}

impl LayoutError {
    /// Classifies a failure of [`open_regular`]: a missing `index.json` or `oci-layout` makes an
    /// invalid layout, a non-regular file or a link loop is refused as such, the rest is I/O.
    fn from_open(path: PathBuf, e: io::Error) -> Self {
        let not_regular = e.get_ref().is_some_and(|i| i.is::<NotRegularFile>());
        #[cfg(unix)]
        let link_loop = e.raw_os_error() == Some(libc::ELOOP);
        #[cfg(not(unix))]
        let link_loop = false;
        if not_regular || link_loop {
            return LayoutError::NotRegularFile(path);
        }
        if e.kind() == io::ErrorKind::NotFound {
            return LayoutError::InvalidDocument {
                path: path.display().to_string(),
                reason: "missing".into(),
            };
        }
        LayoutError::Io {
            action: "open",
            path,
            source: e,
        }
    }

    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(io::Error) -> Self {
        let path = path.into();
        move |source| LayoutError::Io {
            action,
            path,
            source,
        }
    }
}

/// Bytes per direct write when a blob is staged. Each blob in flight holds two windows (one
/// filling, one being written); 2 MiB was as fast as 4 MiB in the registry download benchmark
/// (`docs/performance.md`) and keeps `--jobs 8` near 45 MiB.
const STAGE_WINDOW: u64 = 2 << 20;

/// A blob written to a temporary file, verified, not yet synced or renamed into place.
#[derive(Debug)]
pub(crate) struct Staged {
    tmp: tempfile::NamedTempFile,
    size: u64,
    dir: PathBuf,
}

/// One entry of `index.json`.
#[derive(Clone, Debug)]
pub struct IndexEntry {
    /// The descriptor as read.
    pub descriptor: Descriptor,
    /// Its validated digest.
    pub digest: Digest,
    /// Its `org.opencontainers.image.ref.name`, if any.
    pub tag: Option<String>,
}

/// An OCI image layout directory.
#[derive(Clone, Debug)]
pub struct Layout {
    root: PathBuf,
    limits: Limits,
}

impl Layout {
    /// Creates a layout at `path` (the directory may not exist yet, or must be empty).
    /// An existing layout is opened instead.
    pub fn init(path: impl AsRef<Path>, limits: Limits) -> Result<Self, LayoutError> {
        let root = path.as_ref().to_path_buf();
        if root.join(OCI_LAYOUT_FILE).is_file() {
            return Layout::open(root, limits);
        }
        fs::create_dir_all(&root).map_err(LayoutError::io("create directory", &root))?;
        let mut entries = fs::read_dir(&root).map_err(LayoutError::io("read directory", &root))?;
        if entries.next().is_some() {
            return Err(LayoutError::NotEmpty(root));
        }
        fs::create_dir_all(root.join(BLOBS_DIR).join(Algorithm::Sha256.as_str()))
            .map_err(LayoutError::io("create directory", root.join(BLOBS_DIR)))?;
        let index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": media::OCI_INDEX,
            "manifests": [],
        });
        write_atomic(&root, INDEX_FILE, &to_json_bytes(&index))?;
        let marker = serde_json::json!({ "imageLayoutVersion": LAYOUT_VERSION });
        // The marker goes last: a directory with `oci-layout` is a complete layout.
        write_atomic(&root, OCI_LAYOUT_FILE, &to_json_bytes(&marker))?;
        Ok(Layout { root, limits })
    }

    /// Opens an existing layout, checking its `oci-layout` marker.
    pub fn open(path: impl AsRef<Path>, limits: Limits) -> Result<Self, LayoutError> {
        let root = path.as_ref().to_path_buf();
        let marker_path = root.join(OCI_LAYOUT_FILE);
        if !marker_path.is_file() {
            return Err(LayoutError::NotALayout {
                path: root,
                reason: format!("no {OCI_LAYOUT_FILE} file"),
            });
        }
        let bytes = read_capped(&marker_path, limits.max_layout_json_bytes)?;
        check_layout_marker(&bytes, &marker_path.display().to_string())?;
        Ok(Layout { root, limits })
    }

    /// The layout directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The limits this layout enforces on what it reads.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Where a blob lives (whether or not it exists).
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root
            .join(BLOBS_DIR)
            .join(digest.algorithm().as_str())
            .join(digest.hex())
    }

    /// Whether the blob's file exists (its content is not checked here).
    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    /// Opens a blob for reading; reading it to EOF fails unless it matches `digest` (and `size`).
    pub fn open_blob(
        &self,
        digest: &Digest,
        size: Option<u64>,
    ) -> Result<HashingReader<File>, LayoutError> {
        if let Some(s) = size {
            self.check_blob_size(digest, s)?;
        }
        let path = self.blob_path(digest);
        let file = open_regular(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => LayoutError::BlobMissing(digest.clone()),
            _ => LayoutError::from_open(path.clone(), e),
        })?;
        Ok(HashingReader::verifying(
            file,
            Expected {
                digest: digest.clone(),
                size,
            },
        ))
    }

    /// Refuses a declared blob size above `max_blob_bytes` before anything is read.
    pub fn check_blob_size(&self, digest: &Digest, size: u64) -> Result<(), LayoutError> {
        if size > self.limits.max_blob_bytes {
            return Err(LayoutError::TooLarge {
                what: format!("blob {digest} ({size} bytes)"),
                limit: self.limits.max_blob_bytes,
            });
        }
        Ok(())
    }

    /// Reads a whole small blob (a manifest, a config), verified, refusing more than `max` bytes.
    pub fn read_blob_capped(
        &self,
        digest: &Digest,
        size: Option<u64>,
        max: u64,
    ) -> Result<Vec<u8>, LayoutError> {
        if let Some(s) = size
            && s > max
        {
            return Err(LayoutError::TooLarge {
                what: format!("blob {digest}"),
                limit: max,
            });
        }
        let reader = self.open_blob(digest, size)?;
        let mut buf = Vec::new();
        let n = reader
            .take(max + 1)
            .read_to_end(&mut buf)
            .map_err(|e| self.content_error(digest, e))?;
        if n as u64 > max {
            return Err(LayoutError::TooLarge {
                what: format!("blob {digest}"),
                limit: max,
            });
        }
        Ok(buf)
    }

    /// Verifies one stored blob by streaming it through its hash.
    pub fn verify_blob(&self, digest: &Digest, size: Option<u64>) -> Result<u64, LayoutError> {
        let reader = self.open_blob(digest, size)?;
        reader
            .drain()
            .map(|(_, n)| n)
            .map_err(|e| self.content_error(digest, e))
    }

    fn content_error(&self, digest: &Digest, e: io::Error) -> LayoutError {
        match digest_error(&e) {
            Some(de) => LayoutError::Content {
                what: digest.to_string(),
                source: de.clone(),
            },
            None => LayoutError::Io {
                action: "read blob",
                path: self.blob_path(digest),
                source: e,
            },
        }
    }

    /// Streams `reader` into the layout as a blob. With `expected`, the content must match it or
    /// nothing is stored; without, it is stored under its SHA-256. Returns the digest and size.
    pub fn write_blob(
        &self,
        reader: impl Read,
        expected: Option<Expected>,
    ) -> Result<(Digest, u64), LayoutError> {
        let algorithm = expected
            .as_ref()
            .map_or(Algorithm::Sha256, |e| e.digest.algorithm());
        let dir = self.root.join(BLOBS_DIR).join(algorithm.as_str());
        fs::create_dir_all(&dir).map_err(LayoutError::io("create directory", &dir))?;
        let tmp = tempfile::Builder::new()
            .prefix(TEMP_PREFIX)
            .tempfile_in(&dir)
            .map_err(LayoutError::io("create temporary file in", &dir))?;
        let what = expected
            .as_ref()
            .map_or_else(|| "being written".to_owned(), |e| e.digest.to_string());
        let writer = match expected.clone() {
            Some(exp) => HashingWriter::verifying(io::BufWriter::with_capacity(1 << 20, tmp), exp),
            None => HashingWriter::new(io::BufWriter::with_capacity(1 << 20, tmp), algorithm),
        };
        let limit = self.limits.max_blob_bytes;
        let mut limited = reader.take(limit.saturating_add(1));
        let mut writer = writer;
        let copy_err = |e: io::Error| match digest_error(&e) {
            Some(de) => LayoutError::Content {
                what: what.clone(),
                source: de.clone(),
            },
            None => LayoutError::Io {
                action: "write blob into",
                path: dir.clone(),
                source: e,
            },
        };
        let n = io::copy(&mut limited, &mut writer).map_err(copy_err)?;
        if n > limit {
            return Err(LayoutError::TooLarge {
                what: format!("blob {what}"),
                limit,
            });
        }
        let (buf, digest, size) = writer.finish().map_err(copy_err)?;
        let tmp = buf.into_inner().map_err(|e| LayoutError::Io {
            action: "flush blob into",
            path: dir.clone(),
            source: e.into_error(),
        })?;
        tmp.as_file()
            .sync_all()
            .map_err(LayoutError::io("sync blob in", &dir))?;
        let final_path = self.blob_path(&digest);
        tmp.persist(&final_path).map_err(|e| LayoutError::Io {
            action: "rename blob to",
            path: final_path,
            source: e.error,
        })?;
        // One blob at a time (builders, not bulk transfers): make its name durable now. Bulk
        // writers use `write_verified` and `sync_blob_dirs` once at the end.
        sync_dir(&dir)?;
        Ok((digest, size))
    }

    /// Streams a verifying reader into the layout under `digest`. The reader fails at EOF on a
    /// mismatch; the blob is renamed into place only after the reader reports `digest`.
    pub fn write_verified<R: Read>(
        &self,
        reader: &mut HashingReader<R>,
        digest: &Digest,
    ) -> Result<u64, LayoutError> {
        let staged = self.stage_blob(reader, digest, u64::MAX)?;
        if reader.digest() != Some(digest) {
            return Err(LayoutError::Content {
                what: digest.to_string(),
                source: DigestError::Mismatch {
                    expected: digest.clone(),
                    actual: reader
                        .digest()
                        .cloned()
                        .unwrap_or_else(|| Digest::sha256_of(b"")),
                },
            });
        }
        self.publish_blob(staged, digest)
    }

    /// Streams `reader` into the layout under `digest`. The reader must itself fail at its end
    /// unless the content matches `digest` and `size` (what `open_blob` of a layout or a
    /// registry returns, so a copy hashes each blob once); the blob is renamed into place only
    /// after the reader ended cleanly with exactly `size` bytes.
    pub fn write_prechecked(
        &self,
        reader: &mut dyn Read,
        digest: &Digest,
        size: u64,
    ) -> Result<u64, LayoutError> {
        let staged = self.stage_prechecked(reader, digest, size)?;
        self.publish_blob(staged, digest)
    }

    /// The first half of [`Layout::write_prechecked`]: the blob written to a temporary file
    /// beside its final path, not yet synced or renamed (so a caller can overlap that with
    /// reading the next blob). Nothing is under the blob's name until [`Layout::publish`].
    pub(crate) fn stage_prechecked(
        &self,
        reader: &mut dyn Read,
        digest: &Digest,
        size: u64,
    ) -> Result<Staged, LayoutError> {
        self.check_blob_size(digest, size)?;
        let staged = self.stage_blob(reader, digest, size.saturating_add(1))?;
        if staged.size != size {
            return Err(LayoutError::Content {
                what: digest.to_string(),
                source: DigestError::SizeMismatch {
                    digest: digest.clone(),
                    expected: size,
                    actual: staged.size,
                },
            });
        }
        Ok(staged)
    }

    /// The second half: syncs a staged blob and renames it into place under `digest`.
    pub(crate) fn publish(&self, staged: Staged, digest: &Digest) -> Result<u64, LayoutError> {
        self.publish_blob(staged, digest)
    }

    /// Copies at most `limit` bytes of `reader` into a temporary file beside the blob's final
    /// path (where a rename publishes it). Whole windows go past the page cache (see
    /// [`DirectWriter`]): a copied blob is read again only when something uses it, and writing
    /// it through the cache costs a kernel copy of every byte and the memory to hold it.
    fn stage_blob(
        &self,
        reader: &mut dyn Read,
        digest: &Digest,
        limit: u64,
    ) -> Result<Staged, LayoutError> {
        let dir = self.root.join(BLOBS_DIR).join(digest.algorithm().as_str());
        fs::create_dir_all(&dir).map_err(LayoutError::io("create directory", &dir))?;
        let tmp = tempfile::Builder::new()
            .prefix(TEMP_PREFIX)
            .tempfile_in(&dir)
            .map_err(LayoutError::io("create temporary file in", &dir))?;
        let write_err = LayoutError::io("write blob into", &dir);
        let plain = tmp
            .as_file()
            .try_clone()
            .map_err(LayoutError::io("open", tmp.path()))?;
        let mut out = DirectWriter::with_window(tmp.path(), plain, limit.min(STAGE_WINDOW));
        let size = out
            .copy_from(&mut reader.take(limit))
            .map_err(|e| match digest_error(&e) {
                Some(de) => LayoutError::Content {
                    what: digest.to_string(),
                    source: de.clone(),
                },
                None => LayoutError::Io {
                    action: "write blob into",
                    path: dir.clone(),
                    source: e,
                },
            })?;
        out.finish().map_err(write_err)?;
        Ok(Staged { tmp, size, dir })
    }

    /// Syncs a staged blob and renames it into place under `digest`.
    fn publish_blob(&self, staged: Staged, digest: &Digest) -> Result<u64, LayoutError> {
        let Staged { tmp, size, dir } = staged;
        tmp.as_file()
            .sync_all()
            .map_err(LayoutError::io("sync blob in", &dir))?;
        let final_path = self.blob_path(digest);
        tmp.persist(&final_path).map_err(|e| LayoutError::Io {
            action: "rename blob to",
            path: final_path,
            source: e.error,
        })?;
        Ok(size)
    }

    /// Stores bytes as a blob under their SHA-256.
    pub fn write_blob_bytes(&self, bytes: &[u8]) -> Result<Digest, LayoutError> {
        let expected = Expected {
            digest: Digest::sha256_of(bytes),
            size: Some(bytes.len() as u64),
        };
        self.write_blob(bytes, Some(expected)).map(|(d, _)| d)
    }

    /// Every blob file present, with its size (temporary and foreign files are skipped).
    pub fn blobs(&self) -> Result<BTreeMap<Digest, u64>, LayoutError> {
        let mut out = BTreeMap::new();
        let dir = self.root.join(BLOBS_DIR);
        for entry in walkdir::WalkDir::new(&dir).min_depth(2).max_depth(2) {
            let entry = entry.map_err(|e| LayoutError::Io {
                action: "list blobs in",
                path: dir.clone(),
                source: e.into(),
            })?;
            if !entry.file_type().is_file() {
                continue;
            }
            let alg = entry
                .path()
                .parent()
                .and_then(|p| p.file_name())
                .and_then(|s| s.to_str())
                .and_then(|s| Algorithm::parse(s).ok());
            let digest = match (alg, entry.file_name().to_str()) {
                (Some(a), Some(hex)) => Digest::new(a, hex).ok(),
                _ => None,
            };
            if let Some(d) = digest {
                let len = entry.metadata().map_err(|e| LayoutError::Io {
                    action: "stat",
                    path: entry.path().to_path_buf(),
                    source: e.into(),
                })?;
                out.insert(d, len.len());
            }
        }
        Ok(out)
    }

    /// The raw bytes of `index.json`, capped.
    pub fn index_bytes(&self) -> Result<Vec<u8>, LayoutError> {
        read_capped(
            &self.root.join(INDEX_FILE),
            self.limits.max_layout_json_bytes,
        )
    }

    /// The entries of `index.json`, validated.
    pub fn index(&self) -> Result<Vec<IndexEntry>, LayoutError> {
        let bytes = self.index_bytes()?;
        parse_index_entries(
            &bytes,
            &self.root.join(INDEX_FILE).display().to_string(),
            &self.limits,
        )
    }

    /// Finds the top-level entry a selector names. With no selector, the layout must have
    /// exactly one entry.
    pub fn resolve(&self, selector: Option<&Selector>) -> Result<IndexEntry, LayoutError> {
        let entries = self.index()?;
        match selector {
            Some(Selector::Tag(tag)) => entries
                .iter()
                .find(|e| e.tag.as_deref() == Some(tag.as_str()))
                .cloned()
                .ok_or_else(|| LayoutError::TagNotFound {
                    tag: tag.to_string(),
                    path: self.root.clone(),
                    available: tags_list(&entries),
                }),
            Some(Selector::Digest(d)) => {
                if let Some(e) = entries.iter().find(|e| &e.digest == d) {
                    return Ok(e.clone());
                }
                // Not a top-level entry: a manifest stored in the layout, found by digest.
                let bytes = self.read_blob_capped(d, None, self.limits.max_manifest_bytes)?;
                let media_type =
                    sniff_media_type(&bytes).ok_or_else(|| LayoutError::InvalidDocument {
                        path: d.to_string(),
                        reason: "not a manifest or index (no mediaType)".into(),
                    })?;
                let descriptor = descriptor(&media_type, d, bytes.len() as u64);
                Ok(IndexEntry {
                    descriptor,
                    digest: d.clone(),
                    tag: None,
                })
            }
            None => match entries.as_slice() {
                [one] => Ok(one.clone()),
                _ => Err(LayoutError::Ambiguous {
                    path: self.root.clone(),
                    count: entries.len(),
                }),
            },
        }
    }

    /// Points `tag` at `descriptor` in `index.json`, replacing any entry with the same tag.
    pub fn tag(&self, tag: &LayoutTag, descriptor: &Descriptor) -> Result<(), LayoutError> {
        let mut desc = descriptor.clone();
        let mut annotations = desc.annotations().clone().unwrap_or_default();
        annotations.insert(ANNOTATION_REF_NAME.to_owned(), tag.as_str().to_owned());
        desc.set_annotations(Some(annotations));
        let new_entry = serde_json::to_value(&desc).map_err(|e| LayoutError::InvalidDocument {
            path: "descriptor".into(),
            reason: e.to_string(),
        })?;
        self.update_index(|manifests| {
            manifests.retain(|m| ref_name(m) != Some(tag.as_str()));
            manifests.push(new_entry);
        })
    }

    /// Adds an untagged `index.json` entry (as tools do for referrers), unless the digest is
    /// already listed.
    pub fn add_untagged(&self, descriptor: &Descriptor) -> Result<(), LayoutError> {
        let digest = descriptor.digest().to_string();
        let new_entry =
            serde_json::to_value(descriptor).map_err(|e| LayoutError::InvalidDocument {
                path: "descriptor".into(),
                reason: e.to_string(),
            })?;
        self.update_index(|manifests| {
            if !manifests
                .iter()
                .any(|m| m.get("digest").and_then(Value::as_str) == Some(&digest))
            {
                manifests.push(new_entry);
            }
        })
    }

    /// Replaces `index.json` with `bytes` (validated first) under the layout lock.
    pub fn replace_index(&self, bytes: &[u8]) -> Result<(), LayoutError> {
        let path = self.root.join(INDEX_FILE);
        parse_index_entries(bytes, &path.display().to_string(), &self.limits)?;
        let _lock = self.lock()?;
        write_atomic(&self.root, INDEX_FILE, bytes)
    }

    /// Syncs the blob directories, so renames done without a directory sync become durable
    /// before an index that names the blobs is written.
    pub fn sync_blob_dirs(&self) -> Result<(), LayoutError> {
        let blobs = self.root.join(BLOBS_DIR);
        for alg in [Algorithm::Sha256, Algorithm::Sha512] {
            let dir = blobs.join(alg.as_str());
            if dir.is_dir() {
                sync_dir(&dir)?;
            }
        }
        sync_dir(&blobs)
    }

    /// Takes the layout's exclusive lock: `flock` on `oci-layout`, a file never replaced.
    fn lock(&self) -> Result<File, LayoutError> {
        let marker = self.root.join(OCI_LAYOUT_FILE);
        let lock = File::open(&marker).map_err(LayoutError::io("open", &marker))?;
        lock.lock().map_err(LayoutError::io("lock", &marker))?;
        Ok(lock)
    }

    /// Rewrites `index.json` under the layout lock, keeping fields airlock does not know.
    fn update_index(&self, edit: impl FnOnce(&mut Vec<Value>)) -> Result<(), LayoutError> {
        let lock = self.lock()?;
        let path = self.root.join(INDEX_FILE);
        let bytes = self.index_bytes()?;
        // Validate before editing, so a corrupt index is reported rather than rewritten.
        parse_index_entries(&bytes, &path.display().to_string(), &self.limits)?;
        let mut doc: Map<String, Value> =
            serde_json::from_slice(&bytes).map_err(|e| LayoutError::InvalidDocument {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?;
        let mut manifests = match doc.remove("manifests") {
            Some(Value::Array(a)) => a,
            _ => Vec::new(),
        };
        edit(&mut manifests);
        if manifests.len() > self.limits.max_index_entries {
            return Err(LayoutError::TooLarge {
                what: format!("{} ({} entries)", path.display(), manifests.len()),
                limit: self.limits.max_index_entries as u64,
            });
        }
        doc.insert("manifests".into(), Value::Array(manifests));
        let result = write_atomic(&self.root, INDEX_FILE, &to_json_bytes(&Value::Object(doc)));
        drop(lock);
        result
    }
}

/// Builds a descriptor for content of a media type.
pub fn descriptor(media_type: &str, digest: &Digest, size: u64) -> Descriptor {
    Descriptor::new(media_type.into(), size, digest.to_oci())
}

/// The validated digest of a descriptor.
pub fn descriptor_digest(d: &Descriptor) -> Result<Digest, DigestError> {
    Digest::from_oci(d.digest())
}
/// The digest of a manifest about to be stored or pushed: its descriptor's, which `bytes` must
/// match.
pub fn verified_manifest_digest(desc: &Descriptor, bytes: &[u8]) -> Result<Digest, LayoutError> {
    let digest = descriptor_digest(desc).map_err(|e| LayoutError::Content {
        what: "manifest descriptor".into(),
        source: e,
    })?;
    digest
        .verify_bytes(bytes)
        .map_err(|e| LayoutError::Content {
            what: digest.to_string(),
            source: e,
        })?;
    Ok(digest)
}

/// The `mediaType` field of a JSON document, if it has one.
pub fn sniff_media_type(bytes: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Probe {
        #[serde(rename = "mediaType")]
        media_type: Option<String>,
    }
    serde_json::from_slice::<Probe>(bytes)
        .ok()
        .and_then(|p| p.media_type)
}

fn ref_name(entry: &Value) -> Option<&str> {
    entry.get("annotations")?.get(ANNOTATION_REF_NAME)?.as_str()
}

fn tags_list(entries: &[IndexEntry]) -> String {
    let tags: Vec<&str> = entries.iter().filter_map(|e| e.tag.as_deref()).collect();
    if tags.is_empty() {
        "none".into()
    } else {
        tags.join(", ")
    }
}

/// Checks an `oci-layout` marker's bytes.
pub fn check_layout_marker(bytes: &[u8], what: &str) -> Result<(), LayoutError> {
    #[derive(serde::Deserialize)]
    struct Marker {
        #[serde(rename = "imageLayoutVersion")]
        version: String,
    }
    crate::json::check_keys(bytes).map_err(|reason| LayoutError::InvalidDocument {
        path: what.to_owned(),
        reason,
    })?;
    let m: Marker = serde_json::from_slice(bytes).map_err(|e| LayoutError::InvalidDocument {
        path: what.to_owned(),
        reason: e.to_string(),
    })?;
    if !m.version.starts_with("1.") {
        return Err(LayoutError::InvalidDocument {
            path: what.to_owned(),
            reason: format!(
                "imageLayoutVersion {:?} is not supported (expected 1.x)",
                m.version
            ),
        });
    }
    Ok(())
}

/// Parses and validates `index.json` bytes into entries.
pub fn parse_index_entries(
    bytes: &[u8],
    what: &str,
    limits: &Limits,
) -> Result<Vec<IndexEntry>, LayoutError> {
    let invalid = |reason: String| LayoutError::InvalidDocument {
        path: what.to_owned(),
        reason,
    };
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Doc {
        schema_version: u32,
        manifests: Vec<Value>,
    }
    crate::json::check_keys(bytes).map_err(invalid)?;
    let doc: Doc = serde_json::from_slice(bytes).map_err(|e| invalid(e.to_string()))?;
    if doc.schema_version != 2 {
        return Err(invalid(format!(
            "schemaVersion {} (expected 2)",
            doc.schema_version
        )));
    }
    if doc.manifests.len() > limits.max_index_entries {
        return Err(LayoutError::TooLarge {
            what: format!("{what} ({} entries)", doc.manifests.len()),
            limit: limits.max_index_entries as u64,
        });
    }
    let mut tags = std::collections::HashSet::new();
    let mut entries = Vec::with_capacity(doc.manifests.len());
    for (i, v) in doc.manifests.into_iter().enumerate() {
        let descriptor: Descriptor =
            serde_json::from_value(v).map_err(|e| invalid(format!("manifests[{i}]: {e}")))?;
        let digest =
            descriptor_digest(&descriptor).map_err(|e| invalid(format!("manifests[{i}]: {e}")))?;
        let tag = descriptor
            .annotations()
            .as_ref()
            .and_then(|a| a.get(ANNOTATION_REF_NAME))
            .cloned();
        // Tools disagree on which of two entries with one tag counts (skopeo takes the first).
        if let Some(t) = &tag
            && !tags.insert(t.clone())
        {
            return Err(invalid(format!(
                "manifests[{i}]: tag {t:?} is given to more than one entry"
            )));
        }
        entries.push(IndexEntry {
            descriptor,
            digest,
            tag,
        });
    }
    Ok(entries)
}

/// Serialises JSON with sorted keys and no insignificant whitespace, for byte-stable output.
pub fn to_json_bytes(v: &Value) -> Vec<u8> {
    // `serde_json::Value` maps are `BTreeMap`s (no `preserve_order`), so keys come out sorted.
    // Invariant: serialising a `Value` to a Vec cannot fail.
    #[allow(clippy::expect_used)]
    serde_json::to_vec(v).expect("serialising a JSON value to memory cannot fail")
}

/// Reads a whole file, refusing more than `max` bytes.
pub(crate) fn read_capped(path: &Path, max: u64) -> Result<Vec<u8>, LayoutError> {
    let file = open_regular(path).map_err(|e| LayoutError::from_open(path.to_path_buf(), e))?;
    let mut buf = Vec::new();
    file.take(max.saturating_add(1))
        .read_to_end(&mut buf)
        .map_err(LayoutError::io("read", path))?;
    if buf.len() as u64 > max {
        return Err(LayoutError::TooLarge {
            what: path.display().to_string(),
            limit: max,
        });
    }
    Ok(buf)
}

/// Opens a file of a layout for reading, refusing anything but a regular file: a FIFO or a
/// device (even behind a symbolic link) would block or never end. The open does not block.
pub(crate) fn open_regular(path: &Path) -> io::Result<File> {
    // Checked before opening (opening some devices has effects) and again on the open handle
    // (the path may have changed in between).
    if !fs::metadata(path)?.is_file() {
        return Err(io::Error::new(io::ErrorKind::InvalidData, NotRegularFile));
    }
    #[cfg(unix)]
    let file = {
        use std::os::unix::fs::OpenOptionsExt;
        fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(path)?
    };
    #[cfg(not(unix))]
    let file = File::open(path)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::new(io::ErrorKind::InvalidData, NotRegularFile));
    }
    Ok(file)
}

/// The marker error of [`open_regular`].
#[derive(Debug)]
struct NotRegularFile;

impl std::fmt::Display for NotRegularFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("not a regular file")
    }
}

impl std::error::Error for NotRegularFile {}

/// Writes `name` in `dir` atomically: temporary file, sync, rename.
pub(crate) fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), LayoutError> {
    let mut tmp = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .tempfile_in(dir)
        .map_err(LayoutError::io("create temporary file in", dir))?;
    let path = dir.join(name);
    tmp.write_all(bytes)
        .map_err(LayoutError::io("write", &path))?;
    tmp.as_file()
        .sync_all()
        .map_err(LayoutError::io("sync", &path))?;
    tmp.persist(&path).map_err(|e| LayoutError::Io {
        action: "rename to",
        path: path.clone(),
        source: e.error,
    })?;
    sync_dir(dir)
}

/// Makes the renames in `dir` durable.
fn sync_dir(dir: &Path) -> Result<(), LayoutError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(LayoutError::io("sync directory", dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_write_tag_resolve() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("l");
        let layout = Layout::init(&root, Limits::default()).unwrap();
        let d = layout.write_blob_bytes(b"{}").unwrap();
        assert!(layout.has_blob(&d));
        assert_eq!(layout.read_blob_capped(&d, Some(2), 10).unwrap(), b"{}");
        let desc = descriptor(media::OCI_MANIFEST, &d, 2);
        layout.tag(&LayoutTag::new("v1").unwrap(), &desc).unwrap();
        layout.tag(&LayoutTag::new("v1").unwrap(), &desc).unwrap();
        layout.add_untagged(&desc).unwrap();
        let entries = layout.index().unwrap();
        assert_eq!(
            entries.len(),
            1,
            "retagging replaces, untagged duplicate skipped"
        );
        let sel = Selector::Tag(LayoutTag::new("v1").unwrap());
        assert_eq!(layout.resolve(Some(&sel)).unwrap().digest, d);
        let missing = Selector::Tag(LayoutTag::new("v2").unwrap());
        let err = layout.resolve(Some(&missing)).unwrap_err();
        assert!(err.to_string().contains("tags: v1"), "{err}");
        // Reopening works; a non-empty foreign directory is refused.
        Layout::open(&root, Limits::default()).unwrap();
        std::fs::write(dir.path().join("junk"), b"x").unwrap();
        assert!(matches!(
            Layout::init(dir.path(), Limits::default()),
            Err(LayoutError::NotEmpty(_))
        ));
    }

    #[test]
    fn layout_marker_keys_are_checked() {
        check_layout_marker(br#"{"imageLayoutVersion":"1.0.0"}"#, "t").unwrap();
        let variant = br#"{"imageLayoutVersion":"1.0.0","ImageLayoutVersion":"9.0.0"}"#;
        assert!(matches!(
            check_layout_marker(variant, "t"),
            Err(LayoutError::InvalidDocument { .. })
        ));
        assert!(check_layout_marker(br#"{"imageLayoutVersion":"2.0.0"}"#, "t").is_err());
    }

    #[test]
    fn mismatched_blob_is_never_stored() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::init(dir.path(), Limits::default()).unwrap();
        let expected = Expected {
            digest: Digest::sha256_of(b"good"),
            size: Some(4),
        };
        let err = layout
            .write_blob(&b"evil"[..], Some(expected.clone()))
            .unwrap_err();
        assert!(
            matches!(
                err,
                LayoutError::Content {
                    source: DigestError::Mismatch { .. },
                    ..
                }
            ),
            "{err}"
        );
        assert!(!layout.has_blob(&expected.digest));
        let leftovers = std::fs::read_dir(dir.path().join("blobs/sha256"))
            .unwrap()
            .count();
        assert_eq!(leftovers, 0, "temporary file removed");
        // A stored blob that was corrupted afterwards fails verification on read.
        let d = layout.write_blob_bytes(b"good").unwrap();
        std::fs::write(layout.blob_path(&d), b"bad!").unwrap();
        assert!(matches!(
            layout.verify_blob(&d, Some(4)),
            Err(LayoutError::Content { .. })
        ));
    }

    /// Yields some bytes, then fails: a connection dropped mid-blob.
    struct Interrupted(usize);

    impl Read for Interrupted {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0 == 0 {
                return Err(io::Error::new(io::ErrorKind::ConnectionReset, "dropped"));
            }
            let n = buf.len().min(self.0);
            buf[..n].fill(b'x');
            self.0 -= n;
            Ok(n)
        }
    }

    #[test]
    fn interrupted_write_leaves_no_blob() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::init(dir.path(), Limits::default()).unwrap();
        let full = vec![b'x'; 4096];
        let expected = Expected {
            digest: Digest::sha256_of(&full),
            size: Some(4096),
        };
        let err = layout
            .write_blob(Interrupted(1000), Some(expected.clone()))
            .unwrap_err();
        assert!(matches!(err, LayoutError::Io { .. }), "{err}");
        assert!(!layout.has_blob(&expected.digest));
        assert_eq!(
            std::fs::read_dir(dir.path().join("blobs/sha256"))
                .unwrap()
                .count(),
            0
        );
        // Without an expected digest nothing can be named either.
        assert!(layout.write_blob(Interrupted(10), None).is_err());
        assert!(layout.blobs().unwrap().is_empty());
    }

    #[cfg(unix)]
    #[test]
    fn special_files_are_refused_without_blocking() {
        use crate::graph::BlobStore;
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::init(dir.path(), Limits::default()).unwrap();
        let d = layout.write_blob_bytes(b"{}").unwrap();
        let path = layout.blob_path(&d);
        std::fs::remove_file(&path).unwrap();
        // A FIFO would block a reader forever; a device never ends; a loop never resolves.
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&path)
                .status()
                .unwrap()
                .success()
        );
        assert!(matches!(
            layout.open_blob(&d, Some(2)),
            Err(LayoutError::NotRegularFile(_))
        ));
        assert!(matches!(
            layout.check_blob(&d, 2),
            Err(LayoutError::NotRegularFile(_))
        ));
        std::fs::remove_file(&path).unwrap();
        std::os::unix::fs::symlink("/dev/zero", &path).unwrap();
        assert!(matches!(
            layout.verify_blob(&d, None),
            Err(LayoutError::NotRegularFile(_))
        ));
        std::fs::remove_file(&path).unwrap();
        std::os::unix::fs::symlink(&path, &path).unwrap();
        assert!(matches!(
            layout.verify_blob(&d, None),
            Err(LayoutError::NotRegularFile(_))
        ));
        std::fs::remove_file(&path).unwrap();
        std::fs::create_dir(&path).unwrap();
        assert!(matches!(
            layout.verify_blob(&d, None),
            Err(LayoutError::NotRegularFile(_))
        ));
        let index = dir.path().join(INDEX_FILE);
        std::fs::remove_file(&index).unwrap();
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&index)
                .status()
                .unwrap()
                .success()
        );
        assert!(matches!(
            layout.index(),
            Err(LayoutError::NotRegularFile(_))
        ));
        // A declared size over the limit is refused before reading.
        let small = Layout::open(
            dir.path(),
            Limits {
                max_blob_bytes: 1,
                ..Limits::default()
            },
        )
        .unwrap();
        assert!(matches!(
            small.check_blob(&d, 2),
            Err(LayoutError::TooLarge { .. })
        ));
    }

    #[test]
    fn concurrent_writers_keep_every_tag() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::init(dir.path(), Limits::default()).unwrap();
        std::thread::scope(|s| {
            for t in 0..8 {
                let layout = layout.clone();
                s.spawn(move || {
                    for i in 0..10 {
                        let body = format!("{{\"t\":{t},\"i\":{i}}}");
                        let d = layout.write_blob_bytes(body.as_bytes()).unwrap();
                        let desc = descriptor(media::OCI_MANIFEST, &d, body.len() as u64);
                        layout
                            .tag(&LayoutTag::new(&format!("t{t}-{i}")).unwrap(), &desc)
                            .unwrap();
                    }
                });
            }
        });
        assert_eq!(layout.index().unwrap().len(), 80);
        assert_eq!(layout.blobs().unwrap().len(), 80);
    }

    /// A source that gives the first half of `data`, then stalls (as a registry's direct body
    /// reports it), while `breaks` says so.
    struct Stalls {
        data: Vec<u8>,
        pos: usize,
        breaks: bool,
    }

    impl Read for Stalls {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let half = self.data.len() / 2;
            if self.breaks && self.pos == half {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "the registry sent nothing for 120 s after {half} of {} bytes",
                        self.data.len()
                    ),
                ));
            }
            let end = if self.breaks { half } else { self.data.len() };
            let n = out.len().min(end - self.pos);
            out[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
            self.pos += n;
            Ok(n)
        }
    }

    #[test]
    fn a_source_that_keeps_breaking_is_named_with_the_blob_and_the_cause() {
        use crate::copy::Destination;
        use std::sync::atomic::{AtomicU32, Ordering};

        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::init(dir.path(), Limits::default()).unwrap();
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let digest = Digest::sha256_of(&data);
        let size = data.len() as u64;
        for (good_from, origin) in [
            (u32::MAX, Some(("r.example:5000", "team/app"))),
            (u32::MAX, None),
            // The third open reads to the end: the blob is stored.
            (3, Some(("r.example:5000", "team/app"))),
        ] {
            let opens = AtomicU32::new(0);
            let open = || -> Result<Box<dyn Read + Send>, LayoutError> {
                let n = opens.fetch_add(1, Ordering::Relaxed) + 1;
                let reader = Stalls {
                    data: data.clone(),
                    pos: 0,
                    breaks: n < good_from,
                };
                Ok(Box::new(HashingReader::verifying(
                    reader,
                    Expected {
                        digest: digest.clone(),
                        size: Some(size),
                    },
                )))
            };
            let result = layout.put_blob(&digest, size, &open, origin);
            if good_from == 3 {
                assert!(result.is_ok(), "{result:?}");
                assert_eq!(opens.load(Ordering::Relaxed), 3);
                assert_eq!(std::fs::read(layout.blob_path(&digest)).unwrap(), data);
                continue;
            }
            let err = result.expect_err("the source never gave the whole blob");
            assert!(
                matches!(&err, LayoutError::SourceBroke { attempts: 4, source, .. }
                    if source.kind() == io::ErrorKind::TimedOut),
                "{err:?}"
            );
            let from = origin.map_or("the source".to_owned(), |(h, r)| format!("{h}/{r}"));
            assert_eq!(
                err.to_string(),
                format!(
                    "reading blob {digest} from {from} failed after 4 attempts: the registry sent \
                     nothing for 120 s after 50000 of 100000 bytes; check that the source is \
                     reachable and run the copy again (blobs already copied are kept)"
                )
            );
            assert_eq!(opens.load(Ordering::Relaxed), 4);
            assert!(!layout.blob_path(&digest).exists());
        }
    }
}
