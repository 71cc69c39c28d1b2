//! Trust policy: which signer identities each repository scope requires, which signature
//! algorithms count and until when, and which signed referrers must be attached.
//!
//! Spec: `formats/policy.md`; JSON Schema: `formats/policy.schema.json`. [`Policy::parse`] reads
//! the JSON document strictly: unknown fields, duplicate keys, empty lists, unknown algorithms
//! and oversized input are refused, each error naming its place in the document
//! (`policy scopes[2].signers`). [`Policy::scope_for`] selects the scope of a repository;
//! [`Signers::evaluate`] and [`Scope::algorithm`] answer the questions a verifier asks. Nothing
//! here reads files, keys or signatures: the trust root and the signatures are judged elsewhere,
//! and this module is told which identities they satisfied.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::limits::Limits;
use crate::signature::envelope::ALGORITHMS;
use crate::time::{Seconds, format_rfc3339, parse_rfc3339};

/// The policy format version this module reads (`"version": 1`).
pub const POLICY_VERSION: u64 = 1;
/// Longest scope text, in bytes (a repository name is at most 255 characters, as in
/// `formats/layout.md`, "References").
pub const MAX_SCOPE_LEN: usize = 255;
/// Longest identity name: the grammar `[a-z0-9][a-z0-9._-]{0,63}` allows 64 characters.
pub const MAX_IDENTITY_LEN: usize = 64;
/// Most identity names in one `any-of`, `all-of` or `k-of` list.
pub const MAX_SIGNERS: usize = 256;
/// Most required referrers in one scope.
pub const MAX_REFERRER_RULES: usize = 64;
/// Longest `artifactType`: RFC 6838 allows 127 characters for the type and for the subtype.
pub const MAX_MEDIA_TYPE_LEN: usize = 255;

/// How the document itself is named in error locations.
const ROOT: &str = "policy";
/// The fields of the top-level object.
const POLICY_FIELDS: &[&str] = &["version", "scopes"];
/// The fields of one scope.
const SCOPE_FIELDS: &[&str] = &["scope", "level", "signers", "algorithms", "referrers"];
/// The forms of a `signers` object.
const SIGNER_FORMS: &[&str] = &["any-of", "all-of", "k-of"];
/// The fields of a `k-of` object.
const K_OF_FIELDS: &[&str] = &["k", "signers"];
/// The fields of one algorithm rule.
const ALGORITHM_FIELDS: &[&str] = &["name", "not-after"];
/// The fields of one referrer rule.
const REFERRER_FIELDS: &[&str] = &["artifactType", "signers"];
/// How many characters of a refused value an error message quotes.
const QUOTE_CHARS: usize = 100;

/// A parsed, validated trust policy.
///
/// Every invariant of `formats/policy.md` holds: at least one scope, no two scopes with the same
/// pattern, no `skip` on the global scope, every non-`skip` scope has its signers, and every
/// list is non-empty and free of duplicates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    scopes: Vec<Scope>,
}

impl Policy {
    /// Parses and validates a policy document (UTF-8 JSON). The first problem found is returned;
    /// its message names the JSON location, as in `policy scopes[2].signers: …`.
    pub fn parse(bytes: &[u8], limits: &Limits) -> Result<Policy, PolicyError> {
        let size = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        if size > limits.max_policy_bytes {
            return Err(PolicyError::TooLarge {
                size,
                limit: limits.max_policy_bytes,
            });
        }
        let text = std::str::from_utf8(bytes)
            .map_err(|e| PolicyError::Malformed(format!("the file is not UTF-8 ({e})")))?;
        if text.starts_with('\u{feff}') {
            return Err(PolicyError::Malformed(
                "the file starts with a byte-order mark; save it as UTF-8 without one".into(),
            ));
        }
        let doc: Json = serde_json::from_str(text)
            .map_err(|e| PolicyError::Malformed(format!("the file is not JSON: {e}")))?;

        let top = Fields::new(&doc, ROOT)?;
        // The version is checked before unknown fields, so that a newer document is reported
        // as a newer version rather than as fields this version does not know.
        match top.require("version")? {
            Json::Int(v) if *v == i128::from(POLICY_VERSION) => {}
            other => {
                return Err(PolicyError::UnsupportedVersion {
                    found: other.quote(),
                });
            }
        }
        top.only(POLICY_FIELDS)?;
        let scopes_at = field(ROOT, "scopes");
        let list = array(top.require("scopes")?, &scopes_at)?;
        if list.len() > limits.max_policy_scopes {
            return Err(PolicyError::TooManyScopes {
                count: list.len(),
                limit: limits.max_policy_scopes,
            });
        }
        if list.is_empty() {
            return Err(PolicyError::EmptyList { at: scopes_at });
        }
        let mut seen: HashMap<String, usize> = HashMap::with_capacity(list.len());
        let mut scopes = Vec::with_capacity(list.len());
        for (i, value) in list.iter().enumerate() {
            let at = item(&scopes_at, i);
            let scope = parse_scope(value, &at)?;
            let text = scope.pattern.to_string();
            if let Some(&first) = seen.get(&text) {
                return Err(PolicyError::DuplicateScope {
                    at: field(&at, "scope"),
                    scope: text,
                    first,
                });
            }
            seen.insert(text, i);
            scopes.push(scope);
        }
        Ok(Policy { scopes })
    }

    /// The scope that governs `repository`, a full repository name `host[:port]/path` as
    /// airlock's reference parser writes it (`docker.io/library/nginx`), without tag or digest.
    /// `None` means the artifact has no repository (a local layout): only the global scope can
    /// apply.
    ///
    /// Precedence: the exact scope naming the repository; else the matching `PREFIX/*` scope
    /// with the longest prefix; else the global scope `*`; else `None`, and the caller fails
    /// closed. The host part of `repository` is compared in lowercase (host names are
    /// case-insensitive); the path is compared exactly.
    pub fn scope_for(&self, repository: Option<&str>) -> Option<&Scope> {
        let global = || {
            self.scopes
                .iter()
                .find(|s| s.pattern == ScopePattern::Global)
        };
        let Some(repository) = repository else {
            return global();
        };
        let repository = lowercase_host(repository);
        let exact = self
            .scopes
            .iter()
            .find(|s| matches!(&s.pattern, ScopePattern::Exact(name) if *name == *repository));
        if exact.is_some() {
            return exact;
        }
        self.scopes
            .iter()
            .filter_map(|s| match &s.pattern {
                ScopePattern::Prefix(prefix) if is_under(&repository, prefix) => {
                    Some((prefix.len(), s))
                }
                _ => None,
            })
            .max_by_key(|(len, _)| *len)
            .map(|(_, s)| s)
            .or_else(global)
    }

    /// Every scope, in document order.
    pub fn scopes(&self) -> &[Scope] {
        &self.scopes
    }

    /// Every identity name the policy mentions (in scope signers and in referrer rules), to
    /// check against the trust root: a policy naming an identity the trust root does not define
    /// is an error, never silently ignored.
    pub fn identities(&self) -> BTreeSet<&str> {
        let mut names = BTreeSet::new();
        for scope in &self.scopes {
            let rules = scope.referrers.iter().map(|r| &r.signers);
            for signers in scope.signers.iter().chain(rules) {
                names.extend(signers.names().iter().map(String::as_str));
            }
        }
        names
    }
}

/// Checks that `repository` is a repository name [`Policy::scope_for`] can select on:
/// `host[:port]/path` with lowercase path components (the host may be in any case), no tag, no
/// digest, no wildcard. Callers that take a repository from a person (`verify --scope`) should
/// check it first: `registry.example.com/prod/web:1.0` is not an exact scope's name, and would
/// fall through to a broader prefix or the global scope.
pub fn check_repository(repository: &str) -> Result<(), String> {
    match parse_pattern(&lowercase_host(repository)) {
        Ok(ScopePattern::Exact(_)) => Ok(()),
        Ok(_) => Err(format!(
            "{:?} is a scope pattern, not a repository name",
            quote(repository)
        )),
        Err(why) => Err(format!(
            "{:?} is not a repository name (host[:port]/path, without tag or digest): {why}",
            quote(repository)
        )),
    }
}

/// One scope: the repositories it covers and what verification requires of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// The repositories covered.
    pub pattern: ScopePattern,
    /// What a verification failure does.
    pub level: Level,
    /// The identities whose signatures are required; `None` exactly when the level is
    /// [`Level::Skip`].
    pub signers: Option<Signers>,
    /// The signature algorithms that count, with optional deadlines; `None` allows every
    /// supported algorithm with no deadline.
    pub algorithms: Option<Vec<AlgorithmRule>>,
    /// Referrers that must be attached to the artifact and signed (empty when none are
    /// required).
    pub referrers: Vec<ReferrerRule>,
}

impl Scope {
    /// Whether a signature with COSE algorithm `cose_name` (as in
    /// [`ALGORITHMS`]: `EdDSA`, `Ed25519`, `ES384`)
    /// counts at verification time `at`. Names are compared exactly: `EdDSA` and `Ed25519` are
    /// different algorithms. A deadline (`not-after`) is exclusive: at `not_after` itself the
    /// algorithm is [`AlgorithmVerdict::Deprecated`].
    pub fn algorithm(&self, cose_name: &str, at: Seconds) -> AlgorithmVerdict {
        let Some(rules) = &self.algorithms else {
            return if ALGORITHMS.iter().any(|(_, name, _)| *name == cose_name) {
                AlgorithmVerdict::Allowed
            } else {
                AlgorithmVerdict::NotAllowed
            };
        };
        match rules.iter().find(|r| r.name == cose_name) {
            None => AlgorithmVerdict::NotAllowed,
            Some(AlgorithmRule {
                not_after: None, ..
            }) => AlgorithmVerdict::Allowed,
            Some(AlgorithmRule {
                not_after: Some(not_after),
                ..
            }) => {
                if at < *not_after {
                    AlgorithmVerdict::InGracePeriod {
                        not_after: *not_after,
                    }
                } else {
                    AlgorithmVerdict::Deprecated {
                        not_after: *not_after,
                    }
                }
            }
        }
    }

    /// A one-line summary for people, e.g. `registry.example.com/prod/web: enforce, all of
    /// acme-prod, wabbit-networks; algorithms EdDSA, ES384 until 2027-06-01T00:00:00Z;
    /// referrer application/spdx+json signed by any of acme-dev`.
    pub fn describe(&self) -> String {
        let mut line = format!("{}: {}", self.pattern, self.level);
        if let Some(signers) = &self.signers {
            line.push_str(&format!(", {}", signers.describe()));
        }
        if let Some(rules) = &self.algorithms {
            let list: Vec<String> = rules
                .iter()
                .map(|r| match r.not_after {
                    None => r.name.clone(),
                    Some(t) => format!("{} until {}", r.name, format_rfc3339(t)),
                })
                .collect();
            line.push_str(&format!("; algorithms {}", list.join(", ")));
        }
        for rule in &self.referrers {
            line.push_str(&format!(
                "; referrer {} signed by {}",
                rule.artifact_type,
                rule.signers.describe()
            ));
        }
        line
    }
}

/// The repositories a scope covers.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ScopePattern {
    /// One repository, `host[:port]/path` (`registry.example.com/prod/web`).
    Exact(String),
    /// Every repository strictly under the prefix, at any depth: the text `PREFIX/*`, holding
    /// `PREFIX` (`registry.example.com/dev` for `registry.example.com/dev/*`).
    Prefix(String),
    /// `*`: the default for every repository no other scope covers, and for artifacts with no
    /// repository.
    Global,
}

impl ScopePattern {
    /// Whether this pattern covers `repository` (see [`Policy::scope_for`] for the form of the
    /// name). Several patterns may cover one repository; [`Policy::scope_for`] picks one.
    pub fn matches(&self, repository: Option<&str>) -> bool {
        match (self, repository) {
            (ScopePattern::Global, _) => true,
            (_, None) => false,
            (ScopePattern::Exact(name), Some(r)) => *lowercase_host(r) == **name,
            (ScopePattern::Prefix(prefix), Some(r)) => is_under(&lowercase_host(r), prefix),
        }
    }
}

impl fmt::Display for ScopePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScopePattern::Exact(name) => f.write_str(name),
            ScopePattern::Prefix(prefix) => write!(f, "{prefix}/*"),
            ScopePattern::Global => f.write_str("*"),
        }
    }
}

/// What verification does for a scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Level {
    /// The policy must be met, or verification fails.
    Enforce,
    /// The policy is evaluated and the result reported; verification never fails on it.
    Audit,
    /// Signatures are not verified. Refused on the global scope.
    Skip,
}

impl Level {
    /// The name used in the policy file: `enforce`, `audit` or `skip`.
    pub fn name(self) -> &'static str {
        match self {
            Level::Enforce => "enforce",
            Level::Audit => "audit",
            Level::Skip => "skip",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which signer identities must be satisfied. An identity is satisfied when enough of its keys
/// (its threshold in the trust root) made signatures that count; the verifier works that out
/// and passes the set of satisfied names to [`Signers::evaluate`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Signers {
    /// `"any"`: at least one identity of the trust root is satisfied.
    AnyTrusted,
    /// `{"any-of": [...]}`: at least one of the named identities.
    AnyOf(Vec<String>),
    /// `{"all-of": [...]}`: every named identity.
    AllOf(Vec<String>),
    /// `{"k-of": {"k": K, "signers": [...]}}`: at least `k` of the named identities
    /// (1 ≤ k ≤ the number of names).
    KOf {
        /// How many must be satisfied.
        k: usize,
        /// The candidates.
        of: Vec<String>,
    },
}

impl Signers {
    /// Ok when the requirement is met by `satisfied` (the names of the satisfied identities);
    /// otherwise why not, naming what is missing, e.g. `needs all of acme-prod,
    /// wabbit-networks; missing wabbit-networks`.
    pub fn evaluate(&self, satisfied: &BTreeSet<String>) -> Result<(), String> {
        let met: Vec<&str> = self
            .names()
            .iter()
            .filter(|n| satisfied.contains(*n))
            .map(String::as_str)
            .collect();
        let missing: Vec<&str> = self
            .names()
            .iter()
            .filter(|n| !satisfied.contains(*n))
            .map(String::as_str)
            .collect();
        let ok = match self {
            Signers::AnyTrusted => !satisfied.is_empty(),
            Signers::AnyOf(_) => !met.is_empty(),
            Signers::AllOf(_) => missing.is_empty(),
            Signers::KOf { k, .. } => met.len() >= *k,
        };
        if ok {
            return Ok(());
        }
        let why = match self {
            Signers::AnyTrusted => "no trusted signer is satisfied".to_owned(),
            Signers::AnyOf(_) => "none of them is satisfied".to_owned(),
            Signers::AllOf(_) => format!("missing {}", missing.join(", ")),
            Signers::KOf { .. } if met.is_empty() => "none of them is satisfied".to_owned(),
            Signers::KOf { .. } => format!(
                "only {} satisfied ({}); missing {}",
                met.len(),
                met.join(", "),
                missing.join(", ")
            ),
        };
        Err(format!("needs {}; {why}", self.describe()))
    }

    /// The requirement in words: `any trusted signer`, `any of a, b`, `all of acme-prod,
    /// wabbit-networks`, `2 of a, b, c`.
    pub fn describe(&self) -> String {
        match self {
            Signers::AnyTrusted => "any trusted signer".to_owned(),
            Signers::AnyOf(names) => format!("any of {}", names.join(", ")),
            Signers::AllOf(names) => format!("all of {}", names.join(", ")),
            Signers::KOf { k, of } => format!("{k} of {}", of.join(", ")),
        }
    }

    /// The identity names listed, in document order (none for [`Signers::AnyTrusted`]).
    pub fn names(&self) -> &[String] {
        match self {
            Signers::AnyTrusted => &[],
            Signers::AnyOf(names) | Signers::AllOf(names) | Signers::KOf { of: names, .. } => names,
        }
    }
}

impl fmt::Display for Signers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

/// One entry of a scope's `algorithms` list.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AlgorithmRule {
    /// The COSE algorithm name, one of
    /// [`ALGORITHMS`].
    pub name: String,
    /// The end of a deprecated algorithm's grace period: signatures count only strictly before
    /// it.
    pub not_after: Option<Seconds>,
}

/// Whether signatures with one algorithm count in a scope at a given time
/// ([`Scope::algorithm`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlgorithmVerdict {
    /// Allowed, with no deadline.
    Allowed,
    /// Allowed until `not_after` (exclusive): a deprecated algorithm in its grace period.
    InGracePeriod {
        /// The end of the grace period.
        not_after: Seconds,
    },
    /// The grace period ended at `not_after`: signatures with it no longer count.
    Deprecated {
        /// The end of the grace period.
        not_after: Seconds,
    },
    /// Not listed in the scope's `algorithms`: signatures with it do not count.
    NotAllowed,
}

impl AlgorithmVerdict {
    /// Whether a signature with this verdict counts ([`Allowed`](AlgorithmVerdict::Allowed) or
    /// [`InGracePeriod`](AlgorithmVerdict::InGracePeriod)).
    pub fn counts(&self) -> bool {
        matches!(
            self,
            AlgorithmVerdict::Allowed | AlgorithmVerdict::InGracePeriod { .. }
        )
    }
}

/// A required referrer: an artifact of `artifact_type` attached to the subject, itself signed
/// as `signers` says.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ReferrerRule {
    /// The referrer's `artifactType`, a media type compared exactly
    /// (`application/spdx+json`).
    pub artifact_type: String,
    /// Who must have signed the referrer.
    pub signers: Signers,
}

/// Why a policy document was refused. `at` names the place in the document, as
/// `policy scopes[2].signers`; [`PolicyError::code`] gives a stable short name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The file is larger than `max_policy_bytes`.
    #[error("policy is {size} bytes, over the {limit}-byte limit (max_policy_bytes)")]
    TooLarge {
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// Not UTF-8, not JSON, or followed by more than whitespace.
    #[error("policy: {0}")]
    Malformed(String),
    /// An object has the same key twice (JSON readers disagree on which one counts).
    #[error("{at}: key {key:?} appears twice; keep one")]
    DuplicateKey {
        /// The object.
        at: String,
        /// The key.
        key: String,
    },
    /// An object has a field this version does not define.
    #[error("{at}: unknown field {field:?} (known: {})", known.join(", "))]
    UnknownField {
        /// The object.
        at: String,
        /// The field.
        field: String,
        /// The fields allowed there.
        known: &'static [&'static str],
    },
    /// A required field is absent.
    #[error("{at}: missing field {field:?}")]
    MissingField {
        /// The object.
        at: String,
        /// The field.
        field: &'static str,
    },
    /// A value has the wrong JSON type.
    #[error("{at}: expected {expected}, found {found}")]
    WrongType {
        /// The value.
        at: String,
        /// What is expected there.
        expected: &'static str,
        /// What was found.
        found: &'static str,
    },
    /// `version` is not 1.
    #[error(
        "policy version: found {found}; this airlock reads version {POLICY_VERSION} (formats/policy.md)"
    )]
    UnsupportedVersion {
        /// The value found, as JSON text.
        found: String,
    },
    /// More scopes than `max_policy_scopes`.
    #[error("policy scopes: {count} scopes, over the limit of {limit} (max_policy_scopes)")]
    TooManyScopes {
        /// How many.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// A list is longer than its bound ([`MAX_SIGNERS`], [`MAX_REFERRER_RULES`]).
    #[error("{at}: {count} {what}, over the limit of {limit}")]
    TooMany {
        /// The list.
        at: String,
        /// How many entries.
        count: usize,
        /// The bound.
        limit: usize,
        /// What the entries are.
        what: &'static str,
    },
    /// A list is empty; every list present must have an entry.
    #[error(
        "{at}: the list is empty; give at least one entry, or leave the field out where it is optional"
    )]
    EmptyList {
        /// The list.
        at: String,
    },
    /// A scope is neither a repository name, `PREFIX/*` nor `*`.
    #[error("{at}: scope {scope:?} is invalid: {why}")]
    InvalidScope {
        /// The scope field.
        at: String,
        /// The text (shortened).
        scope: String,
        /// What is wrong.
        why: String,
    },
    /// Two scopes have the same pattern.
    #[error("{at}: scope {scope:?} is already defined by scopes[{first}]; merge the two")]
    DuplicateScope {
        /// The second scope field.
        at: String,
        /// The pattern.
        scope: String,
        /// The index of the first scope with it.
        first: usize,
    },
    /// `level` is not `enforce`, `audit` or `skip`.
    #[error("{at}: unknown level {found:?} (known: enforce, audit, skip)")]
    InvalidLevel {
        /// The level field.
        at: String,
        /// The text (shortened).
        found: String,
    },
    /// The global scope `*` has level `skip`.
    #[error(
        "{at}: the global scope \"*\" cannot be skip (that would turn verification off for every repository no other scope names); use audit, or skip narrower scopes"
    )]
    SkipGlobal {
        /// The level field.
        at: String,
    },
    /// A `skip` scope has `signers`, `algorithms` or `referrers`.
    #[error(
        "{at}: a skip scope verifies nothing, so it takes no {field}; remove the field or change the level"
    )]
    SkipWithRules {
        /// The field.
        at: String,
        /// Its name.
        field: &'static str,
    },
    /// `signers` is not one of its forms.
    #[error(
        "{at}: {why}; write \"any\", {{\"any-of\": [...]}}, {{\"all-of\": [...]}} or {{\"k-of\": {{\"k\": K, \"signers\": [...]}}}}"
    )]
    InvalidSigners {
        /// The signers field.
        at: String,
        /// What is wrong.
        why: String,
    },
    /// An identity name breaks the grammar.
    #[error(
        "{at}: {name:?} is not an identity name (1 to 64 of a-z, 0-9, '.', '_', '-', starting with a letter or digit)"
    )]
    InvalidIdentity {
        /// The name's place.
        at: String,
        /// The text (shortened).
        name: String,
    },
    /// An identity is listed twice in one list.
    #[error("{at}: {name:?} is listed twice; list each identity once")]
    DuplicateIdentity {
        /// The second occurrence.
        at: String,
        /// The name.
        name: String,
    },
    /// `k` is below 1 or above the number of signers listed.
    #[error("{at}: {}", threshold_problem(*k, *count))]
    InvalidThreshold {
        /// The signers field holding the `k-of`.
        at: String,
        /// The `k` given.
        k: i128,
        /// How many signers are listed.
        count: usize,
    },
    /// An algorithm name airlock does not know.
    #[error("{at}: unknown algorithm {name:?} (known: {}; names are exact COSE names)", algorithm_names().join(", "))]
    UnknownAlgorithm {
        /// The name field.
        at: String,
        /// The text (shortened).
        name: String,
    },
    /// An algorithm listed twice in one scope.
    #[error("{at}: algorithm {name:?} is listed twice; list each algorithm once")]
    DuplicateAlgorithm {
        /// The second name field.
        at: String,
        /// The name.
        name: String,
    },
    /// `not-after` is not an RFC 3339 time.
    #[error("{at}: {why}")]
    InvalidTime {
        /// The not-after field.
        at: String,
        /// What is wrong.
        why: String,
    },
    /// `artifactType` is not a `type/subtype` media type.
    #[error(
        "{at}: {found:?} is not a media type (type/subtype, each 1 to 127 of A-Z a-z 0-9 ! # $ & - ^ _ . +, starting with a letter or digit; no parameters)"
    )]
    InvalidArtifactType {
        /// The artifactType field.
        at: String,
        /// The text (shortened).
        found: String,
    },
    /// Two referrer rules of one scope have the same `artifactType`.
    #[error(
        "{at}: another referrer rule of this scope already requires {artifact_type:?}; merge them into one rule (use all-of or k-of)"
    )]
    DuplicateReferrer {
        /// The second artifactType field.
        at: String,
        /// The media type.
        artifact_type: String,
    },
}

impl PolicyError {
    /// A short, stable machine-readable name (the `.expect` files of `tests/vectors/policy/`).
    pub fn code(&self) -> &'static str {
        match self {
            PolicyError::TooLarge { .. } => "too-large",
            PolicyError::Malformed(_) => "malformed",
            PolicyError::DuplicateKey { .. } => "duplicate-key",
            PolicyError::UnknownField { .. } => "unknown-field",
            PolicyError::MissingField { .. } => "missing-field",
            PolicyError::WrongType { .. } => "wrong-type",
            PolicyError::UnsupportedVersion { .. } => "unsupported-version",
            PolicyError::TooManyScopes { .. } => "too-many-scopes",
            PolicyError::TooMany { .. } => "too-many",
            PolicyError::EmptyList { .. } => "empty-list",
            PolicyError::InvalidScope { .. } => "invalid-scope",
            PolicyError::DuplicateScope { .. } => "duplicate-scope",
            PolicyError::InvalidLevel { .. } => "invalid-level",
            PolicyError::SkipGlobal { .. } => "skip-global",
            PolicyError::SkipWithRules { .. } => "skip-with-rules",
            PolicyError::InvalidSigners { .. } => "invalid-signers",
            PolicyError::InvalidIdentity { .. } => "invalid-identity",
            PolicyError::DuplicateIdentity { .. } => "duplicate-identity",
            PolicyError::InvalidThreshold { .. } => "invalid-threshold",
            PolicyError::UnknownAlgorithm { .. } => "unknown-algorithm",
            PolicyError::DuplicateAlgorithm { .. } => "duplicate-algorithm",
            PolicyError::InvalidTime { .. } => "invalid-time",
            PolicyError::InvalidArtifactType { .. } => "invalid-artifact-type",
            PolicyError::DuplicateReferrer { .. } => "duplicate-referrer",
        }
    }

    /// What the user can do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            PolicyError::TooLarge { .. } | PolicyError::TooManyScopes { .. } => {
                "split the policy into fewer, broader scopes (PREFIX/*), or raise the limit with --limit NAME=VALUE if the file is genuine"
            }
            PolicyError::UnsupportedVersion { .. } => {
                "write the policy in version 1 (formats/policy.md), or upgrade airlock"
            }
            _ => {
                "correct the policy file (formats/policy.md; formats/policy.schema.json checks its shape in editors and CI)"
            }
        }
    }
}

fn threshold_problem(k: i128, count: usize) -> String {
    if k < 1 {
        format!("k is {k}; it must be at least 1")
    } else {
        let listed = if count == 1 {
            "only 1 signer is listed".to_owned()
        } else {
            format!("only {count} signers are listed")
        };
        format!("k is {k} but {listed}")
    }
}

fn algorithm_names() -> Vec<&'static str> {
    ALGORITHMS.iter().map(|(_, name, _)| *name).collect()
}

// ---------------------------------------------------------------------------------------------
// Reading the document.

fn parse_scope(value: &Json, at: &str) -> Result<Scope, PolicyError> {
    let fields = Fields::new(value, at)?;
    fields.only(SCOPE_FIELDS)?;

    let scope_at = field(at, "scope");
    let text = string(fields.require("scope")?, &scope_at)?;
    let pattern = parse_pattern(text).map_err(|why| PolicyError::InvalidScope {
        at: scope_at,
        scope: quote(text),
        why,
    })?;

    let level_at = field(at, "level");
    let level = match string(fields.require("level")?, &level_at)? {
        "enforce" => Level::Enforce,
        "audit" => Level::Audit,
        "skip" => Level::Skip,
        other => {
            return Err(PolicyError::InvalidLevel {
                at: level_at,
                found: quote(other),
            });
        }
    };

    if level == Level::Skip {
        if pattern == ScopePattern::Global {
            return Err(PolicyError::SkipGlobal { at: level_at });
        }
        for name in ["signers", "algorithms", "referrers"] {
            if fields.get(name).is_some() {
                return Err(PolicyError::SkipWithRules {
                    at: field(at, name),
                    field: name,
                });
            }
        }
        return Ok(Scope {
            pattern,
            level,
            signers: None,
            algorithms: None,
            referrers: Vec::new(),
        });
    }

    let signers = parse_signers(fields.require("signers")?, &field(at, "signers"))?;
    let algorithms = match fields.get("algorithms") {
        None => None,
        Some(v) => Some(parse_algorithms(v, &field(at, "algorithms"))?),
    };
    let referrers = match fields.get("referrers") {
        None => Vec::new(),
        Some(v) => parse_referrers(v, &field(at, "referrers"))?,
    };
    Ok(Scope {
        pattern,
        level,
        signers: Some(signers),
        algorithms,
        referrers,
    })
}

fn parse_signers(value: &Json, at: &str) -> Result<Signers, PolicyError> {
    match value {
        Json::Str(s) if s == "any" => Ok(Signers::AnyTrusted),
        Json::Str(s) => Err(PolicyError::InvalidSigners {
            at: at.to_owned(),
            why: format!("{:?} is not a signers form", quote(s)),
        }),
        Json::Object(_) => {
            let fields = Fields::new(value, at)?;
            fields.only(SIGNER_FORMS)?;
            let [(form, inner)] = fields.fields else {
                return Err(PolicyError::InvalidSigners {
                    at: at.to_owned(),
                    why: format!(
                        "the object has {} forms, not exactly one",
                        fields.fields.len()
                    ),
                });
            };
            let inner_at = field(at, form);
            match form.as_str() {
                "any-of" => Ok(Signers::AnyOf(parse_names(inner, &inner_at)?)),
                "all-of" => Ok(Signers::AllOf(parse_names(inner, &inner_at)?)),
                _ => parse_k_of(inner, &inner_at, at),
            }
        }
        other => Err(PolicyError::WrongType {
            at: at.to_owned(),
            expected: "\"any\" or an object",
            found: other.kind(),
        }),
    }
}

fn parse_k_of(value: &Json, at: &str, signers_at: &str) -> Result<Signers, PolicyError> {
    let fields = Fields::new(value, at)?;
    fields.only(K_OF_FIELDS)?;
    let k_value = fields.require("k")?;
    let of = parse_names(fields.require("signers")?, &field(at, "signers"))?;
    let k = match k_value {
        Json::Int(k) => *k,
        other => {
            return Err(PolicyError::WrongType {
                at: field(at, "k"),
                expected: "a whole number",
                found: other.kind(),
            });
        }
    };
    match usize::try_from(k) {
        Ok(k) if (1..=of.len()).contains(&k) => Ok(Signers::KOf { k, of }),
        _ => Err(PolicyError::InvalidThreshold {
            at: signers_at.to_owned(),
            k,
            count: of.len(),
        }),
    }
}

fn parse_names(value: &Json, at: &str) -> Result<Vec<String>, PolicyError> {
    let list = array(value, at)?;
    if list.is_empty() {
        return Err(PolicyError::EmptyList { at: at.to_owned() });
    }
    if list.len() > MAX_SIGNERS {
        return Err(PolicyError::TooMany {
            at: at.to_owned(),
            count: list.len(),
            limit: MAX_SIGNERS,
            what: "signer names",
        });
    }
    let mut seen = BTreeSet::new();
    let mut names = Vec::with_capacity(list.len());
    for (i, v) in list.iter().enumerate() {
        let name_at = item(at, i);
        let name = string(v, &name_at)?;
        if !is_identity(name) {
            return Err(PolicyError::InvalidIdentity {
                at: name_at,
                name: quote(name),
            });
        }
        if !seen.insert(name) {
            return Err(PolicyError::DuplicateIdentity {
                at: name_at,
                name: name.to_owned(),
            });
        }
        names.push(name.to_owned());
    }
    Ok(names)
}

fn parse_algorithms(value: &Json, at: &str) -> Result<Vec<AlgorithmRule>, PolicyError> {
    let list = array(value, at)?;
    if list.is_empty() {
        return Err(PolicyError::EmptyList { at: at.to_owned() });
    }
    // No bound is needed: unknown and repeated names are refused as they are met, so at most
    // ALGORITHMS.len() entries are accepted.
    let mut rules: Vec<AlgorithmRule> = Vec::new();
    for (i, v) in list.iter().enumerate() {
        let rule_at = item(at, i);
        let fields = Fields::new(v, &rule_at)?;
        fields.only(ALGORITHM_FIELDS)?;
        let name_at = field(&rule_at, "name");
        let name = string(fields.require("name")?, &name_at)?;
        if !ALGORITHMS.iter().any(|(_, known, _)| *known == name) {
            return Err(PolicyError::UnknownAlgorithm {
                at: name_at,
                name: quote(name),
            });
        }
        if rules.iter().any(|r| r.name == name) {
            return Err(PolicyError::DuplicateAlgorithm {
                at: name_at,
                name: name.to_owned(),
            });
        }
        let not_after = match fields.get("not-after") {
            None => None,
            Some(v) => {
                let time_at = field(&rule_at, "not-after");
                let text = string(v, &time_at)?;
                Some(
                    parse_rfc3339(text)
                        .map_err(|why| PolicyError::InvalidTime { at: time_at, why })?,
                )
            }
        };
        rules.push(AlgorithmRule {
            name: name.to_owned(),
            not_after,
        });
    }
    Ok(rules)
}

fn parse_referrers(value: &Json, at: &str) -> Result<Vec<ReferrerRule>, PolicyError> {
    let list = array(value, at)?;
    if list.is_empty() {
        return Err(PolicyError::EmptyList { at: at.to_owned() });
    }
    if list.len() > MAX_REFERRER_RULES {
        return Err(PolicyError::TooMany {
            at: at.to_owned(),
            count: list.len(),
            limit: MAX_REFERRER_RULES,
            what: "referrer rules",
        });
    }
    let mut rules: Vec<ReferrerRule> = Vec::with_capacity(list.len());
    for (i, v) in list.iter().enumerate() {
        let rule_at = item(at, i);
        let fields = Fields::new(v, &rule_at)?;
        fields.only(REFERRER_FIELDS)?;
        let type_at = field(&rule_at, "artifactType");
        let artifact_type = string(fields.require("artifactType")?, &type_at)?;
        if !is_media_type(artifact_type) {
            return Err(PolicyError::InvalidArtifactType {
                at: type_at,
                found: quote(artifact_type),
            });
        }
        if rules.iter().any(|r| r.artifact_type == artifact_type) {
            return Err(PolicyError::DuplicateReferrer {
                at: type_at,
                artifact_type: artifact_type.to_owned(),
            });
        }
        let signers = parse_signers(fields.require("signers")?, &field(&rule_at, "signers"))?;
        rules.push(ReferrerRule {
            artifact_type: artifact_type.to_owned(),
            signers,
        });
    }
    Ok(rules)
}

// ---------------------------------------------------------------------------------------------
// Grammars.

/// Reads a scope: `*`, `PREFIX/*` or an exact repository name. The error says what is wrong.
fn parse_pattern(text: &str) -> Result<ScopePattern, String> {
    if text == "*" {
        return Ok(ScopePattern::Global);
    }
    if text.len() > MAX_SCOPE_LEN {
        return Err(format!("it is longer than {MAX_SCOPE_LEN} characters"));
    }
    let (body, prefix) = match text.strip_suffix("/*") {
        Some(body) => (body, true),
        None => (text, false),
    };
    if body.contains('*') {
        return Err(
            "a wildcard is allowed only as the whole scope \"*\" or as a final \"/*\"".into(),
        );
    }
    let (host, path) = match body.split_once('/') {
        Some((host, path)) => (host, Some(path)),
        None => (body, None),
    };
    check_host(host)?;
    match path {
        Some(path) => check_path(path)?,
        None if !prefix => {
            return Err(format!(
                "it names a registry but no repository; write {body}/* to cover every repository of the registry"
            ));
        }
        None => {}
    }
    Ok(if prefix {
        ScopePattern::Prefix(body.to_owned())
    } else {
        ScopePattern::Exact(body.to_owned())
    })
}

/// `host[:port]` where host is DNS labels of `[a-z0-9-]` joined by `.` (no label starting or
/// ending with `-`), or a bracketed IPv6 address of `[0-9a-f:.]`; port is 1 to 5 digits.
fn check_host(host: &str) -> Result<(), String> {
    if host.is_empty() {
        return Err("the registry host is empty".into());
    }
    if host.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err("registry hosts are written in lowercase".into());
    }
    let bad_port = |p: &str| p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit());
    let port = if let Some(inner) = host.strip_prefix('[') {
        let (v6, after) = inner
            .split_once(']')
            .ok_or("an IPv6 host has no closing ']'")?;
        if v6.is_empty()
            || !v6
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f' | b':' | b'.'))
        {
            return Err(format!("[{v6}] is not an IPv6 address"));
        }
        match after {
            "" => None,
            a => Some(a.strip_prefix(':').ok_or("text follows the IPv6 address")?),
        }
    } else {
        let (name, port) = match host.split_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (host, None),
        };
        let label_ok = |label: &str| {
            let b = label.as_bytes();
            !b.is_empty()
                && b[0] != b'-'
                && b[b.len() - 1] != b'-'
                && b.iter()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        };
        if !name.split('.').all(label_ok) {
            return Err(format!(
                "registry host {name:?} is not a host name (labels of a-z, 0-9 and '-' joined by '.')"
            ));
        }
        port
    };
    if let Some(p) = port
        && bad_port(p)
    {
        return Err(format!("port {p:?} is not 1 to 5 digits"));
    }
    Ok(())
}

/// Path components per the OCI distribution grammar `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`,
/// joined by `/`.
fn check_path(path: &str) -> Result<(), String> {
    for component in path.split('/') {
        if component.is_empty() {
            return Err(
                "the repository path has an empty component (a doubled or final '/')".into(),
            );
        }
        if component.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err("repository paths are lowercase (OCI distribution grammar)".into());
        }
        if !is_path_component(component) {
            return Err(format!(
                "path component {component:?} breaks the OCI distribution grammar: lowercase letters and digits separated by '.', '_', '__' or '-'"
            ));
        }
    }
    Ok(())
}

fn is_path_component(component: &str) -> bool {
    let b = component.as_bytes();
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        // separator ::= "." | "_" | "__" | "-"+
        match b[i] {
            b'.' => i += 1,
            b'_' => i += if b.get(i + 1) == Some(&b'_') { 2 } else { 1 },
            b'-' => {
                while b.get(i) == Some(&b'-') {
                    i += 1;
                }
            }
            _ => return false,
        }
        if !b.get(i).is_some_and(|&c| alnum(c)) {
            return false;
        }
    }
    true
}

/// `[a-z0-9][a-z0-9._-]{0,63}`.
fn is_identity(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_IDENTITY_LEN
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'.' | b'_' | b'-')
        })
}

/// RFC 6838 `type-name "/" subtype-name`, each a restricted-name: a letter or digit, then up to
/// 126 of letters, digits and `!#$&-^_.+`. Parameters are not allowed.
fn is_media_type(text: &str) -> bool {
    let restricted = |part: &str| {
        let b = part.as_bytes();
        !b.is_empty()
            && b.len() <= 127
            && b[0].is_ascii_alphanumeric()
            && b.iter().all(|c| {
                c.is_ascii_alphanumeric()
                    || matches!(
                        c,
                        b'!' | b'#' | b'$' | b'&' | b'-' | b'^' | b'_' | b'.' | b'+'
                    )
            })
    };
    text.len() <= MAX_MEDIA_TYPE_LEN
        && text
            .split_once('/')
            .is_some_and(|(t, s)| restricted(t) && restricted(s))
}

/// Whether `repository` lies strictly under `prefix` (`prefix/…`, at least one more character).
fn is_under(repository: &str, prefix: &str) -> bool {
    repository
        .strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('/'))
        .is_some_and(|rest| !rest.is_empty())
}

/// `repository` with its host (the part before the first `/`) in lowercase.
fn lowercase_host(repository: &str) -> Cow<'_, str> {
    let host_end = repository.find('/').unwrap_or(repository.len());
    if repository[..host_end]
        .bytes()
        .any(|b| b.is_ascii_uppercase())
    {
        let mut owned = repository.to_owned();
        owned[..host_end].make_ascii_lowercase();
        Cow::Owned(owned)
    } else {
        Cow::Borrowed(repository)
    }
}

// ---------------------------------------------------------------------------------------------
// A JSON tree that keeps every key of an object, so that duplicates can be reported with their
// place (serde_json's own `Value` keeps only the last one).

#[derive(Debug)]
enum Json {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    /// The JSON type, for messages.
    fn kind(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "a boolean",
            Json::Int(_) | Json::Float(_) => "a number",
            Json::Str(_) => "a string",
            Json::Array(_) => "an array",
            Json::Object(_) => "an object",
        }
    }

    /// A short text of the value, for messages.
    fn quote(&self) -> String {
        match self {
            Json::Null => "null".into(),
            Json::Bool(b) => b.to_string(),
            Json::Int(i) => i.to_string(),
            Json::Float(f) => format!("{f:?}"),
            Json::Str(s) => format!("{:?}", quote(s)),
            Json::Array(_) => "an array".into(),
            Json::Object(_) => "an object".into(),
        }
    }
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Json, D::Error> {
        d.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Json, E> {
        Ok(Json::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Json, E> {
        Ok(Json::Int(i128::from(v)))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Json, E> {
        Ok(Json::Int(i128::from(v)))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Json, E> {
        Ok(Json::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Json, E> {
        Ok(Json::Str(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Json, E> {
        Ok(Json::Str(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::new();
        while let Some(v) = seq.next_element()? {
            items.push(v);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut fields = Vec::new();
        while let Some((k, v)) = map.next_entry::<String, Json>()? {
            fields.push((k, v));
        }
        Ok(Json::Object(fields))
    }
}

/// An object being read: its keys are known to be distinct.
struct Fields<'a> {
    at: &'a str,
    fields: &'a [(String, Json)],
}

impl<'a> Fields<'a> {
    /// `value` as an object with no key twice.
    fn new(value: &'a Json, at: &'a str) -> Result<Fields<'a>, PolicyError> {
        let Json::Object(fields) = value else {
            return Err(PolicyError::WrongType {
                at: at.to_owned(),
                expected: "an object",
                found: value.kind(),
            });
        };
        let mut seen = BTreeSet::new();
        for (key, _) in fields {
            if !seen.insert(key.as_str()) {
                return Err(PolicyError::DuplicateKey {
                    at: at.to_owned(),
                    key: quote(key),
                });
            }
        }
        Ok(Fields { at, fields })
    }

    /// Refuses any key not in `known`.
    fn only(&self, known: &'static [&'static str]) -> Result<(), PolicyError> {
        match self
            .fields
            .iter()
            .find(|(k, _)| !known.contains(&k.as_str()))
        {
            Some((key, _)) => Err(PolicyError::UnknownField {
                at: self.at.to_owned(),
                field: quote(key),
                known,
            }),
            None => Ok(()),
        }
    }

    fn get(&self, name: &str) -> Option<&'a Json> {
        self.fields.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    fn require(&self, name: &'static str) -> Result<&'a Json, PolicyError> {
        self.get(name).ok_or_else(|| PolicyError::MissingField {
            at: self.at.to_owned(),
            field: name,
        })
    }
}

fn string<'a>(value: &'a Json, at: &str) -> Result<&'a str, PolicyError> {
    match value {
        Json::Str(s) => Ok(s),
        other => Err(PolicyError::WrongType {
            at: at.to_owned(),
            expected: "a string",
            found: other.kind(),
        }),
    }
}

fn array<'a>(value: &'a Json, at: &str) -> Result<&'a [Json], PolicyError> {
    match value {
        Json::Array(items) => Ok(items),
        other => Err(PolicyError::WrongType {
            at: at.to_owned(),
            expected: "an array",
            found: other.kind(),
        }),
    }
}

/// The location of field `name` of the object at `at`.
fn field(at: &str, name: &str) -> String {
    if at == ROOT {
        format!("{ROOT} {name}")
    } else {
        format!("{at}.{name}")
    }
}

/// The location of entry `i` of the array at `at`.
fn item(at: &str, i: usize) -> String {
    format!("{at}[{i}]")
}

/// At most [`QUOTE_CHARS`] characters of `text`, with `…` when cut.
fn quote(text: &str) -> String {
    let mut chars = text.chars();
    let mut out: String = chars.by_ref().take(QUOTE_CHARS).collect();
    if chars.next().is_some() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const T2027: Seconds = 1_811_808_000; // 2027-06-01T00:00:00Z

    fn parse(json: &str) -> Result<Policy, PolicyError> {
        Policy::parse(json.as_bytes(), &Limits::default())
    }

    fn ok(json: &str) -> Policy {
        parse(json).unwrap_or_else(|e| panic!("{json} should parse: {e}"))
    }

    fn code(json: &str) -> &'static str {
        match parse(json) {
            Ok(p) => panic!("{json} should be refused, parsed as {p:?}"),
            Err(e) => e.code(),
        }
    }

    /// A policy with one scope whose body (after `"scope": ..., `) is `rest`.
    fn one(scope: &str, rest: &str) -> String {
        format!(r#"{{"version": 1, "scopes": [{{"scope": "{scope}", {rest}}}]}}"#)
    }

    fn enforce(signers: &str) -> String {
        one("*", &format!(r#""level": "enforce", "signers": {signers}"#))
    }

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| (*s).to_owned()).collect()
    }

    const EXAMPLE: &str = r#"{
      "version": 1,
      "scopes": [
        {
          "scope": "registry.example.com/prod/web",
          "level": "enforce",
          "signers": {"all-of": ["acme-prod", "wabbit-networks"]},
          "algorithms": [{"name": "EdDSA"}, {"name": "ES384", "not-after": "2027-06-01T00:00:00Z"}],
          "referrers": [{"artifactType": "application/spdx+json", "signers": {"any-of": ["acme-dev"]}}]
        },
        {"scope": "registry.example.com/dev/*", "level": "audit", "signers": "any"},
        {"scope": "registry.example.com/vendor/*", "level": "skip"},
        {"scope": "*", "level": "enforce", "signers": {"k-of": {"k": 2, "signers": ["a", "b", "c"]}}}
      ]
    }"#;

    #[test]
    fn parses_the_example() {
        let p = ok(EXAMPLE);
        assert_eq!(p.scopes().len(), 4);
        let prod = &p.scopes()[0];
        assert_eq!(
            prod.pattern,
            ScopePattern::Exact("registry.example.com/prod/web".into())
        );
        assert_eq!(prod.level, Level::Enforce);
        assert_eq!(
            prod.signers,
            Some(Signers::AllOf(vec![
                "acme-prod".into(),
                "wabbit-networks".into()
            ]))
        );
        assert_eq!(
            prod.algorithms,
            Some(vec![
                AlgorithmRule {
                    name: "EdDSA".into(),
                    not_after: None
                },
                AlgorithmRule {
                    name: "ES384".into(),
                    not_after: Some(T2027)
                },
            ])
        );
        assert_eq!(
            prod.referrers,
            vec![ReferrerRule {
                artifact_type: "application/spdx+json".into(),
                signers: Signers::AnyOf(vec!["acme-dev".into()]),
            }]
        );
        assert_eq!(
            p.scopes()[1].pattern,
            ScopePattern::Prefix("registry.example.com/dev".into())
        );
        assert_eq!(p.scopes()[1].signers, Some(Signers::AnyTrusted));
        let skip = &p.scopes()[2];
        assert_eq!(
            (
                skip.level,
                &skip.signers,
                &skip.algorithms,
                skip.referrers.len()
            ),
            (Level::Skip, &None, &None, 0)
        );
        assert_eq!(p.scopes()[3].pattern, ScopePattern::Global);
        assert_eq!(
            p.scopes()[3].signers,
            Some(Signers::KOf {
                k: 2,
                of: vec!["a".into(), "b".into(), "c".into()]
            })
        );
        let ids: Vec<&str> = p.identities().into_iter().collect();
        assert_eq!(
            ids,
            ["a", "acme-dev", "acme-prod", "b", "c", "wabbit-networks"]
        );
        assert_eq!(
            prod.describe(),
            "registry.example.com/prod/web: enforce, all of acme-prod, wabbit-networks; \
             algorithms EdDSA, ES384 until 2027-06-01T00:00:00Z; \
             referrer application/spdx+json signed by any of acme-dev"
        );
        assert_eq!(skip.describe(), "registry.example.com/vendor/*: skip");
    }

    #[test]
    fn display_forms() {
        for text in [
            "registry.example.com/prod/web",
            "registry.example.com/dev/*",
            "*",
        ] {
            assert_eq!(
                parse_pattern(text).map(|p| p.to_string()),
                Ok(text.to_owned())
            );
        }
        assert_eq!(Level::Enforce.to_string(), "enforce");
        assert_eq!(Level::Audit.name(), "audit");
        assert_eq!(Level::Skip.name(), "skip");
        assert_eq!(Signers::AnyTrusted.to_string(), "any trusted signer");
    }

    #[test]
    fn scope_selection_precedence() {
        let p = ok(r#"{"version": 1, "scopes": [
            {"scope": "*", "level": "audit", "signers": "any"},
            {"scope": "r.example.com/*", "level": "enforce", "signers": {"any-of": ["reg"]}},
            {"scope": "r.example.com/dev/*", "level": "enforce", "signers": {"any-of": ["dev"]}},
            {"scope": "r.example.com/dev/team/*", "level": "enforce", "signers": {"any-of": ["team"]}},
            {"scope": "r.example.com/dev/team/web", "level": "enforce", "signers": {"any-of": ["web"]}},
            {"scope": "r.example.com/dev", "level": "skip"}
        ]}"#);
        let pick = |r: Option<&str>| p.scope_for(r).map(|s| s.pattern.to_string());
        let cases = [
            (
                Some("r.example.com/dev/team/web"),
                "r.example.com/dev/team/web",
            ),
            (
                Some("r.example.com/dev/team/api"),
                "r.example.com/dev/team/*",
            ),
            (
                Some("r.example.com/dev/team/web/x"),
                "r.example.com/dev/team/*",
            ),
            (Some("r.example.com/dev/team"), "r.example.com/dev/*"),
            (Some("r.example.com/dev/a"), "r.example.com/dev/*"),
            (Some("r.example.com/dev/a/b/c"), "r.example.com/dev/*"),
            (Some("r.example.com/dev"), "r.example.com/dev"),
            (Some("r.example.com/devx/a"), "r.example.com/*"),
            (Some("r.example.com/prod/web"), "r.example.com/*"),
            (Some("R.Example.COM/dev/a"), "r.example.com/dev/*"),
            (Some("r.example.com:5000/dev/a"), "*"),
            (Some("other.example.com/dev/a"), "*"),
            (Some("r.example.com"), "*"),
            (Some(""), "*"),
            (None, "*"),
        ];
        for (repo, want) in cases {
            assert_eq!(pick(repo).as_deref(), Some(want), "{repo:?}");
        }
        // The path is compared exactly; only the host is folded.
        assert_eq!(
            pick(Some("r.example.com/DEV/a")).as_deref(),
            Some("r.example.com/*")
        );
    }

    #[test]
    fn prefix_boundaries() {
        let p = ok(&one(
            "registry.example.com/dev/*",
            r#""level": "audit", "signers": "any""#,
        ));
        for repo in ["registry.example.com/dev/a", "registry.example.com/dev/a/b"] {
            assert!(p.scope_for(Some(repo)).is_some(), "{repo}");
        }
        for repo in [
            "registry.example.com/dev",
            "registry.example.com/dev/",
            "registry.example.com/devx/a",
            "registry.example.com/de",
            "registry.example.com/prod/dev/a",
        ] {
            assert_eq!(p.scope_for(Some(repo)), None, "{repo}");
        }
        assert_eq!(p.scope_for(None), None, "no repository, no global scope");
        let host = ok(&one(
            "registry.example.com/*",
            r#""level": "audit", "signers": "any""#,
        ));
        assert!(host.scope_for(Some("registry.example.com/a")).is_some());
        assert!(
            host.scope_for(Some("registry.example.com.evil/a"))
                .is_none()
        );
        assert!(host.scope_for(Some("registry.example.com:443/a")).is_none());
        let s = &host.scopes()[0].pattern;
        assert!(s.matches(Some("registry.example.com/a/b")));
        assert!(!s.matches(None));
        assert!(ScopePattern::Global.matches(None));
        assert!(ScopePattern::Exact("a.b/c".into()).matches(Some("A.B/c")));
    }

    #[test]
    fn repository_names_for_selection() {
        for good in [
            "registry.example.com/prod/web",
            "REGISTRY.Example.com:5000/prod/web",
            "docker.io/library/nginx",
            "[::1]:5000/a",
        ] {
            assert_eq!(check_repository(good), Ok(()), "{good}");
        }
        for bad in [
            "registry.example.com/prod/web:1.0",
            "registry.example.com/prod/web@sha256:00",
            "registry.example.com/Prod/web",
            "registry.example.com/prod/*",
            "registry.example.com",
            "*",
            "",
            "prod/web/",
        ] {
            assert!(check_repository(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn exact_only_matches_itself() {
        let p = ok(&one(
            "localhost:5000/prod/web",
            r#""level": "enforce", "signers": "any""#,
        ));
        assert!(p.scope_for(Some("localhost:5000/prod/web")).is_some());
        assert!(p.scope_for(Some("localhost:5000/prod/web/x")).is_none());
        assert!(p.scope_for(Some("localhost:5000/prod")).is_none());
        assert!(p.scope_for(Some("localhost/prod/web")).is_none());
    }

    #[test]
    fn scope_grammar() {
        for good in [
            "*",
            "registry.example.com/prod/web",
            "registry.example.com/*",
            "registry.example.com/a/b/*",
            "localhost/x",
            "localhost:5000/x",
            "127.0.0.1:5000/a__b/c-d/e--f/g.h/i_j",
            "[::1]:5000/x",
            "[fe80::1]/x/*",
            "my-registry/x",
        ] {
            assert!(
                parse_pattern(good).is_ok(),
                "{good}: {:?}",
                parse_pattern(good)
            );
        }
        for bad in [
            "",
            "**",
            "*/x",
            "registry.example.com",
            "registry.example.com/",
            "registry.example.com/*/x",
            "registry.example.com/dev*",
            "registry.example.com/dev/*/*",
            "registry.example.com/a//b",
            "registry.example.com//*",
            "/*",
            "/x",
            "Registry.example.com/x",
            "registry.example.com/Prod",
            "registry.example.com/a_",
            "registry.example.com/a___b",
            "registry.example.com/.a",
            "registry.example.com/a..b",
            "registry.example.com/a b",
            "-registry.example.com/x",
            "registry-.example.com/x",
            "registry..example.com/x",
            "registry.example.com:/x",
            "registry.example.com:123456/x",
            "registry.example.com:ab/x",
            "registry.example.com:1:2/x",
            "[::1/x",
            "[]/x",
            "[::1]x/x",
            "[::G]/x",
            "registry_example.com/x",
            "registry.example.com/ä",
        ] {
            assert!(parse_pattern(bad).is_err(), "{bad} should be refused");
        }
        let long = format!("r.example.com/{}", "a".repeat(MAX_SCOPE_LEN));
        assert!(parse_pattern(&long).is_err());
        let fits = format!("r.example.com/{}", "a".repeat(MAX_SCOPE_LEN - 14));
        assert_eq!(fits.len(), MAX_SCOPE_LEN);
        assert!(parse_pattern(&fits).is_ok());
        assert_eq!(
            code(&one(
                "registry.example.com",
                r#""level": "audit", "signers": "any""#
            )),
            "invalid-scope"
        );
    }

    #[test]
    fn signer_forms() {
        assert_eq!(
            ok(&enforce(r#""any""#)).scopes()[0].signers,
            Some(Signers::AnyTrusted)
        );
        assert_eq!(
            ok(&enforce(r#"{"any-of": ["a"]}"#)).scopes()[0].signers,
            Some(Signers::AnyOf(vec!["a".into()]))
        );
        assert_eq!(
            ok(&enforce(r#"{"k-of": {"signers": ["a", "b"], "k": 2}}"#)).scopes()[0].signers,
            Some(Signers::KOf {
                k: 2,
                of: vec!["a".into(), "b".into()]
            })
        );
        for (signers, want) in [
            (r#""all""#, "invalid-signers"),
            (r#""ANY""#, "invalid-signers"),
            (r#"{}"#, "invalid-signers"),
            (r#"{"any-of": ["a"], "all-of": ["b"]}"#, "invalid-signers"),
            (r#"{"one-of": ["a"]}"#, "unknown-field"),
            (r#"{"any-of": ["a"], "any-of": ["b"]}"#, "duplicate-key"),
            (r#"["a"]"#, "wrong-type"),
            (r#"null"#, "wrong-type"),
            (r#"{"any-of": []}"#, "empty-list"),
            (r#"{"all-of": "a"}"#, "wrong-type"),
            (r#"{"all-of": ["a", "a"]}"#, "duplicate-identity"),
            (r#"{"all-of": ["a", 1]}"#, "wrong-type"),
            (r#"{"all-of": ["Acme"]}"#, "invalid-identity"),
            (r#"{"all-of": [""]}"#, "invalid-identity"),
            (r#"{"all-of": ["-acme"]}"#, "invalid-identity"),
            (r#"{"all-of": ["acme prod"]}"#, "invalid-identity"),
            (
                r#"{"k-of": {"k": 0, "signers": ["a"]}}"#,
                "invalid-threshold",
            ),
            (
                r#"{"k-of": {"k": -1, "signers": ["a"]}}"#,
                "invalid-threshold",
            ),
            (
                r#"{"k-of": {"k": 3, "signers": ["a", "b"]}}"#,
                "invalid-threshold",
            ),
            (
                r#"{"k-of": {"k": 99999999999999999999, "signers": ["a"]}}"#,
                "wrong-type",
            ),
            (r#"{"k-of": {"k": 1.0, "signers": ["a"]}}"#, "wrong-type"),
            (r#"{"k-of": {"k": "1", "signers": ["a"]}}"#, "wrong-type"),
            (r#"{"k-of": {"signers": ["a"]}}"#, "missing-field"),
            (r#"{"k-of": {"k": 1}}"#, "missing-field"),
            (
                r#"{"k-of": {"k": 1, "signers": ["a"], "of": 2}}"#,
                "unknown-field",
            ),
            (r#"{"k-of": {"k": 1, "signers": []}}"#, "empty-list"),
            (r#"{"k-of": [1, "a"]}"#, "wrong-type"),
        ] {
            assert_eq!(code(&enforce(signers)), want, "{signers}");
        }
    }

    #[test]
    fn identity_grammar() {
        let max = format!("a{}", "b".repeat(MAX_IDENTITY_LEN - 1));
        for good in [
            "a",
            "0",
            "acme-prod",
            "acme_rockets.prod-team-a",
            "9.9",
            max.as_str(),
        ] {
            assert!(is_identity(good), "{good}");
        }
        let over = format!("{max}c");
        for bad in [
            "",
            "-a",
            ".a",
            "_a",
            "A",
            "a b",
            "ä",
            "a/b",
            "a:b",
            over.as_str(),
        ] {
            assert!(!is_identity(bad), "{bad}");
        }
    }

    #[test]
    fn signer_list_bound() {
        let names: Vec<String> = (0..=MAX_SIGNERS).map(|i| format!("\"s{i}\"")).collect();
        let json = enforce(&format!(r#"{{"any-of": [{}]}}"#, names.join(",")));
        assert_eq!(code(&json), "too-many");
        let fits = enforce(&format!(
            r#"{{"any-of": [{}]}}"#,
            names[..MAX_SIGNERS].join(",")
        ));
        ok(&fits);
    }

    #[test]
    fn threshold_message_names_the_place() {
        let json = r#"{"version": 1, "scopes": [
            {"scope": "a.example/x", "level": "audit", "signers": "any"},
            {"scope": "b.example/x", "level": "audit", "signers": "any"},
            {"scope": "*", "level": "enforce", "signers": {"k-of": {"k": 3, "signers": ["a", "b"]}}}
        ]}"#;
        assert_eq!(
            parse(json).map_err(|e| e.to_string()),
            Err("policy scopes[2].signers: k is 3 but only 2 signers are listed".into())
        );
        assert_eq!(
            parse(&enforce(r#"{"k-of": {"k": 0, "signers": ["a"]}}"#)).map_err(|e| e.to_string()),
            Err("policy scopes[0].signers: k is 0; it must be at least 1".into())
        );
    }

    #[test]
    fn evaluate_signers() {
        let all = Signers::AllOf(vec!["acme-prod".into(), "wabbit-networks".into()]);
        assert_eq!(
            all.evaluate(&set(&["acme-prod", "wabbit-networks", "x"])),
            Ok(())
        );
        assert_eq!(
            all.evaluate(&set(&["acme-prod"])),
            Err("needs all of acme-prod, wabbit-networks; missing wabbit-networks".into())
        );
        assert_eq!(
            all.evaluate(&set(&[])),
            Err(
                "needs all of acme-prod, wabbit-networks; missing acme-prod, wabbit-networks"
                    .into()
            )
        );

        let any = Signers::AnyOf(vec!["a".into(), "b".into()]);
        assert_eq!(any.evaluate(&set(&["b"])), Ok(()));
        assert_eq!(
            any.evaluate(&set(&["c"])),
            Err("needs any of a, b; none of them is satisfied".into())
        );

        assert_eq!(Signers::AnyTrusted.evaluate(&set(&["whoever"])), Ok(()));
        assert_eq!(
            Signers::AnyTrusted.evaluate(&set(&[])),
            Err("needs any trusted signer; no trusted signer is satisfied".into())
        );

        let two = Signers::KOf {
            k: 2,
            of: vec!["a".into(), "b".into(), "c".into()],
        };
        assert_eq!(two.describe(), "2 of a, b, c");
        assert_eq!(two.evaluate(&set(&["a", "c"])), Ok(()));
        assert_eq!(two.evaluate(&set(&["a", "b", "c"])), Ok(()));
        assert_eq!(
            two.evaluate(&set(&["b", "x", "y"])),
            Err("needs 2 of a, b, c; only 1 satisfied (b); missing a, c".into())
        );
        assert_eq!(
            two.evaluate(&set(&["x", "y"])),
            Err("needs 2 of a, b, c; none of them is satisfied".into())
        );
        let one_of_one = Signers::KOf {
            k: 1,
            of: vec!["a".into()],
        };
        assert_eq!(one_of_one.evaluate(&set(&["a"])), Ok(()));
        assert!(one_of_one.evaluate(&set(&[])).is_err());
    }

    #[test]
    fn algorithm_verdicts() {
        let p = ok(&enforce(
            r#""any", "algorithms": [{"name": "ES384"}, {"name": "EdDSA", "not-after": "2027-06-01T00:00:00Z"}]"#,
        ));
        let s = &p.scopes()[0];
        assert_eq!(
            s.algorithm("ES384", T2027 + 1_000),
            AlgorithmVerdict::Allowed
        );
        assert_eq!(
            s.algorithm("EdDSA", T2027 - 1),
            AlgorithmVerdict::InGracePeriod { not_after: T2027 }
        );
        assert_eq!(
            s.algorithm("EdDSA", T2027),
            AlgorithmVerdict::Deprecated { not_after: T2027 }
        );
        assert_eq!(
            s.algorithm("EdDSA", T2027 + 1),
            AlgorithmVerdict::Deprecated { not_after: T2027 }
        );
        assert_eq!(s.algorithm("Ed25519", 0), AlgorithmVerdict::NotAllowed);
        assert_eq!(s.algorithm("eddsa", 0), AlgorithmVerdict::NotAllowed);
        assert!(s.algorithm("EdDSA", T2027 - 1).counts());
        assert!(!s.algorithm("EdDSA", T2027).counts());
        assert!(s.algorithm("ES384", 0).counts());
        assert!(!AlgorithmVerdict::NotAllowed.counts());

        let open = ok(&enforce(r#""any""#));
        for (_, name, _) in ALGORITHMS {
            assert_eq!(
                open.scopes()[0].algorithm(name, 0),
                AlgorithmVerdict::Allowed
            );
        }
        assert_eq!(
            open.scopes()[0].algorithm("RS256", 0),
            AlgorithmVerdict::NotAllowed
        );

        // An offset is read as the instant it names.
        let offset = ok(&enforce(
            r#""any", "algorithms": [{"name": "EdDSA", "not-after": "2027-06-01T02:00:00+02:00"}]"#,
        ));
        assert_eq!(
            offset.scopes()[0]
                .algorithms
                .as_ref()
                .map(|r| r[0].not_after),
            Some(Some(T2027))
        );
    }

    #[test]
    fn algorithm_refusals() {
        for (algorithms, want) in [
            (r#"[]"#, "empty-list"),
            (r#"{"name": "EdDSA"}"#, "wrong-type"),
            (r#"["EdDSA"]"#, "wrong-type"),
            (r#"[{"name": "RS256"}]"#, "unknown-algorithm"),
            (r#"[{"name": "eddsa"}]"#, "unknown-algorithm"),
            (
                r#"[{"name": "EdDSA"}, {"name": "EdDSA", "not-after": "2027-06-01T00:00:00Z"}]"#,
                "duplicate-algorithm",
            ),
            (
                r#"[{"name": "EdDSA", "not-after": "2027-02-30T00:00:00Z"}]"#,
                "invalid-time",
            ),
            (
                r#"[{"name": "EdDSA", "not-after": "2027-06-01"}]"#,
                "invalid-time",
            ),
            (
                r#"[{"name": "EdDSA", "not-after": 1811808000}]"#,
                "wrong-type",
            ),
            (
                r#"[{"name": "EdDSA", "until": "2027-06-01T00:00:00Z"}]"#,
                "unknown-field",
            ),
            (
                r#"[{"not-after": "2027-06-01T00:00:00Z"}]"#,
                "missing-field",
            ),
            (r#"[{"name": "EdDSA", "name": "ES384"}]"#, "duplicate-key"),
        ] {
            assert_eq!(
                code(&enforce(&format!(r#""any", "algorithms": {algorithms}"#))),
                want,
                "{algorithms}"
            );
        }
        let msg = parse(&enforce(r#""any", "algorithms": [{"name": "RS256"}]"#))
            .map_err(|e| e.to_string());
        assert_eq!(
            msg,
            Err("policy scopes[0].algorithms[0].name: unknown algorithm \"RS256\" (known: EdDSA, Ed25519, ES384; names are exact COSE names)".into())
        );
    }

    #[test]
    fn referrer_rules() {
        let p = ok(&enforce(
            r#""any", "referrers": [
                {"artifactType": "application/spdx+json", "signers": {"any-of": ["dev"]}},
                {"artifactType": "application/vnd.example.scan.v1+json", "signers": "any"}
            ]"#,
        ));
        assert_eq!(p.scopes()[0].referrers.len(), 2);
        assert_eq!(p.identities().into_iter().collect::<Vec<_>>(), ["dev"]);
        for (referrers, want) in [
            (r#"[]"#, "empty-list"),
            (r#"{}"#, "wrong-type"),
            (
                r#"[{"artifactType": "application/spdx+json"}]"#,
                "missing-field",
            ),
            (r#"[{"signers": "any"}]"#, "missing-field"),
            (
                r#"[{"artifactType": "application/spdx+json", "signers": "any", "x": 1}]"#,
                "unknown-field",
            ),
            (
                r#"[{"artifactType": "spdx", "signers": "any"}]"#,
                "invalid-artifact-type",
            ),
            (
                r#"[{"artifactType": "application/spdx+json; charset=utf-8", "signers": "any"}]"#,
                "invalid-artifact-type",
            ),
            (
                r#"[{"artifactType": "application/", "signers": "any"}]"#,
                "invalid-artifact-type",
            ),
            (
                r#"[{"artifactType": "/json", "signers": "any"}]"#,
                "invalid-artifact-type",
            ),
            (
                r#"[{"artifactType": "a/b/c", "signers": "any"}]"#,
                "invalid-artifact-type",
            ),
            (
                r#"[{"artifactType": "application/spdx+json", "signers": "none"}]"#,
                "invalid-signers",
            ),
            (
                r#"[{"artifactType": "application/spdx+json", "signers": {"all-of": ["a", "a"]}}]"#,
                "duplicate-identity",
            ),
            (
                r#"[{"artifactType": "application/spdx+json", "signers": "any"}, {"artifactType": "application/spdx+json", "signers": {"any-of": ["a"]}}]"#,
                "duplicate-referrer",
            ),
        ] {
            assert_eq!(
                code(&enforce(&format!(r#""any", "referrers": {referrers}"#))),
                want,
                "{referrers}"
            );
        }
        let rule = r#"{"artifactType": "a/b", "signers": "any"}"#;
        let rules: Vec<String> = (0..=MAX_REFERRER_RULES)
            .map(|i| rule.replace("a/b", &format!("a/b{i}")))
            .collect();
        assert_eq!(
            code(&enforce(&format!(
                r#""any", "referrers": [{}]"#,
                rules.join(",")
            ))),
            "too-many"
        );
        ok(&enforce(&format!(
            r#""any", "referrers": [{}]"#,
            rules[..MAX_REFERRER_RULES].join(",")
        )));
        assert!(is_media_type(&format!(
            "{}/{}",
            "a".repeat(127),
            "b".repeat(127)
        )));
        assert!(!is_media_type(&format!("{}/b", "a".repeat(128))));
        assert!(is_media_type("application/vnd.cncf.notary.signature"));
        assert!(is_media_type("Application/SPDX+JSON"));
    }

    #[test]
    fn levels_and_skip() {
        assert_eq!(
            ok(&one("r.example/x", r#""level": "audit", "signers": "any""#)).scopes()[0].level,
            Level::Audit
        );
        assert_eq!(
            code(&one("r.example/x", r#""level": "warn", "signers": "any""#)),
            "invalid-level"
        );
        assert_eq!(
            code(&one(
                "r.example/x",
                r#""level": "Enforce", "signers": "any""#
            )),
            "invalid-level"
        );
        assert_eq!(
            code(&one("r.example/x", r#""level": 1, "signers": "any""#)),
            "wrong-type"
        );
        assert_eq!(
            code(&one("r.example/x", r#""signers": "any""#)),
            "missing-field"
        );
        assert_eq!(
            code(&one("r.example/x", r#""level": "enforce""#)),
            "missing-field"
        );
        assert_eq!(
            code(&one("r.example/x", r#""level": "audit""#)),
            "missing-field"
        );
        assert_eq!(code(&one("*", r#""level": "skip""#)), "skip-global");
        assert_eq!(
            code(&one("*", r#""level": "skip", "signers": "any""#)),
            "skip-global"
        );
        for extra in [
            r#""signers": "any""#,
            r#""algorithms": [{"name": "EdDSA"}]"#,
            r#""referrers": [{"artifactType": "a/b", "signers": "any"}]"#,
        ] {
            assert_eq!(
                code(&one(
                    "r.example/x/*",
                    &format!(r#""level": "skip", {extra}"#)
                )),
                "skip-with-rules",
                "{extra}"
            );
        }
        let p = ok(&one("r.example/x/*", r#""level": "skip""#));
        assert_eq!(p.scopes()[0].signers, None);
        assert!(p.identities().is_empty());
    }

    #[test]
    fn document_refusals() {
        for (json, want) in [
            ("", "malformed"),
            ("{", "malformed"),
            ("[]", "wrong-type"),
            ("null", "wrong-type"),
            (r#"{"version": 1, "scopes": []} {}"#, "malformed"),
            ("\u{feff}{\"version\": 1, \"scopes\": []}", "malformed"),
            (r#"{"scopes": []}"#, "missing-field"),
            (r#"{"version": 1}"#, "missing-field"),
            (r#"{"version": 2, "scopes": []}"#, "unsupported-version"),
            (r#"{"version": 2, "rules": []}"#, "unsupported-version"),
            (r#"{"version": "1", "scopes": []}"#, "unsupported-version"),
            (r#"{"version": 1.0, "scopes": []}"#, "unsupported-version"),
            (
                r#"{"version": 1, "scopes": [], "extra": true}"#,
                "unknown-field",
            ),
            (r#"{"version": 1, "Scopes": []}"#, "unknown-field"),
            (
                r#"{"version": 1, "version": 1, "scopes": []}"#,
                "duplicate-key",
            ),
            (r#"{"version": 1, "scopes": []}"#, "empty-list"),
            (r#"{"version": 1, "scopes": {}}"#, "wrong-type"),
            (r#"{"version": 1, "scopes": [1]}"#, "wrong-type"),
            (
                r#"{"version": 1, "scopes": [{"level": "audit", "signers": "any"}]}"#,
                "missing-field",
            ),
            (
                r#"{"version": 1, "scopes": [{"scope": 7, "level": "audit", "signers": "any"}]}"#,
                "wrong-type",
            ),
            (
                r#"{"version": 1, "scopes": [{"scope": "*", "level": "audit", "signers": "any", "comment": "x"}]}"#,
                "unknown-field",
            ),
            (
                r#"{"version": 1, "scopes": [{"scope": "*", "scope": "a.b/c", "level": "audit", "signers": "any"}]}"#,
                "duplicate-key",
            ),
        ] {
            assert_eq!(code(json), want, "{json}");
        }
        assert_eq!(
            Policy::parse(
                b"{\"version\": 1, \"scopes\": [\"\xff\"]}",
                &Limits::default()
            )
            .map_err(|e| e.code()),
            Err("malformed")
        );
    }

    #[test]
    fn duplicate_scopes() {
        let json = r#"{"version": 1, "scopes": [
            {"scope": "r.example/x/*", "level": "audit", "signers": "any"},
            {"scope": "r.example/x", "level": "audit", "signers": "any"},
            {"scope": "r.example/x/*", "level": "enforce", "signers": "any"}
        ]}"#;
        assert_eq!(
            parse(json).map_err(|e| e.to_string()),
            Err("policy scopes[2].scope: scope \"r.example/x/*\" is already defined by scopes[0]; merge the two".into())
        );
        let globals = r#"{"version": 1, "scopes": [
            {"scope": "*", "level": "audit", "signers": "any"},
            {"scope": "*", "level": "enforce", "signers": "any"}
        ]}"#;
        assert_eq!(code(globals), "duplicate-scope");
    }

    #[test]
    fn limits_are_enforced() {
        let json = enforce(r#""any""#);
        let mut limits = Limits {
            max_policy_bytes: json.len() as u64,
            ..Limits::default()
        };
        assert!(Policy::parse(json.as_bytes(), &limits).is_ok());
        limits.max_policy_bytes = json.len() as u64 - 1;
        assert_eq!(
            Policy::parse(json.as_bytes(), &limits).map_err(|e| e.to_string()),
            Err(format!(
                "policy is {} bytes, over the {}-byte limit (max_policy_bytes)",
                json.len(),
                json.len() - 1
            ))
        );

        let three = r#"{"version": 1, "scopes": [
            {"scope": "a.example/x", "level": "audit", "signers": "any"},
            {"scope": "b.example/x", "level": "audit", "signers": "any"},
            {"scope": "c.example/x", "level": "audit", "signers": "any"}
        ]}"#;
        let mut limits = Limits {
            max_policy_scopes: 3,
            ..Limits::default()
        };
        assert!(Policy::parse(three.as_bytes(), &limits).is_ok());
        limits.max_policy_scopes = 2;
        assert_eq!(
            Policy::parse(three.as_bytes(), &limits).map_err(|e| e.code()),
            Err("too-many-scopes")
        );
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(code(&deep), "malformed");
    }

    #[test]
    fn long_values_are_shortened_in_messages() {
        let name = "X".repeat(10_000);
        let msg = parse(&enforce(&format!(r#"{{"any-of": ["{name}"]}}"#)))
            .map_err(|e| e.to_string())
            .unwrap_err();
        assert!(msg.len() < 400, "{msg}");
        assert!(msg.contains('…'));
    }

    #[test]
    fn every_error_has_a_hint() {
        let e = parse("{").unwrap_err();
        assert!(e.hint().contains("formats/policy.md"));
        let e = parse(r#"{"version": 2}"#).unwrap_err();
        assert!(e.hint().contains("upgrade"));
    }
}
