//! Judging an artifact offline: its signatures, weighed against the trust root's signer
//! identities, the revocation snapshot and the trust policy's scope for its repository.
//!
//! Spec: `formats/policy.md`, section "How verification uses the policy". The judgement never
//! stops at the first problem: every signature gets a verdict (valid or why not, revoked or
//! not, which identities its key belongs to), then the policy decides.

use std::collections::{BTreeMap, BTreeSet};

use oci_spec::image::Descriptor;

use crate::digest::Digest;
use crate::graph::{BlobStore, GraphSource};
use crate::key::KeyId;
use crate::limits::Limits;
use crate::policy::{AlgorithmVerdict, Level, Policy, Scope, Signers};
use crate::revocation::{Entry, Snapshot};
use crate::signature::{self, SignatureReport, Target};
use crate::time::{Seconds, format_rfc3339};
use crate::trust::TrustRoot;

/// What the judgement weighs against.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The newest trusted root: its signer identities and their keys.
    pub root: &'a TrustRoot,
    /// The newest accepted revocation snapshot, if any.
    pub revocation: Option<&'a Snapshot>,
    /// The trust policy.
    pub policy: &'a Policy,
    /// The time verification is judged at.
    pub now: Seconds,
    /// Bounds on what is read.
    pub limits: &'a Limits,
}

/// The verdict on one signature.
#[derive(Debug, Clone)]
pub struct SignatureVerdict {
    /// The cryptographic report (valid or why not).
    pub report: SignatureReport,
    /// The signer identities whose keys include the signing key.
    pub identities: Vec<String>,
    /// The key's revocation, if revoked.
    pub key_revoked: Option<Entry>,
    /// What the scope's algorithm rules say about its algorithm.
    pub algorithm: Option<AlgorithmVerdict>,
    /// Whether it counts towards an identity: valid, not revoked, an allowed algorithm, and a
    /// key of some identity.
    pub counts: bool,
    /// Why it does not count, when it does not.
    pub why_not: Option<String>,
}

/// Whether a set of signatures met a signer requirement.
#[derive(Debug, Clone)]
pub struct SignerCheck {
    /// Identities satisfied (threshold of distinct counted keys).
    pub satisfied: BTreeSet<String>,
    /// `Ok`, or why the requirement is not met.
    pub result: Result<(), String>,
}

/// The verdict on one required referrer rule.
#[derive(Debug, Clone)]
pub struct ReferrerVerdict {
    /// The artifact type required.
    pub artifact_type: String,
    /// The requirement on its signatures.
    pub signers: String,
    /// The referrer that met the rule, if one did.
    pub met_by: Option<Digest>,
    /// The referrers of that type considered (their descriptor digests, as written), each
    /// with why it failed (empty when met).
    pub candidates: Vec<(String, String)>,
}

/// The outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The policy is met.
    Pass,
    /// The policy is not met and the scope enforces it.
    Fail(String),
    /// The policy is not met; the scope only audits, so verification succeeds.
    AuditFail(String),
    /// The scope's level is `skip`: nothing was checked.
    Skipped,
}

impl Decision {
    /// Whether verification succeeds (exit 0).
    pub fn passes(&self) -> bool {
        !matches!(self, Decision::Fail(_))
    }

    /// A short name: `pass`, `fail`, `audit-fail`, `skipped`.
    pub fn name(&self) -> &'static str {
        match self {
            Decision::Pass => "pass",
            Decision::Fail(_) => "fail",
            Decision::AuditFail(_) => "audit-fail",
            Decision::Skipped => "skipped",
        }
    }

    /// Why it did not pass.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Decision::Fail(r) | Decision::AuditFail(r) => Some(r),
            _ => None,
        }
    }
}

/// The whole judgement of one artifact.
#[derive(Debug, Clone)]
pub struct Judgement {
    /// The artifact.
    pub target: Target,
    /// The repository the scope was chosen for.
    pub repository: Option<String>,
    /// The scope pattern chosen, if any matched.
    pub scope: Option<String>,
    /// Its level.
    pub level: Option<Level>,
    /// The signer requirement, described.
    pub requirement: Option<String>,
    /// The target digest's revocation, if revoked.
    pub target_revoked: Option<Entry>,
    /// Every signature found.
    pub signatures: Vec<SignatureVerdict>,
    /// Identities satisfied by the target's signatures.
    pub satisfied: BTreeSet<String>,
    /// The required referrers.
    pub referrers: Vec<ReferrerVerdict>,
    /// Things the operator should know that do not change the decision.
    pub warnings: Vec<String>,
    /// The outcome.
    pub decision: Decision,
}

/// Judges the artifact `descriptor` (found in `store`, its referrers in `index`) for
/// `repository` (`None` for an artifact with no repository, which only the global scope covers).
pub fn judge<G: GraphSource + ?Sized>(
    store: &G,
    descriptor: &Descriptor,
    repository: Option<&str>,
    ctx: &Context<'_>,
) -> Result<Judgement, signature::SignatureError> {
    let target = signature::target_of(store, descriptor, ctx.limits)?;
    let mut j = Judgement {
        target: target.clone(),
        repository: repository.map(str::to_owned),
        scope: None,
        level: None,
        requirement: None,
        target_revoked: ctx
            .revocation
            .and_then(|r| r.digest(&target.digest))
            .cloned(),
        signatures: Vec::new(),
        satisfied: BTreeSet::new(),
        referrers: Vec::new(),
        warnings: Vec::new(),
        decision: Decision::Pass,
    };
    if ctx.revocation.is_none() {
        j.warnings.push(
            "no revocation snapshot is installed: revoked keys cannot be recognised (airlock revocation import FILE)".into(),
        );
    }
    let Some(scope) = ctx.policy.scope_for(repository) else {
        j.decision = Decision::Fail(match repository {
            Some(r) => format!(
                "no policy scope covers {r} and the policy has no global scope (\"*\")"
            ),
            None => "the artifact has no repository (give --scope REPOSITORY) and the policy has no global scope (\"*\")".into(),
        });
        return Ok(j);
    };
    j.scope = Some(scope.pattern.to_string());
    j.level = Some(scope.level);
    j.requirement = scope.signers.as_ref().map(Signers::describe);
    if scope.level == Level::Skip {
        j.decision = Decision::Skipped;
        return Ok(j);
    }
    let named: BTreeSet<&str> = scope
        .signers
        .iter()
        .chain(scope.referrers.iter().map(|r| &r.signers))
        .flat_map(|s| s.names().iter().map(String::as_str))
        .collect();
    let unknown: Vec<&str> = named
        .into_iter()
        .filter(|n| !ctx.root.signers.contains_key(*n))
        .collect();
    let mut failures: Vec<String> = Vec::new();
    if !unknown.is_empty() {
        failures.push(format!(
            "the policy names signer identit{} {} that trust root version {} does not define",
            if unknown.len() == 1 { "y" } else { "ies" },
            unknown.join(", "),
            ctx.root.version
        ));
    }
    if let Some(e) = &j.target_revoked {
        failures.push(format!(
            "{} is revoked since {}: {}",
            target.digest,
            format_rfc3339(e.revoked_at),
            e.reason
        ));
    }
    let referrers = store.referrers_of(&target.digest)?;
    j.signatures = judge_signatures(store, &target, &referrers, scope, ctx);
    j.satisfied = satisfied(&j.signatures, ctx.root);
    for v in &j.signatures {
        if let Some(AlgorithmVerdict::InGracePeriod { not_after }) = v.algorithm
            && v.counts
        {
            let alg = v.report.algorithm.unwrap_or("?");
            let w = format!(
                "algorithm {alg} is deprecated: its signatures count until {}",
                format_rfc3339(not_after)
            );
            if !j.warnings.contains(&w) {
                j.warnings.push(w);
            }
        }
    }
    match &scope.signers {
        Some(req) => {
            if let Err(why) = req.evaluate(&j.satisfied) {
                failures.push(format!("signers: {why}"));
            }
        }
        None => failures.push("the scope names no signers".into()),
    }
    for rule in &scope.referrers {
        let mut verdict = ReferrerVerdict {
            artifact_type: rule.artifact_type.clone(),
            signers: rule.signers.describe(),
            met_by: None,
            candidates: Vec::new(),
        };
        for d in referrers.iter().filter(|d| {
            d.artifact_type()
                .as_ref()
                .map(ToString::to_string)
                .as_deref()
                == Some(rule.artifact_type.as_str())
        }) {
            match check_referrer(store, d, &rule.signers, scope, ctx) {
                Ok(digest) => {
                    verdict.met_by = Some(digest);
                    verdict.candidates.clear();
                    break;
                }
                Err((digest, why)) => verdict.candidates.push((digest, why)),
            }
        }
        if verdict.met_by.is_none() {
            failures.push(if verdict.candidates.is_empty() {
                format!("no referrer of type {} is attached", rule.artifact_type)
            } else {
                format!(
                    "no referrer of type {} is signed by {}",
                    rule.artifact_type, verdict.signers
                )
            });
        }
        j.referrers.push(verdict);
    }
    if !failures.is_empty() {
        let why = failures.join("; ");
        j.decision = if scope.level == Level::Audit {
            Decision::AuditFail(why)
        } else {
            Decision::Fail(why)
        };
    }
    Ok(j)
}

/// One referrer against a rule: its digest not revoked, its own signatures meeting `signers`.
fn check_referrer<G: GraphSource + ?Sized>(
    store: &G,
    d: &Descriptor,
    signers: &Signers,
    scope: &Scope,
    ctx: &Context<'_>,
) -> Result<Digest, (String, String)> {
    let written = d.digest().to_string();
    let digest = Digest::from_oci(d.digest())
        .map_err(|e| (written.clone(), format!("malformed referrer digest: {e}")))?;
    let target =
        signature::target_of(store, d, ctx.limits).map_err(|e| (written.clone(), e.to_string()))?;
    if let Some(e) = ctx.revocation.and_then(|r| r.digest(&digest)) {
        return Err((written, format!("revoked: {}", e.reason)));
    }
    let referrers = store
        .referrers_of(&digest)
        .map_err(|e| (written.clone(), format!("listing its referrers: {e}")))?;
    let verdicts = judge_signatures(store, &target, &referrers, scope, ctx);
    let ok = satisfied(&verdicts, ctx.root);
    signers.evaluate(&ok).map_err(|why| (written, why))?;
    Ok(digest)
}

fn judge_signatures<S: BlobStore + ?Sized>(
    store: &S,
    target: &Target,
    referrers: &[Descriptor],
    scope: &Scope,
    ctx: &Context<'_>,
) -> Vec<SignatureVerdict> {
    let keys = ctx.root.signer_keys();
    signature::verify_referrers(store, target, referrers, &keys, ctx.now, ctx.limits)
        .into_iter()
        .map(|report| {
            let identities: Vec<String> = report
                .key_id
                .map(|k| {
                    ctx.root
                        .identities_of(&k)
                        .into_iter()
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            let key_revoked = report
                .key_id
                .and_then(|k| ctx.revocation.and_then(|r| r.key(&k)))
                .cloned();
            let algorithm = report.algorithm.map(|a| scope.algorithm(a, ctx.now));
            // A signature is not revoked by its manifest's digest: the manifest is not signed, so
            // anyone can re-wrap the same envelope under another digest. Keys and artifacts are.
            let why_not = match (&report.verdict, &key_revoked, &algorithm) {
                (Err(p), _, _) => Some(format!("{}: {p}", p.code())),
                (Ok(()), Some(e), _) => Some(format!(
                    "key revoked since {}: {}",
                    format_rfc3339(e.revoked_at),
                    e.reason
                )),
                (Ok(()), None, Some(AlgorithmVerdict::NotAllowed)) => Some(format!(
                    "algorithm {} is not allowed by the policy",
                    report.algorithm.unwrap_or("?")
                )),
                (Ok(()), None, Some(AlgorithmVerdict::Deprecated { not_after })) => Some(format!(
                    "algorithm {} is deprecated since {}",
                    report.algorithm.unwrap_or("?"),
                    format_rfc3339(*not_after)
                )),
                _ if identities.is_empty() => Some("the key belongs to no signer identity".into()),
                _ => None,
            };
            SignatureVerdict {
                counts: why_not.is_none(),
                report,
                identities,
                key_revoked,
                algorithm,
                why_not,
            }
        })
        .collect()
}

/// Identities whose threshold of distinct keys signed with counting signatures.
fn satisfied(verdicts: &[SignatureVerdict], root: &TrustRoot) -> BTreeSet<String> {
    let mut keys_by_identity: BTreeMap<&str, BTreeSet<KeyId>> = BTreeMap::new();
    for v in verdicts.iter().filter(|v| v.counts) {
        if let Some(k) = v.report.key_id {
            for name in &v.identities {
                keys_by_identity.entry(name).or_default().insert(k);
            }
        }
    }
    keys_by_identity
        .into_iter()
        .filter(|(name, keys)| {
            root.signers
                .get(*name)
                .is_some_and(|role| keys.len() >= role.threshold)
        })
        .map(|(name, _)| name.to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signature::{Problem, SignatureReport};
    use crate::trust::root::tests::{key, make_root};

    fn verdict(key_id: KeyId, identities: &[&str], counts: bool) -> SignatureVerdict {
        SignatureVerdict {
            report: SignatureReport {
                manifest: None,
                key_id: Some(key_id),
                algorithm: Some("EdDSA"),
                signing_time: Some(0),
                expiry: None,
                verdict: if counts {
                    Ok(())
                } else {
                    Err(Problem::UnknownKey(key_id))
                },
            },
            identities: identities.iter().map(|s| (*s).to_owned()).collect(),
            key_revoked: None,
            algorithm: Some(AlgorithmVerdict::Allowed),
            counts,
            why_not: (!counts).then(|| "test".to_owned()),
        }
    }

    #[test]
    fn identities_are_satisfied_by_distinct_counting_keys() {
        let (a, b) = (key(20), key(21));
        let mut root = make_root(1, (&[&key(1)], 1), &[&key(2)], &[&key(3)]);
        root.keys.insert(a.id(), a.public().clone());
        root.keys.insert(b.id(), b.public().clone());
        root.signers.insert(
            "two-person".into(),
            crate::trust::Role {
                keys: [a.id(), b.id()].into(),
                threshold: 2,
            },
        );
        // The same key twice is one key.
        let twice = [
            verdict(a.id(), &["two-person"], true),
            verdict(a.id(), &["two-person"], true),
        ];
        assert!(satisfied(&twice, &root).is_empty());
        // A second key whose signature does not count is not counted.
        let one_bad = [
            verdict(a.id(), &["two-person"], true),
            verdict(b.id(), &["two-person"], false),
        ];
        assert!(satisfied(&one_bad, &root).is_empty());
        let both = [
            verdict(a.id(), &["two-person"], true),
            verdict(b.id(), &["two-person"], true),
        ];
        assert_eq!(
            satisfied(&both, &root),
            BTreeSet::from(["two-person".to_owned()])
        );
        // An identity the root does not define is never satisfied.
        let stranger = [verdict(a.id(), &["not-in-root"], true)];
        assert!(satisfied(&stranger, &root).is_empty());
    }

    #[test]
    fn only_an_enforced_failure_fails() {
        assert!(Decision::Pass.passes());
        assert!(Decision::Skipped.passes());
        assert!(Decision::AuditFail("x".into()).passes());
        assert!(!Decision::Fail("x".into()).passes());
        assert_eq!(Decision::AuditFail("why".into()).reason(), Some("why"));
        assert_eq!(Decision::Fail("x".into()).name(), "fail");
    }
}
