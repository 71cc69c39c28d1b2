//! The air-gap bundle: one OCI image-layout tarball carrying artifacts with their whole
//! referrer graph, the trust-root chain and a revocation snapshot, and a signed bundle manifest
//! whose packing list names every blob.
//!
//! Spec: `formats/bundle.md`. The bundle is an ordinary layout tarball (other OCI tools read
//! its artifacts by tag); what makes it a bundle is its first `index.json` entry, an artifact
//! of type [`BUNDLE_ARTIFACT_TYPE`] whose layers are the packing list, the trust roots and the
//! revocation snapshot, signed by keys of the trust root's `bundle` role. Entries are ordered so
//! that an importer reading the stream once verifies all trust material, every manifest and
//! every signature before the first large blob arrives.

mod export;
mod read;

use std::collections::{BTreeMap, BTreeSet};

use oci_spec::image::Descriptor;
use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::layout::{descriptor, descriptor_digest};
use crate::limits::Limits;
use crate::media::{self, Kind};
use crate::signature::COSE_MEDIA_TYPE;

pub use export::{ExportItem, ExportOptions, ExportReport, export, read_packing_list};
pub use read::{
    Checkpoint, Discard, ReadOptions, ReadReport, Sink, TrustAnchor, TrustPlan, read_bundle,
};

/// The `artifactType` of a bundle manifest.
pub const BUNDLE_ARTIFACT_TYPE: &str = "application/vnd.airlock.bundle.v1";
/// The media type of the packing list layer.
pub const PACKING_LIST_MEDIA_TYPE: &str = "application/vnd.airlock.bundle.packing-list.v1+json";
/// The media type of a trust-root file carried as a layer.
pub const TRUST_ROOT_MEDIA_TYPE: &str = "application/vnd.airlock.trust-root.v1+cose";
/// The media type of a revocation-snapshot file carried as a layer.
pub const REVOCATION_MEDIA_TYPE: &str = "application/vnd.airlock.revocation.v1+cose";
/// The packing list's `schemaVersion`.
pub const PACKING_LIST_VERSION: u32 = 1;

/// Why a bundle was refused, or could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BundleError {
    /// The bundle's structure breaks `formats/bundle.md`.
    #[error("bundle is malformed: {0}")]
    Malformed(String),
    /// An entry arrived out of the order the packing list fixes.
    #[error("bundle entry out of order: expected {expected}, found {found}")]
    Order {
        /// What the packing list says comes next.
        expected: String,
        /// What the stream held.
        found: String,
    },
    /// A blob the packing list does not name.
    #[error("blob {0} is in the bundle but not in its signed packing list")]
    Unlisted(Digest),
    /// A blob the packing list says the bundle carries is not in it.
    #[error("blob {0} is named by the packing list as carried but is missing from the bundle")]
    Missing(Digest),
    /// A blob a delta bundle omits is not at the target.
    #[error(
        "blob {0} is omitted by this delta bundle and is not at the target: import the base bundle first"
    )]
    NotAtTarget(Digest),
    /// The bundle's own signature does not satisfy the trust root's `bundle` role.
    #[error("bundle signature: {0}")]
    Signature(String),
    /// An artifact does not meet the trust policy.
    #[error("policy not met: {0}")]
    Policy(String),
    /// The request cannot be carried out (arguments, missing trust material).
    #[error("{0}")]
    Usage(String),
}

impl BundleError {
    /// Whether this is a verification failure (exit 1) rather than a usage error (exit 2).
    pub fn is_verification(&self) -> bool {
        !matches!(self, BundleError::Usage(_))
    }

    /// A hint for what to do.
    pub fn hint(&self) -> &'static str {
        match self {
            BundleError::NotAtTarget(_) => {
                "import the bundle this delta was made against (its base) first, then this one"
            }
            BundleError::Signature(_) => {
                "the bundle was not signed by the bundle role of a trust root this site trusts; get a bundle signed by a current bundle key, or update the pinned root"
            }
            BundleError::Policy(_) => {
                "the artifacts lack signatures the local policy requires; nothing was tagged (airlock policy show)"
            }
            BundleError::Usage(_) => "check the arguments",
            _ => "the bundle is damaged or was altered; obtain a fresh copy from its producer",
        }
    }
}

/// One exported artifact as the packing list names it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RootEntry {
    /// The root manifest or index.
    pub digest: Digest,
    /// Its media type.
    pub media_type: String,
    /// Its size.
    pub size: u64,
    /// The repository path it came from (no registry host), which an import maps to a
    /// destination.
    pub repository: String,
    /// The tag it had at the source, if it was named by a tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// The source reference exactly as given to `export` (for the record).
    pub source: String,
}

impl RootEntry {
    /// The root's descriptor.
    pub fn descriptor(&self) -> Descriptor {
        descriptor(&self.media_type, &self.digest, self.size)
    }

    /// The name this root has in the bundle's `index.json`: `REPOSITORY:TAG`, or `REPOSITORY`
    /// with no tag.
    pub fn ref_name(&self) -> String {
        match &self.tag {
            Some(t) => format!("{}:{t}", self.repository),
            None => self.repository.clone(),
        }
    }
}

/// One blob of the exported graphs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BlobEntry {
    /// Its digest.
    pub digest: Digest,
    /// The media type of the descriptor that leads to it.
    pub media_type: String,
    /// Its size.
    pub size: u64,
    /// Whether the bundle carries it (a delta bundle omits blobs its base carried).
    pub carried: bool,
}

impl BlobEntry {
    /// Which section of the stream it belongs to.
    pub fn rank(&self) -> Rank {
        rank_of(&self.media_type)
    }
}

/// The sections of a bundle's artifact blobs, in stream order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Rank {
    /// Manifests and indexes.
    Manifest,
    /// Signature envelopes (`application/cose`).
    Envelope,
    /// Everything else: configs, layers, referrer content.
    Content,
}

/// The section of a blob of `media_type`.
pub fn rank_of(media_type: &str) -> Rank {
    if media::kind_of(media_type) != Kind::Blob {
        Rank::Manifest
    } else if media_type == COSE_MEDIA_TYPE {
        Rank::Envelope
    } else {
        Rank::Content
    }
}

/// A referrer edge: `referrer`'s `subject` is `subject`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ReferrerEdge {
    /// The artifact referred to.
    pub subject: Digest,
    /// The referrer.
    pub referrer: Digest,
    /// The referrer's artifact type, as the referrers API lists it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
}

/// The bundle a delta bundle was made against.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BaseBundle {
    /// The base bundle's bundle-manifest digest.
    pub digest: Digest,
}

/// The packing list: what the bundle holds, in the order it holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PackingList {
    /// [`PACKING_LIST_VERSION`].
    pub schema_version: u32,
    /// [`PACKING_LIST_MEDIA_TYPE`].
    pub media_type: String,
    /// When the bundle was made (RFC 3339; `SOURCE_DATE_EPOCH` when set).
    pub created: String,
    /// The exported artifacts, in the order given.
    pub roots: Vec<RootEntry>,
    /// Every blob of their graphs (manifests, indexes, configs, layers, referrers), sorted by
    /// section then digest.
    pub blobs: Vec<BlobEntry>,
    /// Every referrer edge of those graphs, sorted.
    pub referrers: Vec<ReferrerEdge>,
    /// For a delta bundle: the bundle it was made against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<BaseBundle>,
}

impl PackingList {
    /// The exact bytes written: JSON with sorted keys and no insignificant whitespace.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Invariant: the packing list is plain data and always serialises.
        #[allow(clippy::expect_used)]
        let value = serde_json::to_value(self).expect("packing list serialises");
        crate::layout::to_json_bytes(&value)
    }

    /// Parses and checks a packing list: version, media type, no duplicate roots or blobs,
    /// blobs in section-then-digest order, only content blobs omitted, every root a listed
    /// manifest, every edge between listed manifests.
    pub fn parse(bytes: &[u8], limits: &Limits) -> Result<PackingList, BundleError> {
        let bad = |r: String| BundleError::Malformed(format!("packing list: {r}"));
        if bytes.len() as u64 > limits.max_layout_json_bytes {
            return Err(bad(format!(
                "{} bytes, more than max_layout_json_bytes ({})",
                bytes.len(),
                limits.max_layout_json_bytes
            )));
        }
        crate::json::check_keys(bytes).map_err(bad)?;
        let list: PackingList = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
        if list.schema_version != PACKING_LIST_VERSION {
            return Err(bad(format!(
                "schemaVersion {}, this airlock reads {PACKING_LIST_VERSION}",
                list.schema_version
            )));
        }
        if list.media_type != PACKING_LIST_MEDIA_TYPE {
            return Err(bad(format!("mediaType {:?}", list.media_type)));
        }
        crate::time::parse_rfc3339(&list.created).map_err(|e| bad(format!("created: {e}")))?;
        if list.blobs.len() as u64 > limits.max_tar_entries
            || list.blobs.len() > limits.max_graph_nodes
        {
            return Err(bad(format!(
                "{} blobs, more than max_graph_nodes ({})",
                list.blobs.len(),
                limits.max_graph_nodes
            )));
        }
        if list.referrers.len() > limits.max_graph_edges
            || list.roots.len() > limits.max_index_entries
        {
            return Err(bad("more roots or edges than the limits allow".into()));
        }
        for pair in list.blobs.windows(2) {
            let (a, b) = (&pair[0], &pair[1]);
            if (a.rank(), &a.digest) >= (b.rank(), &b.digest) {
                return Err(bad(format!(
                    "blobs not in section-then-digest order at {} and {} (or listed twice)",
                    a.digest, b.digest
                )));
            }
        }
        let mut sizes: BTreeMap<&Digest, (&BlobEntry, u64)> = BTreeMap::new();
        for b in &list.blobs {
            if b.size > limits.max_blob_bytes {
                return Err(bad(format!(
                    "blob {} of {} bytes, more than max_blob_bytes",
                    b.digest, b.size
                )));
            }
            if !b.carried && b.rank() != Rank::Content {
                return Err(bad(format!(
                    "{} ({}) is omitted, but manifests and signature envelopes are always carried",
                    b.digest, b.media_type
                )));
            }
            sizes.insert(&b.digest, (b, b.size));
        }
        let mut names = BTreeSet::new();
        for r in &list.roots {
            crate::reference::validate_repository(&r.repository)
                .map_err(|e| bad(format!("root repository: {e}")))?;
            if let Some(t) = &r.tag {
                crate::reference::Tag::new(t).map_err(|e| bad(format!("root tag: {e}")))?;
            }
            crate::reference::LayoutTag::new(&r.ref_name())
                .map_err(|e| bad(format!("root name {:?}: {e}", r.ref_name())))?;
            if r.tag.is_some() && !names.insert(r.ref_name()) {
                return Err(bad(format!("two roots named {}", r.ref_name())));
            }
            match sizes.get(&r.digest) {
                Some((b, size))
                    if *size == r.size
                        && b.media_type == r.media_type
                        && b.rank() == Rank::Manifest => {}
                _ => {
                    return Err(bad(format!(
                        "root {} is not listed as a manifest of that size and type",
                        r.digest
                    )));
                }
            }
        }
        for pair in list.referrers.windows(2) {
            if pair[0] >= pair[1] {
                return Err(bad("referrer edges not sorted (or listed twice)".into()));
            }
        }
        for e in &list.referrers {
            for d in [&e.subject, &e.referrer] {
                if sizes.get(d).is_none_or(|(b, _)| b.rank() != Rank::Manifest) {
                    return Err(bad(format!(
                        "referrer edge names {d}, not a listed manifest"
                    )));
                }
            }
        }
        Ok(list)
    }

    /// Blob sizes by digest.
    pub fn sizes(&self) -> BTreeMap<Digest, u64> {
        self.blobs
            .iter()
            .map(|b| (b.digest.clone(), b.size))
            .collect()
    }

    /// Total bytes of the blobs listed, and of those carried.
    pub fn totals(&self) -> (u64, u64) {
        self.blobs.iter().fold((0, 0), |(all, carried), b| {
            (all + b.size, carried + if b.carried { b.size } else { 0 })
        })
    }
}

/// The parts of a bundle manifest: its layers in order.
#[derive(Clone, Debug)]
pub struct BundleManifest {
    /// The manifest's descriptor (with `artifactType`).
    pub descriptor: Descriptor,
    /// The packing list layer.
    pub packing_list: Descriptor,
    /// The trust-root layers, oldest first.
    pub roots: Vec<Descriptor>,
    /// The revocation-snapshot layer.
    pub revocation: Descriptor,
    /// The empty config.
    pub config: Descriptor,
}

impl BundleManifest {
    /// The layers and config in stream order (each once).
    pub fn section(&self) -> Vec<Descriptor> {
        let mut out = vec![self.packing_list.clone()];
        out.extend(self.roots.iter().cloned());
        out.push(self.revocation.clone());
        out.push(self.config.clone());
        out
    }

    /// Reads a bundle manifest's bytes (already verified against `descriptor`).
    pub fn parse(
        descriptor: &Descriptor,
        bytes: &[u8],
        limits: &Limits,
    ) -> Result<BundleManifest, BundleError> {
        let bad = |r: String| BundleError::Malformed(format!("bundle manifest: {r}"));
        let mt = descriptor.media_type().to_string();
        if mt != media::OCI_MANIFEST {
            return Err(bad(format!(
                "media type {mt}, expected {}",
                media::OCI_MANIFEST
            )));
        }
        let parsed =
            crate::graph::parse_manifest(bytes, &mt, limits).map_err(|p| bad(format!("{p:?}")))?;
        if parsed.artifact_type.as_deref() != Some(BUNDLE_ARTIFACT_TYPE) {
            return Err(bad(format!("artifactType is not {BUNDLE_ARTIFACT_TYPE}")));
        }
        if parsed.subject.is_some() {
            return Err(bad("a bundle manifest has no subject".into()));
        }
        let mut config = None;
        let mut layers = Vec::new();
        for (edge, d) in parsed.children {
            match edge {
                crate::graph::EdgeKind::Config => config = Some(d),
                crate::graph::EdgeKind::Layer => layers.push(d),
                _ => return Err(bad("unexpected child".into())),
            }
        }
        let config = config.ok_or_else(|| bad("no config".into()))?;
        let empty = Digest::sha256_of(media::EMPTY_JSON);
        if config.media_type().to_string() != media::OCI_EMPTY
            || descriptor_digest(&config).ok() != Some(empty)
            || config.size() != media::EMPTY_JSON.len() as u64
        {
            return Err(bad("config is not the empty descriptor".into()));
        }
        let mut it = layers.into_iter();
        let packing_list = it
            .next()
            .filter(|d| d.media_type().to_string() == PACKING_LIST_MEDIA_TYPE)
            .ok_or_else(|| bad(format!("first layer is not the {PACKING_LIST_MEDIA_TYPE}")))?;
        if packing_list.size() > limits.max_layout_json_bytes {
            return Err(bad(format!(
                "packing list of {} bytes, more than max_layout_json_bytes",
                packing_list.size()
            )));
        }
        let rest: Vec<Descriptor> = it.collect();
        let Some((revocation, roots)) = rest.split_last() else {
            return Err(bad("no trust roots and no revocation snapshot".into()));
        };
        if revocation.media_type().to_string() != REVOCATION_MEDIA_TYPE {
            return Err(bad(format!("last layer is not a {REVOCATION_MEDIA_TYPE}")));
        }
        if roots.is_empty() || roots.len() > limits.max_root_chain.saturating_add(1) {
            return Err(bad(format!(
                "{} trust roots (1 to max_root_chain + 1 expected)",
                roots.len()
            )));
        }
        for d in roots.iter().chain([revocation]) {
            if d.size() > limits.max_trust_document_bytes {
                return Err(bad(
                    "a trust document larger than max_trust_document_bytes".into()
                ));
            }
        }
        if let Some(d) = roots
            .iter()
            .find(|d| d.media_type().to_string() != TRUST_ROOT_MEDIA_TYPE)
        {
            return Err(bad(format!(
                "layer {} is a {}, expected {TRUST_ROOT_MEDIA_TYPE}",
                d.digest(),
                d.media_type()
            )));
        }
        Ok(BundleManifest {
            descriptor: descriptor.clone(),
            packing_list,
            roots: roots.to_vec(),
            revocation: revocation.clone(),
            config,
        })
    }
}

#[cfg(test)]
mod tests;
