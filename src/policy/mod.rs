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

mod grammar;
mod parse;
#[cfg(test)]
mod tests;
mod tree;

use grammar::*;
use parse::*;
use tree::*;
