//! The content graph of an artifact: from a root manifest or index, every index child, config,
//! layer and referrer (manifests whose `subject` is a node, recursively), bounded by [`Limits`].
//!
//! Spec: `formats/layout.md`, section "Graph closure". Manifest bytes are kept exactly as read
//! and verified against their digest; nothing is re-serialised.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::fmt;
use std::sync::Arc;

use oci_spec::image::{Descriptor, ImageIndex, ImageManifest};

use crate::digest::{Digest, DigestError};
use crate::layout::{IndexEntry, Layout, LayoutError, descriptor_digest, sniff_media_type};
use crate::limits::Limits;
use crate::media::{self, Kind};

/// How a node is reached from its parent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EdgeKind {
    /// An entry of an index's `manifests`.
    Child,
    /// A manifest's `config`.
    Config,
    /// A manifest's `layers` entry.
    Layer,
    /// A manifest whose `subject` is the parent.
    Referrer,
}

impl EdgeKind {
    /// Whether the edge leads to a plain blob (config or layer) rather than a manifest.
    pub fn is_blob(self) -> bool {
        matches!(self, EdgeKind::Config | EdgeKind::Layer)
    }
}

impl fmt::Display for EdgeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EdgeKind::Child => "child",
            EdgeKind::Config => "config",
            EdgeKind::Layer => "layer",
            EdgeKind::Referrer => "referrer",
        })
    }
}

/// A path through the graph, for error messages: `sha256:0123456789ab → sha256:…`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GraphPath(pub Vec<Digest>);

impl fmt::Display for GraphPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" → ")?;
            }
            write!(f, "{}:{}", d.algorithm(), &d.hex()[..12])?;
        }
        Ok(())
    }
}

/// Why a graph could not be walked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GraphError {
    /// Reading content from the layout failed (missing blob, digest mismatch, I/O).
    #[error("at {path}: {source}")]
    Layout {
        /// Where in the graph.
        path: GraphPath,
        /// The failure.
        source: LayoutError,
    },
    /// A manifest or index is malformed.
    #[error("manifest {digest} (at {path}) is invalid: {reason}")]
    InvalidManifest {
        /// The manifest.
        digest: Digest,
        /// Where in the graph.
        path: GraphPath,
        /// What is wrong.
        reason: String,
    },
    /// A descriptor carries an unacceptable digest.
    #[error("descriptor {} has an invalid digest: {source}", parent.as_ref().map_or_else(|| "given as a root".to_owned(), |p| format!("in {p} (at {path})")))]
    InvalidDigest {
        /// The document holding the descriptor (none for a root).
        parent: Option<Digest>,
        /// Where in the graph.
        path: GraphPath,
        /// The digest problem.
        source: DigestError,
    },
    /// The document's `mediaType` differs from the descriptor that led to it.
    #[error(
        "manifest {digest} (at {path}) declares mediaType {content:?} but was referenced as {descriptor:?}"
    )]
    MediaTypeMismatch {
        /// The manifest.
        digest: Digest,
        /// Where in the graph.
        path: GraphPath,
        /// The descriptor's media type.
        descriptor: String,
        /// The document's media type.
        content: String,
    },
    /// One digest is referenced as different kinds (manifest and blob) or with different sizes.
    #[error("{digest} (at {path}) is referenced both as {first} and as {second}")]
    Inconsistent {
        /// The content.
        digest: Digest,
        /// Where the second reference is.
        path: GraphPath,
        /// The first descriptor's media type and size.
        first: String,
        /// The conflicting descriptor's.
        second: String,
    },
    /// Deeper than `max_graph_depth`.
    #[error("graph deeper than the limit of {limit} (max_graph_depth) at {path}")]
    TooDeep {
        /// The path that went too deep.
        path: GraphPath,
        /// The limit.
        limit: usize,
    },
    /// A node is its own ancestor.
    #[error("cycle in the graph at {path}")]
    Cycle {
        /// The path closing the cycle.
        path: GraphPath,
    },
    /// More edges than `max_graph_edges`.
    #[error("graph has more than {limit} edges (max_graph_edges) at {path}")]
    TooManyEdges {
        /// Where the limit was hit.
        path: GraphPath,
        /// The limit.
        limit: usize,
    },
    /// More nodes than `max_graph_nodes`.
    #[error("graph has more than {limit} nodes (max_graph_nodes) at {path}")]
    TooManyNodes {
        /// Where the limit was hit.
        path: GraphPath,
        /// The limit.
        limit: usize,
    },
    /// An index or manifest lists more descriptors than `max_index_entries`.
    #[error(
        "manifest {digest} lists {count} descriptors, more than the limit of {limit} (max_index_entries)"
    )]
    TooManyEntries {
        /// The document.
        digest: Digest,
        /// How many it lists.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// More referrers of one subject than `max_referrers_per_subject`.
    #[error("{subject} has more than {limit} referrers (max_referrers_per_subject)")]
    TooManyReferrers {
        /// The subject.
        subject: Digest,
        /// The limit.
        limit: usize,
    },
}

/// A manifest or index, parsed for its edges.
#[derive(Clone, Debug)]
pub struct ParsedManifest {
    /// Manifest or index.
    pub kind: Kind,
    /// The artifact type: `artifactType`, else (for a manifest) the config's media type.
    pub artifact_type: Option<String>,
    /// The `subject`, if this manifest refers to another.
    pub subject: Option<Descriptor>,
    /// Outgoing edges, in document order.
    pub children: Vec<(EdgeKind, Descriptor)>,
    /// The manifest's own annotations.
    pub annotations: BTreeMap<String, String>,
}

/// Why manifest bytes could not be parsed; callers attach the digest and path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManifestProblem {
    /// Malformed JSON, wrong schema version, too many entries, not a manifest type.
    Invalid(String),
    /// The document's own `mediaType` differs from the descriptor's.
    MediaTypeMismatch(String),
}

/// Parses manifest bytes reached through a descriptor of `descriptor_media_type`.
pub fn parse_manifest(
    bytes: &[u8],
    descriptor_media_type: &str,
    limits: &Limits,
) -> Result<ParsedManifest, ManifestProblem> {
    let invalid = ManifestProblem::Invalid;
    // The document's own mediaType is checked first, so a manifest presented as an index (or the
    // reverse) is reported as the confusion it is rather than as a missing field.
    crate::json::check_keys(bytes).map_err(invalid)?;
    check_media_type(sniff_media_type(bytes), descriptor_media_type)?;
    // A document that is both a manifest and an index would be read as either by tools that go
    // by content (the pattern of CVE-2021-41190): refuse the other kind's fields.
    #[derive(serde::Deserialize)]
    struct Shape {
        manifests: Option<serde::de::IgnoredAny>,
        config: Option<serde::de::IgnoredAny>,
        layers: Option<serde::de::IgnoredAny>,
    }
    let shape: Shape = serde_json::from_slice(bytes).map_err(|e| invalid(e.to_string()))?;
    let kind = media::kind_of(descriptor_media_type);
    match kind {
        Kind::Manifest if shape.manifests.is_some() => {
            return Err(invalid(
                "a manifest with a \"manifests\" field (ambiguous with an index)".into(),
            ));
        }
        Kind::Index if shape.config.is_some() || shape.layers.is_some() => {
            return Err(invalid(
                "an index with \"config\" or \"layers\" (ambiguous with a manifest)".into(),
            ));
        }
        _ => {}
    }
    let sorted = |a: &Option<std::collections::HashMap<String, String>>| {
        a.as_ref()
            .map(|m| m.clone().into_iter().collect())
            .unwrap_or_default()
    };
    match kind {
        Kind::Manifest => {
            let m: ImageManifest =
                serde_json::from_slice(bytes).map_err(|e| invalid(e.to_string()))?;
            check_schema(m.schema_version()).map_err(invalid)?;
            if m.layers().len() > limits.max_index_entries {
                return Err(invalid(format!(
                    "{} layers, more than the limit of {}",
                    m.layers().len(),
                    limits.max_index_entries
                )));
            }
            check_sizes(
                std::iter::once(m.config())
                    .chain(m.layers())
                    .chain(m.subject()),
            )
            .map_err(invalid)?;
            let mut children = vec![(EdgeKind::Config, m.config().clone())];
            children.extend(m.layers().iter().map(|l| (EdgeKind::Layer, l.clone())));
            let artifact_type = m
                .artifact_type()
                .as_ref()
                .map(ToString::to_string)
                .or_else(|| Some(m.config().media_type().to_string()));
            Ok(ParsedManifest {
                kind,
                artifact_type,
                subject: m.subject().clone(),
                children,
                annotations: sorted(m.annotations()),
            })
        }
        Kind::Index => {
            let i: ImageIndex =
                serde_json::from_slice(bytes).map_err(|e| invalid(e.to_string()))?;
            check_schema(i.schema_version()).map_err(invalid)?;
            if i.manifests().len() > limits.max_index_entries {
                return Err(invalid(format!(
                    "{} manifests, more than the limit of {}",
                    i.manifests().len(),
                    limits.max_index_entries
                )));
            }
            check_sizes(i.manifests().iter().chain(i.subject())).map_err(invalid)?;
            if let Some((n, d)) = i
                .manifests()
                .iter()
                .enumerate()
                .find(|(_, d)| media::kind_of(d.media_type().as_ref()) == Kind::Blob)
            {
                return Err(invalid(format!(
                    "manifests[{n}] has media type {:?}, not a manifest or index",
                    d.media_type().to_string()
                )));
            }
            Ok(ParsedManifest {
                kind,
                artifact_type: i.artifact_type().as_ref().map(ToString::to_string),
                subject: i.subject().clone(),
                children: i
                    .manifests()
                    .iter()
                    .map(|d| (EdgeKind::Child, d.clone()))
                    .collect(),
                annotations: sorted(i.annotations()),
            })
        }
        Kind::Blob => Err(invalid(format!(
            "media type {descriptor_media_type:?} is not a manifest or index"
        ))),
    }
}

/// Descriptor sizes above `i64::MAX` parse here but not in Go (the image-spec's `int64`).
fn check_sizes<'a>(descriptors: impl IntoIterator<Item = &'a Descriptor>) -> Result<(), String> {
    match descriptors.into_iter().find(|d| d.size() > i64::MAX as u64) {
        Some(d) => Err(format!(
            "descriptor {} has size {}, above the int64 range",
            d.digest(),
            d.size()
        )),
        None => Ok(()),
    }
}

fn check_schema(v: u32) -> Result<(), String> {
    if v == 2 {
        Ok(())
    } else {
        Err(format!("schemaVersion {v} (expected 2)"))
    }
}

fn check_media_type(content: Option<String>, descriptor: &str) -> Result<(), ManifestProblem> {
    match content {
        Some(c) if c != descriptor => Err(ManifestProblem::MediaTypeMismatch(c)),
        _ => Ok(()),
    }
}

fn manifest_error(
    p: ManifestProblem,
    digest: &Digest,
    path: GraphPath,
    media_type: &str,
) -> GraphError {
    match p {
        ManifestProblem::Invalid(reason) => GraphError::InvalidManifest {
            digest: digest.clone(),
            path,
            reason,
        },
        ManifestProblem::MediaTypeMismatch(content) => GraphError::MediaTypeMismatch {
            digest: digest.clone(),
            path,
            descriptor: media_type.to_owned(),
            content,
        },
    }
}

/// Where a graph walk reads content from: a layout directory, a tarball read into memory, and
/// later a registry.
pub trait BlobStore {
    /// The verified bytes of a manifest or index, at most `max` bytes.
    fn fetch_manifest(
        &self,
        digest: &Digest,
        size: u64,
        max: u64,
    ) -> Result<Arc<[u8]>, LayoutError>;
    /// Checks that a blob is present with the right size (cheaply; its content is verified when
    /// it is streamed).
    fn check_blob(&self, digest: &Digest, size: u64) -> Result<(), LayoutError>;
    /// The verified bytes of a small blob (a signature envelope), at most `max` bytes. Stores
    /// that keep manifests and blobs apart (registries) override it.
    fn fetch_small_blob(
        &self,
        digest: &Digest,
        size: u64,
        max: u64,
    ) -> Result<Arc<[u8]>, LayoutError> {
        self.fetch_manifest(digest, size, max)
    }
}

impl<T: BlobStore + ?Sized> BlobStore for &T {
    fn fetch_manifest(
        &self,
        digest: &Digest,
        size: u64,
        max: u64,
    ) -> Result<Arc<[u8]>, LayoutError> {
        (**self).fetch_manifest(digest, size, max)
    }

    fn check_blob(&self, digest: &Digest, size: u64) -> Result<(), LayoutError> {
        (**self).check_blob(digest, size)
    }

    fn fetch_small_blob(
        &self,
        digest: &Digest,
        size: u64,
        max: u64,
    ) -> Result<Arc<[u8]>, LayoutError> {
        (**self).fetch_small_blob(digest, size, max)
    }
}

impl BlobStore for Layout {
    fn fetch_manifest(
        &self,
        digest: &Digest,
        size: u64,
        max: u64,
    ) -> Result<Arc<[u8]>, LayoutError> {
        self.read_blob_capped(digest, Some(size), max)
            .map(Arc::from)
    }

    fn check_blob(&self, digest: &Digest, size: u64) -> Result<(), LayoutError> {
        self.check_blob_size(digest, size)?;
        let path = self.blob_path(digest);
        match std::fs::metadata(&path) {
            Ok(m) if m.is_file() => check_size(digest, size, m.len()),
            Ok(_) => Err(LayoutError::NotRegularFile(path)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(LayoutError::BlobMissing(digest.clone()))
            }
            Err(_) => Err(LayoutError::NotRegularFile(path)),
        }
    }
}

/// A store whose referrers can be listed: what a graph walk, a signature check or a copy reads.
/// A layout lists them through [`Indexed`]; a registry through its referrers API or the tag
/// fallback.
pub trait GraphSource: BlobStore {
    /// Descriptors of the manifests whose `subject` is `subject` (with their `artifactType` and
    /// annotations), sorted by digest.
    fn referrers_of(&self, subject: &Digest) -> Result<Vec<Descriptor>, LayoutError>;
}

impl<T: GraphSource + ?Sized> GraphSource for &T {
    fn referrers_of(&self, subject: &Digest) -> Result<Vec<Descriptor>, LayoutError> {
        (**self).referrers_of(subject)
    }
}

impl<S: BlobStore> BlobStore for Indexed<S> {
    fn fetch_manifest(
        &self,
        digest: &Digest,
        size: u64,
        max: u64,
    ) -> Result<Arc<[u8]>, LayoutError> {
        self.store.fetch_manifest(digest, size, max)
    }

    fn check_blob(&self, digest: &Digest, size: u64) -> Result<(), LayoutError> {
        self.store.check_blob(digest, size)
    }

    fn fetch_small_blob(
        &self,
        digest: &Digest,
        size: u64,
        max: u64,
    ) -> Result<Arc<[u8]>, LayoutError> {
        self.store.fetch_small_blob(digest, size, max)
    }
}

impl<S: BlobStore> GraphSource for Indexed<S> {
    fn referrers_of(&self, subject: &Digest) -> Result<Vec<Descriptor>, LayoutError> {
        Ok(self.referrers(subject).to_vec())
    }
}

/// Checks a present blob's length against its descriptor.
pub fn check_size(digest: &Digest, expected: u64, actual: u64) -> Result<(), LayoutError> {
    if expected == actual {
        Ok(())
    } else {
        Err(LayoutError::Content {
            what: digest.to_string(),
            source: DigestError::SizeMismatch {
                digest: digest.clone(),
                expected,
                actual,
            },
        })
    }
}

/// A [`BlobStore`] with its referrers indexed by subject, ready for [`Graph::walk`].
#[derive(Debug)]
pub struct Indexed<S> {
    store: S,
    referrers: HashMap<Digest, Vec<Descriptor>>,
}

impl<S: BlobStore> Indexed<S> {
    /// Indexes the referrers in `store`: every manifest reachable from `entries` (the top-level
    /// `index.json` entries) through index children whose `subject` is set. Entries whose
    /// manifest is absent (a partial layout) are passed over: they cannot refer to anything.
    pub fn new(store: S, entries: &[IndexEntry], limits: &Limits) -> Result<Self, GraphError> {
        let mut referrers: HashMap<Digest, Vec<Descriptor>> = HashMap::new();
        let mut seen: HashSet<Digest> = HashSet::new();
        let mut queue: VecDeque<(Descriptor, Digest, usize)> = entries
            .iter()
            .map(|e| (e.descriptor.clone(), e.digest.clone(), 0))
            .collect();
        while let Some((desc, digest, depth)) = queue.pop_front() {
            let mt = desc.media_type().to_string();
            if media::kind_of(&mt) == Kind::Blob || seen.contains(&digest) {
                continue;
            }
            let here = || GraphPath(vec![digest.clone()]);
            if depth > limits.max_graph_depth {
                return Err(GraphError::TooDeep {
                    path: here(),
                    limit: limits.max_graph_depth,
                });
            }
            if seen.len() >= limits.max_graph_nodes {
                return Err(GraphError::TooManyNodes {
                    path: here(),
                    limit: limits.max_graph_nodes,
                });
            }
            seen.insert(digest.clone());
            let bytes = match store.fetch_manifest(&digest, desc.size(), limits.max_manifest_bytes)
            {
                Ok(b) => b,
                Err(LayoutError::BlobMissing(_)) => continue,
                Err(source) => {
                    return Err(GraphError::Layout {
                        path: here(),
                        source,
                    });
                }
            };
            let parsed = parse_manifest(&bytes, &mt, limits)
                .map_err(|p| manifest_error(p, &digest, here(), &mt))?;
            if let Some(subject) = &parsed.subject {
                let subject_digest =
                    descriptor_digest(subject).map_err(|source| GraphError::InvalidDigest {
                        parent: Some(digest.clone()),
                        path: here(),
                        source,
                    })?;
                let list = referrers.entry(subject_digest.clone()).or_default();
                if list.len() >= limits.max_referrers_per_subject {
                    return Err(GraphError::TooManyReferrers {
                        subject: subject_digest,
                        limit: limits.max_referrers_per_subject,
                    });
                }
                list.push(referrer_descriptor(&desc, &parsed));
            }
            for (edge, child) in parsed.children {
                if edge == EdgeKind::Child
                    && let Ok(d) = descriptor_digest(&child)
                {
                    queue.push_back((child, d, depth + 1));
                }
            }
        }
        for list in referrers.values_mut() {
            list.sort_by_cached_key(|d| d.digest().to_string());
        }
        Ok(Indexed { store, referrers })
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Descriptors of the manifests whose `subject` is `subject`, sorted by digest.
    pub fn referrers(&self, subject: &Digest) -> &[Descriptor] {
        self.referrers.get(subject).map_or(&[], Vec::as_slice)
    }
}

/// The descriptor a referrers listing gives for a manifest: media type, digest and size, with
/// the manifest's artifact type and annotations (as the distribution spec's referrers API does).
pub fn referrer_descriptor(desc: &Descriptor, parsed: &ParsedManifest) -> Descriptor {
    let mut rd = Descriptor::new(
        desc.media_type().clone(),
        desc.size(),
        desc.digest().clone(),
    );
    if let Some(at) = &parsed.artifact_type {
        rd.set_artifact_type(Some(at.as_str().into()));
    }
    if !parsed.annotations.is_empty() {
        rd.set_annotations(Some(parsed.annotations.clone().into_iter().collect()));
    }
    rd
}

/// One node of a graph.
#[derive(Clone, Debug)]
pub struct Node {
    /// The descriptor it was first reached through.
    pub descriptor: Descriptor,
    /// Manifest, index or blob.
    pub kind: Kind,
    /// For manifests and indexes: the exact bytes as read (verified against the digest).
    pub raw: Option<Arc<[u8]>>,
    /// For manifests and indexes: what they declare. Its `children` are empty here: they are the
    /// graph's edges from this node.
    pub parsed: Option<ParsedManifest>,
}

/// An edge of a graph.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Edge {
    /// The parent (for a referrer: its subject).
    pub from: Digest,
    /// The child (for a referrer: the referring manifest).
    pub to: Digest,
    /// How they are related.
    pub kind: EdgeKind,
}

/// The closure of one or more roots: every node reachable by children, config, layers and
/// referrers.
#[derive(Clone, Debug)]
pub struct Graph {
    /// The roots' digests, without duplicates, in the order given.
    pub roots: Vec<Digest>,
    /// Every node, by digest.
    pub nodes: BTreeMap<Digest, Node>,
    /// Every edge, in discovery order, without duplicates.
    pub edges: Vec<Edge>,
    /// Indexes into `edges` by their `from`.
    out: HashMap<Digest, Vec<usize>>,
}

impl Graph {
    /// Walks the closure of `root` in `source`, enforcing `limits`.
    pub fn walk<G: GraphSource + ?Sized>(
        source: &G,
        root: &Descriptor,
        limits: &Limits,
    ) -> Result<Graph, GraphError> {
        Graph::walk_all(source, std::slice::from_ref(root), limits)
    }

    /// Walks the closure of every root at once: a node shared by several roots is read and
    /// checked once, and `max_graph_nodes` bounds the whole walk.
    pub fn walk_all<G: GraphSource + ?Sized>(
        source: &G,
        roots: &[Descriptor],
        limits: &Limits,
    ) -> Result<Graph, GraphError> {
        let mut walker = Walker {
            source,
            limits,
            graph: Graph {
                roots: Vec::new(),
                nodes: BTreeMap::new(),
                edges: Vec::new(),
                out: HashMap::new(),
            },
            manifest_bytes: 0,
            path: Vec::new(),
        };
        for root in roots {
            let digest = descriptor_digest(root).map_err(|source| GraphError::InvalidDigest {
                parent: None,
                path: GraphPath(Vec::new()),
                source,
            })?;
            if !walker.graph.roots.contains(&digest) {
                walker.graph.roots.push(digest.clone());
            }
            walker.visit(root, digest)?;
        }
        Ok(walker.graph)
    }

    /// The closure of every top-level entry of a store: referrers indexed from `entries`, then
    /// all entries walked together.
    pub fn walk_entries<S: BlobStore>(
        store: S,
        entries: &[IndexEntry],
        limits: &Limits,
    ) -> Result<Graph, GraphError> {
        let indexed = Indexed::new(store, entries, limits)?;
        let roots: Vec<Descriptor> = entries.iter().map(|e| e.descriptor.clone()).collect();
        Graph::walk_all(&indexed, &roots, limits)
    }

    /// Edges leaving `digest`, in discovery order.
    pub fn edges_from<'a>(&'a self, digest: &Digest) -> impl Iterator<Item = &'a Edge> + 'a {
        self.out
            .get(digest)
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter_map(|&i| self.edges.get(i))
    }

    /// The graph as an indented text tree from the root: index children and referrers, and with
    /// `include_blobs` configs and layers too. One line per edge: `[kind] alg:hex12 type (size)`.
    /// A node reached a second time is listed with `(shown above)` and not expanded again, so
    /// the output stays proportional to the graph, not to the number of paths through it.
    pub fn tree(&self, include_blobs: bool) -> String {
        let mut s = String::new();
        let mut expanded = HashSet::new();
        for root in &self.roots {
            self.node_line(root, None, &mut s);
            if !expanded.insert(root.clone()) {
                s.push_str(" (shown above)\n");
                continue;
            }
            s.push('\n');
            self.subtree(root, include_blobs, "", &mut expanded, &mut s);
        }
        s
    }

    fn node_line(&self, digest: &Digest, kind: Option<EdgeKind>, s: &mut String) {
        use fmt::Write as _;
        let Some(node) = self.nodes.get(digest) else {
            return;
        };
        if let Some(k) = kind {
            let _ = write!(s, "[{k}] ");
        }
        let _ = write!(s, "{}:{}", digest.algorithm(), &digest.hex()[..12]);
        let artifact_type = node
            .parsed
            .as_ref()
            .and_then(|p| p.artifact_type.as_deref());
        match (kind, artifact_type) {
            (Some(EdgeKind::Referrer), Some(at)) => {
                let _ = write!(s, " {at}");
            }
            _ => {
                let _ = write!(s, " {}", node.descriptor.media_type());
            }
        }
        if let Some(p) = node.descriptor.platform() {
            let _ = write!(s, " {}/{}", p.os(), p.architecture());
        }
        let _ = write!(s, " ({} bytes)", node.descriptor.size());
    }

    fn subtree(
        &self,
        digest: &Digest,
        include_blobs: bool,
        prefix: &str,
        expanded: &mut HashSet<Digest>,
        s: &mut String,
    ) {
        let edges: Vec<&Edge> = self
            .edges_from(digest)
            .filter(|e| include_blobs || !e.kind.is_blob())
            .collect();
        for (i, e) in edges.iter().enumerate() {
            let last = i + 1 == edges.len();
            s.push_str(prefix);
            s.push_str(if last { "└── " } else { "├── " });
            self.node_line(&e.to, Some(e.kind), s);
            if !expanded.insert(e.to.clone()) {
                s.push_str(" (shown above)\n");
                continue;
            }
            s.push('\n');
            let deeper = format!("{prefix}{}", if last { "    " } else { "│   " });
            self.subtree(&e.to, include_blobs, &deeper, expanded, s);
        }
    }

    /// Sum of the sizes of all nodes.
    pub fn total_size(&self) -> u64 {
        self.nodes.values().map(|n| n.descriptor.size()).sum()
    }
}

struct Walker<'a, G: ?Sized> {
    source: &'a G,
    limits: &'a Limits,
    graph: Graph,
    /// Bytes of manifests held in `graph` so far.
    manifest_bytes: u64,
    path: Vec<Digest>,
}

impl<G: GraphSource + ?Sized> Walker<'_, G> {
    fn here(&self, next: &Digest) -> GraphPath {
        let mut p = self.path.clone();
        p.push(next.clone());
        GraphPath(p)
    }

    fn visit(&mut self, desc: &Descriptor, digest: Digest) -> Result<(), GraphError> {
        if self.path.contains(&digest) {
            return Err(GraphError::Cycle {
                path: self.here(&digest),
            });
        }
        if let Some(seen) = self.graph.nodes.get(&digest) {
            // One digest, one kind and one size: otherwise the node means different things
            // depending on the path that reaches it, and only one of them would be checked.
            let seen_kind = media::kind_of(seen.descriptor.media_type().as_ref());
            let kind = media::kind_of(desc.media_type().as_ref());
            if seen_kind != kind || seen.descriptor.size() != desc.size() {
                return Err(GraphError::Inconsistent {
                    digest: digest.clone(),
                    path: self.here(&digest),
                    first: format!(
                        "{} ({} bytes)",
                        seen.descriptor.media_type(),
                        seen.descriptor.size()
                    ),
                    second: format!("{} ({} bytes)", desc.media_type(), desc.size()),
                });
            }
            return Ok(());
        }
        if self.path.len() > self.limits.max_graph_depth {
            return Err(GraphError::TooDeep {
                path: self.here(&digest),
                limit: self.limits.max_graph_depth,
            });
        }
        if self.graph.nodes.len() >= self.limits.max_graph_nodes {
            return Err(GraphError::TooManyNodes {
                path: self.here(&digest),
                limit: self.limits.max_graph_nodes,
            });
        }
        let media_type = desc.media_type().to_string();
        let kind = media::kind_of(&media_type);
        tracing::debug!(%digest, %media_type, depth = self.path.len(), "visit");
        if kind == Kind::Blob {
            self.source
                .check_blob(&digest, desc.size())
                .map_err(|source| GraphError::Layout {
                    path: self.here(&digest),
                    source,
                })?;
            self.graph.nodes.insert(
                digest,
                Node {
                    descriptor: desc.clone(),
                    kind,
                    raw: None,
                    parsed: None,
                },
            );
            return Ok(());
        }
        if desc.size() > self.limits.max_manifest_bytes {
            return Err(GraphError::Layout {
                path: self.here(&digest),
                source: LayoutError::TooLarge {
                    what: format!("manifest {digest}"),
                    limit: self.limits.max_manifest_bytes,
                },
            });
        }
        let raw = self
            .source
            .fetch_manifest(&digest, desc.size(), self.limits.max_manifest_bytes)
            .map_err(|source| GraphError::Layout {
                path: self.here(&digest),
                source,
            })?;
        self.manifest_bytes += raw.len() as u64;
        if self.manifest_bytes > self.limits.max_graph_manifest_bytes {
            return Err(GraphError::Layout {
                path: self.here(&digest),
                source: LayoutError::TooLarge {
                    what: "the manifests of one graph (max_graph_manifest_bytes)".into(),
                    limit: self.limits.max_graph_manifest_bytes,
                },
            });
        }
        let mut parsed = parse_manifest(&raw, &media_type, self.limits)
            .map_err(|p| manifest_error(p, &digest, self.here(&digest), &media_type))?;
        // The children become the graph's edges; the node does not keep a second copy.
        let children = std::mem::take(&mut parsed.children);
        self.graph.nodes.insert(
            digest.clone(),
            Node {
                descriptor: desc.clone(),
                kind,
                raw: Some(raw),
                parsed: Some(parsed),
            },
        );
        self.path.push(digest.clone());
        let referrers = self
            .source
            .referrers_of(&digest)
            .map_err(|source| GraphError::Layout {
                path: GraphPath(self.path.clone()),
                source,
            })?;
        if referrers.len() > self.limits.max_referrers_per_subject {
            return Err(GraphError::TooManyReferrers {
                subject: digest,
                limit: self.limits.max_referrers_per_subject,
            });
        }
        let edges = children
            .into_iter()
            .chain(referrers.into_iter().map(|r| (EdgeKind::Referrer, r)));
        // Every edge from this node is added here, during its only visit: duplicates (an index
        // listing one manifest twice) are found among its own edges.
        let mut added: HashSet<(Digest, EdgeKind)> = HashSet::new();
        for (kind, child) in edges {
            let child_digest =
                descriptor_digest(&child).map_err(|source| GraphError::InvalidDigest {
                    parent: Some(digest.clone()),
                    path: GraphPath(self.path.clone()),
                    source,
                })?;
            if added.insert((child_digest.clone(), kind)) {
                if self.graph.edges.len() >= self.limits.max_graph_edges {
                    return Err(GraphError::TooManyEdges {
                        path: self.here(&child_digest),
                        limit: self.limits.max_graph_edges,
                    });
                }
                let index = self.graph.edges.len();
                self.graph
                    .out
                    .entry(digest.clone())
                    .or_default()
                    .push(index);
                self.graph.edges.push(Edge {
                    from: digest.clone(),
                    to: child_digest.clone(),
                    kind,
                });
            }
            self.visit(&child, child_digest)?;
        }
        self.path.pop();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::{attach, put_index, write_sample};
    use crate::layout::descriptor;
    use crate::reference::LayoutTag;
    use serde_json::json;

    fn sample() -> (tempfile::TempDir, Layout, crate::build::Sample) {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::init(dir.path(), Limits::default()).unwrap();
        let s = write_sample(&layout, &LayoutTag::new("latest").unwrap(), "g").unwrap();
        (dir, layout, s)
    }

    fn walk(layout: &Layout, root: &Descriptor, limits: &Limits) -> Result<Graph, GraphError> {
        let indexed = Indexed::new(layout, &layout.index().unwrap(), limits)?;
        Graph::walk(&indexed, root, limits)
    }

    #[test]
    fn closure_includes_children_blobs_and_referrers_of_referrers() {
        let (_d, layout, s) = sample();
        // A signature-like referrer of the SBOM: the walk must follow referrers recursively.
        let sig = attach(
            &layout,
            &s.sbom,
            "application/example.signature",
            b"sig",
            "application/octet-stream",
            &Default::default(),
        )
        .unwrap();
        let g = walk(&layout, &s.index, &Limits::default()).unwrap();
        let sig_digest = descriptor_digest(&sig).unwrap();
        let sbom_digest = descriptor_digest(&s.sbom).unwrap();
        assert!(g.edges.contains(&Edge {
            from: sbom_digest.clone(),
            to: sig_digest.clone(),
            kind: EdgeKind::Referrer
        }));
        // index, image, config, layer, sbom manifest, empty config, sbom blob, sig manifest, sig blob
        assert_eq!(g.nodes.len(), 9);
        let raw = g.nodes[&sig_digest].raw.as_ref().unwrap();
        assert_eq!(
            &raw[..],
            &std::fs::read(layout.blob_path(&sig_digest)).unwrap()[..],
            "bytes kept as read"
        );
        assert!(g.tree(false).contains("[referrer]"));
    }

    #[test]
    fn duplicate_edges_are_recorded_once() {
        let (_d, layout, s) = sample();
        let twice = put_index(&layout, &[s.image.clone(), s.image.clone()]).unwrap();
        let g = walk(&layout, &twice, &Limits::default()).unwrap();
        let children = g.edges.iter().filter(|e| e.kind == EdgeKind::Child).count();
        assert_eq!(children, 1);
        // Two indexes sharing the image: the tree expands it once.
        let outer = put_index(&layout, &[s.index.clone(), twice.clone()]).unwrap();
        let g = walk(&layout, &outer, &Limits::default()).unwrap();
        let tree = g.tree(false);
        assert_eq!(tree.matches("(shown above)").count(), 1, "{tree}");
        assert_eq!(tree.matches("[referrer]").count(), 1, "{tree}");
    }

    #[test]
    fn depth_and_node_limits_name_the_path() {
        let (_d, layout, s) = sample();
        let mut subject = s.sbom.clone();
        for i in 0..4 {
            subject = attach(
                &layout,
                &subject,
                "application/example.chain",
                format!("{i}").as_bytes(),
                "application/octet-stream",
                &Default::default(),
            )
            .unwrap();
        }
        let tight = Limits {
            max_graph_depth: 3,
            ..Limits::default()
        };
        let err = walk(&layout, &s.index, &tight).unwrap_err();
        assert!(matches!(err, GraphError::TooDeep { .. }), "{err}");
        assert!(err.to_string().contains(" → "), "path named: {err}");
        // Each bound, tightened alone, refuses the sample with its own error.
        let refused = |limits: Limits| walk(&layout, &s.index, &limits).unwrap_err();
        let d = Limits::default;
        assert!(matches!(
            refused(Limits {
                max_graph_nodes: 5,
                ..d()
            }),
            GraphError::TooManyNodes { .. }
        ));
        assert!(matches!(
            refused(Limits {
                max_referrers_per_subject: 0,
                ..d()
            }),
            GraphError::TooManyReferrers { .. }
        ));
        assert!(matches!(
            refused(Limits {
                max_graph_edges: 2,
                ..d()
            }),
            GraphError::TooManyEdges { .. }
        ));
        assert!(matches!(
            refused(Limits {
                max_graph_manifest_bytes: 300,
                ..d()
            }),
            GraphError::Layout {
                source: LayoutError::TooLarge { .. },
                ..
            }
        ));
    }

    /// A store that ignores digests, to build graphs no hash function allows (a cycle).
    struct Forged(HashMap<Digest, Vec<u8>>);

    impl BlobStore for Forged {
        fn fetch_manifest(&self, d: &Digest, _: u64, _: u64) -> Result<Arc<[u8]>, LayoutError> {
            self.0
                .get(d)
                .map(|v| Arc::from(v.as_slice()))
                .ok_or_else(|| LayoutError::BlobMissing(d.clone()))
        }
        fn check_blob(&self, _: &Digest, _: u64) -> Result<(), LayoutError> {
            Ok(())
        }
    }

    #[test]
    fn missing_blob_and_media_type_mismatch_are_errors() {
        let (_d, layout, s) = sample();
        let g = walk(&layout, &s.index, &Limits::default()).unwrap();
        let layer = g
            .edges
            .iter()
            .find(|e| e.kind == EdgeKind::Layer)
            .unwrap()
            .to
            .clone();
        std::fs::remove_file(layout.blob_path(&layer)).unwrap();
        let err = walk(&layout, &s.index, &Limits::default()).unwrap_err();
        assert!(
            matches!(&err, GraphError::Layout { source: LayoutError::BlobMissing(d), .. } if d == &layer),
            "{err}"
        );
        // The image manifest referenced as an index.
        let image_digest = descriptor_digest(&s.image).unwrap();
        let as_index = descriptor(media::OCI_INDEX, &image_digest, s.image.size());
        let err = walk(&layout, &as_index, &Limits::default()).unwrap_err();
        assert!(matches!(err, GraphError::MediaTypeMismatch { .. }), "{err}");
    }

    #[test]
    fn ambiguous_documents_and_out_of_range_sizes_are_refused() {
        let limits = Limits::default();
        let d = Digest::sha256_of(b"x").to_string();
        let poly = json!({"schemaVersion": 2, "config": {"mediaType": media::OCI_CONFIG, "digest": d, "size": 1},
            "layers": [], "manifests": []});
        let err = parse_manifest(
            &serde_json::to_vec(&poly).unwrap(),
            media::OCI_MANIFEST,
            &limits,
        )
        .unwrap_err();
        assert!(
            matches!(&err, ManifestProblem::Invalid(r) if r.contains("ambiguous")),
            "{err:?}"
        );
        let err = parse_manifest(
            &serde_json::to_vec(&poly).unwrap(),
            media::OCI_INDEX,
            &limits,
        )
        .unwrap_err();
        assert!(
            matches!(&err, ManifestProblem::Invalid(r) if r.contains("ambiguous")),
            "{err:?}"
        );
        let huge = json!({"schemaVersion": 2, "config": {"mediaType": media::OCI_CONFIG, "digest": d, "size": 1},
            "layers": [], "subject": {"mediaType": media::OCI_MANIFEST, "digest": d, "size": u64::MAX}});
        let err = parse_manifest(
            &serde_json::to_vec(&huge).unwrap(),
            media::OCI_MANIFEST,
            &limits,
        )
        .unwrap_err();
        assert!(
            matches!(&err, ManifestProblem::Invalid(r) if r.contains("int64")),
            "{err:?}"
        );
    }

    #[test]
    fn cycles_are_refused_with_their_path() {
        let a = Digest::sha256_of(b"a");
        let b = Digest::sha256_of(b"b");
        let index_of = |child: &Digest| {
            serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": media::OCI_INDEX,
                "manifests": [{"mediaType": media::OCI_INDEX, "digest": child.to_string(), "size": 10}]}))
            .unwrap()
        };
        let store = Forged(HashMap::from([
            (a.clone(), index_of(&b)),
            (b.clone(), index_of(&a)),
        ]));
        let indexed = Indexed::new(store, &[], &Limits::default()).unwrap();
        let root = descriptor(media::OCI_INDEX, &a, 10);
        let err = Graph::walk(&indexed, &root, &Limits::default()).unwrap_err();
        match err {
            GraphError::Cycle { path } => assert_eq!(path.0, vec![a.clone(), b, a]),
            other => panic!("expected a cycle, got {other}"),
        }
    }
}
