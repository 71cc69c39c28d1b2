//! Regenerates the air-gap bundle vectors: `tests/vectors/bundle/<case>/` holds one bundle each
//! (`bundle.tar` or `bundle.tar.zst`), the outcome it must give (`expect`: `ok` or the
//! `BundleError` variant), a one-line `README`, and for a delta bundle that needs its base at the
//! target, that base (`base.tar`). The directory also holds what a site is given out of band:
//! the trust root (`root-1.cose`), its digest (`root-digest`) and a trust policy
//! (`policy.json`).
//!
//! Run `cargo run --example gen_bundle_vectors -- tests/vectors/bundle`. The output is
//! deterministic (fixed Ed25519 seeds, a fixed creation time, expiries in 2099 so the vectors stay
//! valid for decades): the test `bundle_vectors::vectors_match_generator` runs [`generate`] into a
//! temporary directory and requires every file to be byte-identical to the checked-in one
//! (STYLE.md, point 11). The bundle signatures carry the signing agent `airlock/<version>
//! export`, so a new crate version needs the vectors regenerated.
//!
//! Every vector starts from the same valid bundle, exported by `airlock::bundle::export` from a
//! layout holding the sample artifact (`airlock::build::write_sample`: an index over one image,
//! an SBOM referrer of the image) signed by the `wabbit-networks` identity; the hostile ones
//! re-emit its tar entries with one change each (`formats/bundle.md`, "Test vectors").

use std::collections::{BTreeMap, BTreeSet};
use std::error::Error;
use std::fmt::Write as _;
use std::fs;
use std::io::Read;
use std::path::Path;

use airlock::build::{referrer_document, write_sample};
use airlock::bundle::{self, ExportItem, ExportOptions, ExportReport};
use airlock::graph::Indexed;
use airlock::key::PrivateKey;
use airlock::layout::{Layout, descriptor, to_json_bytes};
use airlock::media;
use airlock::reference::{LayoutTag, Selector};
use airlock::revocation::{SignedSnapshot, Snapshot};
use airlock::signature::{
    self, ANNOTATION_ALGORITHM, ANNOTATION_KEY_ID, COSE_MEDIA_TYPE, SIGNATURE_ARTIFACT_TYPE,
    SignOptions, Target,
};
use airlock::tarball::Compression;
use airlock::time::{Seconds, format_rfc3339};
use airlock::trust::root::{Role, RoleName};
use airlock::trust::{SignedRoot, TrustRoot};
use airlock::{Digest, Limits};
use serde_json::{Value, json};

type Result<T> = std::result::Result<T, Box<dyn Error>>;

/// 2026-01-01T00:00:00Z: the bundles' creation time (their `SOURCE_DATE_EPOCH`), the artifact
/// signature's signing time, and when the trust root and snapshot are issued.
const CREATED: Seconds = 1_767_225_600;
/// 2099-01-01T00:00:00Z: when the trust root and the revocation snapshot expire.
const EXPIRES: Seconds = 4_070_908_800;
/// zstd level of the compressed vector (fixed, so the bytes are reproducible).
const ZSTD_LEVEL: i32 = 3;

/// The file in each case directory naming the outcome.
pub(crate) const EXPECT_FILE: &str = "expect";
/// The trust root every case is judged by (pinned in the import's store).
pub(crate) const ROOT_FILE: &str = "root-1.cose";
/// The SHA-256 of [`ROOT_FILE`], as given out of band (`--root-digest`, `trust pin --digest`).
pub(crate) const ROOT_DIGEST_FILE: &str = "root-digest";
/// The trust policy installed in the import's store.
pub(crate) const POLICY_FILE: &str = "policy.json";
/// The base bundle a delta case needs at the target (imported first).
pub(crate) const BASE_FILE: &str = "base.tar";
/// The repository the artifact is exported as.
pub(crate) const REPOSITORY: &str = "wabbit/net-monitor";
/// Its tag.
pub(crate) const TAG: &str = "v1";
/// The signer identity the policy requires.
const IDENTITY: &str = "wabbit-networks";

/// One vector.
#[derive(Debug)]
pub(crate) struct Vector {
    /// Directory name, and the attack.
    pub(crate) name: &'static str,
    /// What the vector is, in one line.
    readme: String,
    /// `ok`, or the `BundleError` variant.
    pub(crate) expect: &'static str,
    /// `bundle.tar` or `bundle.tar.zst`.
    file: &'static str,
    /// The bundle.
    bundle: Vec<u8>,
    /// The base bundle to import first, for a delta.
    base: Option<Vec<u8>>,
}

/// Writes every vector into `out` (one directory each, replacing case directories left over
/// from an earlier run), the shared trust files and `README.md`; returns the vector names.
pub(crate) fn generate(out: &Path) -> Result<Vec<&'static str>> {
    let set = vectors()?;
    fs::create_dir_all(out)?;
    for entry in fs::read_dir(out)? {
        let path = entry?.path();
        // Only directories that look like vectors are removed: never anything else in `out`.
        if path.is_dir() && path.join(EXPECT_FILE).is_file() {
            fs::remove_dir_all(&path)?;
        }
    }
    fs::write(out.join(ROOT_FILE), &set.root)?;
    fs::write(
        out.join(ROOT_DIGEST_FILE),
        format!("{}\n", Digest::sha256_of(&set.root)),
    )?;
    let mut policy = to_json_bytes(&set.policy);
    policy.push(b'\n');
    fs::write(out.join(POLICY_FILE), policy)?;
    fs::write(out.join("README.md"), top_readme(&set.vectors)?)?;
    for v in &set.vectors {
        let dir = out.join(v.name);
        fs::create_dir_all(&dir)?;
        fs::write(dir.join(v.file), &v.bundle)?;
        if let Some(base) = &v.base {
            fs::write(dir.join(BASE_FILE), base)?;
        }
        fs::write(dir.join(EXPECT_FILE), format!("{}\n", v.expect))?;
        fs::write(dir.join("README"), format!("{}\n", v.readme))?;
    }
    Ok(set.vectors.iter().map(|v| v.name).collect())
}

#[allow(dead_code, clippy::print_stdout, clippy::print_stderr)]
fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [out] = args.as_slice() else {
        eprintln!("usage: cargo run --example gen_bundle_vectors -- tests/vectors/bundle");
        return std::process::ExitCode::from(2);
    };
    match generate(Path::new(out)) {
        Ok(names) => {
            println!("wrote {} bundle vectors to {out}", names.len());
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn top_readme(vectors: &[Vector]) -> Result<String> {
    let mut s = String::from(
        "# Air-gap bundle vectors\n\n\
         Generated by `cargo run --example gen_bundle_vectors -- tests/vectors/bundle`; do not\n\
         edit by hand. `tests/it/bundle_vectors.rs` runs every case through `airlock\n\
         verify-bundle` and `airlock import --to-layout`, and checks the files are byte-identical\n\
         to the generator's output. The format is specified in `formats/bundle.md`.\n\n\
         Shared files, as a site receives them out of band:\n\n\
         - `root-1.cose`: the trust root (version 1, expires 2099-01-01) every bundle carries;\n\
         - `root-digest`: its SHA-256, for `verify-bundle --root-digest` and `trust pin --digest`;\n\
         - `policy.json`: the trust policy of the importing site (every repository needs a\n  \
         signature by the `wabbit-networks` identity).\n\n\
         Each case directory holds `bundle.tar` (or `bundle.tar.zst`), a one-line `README`,\n\
         `expect` and, for a delta bundle that needs its base at the target, `base.tar`:\n\n\
         - `airlock verify-bundle bundle.tar --root-digest D` (no trust store, no policy, no\n  \
         target) must exit 0 when `expect` is `ok`, `Policy` or `NotAtTarget` (those checks need\n  \
         a policy or a target), else exit 1 with the `BundleError` variant `expect` names;\n\
         - in a fresh trust store that pinned `root-1.cose` and installed `policy.json`,\n  \
         `airlock import base.tar --to-layout L` (when present) must succeed, then\n  \
         `airlock import bundle.tar --to-layout L` must succeed when `expect` is `ok`, else exit\n  \
         1 with that variant, leaving `L` without the tag `wabbit/net-monitor:v1` and a\n  \
         `refused` line in the audit log.\n\n\
         The keys are fixed Ed25519 keys from the seeds `[n; 32]`: 1 root role, 2 revocation\n\
         role, 3 bundle role, 4 the `wabbit-networks` signer identity. The bundles are created\n\
         at 2026-01-01T00:00:00Z (`SOURCE_DATE_EPOCH` 1767225600).\n\n\
         | case | expect | what |\n|---|---|---|\n",
    );
    for v in vectors {
        writeln!(s, "| `{}` | `{}` | {} |", v.name, v.expect, v.readme)?;
    }
    Ok(s)
}

// ---------------------------------------------------------------------------------------------
// Keys, trust material and the source layout.

/// The fixed keys.
struct Keys {
    root: PrivateKey,
    revocation: PrivateKey,
    bundle: PrivateKey,
    signer: PrivateKey,
}

impl Keys {
    fn new() -> Result<Keys> {
        let ed = |n: u8| PrivateKey::from_ed25519_seed(&[n; 32]);
        Ok(Keys {
            root: ed(1)?,
            revocation: ed(2)?,
            bundle: ed(3)?,
            signer: ed(4)?,
        })
    }
}

fn role(key: &PrivateKey) -> Role {
    Role {
        keys: BTreeSet::from([key.id()]),
        threshold: 1,
    }
}

/// Version 1 of the trust root, signed by the root key.
fn trust_root(keys: &Keys) -> Result<SignedRoot> {
    let root = TrustRoot {
        version: 1,
        issued_at: CREATED,
        expires: EXPIRES,
        keys: [&keys.root, &keys.revocation, &keys.bundle, &keys.signer]
            .iter()
            .map(|k| (k.id(), k.public().clone()))
            .collect(),
        roles: BTreeMap::from([
            (RoleName::Root, role(&keys.root)),
            (RoleName::Revocation, role(&keys.revocation)),
            (RoleName::Bundle, role(&keys.bundle)),
        ]),
        signers: BTreeMap::from([(IDENTITY.to_owned(), role(&keys.signer))]),
    };
    let mut signed = SignedRoot::unsigned(root, &Limits::default())?;
    signed.sign(&keys.root)?;
    Ok(signed)
}

/// Version 1 of the revocation snapshot, revoking nothing, signed by the revocation key.
fn revocation(keys: &Keys) -> Result<SignedSnapshot> {
    let mut signed = SignedSnapshot::unsigned(Snapshot {
        version: 1,
        issued_at: CREATED,
        expires: EXPIRES,
        keys: BTreeMap::new(),
        digests: BTreeMap::new(),
    });
    signed.sign(&keys.revocation)?;
    Ok(signed)
}

/// A layout in `dir` holding the sample artifact tagged [`TAG`], signed by `signer` if given.
fn source_layout(dir: &Path, signer: Option<&PrivateKey>) -> Result<Layout> {
    let layout = Layout::init(dir, Limits::default())?;
    let tag = LayoutTag::new(TAG)?;
    write_sample(&layout, &tag, "net-monitor")?;
    if let Some(key) = signer {
        let entry = layout.resolve(Some(&Selector::Tag(tag)))?;
        let options = SignOptions {
            signing_time: CREATED,
            expiry: None,
            agent: None,
        };
        signature::sign_layout(&layout, &entry, key, &options)?;
    }
    Ok(layout)
}

/// What every bundle of the set is exported with.
struct Exporter<'k> {
    chain: Vec<SignedRoot>,
    revocation: SignedSnapshot,
    bundle_key: &'k PrivateKey,
}

impl Exporter<'_> {
    /// Exports the artifact tagged [`TAG`] in `layout` as `REPOSITORY:TAG`.
    fn export(
        &self,
        layout: &Layout,
        compression: Compression,
        since: Option<(Digest, Vec<Digest>)>,
    ) -> Result<(Vec<u8>, ExportReport)> {
        let limits = Limits::default();
        let entry = layout.resolve(Some(&Selector::Tag(LayoutTag::new(TAG)?)))?;
        let indexed = Indexed::new(layout, &layout.index()?, &limits)?;
        let items = [ExportItem {
            source: &indexed,
            root: entry.descriptor,
            repository: REPOSITORY.to_owned(),
            tag: Some(TAG.to_owned()),
            reference: format!("oci:net-monitor:{TAG}={REPOSITORY}:{TAG}"),
        }];
        let opts = ExportOptions {
            chain: self.chain.clone(),
            revocation: self.revocation.clone(),
            keys: std::slice::from_ref(self.bundle_key),
            compression,
            zstd_level: ZSTD_LEVEL,
            created: CREATED,
            since: since.map(|(d, blobs)| (d, blobs.into_iter().collect())),
            progress: None,
        };
        let mut out = Vec::new();
        let report = bundle::export(&items, &mut out, &opts, &limits)?;
        Ok((out, report))
    }
}

// ---------------------------------------------------------------------------------------------
// Editing a bundle's tar entries.

/// One tar entry of a bundle.
#[derive(Clone, Debug)]
struct Entry {
    name: String,
    data: Vec<u8>,
    dir: bool,
}

fn blob_name(d: &Digest) -> String {
    format!("blobs/{}/{}", d.algorithm(), d.hex())
}

fn read_entries(tar_bytes: &[u8]) -> Result<Vec<Entry>> {
    let mut archive = tar::Archive::new(tar_bytes);
    let mut out = Vec::new();
    for entry in archive.entries()? {
        let mut entry = entry?;
        let name = String::from_utf8(entry.path_bytes().into_owned())?;
        let dir = entry.header().entry_type().is_dir();
        let mut data = Vec::new();
        entry.read_to_end(&mut data)?;
        out.push(Entry { name, data, dir });
    }
    Ok(out)
}

/// The entries as a tar stream, with the headers `export` writes (ustar, mode 0644 or 0755,
/// uid and gid 0, mtime [`CREATED`]).
fn write_entries(entries: &[Entry]) -> Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_ustar();
        h.set_size(e.data.len() as u64);
        h.set_entry_type(if e.dir {
            tar::EntryType::Directory
        } else {
            tar::EntryType::Regular
        });
        h.set_mode(if e.dir { 0o755 } else { 0o644 });
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(u64::try_from(CREATED)?);
        builder.append_data(&mut h, &e.name, e.data.as_slice())?;
    }
    Ok(builder.into_inner()?)
}

fn position(entries: &[Entry], d: &Digest) -> Result<usize> {
    let name = blob_name(d);
    entries
        .iter()
        .position(|e| e.name == name)
        .ok_or_else(|| format!("the bundle has no entry {name}").into())
}

fn json_of(bytes: &[u8]) -> Result<Value> {
    Ok(serde_json::from_slice(bytes)?)
}

/// Replaces blob `old` by `bytes` at the same position; returns the new digest.
fn replace_blob(entries: &mut [Entry], old: &Digest, bytes: Vec<u8>) -> Result<Digest> {
    let at = position(entries, old)?;
    let digest = Digest::sha256_of(&bytes);
    entries[at] = Entry {
        name: blob_name(&digest),
        data: bytes,
        dir: false,
    };
    Ok(digest)
}

/// Points `index.json` entry `at` at `digest` and `size`.
fn repoint_index(entries: &mut [Entry], at: usize, digest: &Digest, size: usize) -> Result<()> {
    let i = entries
        .iter()
        .position(|e| e.name == "index.json")
        .ok_or("the bundle has no index.json")?;
    let mut index = json_of(&entries[i].data)?;
    let entry = index["manifests"]
        .get_mut(at)
        .ok_or("index.json has too few entries")?;
    entry["digest"] = json!(digest.to_string());
    entry["size"] = json!(size);
    entries[i].data = to_json_bytes(&index);
    Ok(())
}

/// The digest of `what` in `report`'s packing list, found by media type.
fn listed(report: &ExportReport, media_type: &str) -> Result<Digest> {
    report
        .packing
        .blobs
        .iter()
        .find(|b| b.media_type == media_type)
        .map(|b| b.digest.clone())
        .ok_or_else(|| format!("the packing list has no {media_type}").into())
}

fn digest_of(d: &oci_spec::image::Descriptor) -> Result<Digest> {
    Ok(airlock::layout::descriptor_digest(d)?)
}

/// A blob no packing list names, appended after the last carried blob.
fn unlisted_blob(valid: &[u8]) -> Result<Vec<u8>> {
    let mut entries = read_entries(valid)?;
    let data = b"smuggled past the packing list\n".to_vec();
    entries.push(Entry {
        name: blob_name(&Digest::sha256_of(&data)),
        data,
        dir: false,
    });
    write_entries(&entries)
}

/// The image's layer left out.
fn missing_blob(valid: &[u8], report: &ExportReport) -> Result<Vec<u8>> {
    let mut entries = read_entries(valid)?;
    let at = position(&entries, &listed(report, media::OCI_LAYER_TAR)?)?;
    entries.remove(at);
    write_entries(&entries)
}

/// The image's layer moved before the bundle signature.
fn out_of_order(valid: &[u8], report: &ExportReport) -> Result<Vec<u8>> {
    let mut entries = read_entries(valid)?;
    let layer = entries.remove(position(&entries, &listed(report, media::OCI_LAYER_TAR)?)?);
    let signature = report.signatures.first().ok_or("no bundle signature")?;
    let at = position(&entries, &digest_of(signature)?)?;
    entries.insert(at, layer);
    write_entries(&entries)
}

/// The bundle signature replaced by one of the same shape made with `key`.
fn resigned(valid: &[u8], report: &ExportReport, key: &PrivateKey) -> Result<Vec<u8>> {
    let mut entries = read_entries(valid)?;
    let old = report.signatures.first().ok_or("no bundle signature")?;
    let old_digest = digest_of(old)?;
    let old_manifest = json_of(&entries[position(&entries, &old_digest)?].data)?;
    let old_envelope: Digest = old_manifest["layers"][0]["digest"]
        .as_str()
        .ok_or("a signature manifest without a layer")?
        .parse()?;
    let target = Target {
        media_type: media::OCI_MANIFEST.to_owned(),
        digest: digest_of(&report.bundle)?,
        size: report.bundle.size(),
    };
    let options = SignOptions {
        signing_time: CREATED,
        expiry: None,
        agent: Some(format!("airlock/{} export", env!("CARGO_PKG_VERSION"))),
    };
    let envelope = signature::envelope::sign(key, &target, &options)?;
    let layer = descriptor(
        COSE_MEDIA_TYPE,
        &Digest::sha256_of(&envelope),
        envelope.len() as u64,
    );
    let empty = descriptor(
        media::OCI_EMPTY,
        &Digest::sha256_of(media::EMPTY_JSON),
        media::EMPTY_JSON.len() as u64,
    );
    let subject = descriptor(&target.media_type, &target.digest, target.size);
    let annotations = BTreeMap::from([
        (ANNOTATION_ALGORITHM.to_owned(), key.algorithm().to_string()),
        (ANNOTATION_KEY_ID.to_owned(), key.id().to_string()),
        (
            media::ANNOTATION_CREATED.to_owned(),
            format_rfc3339(CREATED),
        ),
    ]);
    let manifest = to_json_bytes(&referrer_document(
        &subject,
        SIGNATURE_ARTIFACT_TYPE,
        &empty,
        &layer,
        &annotations,
    )?);
    let size = manifest.len();
    let digest = replace_blob(&mut entries, &old_digest, manifest)?;
    replace_blob(&mut entries, &old_envelope, envelope)?;
    repoint_index(&mut entries, 1, &digest, size)?;
    write_entries(&entries)
}

/// The packing list edited to send the artifact to another repository (and `index.json`'s name
/// for it changed to match), with the bundle manifest rewritten to name the new packing list:
/// everything is consistent except the bundle signature, which covers the old manifest.
fn tampered_packing_list(valid: &[u8], report: &ExportReport) -> Result<Vec<u8>> {
    const ELSEWHERE: &str = "wabbit/scratch";
    let mut entries = read_entries(valid)?;
    let manifest_digest = digest_of(&report.bundle)?;
    let mut manifest = json_of(&entries[position(&entries, &manifest_digest)?].data)?;
    let list_digest: Digest = manifest["layers"][0]["digest"]
        .as_str()
        .ok_or("a bundle manifest without layers")?
        .parse()?;
    let mut list = json_of(&entries[position(&entries, &list_digest)?].data)?;
    list["roots"][0]["repository"] = json!(ELSEWHERE);
    let list_bytes = to_json_bytes(&list);
    manifest["layers"][0]["size"] = json!(list_bytes.len());
    manifest["layers"][0]["digest"] = json!(Digest::sha256_of(&list_bytes).to_string());
    replace_blob(&mut entries, &list_digest, list_bytes)?;
    let manifest_bytes = to_json_bytes(&manifest);
    let size = manifest_bytes.len();
    let digest = replace_blob(&mut entries, &manifest_digest, manifest_bytes)?;
    repoint_index(&mut entries, 0, &digest, size)?;
    let i = entries
        .iter()
        .position(|e| e.name == "index.json")
        .ok_or("no index.json")?;
    let mut index = json_of(&entries[i].data)?;
    for e in index["manifests"].as_array_mut().ok_or("no manifests")? {
        if e["annotations"][media::ANNOTATION_REF_NAME] == json!(format!("{REPOSITORY}:{TAG}")) {
            e["annotations"][media::ANNOTATION_REF_NAME] = json!(format!("{ELSEWHERE}:{TAG}"));
        }
    }
    entries[i].data = to_json_bytes(&index);
    write_entries(&entries)
}

// ---------------------------------------------------------------------------------------------
// The vectors.

/// The whole set: the shared trust files and the cases.
struct Set {
    root: Vec<u8>,
    policy: Value,
    vectors: Vec<Vector>,
}

fn tar_vector(name: &'static str, expect: &'static str, readme: &str, bundle: Vec<u8>) -> Vector {
    Vector {
        name,
        readme: readme.to_owned(),
        expect,
        file: "bundle.tar",
        bundle,
        base: None,
    }
}

fn vectors() -> Result<Set> {
    let keys = Keys::new()?;
    let root = trust_root(&keys)?;
    let exporter = Exporter {
        chain: vec![root.clone()],
        revocation: revocation(&keys)?,
        bundle_key: &keys.bundle,
    };
    let work = tempfile::tempdir()?;
    let signed = source_layout(&work.path().join("net-monitor"), Some(&keys.signer))?;
    let unsigned = source_layout(&work.path().join("unsigned"), None)?;

    let (valid, report) = exporter.export(&signed, Compression::None, None)?;
    let (valid_zstd, _) = exporter.export(&signed, Compression::Zstd, None)?;
    let (base_digest, base_list) = bundle::read_packing_list(valid.as_slice(), &Limits::default())?;
    let since = Some((
        base_digest,
        base_list.blobs.into_iter().map(|b| b.digest).collect(),
    ));
    let (delta, _) = exporter.export(&signed, Compression::None, since)?;
    let (unsigned_bundle, _) = exporter.export(&unsigned, Compression::None, None)?;

    let vectors = vec![
        tar_vector(
            "valid",
            "ok",
            "a valid bundle: the sample index tagged wabbit/net-monitor:v1 with its image, SBOM referrer and wabbit-networks signature, signed by the bundle role",
            valid.clone(),
        ),
        Vector {
            name: "valid-zstd",
            readme: format!("the valid bundle written with zstd (level {ZSTD_LEVEL})"),
            expect: "ok",
            file: "bundle.tar.zst",
            bundle: valid_zstd,
            base: None,
        },
        Vector {
            name: "delta",
            readme: "a delta bundle made --since the valid one (its content blobs omitted), imported after the valid one (base.tar)".to_owned(),
            expect: "ok",
            file: "bundle.tar",
            bundle: delta.clone(),
            base: Some(valid.clone()),
        },
        tar_vector(
            "delta-without-base",
            "NotAtTarget",
            "the delta bundle imported into an empty layout, where the content blobs it omits are not",
            delta,
        ),
        tar_vector(
            "unsigned-artifact",
            "Policy",
            "a valid bundle of the sample without its wabbit-networks signature, which the site's policy requires",
            unsigned_bundle,
        ),
        tar_vector(
            "unlisted-blob",
            "Unlisted",
            "the valid bundle with one more blob, named by no packing list, after the last carried blob",
            unlisted_blob(&valid)?,
        ),
        tar_vector(
            "missing-blob",
            "Missing",
            "the valid bundle without the image's layer, which the packing list says it carries",
            missing_blob(&valid, &report)?,
        ),
        tar_vector(
            "out-of-order",
            "Order",
            "the valid bundle with the image's layer moved before the bundle signature (content before the checkpoint)",
            out_of_order(&valid, &report)?,
        ),
        tar_vector(
            "wrong-bundle-key",
            "Signature",
            "the bundle signature replaced by one from the wabbit-networks signer key, which the trust root does not list in its bundle role",
            resigned(&valid, &report, &keys.signer)?,
        ),
        tar_vector(
            "tampered-packing-list",
            "Signature",
            "the packing list (and index.json) edited to send the artifact to wabbit/scratch, the bundle manifest rewritten to match; the signature covers the original",
            tampered_packing_list(&valid, &report)?,
        ),
    ];
    let policy = json!({
        "version": 1,
        "scopes": [
            {"scope": "*", "level": "enforce", "signers": {"any-of": [IDENTITY]}},
        ],
    });
    Ok(Set {
        root: root.to_vec(),
        policy,
        vectors,
    })
}
