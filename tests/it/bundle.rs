//! The air-gap bundle through the CLI, on layout directories (no registry): a "connected" site
//! exports signed artifacts with the trust chain and revocation snapshot; a "far" site, pinned
//! to the same root, verifies and imports them. Every bad bundle is refused with exit 1 and a
//! message naming what failed, and leaves the far target and trust store as they were: the
//! target already holds an earlier good import, and the bad bundle would move its tag.

use std::collections::BTreeSet;
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use airlock::build::put_image;
use airlock::bundle::{PackingList, Rank, read_packing_list};
use airlock::layout::{Layout, descriptor, to_json_bytes};
use airlock::media;
use airlock::reference::{LayoutTag, Selector};
use airlock::signature::{
    ANNOTATION_KEY_ID, COSE_MEDIA_TYPE, SIGNATURE_ARTIFACT_TYPE, SignOptions, Target,
};
use airlock::{Digest, Limits};
use serde_json::{Value, json};

use crate::harness::{require_tool, run_ok, skopeo};
use crate::trust::{Org, assert_pass, policy, run_json};

/// The repository every test exports to, and its tag.
const REPO: &str = "wabbit/net-monitor";
const TAG_V1: &str = "wabbit/net-monitor:v1";
/// The size of the random file in the large artifact's one layer.
const BIG: usize = 4 << 20;
/// The far site's import target.
const TARGET: &str = "target";
/// A fixed SOURCE_DATE_EPOCH (2026-01-01T00:00:00Z).
const EPOCH: &str = "1767225600";

/// Bytes that do not compress, from a seed (xorshift64*).
pub(crate) fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// The message of a `--json` error document.
fn message(doc: &Value) -> &str {
    doc["error"]["message"].as_str().unwrap_or_default()
}

/// The blob entry name of `digest` in a tarball.
fn blob_name(digest: &Digest) -> String {
    format!("blobs/{}/{}", digest.algorithm(), digest.hex())
}

/// One organisation with two trust stores pinned to one root: "connected" (which holds the
/// revocation snapshot and exports) and "far" (which imports). Both enforce "signed by
/// wabbit-networks"; the root also knows acme-prod, who signs nothing.
struct Gap {
    org: Org,
}

/// What must not change when a bad bundle is refused.
struct Before {
    /// The target's `index.json`, byte for byte.
    index: Vec<u8>,
    /// What `wabbit/net-monitor:v1` names in the target.
    tag: Digest,
    /// The far trust store's `state.json`, byte for byte.
    state: Vec<u8>,
    /// The far trust store's files (roots, snapshots) but its audit log.
    files: BTreeSet<PathBuf>,
}

impl Gap {
    fn new() -> Gap {
        let org = Org::new();
        let root = org.init(&[("wabbit-networks", "wabbit"), ("acme-prod", "acme")]);
        let p = policy(json!([
            { "scope": "*", "level": "enforce", "signers": { "any-of": ["wabbit-networks"] } }
        ]));
        org.air_gap(&root, ("connected", &p), ("far", &p));
        Gap { org }
    }

    /// A far target holding an imported good bundle (the sample artifact as
    /// `wabbit/net-monitor:v1`), and a large signed artifact `app-v2` ready to be exported under
    /// the same name: a bundle of it that were wrongly accepted would move the tag.
    fn with_target() -> Gap {
        let gap = Gap::new();
        let old = gap.sample("app-v1", "v1");
        gap.export(&[&format!("{old}={TAG_V1}")], "good-v1.tar", &[]);
        let (code, doc, err) = gap.import("good-v1.tar", TARGET, &[]);
        assert_eq!(code, 0, "the good bundle imports: {doc}\n{err}");
        gap.big("app-v2", "v2", 2);
        gap
    }

    /// `with_target`'s second artifact as a reference for `export`.
    const NEW: &'static str = "oci:app-v2:v2=wabbit/net-monitor:v1";

    fn path(&self, rel: &str) -> PathBuf {
        self.org.path(rel)
    }

    /// A layout `dir` holding the sample (index, image, SBOM referrer) tagged `tag`, signed by
    /// wabbit-networks.
    fn sample(&self, dir: &str, tag: &str) -> String {
        let reference = self.org.artifact(dir, tag);
        self.org.sign(&reference, "wabbit");
        reference
    }

    /// A layout `dir` holding a one-layer image whose layer carries [`BIG`] random bytes,
    /// tagged `tag`, signed by wabbit-networks.
    fn big(&self, dir: &str, tag: &str, seed: u64) -> String {
        let layout = Layout::init(self.path(dir), Limits::default()).expect("init layout");
        let data = random_bytes(BIG, seed);
        let image = put_image(
            &layout,
            &[("random.bin", &data)],
            "amd64",
            "2026-01-01T00:00:00Z",
        )
        .expect("write image");
        layout
            .tag(&LayoutTag::new(tag).expect("tag"), &image)
            .expect("tag image");
        let reference = format!("oci:{dir}:{tag}");
        self.org.sign(&reference, "wabbit");
        reference
    }

    /// `airlock --json export REFS -o OUT --sign-key bundler.key EXTRA` at the connected site,
    /// with `env` set; returns (exit code, document, stderr).
    fn try_export(
        &self,
        refs: &[&str],
        out: &str,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> (i32, Value, String) {
        let mut cmd = self.org.command("connected");
        cmd.env_remove("SOURCE_DATE_EPOCH")
            .args(["--json", "export"])
            .args(refs)
            .args(["-o", out]);
        if !extra.contains(&"--sign-key") {
            cmd.args(["--sign-key", "bundler.key"]);
        }
        cmd.args(extra);
        for (k, v) in env {
            cmd.env(k, v);
        }
        run_json(&mut cmd)
    }

    /// Exports and asserts it worked; returns the `--json` document.
    fn export(&self, refs: &[&str], out: &str, extra: &[&str]) -> Value {
        let (code, doc, err) = self.try_export(refs, out, extra, &[]);
        assert_eq!(code, 0, "export {refs:?}: {doc}\n{err}");
        doc
    }

    /// `airlock --json import BUNDLE --to-layout TARGET EXTRA` at the far site.
    fn import(&self, bundle: &str, target: &str, extra: &[&str]) -> (i32, Value, String) {
        let mut args = vec!["import", bundle, "--to-layout", target];
        args.extend_from_slice(extra);
        self.org.json("far", &args)
    }

    /// The far site's audit log, one document per line.
    fn audit(&self) -> Vec<Value> {
        match fs::read_to_string(self.path("far/audit.log")) {
            Ok(text) => text
                .lines()
                .map(|l| serde_json::from_str(l).expect("an audit line is JSON"))
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    /// What `wabbit/net-monitor:v1` names in layout `target`.
    fn tag(&self, target: &str) -> Digest {
        Layout::open(self.path(target), Limits::default())
            .expect("open target")
            .resolve(Some(&Selector::Tag(LayoutTag::new(TAG_V1).expect("tag"))))
            .expect("the tag is in the target")
            .digest
    }

    fn before(&self) -> Before {
        Before {
            index: fs::read(self.path(TARGET).join("index.json")).expect("target index.json"),
            tag: self.tag(TARGET),
            state: fs::read(self.path("far/state.json")).expect("far state.json"),
            files: listing(&self.path("far")),
        }
    }

    fn assert_unchanged(&self, before: &Before, what: &str) {
        let index = fs::read(self.path(TARGET).join("index.json")).expect("target index.json");
        assert!(
            index == before.index,
            "{what}: the target's index.json changed:\n{}",
            String::from_utf8_lossy(&index)
        );
        assert_eq!(self.tag(TARGET), before.tag, "{what}: the tag moved");
        let state = fs::read(self.path("far/state.json")).expect("far state.json");
        assert!(
            state == before.state,
            "{what}: the far trust store's state.json changed:\n{}",
            String::from_utf8_lossy(&state)
        );
        assert_eq!(
            listing(&self.path("far")),
            before.files,
            "{what}: files were added to the far trust store"
        );
    }

    /// Imports `bundle` into the target and asserts it is refused as a verification failure
    /// (exit 1), naming `needle` on stderr and in the JSON error, logged as refused, with
    /// nothing changed. Returns the message.
    fn refused(&self, bundle: &str, needle: &str, what: &str) -> String {
        let before = self.before();
        let audit_lines = self.audit().len();
        let (code, doc, err) = self.import(bundle, TARGET, &[]);
        assert_eq!(code, 1, "{what}: exit code: {doc}\n{err}");
        assert_eq!(doc["error"]["class"], "verification", "{what}: {doc}");
        let msg = message(&doc).to_owned();
        assert!(
            msg.contains(needle),
            "{what}: message {msg:?} lacks {needle:?}"
        );
        assert!(
            err.contains("error: ") && err.contains(needle) && err.contains("hint: "),
            "{what}: stderr names the failure and a hint: {err}"
        );
        self.assert_unchanged(&before, what);
        let audit = self.audit();
        assert_eq!(audit.len(), audit_lines + 1, "{what}: one audit line");
        let last = audit.last().expect("audit line");
        assert_eq!(last["result"], "refused", "{what}: {last}");
        assert!(
            last["error"].as_str().unwrap_or_default().contains(needle),
            "{what}: {last}"
        );
        msg
    }
}

/// The files under `dir`, recursively (relative paths), but the audit log.
fn listing(dir: &Path) -> BTreeSet<PathBuf> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|e| e.expect("walk"))
        .filter(|e| e.file_type().is_file())
        .filter(|e| e.file_name() != "audit.log")
        .map(|e| e.path().strip_prefix(dir).expect("below").to_path_buf())
        .collect()
}

/// The digests of the blobs stored in layout `dir` (temporary files left out).
fn stored_blobs(dir: &Path) -> BTreeSet<Digest> {
    let Ok(entries) = fs::read_dir(dir.join("blobs/sha256")) else {
        return BTreeSet::new();
    };
    entries
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter_map(|name| format!("sha256:{name}").parse().ok())
        .collect()
}

fn packing_list(bundle: &Path) -> (Digest, PackingList) {
    read_packing_list(
        fs::File::open(bundle).expect("open bundle"),
        &Limits::default(),
    )
    .expect("read the packing list")
}

/// One tar entry of a bundle.
struct TarEntry {
    header: tar::Header,
    name: String,
    data: Vec<u8>,
    /// Where its header starts in the file.
    offset: usize,
    /// Its bytes as read (header, data, padding); `None` once changed.
    raw: Option<Vec<u8>>,
}

impl TarEntry {
    /// A regular file entry `name` (any bytes, `..` included) with `data`, its header copied
    /// from `template`.
    fn file(template: &tar::Header, name: &str, data: Vec<u8>) -> TarEntry {
        let mut header = template.clone();
        set_name(&mut header, name);
        header.set_size(data.len() as u64);
        header.set_cksum();
        TarEntry {
            header,
            name: name.to_owned(),
            data,
            offset: 0,
            raw: None,
        }
    }
}

/// Writes `name` into the header's name field as is (the tar crate's setters refuse `..`).
fn set_name(header: &mut tar::Header, name: &str) {
    let field = &mut header.as_old_mut().name;
    assert!(name.len() < field.len(), "short names only: {name}");
    field.fill(0);
    field[..name.len()].copy_from_slice(name.as_bytes());
}

/// A bundle tarball, entry by entry, rewritten with every entry not touched kept byte for
/// byte.
struct BundleTar {
    entries: Vec<TarEntry>,
    /// The end-of-archive blocks.
    trailer: Vec<u8>,
}

impl BundleTar {
    fn read(path: &Path) -> BundleTar {
        let bytes = fs::read(path).expect("read bundle");
        let mut archive = tar::Archive::new(&bytes[..]);
        let mut entries = Vec::new();
        let mut end = 0;
        for entry in archive.entries().expect("tar entries").raw(true) {
            let mut entry = entry.expect("tar entry");
            let start = usize::try_from(entry.raw_header_position()).expect("offset");
            let data_start = usize::try_from(entry.raw_file_position()).expect("offset");
            assert_eq!(data_start - start, 512, "a bundle has no extension headers");
            let mut data = Vec::new();
            entry.read_to_end(&mut data).expect("entry data");
            end = data_start + data.len().div_ceil(512) * 512;
            entries.push(TarEntry {
                header: entry.header().clone(),
                name: String::from_utf8(entry.path_bytes().into_owned()).expect("UTF-8 name"),
                data,
                offset: start,
                raw: Some(bytes[start..end].to_vec()),
            });
        }
        BundleTar {
            entries,
            trailer: bytes[end..].to_vec(),
        }
    }

    fn write(&self, path: &Path) {
        let mut out = Vec::new();
        for e in &self.entries {
            match &e.raw {
                Some(raw) => out.extend_from_slice(raw),
                None => {
                    out.extend_from_slice(e.header.as_bytes());
                    out.extend_from_slice(&e.data);
                    out.resize(out.len().div_ceil(512) * 512, 0);
                }
            }
        }
        out.extend_from_slice(&self.trailer);
        fs::write(path, out).expect("write crafted bundle");
    }

    fn position(&self, name: &str) -> usize {
        self.entries
            .iter()
            .position(|e| e.name == name)
            .unwrap_or_else(|| panic!("no entry {name} in the bundle"))
    }

    fn blob(&self, digest: &Digest) -> usize {
        self.position(&blob_name(digest))
    }

    /// Replaces entry `i`'s name and data.
    fn replace(&mut self, i: usize, name: &str, data: Vec<u8>) {
        let e = &self.entries[i];
        self.entries[i] = TarEntry::file(&e.header, name, data);
    }

    fn json(&self, i: usize) -> Value {
        serde_json::from_slice(&self.entries[i].data).expect("JSON entry")
    }

    fn index(&self) -> Value {
        self.json(self.position("index.json"))
    }

    fn set_index(&mut self, index: &Value) {
        let i = self.position("index.json");
        self.replace(i, "index.json", to_json_bytes(index));
    }

    /// The largest blob entry (the random layer).
    fn largest(&self) -> usize {
        (0..self.entries.len())
            .max_by_key(|i| self.entries[*i].data.len())
            .expect("entries")
    }

    /// The image manifest among the blobs whose layers name `layer`.
    fn manifest_of(&self, layer: &str) -> usize {
        (0..self.entries.len())
            .find(|i| {
                serde_json::from_slice::<Value>(&self.entries[*i].data).is_ok_and(|v| {
                    v["layers"]
                        .as_array()
                        .is_some_and(|ls| ls.iter().any(|l| l["digest"] == layer))
                })
            })
            .expect("a manifest of the layer")
    }

    /// Replaces the bundle manifest (`index.json`'s first entry) by `edit` of it, renaming its
    /// entry and updating `index.json`. The old bundle signatures no longer match: see
    /// [`BundleTar::resign`].
    fn edit_bundle_manifest(&mut self, edit: impl FnOnce(&mut Value)) {
        let mut index = self.index();
        let old: Digest = index["manifests"][0]["digest"]
            .as_str()
            .expect("digest")
            .parse()
            .expect("digest");
        let i = self.blob(&old);
        let mut manifest = self.json(i);
        edit(&mut manifest);
        let bytes = to_json_bytes(&manifest);
        let digest = Digest::sha256_of(&bytes);
        index["manifests"][0]["digest"] = json!(digest.to_string());
        index["manifests"][0]["size"] = json!(bytes.len());
        self.replace(i, &blob_name(&digest), bytes);
        self.set_index(&index);
    }

    /// Replaces the bundle's own signatures (the untagged signature entries right after the
    /// bundle manifest in `index.json`, each followed by its envelope in the stream) with one
    /// signature by `key` over the current bundle manifest, in the same place.
    fn resign(&mut self, key: &Path) {
        let key =
            airlock::key::read_private_key(key, || Ok(zeroize::Zeroizing::new(String::new())))
                .expect("read key");
        let mut index = self.index();
        let manifests = index["manifests"].as_array().expect("manifests").clone();
        let count = manifests[1..]
            .iter()
            .take_while(|d| {
                d["artifactType"] == SIGNATURE_ARTIFACT_TYPE && d["annotations"].is_null()
            })
            .count();
        assert!(count > 0, "the bundle has its own signature");
        let mut at = usize::MAX;
        for d in &manifests[1..=count] {
            let digest: Digest = d["digest"]
                .as_str()
                .expect("digest")
                .parse()
                .expect("digest");
            let i = self.blob(&digest);
            let envelope: Digest = self.json(i)["layers"][0]["digest"]
                .as_str()
                .expect("envelope digest")
                .parse()
                .expect("digest");
            at = at.min(i);
            self.entries.remove(i);
            let j = self.blob(&envelope);
            self.entries.remove(j);
        }
        let bundle = &manifests[0];
        let target = Target {
            media_type: media::OCI_MANIFEST.to_owned(),
            digest: bundle["digest"]
                .as_str()
                .expect("digest")
                .parse()
                .expect("digest"),
            size: bundle["size"].as_u64().expect("size"),
        };
        let options = SignOptions {
            signing_time: airlock::time::now(),
            expiry: None,
            agent: None,
        };
        let envelope = airlock::signature::envelope::sign(&key, &target, &options).expect("sign");
        let envelope_digest = Digest::sha256_of(&envelope);
        let empty = descriptor(
            media::OCI_EMPTY,
            &Digest::sha256_of(media::EMPTY_JSON),
            media::EMPTY_JSON.len() as u64,
        );
        let layer = descriptor(COSE_MEDIA_TYPE, &envelope_digest, envelope.len() as u64);
        let subject = descriptor(media::OCI_MANIFEST, &target.digest, target.size);
        let doc = airlock::build::referrer_document(
            &subject,
            SIGNATURE_ARTIFACT_TYPE,
            &empty,
            &layer,
            &[(ANNOTATION_KEY_ID.to_owned(), key.id().to_string())]
                .into_iter()
                .collect(),
        )
        .expect("signature manifest");
        let bytes = to_json_bytes(&doc);
        let digest = Digest::sha256_of(&bytes);
        let template = self.entries[at].header.clone();
        self.entries.insert(
            at,
            TarEntry::file(&template, &blob_name(&envelope_digest), envelope),
        );
        let size = bytes.len();
        self.entries
            .insert(at, TarEntry::file(&template, &blob_name(&digest), bytes));
        let mut list = manifests.clone();
        list.splice(
            1..=count,
            [json!({
                "mediaType": media::OCI_MANIFEST,
                "digest": digest.to_string(),
                "size": size,
                "artifactType": SIGNATURE_ARTIFACT_TYPE,
            })],
        );
        index["manifests"] = Value::Array(list);
        self.set_index(&index);
    }
}

/// Export, verify-bundle, import into a layout, verify there; a re-import writes nothing and
/// moves nothing; a dry run writes nothing; each real import is one audit line.
#[test]
fn round_trip_into_a_layout() {
    let gap = Gap::new();
    let app = gap.sample("app", "v1");
    let exported = gap.export(&[&format!("{app}={TAG_V1}")], "b1.tar", &[]);
    let bundle = exported["bundle"]
        .as_str()
        .expect("bundle digest")
        .to_owned();
    let root = exported["roots"][0]["digest"]
        .as_str()
        .expect("root digest")
        .to_owned();
    assert_eq!(exported["roots"][0]["name"], TAG_V1, "{exported}");
    assert_eq!(exported["blobsOmitted"], 0, "{exported}");
    let bundler = airlock::key::read_public_key(&gap.path("bundler.pub"))
        .expect("bundler.pub")
        .id()
        .to_string();

    // verify-bundle at the far site (which has no snapshot yet).
    let (code, doc, err) = gap.org.json("far", &["verify-bundle", "b1.tar"]);
    assert_eq!(code, 0, "{doc}\n{err}");
    assert_eq!(doc["bundle"], bundle.as_str());
    assert_eq!(doc["signers"], json!([bundler]));
    assert_eq!(doc["trustRoot"], 1);
    assert_eq!(doc["revocation"], 1);
    assert_eq!(doc["judgements"][0]["decision"], "pass", "{doc}");
    assert_eq!(doc["judgements"][0]["scope"], "*", "{doc}");

    // A dry run into a layout that does not exist creates nothing and installs nothing.
    let state = fs::read(gap.path("far/state.json")).expect("state");
    let (code, doc, err) = gap.import("b1.tar", TARGET, &["--dry-run"]);
    assert_eq!(code, 0, "{doc}\n{err}");
    assert_eq!(doc["dryRun"], true);
    assert_eq!(doc["tags"][0]["previous"], Value::Null, "{doc}");
    assert_eq!(doc["blobsWritten"], 0, "{doc}");
    assert_eq!(doc["revocationInstalled"], false, "{doc}");
    assert!(!gap.path(TARGET).exists(), "a dry run created the target");
    assert_eq!(fs::read(gap.path("far/state.json")).expect("state"), state);
    assert!(gap.audit().is_empty(), "a dry run is not audited");

    // The import.
    let (code, doc, err) = gap.import("b1.tar", TARGET, &[]);
    assert_eq!(code, 0, "{doc}\n{err}");
    let tag = &doc["tags"][0];
    assert!(
        tag["reference"]
            .as_str()
            .expect("reference")
            .ends_with(&format!(":{TAG_V1}")),
        "{doc}"
    );
    assert_eq!(tag["digest"], root.as_str());
    assert_eq!(tag["previous"], Value::Null);
    assert_eq!(doc["revocationInstalled"], true, "{doc}");
    let written = doc["blobsWritten"].as_u64().expect("blobsWritten");
    assert!(written > 0, "{doc}");
    let present = doc["blobsPresent"].as_u64().expect("blobsPresent");
    assert_eq!(gap.tag(TARGET).to_string(), root);

    // The imported artifact verifies at the far site.
    assert_pass(
        &gap.org
            .verify("far", &format!("oci:{TARGET}:{TAG_V1}"), Some(REPO)),
        "the imported artifact",
    );

    // A re-import writes no blob and leaves index.json as it was.
    let index = fs::read(gap.path(TARGET).join("index.json")).expect("index");
    let blobs = stored_blobs(&gap.path(TARGET));
    let (code, doc, err) = gap.import("b1.tar", TARGET, &[]);
    assert_eq!(code, 0, "{doc}\n{err}");
    assert_eq!(doc["blobsWritten"], 0, "{doc}");
    assert_eq!(doc["bytesWritten"], 0, "{doc}");
    assert_eq!(doc["blobsPresent"], written + present, "{doc}");
    assert_eq!(doc["revocationInstalled"], false, "{doc}");
    assert_eq!(doc["tags"][0]["previous"], root.as_str(), "{doc}");
    assert_eq!(
        fs::read(gap.path(TARGET).join("index.json")).expect("index"),
        index
    );
    assert_eq!(stored_blobs(&gap.path(TARGET)), blobs);

    // A dry run into the existing target writes nothing either.
    let state = fs::read(gap.path("far/state.json")).expect("state");
    let (code, doc, err) = gap.import("b1.tar", TARGET, &["--dry-run"]);
    assert_eq!(code, 0, "{doc}\n{err}");
    assert_eq!(doc["tags"][0]["previous"], root.as_str(), "{doc}");
    assert_eq!(
        fs::read(gap.path(TARGET).join("index.json")).expect("index"),
        index
    );
    assert_eq!(stored_blobs(&gap.path(TARGET)), blobs);
    assert_eq!(fs::read(gap.path("far/state.json")).expect("state"), state);

    // One audit line per real import, naming the bundle, its signer and each tag with what it
    // named before.
    let audit = gap.audit();
    assert_eq!(audit.len(), 2, "{audit:#?}");
    for (line, previous) in audit.iter().zip([Value::Null, json!(root)]) {
        assert_eq!(line["result"], "imported", "{line}");
        assert_eq!(line["bundle"], bundle.as_str(), "{line}");
        assert_eq!(line["signers"], json!([bundler]), "{line}");
        assert_eq!(line["trustRoot"], 1, "{line}");
        assert_eq!(line["revocation"], 1, "{line}");
        let tags = line["tags"].as_array().expect("tags");
        assert_eq!(tags.len(), 1, "{line}");
        assert!(
            tags[0]["reference"]
                .as_str()
                .expect("reference")
                .ends_with(&format!(":{TAG_V1}")),
            "{line}"
        );
        assert_eq!(tags[0]["digest"], root.as_str(), "{line}");
        assert_eq!(tags[0]["previous"], previous, "{line}");
        let file = line["bundleFile"].as_str().expect("bundleFile");
        assert_eq!(
            file,
            Digest::sha256_of(&fs::read(gap.path("b1.tar")).expect("bundle")).to_string()
        );
    }
}

/// The same inputs and SOURCE_DATE_EPOCH give the same bytes, plain and zstd.
#[test]
fn export_is_deterministic() {
    let gap = Gap::new();
    let app = gap.sample("app", "v1");
    let big = gap.big("big", "v1", 7);
    let refs = [format!("{app}={TAG_V1}"), format!("{big}=wabbit/big:v1")];
    let refs: Vec<&str> = refs.iter().map(String::as_str).collect();
    let env = [("SOURCE_DATE_EPOCH", EPOCH)];
    for (a, b, extra) in [
        ("d1.tar", "d2.tar", &[][..]),
        ("d1.tar.zst", "d2.tar.zst", &["--zstd"][..]),
    ] {
        for out in [a, b] {
            let (code, doc, err) = gap.try_export(&refs, out, extra, &env);
            assert_eq!(code, 0, "{doc}\n{err}");
        }
        let (x, y) = (
            fs::read(gap.path(a)).expect("first"),
            fs::read(gap.path(b)).expect("second"),
        );
        assert!(x == y, "{a} and {b} differ");
    }
    // Every entry carries that time.
    let tar = BundleTar::read(&gap.path("d1.tar"));
    for e in &tar.entries {
        assert_eq!(
            e.header.mtime().expect("mtime").to_string(),
            EPOCH,
            "{}",
            e.name
        );
    }
    let (_, list) = packing_list(&gap.path("d1.tar"));
    assert_eq!(list.created, "2026-01-01T00:00:00Z");
}

/// A content blob whose bytes changed under its name.
#[test]
fn tampered_blob_is_refused() {
    let gap = Gap::with_target();
    gap.export(&[Gap::NEW], "new.tar", &[]);
    let mut tar = BundleTar::read(&gap.path("new.tar"));
    let i = tar.largest();
    let name = tar.entries[i].name.clone();
    let mut data = tar.entries[i].data.clone();
    let mid = data.len() / 2;
    data[mid] ^= 0x55;
    tar.replace(i, &name, data);
    tar.write(&gap.path("bad.tar"));
    let hex = name.rsplit('/').next().expect("hex");
    gap.refused("bad.tar", hex, "tampered layer");
    // The tampered bytes were not stored under the layer's name.
    let digest: Digest = format!("sha256:{hex}").parse().expect("digest");
    assert!(!stored_blobs(&gap.path(TARGET)).contains(&digest));
}

/// An artifact manifest whose bytes changed (still valid JSON) under its name.
#[test]
fn tampered_manifest_is_refused() {
    let gap = Gap::with_target();
    gap.export(&[Gap::NEW], "new.tar", &[]);
    let mut tar = BundleTar::read(&gap.path("new.tar"));
    let layer = tar.entries[tar.largest()]
        .name
        .replace("blobs/sha256/", "sha256:");
    let i = tar.manifest_of(&layer);
    let name = tar.entries[i].name.clone();
    let text = String::from_utf8(tar.entries[i].data.clone()).expect("manifest text");
    let edited = text.replace("2026-01-01T00:00:00Z", "2026-01-01T00:00:01Z");
    assert_ne!(edited, text);
    tar.replace(i, &name, edited.into_bytes());
    tar.write(&gap.path("bad.tar"));
    let hex = name.rsplit('/').next().expect("hex");
    gap.refused("bad.tar", hex, "tampered manifest");
}

/// A carried blob left out of the stream.
#[test]
fn missing_blob_is_refused() {
    let gap = Gap::with_target();
    gap.export(&[Gap::NEW], "new.tar", &[]);
    let mut tar = BundleTar::read(&gap.path("new.tar"));
    let i = tar.largest();
    let removed = tar.entries.remove(i);
    tar.write(&gap.path("bad.tar"));
    let digest = removed.name.replace("blobs/sha256/", "sha256:");
    let msg = gap.refused("bad.tar", &digest, "missing layer");
    assert!(msg.contains("missing from the bundle"), "{msg}");
}

/// A blob the signed packing list does not name, after every listed one.
#[test]
fn extra_blob_is_refused() {
    let gap = Gap::with_target();
    gap.export(&[Gap::NEW], "new.tar", &[]);
    let mut tar = BundleTar::read(&gap.path("new.tar"));
    let extra = b"an extra blob nobody signed\n".to_vec();
    let digest = Digest::sha256_of(&extra);
    let template = tar.entries.last().expect("entries").header.clone();
    tar.entries
        .push(TarEntry::file(&template, &blob_name(&digest), extra));
    tar.write(&gap.path("bad.tar"));
    let msg = gap.refused("bad.tar", &digest.to_string(), "extra blob");
    assert!(msg.contains("not in its signed packing list"), "{msg}");
    assert!(!stored_blobs(&gap.path(TARGET)).contains(&digest));
}

/// Only keys of the bundle role sign bundles: export refuses another key (exit 2), and a
/// bundle re-signed by a key the root knows only as an artifact signer is refused at import.
#[test]
fn bundle_signed_outside_the_bundle_role_is_refused() {
    let gap = Gap::with_target();
    let (code, doc, err) = gap.try_export(
        &[Gap::NEW],
        "by-wabbit.tar",
        &["--sign-key", "wabbit.key"],
        &[],
    );
    assert_eq!(code, 2, "{doc}\n{err}");
    let wabbit = airlock::key::read_public_key(&gap.path("wabbit.pub"))
        .expect("wabbit.pub")
        .id()
        .to_string();
    let msg = message(&doc);
    assert!(
        msg.contains(&wabbit) && msg.contains("is not in the bundle role"),
        "{msg}"
    );
    assert!(!gap.path("by-wabbit.tar").exists());

    gap.export(&[Gap::NEW], "new.tar", &[]);
    let mut tar = BundleTar::read(&gap.path("new.tar"));
    tar.resign(&gap.path("wabbit.key"));
    tar.write(&gap.path("bad.tar"));
    let msg = gap.refused("bad.tar", "bundle signature", "signed by an artifact key");
    assert!(
        msg.contains("0 valid signature(s) by keys of the bundle role"),
        "{msg}"
    );
    // The same bundle re-signed by the bundle key is accepted: the crafting is sound.
    let mut tar = BundleTar::read(&gap.path("bad.tar"));
    tar.resign(&gap.path("bundler.key"));
    tar.write(&gap.path("resigned.tar"));
    let (code, doc, err) = gap.import("resigned.tar", TARGET, &["--dry-run"]);
    assert_eq!(code, 0, "{doc}\n{err}");

    // A bundle made under another trust root, signed by that root's bundle key.
    let other = Gap::new();
    let src = format!("oci:{}:v2={TAG_V1}", gap.path("app-v2").display());
    other.export(&[&src], "foreign.tar", &[]);
    let foreign = other.path("foreign.tar");
    gap.refused(
        foreign.to_str().expect("UTF-8 path"),
        "trust root version 1 differs from the trusted document",
        "another organisation's root",
    );
}

/// A root version 2 signed only by its own new root key, not by version 1's root role (a
/// holder of the bundle key trying to rotate the root): refused, and root 2 is not installed.
#[test]
fn root_chain_that_fails_rotation_is_refused() {
    let gap = Gap::with_target();
    gap.org.key("root-c", "ed25519");
    gap.org.rotate(
        "connected",
        &["--root-key", "root-c.pub", "--root-threshold", "1"],
        "root-2.cose",
    );
    gap.org.sign_trust("root-2.cose", &["root-c"]);
    let root2 = fs::read(gap.path("root-2.cose")).expect("root 2");
    let root2_digest = Digest::sha256_of(&root2);

    gap.export(&[Gap::NEW], "new.tar", &[]);
    let mut tar = BundleTar::read(&gap.path("new.tar"));
    let mut root1 = None;
    tar.edit_bundle_manifest(|m| {
        let layers = m["layers"].as_array_mut().expect("layers");
        assert_eq!(layers.len(), 3, "packing list, root 1, snapshot");
        root1 = Some(layers[1]["digest"].as_str().expect("digest").to_owned());
        layers.insert(
            2,
            json!({
                "mediaType": airlock::bundle::TRUST_ROOT_MEDIA_TYPE,
                "digest": root2_digest.to_string(),
                "size": root2.len(),
            }),
        );
    });
    let root1: Digest = root1.expect("root 1").parse().expect("digest");
    let at = tar.blob(&root1) + 1;
    let template = tar.entries[at - 1].header.clone();
    tar.entries.insert(
        at,
        TarEntry::file(&template, &blob_name(&root2_digest), root2),
    );
    tar.resign(&gap.path("bundler.key"));
    tar.write(&gap.path("bad.tar"));
    gap.refused(
        "bad.tar",
        "root role of version 1",
        "root 2 without root 1's keys",
    );
}

/// A bundle carrying snapshot 1 where the far site already has snapshot 2.
#[test]
fn older_revocation_snapshot_is_refused() {
    let gap = Gap::with_target();
    gap.export(&[Gap::NEW], "new.tar", &[]);
    gap.org
        .publish_revocation("connected", "30d", "revocation-2.cose");
    gap.org
        .ok("far", &["revocation", "import", "revocation-2.cose"]);
    let msg = gap.refused("new.tar", "older", "snapshot 1 after snapshot 2");
    assert!(msg.contains("version 1"), "{msg}");
}

/// A bundle carrying a snapshot that has expired by the time it is imported.
#[test]
fn expired_revocation_snapshot_is_refused() {
    let gap = Gap::with_target();
    gap.org
        .publish_revocation("connected", "4s", "revocation-2.cose");
    // Export refuses an expired snapshot, so the bundle is made while it is fresh and imported
    // after it expired.
    gap.export(&[Gap::NEW], "new.tar", &[]);
    std::thread::sleep(Duration::from_secs(5));
    let msg = gap.refused("new.tar", "expired", "expired snapshot 2");
    assert!(msg.contains("version 2"), "{msg}");
}

/// The artifact's only signer is revoked by the snapshot the bundle carries: the policy is not
/// met, and the newer snapshot is not installed either.
#[test]
fn artifact_signed_only_by_a_revoked_key_is_refused() {
    let gap = Gap::with_target();
    gap.org.ok(
        "connected",
        &[
            "revoke",
            "wabbit.pub",
            "--reason",
            "leaked",
            "--kind",
            "key",
        ],
    );
    gap.org
        .publish_revocation("connected", "30d", "revocation-2.cose");
    gap.export(&[Gap::NEW], "new.tar", &[]);
    let msg = gap.refused("new.tar", "policy not met", "revoked signer");
    assert!(
        msg.contains(REPO) && msg.contains("wabbit-networks"),
        "{msg}"
    );
    let (_, shown, _) = gap.org.json("far", &["trust", "show"]);
    assert_eq!(shown["revocation"]["version"], 1, "{shown}");
}

/// The far policy requires an identity nobody signed with.
#[test]
fn policy_not_met_is_refused() {
    let gap = Gap::with_target();
    gap.org.set_policy(
        "far",
        &policy(json!([
            { "scope": "*", "level": "enforce", "signers": { "all-of": ["acme-prod"] } }
        ])),
    );
    gap.export(&[Gap::NEW], "new.tar", &[]);
    let msg = gap.refused("new.tar", "policy not met", "acme-prod required");
    assert!(msg.contains(REPO) && msg.contains("acme-prod"), "{msg}");
}

/// A bundle cut short, plain and zstd.
#[test]
fn truncated_bundles_are_refused() {
    let gap = Gap::with_target();
    gap.export(&[Gap::NEW], "new.tar", &[]);
    gap.export(&[Gap::NEW], "new.tar.zst", &["--zstd"]);
    for (full, cut) in [("new.tar", "cut.tar"), ("new.tar.zst", "cut.tar.zst")] {
        let bytes = fs::read(gap.path(full)).expect("bundle");
        fs::write(gap.path(cut), &bytes[..bytes.len() * 2 / 3]).expect("write cut");
        gap.refused(cut, "truncated", cut);
    }
}

/// A `../evil` entry and a symbolic link, each after every blob of an otherwise good bundle.
#[test]
fn path_traversal_and_links_are_refused() {
    let gap = Gap::with_target();
    gap.export(&[Gap::NEW], "new.tar", &[]);
    let tar = BundleTar::read(&gap.path("new.tar"));
    let template = tar.entries.last().expect("entries").header.clone();

    let mut evil = BundleTar::read(&gap.path("new.tar"));
    evil.entries
        .push(TarEntry::file(&template, "../evil", b"outside\n".to_vec()));
    evil.write(&gap.path("traversal.tar"));
    let msg = gap.refused("traversal.tar", "../evil", "path traversal");
    assert!(msg.contains("path traversal"), "{msg}");
    assert!(!gap.path("evil").exists() && !gap.path(TARGET).join("../evil").exists());

    let mut linked = BundleTar::read(&gap.path("new.tar"));
    let mut link = TarEntry::file(&template, "blobs/sha256/link", Vec::new());
    link.header.set_entry_type(tar::EntryType::Symlink);
    link.header.set_link_name("/etc/passwd").expect("link name");
    link.header.set_cksum();
    linked.entries.push(link);
    linked.write(&gap.path("symlink.tar"));
    let msg = gap.refused("symlink.tar", "symbolic link", "symlink");
    assert!(msg.contains("blobs/sha256/link"), "{msg}");
    assert!(!gap.path(TARGET).join("blobs/sha256/link").exists());
}

/// An import through a pipe killed in the middle of the large layer moves no tag; run again on
/// the whole bundle it completes, skipping the blobs the first run stored.
#[test]
fn killed_import_moves_no_tag_and_the_rerun_completes() {
    let gap = Gap::with_target();
    gap.export(&[Gap::NEW], "new.tar", &[]);
    let bytes = fs::read(gap.path("new.tar")).expect("bundle");
    let tar = BundleTar::read(&gap.path("new.tar"));
    let big = tar.largest();
    let cut = tar.entries[big].offset + 512 + tar.entries[big].data.len() / 2;
    let (_, list) = packing_list(&gap.path("new.tar"));
    // What the importer stores: envelopes at the checkpoint, then content blobs as they come.
    let stored_by_import: BTreeSet<Digest> = list
        .blobs
        .iter()
        .filter(|b| b.carried && b.rank() != Rank::Manifest)
        .map(|b| b.digest.clone())
        .collect();
    let before_cut: BTreeSet<Digest> = tar.entries[..big]
        .iter()
        .filter_map(|e| e.name.strip_prefix("blobs/sha256/"))
        .filter(|hex| !hex.is_empty())
        .map(|hex| format!("sha256:{hex}").parse().expect("digest"))
        .filter(|d| stored_by_import.contains(d))
        .collect();
    let layer: Digest = tar.entries[big]
        .name
        .replace("blobs/sha256/", "sha256:")
        .parse()
        .expect("digest");
    let target = gap.path(TARGET);
    let already: BTreeSet<Digest> = stored_blobs(&target)
        .intersection(&stored_by_import)
        .cloned()
        .collect();
    assert!(
        !before_cut.is_subset(&already),
        "the first run has new blobs to store before the cut"
    );
    let before = gap.before();

    let mut child = gap
        .org
        .command("far")
        .args(["--json", "import", "-", "--to-layout", TARGET])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start airlock import");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(&bytes[..cut]).expect("feed the first part");
    stdin.flush().expect("flush");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !before_cut.is_subset(&stored_blobs(&target)) {
        assert!(
            child.try_wait().expect("poll import").is_none(),
            "the import stopped before it was killed"
        );
        assert!(
            Instant::now() < deadline,
            "the blobs before the cut were not stored within 60 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().expect("kill the import");
    child.wait().expect("reap the import");
    drop(stdin);
    gap.assert_unchanged(&before, "killed import");
    assert!(
        !stored_blobs(&target).contains(&layer),
        "half a layer stored"
    );

    let present: BTreeSet<Digest> = stored_blobs(&target)
        .intersection(&stored_by_import)
        .cloned()
        .collect();
    assert!(present.len() > already.len());
    let (code, doc, err) = gap.import("new.tar", TARGET, &[]);
    assert_eq!(code, 0, "{doc}\n{err}");
    assert_eq!(doc["blobsPresent"], present.len(), "{doc}");
    assert_eq!(
        doc["blobsWritten"],
        stored_by_import.len() - present.len(),
        "{doc}"
    );
    assert_eq!(doc["tags"][0]["previous"], before.tag.to_string(), "{doc}");
    assert_ne!(gap.tag(TARGET), before.tag);
    assert_pass(
        &gap.org
            .verify("far", &format!("oci:{TARGET}:{TAG_V1}"), Some(REPO)),
        "after the re-run",
    );
}

/// `--since OLD` omits the content blobs the old bundle carried; the delta imports where the
/// old bundle was imported, and is refused (nothing changed) where it was not.
#[test]
fn delta_bundle_needs_its_base_at_the_target() {
    let gap = Gap::new();
    let v1 = gap.big("app-v1", "v1", 1);
    let v1 = format!("{v1}={TAG_V1}");
    gap.export(&[&v1], "base.tar", &[]);
    let (code, doc, err) = gap.import("base.tar", TARGET, &[]);
    assert_eq!(code, 0, "{doc}\n{err}");
    let v2 = gap.sample("app-v2", "v2");
    let v2 = format!("{v2}={REPO}:v2");
    let doc = gap.export(&[&v1, &v2], "delta.tar", &["--since", "base.tar"]);

    let (base_digest, base) = packing_list(&gap.path("base.tar"));
    let (_, delta) = packing_list(&gap.path("delta.tar"));
    assert_eq!(
        delta.base.as_ref().map(|b| &b.digest),
        Some(&base_digest),
        "the delta names its base"
    );
    let in_base: BTreeSet<&Digest> = base.blobs.iter().map(|b| &b.digest).collect();
    // Every content blob the base carried, except the empty config `{}`, which every bundle
    // carries as its own manifest's config.
    let empty = Digest::sha256_of(b"{}");
    let expected: BTreeSet<&Digest> = delta
        .blobs
        .iter()
        .filter(|b| b.rank() == Rank::Content && in_base.contains(&b.digest) && b.digest != empty)
        .map(|b| &b.digest)
        .collect();
    let omitted: BTreeSet<&Digest> = delta
        .blobs
        .iter()
        .filter(|b| !b.carried)
        .map(|b| &b.digest)
        .collect();
    assert_eq!(omitted, expected);
    assert!(
        !omitted.contains(&empty),
        "the empty config is always carried"
    );
    assert!(omitted.len() >= 2, "config and layer: {omitted:?}");
    assert_eq!(doc["blobsOmitted"], omitted.len(), "{doc}");
    assert!(
        doc["bytesOmitted"].as_u64().expect("bytesOmitted") > BIG as u64,
        "{doc}"
    );
    let names: BTreeSet<String> = BundleTar::read(&gap.path("delta.tar"))
        .entries
        .iter()
        .map(|e| e.name.clone())
        .collect();
    // The empty JSON is the bundle manifest's own config: always in the stream.
    let empty = Digest::sha256_of(media::EMPTY_JSON);
    for d in omitted.iter().filter(|d| ***d != empty) {
        assert!(!names.contains(&blob_name(d)), "{d} is in the delta");
    }
    assert!(fs::metadata(gap.path("delta.tar")).expect("delta").len() < BIG as u64);

    // Into an empty layout: refused before anything is written.
    Layout::init(gap.path("empty"), Limits::default()).expect("empty layout");
    let index = fs::read(gap.path("empty/index.json")).expect("index");
    let state = fs::read(gap.path("far/state.json")).expect("state");
    let (code, doc, err) = gap.import("delta.tar", "empty", &[]);
    assert_eq!(code, 1, "{doc}\n{err}");
    let msg = message(&doc);
    assert!(
        msg.contains("omitted by this delta bundle and is not at the target")
            && msg.contains("import the base bundle first"),
        "{msg}"
    );
    assert!(
        omitted.iter().any(|d| msg.contains(&d.to_string())),
        "{msg}"
    );
    assert!(
        err.contains("hint: import the bundle this delta was made against"),
        "{err}"
    );
    assert_eq!(
        fs::read(gap.path("empty/index.json")).expect("index"),
        index
    );
    assert!(stored_blobs(&gap.path("empty")).is_empty());
    assert_eq!(fs::read(gap.path("far/state.json")).expect("state"), state);

    // Where the base was imported: accepted; v1 unchanged, v2 new.
    let (code, doc, err) = gap.import("delta.tar", TARGET, &[]);
    assert_eq!(code, 0, "{doc}\n{err}");
    let tags = doc["tags"].as_array().expect("tags");
    assert_eq!(tags.len(), 2, "{doc}");
    assert_eq!(tags[0]["previous"], tags[0]["digest"], "{doc}");
    assert_eq!(tags[1]["previous"], Value::Null, "{doc}");
    for tag in [TAG_V1, &format!("{REPO}:v2")] {
        assert_pass(
            &gap.org
                .verify("far", &format!("oci:{TARGET}:{tag}"), Some(REPO)),
            tag,
        );
    }
}

/// Other OCI tools read a bundle as a layout tarball, by the `REPOSITORY:TAG` names.
#[test]
fn skopeo_umoci_and_oras_read_a_bundle() {
    require_tool("skopeo");
    let umoci = require_tool("umoci");
    let gap = Gap::new();
    let app = gap.sample("app", "v1");
    let big = gap.big("big", "v1", 3);
    let doc = gap.export(
        &[&format!("{app}={TAG_V1}"), &format!("{big}=wabbit/big:v1")],
        "b.tar",
        &[],
    );
    let bundle = gap.path("b.tar");
    let bundle = bundle.to_str().expect("UTF-8 path");
    let image_digest = doc["roots"][1]["digest"].as_str().expect("digest");

    let inspected = skopeo(&["inspect", &format!("oci-archive:{bundle}:wabbit/big:v1")]);
    let inspected: Value = serde_json::from_str(&inspected).expect("skopeo inspect JSON");
    assert_eq!(inspected["Digest"], image_digest, "{inspected}");
    assert_eq!(inspected["Architecture"], "amd64", "{inspected}");

    let copied = gap.path("copied");
    let copied = copied.to_str().expect("UTF-8 path");
    skopeo(&[
        "copy",
        &format!("oci-archive:{bundle}:wabbit/big:v1"),
        &format!("oci:{copied}:x"),
    ]);
    skopeo(&[
        "copy",
        "--all",
        &format!("oci-archive:{bundle}:{TAG_V1}"),
        &format!("oci:{copied}:y"),
    ]);
    let listed = run_ok(
        std::process::Command::new(&umoci).args(["ls", "--layout", copied]),
        "umoci ls",
    );
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert!(
        listed.lines().any(|l| l == "x") && listed.lines().any(|l| l == "y"),
        "{listed}"
    );
    let stat = run_ok(
        std::process::Command::new(&umoci).args(["stat", "--image", &format!("{copied}:x")]),
        "umoci stat",
    );
    assert!(
        String::from_utf8_lossy(&stat.stdout).contains("airlock sample"),
        "{}",
        String::from_utf8_lossy(&stat.stdout)
    );

    // The bundle extracted as it is is a layout umoci lists by the bundle's names.
    let extracted = gap.path("extracted");
    fs::create_dir(&extracted).expect("mkdir");
    tar::Archive::new(fs::File::open(gap.path("b.tar")).expect("bundle"))
        .unpack(&extracted)
        .expect("extract the bundle");
    let listed = run_ok(
        std::process::Command::new(&umoci).args([
            "ls",
            "--layout",
            extracted.to_str().expect("UTF-8 path"),
        ]),
        "umoci ls of the extracted bundle",
    );
    let listed = String::from_utf8_lossy(&listed.stdout);
    for name in [TAG_V1, "wabbit/big:v1"] {
        assert!(listed.lines().any(|l| l == name), "{name}: {listed}");
    }

    // oras-py validates the extracted bundle as a layout and finds the image's blobs by its
    // name, the image manifest last.
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/oras/oras_layout.py");
    let out = run_ok(
        std::process::Command::new(crate::harness::python()).args([
            script,
            extracted.to_str().expect("UTF-8 path"),
            "wabbit/big:v1",
        ]),
        "oras_layout.py",
    );
    let read: Value = serde_json::from_slice(&out.stdout).expect("oras_layout.py JSON");
    let blobs = read["blobs"].as_array().expect("blobs");
    assert_eq!(blobs.last(), Some(&Value::from(image_digest)), "{read}");
    assert_eq!(blobs.len(), 3, "layer, config, manifest: {read}");
}

/// `inspect` summarises a bundle (artifacts with their signers, trust versions, sizes) and draws
/// its graph; `verify-bundle --at` judges expiry at that time, and `--root-digest` anchors trust
/// in the bundle's own chain without a store.
#[test]
fn inspect_and_verify_bundle_at_a_time() {
    let gap = Gap::new();
    let app = gap.sample("app", "v1");
    let exported = gap.export(&[&format!("{app}={TAG_V1}")], "b.tar", &[]);
    let root = exported["roots"][0]["digest"].as_str().expect("root");
    let wabbit = airlock::key::read_public_key(&gap.path("wabbit.pub"))
        .expect("wabbit.pub")
        .id()
        .to_string();

    let (code, doc, err) = gap.org.json("far", &["inspect", "b.tar"]);
    assert_eq!(code, 0, "{doc}\n{err}");
    assert_eq!(doc["source"]["type"], "bundle", "{doc}");
    assert_eq!(doc["bundle"], exported["bundle"], "{doc}");
    assert_eq!(doc["trustRoot"]["version"], 1, "{doc}");
    assert_eq!(doc["revocation"]["version"], 1, "{doc}");
    let artifact = &doc["artifacts"][0];
    assert_eq!(artifact["name"], TAG_V1, "{doc}");
    assert_eq!(artifact["digest"], root, "{doc}");
    assert_eq!(
        artifact["signatures"],
        json!([{ "keyId": wabbit, "identities": ["wabbit-networks"], "valid": true }]),
        "{doc}"
    );
    assert_eq!(
        doc["blobs"]["carriedBytes"], doc["blobs"]["totalBytes"],
        "{doc}"
    );

    let short = &root["sha256:".len().."sha256:".len() + 12];
    for (format, edge) in [("dot", "-> "), ("mermaid", "-. referrer .->")] {
        let out = gap.org.run("far", &["inspect", "b.tar", "--graph", format]);
        assert!(out.status.success(), "inspect --graph {format}: {out:?}");
        let out = String::from_utf8_lossy(&out.stdout);
        assert!(out.contains(short), "{format}: the root is a node: {out}");
        assert!(out.contains(edge), "{format}: edges are drawn: {out}");
        assert!(
            out.contains("application/vnd.cncf.notary.signature"),
            "{format}: the signature referrer is labelled by its artifact type: {out}"
        );
    }
    let out = gap.org.run("far", &["inspect", "b.tar", "--graph", "svg"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "an unknown format is a usage error: {out:?}"
    );

    // The snapshot expires in 30 days: as of 31 days from now the bundle is refused, as of one
    // day from now it verifies.
    let now = airlock::time::now();
    let at = |days: i64| airlock::time::format_rfc3339(now + days * 86_400);
    let (code, doc, err) = gap
        .org
        .json("far", &["verify-bundle", "b.tar", "--at", &at(1)]);
    assert_eq!(code, 0, "{doc}\n{err}");
    assert!(err.contains("--at"), "the time travel is announced: {err}");
    let (code, doc, err) = gap
        .org
        .json("far", &["verify-bundle", "b.tar", "--at", &at(31)]);
    assert_eq!(code, 1, "{doc}\n{err}");
    assert!(err.contains("expired"), "{err}");

    // No store: trust anchored at the root's digest, given out of band; a wrong digest fails.
    let digest = airlock::Digest::sha256_of(&fs::read(gap.path("root-1.cose")).expect("root"));
    let mut cmd = gap.org.command("nowhere");
    cmd.args([
        "--json",
        "verify-bundle",
        "b.tar",
        "--root-digest",
        &digest.to_string(),
    ]);
    let (code, doc, err) = run_json(&mut cmd);
    assert_eq!(code, 0, "{doc}\n{err}");
    assert_eq!(
        doc["judgements"],
        json!([]),
        "no policy without a store: {doc}"
    );
    let wrong = airlock::Digest::sha256_of(b"not the root").to_string();
    let mut cmd = gap.org.command("nowhere");
    cmd.args(["--json", "verify-bundle", "b.tar", "--root-digest", &wrong]);
    let (code, doc, err) = run_json(&mut cmd);
    assert_eq!(code, 1, "{doc}\n{err}");
}
