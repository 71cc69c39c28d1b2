//! The grammars of the policy's strings: repositories and scopes, identity names, media types,
//! times.

use super::*;

/// Reads a scope: `*`, `PREFIX/*` or an exact repository name. The error says what is wrong.
pub(super) fn parse_pattern(text: &str) -> Result<ScopePattern, String> {
    if text == "*" {
        return Ok(ScopePattern::Global);
    }
    if text.len() > MAX_SCOPE_LEN {
        return Err(format!("it is longer than {MAX_SCOPE_LEN} characters"));
    }
    let (body, prefix) = match text.strip_suffix("/*") {
        Some(body) => (body, true),
        None => (text, false),
    };
    if body.contains('*') {
        return Err(
            "a wildcard is allowed only as the whole scope \"*\" or as a final \"/*\"".into(),
        );
    }
    let (host, path) = match body.split_once('/') {
        Some((host, path)) => (host, Some(path)),
        None => (body, None),
    };
    check_host(host)?;
    match path {
        Some(path) => check_path(path)?,
        None if !prefix => {
            return Err(format!(
                "it names a registry but no repository; write {body}/* to cover every repository of the registry"
            ));
        }
        None => {}
    }
    Ok(if prefix {
        ScopePattern::Prefix(body.to_owned())
    } else {
        ScopePattern::Exact(body.to_owned())
    })
}

/// `host[:port]` where host is DNS labels of `[a-z0-9-]` joined by `.` (no label starting or
/// ending with `-`), or a bracketed IPv6 address of `[0-9a-f:.]`; port is 1 to 5 digits.
pub(super) fn check_host(host: &str) -> Result<(), String> {
    if host.is_empty() {
        return Err("the registry host is empty".into());
    }
    if host.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err("registry hosts are written in lowercase".into());
    }
    let bad_port = |p: &str| p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit());
    let port = if let Some(inner) = host.strip_prefix('[') {
        let (v6, after) = inner
            .split_once(']')
            .ok_or("an IPv6 host has no closing ']'")?;
        if v6.is_empty()
            || !v6
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f' | b':' | b'.'))
        {
            return Err(format!("[{v6}] is not an IPv6 address"));
        }
        match after {
            "" => None,
            a => Some(a.strip_prefix(':').ok_or("text follows the IPv6 address")?),
        }
    } else {
        let (name, port) = match host.split_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (host, None),
        };
        let label_ok = |label: &str| {
            let b = label.as_bytes();
            !b.is_empty()
                && b[0] != b'-'
                && b[b.len() - 1] != b'-'
                && b.iter()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        };
        if !name.split('.').all(label_ok) {
            return Err(format!(
                "registry host {name:?} is not a host name (labels of a-z, 0-9 and '-' joined by '.')"
            ));
        }
        port
    };
    if let Some(p) = port
        && bad_port(p)
    {
        return Err(format!("port {p:?} is not 1 to 5 digits"));
    }
    Ok(())
}

/// Path components per the OCI distribution grammar `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`,
/// joined by `/`.
pub(super) fn check_path(path: &str) -> Result<(), String> {
    for component in path.split('/') {
        if component.is_empty() {
            return Err(
                "the repository path has an empty component (a doubled or final '/')".into(),
            );
        }
        if component.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err("repository paths are lowercase (OCI distribution grammar)".into());
        }
        if !is_path_component(component) {
            return Err(format!(
                "path component {component:?} breaks the OCI distribution grammar: lowercase letters and digits separated by '.', '_', '__' or '-'"
            ));
        }
    }
    Ok(())
}

pub(super) fn is_path_component(component: &str) -> bool {
    let b = component.as_bytes();
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        // separator ::= "." | "_" | "__" | "-"+
        match b[i] {
            b'.' => i += 1,
            b'_' => i += if b.get(i + 1) == Some(&b'_') { 2 } else { 1 },
            b'-' => {
                while b.get(i) == Some(&b'-') {
                    i += 1;
                }
            }
            _ => return false,
        }
        if !b.get(i).is_some_and(|&c| alnum(c)) {
            return false;
        }
    }
    true
}

/// `[a-z0-9][a-z0-9._-]{0,63}`.
pub(super) fn is_identity(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_IDENTITY_LEN
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'.' | b'_' | b'-')
        })
}

/// RFC 6838 `type-name "/" subtype-name`, each a restricted-name: a letter or digit, then up to
/// 126 of letters, digits and `!#$&-^_.+`. Parameters are not allowed.
pub(super) fn is_media_type(text: &str) -> bool {
    let restricted = |part: &str| {
        let b = part.as_bytes();
        !b.is_empty()
            && b.len() <= 127
            && b[0].is_ascii_alphanumeric()
            && b.iter().all(|c| {
                c.is_ascii_alphanumeric()
                    || matches!(
                        c,
                        b'!' | b'#' | b'$' | b'&' | b'-' | b'^' | b'_' | b'.' | b'+'
                    )
            })
    };
    text.len() <= MAX_MEDIA_TYPE_LEN
        && text
            .split_once('/')
            .is_some_and(|(t, s)| restricted(t) && restricted(s))
}

/// Whether `repository` lies strictly under `prefix` (`prefix/…`, at least one more character).
pub(super) fn is_under(repository: &str, prefix: &str) -> bool {
    repository
        .strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('/'))
        .is_some_and(|rest| !rest.is_empty())
}

/// `repository` with its host (the part before the first `/`) in lowercase.
pub(super) fn lowercase_host(repository: &str) -> Cow<'_, str> {
    let host_end = repository.find('/').unwrap_or(repository.len());
    if repository[..host_end]
        .bytes()
        .any(|b| b.is_ascii_uppercase())
    {
        let mut owned = repository.to_owned();
        owned[..host_end].make_ascii_lowercase();
        Cow::Owned(owned)
    } else {
        Cow::Borrowed(repository)
    }
}
