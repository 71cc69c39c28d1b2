//! References to artifacts: in a registry (`registry/repo:tag`, `…@sha256:…`) or in a local OCI
//! layout written as skopeo does (`oci:PATH[:TAG|@DIGEST]`), so one argument can name either.
//!
//! Spec: `formats/layout.md`, section "References".

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::digest::{Digest, DigestError};

/// Registry used when a reference names none (as docker does).
pub const DEFAULT_REGISTRY: &str = "docker.io";
const MAX_NAME_LEN: usize = 255;
const MAX_TAG_LEN: usize = 128;
const MAX_REFERENCE_LEN: usize = 4096;

/// Why a reference was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReferenceError {
    /// Empty input.
    #[error("reference is empty")]
    Empty,
    /// Longer than any valid reference.
    #[error("reference is longer than {MAX_REFERENCE_LEN} characters")]
    TooLong,
    /// A repository path component breaks the grammar.
    #[error(
        "repository {0:?} is invalid: components are lowercase letters and digits separated by '.', '_', '__' or '-'"
    )]
    InvalidRepository(String),
    /// The registry host part is invalid.
    #[error("registry host {0:?} is invalid")]
    InvalidRegistry(String),
    /// A tag breaks the grammar.
    #[error("tag {0:?} is invalid: at most 128 of [A-Za-z0-9_.-], not starting with '.' or '-'")]
    InvalidTag(String),
    /// A layout tag (`org.opencontainers.image.ref.name`) breaks the grammar.
    #[error(
        "layout tag {0:?} is invalid: components of [A-Za-z0-9] separated by one of -._:@+ or --"
    )]
    InvalidLayoutTag(String),
    /// The digest part is invalid.
    #[error("digest in reference is invalid: {0}")]
    Digest(#[from] DigestError),
    /// `oci:` with no path.
    #[error("layout reference {0:?} has no path (expected oci:PATH[:TAG|@DIGEST])")]
    MissingPath(String),
}

/// A validated registry tag.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(Box<str>);

impl Tag {
    /// Validates a registry tag (`[\w][\w.-]{0,127}`).
    pub fn new(s: &str) -> Result<Self, ReferenceError> {
        let mut bytes = s.bytes();
        let first_ok = matches!(bytes.next(), Some(b) if b.is_ascii_alphanumeric() || b == b'_');
        let rest_ok = bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
        if first_ok && rest_ok && s.len() <= MAX_TAG_LEN {
            Ok(Tag(s.into()))
        } else {
            Err(ReferenceError::InvalidTag(s.chars().take(140).collect()))
        }
    }

    /// The tag text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A validated layout tag: the value of `org.opencontainers.image.ref.name`, whose grammar
/// (image-spec annotations) is wider than a registry tag's.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LayoutTag(Box<str>);

impl LayoutTag {
    /// Validates `component ("/" component)*` where `component ::= alphanum (separator alphanum)*`,
    /// `alphanum ::= [A-Za-z0-9]+` and `separator ::= [-._:@+] | "--"`.
    pub fn new(s: &str) -> Result<Self, ReferenceError> {
        let bad = || ReferenceError::InvalidLayoutTag(s.chars().take(140).collect());
        if s.is_empty() || s.len() > MAX_NAME_LEN {
            return Err(bad());
        }
        for component in s.split('/') {
            let b = component.as_bytes();
            let alnum = |c: u8| c.is_ascii_alphanumeric();
            if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
                return Err(bad());
            }
            let mut i = 0;
            while i < b.len() {
                if alnum(b[i]) {
                    i += 1;
                } else if b[i] == b'-'
                    && b.get(i + 1) == Some(&b'-')
                    && b.get(i + 2).is_some_and(|&c| alnum(c))
                {
                    i += 2;
                } else if matches!(b[i], b'-' | b'.' | b'_' | b':' | b'@' | b'+')
                    && b.get(i + 1).is_some_and(|&c| alnum(c))
                {
                    i += 1;
                } else {
                    return Err(bad());
                }
            }
        }
        Ok(LayoutTag(s.into()))
    }

    /// The tag text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for LayoutTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An artifact in a registry.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RegistryReference {
    registry: String,
    repository: String,
    tag: Option<Tag>,
    digest: Option<Digest>,
}

impl RegistryReference {
    /// The registry host (and port).
    pub fn registry(&self) -> &str {
        &self.registry
    }
    /// The repository path.
    pub fn repository(&self) -> &str {
        &self.repository
    }
    /// The tag, if any.
    pub fn tag(&self) -> Option<&Tag> {
        self.tag.as_ref()
    }
    /// The digest, if any (it wins over the tag when both are given).
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }
}

impl fmt::Display for RegistryReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// Which manifest of a layout a reference selects.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Selector {
    /// An `index.json` entry by its `org.opencontainers.image.ref.name`.
    Tag(LayoutTag),
    /// A manifest by digest.
    Digest(Digest),
}

/// An artifact in a local OCI image layout directory.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LayoutReference {
    path: PathBuf,
    selector: Option<Selector>,
}

impl LayoutReference {
    /// Builds a reference to `path`, optionally selecting one manifest.
    pub fn new(path: impl Into<PathBuf>, selector: Option<Selector>) -> Self {
        LayoutReference {
            path: path.into(),
            selector,
        }
    }
    /// The layout directory.
    pub fn path(&self) -> &Path {
        &self.path
    }
    /// The selected manifest, if any.
    pub fn selector(&self) -> Option<&Selector> {
        self.selector.as_ref()
    }
}

impl fmt::Display for LayoutReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "oci:{}", self.path.display())?;
        match &self.selector {
            Some(Selector::Tag(t)) => write!(f, ":{t}"),
            Some(Selector::Digest(d)) => write!(f, "@{d}"),
            None => Ok(()),
        }
    }
}

/// A reference to an artifact in a registry or in a local layout.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Reference {
    /// `registry/repo[:tag][@digest]` (an optional `docker://` prefix is accepted).
    Registry(RegistryReference),
    /// `oci:PATH[:TAG|@DIGEST]`.
    Layout(LayoutReference),
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reference::Registry(r) => r.fmt(f),
            Reference::Layout(l) => l.fmt(f),
        }
    }
}

impl FromStr for Reference {
    type Err = ReferenceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() {
            return Err(ReferenceError::Empty);
        }
        if s.len() > MAX_REFERENCE_LEN {
            return Err(ReferenceError::TooLong);
        }
        if let Some(rest) = s.strip_prefix("oci:") {
            return parse_layout(s, rest).map(Reference::Layout);
        }
        let rest = s.strip_prefix("docker://").unwrap_or(s);
        parse_registry(rest).map(Reference::Registry)
    }
}

fn parse_layout(whole: &str, rest: &str) -> Result<LayoutReference, ReferenceError> {
    // A trailing `@<digest>` selects by digest; otherwise the first ':' separates the tag,
    // as skopeo's `oci:` transport does (so the path itself cannot contain ':').
    if let Some((path, digest)) = rest.rsplit_once('@')
        && digest.contains(':')
        && !path.is_empty()
        && !path.contains(':')
        && let Ok(d) = digest.parse::<Digest>()
    {
        return Ok(LayoutReference::new(path, Some(Selector::Digest(d))));
    }
    let (path, tag) = match rest.split_once(':') {
        Some((p, t)) => (p, Some(LayoutTag::new(t)?)),
        None => (rest, None),
    };
    if path.is_empty() {
        return Err(ReferenceError::MissingPath(whole.to_owned()));
    }
    Ok(LayoutReference::new(path, tag.map(Selector::Tag)))
}

fn parse_registry(s: &str) -> Result<RegistryReference, ReferenceError> {
    let (name_tag, digest) = match s.split_once('@') {
        Some((n, d)) => (n, Some(d.parse::<Digest>()?)),
        None => (s, None),
    };
    // The tag is after the last ':' that follows the last '/' (a ':' before it is a port).
    let last_slash = name_tag.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match name_tag[last_slash..].find(':') {
        Some(i) => {
            let split = last_slash + i;
            (&name_tag[..split], Some(Tag::new(&name_tag[split + 1..])?))
        }
        None => (name_tag, None),
    };
    let (registry, repository) = match name.split_once('/') {
        Some((first, rest)) if is_domain_like(first) => {
            validate_registry(first)?;
            (first.to_owned(), rest.to_owned())
        }
        _ if !name.contains('/') => (DEFAULT_REGISTRY.to_owned(), format!("library/{name}")),
        _ => (DEFAULT_REGISTRY.to_owned(), name.to_owned()),
    };
    validate_repository(&repository)?;
    if registry.len() + 1 + repository.len() > MAX_NAME_LEN {
        return Err(ReferenceError::TooLong);
    }
    Ok(RegistryReference {
        registry,
        repository,
        tag,
        digest,
    })
}

fn is_domain_like(first: &str) -> bool {
    first.contains('.')
        || first.contains(':')
        || first == "localhost"
        || first.starts_with('[')
        || first.bytes().any(|b| b.is_ascii_uppercase())
}

fn validate_registry(host: &str) -> Result<(), ReferenceError> {
    let bad = || ReferenceError::InvalidRegistry(host.chars().take(140).collect());
    let (hostpart, port) = if let Some(inner) = host.strip_prefix('[') {
        let (v6, after) = inner.split_once(']').ok_or_else(bad)?;
        if v6.is_empty()
            || !v6
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return Err(bad());
        }
        let port = match after {
            "" => None,
            a => Some(a.strip_prefix(':').ok_or_else(bad)?),
        };
        (None, port)
    } else {
        match host.rsplit_once(':') {
            Some((h, p)) => (Some(h), Some(p)),
            None => (Some(host), None),
        }
    };
    if let Some(h) = hostpart {
        let ok = !h.is_empty()
            && h.split('.').all(|label| {
                let b = label.as_bytes();
                !b.is_empty()
                    && b[0].is_ascii_alphanumeric()
                    && b[b.len() - 1].is_ascii_alphanumeric()
                    && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
            });
        if !ok {
            return Err(bad());
        }
    }
    if let Some(p) = port
        && (p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(bad());
    }
    Ok(())
}

/// Checks a repository path (no registry host) against the distribution grammar.
pub fn validate_repository(repo: &str) -> Result<(), ReferenceError> {
    let bad = || ReferenceError::InvalidRepository(repo.chars().take(140).collect());
    if repo.is_empty() {
        return Err(bad());
    }
    for component in repo.split('/') {
        let b = component.as_bytes();
        let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
        if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
            return Err(bad());
        }
        let mut i = 0;
        while i < b.len() {
            if alnum(b[i]) {
                i += 1;
                continue;
            }
            // separator ::= [_.] | "__" | "-"+
            let start = i;
            match b[i] {
                b'.' => i += 1,
                b'_' => i += if b.get(i + 1) == Some(&b'_') { 2 } else { 1 },
                b'-' => {
                    while b.get(i) == Some(&b'-') {
                        i += 1;
                    }
                }
                _ => return Err(bad()),
            }
            if i == start || !b.get(i).is_some_and(|&c| alnum(c)) {
                return Err(bad());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn reg(s: &str) -> RegistryReference {
        match s.parse::<Reference>().unwrap() {
            Reference::Registry(r) => r,
            other => panic!("expected registry reference, got {other:?}"),
        }
    }

    fn lay(s: &str) -> LayoutReference {
        match s.parse::<Reference>().unwrap() {
            Reference::Layout(l) => l,
            other => panic!("expected layout reference, got {other:?}"),
        }
    }

    #[test]
    fn registry_references() {
        let r = reg("127.0.0.1:5000/net-monitor/app:v1");
        assert_eq!(
            (r.registry(), r.repository()),
            ("127.0.0.1:5000", "net-monitor/app")
        );
        assert_eq!(r.tag().unwrap().as_str(), "v1");
        let r = reg(&format!("localhost/app@{D}"));
        assert_eq!(r.registry(), "localhost");
        assert_eq!(r.digest().unwrap().to_string(), D);
        assert!(r.tag().is_none());
        let r = reg("alpine");
        assert_eq!(
            (r.registry(), r.repository()),
            ("docker.io", "library/alpine")
        );
        let r = reg(&format!("docker://registry.example:443/a/b/c:t@{D}"));
        assert_eq!(r.to_string(), format!("registry.example:443/a/b/c:t@{D}"));
        assert_eq!(reg("[::1]:5000/x").registry(), "[::1]:5000");
    }

    #[test]
    fn registry_reference_errors() {
        for bad in [
            "reg.io/UPPER",
            "reg.io/Repo",
            "reg.io/a//b",
            "reg.io/a-",
            "reg.io/a:",
            "reg.io/a:-x",
            "reg.io/a@sha256:zz",
            "bad_host.io/a",
            "reg.io:99999999/a",
        ] {
            assert!(bad.parse::<Reference>().is_err(), "{bad} should be refused");
        }
        assert_eq!("".parse::<Reference>(), Err(ReferenceError::Empty));
    }

    #[test]
    fn layout_references() {
        let l = lay("oci:/tmp/x:latest");
        assert_eq!(l.path(), Path::new("/tmp/x"));
        assert_eq!(
            l.selector(),
            Some(&Selector::Tag(LayoutTag::new("latest").unwrap()))
        );
        let l = lay(&format!("oci:dir@{D}"));
        assert_eq!(l.path(), Path::new("dir"));
        assert!(matches!(l.selector(), Some(Selector::Digest(_))));
        let l = lay("oci:rel/dir");
        assert!(l.selector().is_none());
        assert_eq!(l.to_string(), "oci:rel/dir");
        // ref.name may contain ':' and '@' between alphanumerics.
        let l = lay("oci:d:v1.0:rc@x");
        assert_eq!(
            l.selector(),
            Some(&Selector::Tag(LayoutTag::new("v1.0:rc@x").unwrap()))
        );
        assert!(matches!(
            "oci:".parse::<Reference>(),
            Err(ReferenceError::MissingPath(_))
        ));
        // A ':' ends the path even before an @digest: the rest is a tag that may hold '@'.
        let l = lay(&format!("oci:/a:b@{D}"));
        assert_eq!(l.path(), Path::new("/a"));
        assert!(matches!(l.selector(), Some(Selector::Tag(_))));
        assert!(matches!(
            "oci:d:-bad".parse::<Reference>(),
            Err(ReferenceError::InvalidLayoutTag(_))
        ));
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics_and_display_reparses(s in "\\PC{0,80}") {
            if let Ok(r) = s.parse::<Reference>() {
                let again: Reference = r.to_string().parse().unwrap();
                proptest::prop_assert_eq!(again, r);
            }
        }
    }
}
