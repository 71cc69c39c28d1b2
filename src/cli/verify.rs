//! `airlock verify REF --key PUB…`: every signature of an artifact, judged against the given
//! public keys.

use std::path::PathBuf;

use airlock::graph::Indexed;
use airlock::key::{self, PublicKey};
use airlock::signature::{self, SignatureReport};
use airlock::time::{self, Seconds};
use airlock::{Error, Limits};
use clap::{Args, ValueEnum};
use serde_json::{Value, json};

use super::output::{Output, short};

#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// The artifact: oci:PATH[:TAG|@DIGEST].
    reference: String,
    /// A public key (SPKI PEM) whose signatures count (repeatable).
    #[arg(long, short = 'k', required = true)]
    key: Vec<PathBuf>,
    /// Succeed when a valid signature exists from any given key, or only when every given key
    /// has one.
    #[arg(long, value_enum, default_value = "any")]
    require: Require,
    /// Judge expiry as of this RFC 3339 time instead of now.
    #[arg(long, value_parser = time::parse_rfc3339)]
    at: Option<Seconds>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Require {
    /// At least one valid signature from one of the keys.
    Any,
    /// A valid signature from each key.
    All,
}

pub(crate) fn run(args: &VerifyArgs, out: &Output, limits: &Limits) -> Result<(), Error> {
    let keys = args
        .key
        .iter()
        .map(|p| key::read_public_key(p))
        .collect::<Result<Vec<PublicKey>, _>>()?;
    let t = super::target::resolve(&args.reference, "verify", limits)?;
    let target = signature::target_of(&t.layout, &t.entry.descriptor, limits)?;
    let entries = t.layout.index()?;
    let indexed = Indexed::new(&t.layout, &entries, limits)?;
    let now = args.at.unwrap_or_else(time::now);
    let reports = signature::verify_referrers(
        &t.layout,
        &target,
        indexed.referrers(&target.digest),
        &keys,
        now,
        limits,
    );

    out.status(format!(
        "{} → {} ({}, {} bytes): {} signature(s)",
        t.reference,
        target.digest,
        target.media_type,
        target.size,
        reports.len()
    ));
    for r in &reports {
        out.status(format!("  {}", line(r)));
    }
    let missing: Vec<&PublicKey> = keys
        .iter()
        .filter(|k| {
            !reports
                .iter()
                .any(|r| r.is_valid() && r.key_id == Some(k.id()))
        })
        .collect();
    let valid = reports.iter().filter(|r| r.is_valid()).count();
    let ok = match args.require {
        Require::Any => valid > 0,
        Require::All => missing.is_empty(),
    };
    let why = (!ok).then(|| match (args.require, reports.is_empty()) {
        (_, true) => format!("{} has no signatures", t.reference),
        (Require::Any, false) => format!(
            "no signature of {} verified with the given keys",
            t.reference
        ),
        (Require::All, false) => format!(
            "{} lacks a valid signature from key(s) {}",
            t.reference,
            missing
                .iter()
                .map(|k| k.id().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    });
    out.result(
        "verify",
        json!({
            "reference": t.reference.to_string(),
            "target": { "mediaType": target.media_type, "digest": target.digest, "size": target.size },
            "time": time::format_rfc3339(now),
            "require": format!("{:?}", args.require).to_lowercase(),
            "keys": keys.iter().map(|k| json!({ "keyId": k.id().to_string(), "algorithm": k.algorithm().to_string() })).collect::<Vec<_>>(),
            "signatures": reports.iter().map(report_json).collect::<Vec<_>>(),
            "verified": ok,
            "reason": why,
        }),
    );
    let Some(why) = why else {
        out.status(format!(
            "verified: {valid} of {} signature(s) valid",
            reports.len()
        ));
        return Ok(());
    };
    Err(Error::Unverified(why))
}

fn line(r: &SignatureReport) -> String {
    let key = r
        .key_id
        .map_or_else(|| "?".to_owned(), |k| short_key(&k.to_string()));
    let when = r
        .signing_time
        .map_or_else(|| "?".to_owned(), time::format_rfc3339);
    let verdict = match &r.verdict {
        Ok(()) => "valid".to_owned(),
        Err(p @ signature::Problem::UnknownKey(_)) => format!("not checked: {p}"),
        Err(p) => format!("INVALID ({}): {p}", p.code()),
    };
    format!(
        "signature {}  key {key}  {}  signed {when}  {verdict}",
        r.manifest.as_ref().map_or_else(|| "?".to_owned(), short),
        r.algorithm.unwrap_or("?")
    )
}

fn short_key(id: &str) -> String {
    id.get(..19).unwrap_or(id).to_owned()
}

fn report_json(r: &SignatureReport) -> Value {
    json!({
        "manifest": r.manifest,
        "keyId": r.key_id.map(|k| k.to_string()),
        "algorithm": r.algorithm,
        "signingTime": r.signing_time.map(time::format_rfc3339),
        "expiry": r.expiry.map(time::format_rfc3339),
        "valid": r.is_valid(),
        "problem": r.verdict.as_ref().err().map(|p| json!({ "code": p.code(), "message": p.to_string() })),
    })
}
