//! Importing a bundle: read and verify it in one pass ([`crate::bundle::read_bundle`]), write
//! blobs untagged as they stream, then manifests (referrers with their fallback index), install
//! the trust material, and only then move tags; every import, accepted or refused, is appended
//! to the audit log.
//!
//! Spec: `formats/bundle.md`, sections "Import" and "Audit log".

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};

use oci_spec::image::Descriptor;
use serde_json::{Value, json};

use crate::bundle::{
    BlobEntry, BundleError, Checkpoint, ReadOptions, ReadReport, RootEntry, Sink, TrustAnchor,
    read_bundle,
};
use crate::copy::Destination;
use crate::digest::Digest;
use crate::error::Error;
use crate::graph::{EdgeKind, Graph};
use crate::layout::{Layout, LayoutError};
use crate::limits::Limits;
use crate::reference::{LayoutTag, Selector};
use crate::registry::{BlobOutcome, Registries, Repository};
use crate::time::{Seconds, format_rfc3339};
use crate::trust::TrustStore;

/// Where an import writes.
#[derive(Debug, Clone, Copy)]
pub enum ImportTarget<'a> {
    /// A layout directory: roots are tagged `REPOSITORY:TAG`.
    Layout(&'a Layout),
    /// A registry: each root goes to `HOST/PREFIX/REPOSITORY:TAG`.
    Registry {
        /// The registry client.
        registries: &'a Registries,
        /// The registry host (and port).
        host: &'a str,
        /// A repository prefix, if any.
        prefix: Option<&'a str>,
    },
}

/// How to import.
pub struct ImportOptions<'a> {
    /// Where to.
    pub target: ImportTarget<'a>,
    /// Repository renames, `SOURCE=DESTINATION`, applied to each root's repository (exactly,
    /// or to a leading run of whole path components) before the prefix.
    pub maps: &'a [(String, String)],
    /// Verify everything and report, writing nothing.
    pub dry_run: bool,
    /// Uploads in flight at once (registry targets).
    pub jobs: usize,
    /// Where blobs wait for their upload (registry targets); a temporary directory by default.
    pub staging: Option<&'a Path>,
    /// The audit log (JSON lines, appended).
    pub audit_log: Option<&'a Path>,
    /// Called with blob bytes as they arrive.
    pub progress: Option<Arc<dyn Fn(u64) + Send + Sync>>,
    /// Bounds.
    pub limits: &'a Limits,
}

impl std::fmt::Debug for ImportOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImportOptions")
            .field("target", &self.target)
            .field("maps", &self.maps)
            .field("dry_run", &self.dry_run)
            .finish_non_exhaustive()
    }
}

/// A tag an import set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TagChange {
    /// The full reference tagged.
    pub reference: String,
    /// The digest it now names.
    pub digest: Digest,
    /// The digest it named before, if any.
    pub previous: Option<Digest>,
}

/// What an import did.
#[derive(Debug)]
pub struct ImportReport {
    /// The verified bundle.
    pub read: ReadReport,
    /// Tags set (or, in a dry run, that would be set).
    pub tags: Vec<TagChange>,
    /// Blobs written, already present, and bytes written.
    pub blobs_written: usize,
    /// Blobs the target already had.
    pub blobs_present: usize,
    /// Bytes of blobs written.
    pub bytes_written: u64,
    /// Manifests written.
    pub manifests: usize,
    /// Root versions installed in the trust store.
    pub roots_installed: Vec<u64>,
    /// Whether the revocation snapshot replaced the stored one.
    pub revocation_installed: bool,
}

/// The destination repository of `root`: its repository renamed by the first matching map,
/// under `prefix`.
pub fn destination_repository(
    root: &RootEntry,
    maps: &[(String, String)],
    prefix: Option<&str>,
) -> String {
    let mut repo = root.repository.clone();
    for (from, to) in maps {
        if repo == *from {
            repo.clone_from(to);
            break;
        }
        if let Some(rest) = repo.strip_prefix(&format!("{from}/")) {
            repo = format!("{to}/{rest}");
            break;
        }
    }
    match prefix.filter(|p| !p.is_empty()) {
        Some(p) => format!("{}/{repo}", p.trim_end_matches('/')),
        None => repo,
    }
}

impl ImportTarget<'_> {
    /// The repository a root is judged for and written to: `HOST/REPO` for a registry (as
    /// `verify` names it there), `REPO` for a layout.
    fn scope(&self, root: &RootEntry, maps: &[(String, String)]) -> String {
        match self {
            ImportTarget::Layout(_) => destination_repository(root, maps, None),
            ImportTarget::Registry { host, prefix, .. } => {
                format!("{host}/{}", destination_repository(root, maps, *prefix))
            }
        }
    }
}

/// Every node reachable from `root` (children, configs, layers, referrers).
fn closure(graph: &Graph, root: &Digest) -> BTreeSet<Digest> {
    let mut seen = BTreeSet::new();
    let mut stack = vec![root.clone()];
    while let Some(d) = stack.pop() {
        if seen.insert(d.clone()) {
            stack.extend(graph.edges_from(&d).map(|e| e.to.clone()));
        }
    }
    seen
}

/// Manifests of `graph` in `set`, each after what it points to and every referrer after its
/// subject, walking from `roots`.
fn manifest_order(graph: &Graph, roots: &[Digest], set: &BTreeSet<Digest>) -> Vec<Digest> {
    let mut out = crate::copy::manifest_order(graph, roots);
    out.retain(|d| set.contains(d));
    out
}

/// One destination repository (or the layout) and what goes there.
struct Lane {
    /// For a registry: the repository. `None` for the layout.
    repository: Option<Repository>,
    roots: Vec<RootEntry>,
    nodes: BTreeSet<Digest>,
}

struct Counts {
    written: usize,
    present: usize,
    bytes: u64,
}

/// Where the streamed blobs go.
struct ImportSink<'a> {
    opts: &'a ImportOptions<'a>,
    lanes: Vec<Lane>,
    counts: Arc<Mutex<Counts>>,
    uploads: Option<mpsc::SyncSender<(BlobEntry, PathBuf)>>,
    /// Layout targets: blobs for the writer thread, and the buffers that carry their bytes.
    writes: Option<(mpsc::SyncSender<WriteJob>, mpsc::Receiver<Vec<u8>>)>,
    staging: Option<PathBuf>,
    upload_failed: Arc<std::sync::atomic::AtomicBool>,
}

impl ImportSink<'_> {
    fn lanes_for(&self, digest: &Digest) -> impl Iterator<Item = &Lane> {
        self.lanes.iter().filter(move |l| l.nodes.contains(digest))
    }
}

fn build_lanes(
    target: &ImportTarget<'_>,
    maps: &[(String, String)],
    graph: &Graph,
    roots: &[RootEntry],
) -> Vec<Lane> {
    let mut lanes: BTreeMap<String, Lane> = BTreeMap::new();
    for root in roots {
        let (key, repository) = match target {
            ImportTarget::Layout(_) => (String::new(), None),
            ImportTarget::Registry {
                registries,
                host,
                prefix,
            } => {
                let name = destination_repository(root, maps, *prefix);
                (name.clone(), Some(registries.repository(host, &name)))
            }
        };
        let lane = lanes.entry(key).or_insert_with(|| Lane {
            repository,
            roots: Vec::new(),
            nodes: BTreeSet::new(),
        });
        lane.roots.push(root.clone());
        lane.nodes.extend(closure(graph, &root.digest));
    }
    lanes.into_values().collect()
}

impl Sink for ImportSink<'_> {
    fn checkpoint(&mut self, c: &Checkpoint<'_>) -> Result<(), Error> {
        self.lanes = build_lanes(&self.opts.target, self.opts.maps, c.graph, &c.packing.roots);
        // A delta bundle: what it omits must already be where it goes.
        for b in c.packing.blobs.iter().filter(|b| !b.carried) {
            for lane in self.lanes_for(&b.digest) {
                let present = match (&self.opts.target, &lane.repository) {
                    (ImportTarget::Layout(layout), _) => {
                        crate::graph::BlobStore::check_blob(*layout, &b.digest, b.size).is_ok()
                    }
                    (_, Some(repo)) => repo
                        .blob_exists(&b.digest)?
                        .is_some_and(|n| n.is_none_or(|n| n == b.size)),
                    _ => false,
                };
                if !present {
                    return Err(BundleError::NotAtTarget(b.digest.clone()).into());
                }
            }
        }
        Ok(())
    }

    fn blob(&mut self, entry: &BlobEntry, reader: &mut dyn Read) -> Result<(), Error> {
        if let Some(p) = &self.opts.progress {
            p(entry.size);
        }
        if self.opts.dry_run {
            return Ok(());
        }
        match &self.opts.target {
            ImportTarget::Layout(layout) => {
                let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
                if crate::graph::BlobStore::check_blob(*layout, &entry.digest, entry.size).is_ok() {
                    counts.present += 1;
                    return Ok(());
                }
                counts.written += 1;
                counts.bytes += entry.size;
                drop(counts);
                let Some((jobs, pool)) = &self.writes else {
                    layout.write_prechecked(reader, &entry.digest, entry.size)?;
                    return Ok(());
                };
                // Read (and hashed) here; written, synced and renamed into place by the writer
                // threads meanwhile. The end of the blob is sent only once the reader reached
                // it, which is when its digest was checked.
                let stopped = || Error::from(BundleError::Usage("writing blobs stopped".into()));
                let (chunks, receiver) = mpsc::sync_channel::<Chunk>(WRITE_BUFFERS);
                jobs.send((entry.digest.clone(), entry.size, receiver))
                    .map_err(|_| stopped())?;
                loop {
                    let mut buf = pool.recv().map_err(|_| stopped())?;
                    buf.resize(WRITE_BUFFER_BYTES, 0);
                    match read_some(reader, &mut buf) {
                        Ok((n, ended)) => {
                            if n > 0 {
                                chunks.send(Chunk::Data(buf, n)).map_err(|_| stopped())?;
                            }
                            if ended {
                                chunks.send(Chunk::End).map_err(|_| stopped())?;
                                return Ok(());
                            }
                        }
                        Err(e) => {
                            let _ = chunks.send(Chunk::Abort);
                            return Err(match crate::digest::digest_error(&e) {
                                Some(de) => LayoutError::Content {
                                    what: entry.digest.to_string(),
                                    source: de.clone(),
                                },
                                None => LayoutError::io("read blob", layout.root())(e),
                            }
                            .into());
                        }
                    }
                }
            }
            ImportTarget::Registry { .. } => {
                let (Some(staging), Some(uploads)) = (&self.staging, &self.uploads) else {
                    return Err(BundleError::Usage("no staging directory".into()).into());
                };
                // Staged under a name of its own, verified as it is written (the reader fails
                // at its end on a mismatch), then queued for upload.
                let path = staging.join(format!(
                    "{}-{}",
                    entry.digest.algorithm(),
                    entry.digest.hex()
                ));
                let file = File::create(&path).map_err(LayoutError::io("stage blob", &path))?;
                // A large buffer: `io::copy` then reads straight into it, 1 MiB at a time.
                let mut file = std::io::BufWriter::with_capacity(1 << 20, file);
                // A blob that does not hash to its digest is bad content, not an I/O problem.
                std::io::copy(reader, &mut file)
                    .and_then(|_| file.flush())
                    .map_err(|e| match crate::digest::digest_error(&e) {
                        Some(de) => LayoutError::Content {
                            what: entry.digest.to_string(),
                            source: de.clone(),
                        },
                        None => LayoutError::io("stage blob", &path)(e),
                    })?;
                drop(file);
                // A full queue waits for a worker; a failed worker stops the read (its error is
                // the one reported).
                let mut item = (entry.clone(), path);
                loop {
                    if self
                        .upload_failed
                        .load(std::sync::atomic::Ordering::Relaxed)
                    {
                        return Err(BundleError::Usage("an upload failed".into()).into());
                    }
                    match uploads.try_send(item) {
                        Ok(()) => return Ok(()),
                        Err(mpsc::TrySendError::Full(back)) => {
                            item = back;
                            std::thread::sleep(std::time::Duration::from_millis(5));
                        }
                        Err(mpsc::TrySendError::Disconnected(_)) => {
                            return Err(BundleError::Usage("the uploads stopped".into()).into());
                        }
                    }
                }
            }
        }
    }
}

/// A blob for the layout writer thread: its digest, size and the channel of its bytes.
type WriteJob = (Digest, u64, mpsc::Receiver<Chunk>);

/// Buffers carrying blob bytes to the layout writer, and their size.
const WRITE_BUFFERS: usize = 4;
const WRITE_BUFFER_BYTES: usize = 1 << 20;

/// A piece of a blob on its way to the writer.
enum Chunk {
    /// Bytes (a pooled buffer and how much of it is filled).
    Data(Vec<u8>, usize),
    /// The blob ended and its digest matched.
    End,
    /// The reading side failed: the staged file must not be published.
    Abort,
}

/// The writer's view of one blob's chunks; buffers go back to the pool once copied.
struct ChannelReader {
    chunks: mpsc::Receiver<Chunk>,
    pool: mpsc::SyncSender<Vec<u8>>,
    current: Option<(Vec<u8>, usize, usize)>,
    aborted: bool,
}

impl Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        loop {
            if let Some((buf, len, pos)) = &mut self.current {
                if *pos < *len {
                    let n = out.len().min(*len - *pos);
                    out[..n].copy_from_slice(&buf[*pos..*pos + n]);
                    *pos += n;
                    return Ok(n);
                }
                if let Some((buf, _, _)) = self.current.take() {
                    let _ = self.pool.send(buf);
                }
            }
            match self.chunks.recv() {
                Ok(Chunk::Data(buf, len)) => self.current = Some((buf, len, 0)),
                Ok(Chunk::End) => return Ok(0),
                Ok(Chunk::Abort) | Err(_) => {
                    self.aborted = true;
                    return Err(std::io::Error::other("the bundle stream stopped"));
                }
            }
        }
    }
}

/// Reads until `buf` is full or the reader ends (so chunks are large): the bytes read, and
/// whether the reader ended (for a verifying reader: its digest matched).
fn read_some(reader: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<(usize, bool)> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => return Ok((filled, true)),
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok((filled, false))
}

/// Uploads staged blobs to every lane that needs them: the first by sending the bytes, the rest
/// by a cross-repository mount from it.
fn upload_worker(
    slot: &Mutex<Option<Arc<Vec<Lane>>>>,
    queue: &Mutex<mpsc::Receiver<(BlobEntry, PathBuf)>>,
    counts: &Mutex<Counts>,
) -> Result<(), Error> {
    loop {
        let next = queue.lock().unwrap_or_else(|e| e.into_inner()).recv();
        let Ok((entry, path)) = next else {
            return Ok(());
        };
        // Nothing is queued before the checkpoint has set the lanes.
        let lanes = slot
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or_else(|| BundleError::Usage("a blob was queued before the checkpoint".into()))?;
        let mut first: Option<&str> = None;
        for lane in lanes.iter().filter(|l| l.nodes.contains(&entry.digest)) {
            let Some(repo) = &lane.repository else {
                continue;
            };
            let open = || -> Result<Box<dyn Read + Send>, LayoutError> {
                let file = File::open(&path).map_err(LayoutError::io("open staged blob", &path))?;
                Ok(Box::new(crate::digest::HashingReader::verifying(
                    file,
                    crate::digest::Expected {
                        digest: entry.digest.clone(),
                        size: Some(entry.size),
                    },
                )))
            };
            let outcome = repo.upload_blob(&entry.digest, entry.size, &open, first)?;
            let mut c = counts.lock().unwrap_or_else(|e| e.into_inner());
            match outcome {
                BlobOutcome::Uploaded => {
                    c.written += 1;
                    c.bytes += entry.size;
                }
                BlobOutcome::Present | BlobOutcome::Mounted => c.present += 1,
            }
            first.get_or_insert(repo.name());
        }
        let _ = std::fs::remove_file(&path);
    }
}

/// Imports the bundle read from `input` into `opts.target`, judged by `store`'s pinned root,
/// revocation snapshot and policy; installs the bundle's newer trust material in `store`.
pub fn import(
    input: impl Read,
    store: &mut TrustStore,
    opts: &ImportOptions<'_>,
    now: Seconds,
) -> Result<ImportReport, Error> {
    let result = import_inner(input, store, opts, now);
    if let Some(path) = opts.audit_log
        && !opts.dry_run
    {
        let line = audit_line(&result, opts, now);
        append_audit(path, &line)?;
    }
    result
}

fn import_inner(
    input: impl Read,
    store: &mut TrustStore,
    opts: &ImportOptions<'_>,
    now: Seconds,
) -> Result<ImportReport, Error> {
    let policy = store.policy()?.cloned().ok_or_else(|| {
        BundleError::Usage(
            "no trust policy is installed in the trust store: install one with `airlock policy set FILE`"
                .into(),
        )
    })?;
    let target = opts.target;
    let maps = opts.maps;
    let scope = move |root: &RootEntry| Some(target.scope(root, maps));
    let counts = Arc::new(Mutex::new(Counts {
        written: 0,
        present: 0,
        bytes: 0,
    }));
    let staging_dir = match (&opts.target, opts.dry_run) {
        (ImportTarget::Registry { .. }, false) => Some(
            match opts.staging {
                Some(dir) => tempfile::Builder::new()
                    .prefix(".airlock-import-")
                    .tempdir_in(dir),
                None => tempfile::Builder::new().prefix("airlock-import-").tempdir(),
            }
            .map_err(|e| LayoutError::io("create staging directory", Path::new("."))(e))?,
        ),
        _ => None,
    };
    let read_opts = ReadOptions {
        anchor: TrustAnchor::Store(store),
        policy: Some(&policy),
        now,
        at: now,
        repository: &scope,
        limits: opts.limits,
    };
    let (tx, rx) = mpsc::sync_channel::<(BlobEntry, PathBuf)>(opts.jobs.max(1));
    let upload_failed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let rx = Mutex::new(rx);
    let mut sink = ImportSink {
        opts,
        lanes: Vec::new(),
        counts: counts.clone(),
        uploads: staging_dir.as_ref().map(|_| tx),
        writes: None,
        staging: staging_dir.as_ref().map(|d| d.path().to_path_buf()),
        upload_failed: upload_failed.clone(),
    };
    // Uploads run beside the read: the reader stages blobs, `jobs` workers send them. The
    // lanes are known only at the checkpoint, so the workers start from a shared slot.
    let lanes_slot: Mutex<Option<Arc<Vec<Lane>>>> = Mutex::new(None);
    let read = if sink.uploads.is_some() {
        std::thread::scope(|scope| -> Result<ReadReport, Error> {
            let mut guard = LanesOnCheckpoint {
                inner: &mut sink,
                slot: &lanes_slot,
            };
            let workers: Vec<_> = (0..opts.jobs.max(1))
                .map(|_| {
                    let (slot, rx, counts, failed) = (&lanes_slot, &rx, &counts, &upload_failed);
                    scope.spawn(move || -> Result<(), Error> {
                        let result = upload_worker(slot, rx, counts);
                        if result.is_err() {
                            failed.store(true, std::sync::atomic::Ordering::Relaxed);
                        }
                        result
                    })
                })
                .collect();
            let read = read_bundle(input, &mut guard, &read_opts);
            // Closing the queue lets the workers finish what is staged, then stop.
            guard.inner.uploads = None;
            let mut first_error = None;
            for w in workers {
                match w.join() {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        first_error.get_or_insert(e);
                    }
                    Err(_) => {
                        first_error.get_or_insert(
                            BundleError::Usage("an upload worker failed".into()).into(),
                        );
                    }
                }
            }
            let read = read?;
            match first_error {
                Some(e) => Err(e),
                None => Ok(read),
            }
        })?
    } else if let (ImportTarget::Layout(layout), false) = (&opts.target, opts.dry_run) {
        // Three threads: this one reads and hashes, a writer stages each blob's bytes, a
        // publisher syncs and renames it; a few buffers and two staged blobs in flight.
        let (jobs_tx, jobs_rx) = mpsc::sync_channel::<WriteJob>(1);
        let (pool_tx, pool_rx) = mpsc::sync_channel::<Vec<u8>>(WRITE_BUFFERS);
        for _ in 0..WRITE_BUFFERS {
            let _ = pool_tx.send(vec![0u8; WRITE_BUFFER_BYTES]);
        }
        let (publish_tx, publish_rx) = mpsc::sync_channel::<(crate::layout::Staged, Digest)>(2);
        sink.writes = Some((jobs_tx, pool_rx));
        std::thread::scope(|scope| -> Result<ReadReport, Error> {
            let writer = scope.spawn(move || -> Result<(), Error> {
                for (digest, size, chunks) in jobs_rx {
                    let mut reader = ChannelReader {
                        chunks,
                        pool: pool_tx.clone(),
                        current: None,
                        aborted: false,
                    };
                    match layout.stage_prechecked(&mut reader, &digest, size) {
                        Ok(staged) => {
                            if publish_tx.send((staged, digest)).is_err() {
                                return Ok(());
                            }
                        }
                        // The reading side failed and reports why.
                        Err(_) if reader.aborted => return Ok(()),
                        Err(e) => return Err(e.into()),
                    }
                }
                Ok(())
            });
            let publisher = scope.spawn(move || -> Result<(), Error> {
                for (staged, digest) in publish_rx {
                    layout.publish(staged, &digest)?;
                }
                Ok(())
            });
            let read = read_bundle(input, &mut sink, &read_opts);
            sink.writes = None;
            let failed = || Err(BundleError::Usage("the blob writer failed".into()).into());
            let written = writer.join().unwrap_or_else(|_| failed());
            let published = publisher.join().unwrap_or_else(|_| failed());
            // A writer's own failure explains a read that stopped because of it.
            written?;
            published?;
            read
        })?
    } else {
        read_bundle(input, &mut sink, &read_opts)?
    };
    let lanes = if sink.lanes.is_empty() {
        build_lanes(&opts.target, maps, &read.graph, &read.packing.roots)
    } else {
        std::mem::take(&mut sink.lanes)
    };
    let counts = {
        let c = counts.lock().unwrap_or_else(|e| e.into_inner());
        (c.written, c.present, c.bytes)
    };
    let mut report = ImportReport {
        tags: Vec::new(),
        blobs_written: counts.0,
        blobs_present: counts.1,
        bytes_written: counts.2,
        manifests: 0,
        roots_installed: Vec::new(),
        revocation_installed: false,
        read,
    };
    let root_digests: Vec<Digest> = report
        .read
        .packing
        .roots
        .iter()
        .map(|r| r.digest.clone())
        .collect();
    // Manifests, untagged: children first, referrers after subjects, in every lane.
    for lane in &lanes {
        let dest: &dyn Destination = match (&opts.target, &lane.repository) {
            (ImportTarget::Layout(layout), _) => *layout,
            (_, Some(repo)) => repo,
            _ => continue,
        };
        if !opts.dry_run {
            // Blobs durable (their directories synced) before manifests and tags name them.
            dest.blobs_done()?;
        }
        for digest in manifest_order(&report.read.graph, &root_digests, &lane.nodes) {
            let Some(node) = report.read.graph.nodes.get(&digest) else {
                continue;
            };
            let Some(raw) = &node.raw else { continue };
            if opts.dry_run {
                report.manifests += 1;
                continue;
            }
            let subject = match node.parsed.as_ref().and_then(|p| p.subject.as_ref()) {
                Some(s) => Some(crate::layout::descriptor_digest(s)?),
                None => None,
            };
            dest.put_manifest(&node.descriptor, raw, subject.as_ref())?;
            report.manifests += 1;
        }
        if !opts.dry_run {
            dest.manifests_done()?;
        }
    }
    // Trust material, then tags.
    if !opts.dry_run {
        if !report.read.plan.new_roots.is_empty() {
            report.roots_installed = store.update_roots(report.read.plan.new_roots.clone(), now)?;
        }
        if report.read.plan.revocation_is_new {
            report.revocation_installed =
                store.import_revocation(report.read.plan.revocation.clone(), now)?;
        }
    }
    for lane in &lanes {
        for root in &lane.roots {
            let desc = root.descriptor();
            let change = name_root(opts, &report.read.graph, lane, root, &desc)?;
            if let Some(c) = change {
                report.tags.push(c);
            }
        }
    }
    Ok(report)
}

/// Tags one root (or, in a dry run, reports what the tag would change).
fn name_root(
    opts: &ImportOptions<'_>,
    graph: &Graph,
    lane: &Lane,
    root: &RootEntry,
    desc: &Descriptor,
) -> Result<Option<TagChange>, Error> {
    match (&opts.target, &lane.repository) {
        (ImportTarget::Layout(layout), _) => {
            let name = destination_repository(root, opts.maps, None);
            let Some(tag) = &root.tag else {
                if !opts.dry_run {
                    layout.add_untagged(desc)?;
                }
                return Ok(None);
            };
            let tag = LayoutTag::new(&format!("{name}:{tag}"))?;
            let previous = match layout.resolve(Some(&Selector::Tag(tag.clone()))) {
                Ok(e) => Some(e.digest),
                Err(LayoutError::TagNotFound { .. }) => None,
                Err(e) => return Err(e.into()),
            };
            if !opts.dry_run {
                layout.tag(&tag, desc)?;
            }
            Ok(Some(TagChange {
                reference: format!("oci:{}:{}", layout.root().display(), tag.as_str()),
                digest: root.digest.clone(),
                previous,
            }))
        }
        (ImportTarget::Registry { .. }, Some(repo)) => {
            let Some(tag) = &root.tag else {
                return Ok(None);
            };
            let reference = format!("{}/{}:{tag}", repo.host(), repo.name());
            let parsed: crate::reference::RegistryReference = match reference.parse()? {
                crate::reference::Reference::Registry(r) => r,
                crate::reference::Reference::Layout(_) => {
                    return Err(BundleError::Usage(format!(
                        "{reference} is not a registry reference"
                    ))
                    .into());
                }
            };
            let previous = match repo.resolve(&parsed) {
                Ok((d, _)) => Some(crate::layout::descriptor_digest(&d)?),
                Err(e) if e.is_not_found() => None,
                Err(e) => return Err(e.into()),
            };
            if !opts.dry_run {
                // The tag is pushed with the root's own bytes (the registry stores them again
                // under the tag; the digest is unchanged).
                let raw = graph
                    .nodes
                    .get(&root.digest)
                    .and_then(|n| n.raw.clone())
                    .ok_or_else(|| {
                        BundleError::Malformed(format!("root {} has no manifest", root.digest))
                    })?;
                repo.name_root(Some(tag), desc, &raw)?;
            }
            Ok(Some(TagChange {
                reference,
                digest: root.digest.clone(),
                previous,
            }))
        }
        _ => Ok(None),
    }
}

/// Hands the lanes to the upload workers at the checkpoint.
struct LanesOnCheckpoint<'s, 'a> {
    inner: &'s mut ImportSink<'a>,
    slot: &'s Mutex<Option<Arc<Vec<Lane>>>>,
}

impl Sink for LanesOnCheckpoint<'_, '_> {
    fn checkpoint(&mut self, c: &Checkpoint<'_>) -> Result<(), Error> {
        self.inner.checkpoint(c)?;
        let lanes: Vec<Lane> = self
            .inner
            .lanes
            .iter()
            .map(|l| Lane {
                repository: l.repository.clone(),
                roots: l.roots.clone(),
                nodes: l.nodes.clone(),
            })
            .collect();
        *self.slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(lanes));
        Ok(())
    }

    fn blob(&mut self, entry: &BlobEntry, reader: &mut dyn Read) -> Result<(), Error> {
        self.inner.blob(entry, reader)
    }
}

/// The audit record of one import.
fn audit_line(
    result: &Result<ImportReport, Error>,
    opts: &ImportOptions<'_>,
    now: Seconds,
) -> Value {
    let target = match &opts.target {
        ImportTarget::Layout(l) => format!("oci:{}", l.root().display()),
        ImportTarget::Registry { host, prefix, .. } => match prefix {
            Some(p) => format!("{host}/{p}"),
            None => (*host).to_owned(),
        },
    };
    match result {
        Ok(r) => json!({
            "time": format_rfc3339(now),
            "result": "imported",
            "target": target,
            "bundle": r.read.bundle.digest().to_string(),
            "bundleFile": r.read.file_digest.to_string(),
            "signers": r.read.signers.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "trustRoot": r.read.plan.root.version(),
            "revocation": r.read.plan.revocation.version(),
            "tags": r.tags.iter().map(|t| json!({
                "reference": t.reference,
                "digest": t.digest.to_string(),
                "previous": t.previous.as_ref().map(ToString::to_string),
            })).collect::<Vec<_>>(),
        }),
        Err(e) => json!({
            "time": format_rfc3339(now),
            "result": "refused",
            "target": target,
            "error": e.to_string(),
        }),
    }
}

/// Appends one JSON line to the audit log under an exclusive lock, and syncs it.
fn append_audit(path: &Path, line: &Value) -> Result<(), Error> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(LayoutError::io("create audit log directory", dir))?;
    }
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(LayoutError::io("open audit log", path))?;
    file.lock()
        .map_err(LayoutError::io("lock audit log", path))?;
    let mut bytes = serde_json::to_vec(line).unwrap_or_default();
    bytes.push(b'\n');
    file.write_all(&bytes)
        .and_then(|()| file.sync_all())
        .map_err(LayoutError::io("append to audit log", path))?;
    Ok(())
}

/// The `artifactType` of the trust material published to a registry.
pub const TRUST_ARTIFACT_TYPE: &str = "application/vnd.airlock.trust.v1";
/// The repository (under the import prefix) trust material is published to.
pub const TRUST_REPOSITORY: &str = "airlock/trust";
/// The tag it is published under.
pub const TRUST_TAG: &str = "current";

/// Pushes the store's root chain and revocation snapshot to `HOST/PREFIX/airlock/trust:current`
/// as one artifact (config empty, one layer per document), for verifiers inside the network to
/// fetch with [`fetch_trust`]. Returns the reference written.
pub fn publish_trust(
    store: &TrustStore,
    registries: &Registries,
    host: &str,
    prefix: Option<&str>,
) -> Result<String, Error> {
    let name = match prefix.filter(|p| !p.is_empty()) {
        Some(p) => format!("{p}/{TRUST_REPOSITORY}"),
        None => TRUST_REPOSITORY.to_owned(),
    };
    let repo = registries.repository(host, &name);
    let mut layers: Vec<Value> = Vec::new();
    let mut docs: Vec<(&str, Vec<u8>)> = store
        .chain()?
        .iter()
        .map(|r| (crate::bundle::TRUST_ROOT_MEDIA_TYPE, r.to_vec()))
        .collect();
    if let Some(s) = store.revocation() {
        docs.push((crate::bundle::REVOCATION_MEDIA_TYPE, s.to_vec()));
    }
    docs.push((crate::media::OCI_EMPTY, crate::media::EMPTY_JSON.to_vec()));
    let mut config = Value::Null;
    for (media_type, bytes) in docs {
        let digest = Digest::sha256_of(&bytes);
        let size = bytes.len() as u64;
        let open = crate::copy::bytes_opener(bytes.into());
        repo.upload_blob(&digest, size, &open, None)?;
        let desc = json!({ "mediaType": media_type, "digest": digest.to_string(), "size": size });
        if media_type == crate::media::OCI_EMPTY {
            config = desc;
        } else {
            layers.push(desc);
        }
    }
    let manifest = crate::layout::to_json_bytes(&json!({
        "schemaVersion": 2,
        "mediaType": crate::media::OCI_MANIFEST,
        "artifactType": TRUST_ARTIFACT_TYPE,
        "config": config,
        "layers": layers,
    }));
    repo.put_manifest(TRUST_TAG, crate::media::OCI_MANIFEST, &manifest)?;
    Ok(format!("{host}/{name}:{TRUST_TAG}"))
}

/// What [`fetch_trust`] installed.
#[derive(Debug, Clone, Default)]
pub struct Synced {
    /// Root versions added.
    pub roots: Vec<u64>,
    /// Whether the revocation snapshot replaced the stored one.
    pub revocation: bool,
}

/// Fetches trust material published by [`publish_trust`] from `repo` (the manifest `reference`)
/// and installs it in `store` by the usual rules: roots must rotate from the pinned one, the
/// snapshot must verify under the newest root and not be older than the stored one.
pub fn fetch_trust(
    store: &mut TrustStore,
    repo: &Repository,
    reference: &crate::reference::RegistryReference,
    now: Seconds,
) -> Result<Synced, Error> {
    let limits = repo.limits().clone();
    let (desc, bytes) = repo.resolve(reference)?;
    let parsed = crate::graph::parse_manifest(&bytes, desc.media_type().as_ref(), &limits)
        .map_err(|p| BundleError::Malformed(format!("trust artifact: {p:?}")))?;
    if parsed.artifact_type.as_deref() != Some(TRUST_ARTIFACT_TYPE) {
        return Err(BundleError::Malformed(format!(
            "{reference} is not airlock trust material (artifactType {TRUST_ARTIFACT_TYPE})"
        ))
        .into());
    }
    let mut roots = Vec::new();
    let mut snapshot = None;
    for (edge, layer) in parsed.children {
        if edge != EdgeKind::Layer {
            continue;
        }
        let digest = crate::layout::descriptor_digest(&layer)?;
        let doc = crate::graph::BlobStore::fetch_small_blob(
            repo,
            &digest,
            layer.size(),
            limits.max_trust_document_bytes,
        )?;
        match layer.media_type().to_string().as_str() {
            crate::bundle::TRUST_ROOT_MEDIA_TYPE => {
                roots.push(crate::trust::SignedRoot::parse(&doc, &limits)?);
            }
            crate::bundle::REVOCATION_MEDIA_TYPE if snapshot.is_none() => {
                snapshot = Some(crate::revocation::SignedSnapshot::parse(&doc, &limits)?);
            }
            other => {
                return Err(BundleError::Malformed(format!(
                    "trust artifact layer of type {other}"
                ))
                .into());
            }
        }
    }
    let mut synced = Synced::default();
    match store.update_roots(roots, now) {
        Ok(v) => synced.roots = v,
        Err(crate::trust::TrustError::Rollback { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    if let Some(s) = snapshot {
        synced.revocation = store.import_revocation(s, now)?;
    }
    Ok(synced)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(repository: &str) -> RootEntry {
        RootEntry {
            digest: Digest::sha256_of(b"x"),
            media_type: crate::media::OCI_MANIFEST.into(),
            size: 1,
            repository: repository.into(),
            tag: Some("v1".into()),
            source: "test".into(),
        }
    }

    #[test]
    fn maps_rename_whole_components_then_the_prefix_applies() {
        let maps = vec![
            (
                "wabbit/net-monitor".to_owned(),
                "acme/net-monitor".to_owned(),
            ),
            ("wabbit".to_owned(), "vendor/wabbit".to_owned()),
        ];
        let d = |r: &str, p: Option<&str>| destination_repository(&root(r), &maps, p);
        assert_eq!(d("wabbit/net-monitor", None), "acme/net-monitor");
        assert_eq!(
            d("wabbit/net-monitor", Some("airgap")),
            "airgap/acme/net-monitor"
        );
        assert_eq!(
            d("wabbit/tools/scan", Some("airgap/")),
            "airgap/vendor/wabbit/tools/scan"
        );
        // A map matches whole path components only.
        assert_eq!(d("wabbitnet/x", None), "wabbitnet/x");
        assert_eq!(d("other/x", Some("")), "other/x");
    }
}
