//! Content digests: the [`Digest`] newtype and hashing adapters that check digest and size at EOF.
//!
//! Spec: `formats/layout.md`, section "Digests".

use std::fmt;
use std::io::{self, Read, Write};
use std::str::FromStr;

use sha2::{Digest as _, Sha256, Sha512};

/// A digest algorithm airlock accepts. Anything else is refused at parse time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Algorithm {
    /// SHA-256, 64 lowercase hex characters.
    Sha256,
    /// SHA-512, 128 lowercase hex characters.
    Sha512,
}

impl Algorithm {
    /// The name used in digest strings and in `blobs/<alg>/`.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        }
    }

    fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Sha512 => 128,
        }
    }

    /// Parses an algorithm name (`sha256`, `sha512`).
    pub fn parse(name: &str) -> Result<Self, DigestError> {
        match name {
            "sha256" => Ok(Algorithm::Sha256),
            "sha512" => Ok(Algorithm::Sha512),
            other => Err(DigestError::UnsupportedAlgorithm(truncate(other))),
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a digest string was refused, or why content did not match its digest.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum DigestError {
    /// The string has no `algorithm:` prefix.
    #[error("digest {0:?} has no algorithm prefix (expected sha256:<hex> or sha512:<hex>)")]
    MissingAlgorithm(String),
    /// The algorithm is not one airlock verifies.
    #[error("digest algorithm {0:?} is not supported (supported: sha256, sha512)")]
    UnsupportedAlgorithm(String),
    /// The hex part has the wrong length or characters.
    #[error("digest {0:?} is malformed: expected {1} lowercase hex characters")]
    MalformedHex(String, usize),
    /// Content hashed to something else.
    #[error("content hashes to {actual}, not {expected}")]
    Mismatch {
        /// What the descriptor or name promised.
        expected: Digest,
        /// What the bytes hash to.
        actual: Digest,
    },
    /// Content had a different length than promised.
    #[error("size mismatch for {digest}: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        /// The content's expected digest.
        digest: Digest,
        /// The declared size.
        expected: u64,
        /// The bytes actually seen (at least; reading stops as soon as the size is exceeded).
        actual: u64,
    },
}

fn truncate(s: &str) -> String {
    const MAX: usize = 80;
    if s.len() <= MAX {
        s.to_owned()
    } else {
        let mut end = MAX;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &s[..end])
    }
}

/// A validated content digest: a supported algorithm and its lowercase hex encoding.
///
/// Two digests are equal when algorithm and value are equal; there is exactly one textual form,
/// so comparing values is comparing parsed, normalised data, never arbitrary strings.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    algorithm: Algorithm,
    hex: Box<str>,
}

impl Digest {
    /// Builds a digest from an algorithm and a hex string, validating both.
    pub fn new(algorithm: Algorithm, hex: &str) -> Result<Self, DigestError> {
        let want = algorithm.hex_len();
        let ok = hex.len() == want && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !ok {
            return Err(DigestError::MalformedHex(
                format!("{algorithm}:{}", truncate(hex)),
                want,
            ));
        }
        Ok(Digest {
            algorithm,
            hex: hex.into(),
        })
    }

    /// The SHA-256 digest of `bytes`.
    pub fn sha256_of(bytes: &[u8]) -> Self {
        let mut h = Hasher::new(Algorithm::Sha256);
        h.update(bytes);
        h.finish()
    }

    /// The digest of `bytes` under `algorithm`.
    pub fn of(algorithm: Algorithm, bytes: &[u8]) -> Self {
        let mut h = Hasher::new(algorithm);
        h.update(bytes);
        h.finish()
    }

    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The lowercase hex encoding (no prefix). Safe to use as a file name: it is validated hex.
    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// Checks `bytes` against this digest.
    pub fn verify_bytes(&self, bytes: &[u8]) -> Result<(), DigestError> {
        let actual = Digest::of(self.algorithm, bytes);
        if &actual == self {
            Ok(())
        } else {
            Err(DigestError::Mismatch {
                expected: self.clone(),
                actual,
            })
        }
    }

    /// Converts into the `oci-spec` type.
    pub fn to_oci(&self) -> oci_spec::image::Digest {
        // Invariant: our textual form is a strict subset of the OCI digest grammar.
        #[allow(clippy::expect_used)]
        oci_spec::image::Digest::from_str(&self.to_string())
            .expect("a validated sha256/sha512 digest is a valid OCI digest")
    }

    /// Converts from the `oci-spec` type, refusing algorithms and encodings airlock does not accept.
    pub fn from_oci(d: &oci_spec::image::Digest) -> Result<Self, DigestError> {
        d.as_ref().parse()
    }
}

impl FromStr for Digest {
    type Err = DigestError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (alg, hex) = s
            .split_once(':')
            .ok_or_else(|| DigestError::MissingAlgorithm(truncate(s)))?;
        Digest::new(Algorithm::parse(alg)?, hex)
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm, self.hex)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({self})")
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// An incremental hasher for one [`Algorithm`].
#[derive(Clone, Debug)]
pub struct Hasher(HasherInner);

#[derive(Clone, Debug)]
enum HasherInner {
    Sha256(Sha256),
    Sha512(Sha512),
}

impl Hasher {
    /// A fresh hasher.
    pub fn new(algorithm: Algorithm) -> Self {
        Hasher(match algorithm {
            Algorithm::Sha256 => HasherInner::Sha256(Sha256::new()),
            Algorithm::Sha512 => HasherInner::Sha512(Sha512::new()),
        })
    }

    /// Feeds bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        match &mut self.0 {
            HasherInner::Sha256(h) => h.update(bytes),
            HasherInner::Sha512(h) => h.update(bytes),
        }
    }

    /// The digest of everything fed so far.
    pub fn finish(self) -> Digest {
        let (algorithm, hex) = match self.0 {
            HasherInner::Sha256(h) => (Algorithm::Sha256, hex::encode(h.finalize())),
            HasherInner::Sha512(h) => (Algorithm::Sha512, hex::encode(h.finalize())),
        };
        Digest {
            algorithm,
            hex: hex.into(),
        }
    }
}

/// What a hashing adapter expects of its stream.
#[derive(Clone, Debug)]
pub struct Expected {
    /// The digest the content must have.
    pub digest: Digest,
    /// The exact size, when known. Reading past it fails immediately.
    pub size: Option<u64>,
}

impl Expected {
    fn check(&self, hasher: Hasher, seen: u64) -> Result<Digest, DigestError> {
        if let Some(size) = self.size
            && size != seen
        {
            return Err(DigestError::SizeMismatch {
                digest: self.digest.clone(),
                expected: size,
                actual: seen,
            });
        }
        let actual = hasher.finish();
        if actual != self.digest {
            return Err(DigestError::Mismatch {
                expected: self.digest.clone(),
                actual,
            });
        }
        Ok(actual)
    }
}

fn invalid_data(e: DigestError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// A reader that hashes what passes through it.
///
/// With an [`Expected`], it returns an `InvalidData` error (carrying a [`DigestError`]) instead of
/// EOF when the content does not match, and as soon as more bytes arrive than the expected size.
/// A caller that reads to EOF without error has read exactly the expected content.
#[derive(Debug)]
pub struct HashingReader<R> {
    inner: R,
    hasher: Option<Hasher>,
    algorithm: Algorithm,
    seen: u64,
    expected: Option<Expected>,
    verified: Option<Digest>,
}

impl<R: Read> HashingReader<R> {
    /// Hashes with `algorithm`, checking nothing.
    pub fn new(inner: R, algorithm: Algorithm) -> Self {
        HashingReader {
            inner,
            hasher: Some(Hasher::new(algorithm)),
            algorithm,
            seen: 0,
            expected: None,
            verified: None,
        }
    }

    /// Hashes with the expected digest's algorithm and fails at EOF on a mismatch.
    pub fn verifying(inner: R, expected: Expected) -> Self {
        let algorithm = expected.digest.algorithm();
        HashingReader {
            inner,
            hasher: Some(Hasher::new(algorithm)),
            algorithm,
            seen: 0,
            expected: Some(expected),
            verified: None,
        }
    }

    /// Bytes read so far.
    pub fn bytes_read(&self) -> u64 {
        self.seen
    }

    /// The digest of the content, once EOF has been reached (and verified, if expected).
    pub fn digest(&self) -> Option<&Digest> {
        self.verified.as_ref()
    }

    /// Reads to EOF, discarding the bytes, and returns the (verified) digest and size.
    pub fn drain(mut self) -> io::Result<(Digest, u64)> {
        // A page-aligned buffer larger than the reader's own buffering: reads then go straight
        // from the kernel into it (no extra copy), and the kernel copies into aligned memory
        // about twice as fast on the machines measured in docs/performance.md.
        // A small blob of known size gets a buffer just large enough to see its end, so that
        // many small blobs do not each allocate a megabyte.
        const LEN: usize = 1024 * 1024;
        const PAGE: usize = 4096;
        let remaining = self
            .expected
            .as_ref()
            .and_then(|e| e.size)
            .map(|s| s.saturating_sub(self.seen));
        let len = remaining.map_or(LEN, |r| {
            usize::try_from(r).unwrap_or(LEN).saturating_add(1).min(LEN)
        });
        let mut storage = vec![0u8; len + PAGE];
        let start = storage.as_ptr().align_offset(PAGE).min(PAGE);
        let buf = &mut storage[start..start + len];
        loop {
            if self.read(buf)? == 0 {
                break;
            }
        }
        let seen = self.seen;
        let digest = self.verified.take().ok_or_else(|| {
            io::Error::other("hashing reader finished without a digest (read after EOF)")
        })?;
        Ok((digest, seen))
    }

    /// Gives back the inner reader.
    pub fn into_inner(self) -> R {
        self.inner
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let n = self.inner.read(buf)?;
        if n == 0 {
            if let Some(hasher) = self.hasher.take() {
                let digest = match &self.expected {
                    Some(exp) => exp.check(hasher, self.seen).map_err(invalid_data)?,
                    None => hasher.finish(),
                };
                self.verified = Some(digest);
            }
            return Ok(0);
        }
        self.seen += n as u64;
        if let Some(Expected {
            digest,
            size: Some(size),
        }) = &self.expected
            && self.seen > *size
        {
            return Err(invalid_data(DigestError::SizeMismatch {
                digest: digest.clone(),
                expected: *size,
                actual: self.seen,
            }));
        }
        match &mut self.hasher {
            Some(h) => h.update(&buf[..n]),
            None => {
                return Err(io::Error::other(format!(
                    "{} reader produced data after EOF",
                    self.algorithm
                )));
            }
        }
        Ok(n)
    }
}

/// A writer that hashes what passes through it; [`HashingWriter::finish`] checks the result.
#[derive(Debug)]
pub struct HashingWriter<W> {
    inner: W,
    hasher: Hasher,
    seen: u64,
    expected: Option<Expected>,
}

impl<W: Write> HashingWriter<W> {
    /// Hashes with `algorithm`, checking nothing.
    pub fn new(inner: W, algorithm: Algorithm) -> Self {
        HashingWriter {
            inner,
            hasher: Hasher::new(algorithm),
            seen: 0,
            expected: None,
        }
    }

    /// Hashes with the expected digest's algorithm; writing past the expected size fails at once,
    /// and [`finish`](Self::finish) fails on a digest or size mismatch.
    pub fn verifying(inner: W, expected: Expected) -> Self {
        HashingWriter {
            inner,
            hasher: Hasher::new(expected.digest.algorithm()),
            seen: 0,
            expected: Some(expected),
        }
    }

    /// Bytes written so far.
    pub fn bytes_written(&self) -> u64 {
        self.seen
    }

    /// Flushes and returns the inner writer with the content's digest and size, or the mismatch.
    pub fn finish(mut self) -> io::Result<(W, Digest, u64)> {
        self.inner.flush()?;
        let digest = match &self.expected {
            Some(exp) => exp.check(self.hasher, self.seen).map_err(invalid_data)?,
            None => self.hasher.finish(),
        };
        Ok((self.inner, digest, self.seen))
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(Expected {
            digest,
            size: Some(size),
        }) = &self.expected
            && self.seen + buf.len() as u64 > *size
        {
            return Err(invalid_data(DigestError::SizeMismatch {
                digest: digest.clone(),
                expected: *size,
                actual: self.seen + buf.len() as u64,
            }));
        }
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.seen += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Extracts a [`DigestError`] carried inside an `io::Error` by the adapters above.
pub fn digest_error(e: &io::Error) -> Option<&DigestError> {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<DigestError>())
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn parses_and_prints_canonical_form() {
        let d: Digest = EMPTY.parse().unwrap();
        assert_eq!(d.algorithm(), Algorithm::Sha256);
        assert_eq!(d.to_string(), EMPTY);
        assert_eq!(Digest::sha256_of(b""), d);
    }

    #[test]
    fn refuses_uppercase_short_and_unknown() {
        let upper = EMPTY.to_uppercase().replace("SHA256", "sha256");
        assert!(matches!(
            upper.parse::<Digest>(),
            Err(DigestError::MalformedHex(..))
        ));
        assert!(matches!(
            "sha256:abc".parse::<Digest>(),
            Err(DigestError::MalformedHex(..))
        ));
        assert!(matches!(
            "md5:d41d8cd98f00b204e9800998ecf8427e".parse::<Digest>(),
            Err(DigestError::UnsupportedAlgorithm(_))
        ));
        assert!(matches!(
            "abc".parse::<Digest>(),
            Err(DigestError::MissingAlgorithm(_))
        ));
        let sha512_short = format!("sha512:{}", "a".repeat(64));
        assert!(sha512_short.parse::<Digest>().is_err());
    }

    #[test]
    fn sha512_known_value() {
        let d = Digest::of(Algorithm::Sha512, b"abc");
        assert!(d.hex().starts_with("ddaf35a193617aba"));
        assert_eq!(d.to_string().parse::<Digest>().unwrap(), d);
    }

    #[test]
    fn reader_fails_at_eof_on_mismatch() {
        let expected = Expected {
            digest: Digest::sha256_of(b"hello"),
            size: Some(5),
        };
        let ok = HashingReader::verifying(&b"hello"[..], expected.clone()).drain();
        assert_eq!(ok.unwrap().1, 5);
        let err = HashingReader::verifying(&b"hellp"[..], expected.clone())
            .drain()
            .unwrap_err();
        assert!(matches!(
            digest_error(&err),
            Some(DigestError::Mismatch { .. })
        ));
        let err = HashingReader::verifying(&b"hello!"[..], expected.clone())
            .drain()
            .unwrap_err();
        assert!(matches!(
            digest_error(&err),
            Some(DigestError::SizeMismatch { .. })
        ));
        let err = HashingReader::verifying(&b"hell"[..], expected)
            .drain()
            .unwrap_err();
        assert!(matches!(
            digest_error(&err),
            Some(DigestError::SizeMismatch { .. })
        ));
    }

    #[test]
    fn writer_checks_on_finish() {
        let expected = Expected {
            digest: Digest::sha256_of(b"hello"),
            size: Some(5),
        };
        let mut w = HashingWriter::verifying(Vec::new(), expected.clone());
        w.write_all(b"hello").unwrap();
        let (out, d, n) = w.finish().unwrap();
        assert_eq!((out.as_slice(), n), (&b"hello"[..], 5));
        assert_eq!(d, expected.digest);
        let mut w = HashingWriter::verifying(Vec::new(), expected.clone());
        assert!(w.write_all(b"hello world").is_err());
        let mut w = HashingWriter::verifying(Vec::new(), expected);
        w.write_all(b"jello").unwrap();
        assert!(w.finish().is_err());
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics_and_roundtrips(s in "\\PC{0,140}") {
            if let Ok(d) = s.parse::<Digest>() {
                proptest::prop_assert_eq!(d.to_string(), s);
            }
        }

        #[test]
        fn valid_hex_roundtrips(bytes in proptest::collection::vec(0u8.., 0..64)) {
            let d = Digest::sha256_of(&bytes);
            proptest::prop_assert_eq!(d.to_string().parse::<Digest>().unwrap(), d);
        }
    }
}
