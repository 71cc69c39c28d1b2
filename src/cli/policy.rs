//! `airlock policy set|show`: the trust policy in the trust store. Spec: `formats/policy.md`.

use std::path::{Path, PathBuf};

use airlock::trust::TrustStore;
use airlock::{Error, Limits};
use clap::{Args, Subcommand};
use serde_json::json;

use super::output::Output;

#[derive(Debug, Subcommand)]
pub(crate) enum PolicyCommand {
    /// Check a policy file and install it in the trust store.
    Set(SetArgs),
    /// Show the installed policy's scopes.
    Show,
}

#[derive(Debug, Args)]
pub(crate) struct SetArgs {
    /// The policy file (JSON; formats/policy.md).
    file: PathBuf,
}

pub(crate) fn run(
    cmd: &PolicyCommand,
    out: &Output,
    limits: &Limits,
    dir: &Path,
) -> Result<(), Error> {
    let mut store = TrustStore::open(dir, limits)?;
    if let PolicyCommand::Set(a) = cmd {
        let bytes = read_policy(&a.file, limits)?;
        store.set_policy(&bytes)?;
        out.status(format!(
            "installed policy {} in {}",
            a.file.display(),
            dir.display()
        ));
    }
    let Some(policy) = store.policy()? else {
        return Err(Error::Unsupported(
            "no trust policy is installed; install one with `airlock policy set FILE`".into(),
        ));
    };
    let unknown: Vec<&str> = policy
        .identities()
        .into_iter()
        .filter(|n| !store.root().root().signers.contains_key(*n))
        .collect();
    if !unknown.is_empty() {
        out.status(format!(
            "warning: the policy names signer identities that trust root version {} does not define: {} (verification fails where they are needed)",
            store.root().version(),
            unknown.join(", ")
        ));
    }
    let mut text = String::new();
    for s in policy.scopes() {
        text.push_str(&format!(
            "{}  {}  {}\n",
            s.pattern,
            s.level,
            s.signers
                .as_ref()
                .map_or_else(|| "-".to_owned(), |x| x.describe())
        ));
        for r in &s.referrers {
            text.push_str(&format!(
                "    requires a referrer {} signed by {}\n",
                r.artifact_type,
                r.signers.describe()
            ));
        }
    }
    out.text(&text);
    out.result(
        "policy",
        json!({
            "scopes": policy.scopes().iter().map(|s| json!({
                "scope": s.pattern.to_string(),
                "level": s.level.to_string(),
                "signers": s.signers.as_ref().map(|x| x.describe()),
                "referrers": s.referrers.iter().map(|r| json!({"artifactType": r.artifact_type, "signers": r.signers.describe()})).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "unknownIdentities": unknown,
        }),
    );
    Ok(())
}

fn read_policy(path: &Path, limits: &Limits) -> Result<Vec<u8>, Error> {
    use std::io::Read;
    let io = |source| airlock::trust::TrustError::Io {
        path: path.to_owned(),
        source,
    };
    let f = std::fs::File::open(path).map_err(io)?;
    let mut bytes = Vec::new();
    f.take(limits.max_policy_bytes + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    Ok(bytes)
}
