//! The signed form shared by trust roots and revocation snapshots: a `COSE_Sign_Tagged` message
//! (RFC 9052 §4.1, tag 98) whose payload is a deterministic CBOR document and which any number
//! of keys sign, each adding one `COSE_Signature`.
//!
//! Spec: `formats/trust-root.md`, section "Signed document". Parsing checks the structure
//! without keys; [`SignedDocument::count`] then verifies the signatures of one role's keys and
//! enforces its threshold, counting distinct keys.

use std::collections::BTreeMap;
use std::fmt;

use coset::{
    CborSerializable, CoseSign, CoseSignature, CoseSignatureBuilder, Header, HeaderBuilder,
    RegisteredLabelWithPrivate, TaggedCborSerializable, iana,
};

use super::TrustError;
use super::root::Role;
use crate::digest::Digest;
use crate::key::{KeyId, PrivateKey, PublicKey};
use crate::limits::Limits;
use crate::signature::envelope::{ALGORITHMS, alg_for};

/// Which document a signed file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DocKind {
    /// A trust root (`formats/trust-root.md`).
    Root,
    /// A revocation snapshot (`formats/revocation.md`).
    Revocation,
}

impl DocKind {
    /// The body's protected content type (`cty`, label 3).
    pub fn content_type(self) -> &'static str {
        match self {
            DocKind::Root => "application/vnd.airlock.trust-root.v1+cbor",
            DocKind::Revocation => "application/vnd.airlock.revocation.v1+cbor",
        }
    }

    /// The payload's `type` field.
    pub fn type_name(self) -> &'static str {
        match self {
            DocKind::Root => "airlock.trust-root.v1",
            DocKind::Revocation => "airlock.revocation.v1",
        }
    }

    fn from_content_type(ct: &str) -> Option<DocKind> {
        [DocKind::Root, DocKind::Revocation]
            .into_iter()
            .find(|k| k.content_type() == ct)
    }
}

impl fmt::Display for DocKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DocKind::Root => "trust root",
            DocKind::Revocation => "revocation snapshot",
        })
    }
}

/// A parsed signed document: its payload is not yet interpreted and no signature is checked.
#[derive(Clone, Debug)]
pub struct SignedDocument {
    kind: DocKind,
    sign: CoseSign,
    signers: Vec<KeyId>,
}

impl SignedDocument {
    /// A document of `kind` over `payload` (already deterministic CBOR) with no signatures yet.
    pub fn new(kind: DocKind, payload: Vec<u8>) -> SignedDocument {
        let protected = HeaderBuilder::new()
            .content_type(kind.content_type().to_owned())
            .build();
        let mut sign = CoseSign {
            payload: Some(payload),
            ..CoseSign::default()
        };
        sign.protected = coset::ProtectedHeader {
            original_data: None,
            header: protected,
        };
        SignedDocument {
            kind,
            sign,
            signers: Vec::new(),
        }
    }

    /// Parses `bytes` as a signed document, of `expected` kind when given. Refuses anything over
    /// `max_trust_document_bytes`, any encoding but the one airlock writes (protected headers
    /// included: deterministic CBOR holding exactly the labels airlock writes), unknown headers,
    /// more than `max_trust_signatures` signatures and two signatures by one key.
    pub fn parse(
        bytes: &[u8],
        expected: Option<DocKind>,
        limits: &Limits,
    ) -> Result<SignedDocument, TrustError> {
        let guess = expected.unwrap_or(DocKind::Root);
        if bytes.len() as u64 > limits.max_trust_document_bytes {
            return Err(TrustError::TooLarge {
                what: guess,
                detail: format!(
                    "{} bytes, more than max_trust_document_bytes ({})",
                    bytes.len(),
                    limits.max_trust_document_bytes
                ),
            });
        }
        let bad = |reason: String| TrustError::Malformed {
            what: guess,
            reason,
        };
        // Scan first: bounded nesting and item count, and every head in its shortest form,
        // before coset builds anything (so the whole message need not be re-encoded to compare).
        super::cbor::scan(bytes, super::cbor::item_cap(limits)).map_err(|e| match e {
            super::cbor::CborError::NonCanonical => TrustError::NonCanonical { what: guess },
            super::cbor::CborError::Malformed(m) => bad(m),
        })?;
        let sign = CoseSign::from_tagged_slice(bytes)
            .map_err(|e| bad(format!("not a COSE_Sign_Tagged message: {e}")))?;
        let ct = match &sign.protected.header.content_type {
            Some(coset::ContentType::Text(t)) => t.clone(),
            Some(coset::ContentType::Assigned(a)) => format!("CoAP {}", *a as i64),
            None => return Err(bad("the protected header has no content type (3)".into())),
        };
        let kind = DocKind::from_content_type(&ct).ok_or_else(|| TrustError::WrongType {
            expected: guess,
            found: format!("content type {ct:?}"),
        })?;
        if let Some(e) = expected
            && e != kind
        {
            return Err(TrustError::WrongType {
                expected: e,
                found: format!("a {kind}"),
            });
        }
        let bad = |reason: String| TrustError::Malformed { what: kind, reason };
        check_protected_bytes(
            sign.protected.original_data.as_deref(),
            &[3],
            "the protected header",
        )
        .map_err(|e| match e {
            Protected::NonCanonical => TrustError::NonCanonical { what: kind },
            Protected::Bad(r) => bad(r),
        })?;
        let body = Header {
            content_type: None,
            ..sign.protected.header.clone()
        };
        if body != Header::default() {
            return Err(bad(
                "the protected header has fields other than the content type".into(),
            ));
        }
        if sign.unprotected != Header::default() {
            return Err(bad("the unprotected header is not empty".into()));
        }
        match &sign.payload {
            None => return Err(bad("the payload is detached".into())),
            Some(p) if p.is_empty() => return Err(bad("the payload is empty".into())),
            Some(_) => {}
        }
        if sign.signatures.len() > limits.max_trust_signatures {
            return Err(TrustError::TooLarge {
                what: kind,
                detail: format!(
                    "{} signatures, more than max_trust_signatures ({})",
                    sign.signatures.len(),
                    limits.max_trust_signatures
                ),
            });
        }
        let mut signers: Vec<KeyId> = Vec::with_capacity(sign.signatures.len());
        for (i, s) in sign.signatures.iter().enumerate() {
            check_protected_bytes(
                s.protected.original_data.as_deref(),
                &[1, 4],
                &format!("signature {i}'s protected header"),
            )
            .map_err(|e| match e {
                Protected::NonCanonical => TrustError::NonCanonical { what: kind },
                Protected::Bad(r) => bad(r),
            })?;
            let key = signature_header(s).map_err(|r| bad(format!("signature {i}: {r}")))?;
            if signers.contains(&key) {
                return Err(TrustError::DuplicateSignature { what: kind, key });
            }
            signers.push(key);
        }
        let doc = SignedDocument {
            kind,
            sign,
            signers,
        };
        // Every head is in its shortest form (the scan), the protected headers are checked
        // maps, the unprotected ones empty, and the array shapes fixed by COSE: the message is
        // exactly what `to_vec` would write, without building a second copy to compare.
        debug_assert!(doc.to_vec() == bytes);
        Ok(doc)
    }

    /// The document kind.
    pub fn kind(&self) -> DocKind {
        self.kind
    }

    /// The payload: the document's deterministic CBOR.
    pub fn payload(&self) -> &[u8] {
        self.sign.payload.as_deref().unwrap_or_default()
    }

    /// The keys that signed, in the order their signatures appear.
    pub fn signers(&self) -> &[KeyId] {
        &self.signers
    }

    /// The file's bytes.
    pub fn to_vec(&self) -> Vec<u8> {
        // Every CoseSign airlock holds was built or parsed by coset and re-encodes.
        self.sign.clone().to_tagged_vec().unwrap_or_default()
    }

    /// The SHA-256 of the file's bytes, as pinned out of band.
    pub fn digest(&self) -> Digest {
        Digest::sha256_of(&self.to_vec())
    }

    /// Adds `key`'s signature. A key signs a document once.
    pub fn add_signature(&mut self, key: &PrivateKey) -> Result<(), TrustError> {
        if self.signers.contains(&key.id()) {
            return Err(TrustError::AlreadySigned {
                what: self.kind,
                key: key.id(),
            });
        }
        let alg = alg_for(key.algorithm());
        let protected = HeaderBuilder::new()
            .algorithm_label(RegisteredLabelWithPrivate::Assigned(alg_enum(alg)))
            .key_id(key.id().to_string().into_bytes())
            .build();
        let mut sig = CoseSignatureBuilder::new().protected(protected).build();
        let tbs = self.sign.tbs_data(b"", &sig);
        sig.signature = key.sign(&tbs);
        // Re-read the signature as a parser would, so its protected bytes are fixed.
        let sig = CoseSignature::from_slice(&sig.to_vec().unwrap_or_default()).map_err(|e| {
            TrustError::Malformed {
                what: self.kind,
                reason: format!("cannot encode the signature: {e}"),
            }
        })?;
        self.sign.signatures.push(sig);
        self.signers.push(key.id());
        Ok(())
    }

    /// Verifies the signatures of `role`'s keys (public keys from `keys`) and returns the
    /// distinct keys whose signatures verified, when they meet the role's threshold.
    ///
    /// A signature by a key of the role that does not verify is an error, never skipped.
    /// Signatures by other keys are not counted; when none of the role's keys signed but others
    /// did, the error is [`TrustError::WrongRole`] (mix-and-match), otherwise
    /// [`TrustError::Threshold`]. `version` and `role_label` only name things in errors.
    pub fn count(
        &self,
        version: u64,
        role: &Role,
        keys: &BTreeMap<KeyId, PublicKey>,
        role_label: &str,
    ) -> Result<Vec<KeyId>, TrustError> {
        let mut valid = Vec::new();
        let mut outside = Vec::new();
        for (s, id) in self.sign.signatures.iter().zip(&self.signers) {
            let Some(key) = keys.get(id).filter(|_| role.keys.contains(id)) else {
                outside.push(*id);
                continue;
            };
            let alg = signature_alg(s);
            let fail = |reason: String| TrustError::InvalidSignature {
                what: self.kind,
                version,
                key: *id,
                reason,
            };
            if !ALGORITHMS
                .iter()
                .any(|(v, _, k)| Some(*v) == alg && *k == key.algorithm())
            {
                return Err(fail(format!(
                    "its algorithm does not match the {} key",
                    key.algorithm()
                )));
            }
            let tbs = self.sign.tbs_data(b"", s);
            key.verify(&tbs, &s.signature)
                .map_err(|e| fail(e.to_string()))?;
            valid.push(*id);
        }
        if valid.len() >= role.threshold {
            return Ok(valid);
        }
        if valid.is_empty() && !outside.is_empty() {
            return Err(TrustError::WrongRole {
                what: self.kind,
                version,
                role: role_label.to_owned(),
                needed: role.threshold,
                found: 0,
                outside,
            });
        }
        Err(TrustError::Threshold {
            what: self.kind,
            version,
            role: role_label.to_owned(),
            needed: role.threshold,
            found: valid.len(),
            signed_by: valid,
        })
    }
}

enum Protected {
    NonCanonical,
    Bad(String),
}

/// A protected header as received must be a deterministically encoded map whose integer labels
/// are exactly `labels` (so no label hides behind an empty value coset would read as absent).
fn check_protected_bytes(
    bytes: Option<&[u8]>,
    labels: &[i64],
    what: &str,
) -> Result<(), Protected> {
    let bytes = bytes.ok_or_else(|| Protected::Bad(format!("{what} is missing")))?;
    let value = super::cbor::decode(bytes, 64).map_err(|e| match e {
        super::cbor::CborError::NonCanonical => Protected::NonCanonical,
        super::cbor::CborError::Malformed(m) => Protected::Bad(format!("{what}: {m}")),
    })?;
    let ciborium::Value::Map(entries) = value else {
        return Err(Protected::Bad(format!("{what} is not a map")));
    };
    let found: Vec<Option<i64>> = entries
        .iter()
        .map(|(k, _)| match k {
            ciborium::Value::Integer(i) => i64::try_from(*i).ok(),
            _ => None,
        })
        .collect();
    let mut expected: Vec<Option<i64>> = labels.iter().map(|l| Some(*l)).collect();
    let mut sorted = found.clone();
    sorted.sort();
    expected.sort();
    if sorted != expected {
        return Err(Protected::Bad(format!(
            "{what} must hold exactly the labels {labels:?}"
        )));
    }
    Ok(())
}

fn alg_enum(value: i64) -> iana::Algorithm {
    use coset::iana::EnumI64;
    // alg_for only returns registered values.
    iana::Algorithm::from_i64(value).unwrap_or(iana::Algorithm::EdDSA)
}

fn signature_alg(s: &CoseSignature) -> Option<i64> {
    match &s.protected.header.alg {
        Some(RegisteredLabelWithPrivate::Assigned(a)) => Some(*a as i64),
        Some(RegisteredLabelWithPrivate::PrivateUse(v)) => Some(*v),
        _ => None,
    }
}

/// Checks one signature's headers: protected `alg` (one airlock accepts) and `kid` (a key id),
/// nothing else; an empty unprotected header; a non-empty signature.
fn signature_header(s: &CoseSignature) -> Result<KeyId, String> {
    let h = &s.protected.header;
    let alg = signature_alg(s).ok_or("no algorithm (1) in the protected header")?;
    if !ALGORITHMS.iter().any(|(v, _, _)| *v == alg) {
        return Err(format!("unsupported algorithm {alg}"));
    }
    let key = std::str::from_utf8(&h.key_id)
        .ok()
        .and_then(|k| k.parse::<KeyId>().ok())
        .ok_or("the key id (4) is not sha256:<64 hex>")?;
    let rest = Header {
        alg: None,
        key_id: Vec::new(),
        ..h.clone()
    };
    if rest != Header::default() {
        return Err("the protected header has fields other than alg and kid".into());
    }
    if s.unprotected != Header::default() {
        return Err("the unprotected header is not empty".into());
    }
    if s.signature.is_empty() {
        return Err("the signature is empty".into());
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use ciborium::Value;

    use super::*;
    use crate::trust::cbor::{self, entry, uint};
    use crate::trust::root::tests::{key, p384, role};

    fn payload() -> Vec<u8> {
        cbor::encode(&Value::Map(vec![entry("n", uint(1))]))
    }

    fn doc(kind: DocKind, by: &[&PrivateKey]) -> SignedDocument {
        let mut d = SignedDocument::new(kind, payload());
        for k in by {
            d.add_signature(k).expect("each key signs once");
        }
        d
    }

    fn keys_of(keys: &[&PrivateKey]) -> BTreeMap<KeyId, PublicKey> {
        keys.iter().map(|k| (k.id(), k.public().clone())).collect()
    }

    fn parse(bytes: &[u8]) -> Result<SignedDocument, TrustError> {
        SignedDocument::parse(bytes, None, &Limits::default())
    }

    /// The bytes of `d` after `f` edited its COSE_Sign.
    fn edited(d: &SignedDocument, f: impl FnOnce(&mut CoseSign)) -> Vec<u8> {
        let mut sign = d.sign.clone();
        f(&mut sign);
        sign.to_tagged_vec().expect("encode")
    }

    fn code<T: fmt::Debug>(r: Result<T, TrustError>) -> &'static str {
        match r {
            Ok(v) => panic!("expected an error, got Ok({v:?})"),
            Err(e) => e.code(),
        }
    }

    /// One named edit of a document.
    type Edit = Box<dyn Fn(&mut CoseSign)>;

    #[test]
    fn round_trips_through_bytes() {
        let (ed, p) = (key(1), p384());
        let d = doc(DocKind::Revocation, &[&ed, &p]);
        let bytes = d.to_vec();
        assert_eq!(&bytes[..2], &[0xd8, 0x62], "COSE_Sign_Tagged (98)");
        let back = parse(&bytes).expect("parse");
        assert_eq!(back.kind(), DocKind::Revocation);
        assert_eq!(back.payload(), payload());
        assert_eq!(back.signers(), &[ed.id(), p.id()]);
        assert_eq!(back.to_vec(), bytes);
        assert_eq!(back.digest(), Digest::sha256_of(&bytes));
        let got = back
            .count(1, &role(&[&ed, &p], 2), &keys_of(&[&ed, &p]), "test")
            .expect("both verify");
        assert_eq!(got, vec![ed.id(), p.id()]);
        // Signing is deterministic (Ed25519, and P-384 with RFC 6979 nonces).
        assert_eq!(doc(DocKind::Revocation, &[&ed, &p]).to_vec(), bytes);
    }

    #[test]
    fn the_kind_comes_from_the_content_type() {
        let d = doc(DocKind::Root, &[&key(1)]).to_vec();
        let limits = Limits::default();
        assert_eq!(parse(&d).expect("any kind").kind(), DocKind::Root);
        let e = SignedDocument::parse(&d, Some(DocKind::Revocation), &limits)
            .expect_err("a root is not a snapshot");
        assert!(
            matches!(
                e,
                TrustError::WrongType {
                    expected: DocKind::Revocation,
                    ..
                }
            ),
            "{e:?}"
        );
        let other = edited(&doc(DocKind::Root, &[]), |s| {
            s.protected.header.content_type =
                Some(coset::ContentType::Text("application/cbor".into()));
        });
        assert_eq!(code(parse(&other)), "wrong-type");
        let coap = edited(&doc(DocKind::Root, &[]), |s| {
            s.protected.header.content_type =
                Some(coset::ContentType::Assigned(iana::CoapContentFormat::Cbor));
        });
        assert_eq!(code(parse(&coap)), "wrong-type");
    }

    #[test]
    fn sizes_and_signature_counts_are_limited() {
        let bytes = doc(DocKind::Root, &[&key(1), &key(2)]).to_vec();
        let small = Limits {
            max_trust_document_bytes: bytes.len() as u64 - 1,
            ..Limits::default()
        };
        assert_eq!(
            code(SignedDocument::parse(&bytes, None, &small)),
            "too-large"
        );
        let exact = Limits {
            max_trust_document_bytes: bytes.len() as u64,
            ..Limits::default()
        };
        SignedDocument::parse(&bytes, None, &exact).expect("at the limit");
        let one = Limits {
            max_trust_signatures: 1,
            ..Limits::default()
        };
        assert_eq!(code(SignedDocument::parse(&bytes, None, &one)), "too-large");
    }

    #[test]
    fn only_the_one_encoding_is_accepted() {
        let bytes = doc(DocKind::Root, &[&key(1)]).to_vec();
        // Tag 98 in a two-byte argument.
        let mut long_tag = vec![0xd9, 0x00, 0x62];
        long_tag.extend_from_slice(&bytes[2..]);
        assert_eq!(code(parse(&long_tag)), "non-canonical");
        // Untagged.
        assert_eq!(code(parse(&bytes[2..])), "malformed");
        // Trailing bytes.
        let mut trailing = bytes.clone();
        trailing.push(0xf6);
        assert_eq!(code(parse(&trailing)), "malformed");
        // Not CBOR at all.
        assert_eq!(code(parse(b"{\"type\":\"root\"}")), "malformed");
        assert_eq!(code(parse(&[])), "malformed");
        // Nested too deep for the decoder.
        let deep = [vec![0x81; 64], vec![0x01]].concat();
        assert_eq!(code(parse(&deep)), "malformed");
    }

    /// A document whose body protected header is `protected` (raw bytes), signed by `key`.
    fn with_protected(protected: Vec<u8>, key: &PrivateKey) -> Vec<u8> {
        let mut d = SignedDocument::new(DocKind::Root, payload());
        d.sign.protected.original_data = Some(protected);
        d.add_signature(key).expect("sign");
        d.to_vec()
    }

    #[test]
    fn protected_headers_must_be_deterministic_and_exact() {
        // formats/trust-root.md, "Deterministic CBOR": protected headers, like the payload, have
        // one encoding, and hold exactly the labels airlock writes.
        let k = key(1);
        let ct = DocKind::Root.content_type().as_bytes();
        let mut good = vec![0xa1, 0x03, 0x78, ct.len() as u8];
        good.extend_from_slice(ct);
        let bytes = with_protected(good, &k);
        assert_eq!(
            bytes,
            doc(DocKind::Root, &[&k]).to_vec(),
            "the canonical header"
        );
        // The same header with the text length in two bytes (0x79 0x00 0x2a): one document has
        // one encoding, protected headers included.
        let mut long = vec![0xa1, 0x03, 0x79, 0x00, ct.len() as u8];
        long.extend_from_slice(ct);
        assert_eq!(code(parse(&with_protected(long, &k))), "non-canonical");
        // An extra label with an empty value, which coset would read as absent.
        let mut extra = vec![0xa2, 0x03, 0x78, ct.len() as u8];
        extra.extend_from_slice(ct);
        extra.extend_from_slice(&[0x04, 0x40]);
        assert_eq!(code(parse(&with_protected(extra, &k))), "malformed");
        // A label twice in the protected header is refused, signed or not.
        let mut twice = vec![0xa2, 0x03, 0x78, ct.len() as u8];
        twice.extend_from_slice(ct);
        twice.extend_from_slice(&[0x03, 0x78, ct.len() as u8]);
        twice.extend_from_slice(ct);
        assert_eq!(code(parse(&with_protected(twice, &k))), "malformed");
    }

    #[test]
    fn headers_hold_only_what_airlock_writes() {
        let k = key(1);
        let d = doc(DocKind::Root, &[&k]);
        let cases: Vec<(&str, Edit)> = vec![
            (
                "no content type",
                Box::new(|s| s.protected.header.content_type = None),
            ),
            (
                "a kid in the body's protected header",
                Box::new(|s| s.protected.header.key_id = b"k".to_vec()),
            ),
            (
                "a body unprotected header",
                Box::new(|s| s.unprotected.key_id = b"k".to_vec()),
            ),
            ("a detached payload", Box::new(|s| s.payload = None)),
            (
                "an empty payload",
                Box::new(|s| s.payload = Some(Vec::new())),
            ),
            (
                "a signature without alg",
                Box::new(|s| s.signatures[0].protected.header.alg = None),
            ),
            (
                "an unsupported algorithm (ES256)",
                Box::new(|s| {
                    s.signatures[0].protected.header.alg =
                        Some(RegisteredLabelWithPrivate::Assigned(iana::Algorithm::ES256));
                }),
            ),
            (
                "a kid that is not a key id",
                Box::new(|s| s.signatures[0].protected.header.key_id = b"alice".to_vec()),
            ),
            (
                "a content type in a signature's protected header",
                Box::new(|s| {
                    s.signatures[0].protected.header.content_type =
                        Some(coset::ContentType::Text("x".into()));
                }),
            ),
            (
                "a signature's unprotected header",
                Box::new(|s| s.signatures[0].unprotected.key_id = b"k".to_vec()),
            ),
            (
                "an empty signature",
                Box::new(|s| s.signatures[0].signature.clear()),
            ),
        ];
        for (what, f) in cases {
            let bytes = edited(&d, |s| {
                f(s);
                // Let coset re-encode the edited protected headers.
                s.protected.original_data = None;
                for sig in &mut s.signatures {
                    sig.protected.original_data = None;
                }
            });
            assert_eq!(code(parse(&bytes)), "malformed", "{what}");
        }
    }

    #[test]
    fn two_signatures_by_one_key_are_refused() {
        let d = doc(DocKind::Root, &[&key(1), &key(2)]);
        let dup = edited(&d, |s| {
            let first = s.signatures[0].clone();
            s.signatures.push(first);
        });
        let e = parse(&dup).expect_err("duplicate");
        assert!(
            matches!(&e, TrustError::DuplicateSignature { key: k, .. } if *k == key(1).id()),
            "{e:?}"
        );
        // Even when the second signature differs (a P-384 re-signature would, an altered
        // Ed25519 one here): the kid decides.
        let altered = edited(&d, |s| {
            let mut other = s.signatures[1].clone();
            other.protected = s.signatures[0].protected.clone();
            s.signatures.push(other);
        });
        assert_eq!(code(parse(&altered)), "duplicate-signature");
    }

    #[test]
    fn a_key_signs_once() {
        let mut d = doc(DocKind::Revocation, &[&key(1)]);
        let e = d.add_signature(&key(1)).expect_err("again");
        assert_eq!(e.code(), "already-signed");
        assert!(!e.is_verification());
        assert_eq!(d.signers().len(), 1, "the failed call added nothing");
        assert_eq!(d.sign.signatures.len(), 1);
    }

    #[test]
    fn thresholds_count_distinct_keys_of_the_role() {
        let (a, b, c) = (key(1), key(5), key(2));
        let keys = keys_of(&[&a, &b, &c]);
        let two = role(&[&a, &b], 2);
        let count = |by: &[&PrivateKey]| {
            let d = parse(&doc(DocKind::Root, by).to_vec()).expect("parse");
            d.count(4, &two, &keys, "root (test)")
        };
        let e = count(&[&a]).expect_err("one of two");
        assert!(
            matches!(
                &e,
                TrustError::Threshold {
                    version: 4,
                    needed: 2,
                    found: 1,
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(e.to_string().contains("root (test)"), "{e}");
        // A key outside the role beside one inside: not counted, and not mix-and-match either.
        assert_eq!(code(count(&[&a, &c])), "threshold");
        // Only keys outside the role: mix-and-match.
        let e = count(&[&c]).expect_err("outside only");
        assert!(
            matches!(&e, TrustError::WrongRole { found: 0, needed: 2, outside, .. } if outside == &vec![c.id()]),
            "{e:?}"
        );
        // A key the caller does not know at all is outside the role too.
        assert_eq!(code(count(&[&key(8)])), "wrong-role");
        // Unsigned: nobody outside, so a plain threshold failure.
        assert_eq!(code(count(&[])), "threshold");
        assert_eq!(
            count(&[&b, &c, &a]).expect("two of two"),
            vec![b.id(), a.id()]
        );
    }

    #[test]
    fn an_invalid_signature_by_a_role_key_is_an_error() {
        let (a, b) = (key(1), key(5));
        let d = doc(DocKind::Root, &[&a, &b]);
        let flipped = edited(&d, |s| s.signatures[1].signature[0] ^= 1);
        let d = parse(&flipped).expect("the structure is fine");
        // The threshold (1) is met by `a`, yet the bad signature by `b` is not skipped.
        let e = d
            .count(3, &role(&[&a, &b], 1), &keys_of(&[&a, &b]), "root")
            .expect_err("b's signature is bad");
        assert!(
            matches!(&e, TrustError::InvalidSignature { version: 3, key: k, .. } if *k == b.id()),
            "{e:?}"
        );
        // A bad signature by a key outside the role is never checked, only not counted.
        d.count(3, &role(&[&a], 1), &keys_of(&[&a, &b]), "root")
            .expect("a alone meets the role");
        // A signature over other content (the payload changed after signing).
        let moved = edited(&doc(DocKind::Root, &[&a]), |s| {
            s.payload = Some(cbor::encode(&Value::Map(vec![entry("n", uint(2))])));
        });
        let d = parse(&moved).expect("parse");
        assert_eq!(
            code(d.count(1, &role(&[&a], 1), &keys_of(&[&a]), "root")),
            "invalid-signature"
        );
    }

    #[test]
    fn the_algorithm_must_match_the_key() {
        let a = key(1);
        let d = doc(DocKind::Root, &[&a]);
        let es384 = edited(&d, |s| {
            s.signatures[0].protected.original_data = None;
            s.signatures[0].protected.header.alg =
                Some(RegisteredLabelWithPrivate::Assigned(iana::Algorithm::ES384));
        });
        let d = parse(&es384).expect("ES384 is a supported algorithm");
        let e = d
            .count(1, &role(&[&a], 1), &keys_of(&[&a]), "root")
            .expect_err("an Ed25519 key");
        assert_eq!(e.code(), "invalid-signature");
        assert!(e.to_string().contains("algorithm"), "{e}");
        // The Ed25519 alias (-19) is accepted for an Ed25519 key when the signature is made
        // over that header.
        let mut d = SignedDocument::new(DocKind::Root, payload());
        let protected = HeaderBuilder::new()
            .algorithm(iana::Algorithm::Ed25519)
            .key_id(a.id().to_string().into_bytes())
            .build();
        let mut sig = CoseSignatureBuilder::new().protected(protected).build();
        sig.signature = a.sign(&d.sign.tbs_data(b"", &sig));
        d.sign.signatures.push(sig);
        let d = parse(&d.sign.to_tagged_vec().expect("encode")).expect("parse");
        d.count(1, &role(&[&a], 1), &keys_of(&[&a]), "root")
            .expect("alg -19 with an Ed25519 key");
    }
}
