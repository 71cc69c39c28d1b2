//! The air-gap transfer, end to end, on OCI layout directories: Wabbit Networks publishes
//! `net-monitor`, ACME Rockets carries it into its air-gapped network in one signed bundle, adds
//! its own signatures there, and later revokes a leaked key and carries the revocation over.
//!
//! 1. Wabbit Networks builds `net-monitor` in its public layout: an image, an SPDX SBOM and a
//!    source tarball (artifact type `application/vnd.wabbit.source.v1+tar`) attached to the
//!    image as referrers, and an index over the image tagged `v1`. It signs all four (index,
//!    image, SBOM, source) with its key, identity `wabbit-networks`.
//! 2. ACME Rockets makes its trust root: root, revocation and bundle role keys, and the signer
//!    identities `wabbit-networks` (Wabbit's public key), `acme-prod`, `acme-iot`, `acme-dev`.
//!    Its connected side pins the root and publishes revocation snapshot 1 (empty).
//! 3. The connected side checks Wabbit's signature and exports the index with its whole
//!    referrer graph, the trust-root chain and the snapshot as one zstd bundle, signed by the
//!    bundle key.
//! 4. The air-gapped side pins the same root by the digest it was given out of band, installs
//!    its policy and imports the bundle into a fresh layout: in one pass every digest, the
//!    trust chain, the bundle signature and the intake policy (`wabbit/*`: `any-of
//!    wabbit-networks`) are checked before anything is tagged. All four Wabbit signatures
//!    arrived.
//! 5. Production (`acme/net-monitor`) requires `all-of wabbit-networks, acme-prod`: the
//!    vendor-signed index fails; ACME signs it with `acme-prod` in the air gap and it passes.
//! 6. The IoT fleet (`acme/iot/*`) requires `all-of acme-prod, acme-iot`: it fails until ACME
//!    adds its IoT signature, then passes.
//! 7. A developer signs with `acme-dev`; the dev area (`acme/dev/*`, `any-of acme-dev`) passes.
//! 8. The dev key leaks: ACME revokes it on the connected side, publishes revocation snapshot 2
//!    and exports the next bundle (a delta against the first: content already carried stays
//!    behind; manifests and trust material travel).
//! 9. The air gap imports it, installing snapshot 2: the dev signature no longer counts, so the
//!    dev area fails, while production and IoT still pass.
//!
//! Every outcome is checked, not just printed: the example exits non-zero when a step does not
//! turn out as described. `tests/it/scenario.rs` runs it too, and tells the same story through
//! the `airlock` CLI with two registries.
//!
//! Run: `cargo run --example airgap_transfer [-- WORKDIR]` (default: a new temporary directory;
//! a WORKDIR given must be empty or absent, and keeps everything for a look).

use std::collections::{BTreeMap, BTreeSet};
use std::error::Error;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use airlock::bundle::{self, ExportItem, ExportOptions, ExportReport};
use airlock::graph::{Graph, Indexed};
use airlock::import::{self, ImportOptions, ImportReport, ImportTarget};
use airlock::key::{KeyAlgorithm, PrivateKey};
use airlock::layout::{Layout, to_json_bytes};
use airlock::reference::LayoutTag;
use airlock::revocation::{SignedSnapshot, Snapshot};
use airlock::signature::{self, SignOptions};
use airlock::tarball::Compression;
use airlock::time::Seconds;
use airlock::trust::root::{Role, RoleName};
use airlock::trust::store::{DraftEntry, Revoke};
use airlock::trust::{SignedRoot, TrustRoot, TrustStore};
use airlock::verify::{self, Context, Decision, Judgement};
use airlock::{Limits, build, media};
use oci_spec::image::Descriptor;
use serde_json::json;

type Result<T> = std::result::Result<T, Box<dyn Error>>;

const DAY: Seconds = 86_400;
/// The artifact type of Wabbit's source tarball.
pub(crate) const SOURCE_TYPE: &str = "application/vnd.wabbit.source.v1+tar";
/// The repository the bundle carries `net-monitor` as, and the air gap's intake scope for it.
const REPOSITORY: &str = "wabbit/net-monitor";
const TAG: &str = "v1";
/// Where the air gap deploys it: each repository selects a scope of [`AIRGAP_POLICY`].
const PRODUCTION: &str = "acme/net-monitor";
const IOT: &str = "acme/iot/net-monitor";
const DEV: &str = "acme/dev/net-monitor";

/// The air-gapped side's policy. No global scope: a repository no scope names fails.
const AIRGAP_POLICY: &str = r#"{
  "version": 1,
  "scopes": [
    {"scope": "wabbit/*", "level": "enforce", "signers": {"any-of": ["wabbit-networks"]}},
    {"scope": "acme/net-monitor", "level": "enforce", "signers": {"all-of": ["wabbit-networks", "acme-prod"]}},
    {"scope": "acme/iot/*", "level": "enforce", "signers": {"all-of": ["acme-prod", "acme-iot"]}},
    {"scope": "acme/dev/*", "level": "enforce", "signers": {"any-of": ["acme-dev"]}}
  ]
}"#;

/// The connected side's policy: what it checks before exporting.
const CONNECTED_POLICY: &str = r#"{"version": 1, "scopes": [{"scope": "wabbit/*", "level": "enforce", "signers": {"any-of": ["wabbit-networks"]}}]}"#;

/// Every key of the story. Only public keys cross organisations: Wabbit's private key stays
/// with Wabbit; ACME's signer keys are used inside the air gap, its role keys outside.
struct Keys {
    wabbit: PrivateKey,
    root: PrivateKey,
    revocation: PrivateKey,
    bundle: PrivateKey,
    prod: PrivateKey,
    iot: PrivateKey,
    dev: PrivateKey,
}

impl Keys {
    fn generate() -> Result<Keys> {
        let new = || PrivateKey::generate(KeyAlgorithm::Ed25519);
        Ok(Keys {
            wabbit: new()?,
            root: new()?,
            revocation: new()?,
            bundle: new()?,
            prod: new()?,
            iot: new()?,
            dev: new()?,
        })
    }
}

/// What Wabbit Networks published.
struct Published {
    index: Descriptor,
    image: Descriptor,
    sbom: Descriptor,
    source: Descriptor,
}

/// Fails the story with `what` unless `ok`.
fn check(ok: bool, what: impl FnOnce() -> String) -> Result<()> {
    if ok { Ok(()) } else { Err(what().into()) }
}

/// Runs the whole story in `work` (empty or absent), narrating numbered steps to `out`.
pub(crate) fn run(work: &Path, out: &mut dyn Write) -> Result<()> {
    check(
        !work.exists() || std::fs::read_dir(work)?.next().is_none(),
        || {
            format!(
                "{} is not empty: give an empty or new directory",
                work.display()
            )
        },
    )?;
    let limits = Limits::default();
    let now = airlock::time::now();
    let keys = Keys::generate()?;

    // 1. Wabbit Networks publishes net-monitor, every part signed.
    let public_dir = work.join("wabbit/public");
    let public = Layout::init(&public_dir, limits.clone())?;
    let published = publish(&public, &keys.wabbit, now)?;
    writeln!(
        out,
        "1. Wabbit Networks built net-monitor in {}: index {}, image {}, SBOM {}, source {}; signed all four as wabbit-networks (key {})",
        public_dir.display(),
        published.index.digest(),
        published.image.digest(),
        published.sbom.digest(),
        published.source.digest(),
        keys.wabbit.id()
    )?;

    // 2. ACME's trust root, pinned on the connected side, and its first revocation snapshot.
    let root = acme_root(&keys, now, &limits)?;
    let root_file = work.join("acme/root-1.cose");
    std::fs::create_dir_all(work.join("acme"))?;
    std::fs::write(&root_file, root.to_vec())?;
    let root_digest = root.digest();
    let mut connected = TrustStore::pin(
        &work.join("acme/connected/trust"),
        &std::fs::read(&root_file)?,
        &root_digest,
        now,
        &limits,
    )?;
    let mut first = SignedSnapshot::unsigned(Snapshot {
        version: 1,
        issued_at: now,
        expires: now + 30 * DAY,
        keys: BTreeMap::new(),
        digests: BTreeMap::new(),
    });
    first.sign(&keys.revocation)?;
    check(connected.import_revocation(first, now)?, || {
        "the connected side did not install revocation snapshot 1".into()
    })?;
    connected.set_policy(CONNECTED_POLICY.as_bytes())?;
    writeln!(
        out,
        "2. ACME Rockets made trust root version 1 (digest {root_digest}, given out of band) naming wabbit-networks, acme-prod, acme-iot, acme-dev; pinned it on the connected side with revocation snapshot 1"
    )?;

    // 3. Checked, then exported as one signed bundle.
    let vetted = judge(&public, &connected, &published.index, REPOSITORY, now)?;
    expect_pass(&vetted, "the connected side's check of Wabbit's signature")?;
    let bundle_1 = work.join("acme/transfer-1.tar.zst");
    let exported = export(
        &public,
        &published.index,
        &connected,
        &keys.bundle,
        &bundle_1,
        None,
        now,
        &limits,
    )?;
    check(exported.packing.roots.len() == 1, || {
        format!("bundle 1 has {} roots", exported.packing.roots.len())
    })?;
    writeln!(
        out,
        "3. ACME verified Wabbit's signature ({}) and exported {REPOSITORY}:{TAG} with its whole referrer graph into {}: {} blobs ({} bytes), {} referrer edges, signed by the bundle key; bundle manifest {}",
        vetted.decision.name(),
        bundle_1.display(),
        exported.carried.0,
        exported.carried.1,
        exported.packing.referrers.len(),
        exported.bundle.digest()
    )?;

    // 4. The air gap: pinned by digest, policy installed, the bundle imported.
    let mut airgap = TrustStore::pin(
        &work.join("acme/airgap/trust"),
        &std::fs::read(&root_file)?,
        &root_digest,
        now,
        &limits,
    )?;
    airgap.set_policy(AIRGAP_POLICY.as_bytes())?;
    let inside_dir = work.join("acme/airgap/layout");
    let inside = Layout::init(&inside_dir, limits.clone())?;
    let audit = work.join("acme/airgap/audit.log");
    let imported = import_bundle(&bundle_1, &mut airgap, &inside, &audit, now, &limits)?;
    let tagged = format!("{REPOSITORY}:{TAG}");
    check(
        imported.tags.len() == 1
            && imported.tags[0].reference.ends_with(&format!(":{tagged}"))
            && imported.tags[0].digest.to_string() == published.index.digest().to_string(),
        || format!("import 1 tagged {:?}", imported.tags),
    )?;
    check(
        imported.revocation_installed
            && airgap.revocation().map(SignedSnapshot::version) == Some(1),
        || "import 1 did not install revocation snapshot 1".into(),
    )?;
    for (what, desc) in [
        ("index", &published.index),
        ("image", &published.image),
        ("SBOM", &published.sbom),
        ("source", &published.source),
    ] {
        let j = judge(&inside, &airgap, desc, REPOSITORY, now)?;
        expect_pass(&j, &format!("Wabbit's signature on the {what}, inside"))?;
    }
    writeln!(
        out,
        "4. the air gap pinned root {root_digest} and imported {} into {}: {} blobs written, tagged {tagged}, revocation snapshot 1 installed; Wabbit's signatures on index, image, SBOM and source all verify there. What arrived:",
        bundle_1.display(),
        inside_dir.display(),
        imported.blobs_written
    )?;
    let entries = inside.index()?;
    let indexed = Indexed::new(&inside, &entries, &limits)?;
    write!(
        out,
        "{}",
        Graph::walk(&indexed, &published.index, &limits)?.tree(false)
    )?;

    // 5. Production needs ACME's own signature too.
    let before = judge(&inside, &airgap, &published.index, PRODUCTION, now)?;
    expect_fail(
        &before,
        "production before ACME signed",
        "missing acme-prod",
    )?;
    sign(&inside, &published.index, &keys.prod, now)?;
    let after = judge(&inside, &airgap, &published.index, PRODUCTION, now)?;
    expect_pass(&after, "production after ACME signed")?;
    writeln!(
        out,
        "5. production, {PRODUCTION} ({}): {} before ACME signed ({}); ACME signed with acme-prod inside the air gap: {}",
        requirement(&after),
        before.decision.name(),
        before.decision.reason().unwrap_or_default(),
        after.decision.name()
    )?;

    // 6. The IoT fleet needs the prod and IoT keys.
    let before = judge(&inside, &airgap, &published.index, IOT, now)?;
    expect_fail(&before, "IoT before the IoT signature", "missing acme-iot")?;
    sign(&inside, &published.index, &keys.iot, now)?;
    let after = judge(&inside, &airgap, &published.index, IOT, now)?;
    expect_pass(&after, "IoT after the IoT signature")?;
    writeln!(
        out,
        "6. IoT, {IOT} ({}): {} with the prod signature alone ({}); signed with acme-iot: {}",
        requirement(&after),
        before.decision.name(),
        before.decision.reason().unwrap_or_default(),
        after.decision.name()
    )?;

    // 7. A developer signs too.
    sign(&inside, &published.index, &keys.dev, now)?;
    let dev = judge(&inside, &airgap, &published.index, DEV, now)?;
    expect_pass(&dev, "the dev area with the dev signature")?;
    writeln!(
        out,
        "7. dev, {DEV} ({}): signed with acme-dev (key {}): {}",
        requirement(&dev),
        keys.dev.id(),
        dev.decision.name()
    )?;

    // 8. The dev key leaks: revoked on the connected side, carried in the next bundle.
    connected.add_to_draft(
        Revoke::Key(keys.dev.id()),
        DraftEntry {
            revoked_at: now,
            reason: "the acme-dev key leaked".into(),
        },
    )?;
    let mut second = SignedSnapshot::unsigned(connected.next_snapshot(now, now + 30 * DAY)?);
    second.sign(&keys.revocation)?;
    check(connected.import_revocation(second, now)?, || {
        "the connected side did not install revocation snapshot 2".into()
    })?;
    connected.clear_published_draft()?;
    let bundle_2 = work.join("acme/transfer-2.tar.zst");
    let delta = export(
        &public,
        &published.index,
        &connected,
        &keys.bundle,
        &bundle_2,
        Some(&bundle_1),
        now,
        &limits,
    )?;
    check(delta.omitted.0 > 0, || {
        "the delta bundle omitted nothing the first one carried".into()
    })?;
    writeln!(
        out,
        "8. ACME revoked acme-dev (key {}) on the connected side, published revocation snapshot 2 and exported {}: a delta against bundle 1 carrying {} blobs ({} bytes) and omitting {} ({} bytes)",
        keys.dev.id(),
        bundle_2.display(),
        delta.carried.0,
        delta.carried.1,
        delta.omitted.0,
        delta.omitted.1
    )?;

    // 9. The air gap imports it: the dev signature no longer counts.
    let imported = import_bundle(&bundle_2, &mut airgap, &inside, &audit, now, &limits)?;
    check(
        imported.revocation_installed
            && airgap.revocation().map(SignedSnapshot::version) == Some(2),
        || "import 2 did not install revocation snapshot 2".into(),
    )?;
    let dev = judge(&inside, &airgap, &published.index, DEV, now)?;
    expect_fail(
        &dev,
        "the dev area after the revocation",
        "needs any of acme-dev",
    )?;
    let revoked = dev
        .signatures
        .iter()
        .find(|s| s.key_revoked.is_some() && !s.counts)
        .ok_or("the dev signature is not reported as revoked")?;
    for (scope, what) in [(PRODUCTION, "production"), (IOT, "IoT")] {
        let j = judge(&inside, &airgap, &published.index, scope, now)?;
        expect_pass(&j, &format!("{what} after the revocation"))?;
    }
    let audited = std::fs::read_to_string(&audit)?.lines().count();
    check(audited == 2, || {
        format!("the audit log has {audited} lines, not 2")
    })?;
    writeln!(
        out,
        "9. the air gap imported {} and installed revocation snapshot 2: the acme-dev signature does not count ({}), so dev is a {} ({}); production and IoT still pass; {} imports in {}",
        bundle_2.display(),
        revoked.why_not.as_deref().unwrap_or("revoked"),
        dev.decision.name(),
        dev.decision.reason().unwrap_or_default(),
        audited,
        audit.display()
    )?;
    Ok(())
}

/// Step 1: the image, its SBOM and source referrers, the index, each signed by `key`.
fn publish(layout: &Layout, key: &PrivateKey, now: Seconds) -> Result<Published> {
    let created = "2026-01-01T00:00:00Z";
    let image = build::put_image(
        layout,
        &[
            ("usr/bin/net-monitor", b"#!/bin/sh\necho monitoring\n"),
            ("etc/net-monitor.conf", b"interval = 10s\n"),
        ],
        "amd64",
        created,
    )?;
    let index = build::put_index(layout, std::slice::from_ref(&image))?;
    layout.tag(&LayoutTag::new(TAG)?, &index)?;
    let annotations = BTreeMap::from([(media::ANNOTATION_CREATED.to_owned(), created.to_owned())]);
    let spdx = to_json_bytes(&json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": "net-monitor",
        "documentNamespace": "https://wabbit-networks.invalid/spdx/net-monitor-v1",
        "creationInfo": { "created": created, "creators": ["Organization: Wabbit Networks"] },
        "packages": [{ "name": "net-monitor", "SPDXID": "SPDXRef-Package", "versionInfo": "1.0", "downloadLocation": "NOASSERTION" }],
    }));
    let sbom = build::attach(
        layout,
        &image,
        media::SPDX_JSON,
        &spdx,
        media::SPDX_JSON,
        &annotations,
    )?;
    let source = build::attach(
        layout,
        &image,
        SOURCE_TYPE,
        &source_tarball()?,
        "application/x-tar",
        &annotations,
    )?;
    for d in [&index, &image, &sbom, &source] {
        sign(layout, d, key, now)?;
    }
    Ok(Published {
        index,
        image,
        sbom,
        source,
    })
}

/// The "source" of net-monitor: a small deterministic tarball.
pub(crate) fn source_tarball() -> std::io::Result<Vec<u8>> {
    let mut tar = tar::Builder::new(Vec::new());
    for (name, data) in [
        (
            "net-monitor-1.0/README",
            &b"net-monitor: watches the network\n"[..],
        ),
        (
            "net-monitor-1.0/net-monitor.sh",
            b"#!/bin/sh\necho monitoring\n",
        ),
    ] {
        let mut h = tar::Header::new_ustar();
        h.set_path(name)?;
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        tar.append(&h, data)?;
    }
    tar.into_inner()
}

/// Signs `desc` in `layout` with `key`: one more referrer; nothing else changes.
fn sign(layout: &Layout, desc: &Descriptor, key: &PrivateKey, now: Seconds) -> Result<Descriptor> {
    let options = SignOptions {
        signing_time: now,
        expiry: None,
        agent: Some("airgap_transfer example".into()),
    };
    let (_, referrer) = signature::sign_to(layout, layout, desc, key, &options, layout.limits())?;
    Ok(referrer)
}

/// Step 2: ACME's trust root version 1, signed by its root key.
fn acme_root(keys: &Keys, now: Seconds, limits: &Limits) -> Result<SignedRoot> {
    let role = |k: &PrivateKey| Role {
        keys: BTreeSet::from([k.id()]),
        threshold: 1,
    };
    let root = TrustRoot {
        version: 1,
        issued_at: now,
        expires: now + 365 * DAY,
        keys: [
            &keys.root,
            &keys.revocation,
            &keys.bundle,
            &keys.wabbit,
            &keys.prod,
            &keys.iot,
            &keys.dev,
        ]
        .iter()
        .map(|k| (k.id(), k.public().clone()))
        .collect(),
        roles: BTreeMap::from([
            (RoleName::Root, role(&keys.root)),
            (RoleName::Revocation, role(&keys.revocation)),
            (RoleName::Bundle, role(&keys.bundle)),
        ]),
        signers: BTreeMap::from([
            ("wabbit-networks".to_owned(), role(&keys.wabbit)),
            ("acme-prod".to_owned(), role(&keys.prod)),
            ("acme-iot".to_owned(), role(&keys.iot)),
            ("acme-dev".to_owned(), role(&keys.dev)),
        ]),
    };
    let mut signed = SignedRoot::unsigned(root, limits)?;
    signed.sign(&keys.root)?;
    Ok(signed)
}

/// Exports `index` from `source` as `REPOSITORY:TAG` into the new file `path`, carrying the
/// store's root chain and revocation snapshot; a delta against `since` when given.
#[allow(clippy::too_many_arguments)]
fn export(
    source: &Layout,
    index: &Descriptor,
    store: &TrustStore,
    bundle_key: &PrivateKey,
    path: &Path,
    since: Option<&Path>,
    now: Seconds,
    limits: &Limits,
) -> Result<ExportReport> {
    let entries = source.index()?;
    let indexed = Indexed::new(source, &entries, limits)?;
    let items = [ExportItem {
        source: &indexed,
        root: index.clone(),
        repository: REPOSITORY.into(),
        tag: Some(TAG.into()),
        reference: format!("oci:{}:{TAG}", source.root().display()),
    }];
    let since = match since {
        Some(base) => {
            let (digest, list) = bundle::read_packing_list(File::open(base)?, limits)?;
            Some((digest, list.blobs.into_iter().map(|b| b.digest).collect()))
        }
        None => None,
    };
    let opts = ExportOptions {
        chain: store.chain()?,
        revocation: store
            .revocation()
            .cloned()
            .ok_or("the connected store has no revocation snapshot")?,
        keys: std::slice::from_ref(bundle_key),
        compression: Compression::Zstd,
        zstd_level: 3,
        created: now,
        since,
        progress: None,
    };
    let mut file = BufWriter::new(File::create_new(path)?);
    let report = bundle::export(&items, &mut file, &opts, limits)?;
    file.flush()?;
    Ok(report)
}

/// Imports the bundle at `path` into `layout`, judged and trusted by `store`.
fn import_bundle(
    path: &Path,
    store: &mut TrustStore,
    layout: &Layout,
    audit: &Path,
    now: Seconds,
    limits: &Limits,
) -> Result<ImportReport> {
    let opts = ImportOptions {
        target: ImportTarget::Layout(layout),
        maps: &[],
        dry_run: false,
        jobs: 1,
        staging: None,
        audit_log: Some(audit),
        progress: None,
        limits,
    };
    Ok(import::import(File::open(path)?, store, &opts, now)?)
}

/// Judges `desc` in `layout` for `repository` by `store`'s root, snapshot and policy.
fn judge(
    layout: &Layout,
    store: &TrustStore,
    desc: &Descriptor,
    repository: &str,
    now: Seconds,
) -> Result<Judgement> {
    let entries = layout.index()?;
    let indexed = Indexed::new(layout, &entries, layout.limits())?;
    let ctx = Context {
        root: store.root().root(),
        revocation: store.revocation().map(SignedSnapshot::snapshot),
        policy: store.policy()?.ok_or("no policy is installed")?,
        now,
        limits: layout.limits(),
    };
    Ok(verify::judge(&indexed, desc, Some(repository), &ctx)?)
}

fn requirement(j: &Judgement) -> String {
    format!(
        "scope {} needs {}",
        j.scope.as_deref().unwrap_or("no scope"),
        j.requirement.as_deref().unwrap_or("nothing")
    )
}

fn expect_pass(j: &Judgement, what: &str) -> Result<()> {
    check(j.decision == Decision::Pass, || {
        format!(
            "{what}: expected pass, got {} ({})",
            j.decision.name(),
            j.decision.reason().unwrap_or_default()
        )
    })
}

fn expect_fail(j: &Judgement, what: &str, needle: &str) -> Result<()> {
    check(
        matches!(&j.decision, Decision::Fail(r) if r.contains(needle)),
        || {
            format!(
                "{what}: expected a failure naming {needle:?}, got {} ({})",
                j.decision.name(),
                j.decision.reason().unwrap_or_default()
            )
        },
    )
}

#[allow(dead_code, clippy::print_stderr)] // The test suite calls `run`, not `main`.
fn main() -> std::process::ExitCode {
    let temp;
    let work: PathBuf = match std::env::args_os().nth(1) {
        Some(dir) => dir.into(),
        None => match tempfile::tempdir() {
            Ok(t) => {
                temp = t;
                temp.path().to_path_buf()
            }
            Err(e) => {
                eprintln!("error: cannot create a temporary directory: {e}");
                return std::process::ExitCode::FAILURE;
            }
        },
    };
    match run(&work, &mut std::io::stdout().lock()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
