//! `airlock key generate`: a new key pair, and the passphrase source shared by commands that
//! read private keys.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use airlock::Error;
use airlock::key::{self, KeyAlgorithm, KeyError, PrivateKey};
use clap::{Args, Subcommand};
use serde_json::json;
use zeroize::Zeroizing;

use super::output::Output;

/// The environment variable holding the passphrase of an encrypted private key.
pub(crate) const PASSPHRASE_ENV: &str = "AIRLOCK_KEY_PASSPHRASE";

#[derive(Debug, Subcommand)]
pub(crate) enum KeyCommand {
    /// Write a new key pair: NAME.key (PKCS#8 PEM, mode 0600) and NAME.pub (SPKI PEM).
    Generate(GenerateArgs),
}

#[derive(Debug, Args)]
pub(crate) struct GenerateArgs {
    /// The path prefix of the two files (NAME.key, NAME.pub); existing files are never replaced.
    name: PathBuf,
    /// The key algorithm.
    #[arg(long, short = 'a', default_value = "ed25519", value_parser = parse_algorithm)]
    algorithm: KeyAlgorithm,
    /// Encrypt the private key with a passphrase (from AIRLOCK_KEY_PASSPHRASE or a prompt).
    #[arg(long)]
    encrypt: bool,
}

fn parse_algorithm(s: &str) -> Result<KeyAlgorithm, String> {
    s.parse()
}

pub(crate) fn run(cmd: &KeyCommand, out: &Output) -> Result<(), Error> {
    match cmd {
        KeyCommand::Generate(args) => generate(args, out),
    }
}

fn generate(args: &GenerateArgs, out: &Output) -> Result<(), Error> {
    let passphrase = if args.encrypt {
        Some(passphrase(&args.name, true)?)
    } else {
        None
    };
    let key = PrivateKey::generate(args.algorithm)?;
    let (private, public) =
        key::write_key_pair(&key, &args.name, passphrase.as_ref().map(|p| p.as_str()))?;
    out.status(format!(
        "generated {} key {}\n  private: {}\n  public:  {}",
        key.algorithm(),
        key.id(),
        private.display(),
        public.display()
    ));
    out.result(
        "key",
        json!({
            "keyId": key.id().to_string(),
            "algorithm": key.algorithm().to_string(),
            "privateKey": private,
            "publicKey": public,
            "encrypted": args.encrypt,
        }),
    );
    Ok(())
}

/// The passphrase for `path`: `AIRLOCK_KEY_PASSPHRASE`, else a prompt on the terminal.
fn passphrase(path: &Path, confirm: bool) -> Result<Zeroizing<String>, KeyError> {
    if let Ok(p) = std::env::var(PASSPHRASE_ENV) {
        return Ok(Zeroizing::new(p));
    }
    let what = path.display().to_string();
    if !std::io::stdin().is_terminal() {
        return Err(KeyError::NoPassphrase(what));
    }
    let read = |prompt: String| {
        rpassword::prompt_password(prompt)
            .map(Zeroizing::new)
            .map_err(|source| KeyError::Io {
                action: "read the passphrase for",
                path: path.to_path_buf(),
                source,
            })
    };
    let first = read(format!("passphrase for {what}: "))?;
    if confirm && *read(format!("repeat the passphrase for {what}: "))? != *first {
        return Err(KeyError::Decrypt(format!(
            "{what}: the two passphrases differ"
        )));
    }
    Ok(first)
}

/// Reads a private key, asking for its passphrase only if it is encrypted.
pub(crate) fn read_private(path: &Path) -> Result<PrivateKey, Error> {
    Ok(key::read_private_key(path, || passphrase(path, false))?)
}
