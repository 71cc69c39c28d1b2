//! One place for every bound on attacker-controlled sizes and counts.
//!
//! Spec: `formats/layout.md`, section "Limits". Every reader of untrusted input takes a
//! [`Limits`] and enforces it by counting what it actually reads, never by trusting a declared size.

/// Bounds applied to untrusted input. [`Limits::default`] suits real-world images and bundles;
/// tests and constrained sites may tighten any field.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Largest manifest or index document, in bytes (the distribution spec's common 4 MiB).
    pub max_manifest_bytes: u64,
    /// Largest `index.json` or `oci-layout` file, in bytes.
    pub max_layout_json_bytes: u64,
    /// Most descriptors in one index (`manifests`) or one manifest (`layers`).
    pub max_index_entries: usize,
    /// Deepest chain of edges from a root (index → manifest → referrer → referrer …).
    pub max_graph_depth: usize,
    /// Most distinct nodes (manifests and blobs) in one graph walk.
    pub max_graph_nodes: usize,
    /// Most referrers of one subject.
    pub max_referrers_per_subject: usize,
    /// Most entries (files and directories) in one tarball.
    pub max_tar_entries: u64,
    /// Largest single blob, in bytes.
    pub max_blob_bytes: u64,
    /// Most bytes a tarball may expand to (after zstd decompression), headers included.
    pub max_tarball_bytes: u64,
    /// Most bytes of small JSON blobs (candidate manifests) held in memory while a tarball is
    /// inspected without unpacking it.
    pub max_buffered_manifest_bytes: u64,
    /// Largest zstd window accepted, as a power of two (bounds decoder memory).
    pub max_zstd_window_log: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_manifest_bytes: 4 * 1024 * 1024,
            max_layout_json_bytes: 16 * 1024 * 1024,
            max_index_entries: 10_000,
            max_graph_depth: 32,
            max_graph_nodes: 100_000,
            max_referrers_per_subject: 1_000,
            max_tar_entries: 1_000_000,
            max_blob_bytes: 256 * 1024 * 1024 * 1024,
            max_tarball_bytes: 1024 * 1024 * 1024 * 1024,
            max_buffered_manifest_bytes: 32 * 1024 * 1024,
            max_zstd_window_log: 25,
        }
    }
}
