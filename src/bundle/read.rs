//! Reading a bundle in one pass: the order of entries is checked against the signed packing
//! list as they stream; trust material, the bundle signature, the graph and every root's
//! judgement are settled at the checkpoint, before the first content blob is handed on.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::io::Read;
use std::sync::{Arc, mpsc};

use oci_spec::image::Descriptor;

use super::export::read_small;
use super::{BlobEntry, BundleError, BundleManifest, PackingList, Rank, ReferrerEdge, RootEntry};
use crate::digest::{Algorithm, Digest, Hasher};
use crate::error::Error;
use crate::graph::{BlobStore, EdgeKind, Graph, Indexed, check_size, parse_manifest};
use crate::key::{KeyId, PublicKey};
use crate::layout::{IndexEntry, LayoutError, descriptor_digest, parse_index_entries};
use crate::limits::Limits;
use crate::policy::Policy;
use crate::revocation::SignedSnapshot;
use crate::signature::{self, SIGNATURE_ARTIFACT_TYPE, Target};
use crate::tarball::{Compression, Document, TarballError, read_tarball_with};
use crate::time::Seconds;
use crate::trust::root::RoleName;
use crate::trust::{SignedRoot, TrustError, TrustStore};
use crate::verify::{self, Context, Decision, Judgement};

/// What the bundle's trust material is anchored to.
#[derive(Debug, Clone, Copy)]
pub enum TrustAnchor<'a> {
    /// The local trust store: its newest root, advanced through the bundle's chain when the
    /// chain holds newer versions (checked here, written by the caller); its revocation
    /// snapshot must not be newer than the bundle's.
    Store(&'a TrustStore),
    /// A root given out of band by the SHA-256 of its file: the bundle's chain from that root.
    Pinned(&'a Digest),
    /// Nothing: the bundle's own newest root is taken as it is, and bundle signatures are
    /// reported, not required (`inspect`, which summarises and verifies digests only).
    Unverified,
}

/// How to read a bundle.
pub struct ReadOptions<'a> {
    /// What trust is anchored to.
    pub anchor: TrustAnchor<'a>,
    /// The policy each root is judged by; `None` judges nothing (signatures are still listed
    /// by the caller from the report).
    pub policy: Option<&'a Policy>,
    /// The real time (clock rollback checks).
    pub now: Seconds,
    /// The time expiry is judged at (`now`, or `--at`).
    pub at: Seconds,
    /// The repository each root is judged for (its destination).
    pub repository: &'a dyn Fn(&RootEntry) -> Option<String>,
    /// Bounds.
    pub limits: &'a Limits,
}

impl std::fmt::Debug for ReadOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadOptions")
            .field("anchor", &self.anchor)
            .field("now", &self.now)
            .field("at", &self.at)
            .finish_non_exhaustive()
    }
}

/// The trust material a bundle leads to.
#[derive(Debug, Clone)]
pub struct TrustPlan {
    /// Every root the bundle carries, oldest first.
    pub chain: Vec<SignedRoot>,
    /// Roots newer than the store's (to install), oldest first.
    pub new_roots: Vec<SignedRoot>,
    /// The root everything is judged by.
    pub root: SignedRoot,
    /// The bundle's revocation snapshot.
    pub revocation: SignedSnapshot,
    /// Whether it is newer than the store's.
    pub revocation_is_new: bool,
}

/// What is settled at the checkpoint, before any content blob.
#[derive(Debug)]
pub struct Checkpoint<'a> {
    /// The bundle manifest.
    pub bundle: &'a Descriptor,
    /// The packing list.
    pub packing: &'a PackingList,
    /// The trust material.
    pub plan: &'a TrustPlan,
    /// The keys whose bundle signatures counted.
    pub signers: &'a [KeyId],
    /// Each root's judgement (empty when no policy was given).
    pub judgements: &'a [(RootEntry, Judgement)],
    /// The closure of every root.
    pub graph: &'a Graph,
}

/// Where a verified bundle's blobs go.
pub trait Sink {
    /// Everything but the content blobs has been verified; called once, before any
    /// [`Sink::blob`]. A delta import checks its omitted blobs here.
    fn checkpoint(&mut self, checkpoint: &Checkpoint<'_>) -> Result<(), Error>;
    /// A signature envelope or content blob, in stream order. `reader` fails at its end unless
    /// the bytes match `entry`; what is left unread is read and verified after.
    fn blob(&mut self, entry: &BlobEntry, reader: &mut dyn Read) -> Result<(), Error>;
}

/// A sink that keeps nothing (verification only).
#[derive(Debug, Default)]
pub struct Discard;

impl Sink for Discard {
    fn checkpoint(&mut self, _: &Checkpoint<'_>) -> Result<(), Error> {
        Ok(())
    }

    fn blob(&mut self, _: &BlobEntry, _: &mut dyn Read) -> Result<(), Error> {
        Ok(())
    }
}

/// A bundle read and verified end to end.
#[derive(Debug)]
pub struct ReadReport {
    /// The bundle manifest.
    pub bundle: Descriptor,
    /// The packing list.
    pub packing: PackingList,
    /// The trust material.
    pub plan: TrustPlan,
    /// The keys whose bundle signatures counted.
    pub signers: Vec<KeyId>,
    /// Each root's judgement.
    pub judgements: Vec<(RootEntry, Judgement)>,
    /// The closure of every root (manifests with their bytes).
    pub graph: Graph,
    /// How the stream was compressed.
    pub compression: Compression,
    /// The SHA-256 of the bundle file as read.
    pub file_digest: Digest,
    /// Bytes of the file.
    pub file_bytes: u64,
    /// Bytes of tar stream (after decompression).
    pub tar_bytes: u64,
    /// The bundle's documents, manifests and signature envelopes, verified, by digest.
    pub documents: HashMap<Digest, Arc<[u8]>>,
}

impl ReadReport {
    /// Every signature on the artifact `digest` (a manifest of the bundle), checked against the
    /// signer identities of the bundle's trust root at `at`, each with the identities its key
    /// belongs to.
    pub fn signatures_of(
        &self,
        digest: &Digest,
        at: Seconds,
        limits: &Limits,
    ) -> Vec<(signature::SignatureReport, Vec<String>)> {
        let Some(node) = self.graph.nodes.get(digest) else {
            return Vec::new();
        };
        let store = Received {
            small: &self.documents,
            sizes: self.packing.sizes(),
        };
        let target = Target {
            media_type: node.descriptor.media_type().to_string(),
            digest: digest.clone(),
            size: node.descriptor.size(),
        };
        let referrers: Vec<Descriptor> = self
            .graph
            .edges_from(digest)
            .filter(|e| e.kind == EdgeKind::Referrer)
            .filter_map(|e| {
                let n = self.graph.nodes.get(&e.to)?;
                Some(crate::graph::referrer_descriptor(
                    &n.descriptor,
                    n.parsed.as_ref()?,
                ))
            })
            .collect();
        let root = self.plan.root.root();
        signature::verify_referrers(&store, &target, &referrers, &root.signer_keys(), at, limits)
            .into_iter()
            .map(|r| {
                let ids = r
                    .key_id
                    .map(|k| {
                        root.identities_of(&k)
                            .into_iter()
                            .map(str::to_owned)
                            .collect()
                    })
                    .unwrap_or_default();
                (r, ids)
            })
            .collect()
    }
}

enum Phase {
    /// Waiting for the bundle manifest.
    Manifest,
    /// The bundle manifest's layers and config, in order.
    Section(VecDeque<Descriptor>),
    /// The bundle signatures: each manifest, then its envelope.
    Signatures(VecDeque<Descriptor>),
    /// The packing list's carried blobs from this position on.
    Artifacts(usize),
}

struct State<'o> {
    opts: &'o ReadOptions<'o>,
    index: Option<Vec<IndexEntry>>,
    saw_layout: bool,
    phase: Phase,
    manifest: Option<BundleManifest>,
    packing: Option<PackingList>,
    /// Bundle documents, manifests and envelopes, verified, by digest.
    small: HashMap<Digest, Arc<[u8]>>,
    small_bytes: u64,
    /// Everything received so far.
    received: HashSet<Digest>,
    bundle_signatures: Vec<Descriptor>,
    checked: Option<Checked>,
    failure: Option<Error>,
}

struct Checked {
    plan: TrustPlan,
    signers: Vec<KeyId>,
    judgements: Vec<(RootEntry, Judgement)>,
    graph: Graph,
}

/// Counts the bytes of the bundle file and hashes them on another thread (the reading thread
/// already hashes every blob): each read is copied into one of a few recycled buffers and
/// handed over.
struct FileHash<R> {
    inner: R,
    full: Option<mpsc::SyncSender<(Vec<u8>, usize)>>,
    empty: mpsc::Receiver<Vec<u8>>,
    hasher: Option<std::thread::JoinHandle<Digest>>,
    bytes: u64,
}

/// Buffers in flight between the reader and the file hasher.
const FILE_HASH_BUFFERS: usize = 4;

impl<R: Read> FileHash<R> {
    fn new(inner: R) -> Self {
        let (full_tx, full_rx) = mpsc::sync_channel::<(Vec<u8>, usize)>(FILE_HASH_BUFFERS);
        let (empty_tx, empty_rx) = mpsc::sync_channel::<Vec<u8>>(FILE_HASH_BUFFERS);
        for _ in 0..FILE_HASH_BUFFERS {
            let _ = empty_tx.send(Vec::new());
        }
        let hasher = std::thread::spawn(move || {
            let mut hasher = Hasher::new(Algorithm::Sha256);
            for (buf, n) in full_rx {
                hasher.update(&buf[..n]);
                // The reader may be gone (a failed read): a lost buffer does not matter then.
                let _ = empty_tx.send(buf);
            }
            hasher.finish()
        });
        FileHash {
            inner,
            full: Some(full_tx),
            empty: empty_rx,
            hasher: Some(hasher),
            bytes: 0,
        }
    }

    /// The SHA-256 of everything read.
    fn finish(mut self) -> std::io::Result<Digest> {
        drop(self.full.take());
        self.hasher
            .take()
            .and_then(|h| h.join().ok())
            .ok_or_else(|| std::io::Error::other("the bundle file hasher stopped"))
    }
}

impl<R: Read> Read for FileHash<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n > 0 {
            let stopped = || std::io::Error::other("the bundle file hasher stopped");
            let mut spare = self.empty.recv().map_err(|_| stopped())?;
            spare.clear();
            spare.extend_from_slice(&buf[..n]);
            self.full
                .as_ref()
                .ok_or_else(stopped)?
                .send((spare, n))
                .map_err(|_| stopped())?;
        }
        self.bytes += n as u64;
        Ok(n)
    }
}

/// Reads and verifies a bundle from `input` in one pass, handing envelopes and content blobs
/// to `sink` after the checkpoint.
pub fn read_bundle(
    input: impl Read,
    sink: &mut dyn Sink,
    opts: &ReadOptions<'_>,
) -> Result<ReadReport, Error> {
    let limits = opts.limits;
    let state = RefCell::new(State {
        opts,
        index: None,
        saw_layout: false,
        phase: Phase::Manifest,
        manifest: None,
        packing: None,
        small: HashMap::new(),
        small_bytes: 0,
        received: HashSet::new(),
        bundle_signatures: Vec::new(),
        checked: None,
        failure: None,
    });
    let sink = RefCell::new(sink);
    let mut file = FileHash::new(input);
    let stopped = || TarballError::Malformed("stopped".into());
    let result = read_tarball_with(
        &mut file,
        limits,
        |doc, bytes| {
            let mut s = state.borrow_mut();
            match doc {
                Document::OciLayout => s.saw_layout = true,
                Document::IndexJson => {
                    s.index = Some(parse_index_entries(bytes, "index.json in bundle", limits)?);
                }
            }
            Ok(())
        },
        |digest, size, reader| {
            let mut s = state.borrow_mut();
            let mut sink = sink.borrow_mut();
            match s.on_blob(digest, size, reader, &mut **sink) {
                Ok(()) => Ok(()),
                Err(Step::Tar(e)) => Err(e),
                Err(Step::Stop(e)) => {
                    s.failure = Some(e);
                    Err(stopped())
                }
            }
        },
    );
    let mut s = state.into_inner();
    if let Some(e) = s.failure.take() {
        return Err(e);
    }
    let contents = result?;
    s.finish(sink.into_inner()).map_err(Step::into_error)?;
    let (Some(manifest), Some(packing), Some(checked)) = (s.manifest, s.packing, s.checked) else {
        return Err(BundleError::Malformed("no bundle manifest".into()).into());
    };
    Ok(ReadReport {
        bundle: manifest.descriptor,
        packing,
        plan: checked.plan,
        signers: checked.signers,
        judgements: checked.judgements,
        graph: checked.graph,
        compression: contents.compression,
        file_bytes: file.bytes,
        file_digest: file
            .finish()
            .map_err(TarballError::io("hash the bundle file"))?,
        tar_bytes: contents.tar_bytes,
        documents: s.small,
    })
}

/// A failure while handling an entry: from the tar layer, or one that stops the read.
enum Step {
    Tar(TarballError),
    Stop(Error),
}

impl Step {
    fn into_error(self) -> Error {
        match self {
            Step::Tar(e) => e.into(),
            Step::Stop(e) => e,
        }
    }
}

impl From<TarballError> for Step {
    fn from(e: TarballError) -> Self {
        Step::Tar(e)
    }
}

impl From<BundleError> for Step {
    fn from(e: BundleError) -> Self {
        Step::Stop(e.into())
    }
}

impl From<Error> for Step {
    fn from(e: Error) -> Self {
        Step::Stop(e)
    }
}

fn malformed(r: impl Into<String>) -> BundleError {
    BundleError::Malformed(r.into())
}

impl State<'_> {
    fn on_blob(
        &mut self,
        digest: &Digest,
        size: u64,
        reader: &mut dyn Read,
        sink: &mut dyn Sink,
    ) -> Result<(), Step> {
        let limits = self.opts.limits;
        if self.index.is_none() {
            return Err(BundleError::Order {
                expected: "oci-layout and index.json first".into(),
                found: format!("blob {digest}"),
            }
            .into());
        }
        if !self.saw_layout {
            return Err(BundleError::Order {
                expected: "oci-layout first".into(),
                found: format!("blob {digest}"),
            }
            .into());
        }
        // The phase is taken out while this entry is handled and put back after (a failure
        // stops the read, so the placeholder is never looked at again).
        match std::mem::replace(&mut self.phase, Phase::Manifest) {
            Phase::Manifest => {
                let first = self
                    .index
                    .as_ref()
                    .and_then(|i| i.first())
                    .cloned()
                    .ok_or_else(|| malformed("index.json has no entries"))?;
                if &first.digest != digest {
                    return Err(BundleError::Order {
                        expected: format!("the bundle manifest {}", first.digest),
                        found: format!("blob {digest}"),
                    }
                    .into());
                }
                check_size(digest, first.descriptor.size(), size).map_err(Error::from)?;
                let bytes = read_small(reader, size, limits.max_manifest_bytes)?;
                let manifest = BundleManifest::parse(&first.descriptor, &bytes, limits)?;
                let mut queue = VecDeque::new();
                let mut seen = HashSet::from([digest.clone()]);
                for d in manifest.section() {
                    if seen.insert(descriptor_digest(&d).map_err(Error::from)?) {
                        queue.push_back(d);
                    }
                }
                self.keep(digest, bytes)?;
                self.manifest = Some(manifest);
                self.phase = Phase::Section(queue);
            }
            Phase::Section(mut queue) => {
                let expected = queue
                    .pop_front()
                    .ok_or_else(|| malformed("section ended"))?;
                let bytes = self.expect_small(&expected, digest, size, reader)?;
                self.keep(digest, bytes)?;
                if queue.is_empty() {
                    self.end_section()?;
                } else {
                    self.phase = Phase::Section(queue);
                }
            }
            Phase::Signatures(mut queue) => {
                let expected = queue
                    .pop_front()
                    .ok_or_else(|| malformed("signatures ended"))?;
                let bytes = self.expect_small(&expected, digest, size, reader)?;
                if expected.media_type().to_string() == crate::media::OCI_MANIFEST {
                    let envelope = bundle_envelope(&bytes, digest, limits)?;
                    let envelope_digest = descriptor_digest(&envelope).map_err(Error::from)?;
                    if !self.received.contains(&envelope_digest) {
                        queue.push_front(envelope);
                    }
                }
                self.keep(digest, bytes)?;
                self.phase = if queue.is_empty() {
                    Phase::Artifacts(0)
                } else {
                    Phase::Signatures(queue)
                };
            }
            Phase::Artifacts(pos) => {
                self.phase = Phase::Artifacts(pos);
                self.artifact(digest, size, reader, sink)?;
            }
        }
        Ok(())
    }

    /// Reads a small blob that must be `expected`.
    fn expect_small(
        &self,
        expected: &Descriptor,
        digest: &Digest,
        size: u64,
        reader: &mut dyn Read,
    ) -> Result<Vec<u8>, Step> {
        let want = descriptor_digest(expected).map_err(Error::from)?;
        if &want != digest {
            return Err(BundleError::Order {
                expected: format!("{} ({})", want, expected.media_type()),
                found: format!("blob {digest}"),
            }
            .into());
        }
        check_size(digest, expected.size(), size).map_err(Error::from)?;
        let max = self
            .opts
            .limits
            .max_manifest_bytes
            .max(self.opts.limits.max_layout_json_bytes)
            .max(self.opts.limits.max_trust_document_bytes);
        Ok(read_small(reader, size, max)?)
    }

    /// Holds a verified small blob, within `max_buffered_manifest_bytes` (the packing list,
    /// trust documents and the bundle manifest do not count: each has its own limit).
    fn keep(&mut self, digest: &Digest, bytes: Vec<u8>) -> Result<(), Step> {
        if matches!(self.phase, Phase::Artifacts(_)) {
            self.small_bytes += bytes.len() as u64;
            if self.small_bytes > self.opts.limits.max_buffered_manifest_bytes {
                return Err(BundleError::Malformed(format!(
                    "the bundle's manifests and signatures exceed max_buffered_manifest_bytes ({})",
                    self.opts.limits.max_buffered_manifest_bytes
                ))
                .into());
            }
        }
        self.received.insert(digest.clone());
        self.small.insert(digest.clone(), bytes.into());
        Ok(())
    }

    /// The bundle section is in: parse the packing list and queue the bundle signatures
    /// (`index.json` entries the packing list does not name, after the bundle manifest).
    fn end_section(&mut self) -> Result<(), Step> {
        let limits = self.opts.limits;
        let manifest = self
            .manifest
            .as_ref()
            .ok_or_else(|| malformed("no bundle manifest"))?;
        let pl_digest = descriptor_digest(&manifest.packing_list).map_err(Error::from)?;
        let bytes = self
            .small
            .get(&pl_digest)
            .ok_or_else(|| malformed("no packing list"))?;
        let packing = PackingList::parse(bytes, limits)?;
        let listed: HashSet<&Digest> = packing.blobs.iter().map(|b| &b.digest).collect();
        let index = self
            .index
            .as_ref()
            .ok_or_else(|| malformed("no index.json"))?;
        let mut queue = VecDeque::new();
        for e in index.iter().skip(1) {
            if listed.contains(&e.digest) {
                continue;
            }
            if e.descriptor.media_type().to_string() != crate::media::OCI_MANIFEST
                || e.tag.is_some()
            {
                return Err(malformed(format!(
                    "index.json entry {} is neither in the packing list nor an untagged bundle signature",
                    e.digest
                ))
                .into());
            }
            if e.descriptor.size() > limits.max_manifest_bytes {
                return Err(malformed(format!(
                    "bundle signature {} is larger than max_manifest_bytes",
                    e.digest
                ))
                .into());
            }
            self.bundle_signatures.push(e.descriptor.clone());
            queue.push_back(e.descriptor.clone());
            if queue.len() > limits.max_trust_signatures {
                return Err(malformed(format!(
                    "more than max_trust_signatures ({}) bundle signatures",
                    limits.max_trust_signatures
                ))
                .into());
            }
        }
        if queue.is_empty() {
            return Err(BundleError::Signature("the bundle carries no signature".into()).into());
        }
        self.packing = Some(packing);
        self.phase = Phase::Signatures(queue);
        Ok(())
    }

    fn artifact(
        &mut self,
        digest: &Digest,
        size: u64,
        reader: &mut dyn Read,
        sink: &mut dyn Sink,
    ) -> Result<(), Step> {
        let packing = self
            .packing
            .as_ref()
            .ok_or_else(|| malformed("no packing list"))?;
        let Phase::Artifacts(mut pos) = self.phase else {
            return Err(malformed("not reading artifacts").into());
        };
        while packing
            .blobs
            .get(pos)
            .is_some_and(|b| !b.carried || self.received.contains(&b.digest))
        {
            pos += 1;
        }
        let Some(expected) = packing.blobs.get(pos).cloned() else {
            return Err(BundleError::Unlisted(digest.clone()).into());
        };
        if &expected.digest != digest {
            return Err(match packing.blobs.iter().any(|b| &b.digest == digest) {
                true => BundleError::Missing(expected.digest.clone()),
                false => BundleError::Unlisted(digest.clone()),
            }
            .into());
        }
        check_size(digest, expected.size, size).map_err(Error::from)?;
        self.phase = Phase::Artifacts(pos + 1);
        match expected.rank() {
            Rank::Manifest => {
                let bytes = read_small(reader, size, self.opts.limits.max_manifest_bytes)?;
                self.keep(digest, bytes)?;
            }
            Rank::Envelope => {
                let bytes = read_small(reader, size, self.opts.limits.max_envelope_bytes)?;
                self.keep(digest, bytes)?;
            }
            Rank::Content => {
                self.ensure_checked(sink)?;
                sink.blob(&expected, reader).map_err(from_sink)?;
                self.received.insert(digest.clone());
            }
        }
        Ok(())
    }

    /// The bundle manifest and packing list, once both are in.
    fn parts(&self) -> Result<(&BundleManifest, &PackingList), Step> {
        match (&self.manifest, &self.packing) {
            (Some(m), Some(p)) => Ok((m, p)),
            _ => Err(malformed("no bundle manifest and packing list yet").into()),
        }
    }

    /// Runs the checkpoint once, then hands the buffered envelopes to the sink.
    fn ensure_checked(&mut self, sink: &mut dyn Sink) -> Result<(), Step> {
        if self.checked.is_some() {
            return Ok(());
        }
        let checked = self.checkpoint()?;
        let (manifest, packing) = self.parts()?;
        sink.checkpoint(&Checkpoint {
            bundle: &manifest.descriptor,
            packing,
            plan: &checked.plan,
            signers: &checked.signers,
            judgements: &checked.judgements,
            graph: &checked.graph,
        })?;
        // The envelopes, and any content blob the bundle section already delivered (the empty
        // config `{}` of signature referrers is also the bundle manifest's config).
        for b in packing.blobs.iter().filter(|b| b.rank() != Rank::Manifest) {
            let held = self.small.get(&b.digest);
            match (b.rank(), held) {
                (_, Some(bytes)) => sink.blob(b, &mut &bytes[..])?,
                (Rank::Envelope, None) => {
                    return Err(malformed(format!("envelope {} not received", b.digest)).into());
                }
                _ => {}
            }
        }
        self.checked = Some(checked);
        Ok(())
    }

    /// At the end of the stream: every carried blob arrived; the checkpoint ran.
    fn finish(&mut self, sink: &mut dyn Sink) -> Result<(), Step> {
        if self.index.is_none() {
            return Err(malformed("no index.json").into());
        }
        let Phase::Artifacts(pos) = self.phase else {
            return Err(BundleError::Malformed(
                "the stream ended before the bundle's trust material and signatures".into(),
            )
            .into());
        };
        let packing = self
            .packing
            .as_ref()
            .ok_or_else(|| malformed("no packing list"))?;
        if let Some(b) = packing.blobs[pos.min(packing.blobs.len())..]
            .iter()
            .find(|b| b.carried && !self.received.contains(&b.digest))
        {
            return Err(BundleError::Missing(b.digest.clone()).into());
        }
        self.ensure_checked(sink)
    }

    /// Trust, the bundle signature, the graph against the packing list, and every root's
    /// judgement.
    fn checkpoint(&self) -> Result<Checked, Step> {
        let opts = self.opts;
        let limits = opts.limits;
        let (manifest, packing) = self.parts()?;
        let doc = |d: &Descriptor| -> Result<Arc<[u8]>, Step> {
            let digest = descriptor_digest(d).map_err(Error::from)?;
            self.small
                .get(&digest)
                .cloned()
                .ok_or_else(|| malformed(format!("{digest} not received")).into())
        };
        let chain = manifest
            .roots
            .iter()
            .map(|d| -> Result<SignedRoot, Step> {
                Ok(SignedRoot::parse(&doc(d)?, limits).map_err(Error::from)?)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let revocation =
            SignedSnapshot::parse(&doc(&manifest.revocation)?, limits).map_err(Error::from)?;
        let plan = plan_trust(opts, chain, revocation).map_err(Error::from)?;

        let store = Received {
            small: &self.small,
            sizes: packing.sizes(),
        };
        let signers =
            check_bundle_signatures(&store, manifest, &self.bundle_signatures, &plan, opts)?;

        // The graph: every artifact entry's closure must be exactly the packing list.
        let index = self
            .index
            .as_ref()
            .ok_or_else(|| malformed("no index.json"))?;
        let bundle_own: HashSet<Digest> = std::iter::once(manifest.descriptor.clone())
            .chain(self.bundle_signatures.iter().cloned())
            .filter_map(|d| descriptor_digest(&d).ok())
            .collect();
        let entries: Vec<IndexEntry> = index
            .iter()
            .filter(|e| !bundle_own.contains(&e.digest))
            .cloned()
            .collect();
        check_roots_listed(packing, &entries)?;
        let indexed = Indexed::new(&store, &entries, limits).map_err(Error::from)?;
        let roots: Vec<Descriptor> = entries.iter().map(|e| e.descriptor.clone()).collect();
        let graph = Graph::walk_all(&indexed, &roots, limits).map_err(Error::from)?;
        check_closure(packing, &graph)?;

        let mut judgements = Vec::new();
        if let Some(policy) = opts.policy {
            let ctx = Context {
                root: plan.root.root(),
                revocation: Some(plan.revocation.snapshot()),
                policy,
                now: opts.at,
                limits,
            };
            let mut failed = Vec::new();
            for root in &packing.roots {
                let repository = (opts.repository)(root);
                let j = verify::judge(&indexed, &root.descriptor(), repository.as_deref(), &ctx)
                    .map_err(Error::from)?;
                if let Decision::Fail(reason) = &j.decision {
                    failed.push(format!(
                        "{} ({}): {reason}",
                        repository.unwrap_or_else(|| root.ref_name()),
                        root.digest
                    ));
                }
                judgements.push((root.clone(), j));
            }
            if !failed.is_empty() {
                return Err(BundleError::Policy(failed.join("; ")).into());
            }
        }
        Ok(Checked {
            plan,
            signers,
            judgements,
            graph,
        })
    }
}

/// A sink's failure. A layout error goes back to the tar reader, which tells the entry's own
/// bytes failing (cut short, a damaged zstd frame, not matching the digest: named by entry, as
/// for every other blob) from a failure of the sink itself (kept as it is).
fn from_sink(e: Error) -> Step {
    match e {
        Error::Layout(l @ (LayoutError::Content { .. } | LayoutError::Io { .. })) => {
            Step::Tar(TarballError::Layout(l))
        }
        e => Step::Stop(e),
    }
}

/// The envelope layer of a bundle signature manifest.
fn bundle_envelope(bytes: &[u8], digest: &Digest, limits: &Limits) -> Result<Descriptor, Step> {
    let parsed = parse_manifest(bytes, crate::media::OCI_MANIFEST, limits)
        .map_err(|p| malformed(format!("bundle signature {digest}: {p:?}")))?;
    if parsed.artifact_type.as_deref() != Some(SIGNATURE_ARTIFACT_TYPE) {
        return Err(malformed(format!("bundle signature {digest} is not a signature")).into());
    }
    let layers: Vec<Descriptor> = parsed
        .children
        .into_iter()
        .filter(|(k, _)| *k == EdgeKind::Layer)
        .map(|(_, d)| d)
        .collect();
    match layers.as_slice() {
        [one] if one.size() <= limits.max_envelope_bytes => Ok(one.clone()),
        _ => Err(malformed(format!(
            "bundle signature {digest} does not hold one envelope within max_envelope_bytes"
        ))
        .into()),
    }
}

/// Where the checkpoint reads: what was received, sizes from the packing list.
struct Received<'a> {
    small: &'a HashMap<Digest, Arc<[u8]>>,
    sizes: BTreeMap<Digest, u64>,
}

impl BlobStore for Received<'_> {
    fn fetch_manifest(
        &self,
        digest: &Digest,
        size: u64,
        max: u64,
    ) -> Result<Arc<[u8]>, LayoutError> {
        let bytes = self
            .small
            .get(digest)
            .ok_or_else(|| LayoutError::BlobMissing(digest.clone()))?;
        crate::tarball::held_manifest(digest, size, max, bytes)
    }

    fn check_blob(&self, digest: &Digest, size: u64) -> Result<(), LayoutError> {
        crate::tarball::check_listed(&self.sizes, digest, size)
    }
}

/// The roots and the newest root: the store's, advanced through the bundle's chain; or the
/// chain from a pinned digest. The snapshot must verify under that root and not be older than
/// the store's.
fn plan_trust(
    opts: &ReadOptions<'_>,
    chain: Vec<SignedRoot>,
    revocation: SignedSnapshot,
) -> Result<TrustPlan, TrustError> {
    for pair in chain.windows(2) {
        if pair[1].version() != pair[0].version() + 1 {
            return Err(TrustError::Malformed {
                what: crate::trust::signed::DocKind::Root,
                reason: format!(
                    "the bundle's root chain goes from version {} to {}",
                    pair[0].version(),
                    pair[1].version()
                ),
            });
        }
    }
    match opts.anchor {
        TrustAnchor::Store(store) => {
            let new_roots = match store.check_roots(chain.clone(), opts.now, opts.at) {
                Ok(new) => new,
                // A bundle made under an older root: its roots match the stored ones (checked
                // before this error), and the current root judges it.
                Err(TrustError::Rollback { .. }) => Vec::new(),
                Err(e) => return Err(e),
            };
            let root = new_roots.last().unwrap_or(store.root()).clone();
            if root.root().expires <= opts.at {
                root.check_fresh(opts.at)?;
            }
            let revocation_is_new =
                store.check_revocation(&root, &revocation, opts.now, opts.at)?;
            revocation.check_fresh(opts.at)?;
            Ok(TrustPlan {
                chain,
                new_roots,
                root,
                revocation,
                revocation_is_new,
            })
        }
        TrustAnchor::Unverified => {
            let root = chain.last().cloned().ok_or_else(|| TrustError::Malformed {
                what: crate::trust::signed::DocKind::Root,
                reason: "the bundle carries no trust root".into(),
            })?;
            Ok(TrustPlan {
                new_roots: Vec::new(),
                root,
                chain,
                revocation,
                revocation_is_new: false,
            })
        }
        TrustAnchor::Pinned(digest) => {
            let start = chain
                .iter()
                .position(|r| &r.digest() == digest)
                .ok_or_else(|| TrustError::PinMismatch {
                    expected: digest.clone(),
                    found: chain
                        .first()
                        .map_or_else(|| digest.clone(), SignedRoot::digest),
                })?;
            let mut prev = &chain[start];
            prev.verify_self()?;
            for next in &chain[start + 1..] {
                prev.verify_successor(next)?;
                prev = next;
            }
            prev.check_fresh(opts.at)?;
            revocation.verify(prev.root())?;
            revocation.check_fresh(opts.at)?;
            Ok(TrustPlan {
                new_roots: Vec::new(),
                root: prev.clone(),
                chain,
                revocation,
                revocation_is_new: false,
            })
        }
    }
}

/// A threshold of distinct, unrevoked keys of the root's `bundle` role signed the bundle
/// manifest.
fn check_bundle_signatures(
    store: &Received<'_>,
    manifest: &BundleManifest,
    signatures: &[Descriptor],
    plan: &TrustPlan,
    opts: &ReadOptions<'_>,
) -> Result<Vec<KeyId>, BundleError> {
    let root = plan.root.root();
    let role = root.role(RoleName::Bundle);
    let revoked: BTreeSet<KeyId> = plan.revocation.snapshot().keys.keys().copied().collect();
    let keys: Vec<PublicKey> = role
        .keys
        .iter()
        .filter(|k| !revoked.contains(k))
        .filter_map(|k| root.keys.get(k).cloned())
        .collect();
    let target = Target {
        media_type: crate::media::OCI_MANIFEST.to_owned(),
        digest: descriptor_digest(&manifest.descriptor)
            .map_err(|e| BundleError::Malformed(e.to_string()))?,
        size: manifest.descriptor.size(),
    };
    let listed: Vec<Descriptor> = signatures
        .iter()
        .map(|d| {
            let mut d = d.clone();
            d.set_artifact_type(Some(SIGNATURE_ARTIFACT_TYPE.into()));
            d
        })
        .collect();
    let reports = signature::verify_referrers(store, &target, &listed, &keys, opts.at, opts.limits);
    let mut valid: BTreeSet<KeyId> = BTreeSet::new();
    let mut problems = Vec::new();
    for r in &reports {
        match (&r.verdict, r.key_id) {
            (Ok(()), Some(k)) => {
                valid.insert(k);
            }
            (Err(signature::Problem::UnknownKey(k)), _) => {
                problems.push(if revoked.contains(k) {
                    format!("signed by key {k}, which the revocation snapshot revokes")
                } else {
                    format!("signed by key {k}, which is not in the bundle role")
                });
            }
            (Err(p), _) => problems.push(p.to_string()),
            (Ok(()), None) => {}
        }
    }
    if valid.len() < role.threshold && !matches!(opts.anchor, TrustAnchor::Unverified) {
        return Err(BundleError::Signature(format!(
            "{} valid signature(s) by keys of the bundle role of trust root version {}, {} needed{}",
            valid.len(),
            plan.root.version(),
            role.threshold,
            if problems.is_empty() {
                String::new()
            } else {
                format!(": {}", problems.join("; "))
            }
        )));
    }
    Ok(valid.into_iter().collect())
}

/// Every packing-list root is an `index.json` entry, tagged with its name when it has a tag;
/// every other entry is a listed manifest.
fn check_roots_listed(packing: &PackingList, entries: &[IndexEntry]) -> Result<(), BundleError> {
    for r in &packing.roots {
        let found = entries.iter().any(|e| {
            e.digest == r.digest
                && match &r.tag {
                    Some(_) => e.tag.as_deref() == Some(r.ref_name().as_str()),
                    None => true,
                }
        });
        if !found {
            return Err(BundleError::Malformed(format!(
                "root {} ({}) is not in index.json",
                r.digest,
                r.ref_name()
            )));
        }
    }
    let names: HashSet<String> = packing.roots.iter().map(RootEntry::ref_name).collect();
    if let Some(e) = entries
        .iter()
        .find(|e| e.tag.as_ref().is_some_and(|t| !names.contains(t)))
    {
        return Err(BundleError::Malformed(format!(
            "index.json tags {} as {:?}, which the packing list does not name",
            e.digest,
            e.tag.as_deref().unwrap_or_default()
        )));
    }
    Ok(())
}

/// The walk of every entry reaches exactly the blobs and referrer edges the packing list names.
fn check_closure(packing: &PackingList, graph: &Graph) -> Result<(), BundleError> {
    let listed: BTreeMap<&Digest, &BlobEntry> =
        packing.blobs.iter().map(|b| (&b.digest, b)).collect();
    for (digest, node) in &graph.nodes {
        match listed.get(digest) {
            Some(b) if b.size == node.descriptor.size() => {}
            _ => {
                return Err(BundleError::Malformed(format!(
                    "{digest} is in the graph but not in the packing list with that size"
                )));
            }
        }
    }
    if let Some(b) = packing
        .blobs
        .iter()
        .find(|b| !graph.nodes.contains_key(&b.digest))
    {
        return Err(BundleError::Malformed(format!(
            "the packing list names {}, which no root reaches",
            b.digest
        )));
    }
    let edges: BTreeSet<(&Digest, &Digest)> = graph
        .edges
        .iter()
        .filter(|e| e.kind == EdgeKind::Referrer)
        .map(|e| (&e.from, &e.to))
        .collect();
    let listed_edges: BTreeSet<(&Digest, &Digest)> = packing
        .referrers
        .iter()
        .map(|e: &ReferrerEdge| (&e.subject, &e.referrer))
        .collect();
    if edges != listed_edges {
        return Err(BundleError::Malformed(
            "the packing list's referrer edges differ from the graph's".into(),
        ));
    }
    Ok(())
}
