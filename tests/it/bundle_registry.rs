//! Bundles through real registries: exported from the connected side's registry, imported into
//! a registry inside the disconnected network, verified there from the registry alone. The
//! user's scenarios 5 (signatures validated within a restricted network, the trust material
//! published inside it and fetched with `airlock trust sync`) and 7 (forensics after a
//! repository compromise: every tag move logged with the digest it replaced).

use std::fs;

use airlock::Digest;
use serde_json::{Value, json};

use crate::harness::{Registry, skopeo};
use crate::registry::{raw_manifest, tags};
use crate::trust::{Org, assert_fail, assert_pass, policy};

/// The connected side (`hq`: the exporting trust store, registry `near`) and the disconnected
/// network (`far`: the importing trust store, registry `far`, prefix `airgap`), both pinned to
/// one trust root whose identity `wabbit-networks` holds the key `wabbit`.
struct Gap {
    org: Org,
    near: Registry,
    far: Registry,
    root: Digest,
}

impl Gap {
    fn new() -> Gap {
        let org = Org::new();
        let root = org.init(&[("wabbit-networks", "wabbit")]);
        let (near, far) = (Registry::start(), Registry::start());
        let gap = Gap {
            org,
            near,
            far,
            root,
        };
        // The exporter carries a revocation snapshot; publishing installs it at hq.
        gap.org.air_gap(
            &gap.root,
            ("hq", &wabbit_policy("*")),
            ("far", &wabbit_policy(&gap.far_ref("*"))),
        );
        gap
    }

    /// `NEAR/REPO`.
    fn near_ref(&self, repo: &str) -> String {
        format!("{}/{repo}", self.near.host())
    }

    /// `FAR/airgap/REPO`.
    fn far_ref(&self, repo: &str) -> String {
        format!("{}/airgap/{repo}", self.far.host())
    }

    /// Makes the sample artifact `name` (its content differs by name), signs it in its layout
    /// with `key` (if any) and copies it with its referrers to `NEAR/wabbit/net-monitor:TAG`;
    /// returns its digest.
    fn push(&self, name: &str, tag: &str, key: Option<&str>) -> Digest {
        let local = self.org.artifact(name, tag);
        if let Some(k) = key {
            self.org.sign(&local, k);
        }
        let remote = self.near_ref(&format!("wabbit/net-monitor:{tag}"));
        let (code, doc, err) = self.org.json("-", &["copy", "-r", &local, &remote]);
        assert_eq!(code, 0, "copy {local} {remote}: {err}");
        doc["digest"]
            .as_str()
            .expect("digest")
            .parse()
            .expect("digest")
    }

    /// `airlock export NEAR/wabbit/net-monitor:TAG -o FILE --sign-key bundler.key` at hq;
    /// returns the export document.
    fn export(&self, tag: &str, file: &str) -> Value {
        let source = self.near_ref(&format!("wabbit/net-monitor:{tag}"));
        let (code, doc, err) = self.org.json(
            "hq",
            &["export", &source, "-o", file, "--sign-key", "bundler.key"],
        );
        assert_eq!(code, 0, "export {source}: {err}");
        assert_eq!(doc["kind"], "export", "{doc}");
        doc
    }

    /// `airlock import FILE --to FAR/airgap EXTRA…` at `site`: (exit code, JSON, stderr).
    fn import(&self, site: &str, file: &str, extra: &[&str]) -> (i32, Value, String) {
        let to = format!("{}/airgap", self.far.host());
        let mut args = vec!["import", file, "--to", &to];
        args.extend_from_slice(extra);
        self.org.json(site, &args)
    }

    /// Like [`Gap::import`], asserting success.
    fn import_ok(&self, site: &str, file: &str, extra: &[&str]) -> Value {
        let (code, doc, err) = self.import(site, file, extra);
        assert_eq!(code, 0, "import {file}: {doc}\n{err}");
        assert_eq!(doc["kind"], "import", "{doc}");
        doc
    }
}

/// Enforce: `scope` needs a signature of `wabbit-networks`.
fn wabbit_policy(scope: &str) -> Value {
    policy(json!([{
        "scope": scope,
        "level": "enforce",
        "signers": { "any-of": ["wabbit-networks"] },
    }]))
}

/// The digest of the manifest `reference` names, as skopeo reads it from the registry.
fn registry_digest(reference: &str) -> Digest {
    Digest::sha256_of(&raw_manifest(reference))
}

/// The one tag change of an import document: (reference, digest, previous).
fn tag_change(doc: &Value) -> (String, String, Value) {
    let tags = doc["tags"].as_array().expect("tags");
    assert_eq!(tags.len(), 1, "{doc}");
    (
        tags[0]["reference"].as_str().expect("reference").to_owned(),
        tags[0]["digest"].as_str().expect("digest").to_owned(),
        tags[0]["previous"].clone(),
    )
}

/// Flips one byte in the data of the bundle's last tar entry (a content blob: the exporter
/// writes those last), so that blob no longer matches its digest.
fn tamper_last_blob(path: &std::path::Path) {
    let bytes = fs::read(path).expect("read bundle");
    let mut archive = tar::Archive::new(bytes.as_slice());
    let mut last = None;
    for entry in archive.entries().expect("tar entries") {
        let entry = entry.expect("tar entry");
        if entry.header().entry_type().is_file() && entry.size() > 0 {
            last = Some((
                entry.path().expect("path").display().to_string(),
                entry.raw_file_position(),
            ));
        }
    }
    let (name, offset) = last.expect("a blob entry");
    assert!(name.starts_with("blobs/sha256/"), "last entry {name}");
    let mut bytes = bytes;
    let at = usize::try_from(offset).expect("offset");
    bytes[at] ^= 0x01;
    fs::write(path, bytes).expect("write bundle");
}

/// Export from one registry, import into another under a prefix: the tag, the signature and
/// the verification all arrive; skopeo reads the result; `--map` renames the repository.
#[test]
fn export_from_a_registry_and_import_into_another() {
    let gap = Gap::new();
    let org = &gap.org;
    let digest = gap.push("net-monitor", "v1", Some("wabbit"));
    let exported = gap.export("v1", "b.tar");
    assert_eq!(
        exported["roots"],
        json!([{
            "name": "wabbit/net-monitor:v1",
            "digest": digest.to_string(),
            "source": gap.near_ref("wabbit/net-monitor:v1"),
        }]),
        "{exported}"
    );

    let doc = gap.import_ok("far", "b.tar", &[]);
    let target = gap.far_ref("wabbit/net-monitor:v1");
    assert_eq!(
        tag_change(&doc),
        (target.clone(), digest.to_string(), Value::Null),
        "{doc}"
    );
    assert_eq!(doc["bundle"], exported["bundle"]);
    assert_eq!(doc["revocationInstalled"], true, "{doc}");
    assert_eq!(doc["judgements"][0]["decision"], "pass", "{doc}");
    assert_eq!(
        doc["judgements"][0]["scope"],
        gap.far_ref("*"),
        "judged by the far site's scope for where it lands: {doc}"
    );
    let far_tags = tags(&gap.far, "airgap/wabbit/net-monitor");
    assert!(
        far_tags.contains(&"v1".to_owned())
            && far_tags.contains(&format!("sha256-{}", digest.hex())),
        "the tag, and the referrers fallback tag of the signed index: {far_tags:?}"
    );

    // Skopeo reads the very bytes exported, and the image under the index.
    assert_eq!(registry_digest(&target), digest);
    let inspected: Value = serde_json::from_str(&skopeo(&[
        "inspect",
        "--tls-verify=false",
        &format!("docker://{target}"),
    ]))
    .expect("skopeo inspect prints JSON");
    assert_eq!(inspected["Architecture"], "amd64", "{inspected}");
    assert_eq!(inspected["Name"], gap.far_ref("wabbit/net-monitor"));

    // The far site verifies from its registry alone, under the far registry's scope.
    let r = org.verify("far", &target, None);
    assert_pass(&r, "imported into the far registry");
    assert_eq!(r.1["scope"]["pattern"], gap.far_ref("*"));
    assert_eq!(r.1["target"]["digest"], digest.to_string());

    // The signature is discoverable there.
    let (code, found, err) = org.json("-", &["discover", &target]);
    assert_eq!(code, 0, "{err}");
    let referrers: Vec<&Value> = found["root"]["children"]
        .as_array()
        .expect("children")
        .iter()
        .filter(|c| c["relation"] == "referrer")
        .collect();
    assert_eq!(referrers.len(), 1, "{found}");
    assert_eq!(
        referrers[0]["artifactType"],
        "application/vnd.cncf.notary.signature"
    );

    // Renamed on the way in: the same artifact, now at acme/net-monitor, verifies there too.
    let doc = gap.import_ok(
        "far",
        "b.tar",
        &["--map", "wabbit/net-monitor=acme/net-monitor"],
    );
    let renamed = gap.far_ref("acme/net-monitor:v1");
    assert_eq!(
        tag_change(&doc),
        (renamed.clone(), digest.to_string(), Value::Null),
        "{doc}"
    );
    assert_eq!(
        doc["revocationInstalled"], false,
        "already installed: {doc}"
    );
    assert_eq!(registry_digest(&renamed), digest);
    assert_pass(&org.verify("far", &renamed, None), "renamed by --map");
    // The original tag is untouched, and importing the same bundle again changes nothing.
    assert_eq!(registry_digest(&target), digest);
    let doc = gap.import_ok("far", "b.tar", &[]);
    assert_eq!(
        tag_change(&doc),
        (target, digest.to_string(), json!(digest.to_string())),
        "{doc}"
    );
}

/// A refused import, whether the policy is not met or a blob was tampered with, never moves a
/// tag: what the registry served before it, it serves after.
#[test]
fn a_refused_import_leaves_the_tag_where_it_was() {
    let gap = Gap::new();
    let org = &gap.org;
    let good = gap.push("net-monitor", "v1", Some("wabbit"));
    gap.export("v1", "good.tar");
    gap.import_ok("far", "good.tar", &[]);
    let target = gap.far_ref("wabbit/net-monitor:v1");
    assert_eq!(registry_digest(&target), good);

    // Policy not met: new, unsigned content under the same tag.
    let unsigned = gap.push("net-monitor-evil", "v1", None);
    assert_ne!(unsigned, good);
    gap.export("v1", "unsigned.tar");
    let (code, doc, err) = gap.import("far", "unsigned.tar", &[]);
    assert_eq!(code, 1, "{doc}\n{err}");
    let message = doc["error"]["message"].as_str().expect("message");
    assert!(message.contains("wabbit-networks"), "{message}");
    assert_eq!(registry_digest(&target), good, "the tag did not move");
    assert_eq!(tags(&gap.far, "airgap/wabbit/net-monitor")[0], "v1");

    // A tampered blob: new, signed content, one byte of one blob changed in transit.
    let signed = gap.push("net-monitor-2", "v1", Some("wabbit"));
    assert_ne!(signed, good);
    gap.export("v1", "tampered.tar");
    tamper_last_blob(&org.path("tampered.tar"));
    let (code, doc, err) = gap.import("far", "tampered.tar", &[]);
    assert_eq!(code, 1, "{doc}\n{err}");
    let message = doc["error"]["message"].as_str().expect("message");
    assert!(
        message.contains("content hashes to") && message.contains("not sha256:"),
        "{message}"
    );
    assert_eq!(registry_digest(&target), good, "the tag did not move");
    let (code, found, err) = org.json("-", &["discover", &target]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(found["root"]["digest"], good.to_string());
    assert_pass(&org.verify("far", &target, None), "still the good artifact");
}

/// Scenario 5: the wabbit-networks signature is validated inside ACME's restricted network,
/// with no external access. The import publishes the trust material to the network's own
/// registry; a third site there, pinned to root version 1 only, fetches it with `airlock trust
/// sync` and verifies from the registry, never seeing the bundle. A root rotated at the
/// connected side reaches it the same way.
#[test]
fn scenario_5_trust_material_published_inside_the_network() {
    let gap = Gap::new();
    let org = &gap.org;
    let trust = gap.far_ref("airlock/trust");
    let digest = gap.push("net-monitor", "v1", Some("wabbit"));
    gap.export("v1", "b1.tar");
    let (code, _, err) = gap.import("far", "b1.tar", &["--publish-trust"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains(&format!("published the trust material as {trust}:current")),
        "{err}"
    );
    let manifest: Value =
        serde_json::from_slice(&raw_manifest(&format!("{trust}:current"))).expect("manifest JSON");
    assert_eq!(manifest["artifactType"], "application/vnd.airlock.trust.v1");
    assert_eq!(
        manifest["layers"]
            .as_array()
            .expect("layers")
            .iter()
            .map(|l| l["mediaType"].as_str().unwrap_or(""))
            .collect::<Vec<_>>(),
        [
            "application/vnd.airlock.trust-root.v1+cose",
            "application/vnd.airlock.revocation.v1+cose"
        ]
    );

    // Nothing is trusted on first use: an unpinned store cannot sync.
    let out = org.run("nobody", &["trust", "sync", "--from", &trust]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("trust pin"));
    assert!(!org.path("nobody/state.json").exists());

    // The third site: pinned to root 1 out of band, no bundle, no revocation snapshot yet.
    org.site("edge", &gap.root, &wabbit_policy(&gap.far_ref("*")));
    let (code, doc, err) = org.json("edge", &["trust", "sync", "--from", &trust]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(doc["kind"], "trust-sync");
    assert_eq!(doc["from"], format!("{trust}:current"), "default tag");
    assert_eq!(doc["rootsInstalled"], json!([]), "{doc}");
    assert_eq!(doc["revocationInstalled"], true, "{doc}");
    assert_eq!(doc["root"]["version"], 1);
    assert_eq!(doc["revocation"]["version"], 1);
    let target = gap.far_ref("wabbit/net-monitor:v1");
    let r = org.verify("edge", &target, None);
    assert_pass(&r, "verified at the third site from the registry");
    assert_eq!(r.1["target"]["digest"], digest.to_string());

    // The connected side rotates: root 2 gives wabbit-networks a new key (and drops the old),
    // signed by both root keys of version 1 (also the root role of version 2).
    org.key("wabbit-2", "ed25519");
    org.rotate(
        "hq",
        &["--signer", "wabbit-networks=wabbit-2.pub"],
        "root-2.cose",
    );
    org.sign_trust("root-2.cose", &["root-a", "root-b"]);
    org.ok("hq", &["trust", "update", "root-2.cose"]);
    let digest2 = gap.push("net-monitor-2", "v2", Some("wabbit-2"));
    gap.export("v2", "b2.tar");
    let doc = gap.import_ok("far", "b2.tar", &["--publish-trust"]);
    assert_eq!(doc["rootsInstalled"], json!([2]), "{doc}");
    assert_eq!(doc["trustRoot"], 2, "{doc}");

    // Before it syncs, the third site does not know the new key.
    let target2 = gap.far_ref("wabbit/net-monitor:v2");
    assert_fail(
        &org.verify("edge", &target2, None),
        "signed by a key of root 2, judged by root 1",
        "wabbit-networks",
    );
    let (code, doc, err) = org.json(
        "edge",
        &["trust", "sync", "--from", &format!("{trust}:current")],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(doc["rootsInstalled"], json!([2]), "{doc}");
    assert_eq!(doc["previousRootVersion"], 1, "{doc}");
    assert_eq!(doc["revocationInstalled"], false, "{doc}");
    assert_eq!(doc["root"]["version"], 2);
    let r = org.verify("edge", &target2, None);
    assert_pass(&r, "root 2 synced from the registry");
    assert_eq!(r.1["target"]["digest"], digest2.to_string());
    // Root 2 took the old key out of the identity: the third site judges by it now.
    assert_fail(
        &org.verify("edge", &target, None),
        "signed by the key root 2 dropped",
        "wabbit-networks",
    );
    let (_, shown, _) = org.json("edge", &["trust", "show"]);
    assert_eq!(shown["root"]["version"], 2);
    assert_eq!(shown["state"]["pinned"], gap.root.to_string());

    // Syncing again installs nothing.
    let (code, doc, err) = org.json("edge", &["trust", "sync", "--from", &trust]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        (&doc["rootsInstalled"], &doc["revocationInstalled"]),
        (&json!([]), &json!(false)),
        "{doc}"
    );
    // Something that is not trust material is refused, and changes nothing.
    let out = org.run("edge", &["trust", "sync", "--from", &target]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("not airlock trust material"));
}

/// Scenario 7: after a compromise, forensics need who pushed what, when, and what each tag
/// named before. Every import appends one JSON line to the audit log: the bundle, its signer,
/// and for each tag the digest it replaced; a refused import is logged too.
#[test]
fn scenario_7_the_audit_log_records_every_tag_move() {
    let gap = Gap::new();
    let org = &gap.org;
    let log = org.path("far/audit.log");
    let bundler = airlock::key::read_public_key(&org.path("bundler.pub"))
        .expect("bundler.pub")
        .id()
        .to_string();
    let target = gap.far_ref("wabbit/net-monitor:v1");

    let a = gap.push("net-monitor", "v1", Some("wabbit"));
    let bundle_a = gap.export("v1", "a.tar")["bundle"].clone();
    gap.import_ok("far", "a.tar", &[]);
    let b = gap.push("net-monitor-2", "v1", Some("wabbit"));
    assert_ne!(a, b);
    let bundle_b = gap.export("v1", "b.tar")["bundle"].clone();
    let doc = gap.import_ok("far", "b.tar", &[]);
    assert_eq!(
        tag_change(&doc),
        (target.clone(), b.to_string(), json!(a.to_string())),
        "{doc}"
    );
    assert_eq!(registry_digest(&target), b);

    let lines = |n: usize| -> Vec<Value> {
        let text = fs::read_to_string(&log).expect("audit log");
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("each audit line is JSON"))
            .collect();
        assert_eq!(lines.len(), n, "{text}");
        lines
    };
    let audit = lines(2);
    for (line, bundle, digest, previous) in [
        (&audit[0], &bundle_a, &a, Value::Null),
        (&audit[1], &bundle_b, &b, json!(a.to_string())),
    ] {
        assert_eq!(line["result"], "imported", "{line}");
        assert_eq!(&line["bundle"], bundle, "{line}");
        assert_eq!(line["signers"], json!([bundler]), "{line}");
        assert_eq!(line["target"], format!("{}/airgap", gap.far.host()));
        assert_eq!(
            line["tags"],
            json!([{
                "reference": target,
                "digest": digest.to_string(),
                "previous": previous,
            }]),
            "{line}"
        );
        assert!(
            line["time"].as_str().is_some_and(|t| t.ends_with('Z')),
            "{line}"
        );
    }

    // The compromise: unsigned content under the same tag is refused, logged, and the tag
    // still names what bundle B put there.
    gap.push("net-monitor-evil", "v1", None);
    gap.export("v1", "evil.tar");
    let (code, doc, err) = gap.import("far", "evil.tar", &[]);
    assert_eq!(code, 1, "{doc}\n{err}");
    let audit = lines(3);
    assert_eq!(audit[2]["result"], "refused", "{}", audit[2]);
    assert!(
        audit[2]["error"]
            .as_str()
            .is_some_and(|e| e.contains("wabbit-networks")),
        "{}",
        audit[2]
    );
    assert_eq!(registry_digest(&target), b);
    // From the log alone, the tag can be reset to what preceded bundle B.
    assert_eq!(audit[1]["tags"][0]["previous"], a.to_string());
}
