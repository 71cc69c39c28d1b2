//! Benchmark: reading trust documents (trust roots and revocation snapshots, `COSE_Sign` over
//! deterministic CBOR) at the default limits: the largest legitimate documents, and hostile ones
//! that must be refused fast and in little memory. Single-threaded.
//!
//! The method and the latest figures are in `docs/performance.md`, section "Trust documents".
//! There is no time target. The benchmark exits with status 1 when a document's outcome is not
//! the expected one (accepted, or refused with a given [`TrustError::code`]), so that no row can
//! be timing another path than the one it names.
//!
//! Run with `cargo bench --bench trust_documents` (release profile, plain `main`, no harness),
//! pinned to one core with `taskset -c 0` for figures worth recording. `scripts/bench --trust`
//! does that, then records the peak RSS of `airlock trust show FILE` on every document.
//!
//! Every document is a file of at most `max_trust_document_bytes` (16 MiB), signed (untimed) by
//! one Ed25519 key, so that a hostile payload gets past the `COSE_Sign` checks and reaches the
//! payload decoder. Documents, by name:
//!
//! - `root-3`: the root every snapshot here is verified against (3 keys, one per role).
//!   Accepted. `scripts/bench` pins it in a trust store and imports `snapshot-100k` there.
//! - `snapshot-100k`: the largest realistic revocation snapshot, `max_revocation_entries`
//!   entries (half keys, half digests; reasons of about 40 bytes). Accepted.
//! - `root-1000`: a root with `max_trust_keys` keys and as many signer identities, one key each.
//!   Accepted.
//! - `root-1000x200`: the same keys, each identity listing 200 of them: near 16 MiB and still
//!   within every limit. Accepted.
//! - `map-16m`, `map-16m-reversed`: a snapshot whose payload is one map of as many distinct
//!   integer keys (null values) as fit in 16 MiB, in canonical order and reversed.
//! - `map-cap`, `map-cap-reversed`: the same with as many entries as the decoder's item cap
//!   admits, so that the tree is built and the key order checked.
//! - `arrays-16m`, `arrays-cap`: a snapshot whose payload is one array of empty arrays (`0x80`),
//!   as many as fit in 16 MiB, and as many as the item cap admits.
//! - `root-keys-1m`, `root-keys-cap`: a root whose `keys` map has 1 000 000 entries (short text
//!   keys, one-character text values), and as many as the item cap admits.
//!
//! Rows: for every document, `parse + verify` ([`SignedSnapshot::parse`] then
//! [`SignedSnapshot::verify`], or [`SignedRoot::parse`] then [`SignedRoot::verify_self`]: what
//! `airlock` does with a document once its bytes are read). For the accepted ones, also
//! `COSE_Sign only` ([`SignedDocument::parse`]), `payload only` ([`Snapshot::from_cbor`] or
//! [`TrustRoot::from_cbor`]) and `signatures only` (verify on a document parsed beforehand).
//!
//! Environment:
//!
//! - `AIRLOCK_BENCH_REPS`: timed rounds (default 5), after one untimed warm-up round. The rounds
//!   are interleaved: each round runs every row once (a row faster than 50 ms as many times as
//!   make 50 ms, recording the time per call).
//! - `AIRLOCK_BENCH_TRUST_ENTRIES`: entries of `snapshot-100k` (default `max_revocation_entries`,
//!   100 000).
//! - `AIRLOCK_BENCH_TRUST_CASES`: comma-separated document names (default: all).
//! - `AIRLOCK_BENCH_TRUST_OUT`: a directory to write every document into, as `<name>.cose`,
//!   with `cases.tsv` (name, kind, expected outcome, bytes, path; one line each).
//! - `AIRLOCK_BENCH_TRUST_PARSE=KIND:FILE` (`KIND` is `root` or `revocation`): builds and times
//!   nothing; reads `FILE`, parses and verifies it once as above, prints the outcome (`ok` or the
//!   error code) and exits. Run under `/usr/bin/time -f %M`, this gives the library's peak RSS
//!   for one document in a fresh process, apart from what the CLI adds.
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a benchmark prints its table on stdout and its progress on stderr"
)]

#[allow(dead_code)] // Each bench uses part of it.
mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::error::Error;
use std::fs;
use std::hint::black_box;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use airlock::Limits;
use airlock::digest::Digest;
use airlock::key::{KeyId, PrivateKey, PublicKey};
use airlock::revocation::{Entry, SignedSnapshot, Snapshot};
use airlock::trust::{DocKind, Role, RoleName, SignedDocument, SignedRoot, TrustError, TrustRoot};

type Result<T> = std::result::Result<T, Box<dyn Error>>;

/// Documents are valid for a year, from a day before the benchmark runs (so that `scripts/bench`
/// can install them in a trust store).
const VALIDITY: i64 = 365 * 86_400;
/// Signer identities of `root-1000x200` list this many keys each.
const FAT_IDENTITY_KEYS: usize = 200;
/// Entries of `root-keys-1m`.
const HOSTILE_ROOT_KEYS: usize = 1_000_000;
/// A row's timing lasts at least this long (see [`run_rounds`]).
const MIN_TIMING: Duration = Duration::from_millis(50);

struct Config {
    reps: usize,
    entries: Option<usize>,
    cases: Option<BTreeSet<String>>,
    out: Option<PathBuf>,
}

impl Config {
    fn from_env() -> Result<Config> {
        let number = |name: &str| -> Result<Option<usize>> {
            match std::env::var(name) {
                Ok(v) => v
                    .trim()
                    .replace('_', "")
                    .parse::<usize>()
                    .map(Some)
                    .map_err(|_| format!("{name}={v:?} is not a number").into()),
                Err(_) => Ok(None),
            }
        };
        let cases = std::env::var("AIRLOCK_BENCH_TRUST_CASES").ok().map(|v| {
            v.split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect()
        });
        Ok(Config {
            reps: number("AIRLOCK_BENCH_REPS")?.unwrap_or(5).max(1),
            entries: number("AIRLOCK_BENCH_TRUST_ENTRIES")?,
            cases,
            out: std::env::var_os("AIRLOCK_BENCH_TRUST_OUT").map(PathBuf::from),
        })
    }

    fn wants(&self, name: &str) -> bool {
        self.cases.as_ref().is_none_or(|c| c.contains(name))
    }
}

/// A fixed Ed25519 key per `n`.
fn key(n: u32) -> Result<PrivateKey> {
    let mut seed = [0x5eu8; 32];
    seed[..4].copy_from_slice(&n.to_le_bytes());
    Ok(PrivateKey::from_ed25519_seed(&seed)?)
}

fn role(keys: &[&PublicKey], threshold: usize) -> Role {
    Role {
        keys: keys.iter().map(|k| k.id()).collect(),
        threshold,
    }
}

/// The keys every document is signed with, and the root that names them.
struct Signers {
    issued_at: i64,
    expires: i64,
    root_key: PrivateKey,
    revocation_key: PrivateKey,
    /// Roles `root`, `revocation`, `bundle` (one key each); one identity, `acme-prod`.
    root: TrustRoot,
}

impl Signers {
    fn new() -> Result<Signers> {
        let (root_key, revocation_key, bundle_key) = (key(0)?, key(1)?, key(2)?);
        let all = [&root_key, &revocation_key, &bundle_key];
        let issued_at = airlock::time::now() - 86_400;
        let expires = issued_at + VALIDITY;
        let root = TrustRoot {
            version: 1,
            issued_at,
            expires,
            keys: all.iter().map(|k| (k.id(), k.public().clone())).collect(),
            roles: BTreeMap::from([
                (RoleName::Root, role(&[root_key.public()], 1)),
                (RoleName::Revocation, role(&[revocation_key.public()], 1)),
                (RoleName::Bundle, role(&[bundle_key.public()], 1)),
            ]),
            signers: BTreeMap::from([("acme-prod".to_owned(), role(&[bundle_key.public()], 1))]),
        };
        Ok(Signers {
            issued_at,
            expires,
            root_key,
            revocation_key,
            root,
        })
    }
}

/// One document and the outcome it must have.
struct Doc {
    name: &'static str,
    kind: DocKind,
    what: String,
    bytes: Vec<u8>,
    /// `None`: accepted; `Some(code)`: refused with that [`TrustError::code`].
    expect: Option<&'static str>,
    /// What the first parse said: `accepted`, or the refusal's message.
    outcome: String,
}

impl Doc {
    fn expected(&self) -> &'static str {
        self.expect.unwrap_or("ok")
    }
}

/// Parses and verifies `bytes` as a document of `kind`, the way `airlock` reads one.
fn parse_and_verify(kind: DocKind, bytes: &[u8], root: &TrustRoot, limits: &Limits) -> Outcome {
    match kind {
        DocKind::Revocation => SignedSnapshot::parse(bytes, limits)
            .and_then(|s| s.verify(root).map(|_| black_box(s).version())),
        DocKind::Root => SignedRoot::parse(bytes, limits)
            .and_then(|r| r.verify_self().map(|_| black_box(r).version())),
    }
}

type Outcome = std::result::Result<u64, TrustError>;

/// `Ok(())` when `outcome` is what `doc` expects; the refusal's message otherwise.
fn check(doc: &Doc, outcome: &Outcome) -> Result<()> {
    let got = match outcome {
        Ok(_) => "ok",
        Err(e) => e.code(),
    };
    if got == doc.expected() {
        return Ok(());
    }
    let detail = match outcome {
        Ok(_) => "accepted".to_owned(),
        Err(e) => format!("{}: {e}", e.code()),
    };
    Err(format!("{}: expected {}, got {detail}", doc.name, doc.expected()).into())
}

/// Wraps `payload` (any bytes) in a `COSE_Sign` of `kind` signed by `key`.
fn wrap(kind: DocKind, payload: Vec<u8>, key: &PrivateKey) -> Result<Vec<u8>> {
    let mut doc = SignedDocument::new(kind, payload);
    doc.add_signature(key)?;
    Ok(doc.to_vec())
}

/// The largest payload whose signed file still fits `max_trust_document_bytes`.
fn payload_budget(limits: &Limits, key: &PrivateKey) -> Result<usize> {
    // A payload over 65 535 bytes has the same 5-byte head as one of 16 MiB.
    const PROBE: usize = 100_000;
    let overhead = wrap(DocKind::Revocation, vec![0; PROBE], key)?.len() - PROBE;
    Ok(usize::try_from(limits.max_trust_document_bytes)? - overhead)
}

/// Appends a CBOR head (major type and argument) in its shortest form.
fn head(out: &mut Vec<u8>, major: u8, n: u64) {
    let m = major << 5;
    if n < 24 {
        out.push(m | n as u8);
    } else if n <= 0xff {
        out.extend_from_slice(&[m | 24, n as u8]);
    } else if n <= 0xffff {
        out.push(m | 25);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else if n <= 0xffff_ffff {
        out.push(m | 26);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    } else {
        out.push(m | 27);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn head_len(n: u64) -> usize {
    match n {
        0..24 => 1,
        24..=0xff => 2,
        0x100..=0xffff => 3,
        0x1_0000..=0xffff_ffff => 5,
        _ => 9,
    }
}

fn text(out: &mut Vec<u8>, s: &str) {
    head(out, 3, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

/// A map of `n` integer keys `0..n` with null values, ascending (canonical) or descending.
fn int_map(n: u64, reversed: bool) -> Vec<u8> {
    let mut out = Vec::new();
    head(&mut out, 5, n);
    let mut put = |i: u64| {
        head(&mut out, 0, i);
        out.push(0xf6);
    };
    if reversed {
        (0..n).rev().for_each(&mut put);
    } else {
        (0..n).for_each(&mut put);
    }
    out
}

/// The most entries `int_map` can hold in `budget` bytes.
fn int_map_fit(budget: usize) -> u64 {
    let (mut n, mut size) = (0u64, 0usize);
    while size + head_len(n) + 1 + head_len(n + 1) <= budget {
        size += head_len(n) + 1;
        n += 1;
    }
    n
}

/// An array of `n` empty arrays.
fn empty_arrays(n: u64) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(usize::try_from(n)? + 9);
    head(&mut out, 4, n);
    out.resize(out.len() + usize::try_from(n)?, 0x80);
    Ok(out)
}

/// A root payload, deterministically encoded, whose `keys` map has `n` entries with distinct
/// 6-character text keys and the value `"x"`, and whose other fields are well-formed. (A text
/// value costs the decoder a heap allocation per item, where `null` costs none: this is the
/// most memory per encoded byte found.)
fn root_with_key_map(n: usize, s: &Signers) -> Vec<u8> {
    let mut keys = Vec::with_capacity(n * 9 + 5);
    head(&mut keys, 5, n as u64);
    for i in 0..n {
        // Equal lengths, so the encodings sort as the hex does.
        text(&mut keys, &format!("{i:06x}"));
        text(&mut keys, "x");
    }
    let uint = |v: u64| {
        let mut b = Vec::new();
        head(&mut b, 0, v);
        b
    };
    let mut type_name = Vec::new();
    text(&mut type_name, DocKind::Root.type_name());
    let mut fields: Vec<(&str, Vec<u8>)> = vec![
        ("type", type_name),
        ("version", uint(1)),
        ("issued-at", uint(s.issued_at as u64)),
        ("expires", uint(s.expires as u64)),
        ("keys", keys),
        ("roles", vec![0xa0]),
        ("signers", vec![0xa0]),
    ];
    // Short text keys sort by length, then by bytes.
    fields.sort_by(|a, b| (a.0.len(), a.0).cmp(&(b.0.len(), b.0)));
    let mut out = Vec::new();
    head(&mut out, 5, fields.len() as u64);
    for (k, v) in fields {
        text(&mut out, k);
        out.extend_from_slice(&v);
    }
    out
}

/// The decoder's item cap at `limits`, read from its refusal of an array that exceeds any cap.
fn item_cap(limits: &Limits, s: &Signers, budget: usize) -> Result<u64> {
    let probe = wrap(
        DocKind::Revocation,
        empty_arrays(budget as u64 - 5)?,
        &s.revocation_key,
    )?;
    let e = match SignedSnapshot::parse(&probe, limits) {
        Ok(_) => return Err("a 16 MiB array of empty arrays was accepted".into()),
        Err(e) => e.to_string(),
    };
    e.split("more than ")
        .nth(1)
        .and_then(|rest| rest.strip_suffix(" data items"))
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("cannot read the item cap from the refusal {e:?}").into())
}

/// The legitimate snapshot: `entries` entries, half keys and half digests.
fn big_snapshot(entries: usize, s: &Signers) -> Result<Vec<u8>> {
    let revoked = |i: usize| s.issued_at - 86_400 * 30 + i as i64;
    let keys = (0..entries / 2)
        .map(|i| {
            let id = KeyId::of_spki(format!("airlock bench revoked key {i}").as_bytes());
            let reason = format!("key leaked from CI runner, incident {i:06}");
            (
                id,
                Entry {
                    revoked_at: revoked(i),
                    reason,
                },
            )
        })
        .collect();
    let digests = (0..entries - entries / 2)
        .map(|i| {
            let d = Digest::sha256_of(format!("airlock bench revoked blob {i}").as_bytes());
            let reason = format!("malware found in layer, advisory {i:06}");
            (
                d,
                Entry {
                    revoked_at: revoked(i),
                    reason,
                },
            )
        })
        .collect();
    let snapshot = Snapshot {
        version: 7,
        issued_at: s.issued_at,
        expires: s.expires,
        keys,
        digests,
    };
    let mut doc = SignedSnapshot::unsigned(snapshot);
    doc.sign(&s.revocation_key)?;
    Ok(doc.to_vec())
}

/// A root with `n` keys and `n` signer identities; identity `i` lists keys `i .. i + per`
/// (modulo `n`). Roles use keys 0, 1 and 2.
fn big_root(n: usize, per: usize, s: &Signers, limits: &Limits) -> Result<Vec<u8>> {
    let keys: Vec<PrivateKey> = (0..n)
        .map(|i| key(1000 + i as u32))
        .collect::<Result<_>>()?;
    let public = |i: usize| keys[i % n].public();
    let signers = (0..n)
        .map(|i| {
            let list: Vec<&PublicKey> = (i..i + per).map(public).collect();
            (format!("team-{i:04}"), role(&list, 1))
        })
        .collect();
    let root = TrustRoot {
        version: 1,
        issued_at: s.issued_at,
        expires: s.expires,
        keys: keys.iter().map(|k| (k.id(), k.public().clone())).collect(),
        roles: BTreeMap::from([
            (RoleName::Root, role(&[public(0)], 1)),
            (RoleName::Revocation, role(&[public(1)], 1)),
            (RoleName::Bundle, role(&[public(2)], 1)),
        ]),
        signers,
    };
    let mut doc = SignedRoot::unsigned(root, limits)?;
    doc.sign(&keys[0])?;
    Ok(doc.to_vec())
}

/// Builds the documents `cfg` asks for (untimed) and checks each one's outcome once.
fn build(cfg: &Config, limits: &Limits, s: &Signers) -> Result<Vec<Doc>> {
    let budget = payload_budget(limits, &s.revocation_key)?;
    let cap = item_cap(limits, s, budget)?;
    eprintln!("payload budget {budget} bytes; decoder item cap {cap} items");
    let entries = cfg.entries.unwrap_or(limits.max_revocation_entries);
    let revocation = |payload: Vec<u8>| wrap(DocKind::Revocation, payload, &s.revocation_key);
    let root = |payload: Vec<u8>| wrap(DocKind::Root, payload, &s.root_key);
    let map_16m = int_map_fit(budget);
    // The map and its entries are items; the top-level map is one of them.
    let map_cap = (cap - 1) / 2;
    // The root map (1), its 7 keys and 6 small values, the keys map (1), 2 items per entry.
    let root_cap = usize::try_from((cap - 15) / 2)?;
    type Make<'a> = Box<dyn Fn() -> Result<Vec<u8>> + 'a>;
    let specs: Vec<(
        &'static str,
        DocKind,
        String,
        Option<&'static str>,
        Make<'_>,
    )> = vec![
        (
            "root-3",
            DocKind::Root,
            "root, 3 keys, 1 identity: verifies every snapshot here".to_owned(),
            None,
            Box::new(|| {
                let mut doc = SignedRoot::unsigned(s.root.clone(), limits)?;
                doc.sign(&s.root_key)?;
                Ok(doc.to_vec())
            }),
        ),
        (
            "snapshot-100k",
            DocKind::Revocation,
            format!(
                "snapshot, {} keys + {} digests, reasons ~40 B",
                entries / 2,
                entries - entries / 2
            ),
            None,
            Box::new(move || big_snapshot(entries, s)),
        ),
        (
            "root-1000",
            DocKind::Root,
            format!(
                "root, {0} keys, {0} identities x 1 key",
                limits.max_trust_keys
            ),
            None,
            Box::new(|| big_root(limits.max_trust_keys, 1, s, limits)),
        ),
        (
            "root-1000x200",
            DocKind::Root,
            format!(
                "root, {0} keys, {0} identities x {FAT_IDENTITY_KEYS} keys",
                limits.max_trust_keys
            ),
            None,
            Box::new(|| big_root(limits.max_trust_keys, FAT_IDENTITY_KEYS, s, limits)),
        ),
        (
            "map-16m",
            DocKind::Revocation,
            format!("payload: map of {map_16m} int keys, canonical"),
            Some("malformed"),
            Box::new(move || revocation(int_map(map_16m, false))),
        ),
        (
            "map-16m-reversed",
            DocKind::Revocation,
            format!("payload: map of {map_16m} int keys, reversed"),
            Some("malformed"),
            Box::new(move || revocation(int_map(map_16m, true))),
        ),
        (
            "map-cap",
            DocKind::Revocation,
            format!("payload: map of {map_cap} int keys, canonical"),
            Some("malformed"),
            Box::new(move || revocation(int_map(map_cap, false))),
        ),
        (
            "map-cap-reversed",
            DocKind::Revocation,
            format!("payload: map of {map_cap} int keys, reversed"),
            Some("non-canonical"),
            Box::new(move || revocation(int_map(map_cap, true))),
        ),
        (
            "arrays-16m",
            DocKind::Revocation,
            format!("payload: array of {} empty arrays", budget - 5),
            Some("malformed"),
            Box::new(move || revocation(empty_arrays(budget as u64 - 5)?)),
        ),
        (
            "arrays-cap",
            DocKind::Revocation,
            format!("payload: array of {} empty arrays", cap - 1),
            Some("malformed"),
            Box::new(move || revocation(empty_arrays(cap - 1)?)),
        ),
        (
            "root-keys-1m",
            DocKind::Root,
            format!("root whose keys map has {HOSTILE_ROOT_KEYS} entries"),
            Some("malformed"),
            Box::new(move || root(root_with_key_map(HOSTILE_ROOT_KEYS, s))),
        ),
        (
            "root-keys-cap",
            DocKind::Root,
            format!("root whose keys map has {root_cap} entries"),
            Some("too-large"),
            Box::new(move || root(root_with_key_map(root_cap, s))),
        ),
    ];
    let mut docs = Vec::new();
    for (name, kind, what, expect, make) in specs {
        if !cfg.wants(name) {
            continue;
        }
        let started = Instant::now();
        let bytes = make()?;
        if bytes.len() as u64 > limits.max_trust_document_bytes {
            return Err(format!("{name}: {} bytes, over the limit", bytes.len()).into());
        }
        let mut doc = Doc {
            name,
            kind,
            what,
            bytes,
            expect,
            outcome: String::new(),
        };
        let outcome = parse_and_verify(kind, &doc.bytes, &s.root, limits);
        check(&doc, &outcome)?;
        doc.outcome = match &outcome {
            Ok(_) => "accepted".to_owned(),
            Err(e) => e.to_string(),
        };
        eprintln!(
            "built {name}: {} bytes in {:.1} s; {}",
            doc.bytes.len(),
            started.elapsed().as_secs_f64(),
            doc.outcome
        );
        docs.push(doc);
    }
    if let Some(unknown) = cfg
        .cases
        .iter()
        .flatten()
        .find(|c| !docs.iter().any(|d| d.name == c.as_str()))
    {
        return Err(format!("AIRLOCK_BENCH_TRUST_CASES: no document named {unknown:?}").into());
    }
    Ok(docs)
}

/// Writes every document into `dir` as `<name>.cose`, with `cases.tsv`.
fn write_out(dir: &Path, docs: &[Doc]) -> Result<()> {
    fs::create_dir_all(dir)?;
    let mut tsv = String::new();
    for d in docs {
        let path = dir.join(format!("{}.cose", d.name));
        fs::write(&path, &d.bytes)?;
        let kind = match d.kind {
            DocKind::Root => "root",
            DocKind::Revocation => "revocation",
        };
        tsv.push_str(&format!(
            "{}\t{kind}\t{}\t{}\t{}\n",
            d.name,
            d.expected(),
            d.bytes.len(),
            path.display()
        ));
    }
    fs::write(dir.join("cases.tsv"), tsv)?;
    eprintln!(
        "wrote {} documents and cases.tsv to {}",
        docs.len(),
        dir.display()
    );
    Ok(())
}

/// A timed operation, returning its elapsed time.
type Run<'a> = Box<dyn FnMut() -> Result<Duration> + 'a>;

/// One measured row and its timings.
struct Row<'a> {
    doc: &'a Doc,
    name: &'static str,
    run: Run<'a>,
    /// Calls per timing, set by the warm-up so that one timing lasts at least [`MIN_TIMING`].
    calls: u32,
    /// Time per call, one per round.
    times: Vec<Duration>,
}

impl Row<'_> {
    fn best(&self) -> Duration {
        common::best(&self.times)
    }

    fn median(&self) -> Duration {
        common::median(&self.times)
    }
}

/// The rows for one document. Every run checks its result.
fn rows<'a>(doc: &'a Doc, root: &'a TrustRoot, limits: &'a Limits) -> Result<Vec<Row<'a>>> {
    let row = |name: &'static str, run: Run<'a>| Row {
        doc,
        name,
        run,
        calls: 1,
        times: Vec::new(),
    };
    let mut out = vec![row(
        "parse + verify",
        Box::new(move || {
            let start = Instant::now();
            let outcome = parse_and_verify(doc.kind, black_box(&doc.bytes), root, limits);
            let elapsed = start.elapsed();
            check(doc, &outcome)?;
            Ok(elapsed)
        }),
    )];
    if doc.expect.is_some() {
        return Ok(out);
    }
    out.push(row(
        "COSE_Sign only",
        Box::new(move || {
            let start = Instant::now();
            black_box(SignedDocument::parse(
                black_box(&doc.bytes),
                Some(doc.kind),
                limits,
            )?);
            Ok(start.elapsed())
        }),
    ));
    let parsed = SignedDocument::parse(&doc.bytes, Some(doc.kind), limits)?;
    let payload = parsed.payload().to_vec();
    out.push(row(
        "payload only",
        Box::new(move || {
            let start = Instant::now();
            match doc.kind {
                DocKind::Revocation => {
                    black_box(Snapshot::from_cbor(black_box(&payload), limits)?);
                }
                DocKind::Root => {
                    black_box(TrustRoot::from_cbor(black_box(&payload), limits)?);
                }
            }
            Ok(start.elapsed())
        }),
    ));
    let verify: Run<'a> = match doc.kind {
        DocKind::Revocation => {
            let s = SignedSnapshot::parse(&doc.bytes, limits)?;
            Box::new(move || {
                let start = Instant::now();
                black_box(black_box(&s).verify(root)?);
                Ok(start.elapsed())
            })
        }
        DocKind::Root => {
            let r = SignedRoot::parse(&doc.bytes, limits)?;
            Box::new(move || {
                let start = Instant::now();
                black_box(black_box(&r).verify_self()?);
                Ok(start.elapsed())
            })
        }
    };
    out.push(row("signatures only", verify));
    Ok(out)
}

/// Runs every row once untimed, then `reps` rounds of every row in turn. A row whose call takes
/// less than [`MIN_TIMING`] is called repeatedly within a timing (the count is set from the
/// warm-up) and its time per call recorded, so that one scheduler tick does not decide it.
fn run_rounds(rows: &mut [Row<'_>], reps: usize) -> Result<()> {
    for round in 0..=reps {
        if round == 0 {
            eprint!("warm-up:");
        } else {
            eprint!("round {round}/{reps}:");
        }
        for row in rows.iter_mut() {
            let mut total = Duration::ZERO;
            for _ in 0..row.calls {
                total += (row.run)()?;
            }
            let t = total / row.calls;
            eprint!(" {:.2}", t.as_secs_f64() * 1e3);
            if round == 0 {
                let per = t.as_secs_f64().max(1e-7);
                row.calls = (MIN_TIMING.as_secs_f64() / per)
                    .ceil()
                    .clamp(1.0, 100_000.0) as u32;
            } else {
                row.times.push(t);
            }
        }
        eprintln!(" ms");
    }
    Ok(())
}

/// `AIRLOCK_BENCH_TRUST_PARSE`: one parse and verify of one file, nothing else.
fn parse_one(spec: &str, limits: &Limits, signers: &Signers) -> Result<ExitCode> {
    let (kind, path) = match spec.split_once(':') {
        Some(("root", p)) => (DocKind::Root, p),
        Some(("revocation", p)) => (DocKind::Revocation, p),
        _ => {
            return Err(format!(
                "AIRLOCK_BENCH_TRUST_PARSE={spec:?}: expected root:FILE or revocation:FILE"
            )
            .into());
        }
    };
    let bytes = fs::read(path).map_err(|e| format!("{path}: {e}"))?;
    let outcome = parse_and_verify(kind, &bytes, &signers.root, limits);
    match &outcome {
        Ok(_) => println!("ok"),
        Err(e) => println!("{}\t{e}", e.code()),
    }
    Ok(ExitCode::SUCCESS)
}

fn main() -> Result<ExitCode> {
    let cfg = Config::from_env()?;
    let limits = Limits::default();
    let signers = Signers::new()?;
    if let Ok(spec) = std::env::var("AIRLOCK_BENCH_TRUST_PARSE") {
        return parse_one(&spec, &limits, &signers);
    }
    let docs = match build(&cfg, &limits, &signers) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    if let Some(dir) = &cfg.out {
        write_out(dir, &docs)?;
    }
    let mut all = Vec::new();
    for d in &docs {
        all.extend(rows(d, &signers.root, &limits)?);
    }
    let load_before = common::load_average();
    if let Err(e) = run_rounds(&mut all, cfg.reps) {
        eprintln!("\nerror: {e}");
        return Ok(ExitCode::FAILURE);
    }
    let load_after = common::load_average();

    let mut out = std::io::stdout().lock();
    writeln!(out)?;
    writeln!(
        out,
        "default limits: max_trust_document_bytes {}, max_revocation_entries {}, max_trust_keys {}",
        limits.max_trust_document_bytes, limits.max_revocation_entries, limits.max_trust_keys
    )?;
    writeln!(
        out,
        "single thread; CPUs allowed: {}; {} interleaved rounds after a warm-up",
        common::proc_field("/proc/self/status", "Cpus_allowed_list"),
        cfg.reps
    )?;
    writeln!(
        out,
        "cpu: {}; load average before: {load_before}; after: {load_after}",
        common::proc_field("/proc/cpuinfo", "model name")
    )?;
    writeln!(out)?;
    writeln!(
        out,
        "{:<17} {:<16} {:>9} {:>10} {:>10} {:>8} {:>6}  outcome",
        "document", "row", "bytes", "median ms", "best ms", "MB/s", "calls"
    )?;
    let mut previous = "";
    for r in &all {
        let first = r.doc.name != previous;
        if first && !previous.is_empty() {
            writeln!(out)?;
        }
        previous = r.doc.name;
        let median = r.median().as_secs_f64();
        writeln!(
            out,
            "{:<17} {:<16} {:>9} {:>10.3} {:>10.3} {:>8.0} {:>6}  {}",
            if first { r.doc.name } else { "" },
            r.name,
            r.doc.bytes.len(),
            median * 1e3,
            r.best().as_secs_f64() * 1e3,
            r.doc.bytes.len() as f64 / 1e6 / median,
            r.calls,
            if first { r.doc.expected() } else { "" },
        )?;
    }
    writeln!(out)?;
    for d in &docs {
        writeln!(out, "{:<17} {}", d.name, d.what)?;
        writeln!(out, "{:<17}   -> {}", "", d.outcome)?;
    }
    Ok(ExitCode::SUCCESS)
}
