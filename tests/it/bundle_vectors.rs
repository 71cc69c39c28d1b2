//! Air-gap bundle vectors: every case in `tests/vectors/bundle/<case>/` is run through
//! `airlock verify-bundle --root-digest D` (no trust store, no policy, no target) and through
//! `airlock import --to-layout` (a store that pinned the root and installed the policy), and
//! must give the outcome its `expect` file names (`ok` or the `BundleError` variant); a refused
//! import must leave the target's tags as they were and log the refusal; the vectors must match
//! their generator (`examples/gen_bundle_vectors.rs`) byte for byte. `formats/bundle.md`, "Test
//! vectors", describes them.

use std::fs;
use std::path::{Path, PathBuf};

use airlock::bundle::{BundleError, Discard, ReadOptions, RootEntry, TrustAnchor, read_bundle};
use airlock::{Digest, Error, Limits};
use serde_json::Value;

use crate::harness::airlock;
use crate::trust_vectors::{case_name, list_cases, set_dir};

#[path = "../../examples/gen_bundle_vectors.rs"]
mod gen_bundle_vectors;

use gen_bundle_vectors::{
    BASE_FILE, EXPECT_FILE, POLICY_FILE, REPOSITORY, ROOT_DIGEST_FILE, ROOT_FILE, TAG,
};

const REGEN: &str =
    "run `cargo run --example gen_bundle_vectors -- tests/vectors/bundle` and commit the result";

/// Every check that must have a vector, and the outcome it must give.
const REQUIRED: &[(&str, &str)] = &[
    ("valid", "ok"),
    ("valid-zstd", "ok"),
    ("delta", "ok"),
    ("delta-without-base", "NotAtTarget"),
    ("unsigned-artifact", "Policy"),
    ("unlisted-blob", "Unlisted"),
    ("missing-blob", "Missing"),
    ("out-of-order", "Order"),
    ("wrong-bundle-key", "Signature"),
    ("tampered-packing-list", "Signature"),
];

/// Each `BundleError` variant a vector may expect, and a phrase of its message (the CLI prints
/// the error's `Display`; the library gives the variant itself).
const VARIANTS: &[(&str, &str)] = &[
    ("Malformed", "bundle is malformed: "),
    ("Order", "bundle entry out of order: "),
    (
        "Unlisted",
        "is in the bundle but not in its signed packing list",
    ),
    (
        "Missing",
        "is named by the packing list as carried but is missing from the bundle",
    ),
    (
        "NotAtTarget",
        "is omitted by this delta bundle and is not at the target",
    ),
    ("Signature", "bundle signature: "),
    ("Policy", "policy not met: "),
];

/// Outcomes only an import can reach: `verify-bundle --root-digest` judges no policy and has no
/// target, so it accepts those bundles.
const IMPORT_ONLY: &[&str] = &["Policy", "NotAtTarget"];

fn vectors_dir() -> PathBuf {
    set_dir("bundle")
}

/// One checked-in case.
#[derive(Debug)]
struct Case {
    name: String,
    bundle: PathBuf,
    base: Option<PathBuf>,
    expect: String,
}

impl Case {
    /// What `verify-bundle --root-digest` must give.
    fn expect_verify(&self) -> &str {
        if IMPORT_ONLY.contains(&self.expect.as_str()) {
            "ok"
        } else {
            &self.expect
        }
    }
}

/// Every case directory (one holding `expect`), sorted by name.
fn cases() -> Vec<Case> {
    list_cases("bundle", EXPECT_FILE, REGEN)
        .iter()
        .map(|d| load(d))
        .collect()
}

fn load(dir: &Path) -> Case {
    let name = case_name(dir);
    let expect = fs::read_to_string(dir.join(EXPECT_FILE))
        .unwrap_or_else(|e| panic!("{name}: cannot read expect: {e}"))
        .trim()
        .to_owned();
    assert!(
        expect == "ok" || VARIANTS.iter().any(|(v, _)| *v == expect),
        "{name}: expect names no known outcome: {expect:?}"
    );
    let bundles: Vec<PathBuf> = ["bundle.tar", "bundle.tar.zst"]
        .iter()
        .map(|f| dir.join(f))
        .filter(|p| p.is_file())
        .collect();
    let [bundle] = bundles.as_slice() else {
        panic!("{name}: expected exactly one of bundle.tar, bundle.tar.zst");
    };
    let base = Some(dir.join(BASE_FILE)).filter(|p| p.is_file());
    Case {
        name,
        bundle: bundle.clone(),
        base,
        expect,
    }
}

fn root_digest() -> String {
    let path = vectors_dir().join(ROOT_DIGEST_FILE);
    fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}; {REGEN}", path.display()))
        .trim()
        .to_owned()
}

/// The variant whose message phrase `message` holds.
fn variant_of(message: &str) -> Option<&'static str> {
    VARIANTS
        .iter()
        .find(|(_, phrase)| message.contains(phrase))
        .map(|(v, _)| *v)
}

fn variant_name(e: &BundleError) -> &'static str {
    match e {
        BundleError::Malformed(_) => "Malformed",
        BundleError::Order { .. } => "Order",
        BundleError::Unlisted(_) => "Unlisted",
        BundleError::Missing(_) => "Missing",
        BundleError::NotAtTarget(_) => "NotAtTarget",
        BundleError::Signature(_) => "Signature",
        BundleError::Policy(_) => "Policy",
        BundleError::Usage(_) => "Usage",
        _ => "another BundleError",
    }
}

/// Runs airlock with `--json` and the trust store `store`, if any; returns the exit code, the
/// JSON document it printed and stderr.
fn run_json(store: Option<&Path>, args: &[&str]) -> (i32, Value, String) {
    let mut cmd = airlock();
    // Without a store, `airlock()` points AIRLOCK_TRUST_DIR at a directory that does not exist.
    if let Some(store) = store {
        cmd.env("AIRLOCK_TRUST_DIR", store);
    }
    crate::trust::run_json(cmd.arg("--json").args(args))
}

/// Checks a run against `expect`: exit 0 and a `kind` result, or exit 1 with an error document
/// of class `verification` whose message is that variant's.
fn judge(
    name: &str,
    what: &str,
    kind: &str,
    expect: &str,
    run: &(i32, Value, String),
) -> Result<(), String> {
    let (code, doc, stderr) = run;
    if expect == "ok" {
        if *code != 0 || doc["kind"] != kind {
            return Err(format!(
                "{name}: {what} should succeed, exit {code}: {doc}\n{stderr}"
            ));
        }
        return Ok(());
    }
    let message = doc["error"]["message"].as_str().unwrap_or_default();
    let got = variant_of(message);
    if *code != 1 || doc["error"]["class"] != "verification" || got != Some(expect) {
        return Err(format!(
            "{name}: {what} should fail with {expect} (exit 1), got exit {code}, {}: {doc}\n{stderr}",
            got.unwrap_or("no known variant")
        ));
    }
    Ok(())
}

#[test]
fn verify_bundle_with_a_root_digest_gives_each_outcome() {
    let digest = root_digest();
    let mut failures = Vec::new();
    let cases = cases();
    for case in &cases {
        let bundle = case.bundle.to_str().expect("UTF-8 path");
        let run = run_json(None, &["verify-bundle", bundle, "--root-digest", &digest]);
        if let Err(e) = judge(
            &case.name,
            "verify-bundle",
            "verify-bundle",
            case.expect_verify(),
            &run,
        ) {
            failures.push(e);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} bundle vectors failed verify-bundle:\n  {}",
        failures.len(),
        cases.len(),
        failures.join("\n  ")
    );
}

#[test]
fn the_library_reader_gives_each_variant() {
    let digest: Digest = root_digest().parse().expect("root digest");
    let limits = Limits::default();
    let now = airlock::time::now();
    let repository = |r: &RootEntry| Some(r.repository.clone());
    let opts = ReadOptions {
        anchor: TrustAnchor::Pinned(&digest),
        policy: None,
        now,
        at: now,
        repository: &repository,
        limits: &limits,
    };
    let mut failures = Vec::new();
    for case in cases() {
        let file = fs::File::open(&case.bundle).expect("open bundle");
        let got = match read_bundle(std::io::BufReader::new(file), &mut Discard, &opts) {
            Ok(_) => "ok",
            Err(Error::Bundle(b)) => variant_name(&b),
            Err(e) => {
                failures.push(format!("{}: not a bundle error: {e}", case.name));
                continue;
            }
        };
        if got != case.expect_verify() {
            failures.push(format!(
                "{}: read_bundle gave {got}, expected {}",
                case.name,
                case.expect_verify()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The digest `tag` names in the layout at `dir`, if any.
fn tagged(dir: &Path, tag: &str) -> Option<String> {
    let index = fs::read(dir.join("index.json")).ok()?;
    let index: Value = serde_json::from_slice(&index).expect("index.json is JSON");
    index["manifests"]
        .as_array()?
        .iter()
        .find(|e| e["annotations"]["org.opencontainers.image.ref.name"] == tag)
        .and_then(|e| e["digest"].as_str())
        .map(str::to_owned)
}

fn last_audit_line(path: &Path) -> Value {
    let text = fs::read_to_string(path).expect("read the audit log");
    let line = text.lines().last().expect("an audit line");
    serde_json::from_str(line).expect("an audit line is JSON")
}

/// Imports `case` into a fresh layout, with a fresh store that pinned the root and installed
/// the policy (after its base, when it has one), and checks the outcome, the tags and the audit
/// log.
fn import_case(case: &Case, digest: &str) -> Result<(), String> {
    let name = &case.name;
    let tmp = tempfile::tempdir().expect("temp dir");
    let store = tmp.path().join("store");
    let layout = tmp.path().join("layout");
    let audit = tmp.path().join("audit.log");
    let vectors = vectors_dir();
    let path = |p: &Path| p.to_str().expect("UTF-8 path").to_owned();
    let setup = [
        vec![
            "trust".to_owned(),
            "pin".to_owned(),
            path(&vectors.join(ROOT_FILE)),
            "--digest".to_owned(),
            digest.to_owned(),
        ],
        vec![
            "policy".to_owned(),
            "set".to_owned(),
            path(&vectors.join(POLICY_FILE)),
        ],
    ];
    for args in &setup {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, doc, err) = run_json(Some(&store), &args);
        if code != 0 {
            return Err(format!("{name}: airlock {args:?} failed: {doc}\n{err}"));
        }
    }
    let import = |bundle: &Path| {
        run_json(
            Some(&store),
            &[
                "import",
                &path(bundle),
                "--to-layout",
                &path(&layout),
                "--audit-log",
                &path(&audit),
            ],
        )
    };
    if let Some(base) = &case.base {
        judge(name, "importing the base", "import", "ok", &import(base))?;
    }
    let name_tag = format!("{REPOSITORY}:{TAG}");
    let before = tagged(&layout, &name_tag);
    let run = import(&case.bundle);
    judge(name, "import", "import", &case.expect, &run)?;
    let audit_line = last_audit_line(&audit);
    if case.expect != "ok" {
        if tagged(&layout, &name_tag) != before {
            return Err(format!("{name}: the refused import moved {name_tag}"));
        }
        if audit_line["result"] != "refused" || audit_line["error"] != run.1["error"]["message"] {
            return Err(format!(
                "{name}: the audit log does not record the refusal: {audit_line}"
            ));
        }
        return Ok(());
    }
    let root = run.1["tags"][0]["digest"].as_str().unwrap_or_default();
    if tagged(&layout, &name_tag).as_deref() != Some(root) {
        return Err(format!(
            "{name}: {name_tag} does not name {root}: {}",
            run.1
        ));
    }
    if audit_line["result"] != "imported" || audit_line["bundle"] != run.1["bundle"] {
        return Err(format!(
            "{name}: the audit log does not record the import: {audit_line}"
        ));
    }
    // What arrived verifies offline under the same store and policy.
    let reference = format!("oci:{}:{name_tag}", path(&layout));
    let (code, doc, _) = run_json(Some(&store), &["verify", &reference, "--scope", REPOSITORY]);
    if code != 0 {
        return Err(format!(
            "{name}: the imported artifact does not verify: {doc}"
        ));
    }
    // Importing again changes nothing.
    let again = import(&case.bundle);
    judge(name, "importing again", "import", "ok", &again)?;
    if again.1["tags"][0]["previous"] != root || again.1["blobsWritten"] != 0 {
        return Err(format!(
            "{name}: importing again was not idempotent: {}",
            again.1
        ));
    }
    Ok(())
}

#[test]
fn import_into_a_layout_gives_each_outcome() {
    let digest = root_digest();
    let cases = cases();
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|c| import_case(c, &digest).err())
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} bundle vectors failed import:\n  {}",
        failures.len(),
        cases.len(),
        failures.join("\n  ")
    );
}

#[test]
fn every_required_check_has_its_vector() {
    let cases = cases();
    for (name, expect) in REQUIRED {
        let case = cases
            .iter()
            .find(|c| c.name == *name)
            .unwrap_or_else(|| panic!("the required vector {name} is missing; {REGEN}"));
        assert_eq!(&case.expect, expect, "{name}: expected outcome");
    }
}

#[test]
fn vectors_match_generator() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let mut names = gen_bundle_vectors::generate(tmp.path()).expect("generate vectors");
    names.sort_unstable();
    let dirs: Vec<String> = cases().into_iter().map(|c| c.name).collect();
    assert_eq!(
        names, dirs,
        "tests/vectors/bundle has other vectors than the generator writes; {REGEN}"
    );
    crate::harness::assert_same_tree(
        tmp.path(),
        &vectors_dir(),
        &[],
        "tests/vectors/bundle",
        REGEN,
    );
}
