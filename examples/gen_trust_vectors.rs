//! Regenerates the trust-model attack vectors: `tests/vectors/trust/<case>/` holds one attack
//! each, with its signed documents (`root-1.cose`, `revocation-1.cose`, …), a `case.json` that
//! says what to do with them and which `TrustError::code()` the last step must fail with (or
//! `ok`), and a one-paragraph `README`.
//!
//! Run `cargo run --example gen_trust_vectors -- tests/vectors/trust`. The output is
//! deterministic (fixed Ed25519 seeds, a fixed P-384 scalar with RFC 6979 nonces, fixed times):
//! the test `trust_vectors::vectors_match_generator` runs [`generate`] into a temporary directory
//! and requires every file to be byte-identical to the checked-in one (STYLE.md, point 11).
//!
//! `case.json`:
//!
//! ```json
//! {
//!   "now": "2026-06-01T00:00:00Z",
//!   "pin": "root-1.cose",
//!   "pin_digest": "sha256:…",
//!   "limits": {"max_trust_document_bytes": 4096},
//!   "steps": [
//!     {"op": "update-roots", "files": ["root-2.cose", "root-3.cose"], "now": "…"},
//!     {"op": "import-revocation", "file": "revocation-1.cose"},
//!     {"op": "observe", "now": "…"}
//!   ],
//!   "expect": "skipped-version"
//! }
//! ```
//!
//! Pin `pin` in an empty trust store at `now` (against `pin_digest` when given, else the file's
//! own SHA-256), then run the steps in order, each at its own `now` or the case's. Every step but
//! the last must succeed; the last must fail with `expect` (when there are no steps, the pin is
//! the last step), or succeed when `expect` is `ok`. `limits` overrides `airlock::Limits` fields
//! for the whole case.

use std::collections::BTreeMap;
use std::error::Error;
use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use airlock::key::PrivateKey;
use airlock::revocation::{Entry, SignedSnapshot, Snapshot};
use airlock::time::{Seconds, format_rfc3339};
use airlock::trust::root::{Role, RoleName};
use airlock::trust::signed::{DocKind, SignedDocument};
use airlock::trust::{SignedRoot, TrustRoot};
use airlock::{Digest, Limits};
use ciborium::Value;
use serde::Serialize;

type Result<T> = std::result::Result<T, Box<dyn Error>>;

const DAY: Seconds = 86_400;
/// 2026-01-01T00:00:00Z: the first root is issued.
const JAN1: Seconds = 1_767_225_600;
/// 2026-05-01T00:00:00Z: the first revocation snapshot is issued.
const MAY1: Seconds = JAN1 + 120 * DAY;
/// 2026-06-01T00:00:00Z: the time every case runs at unless a step says otherwise.
pub(crate) const NOW: Seconds = JAN1 + 151 * DAY;

/// The name of the file in each vector directory that describes the case.
pub(crate) const CASE_FILE: &str = "case.json";

/// One vector: a directory of files and its `case.json`.
#[derive(Debug)]
pub(crate) struct Vector {
    /// Directory name, and the attack.
    pub(crate) name: &'static str,
    /// The attack, in one line (for `README.md`).
    summary: &'static str,
    /// The attack and what airlock must do, in one paragraph.
    pub(crate) readme: &'static str,
    /// The input files, by name.
    files: Vec<(String, Vec<u8>)>,
    /// What to do with them.
    case: Case,
}

impl Vector {
    /// The `TrustError::code()` the last step must fail with, or `ok`.
    pub(crate) fn expect(&self) -> &str {
        &self.case.expect
    }
}

/// `case.json`.
#[derive(Debug, Serialize)]
struct Case {
    now: String,
    pin: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pin_digest: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    limits: BTreeMap<&'static str, u64>,
    steps: Vec<Step>,
    expect: String,
}

/// One step of `case.json`.
#[derive(Debug, Serialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
enum Step {
    UpdateRoots {
        files: Vec<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        now: Option<String>,
    },
    ImportRevocation {
        file: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        now: Option<String>,
    },
    Observe {
        now: String,
    },
}

fn update(files: &[&str]) -> Step {
    Step::UpdateRoots {
        files: files.iter().map(|f| (*f).to_owned()).collect(),
        now: None,
    }
}

fn import(file: &str) -> Step {
    Step::ImportRevocation {
        file: file.to_owned(),
        now: None,
    }
}

fn import_at(file: &str, now: Seconds) -> Step {
    Step::ImportRevocation {
        file: file.to_owned(),
        now: Some(format_rfc3339(now)),
    }
}

fn observe(now: Seconds) -> Step {
    Step::Observe {
        now: format_rfc3339(now),
    }
}

/// Writes every vector into `out` (one directory each, replacing vector directories left over
/// from an earlier run) and its `README.md`, and returns the vector names.
pub(crate) fn generate(out: &Path) -> Result<Vec<&'static str>> {
    let vectors = vectors()?;
    fs::create_dir_all(out)?;
    for entry in fs::read_dir(out)? {
        let path = entry?.path();
        // Only directories that look like vectors are removed: never anything else in `out`.
        if path.is_dir() && path.join(CASE_FILE).is_file() {
            fs::remove_dir_all(&path)?;
        }
    }
    fs::write(out.join("README.md"), top_readme(&vectors)?)?;
    for v in &vectors {
        let dir = out.join(v.name);
        fs::create_dir_all(&dir)?;
        for (name, bytes) in &v.files {
            fs::write(dir.join(name), bytes)?;
        }
        let mut case = serde_json::to_vec_pretty(&v.case)?;
        case.push(b'\n');
        fs::write(dir.join(CASE_FILE), case)?;
        fs::write(dir.join("README"), format!("{}\n", v.readme))?;
    }
    Ok(vectors.iter().map(|v| v.name).collect())
}

#[allow(dead_code, clippy::print_stdout, clippy::print_stderr)]
fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [out] = args.as_slice() else {
        eprintln!("usage: cargo run --example gen_trust_vectors -- tests/vectors/trust");
        return std::process::ExitCode::from(2);
    };
    match generate(Path::new(out)) {
        Ok(names) => {
            println!("wrote {} trust vectors to {out}", names.len());
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
        "# Trust-model attack vectors\n\n\
         Generated by `cargo run --example gen_trust_vectors -- tests/vectors/trust`; do not edit\n\
         by hand. `tests/it/trust_vectors.rs` runs every case through `airlock::trust::TrustStore`\n\
         and checks the files are byte-identical to the generator's output.\n\n\
         Each directory holds the signed documents of one attack (`root-N.cose`,\n\
         `revocation-N.cose`, COSE_Sign as in `formats/trust-root.md`), a one-paragraph `README`\n\
         and `case.json`:\n\n\
         - `now`: the time (RFC 3339) the case runs at;\n\
         - `pin`: the root file pinned first, in an empty trust store, at `now`;\n\
         - `pin_digest` (optional): the digest given out of band for it (else its own SHA-256);\n\
         - `limits` (optional): overrides of `airlock::Limits` fields for the whole case;\n\
         - `steps`: `{\"op\": \"update-roots\", \"files\": [...]}`,\n  \
         `{\"op\": \"import-revocation\", \"file\": ...}` or `{\"op\": \"observe\"}`, each with an\n  \
         optional `now` of its own (`observe` requires one);\n\
         - `expect`: the `TrustError::code()` the last step must fail with (the pin, when there\n  \
         are no steps), every earlier step succeeding; or `ok` when every step must succeed.\n\n\
         The keys are fixed: Ed25519 from the seeds `[n; 32]` (1 root, 2 revocation, 3 bundle,\n\
         4 the replacement revocation key, 5 a second root key, 6 an attacker, 100 and up a fleet\n\
         of signer keys) and one P-384 key from the scalar `[0x44; 48]`.\n\n\
         | vector | expect | attack |\n|---|---|---|\n",
    );
    for v in vectors {
        writeln!(s, "| `{}` | `{}` | {} |", v.name, v.expect(), v.summary)?;
    }
    Ok(s)
}

// ---------------------------------------------------------------------------------------------
// Keys, roots and snapshots.

/// The fixed keys.
struct Keys {
    root: PrivateKey,
    revocation: PrivateKey,
    bundle: PrivateKey,
    new_revocation: PrivateKey,
    second_root: PrivateKey,
    attacker: PrivateKey,
    p384: PrivateKey,
    fleet: Vec<PrivateKey>,
}

impl Keys {
    fn new() -> Result<Keys> {
        let ed = |n: u8| PrivateKey::from_ed25519_seed(&[n; 32]);
        Ok(Keys {
            root: ed(1)?,
            revocation: ed(2)?,
            bundle: ed(3)?,
            new_revocation: ed(4)?,
            second_root: ed(5)?,
            attacker: ed(6)?,
            p384: PrivateKey::from_p384_scalar(&[0x44; 48])?,
            fleet: (100..140).map(ed).collect::<std::result::Result<_, _>>()?,
        })
    }
}

/// A trust root to build: the `root` role's keys and threshold, one revocation key, one bundle
/// key (also the signer identity `acme-prod`), and optionally a signer identity `fleet`.
#[derive(Clone)]
struct RootSpec<'k> {
    version: u64,
    issued_at: Seconds,
    expires: Seconds,
    root: Vec<&'k PrivateKey>,
    threshold: usize,
    revocation: &'k PrivateKey,
    bundle: &'k PrivateKey,
    fleet: Vec<&'k PrivateKey>,
}

fn role(keys: &[&PrivateKey], threshold: usize) -> Role {
    Role {
        keys: keys.iter().map(|k| k.id()).collect(),
        threshold,
    }
}

impl<'k> RootSpec<'k> {
    /// Version `version` of the usual root: root key 1, revocation key 2, bundle key 3, issued
    /// 30 days after the previous version and valid for a year.
    fn base(keys: &'k Keys, version: u64) -> RootSpec<'k> {
        let issued_at = JAN1 + (version as Seconds - 1) * 30 * DAY;
        RootSpec {
            version,
            issued_at,
            expires: issued_at + 365 * DAY,
            root: vec![&keys.root],
            threshold: 1,
            revocation: &keys.revocation,
            bundle: &keys.bundle,
            fleet: Vec::new(),
        }
    }

    fn build(&self) -> TrustRoot {
        let all = self
            .root
            .iter()
            .chain([&self.revocation, &self.bundle])
            .chain(&self.fleet);
        let mut signers = BTreeMap::from([("acme-prod".to_owned(), role(&[self.bundle], 1))]);
        if !self.fleet.is_empty() {
            signers.insert("fleet".to_owned(), role(&self.fleet, 1));
        }
        TrustRoot {
            version: self.version,
            issued_at: self.issued_at,
            expires: self.expires,
            keys: all.map(|k| (k.id(), k.public().clone())).collect(),
            roles: BTreeMap::from([
                (RoleName::Root, role(&self.root, self.threshold)),
                (RoleName::Revocation, role(&[self.revocation], 1)),
                (RoleName::Bundle, role(&[self.bundle], 1)),
            ]),
            signers,
        }
    }

    /// The root file, signed by `by` in that order.
    fn signed(&self, by: &[&PrivateKey]) -> Result<Vec<u8>> {
        let mut root = SignedRoot::unsigned(self.build(), &Limits::default())?;
        for k in by {
            root.sign(k)?;
        }
        Ok(root.to_vec())
    }
}

/// A revoked-content digest, by number.
fn bad_digest(n: u32) -> Digest {
    Digest::sha256_of(format!("bad image {n}").as_bytes())
}

/// Snapshot `version`, issued `version - 1` days after May 1 and valid for 90 days, revoking
/// the digests numbered in `digests` and the keys in `keys`.
fn snapshot(version: u64, digests: &[u32], keys: &[&PrivateKey]) -> Snapshot {
    let issued_at = MAY1 + (version as Seconds - 1) * DAY;
    Snapshot {
        version,
        issued_at,
        expires: issued_at + 90 * DAY,
        keys: keys
            .iter()
            .map(|k| {
                (
                    k.id(),
                    Entry {
                        revoked_at: MAY1 - DAY,
                        reason: "private key leaked".to_owned(),
                    },
                )
            })
            .collect(),
        digests: digests
            .iter()
            .map(|n| {
                (
                    bad_digest(*n),
                    Entry {
                        revoked_at: MAY1 - 2 * DAY,
                        reason: format!("build {n} shipped malware"),
                    },
                )
            })
            .collect(),
    }
}

fn sign_snapshot(s: Snapshot, by: &[&PrivateKey]) -> Result<Vec<u8>> {
    let mut doc = SignedSnapshot::unsigned(s);
    for k in by {
        doc.sign(k)?;
    }
    Ok(doc.to_vec())
}

// ---------------------------------------------------------------------------------------------
// Hand-assembled documents: edits of the COSE_Sign array the library will not write.

/// The `COSE_Sign_Tagged` array of `bytes`, edited by `f` and re-encoded.
fn edit_cose(bytes: &[u8], f: impl FnOnce(&mut Vec<Value>) -> Result<()>) -> Result<Vec<u8>> {
    let mut v: Value = ciborium::from_reader(bytes)?;
    let Value::Tag(98, inner) = &mut v else {
        return Err("not a COSE_Sign_Tagged message".into());
    };
    let Value::Array(items) = inner.as_mut() else {
        return Err("COSE_Sign is not an array".into());
    };
    f(items)?;
    let mut out = Vec::new();
    ciborium::into_writer(&v, &mut out)?;
    Ok(out)
}

fn signatures(items: &mut [Value]) -> Result<&mut Vec<Value>> {
    match items.get_mut(3) {
        Some(Value::Array(s)) if !s.is_empty() => Ok(s),
        _ => Err("no signatures".into()),
    }
}

/// The document with its first `COSE_Signature` appended again.
fn duplicate_first_signature(bytes: &[u8]) -> Result<Vec<u8>> {
    edit_cose(bytes, |items| {
        let sigs = signatures(items)?;
        let first = sigs[0].clone();
        sigs.push(first);
        Ok(())
    })
}

/// The document with one bit of the first signature's first byte flipped.
fn flip_signature_bit(bytes: &[u8]) -> Result<Vec<u8>> {
    edit_cose(bytes, |items| {
        let sigs = signatures(items)?;
        match &mut sigs[0] {
            Value::Array(sig) => match sig.get_mut(2) {
                Some(Value::Bytes(b)) if !b.is_empty() => {
                    b[0] ^= 0x01;
                    Ok(())
                }
                _ => Err("the signature is not a byte string".into()),
            },
            _ => Err("a COSE_Signature is not an array".into()),
        }
    })
}

/// `root` with its payload's top-level map in reverse order (not the deterministic encoding),
/// signed properly over those bytes by `by`.
fn non_canonical_root(root: &TrustRoot, by: &[&PrivateKey]) -> Result<Vec<u8>> {
    let mut v: Value = ciborium::from_reader(root.to_cbor().as_slice())?;
    let Value::Map(entries) = &mut v else {
        return Err("a root is a map".into());
    };
    entries.reverse();
    let mut payload = Vec::new();
    ciborium::into_writer(&v, &mut payload)?;
    let mut doc = SignedDocument::new(DocKind::Root, payload);
    for k in by {
        doc.add_signature(k)?;
    }
    Ok(doc.to_vec())
}

// ---------------------------------------------------------------------------------------------
// The vectors.

/// A vector pinned at `root-1.cose` and run at [`NOW`].
fn vector(
    (name, summary): (&'static str, &'static str),
    readme: &'static str,
    expect: &str,
    files: Vec<(&str, Vec<u8>)>,
    steps: Vec<Step>,
) -> Vector {
    Vector {
        name,
        summary,
        readme,
        files: files.into_iter().map(|(n, b)| (n.to_owned(), b)).collect(),
        case: Case {
            now: format_rfc3339(NOW),
            pin: "root-1.cose".to_owned(),
            pin_digest: None,
            limits: BTreeMap::new(),
            steps,
            expect: expect.to_owned(),
        },
    }
}

fn with_limits(mut v: Vector, limits: &[(&'static str, u64)]) -> Vector {
    v.case.limits = limits.iter().copied().collect();
    v
}

#[allow(clippy::too_many_lines)]
fn vectors() -> Result<Vec<Vector>> {
    let k = Keys::new()?;
    let root1 = RootSpec::base(&k, 1).signed(&[&k.root])?;
    let root = |v: u64| RootSpec::base(&k, v);
    let mut out = Vec::new();

    // Positive controls.
    let mut r2 = root(2);
    (r2.root, r2.expires) = (vec![&k.p384], r2.issued_at + 30 * DAY);
    let mut r3 = root(3);
    r3.root = vec![&k.p384];
    out.push(vector(
        (
            "rotation-ok",
            "v1 → v2 → v3 in one update; v2 expired, v3 fresh",
        ),
        "A rotation from version 1 to 3 in one update: version 2 moves the root role from the \
         Ed25519 root key to a P-384 key (signed by both) and has already expired at `now`; \
         version 3 is signed by the P-384 key and is fresh. Airlock must accept both versions, \
         because only the newest root of an update must be fresh, and trust version 3.",
        "ok",
        vec![
            ("root-1.cose", root1.clone()),
            ("root-2.cose", r2.signed(&[&k.root, &k.p384])?),
            ("root-3.cose", r3.signed(&[&k.p384])?),
        ],
        vec![update(&["root-2.cose", "root-3.cose"])],
    ));
    out.push(vector(
        (
            "revocation-ok",
            "snapshot v1, then v2 keeping v1's entry and adding two",
        ),
        "Two revocation snapshots signed by the revocation key: version 1 revokes one digest, \
         version 2 keeps it and adds a key and a second digest. Airlock must accept both and keep \
         version 2.",
        "ok",
        vec![
            ("root-1.cose", root1.clone()),
            (
                "revocation-1.cose",
                sign_snapshot(snapshot(1, &[1], &[]), &[&k.revocation])?,
            ),
            (
                "revocation-2.cose",
                sign_snapshot(snapshot(2, &[1, 2], &[&k.attacker]), &[&k.revocation])?,
            ),
        ],
        vec![import("revocation-1.cose"), import("revocation-2.cose")],
    ));

    // Rollback.
    out.push(vector(
        ("rollback-root", "root v1 offered again after v2"),
        "Rollback of the trust root: after version 2 is accepted, version 1 (genuine, correctly \
         signed) is offered again, as an attacker replaying an old root whose keys may since have \
         leaked would. Airlock must refuse it with `rollback` and keep version 2.",
        "rollback",
        vec![
            ("root-1.cose", root1.clone()),
            ("root-2.cose", root(2).signed(&[&k.root])?),
        ],
        vec![update(&["root-2.cose"]), update(&["root-1.cose"])],
    ));
    out.push(vector(
        ("rollback-revocation", "snapshot v1 offered again after v2"),
        "Rollback of revocation: after snapshot version 2 (which revokes a second digest) is \
         accepted, version 1 is offered again to un-revoke it. Airlock must refuse it with \
         `rollback`.",
        "rollback",
        vec![
            ("root-1.cose", root1.clone()),
            (
                "revocation-1.cose",
                sign_snapshot(snapshot(1, &[1], &[]), &[&k.revocation])?,
            ),
            (
                "revocation-2.cose",
                sign_snapshot(snapshot(2, &[1, 2], &[]), &[&k.revocation])?,
            ),
        ],
        vec![
            import("revocation-1.cose"),
            import("revocation-2.cose"),
            import("revocation-1.cose"),
        ],
    ));

    // Equivocation.
    let mut other2 = root(2);
    other2.bundle = &k.attacker;
    out.push(vector(
        (
            "equivocation-root",
            "a second, different root v2 after v2 was accepted",
        ),
        "Equivocation: two different trust roots of version 2, both signed by the root key. After \
         one is accepted, the other (which makes an attacker's key the bundle key) is offered. \
         Airlock must refuse it with `version-conflict`: one version has one content.",
        "version-conflict",
        vec![
            ("root-1.cose", root1.clone()),
            ("root-2.cose", root(2).signed(&[&k.root])?),
            ("root-2-other.cose", other2.signed(&[&k.root])?),
        ],
        vec![update(&["root-2.cose"]), update(&["root-2-other.cose"])],
    ));
    out.push(vector(
        (
            "equivocation-revocation",
            "a second, different snapshot v1 after v1 was accepted",
        ),
        "Equivocation: two different revocation snapshots of version 1, both signed by the \
         revocation key, one revoking digest 1 and the other digest 2. After the first is \
         accepted, airlock must refuse the second with `version-conflict`.",
        "version-conflict",
        vec![
            ("root-1.cose", root1.clone()),
            (
                "revocation-1.cose",
                sign_snapshot(snapshot(1, &[1], &[]), &[&k.revocation])?,
            ),
            (
                "revocation-1-other.cose",
                sign_snapshot(snapshot(1, &[2], &[]), &[&k.revocation])?,
            ),
        ],
        vec![
            import("revocation-1.cose"),
            import("revocation-1-other.cose"),
        ],
    ));

    // Freeze.
    let mut stale2 = root(2);
    stale2.expires = stale2.issued_at + 30 * DAY;
    out.push(vector(
        ("freeze-root", "the newest root offered has expired"),
        "Freeze: an attacker who withholds newer roots offers version 2, correctly signed but \
         expired at `now`. Airlock must refuse a newest root that has expired with `expired`.",
        "expired",
        vec![
            ("root-1.cose", root1.clone()),
            ("root-2.cose", stale2.signed(&[&k.root])?),
        ],
        vec![update(&["root-2.cose"])],
    ));
    let mut stale = snapshot(1, &[1], &[]);
    (stale.issued_at, stale.expires) = (JAN1 + 10 * DAY, JAN1 + 40 * DAY);
    out.push(vector(
        ("freeze-revocation", "the snapshot offered has expired"),
        "Freeze: an attacker who withholds newer revocation snapshots offers version 1, correctly \
         signed but expired at `now`, so that revocations published since stay unknown. Airlock \
         must refuse it with `expired`.",
        "expired",
        vec![
            ("root-1.cose", root1.clone()),
            ("revocation-1.cose", sign_snapshot(stale, &[&k.revocation])?),
        ],
        vec![import("revocation-1.cose")],
    ));

    // Mix-and-match.
    let mut new_rev = root(2);
    new_rev.revocation = &k.new_revocation;
    out.push(vector(
        (
            "mix-and-match",
            "after v2 replaced the revocation key, a snapshot signed by the old one",
        ),
        "Mix-and-match: root version 2 replaces the revocation key (say it leaked). A snapshot \
         signed by the old revocation key, valid under version 1, is then offered. Airlock must \
         judge snapshots by the current root's revocation role only and refuse it with \
         `wrong-role`.",
        "wrong-role",
        vec![
            ("root-1.cose", root1.clone()),
            ("root-2.cose", new_rev.signed(&[&k.root])?),
            (
                "revocation-1.cose",
                sign_snapshot(snapshot(1, &[1], &[]), &[&k.revocation])?,
            ),
        ],
        vec![update(&["root-2.cose"]), import("revocation-1.cose")],
    ));
    out.push(vector(
        (
            "snapshot-signed-by-root-key",
            "a snapshot signed by a root-role key outside the revocation role",
        ),
        "Mix-and-match across roles: a revocation snapshot signed by the root key, which is in \
         the root role but not in the revocation role. Each role signs only its own documents; \
         airlock must refuse it with `wrong-role`.",
        "wrong-role",
        vec![
            ("root-1.cose", root1.clone()),
            (
                "revocation-1.cose",
                sign_snapshot(snapshot(1, &[1], &[]), &[&k.root])?,
            ),
        ],
        vec![import("revocation-1.cose")],
    ));

    // A key revoked by the stored snapshot signs nothing more.
    out.push(vector(
        (
            "revoked-signer",
            "a snapshot signed by a revocation key the stored snapshot revokes",
        ),
        "A stolen key after its revocation: the revocation key leaked, so snapshot 1 (signed by \
         it before the thief could act) revokes that very key. The thief then signs snapshot 2 \
         with it, to extend the expiry and freeze the feed. A key the stored snapshot revokes \
         counts for no role any more; airlock must refuse snapshot 2 with `revoked-signer`.",
        "revoked-signer",
        vec![
            ("root-1.cose", root1.clone()),
            (
                "revocation-1.cose",
                sign_snapshot(snapshot(1, &[1], &[&k.revocation]), &[&k.revocation])?,
            ),
            (
                "revocation-2.cose",
                sign_snapshot(snapshot(2, &[1], &[&k.revocation]), &[&k.revocation])?,
            ),
        ],
        vec![import("revocation-1.cose"), import("revocation-2.cose")],
    ));

    // Thresholds and signatures.
    let two = |v: u64| {
        let mut r = root(v);
        (r.root, r.threshold) = (vec![&k.root, &k.second_root], 2);
        r
    };
    let two1 = two(1).signed(&[&k.root, &k.second_root])?;
    out.push(vector(
        (
            "threshold-root",
            "root role threshold 2, rotation signed by one old key",
        ),
        "Threshold: the root role has two keys and threshold 2; a rotation to version 2 is signed \
         by only one of them (one stolen key). Airlock must refuse it with `threshold`.",
        "threshold",
        vec![
            ("root-1.cose", two1.clone()),
            ("root-2.cose", two(2).signed(&[&k.root])?),
        ],
        vec![update(&["root-2.cose"])],
    ));
    out.push(vector(
        (
            "duplicate-signature",
            "root role threshold 2, one key's COSE_Signature included twice",
        ),
        "Threshold inflation: the root role has two keys and threshold 2; a rotation to version 2 \
         carries the same COSE_Signature by one key twice. Airlock must refuse the document with \
         `duplicate-signature` rather than count one key twice.",
        "duplicate-signature",
        vec![
            ("root-1.cose", two1),
            (
                "root-2.cose",
                duplicate_first_signature(&two(2).signed(&[&k.root])?)?,
            ),
        ],
        vec![update(&["root-2.cose"])],
    ));
    out.push(vector(
        (
            "invalid-signature",
            "one bit of the root key's signature on v2 flipped",
        ),
        "Tampering: root version 2 signed by the root key, with one bit of the signature flipped. \
         A signature by a key of the role that does not verify is an error, never skipped: \
         airlock must refuse it with `invalid-signature`.",
        "invalid-signature",
        vec![
            ("root-1.cose", root1.clone()),
            (
                "root-2.cose",
                flip_signature_bit(&root(2).signed(&[&k.root])?)?,
            ),
        ],
        vec![update(&["root-2.cose"])],
    ));
    let mut to_p384 = root(2);
    to_p384.root = vec![&k.p384];
    out.push(vector(
        (
            "rotation-new-keys-only",
            "v2 moves the root role to a new key, signed by the new key only",
        ),
        "Hijack: root version 2 moves the root role to a new key and is signed only by that new \
         key, as an attacker's self-made root would be. A rotation needs a threshold of the old \
         root role too: airlock must refuse it with `wrong-role`.",
        "wrong-role",
        vec![
            ("root-1.cose", root1.clone()),
            ("root-2.cose", to_p384.signed(&[&k.p384])?),
        ],
        vec![update(&["root-2.cose"])],
    ));
    out.push(vector(
        (
            "rotation-old-keys-only",
            "v2 moves the root role to a new key, signed by the old key only",
        ),
        "Unaccepted rotation: root version 2 moves the root role to a new key but is signed only \
         by the old key, so the new role never showed it holds its keys. A rotation needs a \
         threshold of the new root role too: airlock must refuse it with `wrong-role`.",
        "wrong-role",
        vec![
            ("root-1.cose", root1.clone()),
            ("root-2.cose", to_p384.signed(&[&k.root])?),
        ],
        vec![update(&["root-2.cose"])],
    ));

    // Versions.
    out.push(vector(
        ("skipped-version", "v3 offered after v1, without v2"),
        "Skipped version: after version 1, version 3 is offered without version 2 (which might \
         have revoked the key that signed version 3). Each rotation goes to exactly the next \
         version: airlock must refuse it with `skipped-version`.",
        "skipped-version",
        vec![
            ("root-1.cose", root1.clone()),
            ("root-3.cose", root(3).signed(&[&k.root])?),
        ],
        vec![update(&["root-3.cose"])],
    ));
    out.push(with_limits(
        vector(
            (
                "chain-too-long",
                "three new root versions at once, `max_root_chain` 2",
            ),
            "Endless rotation: three new root versions in one update, with `max_root_chain` \
             lowered to 2. Airlock must refuse the update with `chain-too-long` before checking \
             any signature.",
            "chain-too-long",
            vec![
                ("root-1.cose", root1.clone()),
                ("root-2.cose", root(2).signed(&[&k.root])?),
                ("root-3.cose", root(3).signed(&[&k.root])?),
                ("root-4.cose", root(4).signed(&[&k.root])?),
            ],
            vec![update(&["root-2.cose", "root-3.cose", "root-4.cose"])],
        ),
        &[("max_root_chain", 2)],
    ));

    // Clock.
    let observed = NOW + 9 * DAY;
    out.push(vector(
        ("clock-rollback", "observe at T, then import at T − 1 day"),
        "Clock rollback: the store observes 2026-06-10, then a snapshot is imported with the clock \
         reading one day earlier (set back to make an expired document look fresh). The clock may \
         not read more than the skew (5 minutes) before the latest time observed: airlock must \
         refuse with `clock-rollback`.",
        "clock-rollback",
        vec![
            ("root-1.cose", root1.clone()),
            (
                "revocation-1.cose",
                sign_snapshot(snapshot(1, &[1], &[]), &[&k.revocation])?,
            ),
        ],
        vec![
            observe(observed),
            import_at("revocation-1.cose", observed - DAY),
        ],
    ));

    // Endless data.
    let mut fleet2 = root(2);
    fleet2.fleet = k.fleet.iter().collect();
    out.push(with_limits(
        vector(
            (
                "endless-root",
                "a 9.5 KiB root, `max_trust_document_bytes` 4096",
            ),
            "Endless data: root version 2 names 40 more signer keys, making the file larger than \
             `max_trust_document_bytes`, lowered to 4096. Airlock must refuse it with `too-large` \
             before decoding it.",
            "too-large",
            vec![
                ("root-1.cose", root1.clone()),
                ("root-2.cose", fleet2.signed(&[&k.root])?),
            ],
            vec![update(&["root-2.cose"])],
        ),
        &[("max_trust_document_bytes", 4096)],
    ));
    out.push(with_limits(
        vector(
            (
                "endless-revocation",
                "9 entries, `max_revocation_entries` 8",
            ),
            "Endless data: a revocation snapshot with 9 entries while `max_revocation_entries` is \
             lowered to 8. Airlock must refuse it with `too-large` before reading the entries.",
            "too-large",
            vec![
                ("root-1.cose", root1.clone()),
                (
                    "revocation-1.cose",
                    sign_snapshot(
                        snapshot(1, &[1, 2, 3, 4, 5, 6, 7, 8, 9], &[]),
                        &[&k.revocation],
                    )?,
                ),
            ],
            vec![import("revocation-1.cose")],
        ),
        &[("max_revocation_entries", 8)],
    ));

    // Append-only revocation.
    out.push(vector(
        ("removed-entry", "snapshot v2 drops an entry of v1"),
        "Un-revocation: snapshot version 2, correctly signed, drops the digest entry that version \
         1 revoked. Entries are never removed: airlock must refuse it with `removed-entry`.",
        "removed-entry",
        vec![
            ("root-1.cose", root1.clone()),
            (
                "revocation-1.cose",
                sign_snapshot(snapshot(1, &[1, 2], &[]), &[&k.revocation])?,
            ),
            (
                "revocation-2.cose",
                sign_snapshot(snapshot(2, &[2], &[]), &[&k.revocation])?,
            ),
        ],
        vec![import("revocation-1.cose"), import("revocation-2.cose")],
    ));

    // Pinning and encoding.
    let mut impostor = root(1);
    impostor.root = vec![&k.attacker];
    let mut pin_mismatch = vector(
        (
            "pin-mismatch",
            "an impostor first root against the genuine root's pinned digest",
        ),
        "Substituted first root: `root-1.cose` is an attacker's self-signed root, while the \
         digest given out of band (`pin_digest`) is the genuine root's. Nothing is trusted on \
         first use: airlock must refuse to pin it with `pin-mismatch`.",
        "pin-mismatch",
        vec![("root-1.cose", impostor.signed(&[&k.attacker])?)],
        vec![],
    );
    pin_mismatch.case.pin_digest = Some(Digest::sha256_of(&root1).to_string());
    out.push(pin_mismatch);
    out.push(vector(
        (
            "non-canonical",
            "root v2 with its payload map keys reordered, properly signed",
        ),
        "Malleable encoding: root version 2 whose payload map keys are in reverse order (valid \
         CBOR, but not the deterministic encoding), properly signed over those bytes. A document \
         has exactly one encoding: airlock must refuse it with `non-canonical`.",
        "non-canonical",
        vec![
            ("root-1.cose", root1.clone()),
            (
                "root-2.cose",
                non_canonical_root(&root(2).build(), &[&k.root])?,
            ),
        ],
        vec![update(&["root-2.cose"])],
    ));

    out.sort_by_key(|v| v.name);
    Ok(out)
}
