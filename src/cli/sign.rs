//! `airlock sign REF --key K`: a detached signature stored as a referrer beside the artifact.

use std::path::PathBuf;

use airlock::signature::{self, SignOptions};
use airlock::time::{self, Seconds};
use airlock::{Error, Limits};
use clap::Args;
use serde_json::json;

use super::output::{Output, short};
use super::target::RegistryArgs;

#[derive(Debug, Args)]
pub(crate) struct SignArgs {
    /// The artifact: oci:PATH[:TAG|@DIGEST] or REGISTRY/REPO[:TAG|@DIGEST].
    reference: String,
    /// The private key (PKCS#8 PEM; encrypted keys read AIRLOCK_KEY_PASSPHRASE or prompt).
    #[arg(long, short = 'k')]
    key: PathBuf,
    /// Make the signature expire after this long (30d, 12h, 90m, 3600s).
    #[arg(long, value_parser = time::parse_duration)]
    expires: Option<Seconds>,
    /// The signing time to record, RFC 3339 (default: now).
    #[arg(long, value_parser = time::parse_rfc3339)]
    time: Option<Seconds>,
}

pub(crate) fn run(
    args: &SignArgs,
    out: &Output,
    limits: &Limits,
    registry: &RegistryArgs,
) -> Result<(), Error> {
    let key = super::key::read_private(&args.key)?;
    let t = super::target::resolve(&args.reference, limits, registry)?;
    let signing_time = args.time.unwrap_or_else(time::now);
    let options = SignOptions {
        signing_time,
        expiry: args.expires.map(|d| signing_time.saturating_add(d)),
        agent: Some(format!("airlock/{}", env!("CARGO_PKG_VERSION"))),
    };
    let (target, sig) = signature::sign_to(
        t.store.source(),
        t.store.destination(),
        &t.descriptor,
        &key,
        &options,
        limits,
    )?;
    let sig_digest = airlock::layout::descriptor_digest(&sig)?;
    out.status(format!(
        "signed {} ({}) with {} key {}\n  signature: {}",
        t.reference,
        short(&target.digest),
        key.algorithm(),
        key.id(),
        sig_digest
    ));
    out.result(
        "sign",
        json!({
            "reference": t.reference.to_string(),
            "target": { "mediaType": target.media_type, "digest": target.digest, "size": target.size },
            "signature": { "digest": sig_digest, "size": sig.size() },
            "keyId": key.id().to_string(),
            "algorithm": key.algorithm().to_string(),
            "signingTime": time::format_rfc3339(signing_time),
            "expiry": options.expiry.map(time::format_rfc3339),
        }),
    );
    Ok(())
}
