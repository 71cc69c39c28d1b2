//! The top-level error, gathering each area's errors, with a hint for what to do and the class
//! of failure the CLI maps to an exit code.

use crate::digest::DigestError;
use crate::graph::GraphError;
use crate::key::KeyError;
use crate::layout::LayoutError;
use crate::policy::PolicyError;
use crate::reference::ReferenceError;
use crate::registry::RegistryError;
use crate::signature::SignatureError;
use crate::tarball::TarballError;
use crate::trust::TrustError;

/// Any error from the airlock library.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A digest was malformed or content did not match.
    #[error(transparent)]
    Digest(#[from] DigestError),
    /// A reference was malformed.
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    /// A layout directory problem.
    #[error(transparent)]
    Layout(#[from] LayoutError),
    /// A registry request failed.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// A content graph problem.
    #[error(transparent)]
    Graph(#[from] GraphError),
    /// A tarball problem.
    #[error(transparent)]
    Tarball(#[from] TarballError),
    /// A key could not be read, written or used.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// Signing, or finding signatures, failed.
    #[error(transparent)]
    Signature(#[from] SignatureError),
    /// A trust root, revocation snapshot or the trust store was refused.
    #[error(transparent)]
    Trust(#[from] TrustError),
    /// A trust policy was refused.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// A bundle was refused, or could not be made.
    #[error(transparent)]
    Bundle(#[from] crate::bundle::BundleError),
    /// No signature met what verification asked for.
    #[error("{0}")]
    Unverified(String),
    /// The request names something this operation does not handle.
    #[error("{0}")]
    Unsupported(String),
}

/// What kind of failure an error is, for exit codes and reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// Content failed verification or is hostile: wrong digest, bad tar entry, broken graph.
    Verification,
    /// Bad arguments, missing files, I/O.
    Usage,
}

impl Error {
    /// Whether this is a verification failure or a usage / I/O error.
    pub fn class(&self) -> Class {
        match self {
            Error::Reference(_) | Error::Unsupported(_) => Class::Usage,
            Error::Unverified(_) => Class::Verification,
            Error::Bundle(b) if b.is_verification() => Class::Verification,
            Error::Bundle(_) => Class::Usage,
            Error::Trust(t) if t.is_verification() => Class::Verification,
            Error::Trust(_) | Error::Policy(_) => Class::Usage,
            Error::Key(k) => match k {
                KeyError::BadSignature | KeyError::MalformedSignature { .. } => Class::Verification,
                _ => Class::Usage,
            },
            Error::Signature(s) => match s {
                SignatureError::Layout(l) => layout_class(l),
                SignatureError::Target(_) => Class::Verification,
                _ => Class::Usage,
            },
            Error::Digest(d) => digest_class(d),
            Error::Registry(r) => registry_class(r),
            Error::Layout(l) => layout_class(l),
            Error::Graph(g) => graph_class(g),
            Error::Tarball(t) => match t {
                TarballError::Io { .. } => Class::Usage,
                TarballError::Layout(l) => layout_class(l),
                TarballError::Graph(g) => graph_class(g),
                _ => Class::Verification,
            },
        }
    }

    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        let h = match self {
            Error::Unsupported(_) => "see `airlock help` for what each command accepts",
            Error::Bundle(b) => b.hint(),
            Error::Trust(t) => trust_hint(t),
            Error::Policy(_) => {
                "fix the policy file (formats/policy.md, formats/policy.schema.json) and install it with `airlock policy set FILE`"
            }
            Error::Unverified(_) => {
                "the report above gives each signature's verdict and what is missing; sign the artifact with a key the trust root or the given keys accept (`airlock sign`), attach what the policy requires, or check the --scope"
            }
            Error::Key(k) => match k {
                KeyError::Exists(_) => "choose another name; airlock never replaces a key file",
                KeyError::NoPassphrase(_) => {
                    "set AIRLOCK_KEY_PASSPHRASE, or run from a terminal to be prompted"
                }
                KeyError::Decrypt(_) => {
                    "check the passphrase (AIRLOCK_KEY_PASSPHRASE or the prompt)"
                }
                KeyError::Io { .. } => "check the path and its permissions",
                KeyError::Random(_) => "the system random number generator failed; retry",
                KeyError::BadSignature | KeyError::MalformedSignature { .. } => {
                    "the signature does not match the content; do not trust it"
                }
                _ => {
                    "give a PKCS#8 PEM private key or an SPKI PEM public key of type ed25519 or p384 (`airlock key generate`, or `openssl genpkey -algorithm ed25519`)"
                }
            },
            Error::Signature(s) => match s {
                SignatureError::Layout(l) => layout_hint(l),
                SignatureError::Target(_) => {
                    "name a manifest or index (oci:PATH:TAG or oci:PATH@DIGEST); blobs are signed through the manifest that lists them"
                }
                _ => "report this as a bug in airlock",
            },
            Error::Reference(_) => {
                "name a registry artifact as registry/repo:tag or registry/repo@sha256:<hex>, a layout as oci:PATH[:TAG|@DIGEST]"
            }
            Error::Digest(DigestError::Mismatch { .. } | DigestError::SizeMismatch { .. }) => {
                "the content was altered or damaged in transit; fetch it again from a trusted source"
            }
            Error::Digest(_) => "digests are sha256:<64 hex> or sha512:<128 hex>, lowercase",
            Error::Layout(l) => layout_hint(l),
            Error::Registry(r) => registry_hint(r),
            Error::Graph(g) => match g {
                GraphError::Layout { source, .. } => layout_hint(source),
                GraphError::TooDeep { .. }
                | GraphError::TooManyNodes { .. }
                | GraphError::TooManyReferrers { .. }
                | GraphError::TooManyEntries { .. } => LIMIT_HINT,
                _ => "the layout holds a malformed manifest; re-export it from its source",
            },
            Error::Tarball(t) => match t {
                TarballError::Io { .. } => "check that the file exists and is readable",
                TarballError::UnknownFormat(_) => "give an OCI layout tarball (.tar or .tar.zst)",
                TarballError::Layout(l) => layout_hint(l),
                TarballError::Graph(_) => {
                    "the tarball's content graph is incomplete or malformed; re-create it at the source (`airlock layout pack`, or `airlock export` for a bundle)"
                }
                TarballError::Truncated(_) => {
                    "the file is incomplete; copy it again and compare its checksum"
                }
                TarballError::ExpandsPastLimit(_)
                | TarballError::TooManyEntries(_)
                | TarballError::EntryTooLarge { .. } => LIMIT_HINT,
                TarballError::WindowTooLarge(_) => {
                    "the tarball was compressed with a long zstd window (zstd --long); raise --limit max_zstd_window_log=N if its origin is known, or re-create it at the source (`airlock layout pack`, or `airlock export` for a bundle)"
                }
                TarballError::Malformed(_) => {
                    "the tarball is damaged or was altered; copy it again and compare its checksum"
                }
                _ => {
                    "the tarball was altered or built by a tool that is not safe; do not use it, and re-create it at the source (`airlock layout pack`, or `airlock export` for a bundle)"
                }
            },
        };
        Some(h.to_owned())
    }
}

const LIMIT_HINT: &str = "the content exceeds one of airlock's limits; if its origin is known and it is genuine, raise that limit with --limit NAME=VALUE (formats/layout.md, Limits)";

fn trust_hint(t: &TrustError) -> &'static str {
    match t {
        TrustError::TooLarge { .. } => LIMIT_HINT,
        TrustError::Malformed { .. } | TrustError::NonCanonical { .. } => {
            "the document is damaged or was altered; obtain it again from its publisher"
        }
        TrustError::WrongType { .. } => {
            "give a trust root to `airlock trust` commands and a revocation snapshot to `airlock revocation import`"
        }
        TrustError::InvalidSignature { .. } => {
            "a signature on the document does not verify: it was altered; do not use it"
        }
        TrustError::DuplicateSignature { .. } => {
            "each key signs a document once; the file was altered or assembled wrongly"
        }
        TrustError::AlreadySigned { .. } => "sign with the next party's key",
        TrustError::Threshold { .. } => {
            "more keys of the role must sign: each holder runs `airlock trust sign FILE --key THEIR.key`"
        }
        TrustError::WrongRole { .. } => {
            "the document is signed by keys that may not sign it (an old or another role's key); obtain one signed by the current role"
        }
        TrustError::RevokedSigner { .. } => {
            "a key the revocation snapshot revokes signed it; obtain a document signed by keys still in good standing"
        }
        TrustError::Rollback { .. } | TrustError::VersionConflict { .. } => {
            "the document is older than, or conflicts with, what this trust store already trusts; do not use it, and obtain the current one from its publisher"
        }
        TrustError::SkippedVersion { .. } | TrustError::ChainTooLong { .. } => {
            "install every root version in between, in order (`airlock trust update` takes them all at once)"
        }
        TrustError::Expired { .. } => {
            "obtain a newer document from its publisher; to audit an archive as of a past time, use --at TIME"
        }
        TrustError::FromFuture { .. } | TrustError::ClockRollback { .. } => {
            "check this machine's clock; airlock refuses to work with a clock that moved backwards"
        }
        TrustError::PinMismatch { .. } => {
            "the file is not the root you were given the digest of; obtain both again over a channel you trust"
        }
        TrustError::RemovedEntry { .. } => {
            "revocations are never withdrawn; this snapshot was altered or made wrongly"
        }
        TrustError::NotPinned { .. } => {
            "pin the first trust root: `airlock trust pin ROOT.cose --digest sha256:<hex>` (the digest obtained out of band), or give --trust-dir"
        }
        TrustError::AlreadyPinned { .. } => {
            "install newer roots with `airlock trust update`, or use another --trust-dir"
        }
        TrustError::Store { .. } => {
            "the trust store was changed outside airlock; restore it from a backup or pin again in a new --trust-dir"
        }
        TrustError::Io { .. } => "check the path and its permissions",
    }
}

fn digest_class(d: &DigestError) -> Class {
    match d {
        DigestError::Mismatch { .. } | DigestError::SizeMismatch { .. } => Class::Verification,
        _ => Class::Usage,
    }
}

fn registry_class(r: &RegistryError) -> Class {
    match r {
        RegistryError::Protocol { .. } => Class::Verification,
        _ => Class::Usage,
    }
}

fn registry_hint(r: &RegistryError) -> &'static str {
    match r {
        RegistryError::Transport { .. } => {
            "check the registry's address and that it is up; a registry with a private CA needs --ca-file PEM, one serving plain HTTP off loopback needs --plain-http HOST"
        }
        RegistryError::Status { status: 404, .. } => {
            "check the repository, tag or digest (and that you may see it)"
        }
        RegistryError::Status { .. } => "the registry refused the request; see its message",
        RegistryError::Unauthorized { .. } => {
            "give credentials for the registry: --creds HOST=USER:PASSWORD, AIRLOCK_REGISTRY_CREDS, or a docker config.json (--authfile; `docker login` writes one)"
        }
        RegistryError::Protocol { .. } => {
            "the registry answered something that breaks the OCI distribution spec or does not match its digest; do not trust what it serves"
        }
        RegistryError::Credentials { .. } => {
            "fix the docker config file, or the credential helper it names"
        }
        RegistryError::CaFile { .. } => "give a readable PEM file of CA certificates",
    }
}

fn layout_class(l: &LayoutError) -> Class {
    match l {
        LayoutError::Registry(r) => registry_class(r),
        LayoutError::Content { .. }
        | LayoutError::NotRegularFile(_)
        | LayoutError::BlobMissing(_)
        | LayoutError::InvalidDocument { .. }
        | LayoutError::TooLarge { .. } => Class::Verification,
        _ => Class::Usage,
    }
}

fn graph_class(g: &GraphError) -> Class {
    match g {
        GraphError::Layout { source, .. } => layout_class(source),
        _ => Class::Verification,
    }
}

fn layout_hint(l: &LayoutError) -> &'static str {
    match l {
        LayoutError::Registry(r) => registry_hint(r),
        LayoutError::Io { .. } => "check the path and its permissions",
        LayoutError::NotALayout { .. } => {
            "create one with `airlock layout init DIR` or unpack a tarball with `airlock layout unpack`"
        }
        LayoutError::NotEmpty(_) => "choose a new or empty directory",
        LayoutError::TagNotFound { .. } | LayoutError::Ambiguous { .. } => {
            "list the layout's tags with `airlock inspect DIR`"
        }
        LayoutError::BlobMissing(_) => "the layout is incomplete; copy it again with all its blobs",
        LayoutError::Content { .. } => {
            "a blob was altered or damaged; fetch it again from a trusted source"
        }
        LayoutError::TooLarge { .. } => LIMIT_HINT,
        LayoutError::SourceBroke { .. } => {
            "the failure was in transit, not in the content: run the same command again once the source answers"
        }
        _ => "the layout is malformed; re-create it from its source",
    }
}
