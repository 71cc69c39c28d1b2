//! Registries: copy, sign, verify and discover against a real CNCF Distribution registry, the
//! user's scenarios 2 and 4 (rename and promotion keep signatures), interop with skopeo and
//! the `oras` Python client, the referrers API (through a proxy double: registry 2.8 has none),
//! and failures in transit.

use std::process::Command;

use airlock::graph::Graph;
use airlock::layout::Layout;
use airlock::{Digest, Limits};
use serde_json::{Value, json};

use crate::harness::{Registry, python, skopeo, skopeo_bytes};
use crate::proxy::{Action, Answer, Proxy};
use crate::trust::{Org, assert_fail, assert_pass, policy};

/// `airlock --json ARGS` in `org`'s directory: (exit code, stdout JSON, stderr).
fn json_run(org: &Org, args: &[&str]) -> (i32, Value, String) {
    org.json("-", args)
}

fn fails(org: &Org, args: &[&str]) -> (i32, String) {
    let out = org.run("-", args);
    assert!(!out.status.success(), "airlock {args:?} succeeded");
    (
        out.status.code().expect("exit code"),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The digests of every node in the closure of a layout's entries.
fn layout_nodes(dir: &std::path::Path) -> Vec<Digest> {
    let layout = Layout::open(dir, Limits::default()).expect("open layout");
    let entries = layout.index().expect("index");
    Graph::walk_entries(&layout, &entries, &Limits::default())
        .expect("walk")
        .nodes
        .into_keys()
        .collect()
}

/// The manifest bytes `reference` (`HOST/REPO:TAG` or `@DIGEST`) names, as skopeo reads them
/// from a plain-HTTP registry.
pub(crate) fn raw_manifest(reference: &str) -> Vec<u8> {
    skopeo_bytes(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{reference}"),
    ])
}

/// The tags of `repo` in `registry`.
pub(crate) fn tags(registry: &Registry, repo: &str) -> Vec<String> {
    let response = registry
        .get(&format!("/v2/{repo}/tags/list"))
        .expect("tags/list");
    let body = response.split("\r\n\r\n").nth(1).unwrap_or("");
    let doc: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    doc["tags"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|t| t.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The digest a layout's tag names.
fn layout_digest(org: &Org, name: &str, tag: &str) -> Digest {
    let layout = Layout::open(org.path(name), Limits::default()).expect("open layout");
    layout
        .resolve(Some(&airlock::reference::Selector::Tag(
            airlock::reference::LayoutTag::new(tag).expect("tag"),
        )))
        .expect("resolve")
        .digest
}

/// Referrer digests of the root in `discover --json` output, with their artifactType.
fn referrers_of_root(doc: &Value) -> Vec<(String, String)> {
    doc["root"]["children"]
        .as_array()
        .expect("children")
        .iter()
        .filter(|c| c["relation"] == "referrer")
        .map(|c| {
            (
                c["digest"].as_str().unwrap_or("").to_owned(),
                c["artifactType"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

#[test]
fn copy_round_trip_keeps_every_byte_and_the_referrer_graph() {
    let org = Org::new();
    let registry = Registry::start();
    let image = org.artifact("app", "v1");
    org.key("dev", "ed25519");
    org.sign(&image, "dev");
    let digest = layout_digest(&org, "app", "v1");
    let remote = format!("{}/team/app:v1", registry.host());

    let (code, doc, err) = json_run(&org, &["copy", "-r", &image, &remote]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(doc["digest"], digest.to_string());
    assert_eq!(doc["referrers"], 2, "the signature and the SBOM: {doc}");

    // skopeo reads the same bytes airlock pushed.
    let raw = raw_manifest(&remote);
    assert_eq!(Digest::sha256_of(&raw), digest);
    let layout = Layout::open(org.path("app"), Limits::default()).expect("layout");
    assert_eq!(
        raw,
        layout
            .read_blob_capped(&digest, None, 1 << 20)
            .expect("index bytes")
    );

    // The registry shows the graph: the index's signature, the image's SBOM (through the
    // referrers tag fallback, which the push maintained).
    let (code, doc, err) = json_run(&org, &["discover", &remote]);
    assert_eq!(code, 0, "{err}");
    let sigs = referrers_of_root(&doc);
    assert_eq!(sigs.len(), 1, "{doc}");
    assert_eq!(sigs[0].1, "application/vnd.cncf.notary.signature");
    assert!(
        tags(&registry, "team/app").contains(&format!("sha256-{}", digest.hex())),
        "the fallback tag for the index is there"
    );

    // And back into a new layout: the same closure, node for node.
    org.ok("-", &["copy", "-r", &remote, "oci:back"]);
    assert_eq!(
        layout_nodes(&org.path("back")),
        layout_nodes(&org.path("app"))
    );
    assert_eq!(layout_digest(&org, "back", "v1"), digest);
    for r in [remote.as_str(), "oci:back:v1"] {
        let out = org.ok("-", &["verify", r, "--key", "dev.pub"]);
        assert!(out.contains("1 of 1 signature(s) valid"), "{r}: {out}");
    }

    // Without -r the artifact travels alone: no referrers, no fallback tag.
    let plain = format!("{}/team/plain:v1", registry.host());
    let (code, doc, err) = json_run(&org, &["copy", &image, &plain]);
    assert_eq!((code, &doc["referrers"]), (0, &json!(0)), "{err}");
    assert_eq!(tags(&registry, "team/plain"), vec!["v1".to_owned()]);
    let (code, _) = fails(&org, &["verify", &plain, "--key", "dev.pub"]);
    assert_eq!(code, 1);
}

#[test]
fn scenario_2_sign_locally_rename_push_and_validate_in_dev() {
    let org = Org::new();
    let registry = Registry::start();
    let root = org.init(&[("wabbit-networks", "wabbit")]);
    let host = registry.host();
    org.site(
        "dev",
        &root,
        &policy(json!([{ "scope": format!("{host}/*"), "level": "enforce", "signers": "any" }])),
    );
    // Built and signed locally, under a local name.
    let local = org.artifact("net-monitor", "abc123");
    org.sign(&local, "wabbit");
    // Renamed on the way to the registry: the digest, and so the signature, stay valid.
    let remote = format!("{host}/networking/net-monitor:1.0");
    org.ok("-", &["copy", "-r", &local, &remote]);
    let r = org.verify("dev", &remote, None);
    assert_pass(&r, "signed, renamed, pushed");
    assert_eq!(r.1["scope"]["pattern"], format!("{host}/*"));
    assert_eq!(
        r.1["target"]["digest"],
        layout_digest(&org, "net-monitor", "abc123").to_string()
    );
    // Unsigned content pushed beside it is refused: dev accepts any signed content, not any.
    let unsigned = org.artifact("other", "1");
    org.ok(
        "-",
        &[
            "copy",
            "-r",
            &unsigned,
            &format!("{host}/networking/other:1"),
        ],
    );
    assert_fail(
        &org.verify("dev", &format!("{host}/networking/other:1"), None),
        "unsigned",
        "signers",
    );
    // A registry artifact's repository is its own: --scope cannot move it under other rules.
    let out = org.run(
        "dev",
        &["verify", &remote, "--scope", "elsewhere.example/x"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("belongs to"));
}

#[test]
fn scenario_4_promote_within_a_registry_and_archive_to_another() {
    let org = Org::new();
    let registry = Registry::start();
    let archive = Registry::start();
    let root = org.init(&[("acme-ci", "ci")]);
    let (host, archive_host) = (registry.host(), archive.host());
    org.site(
        "prod",
        &root,
        &policy(json!([
            { "scope": format!("{host}/prod/*"), "level": "enforce", "signers": { "all-of": ["acme-ci"] } },
            { "scope": format!("{archive_host}/archive/*"), "level": "enforce", "signers": { "all-of": ["acme-ci"] } }
        ])),
    );
    // CI builds, pushes to dev and signs there, in the registry.
    let built = org.artifact("web", "1abc");
    let dev = format!("{host}/dev/alpha-team/web:1abc");
    org.ok("-", &["copy", "-r", &built, &dev]);
    org.sign(&dev, "ci");
    // Promotion to prod moves no layer bytes: blobs are mounted across repositories.
    let prod = format!("{host}/prod/web:1abc");
    let (code, doc, err) = json_run(&org, &["copy", "-r", &dev, &prod]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(doc["blobs"]["sent"], 0, "{doc}");
    assert!(doc["blobs"]["mounted"].as_u64().unwrap_or(0) >= 3, "{doc}");
    assert_pass(&org.verify("prod", &prod, None), "promoted to prod");
    // Archived to another registry, still verifiable there.
    let archived = format!("{archive_host}/archive/web:1abc");
    org.ok("-", &["copy", "-r", &prod, &archived]);
    assert_pass(&org.verify("prod", &archived, None), "archived");
    // The dev repository is under no scope of this policy: refused there.
    assert_fail(&org.verify("prod", &dev, None), "dev", "no policy scope");
}

#[test]
fn skopeo_pushed_images_are_copied_with_their_graph() {
    let org = Org::new();
    let registry = Registry::start();
    org.artifact("src", "v2");
    let pushed = format!("{}/vendor/tool:v2", registry.host());
    skopeo(&[
        "copy",
        "--all",
        "--preserve-digests",
        "--dest-tls-verify=false",
        &format!("oci:{}:v2", org.path("src").display()),
        &format!("docker://{pushed}"),
    ]);
    org.key("k", "ed25519");
    org.sign(&pushed, "k");
    org.ok("-", &["copy", "-r", &pushed, "oci:mirror"]);
    assert_eq!(
        layout_digest(&org, "mirror", "v2"),
        layout_digest(&org, "src", "v2")
    );
    org.ok("-", &["verify", "oci:mirror:v2", "--key", "k.pub"]);
    // --platform: only the linux/amd64 manifest, which becomes the copy's root.
    let (code, doc, err) = json_run(
        &org,
        &[
            "copy",
            "--platform",
            "linux/amd64",
            &pushed,
            "oci:amd64:only",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        doc["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    let (code, err) = fails(
        &org,
        &["copy", "--platform", "linux/s390x", &pushed, "oci:none"],
    );
    assert_eq!(code, 2);
    assert!(err.contains("linux/amd64"), "{err}");
}

#[test]
fn oras_reads_what_airlock_pushes_and_finds_its_signature_by_the_fallback_tag() {
    let org = Org::new();
    let registry = Registry::start();
    let image = org.artifact("app", "v1");
    let remote = format!("{}/oras/app:v1", registry.host());
    org.ok("-", &["copy", "-r", &image, &remote]);
    org.key("k", "ed25519");
    org.sign(&remote, "k");
    let digest = layout_digest(&org, "app", "v1");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/oras/oras_read.py");
    let oras = |args: &[&str]| -> Value {
        let out = Command::new(python())
            .arg(script)
            .arg("--insecure")
            .args(args)
            .output()
            .expect("run oras_read.py");
        assert!(
            out.status.success(),
            "oras_read.py {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("oras_read.py prints JSON")
    };
    let by_digest = format!("{}/oras/app@{digest}", registry.host());
    let m = oras(&[&by_digest, "manifest"]);
    assert_eq!(m["digest"], digest.to_string());
    let r = oras(&[&by_digest, "referrers"]);
    assert_eq!(r["source"], "tag", "registry 2.8 has no referrers API: {r}");
    let found: Vec<&Value> = r["referrers"]
        .as_array()
        .expect("referrers")
        .iter()
        .filter(|d| d["artifactType"] == "application/vnd.cncf.notary.signature")
        .collect();
    assert_eq!(found.len(), 1, "{r}");
    // The envelope blob, pulled by oras, is the one airlock verifies.
    let (_, doc, _) = json_run(&org, &["discover", "--blobs", &remote]);
    let sig = doc["root"]["children"]
        .as_array()
        .expect("children")
        .iter()
        .find(|c| c["relation"] == "referrer")
        .expect("signature")
        .clone();
    let layer = sig["children"]
        .as_array()
        .expect("signature children")
        .iter()
        .find(|c| c["relation"] == "layer")
        .expect("envelope layer")["digest"]
        .as_str()
        .expect("digest")
        .to_owned();
    let out = org.path("envelope.cose");
    let b = oras(&[
        &by_digest,
        "pull-blob",
        &layer,
        out.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(b["digest"], layer);
}

/// The referrers API path, through a proxy that serves it (registry 2.8 does not) and answers
/// `OCI-Subject` on manifest pushes, as a registry with the API does.
#[test]
fn a_registry_with_the_referrers_api_is_asked_and_gets_no_fallback_tag() {
    let org = Org::new();
    let registry = Registry::start();
    let index = std::sync::Arc::new(std::sync::Mutex::new(Vec::<Value>::new()));
    let store = index.clone();
    let proxy = Proxy::start(&registry.host(), move |req| {
        if req.method == "GET" && req.path.contains("/referrers/") {
            let list = store.lock().expect("lock").clone();
            let body = serde_json::to_vec(&json!({
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "manifests": list,
            }))
            .expect("json");
            return Action::Respond(Answer::new(
                200,
                &[("Content-Type", "application/vnd.oci.image.index.v1+json")],
                &body,
            ));
        }
        if req.method == "PUT" && req.path.contains("/manifests/") {
            let doc: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
            if doc.get("subject").is_some() {
                let digest = Digest::sha256_of(&req.body);
                store.lock().expect("lock").push(json!({
                    "mediaType": doc["mediaType"],
                    "digest": digest.to_string(),
                    "size": req.body.len(),
                    "artifactType": doc["artifactType"],
                }));
                let subject = doc["subject"]["digest"].as_str().unwrap_or("").to_owned();
                return Action::ForwardAndEdit(Box::new(move |mut a| {
                    a.headers.push(("OCI-Subject".into(), subject));
                    a
                }));
            }
        }
        Action::Forward
    });
    let image = org.artifact("app", "v1");
    let remote = format!("{}/api/app:v1", proxy.host());
    org.ok("-", &["copy", &image, &remote]);
    org.key("k", "ed25519");
    org.sign(&remote, "k");
    assert_eq!(index.lock().expect("lock").len(), 1);
    assert_eq!(
        tags(&registry, "api/app"),
        vec!["v1".to_owned()],
        "no fallback tag"
    );
    let out = org.ok("-", &["verify", &remote, "--key", "k.pub"]);
    assert!(out.contains("1 of 1 signature(s) valid"), "{out}");
    let seen = proxy.seen();
    assert!(seen.iter().any(|s| s.path.contains("/referrers/sha256:")));
    assert!(
        !seen.iter().any(|s| s.path.contains("/manifests/sha256-")),
        "the fallback tag was never read or written"
    );
}

#[test]
fn transient_failures_are_retried_and_tampered_content_is_refused_before_any_tag() {
    let org = Org::new();
    let registry = Registry::start();
    let image = org.artifact("app", "v1");
    let upstream = format!("{}/t/app:v1", registry.host());
    org.ok("-", &["copy", "-r", &image, &upstream]);

    // Every blob GET fails three times (a 503, a connection dropped before the answer, one
    // dropped mid-body): the copy still succeeds.
    let failures = std::sync::Arc::new(std::sync::Mutex::new(std::collections::HashMap::<
        String,
        u32,
    >::new()));
    let count = failures.clone();
    let flaky = Proxy::start(&registry.host(), move |req| {
        if req.method == "GET" && req.path.contains("/blobs/sha256:") {
            let mut c = count.lock().expect("lock");
            let n = c.entry(req.path.clone()).or_insert(0);
            *n += 1;
            match *n {
                1 => return Action::Respond(Answer::new(503, &[], b"busy")),
                2 => return Action::Drop,
                // Headers, then half the body, then the connection closes.
                3 => {
                    return Action::ForwardAndEdit(Box::new(|mut a| {
                        let full = a.body.len();
                        a.headers.push(("Content-Length".into(), full.to_string()));
                        a.body.truncate(full / 2);
                        a
                    }));
                }
                _ => {}
            }
        }
        Action::Forward
    });
    let out = org.ok(
        "-",
        &[
            "copy",
            "-r",
            &format!("{}/t/app:v1", flaky.host()),
            "oci:flaky",
        ],
    );
    assert!(out.contains("copied"), "{out}");
    assert_eq!(
        layout_nodes(&org.path("flaky")),
        layout_nodes(&org.path("app"))
    );
    assert!(failures.lock().expect("lock").values().all(|n| *n >= 4));

    // Uploads too: each blob's first upload start is dropped and its first PUT answered 503.
    let seen_puts = std::sync::Arc::new(std::sync::Mutex::new(
        std::collections::HashSet::<String>::new(),
    ));
    let posts = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (puts, post_count) = (seen_puts.clone(), posts.clone());
    let flaky_push = Proxy::start(&registry.host(), move |req| {
        if req.method == "POST"
            && req.path.contains("/blobs/uploads/")
            && post_count.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 2 == 0
        {
            return Action::Drop;
        }
        if req.method == "PUT" && req.path.contains("digest=") {
            let digest = req.path.rsplit("digest=").next().unwrap_or("").to_owned();
            if puts.lock().expect("lock").insert(digest) {
                return Action::Respond(Answer::new(503, &[], b"try later"));
            }
        }
        Action::Forward
    });
    let (code, doc, err) = json_run(
        &org,
        &[
            "copy",
            "-r",
            "oci:flaky:v1",
            &format!("{}/t/pushed:v1", flaky_push.host()),
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(doc["blobs"]["sent"], 4, "{doc}");
    assert_eq!(seen_puts.lock().expect("lock").len(), 4);

    // A registry that serves altered bytes: the copy fails naming the blob, no tag is written.
    let evil = Proxy::start(&registry.host(), |req| {
        if req.method == "GET" && req.path.contains("/blobs/sha256:") {
            return Action::ForwardAndEdit(Box::new(|mut a| {
                if let Some(b) = a.body.first_mut() {
                    *b ^= 0xff;
                }
                a
            }));
        }
        Action::Forward
    });
    let dest = org.path("tampered");
    Layout::init(&dest, Limits::default()).expect("init");
    let (code, err) = fails(
        &org,
        &[
            "copy",
            &format!("{}/t/app:v1", evil.host()),
            "oci:tampered:v1",
        ],
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("failed verification"), "{err}");
    let layout = Layout::open(&dest, Limits::default()).expect("open");
    assert!(layout.index().expect("index").is_empty(), "no tag moved");

    // The same into a registry: nothing is tagged there, and the source's tag is untouched.
    let before = raw_manifest(&upstream);
    let (code, err) = fails(
        &org,
        &[
            "copy",
            &format!("{}/t/app:v1", evil.host()),
            &format!("{}/t/copy:v1", registry.host()),
        ],
    );
    assert_eq!(code, 1, "{err}");
    assert!(
        tags(&registry, "t/copy").is_empty(),
        "no tag in the destination"
    );
    let after = raw_manifest(&upstream);
    assert_eq!(before, after);
}

/// A layout `name` with one image tagged `v1` whose layer (3 MiB of random bytes) is large
/// enough for direct reads (its config and manifest are not): the layout, its graph and the
/// layer's digest.
pub(crate) fn big_image(org: &Org, name: &str) -> (Layout, Graph, Digest) {
    let layout = Layout::init(org.path(name), Limits::default()).expect("init");
    let data = crate::bundle::random_bytes(3 << 20, 11);
    let image = airlock::build::put_image(
        &layout,
        &[("random.bin", &data)],
        "amd64",
        "2026-01-01T00:00:00Z",
    )
    .expect("image");
    layout
        .tag(
            &airlock::reference::LayoutTag::new("v1").expect("tag"),
            &image,
        )
        .expect("tag");
    let graph = Graph::walk_entries(&layout, &layout.index().expect("index"), &Limits::default())
        .expect("walk");
    let layer = graph
        .nodes
        .iter()
        .find(|(_, n)| n.descriptor.size() > 1 << 20)
        .map(|(d, _)| d.clone())
        .expect("the large layer");
    (layout, graph, layer)
}

/// The GETs of blob `digest` the proxy saw, in order.
pub(crate) fn blob_gets(proxy: &Proxy, digest: &str) -> Vec<crate::proxy::Seen> {
    proxy
        .seen()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path.ends_with(&format!("/blobs/{digest}")))
        .collect()
}

/// Whether the request went the direct way (`src/registry/direct.rs`): only it asks the
/// registry to close the connection after the answer.
pub(crate) fn direct(req: &crate::proxy::Seen) -> bool {
    req.headers
        .iter()
        .any(|(n, v)| n.eq_ignore_ascii_case("connection") && v.eq_ignore_ascii_case("close"))
}

#[test]
fn large_blobs_come_straight_off_the_socket_verified_and_anything_odd_goes_through_the_client() {
    let org = Org::new();
    let registry = Registry::start();
    let (layout, graph, layer) = big_image(&org, "big");
    org.ok(
        "-",
        &[
            "copy",
            "oci:big:v1",
            &format!("{}/t/big:v1", registry.host()),
        ],
    );
    let blob_gets = |proxy: &Proxy, digest: &str| -> Vec<bool> {
        blob_gets(proxy, digest).iter().map(direct).collect()
    };

    // Plain: the layer is fetched once, directly; the small blobs through the HTTP client.
    let plain = Proxy::start(&registry.host(), |_| Action::Forward);
    org.ok(
        "-",
        &[
            "copy",
            &format!("{}/t/big:v1", plain.host()),
            "oci:plain:v1",
        ],
    );
    assert_eq!(
        layout_nodes(&org.path("plain")),
        layout_nodes(&org.path("big"))
    );
    let copied = Layout::open(org.path("plain"), Limits::default()).expect("open");
    let path = copied.blob_path(&layer);
    assert!(
        std::fs::read(&path).expect("layer")
            == std::fs::read(layout.blob_path(&layer)).expect("source layer")
    );
    assert_eq!(blob_gets(&plain, &layer.to_string()), [true]);
    let config = graph
        .nodes
        .iter()
        .find(|(_, n)| n.descriptor.media_type().to_string().contains("config"))
        .map(|(d, _)| d.to_string())
        .expect("the config");
    assert_eq!(blob_gets(&plain, &config), [false]);

    // A direct answer cut off mid-body: the blob is opened again. That direct GET is answered
    // 503, which the direct way declines: the same GET goes through the client, which succeeds.
    let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = count.clone();
    let odd = Proxy::start(&registry.host(), move |req| {
        if req.method == "GET" && req.path.contains("/blobs/") && direct(req) {
            match counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed) {
                0 => {
                    return Action::ForwardAndEdit(Box::new(|mut a| {
                        let full = a.body.len();
                        a.headers.push(("Content-Length".into(), full.to_string()));
                        a.body.truncate(full / 2);
                        a
                    }));
                }
                1 => return Action::Respond(Answer::new(503, &[], b"busy")),
                _ => {}
            }
        }
        Action::Forward
    });
    org.ok(
        "-",
        &["copy", &format!("{}/t/big:v1", odd.host()), "oci:odd:v1"],
    );
    assert_eq!(
        layout_nodes(&org.path("odd")),
        layout_nodes(&org.path("big"))
    );
    assert_eq!(blob_gets(&odd, &layer.to_string()), [true, true, false]);

    // Altered bytes on the direct way are refused like any others: nothing is tagged.
    let evil = Proxy::start(&registry.host(), |req| {
        if req.method == "GET" && direct(req) {
            return Action::ForwardAndEdit(Box::new(|mut a| {
                if let Some(b) = a.body.last_mut() {
                    *b ^= 0xff;
                }
                a
            }));
        }
        Action::Forward
    });
    let dest = org.path("evil");
    Layout::init(&dest, Limits::default()).expect("init");
    let (code, err) = fails(
        &org,
        &["copy", &format!("{}/t/big:v1", evil.host()), "oci:evil:v1"],
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("failed verification"), "{err}");
    assert!(
        err.contains(&layer.to_string()),
        "the error names the blob: {err}"
    );
    assert_eq!(
        blob_gets(&evil, &layer.to_string()),
        [true],
        "a mismatch is not retried"
    );
    let evil_layout = Layout::open(&dest, Limits::default()).expect("open");
    assert!(
        evil_layout.index().expect("index").is_empty(),
        "no tag moved"
    );
    assert!(
        !evil_layout.blob_path(&layer).exists(),
        "the altered layer was not kept"
    );
}

#[test]
fn hostile_registry_answers_are_refused() {
    let org = Org::new();
    let registry = Registry::start();
    let image = org.artifact("app", "v1");
    org.ok(
        "-",
        &["copy", &image, &format!("{}/h/app:v1", registry.host())],
    );
    let digest = layout_digest(&org, "app", "v1");
    // A manifest by tag whose bytes do not match Docker-Content-Digest.
    let lying = Proxy::start(&registry.host(), |req| {
        if req.method == "GET" && req.path.ends_with("/manifests/v1") {
            return Action::ForwardAndEdit(Box::new(|mut a| {
                a.headers
                    .retain(|(n, _)| !n.eq_ignore_ascii_case("docker-content-digest"));
                a.headers.push((
                    "Docker-Content-Digest".into(),
                    format!("sha256:{}", "0".repeat(64)),
                ));
                a
            }));
        }
        Action::Forward
    });
    let (code, err) = fails(&org, &["discover", &format!("{}/h/app:v1", lying.host())]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("Docker-Content-Digest"), "{err}");
    // A fallback index that lists more referrers than the limit.
    let flood = Proxy::start(&registry.host(), move |req| {
        if req.method == "GET" && req.path.contains("/manifests/sha256-") {
            let many: Vec<Value> = (0..20)
                .map(|i| {
                    json!({
                        "mediaType": "application/vnd.oci.image.manifest.v1+json",
                        "digest": Digest::sha256_of(format!("{i}").as_bytes()).to_string(),
                        "size": 10,
                    })
                })
                .collect();
            let body = serde_json::to_vec(&json!({
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "manifests": many,
            }))
            .expect("json");
            return Action::Respond(Answer::new(
                200,
                &[("Content-Type", "application/vnd.oci.image.index.v1+json")],
                &body,
            ));
        }
        Action::Forward
    });
    let (code, err) = fails(
        &org,
        &[
            "--limit",
            "max_referrers_per_subject=5",
            "discover",
            &format!("{}/h/app@{digest}", flood.host()),
        ],
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("max_referrers_per_subject"), "{err}");
    // A huge manifest is refused by its declared length, before its body is read.
    let huge = Proxy::start(&registry.host(), |req| {
        if req.method == "GET" && req.path.ends_with("/manifests/v1") {
            return Action::Respond(Answer::new(
                200,
                &[("Content-Type", "application/vnd.oci.image.manifest.v1+json")],
                &vec![b' '; 5 << 20],
            ));
        }
        Action::Forward
    });
    let (code, err) = fails(&org, &["discover", &format!("{}/h/app:v1", huge.host())]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("max_manifest_bytes"), "{err}");
}

#[test]
fn signers_at_the_same_time_all_land_in_the_fallback_index() {
    let org = Org::new();
    let registry = Registry::start();
    let image = org.artifact("app", "v1");
    let remote = format!("{}/busy/app:v1", registry.host());
    org.ok("-", &["copy", &image, &remote]);
    let names = ["a", "b", "c", "d", "e", "f"];
    for n in names {
        org.key(n, "ed25519");
    }
    std::thread::scope(|s| {
        for n in names {
            let (org, remote) = (&org, &remote);
            s.spawn(move || org.ok("-", &["sign", remote, "--key", &format!("{n}.key")]));
        }
    });
    let (code, doc, err) = json_run(&org, &["discover", &remote]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(referrers_of_root(&doc).len(), names.len(), "{doc}");
}

#[test]
fn large_blobs_from_a_source_that_keeps_breaking_off_fail_naming_the_blob_registry_and_cause() {
    let org = Org::new();
    let registry = Registry::start();
    let (_layout, _graph, layer) = big_image(&org, "big");
    org.ok(
        "-",
        &[
            "copy",
            "oci:big:v1",
            &format!("{}/t/big:v1", registry.host()),
        ],
    );
    // Every GET of the large layer, whichever way it goes, is cut off half-way.
    let layer_path = format!("/blobs/{layer}");
    let cut = Proxy::start(&registry.host(), move |req| {
        if req.method == "GET" && req.path.ends_with(&layer_path) {
            return Action::ForwardAndEdit(Box::new(|mut a| {
                let full = a.body.len();
                a.headers.push(("Content-Length".into(), full.to_string()));
                a.body.truncate(full / 2);
                a
            }));
        }
        Action::Forward
    });
    let (code, err) = fails(
        &org,
        &["copy", &format!("{}/t/big:v1", cut.host()), "oci:cut:v1"],
    );
    assert_eq!(code, 2, "a network failure, not a verification one: {err}");
    for part in [
        format!(
            "reading blob {layer} from {}/t/big failed after 4 attempts",
            cut.host()
        ),
        "the registry closed the connection after".to_owned(),
        "check that the source is reachable and run the copy again".to_owned(),
    ] {
        assert!(err.contains(&part), "{part:?} missing from {err}");
    }
    assert!(!err.contains("write blob into"), "{err}");
    assert_eq!(
        blob_gets(&cut, &layer.to_string()).len(),
        4,
        "read once and again three times"
    );
    if let Ok(cut_layout) = Layout::open(org.path("cut"), Limits::default()) {
        assert!(
            cut_layout.index().expect("index").is_empty(),
            "no tag moved"
        );
        assert!(!cut_layout.blob_path(&layer).exists());
    }
}
