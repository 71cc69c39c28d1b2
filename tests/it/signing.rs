//! Signing and verifying: the envelope vectors in `tests/vectors/signature/`, and the CLI in the
//! user's scenarios 1 (build locally, sign, validate with no registry) and 6 (many signatures on
//! one artifact), with the attacks a verifier must catch and the tools that must still read a
//! signed layout.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use airlock::build::{attach, write_sample};
use airlock::key::PublicKey;
use airlock::layout::Layout;
use airlock::reference::LayoutTag;
use airlock::signature::envelope::{Envelope, Target};
use airlock::signature::{COSE_MEDIA_TYPE, SIGNATURE_ARTIFACT_TYPE};
use airlock::{Digest, Limits, media};
use serde_json::Value;

use crate::harness::{airlock, require_tool, run_ok, skopeo};

fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/signature")
}

#[test]
fn envelope_vectors() {
    let root = vectors();
    let read = |name: &str| fs::read_to_string(root.join(name)).expect("read shared vector file");
    let ed = PublicKey::from_pem(&read("ed25519.pub"), "ed25519.pub").expect("ed25519.pub");
    let p384 = PublicKey::from_pem(&read("p384.pub"), "p384.pub").expect("p384.pub");
    let t: Value = serde_json::from_str(&read("target.json")).expect("target.json");
    let target = Target {
        media_type: t["mediaType"].as_str().expect("mediaType").to_owned(),
        digest: t["digest"]
            .as_str()
            .expect("digest")
            .parse()
            .expect("digest"),
        size: t["size"].as_u64().expect("size"),
    };
    let now: i64 = read("now").trim().parse().expect("now");
    let mut dirs: Vec<PathBuf> = fs::read_dir(&root)
        .expect("list signature vectors")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.join("expect").is_file())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 30, "only {} signature vectors", dirs.len());
    let mut valid = 0;
    for dir in &dirs {
        let name = dir.file_name().and_then(|n| n.to_str()).expect("name");
        let expect = fs::read_to_string(dir.join("expect")).expect("expect");
        let mut limits = Limits::default();
        if let Ok(l) = fs::read_to_string(dir.join("limits.json")) {
            let l: Value = serde_json::from_str(&l).expect("limits.json");
            for (k, v) in l.as_object().expect("limits object") {
                limits.set(k, &v.to_string()).expect("limit");
            }
        }
        let bytes = fs::read(dir.join("envelope.cose")).expect("envelope.cose");
        let outcome = Envelope::parse(&bytes, limits.max_envelope_bytes).and_then(|env| {
            let key = [&ed, &p384]
                .into_iter()
                .find(|k| k.id() == env.key_id())
                .unwrap_or(&ed);
            env.verify(key, &target, now)
        });
        let got = match &outcome {
            Ok(()) => "valid",
            Err(e) => e.code(),
        };
        assert_eq!(got, expect.trim(), "vector {name}: {outcome:?}");
        valid += usize::from(outcome.is_ok());
    }
    assert!(
        valid >= 3 && valid < dirs.len(),
        "both valid and invalid vectors"
    );
}

/// A work directory with the user's locally built `net-monitor:dev` in `./layout`.
struct Work {
    dir: tempfile::TempDir,
}

impl Work {
    fn new() -> Work {
        let dir = tempfile::tempdir().expect("temp dir");
        let layout = Layout::init(dir.path().join("layout"), Limits::default()).expect("init");
        write_sample(&layout, &LayoutTag::new("dev").expect("tag"), "net-monitor").expect("sample");
        Work { dir }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn layout(&self) -> Layout {
        Layout::open(self.path("layout"), Limits::default()).expect("open layout")
    }

    fn run(&self, args: &[&str]) -> Output {
        self.run_with_passphrase(None, args)
    }

    /// Runs airlock with `AIRLOCK_KEY_PASSPHRASE` set to `passphrase`, or unset.
    fn run_with_passphrase(&self, passphrase: Option<&str>, args: &[&str]) -> Output {
        let mut cmd = airlock();
        cmd.current_dir(self.dir.path())
            .env_remove("AIRLOCK_KEY_PASSPHRASE");
        if let Some(p) = passphrase {
            cmd.env("AIRLOCK_KEY_PASSPHRASE", p);
        }
        cmd.args(args).output().expect("run airlock")
    }

    fn ok(&self, args: &[&str]) -> Output {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "airlock {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    fn json(&self, args: &[&str]) -> (i32, Value) {
        let mut full = vec!["--json"];
        full.extend_from_slice(args);
        let out = self.run(&full);
        let doc = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "airlock {args:?}: stdout is not JSON ({e}); stderr: {}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (out.status.code().expect("exit code"), doc)
    }

    fn index_digest(&self, tag: &str) -> String {
        let l = self.layout();
        let entry = l
            .resolve(Some(&airlock::reference::Selector::Tag(
                LayoutTag::new(tag).expect("tag"),
            )))
            .expect("resolve");
        entry.digest.to_string()
    }

    fn key(&self, name: &str, algorithm: &str) {
        self.ok(&["key", "generate", "--algorithm", algorithm, name]);
    }
}

/// The digest of the first COSE_Sign1_Tagged blob (first byte 0xd2) in `l`.
fn envelope_blob(l: &Layout) -> Digest {
    l.blobs()
        .expect("blobs")
        .into_keys()
        .find(|d| {
            l.read_blob_capped(d, None, 1 << 20)
                .is_ok_and(|b| b.first() == Some(&0xd2))
        })
        .expect("an envelope blob in the layout")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Scenario 1: build locally, sign, and validate with no registry anywhere.
#[test]
fn scenario_1_local_build_sign_validate() {
    let w = Work::new();
    let before = w.index_digest("dev");
    let index_json_before = fs::read(w.path("layout/index.json")).expect("index.json");
    w.key("dev", "ed25519");

    let (code, signed) = w.json(&["sign", "oci:layout:dev", "--key", "dev.key"]);
    assert_eq!(code, 0, "{signed}");
    assert_eq!(signed["target"]["digest"], before.as_str());
    // Signing never changes the artifact or its tag; it only adds an untagged referrer.
    assert_eq!(
        w.index_digest("dev"),
        before,
        "the tag still names the same digest"
    );
    let index_json_after = fs::read(w.path("layout/index.json")).expect("index.json");
    assert!(index_json_after.len() > index_json_before.len());

    let (code, report) = w.json(&["verify", "oci:layout:dev", "--key", "dev.pub"]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["verified"], true);
    let sigs = report["signatures"].as_array().expect("signatures");
    assert_eq!(sigs.len(), 1);
    assert_eq!(sigs[0]["valid"], true);
    assert_eq!(sigs[0]["algorithm"], "EdDSA");
    assert_eq!(sigs[0]["manifest"], signed["signature"]["digest"]);

    // The "host" accepts only signed images: an unsigned build, or one signed by someone else,
    // is refused with exit 1.
    w.key("stranger", "ed25519");
    let out = w.run(&["verify", "oci:layout:dev", "--key", "stranger.pub"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not among the keys given"),
        "{}",
        stderr(&out)
    );
    let unsigned = Work::new();
    unsigned.key("dev", "ed25519");
    let out = unsigned.run(&["verify", "oci:layout:dev", "--key", "dev.pub"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("has no signatures"),
        "{}",
        stderr(&out)
    );
}

/// Scenario 6: several parties sign one artifact (vendor, dev, prod; two algorithms, as in a
/// crypto migration's grace period), each signature a separate referrer; the verifier can ask
/// for any one or for all of them.
#[test]
fn scenario_6_many_signatures() {
    let w = Work::new();
    let target = w.index_digest("dev");
    w.key("wabbit", "ed25519");
    w.key("acme-dev", "ed25519");
    w.key("acme-prod", "p384");
    for k in ["wabbit", "acme-dev", "acme-prod"] {
        w.ok(&["sign", "oci:layout:dev", "--key", &format!("{k}.key")]);
    }
    assert_eq!(
        w.index_digest("dev"),
        target,
        "three signatures, same digest"
    );

    let (code, report) = w.json(&[
        "verify",
        "oci:layout:dev",
        "--key",
        "acme-prod.pub",
        "--key",
        "wabbit.pub",
        "--require",
        "all",
    ]);
    assert_eq!(code, 0, "{report}");
    let sigs = report["signatures"].as_array().expect("signatures");
    assert_eq!(sigs.len(), 3, "one referrer per signature");
    let mut algs: Vec<&str> = sigs
        .iter()
        .map(|s| s["algorithm"].as_str().expect("alg"))
        .collect();
    algs.sort_unstable();
    assert_eq!(algs, ["ES384", "EdDSA", "EdDSA"]);
    // acme-dev's key was not given: its signature is reported, not counted.
    let unknown: Vec<&Value> = sigs.iter().filter(|s| s["valid"] == false).collect();
    assert_eq!(unknown.len(), 1);
    assert_eq!(unknown[0]["problem"]["code"], "unknown-key");

    // Production requires the prod key: a dev-only artifact fails --require all.
    let dev_only = Work::new();
    dev_only.key("acme-dev", "ed25519");
    dev_only.key("acme-prod", "p384");
    dev_only.ok(&["sign", "oci:layout:dev", "--key", "acme-dev.key"]);
    let args = [
        "verify",
        "oci:layout:dev",
        "--key",
        "acme-dev.pub",
        "--key",
        "acme-prod.pub",
    ];
    dev_only.ok(&args);
    let mut all = args.to_vec();
    all.extend(["--require", "all"]);
    let out = dev_only.run(&all);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("lacks a valid signature from key"),
        "{}",
        stderr(&out)
    );

    // Signing again with the same key at the same second adds nothing new.
    let t = "2026-01-01T00:00:00Z";
    w.ok(&["sign", "oci:layout:dev", "--key", "wabbit.key", "--time", t]);
    let entries = w.layout().index().expect("index").len();
    w.ok(&["sign", "oci:layout:dev", "--key", "wabbit.key", "--time", t]);
    assert_eq!(w.layout().index().expect("index").len(), entries);
}

/// An SBOM attached to the image, then signed like any artifact; and a signature replayed onto
/// another artifact is refused because its payload names the original.
#[test]
fn attach_sign_and_replay() {
    let w = Work::new();
    w.key("dev", "ed25519");
    fs::write(w.path("scan.sarif"), br#"{"version":"2.1.0","runs":[]}"#).expect("write");
    let image = {
        let l = w.layout();
        let entry = l
            .resolve(Some(&airlock::reference::Selector::Tag(
                LayoutTag::new("dev").expect("tag"),
            )))
            .expect("resolve");
        let index: Value = serde_json::from_slice(
            &l.read_blob_capped(&entry.digest, None, 1 << 20)
                .expect("read"),
        )
        .expect("index");
        index["manifests"][0]["digest"]
            .as_str()
            .expect("image")
            .to_owned()
    };
    let (code, attached) = w.json(&[
        "attach",
        &format!("oci:layout@{image}"),
        "--artifact-type",
        "application/sarif+json",
        "scan.sarif:application/sarif+json",
    ]);
    assert_eq!(code, 0, "{attached}");
    let scan = attached["referrer"]["digest"]
        .as_str()
        .expect("referrer")
        .to_owned();
    assert_eq!(attached["subject"], image.as_str());

    let scan_ref = format!("oci:layout@{scan}");
    w.ok(&["sign", &scan_ref, "--key", "dev.key"]);
    w.ok(&["verify", &scan_ref, "--key", "dev.pub"]);
    let out = w.run(&["discover", "oci:layout:dev"]);
    let tree = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(tree.contains("application/sarif+json"), "{tree}");
    assert!(tree.contains(SIGNATURE_ARTIFACT_TYPE), "{tree}");

    // Replay: the scan's envelope, re-attached as a signature of the image.
    let l = w.layout();
    let sig_layer = envelope_blob(&l);
    let envelope = l.read_blob_capped(&sig_layer, None, 1 << 20).expect("read");
    let image_digest: Digest = image.parse().expect("digest");
    let size = l
        .read_blob_capped(&image_digest, None, 1 << 20)
        .expect("image")
        .len() as u64;
    let subject = airlock::layout::descriptor(media::OCI_MANIFEST, &image_digest, size);
    attach(
        &l,
        &subject,
        SIGNATURE_ARTIFACT_TYPE,
        &envelope,
        COSE_MEDIA_TYPE,
        &Default::default(),
    )
    .expect("attach the replayed envelope");
    let (code, report) = w.json(&["verify", &format!("oci:layout@{image}"), "--key", "dev.pub"]);
    assert_eq!(code, 1, "{report}");
    assert_eq!(
        report["signatures"][0]["problem"]["code"],
        "target-mismatch"
    );
}

/// An expiring signature verifies before its expiry and fails after; `--at` judges as of a time.
#[test]
fn expiry_and_at() {
    let w = Work::new();
    w.key("dev", "p384");
    w.ok(&[
        "sign",
        "oci:layout:dev",
        "--key",
        "dev.key",
        "--time",
        "2020-01-01T00:00:00Z",
        "--expires",
        "30d",
    ]);
    let (code, report) = w.json(&["verify", "oci:layout:dev", "--key", "dev.pub"]);
    assert_eq!(code, 1, "{report}");
    assert_eq!(report["signatures"][0]["problem"]["code"], "expired");
    assert_eq!(report["signatures"][0]["expiry"], "2020-01-31T00:00:00Z");
    let (code, report) = w.json(&[
        "verify",
        "oci:layout:dev",
        "--key",
        "dev.pub",
        "--at",
        "2020-01-15T00:00:00Z",
    ]);
    assert_eq!(code, 0, "{report}");
}

/// A tampered envelope blob fails its digest; a signature over a forged payload fails the
/// signature check. Neither hides the other valid signature.
#[test]
fn tampered_signatures_are_reported_one_by_one() {
    let w = Work::new();
    w.key("a", "ed25519");
    w.key("b", "ed25519");
    w.ok(&["sign", "oci:layout:dev", "--key", "a.key"]);
    let l = w.layout();
    let envelope = envelope_blob(&l);
    let path = l.blob_path(&envelope);
    let mut bytes = fs::read(&path).expect("read envelope");
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    fs::write(&path, &bytes).expect("tamper");
    w.ok(&["sign", "oci:layout:dev", "--key", "b.key"]);

    let (code, report) = w.json(&[
        "verify",
        "oci:layout:dev",
        "--key",
        "a.pub",
        "--key",
        "b.pub",
    ]);
    assert_eq!(code, 0, "b's signature still counts: {report}");
    let codes: Vec<&str> = report["signatures"]
        .as_array()
        .expect("signatures")
        .iter()
        .map(|s| s["problem"]["code"].as_str().unwrap_or("valid"))
        .collect();
    assert!(
        codes.contains(&"content") && codes.contains(&"valid"),
        "{codes:?}"
    );
    let out = w.run(&["verify", "oci:layout:dev", "--key", "a.pub"]);
    assert_eq!(out.status.code(), Some(1));
}

/// Keys made by openssl load as they are, encrypted ones with AIRLOCK_KEY_PASSPHRASE; keys are
/// never overwritten; a public key where a private one is expected is refused with a hint.
#[test]
fn openssl_keys_and_key_files() {
    let openssl = require_tool("openssl");
    let w = Work::new();
    let gen_key = |file: &str, args: &[&str]| {
        run_ok(
            Command::new(&openssl)
                .current_dir(w.dir.path())
                .arg("genpkey")
                .args(args)
                .args(["-out", file]),
            "openssl genpkey",
        );
        run_ok(
            Command::new(&openssl)
                .current_dir(w.dir.path())
                .args([
                    "pkey",
                    "-in",
                    file,
                    "-pubout",
                    "-passin",
                    "pass:s3cret",
                    "-out",
                ])
                .arg(format!("{file}.pub")),
            "openssl pkey -pubout",
        );
    };
    gen_key("ossl-ed.pem", &["-algorithm", "ed25519"]);
    gen_key(
        "ossl-p384.pem",
        &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"],
    );
    gen_key(
        "ossl-enc.pem",
        &["-algorithm", "ed25519", "-aes256", "-pass", "pass:s3cret"],
    );
    for k in ["ossl-ed.pem", "ossl-p384.pem"] {
        w.ok(&["sign", "oci:layout:dev", "--key", k]);
        w.ok(&["verify", "oci:layout:dev", "--key", &format!("{k}.pub")]);
    }
    // Encrypted: no passphrase and no terminal → a clear refusal; with the variable → signed.
    let out = w.run(&["sign", "oci:layout:dev", "--key", "ossl-enc.pem"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("AIRLOCK_KEY_PASSPHRASE"),
        "{}",
        stderr(&out)
    );
    let signed = w.run_with_passphrase(
        Some("s3cret"),
        &["sign", "oci:layout:dev", "--key", "ossl-enc.pem"],
    );
    assert!(signed.status.success(), "{}", stderr(&signed));
    w.ok(&["verify", "oci:layout:dev", "--key", "ossl-enc.pem.pub"]);
    let wrong = w.run_with_passphrase(
        Some("nope"),
        &["sign", "oci:layout:dev", "--key", "ossl-enc.pem"],
    );
    assert_eq!(wrong.status.code(), Some(2));
    assert!(
        stderr(&wrong).contains("wrong passphrase"),
        "{}",
        stderr(&wrong)
    );

    // airlock's own encrypted keys are read by openssl.
    let made = w.run_with_passphrase(Some("s3cret"), &["key", "generate", "--encrypt", "enc"]);
    assert!(made.status.success(), "{}", stderr(&made));
    run_ok(
        Command::new(&openssl).current_dir(w.dir.path()).args([
            "pkey",
            "-in",
            "enc.key",
            "-passin",
            "pass:s3cret",
            "-noout",
        ]),
        "openssl reads airlock's encrypted key",
    );

    // airlock's plain keys too, and openssl derives the same public key file (so the same id).
    w.key("dev", "ed25519");
    w.key("prod", "p384");
    for k in ["dev", "prod"] {
        let public = run_ok(
            Command::new(&openssl)
                .current_dir(w.dir.path())
                .args(["pkey", "-pubout", "-in"])
                .arg(format!("{k}.key")),
            "openssl reads airlock's key",
        );
        let ours = fs::read(w.path(&format!("{k}.pub"))).expect("read .pub");
        assert_eq!(
            public.stdout, ours,
            "{k}: openssl's public key differs from airlock's"
        );
    }
    let out = w.run(&["key", "generate", "dev"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("never"), "{}", stderr(&out));
    let out = w.run(&["sign", "oci:layout:dev", "--key", "dev.pub"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("hint:"), "{}", stderr(&out));
}

/// After signing, skopeo and umoci still read the layout, and the artifact's digest is the one
/// it had before.
#[test]
fn signed_layout_still_reads_in_skopeo_and_umoci() {
    let w = Work::new();
    let before = w.index_digest("dev");
    w.key("dev", "ed25519");
    w.key("prod", "p384");
    w.ok(&["sign", "oci:layout:dev", "--key", "dev.key"]);
    w.ok(&["sign", "oci:layout:dev", "--key", "prod.key"]);
    let layout = w.path("layout");
    let reference = format!("oci:{}:dev", layout.display());
    let raw = skopeo(&["inspect", "--raw", &reference]);
    assert_eq!(
        Digest::sha256_of(raw.as_bytes()).to_string(),
        before,
        "skopeo reads the same index bytes"
    );
    let info: Value = serde_json::from_str(&skopeo(&["inspect", &reference])).expect("JSON");
    assert_eq!(info["Architecture"], "amd64");
    let umoci = require_tool("umoci");
    let out = run_ok(
        Command::new(&umoci).args(["ls", "--layout"]).arg(&layout),
        "umoci ls",
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "dev");
    let bundle = w.path("bundle");
    run_ok(
        Command::new(&umoci)
            .args(["unpack", "--rootless", "--image"])
            .arg(format!("{}:dev", layout.display()))
            .arg(&bundle),
        "umoci unpack",
    );
    assert!(bundle.join("rootfs/hello.txt").is_file());
    assert_eq!(w.index_digest("dev"), before);
}

/// Signatures cross the gap with the artifact: packed, unpacked elsewhere, and verified there
/// with only the public key (what `examples/airgap_transfer.rs` does).
#[test]
fn signatures_survive_pack_and_unpack() {
    let w = Work::new();
    w.key("dev", "ed25519");
    w.ok(&["sign", "oci:layout:dev", "--key", "dev.key"]);
    w.ok(&["layout", "pack", "layout", "-o", "transfer.tar.zst"]);
    w.ok(&["layout", "unpack", "transfer.tar.zst", "far"]);
    let (code, report) = w.json(&["verify", "oci:far:dev", "--key", "dev.pub"]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["signatures"].as_array().map(Vec::len), Some(1));
    assert_eq!(report["target"]["digest"], w.index_digest("dev").as_str());
}
