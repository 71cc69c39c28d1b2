//! Trust-policy vectors (`tests/vectors/policy/`) against airlock and against the JSON Schema
//! `formats/policy.schema.json`, validated by Python's `jsonschema` from the venv that
//! `scripts/test` makes; the spec's examples; and a differential check of the grammars airlock
//! and the schema each implement.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use airlock::Limits;
use airlock::policy::{MAX_REFERRER_RULES, MAX_SIGNERS, Policy};
use airlock::signature::envelope::ALGORITHMS;
use serde_json::{Value, json};

use crate::harness;

/// Validates documents against the schema in argv[1]. With more arguments, each is a file;
/// without, each stdin line is one JSON document. Prints one JSON line per document:
/// {"result": "valid" | "invalid" | "not-json", "why": ...}.
const CHECKER: &str = r#"
import json, sys
import jsonschema
with open(sys.argv[1], encoding="utf-8") as f:
    schema = json.load(f)
jsonschema.Draft202012Validator.check_schema(schema)
validator = jsonschema.Draft202012Validator(schema)
def judge(read):
    try:
        doc = read()
    except (ValueError, UnicodeDecodeError) as e:
        return {"result": "not-json", "why": str(e)}
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
    if not errors:
        return {"result": "valid"}
    where = "/".join(str(p) for p in errors[0].absolute_path)
    return {"result": "invalid", "why": (where + ": " + errors[0].message)[:300]}
def from_file(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)
if len(sys.argv) > 2:
    results = [judge(lambda p=p: from_file(p)) for p in sys.argv[2:]]
else:
    results = [judge(lambda l=l: json.loads(l)) for l in sys.stdin.read().splitlines()]
for r in results:
    print(json.dumps(r))
"#;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn vectors() -> PathBuf {
    root().join("tests/vectors/policy")
}

fn schema_path() -> PathBuf {
    root().join("formats/policy.schema.json")
}

/// What the schema says of one document.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Schema {
    Valid,
    Invalid(String),
    NotJson(String),
}

/// Runs the checker; panics, naming `scripts/test`, when python or jsonschema is missing.
fn run_checker(files: &[PathBuf], stdin: Option<String>) -> Vec<Schema> {
    let python = harness::python();
    let mut cmd = Command::new(&python);
    cmd.arg("-c")
        .arg(CHECKER)
        .arg(schema_path())
        .args(files)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| {
        panic!(
            "cannot run {}: {e}; run `bash scripts/test`",
            python.display()
        )
    });
    let mut input = child.stdin.take().expect("stdin was piped");
    let text = stdin.unwrap_or_default();
    let writer = std::thread::spawn(move || input.write_all(text.as_bytes()));
    let out = child.wait_with_output().expect("wait for python");
    writer
        .join()
        .expect("stdin writer thread")
        .expect("write the documents to python");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("No module named 'jsonschema'"),
        "{} cannot import jsonschema; run `bash scripts/test`, which installs it into the venv",
        python.display()
    );
    assert!(
        out.status.success(),
        "the jsonschema checker failed ({}); run `bash scripts/test` to set up the venv\n{stderr}",
        out.status
    );
    String::from_utf8(out.stdout)
        .expect("the checker prints UTF-8")
        .lines()
        .map(|line| {
            let v: Value = serde_json::from_str(line).expect("the checker prints JSON lines");
            let why = v["why"].as_str().unwrap_or_default().to_owned();
            match v["result"].as_str() {
                Some("valid") => Schema::Valid,
                Some("invalid") => Schema::Invalid(why),
                Some("not-json") => Schema::NotJson(why),
                other => panic!("unexpected checker result {other:?}"),
            }
        })
        .collect()
}

/// The `.json` files of one vector directory, sorted.
fn json_files(dir: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(vectors().join(dir))
        .unwrap_or_else(|e| panic!("read {dir}: {e}"))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no vectors in {dir}");
    files
}

fn expected_code(vector: &Path) -> String {
    let expect = vector.with_extension("expect");
    fs::read_to_string(&expect)
        .unwrap_or_else(|e| panic!("{}: {e}", expect.display()))
        .trim()
        .to_owned()
}

fn name(path: &Path) -> String {
    let dir = path
        .parent()
        .and_then(Path::file_name)
        .map(|d| d.to_string_lossy().into_owned())
        .unwrap_or_default();
    let file = path.file_name().map(|f| f.to_string_lossy().into_owned());
    format!("{dir}/{}", file.unwrap_or_default())
}

fn parse_file(path: &Path) -> Result<Policy, airlock::policy::PolicyError> {
    let bytes = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Policy::parse(&bytes, &Limits::default())
}

#[test]
fn valid_vectors_parse_and_match_the_schema() {
    let files = json_files("valid");
    let schema = run_checker(&files, None);
    assert_eq!(schema.len(), files.len());
    for (path, verdict) in files.iter().zip(schema) {
        if let Err(e) = parse_file(path) {
            panic!("{}: airlock refuses it: {e}", name(path));
        }
        assert_eq!(
            verdict,
            Schema::Valid,
            "{}: the schema refuses it",
            name(path)
        );
    }
}

/// Airlock refuses the vector at `path` with the code in its `.expect` file.
fn assert_refused_with_expected_code(path: &Path) {
    let want = expected_code(path);
    match parse_file(path) {
        Ok(p) => panic!("{}: airlock accepts it: {p:?}", name(path)),
        Err(e) => assert_eq!(e.code(), want, "{}: {e}", name(path)),
    }
}

#[test]
fn invalid_vectors_are_refused_by_airlock_and_the_schema() {
    let files = json_files("invalid");
    let schema = run_checker(&files, None);
    assert_eq!(schema.len(), files.len());
    for (path, verdict) in files.iter().zip(schema) {
        assert_refused_with_expected_code(path);
        assert!(
            matches!(verdict, Schema::Invalid(_)),
            "{}: the schema does not refuse it ({verdict:?}); if it cannot, move it to invalid-semantic/",
            name(path)
        );
    }
}

#[test]
fn semantic_vectors_are_refused_by_airlock_and_beyond_the_schema() {
    let files = json_files("invalid-semantic");
    let schema = run_checker(&files, None);
    assert_eq!(schema.len(), files.len());
    for (path, verdict) in files.iter().zip(schema) {
        assert_refused_with_expected_code(path);
        // Kept apart from invalid/ because the schema cannot refuse them; if it now does, the
        // vector belongs in invalid/.
        assert!(
            !matches!(verdict, Schema::Invalid(_)),
            "{}: the schema refuses it ({verdict:?}); move it to invalid/",
            name(path)
        );
    }
}

#[test]
fn every_vector_is_complete_and_listed() {
    let readme = fs::read_to_string(vectors().join("README.md")).expect("README.md");
    for dir in ["valid", "invalid", "invalid-semantic"] {
        for entry in fs::read_dir(vectors().join(dir)).expect("vector directory") {
            let path = entry.expect("directory entry").path();
            match path.extension().and_then(|x| x.to_str()) {
                Some("json") => {
                    let expect = path.with_extension("expect");
                    assert_eq!(
                        expect.exists(),
                        dir != "valid",
                        "{}: an .expect file belongs beside every refused vector, and only there",
                        name(&path)
                    );
                    assert!(
                        readme.contains(&format!("`{}`", name(&path))),
                        "{} is not in tests/vectors/policy/README.md",
                        name(&path)
                    );
                }
                Some("expect") => assert!(
                    path.with_extension("json").exists(),
                    "{} has no .json",
                    name(&path)
                ),
                _ => panic!("{}: unexpected file", name(&path)),
            }
        }
    }
}

/// Every whole policy shown in the spec is a valid vector, byte for byte, so the examples are
/// checked by the tests above.
#[test]
fn spec_examples_are_valid_vectors() {
    let spec = fs::read_to_string(root().join("formats/policy.md")).expect("formats/policy.md");
    let valid: BTreeMap<String, String> = json_files("valid")
        .iter()
        .map(|p| (name(p), fs::read_to_string(p).expect("vector")))
        .collect();
    let mut examples = 0;
    let mut rest = spec.as_str();
    while let Some(start) = rest.find("```json\n") {
        let body = &rest[start + 8..];
        let end = body.find("```").expect("every code block is closed");
        let block = &body[..end];
        rest = &body[end + 3..];
        if !block.starts_with("{\n  \"version\"") {
            continue;
        }
        examples += 1;
        let found = valid.iter().find(|(_, text)| text.as_str() == block);
        let Some((file, _)) = found else {
            panic!(
                "this example in formats/policy.md is not a file in tests/vectors/policy/valid/:\n{block}"
            );
        };
        assert!(
            spec.contains(&format!("tests/vectors/policy/{file}")),
            "formats/policy.md shows {file} without naming it"
        );
    }
    assert!(
        examples >= 5,
        "only {examples} whole examples in formats/policy.md"
    );
}

/// The constants the schema repeats agree with airlock's.
#[test]
fn schema_agrees_with_airlock_constants() {
    let schema: Value =
        serde_json::from_str(&fs::read_to_string(schema_path()).expect("schema")).expect("JSON");
    let names: BTreeSet<&str> = schema["$defs"]["algorithm"]["properties"]["name"]["enum"]
        .as_array()
        .expect("algorithm enum")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let known: BTreeSet<&str> = ALGORITHMS.iter().map(|(_, n, _)| *n).collect();
    assert_eq!(names, known, "the schema's algorithm names");
    assert_eq!(
        schema["properties"]["scopes"]["maxItems"].as_u64(),
        u64::try_from(Limits::default().max_policy_scopes).ok(),
        "scopes maxItems is the default max_policy_scopes"
    );
    assert_eq!(
        schema["$defs"]["names"]["maxItems"].as_u64(),
        u64::try_from(MAX_SIGNERS).ok()
    );
    assert_eq!(
        schema["$defs"]["scope"]["properties"]["referrers"]["maxItems"].as_u64(),
        u64::try_from(MAX_REFERRER_RULES).ok()
    );
}

/// A tiny deterministic generator (xorshift), so the differential test needs no new crate and
/// every run checks the same strings.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<'a>(&mut self, choices: &[&'a str]) -> &'a str {
        let n = u64::try_from(choices.len()).expect("small");
        choices[usize::try_from(self.next() % n).expect("small")]
    }

    /// `len` pieces from `alphabet`, joined.
    fn text(&mut self, alphabet: &[&str], max: u64) -> String {
        let len = self.next() % max + 1;
        (0..len).map(|_| self.pick(alphabet)).collect()
    }

    /// Half the time `text` unchanged; otherwise one character inserted, replaced or removed.
    fn mutate(&mut self, text: String, alphabet: &[&str]) -> String {
        let mut chars: Vec<char> = text.chars().collect();
        let n = u64::try_from(chars.len()).expect("small") + 1;
        let at = usize::try_from(self.next() % n).expect("small");
        let piece: Vec<char> = self.pick(alphabet).chars().collect();
        match self.next() % 6 {
            0 => drop(chars.splice(at..at, piece)),
            1 if at < chars.len() => drop(chars.splice(at..=at, piece)),
            2 if at < chars.len() => drop(chars.remove(at)),
            _ => return text,
        }
        chars.into_iter().collect()
    }
}

/// airlock's grammars (scope, identity, media type, RFC 3339 shape) and the schema's patterns
/// accept the same strings: thousands of generated candidates, near misses included.
#[test]
fn grammars_agree_with_the_schema() {
    let mut rng = Rng(0x5eed_a11c_0de5_1234);
    let scope_parts = [
        "a",
        "z",
        "0",
        "9",
        "r",
        ".",
        "-",
        "_",
        "__",
        "/",
        "/",
        ":",
        "5000",
        "*",
        "/*",
        "[",
        "]",
        "::1",
        "A",
        "example.com",
        "localhost",
        " ",
        "..",
        "--",
        "é",
    ];
    let name_parts = ["a", "0", ".", "_", "-", "A", " ", "/", "acme", "é"];
    let media_parts = [
        "a", "Z", "0", "/", "+", ".", "-", "!", "#", "$", "&", "^", "_", ";", " ", "=", "*", "json",
    ];
    let time_parts = ["0", "1", "9", "T", "Z", ".", ".0", ".5", "+", "-", ":", " "];

    let hosts = [
        "r.example",
        "localhost",
        "127.0.0.1",
        "[::1]",
        "a-b.c0",
        "registry.example.com",
    ];
    let ports = ["", "", ":5000", ":1"];
    let components = [
        "a", "b0", "a.b", "a_b", "a__b", "a--b", "a-b", "prod", "web",
    ];
    let names = ["acme", "acme-prod", "a", "0", "x.y_z-1", "wabbit-networks"];
    let types = ["application", "text", "vnd.a+b", "a", "A0", "x-y!#$&^_.+"];
    let times = [
        "2027-06-01T00:00:00Z",
        "2027-06-01t00:00:00z",
        "2027-06-01T00:00:00.000Z",
        "2027-06-01T02:00:00+02:00",
        "1999-12-31T23:59:59-00:30",
    ];

    let mut cases: Vec<(String, Value)> = Vec::new();
    let signers = json!("any");
    for _ in 0..1500 {
        let mut scope = format!("{}{}", rng.pick(&hosts), rng.pick(&ports));
        for _ in 0..rng.next() % 4 {
            scope.push('/');
            scope.push_str(rng.pick(&components));
        }
        if rng.next().is_multiple_of(2) {
            scope.push_str("/*");
        }
        if rng.next().is_multiple_of(10) {
            scope = rng.text(&scope_parts, 8);
        }
        let scope = rng.mutate(scope, &scope_parts);
        let doc = json!({"version": 1, "scopes": [{"scope": scope, "level": "enforce", "signers": signers}]});
        cases.push((format!("scope {scope:?}"), doc));
    }
    for _ in 0..600 {
        let id = rng.pick(&names).to_owned();
        let id = rng.mutate(id, &name_parts);
        let doc = json!({"version": 1, "scopes": [{"scope": "*", "level": "enforce", "signers": {"any-of": [id]}}]});
        cases.push((format!("identity {id:?}"), doc));
    }
    for len in [63, 64, 65] {
        let id = "a".repeat(len);
        let doc = json!({"version": 1, "scopes": [{"scope": "*", "level": "enforce", "signers": {"any-of": [id]}}]});
        cases.push((format!("identity of {len} characters"), doc));
    }
    for _ in 0..600 {
        let mt = format!("{}/{}", rng.pick(&types), rng.pick(&types));
        let mt = rng.mutate(mt, &media_parts);
        let doc = json!({"version": 1, "scopes": [{"scope": "*", "level": "enforce", "signers": "any",
            "referrers": [{"artifactType": mt, "signers": "any"}]}]});
        cases.push((format!("artifactType {mt:?}"), doc));
    }
    for _ in 0..400 {
        let t = rng.pick(&times).to_owned();
        let t = rng.mutate(t, &time_parts);
        let doc = json!({"version": 1, "scopes": [{"scope": "*", "level": "enforce", "signers": "any",
            "algorithms": [{"name": "EdDSA", "not-after": t}]}]});
        cases.push((format!("not-after {t:?}"), doc));
    }
    let lines: String = cases.iter().map(|(_, d)| format!("{d}\n")).collect();
    let verdicts = run_checker(&[], Some(lines));
    assert_eq!(verdicts.len(), cases.len());

    let mut accepted = 0;
    let mut calendar_only = 0;
    for ((what, doc), verdict) in cases.iter().zip(verdicts) {
        let airlock = Policy::parse(doc.to_string().as_bytes(), &Limits::default());
        let schema_ok = match &verdict {
            Schema::Valid => true,
            Schema::Invalid(_) => false,
            Schema::NotJson(why) => panic!("{what}: python cannot read it: {why}"),
        };
        // Mutations may break the calendar (month 13, hour 24), which the schema's shape
        // check cannot see: those are the only disagreements allowed.
        let calendar = what.starts_with("not-after")
            && schema_ok
            && airlock.as_ref().is_err_and(|e| e.code() == "invalid-time");
        if calendar {
            calendar_only += 1;
            continue;
        }
        assert_eq!(
            airlock.is_ok(),
            schema_ok,
            "{what}: airlock says {airlock:?}, the schema {verdict:?}"
        );
        accepted += usize::from(airlock.is_ok());
    }
    // The generator must reach both sides of every grammar, not just the refusals.
    assert!(
        accepted > 1000,
        "only {accepted} generated policies were valid"
    );
    assert!(
        calendar_only < 40,
        "{calendar_only} calendar-only disagreements"
    );
}
