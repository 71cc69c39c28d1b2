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
        Err("needs all of acme-prod, wabbit-networks; missing acme-prod, wabbit-networks".into())
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
    let msg =
        parse(&enforce(r#""any", "algorithms": [{"name": "RS256"}]"#)).map_err(|e| e.to_string());
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
