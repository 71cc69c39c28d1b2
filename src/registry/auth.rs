//! Registry credentials and the authentication challenge flow.
//!
//! Credentials come, in this order, from explicit `HOST=USER:PASSWORD` entries (the `--creds`
//! flag or `AIRLOCK_REGISTRY_CREDS`), then the docker `config.json` (`credHelpers` for the
//! host, `auths` for the host, then `credsStore`). A registry that answers 401 names its scheme
//! in `WWW-Authenticate`: `Basic` gets the credentials on every request; `Bearer` sends us to a
//! token server, asked for the scopes the operation needs (with the credentials, when there are
//! any), and the token is kept per set of scopes until it expires.

use std::collections::{BTreeSet, HashMap};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;

use super::RegistryError;

/// The largest token-server answer or credential-helper output read.
const MAX_AUTH_RESPONSE: u64 = 1 << 20;
/// The largest docker config file read.
const MAX_CONFIG_BYTES: u64 = 4 << 20;
/// How long a token is used when the server does not say (the distribution spec's default).
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(60);

/// A user name and password (or, with user `<token>`, an identity token for the OAuth2
/// refresh flow).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user name.
    pub username: String,
    /// The password or identity token.
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

impl Credentials {
    fn basic_header(&self) -> String {
        let raw = format!("{}:{}", self.username, self.password);
        format!("Basic {}", STANDARD.encode(raw))
    }

    fn is_identity_token(&self) -> bool {
        self.username == "<token>"
    }
}

/// Parses `HOST=USER:PASSWORD` (the `--creds` syntax).
pub fn parse_creds(s: &str) -> Result<(String, Credentials), String> {
    let (host, rest) = s
        .split_once('=')
        .filter(|(h, _)| !h.is_empty())
        .ok_or_else(|| "expected HOST=USER:PASSWORD".to_owned())?;
    let (user, password) = rest
        .split_once(':')
        .filter(|(u, _)| !u.is_empty())
        .ok_or_else(|| format!("expected HOST=USER:PASSWORD for {host}"))?;
    Ok((
        host.to_owned(),
        Credentials {
            username: user.to_owned(),
            password: password.to_owned(),
        },
    ))
}

/// Where credentials are looked up.
#[derive(Clone, Debug, Default)]
pub struct CredentialSource {
    /// Explicit credentials by registry host (`--creds`).
    pub explicit: HashMap<String, Credentials>,
    /// The docker config file to read, if any (`--authfile`, `$DOCKER_CONFIG/config.json`,
    /// `~/.docker/config.json`).
    pub config_file: Option<PathBuf>,
}

/// The parts of docker's `config.json` that hold credentials.
#[derive(Debug, Default, Deserialize)]
struct DockerConfig {
    #[serde(default)]
    auths: HashMap<String, AuthEntry>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: HashMap<String, String>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

#[derive(Debug, Deserialize)]
struct HelperAnswer {
    #[serde(rename = "Username")]
    username: String,
    #[serde(rename = "Secret")]
    secret: String,
}

impl CredentialSource {
    /// The default docker config file: `$DOCKER_CONFIG/config.json`, else
    /// `~/.docker/config.json`, when it exists.
    pub fn default_config_file() -> Option<PathBuf> {
        let path = match std::env::var_os("DOCKER_CONFIG") {
            Some(dir) => PathBuf::from(dir).join("config.json"),
            None => PathBuf::from(std::env::var_os("HOME")?).join(".docker/config.json"),
        };
        path.is_file().then_some(path)
    }

    /// The credentials for `host`, if any source has them.
    pub fn lookup(&self, host: &str) -> Result<Option<Credentials>, RegistryError> {
        if let Some(c) = self.explicit.get(host) {
            return Ok(Some(c.clone()));
        }
        let Some(path) = &self.config_file else {
            return Ok(None);
        };
        let config = read_config(path)?;
        if let Some(helper) = config.cred_helpers.get(host) {
            return run_helper(helper, host);
        }
        if let Some(entry) = config
            .auths
            .iter()
            .find(|(key, _)| auth_key_host(key) == host)
            .map(|(_, e)| e)
        {
            return entry_credentials(entry, host, path).map(Some);
        }
        match &config.creds_store {
            Some(store) => run_helper(store, host),
            None => Ok(None),
        }
    }
}

fn read_config(path: &Path) -> Result<DockerConfig, RegistryError> {
    let bad = |reason: String| RegistryError::Credentials {
        reason: format!("{}: {reason}", path.display()),
    };
    let file = std::fs::File::open(path).map_err(|e| bad(e.to_string()))?;
    let mut bytes = Vec::new();
    file.take(MAX_CONFIG_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| bad(e.to_string()))?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(bad(format!("larger than {MAX_CONFIG_BYTES} bytes")));
    }
    serde_json::from_slice(&bytes).map_err(|e| bad(format!("not a docker config file: {e}")))
}

/// The host part of an `auths` key: keys are written as `host`, `https://host` or
/// `https://host/v1/`.
fn auth_key_host(key: &str) -> &str {
    let k = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    k.split('/').next().unwrap_or(k)
}

fn entry_credentials(
    entry: &AuthEntry,
    host: &str,
    path: &Path,
) -> Result<Credentials, RegistryError> {
    if let Some(token) = &entry.identitytoken {
        return Ok(Credentials {
            username: "<token>".into(),
            password: token.clone(),
        });
    }
    if let (Some(u), Some(p)) = (&entry.username, &entry.password) {
        return Ok(Credentials {
            username: u.clone(),
            password: p.clone(),
        });
    }
    let bad = |reason: &str| RegistryError::Credentials {
        reason: format!("{}: auths entry for {host}: {reason}", path.display()),
    };
    let auth = entry
        .auth
        .as_deref()
        .ok_or_else(|| bad("has no auth, username/password or identitytoken"))?;
    let decoded = STANDARD
        .decode(auth.trim())
        .map_err(|_| bad("auth is not base64"))?;
    let text = String::from_utf8(decoded).map_err(|_| bad("auth is not UTF-8"))?;
    let (u, p) = text
        .split_once(':')
        .ok_or_else(|| bad("auth is not base64 of USER:PASSWORD"))?;
    Ok(Credentials {
        username: u.to_owned(),
        password: p.to_owned(),
    })
}

/// Runs `docker-credential-NAME get` with the host on stdin (the docker credential helper
/// protocol). A helper that has nothing for the host answers with an error, which means no
/// credentials.
fn run_helper(name: &str, host: &str) -> Result<Option<Credentials>, RegistryError> {
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    {
        return Err(RegistryError::Credentials {
            reason: format!("credential helper name {name:?} is not a plain name"),
        });
    }
    let program = format!("docker-credential-{name}");
    let fail = |reason: String| RegistryError::Credentials {
        reason: format!("{program} get: {reason}"),
    };
    let mut child = Command::new(&program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| fail(format!("cannot run it: {e} (is it on PATH?)")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(host.as_bytes())
            .map_err(|e| fail(e.to_string()))?;
    }
    let mut out = Vec::new();
    if let Some(stdout) = child.stdout.take() {
        stdout
            .take(MAX_AUTH_RESPONSE)
            .read_to_end(&mut out)
            .map_err(|e| fail(e.to_string()))?;
    }
    let status = child.wait().map_err(|e| fail(e.to_string()))?;
    if !status.success() {
        // "credentials not found in native keychain": nothing for this host.
        tracing::debug!(%program, %host, "credential helper has no credentials");
        return Ok(None);
    }
    let answer: HelperAnswer = serde_json::from_slice(&out).map_err(|e| {
        fail(format!(
            "answer is not {{\"Username\", \"Secret\"}} JSON: {e}"
        ))
    })?;
    Ok(Some(Credentials {
        username: answer.username,
        password: answer.secret,
    }))
}

/// One parsed `WWW-Authenticate` challenge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Challenge {
    /// `Basic realm="..."`.
    Basic,
    /// `Bearer realm="...",service="...",scope="..."`.
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

/// Parses a `WWW-Authenticate` header value (RFC 7235 auth-params, quoted or token values).
pub(crate) fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    let params = parse_params(rest);
    match scheme.to_ascii_lowercase().as_str() {
        "basic" => Some(Challenge::Basic),
        "bearer" => Some(Challenge::Bearer {
            realm: params.get("realm")?.clone(),
            service: params.get("service").cloned(),
            scope: params.get("scope").cloned(),
        }),
        _ => None,
    }
}

fn parse_params(s: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut rest = s.trim_start();
    while !rest.is_empty() {
        let Some(eq) = rest.find('=') else { break };
        let key = rest[..eq]
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        rest = &rest[eq + 1..];
        let value;
        if let Some(quoted) = rest.strip_prefix('"') {
            let mut v = String::new();
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            v.push(n);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => v.push(c),
                }
            }
            value = v;
            rest = &quoted[end.min(quoted.len())..];
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            value = rest[..end].trim().to_owned();
            rest = &rest[end..];
        }
        rest = rest.trim_start().trim_start_matches(',').trim_start();
        if !key.is_empty() {
            out.insert(key, value);
        }
    }
    out
}

/// What the client has learned about one registry's authentication.
#[derive(Debug, Default)]
pub(crate) struct AuthState {
    /// The registry asked for Basic: send the credentials with every request.
    basic: Option<String>,
    /// The registry asked for Bearer: where tokens come from.
    bearer: Option<(String, Option<String>)>,
    /// Tokens by their scope set.
    tokens: HashMap<String, (String, Instant)>,
    /// Credentials looked up once.
    credentials: Option<Option<Credentials>>,
}

/// The scopes a request needs: `repository:NAME:pull` or `repository:NAME:pull,push`.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Scopes(pub(crate) BTreeSet<String>);

impl Scopes {
    pub(crate) fn pull(repository: &str) -> Scopes {
        Scopes(BTreeSet::from([format!("repository:{repository}:pull")]))
    }

    pub(crate) fn push(repository: &str) -> Scopes {
        Scopes(BTreeSet::from([format!(
            "repository:{repository}:pull,push"
        )]))
    }

    pub(crate) fn and_pull(mut self, repository: &str) -> Scopes {
        self.0.insert(format!("repository:{repository}:pull"));
        self
    }

    fn key(&self) -> String {
        self.0.iter().cloned().collect::<Vec<_>>().join(" ")
    }
}

/// The authentication side of one registry client.
#[derive(Debug)]
pub(crate) struct Authenticator {
    host: String,
    source: CredentialSource,
    state: Mutex<AuthState>,
}

#[derive(Deserialize)]
struct TokenAnswer {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
}

impl Authenticator {
    pub(crate) fn new(host: &str, source: CredentialSource) -> Self {
        Authenticator {
            host: host.to_owned(),
            source,
            state: Mutex::new(AuthState::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, AuthState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn credentials(&self) -> Result<Option<Credentials>, RegistryError> {
        if let Some(c) = &self.lock().credentials {
            return Ok(c.clone());
        }
        let found = self.source.lookup(&self.host)?;
        self.lock().credentials = Some(found.clone());
        Ok(found)
    }

    /// The `Authorization` header for a request needing `scopes`, from what is known so far.
    pub(crate) fn header(&self, scopes: &Scopes) -> Option<String> {
        let state = self.lock();
        if let Some(b) = &state.basic {
            return Some(b.clone());
        }
        let (token, expires) = state.tokens.get(&scopes.key())?;
        (*expires > Instant::now()).then(|| format!("Bearer {token}"))
    }

    /// Answers a 401: learns the scheme from `challenge` and gets what the next attempt needs.
    /// `secure` says whether credentials may travel to the token realm's scheme.
    /// `sent` is the `Authorization` the refused request carried: when another request (of
    /// the parallel ones) has since learned better, the answer is simply to use that.
    pub(crate) fn respond(
        &self,
        challenge: Option<&str>,
        scopes: &Scopes,
        sent: Option<&str>,
        http: &reqwest::blocking::Client,
        may_send: &dyn Fn(&str) -> bool,
    ) -> Result<(), RegistryError> {
        if let Some(now) = self.header(scopes)
            && Some(now.as_str()) != sent
        {
            return Ok(());
        }
        let parsed = challenge.and_then(parse_challenge);
        match parsed {
            Some(Challenge::Basic) => {
                let creds = self
                    .credentials()?
                    .ok_or_else(|| RegistryError::Unauthorized {
                        host: self.host.clone(),
                        reason:
                            "the registry asks for a user name and password and none are configured"
                                .into(),
                    })?;
                if creds.is_identity_token() {
                    return Err(RegistryError::Unauthorized {
                        host: self.host.clone(),
                        reason: "the registry asks for Basic authentication but only an identity token is configured".into(),
                    });
                }
                // Checked and set under one lock: a parallel request may have learned the
                // scheme between our refusal and now.
                let mut state = self.lock();
                match &state.basic {
                    Some(known) if Some(known.as_str()) == sent => {
                        Err(RegistryError::Unauthorized {
                            host: self.host.clone(),
                            reason: "the registry refused the configured user name and password"
                                .into(),
                        })
                    }
                    Some(_) => Ok(()),
                    None => {
                        state.basic = Some(creds.basic_header());
                        Ok(())
                    }
                }
            }
            Some(Challenge::Bearer {
                realm,
                service,
                scope,
            }) => {
                let mut wanted = scopes.clone();
                if let Some(s) = scope {
                    wanted
                        .0
                        .extend(s.split(' ').filter(|s| !s.is_empty()).map(str::to_owned));
                }
                self.lock().bearer = Some((realm.clone(), service.clone()));
                let (token, lifetime) =
                    self.fetch_token(http, &realm, service.as_deref(), &wanted, may_send)?;
                let mut state = self.lock();
                let expires = Instant::now() + lifetime;
                state.tokens.insert(scopes.key(), (token.clone(), expires));
                state.tokens.insert(wanted.key(), (token, expires));
                Ok(())
            }
            None => Err(RegistryError::Unauthorized {
                host: self.host.clone(),
                reason: format!(
                    "the registry answered 401 with an authentication challenge airlock does not know: {:?}",
                    challenge.unwrap_or("(none)")
                ),
            }),
        }
    }

    /// Gets a token for `scopes` before the first request, when the realm is already known.
    pub(crate) fn prefetch(
        &self,
        scopes: &Scopes,
        http: &reqwest::blocking::Client,
        may_send: &dyn Fn(&str) -> bool,
    ) -> Result<(), RegistryError> {
        let realm = {
            let state = self.lock();
            if state.basic.is_some() {
                return Ok(());
            }
            if let Some((_, expires)) = state.tokens.get(&scopes.key())
                && *expires > Instant::now()
            {
                return Ok(());
            }
            state.bearer.clone()
        };
        let Some((realm, service)) = realm else {
            return Ok(());
        };
        let (token, lifetime) =
            self.fetch_token(http, &realm, service.as_deref(), scopes, may_send)?;
        self.lock()
            .tokens
            .insert(scopes.key(), (token, Instant::now() + lifetime));
        Ok(())
    }

    fn fetch_token(
        &self,
        http: &reqwest::blocking::Client,
        realm: &str,
        service: Option<&str>,
        scopes: &Scopes,
        may_send: &dyn Fn(&str) -> bool,
    ) -> Result<(String, Duration), RegistryError> {
        let unauthorized = |reason: String| RegistryError::Unauthorized {
            host: self.host.clone(),
            reason,
        };
        let url = reqwest::Url::parse(realm)
            .map_err(|e| unauthorized(format!("token realm {realm:?} is not a URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(unauthorized(format!("token realm {realm} is not http(s)")));
        }
        let creds = self.credentials()?;
        if creds.is_some() && url.scheme() == "http" && !may_send(url.host_str().unwrap_or("")) {
            return Err(unauthorized(format!(
                "the token realm {realm} is plain HTTP on a non-loopback host; airlock will not send credentials there (name the host with --plain-http to allow it)"
            )));
        }
        let request = match &creds {
            Some(c) if c.is_identity_token() => {
                let mut form: Vec<(&str, &str)> = vec![
                    ("grant_type", "refresh_token"),
                    ("refresh_token", &c.password),
                    ("client_id", "airlock"),
                ];
                if let Some(s) = service {
                    form.push(("service", s));
                }
                let scope = scopes.key();
                form.push(("scope", &scope));
                http.post(url).form(&form)
            }
            _ => {
                let mut query: Vec<(&str, &str)> = Vec::new();
                if let Some(s) = service {
                    query.push(("service", s));
                }
                for s in &scopes.0 {
                    query.push(("scope", s));
                }
                let mut r = http.get(url).query(&query);
                if let Some(c) = &creds {
                    r = r.header(reqwest::header::AUTHORIZATION, c.basic_header());
                }
                r
            }
        };
        let response = request
            .timeout(Duration::from_secs(60))
            .send()
            .map_err(|e| unauthorized(format!("token server {realm}: {e}")))?;
        let status = response.status();
        let mut body = Vec::new();
        response
            .take(MAX_AUTH_RESPONSE)
            .read_to_end(&mut body)
            .map_err(|e| unauthorized(format!("token server {realm}: {e}")))?;
        if !status.is_success() {
            return Err(unauthorized(format!(
                "the token server {realm} refused {} ({status}){}",
                scopes.key(),
                if creds.is_none() {
                    "; no credentials are configured for this registry (--creds, --authfile)"
                } else {
                    "; check the credentials"
                }
            )));
        }
        let answer: TokenAnswer = serde_json::from_slice(&body).map_err(|e| {
            unauthorized(format!("token server {realm} answered malformed JSON: {e}"))
        })?;
        let token = answer
            .token
            .or(answer.access_token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| unauthorized(format!("token server {realm} answered no token")))?;
        if token.bytes().any(|b| !b.is_ascii_graphic()) {
            return Err(unauthorized(format!(
                "token server {realm} answered a token with characters a header cannot carry"
            )));
        }
        // Renew a little early; never trust a lifetime longer than a day.
        let lifetime = answer.expires_in.map_or(DEFAULT_TOKEN_LIFETIME, |s| {
            Duration::from_secs(s.min(86_400))
        });
        Ok((token, lifetime.saturating_sub(Duration::from_secs(5))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_parse() {
        assert_eq!(parse_challenge("Basic realm=\"x\""), Some(Challenge::Basic));
        assert_eq!(
            parse_challenge(
                "Bearer realm=\"https://auth.example/token\",service=\"reg\",scope=\"repository:a/b:pull,push\""
            ),
            Some(Challenge::Bearer {
                realm: "https://auth.example/token".into(),
                service: Some("reg".into()),
                scope: Some("repository:a/b:pull,push".into()),
            })
        );
        assert_eq!(
            parse_challenge("bearer realm=http://t/x, service=s"),
            Some(Challenge::Bearer {
                realm: "http://t/x".into(),
                service: Some("s".into()),
                scope: None,
            })
        );
        assert_eq!(parse_challenge("Bearer service=\"s\""), None);
        assert_eq!(parse_challenge("Negotiate abc"), None);
        assert_eq!(parse_challenge(""), None);
    }

    #[test]
    fn creds_flag_parses() {
        let (host, c) = parse_creds("127.0.0.1:5000=alice:pa:ss").unwrap();
        assert_eq!(host, "127.0.0.1:5000");
        assert_eq!(c.username, "alice");
        assert_eq!(c.password, "pa:ss");
        assert!(parse_creds("alice:pass").is_err());
        assert!(parse_creds("=a:b").is_err());
        assert!(parse_creds("h=:b").is_err());
        assert!(!format!("{c:?}").contains("pa:ss"));
    }

    #[test]
    fn docker_config_auths_and_helpers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(
            &path,
            format!(
                r#"{{"auths": {{"https://reg.example:5000/v1/": {{"auth": "{}"}},
                    "other.example": {{"username": "u", "password": "p"}},
                    "bad.example": {{"auth": "!!"}}}},
                    "credHelpers": {{"helped.example": "no-such-helper-airlock-test"}}}}"#,
                STANDARD.encode("bob:secret")
            ),
        )
        .unwrap();
        let source = CredentialSource {
            explicit: HashMap::from([(
                "explicit.example".to_owned(),
                Credentials {
                    username: "e".into(),
                    password: "x".into(),
                },
            )]),
            config_file: Some(path),
        };
        let c = source.lookup("reg.example:5000").unwrap().unwrap();
        assert_eq!(
            (c.username.as_str(), c.password.as_str()),
            ("bob", "secret")
        );
        let c = source.lookup("other.example").unwrap().unwrap();
        assert_eq!((c.username.as_str(), c.password.as_str()), ("u", "p"));
        assert_eq!(
            source.lookup("explicit.example").unwrap().unwrap().username,
            "e"
        );
        assert_eq!(source.lookup("nobody.example").unwrap(), None);
        let e = source.lookup("bad.example").unwrap_err().to_string();
        assert!(e.contains("not base64"), "{e}");
        let e = source.lookup("helped.example").unwrap_err().to_string();
        assert!(
            e.contains("docker-credential-no-such-helper-airlock-test"),
            "{e}"
        );
    }
}
