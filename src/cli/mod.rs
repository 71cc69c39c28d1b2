//! The `airlock` command line: argument parsing, output, progress and exit codes. Only this
//! module knows about the terminal; the library never prints.

mod attach;
mod copy;
mod discover;
mod export;
mod import;
mod inspect;
mod key;
mod layout;
mod output;
mod policy;
mod revocation;
mod revoke;
mod sign;
mod target;
mod trust;
mod verify;
mod verify_bundle;

use std::path::PathBuf;
use std::process::ExitCode;

use airlock::Limits;
use clap::{CommandFactory, Parser, Subcommand};

use output::Output;

/// Carry signed OCI artifacts across air gaps and verify them offline.
#[derive(Debug, Parser)]
#[command(name = "airlock", version, about, propagate_version = true)]
pub(crate) struct Cli {
    /// Print results as versioned JSON on stdout (see docs/cli-json.md).
    #[arg(long, global = true)]
    json: bool,
    /// Print only errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,
    /// Override one limit on untrusted input, as NAME=VALUE (repeatable; see formats/layout.md,
    /// "Limits"; sizes take a KiB, MiB, GiB or TiB suffix).
    #[arg(long = "limit", global = true, value_name = "NAME=VALUE", value_parser = parse_limit)]
    limits: Vec<(String, String)>,
    /// The trust store directory (default: $XDG_CONFIG_HOME/airlock/trust or
    /// ~/.config/airlock/trust).
    #[arg(long, global = true, env = "AIRLOCK_TRUST_DIR", value_name = "DIR")]
    trust_dir: Option<PathBuf>,
    #[command(flatten)]
    registry: target::RegistryArgs,
    /// More detail on stderr (-v, -vv).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create, pack and unpack OCI image layouts.
    #[command(subcommand)]
    Layout(layout::LayoutCommand),
    /// Show a layout directory's or tarball's tagged roots, blob count and size, verifying every blob.
    Inspect(inspect::InspectArgs),
    /// Show the referrer tree of one artifact, in a layout or a registry.
    Discover(discover::DiscoverArgs),
    /// Copy an artifact and its graph (and with -r its referrers) between registries and
    /// layouts, every digest preserved.
    Copy(copy::CopyArgs),
    /// Export artifacts with their referrer graphs, the trust-root chain and the revocation
    /// snapshot as one signed bundle (the file that crosses the air gap).
    Export(export::ExportArgs),
    /// Verify a bundle in one pass, replay it into a registry or layout, install its trust
    /// material, then move tags.
    Import(import::ImportArgs),
    /// Verify a bundle without a target: trust material, bundle signature, every digest, and
    /// every artifact's signatures against the local policy.
    VerifyBundle(verify_bundle::VerifyBundleArgs),
    /// Generate signing keys.
    #[command(subcommand)]
    Key(key::KeyCommand),
    /// Sign an artifact: a detached COSE signature stored beside it as a referrer.
    Sign(sign::SignArgs),
    /// Verify an artifact: its signatures judged by the trust store's root, revocation
    /// snapshot and policy (or, with --key, against given public keys).
    Verify(verify::VerifyArgs),
    /// Add a file (SBOM, scan result) to an artifact as a referrer.
    Attach(attach::AttachArgs),
    /// Make, sign, rotate, pin and install trust roots.
    #[command(subcommand)]
    Trust(trust::TrustCommand),
    /// Record that a key or an artifact digest is revoked (published by `revocation publish`).
    Revoke(revoke::RevokeArgs),
    /// Publish and install signed revocation snapshots.
    #[command(subcommand)]
    Revocation(revocation::RevocationCommand),
    /// Install and show the trust policy.
    #[command(subcommand)]
    Policy(policy::PolicyCommand),
}

/// Exit code: success.
pub(crate) const EXIT_OK: u8 = 0;
/// Exit code: content failed verification.
pub(crate) const EXIT_VERIFICATION: u8 = 1;
/// Exit code: usage or I/O error.
pub(crate) const EXIT_USAGE: u8 = 2;

pub(crate) fn run() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_USAGE } else { EXIT_OK };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    init_tracing(cli.quiet, cli.verbose);
    let out = Output::new(cli.json, cli.quiet);
    let mut limits = Limits::default();
    for (name, value) in &cli.limits {
        if let Err(e) = limits.set(name, value) {
            let _ = clap::Error::raw(
                clap::error::ErrorKind::InvalidValue,
                format!("--limit {name}={value}: {e}\n"),
            )
            .with_cmd(&Cli::command())
            .print();
            return ExitCode::from(EXIT_USAGE);
        }
    }
    let trust_dir = match cli
        .trust_dir
        .clone()
        .or_else(airlock::trust::TrustStore::default_dir)
    {
        Some(d) => d,
        None => {
            let _ = clap::Error::raw(
                clap::error::ErrorKind::MissingRequiredArgument,
                "no trust store directory: set --trust-dir, AIRLOCK_TRUST_DIR, XDG_CONFIG_HOME or HOME\n",
            )
            .print();
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let result = match &cli.command {
        Command::Layout(cmd) => layout::run(cmd, &out, &limits),
        Command::Inspect(args) => inspect::run(args, &out, &limits),
        Command::Discover(args) => discover::run(args, &out, &limits, &cli.registry),
        Command::Copy(args) => copy::run(args, &out, &limits, &cli.registry),
        Command::Export(args) => export::run(args, &out, &limits, &trust_dir, &cli.registry),
        Command::Import(args) => import::run(args, &out, &limits, &trust_dir, &cli.registry),
        Command::VerifyBundle(args) => verify_bundle::run(args, &out, &limits, &trust_dir),
        Command::Key(cmd) => key::run(cmd, &out),
        Command::Sign(args) => sign::run(args, &out, &limits, &cli.registry),
        Command::Verify(args) => verify::run(args, &out, &limits, &trust_dir, &cli.registry),
        Command::Attach(args) => attach::run(args, &out, &limits, &cli.registry),
        Command::Trust(cmd) => trust::run(cmd, &out, &limits, &trust_dir, &cli.registry),
        Command::Revoke(args) => revoke::run(args, &out, &limits, &trust_dir),
        Command::Revocation(cmd) => revocation::run(cmd, &out, &limits, &trust_dir),
        Command::Policy(cmd) => policy::run(cmd, &out, &limits, &trust_dir),
    };
    match result {
        Ok(()) => ExitCode::from(EXIT_OK),
        Err(e) => ExitCode::from(out.error(&e)),
    }
}

fn parse_limit(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .ok_or_else(|| format!("expected NAME=VALUE, got {s:?}"))
}

fn init_tracing(quiet: bool, verbose: u8) {
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, _) => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("AIRLOCK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("airlock={level}")));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .without_time()
        .try_init();
}
