//! The signature envelope: a `COSE_Sign1_Tagged` message shaped after the Notary Project COSE
//! envelope, over the payload `{"targetArtifact": <descriptor>}`.
//!
//! Spec: `formats/signature.md`, sections "Envelope" and "Verification". Parsing
//! ([`Envelope::parse`]) checks the structure and headers without any key; [`Envelope::verify`]
//! then checks the signature with one key, the payload against the target, and the expiry.

use std::io::Cursor;

use ciborium::Value;
use coset::{
    AsCborValue, CoseSign1, CoseSign1Builder, Header, HeaderBuilder, Label,
    RegisteredLabelWithPrivate, TaggedCborSerializable, iana,
};
use serde_json::json;

use crate::digest::Digest;
use crate::key::{KeyAlgorithm, KeyError, KeyId, PrivateKey, PublicKey};
use crate::time::{Seconds, format_rfc3339};

/// The COSE tag of `COSE_Sign1`.
pub const COSE_SIGN1_TAG: u64 = 18;
/// The payload content type (`cty`, label 3).
pub const PAYLOAD_CONTENT_TYPE: &str = "application/vnd.cncf.notary.payload.v1+json";
/// Header label of the signing scheme (critical).
pub const LABEL_SIGNING_SCHEME: &str = "io.cncf.notary.signingScheme";
/// Header label of the signing time (epoch date/time, tag 1).
pub const LABEL_SIGNING_TIME: &str = "io.cncf.notary.signingTime";
/// Header label of the expiry (epoch date/time, tag 1; critical when present).
pub const LABEL_EXPIRY: &str = "io.cncf.notary.expiry";
/// Unprotected header label naming the program that signed.
pub const LABEL_SIGNING_AGENT: &str = "io.cncf.notary.signingAgent";
/// The signing scheme airlock writes and accepts: a bare key named by `kid`, trusted by its id.
pub const SIGNING_SCHEME: &str = "airlock.key.v1";

/// COSE `alg` values and the key algorithm each needs.
///
/// Ed25519 keys sign with `EdDSA` (-8): `pycose` 1.1 verifies it and cannot decode a message
/// whose alg is the fully-specified `Ed25519` (-19), which airlock accepts but does not write. Adding an algorithm is one row here and one in
/// [`KeyAlgorithm`].
pub const ALGORITHMS: &[(i64, &str, KeyAlgorithm)] = &[
    (
        iana::Algorithm::EdDSA as i64,
        "EdDSA",
        KeyAlgorithm::Ed25519,
    ),
    (
        iana::Algorithm::Ed25519 as i64,
        "Ed25519",
        KeyAlgorithm::Ed25519,
    ),
    (iana::Algorithm::ES384 as i64, "ES384", KeyAlgorithm::P384),
];

/// The `alg` value airlock writes for a key algorithm.
pub fn alg_for(key: KeyAlgorithm) -> i64 {
    match key {
        KeyAlgorithm::Ed25519 => iana::Algorithm::EdDSA as i64,
        KeyAlgorithm::P384 => iana::Algorithm::ES384 as i64,
    }
}

/// Why an envelope was refused. Each failure has its own variant.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum EnvelopeError {
    /// The envelope is larger than `max_envelope_bytes`.
    #[error("envelope is {size} bytes, over the {limit}-byte limit (max_envelope_bytes)")]
    TooLarge {
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// Not well-formed CBOR, or not the COSE_Sign1 structure.
    #[error("envelope is not a well-formed COSE_Sign1 message: {0}")]
    Malformed(String),
    /// Bytes follow the CBOR item.
    #[error("envelope has {0} trailing bytes after the COSE_Sign1 message")]
    TrailingBytes(u64),
    /// A COSE_Sign1 without its tag.
    #[error("envelope is an untagged COSE_Sign1; a COSE_Sign1_Tagged (tag 18) is required")]
    Untagged,
    /// A tag other than 18.
    #[error("envelope has CBOR tag {0}; a COSE_Sign1_Tagged (tag 18) is required")]
    WrongTag(u64),
    /// The payload is detached (nil).
    #[error("envelope has a detached (nil) payload; the payload must be embedded")]
    DetachedPayload,
    /// A required protected header is absent.
    #[error("protected header {0} is missing")]
    MissingHeader(&'static str),
    /// A header has the wrong type or value.
    #[error("protected header {label}: {reason}")]
    BadHeader {
        /// The header.
        label: String,
        /// What is wrong.
        reason: String,
    },
    /// A header that must be protected is in the unprotected bucket.
    #[error("header {0} is in the unprotected header; it must be protected")]
    Unprotected(String),
    /// `alg` names an algorithm airlock does not accept.
    #[error("unsupported signature algorithm {0} (accepted: EdDSA -8, Ed25519 -19, ES384 -35)")]
    UnsupportedAlgorithm(String),
    /// The signing scheme is not airlock's.
    #[error("unsupported signing scheme {0:?} (accepted: {SIGNING_SCHEME})")]
    UnsupportedScheme(String),
    /// `crit` lists a header airlock does not understand.
    #[error("critical header {0} is not understood")]
    UnknownCritical(String),
    /// `crit` is malformed or omits a header that must be critical.
    #[error("crit header: {0}")]
    BadCrit(String),
    /// `cty` is not the payload type.
    #[error("content type {0:?} is not {PAYLOAD_CONTENT_TYPE}")]
    ContentType(String),
    /// The key given has another id than the envelope's `kid`.
    #[error("envelope was signed by key {header}, not by the given key {key}")]
    KeyMismatch {
        /// The envelope's kid.
        header: KeyId,
        /// The key's id.
        key: KeyId,
    },
    /// `alg` does not match the key's type.
    #[error("algorithm {header} does not match the {key} key")]
    AlgorithmMismatch {
        /// The envelope's alg.
        header: String,
        /// The key's algorithm.
        key: KeyAlgorithm,
    },
    /// The signature is malformed or does not verify.
    #[error("{0}")]
    Signature(String),
    /// The payload is not `{"targetArtifact": descriptor}`.
    #[error("payload is not a valid targetArtifact document: {0}")]
    Payload(String),
    /// The payload's descriptor differs from the target.
    #[error("signed {field} {signed} differs from the target's {target}")]
    TargetMismatch {
        /// `digest`, `size` or `mediaType`.
        field: &'static str,
        /// What the payload says.
        signed: String,
        /// What the target is.
        target: String,
    },
    /// The signature's expiry has passed.
    #[error("signature expired at {}, it is now {}", format_rfc3339(*expiry), format_rfc3339(*now))]
    Expired {
        /// The expiry.
        expiry: Seconds,
        /// The time of the check.
        now: Seconds,
    },
}

impl EnvelopeError {
    /// A short machine-readable name of the failure, used in JSON reports and test vectors.
    pub fn code(&self) -> &'static str {
        match self {
            EnvelopeError::TooLarge { .. } => "too-large",
            EnvelopeError::Malformed(_) => "malformed",
            EnvelopeError::TrailingBytes(_) => "trailing-bytes",
            EnvelopeError::Untagged => "untagged",
            EnvelopeError::WrongTag(_) => "wrong-tag",
            EnvelopeError::DetachedPayload => "detached-payload",
            EnvelopeError::MissingHeader(_) => "missing-header",
            EnvelopeError::BadHeader { .. } => "bad-header",
            EnvelopeError::Unprotected(_) => "unprotected-header",
            EnvelopeError::UnsupportedAlgorithm(_) => "unsupported-algorithm",
            EnvelopeError::UnsupportedScheme(_) => "unsupported-scheme",
            EnvelopeError::UnknownCritical(_) => "unknown-critical",
            EnvelopeError::BadCrit(_) => "bad-crit",
            EnvelopeError::ContentType(_) => "content-type",
            EnvelopeError::KeyMismatch { .. } => "key-mismatch",
            EnvelopeError::AlgorithmMismatch { .. } => "algorithm-mismatch",
            EnvelopeError::Signature(_) => "bad-signature",
            EnvelopeError::Payload(_) => "payload",
            EnvelopeError::TargetMismatch { .. } => "target-mismatch",
            EnvelopeError::Expired { .. } => "expired",
        }
    }
}

/// The descriptor a signature is about: what its payload names and what it is checked against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The target manifest's media type.
    pub media_type: String,
    /// Its digest.
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
}

/// What to put in a new envelope besides the key and target.
#[derive(Clone, Debug)]
pub struct SignOptions {
    /// The signing time (untrusted, informational).
    pub signing_time: Seconds,
    /// An optional expiry, after which verification fails.
    pub expiry: Option<Seconds>,
    /// The `signingAgent` written to the unprotected header.
    pub agent: Option<String>,
}

/// The payload bytes for `target`: `{"targetArtifact":{"digest":…,"mediaType":…,"size":…}}`.
pub fn payload_bytes(target: &Target) -> Vec<u8> {
    let doc = json!({ "targetArtifact": {
        "mediaType": target.media_type,
        "digest": target.digest.to_string(),
        "size": target.size,
    }});
    // serde_json writes object keys sorted (no preserve_order), so the bytes are deterministic.
    doc.to_string().into_bytes()
}

fn epoch(t: Seconds) -> Value {
    Value::Tag(1, Box::new(Value::Integer(t.into())))
}

/// Signs `target` with `key`, returning the `COSE_Sign1_Tagged` bytes.
pub fn sign(
    key: &PrivateKey,
    target: &Target,
    options: &SignOptions,
) -> Result<Vec<u8>, EnvelopeError> {
    let scheme = RegisteredLabelWithPrivate::Text(LABEL_SIGNING_SCHEME.to_owned());
    let mut protected = HeaderBuilder::new()
        .algorithm_label(RegisteredLabelWithPrivate::Assigned(
            alg_enum(alg_for(key.algorithm()))
                .ok_or_else(|| EnvelopeError::UnsupportedAlgorithm(key.algorithm().to_string()))?,
        ))
        .add_critical_label(scheme)
        .content_type(PAYLOAD_CONTENT_TYPE.to_owned())
        .key_id(key.id().to_string().into_bytes())
        .text_value(
            LABEL_SIGNING_SCHEME.to_owned(),
            Value::Text(SIGNING_SCHEME.to_owned()),
        )
        .text_value(LABEL_SIGNING_TIME.to_owned(), epoch(options.signing_time));
    if let Some(expiry) = options.expiry {
        protected = protected
            .add_critical_label(RegisteredLabelWithPrivate::Text(LABEL_EXPIRY.to_owned()))
            .text_value(LABEL_EXPIRY.to_owned(), epoch(expiry));
    }
    let mut unprotected = HeaderBuilder::new();
    if let Some(agent) = &options.agent {
        unprotected =
            unprotected.text_value(LABEL_SIGNING_AGENT.to_owned(), Value::Text(agent.clone()));
    }
    let sign1 = CoseSign1Builder::new()
        .protected(protected.build())
        .unprotected(unprotected.build())
        .payload(payload_bytes(target))
        .create_signature(b"", |tbs| key.sign(tbs))
        .build();
    sign1
        .to_tagged_vec()
        .map_err(|e| EnvelopeError::Malformed(format!("cannot encode: {e}")))
}

fn alg_enum(value: i64) -> Option<iana::Algorithm> {
    use coset::iana::EnumI64;
    iana::Algorithm::from_i64(value)
}

/// A parsed envelope whose structure and headers are valid; its signature is not yet checked.
#[derive(Clone, Debug)]
pub struct Envelope {
    sign1: CoseSign1,
    alg: i64,
    key_id: KeyId,
    signing_time: Seconds,
    expiry: Option<Seconds>,
}

impl Envelope {
    /// Parses `bytes`, refusing anything over `max_bytes`, untagged or wrongly tagged messages,
    /// trailing bytes, and missing, malformed, unprotected or unknown critical headers.
    pub fn parse(bytes: &[u8], max_bytes: u64) -> Result<Envelope, EnvelopeError> {
        if bytes.len() as u64 > max_bytes {
            return Err(EnvelopeError::TooLarge {
                size: bytes.len() as u64,
                limit: max_bytes,
            });
        }
        let mut cursor = Cursor::new(bytes);
        let value: Value = ciborium::de::from_reader(&mut cursor)
            .map_err(|e| EnvelopeError::Malformed(e.to_string()))?;
        let used = cursor.position();
        if used < bytes.len() as u64 {
            return Err(EnvelopeError::TrailingBytes(bytes.len() as u64 - used));
        }
        let inner = match value {
            Value::Tag(COSE_SIGN1_TAG, inner) => *inner,
            Value::Tag(other, _) => return Err(EnvelopeError::WrongTag(other)),
            Value::Array(_) => return Err(EnvelopeError::Untagged),
            _ => return Err(EnvelopeError::Malformed("not a tagged array".into())),
        };
        if matches!(&inner, Value::Tag(..)) {
            return Err(EnvelopeError::Malformed(
                "nested tags around the COSE_Sign1 array".into(),
            ));
        }
        let sign1 = CoseSign1::from_cbor_value(inner)
            .map_err(|e| EnvelopeError::Malformed(e.to_string()))?;
        if sign1.payload.is_none() {
            return Err(EnvelopeError::DetachedPayload);
        }
        check_unprotected(&sign1.unprotected)?;
        let h = &sign1.protected.header;
        let alg = match &h.alg {
            None => return Err(EnvelopeError::MissingHeader("alg (1)")),
            Some(RegisteredLabelWithPrivate::Assigned(a)) => *a as i64,
            Some(RegisteredLabelWithPrivate::PrivateUse(v)) => v.to_owned(),
            Some(RegisteredLabelWithPrivate::Text(t)) => {
                return Err(EnvelopeError::UnsupportedAlgorithm(format!("{t:?}")));
            }
        };
        if !ALGORITHMS.iter().any(|(v, _, _)| *v == alg) {
            return Err(EnvelopeError::UnsupportedAlgorithm(alg.to_string()));
        }
        check_crit(h)?;
        match &h.content_type {
            None => return Err(EnvelopeError::MissingHeader("cty (3)")),
            Some(coset::ContentType::Text(t)) if t == PAYLOAD_CONTENT_TYPE => {}
            Some(coset::ContentType::Text(t)) => return Err(EnvelopeError::ContentType(t.clone())),
            Some(coset::ContentType::Assigned(a)) => {
                return Err(EnvelopeError::ContentType(format!(
                    "CoAP {}",
                    a.to_owned() as i64
                )));
            }
        }
        if h.key_id.is_empty() {
            return Err(EnvelopeError::MissingHeader("kid (4)"));
        }
        let key_id = std::str::from_utf8(&h.key_id)
            .ok()
            .and_then(|s| s.parse::<KeyId>().ok())
            .ok_or_else(|| EnvelopeError::BadHeader {
                label: "kid (4)".into(),
                reason: "not the bytes of a key id sha256:<64 hex>".into(),
            })?;
        match text_header(h, LABEL_SIGNING_SCHEME) {
            None => return Err(EnvelopeError::MissingHeader(LABEL_SIGNING_SCHEME)),
            Some(Value::Text(t)) if t == SIGNING_SCHEME => {}
            Some(Value::Text(t)) => return Err(EnvelopeError::UnsupportedScheme(t.clone())),
            Some(_) => {
                return Err(EnvelopeError::BadHeader {
                    label: LABEL_SIGNING_SCHEME.into(),
                    reason: "not a text string".into(),
                });
            }
        }
        let signing_time = match text_header(h, LABEL_SIGNING_TIME) {
            None => return Err(EnvelopeError::MissingHeader(LABEL_SIGNING_TIME)),
            Some(v) => epoch_value(LABEL_SIGNING_TIME, v)?,
        };
        let expiry = text_header(h, LABEL_EXPIRY)
            .map(|v| epoch_value(LABEL_EXPIRY, v))
            .transpose()?;
        Ok(Envelope {
            sign1,
            alg,
            key_id,
            signing_time,
            expiry,
        })
    }

    /// The `kid`: which key signed.
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// The COSE `alg` value.
    pub fn alg(&self) -> i64 {
        self.alg
    }

    /// The algorithm's name (`EdDSA`, `Ed25519`, `ES384`).
    pub fn alg_name(&self) -> &'static str {
        ALGORITHMS
            .iter()
            .find(|(v, _, _)| *v == self.alg)
            .map_or("?", |(_, n, _)| n)
    }

    /// The key algorithm `alg` requires.
    pub fn key_algorithm(&self) -> Option<KeyAlgorithm> {
        ALGORITHMS
            .iter()
            .find(|(v, _, _)| *v == self.alg)
            .map(|(_, _, k)| *k)
    }

    /// The signing time the signer claims (untrusted).
    pub fn signing_time(&self) -> Seconds {
        self.signing_time
    }

    /// The expiry, if any.
    pub fn expiry(&self) -> Option<Seconds> {
        self.expiry
    }

    /// The raw payload bytes (untrusted until [`Envelope::verify`] succeeds).
    pub fn payload(&self) -> &[u8] {
        self.sign1.payload.as_deref().unwrap_or_default()
    }

    /// Checks, in order: the key is the one `kid` names, `alg` matches the key's type, the
    /// signature over the `Sig_structure` (with the protected header's original bytes) verifies,
    /// the payload names exactly `target`, and the signature has not expired at `now`.
    pub fn verify(
        &self,
        key: &PublicKey,
        target: &Target,
        now: Seconds,
    ) -> Result<(), EnvelopeError> {
        if key.id() != self.key_id {
            return Err(EnvelopeError::KeyMismatch {
                header: self.key_id,
                key: key.id(),
            });
        }
        if self.key_algorithm() != Some(key.algorithm()) {
            return Err(EnvelopeError::AlgorithmMismatch {
                header: self.alg_name().to_owned(),
                key: key.algorithm(),
            });
        }
        self.verify_signature(key)?;
        let signed = parse_payload(self.payload())?;
        if signed.digest != target.digest {
            return Err(EnvelopeError::TargetMismatch {
                field: "digest",
                signed: signed.digest.to_string(),
                target: target.digest.to_string(),
            });
        }
        if signed.size != target.size {
            return Err(EnvelopeError::TargetMismatch {
                field: "size",
                signed: signed.size.to_string(),
                target: target.size.to_string(),
            });
        }
        if signed.media_type != target.media_type {
            return Err(EnvelopeError::TargetMismatch {
                field: "mediaType",
                signed: signed.media_type,
                target: target.media_type.clone(),
            });
        }
        if let Some(expiry) = self.expiry
            && expiry <= now
        {
            return Err(EnvelopeError::Expired { expiry, now });
        }
        Ok(())
    }

    /// Only the cryptographic check: the signature over the `Sig_structure` with `key`.
    pub fn verify_signature(&self, key: &PublicKey) -> Result<(), EnvelopeError> {
        self.sign1
            .verify_signature(b"", |sig, tbs| key.verify(tbs, sig))
            .map_err(|e: KeyError| EnvelopeError::Signature(e.to_string()))
    }
}

fn text_header<'a>(h: &'a Header, label: &str) -> Option<&'a Value> {
    h.rest
        .iter()
        .find(|(l, _)| matches!(l, Label::Text(t) if t == label))
        .map(|(_, v)| v)
}

fn epoch_value(label: &str, v: &Value) -> Result<Seconds, EnvelopeError> {
    let bad = |reason: &str| EnvelopeError::BadHeader {
        label: label.to_owned(),
        reason: reason.to_owned(),
    };
    match v {
        Value::Tag(1, inner) => match inner.as_ref() {
            Value::Integer(i) => i64::try_from(*i).map_err(|_| bad("time out of range")),
            Value::Float(_) => Err(bad("fractional seconds are not accepted")),
            _ => Err(bad("tag 1 does not hold an integer")),
        },
        _ => Err(bad("not an epoch-based date/time (tag 1 and an integer)")),
    }
}

/// Header labels airlock understands when they are listed in `crit`.
const UNDERSTOOD_CRITICAL: &[&str] = &[LABEL_SIGNING_SCHEME, LABEL_SIGNING_TIME, LABEL_EXPIRY];

fn label_name(l: &RegisteredLabelWithPrivate<iana::HeaderParameter>) -> String {
    match l {
        RegisteredLabelWithPrivate::Assigned(a) => (*a as i64).to_string(),
        RegisteredLabelWithPrivate::PrivateUse(v) => v.to_string(),
        RegisteredLabelWithPrivate::Text(t) => t.clone(),
    }
}

fn check_crit(h: &Header) -> Result<(), EnvelopeError> {
    if h.crit.is_empty() {
        return Err(EnvelopeError::MissingHeader("crit (2)"));
    }
    let mut listed = Vec::new();
    for l in &h.crit {
        let name = label_name(l);
        if listed.contains(&name) {
            return Err(EnvelopeError::BadCrit(format!("{name} is listed twice")));
        }
        match l {
            RegisteredLabelWithPrivate::Text(t) => {
                if !UNDERSTOOD_CRITICAL.contains(&t.as_str()) {
                    return Err(EnvelopeError::UnknownCritical(t.clone()));
                }
                if text_header(h, t).is_none() {
                    return Err(EnvelopeError::BadCrit(format!("{t} is listed but absent")));
                }
            }
            RegisteredLabelWithPrivate::Assigned(a) if (0..=8).contains(&(*a as i64)) => {
                return Err(EnvelopeError::BadCrit(format!(
                    "label {name} is a core header and must not be listed"
                )));
            }
            _ => return Err(EnvelopeError::UnknownCritical(name)),
        }
        listed.push(name);
    }
    if !listed.iter().any(|n| n == LABEL_SIGNING_SCHEME) {
        return Err(EnvelopeError::BadCrit(format!(
            "{LABEL_SIGNING_SCHEME} must be critical"
        )));
    }
    if text_header(h, LABEL_EXPIRY).is_some() && !listed.iter().any(|n| n == LABEL_EXPIRY) {
        return Err(EnvelopeError::BadCrit(format!(
            "{LABEL_EXPIRY} is present but not critical"
        )));
    }
    Ok(())
}

fn check_unprotected(h: &Header) -> Result<(), EnvelopeError> {
    let named = |n: &str| Err(EnvelopeError::Unprotected(n.to_owned()));
    if h.alg.is_some() {
        return named("alg (1)");
    }
    if !h.crit.is_empty() {
        return named("crit (2)");
    }
    if h.content_type.is_some() {
        return named("cty (3)");
    }
    if !h.key_id.is_empty() {
        return named("kid (4)");
    }
    for label in [LABEL_SIGNING_SCHEME, LABEL_SIGNING_TIME, LABEL_EXPIRY] {
        if text_header(h, label).is_some() {
            return named(label);
        }
    }
    Ok(())
}

/// Fields a `targetArtifact` descriptor may have.
const TARGET_FIELDS: &[&str] = &["mediaType", "digest", "size", "annotations", "artifactType"];

/// Reads the payload `{"targetArtifact": descriptor}` strictly.
pub fn parse_payload(bytes: &[u8]) -> Result<Target, EnvelopeError> {
    let bad = |m: String| EnvelopeError::Payload(m);
    crate::json::check_keys(bytes).map_err(bad)?;
    let doc: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
    let top = doc
        .as_object()
        .ok_or_else(|| bad("not a JSON object".into()))?;
    if let Some(k) = top.keys().find(|k| *k != "targetArtifact") {
        return Err(bad(format!("unknown field {k:?}")));
    }
    let t = top
        .get("targetArtifact")
        .and_then(|v| v.as_object())
        .ok_or_else(|| bad("targetArtifact is missing or not an object".into()))?;
    if let Some(k) = t.keys().find(|k| !TARGET_FIELDS.contains(&k.as_str())) {
        return Err(bad(format!("unknown targetArtifact field {k:?}")));
    }
    let media_type = t
        .get("mediaType")
        .and_then(|v| v.as_str())
        .ok_or_else(|| bad("targetArtifact.mediaType is missing or not a string".into()))?;
    let digest = t
        .get("digest")
        .and_then(|v| v.as_str())
        .ok_or_else(|| bad("targetArtifact.digest is missing or not a string".into()))?
        .parse::<Digest>()
        .map_err(|e| bad(format!("targetArtifact.digest: {e}")))?;
    let size = t
        .get("size")
        .and_then(|v| v.as_u64())
        .filter(|s| i64::try_from(*s).is_ok())
        .ok_or_else(|| bad("targetArtifact.size is missing or not a non-negative int64".into()))?;
    Ok(Target {
        media_type: media_type.to_owned(),
        digest,
        size,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Target {
        Target {
            media_type: crate::media::OCI_MANIFEST.into(),
            digest: Digest::sha256_of(b"manifest"),
            size: 8,
        }
    }

    fn opts() -> SignOptions {
        SignOptions {
            signing_time: 1_700_000_000,
            expiry: None,
            agent: Some("airlock/test".into()),
        }
    }

    #[test]
    fn sign_then_verify_both_algorithms() {
        for alg in KeyAlgorithm::ALL {
            let key = PrivateKey::generate(*alg).unwrap();
            let bytes = sign(&key, &target(), &opts()).unwrap();
            assert_eq!(bytes[0], 0xd2, "tag 18");
            let env = Envelope::parse(&bytes, 64 * 1024).unwrap();
            assert_eq!(env.key_id(), key.id());
            assert_eq!(env.signing_time(), 1_700_000_000);
            env.verify(key.public(), &target(), 1_700_000_001).unwrap();
            let other = PrivateKey::generate(*alg).unwrap();
            assert_eq!(
                env.verify(other.public(), &target(), 0).unwrap_err().code(),
                "key-mismatch"
            );
        }
    }

    #[test]
    fn ed25519_envelopes_are_deterministic() {
        let key = PrivateKey::from_ed25519_seed(&[7; 32]).unwrap();
        assert_eq!(
            sign(&key, &target(), &opts()).unwrap(),
            sign(&key, &target(), &opts()).unwrap()
        );
    }

    #[test]
    fn expiry_and_target_are_enforced() {
        let key = PrivateKey::generate(KeyAlgorithm::Ed25519).unwrap();
        let o = SignOptions {
            expiry: Some(1_700_000_100),
            ..opts()
        };
        let env = Envelope::parse(&sign(&key, &target(), &o).unwrap(), 1 << 16).unwrap();
        env.verify(key.public(), &target(), 1_700_000_099).unwrap();
        assert_eq!(
            env.verify(key.public(), &target(), 1_700_000_100)
                .unwrap_err()
                .code(),
            "expired"
        );
        for (field, t) in [
            (
                "digest",
                Target {
                    digest: Digest::sha256_of(b"other"),
                    ..target()
                },
            ),
            (
                "size",
                Target {
                    size: 9,
                    ..target()
                },
            ),
            (
                "mediaType",
                Target {
                    media_type: crate::media::OCI_INDEX.into(),
                    ..target()
                },
            ),
        ] {
            match env.verify(key.public(), &t, 0) {
                Err(EnvelopeError::TargetMismatch { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: {other:?}"),
            }
        }
    }

    #[test]
    fn structure_errors_have_their_own_codes() {
        let key = PrivateKey::generate(KeyAlgorithm::Ed25519).unwrap();
        let good = sign(&key, &target(), &opts()).unwrap();
        let code = |b: &[u8]| Envelope::parse(b, 1 << 16).unwrap_err().code();
        assert_eq!(code(&good[1..]), "untagged");
        assert_eq!(code(&[&[0xd1][..], &good[1..]].concat()), "wrong-tag");
        assert_eq!(code(&[&good[..], &[0x00][..]].concat()), "trailing-bytes");
        assert_eq!(Envelope::parse(&good, 10).unwrap_err().code(), "too-large");
        assert_eq!(code(&good[..good.len() - 1]), "malformed");
    }

    #[test]
    fn payload_is_read_strictly() {
        assert!(parse_payload(&payload_bytes(&target())).is_ok());
        for bad in [
            &br#"{"targetArtifact":{"mediaType":"a/b","digest":"sha256:00","size":1}}"#[..],
            br#"{"targetArtifact":{"mediaType":"a/b","size":1}}"#,
            br#"{"targetArtifact":{"mediaType":"a/b","digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000","size":-1}}"#,
            br#"{"targetArtifact":{},"extra":1}"#,
            br#"{"targetArtifact":{"MediaType":"a/b"}}"#,
            br#"[]"#,
        ] {
            assert!(parse_payload(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }
}
