//! Detached signatures stored as OCI 1.1 referrers: signing an artifact in a layout, finding
//! its signatures, and judging each against a set of public keys.
//!
//! Spec: `formats/signature.md`. A signature is an image manifest with `artifactType`
//! [`SIGNATURE_ARTIFACT_TYPE`], the empty config, one [`COSE_MEDIA_TYPE`] layer holding the
//! [`envelope`], and `subject` = the signed manifest. The signed artifact is never rewritten, so
//! its digest and tags do not change; each signature is one more referrer.

pub mod envelope;

use std::collections::BTreeMap;

use oci_spec::image::Descriptor;

use crate::build;
use crate::digest::Digest;
use crate::graph::{BlobStore, EdgeKind, parse_manifest};
use crate::key::{KeyId, PrivateKey, PublicKey};
use crate::layout::{IndexEntry, Layout, LayoutError, descriptor_digest, sniff_media_type};
use crate::limits::Limits;
use crate::media;
use crate::time::{Seconds, format_rfc3339};

pub use envelope::{Envelope, EnvelopeError, SignOptions, Target};

/// The `artifactType` of a signature manifest.
pub const SIGNATURE_ARTIFACT_TYPE: &str = "application/vnd.cncf.notary.signature";
/// The media type of the envelope layer.
pub const COSE_MEDIA_TYPE: &str = "application/cose";
/// Annotation on the signature manifest naming the key id (informational; the envelope's
/// protected `kid` is what counts).
pub const ANNOTATION_KEY_ID: &str = "io.airlock.signature.key-id";
/// Annotation on the signature manifest naming the algorithm (informational).
pub const ANNOTATION_ALGORITHM: &str = "io.airlock.signature.algorithm";

/// Reads the target manifest's bytes from `store` and returns the [`Target`] a signature must
/// name: the descriptor's media type (which must agree with the document's own `mediaType`
/// when it has one), the digest and the real size.
pub fn target_of<S: BlobStore + ?Sized>(
    store: &S,
    descriptor: &Descriptor,
    limits: &Limits,
) -> Result<Target, SignatureError> {
    let digest = descriptor_digest(descriptor)
        .map_err(|e| SignatureError::Target(format!("descriptor digest: {e}")))?;
    let bytes = store.fetch_manifest(&digest, descriptor.size(), limits.max_manifest_bytes)?;
    let declared = descriptor.media_type().to_string();
    if media::kind_of(&declared) == media::Kind::Blob {
        return Err(SignatureError::Target(format!(
            "{digest} is a {declared} blob; only manifests and indexes are signed"
        )));
    }
    if let Some(own) = sniff_media_type(&bytes)
        && own != declared
    {
        return Err(SignatureError::Target(format!(
            "{digest} is listed as {declared} but its document says {own}"
        )));
    }
    parse_manifest(&bytes, &declared, limits)
        .map_err(|p| SignatureError::Target(format!("{digest}: {p:?}")))?;
    Ok(Target {
        media_type: declared,
        digest,
        size: bytes.len() as u64,
    })
}

/// What went wrong while signing or looking for signatures (as opposed to one signature being
/// invalid, which is a [`Problem`] in its report).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// The layout could not be read or written.
    #[error(transparent)]
    Layout(#[from] LayoutError),
    /// The target cannot be signed or verified.
    #[error("target: {0}")]
    Target(String),
    /// A new envelope could not be made.
    #[error("cannot sign: {0}")]
    Envelope(#[from] EnvelopeError),
}

/// Signs the artifact `entry` of `layout` with `key`, storing the signature as an untagged
/// referrer in the same layout. Returns the signature manifest's descriptor. Nothing about the
/// target changes; signing the same target with the same key at the same second writes the
/// same referrer again (Ed25519 is deterministic), not a second one.
pub fn sign_layout(
    layout: &Layout,
    entry: &IndexEntry,
    key: &PrivateKey,
    options: &SignOptions,
) -> Result<(Target, Descriptor), SignatureError> {
    let target = target_of(layout, &entry.descriptor, layout.limits())?;
    let bytes = envelope::sign(key, &target, options)?;
    let subject = crate::layout::descriptor(&target.media_type, &target.digest, target.size);
    let annotations = annotations_for(key, options);
    let referrer = build::attach(
        layout,
        &subject,
        SIGNATURE_ARTIFACT_TYPE,
        &bytes,
        COSE_MEDIA_TYPE,
        &annotations,
    )?;
    Ok((target, referrer))
}

/// Signs the artifact `descriptor`, read from `store`, and writes the signature referrer to
/// `destination` (a layout or a registry repository; for a registry without the referrers API
/// the subject's fallback tag index is updated). The signed artifact is not rewritten.
pub fn sign_to<S: BlobStore + ?Sized>(
    store: &S,
    destination: &dyn crate::copy::Destination,
    descriptor: &Descriptor,
    key: &PrivateKey,
    options: &SignOptions,
    limits: &Limits,
) -> Result<(Target, Descriptor), crate::Error> {
    let target = target_of(store, descriptor, limits)?;
    let bytes: std::sync::Arc<[u8]> = envelope::sign(key, &target, options)
        .map_err(SignatureError::from)?
        .into();
    let subject = crate::layout::descriptor(&target.media_type, &target.digest, target.size);
    let layer = crate::layout::descriptor(
        COSE_MEDIA_TYPE,
        &Digest::sha256_of(&bytes),
        bytes.len() as u64,
    );
    let referrer = crate::copy::attach(
        destination,
        &subject,
        SIGNATURE_ARTIFACT_TYPE,
        (&layer, &crate::copy::bytes_opener(bytes)),
        &annotations_for(key, options),
    )?;
    Ok((target, referrer))
}

pub(crate) fn annotations_for(key: &PrivateKey, options: &SignOptions) -> BTreeMap<String, String> {
    BTreeMap::from([
        (ANNOTATION_KEY_ID.to_owned(), key.id().to_string()),
        (ANNOTATION_ALGORITHM.to_owned(), key.algorithm().to_string()),
        (
            media::ANNOTATION_CREATED.to_owned(),
            format_rfc3339(options.signing_time),
        ),
    ])
}

/// Why one signature does not count.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Problem {
    /// The signature manifest is not shaped as a signature (layers, config, subject).
    #[error("signature manifest: {0}")]
    Manifest(String),
    /// The manifest or envelope blob could not be read or failed its digest.
    #[error("{0}")]
    Content(String),
    /// The envelope failed parsing or verification.
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    /// The envelope names a key that is not among those given.
    #[error("signed by key {0}, which is not among the keys given")]
    UnknownKey(KeyId),
    /// The signature verifies, but its key is revoked by the installed revocation snapshot.
    #[error("key {key} is revoked: {reason}")]
    Revoked {
        /// The key.
        key: KeyId,
        /// The snapshot's reason.
        reason: String,
    },
}

impl Problem {
    /// A short machine-readable name.
    pub fn code(&self) -> &'static str {
        match self {
            Problem::Manifest(_) => "manifest",
            Problem::Content(_) => "content",
            Problem::Envelope(e) => e.code(),
            Problem::UnknownKey(_) => "unknown-key",
            Problem::Revoked { .. } => "revoked",
        }
    }
}

/// The verdict on one signature found for a target.
#[derive(Debug, Clone)]
pub struct SignatureReport {
    /// The signature manifest (`None` when its descriptor's digest is malformed).
    pub manifest: Option<Digest>,
    /// The key id from the envelope's protected header, once it parsed.
    pub key_id: Option<KeyId>,
    /// The COSE algorithm name, once it parsed.
    pub algorithm: Option<&'static str>,
    /// The claimed signing time, once it parsed.
    pub signing_time: Option<Seconds>,
    /// The expiry, if the envelope has one.
    pub expiry: Option<Seconds>,
    /// `Ok` when the signature verified with one of the keys.
    pub verdict: Result<(), Problem>,
}

impl SignatureReport {
    /// Whether this signature verified.
    pub fn is_valid(&self) -> bool {
        self.verdict.is_ok()
    }
}

/// The signature referrers among `referrers` (descriptors of a subject's referrers).
pub fn signature_referrers(referrers: &[Descriptor]) -> impl Iterator<Item = &Descriptor> {
    referrers.iter().filter(|d| {
        d.artifact_type().as_ref().map(|a| a.to_string()).as_deref()
            == Some(SIGNATURE_ARTIFACT_TYPE)
    })
}

/// Judges every signature referrer of `target` against `keys` at time `now`. Each report
/// stands alone: a malformed signature never hides a valid one.
pub fn verify_referrers<S: BlobStore + ?Sized>(
    store: &S,
    target: &Target,
    referrers: &[Descriptor],
    keys: &[PublicKey],
    now: Seconds,
    limits: &Limits,
) -> Vec<SignatureReport> {
    signature_referrers(referrers)
        .map(|d| verify_one(store, target, d, keys, now, limits))
        .collect()
}

fn verify_one<S: BlobStore + ?Sized>(
    store: &S,
    target: &Target,
    referrer: &Descriptor,
    keys: &[PublicKey],
    now: Seconds,
    limits: &Limits,
) -> SignatureReport {
    let mut report = SignatureReport {
        manifest: None,
        key_id: None,
        algorithm: None,
        signing_time: None,
        expiry: None,
        verdict: Ok(()),
    };
    let digest = match descriptor_digest(referrer) {
        Ok(d) => d,
        Err(e) => {
            report.verdict = Err(Problem::Manifest(e.to_string()));
            return report;
        }
    };
    report.manifest = Some(digest.clone());
    let envelope = match load_envelope(store, target, referrer, &digest, limits) {
        Ok(e) => e,
        Err(p) => {
            report.verdict = Err(p);
            return report;
        }
    };
    report.key_id = Some(envelope.key_id());
    report.algorithm = Some(envelope.alg_name());
    report.signing_time = Some(envelope.signing_time());
    report.expiry = envelope.expiry();
    report.verdict = match keys.iter().find(|k| k.id() == envelope.key_id()) {
        None => Err(Problem::UnknownKey(envelope.key_id())),
        Some(key) => envelope.verify(key, target, now).map_err(Problem::from),
    };
    report
}

/// Reads and checks the signature manifest's shape, then reads and parses its envelope.
fn load_envelope<S: BlobStore + ?Sized>(
    store: &S,
    target: &Target,
    referrer: &Descriptor,
    digest: &Digest,
    limits: &Limits,
) -> Result<Envelope, Problem> {
    let mt = referrer.media_type().to_string();
    if mt != media::OCI_MANIFEST {
        return Err(Problem::Manifest(format!(
            "media type {mt}, expected {}",
            media::OCI_MANIFEST
        )));
    }
    let bytes = store
        .fetch_manifest(digest, referrer.size(), limits.max_manifest_bytes)
        .map_err(|e| Problem::Content(e.to_string()))?;
    let parsed =
        parse_manifest(&bytes, &mt, limits).map_err(|p| Problem::Manifest(format!("{p:?}")))?;
    if parsed.artifact_type.as_deref() != Some(SIGNATURE_ARTIFACT_TYPE) {
        return Err(Problem::Manifest("artifactType is not a signature".into()));
    }
    let subject = parsed
        .subject
        .as_ref()
        .and_then(|s| descriptor_digest(s).ok())
        .ok_or_else(|| Problem::Manifest("no valid subject".into()))?;
    if subject != target.digest {
        return Err(Problem::Manifest(format!(
            "subject is {subject}, not {}",
            target.digest
        )));
    }
    let layers: Vec<&Descriptor> = parsed
        .children
        .iter()
        .filter(|(k, _)| *k == EdgeKind::Layer)
        .map(|(_, d)| d)
        .collect();
    let [layer] = layers.as_slice() else {
        return Err(Problem::Manifest(format!(
            "{} layers, expected one envelope",
            layers.len()
        )));
    };
    if layer.media_type().to_string() != COSE_MEDIA_TYPE {
        return Err(Problem::Manifest(format!(
            "layer media type {}, expected {COSE_MEDIA_TYPE}",
            layer.media_type()
        )));
    }
    if layer.size() > limits.max_envelope_bytes {
        return Err(Problem::Envelope(EnvelopeError::TooLarge {
            size: layer.size(),
            limit: limits.max_envelope_bytes,
        }));
    }
    let layer_digest = descriptor_digest(layer).map_err(|e| Problem::Manifest(e.to_string()))?;
    let envelope = store
        .fetch_small_blob(&layer_digest, layer.size(), limits.max_envelope_bytes)
        .map_err(|e| Problem::Content(e.to_string()))?;
    Ok(Envelope::parse(&envelope, limits.max_envelope_bytes)?)
}
