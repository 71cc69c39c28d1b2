//! Media-type and annotation constants used across airlock.
//!
//! Spec: `formats/layout.md`, section "Media types".

/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// OCI image config.
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// OCI uncompressed layer.
pub const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
/// OCI gzip layer.
pub const OCI_LAYER_TAR_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// OCI zstd layer.
pub const OCI_LAYER_TAR_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
/// The empty JSON descriptor's media type (`{}`), used as the config of artifacts.
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
/// Docker schema 2 manifest (read as a manifest).
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list (read as an index).
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// SPDX SBOM document.
pub const SPDX_JSON: &str = "application/spdx+json";

/// The tag of an entry in a layout's `index.json`.
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";
/// Creation time annotation.
pub const ANNOTATION_CREATED: &str = "org.opencontainers.image.created";

/// The two bytes of the empty JSON blob `{}`.
pub const EMPTY_JSON: &[u8] = b"{}";

/// What a media type says a document is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// An image manifest (OCI or Docker schema 2).
    Manifest,
    /// An index (OCI image index or Docker manifest list).
    Index,
    /// Anything else: an opaque blob.
    Blob,
}

/// Classifies a media type.
pub fn kind_of(media_type: &str) -> Kind {
    match media_type {
        OCI_MANIFEST | DOCKER_MANIFEST => Kind::Manifest,
        OCI_INDEX | DOCKER_MANIFEST_LIST => Kind::Index,
        _ => Kind::Blob,
    }
}
