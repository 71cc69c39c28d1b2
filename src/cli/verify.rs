//! `airlock verify REF`: every signature of an artifact, judged by the trust store (root,
//! revocation snapshot, policy), or with `--key` against given public keys only.

use std::path::{Path, PathBuf};

use airlock::key::{self, PublicKey};
use airlock::policy::AlgorithmVerdict;
use airlock::signature::{self, Problem, SignatureReport};
use airlock::time::{self, Seconds, format_rfc3339};
use airlock::trust::signed::DocKind;
use airlock::trust::{TrustError, TrustStore};
use airlock::verify::{self, Context, Decision, Judgement, SignatureVerdict};
use airlock::{Error, Limits};
use clap::{Args, ValueEnum};
use serde_json::{Value, json};

use super::output::{Output, short};
use super::target::{RegistryArgs, Target};

#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// The artifact: oci:PATH[:TAG|@DIGEST] or REGISTRY/REPO[:TAG|@DIGEST].
    reference: String,
    /// The repository the artifact belongs to, for choosing the policy scope (a layout has
    /// none of its own; without this only the policy's global scope applies). A registry
    /// artifact's repository is its own, REGISTRY/REPO; --scope may only repeat it.
    #[arg(long, value_name = "REPOSITORY")]
    scope: Option<String>,
    /// Judge as of this RFC 3339 time instead of now (audits of archives): expiry of
    /// signatures, roots and snapshots, and algorithm deadlines, are judged at that time.
    /// Rollback protection still applies.
    #[arg(long, value_parser = time::parse_rfc3339)]
    at: Option<Seconds>,
    /// Skip the trust store and policy: count signatures by these public keys (SPKI PEM,
    /// repeatable). The store's revocation snapshot still applies when one is installed.
    #[arg(long, short = 'k')]
    key: Vec<PathBuf>,
    /// With --key: succeed when any given key has a valid signature, or only when all do.
    #[arg(long, value_enum, default_value = "any", requires = "key")]
    require: Require,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Require {
    /// At least one valid signature from one of the keys.
    Any,
    /// A valid signature from each key.
    All,
}

pub(crate) fn run(
    args: &VerifyArgs,
    out: &Output,
    limits: &Limits,
    dir: &Path,
    registry: &RegistryArgs,
) -> Result<(), Error> {
    let real_now = time::now();
    if let Some(at) = args.at {
        out.status(format!(
            "WARNING: verifying as of {} (--at), not now: expiry and algorithm deadlines are judged at that time; rollback protection and revocations still apply",
            format_rfc3339(at)
        ));
    }
    if args.key.is_empty() {
        with_policy(args, out, limits, dir, real_now, registry)
    } else {
        with_keys(args, out, limits, dir, real_now, registry)
    }
}

/// Checks the clock, records the time, and checks the root and snapshot are fresh at `at`
/// (issue times are judged against the real clock).
fn open_store(
    dir: &Path,
    limits: &Limits,
    real_now: Seconds,
    at: Seconds,
) -> Result<TrustStore, Error> {
    let mut store = TrustStore::open(dir, limits)?;
    store.check_clock(real_now)?;
    // Recording the time needs write access; a store administered by another account is still
    // protected by the check above, so a failure to record is only a warning.
    if let Err(e) = store.observe(real_now) {
        match e {
            TrustError::Io { .. } => {
                tracing::warn!("cannot record the time in the trust store: {e}");
            }
            e => return Err(e.into()),
        }
    }
    let r = store.root().root();
    fresh(
        DocKind::Root,
        r.version,
        r.issued_at,
        r.expires,
        real_now,
        at,
    )?;
    if let Some(s) = store.revocation() {
        let s = s.snapshot();
        fresh(
            DocKind::Revocation,
            s.version,
            s.issued_at,
            s.expires,
            real_now,
            at,
        )?;
    }
    Ok(store)
}

fn fresh(
    what: DocKind,
    version: u64,
    issued_at: Seconds,
    expires: Seconds,
    real_now: Seconds,
    at: Seconds,
) -> Result<(), TrustError> {
    if expires <= at {
        return Err(TrustError::Expired {
            what,
            version,
            expires,
            now: at,
        });
    }
    if issued_at > real_now.saturating_add(airlock::trust::CLOCK_SKEW) {
        return Err(TrustError::FromFuture {
            what,
            version,
            issued_at,
            now: real_now,
        });
    }
    Ok(())
}

fn with_policy(
    args: &VerifyArgs,
    out: &Output,
    limits: &Limits,
    dir: &Path,
    real_now: Seconds,
    registry: &RegistryArgs,
) -> Result<(), Error> {
    let at = args.at.unwrap_or(real_now);
    if let Some(scope) = &args.scope {
        airlock::policy::check_repository(scope)
            .map_err(|e| Error::Unsupported(format!("--scope {scope}: {e}")))?;
    }
    let store = open_store(dir, limits, real_now, at)?;
    let Some(policy) = store.policy()? else {
        return Err(Error::Unsupported(format!(
            "no trust policy is installed in {}; install one with `airlock policy set FILE` (or verify against keys with --key)",
            dir.display()
        )));
    };
    let t = super::target::resolve(&args.reference, limits, registry)?;
    let repository = scope_of(&t, args.scope.as_deref())?;
    let ctx = Context {
        root: store.root().root(),
        revocation: store.revocation().map(|s| s.snapshot()),
        policy,
        now: at,
        limits,
    };
    let j = verify::judge(t.store.source(), &t.descriptor, repository, &ctx)?;
    report(&j, &t.reference.to_string(), &store, args.at, out);
    match &j.decision {
        Decision::Fail(why) => Err(Error::Unverified(format!("{}: {why}", t.reference))),
        _ => Ok(()),
    }
}

/// The repository whose policy scope applies: a registry artifact's own (`--scope` may only
/// repeat it: judging a production artifact under another repository's rules is refused), or
/// for a layout the one `--scope` names.
fn scope_of<'a>(t: &'a Target, scope: Option<&'a str>) -> Result<Option<&'a str>, Error> {
    match (&t.repository, scope) {
        (Some(own), Some(given)) if !own.eq_ignore_ascii_case(given) => {
            Err(Error::Unsupported(format!(
                "--scope {given}: {} belongs to {own}, whose policy scope applies",
                t.reference
            )))
        }
        (Some(own), _) => Ok(Some(own)),
        (None, given) => Ok(given),
    }
}

fn report(j: &Judgement, reference: &str, store: &TrustStore, at: Option<Seconds>, out: &Output) {
    out.status(format!(
        "{reference} → {} ({}, {} bytes): {} signature(s)",
        j.target.digest,
        j.target.media_type,
        j.target.size,
        j.signatures.len()
    ));
    out.status(format!(
        "  trust root version {}; revocation snapshot {}",
        store.root().version(),
        store.revocation().map_or_else(
            || "none".to_owned(),
            |s| format!(
                "version {} (expires {})",
                s.version(),
                format_rfc3339(s.snapshot().expires)
            )
        )
    ));
    out.status(format!(
        "  scope {} ({}): {}",
        j.scope.as_deref().unwrap_or("none"),
        j.level.map_or_else(|| "-".to_owned(), |l| l.to_string()),
        j.requirement.as_deref().unwrap_or("-")
    ));
    if let Some(e) = &j.target_revoked {
        out.status(format!(
            "  ARTIFACT REVOKED since {}: {}",
            format_rfc3339(e.revoked_at),
            e.reason
        ));
    }
    for v in &j.signatures {
        out.status(format!("  {}", verdict_line(v)));
    }
    for r in &j.referrers {
        out.status(format!(
            "  required referrer {} signed by {}: {}",
            r.artifact_type,
            r.signers,
            match &r.met_by {
                Some(d) => format!("met by {}", short(d)),
                None if r.candidates.is_empty() => "none attached".to_owned(),
                None => r
                    .candidates
                    .iter()
                    .map(|(d, why)| format!("{} ({why})", d.get(..19).unwrap_or(d)))
                    .collect::<Vec<_>>()
                    .join("; "),
            }
        ));
    }
    for w in &j.warnings {
        out.status(format!("  warning: {w}"));
    }
    match &j.decision {
        Decision::Pass => out.status(format!(
            "verified: policy met (signers satisfied: {})",
            join(&j.satisfied)
        )),
        Decision::Skipped => out.status("verification skipped: the scope's level is skip"),
        Decision::AuditFail(why) => out.status(format!(
            "AUDIT: the policy is not met ({why}); not enforced in this scope"
        )),
        Decision::Fail(_) => {}
    }
    out.result(
        "verify",
        json!({
            "reference": reference,
            "target": { "mediaType": j.target.media_type, "digest": j.target.digest, "size": j.target.size },
            "time": format_rfc3339(at.unwrap_or_else(time::now)),
            "at": at.is_some(),
            "trust": {
                "rootVersion": store.root().version(),
                "revocationVersion": store.revocation().map(|s| s.version()),
                "revocationExpires": store.revocation().map(|s| format_rfc3339(s.snapshot().expires)),
            },
            "scope": {
                "repository": j.repository,
                "pattern": j.scope,
                "level": j.level.map(|l| l.to_string()),
                "signers": j.requirement,
            },
            "targetRevoked": j.target_revoked.as_ref().map(|e| json!({"revokedAt": format_rfc3339(e.revoked_at), "reason": e.reason})),
            "signatures": j.signatures.iter().map(verdict_json).collect::<Vec<_>>(),
            "satisfied": j.satisfied,
            "referrers": j.referrers.iter().map(|r| json!({
                "artifactType": r.artifact_type,
                "signers": r.signers,
                "metBy": r.met_by,
                "candidates": r.candidates.iter().map(|(d, why)| json!({"digest": d, "reason": why})).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "warnings": j.warnings,
            "decision": j.decision.name(),
            "reason": j.decision.reason(),
            "verified": j.decision.passes(),
        }),
    );
}

fn join(set: &std::collections::BTreeSet<String>) -> String {
    if set.is_empty() {
        "none".to_owned()
    } else {
        set.iter().cloned().collect::<Vec<_>>().join(", ")
    }
}

fn algorithm_status(a: Option<AlgorithmVerdict>) -> Option<&'static str> {
    a.map(|a| match a {
        AlgorithmVerdict::Allowed => "allowed",
        AlgorithmVerdict::InGracePeriod { .. } => "grace-period",
        AlgorithmVerdict::Deprecated { .. } => "deprecated",
        AlgorithmVerdict::NotAllowed => "not-allowed",
    })
}

fn verdict_line(v: &SignatureVerdict) -> String {
    let who = if v.identities.is_empty() {
        "no identity".to_owned()
    } else {
        v.identities.join("+")
    };
    let status = match &v.why_not {
        None => "counts".to_owned(),
        Some(why) => format!("does not count: {why}"),
    };
    format!("{}  [{who}]  {status}", line(&v.report))
}

fn verdict_json(v: &SignatureVerdict) -> Value {
    let mut j = report_json(&v.report);
    if let Some(o) = j.as_object_mut() {
        o.insert("identities".into(), json!(v.identities));
        o.insert(
            "revoked".into(),
            json!(
                v.key_revoked.as_ref().map(
                    |e| json!({"revokedAt": format_rfc3339(e.revoked_at), "reason": e.reason})
                )
            ),
        );
        o.insert(
            "algorithmStatus".into(),
            json!(algorithm_status(v.algorithm)),
        );
        o.insert("counts".into(), json!(v.counts));
        o.insert("whyNot".into(), json!(v.why_not));
    }
    j
}

fn with_keys(
    args: &VerifyArgs,
    out: &Output,
    limits: &Limits,
    dir: &Path,
    real_now: Seconds,
    registry: &RegistryArgs,
) -> Result<(), Error> {
    let keys = args
        .key
        .iter()
        .map(|p| key::read_public_key(p))
        .collect::<Result<Vec<PublicKey>, _>>()?;
    let now = args.at.unwrap_or(real_now);
    // The store's revocations apply everywhere it is set up; without a pinned store there are none.
    let store = match open_store(dir, limits, real_now, now) {
        Ok(s) => Some(s),
        Err(Error::Trust(TrustError::NotPinned { .. })) => {
            out.status(format!(
                "warning: no trust store in {}: no revocations are applied (give --trust-dir, or pin a root there)",
                dir.display()
            ));
            None
        }
        Err(e) => return Err(e),
    };
    if store.as_ref().is_some_and(|s| s.revocation().is_none()) {
        out.status(
            "warning: the trust store has no revocation snapshot: no revocations are applied",
        );
    }
    let revocation = store
        .as_ref()
        .and_then(|s| s.revocation())
        .map(|s| s.snapshot());
    let t = super::target::resolve(&args.reference, limits, registry)?;
    let target = signature::target_of(t.store.source(), &t.descriptor, limits)?;
    let referrers = t.store.source().referrers_of(&target.digest)?;
    let mut reports =
        signature::verify_referrers(t.store.source(), &target, &referrers, &keys, now, limits);
    for r in &mut reports {
        if let (Ok(()), Some(k)) = (&r.verdict, r.key_id)
            && let Some(e) = revocation.and_then(|s| s.key(&k))
        {
            r.verdict = Err(Problem::Revoked {
                key: k,
                reason: e.reason.clone(),
            });
        }
    }
    let target_revoked = revocation.and_then(|s| s.digest(&target.digest));

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
    let ok = target_revoked.is_none()
        && match args.require {
            Require::Any => valid > 0,
            Require::All => missing.is_empty(),
        };
    let why = (!ok).then(
        || match (target_revoked, args.require, reports.is_empty()) {
            (Some(e), _, _) => format!("{} is revoked: {}", target.digest, e.reason),
            (None, _, true) => format!("{} has no signatures", t.reference),
            (None, Require::Any, false) => {
                format!(
                    "no signature of {} verified with the given keys",
                    t.reference
                )
            }
            (None, Require::All, false) => format!(
                "{} lacks a valid signature from key(s) {}",
                t.reference,
                missing
                    .iter()
                    .map(|k| k.id().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        },
    );
    out.result(
        "verify",
        json!({
            "reference": t.reference.to_string(),
            "target": { "mediaType": target.media_type, "digest": target.digest, "size": target.size },
            "time": format_rfc3339(now),
            "at": args.at.is_some(),
            "require": format!("{:?}", args.require).to_lowercase(),
            "keys": keys.iter().map(|k| json!({ "keyId": k.id().to_string(), "algorithm": k.algorithm().to_string() })).collect::<Vec<_>>(),
            "revocationVersion": store.as_ref().and_then(|s| s.revocation()).map(|s| s.version()),
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
        Err(p @ Problem::UnknownKey(_)) => format!("not checked: {p}"),
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
