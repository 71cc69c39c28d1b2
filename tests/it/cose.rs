//! COSE interop: pycose in both directions, and the COSE working group vectors.
//!
//! pycose is an independent COSE implementation. `tests/it/pycose/verify.py` must accept the
//! envelopes airlock writes and `tests/it/pycose/sign.py` writes envelopes airlock must accept;
//! each side must refuse the other's envelope with one byte of the payload or of the signature
//! flipped. The COSE working group's examples (`tests/vectors/cose-wg/`) pin airlock's keys and
//! coset's `Sig_structure` to the standard: the EdDSA ones are rebuilt byte for byte, the ES384
//! one is verified.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use airlock::Digest;
use airlock::Limits;
use airlock::build::{attach, write_sample};
use airlock::key::{KeyAlgorithm, KeyError, PrivateKey, PublicKey};
use airlock::layout::Layout;
use airlock::reference::LayoutTag;
use airlock::signature::envelope::{self, Envelope, SignOptions, Target};
use airlock::signature::{COSE_MEDIA_TYPE, SIGNATURE_ARTIFACT_TYPE, target_of};
use airlock::time::{Seconds, format_rfc3339};
use coset::{
    CoseSign1, CoseSign1Builder, CoseSignBuilder, CoseSignatureBuilder, HeaderBuilder,
    RegisteredLabelWithPrivate, TaggedCborSerializable, iana,
};
use serde_json::Value;

use crate::harness::{airlock, python, run_ok};

/// The signing time every envelope here records: 2026-01-01T00:00:00Z.
const SIGNING_TIME: Seconds = 1_767_225_600;

/// `verify.py`: the signature verifies.
const PY_VERIFIED: i32 = 0;
/// `verify.py`: the message decodes but its signature does not verify.
const PY_INVALID: i32 = 3;
/// `verify.py`: pycose cannot decode the message.
const PY_UNDECODABLE: i32 = 4;

/// A script in `tests/it/pycose/`.
fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/it/pycose")
        .join(name)
}

/// A vector in `tests/vectors/cose-wg/`, parsed.
fn vector(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors/cose-wg")
        .join(name);
    let text =
        fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// The string at `pointer` in `doc`.
fn text<'a>(doc: &'a Value, pointer: &str) -> &'a str {
    doc.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("vector has no string at {pointer}"))
}

/// The hex string at `pointer` in `doc`, decoded.
fn hex_at(doc: &Value, pointer: &str) -> Vec<u8> {
    hex::decode(text(doc, pointer)).unwrap_or_else(|e| panic!("{pointer} is not hex: {e}"))
}

/// Decodes unpadded base64url (RFC 4648 section 5), as JWK coordinates are written.
fn base64url(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => panic!("{s:?} is not unpadded base64url"),
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    assert_eq!(acc, 0, "{s:?} has leftover bits");
    out
}

/// A temporary directory holding the sample layout (tagged `dev`) and whatever a test writes
/// beside it, with the [`Target`] a signature of the tagged index names.
struct Fixture {
    work: tempfile::TempDir,
    dir: PathBuf,
    layout: Layout,
    subject: oci_spec::image::Descriptor,
    target: Target,
}

impl Fixture {
    fn new() -> Fixture {
        let work = tempfile::tempdir().expect("temporary directory");
        let dir = work.path().join("layout");
        let layout = Layout::init(&dir, Limits::default()).expect("init layout");
        let sample = write_sample(&layout, &LayoutTag::new("dev").expect("tag"), "net-monitor")
            .expect("write sample");
        let target = target_of(&layout, &sample.index, &Limits::default()).expect("target");
        Fixture {
            work,
            dir,
            layout,
            subject: sample.index,
            target,
        }
    }

    /// `oci:DIR:dev`.
    fn oci_ref(&self) -> String {
        format!("oci:{}:dev", self.dir.display())
    }

    /// Writes `bytes` to `name` in the work directory and returns the path.
    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.work.path().join(name);
        fs::write(&path, bytes).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        path
    }

    /// Writes `key` as `NAME.key` (unencrypted PKCS#8 PEM) and `NAME.pub` (SPKI PEM).
    fn write_key(&self, name: &str, key: &PrivateKey) -> (PathBuf, PathBuf) {
        let private = key.to_pkcs8_pem(None).expect("encode private key");
        (
            self.write(&format!("{name}.key"), private.as_bytes()),
            self.write(&format!("{name}.pub"), key.public().to_pem().as_bytes()),
        )
    }

    /// Stores `envelope` as a signature referrer of the tagged index, as `airlock sign` does.
    fn attach(&self, envelope: &[u8]) {
        attach(
            &self.layout,
            &self.subject,
            SIGNATURE_ARTIFACT_TYPE,
            envelope,
            COSE_MEDIA_TYPE,
            &BTreeMap::new(),
        )
        .expect("attach signature");
    }

    /// Runs `airlock --json verify oci:DIR:dev --key PUB --at T`; returns the exit code and the
    /// `verify` report.
    fn cli_verify(&self, public: &Path, at: Seconds) -> (Option<i32>, Value) {
        let out = airlock()
            .args(["--json", "verify", &self.oci_ref(), "--key"])
            .arg(public)
            .args(["--at", &format_rfc3339(at)])
            .stdin(Stdio::null())
            .output()
            .expect("run airlock verify");
        let report = json_documents(&out)
            .into_iter()
            .find(|d| d["kind"] == "verify")
            .unwrap_or_else(|| {
                panic!(
                    "airlock verify printed no verify report; stderr:\n{}",
                    String::from_utf8_lossy(&out.stderr)
                )
            });
        (out.status.code(), report)
    }
}

/// Every JSON document on `out`'s stdout.
fn json_documents(out: &Output) -> Vec<Value> {
    serde_json::Deserializer::from_slice(&out.stdout)
        .into_iter::<Value>()
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
}

/// What `verify.py` said about one envelope.
#[derive(Debug)]
struct PycoseVerdict {
    /// Its exit code: [`PY_VERIFIED`], [`PY_INVALID`] or [`PY_UNDECODABLE`].
    code: Option<i32>,
    /// The JSON it printed: the decoded headers and payload, or the decoding error.
    report: Value,
}

/// Runs `verify.py ENVELOPE PUBLIC_KEY`.
fn pycose_verify(envelope: &Path, public: &Path) -> PycoseVerdict {
    let out = Command::new(python())
        .arg(script("verify.py"))
        .arg(envelope)
        .arg(public)
        .stdin(Stdio::null())
        .output()
        .expect("run verify.py");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "verify.py exited {} without a JSON report ({e}); stderr:\n{stderr}",
            out.status
        )
    });
    PycoseVerdict {
        code: out.status.code(),
        report,
    }
}

/// Runs `sign.py` for `target` with the private key at `key`; returns the envelope.
fn pycose_sign(f: &Fixture, key: &Path, target: &Target, expiry: Option<Seconds>) -> Vec<u8> {
    let out_path = f.work.path().join("pycose.cose");
    let mut cmd = Command::new(python());
    cmd.arg(script("sign.py"))
        .arg("--key")
        .arg(key)
        .args(["--media-type", &target.media_type])
        .args(["--digest", &target.digest.to_string()])
        .args(["--size", &target.size.to_string()])
        .args(["--signing-time", &SIGNING_TIME.to_string()]);
    if let Some(e) = expiry {
        cmd.args(["--expiry", &e.to_string()]);
    }
    run_ok(cmd.arg(&out_path), "sign.py");
    fs::read(&out_path).expect("read pycose envelope")
}

/// `envelope` with one hex digit of the target digest in its payload changed: still a
/// well-formed envelope, whose payload now names another artifact.
fn tamper_payload(envelope: &[u8], target: &Target) -> Vec<u8> {
    let digest = target.digest.to_string();
    let at = envelope
        .windows(digest.len())
        .position(|w| w == digest.as_bytes())
        .expect("the payload holds the target digest")
        + digest.len()
        - 1;
    let mut out = envelope.to_vec();
    out[at] = if out[at] == b'0' { b'1' } else { b'0' };
    out
}

/// `envelope` with one bit of the last signature byte flipped (the signature is the last item).
fn tamper_signature(envelope: &[u8]) -> Vec<u8> {
    let mut out = envelope.to_vec();
    let last = out.len() - 1;
    out[last] ^= 0x01;
    out
}

fn parse(envelope: &[u8]) -> Envelope {
    Envelope::parse(envelope, Limits::default().max_envelope_bytes).expect("envelope parses")
}

/// The layer blob of the signature manifest `digest`: the envelope `airlock sign` stored.
fn stored_envelope(layout: &Layout, digest: &str) -> Vec<u8> {
    let digest: Digest = digest.parse().expect("signature digest");
    let manifest: Value = serde_json::from_slice(
        &fs::read(layout.blob_path(&digest)).expect("read signature manifest"),
    )
    .expect("signature manifest is JSON");
    assert_eq!(manifest["artifactType"], SIGNATURE_ARTIFACT_TYPE);
    assert_eq!(manifest["layers"][0]["mediaType"], COSE_MEDIA_TYPE);
    let layer: Digest = manifest["layers"][0]["digest"]
        .as_str()
        .expect("layer digest")
        .parse()
        .expect("valid layer digest");
    fs::read(layout.blob_path(&layer)).expect("read envelope blob")
}

#[test]
fn pycose_verifies_what_airlock_signs() {
    const DAY: Seconds = 86_400;
    for (algorithm, alg, expires) in [("ed25519", -8, None), ("p384", -35, Some(30 * DAY))] {
        let f = Fixture::new();
        let name = f.work.path().join(algorithm);
        run_ok(
            airlock()
                .args(["key", "generate", "-a", algorithm])
                .arg(&name),
            "airlock key generate",
        );
        let private = name.with_extension("key");
        let public = name.with_extension("pub");
        let key_id = PublicKey::from_pem(
            &fs::read_to_string(&public).expect("read public key"),
            "public key",
        )
        .expect("public key parses")
        .id();

        let mut sign = airlock();
        sign.args(["--json", "sign", &f.oci_ref(), "--key"])
            .arg(&private)
            .args(["--time", &format_rfc3339(SIGNING_TIME)]);
        if let Some(d) = expires {
            sign.args(["--expires", &format!("{}d", d / DAY)]);
        }
        let out = run_ok(&mut sign, "airlock sign");
        let signed: Value = serde_json::from_slice(&out.stdout).expect("sign prints JSON");
        let digest = signed["signature"]["digest"]
            .as_str()
            .expect("signature digest in the sign report");
        let bytes = stored_envelope(&f.layout, digest);
        let stored = f.write("airlock.cose", &bytes);

        let verdict = pycose_verify(&stored, &public);
        assert_eq!(
            verdict.code,
            Some(PY_VERIFIED),
            "pycose refuses airlock's {algorithm} envelope: {verdict:?}"
        );
        let r = &verdict.report;
        assert_eq!(r["verified"], true, "{algorithm}: {r}");
        assert_eq!(r["alg"], alg, "{algorithm}: pycose reads another alg");
        assert_eq!(
            r["kid"],
            key_id.to_string(),
            "{algorithm}: kid is the key id"
        );
        assert_eq!(r["cty"], envelope::PAYLOAD_CONTENT_TYPE, "{algorithm}");
        let payload = String::from_utf8(envelope::payload_bytes(&f.target)).expect("UTF-8");
        assert_eq!(
            r["payload"], payload,
            "{algorithm}: payload names the index"
        );
        let t = &r["text"];
        assert_eq!(t[envelope::LABEL_SIGNING_SCHEME], envelope::SIGNING_SCHEME);
        assert_eq!(
            t[envelope::LABEL_SIGNING_TIME],
            SIGNING_TIME,
            "{algorithm}: pycose reads the tag-1 signing time"
        );
        let mut crit = vec![envelope::LABEL_SIGNING_SCHEME];
        match expires {
            Some(d) => {
                assert_eq!(t[envelope::LABEL_EXPIRY], SIGNING_TIME + d, "{algorithm}");
                crit.push(envelope::LABEL_EXPIRY);
            }
            None => assert!(t.get(envelope::LABEL_EXPIRY).is_none(), "{algorithm}: {t}"),
        }
        assert_eq!(r["crit"], serde_json::json!(crit), "{algorithm}");

        for (what, tampered) in [
            ("payload", tamper_payload(&bytes, &f.target)),
            ("signature", tamper_signature(&bytes)),
        ] {
            assert_ne!(tampered, bytes);
            let path = f.write(&format!("tampered-{what}.cose"), &tampered);
            let verdict = pycose_verify(&path, &public);
            assert_eq!(
                verdict.code,
                Some(PY_INVALID),
                "pycose must decode airlock's {algorithm} envelope with a flipped {what} byte \
                 and refuse its signature: {verdict:?}"
            );
            assert_eq!(verdict.report["verified"], false);
        }
    }
}

#[test]
fn airlock_verifies_what_pycose_signs() {
    for (algorithm, alg, alg_name, expiry) in [
        (KeyAlgorithm::Ed25519, -8, "EdDSA", None),
        (KeyAlgorithm::P384, -35, "ES384", Some(SIGNING_TIME + 3600)),
    ] {
        let f = Fixture::new();
        let key = PrivateKey::generate(algorithm).expect("generate key");
        let (private, public) = f.write_key("signer", &key);
        let bytes = pycose_sign(&f, &private, &f.target, expiry);

        let env = parse(&bytes);
        assert_eq!(env.alg(), alg, "{algorithm}");
        assert_eq!(
            env.key_id(),
            key.id(),
            "{algorithm}: pycose's kid (SHA-256 of the SPKI DER from `cryptography`) is airlock's key id"
        );
        assert_eq!(env.signing_time(), SIGNING_TIME, "{algorithm}");
        assert_eq!(env.expiry(), expiry, "{algorithm}");
        env.verify(key.public(), &f.target, SIGNING_TIME + 1)
            .unwrap_or_else(|e| panic!("airlock refuses pycose's {algorithm} envelope: {e}"));
        if let Some(expiry) = expiry {
            let e = env
                .verify(key.public(), &f.target, expiry)
                .expect_err("the pycose envelope's expiry is enforced");
            assert_eq!(e.code(), "expired", "{algorithm}: {e}");
        }

        f.attach(&bytes);
        let (code, report) = f.cli_verify(&public, SIGNING_TIME + 1);
        assert_eq!(code, Some(0), "airlock verify, {algorithm}: {report:#}");
        assert_eq!(report["verified"], true, "{report:#}");
        let sigs = report["signatures"].as_array().expect("signatures");
        assert_eq!(sigs.len(), 1, "{report:#}");
        assert_eq!(sigs[0]["valid"], true, "{report:#}");
        assert_eq!(sigs[0]["algorithm"], alg_name, "{report:#}");
        assert_eq!(sigs[0]["keyId"], key.id().to_string(), "{report:#}");

        for (what, tampered) in [
            ("payload", tamper_payload(&bytes, &f.target)),
            ("signature", tamper_signature(&bytes)),
        ] {
            let e = parse(&tampered)
                .verify(key.public(), &f.target, SIGNING_TIME + 1)
                .expect_err("a tampered pycose envelope is refused");
            assert_eq!(
                e.code(),
                "bad-signature",
                "{algorithm}, flipped {what} byte: {e}"
            );

            let g = Fixture::new();
            assert_eq!(g.target, f.target, "the sample is deterministic");
            g.attach(&tampered);
            let (code, report) = g.cli_verify(&public, SIGNING_TIME + 1);
            assert_eq!(
                code,
                Some(1),
                "{algorithm}, flipped {what} byte: {report:#}"
            );
            assert_eq!(report["verified"], false, "{report:#}");
            assert_eq!(
                report["signatures"][0]["problem"]["code"], "bad-signature",
                "{algorithm}, flipped {what} byte: {report:#}"
            );
        }
    }
}

#[test]
fn pycose_and_airlock_write_the_same_ed25519_envelope() {
    // Ed25519 is deterministic, so two encoders that agree on the header layout, the header
    // order and the payload bytes write the same envelope. sign.py follows airlock's layout
    // independently; a difference here means the two have drifted apart.
    let f = Fixture::new();
    let key = PrivateKey::generate(KeyAlgorithm::Ed25519).expect("generate key");
    let (private, _) = f.write_key("signer", &key);
    let expiry = SIGNING_TIME + 3600;
    let ours = envelope::sign(
        &key,
        &f.target,
        &SignOptions {
            signing_time: SIGNING_TIME,
            expiry: Some(expiry),
            agent: None,
        },
    )
    .expect("sign");
    let theirs = pycose_sign(&f, &private, &f.target, Some(expiry));
    assert_eq!(
        hex::encode(&theirs),
        hex::encode(&ours),
        "pycose's envelope differs from airlock's"
    );
}

/// `envelope` with its protected `alg` replaced by `alg` and the signature made again with `key`.
fn with_alg(envelope: &[u8], alg: iana::Algorithm, key: &PrivateKey) -> Vec<u8> {
    let mut sign1 = CoseSign1::from_tagged_slice(envelope).expect("decode envelope");
    sign1.protected.header.alg = Some(RegisteredLabelWithPrivate::Assigned(alg));
    sign1.protected.original_data = None;
    sign1.signature = key.sign(&sign1.tbs_data(b""));
    sign1.to_tagged_vec().expect("encode envelope")
}

#[test]
fn pycose_knows_eddsa_but_not_ed25519_alg() {
    // airlock writes alg EdDSA (-8) for Ed25519 keys because pycose 1.1 does not know the
    // fully-specified Ed25519 (-19, RFC 9864): its algorithm table stops at EdDSA, and decoding
    // maps the protected alg through `CoseAlgorithm.from_id`, which raises for an unknown value,
    // so pycose cannot even decode a -19 message. airlock accepts both. If this test fails
    // because pycose verifies -19, airlock may switch to writing -19.
    let f = Fixture::new();
    let key = PrivateKey::generate(KeyAlgorithm::Ed25519).expect("generate key");
    let (_, public) = f.write_key("signer", &key);
    let options = SignOptions {
        signing_time: SIGNING_TIME,
        expiry: None,
        agent: None,
    };
    let eddsa = envelope::sign(&key, &f.target, &options).expect("sign");
    let ed25519 = with_alg(&eddsa, iana::Algorithm::Ed25519, &key);

    for (bytes, alg, name) in [(&eddsa, -8, "EdDSA"), (&ed25519, -19, "Ed25519")] {
        let env = parse(bytes);
        assert_eq!((env.alg(), env.alg_name()), (alg, name));
        env.verify(key.public(), &f.target, SIGNING_TIME)
            .unwrap_or_else(|e| panic!("airlock refuses its own envelope with alg {alg}: {e}"));
    }

    let verdict = pycose_verify(&f.write("eddsa.cose", &eddsa), &public);
    assert_eq!(verdict.code, Some(PY_VERIFIED), "alg -8: {verdict:?}");
    assert_eq!(verdict.report["alg"], -8);

    let verdict = pycose_verify(&f.write("ed25519.cose", &ed25519), &public);
    assert_eq!(
        verdict.code,
        Some(PY_UNDECODABLE),
        "pycose was expected not to know alg -19; if it now verifies it, update this test and \
         the note on envelope::ALGORITHMS: {verdict:?}"
    );
    let error = verdict.report["error"].as_str().expect("decoding error");
    assert!(
        error.contains("-19"),
        "pycose fails on the alg, not something else: {error}"
    );
}

/// The RFC 8032 test-1 key of the EdDSA vectors, checked against the vector's public key.
fn rfc8032_key(signer: &Value) -> PrivateKey {
    let d: [u8; 32] = hex_at(signer, "/key/d_hex")
        .try_into()
        .expect("32-byte seed");
    let x: [u8; 32] = hex_at(signer, "/key/x_hex")
        .try_into()
        .expect("32-byte public key");
    let key = PrivateKey::from_ed25519_seed(&d).expect("seed");
    assert_eq!(
        key.public(),
        &PublicKey::from_ed25519_bytes(&x).expect("public key"),
        "the vector's x is the public key of its d"
    );
    key
}

#[test]
fn cose_wg_eddsa_sig_01_is_reproduced() {
    let v = vector("eddsa-sig-01.json");
    let signer = &v["input"]["sign0"];
    assert_eq!(text(signer, "/alg"), "EdDSA");
    let key = rfc8032_key(signer);
    // protected {1: -8, 3: 0} (alg EdDSA, content format 0), unprotected {4: "11"}.
    let sign1 = CoseSign1Builder::new()
        .protected(
            HeaderBuilder::new()
                .algorithm(iana::Algorithm::EdDSA)
                .content_format(iana::CoapContentFormat::TextPlainUtf8)
                .build(),
        )
        .unprotected(
            HeaderBuilder::new()
                .key_id(text(signer, "/unprotected/kid").as_bytes().to_vec())
                .build(),
        )
        .payload(text(&v, "/input/plaintext").as_bytes().to_vec())
        .create_signature(b"", |tbs| key.sign(tbs))
        .build();
    assert_eq!(
        hex::encode_upper(sign1.tbs_data(b"")),
        text(&v, "/intermediates/ToBeSign_hex"),
        "ToBeSign"
    );
    let output = sign1.to_tagged_vec().expect("encode");
    assert_eq!(
        hex::encode_upper(&output),
        text(&v, "/output/cbor"),
        "COSE_Sign1_Tagged"
    );
    // airlock's parser reads the standard message and refuses it for what it lacks, not for
    // its encoding.
    let e = Envelope::parse(&output, Limits::default().max_envelope_bytes)
        .expect_err("not an airlock envelope");
    assert_eq!(
        e.code(),
        "unprotected-header",
        "kid is unprotected here: {e}"
    );
}

#[test]
fn cose_wg_eddsa_01_is_reproduced() {
    let v = vector("eddsa-01.json");
    let signers = v["input"]["sign"]["signers"].as_array().expect("signers");
    assert_eq!(signers.len(), 1);
    let signer = &signers[0];
    assert_eq!(text(signer, "/protected/alg"), "EdDSA");
    let key = rfc8032_key(signer);
    let sign = CoseSignBuilder::new()
        .protected(
            HeaderBuilder::new()
                .content_format(iana::CoapContentFormat::TextPlainUtf8)
                .build(),
        )
        .payload(text(&v, "/input/plaintext").as_bytes().to_vec())
        .add_created_signature(
            CoseSignatureBuilder::new()
                .protected(
                    HeaderBuilder::new()
                        .algorithm(iana::Algorithm::EdDSA)
                        .build(),
                )
                .unprotected(
                    HeaderBuilder::new()
                        .key_id(text(signer, "/unprotected/kid").as_bytes().to_vec())
                        .build(),
                )
                .build(),
            b"",
            |tbs| key.sign(tbs),
        )
        .build();
    assert_eq!(
        hex::encode_upper(sign.tbs_data(b"", &sign.signatures[0])),
        text(&v, "/intermediates/signers/0/ToBeSign_hex"),
        "ToBeSign"
    );
    assert_eq!(
        hex::encode_upper(sign.to_tagged_vec().expect("encode")),
        text(&v, "/output/cbor"),
        "COSE_Sign_Tagged"
    );
}

#[test]
fn cose_wg_ecdsa_sig_02_verifies() {
    let v = vector("ecdsa-sig-02.json");
    let jwk = &v["input"]["sign0"]["key"];
    assert_eq!((text(jwk, "/kty"), text(jwk, "/crv")), ("EC", "P-384"));
    let (x, y) = (base64url(text(jwk, "/x")), base64url(text(jwk, "/y")));
    assert_eq!((x.len(), y.len()), (48, 48), "P-384 coordinates");
    let key = PublicKey::from_p384_sec1(&[&[0x04][..], &x, &y].concat()).expect("P-384 point");
    let private = PrivateKey::from_p384_scalar(&base64url(text(jwk, "/d"))).expect("scalar");
    assert_eq!(
        private.public(),
        &key,
        "the JWK's x, y are the public key of its d"
    );

    let output = hex_at(&v, "/output/cbor");
    let sign1 = CoseSign1::from_tagged_slice(&output).expect("vector decodes");
    assert_eq!(
        sign1.protected.header.alg,
        Some(RegisteredLabelWithPrivate::Assigned(iana::Algorithm::ES384))
    );
    let tbs = sign1.tbs_data(b"");
    assert_eq!(
        hex::encode_upper(&tbs),
        text(&v, "/intermediates/ToBeSign_hex"),
        "ToBeSign"
    );
    assert_eq!(sign1.signature.len(), 96, "ES384 signatures are r‖s");
    key.verify(&tbs, &sign1.signature)
        .expect("airlock's P-384 key verifies the vector's signature");

    let mut flipped = sign1.signature.clone();
    flipped[10] ^= 0x01;
    assert!(
        matches!(key.verify(&tbs, &flipped), Err(KeyError::BadSignature)),
        "a flipped signature byte fails"
    );
    let mut other = tbs.clone();
    let last = other.len() - 1;
    other[last] ^= 0x01;
    assert!(
        matches!(
            key.verify(&other, &sign1.signature),
            Err(KeyError::BadSignature)
        ),
        "a flipped payload byte fails"
    );
}
