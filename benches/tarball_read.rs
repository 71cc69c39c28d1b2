//! Benchmark: reading and verifying an OCI layout tarball, measured against the raw SHA-256 speed
//! of the `sha2` crate on the same machine.
//!
//! The requirement, the method and the latest figures are in `docs/performance.md`. Note that the
//! in-process `inspect_tarball` figure depends on where glibc happens to place large buffers (see
//! "Findings" there); `scripts/bench` also times the real `airlock inspect`. Run with
//! `cargo bench --bench tarball_read` (release profile, plain `main`, no harness). The test data
//! is generated once per size under `target/tmp/airlock-bench/` and reused by later runs.
//!
//! Environment (sizes accept `K`, `M`, `G`, `T` suffixes, binary units: `256M`, `4G`):
//!
//! - `AIRLOCK_BENCH_BYTES`: total layer bytes in the layout (default `1G`).
//! - `AIRLOCK_BENCH_LAYER_BYTES`: mean size of a large layer (default `32M`).
//! - `AIRLOCK_BENCH_REPS`: timed repetitions per case (default 5).
//! - `AIRLOCK_BENCH_DIR`: where the data lives (default `target/tmp/airlock-bench`).
//! - `AIRLOCK_BENCH_CASES`: comma-separated subset of `sha256,read,read-sha256,tar,zst,unpack`
//!   (default all), or `generate` to only generate the data and print the tarballs' paths, one per
//!   line on stdout (this is what `scripts/bench` uses).
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a benchmark prints its table on stdout and its progress on stderr"
)]

#[allow(dead_code)] // Each bench uses part of it.
mod common;

use std::error::Error;
use std::fs::{self, File};
use std::hint::black_box;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use airlock::Limits;
use airlock::build::{put_blob, put_json};
use airlock::layout::Layout;
use airlock::media;
use airlock::reference::LayoutTag;
use airlock::tarball::{Compression, PackOptions, inspect_tarball, unpack_tarball, write_tarball};
use serde_json::json;
use sha2::{Digest as _, Sha256};

type Result<T> = std::result::Result<T, Box<dyn Error>>;

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;
const GIB: u64 = 1024 * MIB;
/// Bumped whenever the generated content changes, so stale data is not reused.
const GENERATOR_VERSION: u32 = 1;
/// The in-memory buffer hashed by the raw SHA-256 reference.
const RAW_BUFFER: usize = 64 * MIB as usize;
/// Bytes hashed per repetition of the raw reference (the buffer, 16 times).
const RAW_BYTES_PER_REP: u64 = GIB;
/// The requirement: verified reading at no less than this fraction of raw SHA-256.
const REQUIRED_RATIO: f64 = 0.70;
/// Buffer of the read-only and read+hash references (the reader's `BufReader` is 1 MiB too).
const REFERENCE_READ_BUFFER: usize = MIB as usize;

/// Row names the summary looks up.
const RAW_CASE: &str = "sha2 SHA-256, 64 MiB in memory";
const TAR_CASE: &str = "inspect_tarball .tar";

const ALL_CASES: [&str; 6] = ["sha256", "read", "read-sha256", "tar", "zst", "unpack"];

struct Config {
    bytes: u64,
    layer_bytes: u64,
    reps: usize,
    dir: PathBuf,
    cases: Vec<String>,
}

impl Config {
    fn from_env() -> Result<Config> {
        let size = |name: &str, default: u64| -> Result<u64> {
            match std::env::var(name) {
                Ok(v) => parse_size(&v).ok_or_else(|| format!("{name}={v:?} is not a size").into()),
                Err(_) => Ok(default),
            }
        };
        let bytes = size("AIRLOCK_BENCH_BYTES", GIB)?;
        let layer_bytes = size("AIRLOCK_BENCH_LAYER_BYTES", 32 * MIB)?.max(2);
        let reps = match std::env::var("AIRLOCK_BENCH_REPS") {
            Ok(v) => v
                .parse::<usize>()
                .map_err(|_| format!("AIRLOCK_BENCH_REPS={v:?}"))?
                .max(1),
            Err(_) => 5,
        };
        let dir = std::env::var_os("AIRLOCK_BENCH_DIR").map_or_else(
            || Path::new(env!("CARGO_TARGET_TMPDIR")).join("airlock-bench"),
            PathBuf::from,
        );
        let cases: Vec<String> = match std::env::var("AIRLOCK_BENCH_CASES") {
            Ok(v) => v
                .split(',')
                .map(|c| c.trim().to_owned())
                .filter(|c| !c.is_empty())
                .collect(),
            Err(_) => ALL_CASES.iter().map(|c| (*c).to_owned()).collect(),
        };
        for c in &cases {
            if c != "generate" && !ALL_CASES.contains(&c.as_str()) {
                return Err(format!(
                    "unknown case {c:?} in AIRLOCK_BENCH_CASES (known: generate, {})",
                    ALL_CASES.join(", ")
                )
                .into());
            }
        }
        Ok(Config {
            bytes,
            layer_bytes,
            reps,
            dir,
            cases,
        })
    }

    fn wants(&self, case: &str) -> bool {
        self.cases.iter().any(|c| c == case)
    }
}

/// `1073741824`, `1G`, `1GiB`, `256M`, `64k` (binary units).
fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let s = s
        .strip_suffix("iB")
        .or_else(|| s.strip_suffix('B'))
        .unwrap_or(s);
    let (digits, mult) = match s.chars().last()? {
        'k' | 'K' => (&s[..s.len() - 1], KIB),
        'm' | 'M' => (&s[..s.len() - 1], MIB),
        'g' | 'G' => (&s[..s.len() - 1], GIB),
        't' | 'T' => (&s[..s.len() - 1], 1024 * GIB),
        _ => (s, 1),
    };
    digits.trim().parse::<u64>().ok()?.checked_mul(mult)
}

/// xorshift64*: fast, deterministic, good enough to defeat deduplication and make every blob
/// distinct. Not for anything but test data.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A value in `lo..hi` (`hi > lo`).
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo)
    }

    /// Fills `buf` with bytes from a 16-symbol alphabet (4 bits of entropy per byte): SHA-256
    /// does not care, and zstd gets roughly 2:1 from literal entropy coding, like real layers
    /// (incompressible bytes would make the zstd case a plain copy).
    fn fill(&mut self, buf: &mut [u8]) {
        const ALPHABET: &[u8; 16] = b"abcdefghijklmnop";
        let mut chunks = buf.chunks_exact_mut(16);
        for chunk in &mut chunks {
            let r = self.next();
            for (i, b) in chunk.iter_mut().enumerate() {
                *b = ALPHABET[((r >> (4 * i)) & 15) as usize];
            }
        }
        let rest = chunks.into_remainder();
        let r = self.next();
        for (i, b) in rest.iter_mut().enumerate() {
            *b = ALPHABET[((r >> (4 * i)) & 15) as usize];
        }
    }
}

/// The generated tarballs of one size.
struct Data {
    tar: PathBuf,
    zst: PathBuf,
    tar_bytes: u64,
    zst_bytes: u64,
    blobs: usize,
}

/// Layer sizes summing to `total`: mostly large layers around `mean` (0.5×–1.5×), and every 8th
/// one small (64 KiB – 4 MiB, so the inspector's small-blob path runs too).
fn layer_sizes(total: u64, mean: u64, rng: &mut XorShift) -> Vec<u64> {
    let mut sizes = Vec::new();
    let mut left = total;
    while left > 0 {
        let want = if sizes.len() % 8 == 7 {
            rng.range(64 * KIB, 4 * MIB)
        } else {
            rng.range(mean / 2, mean + mean / 2 + 1)
        };
        let size = want.min(left).max(1);
        sizes.push(size);
        left -= size;
    }
    sizes
}

/// Generates (or reuses) the layout tarballs for `cfg.bytes`.
fn prepare(cfg: &Config) -> Result<Data> {
    let dir = cfg.dir.join(format!(
        "v{GENERATOR_VERSION}-{}-{}",
        cfg.bytes, cfg.layer_bytes
    ));
    let ready = dir.join("READY");
    let tar = dir.join("layout.tar");
    let zst = dir.join("layout.tar.zst");
    if ready.is_file() && tar.is_file() && zst.is_file() {
        eprintln!("reusing {}", dir.display());
    } else {
        generate(cfg, &dir, &tar, &zst)?;
        fs::write(&ready, format!("generator v{GENERATOR_VERSION}\n"))?;
    }
    let blobs = fs::read_to_string(dir.join("BLOBS"))?.trim().parse()?;
    Ok(Data {
        tar_bytes: fs::metadata(&tar)?.len(),
        zst_bytes: fs::metadata(&zst)?.len(),
        tar,
        zst,
        blobs,
    })
}

fn generate(cfg: &Config, dir: &Path, tar: &Path, zst: &Path) -> Result<()> {
    if dir.exists() {
        fs::remove_dir_all(dir)?;
    }
    fs::create_dir_all(dir)?;
    let started = Instant::now();
    let layout_dir = dir.join("layout");
    let layout = Layout::init(&layout_dir, Limits::default())?;
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let sizes = layer_sizes(cfg.bytes, cfg.layer_bytes, &mut rng);
    eprintln!(
        "generating {} layers, {} bytes in all, into {}",
        sizes.len(),
        cfg.bytes,
        layout_dir.display()
    );
    let mut buf = Vec::new();
    let mut layers = Vec::with_capacity(sizes.len());
    for &size in &sizes {
        buf.resize(usize::try_from(size)?, 0);
        rng.fill(&mut buf);
        layers.push(put_blob(&layout, media::OCI_LAYER_TAR, &buf)?);
    }
    drop(buf);
    let layer_json: Vec<_> = layers
        .iter()
        .map(serde_json::to_value)
        .collect::<std::result::Result<_, _>>()?;
    let diff_ids: Vec<String> = layers.iter().map(|l| l.digest().to_string()).collect();
    let created = "2026-01-01T00:00:00Z";
    let config = put_json(
        &layout,
        media::OCI_CONFIG,
        &json!({
            "architecture": "amd64",
            "os": "linux",
            "created": created,
            "config": {},
            "rootfs": { "type": "layers", "diff_ids": diff_ids },
        }),
    )?;
    let manifest = put_json(
        &layout,
        media::OCI_MANIFEST,
        &json!({
            "schemaVersion": 2,
            "mediaType": media::OCI_MANIFEST,
            "config": serde_json::to_value(&config)?,
            "layers": layer_json,
        }),
    )?;
    layout.tag(&LayoutTag::new("bench")?, &manifest)?;
    fs::write(dir.join("BLOBS"), format!("{}\n", layers.len() + 2))?;
    eprintln!(
        "  layout written in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    for (path, compression) in [(tar, Compression::None), (zst, Compression::Zstd)] {
        let started = Instant::now();
        let part = path.with_extension("part");
        let out = BufWriter::with_capacity(MIB as usize, File::create(&part)?);
        let opts = PackOptions {
            compression,
            ..PackOptions::default()
        };
        write_tarball(&layout, out, opts)?;
        fs::rename(&part, path)?;
        eprintln!(
            "  packed {} ({} bytes) in {:.1} s",
            path.display(),
            fs::metadata(path)?.len(),
            started.elapsed().as_secs_f64()
        );
    }
    // The directory is not needed once packed; dropping it halves the disk footprint.
    fs::remove_dir_all(&layout_dir)?;
    Ok(())
}

/// Timings of one case.
/// A timed operation; `run` times itself so it can leave setup and cleanup out.
type Run<'a> = Box<dyn FnMut() -> Result<Duration> + 'a>;

/// One measured case and its timings.
struct Case<'a> {
    name: String,
    bytes: u64,
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

    fn mb_per_s(&self, d: Duration) -> f64 {
        self.bytes as f64 / 1e6 / d.as_secs_f64()
    }
}

/// (a) `sha2` SHA-256 over an in-memory buffer: the ceiling for anything that verifies blobs.
fn raw_sha256<'a>() -> Case<'a> {
    let mut buf = vec![0u8; RAW_BUFFER];
    XorShift(42).fill(&mut buf);
    let rounds = RAW_BYTES_PER_REP / RAW_BUFFER as u64;
    Case {
        name: RAW_CASE.to_owned(),
        bytes: rounds * RAW_BUFFER as u64,
        times: Vec::new(),
        run: Box::new(move || {
            let start = Instant::now();
            for _ in 0..rounds {
                let mut h = Sha256::new();
                h.update(black_box(&buf[..]));
                black_box(h.finalize());
            }
            Ok(start.elapsed())
        }),
    }
}

/// Reads `path` once, untimed, so the timed run finds it in the page cache. Needed on hosts that
/// reclaim idle page cache proactively (this VM runs DAMON `pageout` on regions idle for ~30 s).
fn warm(path: &Path) -> Result<()> {
    std::io::copy(&mut File::open(path)?, &mut std::io::sink())?;
    Ok(())
}

/// How a reference read lays out its buffer.
#[derive(Clone, Copy, PartialEq)]
enum Reference {
    /// Page-aligned buffer, no hashing: the kernel's page-cache copy alone.
    Read,
    /// Buffer 16 bytes past a page boundary, where glibc puts a large `malloc` (and so a large
    /// `Vec`): on some CPUs the kernel's copy is much slower into such a buffer.
    ReadMisaligned,
    /// Page-aligned buffer, hashed: the best a single-threaded streaming verifier can do.
    ReadSha256,
}

/// Reads a file through a 1 MiB buffer, with or without hashing.
fn read_reference(path: &Path, bytes: u64, kind: Reference) -> Case<'_> {
    let mut storage = vec![0u8; REFERENCE_READ_BUFFER + 4096 + 16];
    let name = match kind {
        Reference::Read => "read(2) only, .tar, 1 MiB buf",
        Reference::ReadMisaligned => "read(2) only, .tar, 1 MiB buf at +16 B",
        Reference::ReadSha256 => "read(2) + SHA-256, .tar, 1 MiB buf",
    };
    Case {
        name: name.to_owned(),
        bytes,
        times: Vec::new(),
        run: Box::new(move || {
            // `align_offset` on bytes always succeeds at run time; the `min` keeps it in bounds.
            let mut offset = storage.as_ptr().align_offset(4096).min(4096);
            if kind == Reference::ReadMisaligned {
                offset += 16;
            }
            let buf = &mut storage[offset..offset + REFERENCE_READ_BUFFER];
            warm(path)?;
            let start = Instant::now();
            let mut file = File::open(path)?;
            let mut h = Sha256::new();
            loop {
                let n = file.read(buf)?;
                if n == 0 {
                    break;
                }
                if kind == Reference::ReadSha256 {
                    h.update(&buf[..n]);
                }
            }
            black_box(h.finalize());
            Ok(start.elapsed())
        }),
    }
}

/// (b), (c) `inspect_tarball` on a file: every blob hashed and the graph checked.
fn inspect(name: String, path: &Path, bytes: u64, blobs: usize) -> Case<'_> {
    let limits = Limits::default();
    Case {
        name,
        bytes,
        times: Vec::new(),
        run: Box::new(move || {
            warm(path)?;
            let start = Instant::now();
            let inspected = inspect_tarball(File::open(path)?, &limits)?;
            let t = start.elapsed();
            let read = inspected.contents.blobs.len();
            if read != blobs {
                return Err(
                    format!("{}: {read} blobs read, {blobs} expected", path.display()).into(),
                );
            }
            Ok(t)
        }),
    }
}

/// (d) `unpack_tarball` into a fresh directory (removing it is not timed). Every blob is
/// fsynced, so this measures the disk as much as the reader.
fn unpack<'a>(path: &'a Path, scratch: PathBuf, bytes: u64) -> Case<'a> {
    let limits = Limits::default();
    Case {
        name: "unpack_tarball .tar (fsync per blob)".to_owned(),
        bytes,
        times: Vec::new(),
        run: Box::new(move || {
            if scratch.exists() {
                fs::remove_dir_all(&scratch)?;
            }
            warm(path)?;
            let start = Instant::now();
            unpack_tarball(File::open(path)?, &scratch, &limits)?;
            let t = start.elapsed();
            fs::remove_dir_all(&scratch)?;
            Ok(t)
        }),
    }
}

/// Runs every case once untimed (warming the page cache and the allocator), then `reps` rounds
/// of every case in turn: interleaving spreads any change in machine load over all cases alike.
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
            eprint!(" {:.0}", case.bytes as f64 / 1e6 / t.as_secs_f64());
            if round > 0 {
                case.times.push(t);
            }
        }
        eprintln!(" MB/s");
    }
    Ok(())
}

fn print_table(out: &mut impl Write, cases: &[Case<'_>]) -> Result<()> {
    let raw = cases.iter().find(|c| c.name == RAW_CASE);
    writeln!(
        out,
        "{:<38} {:>8} {:>10} {:>12} {:>9} {:>11}",
        "case", "MB", "best MB/s", "median MB/s", "best/raw", "median/raw"
    )?;
    for c in cases {
        let (best, median) = match raw {
            Some(r) => (
                format!("{:.2}", c.mb_per_s(c.best()) / r.mb_per_s(r.best())),
                format!("{:.2}", c.mb_per_s(c.median()) / r.mb_per_s(r.median())),
            ),
            None => ("-".to_owned(), "-".to_owned()),
        };
        writeln!(
            out,
            "{:<38} {:>8.0} {:>10.0} {:>12.0} {:>9} {:>11}",
            c.name,
            c.bytes as f64 / 1e6,
            c.mb_per_s(c.best()),
            c.mb_per_s(c.median()),
            best,
            median,
        )?;
    }
    Ok(())
}

fn main() -> Result<()> {
    let cfg = Config::from_env()?;
    let data = prepare(&cfg)?;
    if cfg.wants("generate") {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", data.tar.display())?;
        writeln!(out, "{}", data.zst.display())?;
        return Ok(());
    }
    let mut cases = Vec::new();
    if cfg.wants("sha256") {
        cases.push(raw_sha256());
    }
    if cfg.wants("read") {
        cases.push(read_reference(&data.tar, data.tar_bytes, Reference::Read));
        cases.push(read_reference(
            &data.tar,
            data.tar_bytes,
            Reference::ReadMisaligned,
        ));
    }
    if cfg.wants("read-sha256") {
        cases.push(read_reference(
            &data.tar,
            data.tar_bytes,
            Reference::ReadSha256,
        ));
    }
    if cfg.wants("tar") {
        cases.push(inspect(
            TAR_CASE.to_owned(),
            &data.tar,
            data.tar_bytes,
            data.blobs,
        ));
    }
    if cfg.wants("zst") {
        // Throughput counts the decompressed tar bytes: the work the verifier does.
        let ratio = data.tar_bytes as f64 / data.zst_bytes as f64;
        let name = format!("inspect_tarball .tar.zst ({ratio:.2}:1)");
        cases.push(inspect(name, &data.zst, data.tar_bytes, data.blobs));
    }
    if cfg.wants("unpack") {
        cases.push(unpack(
            &data.tar,
            cfg.dir.join("unpack-scratch"),
            data.tar_bytes,
        ));
    }
    let load_before = common::load_average();
    run_rounds(&mut cases, cfg.reps)?;
    let load_after = common::load_average();

    let mut out = std::io::stdout().lock();
    writeln!(out)?;
    writeln!(
        out,
        "tarball: {} ({} bytes, {} blobs)",
        data.tar.display(),
        data.tar_bytes,
        data.blobs
    )?;
    writeln!(
        out,
        ".tar.zst: {} bytes; page cache warm; {} interleaved rounds",
        data.zst_bytes, cfg.reps
    )?;
    writeln!(
        out,
        "load average before: {load_before}; after: {load_after}"
    )?;
    writeln!(out)?;
    print_table(&mut out, &cases)?;
    let raw = cases.iter().find(|c| c.name == RAW_CASE);
    let tar = cases.iter().find(|c| c.name == TAR_CASE);
    if let (Some(r), Some(t)) = (raw, tar) {
        let best = t.mb_per_s(t.best()) / r.mb_per_s(r.best());
        let median = t.mb_per_s(t.median()) / r.mb_per_s(r.median());
        let verdict = if median >= REQUIRED_RATIO {
            "PASS"
        } else {
            "FAIL"
        };
        writeln!(
            out,
            "\nrequirement: inspect_tarball .tar >= {:.0}% of raw SHA-256: {verdict} (median {:.0}%, best {:.0}%)",
            REQUIRED_RATIO * 100.0,
            median * 100.0,
            best * 100.0
        )?;
    }
    Ok(())
}
