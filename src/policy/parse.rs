//! Reading a policy document into [`Policy`](super::Policy): every field checked, each error
//! naming its place.

use super::*;

pub(super) fn parse_scope(value: &Json, at: &str) -> Result<Scope, PolicyError> {
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

pub(super) fn parse_signers(value: &Json, at: &str) -> Result<Signers, PolicyError> {
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

pub(super) fn parse_k_of(value: &Json, at: &str, signers_at: &str) -> Result<Signers, PolicyError> {
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

pub(super) fn parse_names(value: &Json, at: &str) -> Result<Vec<String>, PolicyError> {
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

pub(super) fn parse_algorithms(value: &Json, at: &str) -> Result<Vec<AlgorithmRule>, PolicyError> {
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

pub(super) fn parse_referrers(value: &Json, at: &str) -> Result<Vec<ReferrerRule>, PolicyError> {
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
