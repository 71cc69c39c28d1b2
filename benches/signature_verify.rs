//! Benchmark: parsing and verifying signature envelopes (`COSE_Sign1`), Ed25519 and ECDSA P-384,
//! single-threaded.
//!
//! The target, the method and the latest figures are in `docs/performance.md`, section
//! "Signature verification". The target is that 10 000 distinct Ed25519 envelopes parse and
//! verify end to end in well under a second on one core; P-384 runs at whatever rate the `p384`
//! crate allows. The benchmark prints a verdict on the Ed25519 target and exits with status 1
//! when it is missed.
//!
//! Run with `cargo bench --bench signature_verify` (release profile, plain `main`, no harness),
//! pinned to one core with `taskset -c 0` for figures worth recording (`scripts/bench
//! --signatures` does that). The benchmark itself never starts a thread.
//!
//! Every envelope is signed (untimed) over its own target, so no two envelopes or payloads are
//! the same. Rows:
//!
//! - `parse + verify`: [`Envelope::parse`] then [`Envelope::verify`] (key id, algorithm, the
//!   signature over the `Sig_structure`, the payload against the target, the expiry): what
//!   `airlock verify` does per signature once the envelope's bytes are read.
//! - `parse only`: [`Envelope::parse`] alone (CBOR decode, structure and header checks).
//! - `verify only`: [`Envelope::verify`] on envelopes parsed beforehand.
//! - `signature only`: [`Envelope::verify_signature`] (builds the `Sig_structure`, then checks).
//! - `payload only`: [`parse_payload`] of the embedded payload, the JSON part of `verify`.
//! - `raw PublicKey::verify`: the algorithm crate through `airlock::key`, over each envelope's
//!   exact `Sig_structure` bytes and signature, taken apart with `coset` beforehand. This is the
//!   ceiling for the rows above.
//!
//! Environment:
//!
//! - `AIRLOCK_BENCH_REPS`: timed rounds (default 5), after one untimed warm-up round. The
//!   rounds are interleaved: each round runs every case once.
//! - `AIRLOCK_BENCH_SIG_ED25519`: number of Ed25519 envelopes (default 10 000; 0 skips them and
//!   the verdict).
//! - `AIRLOCK_BENCH_SIG_P384`: number of P-384 envelopes (default 1 000; 0 skips them).
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a benchmark prints its table on stdout and its progress on stderr"
)]

#[allow(dead_code)] // Each bench uses part of it.
mod common;

use std::error::Error;
use std::hint::black_box;
use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use airlock::Limits;
use airlock::digest::Digest;
use airlock::key::{KeyAlgorithm, PrivateKey, PublicKey};
use airlock::media;
use airlock::signature::envelope::{self, parse_payload};
use airlock::signature::{Envelope, SignOptions, Target};
use coset::{CoseSign1, TaggedCborSerializable as _};

type Result<T> = std::result::Result<T, Box<dyn Error>>;

/// The target: this many Ed25519 envelopes, parsed and verified end to end...
const TARGET_ENVELOPES: usize = 10_000;
/// ...in less than this, on one core.
const TARGET_SECONDS: f64 = 1.0;
/// 2026-11-22T00:00:00Z: the signing time written into every envelope.
const SIGNING_TIME: i64 = 1_795_305_600;
/// A year later: every envelope carries an expiry, so `verify` checks it.
const EXPIRY: i64 = SIGNING_TIME + 365 * 86_400;
/// The time of verification, between the two.
const NOW: i64 = SIGNING_TIME + 86_400;

/// Row names the summary looks up.
const END_TO_END: &str = "parse + verify (end to end)";
const RAW: &str = "raw PublicKey::verify (crate ceiling)";

struct Config {
    reps: usize,
    ed25519: usize,
    p384: usize,
}

impl Config {
    fn from_env() -> Result<Config> {
        let number = |name: &str, default: usize| -> Result<usize> {
            match std::env::var(name) {
                Ok(v) => v
                    .trim()
                    .replace('_', "")
                    .parse::<usize>()
                    .map_err(|_| format!("{name}={v:?} is not a number").into()),
                Err(_) => Ok(default),
            }
        };
        Ok(Config {
            reps: number("AIRLOCK_BENCH_REPS", 5)?.max(1),
            ed25519: number("AIRLOCK_BENCH_SIG_ED25519", TARGET_ENVELOPES)?,
            p384: number("AIRLOCK_BENCH_SIG_P384", 1_000)?,
        })
    }
}

/// The signed material of one algorithm: a key, and `n` envelopes over `n` distinct targets.
struct Corpus {
    algorithm: KeyAlgorithm,
    public: PublicKey,
    targets: Vec<Target>,
    /// The envelopes' bytes, as they would be read from the layout.
    bytes: Vec<Vec<u8>>,
    /// The same, parsed once (for the rows that leave parsing out).
    parsed: Vec<Envelope>,
    /// `(Sig_structure, signature)` of each envelope, for the raw-crypto reference.
    raw: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Corpus {
    fn len(&self) -> usize {
        self.targets.len()
    }

    fn mean_bytes(&self) -> f64 {
        let total: usize = self.bytes.iter().map(Vec::len).sum();
        total as f64 / self.len().max(1) as f64
    }
}

/// A distinct manifest descriptor per `i`: its own digest and size.
fn target(i: usize) -> Target {
    Target {
        media_type: media::OCI_MANIFEST.to_owned(),
        digest: Digest::sha256_of(format!("airlock signature bench manifest {i}").as_bytes()),
        size: 400 + (i as u64 % 4096),
    }
}

/// Generates a key and signs `n` distinct targets with it (untimed), then checks every envelope
/// once so that the timed rows cannot be measuring a failure path.
fn prepare(algorithm: KeyAlgorithm, n: usize) -> Result<Corpus> {
    let started = Instant::now();
    let key = PrivateKey::generate(algorithm)?;
    let options = SignOptions {
        signing_time: SIGNING_TIME,
        expiry: Some(EXPIRY),
        agent: Some(format!("airlock/{}", env!("CARGO_PKG_VERSION"))),
    };
    let max = Limits::default().max_envelope_bytes;
    let mut corpus = Corpus {
        algorithm,
        public: key.public().clone(),
        targets: Vec::with_capacity(n),
        bytes: Vec::with_capacity(n),
        parsed: Vec::with_capacity(n),
        raw: Vec::with_capacity(n),
    };
    for i in 0..n {
        let t = target(i);
        let bytes = envelope::sign(&key, &t, &options)?;
        let parsed = Envelope::parse(&bytes, max)?;
        parsed.verify(&corpus.public, &t, NOW)?;
        let sign1 = CoseSign1::from_tagged_slice(&bytes)
            .map_err(|e| format!("coset: envelope {i}: {e}"))?;
        let tbs = sign1.tbs_data(b"");
        corpus.public.verify(&tbs, &sign1.signature)?;
        corpus.raw.push((tbs, sign1.signature));
        corpus.targets.push(t);
        corpus.bytes.push(bytes);
        corpus.parsed.push(parsed);
    }
    eprintln!(
        "signed {n} {algorithm} envelopes (mean {:.0} bytes) in {:.1} s",
        corpus.mean_bytes(),
        started.elapsed().as_secs_f64()
    );
    Ok(corpus)
}

/// A timed operation over a whole corpus, returning its elapsed time.
type Run<'a> = Box<dyn FnMut() -> Result<Duration> + 'a>;

/// One measured case and its timings.
struct Case<'a> {
    algorithm: KeyAlgorithm,
    name: &'static str,
    count: usize,
    run: Run<'a>,
    times: Vec<Duration>,
}

impl Case<'_> {
    fn best(&self) -> Duration {
        common::best(&self.times)
    }

    fn median(&self) -> Duration {
        common::median(&self.times)
    }

    fn per_second(&self, d: Duration) -> f64 {
        self.count as f64 / d.as_secs_f64()
    }

    fn micros_each(&self, d: Duration) -> f64 {
        d.as_secs_f64() * 1e6 / self.count.max(1) as f64
    }
}

/// The rows for one corpus. Every run checks every result, so a broken envelope is an error,
/// not a fast row.
fn cases<'a>(c: &'a Corpus) -> Vec<Case<'a>> {
    let max = Limits::default().max_envelope_bytes;
    let case = |name: &'static str, run: Run<'a>| Case {
        algorithm: c.algorithm,
        name,
        count: c.len(),
        run,
        times: Vec::new(),
    };
    vec![
        case(
            END_TO_END,
            Box::new(move || {
                let start = Instant::now();
                for (bytes, t) in c.bytes.iter().zip(&c.targets) {
                    let env = Envelope::parse(black_box(bytes), max)?;
                    env.verify(&c.public, t, NOW)?;
                    black_box(&env);
                }
                Ok(start.elapsed())
            }),
        ),
        case(
            "parse only",
            Box::new(move || {
                let start = Instant::now();
                for bytes in &c.bytes {
                    black_box(Envelope::parse(black_box(bytes), max)?);
                }
                Ok(start.elapsed())
            }),
        ),
        case(
            "verify only (signature + payload)",
            Box::new(move || {
                let start = Instant::now();
                for (env, t) in c.parsed.iter().zip(&c.targets) {
                    black_box(env).verify(&c.public, t, NOW)?;
                }
                Ok(start.elapsed())
            }),
        ),
        case(
            "signature only (Sig_structure + check)",
            Box::new(move || {
                let start = Instant::now();
                for env in &c.parsed {
                    black_box(env).verify_signature(&c.public)?;
                }
                Ok(start.elapsed())
            }),
        ),
        case(
            "payload only (JSON, parse_payload)",
            Box::new(move || {
                let start = Instant::now();
                for env in &c.parsed {
                    black_box(parse_payload(black_box(env).payload())?);
                }
                Ok(start.elapsed())
            }),
        ),
        case(
            RAW,
            Box::new(move || {
                let start = Instant::now();
                for (tbs, sig) in &c.raw {
                    c.public.verify(black_box(tbs), black_box(sig))?;
                }
                Ok(start.elapsed())
            }),
        ),
    ]
}

/// Runs every case once untimed, then `reps` rounds of every case in turn: interleaving spreads
/// any change in machine load over all cases alike.
fn run_rounds(cases: &mut [Case<'_>], reps: usize) -> Result<()> {
    for round in 0..=reps {
        let label = if round == 0 {
            "warm-up".to_owned()
        } else {
            format!("round {round}/{reps}")
        };
        eprint!("{label}:");
        for case in cases.iter_mut() {
            let t = (case.run)()?;
            eprint!(" {:.0}", case.per_second(t));
            if round > 0 {
                case.times.push(t);
            }
        }
        eprintln!(" /s");
    }
    Ok(())
}

fn print_table(out: &mut impl Write, cases: &[Case<'_>]) -> Result<()> {
    writeln!(
        out,
        "{:<8} {:<38} {:>6} {:>9} {:>9} {:>10} {:>10} {:>8}",
        "alg", "case", "n", "median s", "best s", "median /s", "best /s", "µs each"
    )?;
    let mut previous = None;
    for c in cases {
        if previous.is_some_and(|p| p != c.algorithm) {
            writeln!(out)?;
        }
        previous = Some(c.algorithm);
        writeln!(
            out,
            "{:<8} {:<38} {:>6} {:>9.3} {:>9.3} {:>10.0} {:>10.0} {:>8.1}",
            c.algorithm.name(),
            c.name,
            c.count,
            c.median().as_secs_f64(),
            c.best().as_secs_f64(),
            c.per_second(c.median()),
            c.per_second(c.best()),
            c.micros_each(c.median()),
        )?;
    }
    Ok(())
}

fn main() -> Result<ExitCode> {
    let cfg = Config::from_env()?;
    let mut corpora = Vec::new();
    for (algorithm, n) in [
        (KeyAlgorithm::Ed25519, cfg.ed25519),
        (KeyAlgorithm::P384, cfg.p384),
    ] {
        if n > 0 {
            corpora.push(prepare(algorithm, n)?);
        }
    }
    let mut all: Vec<Case<'_>> = corpora.iter().flat_map(cases).collect();
    let load_before = common::load_average();
    run_rounds(&mut all, cfg.reps)?;
    let load_after = common::load_average();

    let mut out = std::io::stdout().lock();
    writeln!(out)?;
    for c in &corpora {
        writeln!(
            out,
            "{}: {} distinct envelopes (one key, one target each), mean {:.0} bytes",
            c.algorithm,
            c.len(),
            c.mean_bytes()
        )?;
    }
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
    print_table(&mut out, &all)?;

    let mut status = ExitCode::SUCCESS;
    let ed25519 = all
        .iter()
        .find(|c| c.algorithm == KeyAlgorithm::Ed25519 && c.name == END_TO_END);
    if let Some(c) = ed25519 {
        // With the default count this is the measured total; otherwise it is scaled.
        let scale = TARGET_ENVELOPES as f64 / c.count as f64;
        let median = c.median().as_secs_f64() * scale;
        let best = c.best().as_secs_f64() * scale;
        let pass = median < TARGET_SECONDS;
        let how = if c.count == TARGET_ENVELOPES {
            String::new()
        } else {
            format!(", scaled from {} envelopes", c.count)
        };
        writeln!(
            out,
            "\nrequirement: {TARGET_ENVELOPES} Ed25519 envelopes parsed and verified in < {TARGET_SECONDS:.0} s on one core: {} (median {median:.3} s, best {best:.3} s{how})",
            if pass { "PASS" } else { "FAIL" },
        )?;
        if !pass {
            status = ExitCode::FAILURE;
        }
    }
    // How close each algorithm's end-to-end rate comes to its crate's raw verify rate.
    for algorithm in KeyAlgorithm::ALL {
        let row = |name: &str| {
            all.iter()
                .find(|c| c.algorithm == *algorithm && c.name == name)
        };
        if let (Some(e2e), Some(raw)) = (row(END_TO_END), row(RAW)) {
            let (e, r) = (e2e.per_second(e2e.median()), raw.per_second(raw.median()));
            writeln!(
                out,
                "{algorithm}: end to end {e:.0}/s = {:.0}% of the raw verify rate ({r:.0}/s)",
                100.0 * e / r,
            )?;
        }
    }
    Ok(status)
}
