//! The registry client against answers that try to lead it astray, on a real registry:
//! - credentials stay with the registry they belong to, whatever URLs its answers name: an
//!   upload `Location` on another origin gets the blob without them, and a redirect target
//!   that asks for credentials is refused, not answered with a token fetched with this
//!   registry's password (proxies on other loopback ports play the other origins);
//! - a referrer's entry in its subject's fallback index is built from the pushed manifest's own
//!   bytes, as the distribution spec requires.

use airlock::Digest;
use serde_json::Value;

use crate::harness::Registry;
use crate::proxy::{Action, Answer, Proxy, Seen};
use crate::registry::raw_manifest;
use crate::trust::Org;

const USER: &str = "ci-bot";
const PASSWORD: &str = "origin-s3cret";

fn authorization(seen: &Seen) -> Option<&str> {
    seen.headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("authorization"))
        .map(|(_, v)| v.as_str())
}

/// `airlock ARGS` in `org`: (exit code, stderr).
fn run(org: &Org, args: &[&str]) -> (Option<i32>, String) {
    let out = org.run("-", args);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn an_upload_location_on_another_origin_gets_no_credentials() {
    let registry = Registry::with_basic_auth(USER, PASSWORD);
    // Another origin in front of the same registry: it must never see the credentials.
    let elsewhere = Proxy::start(&registry.host(), |_| Action::Forward);
    let other = elsewhere.host();
    // The registry's own address (as airlock knows it) answers upload starts with a Location
    // on the other origin, as a registry behind a misconfigured proxy would.
    let front = Proxy::start(&registry.host(), move |seen| {
        if seen.method != "POST" || !seen.path.contains("/blobs/uploads/") {
            return Action::Forward;
        }
        let other = other.clone();
        Action::ForwardAndEdit(Box::new(move |mut answer: Answer| {
            for (name, value) in &mut answer.headers {
                if name.eq_ignore_ascii_case("location")
                    && let Some(at) = value.find("/v2/")
                {
                    *value = format!("http://{other}{}", &value[at..]);
                }
            }
            answer
        }))
    });
    let org = Org::new();
    let image = org.artifact("app", "v1");
    let creds = format!("{}={USER}:{PASSWORD}", front.host());
    let target = format!("{}/origin/app:v1", front.host());

    let (code, err) = run(&org, &["--creds", &creds, "copy", &image, &target]);

    assert_eq!(
        code,
        Some(2),
        "the upload cannot succeed without credentials: {err}"
    );
    assert!(
        err.contains("401"),
        "the registry's refusal is reported: {err}"
    );
    let puts: Vec<Seen> = elsewhere
        .seen()
        .into_iter()
        .filter(|s| s.method == "PUT")
        .collect();
    assert!(!puts.is_empty(), "the blob went to the Location given");
    for s in elsewhere.seen() {
        assert_eq!(
            authorization(&s),
            None,
            "{} {} carried credentials",
            s.method,
            s.path
        );
    }
    assert!(
        front
            .seen()
            .iter()
            .any(|s| authorization(s).is_some_and(|a| a.starts_with("Basic "))),
        "the registry's own origin did get them"
    );
}

#[test]
fn a_redirect_target_that_asks_for_credentials_is_refused() {
    let registry = Registry::with_basic_auth(USER, PASSWORD);
    let org = Org::new();
    let image = org.artifact("app", "v1");
    let creds_for = |host: &str| format!("{host}={USER}:{PASSWORD}");
    let source = format!("{}/redirected/app:v1", registry.host());
    org.ok(
        "-",
        &[
            "--creds",
            &creds_for(&registry.host()),
            "copy",
            &image,
            &source,
        ],
    );

    // A token server that hands out anything, recording who asks.
    let realm = Proxy::start(&registry.host(), |_| {
        Action::Respond(Answer::new(
            200,
            &[("Content-Type", "application/json")],
            br#"{"token":"t0ken"}"#,
        ))
    });
    // A host that asks for a Bearer token from that server.
    let challenge = format!(
        "Bearer realm=\"http://{}/token\",service=\"other\"",
        realm.host()
    );
    let elsewhere = Proxy::start(&registry.host(), move |_| {
        Action::Respond(Answer::new(
            401,
            &[("WWW-Authenticate", challenge.as_str())],
            b"",
        ))
    });
    // The registry's address redirects blob reads there.
    let other = elsewhere.host();
    let front = Proxy::start(&registry.host(), move |seen| {
        if seen.method == "GET" && seen.path.contains("/blobs/sha256:") {
            let to = format!("http://{other}{}", seen.path);
            Action::Respond(Answer::new(307, &[("Location", to.as_str())], b""))
        } else {
            Action::Forward
        }
    });
    let from = format!("{}/redirected/app:v1", front.host());

    let (code, err) = run(
        &org,
        &[
            "--creds",
            &creds_for(&front.host()),
            "copy",
            &from,
            "oci:out",
        ],
    );

    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains(&format!("was redirected to http://{}", elsewhere.host()))
            && err.contains("asks for credentials"),
        "the error says where the request went and why it stopped: {err}"
    );
    assert!(
        realm.seen().is_empty(),
        "the other host's token server was asked: {:?}",
        realm.seen()
    );
    assert!(
        elsewhere.seen().iter().all(|s| authorization(s).is_none()),
        "the redirect target saw credentials"
    );
    if let Ok(index) = std::fs::read(org.path("out/index.json")) {
        let index: serde_json::Value = serde_json::from_slice(&index).expect("index.json");
        assert_eq!(
            index["manifests"],
            serde_json::json!([]),
            "nothing was tagged"
        );
    }
}

#[test]
fn a_fallback_index_entry_carries_the_referrers_own_artifact_type_and_annotations() {
    let org = Org::new();
    let registry = Registry::start();
    let image = org.artifact("app", "v1");
    let remote = format!("{}/fallback/app:v1", registry.host());
    org.ok("-", &["copy", &image, &remote]);
    org.key("signer", "ed25519");
    org.ok("-", &["sign", &remote, "--key", "signer.key"]);

    let root = Digest::sha256_of(&raw_manifest(&remote));
    let tag = root.to_string().replacen(':', "-", 1);
    let index: Value = serde_json::from_slice(&raw_manifest(&format!(
        "{}/fallback/app:{tag}",
        registry.host()
    )))
    .expect("the fallback index is JSON");
    let entries = index["manifests"].as_array().expect("manifests");
    assert_eq!(entries.len(), 1, "{index}");
    let entry = &entries[0];
    let digest = entry["digest"].as_str().expect("digest");
    let signature: Value = serde_json::from_slice(&raw_manifest(&format!(
        "{}/fallback/app@{digest}",
        registry.host()
    )))
    .expect("the signature manifest is JSON");

    let annotations = signature["annotations"].as_object().expect("annotations");
    assert!(
        !annotations.is_empty(),
        "a signature says who signed and when: {signature}"
    );
    assert_eq!(entry["annotations"], signature["annotations"], "{entry}");
    let artifact_type = if signature["artifactType"].is_string() {
        &signature["artifactType"]
    } else {
        &signature["config"]["mediaType"]
    };
    assert_eq!(&entry["artifactType"], artifact_type, "{entry}");
    assert_eq!(entry["mediaType"], signature["mediaType"], "{entry}");
}
