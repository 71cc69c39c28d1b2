//! Hostile tarballs: every vector in `tests/vectors/<case>/` must produce the outcome class in
//! its `expect` file from both `inspect_tarball` and `unpack_tarball`, a refused unpack must leave
//! nothing tagged, the vectors must match their generator (`examples/gen_vectors.rs`) byte for
//! byte, the CLI must refuse them with a hint, and no mutation of a valid tarball may panic.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use airlock::Limits;
use airlock::graph::GraphError;
use airlock::layout::LayoutError;
use airlock::tarball::{TarballError, inspect_tarball, unpack_tarball};
use proptest::prelude::*;
use serde_json::Value;

#[path = "../../examples/gen_vectors.rs"]
mod gen_vectors;

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("vectors")
}

/// One checked-in case.
#[derive(Debug)]
struct Vector {
    name: String,
    input: PathBuf,
    expect: String,
    limits: Limits,
}

/// Every case directory under `tests/vectors`, sorted by name.
fn vectors() -> Vec<Vector> {
    let root = vectors_dir();
    let mut dirs: Vec<PathBuf> = fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", root.display()))
        .map(|e| e.expect("read tests/vectors entry").path())
        // Tarball cases have an `expect` file; `signature/` and `cose-wg/` are other suites.
        .filter(|p| p.join("expect").is_file())
        .collect();
    dirs.sort();
    assert!(
        !dirs.is_empty(),
        "no vectors in {}; run `cargo run --example gen_vectors -- tests/vectors`",
        root.display()
    );
    dirs.iter().map(|d| load_vector(d)).collect()
}

fn load_vector(dir: &Path) -> Vector {
    let name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .expect("vector directory names are UTF-8")
        .to_owned();
    let expect = fs::read_to_string(dir.join("expect"))
        .unwrap_or_else(|e| panic!("{name}: no readable expect file: {e}"))
        .trim()
        .to_owned();
    assert!(
        !expect.is_empty() && !expect.contains(char::is_whitespace),
        "{name}: expect must hold one outcome word, got {expect:?}"
    );
    assert!(dir.join("README").is_file(), "{name}: no README");
    let inputs: Vec<PathBuf> = fs::read_dir(dir)
        .expect("list vector directory")
        .map(|e| e.expect("read vector entry").path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("input."))
        })
        .collect();
    let [input] = inputs.as_slice() else {
        panic!("{name}: expected exactly one input.* file, found {inputs:?}");
    };
    let limits = limits_for(&name, &dir.join("limits.json"));
    Vector {
        name,
        input: input.clone(),
        expect,
        limits,
    }
}

/// `Limits::default()` with the fields named in `limits.json` overridden.
fn limits_for(name: &str, path: &Path) -> Limits {
    let mut limits = Limits::default();
    if !path.exists() {
        return limits;
    }
    let bytes = fs::read(path).expect("read limits.json");
    let fields: serde_json::Map<String, Value> = serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("{name}: limits.json is not a JSON object: {e}"));
    for (key, value) in fields {
        let n = value
            .as_u64()
            .unwrap_or_else(|| panic!("{name}: limits.json field {key} is not a number"));
        limits
            .set(&key, &n.to_string())
            .unwrap_or_else(|e| panic!("{name}: limits.json: {e}"));
    }
    limits
}

/// The outcome class of a refusal, as written in `expect` files.
fn outcome(e: &TarballError) -> &'static str {
    match e {
        TarballError::UnknownFormat(_) => "unknown-format",
        TarballError::PathTraversal(_) => "path-traversal",
        TarballError::AbsolutePath(_) => "absolute-path",
        TarballError::OutsideLayout(_) => "outside-layout",
        TarballError::Link { .. } => "link",
        TarballError::UnsupportedEntry { .. } => "unsupported-entry",
        TarballError::Duplicate(_) => "duplicate",
        TarballError::TooManyEntries(_) => "too-many-entries",
        TarballError::EntryTooLarge { .. } => "entry-too-large",
        TarballError::ExpandsPastLimit(_) => "expands-past-limit",
        TarballError::Truncated(_) => "truncated",
        TarballError::TrailingData => "trailing-data",
        TarballError::BlobMismatch { .. } => "digest-mismatch",
        TarballError::MissingFile(_) => "missing-file",
        TarballError::Layout(l) => layout_outcome(l),
        TarballError::Graph(g) => graph_outcome(g),
        TarballError::Malformed(_) => "malformed",
        TarballError::WindowTooLarge(_) => "window-too-large",
        TarballError::Io { .. } => "io-error",
        _ => "unclassified",
    }
}

fn layout_outcome(e: &LayoutError) -> &'static str {
    match e {
        LayoutError::BlobMissing(_) => "incomplete-graph",
        LayoutError::Content { .. } => "digest-mismatch",
        LayoutError::InvalidDocument { .. } => "invalid-layout-document",
        LayoutError::TooLarge { .. } => "too-large",
        LayoutError::Io { .. } => "io-error",
        _ => "layout-error",
    }
}

fn graph_outcome(e: &GraphError) -> &'static str {
    match e {
        GraphError::Layout { source, .. } => layout_outcome(source),
        GraphError::InvalidManifest { .. } | GraphError::MediaTypeMismatch { .. } => {
            "invalid-manifest"
        }
        GraphError::InvalidDigest { .. } => "invalid-digest",
        GraphError::Cycle { .. } => "cycle",
        GraphError::Inconsistent { .. } => "inconsistent-graph",
        GraphError::TooDeep { .. }
        | GraphError::TooManyNodes { .. }
        | GraphError::TooManyEntries { .. }
        | GraphError::TooManyReferrers { .. } => "graph-too-large",
        _ => "unclassified",
    }
}

fn describe<T>(r: &Result<T, TarballError>) -> (String, String) {
    match r {
        Ok(_) => ("ok".into(), "accepted".into()),
        Err(e) => (outcome(e).into(), format!("{e}; {e:?}")),
    }
}

fn mismatch(v: &Vector, op: &str, got: &str, detail: &str) -> String {
    format!(
        "{}: {op} gave `{got}` but expect says `{}` ({detail})",
        v.name, v.expect
    )
}

fn open(v: &Vector) -> fs::File {
    fs::File::open(&v.input).unwrap_or_else(|e| panic!("{}: open input: {e}", v.name))
}

/// The digests of the `index.json` entries of a layout directory, or `None` if it has no
/// `index.json`.
fn tagged(dir: &Path) -> Option<Vec<String>> {
    let bytes = fs::read(dir.join("index.json")).ok()?;
    let doc: Value =
        serde_json::from_slice(&bytes).expect("unpack left an index.json that is not JSON");
    let manifests = doc["manifests"]
        .as_array()
        .expect("index.json has a manifests array");
    Some(
        manifests
            .iter()
            .map(|m| m["digest"].as_str().unwrap_or("?").to_owned())
            .collect(),
    )
}

#[test]
fn vectors_inspect() {
    let mut failures = Vec::new();
    for v in vectors() {
        let result = inspect_tarball(open(&v), &v.limits);
        let (got, detail) = describe(&result);
        if got != v.expect {
            failures.push(mismatch(&v, "inspect", &got, &detail));
        }
        if let Ok(inspected) = &result {
            for e in &inspected.contents.entries {
                assert!(
                    inspected.graph.roots.contains(&e.digest),
                    "{}: every index.json entry is a root of the graph",
                    v.name
                );
            }
        }
    }
    assert!(
        failures.is_empty(),
        "inspect_tarball disagrees with {} vector(s):\n  {}",
        failures.len(),
        failures.join("\n  ")
    );
}

#[test]
fn vectors_unpack() {
    let mut failures = Vec::new();
    for v in vectors() {
        let tmp = tempfile::tempdir().expect("temp dir");
        let target = tmp.path().join("layout");
        let result = unpack_tarball(open(&v), &target, &v.limits);
        let (got, detail) = describe(&result);
        if got != v.expect {
            failures.push(mismatch(&v, "unpack", &got, &detail));
        }
        match &result {
            Ok((layout, contents)) => {
                let on_disk: Vec<String> = layout
                    .index()
                    .expect("unpacked index.json parses")
                    .iter()
                    .map(|e| e.digest.to_string())
                    .collect();
                let read: Vec<String> = contents
                    .entries
                    .iter()
                    .map(|e| e.digest.to_string())
                    .collect();
                assert_eq!(
                    on_disk, read,
                    "{}: unpacked index.json lists what was read",
                    v.name
                );
                let index = fs::read(target.join("index.json")).expect("read unpacked index.json");
                assert_eq!(
                    index, contents.index_json,
                    "{}: index.json kept byte for byte",
                    v.name
                );
                for (digest, size) in &contents.blobs {
                    layout
                        .verify_blob(digest, Some(*size))
                        .unwrap_or_else(|e| panic!("{}: unpacked blob {digest}: {e}", v.name));
                }
            }
            Err(_) => {
                if let Some(listed) = tagged(&target) {
                    assert!(
                        listed.is_empty(),
                        "{}: unpack failed (`{got}`) but left {listed:?} tagged in index.json",
                        v.name
                    );
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "unpack_tarball disagrees with {} vector(s):\n  {}",
        failures.len(),
        failures.join("\n  ")
    );
}

/// Folders of `tests/vectors` that are not generated by `gen_vectors`: the COSE WG vectors
/// (copied from another implementation), the trust vectors (`gen_trust_vectors`, checked by
/// `trust_vectors`), the hand-written policies (checked by `policy`), and the bundles
/// (`gen_bundle_vectors`, checked by `bundle_vectors`).
const OTHER_SUITES: &[&str] = &["cose-wg", "trust", "policy", "bundle"];

#[test]
fn vectors_match_generator() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let names = gen_vectors::generate(tmp.path()).expect("generate vectors");
    assert!(!names.is_empty(), "the generator wrote no vectors");
    let regen = "run `cargo run --example gen_vectors -- tests/vectors` and commit the result";
    crate::harness::assert_same_tree(
        tmp.path(),
        &vectors_dir(),
        OTHER_SUITES,
        "tests/vectors",
        regen,
    );
}

#[test]
fn many_roots_share_one_graph() {
    let v = load_vector(&vectors_dir().join("many-roots-shared-graph"));
    // Small on purpose: the walk must not repeat per root, and the vector must stay cheap.
    let len = fs::metadata(&v.input).expect("stat input").len();
    assert!(len < 64 * 1024, "the vector is {len} bytes; keep it small");
    let inspected = inspect_tarball(open(&v), &v.limits).expect("the vector is accepted");
    let entries = &inspected.contents.entries;
    assert_eq!(entries.len(), 50, "one index.json entry per tag");
    let distinct: std::collections::BTreeSet<_> = entries.iter().map(|e| &e.digest).collect();
    assert_eq!(distinct.len(), 1, "every entry names the same index");
    let graph = &inspected.graph;
    assert_eq!(graph.roots.len(), 1, "one root per distinct digest");
    // index, image manifest, config, layer: every blob of the tarball, each once.
    assert_eq!(graph.nodes.len(), 4);
    assert_eq!(
        graph.nodes.keys().collect::<Vec<_>>(),
        inspected.contents.blobs.keys().collect::<Vec<_>>(),
        "the graph's nodes are the tarball's distinct blobs"
    );
    // child, config, layer: recorded once, not once per root.
    assert_eq!(graph.edges.len(), 3, "{:?}", graph.edges);
}

/// Every path below `root` (directories too), with the bytes of each file.
fn snapshot(root: &Path) -> Vec<(PathBuf, Option<Vec<u8>>)> {
    let mut all: Vec<(PathBuf, Option<Vec<u8>>)> = walkdir::WalkDir::new(root)
        .into_iter()
        .map(|e| e.expect("walk layout"))
        .map(|e| {
            let rel = e
                .path()
                .strip_prefix(root)
                .expect("below root")
                .to_path_buf();
            let bytes = e
                .file_type()
                .is_file()
                .then(|| fs::read(e.path()).expect("read layout file"));
            (rel, bytes)
        })
        .collect();
    all.sort();
    all
}

#[test]
fn unpack_refuses_an_existing_layout_and_leaves_it_alone() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let target = tmp.path().join("layout");
    let existing = airlock::layout::Layout::init(&target, Limits::default()).expect("init layout");
    existing
        .write_blob_bytes(b"already in the target layout\n")
        .expect("write a blob");
    let before = snapshot(&target);
    assert!(before.len() > 4, "the layout holds its files and the blob");
    let v = load_vector(&vectors_dir().join("ok"));
    let result = unpack_tarball(open(&v), &target, &v.limits);
    match &result {
        Err(TarballError::Layout(LayoutError::NotEmpty(dir))) => assert_eq!(dir, &target),
        other => panic!("unpack into an existing layout: expected NotEmpty, got {other:?}"),
    }
    assert_eq!(
        snapshot(&target),
        before,
        "the existing layout is unchanged"
    );
}

fn airlock(args: &[&std::ffi::OsStr]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .output()
        .expect("run the airlock binary")
}

fn assert_refused(out: &std::process::Output, what: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{what}: exit code 1 (verification failed); stderr:\n{stderr}"
    );
    assert!(
        stderr.contains("error:"),
        "{what}: stderr says `error:`; got:\n{stderr}"
    );
    assert!(
        stderr.contains("hint:"),
        "{what}: stderr gives a `hint:`; got:\n{stderr}"
    );
}

fn assert_accepted(out: &std::process::Output, what: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{what}: exit code 0; stderr:\n{stderr}"
    );
}

#[test]
fn cli_refuses_hostile_vectors_and_accepts_ok() {
    let dir = vectors_dir();
    for case in ["ok", "ok-zstd"] {
        let v = load_vector(&dir.join(case));
        let out = airlock(&["inspect".as_ref(), v.input.as_os_str()]);
        assert_accepted(&out, &format!("airlock inspect {case}"));
        let tmp = tempfile::tempdir().expect("temp dir");
        let target = tmp.path().join("layout");
        let out = airlock(&[
            "layout".as_ref(),
            "unpack".as_ref(),
            v.input.as_os_str(),
            target.as_os_str(),
        ]);
        assert_accepted(&out, &format!("airlock layout unpack {case}"));
        let listed = tagged(&target).expect("unpacked layout has index.json");
        assert!(
            !listed.is_empty(),
            "airlock layout unpack {case}: something is tagged"
        );
    }
    for case in [
        "path-traversal",
        "symlink",
        "digest-mismatch",
        "missing-blob",
    ] {
        let v = load_vector(&dir.join(case));
        let out = airlock(&["inspect".as_ref(), v.input.as_os_str()]);
        assert_refused(&out, &format!("airlock inspect {case}"));
        let tmp = tempfile::tempdir().expect("temp dir");
        let target = tmp.path().join("layout");
        let out = airlock(&[
            "layout".as_ref(),
            "unpack".as_ref(),
            v.input.as_os_str(),
            target.as_os_str(),
        ]);
        assert_refused(&out, &format!("airlock layout unpack {case}"));
        if let Some(listed) = tagged(&target) {
            assert!(
                listed.is_empty(),
                "airlock layout unpack {case} left {listed:?} tagged"
            );
        }
    }
}

/// One change to a valid tarball's bytes; positions are fractions of its length.
#[derive(Clone, Debug)]
enum Mutation {
    Flip {
        at: prop::sample::Index,
        mask: u8,
    },
    Truncate {
        at: prop::sample::Index,
    },
    Insert {
        at: prop::sample::Index,
        bytes: Vec<u8>,
    },
}

impl Mutation {
    fn apply(&self, data: &mut Vec<u8>) {
        if data.is_empty() {
            return;
        }
        match self {
            Mutation::Flip { at, mask } => {
                let i = at.index(data.len());
                data[i] ^= mask;
            }
            Mutation::Truncate { at } => data.truncate(at.index(data.len())),
            Mutation::Insert { at, bytes } => {
                let i = at.index(data.len() + 1);
                data.splice(i..i, bytes.iter().copied());
            }
        }
    }
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<prop::sample::Index>(), 1u8..=255).prop_map(|(at, mask)| Mutation::Flip { at, mask }),
        1 => any::<prop::sample::Index>().prop_map(|at| Mutation::Truncate { at }),
        2 => (any::<prop::sample::Index>(), prop::collection::vec(any::<u8>(), 1..600))
            .prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
    ]
}

fn index_digests(input: &[u8]) -> Result<Vec<String>, TarballError> {
    let inspected = inspect_tarball(input, &Limits::default())?;
    Ok(inspected
        .contents
        .entries
        .iter()
        .map(|e| e.digest.to_string())
        .collect())
}

fn check_mutations(case: &str, mutations: &[Mutation]) -> Result<(), TestCaseError> {
    let original = fs::read(load_vector(&vectors_dir().join(case)).input).expect("read vector");
    let want = index_digests(&original).expect("the unmutated vector is accepted");
    let mut data = original;
    for m in mutations {
        m.apply(&mut data);
    }
    // A panic here fails the property; so does an accepted tarball naming other content.
    if let Ok(got) = index_digests(&data) {
        prop_assert_eq!(
            got,
            want,
            "{}: a mutated tarball was accepted with other index digests",
            case
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        // Regressions belong in a vector, not in a file beside this module.
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn mutated_ok_vector_never_panics(mutations in prop::collection::vec(mutation(), 1..4)) {
        check_mutations("ok", &mutations)?;
    }

    #[test]
    fn mutated_ok_zstd_vector_never_panics(mutations in prop::collection::vec(mutation(), 1..4)) {
        check_mutations("ok-zstd", &mutations)?;
    }
}
