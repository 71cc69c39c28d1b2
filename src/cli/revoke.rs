//! `airlock revoke KEY|DIGEST --reason TEXT`: records a pending revocation in the trust store,
//! published by `airlock revocation publish`. Spec: `formats/revocation.md`.

use std::path::{Path, PathBuf};

use airlock::digest::Digest;
use airlock::key::{self, KeyId};
use airlock::revocation::{Added, MAX_REASON_BYTES};
use airlock::time::{self, Seconds, format_rfc3339};
use airlock::trust::TrustStore;
use airlock::trust::store::{DraftEntry, Revoke};
use airlock::{Error, Limits};
use clap::{Args, ValueEnum};
use serde_json::json;

use super::output::Output;

#[derive(Debug, Args)]
pub(crate) struct RevokeArgs {
    /// What to revoke: a public key file, a key id, or an artifact digest (`sha256:<hex>`).
    item: String,
    /// Why (recorded in the snapshot for every verifier to see).
    #[arg(long, required = true)]
    reason: String,
    /// Whether ITEM is a key or a digest (default: a public key file or a key id of the
    /// current trust root is a key; any other sha256:<hex> must say which).
    #[arg(long, value_enum)]
    kind: Option<Kind>,
    /// When the key or content went bad, RFC 3339 (default: now). Informational: a revoked
    /// key's signatures fail whatever their signing time.
    #[arg(long, value_parser = time::parse_rfc3339)]
    revoked_at: Option<Seconds>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Kind {
    /// A signing key.
    Key,
    /// An artifact digest.
    Digest,
}

pub(crate) fn run(
    args: &RevokeArgs,
    out: &Output,
    limits: &Limits,
    dir: &Path,
) -> Result<(), Error> {
    if args.reason.trim().is_empty() || args.reason.len() > MAX_REASON_BYTES {
        return Err(Error::Unsupported(format!(
            "--reason must be 1 to {MAX_REASON_BYTES} bytes"
        )));
    }
    let mut store = TrustStore::open(dir, limits)?;
    let item = classify(args, &store)?;
    let entry = DraftEntry {
        revoked_at: args.revoked_at.unwrap_or_else(time::now),
        reason: args.reason.clone(),
    };
    let revoked_at = entry.revoked_at;
    let what = match &item {
        Revoke::Key(k) => format!("key {k}"),
        Revoke::Digest(d) => format!("digest {d}"),
    };
    let added = store.add_to_draft(item, entry)?;
    match added {
        Added::New => out.status(format!(
            "recorded the revocation of {what} (revoked at {}); publish it with `airlock revocation publish --expires 30d --key REVOCATION.key -o FILE`",
            format_rfc3339(revoked_at)
        )),
        Added::AlreadyRevoked => out.status(format!(
            "{what} is already revoked or pending; nothing to do"
        )),
    }
    out.result(
        "revoke",
        json!({ "item": what, "added": added == Added::New, "revokedAt": format_rfc3339(revoked_at), "reason": args.reason }),
    );
    Ok(())
}

fn classify(args: &RevokeArgs, store: &TrustStore) -> Result<Revoke, Error> {
    let path = PathBuf::from(&args.item);
    let as_file = || -> Result<Option<KeyId>, Error> {
        if path.is_file() {
            Ok(Some(key::read_public_key(&path)?.id()))
        } else {
            Ok(None)
        }
    };
    let bad = |what: &str| {
        Error::Unsupported(format!(
            "{:?} is not {what}: give a public key file, a key id or a digest as sha256:<64 hex>",
            args.item
        ))
    };
    match args.kind {
        Some(Kind::Key) => match as_file()? {
            Some(k) => Ok(Revoke::Key(k)),
            None => args
                .item
                .parse::<KeyId>()
                .map(Revoke::Key)
                .map_err(|_| bad("a key")),
        },
        Some(Kind::Digest) => args
            .item
            .parse::<Digest>()
            .map(Revoke::Digest)
            .map_err(|_| bad("a digest")),
        None => {
            if let Some(k) = as_file()? {
                return Ok(Revoke::Key(k));
            }
            if let Ok(k) = args.item.parse::<KeyId>() {
                if store.root().root().keys.contains_key(&k) {
                    return Ok(Revoke::Key(k));
                }
                // `sha256:<hex>` that is no key of the current root: a key of an older root,
                // a key used with `verify --key`, or an artifact. Guessing wrong would leave
                // the key valid, so ask.
                return Err(Error::Unsupported(format!(
                    "{} is not a key of trust root version {}: say whether it is a key or an artifact with --kind key or --kind digest",
                    args.item,
                    store.root().version()
                )));
            }
            args.item
                .parse::<Digest>()
                .map(Revoke::Digest)
                .map_err(|_| bad("a key or a digest"))
        }
    }
}
