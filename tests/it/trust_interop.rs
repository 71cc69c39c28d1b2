//! Trust-root interop: pycose and cbor2 against airlock's multi-signature `COSE_Sign_Tagged`
//! documents, in both directions (`formats/trust-root.md`).
//!
//! `tests/it/pycose/verify_sign.py` decodes a root with pycose, verifies every `COSE_Signature`
//! with the key whose id (computed in Python from the SPKI DER) is its kid, and checks with cbor2
//! that the payload is in the deterministic encoding and that every key id is the SHA-256 of its
//! SPKI. `tests/it/pycose/make_root.py` builds a root's payload with cbor2 and signs it with
//! pycose; airlock must pin it, show what Python wrote, and refuse it when the payload's maps are
//! not in deterministic order. Both sides sign deterministically (Ed25519; ES384 with RFC 6979
//! nonces), so a root pycose signs must be byte for byte the root airlock signs over the same
//! payload with the same keys.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use airlock::key::{self, KeyError, PrivateKey, PublicKey};
use airlock::time::{self, Seconds, format_rfc3339};
use airlock::trust::{DocKind, SignedDocument, SignedRoot};
use airlock::{Digest, Limits};
use coset::TaggedCborSerializable;
use serde_json::{Value, json};

use crate::harness::python;
use crate::trust::Org as Work;

/// `verify_sign.py`: every signature verifies and the payload checks hold.
const PY_VERIFIED: i32 = 0;
/// `verify_sign.py`: a signature does not verify (or no key was given for its kid).
const PY_INVALID: i32 = 3;
/// `verify_sign.py`: the signatures verify, but cbor2 finds the payload not canonical or a key
/// id that is not the SHA-256 of its SPKI.
const PY_PAYLOAD: i32 = 5;

const DAY: Seconds = 86_400;
const TRUST_ROOT_CT: &str = "application/vnd.airlock.trust-root.v1+cbor";

/// A script in `tests/it/pycose/`.
fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/it/pycose")
        .join(name)
}

/// What the interop tests need beyond the trust tests' work directory.
impl Work {
    /// The private key airlock wrote as `NAME.key` (unencrypted).
    fn private_key(&self, name: &str) -> PrivateKey {
        key::read_private_key(&self.path(&format!("{name}.key")), || {
            Err(KeyError::NoPassphrase(name.to_owned()))
        })
        .unwrap_or_else(|e| panic!("cannot read {name}.key: {e}"))
    }

    fn read(&self, rel: &str) -> Vec<u8> {
        fs::read(self.path(rel)).unwrap_or_else(|e| panic!("cannot read {rel}: {e}"))
    }

    fn write(&self, rel: &str, bytes: &[u8]) {
        fs::write(self.path(rel), bytes).unwrap_or_else(|e| panic!("cannot write {rel}: {e}"));
    }

    /// Runs `verify_sign.py ROOT PUB...` (paths relative to the work directory).
    fn verify_sign(&self, root: &str, public: &[&str]) -> PycoseVerdict {
        let out = Command::new(python())
            .current_dir(self.dir.path())
            .arg(script("verify_sign.py"))
            .arg(root)
            .args(public)
            .stdin(Stdio::null())
            .output()
            .expect("run verify_sign.py");
        let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "verify_sign.py {root} exited {} without a JSON report ({e}); stderr:\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )
        });
        PycoseVerdict {
            code: out.status.code(),
            report,
        }
    }

    /// Runs `make_root.py OUT ARGS` (paths relative to the work directory); returns the file.
    fn make_root(&self, out: &str, args: &[String]) -> Vec<u8> {
        let run = Command::new(python())
            .current_dir(self.dir.path())
            .arg(script("make_root.py"))
            .arg(out)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run make_root.py");
        assert!(
            run.status.success(),
            "make_root.py {out} {args:?} failed ({}):\n{}",
            run.status,
            String::from_utf8_lossy(&run.stderr)
        );
        self.read(out)
    }
}

/// What `verify_sign.py` said about one root.
#[derive(Debug)]
struct PycoseVerdict {
    code: Option<i32>,
    report: Value,
}

fn ids(keys: &[&PublicKey]) -> Vec<String> {
    keys.iter().map(|k| k.id().to_string()).collect()
}

/// The protected header airlock writes for a signature by `key` (formats/trust-root.md,
/// "Sig_structure"): `{1: alg, 4: kid}`, alg first, the kid as a 71-byte bstr.
fn signature_protected_hex(key: &PublicKey) -> String {
    let alg = match key.algorithm().name() {
        "ed25519" => "27",
        "p384" => "3822",
        other => panic!("no COSE alg for {other}"),
    };
    format!(
        "a201{alg}045847{}",
        hex::encode(key.id().to_string().as_bytes())
    )
}

/// `bytes` with one bit flipped in the middle of the `index`th signature value, located through
/// coset so that nothing but that byte changes.
fn flip_signature_byte(bytes: &[u8], index: usize) -> Vec<u8> {
    let sign = coset::CoseSign::from_tagged_slice(bytes).expect("the root is a COSE_Sign_Tagged");
    let sig = &sign.signatures[index].signature;
    let at = bytes
        .windows(sig.len())
        .position(|w| w == sig.as_slice())
        .expect("the signature value appears in the file")
        + sig.len() / 2;
    let mut out = bytes.to_vec();
    out[at] ^= 0x01;
    out
}

/// (a) airlock makes and signs a root (two Ed25519 root keys and a P-384 one, a P-384 and an
/// Ed25519 signer identity); pycose verifies every signature, cbor2 agrees the payload is in the
/// deterministic encoding, and each flipped signature is caught by pycose and by airlock.
#[test]
fn pycose_verifies_every_signature_of_an_airlock_root() {
    let w = Work::new();
    let root_a = w.key("root-a", "ed25519");
    let root_b = w.key("root-b", "ed25519");
    let root_p = w.key("root-p", "p384");
    let revoker = w.key("revoker", "ed25519");
    let bundler = w.key("bundler", "ed25519");
    let vendor = w.key("vendor", "p384");
    let acme = w.key("acme", "ed25519");
    w.ok(
        "-",
        &[
            "trust",
            "init",
            "--root-key",
            "root-a.pub",
            "--root-key",
            "root-b.pub",
            "--root-key",
            "root-p.pub",
            "--root-threshold",
            "2",
            "--revocation-key",
            "revoker.pub",
            "--bundle-key",
            "bundler.pub",
            "--signer",
            "vendor=vendor.pub",
            "--signer",
            "acme-prod=acme.pub",
            "--expires",
            "365d",
            "-o",
            "root.cose",
        ],
    );
    for k in ["root-a", "root-b", "root-p"] {
        w.ok(
            "-",
            &["trust", "sign", "root.cose", "--key", &format!("{k}.key")],
        );
    }
    let bytes = w.read("root.cose");
    let publics = [
        "root-a.pub",
        "root-b.pub",
        "root-p.pub",
        "revoker.pub",
        "bundler.pub",
        "vendor.pub",
        "acme.pub",
    ];

    let v = w.verify_sign("root.cose", &publics);
    let r = &v.report;
    assert_eq!(
        v.code,
        Some(PY_VERIFIED),
        "pycose/cbor2 refuse the root airlock signed: {v:?}"
    );
    let signed_by = ids(&[&root_a, &root_b, &root_p]);
    assert_eq!(
        r["kids"],
        json!(signed_by),
        "pycose reads other kids than the keys that signed, in signing order"
    );
    assert_eq!(
        r["verified"],
        json!(signed_by),
        "pycose verifies not every signature"
    );
    let algs: Vec<&Value> = r["signatures"]
        .as_array()
        .expect("signatures in the report")
        .iter()
        .map(|s| &s["alg"])
        .collect();
    assert_eq!(
        algs,
        [&json!(-8), &json!(-8), &json!(-35)],
        "pycose reads other algs: {r}"
    );
    let lengths: Vec<&Value> = r["signatures"]
        .as_array()
        .expect("signatures in the report")
        .iter()
        .map(|s| &s["length"])
        .collect();
    assert_eq!(
        lengths,
        [&json!(64), &json!(64), &json!(96)],
        "Ed25519 signatures are 64 bytes, ES384 ones 96 (r||s): {r}"
    );
    assert_eq!(r["cty"], TRUST_ROOT_CT, "pycose reads another content type");
    assert_eq!(
        r["canonical"], true,
        "cbor2's canonical re-encoding of airlock's payload differs from it"
    );
    assert_eq!(
        r["key_ids_match"], true,
        "a payload key id is not the SHA-256 of its SPKI (computed in Python): {r}"
    );
    assert_eq!(
        r["message_canonical"], true,
        "cbor2's canonical re-encoding of the whole message differs from the file"
    );
    assert_eq!(
        r["protected_canonical"], true,
        "a protected header airlock wrote is not cbor2-canonical: {}",
        r["protected"]
    );
    assert_eq!(
        r["unprotected_empty"], true,
        "an unprotected header is not empty"
    );
    assert_eq!(
        r["protected"]["body"],
        format!(
            "a10378{:02x}{}",
            TRUST_ROOT_CT.len(),
            hex::encode(TRUST_ROOT_CT)
        ),
        "the body protected header is not {{3: content type}}"
    );
    assert_eq!(
        r["protected"]["signatures"],
        json!([
            signature_protected_hex(&root_a),
            signature_protected_hex(&root_b),
            signature_protected_hex(&root_p),
        ]),
        "the signatures' protected headers are not {{1: alg, 4: kid}}"
    );
    let p = &r["payload"];
    assert_eq!(p["type"], "airlock.trust-root.v1");
    assert_eq!(p["version"], 1, "cbor2 reads another version: {p}");
    assert_eq!(
        p["roles"],
        json!({ "root": 2, "revocation": 1, "bundle": 1 }),
        "cbor2 reads other role thresholds"
    );
    let mut root_keys = signed_by.clone();
    root_keys.sort();
    assert_eq!(
        p["role-keys"]["root"],
        json!(root_keys),
        "the root role's key ids are not sorted or not the root keys"
    );
    assert_eq!(p["signers"], json!(["acme-prod", "vendor"]));
    assert_eq!(p["signer-keys"]["vendor"], json!([vendor.id().to_string()]));
    assert_eq!(
        p["signer-keys"]["acme-prod"],
        json!([acme.id().to_string()])
    );
    let algorithms: Vec<(String, &str)> = [
        &root_a, &root_b, &root_p, &revoker, &bundler, &vendor, &acme,
    ]
    .iter()
    .map(|k| (k.id().to_string(), k.algorithm().name()))
    .collect();
    for (id, alg) in &algorithms {
        assert_eq!(
            p["keys"][id], *alg,
            "cbor2 reads key {id} as another algorithm"
        );
    }
    assert_eq!(
        p["keys"].as_object().map(|m| m.len()),
        Some(algorithms.len()),
        "the payload lists other keys: {p}"
    );

    // One bit of each signature flipped: pycose refuses exactly that one, and so does airlock.
    for (i, who) in ["root-a", "root-b", "root-p"].iter().enumerate() {
        let name = format!("flipped-{who}.cose");
        let flipped = flip_signature_byte(&bytes, i);
        assert_eq!(
            flipped.iter().zip(&bytes).filter(|(a, b)| a != b).count(),
            1,
            "the copy differs in one byte"
        );
        w.write(&name, &flipped);
        let v = w.verify_sign(&name, &publics);
        assert_eq!(
            v.code,
            Some(PY_INVALID),
            "pycose accepts the root with {who}'s signature flipped: {v:?}"
        );
        let mut others = signed_by.clone();
        let bad = others.remove(i);
        assert_eq!(
            v.report["verified"],
            json!(others),
            "pycose verifies other signatures than all but {who}'s"
        );
        let (code, doc, _) = w.json(
            &format!("store-{who}"),
            &[
                "trust",
                "pin",
                &name,
                "--digest",
                &Digest::sha256_of(&flipped).to_string(),
            ],
        );
        let message = doc["error"]["message"].as_str().unwrap_or_default();
        assert_eq!(
            code, 1,
            "airlock pins the root with {who}'s signature flipped: {doc}"
        );
        assert!(
            message.contains("does not verify") && message.contains(&bad),
            "airlock's error does not name {who}'s bad signature: {message}"
        );
    }

    // Sanity check of the check: the root pins as it is.
    w.ok(
        "store",
        &[
            "trust",
            "pin",
            "root.cose",
            "--digest",
            &Digest::sha256_of(&bytes).to_string(),
        ],
    );
}

/// (b) cbor2 and pycose make a root signed by two keys airlock generated (Ed25519 and P-384);
/// airlock pins it by its file digest and shows what Python wrote; the file is byte for byte
/// what airlock writes for that payload; a payload whose maps are not in deterministic order is
/// refused as non-canonical (while pycose still verifies its signatures).
#[test]
fn airlock_accepts_the_root_pycose_makes_and_refuses_a_non_canonical_one() {
    let w = Work::new();
    let root_a = w.key("root-a", "ed25519");
    let root_p = w.key("root-p", "p384");
    let vendor = w.key("vendor", "p384");
    let acme = w.key("acme", "ed25519");
    let acme2 = w.key("acme2", "p384");
    let now = time::now();
    let (issued, expires) = (now - 3600, now + 30 * DAY);
    let args = |extra: &[&str]| -> Vec<String> {
        let mut a: Vec<String> = [
            "--root-key",
            "root-a.key",
            "--root-key",
            "root-p.key",
            "--threshold",
            "2",
            "--revocation-threshold",
            "1",
            "--signer",
            "vendor=vendor.pub",
            "--signer",
            "acme-prod=acme.pub",
            "--signer",
            "acme-prod=acme2.pub",
            "--version",
            "3",
            "--issued-at",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        a.extend([issued.to_string(), "--expires".into(), expires.to_string()]);
        a.extend(extra.iter().map(|s| (*s).to_owned()));
        a
    };
    let bytes = w.make_root("py-root.cose", &args(&[]));

    // pycose's own reading of what it wrote, as a baseline.
    let publics = ["root-a.pub", "root-p.pub"];
    let v = w.verify_sign("py-root.cose", &publics);
    assert_eq!(
        v.code,
        Some(PY_VERIFIED),
        "pycose does not verify its own root: {v:?}"
    );

    // Byte for byte what airlock writes: the payload re-encodes identically, and airlock signing
    // that payload with the same keys (both deterministic) gives the same file.
    let limits = Limits::default();
    let parsed = SignedRoot::parse(&bytes, &limits)
        .unwrap_or_else(|e| panic!("airlock cannot parse the root pycose made: {e}"));
    let payload = parsed.document().payload().to_vec();
    assert_eq!(
        parsed.root().to_cbor(),
        payload,
        "airlock re-encodes cbor2's canonical payload differently"
    );
    let mut own = SignedDocument::new(DocKind::Root, payload);
    for k in ["root-a", "root-p"] {
        own.add_signature(&w.private_key(k))
            .unwrap_or_else(|e| panic!("airlock cannot sign with {k}: {e}"));
    }
    let own = own.to_vec();
    if own != bytes {
        panic!(
            "pycose's root differs from airlock's over the same payload and keys:\n\
             pycose  {}\nairlock {}",
            hex::encode(&bytes),
            hex::encode(&own)
        );
    }

    // Pinned by the digest of its file, then shown as Python wrote it.
    let digest = Digest::sha256_of(&bytes).to_string();
    w.ok(
        "store",
        &["trust", "pin", "py-root.cose", "--digest", &digest],
    );
    let (code, shown, _) = w.json("store", &["trust", "show"]);
    assert_eq!(code, 0, "airlock trust show fails: {shown}");
    assert_eq!(shown["state"]["pinned"], digest.as_str());
    let root = &shown["root"];
    assert_eq!(root["version"], 3, "airlock shows another version: {root}");
    assert_eq!(root["issuedAt"], format_rfc3339(issued));
    assert_eq!(root["expires"], format_rfc3339(expires));
    let thresholds: Vec<(&str, &Value)> = ["root", "revocation", "bundle"]
        .iter()
        .map(|r| (*r, &root["roles"][r]["threshold"]))
        .collect();
    assert_eq!(
        thresholds,
        [
            ("root", &json!(2)),
            ("revocation", &json!(1)),
            ("bundle", &json!(2))
        ],
        "airlock shows other role thresholds than pycose wrote"
    );
    let mut root_keys = ids(&[&root_a, &root_p]);
    root_keys.sort();
    for role in ["root", "revocation", "bundle"] {
        assert_eq!(
            root["roles"][role]["keys"],
            json!(root_keys),
            "airlock shows other keys for the {role} role"
        );
    }
    let names: Vec<&String> = root["signers"]
        .as_object()
        .expect("signers in the shown root")
        .keys()
        .collect();
    assert_eq!(
        names,
        ["acme-prod", "vendor"],
        "airlock shows other signer names than pycose wrote"
    );
    let mut acme_keys = ids(&[&acme, &acme2]);
    acme_keys.sort();
    assert_eq!(
        root["signers"]["acme-prod"],
        json!({ "keys": acme_keys, "threshold": 1 })
    );
    assert_eq!(
        root["signers"]["vendor"],
        json!({ "keys": [vendor.id().to_string()], "threshold": 1 })
    );
    assert_eq!(root["keys"][root_p.id().to_string()], "p384");
    assert_eq!(root["keys"][acme.id().to_string()], "ed25519");
    assert_eq!(
        root["signatures"],
        json!(ids(&[&root_a, &root_p])),
        "airlock reads other signers of the file"
    );

    // Mixed parties: pycose signs with the first key, airlock adds the second; the file keeps
    // pycose's bytes, so it equals the root pycose signed alone.
    w.make_root("mixed.cose", &args(&["--sign-count", "1"]));
    w.ok("-", &["trust", "sign", "mixed.cose", "--key", "root-p.key"]);
    assert!(
        w.read("mixed.cose") == bytes,
        "pycose signing one key and airlock the other gives another file than pycose signing both"
    );

    // The same root with its payload maps in document order (type, version, issued-at, …), not
    // the deterministic order: pycose verifies the signatures, cbor2 and airlock both object.
    let non_canonical = w.make_root("non-canonical.cose", &args(&["--order", "document"]));
    let v = w.verify_sign("non-canonical.cose", &publics);
    assert_eq!(
        v.code,
        Some(PY_PAYLOAD),
        "verify_sign.py does not flag the non-canonical payload: {v:?}"
    );
    assert_eq!(v.report["verified"], json!(ids(&[&root_a, &root_p])));
    assert_eq!(v.report["canonical"], false);
    for args in [
        vec!["trust", "show", "non-canonical.cose"],
        vec![
            "trust",
            "pin",
            "non-canonical.cose",
            "--digest",
            &Digest::sha256_of(&non_canonical).to_string(),
        ],
    ] {
        let (code, doc, _) = w.json("store-nc", &args);
        assert_eq!(
            code, 1,
            "airlock {args:?} accepts a payload not in deterministic order: {doc}"
        );
        let message = doc["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("not deterministically encoded"),
            "airlock {args:?} refuses the non-canonical payload with another message: {message}"
        );
    }
    assert!(
        !w.path("store-nc/state.json").exists(),
        "a refused root left a pinned store behind"
    );
}
