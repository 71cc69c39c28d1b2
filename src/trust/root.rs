//! The trust root: a signed, versioned, expiring document that names keys and what each may
//! sign: the `root` role (the next root), `revocation` (revocation snapshots), `bundle`
//! (bundles), and named signer identities (artifacts).
//!
//! Spec: `formats/trust-root.md`, sections "Document" and "Rotation".

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use ciborium::Value;

use super::cbor::{self, Fields, entry, uint};
use super::signed::{DocKind, SignedDocument};
use super::{CLOCK_SKEW, TrustError, malformed};
use crate::digest::Digest;
use crate::key::{KeyAlgorithm, KeyId, PrivateKey, PublicKey};
use crate::limits::Limits;
use crate::time::Seconds;

/// Longest signer identity name, in bytes.
pub const MAX_IDENTITY_NAME: usize = 64;
/// Largest public key (SPKI DER) in a root, in bytes.
const MAX_SPKI_BYTES: usize = 1024;

/// The three fixed roles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RoleName {
    /// Signs the next trust root.
    Root,
    /// Signs revocation snapshots.
    Revocation,
    /// Signs bundles.
    Bundle,
}

impl RoleName {
    /// All roles, in document order.
    pub const ALL: [RoleName; 3] = [RoleName::Root, RoleName::Revocation, RoleName::Bundle];

    /// The role's name in the document.
    pub fn name(self) -> &'static str {
        match self {
            RoleName::Root => "root",
            RoleName::Revocation => "revocation",
            RoleName::Bundle => "bundle",
        }
    }
}

impl fmt::Display for RoleName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Keys and how many of them must sign.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Role {
    /// The keys, by id.
    pub keys: BTreeSet<KeyId>,
    /// How many distinct keys must sign (1 ≤ threshold ≤ keys).
    pub threshold: usize,
}

/// A trust root's content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustRoot {
    /// The version, from 1; each rotation adds exactly one.
    pub version: u64,
    /// When it was made.
    pub issued_at: Seconds,
    /// When it stops being trusted as the newest root.
    pub expires: Seconds,
    /// Every key a role or identity uses.
    pub keys: BTreeMap<KeyId, PublicKey>,
    /// The fixed roles.
    pub roles: BTreeMap<RoleName, Role>,
    /// Signer identities (`wabbit-networks`, `acme-prod`) and their keys.
    pub signers: BTreeMap<String, Role>,
}

/// Whether `name` is a valid signer identity name: `[a-z0-9][a-z0-9._-]{0,63}`.
pub fn valid_identity_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_IDENTITY_NAME
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"._-".contains(c))
}

impl TrustRoot {
    /// A fixed role.
    pub fn role(&self, name: RoleName) -> &Role {
        // `check` guarantees all three roles exist; an empty role is never met.
        static EMPTY: Role = Role {
            keys: BTreeSet::new(),
            threshold: usize::MAX,
        };
        self.roles.get(&name).unwrap_or(&EMPTY)
    }

    /// The identities whose keys include `key`.
    pub fn identities_of(&self, key: &KeyId) -> Vec<&str> {
        self.signers
            .iter()
            .filter(|(_, r)| r.keys.contains(key))
            .map(|(n, _)| n.as_str())
            .collect()
    }

    /// Every key of every signer identity.
    pub fn signer_keys(&self) -> Vec<PublicKey> {
        let ids: BTreeSet<&KeyId> = self.signers.values().flat_map(|r| &r.keys).collect();
        ids.into_iter()
            .filter_map(|id| self.keys.get(id).cloned())
            .collect()
    }

    /// This root with `revoked` keys taken out of every role and identity (thresholds kept), so
    /// a revoked key's signature counts for nothing.
    pub fn without_keys(&self, revoked: &BTreeSet<KeyId>) -> TrustRoot {
        let mut r = self.clone();
        for role in r.roles.values_mut().chain(r.signers.values_mut()) {
            role.keys.retain(|k| !revoked.contains(k));
        }
        r
    }

    /// The deterministic CBOR payload.
    pub fn to_cbor(&self) -> Vec<u8> {
        let role = |r: &Role| {
            Value::Map(vec![
                entry(
                    "keys",
                    Value::Array(r.keys.iter().map(|k| Value::Text(k.to_string())).collect()),
                ),
                entry("threshold", uint(r.threshold as u64)),
            ])
        };
        let keys = self
            .keys
            .iter()
            .map(|(id, k)| {
                (
                    Value::Text(id.to_string()),
                    Value::Map(vec![
                        entry("algorithm", Value::Text(k.algorithm().name().to_owned())),
                        entry("spki", Value::Bytes(k.spki_der().to_vec())),
                    ]),
                )
            })
            .collect();
        let doc = Value::Map(vec![
            entry("type", Value::Text(DocKind::Root.type_name().to_owned())),
            entry("version", uint(self.version)),
            entry("issued-at", uint(self.issued_at.max(0) as u64)),
            entry("expires", uint(self.expires.max(0) as u64)),
            entry("keys", Value::Map(keys)),
            entry(
                "roles",
                Value::Map(
                    self.roles
                        .iter()
                        .map(|(n, r)| entry(n.name(), role(r)))
                        .collect(),
                ),
            ),
            entry(
                "signers",
                Value::Map(
                    self.signers
                        .iter()
                        .map(|(n, r)| entry(n, role(r)))
                        .collect(),
                ),
            ),
        ]);
        cbor::encode(&doc)
    }

    /// Reads and checks a payload.
    pub fn from_cbor(bytes: &[u8], limits: &Limits) -> Result<TrustRoot, TrustError> {
        const W: DocKind = DocKind::Root;
        let value = cbor::decode(bytes, cbor::item_cap(limits)).map_err(|e| malformed(W, e))?;
        let root = read_root(&value, limits).map_err(|e| match e {
            Read::Cbor(e) => malformed(W, e),
            Read::TooLarge(detail) => TrustError::TooLarge { what: W, detail },
        })?;
        root.check(limits)?;
        Ok(root)
    }

    /// Checks the rules `from_cbor` and `trust init` both need: version ≥ 1, expiry after
    /// issue, every role and identity with 1 ≤ threshold ≤ keys, every key used and known.
    pub fn check(&self, limits: &Limits) -> Result<(), TrustError> {
        let bad = |reason: String| TrustError::Malformed {
            what: DocKind::Root,
            reason,
        };
        if self.version == 0 {
            return Err(bad("version 0; versions start at 1".into()));
        }
        crate::revocation::check_time(self.issued_at, "issued-at").map_err(bad)?;
        crate::revocation::check_time(self.expires, "expires").map_err(bad)?;
        if self.expires <= self.issued_at {
            return Err(bad("expires is not after issued-at".into()));
        }
        if self.keys.len() > limits.max_trust_keys || self.signers.len() > limits.max_trust_keys {
            return Err(TrustError::TooLarge {
                what: DocKind::Root,
                detail: format!(
                    "{} keys and {} signer identities, more than max_trust_keys ({})",
                    self.keys.len(),
                    self.signers.len(),
                    limits.max_trust_keys
                ),
            });
        }
        for name in RoleName::ALL {
            if !self.roles.contains_key(&name) {
                return Err(bad(format!("the {name} role is missing")));
            }
        }
        let mut used = BTreeSet::new();
        let all = self
            .roles
            .iter()
            .map(|(n, r)| (format!("role {n}"), r))
            .chain(self.signers.iter().map(|(n, r)| (format!("signer {n}"), r)));
        for (what, role) in all {
            if role.keys.is_empty() {
                return Err(bad(format!("{what} has no keys")));
            }
            if role.threshold == 0 || role.threshold > role.keys.len() {
                return Err(bad(format!(
                    "{what} has threshold {} for {} key(s)",
                    role.threshold,
                    role.keys.len()
                )));
            }
            for k in &role.keys {
                if !self.keys.contains_key(k) {
                    return Err(bad(format!("{what} names key {k}, which is not in keys")));
                }
                used.insert(*k);
            }
        }
        if let Some(unused) = self.keys.keys().find(|k| !used.contains(k)) {
            return Err(bad(format!("key {unused} is in no role and no signer")));
        }
        if let Some(n) = self.signers.keys().find(|n| !valid_identity_name(n)) {
            return Err(bad(format!(
                "signer identity {n:?} is not [a-z0-9][a-z0-9._-]{{0,63}}"
            )));
        }
        Ok(())
    }
}

enum Read {
    Cbor(cbor::CborError),
    TooLarge(String),
}

impl From<cbor::CborError> for Read {
    fn from(e: cbor::CborError) -> Self {
        Read::Cbor(e)
    }
}

fn m(reason: String) -> Read {
    Read::Cbor(cbor::CborError::Malformed(reason))
}

fn read_root(value: &Value, limits: &Limits) -> Result<TrustRoot, Read> {
    let mut f = Fields::new(value, "the trust root")?;
    let ty = cbor::as_text(f.req("type")?, "type", 64)?;
    if ty != DocKind::Root.type_name() {
        return Err(m(format!(
            "type is {ty:?}, expected {:?}",
            DocKind::Root.type_name()
        )));
    }
    let version = cbor::as_u64(f.req("version")?, "version")?;
    let issued_at = cbor::as_time(f.req("issued-at")?, "issued-at")?;
    let expires = cbor::as_time(f.req("expires")?, "expires")?;
    let key_map = Fields::new(f.req("keys")?, "keys")?;
    let key_entries: Vec<_> = key_map.drain().collect();
    if key_entries.len() > limits.max_trust_keys {
        return Err(Read::TooLarge(format!(
            "{} keys, more than max_trust_keys ({})",
            key_entries.len(),
            limits.max_trust_keys
        )));
    }
    let mut keys = BTreeMap::new();
    for (id_text, v) in key_entries {
        let id: KeyId = id_text
            .parse()
            .map_err(|_| m(format!("key id {id_text:?} is not sha256:<64 hex>")))?;
        let what = format!("key {id}");
        let mut kf = Fields::new(v, what.clone())?;
        let alg: KeyAlgorithm = cbor::as_text(kf.req("algorithm")?, "algorithm", 16)?
            .parse()
            .map_err(|e| m(format!("{what}: {e}")))?;
        let spki = cbor::as_bytes(kf.req("spki")?, "spki", MAX_SPKI_BYTES)?;
        kf.finish()?;
        let key = PublicKey::from_spki_der(spki, &what).map_err(|e| m(format!("{what}: {e}")))?;
        if key.algorithm() != alg {
            return Err(m(format!(
                "{what} is a {} key, the document says {alg}",
                key.algorithm()
            )));
        }
        if key.spki_der() != spki {
            return Err(m(format!(
                "{what}: the SPKI is not in its canonical DER form"
            )));
        }
        if key.id() != id {
            return Err(m(format!("{what}: the SPKI's id is {}", key.id())));
        }
        keys.insert(id, key);
    }
    let mut role_map = Fields::new(f.req("roles")?, "roles")?;
    let mut roles = BTreeMap::new();
    for name in RoleName::ALL {
        let r = role_map.req(name.name())?;
        roles.insert(name, read_role(r, &format!("role {name}"), limits)?);
    }
    role_map.finish()?;
    let signer_map = Fields::new(f.req("signers")?, "signers")?;
    let signer_entries: Vec<_> = signer_map.drain().collect();
    if signer_entries.len() > limits.max_trust_keys {
        return Err(Read::TooLarge(format!(
            "{} signer identities, more than max_trust_keys ({})",
            signer_entries.len(),
            limits.max_trust_keys
        )));
    }
    let mut signers = BTreeMap::new();
    for (name, v) in signer_entries {
        signers.insert(
            name.to_owned(),
            read_role(v, &format!("signer {name:?}"), limits)?,
        );
    }
    f.finish()?;
    Ok(TrustRoot {
        version,
        issued_at,
        expires,
        keys,
        roles,
        signers,
    })
}

fn read_role(v: &Value, what: &str, limits: &Limits) -> Result<Role, Read> {
    let mut f = Fields::new(v, what)?;
    let list = match f.req("keys")? {
        Value::Array(a) if a.len() > limits.max_trust_keys => {
            return Err(Read::TooLarge(format!(
                "{what} lists {} keys, more than max_trust_keys ({})",
                a.len(),
                limits.max_trust_keys
            )));
        }
        other => cbor::as_array(other, &format!("{what} keys"), limits.max_trust_keys)?,
    };
    let mut keys = BTreeSet::new();
    let mut previous: Option<KeyId> = None;
    for k in list {
        let text = cbor::as_text(k, "key id", 80)?;
        let id: KeyId = text
            .parse()
            .map_err(|_| m(format!("{what}: key id {text:?} is not sha256:<64 hex>")))?;
        if previous.is_some_and(|p| p.to_string() >= id.to_string()) {
            return Err(m(format!("{what}: key ids are not sorted and unique")));
        }
        previous = Some(id);
        keys.insert(id);
    }
    let threshold = usize::try_from(cbor::as_u64(f.req("threshold")?, "threshold")?)
        .map_err(|_| m(format!("{what}: threshold out of range")))?;
    f.finish()?;
    Ok(Role { keys, threshold })
}

/// A trust root as signed: the document and its parsed content.
#[derive(Clone, Debug)]
pub struct SignedRoot {
    doc: SignedDocument,
    root: TrustRoot,
}

impl SignedRoot {
    /// Parses a trust-root file. Signatures are not checked here.
    pub fn parse(bytes: &[u8], limits: &Limits) -> Result<SignedRoot, TrustError> {
        let doc = SignedDocument::parse(bytes, Some(DocKind::Root), limits)?;
        let root = TrustRoot::from_cbor(doc.payload(), limits)?;
        Ok(SignedRoot { doc, root })
    }

    /// A new, unsigned root document for `root` (checked first).
    pub fn unsigned(root: TrustRoot, limits: &Limits) -> Result<SignedRoot, TrustError> {
        root.check(limits)?;
        Ok(SignedRoot {
            doc: SignedDocument::new(DocKind::Root, root.to_cbor()),
            root,
        })
    }

    /// The content.
    pub fn root(&self) -> &TrustRoot {
        &self.root
    }

    /// The signed document.
    pub fn document(&self) -> &SignedDocument {
        &self.doc
    }

    /// The file's bytes.
    pub fn to_vec(&self) -> Vec<u8> {
        self.doc.to_vec()
    }

    /// The SHA-256 of the file's bytes.
    pub fn digest(&self) -> Digest {
        self.doc.digest()
    }

    /// The version.
    pub fn version(&self) -> u64 {
        self.root.version
    }

    /// Adds `key`'s signature.
    pub fn sign(&mut self, key: &PrivateKey) -> Result<(), TrustError> {
        self.doc.add_signature(key)
    }

    /// Checks a threshold of this root's own `root` role signed it (a first root's rule, and
    /// half of a rotation's).
    pub fn verify_self(&self) -> Result<Vec<KeyId>, TrustError> {
        self.doc.count(
            self.root.version,
            self.root.role(RoleName::Root),
            &self.root.keys,
            &format!("root role of version {} itself", self.root.version),
        )
    }

    /// Checks that `next` may follow this root: its version is exactly one more, and a
    /// threshold of this root's `root` role and of `next`'s own signed it.
    pub fn verify_successor(&self, next: &SignedRoot) -> Result<(), TrustError> {
        let (have, got) = (self.root.version, next.root.version);
        if got <= have {
            return Err(TrustError::Rollback {
                what: DocKind::Root,
                trusted: have,
                offered: got,
            });
        }
        if got != have + 1 {
            return Err(TrustError::SkippedVersion {
                trusted: have,
                offered: got,
            });
        }
        next.doc.count(
            got,
            self.root.role(RoleName::Root),
            &self.root.keys,
            &format!("root role of version {have}"),
        )?;
        next.verify_self()?;
        Ok(())
    }

    /// Freshness at `now`: not expired (freeze), not issued in the future.
    pub fn check_fresh(&self, now: Seconds) -> Result<(), TrustError> {
        check_times(
            DocKind::Root,
            self.root.version,
            self.root.issued_at,
            self.root.expires,
            now,
        )
    }
}

/// Not expired at `now` and not issued more than [`CLOCK_SKEW`] after it.
pub(crate) fn check_times(
    what: DocKind,
    version: u64,
    issued_at: Seconds,
    expires: Seconds,
    now: Seconds,
) -> Result<(), TrustError> {
    if expires <= now {
        return Err(TrustError::Expired {
            what,
            version,
            expires,
            now,
        });
    }
    if issued_at > now.saturating_add(CLOCK_SKEW) {
        return Err(TrustError::FromFuture {
            what,
            version,
            issued_at,
            now,
        });
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    //! Root documents and the rotation rule; the fixtures here are shared by the trust-store and
    //! revocation tests.

    use super::*;

    /// 2026-01-01T00:00:00Z.
    pub(crate) const T0: Seconds = 1_767_225_600;
    pub(crate) const DAY: Seconds = 86_400;

    /// A fixed Ed25519 key: `key(1)` is seeded with `[1; 32]`.
    pub(crate) fn key(seed: u8) -> PrivateKey {
        PrivateKey::from_ed25519_seed(&[seed; 32]).expect("any 32 bytes are an Ed25519 seed")
    }

    /// A fixed P-384 key.
    pub(crate) fn p384() -> PrivateKey {
        PrivateKey::from_p384_scalar(&[0x33; 48]).expect("0x33… is below the group order")
    }

    pub(crate) fn role(keys: &[&PrivateKey], threshold: usize) -> Role {
        Role {
            keys: keys.iter().map(|k| k.id()).collect(),
            threshold,
        }
    }

    /// A root of `version`, issued `T0 + version` days and valid for a year, whose roles are
    /// `root` (with its threshold), `revocation` and `bundle` (threshold 1), with one signer
    /// identity `acme-prod` holding the bundle keys.
    pub(crate) fn make_root(
        version: u64,
        root: (&[&PrivateKey], usize),
        revocation: &[&PrivateKey],
        bundle: &[&PrivateKey],
    ) -> TrustRoot {
        let keys = root
            .0
            .iter()
            .chain(revocation)
            .chain(bundle)
            .map(|k| (k.id(), k.public().clone()))
            .collect();
        let roles = BTreeMap::from([
            (RoleName::Root, role(root.0, root.1)),
            (RoleName::Revocation, role(revocation, 1)),
            (RoleName::Bundle, role(bundle, 1)),
        ]);
        let issued_at = T0 + version as Seconds * DAY;
        TrustRoot {
            version,
            issued_at,
            expires: issued_at + 365 * DAY,
            keys,
            roles,
            signers: BTreeMap::from([("acme-prod".to_owned(), role(bundle, 1))]),
        }
    }

    /// The usual root: root key 1, revocation key 2, bundle key 3.
    pub(crate) fn simple_root(version: u64) -> TrustRoot {
        make_root(version, (&[&key(1)], 1), &[&key(2)], &[&key(3)])
    }

    pub(crate) fn sign_root(root: TrustRoot, by: &[&PrivateKey]) -> SignedRoot {
        let mut s = SignedRoot::unsigned(root, &Limits::default()).expect("a valid root");
        for k in by {
            s.sign(k).expect("each key signs once");
        }
        s
    }

    pub(crate) fn code<T: fmt::Debug>(r: Result<T, TrustError>) -> &'static str {
        match r {
            Ok(v) => panic!("expected an error, got Ok({v:?})"),
            Err(e) => e.code(),
        }
    }

    /// The root's payload with its top-level map edited, re-encoded deterministically.
    fn edit(root: &TrustRoot, f: impl FnOnce(&mut Vec<(Value, Value)>)) -> Vec<u8> {
        edit_payload(&root.to_cbor(), f)
    }

    /// A deterministic payload with its top-level map edited, re-encoded deterministically.
    pub(crate) fn edit_payload(
        payload: &[u8],
        f: impl FnOnce(&mut Vec<(Value, Value)>),
    ) -> Vec<u8> {
        let mut v = cbor::decode(payload, usize::MAX).expect("the payload is canonical");
        let Value::Map(entries) = &mut v else {
            panic!("a payload is a map")
        };
        f(entries);
        cbor::encode(&v)
    }

    pub(crate) fn field<'a>(entries: &'a mut [(Value, Value)], name: &str) -> &'a mut Value {
        entries
            .iter_mut()
            .find(|(k, _)| k.as_text() == Some(name))
            .map(|(_, v)| v)
            .unwrap_or_else(|| panic!("no field {name}"))
    }

    fn map(v: &mut Value) -> &mut Vec<(Value, Value)> {
        match v {
            Value::Map(m) => m,
            other => panic!("not a map: {other:?}"),
        }
    }

    fn from(bytes: &[u8]) -> Result<TrustRoot, TrustError> {
        TrustRoot::from_cbor(bytes, &Limits::default())
    }

    /// One named edit of a document.
    type Edit = Box<dyn Fn(&mut Vec<(Value, Value)>)>;

    #[test]
    fn cbor_round_trips_with_both_algorithms() {
        let p = p384();
        let root = make_root(7, (&[&key(1), &p], 2), &[&key(2)], &[&key(3), &key(4)]);
        let bytes = root.to_cbor();
        let back = from(&bytes).expect("a root's own payload reads back");
        assert_eq!(back, root);
        assert_eq!(back.to_cbor(), bytes, "one encoding per document");
        assert_eq!(back.keys[&p.id()].algorithm(), KeyAlgorithm::P384);
        assert_eq!(back.identities_of(&key(3).id()), vec!["acme-prod"]);
        assert!(back.identities_of(&key(1).id()).is_empty());
        assert_eq!(back.signer_keys().len(), 2);
    }

    #[test]
    fn signed_root_round_trips() {
        let p = p384();
        let root = make_root(1, (&[&key(1), &p], 2), &[&key(2)], &[&key(3)]);
        let signed = sign_root(root.clone(), &[&key(1), &p]);
        let bytes = signed.to_vec();
        let back = SignedRoot::parse(&bytes, &Limits::default()).expect("parse");
        assert_eq!(back.root(), &root);
        assert_eq!(back.to_vec(), bytes);
        assert_eq!(back.digest(), Digest::sha256_of(&bytes));
        assert_eq!(back.version(), 1);
        assert_eq!(back.document().signers(), &[key(1).id(), p.id()]);
        let mut signed_by = back.verify_self().expect("both root keys signed");
        signed_by.sort();
        let mut want = vec![key(1).id(), p.id()];
        want.sort();
        assert_eq!(signed_by, want);
    }

    #[test]
    fn non_canonical_payloads_are_refused() {
        let root = simple_root(1);
        let mut v = cbor::decode(&root.to_cbor(), usize::MAX).expect("canonical");
        let Value::Map(entries) = &mut v else {
            panic!("a map")
        };
        entries.reverse();
        let mut reordered = Vec::new();
        ciborium::into_writer(&v, &mut reordered).expect("encode");
        assert_eq!(code(from(&reordered)), "non-canonical");
        // The version (1) in a two-byte form: 0x18 0x01 instead of 0x01.
        let bytes = root.to_cbor();
        let at = bytes
            .windows(8)
            .position(|w| w == b"\x67version")
            .expect("the version key")
            + 8;
        assert_eq!(bytes[at], 0x01);
        let mut long = bytes[..at].to_vec();
        long.extend_from_slice(&[0x18, 0x01]);
        long.extend_from_slice(&bytes[at + 1..]);
        assert_eq!(code(from(&long)), "non-canonical");
        // Trailing bytes.
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert_eq!(code(from(&trailing)), "malformed");
    }

    #[test]
    fn unknown_keys_are_refused() {
        let root = simple_root(1);
        let top = edit(&root, |m| {
            m.push(cbor::entry("comment", Value::Text("hi".into())))
        });
        assert_eq!(code(from(&top)), "malformed");
        let in_key = edit(&root, |m| {
            let keys = map(field(m, "keys"));
            map(&mut keys[0].1).push(cbor::entry("usage", Value::Text("any".into())));
        });
        assert_eq!(code(from(&in_key)), "malformed");
        let extra_role = edit(&root, |m| {
            let roles = map(field(m, "roles"));
            let bundle = roles[0].1.clone();
            roles.push(cbor::entry("admin", bundle));
        });
        assert_eq!(code(from(&extra_role)), "malformed");
        let in_role = edit(&root, |m| {
            let roles = map(field(m, "roles"));
            map(&mut roles[0].1).push(cbor::entry("expires", uint(1)));
        });
        assert_eq!(code(from(&in_role)), "malformed");
        let missing = edit(&root, |m| m.retain(|(k, _)| k.as_text() != Some("signers")));
        assert_eq!(code(from(&missing)), "malformed");
    }

    #[test]
    fn wrong_types_are_refused() {
        let root = simple_root(1);
        let cases: Vec<(&str, Edit)> = vec![
            (
                "version as text",
                Box::new(|m| *field(m, "version") = Value::Text("1".into())),
            ),
            (
                "negative expiry",
                Box::new(|m| *field(m, "expires") = Value::Integer((-1).into())),
            ),
            (
                "expiry past 2^53",
                Box::new(|m| *field(m, "expires") = uint(1 << 53)),
            ),
            (
                "keys as an array",
                Box::new(|m| *field(m, "keys") = Value::Array(vec![])),
            ),
            (
                "spki as text",
                Box::new(|m| {
                    let keys = map(field(m, "keys"));
                    *field(map(&mut keys[0].1), "spki") = Value::Text("MCow".into());
                }),
            ),
            (
                "threshold as text",
                Box::new(|m| {
                    let roles = map(field(m, "roles"));
                    *field(map(&mut roles[0].1), "threshold") = Value::Text("1".into());
                }),
            ),
            (
                "role keys as a map",
                Box::new(|m| {
                    let roles = map(field(m, "roles"));
                    *field(map(&mut roles[0].1), "keys") = Value::Map(vec![]);
                }),
            ),
            (
                "a revocation snapshot's type",
                Box::new(|m| {
                    *field(m, "type") = Value::Text(DocKind::Revocation.type_name().into())
                }),
            ),
            (
                "an unknown algorithm",
                Box::new(|m| {
                    let keys = map(field(m, "keys"));
                    *field(map(&mut keys[0].1), "algorithm") = Value::Text("rsa".into());
                }),
            ),
        ];
        for (what, f) in cases {
            let bytes = edit(&root, f);
            assert_eq!(code(from(&bytes)), "malformed", "{what}");
        }
        // The payload must be a map at all.
        assert_eq!(code(from(&cbor::encode(&uint(1)))), "malformed");
    }

    #[test]
    fn a_key_id_must_match_its_spki() {
        let root = simple_root(1);
        let other_spki = Value::Bytes(key(9).public().spki_der().to_vec());
        let swapped = edit(&root, |m| {
            let keys = map(field(m, "keys"));
            *field(map(&mut keys[0].1), "spki") = other_spki.clone();
        });
        let e = from(&swapped).expect_err("the id names another key");
        assert_eq!(e.code(), "malformed");
        assert!(e.to_string().contains("SPKI's id"), "{e}");
        // An Ed25519 SPKI labelled as P-384.
        let relabelled = edit(&root, |m| {
            let keys = map(field(m, "keys"));
            *field(map(&mut keys[0].1), "algorithm") =
                Value::Text(KeyAlgorithm::P384.name().into());
        });
        assert_eq!(code(from(&relabelled)), "malformed");
        // A key id that is not sha256:<64 lowercase hex>.
        let upper = edit(&root, |m| {
            let keys = map(field(m, "keys"));
            let id = keys[0].0.as_text().expect("text").to_uppercase();
            keys[0].0 = Value::Text(id);
        });
        assert_eq!(code(from(&upper)), "malformed");
    }

    #[test]
    fn role_key_lists_are_sorted_and_unique() {
        let root = make_root(1, (&[&key(1), &key(5)], 1), &[&key(2)], &[&key(3)]);
        let reversed = edit(&root, |m| {
            let roles = map(field(m, "roles"));
            let root_role = roles
                .iter_mut()
                .find(|(k, _)| k.as_text() == Some("root"))
                .expect("root role");
            let Value::Array(a) = field(map(&mut root_role.1), "keys") else {
                panic!("keys")
            };
            a.reverse();
        });
        assert_eq!(code(from(&reversed)), "malformed");
        let doubled = edit(&root, |m| {
            let roles = map(field(m, "roles"));
            let Value::Array(a) = field(map(&mut roles[0].1), "keys") else {
                panic!("keys")
            };
            let first = a[0].clone();
            a.insert(0, first);
        });
        assert_eq!(code(from(&doubled)), "malformed");
    }

    #[test]
    fn check_refuses_inconsistent_roots() {
        let limits = Limits::default();
        let ok = simple_root(1);
        assert!(ok.check(&limits).is_ok());
        let mut cases: Vec<(&str, TrustRoot)> = Vec::new();
        let mut r = ok.clone();
        r.version = 0;
        cases.push(("version 0", r));
        let mut r = ok.clone();
        r.expires = r.issued_at;
        cases.push(("expires at issue", r));
        let mut r = ok.clone();
        r.roles.remove(&RoleName::Bundle);
        cases.push(("no bundle role", r));
        let mut r = ok.clone();
        r.roles.insert(RoleName::Revocation, role(&[], 1));
        cases.push(("empty role", r));
        let mut r = ok.clone();
        r.roles.insert(RoleName::Root, role(&[&key(1)], 0));
        cases.push(("threshold 0", r));
        let mut r = ok.clone();
        r.roles.insert(RoleName::Root, role(&[&key(1)], 2));
        cases.push(("threshold above the keys", r));
        let mut r = ok.clone();
        r.roles.insert(RoleName::Root, role(&[&key(9)], 1));
        cases.push(("a role names an unknown key", r));
        let mut r = ok.clone();
        r.keys.insert(key(9).id(), key(9).public().clone());
        cases.push(("an unused key", r));
        let mut r = ok.clone();
        let bundle = r.signers["acme-prod"].clone();
        r.signers.insert("Acme Prod".into(), bundle);
        cases.push(("an invalid identity name", r));
        let mut r = ok.clone();
        r.signers
            .insert("x".repeat(MAX_IDENTITY_NAME + 1), role(&[&key(3)], 1));
        cases.push(("a too-long identity name", r));
        for (what, r) in cases {
            assert_eq!(code(r.check(&limits)), "malformed", "{what}");
            assert_eq!(
                code(SignedRoot::unsigned(r.clone(), &limits)),
                "malformed",
                "{what}"
            );
            assert_eq!(code(from(&r.to_cbor())), "malformed", "{what}");
        }
        let few = Limits {
            max_trust_keys: 2,
            ..Limits::default()
        };
        assert_eq!(code(ok.check(&few)), "too-large");
        assert_eq!(code(TrustRoot::from_cbor(&ok.to_cbor(), &few)), "too-large");
        assert!(valid_identity_name("0.acme_prod-1"));
        assert!(!valid_identity_name(""));
        assert!(!valid_identity_name("-acme"));
    }

    #[test]
    fn a_root_unsigned_accepts_can_be_read_back() {
        let mut r = simple_root(1);
        r.expires = 1 << 53;
        if let Ok(signed) = SignedRoot::unsigned(r, &Limits::default()) {
            SignedRoot::parse(&signed.to_vec(), &Limits::default())
                .expect("a root airlock writes, airlock reads");
        }
    }

    #[test]
    fn a_first_root_must_be_signed_by_a_threshold_of_its_root_role() {
        let (k1, k2, k5) = (key(1), key(2), key(5));
        let root = make_root(1, (&[&k1, &k5], 2), &[&k2], &[&key(3)]);
        assert_eq!(
            code(sign_root(root.clone(), &[]).verify_self()),
            "threshold"
        );
        assert_eq!(
            code(sign_root(root.clone(), &[&k1]).verify_self()),
            "threshold"
        );
        // The revocation key is in the root but not in its root role: it does not count.
        assert_eq!(
            code(sign_root(root.clone(), &[&k1, &k2]).verify_self()),
            "threshold"
        );
        assert_eq!(
            code(sign_root(root.clone(), &[&k2]).verify_self()),
            "wrong-role"
        );
        assert_eq!(
            code(sign_root(root.clone(), &[&key(8)]).verify_self()),
            "wrong-role"
        );
        let ok = sign_root(root, &[&k5, &k2, &k1])
            .verify_self()
            .expect("both root keys");
        assert_eq!(ok, vec![k5.id(), k1.id()]);
    }

    #[test]
    fn rotation_goes_to_exactly_the_next_version() {
        let k1 = key(1);
        let v1 = sign_root(simple_root(1), &[&k1]);
        let v2 = sign_root(simple_root(2), &[&k1]);
        let v3 = sign_root(simple_root(3), &[&k1]);
        v1.verify_successor(&v2).expect("v1 → v2");
        v2.verify_successor(&v3).expect("v2 → v3");
        let e = v1.verify_successor(&v3).expect_err("v1 → v3");
        assert!(
            matches!(
                e,
                TrustError::SkippedVersion {
                    trusted: 1,
                    offered: 3
                }
            ),
            "{e:?}"
        );
        assert_eq!(code(v2.verify_successor(&v2)), "rollback");
        assert_eq!(code(v2.verify_successor(&v1)), "rollback");
    }

    #[test]
    fn rotation_needs_the_old_and_the_new_root_role() {
        let (old, new) = (key(1), key(5));
        let v1 = sign_root(simple_root(1), &[&old]);
        let next = make_root(2, (&[&new], 1), &[&key(2)], &[&key(3)]);
        v1.verify_successor(&sign_root(next.clone(), &[&old, &new]))
            .expect("signed by both");
        v1.verify_successor(&sign_root(next.clone(), &[&new, &old]))
            .expect("signature order does not matter");
        // Only the new keys: an attacker's self-signed root.
        let e = v1
            .verify_successor(&sign_root(next.clone(), &[&new]))
            .expect_err("only the new keys");
        assert_eq!(e.code(), "wrong-role", "{e}");
        assert!(e.to_string().contains("of version 1"), "{e}");
        // Only the old keys: the new root role never agreed.
        let e = v1
            .verify_successor(&sign_root(next.clone(), &[&old]))
            .expect_err("only the old keys");
        assert_eq!(e.code(), "wrong-role", "{e}");
        assert!(e.to_string().contains("of version 2 itself"), "{e}");
        // Keys of another role of the old root do not count either.
        assert_eq!(
            code(v1.verify_successor(&sign_root(next, &[&key(2), &new]))),
            "wrong-role"
        );
    }

    #[test]
    fn rotation_counts_the_old_threshold() {
        let (a, b) = (key(1), key(5));
        let root = |v| make_root(v, (&[&a, &b], 2), &[&key(2)], &[&key(3)]);
        let v1 = sign_root(root(1), &[&a, &b]);
        let e = v1
            .verify_successor(&sign_root(root(2), &[&a]))
            .expect_err("one of two");
        assert!(
            matches!(&e, TrustError::Threshold { needed: 2, found: 1, signed_by, .. } if signed_by == &vec![a.id()]),
            "{e:?}"
        );
        v1.verify_successor(&sign_root(root(2), &[&a, &b]))
            .expect("two of two");
        // Lowering the threshold still needs the old one.
        let lower = make_root(2, (&[&a, &b], 1), &[&key(2)], &[&key(3)]);
        assert_eq!(
            code(v1.verify_successor(&sign_root(lower.clone(), &[&b]))),
            "threshold"
        );
        v1.verify_successor(&sign_root(lower, &[&a, &b]))
            .expect("old threshold met");
    }

    #[test]
    fn freshness_has_expiry_and_skew() {
        let r = sign_root(simple_root(1), &[&key(1)]);
        let (issued, expires) = (r.root().issued_at, r.root().expires);
        r.check_fresh(issued).expect("at issue");
        r.check_fresh(expires - 1).expect("just before expiry");
        assert_eq!(code(r.check_fresh(expires)), "expired");
        assert_eq!(code(r.check_fresh(expires + DAY)), "expired");
        r.check_fresh(issued - CLOCK_SKEW).expect("within the skew");
        assert_eq!(code(r.check_fresh(issued - CLOCK_SKEW - 1)), "from-future");
    }

    #[test]
    fn a_revocation_snapshot_is_not_a_root() {
        let mut doc = SignedDocument::new(DocKind::Revocation, simple_root(1).to_cbor());
        doc.add_signature(&key(1)).expect("sign");
        assert_eq!(
            code(SignedRoot::parse(&doc.to_vec(), &Limits::default())),
            "wrong-type"
        );
    }
}
