//! Resolving the artifact a command acts on, in a layout or a registry, and the options that
//! say how to reach registries.

use std::path::PathBuf;

use airlock::copy::{Destination, Source};
use airlock::graph::Indexed;
use airlock::layout::{Layout, descriptor_digest};
use airlock::reference::Reference;
use airlock::registry::auth::{self, CredentialSource, Credentials};
use airlock::registry::{Registries, RegistryOptions, Repository};
use airlock::{Digest, Error, Limits};
use clap::Args;
use oci_spec::image::Descriptor;

/// How to reach registries: credentials, plain HTTP, extra CAs.
#[derive(Clone, Debug, Args)]
pub(crate) struct RegistryArgs {
    /// Credentials for one registry, HOST=USER:PASSWORD (repeatable). Prefer the environment
    /// variable (comma-separated entries) or a docker config file: arguments are visible to
    /// other users of the machine.
    #[arg(
        long = "creds",
        global = true,
        env = "AIRLOCK_REGISTRY_CREDS",
        hide_env_values = true,
        value_delimiter = ',',
        value_name = "HOST=USER:PASSWORD",
        value_parser = auth::parse_creds
    )]
    creds: Vec<(String, Credentials)>,
    /// A docker config.json to read credentials from (`auths`, `credHelpers`, `credsStore`);
    /// default: $DOCKER_CONFIG/config.json, else ~/.docker/config.json.
    #[arg(long, global = true, env = "AIRLOCK_AUTHFILE", value_name = "FILE")]
    authfile: Option<PathBuf>,
    /// Speak plain HTTP to this registry host[:port] (repeatable). Loopback registries fall
    /// back to plain HTTP on their own when they do not speak TLS.
    #[arg(long = "plain-http", global = true, value_name = "HOST")]
    plain_http: Vec<String>,
    /// Trust the CA certificates in this PEM file for registry TLS, besides the system's
    /// (repeatable).
    #[arg(
        long = "ca-file",
        global = true,
        env = "AIRLOCK_CA_FILE",
        value_name = "PEM"
    )]
    ca_files: Vec<PathBuf>,
    /// Retries of a registry request after a dropped connection, a 5xx or a 429, with
    /// exponential backoff.
    #[arg(long, global = true, default_value_t = 4, value_name = "N")]
    retries: u32,
}

impl RegistryArgs {
    /// The registry clients, moving `jobs` blobs at once.
    pub(crate) fn registries(&self, limits: &Limits, jobs: usize) -> Result<Registries, Error> {
        let options = RegistryOptions {
            credentials: CredentialSource {
                explicit: self.creds.iter().cloned().collect(),
                config_file: self
                    .authfile
                    .clone()
                    .or_else(CredentialSource::default_config_file),
            },
            plain_http: self.plain_http.clone(),
            ca_files: self.ca_files.clone(),
            retries: self.retries,
            jobs,
            ..RegistryOptions::default()
        };
        Ok(Registries::new(options, limits.clone())?)
    }
}

/// Where a resolved artifact lives.
pub(crate) enum Store {
    /// A layout, its referrers indexed.
    Layout(Indexed<Layout>),
    /// A registry repository.
    Registry(Repository),
}

impl Store {
    /// The store read as a graph source.
    pub(crate) fn source(&self) -> &dyn Source {
        match self {
            Store::Layout(i) => i,
            Store::Registry(r) => r,
        }
    }

    /// The store written to.
    pub(crate) fn destination(&self) -> &dyn Destination {
        match self {
            Store::Layout(i) => i.store(),
            Store::Registry(r) => r,
        }
    }
}

/// A resolved artifact.
pub(crate) struct Target {
    pub(crate) reference: Reference,
    pub(crate) store: Store,
    pub(crate) descriptor: Descriptor,
    pub(crate) digest: Digest,
    /// `REGISTRY/REPOSITORY` for a registry artifact (what policy scopes name).
    pub(crate) repository: Option<String>,
}

/// Parses `reference` and resolves it in its layout or registry.
pub(crate) fn resolve(
    reference: &str,
    limits: &Limits,
    registries: &RegistryArgs,
) -> Result<Target, Error> {
    resolve_with(reference, limits, registries, None)
}

/// Like [`resolve`], with registry clients already built (`built`).
pub(crate) fn resolve_with(
    reference: &str,
    limits: &Limits,
    registries: &RegistryArgs,
    built: Option<&Registries>,
) -> Result<Target, Error> {
    let reference: Reference = reference.parse()?;
    match &reference {
        Reference::Layout(lref) => {
            let layout = Layout::open(lref.path(), limits.clone())?;
            let entry = layout.resolve(lref.selector())?;
            let entries = layout.index()?;
            let indexed = Indexed::new(layout, &entries, limits)?;
            Ok(Target {
                store: Store::Layout(indexed),
                descriptor: entry.descriptor,
                digest: entry.digest,
                repository: None,
                reference,
            })
        }
        Reference::Registry(rref) => {
            let repo = match built {
                Some(r) => r.repository_of(rref),
                None => registries.registries(limits, 1)?.repository_of(rref),
            };
            let (descriptor, _) = repo.resolve(rref)?;
            let digest = descriptor_digest(&descriptor)?;
            Ok(Target {
                repository: Some(format!("{}/{}", rref.registry(), rref.repository())),
                store: Store::Registry(repo),
                descriptor,
                digest,
                reference,
            })
        }
    }
}
