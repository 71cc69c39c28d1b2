//! Registry credentials and the authentication challenge flow.
//!
//! Credentials come, in this order, from explicit `HOST=USER:PASSWORD` entries (the `--creds`
//! flag or `AIRLOCK_REGISTRY_CREDS`), then the docker `config.json` (`credHelpers` for the
//! host, `auths` for the host, then `credsStore`; Docker Hub is also looked up under the
//! names `docker login` stores it by). A registry that answers 401 names its scheme in
//! `WWW-Authenticate`: `Basic` gets the credentials on every request; `Bearer` sends us to a
//! token server, asked for the scopes the operation needs (with the credentials, when there are
//! any), and the token is kept per set of scopes until it expires. Token requests follow no
//! redirect off the realm's origin and none to plain HTTP: they carry the credentials.

use std::collections::{BTreeSet, HashMap};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Mutex, mpsc};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use reqwest::StatusCode;
use serde::Deserialize;

use super::{RegistryError, RegistryOptions};

/// The largest token-server answer or credential-helper output read.
const MAX_AUTH_RESPONSE: u64 = 1 << 20;
/// The largest part of a credential helper's stderr kept (the rest is read and dropped).
const MAX_HELPER_STDERR: u64 = 16 << 10;
/// How long a credential helper may take before it is killed.
const HELPER_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest docker config file read.
const MAX_CONFIG_BYTES: u64 = 4 << 20;
/// The shortest lifetime a token is given, and the one it has when the server does not say
/// (docker's token spec: `expires_in` defaults to 60 and should be at least that).
const MIN_TOKEN_LIFETIME: Duration = Duration::from_secs(60);
/// The longest lifetime a token is trusted with, whatever the server says.
const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(86_400);
/// How long before it expires a token is renewed.
const TOKEN_RENEW_EARLY: Duration = Duration::from_secs(5);
/// How long one token request may take, body included.
const TOKEN_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Redirects a token request follows, at most (all within the realm's origin).
const MAX_TOKEN_REDIRECTS: usize = 5;
/// Docker Hub's host names: how references name it, where its API is, and the host of the
/// server URL `docker login` stores its credentials under.
const DOCKER_HUB_HOSTS: [&str; 3] = ["docker.io", "index.docker.io", "registry-1.docker.io"];
/// The server URL `docker login` stores Docker Hub's credentials under (an `auths` key, and what
/// credential helpers are asked for).
const DOCKER_HUB_SERVER: &str = "https://index.docker.io/v1/";

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

impl AuthEntry {
    /// Whether the entry has nothing in it (Docker Desktop writes `{}` beside `credsStore`):
    /// such an entry is treated as absent.
    fn is_empty(&self) -> bool {
        [
            &self.auth,
            &self.username,
            &self.password,
            &self.identitytoken,
        ]
        .into_iter()
        .all(|f| f.as_deref().is_none_or(|v| v.trim().is_empty()))
    }
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
        self.lookup_with(host, &run_helper)
    }

    /// [`lookup`](Self::lookup), with `ask(helper, server)` standing in for running
    /// `docker-credential-HELPER get` with `server` on stdin.
    fn lookup_with(
        &self,
        host: &str,
        ask: &AskHelper,
    ) -> Result<Option<Credentials>, RegistryError> {
        if let Some(c) = self.explicit.get(host) {
            return Ok(Some(c.clone()));
        }
        let Some(path) = &self.config_file else {
            return Ok(None);
        };
        let config = read_config(path)?;
        let names = stored_names(host);
        let ask_all = |helper: &str| -> Result<Option<Credentials>, RegistryError> {
            for server in helper_servers(host) {
                if let Some(c) = ask(helper, server)? {
                    return Ok(Some(c));
                }
            }
            Ok(None)
        };
        if let Some(helper) = names.iter().find_map(|n| config.cred_helpers.get(*n)) {
            return ask_all(helper);
        }
        // The entry under the most specific name: a key written exactly as one of the names
        // first, then by the name of its host. An empty entry (`{}`) is no entry.
        let rank = |key: &str| {
            (
                names.iter().position(|n| *n == key).unwrap_or(usize::MAX),
                names.iter().position(|n| *n == auth_key_host(key)),
            )
        };
        if let Some((_, entry)) = config
            .auths
            .iter()
            .filter(|(key, entry)| names.contains(&auth_key_host(key)) && !entry.is_empty())
            .min_by_key(|(key, _)| (rank(key), key.as_str()))
        {
            return entry_credentials(entry, host, path).map(Some);
        }
        match &config.creds_store {
            Some(store) => ask_all(store),
            None => Ok(None),
        }
    }
}

/// Asks credential helper `HELPER` (the first argument) about server `SERVER` (the second).
type AskHelper = dyn Fn(&str, &str) -> Result<Option<Credentials>, RegistryError>;

/// Whether `host` is Docker Hub.
fn is_docker_hub(host: &str) -> bool {
    DOCKER_HUB_HOSTS.contains(&host)
}

/// The names credentials for `host` may be stored under in a docker config, most specific
/// first: the host itself; for Docker Hub also `docker login`'s server URL and Hub's other
/// host names.
fn stored_names(host: &str) -> Vec<&str> {
    let mut names = vec![host];
    if is_docker_hub(host) {
        names.push(DOCKER_HUB_SERVER);
        names.extend(DOCKER_HUB_HOSTS.iter().copied().filter(|h| *h != host));
    }
    names
}

/// The server names a credential helper is asked about for `host`, in order: for Docker Hub,
/// `docker login`'s server URL (what helpers store Hub under) and then the host.
fn helper_servers(host: &str) -> Vec<&str> {
    if is_docker_hub(host) {
        vec![DOCKER_HUB_SERVER, host]
    } else {
        vec![host]
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
    if let Some(token) = entry.identitytoken.as_ref().filter(|t| !t.is_empty()) {
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

/// Runs `docker-credential-NAME get` with `server` on stdin (the docker credential helper
/// protocol). A helper that has nothing for the server answers with an error, which means no
/// credentials; a helper that fails for another reason is warned about (with the first line
/// of what it said), and also means no credentials.
fn run_helper(name: &str, server: &str) -> Result<Option<Credentials>, RegistryError> {
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
    match ask_helper(Command::new(&program), &program, server, HELPER_TIMEOUT)? {
        HelperOutcome::Found(c) => Ok(Some(c)),
        HelperOutcome::NotFound => {
            tracing::debug!(%program, %server, "credential helper has no credentials");
            Ok(None)
        }
        HelperOutcome::Failed(why) => {
            tracing::warn!(
                "{program} get for {server} failed ({why}); going on without credentials from it"
            );
            Ok(None)
        }
    }
}

/// What a credential helper answered.
#[derive(Debug)]
enum HelperOutcome {
    /// Credentials.
    Found(Credentials),
    /// It said "credentials not found".
    NotFound,
    /// It failed otherwise: the exit status and its first line of output, made printable.
    Failed(String),
}

/// One piece of a helper's output, from the thread reading it.
enum Piece {
    /// Stdout up to the cap (one byte more when there was more), or the read error.
    Stdout(std::io::Result<Vec<u8>>),
    /// The start of stderr.
    Stderr(Vec<u8>),
}

/// Runs `command get` (`program` names it in messages) with `server` on stdin. Its stdout is
/// read up to [`MAX_AUTH_RESPONSE`]; a helper that writes more, or that has not finished
/// within `timeout`, is killed and is an error. Its stderr is read to the end (so it never
/// blocks on it), and the start of it kept for the message of a failure.
fn ask_helper(
    mut command: Command,
    program: &str,
    server: &str,
    timeout: Duration,
) -> Result<HelperOutcome, RegistryError> {
    let fail = |reason: String| RegistryError::Credentials {
        reason: format!("{program} get: {reason}"),
    };
    let deadline = Instant::now() + timeout;
    let mut child = command
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail(format!("cannot run it: {e} (is it on PATH?)")))?;
    let (tx, rx) = mpsc::channel();
    if let Some(stdout) = child.stdout.take() {
        let tx = tx.clone();
        std::thread::spawn(move || {
            let mut out = Vec::new();
            let read = stdout
                .take(MAX_AUTH_RESPONSE + 1)
                .read_to_end(&mut out)
                .map(|_| out);
            let _ = tx.send(Piece::Stdout(read));
        });
    }
    if let Some(stderr) = child.stderr.take() {
        std::thread::spawn(move || {
            let mut err = Vec::new();
            let mut stderr = stderr;
            let _ = (&mut stderr).take(MAX_HELPER_STDERR).read_to_end(&mut err);
            let _ = tx.send(Piece::Stderr(err));
            let _ = std::io::copy(&mut stderr, &mut std::io::sink());
        });
    }
    if let Some(mut stdin) = child.stdin.take()
        && let Err(e) = stdin.write_all(server.as_bytes())
        // A helper may exit without reading what it was given.
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        kill(&mut child);
        return Err(fail(e.to_string()));
    }
    let timed_out = || {
        fail(format!(
            "did not finish within {} s; killed it",
            timeout.as_secs_f32()
        ))
    };
    let mut stderr = None;
    let out = loop {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(Piece::Stdout(out)) => break out,
            Ok(Piece::Stderr(e)) => stderr = Some(e),
            Err(_) => {
                kill(&mut child);
                return Err(timed_out());
            }
        }
    };
    let out = match out {
        Ok(out) if out.len() as u64 > MAX_AUTH_RESPONSE => {
            kill(&mut child);
            return Err(fail(format!(
                "wrote more than {MAX_AUTH_RESPONSE} bytes; killed it"
            )));
        }
        Ok(out) => out,
        Err(e) => {
            kill(&mut child);
            return Err(fail(e.to_string()));
        }
    };
    let Some(status) = wait_until(&mut child, deadline).map_err(|e| fail(e.to_string()))? else {
        kill(&mut child);
        return Err(timed_out());
    };
    if status.success() {
        let answer: HelperAnswer = serde_json::from_slice(&out).map_err(|e| {
            fail(format!(
                "answer is not {{\"Username\", \"Secret\"}} JSON: {e}"
            ))
        })?;
        return Ok(HelperOutcome::Found(Credentials {
            username: answer.username,
            password: answer.secret,
        }));
    }
    // The helper has exited: its stderr ends now, unless something it started keeps it open.
    let stderr = stderr.or_else(|| {
        let wait = deadline
            .saturating_duration_since(Instant::now())
            .min(Duration::from_secs(1));
        match rx.recv_timeout(wait) {
            Ok(Piece::Stderr(e)) => Some(e),
            _ => None,
        }
    });
    // The protocol's helpers print their error on stdout; others use stderr.
    let said = |bytes: &[u8]| first_line(&String::from_utf8_lossy(bytes));
    let stderr_line = stderr.as_deref().and_then(said);
    let stdout_line = said(&out);
    if [&stderr_line, &stdout_line]
        .into_iter()
        .flatten()
        .any(|l| l.to_ascii_lowercase().contains("credentials not found"))
    {
        return Ok(HelperOutcome::NotFound);
    }
    Ok(HelperOutcome::Failed(match stderr_line.or(stdout_line) {
        Some(line) => format!("{status}: {line}"),
        None => format!("{status}, with no message"),
    }))
}

/// Waits for `child` to exit until `deadline`; `None` when it has not.
fn wait_until(child: &mut Child, deadline: Instant) -> std::io::Result<Option<ExitStatus>> {
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(None);
        }
        std::thread::sleep(left.min(Duration::from_millis(10)));
    }
}

/// Kills `child` (if it is still running) and reaps it.
fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// The first line of `text` with something in it, made printable: control characters
/// removed, at most 200 characters.
fn first_line(text: &str) -> Option<String> {
    text.lines().map(super::sanitize).find(|l| !l.is_empty())
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
    /// What token requests go out on.
    token_http: TokenHttp,
    /// How many times a token request is retried after a transport failure, a 5xx or a 429.
    retries: u32,
    /// The first retry's delay; each further retry doubles it.
    backoff: Duration,
}

/// The HTTP client token requests use.
#[derive(Debug)]
enum TokenHttp {
    /// The client the caller passes (its redirect policy is the caller's).
    Shared,
    /// A client of their own, with [`token_redirect_policy`] and these extra CA files, made on
    /// the first token request.
    Own {
        ca_files: Vec<PathBuf>,
        client: Mutex<Option<reqwest::blocking::Client>>,
    },
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
    /// An authenticator whose token requests go out on the client passed to
    /// [`respond`](Self::respond) and [`prefetch`](Self::prefetch), retried as
    /// [`RegistryOptions::default`] says.
    pub(crate) fn new(host: &str, source: CredentialSource) -> Self {
        let defaults = RegistryOptions::default();
        Authenticator {
            host: host.to_owned(),
            source,
            state: Mutex::new(AuthState::default()),
            token_http: TokenHttp::Shared,
            retries: defaults.retries,
            backoff: defaults.backoff,
        }
    }

    /// An authenticator for `host` with `options`' credentials, retries and CA files, whose
    /// token requests go out on a client of their own that follows no redirect off the
    /// realm's origin nor to plain HTTP ([`token_redirect_policy`]): they carry the
    /// credentials, and a 307/308 would re-send a refresh token in the body.
    pub(crate) fn with_options(host: &str, options: &RegistryOptions) -> Self {
        Authenticator {
            token_http: TokenHttp::Own {
                ca_files: options.ca_files.clone(),
                client: Mutex::new(None),
            },
            retries: options.retries,
            backoff: options.backoff,
            ..Authenticator::new(host, options.credentials.clone())
        }
    }

    /// The client of the token requests' own, made on first use; `None` for the shared one.
    fn own_token_client(&self) -> Result<Option<reqwest::blocking::Client>, RegistryError> {
        let TokenHttp::Own { ca_files, client } = &self.token_http else {
            return Ok(None);
        };
        let mut client = client.lock().unwrap_or_else(|e| e.into_inner());
        if client.is_none() {
            *client = Some(token_client(ca_files)?);
        }
        Ok(client.clone())
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
        let url = reqwest::Url::parse(realm).map_err(|e| {
            unauthorized(format!(
                "token realm {:?} is not a URL: {e}",
                super::sanitize(realm)
            ))
        })?;
        // The parsed form: what the registry wrote, made safe to print.
        let shown = super::sanitize(url.as_str());
        if !matches!(url.scheme(), "http" | "https") {
            return Err(unauthorized(format!("token realm {shown} is not http(s)")));
        }
        let creds = self.credentials()?;
        if creds.is_some() && url.scheme() == "http" && !may_send(url.host_str().unwrap_or("")) {
            return Err(unauthorized(format!(
                "the token realm {shown} is plain HTTP on a non-loopback host; airlock will not send credentials there (name the host with --plain-http to allow it)"
            )));
        }
        let own = self.own_token_client()?;
        let http = own.as_ref().unwrap_or(http);
        let scope = scopes.key();
        let request = || match &creds {
            Some(c) if c.is_identity_token() => {
                let mut form: Vec<(&str, &str)> = vec![
                    ("grant_type", "refresh_token"),
                    ("refresh_token", &c.password),
                    ("client_id", "airlock"),
                ];
                if let Some(s) = service {
                    form.push(("service", s));
                }
                form.push(("scope", &scope));
                http.post(url.clone()).form(&form)
            }
            _ => {
                let mut query: Vec<(&str, &str)> = Vec::new();
                if let Some(s) = service {
                    query.push(("service", s));
                }
                for s in &scopes.0 {
                    query.push(("scope", s));
                }
                let mut r = http.get(url.clone()).query(&query);
                if let Some(c) = &creds {
                    r = r.header(reqwest::header::AUTHORIZATION, c.basic_header());
                }
                r
            }
        };
        // Transport failures, 5xx and 429 are retried with the registry requests' backoff.
        let mut attempt = 0u32;
        let (status, answered_from, location, body) = loop {
            let retry_after = match request().timeout(TOKEN_REQUEST_TIMEOUT).send() {
                Err(source) => {
                    if attempt >= self.retries
                        || source.is_builder()
                        || super::mentions_certificate(&source)
                    {
                        return Err(RegistryError::Transport {
                            what: format!("token request to {shown}"),
                            source,
                        });
                    }
                    tracing::warn!(realm = %shown, error = %source, attempt, "token request failed; retrying");
                    None
                }
                Ok(response) => {
                    let status = response.status();
                    let retryable =
                        status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS;
                    if retryable && attempt < self.retries {
                        tracing::warn!(realm = %shown, %status, attempt, "token request failed; retrying");
                        super::retry_after(response.headers())
                    } else {
                        let answered_from = response.url().clone();
                        let location = response
                            .headers()
                            .get(reqwest::header::LOCATION)
                            .and_then(|v| v.to_str().ok())
                            .map(|l| {
                                answered_from
                                    .join(l)
                                    .map_or_else(|_| l.to_owned(), String::from)
                            });
                        let mut body = Vec::new();
                        match response.take(MAX_AUTH_RESPONSE).read_to_end(&mut body) {
                            Ok(_) => break (status, answered_from, location, body),
                            Err(e) if attempt >= self.retries => {
                                return Err(unauthorized(format!(
                                    "token server {shown}: reading the answer: {e}"
                                )));
                            }
                            Err(e) => {
                                tracing::warn!(realm = %shown, error = %e, attempt, "token answer broke off; retrying");
                                None
                            }
                        }
                    }
                }
            };
            let delay =
                retry_after.unwrap_or_else(|| self.backoff.saturating_mul(1 << attempt.min(6)));
            std::thread::sleep(delay.min(Duration::from_secs(30)));
            attempt += 1;
        };
        if status.is_redirection()
            && let Some(target) = location
        {
            // Stopped by the redirect policy: the request would have carried the credentials
            // (a refresh token in the body of a 307/308) to another origin, or in cleartext.
            let why = reqwest::Url::parse(&target)
                .ok()
                .and_then(|t| redirect_refusal(&url, &t))
                .unwrap_or("not followed");
            return Err(unauthorized(format!(
                "the token server {shown} redirected the token request to {} ({why}); airlock does not follow a token request off the realm's origin or to plain HTTP",
                super::sanitize(&target)
            )));
        }
        if answered_from.origin() != url.origin() {
            // A client that followed the redirect anyway: do not take a token from there.
            return Err(unauthorized(format!(
                "the token server {shown} redirected the token request to {}; airlock does not take a token from another origin",
                super::sanitize(answered_from.as_str())
            )));
        }
        if !status.is_success() {
            let refused = format!(
                "the token server {shown} refused {} ({status})",
                scopes.key()
            );
            return Err(match status {
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => unauthorized(format!(
                    "{refused}{}",
                    if creds.is_none() {
                        "; no credentials are configured for this registry (--creds, --authfile)"
                    } else {
                        "; check the credentials"
                    }
                )),
                s if s.is_server_error() || s == StatusCode::TOO_MANY_REQUESTS => {
                    RegistryError::Status {
                        what: format!("token request to {shown} for {}", scopes.key()),
                        status: s.as_u16(),
                        message: format!(
                            ": the token server kept failing ({} attempts)",
                            attempt + 1
                        ),
                    }
                }
                _ => unauthorized(refused),
            });
        }
        let answer: TokenAnswer = serde_json::from_slice(&body).map_err(|e| {
            unauthorized(format!("token server {shown} answered malformed JSON: {e}"))
        })?;
        let token = answer
            .token
            .or(answer.access_token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| unauthorized(format!("token server {shown} answered no token")))?;
        if token.bytes().any(|b| !b.is_ascii_graphic()) {
            return Err(unauthorized(format!(
                "token server {shown} answered a token with characters a header cannot carry"
            )));
        }
        Ok((token, token_lifetime(answer.expires_in)))
    }
}

/// How long a token answered with `expires_in` is used: at least [`MIN_TOKEN_LIFETIME`] (so
/// a token is never born expired), at most [`MAX_TOKEN_LIFETIME`], renewed a little early.
fn token_lifetime(expires_in: Option<u64>) -> Duration {
    let given = expires_in.map_or(MIN_TOKEN_LIFETIME, Duration::from_secs);
    given
        .clamp(MIN_TOKEN_LIFETIME, MAX_TOKEN_LIFETIME)
        .saturating_sub(TOKEN_RENEW_EARLY)
}

/// Why a token request is not redirected from `first` (the realm) to `next`: it would leave
/// the realm's origin (scheme, host and port), or go from HTTPS to plain HTTP. `None` when it
/// may follow.
fn redirect_refusal(first: &reqwest::Url, next: &reqwest::Url) -> Option<&'static str> {
    if first.scheme() == "https" && next.scheme() != "https" {
        Some("from HTTPS to plain HTTP")
    } else if first.origin() != next.origin() {
        Some("to another origin")
    } else {
        None
    }
}

/// The redirect policy of token requests: follow at most [`MAX_TOKEN_REDIRECTS`] redirects,
/// all within the realm's origin; stop at one that leaves it or goes to plain HTTP (the 3xx is
/// then the answer, which the token request reports). Token requests carry the credentials:
/// `reqwest` drops `Authorization` only when the host or port changes, and re-sends a POST
/// body (the refresh token) on a 307/308.
pub(crate) fn token_redirect_policy() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let refused = attempt
            .previous()
            .first()
            .is_none_or(|first| redirect_refusal(first, attempt.url()).is_some());
        if refused {
            attempt.stop()
        } else if attempt.previous().len() > MAX_TOKEN_REDIRECTS {
            attempt.error(format!("more than {MAX_TOKEN_REDIRECTS} redirects"))
        } else {
            attempt.follow()
        }
    })
}

/// The client token requests go out on: [`token_redirect_policy`], the extra CA certificates
/// of `ca_files` beside the system's, the registry client's user agent and connect timeout.
pub(crate) fn token_client(
    ca_files: &[PathBuf],
) -> Result<reqwest::blocking::Client, RegistryError> {
    let builder = reqwest::blocking::Client::builder()
        .user_agent(super::USER_AGENT)
        .connect_timeout(Duration::from_secs(30))
        .timeout(TOKEN_REQUEST_TIMEOUT)
        .redirect(token_redirect_policy());
    super::with_ca_files(builder, ca_files)?
        .build()
        .map_err(|source| RegistryError::Transport {
            what: "building the token request client".into(),
            source,
        })
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

#[cfg(test)]
mod token_and_helper_tests {
    //! Token requests against a loopback server (redirects, retries, lifetimes, what an error
    //! blames) and credential lookup (empty `auths` entries, Docker Hub's names, helpers that
    //! fail, flood or hang).

    use super::*;
    use std::io::BufRead;
    use std::net::TcpListener;
    use std::sync::Arc;

    /// A loopback HTTP server: the `n`th request (from 0) is answered with `answer(n, request)`,
    /// or the connection is closed without an answer when that is `None`. Every request (head
    /// and body) is recorded.
    struct FakeServer {
        port: u16,
        seen: Arc<Mutex<Vec<String>>>,
    }

    impl FakeServer {
        fn start(answer: impl Fn(usize, &str) -> Option<String> + Send + 'static) -> FakeServer {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let port = listener.local_addr().unwrap().port();
            let seen = Arc::new(Mutex::new(Vec::new()));
            let log = seen.clone();
            std::thread::spawn(move || {
                for (n, conn) in listener.incoming().enumerate() {
                    let Ok(mut conn) = conn else { continue };
                    let mut reader = std::io::BufReader::new(conn.try_clone().unwrap());
                    let mut request = String::new();
                    let mut length = 0usize;
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                            break;
                        }
                        if let Some((name, value)) = line.split_once(':')
                            && name.eq_ignore_ascii_case("content-length")
                        {
                            length = value.trim().parse().unwrap_or(0);
                        }
                        request.push_str(&line);
                    }
                    let mut body = vec![0; length];
                    let _ = reader.read_exact(&mut body);
                    request.push_str(&String::from_utf8_lossy(&body));
                    log.lock().unwrap().push(request.clone());
                    if let Some(a) = answer(n, &request) {
                        let _ = conn.write_all(a.as_bytes());
                    }
                }
            });
            FakeServer { port, seen }
        }

        fn url(&self, path: &str) -> String {
            format!("http://127.0.0.1:{}{path}", self.port)
        }

        fn seen(&self) -> Vec<String> {
            self.seen.lock().unwrap().clone()
        }
    }

    fn answer(status: &str, headers: &[(&str, &str)], body: &str) -> String {
        let mut a = format!("HTTP/1.1 {status}\r\nConnection: close\r\n");
        for (n, v) in headers {
            a.push_str(&format!("{n}: {v}\r\n"));
        }
        a.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
        a
    }

    fn token(body: &str) -> String {
        answer("200 OK", &[("Content-Type", "application/json")], body)
    }

    /// An authenticator for `reg.example` with the given credentials, its own token client
    /// and fast retries.
    fn authenticator(creds: Option<(&str, &str)>, retries: u32) -> Authenticator {
        let explicit = creds
            .map(|(u, p)| {
                HashMap::from([(
                    "reg.example".to_owned(),
                    Credentials {
                        username: u.into(),
                        password: p.into(),
                    },
                )])
            })
            .unwrap_or_default();
        Authenticator::with_options(
            "reg.example",
            &RegistryOptions {
                credentials: CredentialSource {
                    explicit,
                    config_file: None,
                },
                retries,
                backoff: Duration::from_millis(1),
                ..RegistryOptions::default()
            },
        )
    }

    /// Answers a Bearer challenge naming `realm`, as the registry client does.
    fn challenge(auth: &Authenticator, realm: &str) -> Result<(), RegistryError> {
        let shared = reqwest::blocking::Client::new();
        auth.respond(
            Some(&format!("Bearer realm=\"{realm}\",service=\"svc\"")),
            &Scopes::pull("a/b"),
            None,
            &shared,
            &|_| true,
        )
    }

    #[test]
    fn token_requests_do_not_follow_redirects_off_the_realm() {
        let elsewhere = FakeServer::start(|_, _| Some(token(r#"{"token":"stolen"}"#)));
        let target = elsewhere.url("/token");
        // The refresh-token POST: a 307 would re-send the body, refresh token and all.
        let realm = {
            let target = target.clone();
            FakeServer::start(move |_, _| {
                Some(answer(
                    "307 Temporary Redirect",
                    &[("Location", &target)],
                    "",
                ))
            })
        };
        let auth = authenticator(Some(("<token>", "REFRESH-SECRET")), 0);
        let e = challenge(&auth, &realm.url("/token"))
            .unwrap_err()
            .to_string();
        assert!(e.contains(&realm.url("/token")), "names the realm: {e}");
        assert!(e.contains(&target), "names the target: {e}");
        assert!(e.contains("another origin"), "{e}");
        assert!(realm.seen()[0].contains("REFRESH-SECRET"));
        assert!(
            elsewhere.seen().is_empty(),
            "the redirect target got nothing: {:?}",
            elsewhere.seen()
        );

        // The GET with Basic credentials, redirected to another origin: refused too.
        let realm = {
            let target = target.clone();
            FakeServer::start(move |_, _| Some(answer("302 Found", &[("Location", &target)], "")))
        };
        let auth = authenticator(Some(("user", "pass")), 0);
        let e = challenge(&auth, &realm.url("/token"))
            .unwrap_err()
            .to_string();
        assert!(e.contains(&target), "{e}");
        assert!(elsewhere.seen().is_empty());

        // Within the realm's origin, redirects are followed.
        let realm = FakeServer::start(|_, request| {
            Some(if request.starts_with("GET /token?") {
                answer("302 Found", &[("Location", "/token2")], "")
            } else {
                token(r#"{"token":"fine"}"#)
            })
        });
        let auth = authenticator(Some(("user", "pass")), 0);
        challenge(&auth, &realm.url("/token")).unwrap();
        assert_eq!(
            auth.header(&Scopes::pull("a/b")).as_deref(),
            Some("Bearer fine")
        );
        assert_eq!(realm.seen().len(), 2);
    }

    #[test]
    fn token_redirects_keep_the_origin_and_the_scheme() {
        let url = |s: &str| reqwest::Url::parse(s).unwrap();
        let refusal = |a: &str, b: &str| redirect_refusal(&url(a), &url(b));
        assert_eq!(
            refusal("https://auth.example/token", "https://auth.example/t2"),
            None
        );
        assert_eq!(
            refusal(
                "https://auth.example:443/token",
                "https://auth.example/t?x=1"
            ),
            None
        );
        assert_eq!(
            refusal(
                "https://auth.example:8443/token",
                "http://auth.example:8443/token"
            ),
            Some("from HTTPS to plain HTTP")
        );
        assert_eq!(
            refusal("https://auth.example/token", "http://auth.example/token"),
            Some("from HTTPS to plain HTTP")
        );
        for other in [
            "https://evil.example/token",
            "https://auth.example:8443/token",
            "https://sub.auth.example/token",
        ] {
            assert_eq!(
                refusal("https://auth.example/token", other),
                Some("to another origin"),
                "{other}"
            );
        }
        assert_eq!(
            refusal("http://127.0.0.1:5001/token", "http://127.0.0.1:5002/token"),
            Some("to another origin")
        );
    }

    #[test]
    fn token_server_failures_are_retried() {
        // Dropped without an answer, then 503, then 429, then a token.
        let realm = FakeServer::start(|n, _| match n {
            0 => None,
            1 => Some(answer("503 Service Unavailable", &[], "")),
            2 => Some(answer("429 Too Many Requests", &[("Retry-After", "0")], "")),
            _ => Some(token(r#"{"token":"late"}"#)),
        });
        let auth = authenticator(Some(("user", "pass")), 4);
        challenge(&auth, &realm.url("/token")).unwrap();
        assert_eq!(
            auth.header(&Scopes::pull("a/b")).as_deref(),
            Some("Bearer late")
        );
        assert_eq!(realm.seen().len(), 4);

        // A server that keeps failing: bounded, and the credentials are not blamed.
        let realm = FakeServer::start(|_, _| Some(answer("503 Service Unavailable", &[], "")));
        let auth = authenticator(Some(("user", "pass")), 2);
        let e = challenge(&auth, &realm.url("/token")).unwrap_err();
        assert!(
            matches!(e, RegistryError::Status { status: 503, .. }),
            "{e:?}"
        );
        let e = e.to_string();
        assert!(!e.contains("credentials"), "{e}");
        assert!(e.contains(&realm.url("/token")), "{e}");
        assert_eq!(realm.seen().len(), 3, "one try and two retries");
    }

    #[test]
    fn only_401_and_403_from_the_token_server_blame_the_credentials() {
        for (status, blamed) in [
            ("401 Unauthorized", true),
            ("403 Forbidden", true),
            ("400 Bad Request", false),
            ("404 Not Found", false),
        ] {
            let realm = FakeServer::start(move |_, _| Some(answer(status, &[], "")));
            let auth = authenticator(Some(("user", "pass")), 3);
            let e = challenge(&auth, &realm.url("/token")).unwrap_err();
            assert!(matches!(e, RegistryError::Unauthorized { .. }), "{e:?}");
            let e = e.to_string();
            assert_eq!(e.contains("check the credentials"), blamed, "{status}: {e}");
            assert_eq!(realm.seen().len(), 1, "{status} is not retried");
        }
    }

    #[test]
    fn a_token_is_never_born_expired() {
        for short in [0, 1, 5, 6, 59] {
            assert_eq!(
                token_lifetime(Some(short)),
                Duration::from_secs(55),
                "{short}"
            );
        }
        assert_eq!(token_lifetime(None), Duration::from_secs(55));
        assert_eq!(token_lifetime(Some(300)), Duration::from_secs(295));
        assert_eq!(token_lifetime(Some(u64::MAX)), Duration::from_secs(86_395));

        // End to end: a server saying `expires_in: 1` gives a token that is used.
        let realm = FakeServer::start(|_, _| Some(token(r#"{"token":"brief","expires_in":1}"#)));
        let auth = authenticator(None, 0);
        challenge(&auth, &realm.url("/token")).unwrap();
        assert_eq!(
            auth.header(&Scopes::pull("a/b")).as_deref(),
            Some("Bearer brief")
        );
    }

    fn config(dir: &tempfile::TempDir, json: &str) -> CredentialSource {
        let path = dir.path().join("config.json");
        std::fs::write(&path, json).unwrap();
        CredentialSource {
            explicit: HashMap::new(),
            config_file: Some(path),
        }
    }

    /// The (helper, server) questions a stand-in helper was asked.
    type Asked = Arc<Mutex<Vec<(String, String)>>>;

    /// A stand-in for credential helpers: answers for the (helper, server) pairs in `known`,
    /// and records every question.
    fn helpers(
        known: &'static [(&'static str, &'static str)],
    ) -> (
        Asked,
        impl Fn(&str, &str) -> Result<Option<Credentials>, RegistryError>,
    ) {
        let asked = Arc::new(Mutex::new(Vec::new()));
        let log = asked.clone();
        let ask = move |helper: &str, server: &str| {
            log.lock()
                .unwrap()
                .push((helper.to_owned(), server.to_owned()));
            Ok(known.contains(&(helper, server)).then(|| Credentials {
                username: format!("{helper}-user"),
                password: "pw".into(),
            }))
        };
        (asked, ask)
    }

    fn asked(log: &Mutex<Vec<(String, String)>>) -> Vec<(String, String)> {
        std::mem::take(&mut *log.lock().unwrap())
    }

    fn pair(helper: &str, server: &str) -> (String, String) {
        (helper.to_owned(), server.to_owned())
    }

    #[test]
    fn an_empty_auths_entry_is_no_entry() {
        let dir = tempfile::tempdir().unwrap();
        // What Docker Desktop writes.
        let source = config(
            &dir,
            r#"{"auths": {"ghcr.io": {}, "https://quay.io": {"auth": "", "email": ""}},
                "credsStore": "desktop"}"#,
        );
        let (log, ask) = helpers(&[("desktop", "ghcr.io"), ("desktop", "quay.io")]);
        let c = source.lookup_with("ghcr.io", &ask).unwrap().unwrap();
        assert_eq!(c.username, "desktop-user");
        assert_eq!(asked(&log), [pair("desktop", "ghcr.io")]);
        let c = source.lookup_with("quay.io", &ask).unwrap().unwrap();
        assert_eq!(c.username, "desktop-user");

        // Without a store: no credentials, not an error.
        let source = config(&dir, r#"{"auths": {"ghcr.io": {}}}"#);
        assert_eq!(source.lookup_with("ghcr.io", &ask).unwrap(), None);

        // An empty entry beside a full one for the same host does not hide it.
        let source = config(
            &dir,
            &format!(
                r#"{{"auths": {{"reg.example": {{}}, "https://reg.example/v1/": {{"auth": "{}"}}}}}}"#,
                STANDARD.encode("bob:secret")
            ),
        );
        let c = source.lookup_with("reg.example", &ask).unwrap().unwrap();
        assert_eq!(
            (c.username.as_str(), c.password.as_str()),
            ("bob", "secret")
        );

        // An entry with something in it that is not usable is still reported.
        let source = config(&dir, r#"{"auths": {"reg.example": {"username": "u"}}}"#);
        let e = source
            .lookup_with("reg.example", &ask)
            .unwrap_err()
            .to_string();
        assert!(e.contains("has no auth"), "{e}");
    }

    #[test]
    fn docker_hub_is_found_under_the_names_docker_login_uses() {
        let dir = tempfile::tempdir().unwrap();
        let (log, ask) = helpers(&[("store", "https://index.docker.io/v1/")]);
        // `docker login` writes this key.
        let source = config(
            &dir,
            &format!(
                r#"{{"auths": {{"https://index.docker.io/v1/": {{"auth": "{}"}}}}}}"#,
                STANDARD.encode("hubuser:hubpass")
            ),
        );
        for host in ["docker.io", "index.docker.io", "registry-1.docker.io"] {
            let c = source.lookup_with(host, &ask).unwrap().unwrap();
            assert_eq!(c.username, "hubuser", "{host}");
        }
        assert_eq!(source.lookup_with("other.example", &ask).unwrap(), None);

        // A credential store is asked for docker login's server URL first.
        let source = config(&dir, r#"{"credsStore": "store"}"#);
        let c = source.lookup_with("docker.io", &ask).unwrap().unwrap();
        assert_eq!(c.username, "store-user");
        assert_eq!(asked(&log), [pair("store", "https://index.docker.io/v1/")]);
        // ... and then for the host, when it has nothing under the URL.
        let source = config(&dir, r#"{"credsStore": "empty"}"#);
        assert_eq!(source.lookup_with("docker.io", &ask).unwrap(), None);
        assert_eq!(
            asked(&log),
            [
                pair("empty", "https://index.docker.io/v1/"),
                pair("empty", "docker.io")
            ]
        );
        // Other hosts are asked about once, by their name.
        assert_eq!(source.lookup_with("reg.example", &ask).unwrap(), None);
        assert_eq!(asked(&log), [pair("empty", "reg.example")]);

        // credHelpers under docker login's server URL applies to docker.io.
        let source = config(
            &dir,
            r#"{"credHelpers": {"https://index.docker.io/v1/": "store"}, "credsStore": "empty"}"#,
        );
        let c = source.lookup_with("docker.io", &ask).unwrap().unwrap();
        assert_eq!(c.username, "store-user");
        assert_eq!(asked(&log), [pair("store", "https://index.docker.io/v1/")]);
    }

    /// Runs `sh -c SCRIPT` as a credential helper (`$1` is `get`) for `server`, failing the
    /// test when it does not return within 20 s.
    fn helper(script: &str, server: &str, timeout: Duration) -> Result<HelperOutcome, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("helper.sh");
        std::fs::write(&path, script).unwrap();
        let (tx, rx) = mpsc::channel();
        let server = server.to_owned();
        std::thread::spawn(move || {
            let mut command = Command::new("sh");
            command.arg(&path);
            let r = ask_helper(command, "docker-credential-test", &server, timeout);
            let _ = tx.send(r.map_err(|e| e.to_string()));
            drop(dir);
        });
        rx.recv_timeout(Duration::from_secs(20))
            .expect("the helper call returned")
    }

    #[test]
    fn credential_helpers_answer_or_say_why_not() {
        let long = Duration::from_secs(20);
        let found = helper(
            "read s\nprintf '{\"Username\":\"u\",\"Secret\":\"%s\"}' \"$s\"\n",
            "reg.example",
            long,
        )
        .unwrap();
        assert!(
            matches!(&found, HelperOutcome::Found(c) if c.username == "u" && c.password == "reg.example"),
            "{found:?}"
        );
        // The protocol's "not found", on stdout.
        let none = helper(
            "echo 'credentials not found in native keychain'\nexit 1\n",
            "reg.example",
            long,
        )
        .unwrap();
        assert!(matches!(none, HelperOutcome::NotFound), "{none:?}");
        // Another failure: its first stderr line, without control characters.
        let failed = helper(
            "printf 'keychain \\033[31mis locked\\r\\nsecond line\\n' >&2\nexit 3\n",
            "reg.example",
            long,
        )
        .unwrap();
        let HelperOutcome::Failed(why) = failed else {
            panic!("{failed:?}")
        };
        assert!(why.contains("keychain [31mis locked"), "{why:?}");
        assert!(why.contains('3'), "the exit status: {why:?}");
        assert!(!why.contains("second line"), "{why:?}");
        assert!(!why.chars().any(char::is_control), "{why:?}");
        // At most 200 characters of it.
        let failed = helper(
            "head -c 5000 /dev/zero | tr '\\0' x >&2\nexit 1\n",
            "reg.example",
            long,
        )
        .unwrap();
        let HelperOutcome::Failed(why) = failed else {
            panic!("{failed:?}")
        };
        assert!(why.contains(&"x".repeat(200)), "{why:?}");
        assert!(!why.contains(&"x".repeat(201)), "{why:?}");
        // A helper that exits before reading its stdin is a failure, not an error.
        let failed = helper("exit 1\n", "reg.example", long).unwrap();
        assert!(matches!(failed, HelperOutcome::Failed(_)), "{failed:?}");
    }

    #[test]
    fn a_credential_helper_that_writes_too_much_or_hangs_is_killed() {
        let start = Instant::now();
        let e = helper(
            "exec yes xxxxxxxxxxxxxxxx\n",
            "reg.example",
            Duration::from_secs(20),
        )
        .unwrap_err();
        assert!(e.contains("more than 1048576 bytes"), "{e}");
        // stderr is drained: a helper that writes much there still answers.
        let found = helper(
            "head -c 3000000 /dev/zero >&2\nprintf '{\"Username\":\"u\",\"Secret\":\"s\"}'\n",
            "reg.example",
            Duration::from_secs(20),
        )
        .unwrap();
        assert!(matches!(found, HelperOutcome::Found(_)), "{found:?}");
        let e = helper("exec sleep 30\n", "reg.example", Duration::from_millis(300)).unwrap_err();
        assert!(e.contains("did not finish within 0.3 s; killed it"), "{e}");
        assert!(start.elapsed() < Duration::from_secs(15));
    }
}
