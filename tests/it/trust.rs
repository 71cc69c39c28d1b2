//! Offline trust through the CLI: trust roots pinned by digest and rotated, revocation
//! snapshots, the trust policy, and `airlock verify` judging by them. The user's scenarios 3
//! (only specific keys accepted), 6.1 (dev and prod keys), 6.2 (vendor plus company signatures),
//! 8 (a leaked key revoked everywhere, re-signed content passing) and 9 (an algorithm deprecated
//! with a grace period).

use std::fs;
use std::path::PathBuf;
use std::process::{Command, Output};

use airlock::build::write_sample;
use airlock::key::PublicKey;
use airlock::layout::Layout;
use airlock::reference::LayoutTag;
use airlock::time::{self, format_rfc3339};
use airlock::{Digest, Limits};
use serde_json::{Value, json};

use crate::harness::airlock;

/// `trust init` and the fixed roles every test's root has: root keys a and b (both must sign),
/// the revocation key and the bundle key.
const ROLE_ARGS: &[&str] = &[
    "trust",
    "init",
    "--root-key",
    "root-a.pub",
    "--root-key",
    "root-b.pub",
    "--root-threshold",
    "2",
    "--revocation-key",
    "revoker.pub",
    "--bundle-key",
    "bundler.pub",
];

/// One organisation's work directory: keys, a trust root, and any number of sites (trust
/// stores) that pinned it.
pub(crate) struct Org {
    pub(crate) dir: tempfile::TempDir,
}

impl Org {
    pub(crate) fn new() -> Org {
        Org {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub(crate) fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// The airlock command in the work directory with the trust store `site` (and no key
    /// passphrase in its environment).
    pub(crate) fn command(&self, site: &str) -> Command {
        let mut cmd = airlock();
        cmd.current_dir(self.dir.path())
            .env("AIRLOCK_TRUST_DIR", self.path(site))
            .env_remove("AIRLOCK_KEY_PASSPHRASE");
        cmd
    }

    /// Runs airlock in the work directory with the trust store `site`.
    pub(crate) fn run(&self, site: &str, args: &[&str]) -> Output {
        self.command(site).args(args).output().expect("run airlock")
    }

    pub(crate) fn ok(&self, site: &str, args: &[&str]) -> String {
        let out = self.run(site, args);
        assert!(
            out.status.success(),
            "airlock {args:?} (store {site}) failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// Runs with `--json`; returns the exit code, the document and stderr.
    pub(crate) fn json(&self, site: &str, args: &[&str]) -> (i32, Value, String) {
        run_json(self.command(site).arg("--json").args(args))
    }

    /// Runs with `--json` and asserts it succeeded; returns the document.
    pub(crate) fn json_ok(&self, site: &str, args: &[&str]) -> Value {
        let (code, doc, err) = self.json(site, args);
        assert_eq!(code, 0, "airlock {args:?} (store {site}): {doc}\n{err}");
        doc
    }

    /// `airlock key generate --algorithm ALG NAME`; returns the public key it wrote.
    pub(crate) fn key(&self, name: &str, algorithm: &str) -> PublicKey {
        self.ok("-", &["key", "generate", "--algorithm", algorithm, name]);
        airlock::key::read_public_key(&self.path(&format!("{name}.pub")))
            .unwrap_or_else(|e| panic!("airlock wrote an unreadable {name}.pub: {e}"))
    }

    /// Generates the root (two keys, threshold 2), revocation and bundle keys and one key per
    /// signer identity (`name=keyfile[:algorithm]`), writes `root-1.cose` signed by both root
    /// keys, and returns its digest.
    pub(crate) fn init(&self, signers: &[(&str, &str)]) -> Digest {
        for k in ["root-a", "root-b", "revoker", "bundler"] {
            self.key(k, "ed25519");
        }
        let mut args: Vec<String> = ROLE_ARGS
            .iter()
            .chain(&["--expires", "365d", "-o", "root-1.cose"])
            .map(|s| (*s).to_owned())
            .collect();
        for (name, key) in signers {
            let (file, alg) = key.split_once(':').unwrap_or((key, "ed25519"));
            if !self.path(&format!("{file}.pub")).exists() {
                self.key(file, alg);
            }
            args.push("--signer".into());
            args.push(format!("{name}={file}.pub"));
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.ok("-", &args);
        self.sign_trust("root-1.cose", &["root-a"]);
        self.sign_trust("root-1.cose", &["root-b"]);
        Digest::sha256_of(&fs::read(self.path("root-1.cose")).expect("root"))
    }

    /// Pins `root-1.cose` in store `site` and installs `policy`.
    pub(crate) fn site(&self, site: &str, digest: &Digest, policy: &Value) {
        self.ok(
            site,
            &[
                "trust",
                "pin",
                "root-1.cose",
                "--digest",
                &digest.to_string(),
            ],
        );
        self.set_policy(site, policy);
    }

    pub(crate) fn set_policy(&self, site: &str, policy: &Value) {
        let file = format!("policy-{site}.json");
        fs::write(self.path(&file), serde_json::to_vec(policy).expect("json")).expect("policy");
        self.ok(site, &["policy", "set", &file]);
    }

    /// The two ends of an air gap: pins `root-1.cose` (digest `root`) at the `near` and `far`
    /// sites, each with its policy, and publishes revocation snapshot 1 (`revocation-1.cose`,
    /// 30 days) at `near`, which installs it there; `far` gets it with the first bundle.
    pub(crate) fn air_gap(&self, root: &Digest, near: (&str, &Value), far: (&str, &Value)) {
        self.site(near.0, root, near.1);
        self.site(far.0, root, far.1);
        self.publish_revocation(near.0, "30d", "revocation-1.cose");
    }

    /// `airlock revocation publish --expires EXPIRES --key revoker.key -o FILE` at `site` (which
    /// installs the snapshot there); returns stderr.
    pub(crate) fn publish_revocation(&self, site: &str, expires: &str, file: &str) -> String {
        self.ok(
            site,
            &[
                "revocation",
                "publish",
                "--expires",
                expires,
                "--key",
                "revoker.key",
                "-o",
                file,
            ],
        )
    }

    /// `airlock trust rotate ARGS -o FILE` at `site`: the next root, not signed yet.
    pub(crate) fn rotate(&self, site: &str, args: &[&str], file: &str) {
        let mut full = vec!["trust", "rotate"];
        full.extend_from_slice(args);
        full.extend(["-o", file]);
        self.ok(site, &full);
    }

    /// `airlock trust sign FILE --key K.key…`: adds one signature per key to a trust root or
    /// revocation snapshot file.
    pub(crate) fn sign_trust(&self, file: &str, keys: &[&str]) {
        let keys: Vec<String> = keys.iter().map(|k| format!("{k}.key")).collect();
        let mut args = vec!["trust", "sign", file];
        for k in &keys {
            args.extend(["--key", k]);
        }
        self.ok("-", &args);
    }

    /// A layout `name` holding the sample artifact tagged `tag`; returns its reference.
    pub(crate) fn artifact(&self, name: &str, tag: &str) -> String {
        let layout = Layout::init(self.path(name), Limits::default()).expect("init layout");
        write_sample(&layout, &LayoutTag::new(tag).expect("tag"), name).expect("sample");
        format!("oci:{name}:{tag}")
    }

    pub(crate) fn sign(&self, reference: &str, key: &str) {
        self.ok("-", &["sign", reference, "--key", &format!("{key}.key")]);
    }

    /// `airlock verify` in `site`; returns (exit code, JSON report, stderr).
    pub(crate) fn verify(
        &self,
        site: &str,
        reference: &str,
        scope: Option<&str>,
    ) -> (i32, Value, String) {
        let mut args = vec!["verify", reference];
        if let Some(s) = scope {
            args.extend(["--scope", s]);
        }
        self.json(site, &args)
    }
}

/// Runs `cmd`, whose arguments ask for `--json`; returns the exit code, stdout parsed as JSON,
/// and stderr.
pub(crate) fn run_json(cmd: &mut Command) -> (i32, Value, String) {
    let out = cmd.output().expect("run airlock");
    let doc = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        let args: Vec<_> = cmd.get_args().collect();
        panic!(
            "airlock {args:?}: stdout is not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (
        out.status.code().expect("exit code"),
        doc,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub(crate) fn decision(report: &Value) -> &str {
    report["decision"].as_str().expect("decision")
}

pub(crate) fn policy(scopes: Value) -> Value {
    json!({ "version": 1, "scopes": scopes })
}

/// Asserts a verification passed, showing the report otherwise.
pub(crate) fn assert_pass(r: &(i32, Value, String), what: &str) {
    assert_eq!(
        (r.0, decision(&r.1)),
        (0, "pass"),
        "{what}: {}\n{}",
        r.1,
        r.2
    );
    assert_eq!(r.1["verified"], true, "{what}");
}

/// Asserts a verification failed under an enforcing scope, with `needle` in the reason.
pub(crate) fn assert_fail(r: &(i32, Value, String), what: &str, needle: &str) {
    assert_eq!(
        (r.0, decision(&r.1)),
        (1, "fail"),
        "{what}: {}\n{}",
        r.1,
        r.2
    );
    assert_eq!(r.1["verified"], false, "{what}");
    let reason = r.1["reason"].as_str().expect("reason");
    assert!(
        reason.contains(needle),
        "{what}: reason {reason:?} lacks {needle:?}"
    );
}

#[test]
fn nothing_is_trusted_on_first_use() {
    let org = Org::new();
    let digest = org.init(&[("wabbit-networks", "wabbit")]);
    // No pinned root: verify refuses, naming the fix.
    let r = org.run("site", &["verify", "oci:nowhere:1"]);
    assert_eq!(r.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&r.stderr).contains("trust pin"));
    // A wrong digest is refused and nothing is pinned.
    let wrong = Digest::sha256_of(b"another root");
    let r = org.run(
        "site",
        &[
            "trust",
            "pin",
            "root-1.cose",
            "--digest",
            &wrong.to_string(),
        ],
    );
    assert_eq!(
        r.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );
    assert!(String::from_utf8_lossy(&r.stderr).contains("pinned"));
    assert!(!org.path("site/state.json").exists());
    // A root signed by one of its two root keys is refused at pin time.
    let half: Vec<&str> = ROLE_ARGS
        .iter()
        .chain(&["--signer", "wabbit-networks=wabbit.pub", "-o", "half.cose"])
        .copied()
        .collect();
    org.ok("-", &half);
    org.ok("-", &["trust", "sign", "half.cose", "--key", "root-a.key"]);
    let half = Digest::sha256_of(&fs::read(org.path("half.cose")).expect("half"));
    let (code, doc, _) = org.json(
        "other",
        &["trust", "pin", "half.cose", "--digest", &half.to_string()],
    );
    assert_eq!(code, 1);
    assert!(
        doc["error"]["message"]
            .as_str()
            .expect("message")
            .contains("threshold is 2"),
        "{doc}"
    );
    // The right digest pins; `sha256sum` of the file is that digest.
    org.ok(
        "site",
        &[
            "trust",
            "pin",
            "root-1.cose",
            "--digest",
            &digest.to_string(),
        ],
    );
    let (code, shown, _) = org.json("site", &["trust", "show"]);
    assert_eq!(code, 0);
    assert_eq!(shown["state"]["pinned"], digest.to_string());
    assert_eq!(shown["root"]["version"], 1);
    // Pinning twice is refused.
    let r = org.run(
        "site",
        &[
            "trust",
            "pin",
            "root-1.cose",
            "--digest",
            &digest.to_string(),
        ],
    );
    assert_eq!(r.status.code(), Some(2));
}

/// Scenario 3: the CI system signs the image, chart and index with its keys; production
/// accepts only those keys.
#[test]
fn scenario_3_only_specific_keys_are_accepted() {
    let org = Org::new();
    let digest = org.init(&[("wabbit-networks", "wabbit-ci")]);
    let repo = "wabbitnetworks.example.com/networking/net-monitor";
    org.site(
        "prod",
        &digest,
        &policy(json!([{ "scope": repo, "level": "enforce", "signers": { "any-of": ["wabbit-networks"] } }])),
    );
    let image = org.artifact("net-monitor", "1.0");
    // Unsigned: refused.
    assert_fail(
        &org.verify("prod", &image, Some(repo)),
        "unsigned",
        "wabbit-networks",
    );
    // Signed by a key the trust root does not know: the signature does not count.
    org.key("attacker", "ed25519");
    org.sign(&image, "attacker");
    let r = org.verify("prod", &image, Some(repo));
    assert_fail(&r, "stranger-signed", "wabbit-networks");
    assert_eq!(r.1["signatures"][0]["identities"], json!([]));
    assert_eq!(r.1["signatures"][0]["counts"], false);
    // Signed by the CI key: accepted, and the report names the identity and key.
    org.sign(&image, "wabbit-ci");
    let r = org.verify("prod", &image, Some(repo));
    assert_pass(&r, "CI-signed");
    let sigs = r.1["signatures"].as_array().expect("signatures");
    assert_eq!(sigs.len(), 2);
    let ci = sigs
        .iter()
        .find(|s| s["counts"] == true)
        .expect("a counting signature");
    assert_eq!(ci["identities"], json!(["wabbit-networks"]));
    assert_eq!(ci["valid"], true);
    assert_eq!(ci["revoked"], Value::Null);
    assert_eq!(r.1["satisfied"], json!(["wabbit-networks"]));
    // No scope matches another repository, and there is no global scope: refused.
    assert_fail(
        &org.verify("prod", &image, Some("docker.io/library/other")),
        "unscoped",
        "no policy scope",
    );
    assert_fail(
        &org.verify("prod", &image, None),
        "no repository",
        "no repository",
    );
}

/// Scenario 6.1: dev accepts any trusted signer; prod requires the prod key.
#[test]
fn scenario_6_1_dev_and_prod_keys() {
    let org = Org::new();
    let digest = org.init(&[("alpha-team-dev", "alpha-dev"), ("acme-prod", "prod")]);
    let p = policy(json!([
        { "scope": "myregistry.example.com/dev/*", "level": "enforce", "signers": "any" },
        { "scope": "myregistry.example.com/prod/*", "level": "enforce", "signers": { "all-of": ["acme-prod"] } },
        { "scope": "*", "level": "enforce", "signers": { "all-of": ["acme-prod"] } }
    ]));
    org.site("cluster", &digest, &p);
    let web = org.artifact("web", "1abc");
    org.sign(&web, "alpha-dev");
    let dev = "myregistry.example.com/dev/alpha-team/web";
    let prod = "myregistry.example.com/prod/web";
    let r = org.verify("cluster", &web, Some(dev));
    assert_pass(&r, "dev-signed in dev");
    assert_eq!(r.1["scope"]["pattern"], "myregistry.example.com/dev/*");
    assert_fail(
        &org.verify("cluster", &web, Some(prod)),
        "dev-signed in prod",
        "acme-prod",
    );
    // After integration tests, the production signature is added: prod accepts it, and the
    // digest (hence the dev signature) is unchanged.
    org.sign(&web, "prod");
    let r = org.verify("cluster", &web, Some(prod));
    assert_pass(&r, "prod-signed in prod");
    assert_eq!(r.1["satisfied"], json!(["acme-prod", "alpha-team-dev"]));
    assert_pass(
        &org.verify("cluster", &web, Some(dev)),
        "prod-signed in dev",
    );
    // An audit scope reports but never fails.
    org.set_policy(
        "cluster",
        &policy(json!([
            { "scope": "*", "level": "audit", "signers": { "all-of": ["nobody"] } }
        ])),
    );
    let r = org.verify("cluster", &web, Some(prod));
    assert_eq!((r.0, decision(&r.1)), (0, "audit-fail"), "{}", r.1);
    assert!(r.2.contains("AUDIT"), "{}", r.2);
    // A skip scope checks nothing.
    org.set_policy(
        "cluster",
        &policy(json!([
            { "scope": "myregistry.example.com/sandbox/*", "level": "skip" },
            { "scope": "*", "level": "enforce", "signers": "any" }
        ])),
    );
    let unsigned = org.artifact("sandbox", "1");
    assert_eq!(
        decision(
            &org.verify(
                "cluster",
                &unsigned,
                Some("myregistry.example.com/sandbox/x")
            )
            .1
        ),
        "skipped"
    );
    assert_fail(
        &org.verify("cluster", &unsigned, None),
        "unsigned under the global scope",
        "any trusted signer",
    );
}

/// Scenario 6.2: the vendor's signature and ACME's together; and the staging rule "a
/// development signature and an SBOM"; and an IoT policy requiring the prod and IoT keys.
#[test]
fn scenario_6_2_vendor_and_company_signatures_required_together() {
    let org = Org::new();
    let digest = org.init(&[
        ("mydb-vendor", "vendor"),
        ("acme-prod", "acme"),
        ("acme-dev", "acme-dev"),
        ("acme-iot", "iot"),
    ]);
    org.site("prod", &digest, &policy(json!([
        { "scope": "registry.acme-rockets.example/prod/mydb", "level": "enforce",
          "signers": { "all-of": ["mydb-vendor", "acme-prod"] } },
        { "scope": "registry.acme-rockets.example/staging/*", "level": "enforce",
          "signers": { "any-of": ["acme-dev"] },
          "referrers": [{ "artifactType": "application/spdx+json", "signers": { "any-of": ["acme-dev"] } }] },
        { "scope": "registry.acme-rockets.example/iot/*", "level": "enforce",
          "signers": { "k-of": { "k": 2, "signers": ["acme-prod", "acme-iot", "mydb-vendor"] } } }
    ])));
    let mydb = org.artifact("mydb", "1.0-202002131000");
    let prod = "registry.acme-rockets.example/prod/mydb";
    org.sign(&mydb, "vendor");
    assert_fail(
        &org.verify("prod", &mydb, Some(prod)),
        "vendor only",
        "acme-prod",
    );
    org.sign(&mydb, "acme");
    assert_pass(&org.verify("prod", &mydb, Some(prod)), "vendor and ACME");

    // Staging: a dev signature alone is not enough; an SBOM must be attached and signed.
    let staging = "registry.acme-rockets.example/staging/mydb";
    let app = org.artifact("app", "2.0");
    org.sign(&app, "acme-dev");
    assert_fail(
        &org.verify("prod", &app, Some(staging)),
        "no SBOM",
        "no referrer of type application/spdx+json",
    );
    fs::write(org.path("sbom.spdx.json"), br#"{"spdxVersion":"SPDX-2.3"}"#).expect("sbom");
    let (code, attached, _) = org.json(
        "-",
        &[
            "attach",
            &app,
            "--artifact-type",
            "application/spdx+json",
            "sbom.spdx.json:application/spdx+json",
        ],
    );
    assert_eq!(code, 0);
    let sbom = attached["referrer"]["digest"]
        .as_str()
        .expect("referrer digest")
        .to_owned();
    let r = org.verify("prod", &app, Some(staging));
    assert_fail(&r, "unsigned SBOM", "signed by any of acme-dev");
    assert_eq!(
        r.1["referrers"][0]["candidates"][0]["digest"],
        sbom.as_str()
    );
    org.sign(&format!("oci:app@{sbom}"), "acme-dev");
    let r = org.verify("prod", &app, Some(staging));
    assert_pass(&r, "signed SBOM");
    assert_eq!(r.1["referrers"][0]["metBy"], sbom.as_str());
    // An SBOM later found wrong is revoked by digest: the rule is no longer met.
    org.ok(
        "prod",
        &[
            "revoke",
            &sbom,
            "--kind",
            "digest",
            "--reason",
            "SBOM omits a vulnerable package",
        ],
    );
    org.publish_revocation("prod", "30d", "rev-sbom.cose");
    let r = org.verify("prod", &app, Some(staging));
    assert_fail(
        &r,
        "revoked SBOM",
        "no referrer of type application/spdx+json",
    );
    let why = r.1["referrers"][0]["candidates"][0]["reason"]
        .as_str()
        .expect("reason");
    assert!(why.contains("revoked"), "{why}");

    // IoT: two of prod, iot, vendor.
    let iot = "registry.acme-rockets.example/iot/sensor";
    let fw = org.artifact("firmware", "3.1");
    org.sign(&fw, "acme");
    assert_fail(&org.verify("prod", &fw, Some(iot)), "prod only", "2 of");
    org.sign(&fw, "iot");
    assert_pass(&org.verify("prod", &fw, Some(iot)), "prod and IoT");
}

/// Scenario 8: a developer's key leaks. The revocation authority revokes it; once a site
/// imports the snapshot, every signature by that key fails there (and under --key too), while
/// content re-signed with the developer's new key passes. A digest known to be bad is revoked
/// as well. Rotation gives the identity its new key.
#[test]
fn scenario_8_leaked_key_is_revoked_everywhere() {
    let org = Org::new();
    let digest = org.init(&[("wabbit-networks", "dev-old")]);
    let p = policy(
        json!([{ "scope": "*", "level": "enforce", "signers": { "any-of": ["wabbit-networks"] } }]),
    );
    org.site("authority", &digest, &p);
    org.site("edge", &digest, &p);
    let app = org.artifact("net-monitor", "1.0");
    org.sign(&app, "dev-old");
    assert_pass(&org.verify("edge", &app, None), "before the leak");

    // The authority records the revocation and publishes snapshot 1.
    org.ok(
        "authority",
        &[
            "revoke",
            "dev-old.pub",
            "--reason",
            "private key pushed to a public repository",
        ],
    );
    let out = org.publish_revocation("authority", "30d", "revocation-1.cose");
    assert!(out.contains("installed"), "{out}");
    let r = org.verify("authority", &app, None);
    assert_fail(&r, "revoked at the authority", "wabbit-networks");
    assert_eq!(r.1["signatures"][0]["valid"], true);
    assert_eq!(r.1["signatures"][0]["counts"], false);
    assert_eq!(
        r.1["signatures"][0]["revoked"]["reason"],
        "private key pushed to a public repository"
    );
    // The edge site has not imported the snapshot yet; then it does.
    assert_pass(&org.verify("edge", &app, None), "edge before import");
    org.ok("edge", &["revocation", "import", "revocation-1.cose"]);
    assert_fail(
        &org.verify("edge", &app, None),
        "edge after import",
        "wabbit-networks",
    );
    // Explicit keys do not escape the revocation either.
    let r = org.json("edge", &["verify", &app, "--key", "dev-old.pub"]);
    assert_eq!(r.0, 1, "{}", r.1);
    assert_eq!(r.1["signatures"][0]["problem"]["code"], "revoked");

    // The developer's new key joins the identity by rotation: root 2, signed by both root keys.
    org.key("dev-new", "ed25519");
    org.rotate(
        "authority",
        &["--signer", "wabbit-networks=dev-new.pub"],
        "root-2.cose",
    );
    org.sign_trust("root-2.cose", &["root-a", "root-b"]);
    org.ok("authority", &["trust", "update", "root-2.cose"]);
    org.ok("edge", &["trust", "update", "root-1.cose", "root-2.cose"]);
    let (_, shown, _) = org.json("edge", &["trust", "show"]);
    assert_eq!(shown["root"]["version"], 2);
    // Re-signed content passes everywhere; the old signature still does not count.
    org.sign(&app, "dev-new");
    for site in ["authority", "edge"] {
        let r = org.verify(site, &app, None);
        assert_pass(&r, site);
        assert_eq!(
            r.1["signatures"]
                .as_array()
                .expect("sigs")
                .iter()
                .filter(|s| s["counts"] == true)
                .count(),
            1
        );
    }
    // Content known to be bad is revoked by digest: it fails whatever its signatures.
    let bad = org.artifact("backdoored", "1.0");
    org.sign(&bad, "dev-new");
    assert_pass(
        &org.verify("edge", &bad, None),
        "before the digest is revoked",
    );
    let (_, sample, _) = org.json("-", &["inspect", "backdoored"]);
    let bad_digest = sample["roots"]
        .as_array()
        .expect("roots")
        .iter()
        .find(|e| e["tag"] == "1.0")
        .and_then(|e| e["digest"].as_str())
        .expect("the tagged root's digest")
        .to_owned();
    // A bare sha256:<hex> that is no key of the root could be either: airlock asks.
    let r = org.run(
        "authority",
        &[
            "revoke",
            &bad_digest,
            "--reason",
            "pushed during the compromise",
        ],
    );
    assert_eq!(r.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&r.stderr).contains("--kind"));
    org.ok(
        "authority",
        &[
            "revoke",
            &bad_digest,
            "--kind",
            "digest",
            "--reason",
            "pushed during the compromise",
        ],
    );
    org.publish_revocation("authority", "30d", "revocation-2.cose");
    org.ok("edge", &["revocation", "import", "revocation-2.cose"]);
    let r = org.verify("edge", &bad, None);
    assert_fail(&r, "revoked digest", "revoked");
    assert_eq!(
        r.1["targetRevoked"]["reason"],
        "pushed during the compromise"
    );
    // An older snapshot is refused (rollback) and the newer one stays.
    let r = org.json("edge", &["revocation", "import", "revocation-1.cose"]);
    assert_eq!(r.0, 1);
    assert!(
        r.1["error"]["message"]
            .as_str()
            .expect("message")
            .contains("older"),
        "{}",
        r.1
    );
    let (_, shown, _) = org.json("edge", &["trust", "show"]);
    assert_eq!(shown["revocation"]["version"], 2);
    // So is an older root.
    let r = org.json("edge", &["trust", "update", "root-1.cose"]);
    assert_eq!(r.0, 1, "{}", r.1);
    let msg = r.1["error"]["message"].as_str().expect("message");
    assert!(
        msg.contains("version 1 is older than the trusted version 2"),
        "{msg}"
    );

    // Auditing as of a past time judges freshness then, but never brings back what was
    // revoked: the old signature still does not count at a time before the revocation.
    let now = time::now();
    let earlier = format_rfc3339(now - 86_400);
    let r = org.json("edge", &["verify", &app, "--at", &earlier]);
    assert_pass(&r, "as of yesterday, with the new signature");
    assert_eq!(
        r.1["signatures"]
            .as_array()
            .expect("sigs")
            .iter()
            .filter(|s| !s["revoked"].is_null())
            .count(),
        1,
        "the revoked key stays revoked: {}",
        r.1
    );
    // The snapshot expires in 30 days: judging as of a later time refuses (freeze).
    let later = format_rfc3339(now + 31 * 86_400);
    let r = org.json("edge", &["verify", &app, "--at", &later]);
    assert_eq!(r.0, 1, "{}", r.1);
    let msg = r.1["error"]["message"].as_str().expect("message");
    assert!(
        msg.contains("revocation snapshot version 2 expired"),
        "{msg}"
    );
}

/// Scenario 9: ES384 is deprecated with a grace period; new signatures use EdDSA. During the
/// grace period both count; after it, only EdDSA.
#[test]
fn scenario_9_algorithm_deprecated_with_a_grace_period() {
    let org = Org::new();
    org.key("build-p384", "p384");
    org.key("build-ed25519", "ed25519");
    // One identity, both keys: developers adopt the new algorithm piecemeal.
    let digest = org.init(&[
        ("build-system", "build-p384:p384"),
        ("build-system", "build-ed25519"),
    ]);
    let now = time::now();
    let end = now + 30 * 86_400;
    let grace = policy(json!([{
        "scope": "*", "level": "enforce", "signers": { "any-of": ["build-system"] },
        "algorithms": [{ "name": "ES384", "not-after": format_rfc3339(end) }, { "name": "EdDSA" }]
    }]));
    org.site("site", &digest, &grace);
    let old = org.artifact("legacy", "1.0");
    org.sign(&old, "build-p384");
    let both = org.artifact("current", "2.0");
    org.sign(&both, "build-p384");
    org.sign(&both, "build-ed25519");

    // During the grace period both are accepted, with a warning.
    let r = org.verify("site", &old, None);
    assert_pass(&r, "ES384 during the grace period");
    assert_eq!(r.1["signatures"][0]["algorithmStatus"], "grace-period");
    assert!(
        r.1["warnings"].to_string().contains("deprecated"),
        "{}",
        r.1
    );
    assert_pass(
        &org.verify("site", &both, None),
        "both during the grace period",
    );

    // After it (judged as of a later time), only the new algorithm counts.
    let after = format_rfc3339(end + 86_400);
    let r = org.json("site", &["verify", &old, "--at", &after]);
    assert_fail(&r, "ES384 after the grace period", "build-system");
    assert_eq!(r.1["signatures"][0]["algorithmStatus"], "deprecated");
    assert!(r.2.contains("WARNING"), "--at warns: {}", r.2);
    let r = org.json("site", &["verify", &both, "--at", &after]);
    assert_pass(&r, "EdDSA after the grace period");
    // The same, now: a policy whose grace period has ended.
    org.set_policy("site", &policy(json!([{
        "scope": "*", "level": "enforce", "signers": { "any-of": ["build-system"] },
        "algorithms": [{ "name": "ES384", "not-after": format_rfc3339(now - 86_400) }, { "name": "EdDSA" }]
    }])));
    assert_fail(
        &org.verify("site", &old, None),
        "ES384 after the end",
        "build-system",
    );
    assert_pass(&org.verify("site", &both, None), "EdDSA after the end");
}

/// Multi-party, offline: one party creates the next root, each other party adds a signature to
/// the same file; a rotation signed only by the new keys, or skipping a version, is refused.
#[test]
fn rotation_needs_old_and_new_root_keys() {
    let org = Org::new();
    let digest = org.init(&[("acme-prod", "prod")]);
    org.site(
        "site",
        &digest,
        &policy(json!([{ "scope": "*", "level": "enforce", "signers": "any" }])),
    );
    // Replace root key b with c.
    org.key("root-c", "ed25519");
    org.rotate(
        "site",
        &[
            "--root-key",
            "root-a.pub",
            "--root-key",
            "root-c.pub",
            "--root-threshold",
            "2",
        ],
        "root-2.cose",
    );
    // Only the new keys: not enough (the old root role needs a and b).
    fs::copy(org.path("root-2.cose"), org.path("root-2-new-only.cose")).expect("copy");
    org.sign_trust("root-2-new-only.cose", &["root-a", "root-c"]);
    let r = org.json("site", &["trust", "update", "root-2-new-only.cose"]);
    assert_eq!(r.0, 1, "{}", r.1);
    assert!(
        r.1["error"]["message"]
            .as_str()
            .expect("msg")
            .contains("root role of version 1"),
        "{}",
        r.1
    );
    // Each party signs the same file in turn: a, b (old), c (new).
    for k in ["root-a", "root-b", "root-c"] {
        org.sign_trust("root-2.cose", &[k]);
    }
    // Signing twice with one key is refused.
    let r = org.run(
        "-",
        &["trust", "sign", "root-2.cose", "--key", "root-a.key"],
    );
    assert_eq!(r.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&r.stderr).contains("already signed"));
    // Version 3 before 2 is a skipped version.
    org.ok("-", &["key", "generate", "root-d"]);
    let org_store = "site";
    org.ok(org_store, &["trust", "update", "root-2.cose"]);
    org.rotate(
        org_store,
        &[
            "--root-key",
            "root-a.pub",
            "--root-key",
            "root-d.pub",
            "--root-threshold",
            "2",
        ],
        "root-3.cose",
    );
    org.sign_trust("root-3.cose", &["root-a", "root-c", "root-d"]);
    org.ok(
        "fresh",
        &[
            "trust",
            "pin",
            "root-1.cose",
            "--digest",
            &digest.to_string(),
        ],
    );
    let r = org.json("fresh", &["trust", "update", "root-3.cose"]);
    assert_eq!(r.0, 1, "{}", r.1);
    assert!(
        r.1["error"]["message"]
            .as_str()
            .expect("msg")
            .contains("expected version 2"),
        "{}",
        r.1
    );
    // The whole chain at once is accepted.
    org.ok("fresh", &["trust", "update", "root-3.cose", "root-2.cose"]);
    let (_, shown, _) = org.json("fresh", &["trust", "show"]);
    assert_eq!(shown["root"]["version"], 3);
    assert_eq!(shown["state"]["pinned"], digest.to_string());
}

/// The revocation role, not any root key, signs snapshots; a tampered store file is noticed.
#[test]
fn snapshots_need_the_revocation_role_and_the_store_detects_tampering() {
    let org = Org::new();
    let digest = org.init(&[("acme-prod", "prod")]);
    org.site(
        "site",
        &digest,
        &policy(json!([{ "scope": "*", "level": "enforce", "signers": "any" }])),
    );
    org.ok("site", &["revoke", "prod.pub", "--reason", "test"]);
    let r = org.json(
        "site",
        &[
            "revocation",
            "publish",
            "--expires",
            "30d",
            "--key",
            "root-a.key",
            "-o",
            "by-root.cose",
        ],
    );
    assert_eq!(r.0, 0, "{}", r.1);
    assert_eq!(r.1["installed"], false);
    let r = org.json("site", &["revocation", "import", "by-root.cose"]);
    assert_eq!(r.0, 1);
    assert!(
        r.1["error"]["message"]
            .as_str()
            .expect("msg")
            .contains("outside the revocation role"),
        "{}",
        r.1
    );
    // The revocation key adds its signature to the same file; now it is accepted.
    org.sign_trust("by-root.cose", &["revoker"]);
    org.ok("site", &["revocation", "import", "by-root.cose"]);
    // A store file changed behind airlock's back is refused.
    let root = org.path("site/roots/1.cose");
    let mut bytes = fs::read(&root).expect("root");
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    fs::write(&root, bytes).expect("tamper");
    let r = org.run("site", &["trust", "show"]);
    assert_eq!(r.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&r.stderr).contains("digest recorded"),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );
}
