//! Signing keys: generation, PKCS#8 / SPKI PEM files, key ids, signing and verifying bytes.
//!
//! Spec: `formats/signature.md`, section "Keys". Two algorithms are supported, Ed25519 and
//! ECDSA P-384 with SHA-384; nothing outside this module and the envelope's algorithm table
//! assumes which one a key has, so another can be added beside them.
//!
//! A [`KeyId`] is the SHA-256 of the key's SubjectPublicKeyInfo DER as airlock encodes it (for
//! P-384, the uncompressed point), so the same key has the same id whichever file it came from.
//! Private keys are zeroized when dropped (by the algorithm crates) and never printed by `Debug`.

use std::fmt;
use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{Signer, Verifier};
use pkcs8::der::pem::LineEnding;
use pkcs8::der::{Decode, SecretDocument};
use pkcs8::{EncryptedPrivateKeyInfoRef, ObjectIdentifier, PrivateKeyInfoRef};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

/// Largest key file read, in bytes. PEM keys of the supported algorithms are under 1 KiB.
pub const MAX_KEY_FILE_BYTES: u64 = 64 * 1024;

const OID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
const OID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const OID_SECP384R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");

/// What went wrong with a key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The key file could not be read or written.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A key file already exists; airlock never overwrites keys.
    #[error("{0} already exists; airlock never overwrites a key file")]
    Exists(PathBuf),
    /// The key file is larger than any key airlock reads.
    #[error("{path} is larger than {limit} bytes; it is not a key file")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The cap.
        limit: u64,
    },
    /// The file is not PEM, or not the PEM kind expected.
    #[error("{what} is not a {expected}: {reason}")]
    Format {
        /// The file or value.
        what: String,
        /// What was expected.
        expected: &'static str,
        /// Why not.
        reason: String,
    },
    /// The key is of an algorithm or curve airlock does not support.
    #[error("{what}: unsupported key algorithm {algorithm} (airlock signs with ed25519 or p384)")]
    Unsupported {
        /// The file or value.
        what: String,
        /// The algorithm (OID, or curve OID) found.
        algorithm: String,
    },
    /// The key is encrypted and no passphrase was available.
    #[error("{0} is encrypted and no passphrase was given")]
    NoPassphrase(String),
    /// The passphrase did not decrypt the key.
    #[error("{0}: wrong passphrase, or the encrypted key is damaged")]
    Decrypt(String),
    /// No randomness could be had from the operating system.
    #[error("cannot read randomness from the operating system: {0}")]
    Random(String),
    /// A signature did not verify.
    #[error("signature does not verify")]
    BadSignature,
    /// A signature has the wrong length or form for its algorithm.
    #[error("malformed {algorithm} signature: {reason}")]
    MalformedSignature {
        /// The key algorithm.
        algorithm: KeyAlgorithm,
        /// Why.
        reason: String,
    },
}

/// A key algorithm airlock signs and verifies with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum KeyAlgorithm {
    /// Ed25519 (RFC 8032), pure EdDSA.
    Ed25519,
    /// ECDSA over NIST P-384 with SHA-384; signatures are the 96-byte r‖s form.
    P384,
}

impl KeyAlgorithm {
    /// Every supported algorithm, in the order they are listed to users.
    pub const ALL: &'static [KeyAlgorithm] = &[KeyAlgorithm::Ed25519, KeyAlgorithm::P384];

    /// The lowercase name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            KeyAlgorithm::Ed25519 => "ed25519",
            KeyAlgorithm::P384 => "p384",
        }
    }
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for KeyAlgorithm {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        KeyAlgorithm::ALL
            .iter()
            .copied()
            .find(|a| a.name() == s)
            .ok_or_else(|| format!("unknown key algorithm {s:?} (expected ed25519 or p384)"))
    }
}

/// The SHA-256 of a public key's SubjectPublicKeyInfo DER, shown as `sha256:<hex>`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId([u8; 32]);

impl KeyId {
    /// The id of the SPKI DER `spki`.
    pub fn of_spki(spki: &[u8]) -> KeyId {
        KeyId(Sha256::digest(spki).into())
    }

    /// The 32 hash bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", hex::encode(self.0))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

impl FromStr for KeyId {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let hex = s
            .strip_prefix("sha256:")
            .ok_or_else(|| format!("key id {s:?} does not start with sha256:"))?;
        if hex.len() != 64 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(format!(
                "key id {s:?} is not sha256: and 64 lowercase hex digits"
            ));
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(hex, &mut out).map_err(|e| format!("key id {s:?}: {e}"))?;
        Ok(KeyId(out))
    }
}

impl serde::Serialize for KeyId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for KeyId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[derive(Clone)]
enum Public {
    Ed25519(ed25519_dalek::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
}

/// A public key of a supported algorithm, with its id.
#[derive(Clone)]
pub struct PublicKey {
    inner: Public,
    spki: Vec<u8>,
    id: KeyId,
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey")
            .field("algorithm", &self.algorithm())
            .field("id", &self.id)
            .finish()
    }
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.spki == other.spki
    }
}

impl Eq for PublicKey {}

impl PublicKey {
    fn new(inner: Public) -> Result<PublicKey, KeyError> {
        let doc = match &inner {
            Public::Ed25519(k) => k.to_public_key_der(),
            Public::P384(k) => k.to_public_key_der(),
        }
        .map_err(|e| KeyError::Format {
            what: "public key".into(),
            expected: "encodable public key",
            reason: e.to_string(),
        })?;
        let spki = doc.as_bytes().to_vec();
        let id = KeyId::of_spki(&spki);
        Ok(PublicKey { inner, spki, id })
    }

    /// Reads a SubjectPublicKeyInfo DER. `what` names the source in errors.
    pub fn from_spki_der(der: &[u8], what: &str) -> Result<PublicKey, KeyError> {
        let bad = |reason: String| KeyError::Format {
            what: what.to_owned(),
            expected: "SubjectPublicKeyInfo public key",
            reason,
        };
        let spki =
            pkcs8::spki::SubjectPublicKeyInfoRef::from_der(der).map_err(|e| bad(e.to_string()))?;
        let inner = match algorithm_of(
            &spki.algorithm.oid,
            spki.algorithm.parameters.as_ref(),
            what,
        )? {
            KeyAlgorithm::Ed25519 => Public::Ed25519(
                ed25519_dalek::VerifyingKey::from_public_key_der(der)
                    .map_err(|e| bad(e.to_string()))?,
            ),
            KeyAlgorithm::P384 => Public::P384(
                p384::ecdsa::VerifyingKey::from_public_key_der(der)
                    .map_err(|e| bad(e.to_string()))?,
            ),
        };
        PublicKey::new(inner)
    }

    /// Reads an SPKI PEM (`-----BEGIN PUBLIC KEY-----`).
    pub fn from_pem(pem: &str, what: &str) -> Result<PublicKey, KeyError> {
        let (label, doc) = pkcs8::der::Document::from_pem(pem).map_err(|e| KeyError::Format {
            what: what.to_owned(),
            expected: "PEM public key",
            reason: e.to_string(),
        })?;
        if label != "PUBLIC KEY" {
            return Err(KeyError::Format {
                what: what.to_owned(),
                expected: "PEM public key",
                reason: format!("found a {label:?} block; give the .pub file (BEGIN PUBLIC KEY)"),
            });
        }
        PublicKey::from_spki_der(doc.as_bytes(), what)
    }

    /// An Ed25519 key from its 32 raw bytes (RFC 8032).
    pub fn from_ed25519_bytes(bytes: &[u8; 32]) -> Result<PublicKey, KeyError> {
        let k = ed25519_dalek::VerifyingKey::from_bytes(bytes).map_err(|e| KeyError::Format {
            what: "raw Ed25519 key".into(),
            expected: "Ed25519 public key",
            reason: e.to_string(),
        })?;
        PublicKey::new(Public::Ed25519(k))
    }

    /// A P-384 key from its SEC1 point encoding (`04‖x‖y` or compressed).
    pub fn from_p384_sec1(bytes: &[u8]) -> Result<PublicKey, KeyError> {
        let k =
            p384::ecdsa::VerifyingKey::from_sec1_bytes(bytes).map_err(|e| KeyError::Format {
                what: "raw P-384 point".into(),
                expected: "P-384 public key",
                reason: e.to_string(),
            })?;
        PublicKey::new(Public::P384(k))
    }

    /// The key's algorithm.
    pub fn algorithm(&self) -> KeyAlgorithm {
        match self.inner {
            Public::Ed25519(_) => KeyAlgorithm::Ed25519,
            Public::P384(_) => KeyAlgorithm::P384,
        }
    }

    /// The key id.
    pub fn id(&self) -> KeyId {
        self.id
    }

    /// The SubjectPublicKeyInfo DER the id is computed over.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki
    }

    /// The SPKI PEM, as written to `NAME.pub`.
    pub fn to_pem(&self) -> String {
        pkcs8::der::pem::encode_string("PUBLIC KEY", LineEnding::LF, &self.spki).unwrap_or_default()
    }

    /// Verifies `signature` over `message`. Ed25519 uses strict verification (no small-order
    /// keys, canonical `S`); P-384 takes exactly the 96-byte r‖s form.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), KeyError> {
        match &self.inner {
            Public::Ed25519(k) => {
                let sig = ed25519_dalek::Signature::from_slice(signature).map_err(|_| {
                    KeyError::MalformedSignature {
                        algorithm: KeyAlgorithm::Ed25519,
                        reason: format!("{} bytes, expected 64", signature.len()),
                    }
                })?;
                k.verify_strict(message, &sig)
                    .map_err(|_| KeyError::BadSignature)
            }
            Public::P384(k) => {
                if signature.len() != 96 {
                    return Err(KeyError::MalformedSignature {
                        algorithm: KeyAlgorithm::P384,
                        reason: format!("{} bytes, expected the 96-byte r‖s form", signature.len()),
                    });
                }
                let sig = p384::ecdsa::Signature::from_slice(signature).map_err(|e| {
                    KeyError::MalformedSignature {
                        algorithm: KeyAlgorithm::P384,
                        reason: e.to_string(),
                    }
                })?;
                k.verify(message, &sig).map_err(|_| KeyError::BadSignature)
            }
        }
    }
}

enum Private {
    Ed25519(ed25519_dalek::SigningKey),
    P384(p384::ecdsa::SigningKey),
}

/// A private signing key. The key material is zeroized on drop; `Debug` shows only the
/// algorithm and key id.
pub struct PrivateKey {
    inner: Private,
    public: PublicKey,
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("algorithm", &self.public.algorithm())
            .field("id", &self.public.id)
            .finish_non_exhaustive()
    }
}

impl PrivateKey {
    fn new(inner: Private) -> Result<PrivateKey, KeyError> {
        let public = match &inner {
            Private::Ed25519(k) => Public::Ed25519(k.verifying_key()),
            Private::P384(k) => Public::P384(*k.verifying_key()),
        };
        Ok(PrivateKey {
            inner,
            public: PublicKey::new(public)?,
        })
    }

    /// A fresh key from the operating system's random number generator.
    pub fn generate(algorithm: KeyAlgorithm) -> Result<PrivateKey, KeyError> {
        let random =
            |buf: &mut [u8]| getrandom::fill(buf).map_err(|e| KeyError::Random(e.to_string()));
        match algorithm {
            KeyAlgorithm::Ed25519 => {
                let mut seed = Zeroizing::new([0u8; 32]);
                random(&mut seed[..])?;
                PrivateKey::new(Private::Ed25519(ed25519_dalek::SigningKey::from_bytes(
                    &seed,
                )))
            }
            KeyAlgorithm::P384 => {
                // A uniformly random 384-bit string is a valid scalar unless it is zero or at
                // least the group order (probability below 2^-189); draw again in that case.
                let mut bytes = Zeroizing::new([0u8; 48]);
                for _ in 0..16 {
                    random(&mut bytes[..])?;
                    if let Ok(k) = p384::ecdsa::SigningKey::from_slice(&bytes[..]) {
                        return PrivateKey::new(Private::P384(k));
                    }
                }
                Err(KeyError::Random(
                    "16 draws gave no valid P-384 scalar".into(),
                ))
            }
        }
    }

    /// An Ed25519 key from its 32-byte RFC 8032 seed.
    pub fn from_ed25519_seed(seed: &[u8; 32]) -> Result<PrivateKey, KeyError> {
        PrivateKey::new(Private::Ed25519(ed25519_dalek::SigningKey::from_bytes(
            seed,
        )))
    }

    /// A P-384 key from its 48-byte big-endian scalar.
    pub fn from_p384_scalar(bytes: &[u8]) -> Result<PrivateKey, KeyError> {
        let k = p384::ecdsa::SigningKey::from_slice(bytes).map_err(|e| KeyError::Format {
            what: "raw P-384 scalar".into(),
            expected: "P-384 private key",
            reason: e.to_string(),
        })?;
        PrivateKey::new(Private::P384(k))
    }

    /// Reads a PKCS#8 PrivateKeyInfo DER.
    pub fn from_pkcs8_der(der: &[u8], what: &str) -> Result<PrivateKey, KeyError> {
        let bad = |reason: String| KeyError::Format {
            what: what.to_owned(),
            expected: "PKCS#8 private key",
            reason,
        };
        let info = PrivateKeyInfoRef::from_der(der).map_err(|e| bad(e.to_string()))?;
        let inner = match algorithm_of(
            &info.algorithm.oid,
            info.algorithm.parameters.as_ref(),
            what,
        )? {
            KeyAlgorithm::Ed25519 => Private::Ed25519(
                ed25519_dalek::SigningKey::from_pkcs8_der(der).map_err(|e| bad(e.to_string()))?,
            ),
            KeyAlgorithm::P384 => Private::P384(
                p384::ecdsa::SigningKey::from_pkcs8_der(der).map_err(|e| bad(e.to_string()))?,
            ),
        };
        PrivateKey::new(inner)
    }

    /// Reads a PKCS#8 PEM: `PRIVATE KEY`, or `ENCRYPTED PRIVATE KEY` (PBES2), in which case
    /// `passphrase` is called once for the passphrase.
    pub fn from_pem(
        pem: &str,
        what: &str,
        passphrase: impl FnOnce() -> Result<Zeroizing<String>, KeyError>,
    ) -> Result<PrivateKey, KeyError> {
        let (label, doc) = SecretDocument::from_pem(pem).map_err(|e| KeyError::Format {
            what: what.to_owned(),
            expected: "PEM private key",
            reason: e.to_string(),
        })?;
        match label {
            "PRIVATE KEY" => PrivateKey::from_pkcs8_der(doc.as_bytes(), what),
            "ENCRYPTED PRIVATE KEY" => {
                let enc = EncryptedPrivateKeyInfoRef::try_from(doc.as_bytes()).map_err(|e| {
                    KeyError::Format {
                        what: what.to_owned(),
                        expected: "encrypted PKCS#8 private key",
                        reason: e.to_string(),
                    }
                })?;
                let pass = passphrase()?;
                let plain = enc
                    .decrypt(pass.as_bytes())
                    .map_err(|_| KeyError::Decrypt(what.to_owned()))?;
                PrivateKey::from_pkcs8_der(plain.as_bytes(), what)
            }
            other => Err(KeyError::Format {
                what: what.to_owned(),
                expected: "PKCS#8 private key",
                reason: format!(
                    "found a {other:?} block; convert it with `openssl pkcs8 -topk8 -nocrypt`"
                ),
            }),
        }
    }

    /// The PKCS#8 PEM, optionally encrypted with `passphrase` (PBES2: PBKDF2-HMAC-SHA256 and
    /// AES-256-CBC).
    pub fn to_pkcs8_pem(&self, passphrase: Option<&str>) -> Result<Zeroizing<String>, KeyError> {
        let fail = |e: pkcs8::Error| KeyError::Format {
            what: "new key".into(),
            expected: "encodable private key",
            reason: e.to_string(),
        };
        let plain = match &self.inner {
            // PKCS#8 v1 without the optional public key, as `openssl genpkey` writes it:
            // OpenSSL 3.0 does not read the v2 form ed25519-dalek writes.
            Private::Ed25519(k) => ed25519_dalek::pkcs8::KeypairBytes {
                secret_key: k.to_bytes(),
                public_key: None,
            }
            .to_pkcs8_der(),
            Private::P384(k) => k.to_pkcs8_der(),
        }
        .map_err(fail)?;
        let Some(passphrase) = passphrase else {
            return plain
                .to_pem("PRIVATE KEY", LineEnding::LF)
                .map_err(|e| fail(e.into()));
        };
        // PBKDF2-HMAC-SHA256 (600,000 rounds) and AES-256-CBC: what `openssl genpkey -aes256`
        // writes, so OpenSSL reads it back (its scrypt support varies by build).
        let params = pkcs8::pkcs5::pbes2::Parameters::generate_pbkdf2(&mut getrandom::SysRng)
            .map_err(|e| KeyError::Random(e.to_string()))?;
        let info = PrivateKeyInfoRef::from_der(plain.as_bytes()).map_err(|e| fail(e.into()))?;
        info.encrypt_with_params(params, passphrase)
            .map_err(fail)?
            .to_pem("ENCRYPTED PRIVATE KEY", LineEnding::LF)
            .map_err(|e| fail(e.into()))
    }

    /// The public half.
    pub fn public(&self) -> &PublicKey {
        &self.public
    }

    /// The key's algorithm.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.public.algorithm()
    }

    /// The key id.
    pub fn id(&self) -> KeyId {
        self.public.id
    }

    /// Signs `message`: Ed25519 (pure, 64 bytes) or ECDSA P-384 with SHA-384 and RFC 6979
    /// deterministic nonces (96 bytes, r‖s).
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        match &self.inner {
            Private::Ed25519(k) => k.sign(message).to_bytes().to_vec(),
            Private::P384(k) => {
                let sig: p384::ecdsa::Signature = k.sign(message);
                sig.to_bytes().to_vec()
            }
        }
    }
}

fn algorithm_of(
    oid: &ObjectIdentifier,
    params: Option<&pkcs8::der::asn1::AnyRef<'_>>,
    what: &str,
) -> Result<KeyAlgorithm, KeyError> {
    if *oid == OID_ED25519 {
        return Ok(KeyAlgorithm::Ed25519);
    }
    if *oid == OID_EC_PUBLIC_KEY {
        let curve = params.and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
        return match curve {
            Some(c) if c == OID_SECP384R1 => Ok(KeyAlgorithm::P384),
            Some(c) => Err(KeyError::Unsupported {
                what: what.to_owned(),
                algorithm: format!("EC curve {c}"),
            }),
            None => Err(KeyError::Unsupported {
                what: what.to_owned(),
                algorithm: "EC key without a named curve".into(),
            }),
        };
    }
    Err(KeyError::Unsupported {
        what: what.to_owned(),
        algorithm: oid.to_string(),
    })
}

fn read_capped(path: &Path) -> Result<Zeroizing<String>, KeyError> {
    let io = |action, source| KeyError::Io {
        action,
        path: path.to_path_buf(),
        source,
    };
    // Non-blocking, so a FIFO or a device named as a key file is refused, not waited on.
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| io("open", e))?;
    let meta = file.metadata().map_err(|e| io("stat", e))?;
    if !meta.is_file() {
        return Err(io(
            "read",
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a regular file"),
        ));
    }
    let mut buf = Zeroizing::new(Vec::new());
    file.take(MAX_KEY_FILE_BYTES + 1)
        .read_to_end(&mut buf)
        .map_err(|e| io("read", e))?;
    if buf.len() as u64 > MAX_KEY_FILE_BYTES {
        return Err(KeyError::TooLarge {
            path: path.to_path_buf(),
            limit: MAX_KEY_FILE_BYTES,
        });
    }
    let text = std::str::from_utf8(&buf).map_err(|_| KeyError::Format {
        what: path.display().to_string(),
        expected: "PEM file",
        reason: "not UTF-8 text".into(),
    })?;
    Ok(Zeroizing::new(text.to_owned()))
}

/// Reads a private key file (PKCS#8 PEM, possibly encrypted).
pub fn read_private_key(
    path: &Path,
    passphrase: impl FnOnce() -> Result<Zeroizing<String>, KeyError>,
) -> Result<PrivateKey, KeyError> {
    let text = read_capped(path)?;
    PrivateKey::from_pem(&text, &path.display().to_string(), passphrase)
}

/// Reads a public key file (SPKI PEM).
pub fn read_public_key(path: &Path) -> Result<PublicKey, KeyError> {
    let text = read_capped(path)?;
    PublicKey::from_pem(&text, &path.display().to_string())
}

/// The two files of a key pair: `PREFIX.key` and `PREFIX.pub`.
pub fn key_pair_paths(prefix: &Path) -> (PathBuf, PathBuf) {
    let mut key = prefix.as_os_str().to_owned();
    key.push(".key");
    let mut public = prefix.as_os_str().to_owned();
    public.push(".pub");
    (PathBuf::from(key), PathBuf::from(public))
}

/// Writes `PREFIX.key` (PKCS#8 PEM, mode 0600, encrypted when `passphrase` is given) and
/// `PREFIX.pub` (SPKI PEM, mode 0644). Neither file may exist already; on a failure nothing
/// is left behind.
pub fn write_key_pair(
    key: &PrivateKey,
    prefix: &Path,
    passphrase: Option<&str>,
) -> Result<(PathBuf, PathBuf), KeyError> {
    let (key_path, pub_path) = key_pair_paths(prefix);
    for p in [&key_path, &pub_path] {
        if std::fs::symlink_metadata(p).is_ok() {
            return Err(KeyError::Exists(p.clone()));
        }
    }
    if passphrase.is_some_and(str::is_empty) {
        return Err(KeyError::NoPassphrase(key_path.display().to_string()));
    }
    let pem = key.to_pkcs8_pem(passphrase)?;
    write_new(&key_path, pem.as_bytes(), 0o600)?;
    if let Err(e) = write_new(&pub_path, key.public().to_pem().as_bytes(), 0o644) {
        let _ = std::fs::remove_file(&key_path);
        return Err(e);
    }
    Ok((key_path, pub_path))
}

fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), KeyError> {
    let io = |action, source| KeyError::Io {
        action,
        path: path.to_path_buf(),
        source,
    };
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                KeyError::Exists(path.to_path_buf())
            } else {
                io("create", e)
            }
        })?;
    let written = f.write_all(bytes).and_then(|()| f.sync_all());
    if let Err(e) = written {
        let _ = std::fs::remove_file(path);
        return Err(io("write", e));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC8032_SEED: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
    const RFC8032_PUBLIC: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

    fn seed() -> [u8; 32] {
        let mut s = [0u8; 32];
        hex::decode_to_slice(RFC8032_SEED, &mut s).unwrap();
        s
    }

    #[test]
    fn ed25519_rfc8032_test_1() {
        let k = PrivateKey::from_ed25519_seed(&seed()).unwrap();
        let mut public = [0u8; 32];
        hex::decode_to_slice(RFC8032_PUBLIC, &mut public).unwrap();
        assert_eq!(k.public(), &PublicKey::from_ed25519_bytes(&public).unwrap());
        // RFC 8032 section 7.1, TEST 1: the empty message.
        assert_eq!(
            hex::encode(k.sign(b"")),
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
        );
    }

    #[test]
    fn pem_round_trip_keeps_the_id() {
        for alg in KeyAlgorithm::ALL {
            let k = PrivateKey::generate(*alg).unwrap();
            let pem = k.to_pkcs8_pem(None).unwrap();
            let back = PrivateKey::from_pem(&pem, "k", || unreachable!()).unwrap();
            assert_eq!(back.id(), k.id());
            let public = PublicKey::from_pem(&k.public().to_pem(), "p").unwrap();
            assert_eq!(public.id(), k.id());
            let sig = k.sign(b"message");
            public.verify(b"message", &sig).unwrap();
            assert!(matches!(
                public.verify(b"messagf", &sig),
                Err(KeyError::BadSignature)
            ));
        }
    }

    #[test]
    fn encrypted_pem_needs_the_passphrase() {
        let k = PrivateKey::generate(KeyAlgorithm::Ed25519).unwrap();
        let pem = k.to_pkcs8_pem(Some("correct horse")).unwrap();
        assert!(pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
        let ok = PrivateKey::from_pem(&pem, "k", || Ok(Zeroizing::new("correct horse".into())));
        assert_eq!(ok.unwrap().id(), k.id());
        let wrong = PrivateKey::from_pem(&pem, "k", || Ok(Zeroizing::new("battery".into())));
        assert!(matches!(wrong, Err(KeyError::Decrypt(_))));
        let none = PrivateKey::from_pem(&pem, "k", || Err(KeyError::NoPassphrase("k".into())));
        assert!(matches!(none, Err(KeyError::NoPassphrase(_))));
    }

    #[test]
    fn debug_never_shows_key_material() {
        let k = PrivateKey::from_ed25519_seed(&seed()).unwrap();
        let shown = format!("{k:?}");
        assert!(
            shown.contains("Ed25519") && shown.contains("sha256:"),
            "{shown}"
        );
        assert!(
            !shown.contains(RFC8032_SEED) && !shown.contains("9d, 61"),
            "{shown}"
        );
    }

    #[test]
    fn signatures_of_the_wrong_shape_are_malformed() {
        let k = PrivateKey::generate(KeyAlgorithm::P384).unwrap();
        let sig = k.sign(b"m");
        assert_eq!(sig.len(), 96);
        let der_like = [&[0x30u8, 0x64][..], &sig[..]].concat();
        assert!(matches!(
            k.public().verify(b"m", &der_like),
            Err(KeyError::MalformedSignature { .. })
        ));
        let e = PrivateKey::generate(KeyAlgorithm::Ed25519).unwrap();
        assert!(matches!(
            e.public().verify(b"m", &sig),
            Err(KeyError::MalformedSignature { .. })
        ));
    }

    #[test]
    fn key_ids_parse_and_print() {
        let k = PrivateKey::from_ed25519_seed(&seed()).unwrap();
        let text = k.id().to_string();
        assert_eq!(text.parse::<KeyId>().unwrap(), k.id());
        assert!("sha256:ABC".parse::<KeyId>().is_err());
        assert!("sha512:00".parse::<KeyId>().is_err());
    }

    #[test]
    fn key_pairs_are_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path().join("dev");
        let k = PrivateKey::generate(KeyAlgorithm::Ed25519).unwrap();
        let (key_path, pub_path) = write_key_pair(&k, &prefix, None).unwrap();
        let mode = std::fs::metadata(&key_path).unwrap().permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o600
        );
        assert_eq!(read_public_key(&pub_path).unwrap().id(), k.id());
        let again = write_key_pair(&k, &prefix, None);
        assert!(matches!(again, Err(KeyError::Exists(_))), "{again:?}");
        // Only the .pub is present: still refused, and the .key is not created.
        std::fs::remove_file(&key_path).unwrap();
        assert!(matches!(
            write_key_pair(&k, &prefix, None),
            Err(KeyError::Exists(_))
        ));
        assert!(!key_path.exists());
        // An empty passphrase is no passphrase.
        let other = dir.path().join("other");
        assert!(matches!(
            write_key_pair(&k, &other, Some("")),
            Err(KeyError::NoPassphrase(_))
        ));
    }

    #[test]
    fn a_fifo_is_not_read_as_a_key() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("k.pub");
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(status.success());
        assert!(matches!(read_public_key(&fifo), Err(KeyError::Io { .. })));
    }
}
