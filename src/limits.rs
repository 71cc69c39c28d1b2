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
    /// Most edges (children, configs, layers, referrers) in one graph walk.
    pub max_graph_edges: usize,
    /// Most bytes of manifests one graph walk holds (they are kept as read).
    pub max_graph_manifest_bytes: u64,
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
    /// Largest signature envelope (a COSE_Sign1 message), in bytes.
    pub max_envelope_bytes: u64,
    /// Largest trust-root or revocation-snapshot file (a COSE_Sign message), in bytes.
    pub max_trust_document_bytes: u64,
    /// Most signatures on one trust-root or revocation-snapshot file.
    pub max_trust_signatures: usize,
    /// Most keys, and most signer identities, in one trust root; most keys in one role.
    pub max_trust_keys: usize,
    /// Most entries (revoked keys plus revoked digests) in one revocation snapshot.
    pub max_revocation_entries: usize,
    /// Most root versions one update may advance through.
    pub max_root_chain: usize,
    /// Largest trust-policy file, in bytes.
    pub max_policy_bytes: u64,
    /// Most scopes in one trust policy.
    pub max_policy_scopes: usize,
}

impl Limits {
    /// The field names [`Limits::set`] accepts.
    pub const NAMES: &'static [&'static str] = &[
        "max_manifest_bytes",
        "max_layout_json_bytes",
        "max_index_entries",
        "max_graph_depth",
        "max_graph_nodes",
        "max_graph_edges",
        "max_graph_manifest_bytes",
        "max_referrers_per_subject",
        "max_tar_entries",
        "max_blob_bytes",
        "max_tarball_bytes",
        "max_buffered_manifest_bytes",
        "max_zstd_window_log",
        "max_envelope_bytes",
        "max_trust_document_bytes",
        "max_trust_signatures",
        "max_trust_keys",
        "max_revocation_entries",
        "max_root_chain",
        "max_policy_bytes",
        "max_policy_scopes",
    ];

    /// Sets one field by name from text: a whole number, optionally with a binary size suffix
    /// (`KiB`, `MiB`, `GiB`, `TiB`).
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), String> {
        let n = parse_number(value)?;
        let small = || usize::try_from(n).map_err(|_| format!("{n} is too large"));
        match name {
            "max_manifest_bytes" => self.max_manifest_bytes = n,
            "max_layout_json_bytes" => self.max_layout_json_bytes = n,
            "max_index_entries" => self.max_index_entries = small()?,
            "max_graph_depth" => self.max_graph_depth = small()?,
            "max_graph_nodes" => self.max_graph_nodes = small()?,
            "max_graph_edges" => self.max_graph_edges = small()?,
            "max_graph_manifest_bytes" => self.max_graph_manifest_bytes = n,
            "max_referrers_per_subject" => self.max_referrers_per_subject = small()?,
            "max_tar_entries" => self.max_tar_entries = n,
            "max_blob_bytes" => self.max_blob_bytes = n,
            "max_tarball_bytes" => self.max_tarball_bytes = n,
            "max_buffered_manifest_bytes" => self.max_buffered_manifest_bytes = n,
            "max_envelope_bytes" => self.max_envelope_bytes = n,
            "max_trust_document_bytes" => self.max_trust_document_bytes = n,
            "max_trust_signatures" => self.max_trust_signatures = small()?,
            "max_trust_keys" => self.max_trust_keys = small()?,
            "max_revocation_entries" => self.max_revocation_entries = small()?,
            "max_root_chain" => self.max_root_chain = small()?,
            "max_policy_bytes" => self.max_policy_bytes = n,
            "max_policy_scopes" => self.max_policy_scopes = small()?,
            "max_zstd_window_log" => {
                // zstd's own ceiling is 31; a larger window cannot be decoded anyway.
                self.max_zstd_window_log = u32::try_from(n)
                    .ok()
                    .filter(|w| (10..=31).contains(w))
                    .ok_or_else(|| format!("{n} is outside 10..=31"))?;
            }
            other => {
                return Err(format!(
                    "unknown limit {other:?} (known: {})",
                    Self::NAMES.join(", ")
                ));
            }
        }
        Ok(())
    }
}

fn parse_number(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, suffix) = t.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a whole number"))?;
    let scale: u64 = match suffix.trim() {
        "" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "TiB" => 1 << 40,
        other => return Err(format!("unknown unit {other:?} (use KiB, MiB, GiB or TiB)")),
    };
    n.checked_mul(scale)
        .ok_or_else(|| format!("{text:?} is too large"))
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_manifest_bytes: 4 * 1024 * 1024,
            max_layout_json_bytes: 16 * 1024 * 1024,
            max_index_entries: 10_000,
            max_graph_depth: 32,
            max_graph_nodes: 50_000,
            max_graph_edges: 50_000,
            max_graph_manifest_bytes: 16 * 1024 * 1024,
            max_referrers_per_subject: 1_000,
            max_tar_entries: 200_000,
            max_blob_bytes: 256 * 1024 * 1024 * 1024,
            max_tarball_bytes: 1024 * 1024 * 1024 * 1024,
            max_buffered_manifest_bytes: 16 * 1024 * 1024,
            max_zstd_window_log: 24,
            max_envelope_bytes: 64 * 1024,
            max_trust_document_bytes: 16 * 1024 * 1024,
            max_trust_signatures: 32,
            max_trust_keys: 1_000,
            max_revocation_entries: 100_000,
            max_root_chain: 64,
            max_policy_bytes: 1024 * 1024,
            max_policy_scopes: 1_000,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Limits;

    #[test]
    fn set_by_name_with_units() {
        let mut l = Limits::default();
        l.set("max_blob_bytes", "2GiB").unwrap();
        assert_eq!(l.max_blob_bytes, 2 << 30);
        l.set("max_graph_depth", "8").unwrap();
        assert_eq!(l.max_graph_depth, 8);
        assert!(l.set("max_zstd_window_log", "40").is_err());
        assert!(l.set("max_blob_bytes", "1PB").is_err());
        assert!(l.set("max_blob_bytes", "99999999999TiB").is_err());
        assert!(l.set("no_such_limit", "1").is_err());
        for name in Limits::NAMES {
            l.set(name, "12").unwrap();
        }
    }
}
