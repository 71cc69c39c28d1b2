//! The offline root of trust: signed, versioned trust roots with rotation, and the trust store
//! that pins the first root and keeps what has been accepted since.
//!
//! Specs: `formats/trust-root.md` (the root document and rotation), `formats/revocation.md`
//! (revocation snapshots, which share the signed-document form in [`signed`]), and the trust
//! store layout in `formats/trust-root.md`, section "Trust store".
//!
//! Nothing is trusted on first use: the first root is accepted only when its file's SHA-256
//! equals a digest given out of band ([`store::TrustStore::pin`]); every later root must be
//! signed by a threshold of the previous root's `root` role and of its own.

pub(crate) mod cbor;
pub mod root;
pub mod signed;
pub mod store;

use std::path::PathBuf;

use crate::digest::Digest;
use crate::key::KeyId;
use crate::time::{Seconds, format_rfc3339};

pub use root::{Role, RoleName, SignedRoot, TrustRoot};
pub use signed::{DocKind, SignedDocument};
pub use store::TrustStore;

/// Clock skew tolerated between machines: a document issued up to this far in the future is
/// accepted, and the clock may read up to this much earlier than the latest time observed.
pub const CLOCK_SKEW: Seconds = 300;

/// Why a trust root, a revocation snapshot or the trust store was refused.
///
/// Each attack the trust model defends against has its own variant and [`code`](Self::code).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrustError {
    /// Endless data: a document, or a count inside it, is over a limit.
    #[error("{what} is too large: {detail}")]
    TooLarge {
        /// The document kind.
        what: DocKind,
        /// What exceeded which limit.
        detail: String,
    },
    /// Not a well-formed document of its kind.
    #[error("{what} is malformed: {reason}")]
    Malformed {
        /// The document kind.
        what: DocKind,
        /// What is wrong.
        reason: String,
    },
    /// Well-formed CBOR, but not in the one deterministic encoding.
    #[error("{what} is not deterministically encoded (RFC 8949 §4.2.1)")]
    NonCanonical {
        /// The document kind.
        what: DocKind,
    },
    /// A document of another kind was given.
    #[error("expected a {expected}, found {found}")]
    WrongType {
        /// The kind asked for.
        expected: DocKind,
        /// What the document says it is.
        found: String,
    },
    /// A signature by a key of the role does not verify.
    #[error("{what} version {version}: the signature by key {key} does not verify: {reason}")]
    InvalidSignature {
        /// The document kind.
        what: DocKind,
        /// The document's version.
        version: u64,
        /// The key the signature names.
        key: KeyId,
        /// Why it failed.
        reason: String,
    },
    /// Two signatures name the same key.
    #[error("{what} carries two signatures by key {key}")]
    DuplicateSignature {
        /// The document kind.
        what: DocKind,
        /// The key.
        key: KeyId,
    },
    /// `trust sign` with a key that has already signed the document.
    #[error("{what} is already signed by key {key}")]
    AlreadySigned {
        /// The document kind.
        what: DocKind,
        /// The key.
        key: KeyId,
    },
    /// Fewer distinct keys of the role signed than its threshold.
    #[error(
        "{what} version {version}: {found} valid signature(s) from the {role}, whose threshold is {needed}{}",
        by_list(signed_by)
    )]
    Threshold {
        /// The document kind.
        what: DocKind,
        /// The document's version.
        version: u64,
        /// Which role (and of which root version) was counted.
        role: String,
        /// The threshold.
        needed: usize,
        /// Distinct keys of the role with a valid signature.
        found: usize,
        /// Those keys.
        signed_by: Vec<KeyId>,
    },
    /// Mix-and-match: no key of the role that must sign it signed, but other keys did (an old
    /// root's key, another role's).
    #[error(
        "{what} version {version} is signed only by key(s) outside the {role} ({}); {found} of the {needed} needed come from the role",
        outside.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
    )]
    WrongRole {
        /// The document kind.
        what: DocKind,
        /// The document's version.
        version: u64,
        /// Which role (and of which root version) must sign.
        role: String,
        /// The threshold.
        needed: usize,
        /// Distinct keys of the role with a valid signature.
        found: usize,
        /// Keys that signed but are not in the role.
        outside: Vec<KeyId>,
    },
    /// The threshold is not met once the signatures of revoked keys are set aside.
    #[error(
        "{what} version {version} is signed by revoked key(s) {}, which count for nothing: {cause}",
        keys.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
    )]
    RevokedSigner {
        /// The document kind.
        what: DocKind,
        /// The document's version.
        version: u64,
        /// The revoked keys that signed.
        keys: Vec<KeyId>,
        /// The threshold failure without them.
        cause: Box<TrustError>,
    },
    /// Rollback: an older version than the one already trusted.
    #[error("{what} version {offered} is older than the trusted version {trusted}")]
    Rollback {
        /// The document kind.
        what: DocKind,
        /// The version in the store.
        trusted: u64,
        /// The version offered.
        offered: u64,
    },
    /// The same version as one already trusted, with different content.
    #[error("{what} version {version} differs from the trusted document of the same version")]
    VersionConflict {
        /// The document kind.
        what: DocKind,
        /// The version.
        version: u64,
    },
    /// A root rotation that does not go to exactly the next version.
    #[error("trust root version {offered} does not follow version {trusted}: expected version {}", trusted + 1)]
    SkippedVersion {
        /// The newest trusted version.
        trusted: u64,
        /// The version offered.
        offered: u64,
    },
    /// More new root versions in one update than the limit.
    #[error("{versions} new trust-root versions at once, more than max_root_chain ({limit})")]
    ChainTooLong {
        /// Versions offered.
        versions: usize,
        /// The limit.
        limit: usize,
    },
    /// Freeze: the document has expired.
    #[error("{what} version {version} expired at {} (the time is {})", format_rfc3339(*expires), format_rfc3339(*now))]
    Expired {
        /// The document kind.
        what: DocKind,
        /// The document's version.
        version: u64,
        /// Its expiry.
        expires: Seconds,
        /// The time it was judged at.
        now: Seconds,
    },
    /// Issued later than the current time (beyond the skew tolerated).
    #[error("{what} version {version} is issued at {}, in the future (the time is {})", format_rfc3339(*issued_at), format_rfc3339(*now))]
    FromFuture {
        /// The document kind.
        what: DocKind,
        /// The document's version.
        version: u64,
        /// Its issue time.
        issued_at: Seconds,
        /// The time now.
        now: Seconds,
    },
    /// The clock reads earlier than the latest time this trust store has observed.
    #[error("the clock reads {}, earlier than {} which this trust store has already observed", format_rfc3339(*now), format_rfc3339(*latest))]
    ClockRollback {
        /// The time now.
        now: Seconds,
        /// The latest time observed.
        latest: Seconds,
    },
    /// The first root's file does not have the digest given out of band.
    #[error("the trust root's digest is {found}, not the pinned {expected}")]
    PinMismatch {
        /// The digest given.
        expected: Digest,
        /// The file's digest.
        found: Digest,
    },
    /// A newer revocation snapshot drops an entry of the trusted one.
    #[error(
        "revocation snapshot version {version} drops the entry for {entry}; entries are never removed"
    )]
    RemovedEntry {
        /// The newer snapshot's version.
        version: u64,
        /// The key id or digest whose entry is missing or changed.
        entry: String,
    },
    /// The trust store holds no pinned root.
    #[error("no trust root is pinned in {}", dir.display())]
    NotPinned {
        /// The trust store directory.
        dir: PathBuf,
    },
    /// `trust pin` on a store that already has a root.
    #[error("{} already has a pinned trust root", dir.display())]
    AlreadyPinned {
        /// The trust store directory.
        dir: PathBuf,
    },
    /// The store's files disagree with one another or with their recorded state.
    #[error("trust store {}: {reason}", dir.display())]
    Store {
        /// The trust store directory.
        dir: PathBuf,
        /// What is inconsistent.
        reason: String,
    },
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

fn by_list(keys: &[KeyId]) -> String {
    if keys.is_empty() {
        String::new()
    } else {
        format!(
            " (signed by {})",
            keys.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

impl TrustError {
    /// A short machine-readable name, one per attack or failure (see `formats/trust-root.md`).
    pub fn code(&self) -> &'static str {
        match self {
            TrustError::TooLarge { .. } => "too-large",
            TrustError::Malformed { .. } => "malformed",
            TrustError::NonCanonical { .. } => "non-canonical",
            TrustError::WrongType { .. } => "wrong-type",
            TrustError::InvalidSignature { .. } => "invalid-signature",
            TrustError::DuplicateSignature { .. } => "duplicate-signature",
            TrustError::AlreadySigned { .. } => "already-signed",
            TrustError::Threshold { .. } => "threshold",
            TrustError::WrongRole { .. } => "wrong-role",
            TrustError::RevokedSigner { .. } => "revoked-signer",
            TrustError::Rollback { .. } => "rollback",
            TrustError::VersionConflict { .. } => "version-conflict",
            TrustError::SkippedVersion { .. } => "skipped-version",
            TrustError::ChainTooLong { .. } => "chain-too-long",
            TrustError::Expired { .. } => "expired",
            TrustError::FromFuture { .. } => "from-future",
            TrustError::ClockRollback { .. } => "clock-rollback",
            TrustError::PinMismatch { .. } => "pin-mismatch",
            TrustError::RemovedEntry { .. } => "removed-entry",
            TrustError::NotPinned { .. } => "not-pinned",
            TrustError::AlreadyPinned { .. } => "already-pinned",
            TrustError::Store { .. } => "store",
            TrustError::Io { .. } => "io",
        }
    }

    /// Whether the failure is about the content offered (as opposed to usage, files or I/O).
    pub fn is_verification(&self) -> bool {
        !matches!(
            self,
            TrustError::NotPinned { .. }
                | TrustError::AlreadyPinned { .. }
                | TrustError::AlreadySigned { .. }
                | TrustError::Io { .. }
        )
    }
}

pub(crate) fn malformed(what: DocKind, e: cbor::CborError) -> TrustError {
    match e {
        cbor::CborError::Malformed(reason) => TrustError::Malformed { what, reason },
        cbor::CborError::NonCanonical => TrustError::NonCanonical { what },
    }
}
