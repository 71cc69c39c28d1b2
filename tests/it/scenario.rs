//! The user's end-to-end scenario, the one `examples/airgap_transfer.rs` tells on layouts,
//! through the `airlock` CLI with two registries: Wabbit Networks publishes `net-monitor` (an
//! index, its image, an SBOM and a source tarball, all four signed) to a public registry; ACME
//! Rockets exports it with its whole referrer graph in one signed bundle, imports it into the
//! air-gapped registry, promotes it to production and the IoT area and signs it there; a leaked
//! dev key is revoked on the connected side and the next bundle carries the revocation over.
//!
//! The example itself runs here too (included as a module, the way `hostile.rs` runs the
//! vector generator), and `airlock verify` must agree with what it concluded.

use std::fs;

use airlock::Limits;
use airlock::build::write_sample;
use airlock::layout::Layout;
use airlock::reference::LayoutTag;
use serde_json::{Value, json};

use crate::harness::Registry;
use crate::trust::{Org, assert_fail, assert_pass, policy};

#[path = "../../examples/airgap_transfer.rs"]
mod airgap_transfer;

/// The signer identities of ACME's trust root and their key files.
const SIGNERS: &[(&str, &str)] = &[
    ("wabbit-networks", "wabbit"),
    ("acme-prod", "acme-prod"),
    ("acme-iot", "acme-iot"),
    ("acme-dev", "acme-dev"),
];

/// The digest a JSON report names at `pointer`.
fn digest_at(doc: &Value, pointer: &str) -> String {
    doc.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no {pointer} in {doc}"))
        .to_owned()
}

#[test]
fn public_registry_to_airgapped_registry() {
    let org = Org::new();
    let root = org.init(SIGNERS);
    let public = Registry::start();
    let airgap = Registry::start();
    let (p, a) = (public.host(), airgap.host());

    // 1. Wabbit Networks builds net-monitor (index over an image with an SBOM), publishes it
    // with its referrers, attaches the source tarball there and signs all four there.
    let layout = Layout::init(org.path("net-monitor"), Limits::default()).expect("layout");
    let sample =
        write_sample(&layout, &LayoutTag::new("v1").expect("tag"), "net-monitor").expect("sample");
    let published = format!("{p}/wabbit/net-monitor:v1");
    org.ok("-", &["copy", "-r", "oci:net-monitor:v1", &published]);
    fs::write(
        org.path("source.tar"),
        airgap_transfer::source_tarball().expect("tarball"),
    )
    .expect("write source.tar");
    let image = sample.image.digest().to_string();
    let attached = org.json_ok(
        "-",
        &[
            "attach",
            &format!("{p}/wabbit/net-monitor@{image}"),
            "--artifact-type",
            airgap_transfer::SOURCE_TYPE,
            "source.tar:application/x-tar",
        ],
    );
    let source = digest_at(&attached, "/referrer/digest");
    let sbom = sample.sbom.digest().to_string();
    let parts = [
        ("index", published.clone()),
        ("image", format!("{p}/wabbit/net-monitor@{image}")),
        ("SBOM", format!("{p}/wabbit/net-monitor@{sbom}")),
        ("source", format!("{p}/wabbit/net-monitor@{source}")),
    ];
    for (_, reference) in &parts {
        org.sign(reference, "wabbit");
    }

    // 2. ACME's connected side pins its root, checks Wabbit's signatures on export and
    // publishes revocation snapshot 1; the air gap pins the same root by digest, with its
    // policy: intake needs Wabbit, production Wabbit and ACME prod, IoT ACME prod and IoT,
    // the dev area ACME dev. No global scope: anything else fails.
    let connected = policy(json!([
        { "scope": format!("{p}/wabbit/*"), "level": "enforce",
          "signers": { "any-of": ["wabbit-networks"] } }
    ]));
    let airgap = policy(json!([
        { "scope": format!("{a}/incoming/*"), "level": "enforce",
          "signers": { "any-of": ["wabbit-networks"] } },
        { "scope": format!("{a}/prod/*"), "level": "enforce",
          "signers": { "all-of": ["wabbit-networks", "acme-prod"] } },
        { "scope": format!("{a}/iot/*"), "level": "enforce",
          "signers": { "all-of": ["acme-prod", "acme-iot"] } },
        { "scope": format!("{a}/dev/*"), "level": "enforce",
          "signers": { "any-of": ["acme-dev"] } },
    ]));
    org.air_gap(&root, ("connected", &connected), ("airgap", &airgap));

    // 3. One zstd bundle: the index with its whole referrer graph, signed by the bundle key.
    let exported = org.json_ok(
        "connected",
        &[
            "export",
            &published,
            "-o",
            "transfer-1.tar.zst",
            "--zstd",
            "--sign-key",
            "bundler.key",
            "--verify",
        ],
    );
    assert_eq!(
        exported["roots"][0]["name"], "wabbit/net-monitor:v1",
        "{exported}"
    );
    assert_eq!(exported["blobsOmitted"], 0, "{exported}");

    // 4. Into the air-gapped registry: judged by the intake scope, trust material installed,
    // and all four of Wabbit's signatures arrived.
    let imported = org.json_ok(
        "airgap",
        &[
            "import",
            "transfer-1.tar.zst",
            "--to",
            &format!("{a}/incoming"),
        ],
    );
    let incoming = format!("{a}/incoming/wabbit/net-monitor:v1");
    assert_eq!(imported["tags"][0]["reference"], incoming, "{imported}");
    assert_eq!(
        imported["tags"][0]["digest"],
        sample.index.digest().to_string()
    );
    assert_eq!(imported["judgements"][0]["decision"], "pass", "{imported}");
    assert_eq!(imported["revocationInstalled"], true, "{imported}");
    for (what, reference) in &parts {
        let inside = reference.replacen(&format!("{p}/"), &format!("{a}/incoming/"), 1);
        let r = org.verify("airgap", &inside, None);
        assert_pass(&r, &format!("Wabbit's signature on the {what}, inside"));
    }

    // 5. Production needs ACME's signature too: promoted as it arrived, it fails; signed with
    // acme-prod in the air-gapped registry, it passes.
    let prod = format!("{a}/prod/net-monitor:v1");
    org.ok("airgap", &["copy", "-r", &incoming, &prod]);
    assert_fail(
        &org.verify("airgap", &prod, None),
        "production before ACME signed",
        "missing acme-prod",
    );
    org.sign(&prod, "acme-prod");
    let r = org.verify("airgap", &prod, None);
    assert_pass(&r, "production after ACME signed");
    assert_eq!(
        r.1["satisfied"],
        json!(["acme-prod", "wabbit-networks"]),
        "{}",
        r.1
    );

    // 6. The IoT area needs the prod and IoT keys.
    let iot = format!("{a}/iot/net-monitor:v1");
    org.ok("airgap", &["copy", "-r", &prod, &iot]);
    assert_fail(
        &org.verify("airgap", &iot, None),
        "IoT with the prod signature alone",
        "missing acme-iot",
    );
    org.sign(&iot, "acme-iot");
    assert_pass(
        &org.verify("airgap", &iot, None),
        "IoT after the IoT signature",
    );

    // 7. A developer signs in the dev area.
    let dev = format!("{a}/dev/net-monitor:v1");
    org.ok("airgap", &["copy", "-r", &incoming, &dev]);
    org.sign(&dev, "acme-dev");
    assert_pass(
        &org.verify("airgap", &dev, None),
        "dev with the dev signature",
    );

    // 8. The dev key leaks: revoked on the connected side, snapshot 2 published, and the next
    // bundle (a delta against the first) carries it.
    org.ok(
        "connected",
        &[
            "revoke",
            "acme-dev.pub",
            "--reason",
            "the acme-dev key leaked",
        ],
    );
    org.publish_revocation("connected", "30d", "revocation-2.cose");
    let delta = org.json_ok(
        "connected",
        &[
            "export",
            &published,
            "-o",
            "transfer-2.tar.zst",
            "--zstd",
            "--sign-key",
            "bundler.key",
            "--since",
            "transfer-1.tar.zst",
        ],
    );
    assert!(
        delta["blobsOmitted"].as_u64().unwrap_or(0) > 0,
        "the delta carries again what bundle 1 did: {delta}"
    );

    // 9. Imported: snapshot 2 is installed, the dev signature no longer counts and the dev
    // area fails; production and IoT still pass.
    let imported = org.json_ok(
        "airgap",
        &[
            "import",
            "transfer-2.tar.zst",
            "--to",
            &format!("{a}/incoming"),
        ],
    );
    assert_eq!(imported["revocation"], 2, "{imported}");
    assert_eq!(imported["revocationInstalled"], true, "{imported}");
    assert_eq!(
        imported["tags"][0]["previous"],
        sample.index.digest().to_string(),
        "{imported}"
    );
    let r = org.verify("airgap", &dev, None);
    assert_fail(&r, "dev after the revocation", "needs any of acme-dev");
    assert_eq!(r.1["trust"]["revocationVersion"], 2, "{}", r.1);
    let sigs = r.1["signatures"].as_array().expect("signatures");
    let by_dev: Vec<&Value> = sigs
        .iter()
        .filter(|s| s["identities"] == json!(["acme-dev"]))
        .collect();
    assert_eq!(by_dev.len(), 1, "{}", r.1);
    assert_eq!(by_dev[0]["counts"], false, "{}", r.1);
    assert_eq!(
        by_dev[0]["revoked"]["reason"], "the acme-dev key leaked",
        "{}",
        r.1
    );
    assert_pass(
        &org.verify("airgap", &prod, None),
        "production after the revocation",
    );
    assert_pass(
        &org.verify("airgap", &iot, None),
        "IoT after the revocation",
    );
    let audit = fs::read_to_string(org.path("airgap/audit.log")).expect("audit log");
    let results: Vec<String> = audit
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("audit line is JSON");
            v["result"].as_str().unwrap_or_default().to_owned()
        })
        .collect();
    assert_eq!(results, ["imported", "imported"], "{audit}");
}

/// `examples/airgap_transfer.rs` tells its story to the end, and `airlock verify` on what it
/// left behind agrees with it.
#[test]
fn airgap_transfer_example_runs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let work = dir.path().join("work");
    let mut told = Vec::new();
    if let Err(e) = airgap_transfer::run(&work, &mut told) {
        panic!(
            "the example failed: {e}\nit said:\n{}",
            String::from_utf8_lossy(&told)
        );
    }
    let told = String::from_utf8(told).expect("UTF-8");
    for step in 1..=9 {
        assert!(
            told.lines().any(|l| l.starts_with(&format!("{step}. "))),
            "step {step} is missing:\n{told}"
        );
    }
    let org = Org::new();
    let site = work.join("acme/airgap/trust");
    let site = site.to_str().expect("UTF-8 path");
    let imported = format!(
        "oci:{}:wabbit/net-monitor:v1",
        work.join("acme/airgap/layout").display()
    );
    for (scope, passes) in [
        ("wabbit/net-monitor", true),
        ("acme/net-monitor", true),
        ("acme/iot/net-monitor", true),
        ("acme/dev/net-monitor", false),
        ("elsewhere/net-monitor", false),
    ] {
        let r = org.verify(site, &imported, Some(scope));
        if passes {
            assert_pass(&r, scope);
        } else {
            assert_eq!(
                (r.0, r.1["decision"].as_str()),
                (1, Some("fail")),
                "{scope}: {}",
                r.1
            );
        }
    }
}
