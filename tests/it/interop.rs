//! Interop with the tools people already run: skopeo and umoci read the layouts and tarballs
//! airlock writes, a real registry receives them byte for byte, and airlock reads (graph and
//! all) the layouts skopeo and umoci write.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use airlock::Digest;
use airlock::graph::{Edge, EdgeKind, Graph, Indexed};
use airlock::layout::Layout;
use airlock::limits::Limits;
use airlock::media;
use airlock::reference::LayoutTag;
use serde_json::Value;

use crate::harness::{Registry, airlock, require_tool, run_ok, skopeo, skopeo_bytes};

/// The sample `write_sample` builds, with the digests and bytes every test compares against.
struct Sample {
    /// Holds the layout and whatever else a test writes beside it.
    work: tempfile::TempDir,
    dir: PathBuf,
    index: Digest,
    index_bytes: Vec<u8>,
    image: Digest,
    image_bytes: Vec<u8>,
    config: Digest,
    config_bytes: Vec<u8>,
    layer: Digest,
    layer_size: u64,
    sbom: Digest,
}

impl Sample {
    fn new() -> Sample {
        let work = tempfile::tempdir().expect("temporary directory");
        let dir = work.path().join("layout");
        let layout = Layout::init(&dir, Limits::default()).expect("init layout");
        let tag = LayoutTag::new("latest").expect("valid tag");
        let sample = airlock::build::write_sample(&layout, &tag, "name").expect("write sample");
        let digest =
            |d: &oci_spec::image::Descriptor| Digest::from_oci(d.digest()).expect("digest");
        let blob = |d: &Digest| fs::read(layout.blob_path(d)).expect("read blob");
        let (index, image, sbom) = (
            digest(&sample.index),
            digest(&sample.image),
            digest(&sample.sbom),
        );
        let image_bytes = blob(&image);
        let manifest: Value = serde_json::from_slice(&image_bytes).expect("image manifest is JSON");
        let field = |v: &Value| {
            v["digest"]
                .as_str()
                .expect("descriptor digest")
                .parse::<Digest>()
        };
        let config = field(&manifest["config"]).expect("config digest");
        let layer = field(&manifest["layers"][0]).expect("layer digest");
        let layer_size = manifest["layers"][0]["size"].as_u64().expect("layer size");
        // What the tools below must cope with: beside the tagged index, index.json lists the
        // SBOM referrer untagged.
        let entries: Vec<(Option<String>, Digest)> = layout
            .index()
            .expect("read index.json")
            .into_iter()
            .map(|e| (e.tag, e.digest))
            .collect();
        assert_eq!(
            entries,
            [
                (Some("latest".to_owned()), index.clone()),
                (None, sbom.clone())
            ]
        );
        Sample {
            index_bytes: blob(&index),
            config_bytes: blob(&config),
            work,
            dir,
            index,
            image,
            image_bytes,
            config,
            layer,
            layer_size,
            sbom,
        }
    }

    /// `oci:DIR:latest`.
    fn oci_ref(&self) -> String {
        format!("oci:{}:latest", self.dir.display())
    }

    /// Packs the layout with `airlock layout pack` and returns the tarball's path.
    fn pack(&self) -> PathBuf {
        let tar = self.work.path().join("sample.tar");
        let out = airlock()
            .args(["layout", "pack"])
            .arg(&self.dir)
            .arg("-o")
            .arg(&tar)
            .output()
            .expect("run airlock layout pack");
        assert_eq!(
            out.status.code(),
            Some(0),
            "airlock layout pack failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        tar
    }
}

/// Pushes `src` to `docker://HOST/REPO:latest` with every instance and digests preserved, and
/// returns the destination reference.
fn push(registry: &Registry, src: &str, repo: &str) -> String {
    let dest = format!("docker://{}/{repo}:latest", registry.host());
    skopeo(&[
        "copy",
        "--all",
        "--preserve-digests",
        "--dest-tls-verify=false",
        src,
        &dest,
    ]);
    dest
}

fn raw(reference: &str, tls: bool) -> Vec<u8> {
    if tls {
        skopeo_bytes(&["inspect", "--raw", reference])
    } else {
        skopeo_bytes(&["inspect", "--raw", "--tls-verify=false", reference])
    }
}

#[test]
fn skopeo_reads_airlock_layout() {
    let s = Sample::new();
    let reference = s.oci_ref();
    assert_eq!(
        raw(&reference, true),
        s.index_bytes,
        "--raw is the index blob, byte for byte"
    );

    let platform = ["--override-os", "linux", "--override-arch", "amd64"];
    let mut args = vec!["inspect"];
    args.extend(platform);
    args.push(&reference);
    let info: Value = serde_json::from_str(&skopeo(&args)).expect("skopeo inspect prints JSON");
    assert_eq!(info["Digest"], s.index.to_string(), "{info}");
    assert_eq!(info["Architecture"], "amd64", "{info}");
    assert_eq!(info["Os"], "linux", "{info}");
    assert_eq!(
        info["Layers"],
        serde_json::json!([s.layer.to_string()]),
        "{info}"
    );

    // skopeo walks index → linux/amd64 manifest → config.
    let mut args = vec!["inspect", "--config", "--raw"];
    args.extend(platform);
    args.push(&reference);
    assert_eq!(
        skopeo_bytes(&args),
        s.config_bytes,
        "config reached through the index"
    );
}

#[test]
fn umoci_reads_airlock_layout() {
    let s = Sample::new();
    let umoci = require_tool("umoci");
    let out = run_ok(
        Command::new(&umoci).args(["ls", "--layout"]).arg(&s.dir),
        "umoci ls",
    );
    let tags: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    // The untagged referrer entry in index.json is passed over, not listed or refused.
    assert_eq!(tags, ["latest"], "umoci ls lists exactly the tagged entry");

    // Unpacking walks index → manifest → config → layer and applies the layer.
    let bundle = s.work.path().join("bundle");
    let image = format!("{}:latest", s.dir.display());
    run_ok(
        Command::new(&umoci)
            .args(["unpack", "--rootless", "--image", &image])
            .arg(&bundle),
        "umoci unpack",
    );
    let hello = fs::read(bundle.join("rootfs/hello.txt")).expect("umoci unpacked hello.txt");
    assert_eq!(hello, b"hello from name\n");
}

#[test]
fn skopeo_reads_packed_tarball() {
    let s = Sample::new();
    let tar = s.pack();
    let reference = format!("oci-archive:{}:latest", tar.display());
    assert_eq!(
        raw(&reference, true),
        s.index_bytes,
        "--raw is the index blob, byte for byte"
    );
    let config = skopeo_bytes(&[
        "inspect",
        "--config",
        "--raw",
        "--override-os",
        "linux",
        "--override-arch",
        "amd64",
        &reference,
    ]);
    assert_eq!(
        config, s.config_bytes,
        "config reached through the index in the tarball"
    );
}

#[test]
fn skopeo_pushes_layout_unchanged() {
    let s = Sample::new();
    let registry = Registry::start();
    let dest = push(&registry, &s.oci_ref(), "sample");
    assert_eq!(
        raw(&dest, false),
        s.index_bytes,
        "the registry serves the index as written"
    );
    let image = format!("docker://{}/sample@{}", registry.host(), s.image);
    assert_eq!(
        raw(&image, false),
        s.image_bytes,
        "the image manifest is stored unchanged"
    );
    let config = skopeo_bytes(&["inspect", "--config", "--raw", "--tls-verify=false", &image]);
    assert_eq!(
        config, s.config_bytes,
        "the config blob is stored unchanged"
    );
}

#[test]
fn skopeo_pushes_tarball_unchanged() {
    let s = Sample::new();
    let tar = s.pack();
    let registry = Registry::start();
    let dest = push(
        &registry,
        &format!("oci-archive:{}:latest", tar.display()),
        "from-tarball",
    );
    assert_eq!(
        raw(&dest, false),
        s.index_bytes,
        "the registry serves the index as packed"
    );
    let image = format!("docker://{}/from-tarball@{}", registry.host(), s.image);
    assert_eq!(
        raw(&image, false),
        s.image_bytes,
        "the image manifest is stored unchanged"
    );
}

/// Walks the graph of `tag` in the layout at `dir` through the library.
fn walk(dir: &Path, tag: &str) -> (Layout, Graph) {
    let limits = Limits::default();
    let layout = Layout::open(dir, limits.clone()).expect("open layout");
    let entries = layout.index().expect("read index.json");
    let root = entries
        .iter()
        .find(|e| e.tag.as_deref() == Some(tag))
        .unwrap_or_else(|| panic!("no entry tagged {tag} in {entries:?}"));
    let indexed = Indexed::new(&layout, &entries, &limits).expect("index referrers");
    let graph = Graph::walk(&indexed, &root.descriptor, &limits).expect("walk graph");
    (layout, graph)
}

/// Runs `airlock inspect DIR --json` and returns the root listed under `tag` and the document.
fn inspect_json(dir: &Path, tag: &str) -> (Value, Value) {
    let out = airlock()
        .arg("inspect")
        .arg(dir)
        .arg("--json")
        .output()
        .expect("run airlock inspect");
    assert_eq!(
        out.status.code(),
        Some(0),
        "airlock inspect failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).expect("inspect --json prints JSON");
    assert_eq!(doc["schemaVersion"], 1, "{doc}");
    assert_eq!(doc["kind"], "inspect", "{doc}");
    let roots = doc["roots"].as_array().expect("roots is an array");
    let root = roots
        .iter()
        .find(|r| r["tag"] == tag)
        .unwrap_or_else(|| panic!("no root tagged {tag}: {doc}"))
        .clone();
    (root, doc)
}

#[test]
fn airlock_reads_skopeo_layout() {
    let s = Sample::new();
    let registry = Registry::start();
    let src = push(&registry, &s.oci_ref(), "sample");
    let out = s.work.path().join("from-skopeo");
    let dest = format!("oci:{}:latest", out.display());
    skopeo(&[
        "copy",
        "--all",
        "--preserve-digests",
        "--src-tls-verify=false",
        &src,
        &dest,
    ]);
    drop(registry);

    let (layout, graph) = walk(&out, "latest");
    assert_eq!(graph.roots, std::slice::from_ref(&s.index));
    let expected = [
        (&s.index, media::OCI_INDEX, s.index_bytes.len() as u64),
        (&s.image, media::OCI_MANIFEST, s.image_bytes.len() as u64),
        (&s.config, media::OCI_CONFIG, s.config_bytes.len() as u64),
        (&s.layer, media::OCI_LAYER_TAR, s.layer_size),
    ];
    for (digest, media_type, size) in expected {
        let node = graph
            .nodes
            .get(digest)
            .unwrap_or_else(|| panic!("{digest} not in graph"));
        assert_eq!(
            node.descriptor.media_type().to_string(),
            media_type,
            "{digest}"
        );
        assert_eq!(node.descriptor.size(), size, "{digest}");
    }
    assert_eq!(
        graph.nodes[&s.index].raw.as_deref(),
        Some(&s.index_bytes[..])
    );
    assert_eq!(
        graph.nodes[&s.image].raw.as_deref(),
        Some(&s.image_bytes[..])
    );
    for (from, to, kind) in [
        (&s.index, &s.image, EdgeKind::Child),
        (&s.image, &s.config, EdgeKind::Config),
        (&s.image, &s.layer, EdgeKind::Layer),
    ] {
        let edge = Edge {
            from: from.clone(),
            to: to.clone(),
            kind,
        };
        assert!(
            graph.edges.contains(&edge),
            "missing {kind} edge {from} → {to}"
        );
    }
    // skopeo copies what the tag reaches, so every blob it wrote is in the graph; the SBOM
    // referrer stayed behind (the registry has no referrers API and skopeo does not look).
    let blobs = layout.blobs().expect("list blobs");
    let on_disk: BTreeSet<&Digest> = blobs.keys().collect();
    let in_graph: BTreeSet<&Digest> = graph.nodes.keys().collect();
    assert_eq!(on_disk, in_graph);
    assert!(!on_disk.contains(&s.sbom));

    let (root, doc) = inspect_json(&out, "latest");
    assert_eq!(root["digest"], s.index.to_string(), "{doc}");
    assert_eq!(root["mediaType"], media::OCI_INDEX, "{doc}");
    assert_eq!(root["size"], s.index_bytes.len(), "{doc}");
    assert_eq!(doc["blobs"]["count"], blobs.len(), "{doc}");
    assert_eq!(
        doc["blobs"]["totalBytes"],
        blobs.values().sum::<u64>(),
        "{doc}"
    );
}

#[test]
fn airlock_reads_umoci_layout() {
    let umoci = require_tool("umoci");
    let work = tempfile::tempdir().expect("temporary directory");
    let dir = work.path().join("umoci");
    let image = format!("{}:base", dir.display());
    let file = work.path().join("greeting.txt");
    fs::write(&file, b"written by umoci\n").expect("write file");
    run_ok(
        Command::new(&umoci).args(["init", "--layout"]).arg(&dir),
        "umoci init",
    );
    run_ok(
        Command::new(&umoci).args(["new", "--image", &image]),
        "umoci new",
    );
    run_ok(
        Command::new(&umoci)
            .args(["insert", "--rootless", "--image", &image])
            .arg(&file)
            .arg("/greeting.txt"),
        "umoci insert",
    );

    // What umoci says it wrote, read straight from its files.
    let read_json = |p: PathBuf| -> Value {
        serde_json::from_slice(&fs::read(&p).expect("read umoci file")).expect("umoci JSON")
    };
    let index = read_json(dir.join("index.json"));
    let manifest_digest: Digest = index["manifests"][0]["digest"]
        .as_str()
        .expect("digest")
        .parse()
        .expect("valid digest");
    let manifest = read_json(dir.join("blobs").join("sha256").join(manifest_digest.hex()));
    let config: Digest = manifest["config"]["digest"]
        .as_str()
        .expect("digest")
        .parse()
        .expect("ok");
    let layer: Digest = manifest["layers"][0]["digest"]
        .as_str()
        .expect("digest")
        .parse()
        .expect("ok");

    let (_, graph) = walk(&dir, "base");
    assert_eq!(graph.roots, std::slice::from_ref(&manifest_digest));
    let in_graph: BTreeSet<&Digest> = graph.nodes.keys().collect();
    assert_eq!(
        in_graph,
        BTreeSet::from([&manifest_digest, &config, &layer])
    );
    let layer_type = graph.nodes[&layer].descriptor.media_type().to_string();
    assert_eq!(layer_type, media::OCI_LAYER_TAR_GZIP);

    let (root, doc) = inspect_json(&dir, "base");
    assert_eq!(root["digest"], manifest_digest.to_string(), "{doc}");
    assert_eq!(root["mediaType"], media::OCI_MANIFEST, "{doc}");
}
