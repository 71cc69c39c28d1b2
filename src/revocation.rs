//! Signed revocation snapshots: revoked keys (a leaked key's signatures fail everywhere) and
//! revoked artifact digests (content known to be bad), versioned, expiring, and append-only.
//!
//! Spec: `formats/revocation.md`. A snapshot is a signed document ([`crate::trust::signed`])
//! that a threshold of the current trust root's `revocation` role must sign.

use std::collections::BTreeMap;

use ciborium::Value;

use crate::digest::Digest;
use crate::key::{KeyId, PrivateKey};
use crate::limits::Limits;
use crate::time::Seconds;
use crate::trust::cbor::{self, CborError, Fields, entry, uint};
use crate::trust::root::{RoleName, TrustRoot, check_times};
use crate::trust::signed::{DocKind, SignedDocument};
use crate::trust::{TrustError, malformed};

/// Longest reason, in bytes.
pub const MAX_REASON_BYTES: usize = 1024;

/// One revoked key or digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// When the revocation authority says the key or content went bad.
    pub revoked_at: Seconds,
    /// Why, for people.
    pub reason: String,
}

/// A revocation snapshot's content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// The version, from 1; each publication adds one.
    pub version: u64,
    /// When it was published.
    pub issued_at: Seconds,
    /// When it stops being fresh: verification refuses to use it after this (freeze).
    pub expires: Seconds,
    /// Revoked keys: every signature by one of them fails, whatever its claimed signing time.
    pub keys: BTreeMap<KeyId, Entry>,
    /// Revoked artifact digests: verification of that content fails whatever its signatures.
    pub digests: BTreeMap<Digest, Entry>,
}

/// What happened when an entry was added to a draft or snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Added {
    /// A new entry.
    New,
    /// The same key or digest was already revoked; the first entry stays.
    AlreadyRevoked,
}

impl Snapshot {
    /// The revocation of `key`, if it is revoked.
    pub fn key(&self, key: &KeyId) -> Option<&Entry> {
        self.keys.get(key)
    }

    /// The revocation of `digest`, if it is revoked.
    pub fn digest(&self, digest: &Digest) -> Option<&Entry> {
        self.digests.get(digest)
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.keys.len() + self.digests.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Checks `next` keeps every entry of this snapshot unchanged (entries are never removed)
    /// and has a higher version.
    pub fn check_successor(&self, next: &Snapshot) -> Result<(), TrustError> {
        if next.version < self.version {
            return Err(TrustError::Rollback {
                what: DocKind::Revocation,
                trusted: self.version,
                offered: next.version,
            });
        }
        if next.version == self.version {
            if next != self {
                return Err(TrustError::VersionConflict {
                    what: DocKind::Revocation,
                    version: next.version,
                });
            }
            return Ok(());
        }
        for (k, e) in &self.keys {
            if next.keys.get(k) != Some(e) {
                return Err(TrustError::RemovedEntry {
                    version: next.version,
                    entry: format!("key {k}"),
                });
            }
        }
        for (d, e) in &self.digests {
            if next.digests.get(d) != Some(e) {
                return Err(TrustError::RemovedEntry {
                    version: next.version,
                    entry: format!("digest {d}"),
                });
            }
        }
        Ok(())
    }

    /// The deterministic CBOR payload.
    pub fn to_cbor(&self) -> Vec<u8> {
        let item = |name: &str, id: String, e: &Entry| {
            Value::Map(vec![
                entry(name, Value::Text(id)),
                entry("revoked-at", uint(e.revoked_at.max(0) as u64)),
                entry("reason", Value::Text(e.reason.clone())),
            ])
        };
        let mut keys: Vec<(String, &Entry)> =
            self.keys.iter().map(|(k, e)| (k.to_string(), e)).collect();
        keys.sort_by(|a, b| a.0.cmp(&b.0));
        let mut digests: Vec<(String, &Entry)> = self
            .digests
            .iter()
            .map(|(d, e)| (d.to_string(), e))
            .collect();
        digests.sort_by(|a, b| a.0.cmp(&b.0));
        let doc = Value::Map(vec![
            entry(
                "type",
                Value::Text(DocKind::Revocation.type_name().to_owned()),
            ),
            entry("version", uint(self.version)),
            entry("issued-at", uint(self.issued_at.max(0) as u64)),
            entry("expires", uint(self.expires.max(0) as u64)),
            entry(
                "keys",
                Value::Array(
                    keys.into_iter()
                        .map(|(k, e)| item("key-id", k, e))
                        .collect(),
                ),
            ),
            entry(
                "digests",
                Value::Array(
                    digests
                        .into_iter()
                        .map(|(d, e)| item("digest", d, e))
                        .collect(),
                ),
            ),
        ]);
        cbor::encode(&doc)
    }

    /// Reads and checks a payload.
    pub fn from_cbor(bytes: &[u8], limits: &Limits) -> Result<Snapshot, TrustError> {
        const W: DocKind = DocKind::Revocation;
        let value = cbor::decode(bytes, cbor::item_cap(limits)).map_err(|e| malformed(W, e))?;
        let s = read_snapshot(&value, limits)?;
        s.check()
            .map_err(|reason| TrustError::Malformed { what: W, reason })?;
        Ok(s)
    }

    /// The rules every snapshot airlock reads or writes obeys: version ≥ 1, times in
    /// `0..2^53`, expiry after issue, reasons of 1 to [`MAX_REASON_BYTES`] bytes.
    pub fn check(&self) -> Result<(), String> {
        if self.version == 0 {
            return Err("version 0; versions start at 1".into());
        }
        check_time(self.issued_at, "issued-at")?;
        check_time(self.expires, "expires")?;
        if self.expires <= self.issued_at {
            return Err("expires is not after issued-at".into());
        }
        for e in self.keys.values().chain(self.digests.values()) {
            check_entry(e.revoked_at, &e.reason)?;
        }
        Ok(())
    }
}

fn read_snapshot(value: &Value, limits: &Limits) -> Result<Snapshot, TrustError> {
    const W: DocKind = DocKind::Revocation;
    let c = |e: CborError| malformed(W, e);
    let bad = |reason: String| TrustError::Malformed { what: W, reason };
    let mut f = Fields::new(value, "the revocation snapshot").map_err(c)?;
    let ty = cbor::as_text(f.req("type").map_err(c)?, "type", 64).map_err(c)?;
    if ty != W.type_name() {
        return Err(bad(format!("type is {ty:?}, expected {:?}", W.type_name())));
    }
    let version = cbor::as_u64(f.req("version").map_err(c)?, "version").map_err(c)?;
    let issued_at = cbor::as_time(f.req("issued-at").map_err(c)?, "issued-at").map_err(c)?;
    let expires = cbor::as_time(f.req("expires").map_err(c)?, "expires").map_err(c)?;
    let key_list = f.req("keys").map_err(c)?;
    let digest_list = f.req("digests").map_err(c)?;
    f.finish().map_err(c)?;
    let count = |v: &Value| match v {
        Value::Array(a) => a.len(),
        _ => 0,
    };
    let total = count(key_list).saturating_add(count(digest_list));
    if total > limits.max_revocation_entries {
        return Err(TrustError::TooLarge {
            what: W,
            detail: format!(
                "{total} entries, more than max_revocation_entries ({})",
                limits.max_revocation_entries
            ),
        });
    }
    let mut keys = BTreeMap::new();
    let mut last = String::new();
    for item in cbor::as_array(key_list, "keys", usize::MAX).map_err(c)? {
        let (id_text, e) = read_entry(item, "key-id").map_err(c)?;
        if !last.is_empty() && last >= id_text {
            return Err(bad("keys are not sorted by key-id and unique".into()));
        }
        let id: KeyId = id_text
            .parse()
            .map_err(|_| bad(format!("key-id {id_text:?} is not sha256:<64 hex>")))?;
        keys.insert(id, e);
        last = id_text;
    }
    let mut digests = BTreeMap::new();
    last.clear();
    for item in cbor::as_array(digest_list, "digests", usize::MAX).map_err(c)? {
        let (d_text, e) = read_entry(item, "digest").map_err(c)?;
        if !last.is_empty() && last >= d_text {
            return Err(bad("digests are not sorted and unique".into()));
        }
        let d: Digest = d_text
            .parse()
            .map_err(|e| bad(format!("digest {d_text:?}: {e}")))?;
        digests.insert(d, e);
        last = d_text;
    }
    Ok(Snapshot {
        version,
        issued_at,
        expires,
        keys,
        digests,
    })
}

fn read_entry(v: &Value, id_field: &str) -> Result<(String, Entry), CborError> {
    let mut f = Fields::new(v, "an entry")?;
    let id = cbor::as_text(f.req(id_field)?, id_field, 200)?.to_owned();
    let revoked_at = cbor::as_time(f.req("revoked-at")?, "revoked-at")?;
    let reason = cbor::as_text(f.req("reason")?, "reason", MAX_REASON_BYTES)?.to_owned();
    f.finish()?;
    Ok((id, Entry { revoked_at, reason }))
}

/// A time airlock writes into a trust document: `0 ≤ t < 2^53` (every CBOR and JSON reader
/// agrees on such integers).
pub(crate) fn check_time(t: Seconds, what: &str) -> Result<(), String> {
    if (0..1 << 53).contains(&t) {
        Ok(())
    } else {
        Err(format!("{what} is outside 1970 to 2^53 seconds"))
    }
}

/// The rules of one entry: its time in range, a reason of 1 to [`MAX_REASON_BYTES`] bytes that
/// is not only white space.
pub fn check_entry(revoked_at: Seconds, reason: &str) -> Result<(), String> {
    check_time(revoked_at, "revoked-at")?;
    if reason.trim().is_empty() || reason.len() > MAX_REASON_BYTES {
        return Err(format!(
            "a reason must be 1 to {MAX_REASON_BYTES} bytes, not {}",
            reason.len()
        ));
    }
    Ok(())
}

/// A revocation snapshot as signed: the document and its parsed content.
#[derive(Clone, Debug)]
pub struct SignedSnapshot {
    doc: SignedDocument,
    snapshot: Snapshot,
}

impl SignedSnapshot {
    /// Parses a snapshot file. Signatures are not checked here.
    pub fn parse(bytes: &[u8], limits: &Limits) -> Result<SignedSnapshot, TrustError> {
        let doc = SignedDocument::parse(bytes, Some(DocKind::Revocation), limits)?;
        let snapshot = Snapshot::from_cbor(doc.payload(), limits)?;
        Ok(SignedSnapshot { doc, snapshot })
    }

    /// A new, unsigned snapshot document.
    pub fn unsigned(snapshot: Snapshot) -> SignedSnapshot {
        SignedSnapshot {
            doc: SignedDocument::new(DocKind::Revocation, snapshot.to_cbor()),
            snapshot,
        }
    }

    /// The content.
    pub fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    /// The signed document.
    pub fn document(&self) -> &SignedDocument {
        &self.doc
    }

    /// The file's bytes.
    pub fn to_vec(&self) -> Vec<u8> {
        self.doc.to_vec()
    }

    /// The version.
    pub fn version(&self) -> u64 {
        self.snapshot.version
    }

    /// Adds `key`'s signature.
    pub fn sign(&mut self, key: &PrivateKey) -> Result<(), TrustError> {
        self.doc.add_signature(key)
    }

    /// Checks a threshold of `root`'s `revocation` role signed it (mix-and-match: keys of any
    /// other role, or of an older root, do not count).
    pub fn verify(&self, root: &TrustRoot) -> Result<Vec<KeyId>, TrustError> {
        self.doc.count(
            self.snapshot.version,
            root.role(RoleName::Revocation),
            &root.keys,
            &format!("revocation role of trust root version {}", root.version),
        )
    }

    /// Freshness at `now`: not expired (freeze), not issued in the future.
    pub fn check_fresh(&self, now: Seconds) -> Result<(), TrustError> {
        check_times(
            DocKind::Revocation,
            self.snapshot.version,
            self.snapshot.issued_at,
            self.snapshot.expires,
            now,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trust::root::tests::{
        DAY, T0, code, edit_payload, field, key, make_root, p384, simple_root,
    };

    fn entry_at(days: i64, reason: &str) -> Entry {
        Entry {
            revoked_at: T0 + days * DAY,
            reason: reason.to_owned(),
        }
    }

    fn digest(n: u8) -> Digest {
        Digest::sha256_of(&[n])
    }

    /// Version `version`, issued `T0 + version` days, valid 30 days, revoking key 9 and the
    /// digests of `[1]` and `[2]`.
    fn snapshot(version: u64) -> Snapshot {
        let issued_at = T0 + version as Seconds * DAY;
        Snapshot {
            version,
            issued_at,
            expires: issued_at + 30 * DAY,
            keys: BTreeMap::from([(key(9).id(), entry_at(0, "leaked"))]),
            digests: BTreeMap::from([
                (digest(1), entry_at(1, "malware")),
                (digest(2), entry_at(2, "mis-signed")),
            ]),
        }
    }

    fn signed(s: Snapshot, by: &[&PrivateKey]) -> SignedSnapshot {
        let mut d = SignedSnapshot::unsigned(s);
        for k in by {
            d.sign(k).expect("each key signs once");
        }
        d
    }

    fn from(bytes: &[u8]) -> Result<Snapshot, TrustError> {
        Snapshot::from_cbor(bytes, &Limits::default())
    }

    /// The payload with its top-level map edited, re-encoded deterministically.
    fn edit(s: &Snapshot, f: impl FnOnce(&mut Vec<(Value, Value)>)) -> Vec<u8> {
        edit_payload(&s.to_cbor(), f)
    }

    fn items<'a>(entries: &'a mut [(Value, Value)], name: &str) -> &'a mut Vec<Value> {
        match field(entries, name) {
            Value::Array(a) => a,
            other => panic!("{name} is {other:?}"),
        }
    }

    /// One named edit of a document.
    type Edit = Box<dyn Fn(&mut Vec<(Value, Value)>)>;

    #[test]
    fn cbor_round_trips() {
        for s in [
            snapshot(3),
            Snapshot {
                keys: BTreeMap::new(),
                digests: BTreeMap::new(),
                ..snapshot(1)
            },
        ] {
            let bytes = s.to_cbor();
            let back = from(&bytes).expect("a snapshot's own payload reads back");
            assert_eq!(back, s);
            assert_eq!(back.to_cbor(), bytes, "one encoding per snapshot");
        }
        let s = snapshot(1);
        assert_eq!(s.len(), 3);
        assert!(!s.is_empty());
        assert_eq!(
            s.key(&key(9).id()).map(|e| e.reason.as_str()),
            Some("leaked")
        );
        assert!(s.key(&key(1).id()).is_none());
        assert!(s.digest(&digest(1)).is_some());
        assert!(s.digest(&digest(3)).is_none());
    }

    #[test]
    fn signed_snapshots_round_trip_and_verify() {
        let root = simple_root(1);
        let d = signed(snapshot(2), &[&key(2)]);
        let bytes = d.to_vec();
        let back = SignedSnapshot::parse(&bytes, &Limits::default()).expect("parse");
        assert_eq!(back.snapshot(), &snapshot(2));
        assert_eq!(back.version(), 2);
        assert_eq!(back.to_vec(), bytes);
        assert_eq!(back.document().signers(), &[key(2).id()]);
        assert_eq!(
            back.verify(&root).expect("the revocation key"),
            vec![key(2).id()]
        );
        // A P-384 revocation key.
        let p = p384();
        let root = make_root(1, (&[&key(1)], 1), &[&p], &[&key(3)]);
        let back = SignedSnapshot::parse(&signed(snapshot(1), &[&p]).to_vec(), &Limits::default())
            .expect("parse");
        back.verify(&root).expect("the P-384 revocation key");
    }

    #[test]
    fn a_root_is_not_a_snapshot() {
        let root = crate::trust::root::tests::sign_root(simple_root(1), &[&key(1)]);
        assert_eq!(
            code(SignedSnapshot::parse(&root.to_vec(), &Limits::default())),
            "wrong-type"
        );
    }

    #[test]
    fn non_canonical_payloads_are_refused() {
        let mut v = cbor::decode(&snapshot(1).to_cbor(), usize::MAX).expect("canonical");
        let Value::Map(entries) = &mut v else {
            panic!("a map")
        };
        entries.reverse();
        let mut reordered = Vec::new();
        ciborium::into_writer(&v, &mut reordered).expect("encode");
        assert_eq!(code(from(&reordered)), "non-canonical");
        // An entry's keys reordered.
        let mut v = cbor::decode(&snapshot(1).to_cbor(), usize::MAX).expect("canonical");
        let Value::Map(entries) = &mut v else {
            panic!("a map")
        };
        let Value::Map(e) = &mut items(entries, "keys")[0] else {
            panic!("an entry")
        };
        e.reverse();
        let mut reordered = Vec::new();
        ciborium::into_writer(&v, &mut reordered).expect("encode");
        assert_eq!(code(from(&reordered)), "non-canonical");
    }

    #[test]
    fn unknown_keys_and_wrong_types_are_refused() {
        let s = snapshot(1);
        let cases: Vec<(&str, Edit)> = vec![
            (
                "an unknown top-level key",
                Box::new(|m| m.push(entry("note", Value::Text("x".into())))),
            ),
            (
                "an unknown entry key",
                Box::new(|m| {
                    let Value::Map(e) = &mut items(m, "keys")[0] else {
                        panic!("entry")
                    };
                    e.push(entry("severity", uint(9)));
                }),
            ),
            (
                "no digests",
                Box::new(|m| m.retain(|(k, _)| k.as_text() != Some("digests"))),
            ),
            (
                "version as text",
                Box::new(|m| *field(m, "version") = Value::Text("1".into())),
            ),
            (
                "keys as a map",
                Box::new(|m| *field(m, "keys") = Value::Map(vec![])),
            ),
            (
                "revoked-at as text",
                Box::new(|m| {
                    let Value::Map(e) = &mut items(m, "digests")[0] else {
                        panic!("entry")
                    };
                    e.iter_mut()
                        .filter(|(k, _)| k.as_text() == Some("revoked-at"))
                        .for_each(|(_, v)| *v = Value::Text("yesterday".into()));
                }),
            ),
            (
                "a reason over the limit",
                Box::new(|m| {
                    let Value::Map(e) = &mut items(m, "digests")[0] else {
                        panic!("entry")
                    };
                    e.iter_mut()
                        .filter(|(k, _)| k.as_text() == Some("reason"))
                        .for_each(|(_, v)| *v = Value::Text("x".repeat(MAX_REASON_BYTES + 1)));
                }),
            ),
            (
                "a key id in upper case",
                Box::new(|m| {
                    let Value::Map(e) = &mut items(m, "keys")[0] else {
                        panic!("entry")
                    };
                    e.iter_mut()
                        .filter(|(k, _)| k.as_text() == Some("key-id"))
                        .for_each(|(_, v)| {
                            *v = Value::Text(key(9).id().to_string().to_uppercase());
                        });
                }),
            ),
            (
                "a digest without its algorithm",
                Box::new(|m| {
                    let Value::Map(e) = &mut items(m, "digests")[0] else {
                        panic!("entry")
                    };
                    e.iter_mut()
                        .filter(|(k, _)| k.as_text() == Some("digest"))
                        .for_each(|(_, v)| *v = Value::Text(digest(1).hex().to_owned()));
                }),
            ),
            (
                "a key entry under digests",
                Box::new(|m| {
                    let k = items(m, "keys")[0].clone();
                    *items(m, "digests") = vec![k];
                }),
            ),
            (
                "the trust root's type",
                Box::new(|m| *field(m, "type") = Value::Text(DocKind::Root.type_name().into())),
            ),
            ("version 0", Box::new(|m| *field(m, "version") = uint(0))),
            (
                "expires before issued-at",
                Box::new(|m| *field(m, "expires") = uint(T0 as u64)),
            ),
        ];
        for (what, f) in cases {
            assert_eq!(code(from(&edit(&s, f))), "malformed", "{what}");
        }
    }

    #[test]
    fn entries_are_sorted_and_unique() {
        let s = snapshot(1);
        let reversed = edit(&s, |m| items(m, "digests").reverse());
        assert_eq!(code(from(&reversed)), "malformed");
        let doubled = edit(&s, |m| {
            let d = items(m, "digests");
            let first = d[0].clone();
            d.insert(0, first);
        });
        assert_eq!(code(from(&doubled)), "malformed");
    }

    #[test]
    fn entries_are_limited() {
        let s = snapshot(1);
        let three = Limits {
            max_revocation_entries: 3,
            ..Limits::default()
        };
        Snapshot::from_cbor(&s.to_cbor(), &three).expect("at the limit");
        let two = Limits {
            max_revocation_entries: 2,
            ..Limits::default()
        };
        let e = Snapshot::from_cbor(&s.to_cbor(), &two).expect_err("over the limit");
        assert_eq!(e.code(), "too-large");
        let bytes = signed(s, &[&key(2)]).to_vec();
        assert_eq!(code(SignedSnapshot::parse(&bytes, &two)), "too-large");
    }

    #[test]
    fn successors_only_append() {
        let base = snapshot(2);
        let mut next = snapshot(3);
        next.keys.insert(key(8).id(), entry_at(3, "lost laptop"));
        base.check_successor(&next).expect("a superset");
        base.check_successor(&snapshot(3))
            .expect("no new entries, a new version");
        base.check_successor(&base.clone())
            .expect("the same snapshot again");

        let mut removed_key = snapshot(3);
        removed_key.keys.clear();
        let e = base.check_successor(&removed_key).expect_err("dropped key");
        assert!(
            matches!(&e, TrustError::RemovedEntry { version: 3, entry } if entry.contains(&key(9).id().to_string())),
            "{e:?}"
        );
        let mut removed_digest = snapshot(3);
        removed_digest.digests.remove(&digest(2));
        assert_eq!(code(base.check_successor(&removed_digest)), "removed-entry");
        let mut new_reason = snapshot(3);
        new_reason
            .keys
            .insert(key(9).id(), entry_at(0, "false alarm"));
        assert_eq!(code(base.check_successor(&new_reason)), "removed-entry");
        let mut later = snapshot(3);
        later.digests.insert(digest(1), entry_at(5, "malware"));
        assert_eq!(code(base.check_successor(&later)), "removed-entry");

        let mut same_version = snapshot(2);
        same_version.digests.insert(digest(7), entry_at(2, "more"));
        let e = base
            .check_successor(&same_version)
            .expect_err("equivocation");
        assert!(
            matches!(
                e,
                TrustError::VersionConflict {
                    what: DocKind::Revocation,
                    version: 2
                }
            ),
            "{e:?}"
        );
        let mut reissued = snapshot(2);
        reissued.expires += DAY;
        assert_eq!(code(base.check_successor(&reissued)), "version-conflict");

        let e = base.check_successor(&snapshot(1)).expect_err("older");
        assert!(
            matches!(
                e,
                TrustError::Rollback {
                    trusted: 2,
                    offered: 1,
                    ..
                }
            ),
            "{e:?}"
        );
    }

    #[test]
    fn only_the_current_revocation_role_counts() {
        let (root_key, old_rev, new_rev) = (key(1), key(2), key(4));
        let v1 = simple_root(1);
        let v2 = make_root(2, (&[&root_key], 1), &[&new_rev], &[&key(3)]);
        let by_old = signed(snapshot(1), &[&old_rev]);
        by_old.verify(&v1).expect("v1's revocation key");
        // Mix-and-match: the old revocation key under the new root.
        let e = by_old.verify(&v2).expect_err("old key, new root");
        assert!(
            matches!(&e, TrustError::WrongRole { outside, .. } if outside == &vec![old_rev.id()]),
            "{e:?}"
        );
        assert!(e.to_string().contains("trust root version 2"), "{e}");
        // A root-role key is not a revocation key.
        assert_eq!(
            code(signed(snapshot(1), &[&root_key]).verify(&v1)),
            "wrong-role"
        );
        // A bundle key neither.
        assert_eq!(
            code(signed(snapshot(1), &[&key(3)]).verify(&v1)),
            "wrong-role"
        );
        // Beside the right key, other keys are ignored.
        signed(snapshot(1), &[&root_key, &new_rev])
            .verify(&v2)
            .expect("the revocation key signed");
        assert_eq!(code(signed(snapshot(1), &[]).verify(&v1)), "threshold");
    }

    #[test]
    fn freshness_has_expiry_and_skew() {
        let d = signed(snapshot(1), &[&key(2)]);
        let s = d.snapshot().clone();
        d.check_fresh(s.issued_at).expect("at issue");
        d.check_fresh(s.expires - 1).expect("before expiry");
        assert_eq!(code(d.check_fresh(s.expires)), "expired");
        d.check_fresh(s.issued_at - crate::trust::CLOCK_SKEW)
            .expect("within the skew");
        assert_eq!(
            code(d.check_fresh(s.issued_at - crate::trust::CLOCK_SKEW - 1)),
            "from-future"
        );
    }
}
