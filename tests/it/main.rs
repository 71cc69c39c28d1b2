//! The one integration-test binary: every module links into it, so the suite builds once.

mod auth_servers;
mod bundle;
mod bundle_registry;
mod bundle_vectors;
mod cli;
mod cose;
mod harness;
mod hostile;
mod interop;
mod policy;
mod proxy;
mod registry;
mod registry_auth;
mod registry_hardening;
mod scenario;
mod signing;
mod trust;
mod trust_interop;
mod trust_vectors;
