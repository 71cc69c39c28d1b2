//! `airlock import FILE|- --to REGISTRY[/PREFIX] | --to-layout DIR`: verify a bundle in one
//! pass, replay it, install its trust material, then move tags; append to the audit log.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use airlock::bundle::BundleError;
use airlock::import::{self, ImportOptions, ImportTarget};
use airlock::layout::Layout;
use airlock::trust::TrustStore;
use airlock::{Error, Limits, time};
use clap::Args;
use serde_json::json;

use super::output::{Output, human_bytes, short};
use super::target::RegistryArgs;

#[derive(Debug, Args)]
pub(crate) struct ImportArgs {
    /// The bundle (.tar or .tar.zst, detected by content), or - for stdin.
    bundle: PathBuf,
    /// A registry, optionally with a repository prefix: each artifact goes to
    /// REGISTRY/PREFIX/REPOSITORY:TAG.
    #[arg(
        long,
        value_name = "REGISTRY[/PREFIX]",
        required_unless_present = "to_layout",
        conflicts_with = "to_layout"
    )]
    to: Option<String>,
    /// A layout directory (created if missing): each artifact is tagged REPOSITORY:TAG.
    #[arg(long, value_name = "DIR")]
    to_layout: Option<PathBuf>,
    /// Rename a repository on the way in (exact, or a leading path), before the prefix
    /// (repeatable; the first match wins).
    #[arg(long = "map", value_name = "SRC=DST", value_parser = parse_map)]
    maps: Vec<(String, String)>,
    /// Verify everything and report what would change, writing nothing.
    #[arg(long)]
    dry_run: bool,
    /// Also push the trust material to the registry as an artifact
    /// (REGISTRY/PREFIX/airlock/trust:current), for `airlock trust sync --from`.
    #[arg(long, requires = "to")]
    publish_trust: bool,
    /// Where blobs wait for upload to a registry (default: the system temporary directory).
    #[arg(long, value_name = "DIR")]
    staging_dir: Option<PathBuf>,
    /// The audit log (JSON lines, appended; default: audit.log in the trust store).
    #[arg(long, value_name = "FILE", env = "AIRLOCK_AUDIT_LOG")]
    audit_log: Option<PathBuf>,
    /// How many uploads run at once.
    #[arg(long, short = 'j', default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    jobs: u16,
}

fn parse_map(s: &str) -> Result<(String, String), String> {
    let (a, b) = s
        .split_once('=')
        .ok_or_else(|| format!("expected SRC=DST, got {s:?}"))?;
    for r in [a, b] {
        airlock::reference::validate_repository(r).map_err(|e| e.to_string())?;
    }
    Ok((a.to_owned(), b.to_owned()))
}

pub(crate) fn run(
    args: &ImportArgs,
    out: &Output,
    limits: &Limits,
    trust_dir: &Path,
    registry: &RegistryArgs,
) -> Result<(), Error> {
    let now = time::now();
    let mut store = TrustStore::open(trust_dir, limits)?;
    let (input, total): (Box<dyn Read>, Option<u64>) = if args.bundle.as_os_str() == "-" {
        (Box::new(io::stdin().lock()), None)
    } else {
        let f = File::open(&args.bundle)
            .map_err(|e| BundleError::Usage(format!("open {}: {e}", args.bundle.display())))?;
        let len = f.metadata().ok().map(|m| m.len());
        (Box::new(BufReader::with_capacity(1 << 20, f)), len)
    };
    let layout;
    let empty;
    let registries;
    let (host, prefix);
    let target = match (&args.to, &args.to_layout) {
        (_, Some(dir)) => {
            // A dry run into a layout that does not exist yet looks at an empty one.
            layout = if args.dry_run && !dir.join(airlock::layout::OCI_LAYOUT_FILE).exists() {
                empty = tempfile::tempdir().map_err(|e| {
                    BundleError::Usage(format!("create a temporary directory: {e}"))
                })?;
                Layout::init(empty.path().join("layout"), limits.clone())?
            } else {
                Layout::init(dir, limits.clone())?
            };
            ImportTarget::Layout(&layout)
        }
        (Some(to), None) => {
            let (h, p) = match to.split_once('/') {
                Some((h, p)) => (h.to_owned(), Some(p.trim_matches('/').to_owned())),
                None => (to.clone(), None),
            };
            if let Some(p) = &p {
                airlock::reference::validate_repository(p)
                    .map_err(|e| BundleError::Usage(format!("--to prefix: {e}")))?;
            }
            (host, prefix) = (h, p);
            registries = registry.registries(limits, usize::from(args.jobs))?;
            ImportTarget::Registry {
                registries: &registries,
                host: &host,
                prefix: prefix.as_deref(),
            }
        }
        (None, None) => {
            return Err(BundleError::Usage(
                "give --to REGISTRY[/PREFIX] or --to-layout DIR".into(),
            )
            .into());
        }
    };
    let audit = args
        .audit_log
        .clone()
        .unwrap_or_else(|| trust_dir.join("audit.log"));
    let bar = out.progress(
        total,
        if args.dry_run {
            "verifying"
        } else {
            "importing"
        },
    );
    let progress_bar = bar.clone();
    let opts = ImportOptions {
        target,
        maps: &args.maps,
        dry_run: args.dry_run,
        jobs: usize::from(args.jobs),
        staging: args.staging_dir.as_deref(),
        audit_log: Some(&audit),
        progress: Some(Arc::new(move |n| progress_bar.inc(n))),
        limits,
    };
    let result = import::import(input, &mut store, &opts, now);
    bar.finish_and_clear();
    let report = result?;
    if args.publish_trust
        && !args.dry_run
        && let ImportTarget::Registry {
            registries,
            host,
            prefix,
        } = &opts.target
    {
        let reference = airlock::import::publish_trust(&store, registries, host, *prefix)?;
        out.status(format!("published the trust material as {reference}"));
    }
    let read = &report.read;
    for (root, j) in &read.judgements {
        out.status(format!(
            "  {} {}: {} ({})",
            root.ref_name(),
            short(&root.digest),
            j.decision.name(),
            j.scope.as_deref().unwrap_or("no scope")
        ));
    }
    let verb = if args.dry_run { "would set" } else { "set" };
    let mut text = format!(
        "bundle {} verified: signed by {}; trust root version {}, revocation snapshot version {}\n",
        read.bundle.digest(),
        read.signers
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        read.plan.root.version(),
        read.plan.revocation.version(),
    );
    for t in &report.tags {
        text.push_str(&format!(
            "{verb} {} -> {}{}\n",
            t.reference,
            short(&t.digest),
            match &t.previous {
                Some(p) if p == &t.digest => " (unchanged)".to_owned(),
                Some(p) => format!(" (was {})", short(p)),
                None => " (new)".to_owned(),
            }
        ));
    }
    out.text(&text);
    out.status(format!(
        "{} blobs written ({}), {} already present, {} manifests{}",
        report.blobs_written,
        human_bytes(report.bytes_written),
        report.blobs_present,
        report.manifests,
        if args.dry_run {
            " (dry run: nothing written)"
        } else {
            ""
        }
    ));
    out.result(
        "import",
        json!({
            "bundle": read.bundle.digest().to_string(),
            "bundleFile": read.file_digest.to_string(),
            "dryRun": args.dry_run,
            "signers": read.signers.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "trustRoot": read.plan.root.version(),
            "revocation": read.plan.revocation.version(),
            "rootsInstalled": report.roots_installed,
            "revocationInstalled": report.revocation_installed,
            "blobsWritten": report.blobs_written,
            "blobsPresent": report.blobs_present,
            "bytesWritten": report.bytes_written,
            "manifests": report.manifests,
            "judgements": read.judgements.iter().map(|(r, j)| json!({
                "name": r.ref_name(), "digest": r.digest.to_string(),
                "decision": j.decision.name(), "scope": j.scope,
            })).collect::<Vec<_>>(),
            "tags": report.tags.iter().map(|t| json!({
                "reference": t.reference, "digest": t.digest.to_string(),
                "previous": t.previous.as_ref().map(ToString::to_string),
            })).collect::<Vec<_>>(),
        }),
    );
    Ok(())
}
