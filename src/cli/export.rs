//! `airlock export REF… -o FILE --sign-key K`: artifacts with their whole referrer graphs, the
//! trust-root chain and the revocation snapshot, as one signed bundle.

use std::collections::BTreeSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use airlock::bundle::{self, ExportItem, ExportOptions};
use airlock::reference::{Reference, Selector};
use airlock::tarball::{Compression, PackOptions};
use airlock::trust::TrustStore;
use airlock::verify::{self, Context, Decision};
use airlock::{Error, Limits, time};
use clap::Args;
use serde_json::json;

use super::output::{Output, human_bytes, short};
use super::target::{RegistryArgs, Target};

#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    /// What to export: REGISTRY/REPO[:TAG|@DIGEST], or oci:PATH[:TAG|@DIGEST] followed by
    /// =REPO[:TAG] to name it (a layout artifact's default name is the layout directory's name
    /// and its layout tag).
    references: Vec<String>,
    /// A file with one reference per line (blank lines and # comments ignored).
    #[arg(long, value_name = "LIST")]
    from_file: Option<PathBuf>,
    /// The bundle to write (refused if it exists).
    #[arg(short, long, value_name = "FILE")]
    output: PathBuf,
    /// Compress with zstd, at LEVEL (default 3).
    #[arg(long, value_name = "LEVEL", num_args = 0..=1, default_missing_value = "3",
          value_parser = clap::value_parser!(i32).range(1..=19))]
    zstd: Option<i32>,
    /// A private key of the trust root's bundle role (repeat to meet its threshold).
    #[arg(long = "sign-key", required = true, value_name = "KEY")]
    sign_keys: Vec<PathBuf>,
    /// Refuse to export an artifact the local trust policy would reject.
    #[arg(long)]
    verify: bool,
    /// Write a delta bundle: omit blobs an earlier bundle already carried (its packing list
    /// still names them; the import needs them at the target).
    #[arg(long, value_name = "OLD_BUNDLE")]
    since: Option<PathBuf>,
}

pub(crate) fn run(
    args: &ExportArgs,
    out: &Output,
    limits: &Limits,
    trust_dir: &Path,
    registry: &RegistryArgs,
) -> Result<(), Error> {
    let mut refs = args.references.clone();
    if let Some(list) = &args.from_file {
        let text = std::fs::read_to_string(list)
            .map_err(|e| bundle::BundleError::Usage(format!("read {}: {e}", list.display())))?;
        refs.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_owned),
        );
    }
    if refs.is_empty() {
        return Err(bundle::BundleError::Usage(
            "nothing to export: give references or --from-file".into(),
        )
        .into());
    }
    if args.output.exists() {
        return Err(bundle::BundleError::Usage(format!(
            "{} exists; airlock does not overwrite a bundle",
            args.output.display()
        ))
        .into());
    }
    let store = TrustStore::open(trust_dir, limits)?;
    let now = time::now();
    store.check_clock(now)?;
    let chain = store.chain()?;
    let revocation = store.revocation().cloned().ok_or_else(|| {
        bundle::BundleError::Usage(
            "the trust store has no revocation snapshot to carry: publish or import one first (airlock revocation publish / import)".into(),
        )
    })?;
    // What an importer would refuse is not carried: an expired root or snapshot.
    store.root().check_fresh(now)?;
    revocation.check_fresh(now)?;
    let keys = args
        .sign_keys
        .iter()
        .map(|p| super::key::read_private(p))
        .collect::<Result<Vec<_>, _>>()?;
    let needs_registry = refs.iter().any(|r| {
        let (r, _) = split_name(r);
        !r.starts_with("oci:")
    });
    let registries = if needs_registry {
        Some(registry.registries(limits, 4)?)
    } else {
        None
    };
    let mut targets: Vec<(Target, String, Option<String>, String)> = Vec::new();
    for given in &refs {
        let (reference, name) = split_name(given);
        let target = super::target::resolve_with(reference, limits, registry, registries.as_ref())?;
        let (repository, tag) = naming(&target, name)?;
        targets.push((target, repository, tag, given.clone()));
    }
    if args.verify {
        let policy = store.policy()?.ok_or_else(|| {
            bundle::BundleError::Usage(
                "--verify needs a trust policy: airlock policy set FILE".into(),
            )
        })?;
        let ctx = Context {
            root: store.root().root(),
            revocation: store.revocation().map(|s| s.snapshot()),
            policy,
            now,
            limits,
        };
        for (t, repository, _, given) in &targets {
            let scope = t.repository.clone().unwrap_or_else(|| repository.clone());
            let j = verify::judge(t.store.source(), &t.descriptor, Some(&scope), &ctx)?;
            if let Decision::Fail(reason) = &j.decision {
                return Err(bundle::BundleError::Policy(format!(
                    "{given} ({scope}): {reason}; nothing was exported"
                ))
                .into());
            }
            out.status(format!("verified {given}: {}", j.decision.name()));
        }
    }
    let since = match &args.since {
        Some(path) => {
            let file = File::open(path)
                .map_err(|e| bundle::BundleError::Usage(format!("open {}: {e}", path.display())))?;
            let (digest, list) = bundle::read_packing_list(file, limits)?;
            let named: BTreeSet<_> = list.blobs.into_iter().map(|b| b.digest).collect();
            Some((digest, named))
        }
        None => None,
    };
    let items: Vec<ExportItem<'_>> = targets
        .iter()
        .map(|(t, repository, tag, given)| ExportItem {
            source: t.store.source(),
            root: t.descriptor.clone(),
            repository: repository.clone(),
            tag: tag.clone(),
            reference: given.clone(),
        })
        .collect();
    let bar = out.progress(None, "exporting");
    let progress_bar = bar.clone();
    let created = i64::try_from(PackOptions::mtime_from_env())
        .ok()
        .filter(|t| *t > 0)
        .unwrap_or(now);
    let opts = ExportOptions {
        chain,
        revocation,
        keys: &keys,
        compression: if args.zstd.is_some() {
            Compression::Zstd
        } else {
            Compression::None
        },
        zstd_level: args.zstd.unwrap_or(3),
        created,
        since,
        progress: Some(Arc::new(move |n| progress_bar.inc(n))),
    };
    // Written beside the target and renamed into place only when complete.
    let dir = args
        .output
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = tempfile::Builder::new()
        .prefix(".airlock-export-")
        .tempfile_in(dir)
        .map_err(|e| {
            bundle::BundleError::Usage(format!("create a file in {}: {e}", dir.display()))
        })?;
    // Past the page cache where the file system allows: a bundle is written once, read
    // elsewhere.
    let handle = tmp
        .reopen()
        .map_err(|e| bundle::BundleError::Usage(format!("open {}: {e}", tmp.path().display())))?;
    let mut writer = airlock::layout::DirectWriter::new(tmp.path(), handle);
    let report = bundle::export(&items, &mut writer, &opts, limits)?;
    writer
        .finish()
        .map_err(|e| bundle::BundleError::Usage(format!("write bundle: {e}")))?;
    // A bundle is meant to be shared: readable by all, as other files written here are.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .map_err(|e| bundle::BundleError::Usage(format!("set permissions: {e}")))?;
    }
    tmp.as_file()
        .sync_all()
        .map_err(|e| bundle::BundleError::Usage(format!("sync bundle: {e}")))?;
    tmp.persist_noclobber(&args.output).map_err(|e| {
        bundle::BundleError::Usage(format!("write {}: {}", args.output.display(), e.error))
    })?;
    bar.finish_and_clear();
    let (all, carried) = report.packing.totals();
    out.status(format!(
        "exported {} artifact(s), {} blobs ({}) into {}{}",
        report.packing.roots.len(),
        report.carried.0,
        human_bytes(carried),
        args.output.display(),
        if report.omitted.0 > 0 {
            format!(
                "; {} blobs ({}) omitted as carried by the base bundle",
                report.omitted.0,
                human_bytes(all - carried)
            )
        } else {
            String::new()
        }
    ));
    out.text(&format!(
        "bundle {} signed by {}\n",
        report.bundle.digest(),
        keys.iter()
            .map(|k| k.id().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    ));
    for r in &report.packing.roots {
        out.text(&format!(
            "  {} {} ({})\n",
            r.ref_name(),
            short(&r.digest),
            r.source
        ));
    }
    out.result(
        "export",
        json!({
            "bundle": report.bundle.digest().to_string(),
            "output": args.output,
            "roots": report.packing.roots.iter().map(|r| json!({
                "name": r.ref_name(), "digest": r.digest.to_string(), "source": r.source,
            })).collect::<Vec<_>>(),
            "blobsCarried": report.carried.0,
            "bytesCarried": report.carried.1,
            "blobsOmitted": report.omitted.0,
            "bytesOmitted": report.omitted.1,
            "signatures": report.signatures.iter().map(|d| d.digest().to_string()).collect::<Vec<_>>(),
        }),
    );
    Ok(())
}

/// `REF=NAME` → (`REF`, `NAME`). Only a layout reference takes a name (registry references
/// never contain `=`).
fn split_name(given: &str) -> (&str, Option<&str>) {
    match given.rsplit_once('=') {
        Some((r, n)) if r.starts_with("oci:") => (r, Some(n)),
        _ => (given, None),
    }
}

/// The repository path and tag a root is exported as.
fn naming(target: &Target, name: Option<&str>) -> Result<(String, Option<String>), Error> {
    let bad = |what: String| -> Error {
        bundle::BundleError::Usage(format!(
            "{what}: name the artifact as oci:PATH[:TAG]=REPOSITORY[:TAG]"
        ))
        .into()
    };
    let check = |repo: &str, tag: Option<&str>| -> Result<(String, Option<String>), Error> {
        airlock::reference::validate_repository(repo).map_err(|e| bad(e.to_string()))?;
        if let Some(t) = tag {
            airlock::reference::Tag::new(t).map_err(|e| bad(format!("tag {t:?}: {e}")))?;
        }
        Ok((repo.to_owned(), tag.map(str::to_owned)))
    };
    if let Some(n) = name {
        return match n.rsplit_once(':') {
            Some((repo, tag)) if !tag.contains('/') => check(repo, Some(tag)),
            _ => check(n, None),
        };
    }
    match &target.reference {
        Reference::Registry(r) => check(r.repository(), r.tag().map(|t| t.as_str())),
        Reference::Layout(l) => {
            let dir = l
                .path()
                .canonicalize()
                .ok()
                .and_then(|p| p.file_name().map(|f| f.to_string_lossy().to_lowercase()))
                .unwrap_or_default();
            let tag = match l.selector() {
                Some(Selector::Tag(t)) => Some(t.as_str().to_owned()),
                _ => None,
            };
            check(&dir, tag.as_deref())
        }
    }
}
