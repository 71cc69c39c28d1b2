//! `airlock verify-bundle FILE [--at TIME]`: a bundle checked without a target.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use airlock::bundle::{self, BundleError, Discard, ReadOptions, RootEntry, TrustAnchor};
use airlock::trust::TrustStore;
use airlock::{Digest, Error, Limits, time};
use clap::Args;
use serde_json::json;

use super::output::{Output, short};

#[derive(Debug, Args)]
pub(crate) struct VerifyBundleArgs {
    /// The bundle (.tar or .tar.zst), or - for stdin.
    bundle: PathBuf,
    /// Judge expiry as of this RFC 3339 time (an archive checked years later).
    #[arg(long, value_parser = time::parse_rfc3339)]
    at: Option<time::Seconds>,
    /// Anchor trust in the bundle's own root chain at the root whose file has this SHA-256
    /// (given out of band), instead of the trust store; no policy is applied then.
    #[arg(long, value_name = "DIGEST")]
    root_digest: Option<Digest>,
    /// The repository each artifact is judged for is REGISTRY/REPOSITORY (as after an import
    /// with --to REGISTRY); without it, the bare repository path.
    #[arg(long, value_name = "REGISTRY[/PREFIX]")]
    scope_prefix: Option<String>,
}

pub(crate) fn run(
    args: &VerifyBundleArgs,
    out: &Output,
    limits: &Limits,
    trust_dir: &Path,
) -> Result<(), Error> {
    let now = time::now();
    let at = args.at.unwrap_or(now);
    if args.at.is_some() {
        out.status(format!(
            "WARNING: verifying as of {} (--at), not now",
            time::format_rfc3339(at)
        ));
    }
    let store;
    let (anchor, policy) = match &args.root_digest {
        Some(d) => (TrustAnchor::Pinned(d), None),
        None => {
            store = TrustStore::open(trust_dir, limits)?;
            let policy = store.policy()?.cloned();
            (TrustAnchor::Store(&store), policy)
        }
    };
    let input: Box<dyn Read> = if args.bundle.as_os_str() == "-" {
        Box::new(io::stdin().lock())
    } else {
        Box::new(BufReader::with_capacity(
            1 << 20,
            File::open(&args.bundle)
                .map_err(|e| BundleError::Usage(format!("open {}: {e}", args.bundle.display())))?,
        ))
    };
    let prefix = args.scope_prefix.clone();
    let scope = move |r: &RootEntry| {
        Some(match &prefix {
            Some(p) => format!("{}/{}", p.trim_end_matches('/'), r.repository),
            None => r.repository.clone(),
        })
    };
    let opts = ReadOptions {
        anchor,
        policy: policy.as_ref(),
        now,
        at,
        repository: &scope,
        limits,
    };
    let report = bundle::read_bundle(input, &mut Discard, &opts)?;
    if policy.is_none() && args.root_digest.is_none() {
        out.status("WARNING: no trust policy is installed: artifact signatures were not judged");
    }
    let (all, carried) = report.packing.totals();
    let mut text = format!(
        "bundle {} verified ({}): signed by {} under trust root version {}; revocation snapshot version {}\n",
        report.bundle.digest(),
        report.file_digest,
        report
            .signers
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        report.plan.root.version(),
        report.plan.revocation.version(),
    );
    for (root, j) in &report.judgements {
        text.push_str(&format!(
            "  {} {}: {}\n",
            root.ref_name(),
            short(&root.digest),
            j.decision.name()
        ));
    }
    if carried < all {
        text.push_str(&format!(
            "  delta bundle: {} of {} blob bytes carried; the rest must be at the target\n",
            carried, all
        ));
    }
    out.text(&text);
    out.result(
        "verify-bundle",
        json!({
            "bundle": report.bundle.digest().to_string(),
            "bundleFile": report.file_digest.to_string(),
            "signers": report.signers.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "trustRoot": report.plan.root.version(),
            "revocation": report.plan.revocation.version(),
            "judgements": report.judgements.iter().map(|(r, j)| json!({
                "name": r.ref_name(), "digest": r.digest.to_string(),
                "decision": j.decision.name(), "scope": j.scope,
            })).collect::<Vec<_>>(),
        }),
    );
    Ok(())
}
