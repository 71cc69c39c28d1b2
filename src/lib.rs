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
//! - [`graph`]: the closure of an artifact (children, config, layers, referrers).
//! - [`tarball`]: layout tarballs, read and written as streams.
//! - [`build`]: writing images, indexes and referrers into a layout.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod build;
pub mod digest;
pub mod error;
pub mod graph;
pub mod layout;
pub mod limits;
pub mod media;
pub mod reference;
pub mod tarball;

pub use digest::Digest;
pub use error::Error;
pub use limits::Limits;
