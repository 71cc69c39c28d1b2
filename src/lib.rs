//! airlock: carry signed OCI artifacts across air gaps and verify them offline.
//!
//! The library never prints and never exits; the `airlock` binary is a thin CLI over it.
//! Each module covers one concept and mirrors a spec under `formats/`:
//!
//! - [`digest`]: the [`Digest`](digest::Digest) newtype and hashing adapters.
//! - [`reference`]: registry and `oci:` layout references.
//! - [`limits`]: bounds on every attacker-controlled size and count.
//! - [`media`]: media types.
//! - [`layout`]: OCI image layout directories.
//! - [`json`]: strict key checks for documents other tools also read.
//! - [`graph`]: the closure of an artifact (children, config, layers, referrers).
//! - [`tarball`]: layout tarballs, read and written as streams.
//! - [`build`]: writing images, indexes and referrers into a layout.
//! - [`key`]: Ed25519 and P-384 keys, PEM files, key ids.
//! - [`signature`]: COSE signature envelopes stored as referrers; signing and verifying.
//! - [`time`]: epoch seconds, RFC 3339 and durations.
//! - [`trust`]: signed trust roots with rotation, and the trust store.
//! - [`revocation`]: signed revocation snapshots of keys and digests.
//! - [`policy`]: the trust policy: which signers a repository scope requires.
//! - [`verify`]: judging an artifact by the trust root, revocations and policy.
//! - [`bundle`]: the signed air-gap bundle: export, and one-pass verified reading.
//!
//! # Example
//!
//! Build a layout, pack it as a tarball, and read it back, verifying every blob:
//!
//! ```
//! use airlock::{Limits, build, layout::Layout, reference::LayoutTag, tarball};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let layout = Layout::init(dir.path().join("src"), Limits::default())?;
//! let sample = build::write_sample(&layout, &LayoutTag::new("latest")?, "demo")?;
//!
//! let mut tar = Vec::new();
//! tarball::write_tarball(&layout, &mut tar, tarball::PackOptions::default())?;
//!
//! let inspected = tarball::inspect_tarball(&tar[..], &Limits::default())?;
//! let root = &inspected.contents.entries[0];
//! assert_eq!(root.tag.as_deref(), Some("latest"));
//! assert_eq!(root.digest.to_string(), sample.index.digest().to_string());
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod build;
pub mod bundle;
pub mod copy;
pub mod digest;
pub mod error;
pub mod graph;
pub mod import;
pub mod json;
pub mod key;
pub mod layout;
pub mod limits;
pub mod media;
pub mod policy;
pub mod reference;
pub mod registry;
pub mod revocation;
pub mod signature;
pub mod tarball;
pub mod time;
pub mod trust;
pub mod verify;

pub use digest::Digest;
pub use error::Error;
pub use limits::Limits;
