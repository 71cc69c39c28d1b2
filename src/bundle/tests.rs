//! Unit tests of the packing list and bundle manifest checks.

use serde_json::json;

use super::*;

fn hex(c: char) -> String {
    format!("sha256:{}", c.to_string().repeat(64))
}

fn list() -> serde_json::Value {
    json!({
        "schemaVersion": 1,
        "mediaType": PACKING_LIST_MEDIA_TYPE,
        "created": "2026-01-01T00:00:00Z",
        "roots": [{
            "digest": hex('a'), "mediaType": media::OCI_INDEX, "size": 10,
            "repository": "wabbit/net-monitor", "tag": "v1", "source": "oci:./x:v1",
        }],
        "blobs": [
            {"digest": hex('a'), "mediaType": media::OCI_INDEX, "size": 10, "carried": true},
            {"digest": hex('b'), "mediaType": media::OCI_MANIFEST, "size": 20, "carried": true},
            {"digest": hex('c'), "mediaType": COSE_MEDIA_TYPE, "size": 30, "carried": true},
            {"digest": hex('d'), "mediaType": media::OCI_LAYER_TAR, "size": 40, "carried": false},
        ],
        "referrers": [{"subject": hex('a'), "referrer": hex('b'), "artifactType": "x/y"}],
    })
}

fn parse(v: &serde_json::Value) -> Result<PackingList, BundleError> {
    PackingList::parse(&crate::layout::to_json_bytes(v), &Limits::default())
}

fn refused(v: &serde_json::Value, needle: &str) {
    match parse(v) {
        Err(BundleError::Malformed(m)) => assert!(m.contains(needle), "{m:?} lacks {needle:?}"),
        other => panic!("expected a refusal naming {needle:?}, got {other:?}"),
    }
}

#[test]
fn a_valid_packing_list_round_trips_byte_for_byte() {
    let bytes = crate::layout::to_json_bytes(&list());
    let parsed = PackingList::parse(&bytes, &Limits::default()).expect("valid");
    assert_eq!(parsed.to_bytes(), bytes);
    assert_eq!(parsed.totals(), (100, 60));
    assert_eq!(parsed.roots[0].ref_name(), "wabbit/net-monitor:v1");
}

#[test]
fn blobs_must_be_sorted_by_section_then_digest_and_listed_once() {
    let mut v = list();
    v["blobs"].as_array_mut().expect("array").swap(0, 1);
    refused(&v, "order");
    let mut v = list();
    let first = v["blobs"][0].clone();
    v["blobs"].as_array_mut().expect("array").insert(0, first);
    refused(&v, "order");
    // A layer listed before an envelope breaks the sections.
    let mut v = list();
    v["blobs"].as_array_mut().expect("array").swap(2, 3);
    refused(&v, "order");
}

#[test]
fn only_content_blobs_may_be_omitted() {
    let mut v = list();
    v["blobs"][2]["carried"] = json!(false);
    refused(&v, "always carried");
}

#[test]
fn roots_and_edges_must_name_listed_manifests() {
    let mut v = list();
    v["roots"][0]["size"] = json!(11);
    refused(&v, "not listed as a manifest");
    let mut v = list();
    v["referrers"][0]["referrer"] = json!(hex('d'));
    refused(&v, "not a listed manifest");
    let mut v = list();
    v["roots"][0]["repository"] = json!("Wabbit/../x");
    refused(&v, "root repository");
}

#[test]
fn unknown_fields_versions_and_odd_keys_are_refused() {
    let mut v = list();
    v["extra"] = json!(1);
    refused(&v, "unknown field");
    let mut v = list();
    v["schemaVersion"] = json!(2);
    refused(&v, "schemaVersion 2");
    let mut v = list();
    v["mediatype"] = json!("x");
    refused(&v, "packing list");
}

#[test]
fn an_oversized_packing_list_is_refused_before_it_is_parsed() {
    let limits = Limits {
        max_layout_json_bytes: 64,
        ..Limits::default()
    };
    let bytes = crate::layout::to_json_bytes(&list());
    match PackingList::parse(&bytes, &limits) {
        Err(BundleError::Malformed(m)) => assert!(m.contains("max_layout_json_bytes"), "{m}"),
        other => panic!("expected a size refusal, got {other:?}"),
    }
}

fn manifest(layers: serde_json::Value, artifact_type: &str) -> (Descriptor, Vec<u8>) {
    let empty = Digest::sha256_of(media::EMPTY_JSON);
    let bytes = crate::layout::to_json_bytes(&json!({
        "schemaVersion": 2,
        "mediaType": media::OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": {"mediaType": media::OCI_EMPTY, "digest": empty.to_string(), "size": 2},
        "layers": layers,
    }));
    let d = descriptor(
        media::OCI_MANIFEST,
        &Digest::sha256_of(&bytes),
        bytes.len() as u64,
    );
    (d, bytes)
}

fn layer(media_type: &str, c: char) -> serde_json::Value {
    json!({"mediaType": media_type, "digest": hex(c), "size": 5})
}

#[test]
fn a_bundle_manifest_has_the_packing_list_roots_and_a_snapshot_in_that_order() {
    let good = json!([
        layer(PACKING_LIST_MEDIA_TYPE, 'a'),
        layer(TRUST_ROOT_MEDIA_TYPE, 'b'),
        layer(TRUST_ROOT_MEDIA_TYPE, 'c'),
        layer(REVOCATION_MEDIA_TYPE, 'd'),
    ]);
    let (d, bytes) = manifest(good, BUNDLE_ARTIFACT_TYPE);
    let m = BundleManifest::parse(&d, &bytes, &Limits::default()).expect("valid");
    assert_eq!(m.roots.len(), 2);
    assert_eq!(
        m.section().len(),
        5,
        "packing list, two roots, snapshot, config"
    );

    let cases = [
        (
            json!([
                layer(TRUST_ROOT_MEDIA_TYPE, 'b'),
                layer(REVOCATION_MEDIA_TYPE, 'd')
            ]),
            "first layer",
        ),
        (
            json!([
                layer(PACKING_LIST_MEDIA_TYPE, 'a'),
                layer(REVOCATION_MEDIA_TYPE, 'd')
            ]),
            "trust roots",
        ),
        (
            json!([
                layer(PACKING_LIST_MEDIA_TYPE, 'a'),
                layer(TRUST_ROOT_MEDIA_TYPE, 'b')
            ]),
            "last layer",
        ),
        (
            json!([
                layer(PACKING_LIST_MEDIA_TYPE, 'a'),
                layer(media::OCI_LAYER_TAR, 'b'),
                layer(REVOCATION_MEDIA_TYPE, 'd')
            ]),
            "expected application/vnd.airlock.trust-root",
        ),
    ];
    for (layers, needle) in cases {
        let (d, bytes) = manifest(layers, BUNDLE_ARTIFACT_TYPE);
        match BundleManifest::parse(&d, &bytes, &Limits::default()) {
            Err(BundleError::Malformed(m)) => assert!(m.contains(needle), "{m:?} lacks {needle:?}"),
            other => panic!("expected a refusal naming {needle:?}, got {other:?}"),
        }
    }
    let (d, bytes) = manifest(
        json!([
            layer(PACKING_LIST_MEDIA_TYPE, 'a'),
            layer(TRUST_ROOT_MEDIA_TYPE, 'b'),
            layer(REVOCATION_MEDIA_TYPE, 'd')
        ]),
        "application/vnd.example",
    );
    assert!(matches!(
        BundleManifest::parse(&d, &bytes, &Limits::default()),
        Err(BundleError::Malformed(m)) if m.contains("artifactType")
    ));
}

#[test]
fn ranks_put_manifests_then_envelopes_then_content() {
    assert_eq!(rank_of(media::OCI_INDEX), Rank::Manifest);
    assert_eq!(rank_of(media::DOCKER_MANIFEST), Rank::Manifest);
    assert_eq!(rank_of(COSE_MEDIA_TYPE), Rank::Envelope);
    assert_eq!(rank_of(media::OCI_LAYER_TAR), Rank::Content);
    assert_eq!(rank_of(media::OCI_EMPTY), Rank::Content);
    assert!(Rank::Manifest < Rank::Envelope && Rank::Envelope < Rank::Content);
}
