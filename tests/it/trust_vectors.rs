//! Trust-model attack vectors: every case in `tests/vectors/trust/<case>/` is run through
//! [`TrustStore`] (pin, then its steps) and must end with the `TrustError::code()` its
//! `case.json` names, or succeed when it says `ok`; a refused step must leave the store as it
//! was; every required attack must have its vector; and the vectors must match their generator
//! (`examples/gen_trust_vectors.rs`) byte for byte.

use std::fs;
use std::path::{Path, PathBuf};

use airlock::revocation::SignedSnapshot;
use airlock::time::{Seconds, parse_rfc3339};
use airlock::trust::store::State;
use airlock::trust::{SignedRoot, TrustError, TrustStore};
use airlock::{Digest, Limits};
use serde_json::{Map, Value};

#[path = "../../examples/gen_trust_vectors.rs"]
mod gen_trust_vectors;

/// Every attack that must have a vector, and the code it must fail with.
const REQUIRED: &[(&str, &str)] = &[
    ("rollback-root", "rollback"),
    ("rollback-revocation", "rollback"),
    ("equivocation-root", "version-conflict"),
    ("equivocation-revocation", "version-conflict"),
    ("freeze-root", "expired"),
    ("freeze-revocation", "expired"),
    ("mix-and-match", "wrong-role"),
    ("snapshot-signed-by-root-key", "wrong-role"),
    ("threshold-root", "threshold"),
    ("duplicate-signature", "duplicate-signature"),
    ("skipped-version", "skipped-version"),
    ("clock-rollback", "clock-rollback"),
    ("endless-root", "too-large"),
    ("endless-revocation", "too-large"),
    ("removed-entry", "removed-entry"),
    ("invalid-signature", "invalid-signature"),
    ("pin-mismatch", "pin-mismatch"),
    ("non-canonical", "non-canonical"),
    ("revoked-signer", "revoked-signer"),
    ("rotation-ok", "ok"),
    ("revocation-ok", "ok"),
];

const REGEN: &str =
    "run `cargo run --example gen_trust_vectors -- tests/vectors/trust` and commit the result";

fn vectors_dir() -> PathBuf {
    set_dir("trust")
}

/// A set of checked-in vectors: `tests/vectors/SET`.
pub(crate) fn set_dir(set: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors")
        .join(set)
}

/// Every case directory of `tests/vectors/SET` (one holding `marker`), sorted by name. There
/// must be some; `regen` says how to make them.
pub(crate) fn list_cases(set: &str, marker: &str, regen: &str) -> Vec<PathBuf> {
    let root = set_dir(set);
    let mut dirs: Vec<PathBuf> = fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}; {regen}", root.display()))
        .map(|e| e.expect("read a vector directory entry").path())
        .filter(|p| p.join(marker).is_file())
        .collect();
    dirs.sort();
    assert!(
        !dirs.is_empty(),
        "no vectors in {}; {regen}",
        root.display()
    );
    dirs
}

/// A case directory's name (UTF-8); the case must have its README.
pub(crate) fn case_name(dir: &Path) -> String {
    let name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .expect("vector directory names are UTF-8")
        .to_owned();
    assert!(dir.join("README").is_file(), "{name}: no README");
    name
}

/// One checked-in case, read from its `case.json`.
#[derive(Debug)]
struct Case {
    name: String,
    dir: PathBuf,
    now: Seconds,
    pin: String,
    pin_digest: Option<Digest>,
    limits: Limits,
    steps: Vec<Step>,
    expect: String,
}

#[derive(Debug)]
enum Op {
    UpdateRoots(Vec<String>),
    ImportRevocation(String),
    Observe,
}

#[derive(Debug)]
struct Step {
    op: Op,
    now: Seconds,
}

impl Step {
    fn describe(&self) -> String {
        match &self.op {
            Op::UpdateRoots(files) => format!("update-roots {}", files.join(", ")),
            Op::ImportRevocation(file) => format!("import-revocation {file}"),
            Op::Observe => "observe".to_owned(),
        }
    }
}

/// Every case directory (one holding `case.json`), sorted by name.
fn case_dirs() -> Vec<PathBuf> {
    list_cases("trust", gen_trust_vectors::CASE_FILE, REGEN)
}

fn time(name: &str, v: &Value) -> Seconds {
    let text = v
        .as_str()
        .unwrap_or_else(|| panic!("{name}: a time is not a string: {v}"));
    parse_rfc3339(text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn text(name: &str, v: &Value, what: &str) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("{name}: {what} is not a string: {v}"))
        .to_owned()
}

/// Refuses keys of `obj` outside `known`, so a typo in a vector cannot silently do nothing.
fn only_keys(name: &str, obj: &Map<String, Value>, known: &[&str]) {
    if let Some(k) = obj.keys().find(|k| !known.contains(&k.as_str())) {
        panic!("{name}: unknown key {k:?} in case.json (known: {known:?})");
    }
}

fn load(dir: &Path) -> Case {
    let name = case_name(dir);
    let bytes = fs::read(dir.join(gen_trust_vectors::CASE_FILE))
        .unwrap_or_else(|e| panic!("{name}: cannot read case.json: {e}"));
    let json: Value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("{name}: case.json is not JSON: {e}"));
    let obj = json
        .as_object()
        .unwrap_or_else(|| panic!("{name}: case.json is not an object"));
    only_keys(
        &name,
        obj,
        &["now", "pin", "pin_digest", "limits", "steps", "expect"],
    );
    let field = |k: &str| {
        obj.get(k)
            .unwrap_or_else(|| panic!("{name}: case.json lacks {k:?}"))
    };
    let now = time(&name, field("now"));
    let mut limits = Limits::default();
    if let Some(l) = obj.get("limits") {
        let l = l
            .as_object()
            .unwrap_or_else(|| panic!("{name}: limits is not an object"));
        for (k, v) in l {
            let n = v
                .as_u64()
                .unwrap_or_else(|| panic!("{name}: limit {k} is not a number"));
            limits
                .set(k, &n.to_string())
                .unwrap_or_else(|e| panic!("{name}: limits: {e}"));
        }
    }
    let pin_digest = obj.get("pin_digest").map(|d| {
        text(&name, d, "pin_digest")
            .parse::<Digest>()
            .unwrap_or_else(|e| panic!("{name}: pin_digest: {e}"))
    });
    let steps = field("steps")
        .as_array()
        .unwrap_or_else(|| panic!("{name}: steps is not an array"))
        .iter()
        .map(|s| {
            let s = s
                .as_object()
                .unwrap_or_else(|| panic!("{name}: a step is not an object"));
            let op = text(&name, s.get("op").unwrap_or(&Value::Null), "op");
            let at = s.get("now").map_or(now, |t| time(&name, t));
            let op = match op.as_str() {
                "update-roots" => {
                    only_keys(&name, s, &["op", "files", "now"]);
                    let files = s
                        .get("files")
                        .and_then(Value::as_array)
                        .unwrap_or_else(|| panic!("{name}: update-roots needs files"))
                        .iter()
                        .map(|f| text(&name, f, "a file"))
                        .collect();
                    Op::UpdateRoots(files)
                }
                "import-revocation" => {
                    only_keys(&name, s, &["op", "file", "now"]);
                    let file = s
                        .get("file")
                        .unwrap_or_else(|| panic!("{name}: import-revocation needs file"));
                    Op::ImportRevocation(text(&name, file, "file"))
                }
                "observe" => {
                    only_keys(&name, s, &["op", "now"]);
                    assert!(s.contains_key("now"), "{name}: observe needs now");
                    Op::Observe
                }
                other => panic!("{name}: unknown op {other:?}"),
            };
            Step { op, now: at }
        })
        .collect();
    Case {
        pin: text(&name, field("pin"), "pin"),
        expect: text(&name, field("expect"), "expect"),
        dir: dir.to_owned(),
        name,
        now,
        pin_digest,
        limits,
        steps,
    }
}

impl Case {
    fn read(&self, file: &str) -> Vec<u8> {
        fs::read(self.dir.join(file))
            .unwrap_or_else(|e| panic!("{}: cannot read {file}: {e}", self.name))
    }

    fn apply(&self, store: &mut TrustStore, step: &Step) -> Result<(), TrustError> {
        match &step.op {
            Op::UpdateRoots(files) => {
                let roots = files
                    .iter()
                    .map(|f| SignedRoot::parse(&self.read(f), &self.limits))
                    .collect::<Result<Vec<_>, _>>()?;
                store.update_roots(roots, step.now).map(drop)
            }
            Op::ImportRevocation(file) => {
                let snapshot = SignedSnapshot::parse(&self.read(file), &self.limits)?;
                store.import_revocation(snapshot, step.now).map(drop)
            }
            Op::Observe => store.observe(step.now),
        }
    }

    /// Runs the case in a fresh store; returns the final state when every step succeeded.
    fn run(&self) -> Result<Option<State>, String> {
        let name = &self.name;
        let tmp = tempfile::tempdir().expect("temp dir");
        let dir = tmp.path().join("trust");
        let bytes = self.read(&self.pin);
        let digest = self
            .pin_digest
            .clone()
            .unwrap_or_else(|| Digest::sha256_of(&bytes));
        let mut store = match TrustStore::pin(&dir, &bytes, &digest, self.now, &self.limits) {
            Ok(s) => s,
            Err(e) if self.steps.is_empty() && e.code() == self.expect => {
                return match TrustStore::open(&dir, &self.limits) {
                    Err(TrustError::NotPinned { .. }) => Ok(None),
                    other => Err(format!(
                        "{name}: a refused pin left a store behind: {other:?}"
                    )),
                };
            }
            Err(e) => {
                return Err(format!(
                    "{name}: pinning {} failed with `{}` ({e}); expected {}",
                    self.pin,
                    e.code(),
                    if self.steps.is_empty() {
                        format!("`{}`", self.expect)
                    } else {
                        "success".to_owned()
                    }
                ));
            }
        };
        if self.steps.is_empty() && self.expect != "ok" {
            return Err(format!(
                "{name}: pinning {} succeeded; expected `{}`",
                self.pin, self.expect
            ));
        }
        for (i, step) in self.steps.iter().enumerate() {
            let last = i + 1 == self.steps.len();
            let what = format!("step {} ({})", i + 1, step.describe());
            let before = store.state().clone();
            match self.apply(&mut store, step) {
                Ok(()) if last && self.expect != "ok" => {
                    return Err(format!(
                        "{name}: {what} succeeded; expected `{}`",
                        self.expect
                    ));
                }
                Ok(()) => {}
                Err(e) if last && e.code() == self.expect => {
                    if !e.is_verification() {
                        return Err(format!(
                            "{name}: {what}: `{}` is not a verification failure",
                            e.code()
                        ));
                    }
                    if store.state() != &before {
                        return Err(format!("{name}: the refused {what} changed the state"));
                    }
                    drop(store);
                    let reopened = TrustStore::open(&dir, &self.limits)
                        .map_err(|e| format!("{name}: reopening after the refusal: {e}"))?;
                    if reopened.state() != &before {
                        return Err(format!(
                            "{name}: the refused {what} changed the stored state"
                        ));
                    }
                    return Ok(None);
                }
                Err(e) => {
                    let want = if last {
                        format!("`{}`", self.expect)
                    } else {
                        "success".to_owned()
                    };
                    return Err(format!(
                        "{name}: {what} failed with `{}` ({e}); expected {want}",
                        e.code()
                    ));
                }
            }
        }
        let state = store.state().clone();
        drop(store);
        let reopened = TrustStore::open(&dir, &self.limits)
            .map_err(|e| format!("{name}: reopening the store: {e}"))?;
        if reopened.state() != &state {
            return Err(format!("{name}: the state did not persist"));
        }
        Ok(Some(state))
    }
}

#[test]
fn every_vector_fails_with_its_code() {
    let mut failures = Vec::new();
    let dirs = case_dirs();
    for dir in &dirs {
        let case = load(dir);
        if let Err(msg) = case.run() {
            failures.push(msg);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} trust vectors failed:\n  {}",
        failures.len(),
        dirs.len(),
        failures.join("\n  ")
    );
}

#[test]
fn every_required_attack_has_its_vector() {
    let root = vectors_dir();
    for (name, code) in REQUIRED {
        let dir = root.join(name);
        assert!(
            dir.join(gen_trust_vectors::CASE_FILE).is_file(),
            "the required vector {name} is missing; {REGEN}"
        );
        let case = load(&dir);
        assert_eq!(&case.expect, code, "{name}: expected code");
    }
    // Each failure code the trust model defends with appears at least once.
    let codes: std::collections::BTreeSet<String> =
        case_dirs().iter().map(|d| load(d).expect).collect();
    for (_, code) in REQUIRED {
        assert!(codes.contains(*code), "no vector expects {code}");
    }
}

#[test]
fn positive_controls_reach_the_expected_state() {
    let rotation = load(&vectors_dir().join("rotation-ok"))
        .run()
        .unwrap_or_else(|e| panic!("{e}"))
        .expect("rotation-ok succeeds");
    assert_eq!(rotation.root_version, 3, "rotation-ok: trusts version 3");
    assert_eq!(rotation.pinned_version, 1, "rotation-ok: pinned version 1");
    let revocation = load(&vectors_dir().join("revocation-ok"))
        .run()
        .unwrap_or_else(|e| panic!("{e}"))
        .expect("revocation-ok succeeds");
    assert_eq!(
        revocation.revocation_version,
        Some(2),
        "revocation-ok: keeps snapshot version 2"
    );
}

#[test]
fn lowered_limits_are_what_makes_the_endless_vectors_fail() {
    // With the default limits the same documents are accepted, so the vectors test the limit
    // and not some other defect of the files.
    for name in ["endless-root", "endless-revocation", "chain-too-long"] {
        let mut case = load(&vectors_dir().join(name));
        case.limits = Limits::default();
        case.expect = "ok".to_owned();
        case.run()
            .unwrap_or_else(|e| panic!("{name} with default limits: {e}"));
    }
}

#[test]
fn vectors_match_generator() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let names = gen_trust_vectors::generate(tmp.path()).expect("generate vectors");
    let dirs: Vec<String> = case_dirs()
        .iter()
        .map(|d| {
            d.file_name()
                .expect("a name")
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(
        names, dirs,
        "tests/vectors/trust has other vectors than the generator writes; {REGEN}"
    );
    crate::harness::assert_same_tree(
        tmp.path(),
        &vectors_dir(),
        &[],
        "tests/vectors/trust",
        REGEN,
    );
}
