//! Writing new manifests into a layout: images from files, indexes, and referrers attached to a
//! subject (an SBOM, a scan result). Every document is serialised once, with sorted keys, and
//! stored by the bytes written; its descriptor is computed from those same bytes.
//!
//! Spec: `formats/layout.md`, section "Manifests airlock writes".

use std::collections::BTreeMap;

use oci_spec::image::Descriptor;
use serde_json::{Value, json};

use crate::digest::Digest;
use crate::layout::{Layout, LayoutError, descriptor, to_json_bytes};
use crate::media;
use crate::reference::LayoutTag;

/// Stores a JSON document as a blob and returns its descriptor.
pub fn put_json(layout: &Layout, media_type: &str, doc: &Value) -> Result<Descriptor, LayoutError> {
    let bytes = to_json_bytes(doc);
    let digest = layout.write_blob_bytes(&bytes)?;
    Ok(descriptor(media_type, &digest, bytes.len() as u64))
}

/// Stores raw bytes as a blob of `media_type` and returns its descriptor.
pub fn put_blob(
    layout: &Layout,
    media_type: &str,
    bytes: &[u8],
) -> Result<Descriptor, LayoutError> {
    let digest = layout.write_blob_bytes(bytes)?;
    Ok(descriptor(media_type, &digest, bytes.len() as u64))
}

fn descriptor_json(d: &Descriptor) -> Value {
    // Invariant: a Descriptor is plain data and always serialises.
    #[allow(clippy::expect_used)]
    let v = serde_json::to_value(d).expect("descriptor serialises");
    // Round-trip through Value sorts any annotation map (a HashMap in oci-spec).
    v
}

/// A single-layer `linux/<arch>` image whose layer is an uncompressed tar of `files`.
/// Returns the image manifest's descriptor (with its platform set, for use in an index).
pub fn put_image(
    layout: &Layout,
    files: &[(&str, &[u8])],
    architecture: &str,
    created: &str,
) -> Result<Descriptor, LayoutError> {
    let layer_bytes = layer_tar(files).map_err(|e| LayoutError::Io {
        action: "build layer for",
        path: layout.root().to_path_buf(),
        source: e,
    })?;
    let layer = put_blob(layout, media::OCI_LAYER_TAR, &layer_bytes)?;
    let config = put_json(
        layout,
        media::OCI_CONFIG,
        &json!({
            "architecture": architecture,
            "os": "linux",
            "created": created,
            "config": {},
            "rootfs": { "type": "layers", "diff_ids": [layer.digest().to_string()] },
            "history": [{ "created": created, "created_by": "airlock sample" }],
        }),
    )?;
    let manifest = put_json(
        layout,
        media::OCI_MANIFEST,
        &json!({
            "schemaVersion": 2,
            "mediaType": media::OCI_MANIFEST,
            "config": descriptor_json(&config),
            "layers": [descriptor_json(&layer)],
            "annotations": { media::ANNOTATION_CREATED: created },
        }),
    )?;
    let platform: oci_spec::image::Platform = serde_json::from_value(json!({
        "architecture": architecture, "os": "linux"
    }))
    .map_err(|e| LayoutError::InvalidDocument {
        path: "platform".into(),
        reason: e.to_string(),
    })?;
    let mut d = manifest;
    d.set_platform(Some(platform));
    Ok(d)
}

/// An OCI image index over `manifests`.
pub fn put_index(layout: &Layout, manifests: &[Descriptor]) -> Result<Descriptor, LayoutError> {
    put_json(
        layout,
        media::OCI_INDEX,
        &json!({
            "schemaVersion": 2,
            "mediaType": media::OCI_INDEX,
            "manifests": manifests.iter().map(descriptor_json).collect::<Vec<_>>(),
        }),
    )
}

/// Attaches `content` to `subject` as an OCI 1.1 referrer: an image manifest with
/// `artifactType`, the empty config, one layer and `subject`. The referrer is listed untagged in
/// `index.json` so tools that read the layout find it. The subject is not modified.
pub fn attach(
    layout: &Layout,
    subject: &Descriptor,
    artifact_type: &str,
    content: &[u8],
    content_media_type: &str,
    annotations: &BTreeMap<String, String>,
) -> Result<Descriptor, LayoutError> {
    let layer = put_blob(layout, content_media_type, content)?;
    attach_layer(layout, subject, artifact_type, &layer, annotations)
}

/// Like [`attach`], for content already stored in the layout as `layer`.
pub fn attach_layer(
    layout: &Layout,
    subject: &Descriptor,
    artifact_type: &str,
    layer: &Descriptor,
    annotations: &BTreeMap<String, String>,
) -> Result<Descriptor, LayoutError> {
    let empty = put_blob(layout, media::OCI_EMPTY, media::EMPTY_JSON)?;
    let doc = referrer_document(subject, artifact_type, &empty, layer, annotations)?;
    let mut referrer = put_json(layout, media::OCI_MANIFEST, &doc)?;
    referrer.set_artifact_type(Some(artifact_type.into()));
    layout.add_untagged(&referrer)?;
    Ok(referrer)
}

/// The referrer manifest [`attach`] writes: `artifactType`, the empty config `empty`, the one
/// `layer`, `subject` reduced to media type, digest and size, and `annotations` when any.
pub fn referrer_document(
    subject: &Descriptor,
    artifact_type: &str,
    empty: &Descriptor,
    layer: &Descriptor,
    annotations: &BTreeMap<String, String>,
) -> Result<Value, LayoutError> {
    let subject = descriptor(
        subject.media_type().as_ref(),
        &Digest::from_oci(subject.digest()).map_err(|e| LayoutError::Content {
            what: "subject".into(),
            source: e,
        })?,
        subject.size(),
    );
    let mut doc = json!({
        "schemaVersion": 2,
        "mediaType": media::OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": descriptor_json(empty),
        "layers": [descriptor_json(layer)],
        "subject": descriptor_json(&subject),
    });
    if !annotations.is_empty() {
        doc["annotations"] = json!(annotations);
    }
    Ok(doc)
}

/// The descriptors of the sample written by [`write_sample`].
#[derive(Clone, Debug)]
pub struct Sample {
    /// The index, tagged.
    pub index: Descriptor,
    /// The `linux/amd64` image manifest inside the index.
    pub image: Descriptor,
    /// The SPDX SBOM referrer whose subject is the image.
    pub sbom: Descriptor,
}

/// Writes a small, deterministic sample: a one-layer image, an index over it tagged `tag`, and an
/// SPDX SBOM attached to the image as a referrer. `name` varies the content.
pub fn write_sample(layout: &Layout, tag: &LayoutTag, name: &str) -> Result<Sample, LayoutError> {
    let created = "2026-01-01T00:00:00Z";
    let hello = format!("hello from {name}\n");
    let image = put_image(layout, &[("hello.txt", hello.as_bytes())], "amd64", created)?;
    let index = put_index(layout, std::slice::from_ref(&image))?;
    layout.tag(tag, &index)?;
    let sbom = to_json_bytes(&json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": name,
        "documentNamespace": format!("https://spdx.invalid/{name}"),
        "creationInfo": { "created": created, "creators": ["Tool: airlock"] },
        "packages": [{ "name": name, "SPDXID": "SPDXRef-Package", "downloadLocation": "NOASSERTION" }],
    }));
    let annotations = BTreeMap::from([(media::ANNOTATION_CREATED.to_owned(), created.to_owned())]);
    let sbom = attach(
        layout,
        &image,
        media::SPDX_JSON,
        &sbom,
        media::SPDX_JSON,
        &annotations,
    )?;
    Ok(Sample { index, image, sbom })
}

/// A deterministic uncompressed tar of regular files (mode 0644, mtime 0, uid/gid 0).
fn layer_tar(files: &[(&str, &[u8])]) -> std::io::Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_ustar();
        h.set_path(name)?;
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        builder.append(&h, *data)?;
    }
    builder.into_inner()
}
