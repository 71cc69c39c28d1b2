//! Copying an artifact's whole graph between layouts and registries, in any direction, with
//! every manifest's bytes (so every digest) preserved: index children, configs, layers and,
//! with referrers on, the referrers of every node and theirs in turn.
//!
//! The graph is walked and checked in the source first (digests, sizes, limits, cycles). Blobs
//! then stream source → destination, hashed once on the way and `jobs` at a time; manifests
//! follow, each after everything it points to and every referrer after its subject; the tag
//! is written last, so a failed copy moves no tag.

use std::collections::{BTreeMap, HashSet};
use std::io::Read;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use oci_spec::image::Descriptor;

use crate::digest::Digest;
use crate::error::Error;
use crate::graph::{BlobStore, EdgeKind, Graph, GraphSource, Indexed, parse_manifest};
use crate::layout::{Layout, LayoutError, descriptor_digest};
use crate::limits::Limits;
use crate::media::{self, Kind};
use crate::reference::LayoutTag;
use crate::registry::{BlobOutcome, Opener, Repository};

/// Where a copy reads: a graph source that can also stream blobs.
pub trait Source: GraphSource + Sync {
    /// Opens a blob; reading it to its end fails unless digest and size match.
    fn open_blob(&self, digest: &Digest, size: u64) -> Result<Box<dyn Read + Send>, LayoutError>;
    /// `(registry host, repository)` when the source is a registry repository, so a
    /// destination on the same registry can mount blobs instead of moving them.
    fn registry_origin(&self) -> Option<(&str, &str)> {
        None
    }
}

/// Where a copy writes.
pub trait Destination: Sync {
    /// Stores a blob unless present. `open` gives a reader that fails at its end unless the
    /// bytes match `digest` and `size`; it is called again for each retry.
    fn put_blob(
        &self,
        digest: &Digest,
        size: u64,
        open: &Opener<'_>,
        origin: Option<(&str, &str)>,
    ) -> Result<BlobOutcome, LayoutError>;
    /// Stores a manifest's exact bytes; a manifest with a `subject` is recorded where readers
    /// of the destination find referrers.
    fn put_manifest(
        &self,
        desc: &Descriptor,
        bytes: &[u8],
        subject: Option<&Digest>,
    ) -> Result<(), LayoutError>;
    /// Names the copied root: under `tag`, or (for a layout, which lists what it holds) as an
    /// untagged entry.
    fn name_root(
        &self,
        tag: Option<&str>,
        desc: &Descriptor,
        bytes: &[u8],
    ) -> Result<(), LayoutError>;
    /// Called once every blob is stored, before any manifest.
    fn blobs_done(&self) -> Result<(), LayoutError> {
        Ok(())
    }
    /// Called once every manifest is stored, before the root is named: a registry records the
    /// referrers pushed in their subjects' fallback indexes here.
    fn manifests_done(&self) -> Result<(), LayoutError> {
        Ok(())
    }
}

impl Source for Indexed<&Layout> {
    fn open_blob(&self, digest: &Digest, size: u64) -> Result<Box<dyn Read + Send>, LayoutError> {
        Ok(Box::new(self.store().open_blob(digest, Some(size))?))
    }
}

impl Source for Indexed<Layout> {
    fn open_blob(&self, digest: &Digest, size: u64) -> Result<Box<dyn Read + Send>, LayoutError> {
        Ok(Box::new(self.store().open_blob(digest, Some(size))?))
    }
}

impl Source for Repository {
    fn open_blob(&self, digest: &Digest, size: u64) -> Result<Box<dyn Read + Send>, LayoutError> {
        Ok(Box::new(Repository::open_blob(self, digest, size)?))
    }

    fn registry_origin(&self) -> Option<(&str, &str)> {
        Some((self.host(), self.name()))
    }
}

impl Destination for Layout {
    fn put_blob(
        &self,
        digest: &Digest,
        size: u64,
        open: &Opener<'_>,
        origin: Option<(&str, &str)>,
    ) -> Result<BlobOutcome, LayoutError> {
        if std::fs::metadata(self.blob_path(digest)).is_ok_and(|m| m.is_file() && m.len() == size) {
            return Ok(BlobOutcome::Present);
        }
        // A source that breaks off mid-stream (a dropped connection, a stalled registry) is
        // opened again, a few times, and then named in the error; a digest mismatch or a
        // failure to write here is final.
        let mut attempt = 0;
        loop {
            let failed = std::cell::Cell::new(false);
            let mut reader = Watched {
                inner: open()?,
                failed: &failed,
            };
            match self.write_prechecked(&mut reader, digest, size) {
                Ok(_) => return Ok(BlobOutcome::Uploaded),
                // The reader failed, so the error is its own (the writer stops at the first).
                Err(LayoutError::Io { source, .. }) if failed.get() => {
                    attempt += 1;
                    if attempt > SOURCE_RETRIES {
                        return Err(LayoutError::SourceBroke {
                            digest: digest.clone(),
                            from: origin.map_or_else(
                                || "the source".to_owned(),
                                |(host, repo)| format!("{host}/{repo}"),
                            ),
                            attempts: attempt,
                            source,
                        });
                    }
                    tracing::warn!(
                        %digest,
                        attempt,
                        error = %source,
                        "the source broke off; reading it again"
                    );
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn put_manifest(
        &self,
        desc: &Descriptor,
        bytes: &[u8],
        subject: Option<&Digest>,
    ) -> Result<(), LayoutError> {
        let digest = crate::layout::verified_manifest_digest(desc, bytes)?;
        let mut reader: &[u8] = bytes;
        let expected = crate::digest::Expected {
            digest,
            size: Some(bytes.len() as u64),
        };
        self.write_blob(&mut reader, Some(expected))?;
        if subject.is_some() {
            self.add_untagged(desc)?;
        }
        Ok(())
    }

    fn name_root(
        &self,
        tag: Option<&str>,
        desc: &Descriptor,
        _bytes: &[u8],
    ) -> Result<(), LayoutError> {
        match tag {
            Some(t) => {
                let tag = LayoutTag::new(t).map_err(|e| LayoutError::InvalidDocument {
                    path: "tag".into(),
                    reason: e.to_string(),
                })?;
                self.tag(&tag, desc)
            }
            None => self.add_untagged(desc),
        }
    }

    fn blobs_done(&self) -> Result<(), LayoutError> {
        self.sync_blob_dirs()
    }
}

impl Destination for Repository {
    fn put_blob(
        &self,
        digest: &Digest,
        size: u64,
        open: &Opener<'_>,
        origin: Option<(&str, &str)>,
    ) -> Result<BlobOutcome, LayoutError> {
        let mount = origin
            .filter(|(host, repo)| *host == self.host() && *repo != self.name())
            .map(|(_, repo)| repo);
        self.upload_blob(digest, size, open, mount)
    }

    fn put_manifest(
        &self,
        desc: &Descriptor,
        bytes: &[u8],
        subject: Option<&Digest>,
    ) -> Result<(), LayoutError> {
        self.push_manifest(desc, bytes, subject)
    }

    fn manifests_done(&self) -> Result<(), LayoutError> {
        self.flush_referrers()
    }

    fn name_root(
        &self,
        tag: Option<&str>,
        desc: &Descriptor,
        bytes: &[u8],
    ) -> Result<(), LayoutError> {
        if let Some(t) = tag {
            self.put_manifest(t, desc.media_type().as_ref(), bytes)?;
        }
        Ok(())
    }
}

/// How many times a blob whose source broke off mid-stream is read again.
const SOURCE_RETRIES: u32 = 3;

/// A reader that notes whether it failed (as opposed to the writer it feeds).
struct Watched<'a> {
    inner: Box<dyn Read + Send>,
    failed: &'a std::cell::Cell<bool>,
}

impl Read for Watched<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.inner.read(buf).inspect_err(|e| {
            // An interrupted read is tried again by the writer: no failure.
            if e.kind() != std::io::ErrorKind::Interrupted
                && crate::digest::digest_error(e).is_none()
            {
                self.failed.set(true);
            }
        })
    }
}

/// A source seen without its referrers: a copy of the artifact alone.
struct WithoutReferrers<'a>(&'a dyn Source);

impl BlobStore for WithoutReferrers<'_> {
    fn fetch_manifest(
        &self,
        digest: &Digest,
        size: u64,
        max: u64,
    ) -> Result<Arc<[u8]>, LayoutError> {
        self.0.fetch_manifest(digest, size, max)
    }

    fn check_blob(&self, digest: &Digest, size: u64) -> Result<(), LayoutError> {
        self.0.check_blob(digest, size)
    }

    fn fetch_small_blob(
        &self,
        digest: &Digest,
        size: u64,
        max: u64,
    ) -> Result<Arc<[u8]>, LayoutError> {
        self.0.fetch_small_blob(digest, size, max)
    }
}

impl GraphSource for WithoutReferrers<'_> {
    fn referrers_of(&self, _subject: &Digest) -> Result<Vec<Descriptor>, LayoutError> {
        Ok(Vec::new())
    }
}

/// A platform, `os/architecture[/variant]`, as `--platform` takes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Platform {
    /// The operating system (`linux`).
    pub os: String,
    /// The architecture (`amd64`, `arm64`).
    pub architecture: String,
    /// The variant (`v8`), if named.
    pub variant: Option<String>,
}

impl std::str::FromStr for Platform {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = s.split('/').collect();
        match parts.as_slice() {
            [os, arch] | [os, arch, _]
                if !os.is_empty() && !arch.is_empty() && parts.iter().all(|p| !p.is_empty()) =>
            {
                Ok(Platform {
                    os: (*os).to_owned(),
                    architecture: (*arch).to_owned(),
                    variant: parts.get(2).map(|v| (*v).to_owned()),
                })
            }
            _ => Err(format!("expected OS/ARCH[/VARIANT], got {s:?}")),
        }
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// What a copy does besides the artifact itself.
#[derive(Clone, Default)]
pub struct CopyOptions {
    /// Copy the referrers of every node too, and theirs (signatures, SBOMs, attestations).
    pub referrers: bool,
    /// For an index: copy only the manifest for this platform (which becomes the root).
    pub platform: Option<Platform>,
    /// How many blobs move at once (at least one).
    pub jobs: usize,
    /// Called with the number of blob bytes read from the source as they stream.
    pub progress: Option<Arc<dyn Fn(u64) + Send + Sync>>,
}

impl std::fmt::Debug for CopyOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CopyOptions")
            .field("referrers", &self.referrers)
            .field("platform", &self.platform)
            .field("jobs", &self.jobs)
            .finish_non_exhaustive()
    }
}

/// What a copy did.
#[derive(Clone, Debug)]
pub struct CopyReport {
    /// The root copied (the platform's manifest when a platform was chosen).
    pub root: Descriptor,
    /// The graph copied.
    pub graph: Graph,
    /// Manifests and indexes written.
    pub manifests: usize,
    /// Referrers among them.
    pub referrers: usize,
    /// Blobs whose bytes were sent.
    pub blobs_sent: usize,
    /// Blobs the destination already had.
    pub blobs_present: usize,
    /// Blobs mounted from another repository of the same registry.
    pub blobs_mounted: usize,
    /// Bytes of the blobs sent.
    pub bytes_sent: u64,
}

/// The manifest of `platform` in the index `root`, or `root` itself when it is not an index.
pub fn select_platform(
    source: &dyn Source,
    root: &Descriptor,
    platform: &Platform,
    limits: &Limits,
) -> Result<Descriptor, Error> {
    let mt = root.media_type().to_string();
    if media::kind_of(&mt) != Kind::Index {
        return Err(Error::Unsupported(format!(
            "--platform {platform} chooses among an index's manifests, and the source is a {mt}"
        )));
    }
    let digest = descriptor_digest(root)?;
    let bytes = source.fetch_manifest(&digest, root.size(), limits.max_manifest_bytes)?;
    let parsed = parse_manifest(&bytes, &mt, limits)
        .map_err(|p| Error::Unsupported(format!("index {digest} is not valid: {p:?}")))?;
    let mut seen = Vec::new();
    for (edge, child) in parsed.children {
        if edge != EdgeKind::Child {
            continue;
        }
        if let Some(p) = child.platform() {
            let variant_ok = platform
                .variant
                .as_deref()
                .is_none_or(|v| p.variant().as_deref() == Some(v));
            if p.os().to_string() == platform.os
                && p.architecture().to_string() == platform.architecture
                && variant_ok
            {
                return Ok(child);
            }
            seen.push(format!("{}/{}", p.os(), p.architecture()));
        }
    }
    Err(Error::Unsupported(format!(
        "index {digest} has no manifest for {platform} (it has: {})",
        if seen.is_empty() {
            "none with a platform".to_owned()
        } else {
            seen.join(", ")
        }
    )))
}

/// Copies `root` and its graph from `source` to `destination`, then names it `tag`.
pub fn copy(
    source: &dyn Source,
    root: &Descriptor,
    destination: &dyn Destination,
    tag: Option<&str>,
    options: &CopyOptions,
    limits: &Limits,
) -> Result<CopyReport, Error> {
    let root = match &options.platform {
        Some(p) if media::kind_of(root.media_type().as_ref()) == Kind::Index => {
            select_platform(source, root, p, limits)?
        }
        _ => root.clone(),
    };
    let graph = if options.referrers {
        Graph::walk(source, &root, limits)?
    } else {
        Graph::walk(&WithoutReferrers(source), &root, limits)?
    };
    let mut report = CopyReport {
        root: root.clone(),
        graph: graph.clone(),
        manifests: 0,
        referrers: 0,
        blobs_sent: 0,
        blobs_present: 0,
        blobs_mounted: 0,
        bytes_sent: 0,
    };
    let blobs: Vec<(Digest, u64)> = graph
        .nodes
        .iter()
        .filter(|(_, n)| n.kind == Kind::Blob)
        .map(|(d, n)| (d.clone(), n.descriptor.size()))
        .collect();
    let outcomes = transfer_blobs(source, destination, &blobs, options)?;
    for ((_, size), outcome) in blobs.iter().zip(&outcomes) {
        match outcome {
            BlobOutcome::Present => report.blobs_present += 1,
            BlobOutcome::Mounted => report.blobs_mounted += 1,
            BlobOutcome::Uploaded => {
                report.blobs_sent += 1;
                report.bytes_sent += size;
            }
        }
    }
    destination.blobs_done()?;
    for digest in manifest_order(&graph, &graph.roots) {
        let Some(node) = graph.nodes.get(&digest) else {
            continue;
        };
        let Some(raw) = &node.raw else { continue };
        let subject = match node.parsed.as_ref().and_then(|p| p.subject.as_ref()) {
            Some(s) => Some(descriptor_digest(s)?),
            None => None,
        };
        // The root is named below; a root that is itself a referrer is still recorded as one.
        destination.put_manifest(&node.descriptor, raw, subject.as_ref())?;
        report.manifests += 1;
        if subject.is_some() {
            report.referrers += 1;
        }
    }
    destination.manifests_done()?;
    let root_digest = descriptor_digest(&root)?;
    let root_bytes = graph
        .nodes
        .get(&root_digest)
        .and_then(|n| n.raw.clone())
        .ok_or_else(|| Error::Unsupported(format!("{root_digest} is a blob, not a manifest")))?;
    destination.name_root(tag, &root, &root_bytes)?;
    Ok(report)
}

/// Manifests in the order they may be written, walking from `roots`: each after the manifests
/// it points to, every referrer after its subject.
pub(crate) fn manifest_order(graph: &Graph, roots: &[Digest]) -> Vec<Digest> {
    fn visit(graph: &Graph, d: &Digest, done: &mut HashSet<Digest>, out: &mut Vec<Digest>) {
        if !done.insert(d.clone()) {
            return;
        }
        let edges: Vec<_> = graph.edges_from(d).collect();
        for e in edges.iter().filter(|e| e.kind != EdgeKind::Referrer) {
            visit(graph, &e.to, done, out);
        }
        if graph.nodes.get(d).is_some_and(|n| n.raw.is_some()) {
            out.push(d.clone());
        }
        for e in edges.iter().filter(|e| e.kind == EdgeKind::Referrer) {
            visit(graph, &e.to, done, out);
        }
    }
    let mut done = HashSet::new();
    let mut out = Vec::new();
    for r in roots {
        visit(graph, r, &mut done, &mut out);
    }
    out
}

/// A reader that reports the bytes it passes.
struct Counting {
    inner: Box<dyn Read + Send>,
    progress: Arc<dyn Fn(u64) + Send + Sync>,
}

impl Read for Counting {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        (self.progress)(n as u64);
        Ok(n)
    }
}

/// Moves `blobs`, `options.jobs` at a time; the first failure stops the rest.
fn transfer_blobs(
    source: &dyn Source,
    destination: &dyn Destination,
    blobs: &[(Digest, u64)],
    options: &CopyOptions,
) -> Result<Vec<BlobOutcome>, Error> {
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let results: Mutex<BTreeMap<usize, BlobOutcome>> = Mutex::new(BTreeMap::new());
    let first_error: Mutex<Option<LayoutError>> = Mutex::new(None);
    let workers = options.jobs.clamp(1, 64).min(blobs.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                while !failed.load(Ordering::Relaxed) {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((digest, size)) = blobs.get(i) else {
                        break;
                    };
                    let open = || -> Result<Box<dyn Read + Send>, LayoutError> {
                        let reader = source.open_blob(digest, *size)?;
                        Ok(match &options.progress {
                            Some(p) => Box::new(Counting {
                                inner: reader,
                                progress: p.clone(),
                            }),
                            None => reader,
                        })
                    };
                    match destination.put_blob(digest, *size, &open, source.registry_origin()) {
                        Ok(outcome) => {
                            if outcome != BlobOutcome::Uploaded
                                && let Some(p) = &options.progress
                            {
                                p(*size);
                            }
                            results
                                .lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .insert(i, outcome);
                        }
                        Err(e) => {
                            failed.store(true, Ordering::Relaxed);
                            first_error
                                .lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .get_or_insert(e);
                        }
                    }
                }
            });
        }
    });
    if let Some(e) = first_error.into_inner().unwrap_or_else(|e| e.into_inner()) {
        return Err(e.into());
    }
    Ok(results
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_values()
        .collect())
}

/// Attaches `content` to `subject` in `destination` as a referrer (the manifest shape of
/// [`crate::build::attach`]): the empty config, the layer, then the manifest with `subject`.
/// Returns the referrer's descriptor, with its `artifactType`.
pub fn attach(
    destination: &dyn Destination,
    subject: &Descriptor,
    artifact_type: &str,
    layer: (&Descriptor, &Opener<'_>),
    annotations: &BTreeMap<String, String>,
) -> Result<Descriptor, Error> {
    let empty_digest = Digest::sha256_of(media::EMPTY_JSON);
    let empty = crate::layout::descriptor(
        media::OCI_EMPTY,
        &empty_digest,
        media::EMPTY_JSON.len() as u64,
    );
    destination.put_blob(
        &empty_digest,
        media::EMPTY_JSON.len() as u64,
        &|| Ok(Box::new(std::io::Cursor::new(media::EMPTY_JSON))),
        None,
    )?;
    let (layer_desc, open) = layer;
    destination.put_blob(
        &descriptor_digest(layer_desc)?,
        layer_desc.size(),
        open,
        None,
    )?;
    let doc =
        crate::build::referrer_document(subject, artifact_type, &empty, layer_desc, annotations)?;
    let bytes = crate::layout::to_json_bytes(&doc);
    let digest = Digest::sha256_of(&bytes);
    let mut referrer = crate::layout::descriptor(media::OCI_MANIFEST, &digest, bytes.len() as u64);
    referrer.set_artifact_type(Some(artifact_type.into()));
    destination.put_manifest(&referrer, &bytes, Some(&descriptor_digest(subject)?))?;
    destination.manifests_done()?;
    Ok(referrer)
}

/// An opener over bytes held in memory (small content: envelopes, SBOMs read by the caller).
pub fn bytes_opener(
    bytes: Arc<[u8]>,
) -> impl Fn() -> Result<Box<dyn Read + Send>, LayoutError> + Sync {
    move || Ok(Box::new(std::io::Cursor::new(ArcBytes(bytes.clone()))))
}

struct ArcBytes(Arc<[u8]>);

impl AsRef<[u8]> for ArcBytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::{Sample, write_sample};

    /// A layout holding the sample (index, image, SBOM referrer) tagged `v1`.
    fn sample(name: &str) -> (tempfile::TempDir, Layout, Sample) {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::init(dir.path(), Limits::default()).unwrap();
        let sample = write_sample(&layout, &LayoutTag::new("v1").unwrap(), name).unwrap();
        (dir, layout, sample)
    }

    /// An empty layout.
    fn empty() -> (tempfile::TempDir, Layout) {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::init(dir.path(), Limits::default()).unwrap();
        (dir, layout)
    }

    #[test]
    fn platforms_parse() {
        let p: Platform = "linux/arm64/v8".parse().unwrap();
        assert_eq!(p.variant.as_deref(), Some("v8"));
        assert_eq!(p.to_string(), "linux/arm64/v8");
        assert!("linux".parse::<Platform>().is_err());
        assert!("linux//v8".parse::<Platform>().is_err());
        assert!("a/b/c/d".parse::<Platform>().is_err());
    }

    #[test]
    fn layout_to_layout_keeps_every_digest_and_referrers_only_when_asked() {
        let (_a, src, sample) = sample("copy");
        let entries = src.index().unwrap();
        let indexed = Indexed::new(&src, &entries, &Limits::default()).unwrap();

        let (_b, dst) = empty();
        let plain = CopyOptions {
            jobs: 2,
            ..CopyOptions::default()
        };
        let r = copy(
            &indexed,
            &sample.index,
            &dst,
            Some("v1"),
            &plain,
            &Limits::default(),
        )
        .unwrap();
        assert_eq!(r.referrers, 0);
        assert!(!dst.has_blob(&descriptor_digest(&sample.sbom).unwrap()));
        assert!(dst.has_blob(&descriptor_digest(&sample.image).unwrap()));

        let with = CopyOptions {
            referrers: true,
            jobs: 2,
            ..CopyOptions::default()
        };
        let r = copy(
            &indexed,
            &sample.index,
            &dst,
            Some("v1"),
            &with,
            &Limits::default(),
        )
        .unwrap();
        assert_eq!(r.referrers, 1);
        assert_eq!(
            (r.blobs_sent, r.blobs_present),
            (2, 2),
            "the SBOM's empty config and layer are new; the image's config and layer are present"
        );
        let copied = Graph::walk_entries(&dst, &dst.index().unwrap(), &Limits::default()).unwrap();
        let original = Graph::walk_entries(&src, &entries, &Limits::default()).unwrap();
        assert_eq!(
            copied.nodes.keys().collect::<Vec<_>>(),
            original.nodes.keys().collect::<Vec<_>>()
        );
        assert_eq!(
            dst.resolve(Some(&crate::reference::Selector::Tag(
                LayoutTag::new("v1").unwrap()
            )))
            .unwrap()
            .digest,
            descriptor_digest(&sample.index).unwrap()
        );
    }

    #[test]
    fn platform_selects_the_child() {
        let (_a, src, sample) = sample("p");
        let entries = src.index().unwrap();
        let indexed = Indexed::new(&src, &entries, &Limits::default()).unwrap();
        let amd64: Platform = "linux/amd64".parse().unwrap();
        let got = select_platform(&indexed, &sample.index, &amd64, &Limits::default()).unwrap();
        assert_eq!(got.digest(), sample.image.digest());
        let arm: Platform = "linux/arm64".parse().unwrap();
        let e = select_platform(&indexed, &sample.index, &arm, &Limits::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("linux/amd64"), "{e}");
    }

    #[test]
    fn a_corrupt_blob_stops_the_copy_before_any_tag() {
        let (_a, src, sample) = sample("bad");
        // Corrupt the image's layer in place, keeping its size.
        let image = src
            .read_blob_capped(&descriptor_digest(&sample.image).unwrap(), None, 1 << 20)
            .unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&image).unwrap();
        let layer: Digest = doc["layers"][0]["digest"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let path = src.blob_path(&layer);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[0] ^= 1;
        std::fs::write(&path, bytes).unwrap();
        let entries = src.index().unwrap();
        let indexed = Indexed::new(&src, &entries, &Limits::default()).unwrap();
        let (_b, dst) = empty();
        let e = copy(
            &indexed,
            &sample.index,
            &dst,
            Some("v1"),
            &CopyOptions::default(),
            &Limits::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains(&layer.to_string()), "{e}");
        assert!(
            dst.index().unwrap().is_empty(),
            "no tag after a failed copy"
        );
        assert!(!dst.has_blob(&layer));
    }
}
