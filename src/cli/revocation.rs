//! `airlock revocation publish|import`: the next signed revocation snapshot from the trust
//! store's pending revocations, and installing a snapshot. Spec: `formats/revocation.md`.

use std::path::{Path, PathBuf};

use airlock::digest::Digest;
use airlock::revocation::SignedSnapshot;
use airlock::time::{self, Seconds, format_rfc3339};
use airlock::trust::TrustStore;
use airlock::{Error, Limits};
use clap::{Args, Subcommand};
use serde_json::json;

use super::output::Output;
use super::trust::{read_doc, snapshot_json, write_new};

#[derive(Debug, Subcommand)]
pub(crate) enum RevocationCommand {
    /// Sign the next revocation snapshot: the trusted snapshot's entries plus those recorded
    /// by `airlock revoke`.
    Publish(PublishArgs),
    /// Install a revocation snapshot into the trust store.
    Import(ImportArgs),
}

#[derive(Debug, Args)]
pub(crate) struct PublishArgs {
    /// How long verifiers may use the snapshot before they need a newer one (30d, 12h…).
    #[arg(long, required = true, value_parser = time::parse_duration)]
    expires: Seconds,
    /// A private key of the revocation role (repeatable; others can add theirs with
    /// `airlock trust sign`).
    #[arg(long, short = 'k', required = true)]
    key: Vec<PathBuf>,
    /// Where to write the snapshot (never overwritten).
    #[arg(long, short = 'o')]
    output: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct ImportArgs {
    /// The revocation snapshot file.
    file: PathBuf,
}

pub(crate) fn run(
    cmd: &RevocationCommand,
    out: &Output,
    limits: &Limits,
    dir: &Path,
) -> Result<(), Error> {
    match cmd {
        RevocationCommand::Publish(a) => publish(a, out, limits, dir),
        RevocationCommand::Import(a) => import(a, out, limits, dir),
    }
}

fn publish(args: &PublishArgs, out: &Output, limits: &Limits, dir: &Path) -> Result<(), Error> {
    let mut store = TrustStore::open(dir, limits)?;
    let now = time::now();
    store.check_clock(now)?;
    let next = store.next_snapshot(now, now.saturating_add(args.expires))?;
    let mut doc = SignedSnapshot::unsigned(next);
    for path in &args.key {
        let key = super::key::read_private(path)?;
        doc.sign(&key)?;
    }
    let bytes = doc.to_vec();
    if bytes.len() as u64 > limits.max_trust_document_bytes {
        return Err(airlock::trust::TrustError::TooLarge {
            what: airlock::trust::DocKind::Revocation,
            detail: format!(
                "the next snapshot would be {} bytes, more than max_trust_document_bytes ({}), which every verifier applies",
                bytes.len(),
                limits.max_trust_document_bytes
            ),
        }
        .into());
    }
    write_new(&args.output, &bytes)?;
    let s = doc.snapshot();
    out.status(format!(
        "wrote revocation snapshot version {} to {} ({} key(s), {} digest(s) revoked; expires {})",
        s.version,
        args.output.display(),
        s.keys.len(),
        s.digests.len(),
        format_rfc3339(s.expires)
    ));
    let installed = match doc.verify(store.root().root()) {
        Ok(_) => {
            store.import_revocation(doc.clone(), now)?;
            store.clear_published_draft()?;
            out.status(format!(
                "  installed in {}; carry {} to every verifier (`airlock revocation import`)",
                dir.display(),
                args.output.display()
            ));
            true
        }
        Err(e) => {
            out.status(format!(
                "  not installed yet: {e}\n  other revocation key holders run `airlock trust sign {} --key KEY`, then `airlock revocation import {}`",
                args.output.display(),
                args.output.display()
            ));
            false
        }
    };
    let mut body = snapshot_json(&doc);
    if let Some(o) = body.as_object_mut() {
        o.insert("file".into(), json!(args.output));
        o.insert("installed".into(), json!(installed));
    }
    out.result("revocation-publish", body);
    Ok(())
}

fn import(args: &ImportArgs, out: &Output, limits: &Limits, dir: &Path) -> Result<(), Error> {
    let mut store = TrustStore::open(dir, limits)?;
    let bytes = read_doc(&args.file, limits)?;
    let doc = SignedSnapshot::parse(&bytes, limits)?;
    let s = doc.snapshot();
    let (version, keys, digests, expires) = (s.version, s.keys.len(), s.digests.len(), s.expires);
    // The snapshot moves into the store: no second copy of a large one is kept.
    let changed = store.import_revocation(doc, time::now())?;
    if changed {
        store.clear_published_draft()?;
    }
    out.status(if changed {
        format!(
            "installed revocation snapshot version {version} ({keys} key(s), {digests} digest(s) revoked; expires {})",
            format_rfc3339(expires)
        )
    } else {
        format!("revocation snapshot version {version} is already installed")
    });
    out.result(
        "revocation-import",
        json!({ "installed": changed, "digest": Digest::sha256_of(&bytes), "version": version }),
    );
    Ok(())
}
