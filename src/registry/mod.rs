//! A client for the OCI distribution API: manifests and blobs pulled and pushed by streaming,
//! HEAD before upload, cross-repository mounts, retries with backoff, referrers through the
//! API or the tag fallback (kept up to date on push), and the authentication challenge flow.
//!
//! It is a thin layer over `reqwest`'s blocking client rather than `oci-client`; the reasons
//! are in `docs/registry.md`. Every answer is hostile: manifests are read up to
//! `max_manifest_bytes` and checked against their digest, blobs are hashed while they stream
//! and fail at their end unless digest and size match, and error bodies, token answers and
//! referrer lists are capped.

pub mod auth;
mod direct;

use std::collections::HashMap;
use std::io::Read;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use oci_spec::image::Descriptor;
use reqwest::StatusCode;
use reqwest::blocking::{Body, RequestBuilder, Response};
use reqwest::header::{self, HeaderMap, HeaderValue};

use crate::digest::{Algorithm, Digest, Expected, Hasher, HashingReader};
use crate::graph::{BlobStore, EdgeKind, GraphSource, check_size, parse_manifest};
use crate::layout::{LayoutError, descriptor, sniff_media_type};
use crate::limits::Limits;
use crate::media::{self, Kind};
use crate::reference::RegistryReference;

use auth::{Authenticator, Scopes};
pub use auth::{CredentialSource, Credentials};

/// The largest error body read from a registry, for its message.
const MAX_ERROR_BODY: u64 = 64 << 10;
/// How many times a referrer is appended to a fallback index that other writers replace.
const FALLBACK_ATTEMPTS: u32 = 5;

/// How long to wait before reading a fallback index back a second time: 100 to 400 ms, longer
/// on later attempts, varied so writers that collided do not collide again.
fn settle_delay(attempt: u32) -> Duration {
    let mut jitter = [0u8; 2];
    let _ = getrandom::fill(&mut jitter);
    let jitter = u64::from(u16::from_le_bytes(jitter) % 200);
    Duration::from_millis(100 + 100 * u64::from(attempt.min(2)) + jitter)
}
/// The most pages of a referrers API answer followed.
const MAX_REFERRER_PAGES: usize = 64;
/// The time a request that moves no blob (a manifest, a HEAD, an upload start, a referrers
/// list) may take, body included. Blob transfers have none (they may take hours); a dead peer
/// is found by TCP keepalive.
const SMALL_REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
/// How long the HTTPS probe of a loopback registry may take before plain HTTP is assumed.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);
/// Redirects followed for one request, at most.
const MAX_REDIRECTS: usize = 5;
/// What a manifest request accepts.
const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, \
     application/vnd.oci.image.index.v1+json, \
     application/vnd.docker.distribution.manifest.v2+json, \
     application/vnd.docker.distribution.manifest.list.v2+json";

/// What went wrong talking to a registry.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// The connection failed, or kept failing after every retry.
    #[error("{what}: {}", chain(.source))]
    Transport {
        /// The request.
        what: String,
        /// The transport error, with its causes.
        #[source]
        source: reqwest::Error,
    },
    /// The registry answered with an error status.
    #[error("{what}: the registry answered {status}{message}")]
    Status {
        /// The request.
        what: String,
        /// The HTTP status.
        status: u16,
        /// The registry's error codes and messages, if any (with a leading `: `).
        message: String,
    },
    /// Authentication failed or is impossible.
    #[error("{host}: not authorised: {reason}")]
    Unauthorized {
        /// The registry host.
        host: String,
        /// Why.
        reason: String,
    },
    /// The registry broke the protocol: a missing header, a malformed answer.
    #[error("{what}: {reason}")]
    Protocol {
        /// The request.
        what: String,
        /// What was wrong.
        reason: String,
    },
    /// Credentials could not be read.
    #[error("credentials: {reason}")]
    Credentials {
        /// Why.
        reason: String,
    },
    /// A CA file could not be used.
    #[error("CA file {path}: {reason}")]
    CaFile {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// An error and its causes, `outer: inner: innermost` (reqwest's own message names only the
/// URL; the cause, such as an untrusted certificate, is further down).
fn chain(e: &reqwest::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

impl RegistryError {
    /// Whether the registry said the thing asked for does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, RegistryError::Status { status: 404, .. })
    }
}

impl From<RegistryError> for LayoutError {
    fn from(e: RegistryError) -> Self {
        LayoutError::Registry(Box::new(e))
    }
}

/// How to reach registries.
#[derive(Clone, Debug)]
pub struct RegistryOptions {
    /// Where credentials come from.
    pub credentials: CredentialSource,
    /// Hosts (`host[:port]`) spoken to over plain HTTP. Loopback hosts are tried over HTTPS
    /// first and fall back to plain HTTP, as docker does.
    pub plain_http: Vec<String>,
    /// Extra CA certificates (PEM) trusted for TLS, beside the system's.
    pub ca_files: Vec<PathBuf>,
    /// How many times a request is retried after a dropped connection, a 5xx or a 429.
    pub retries: u32,
    /// The first retry's delay; each further retry doubles it.
    pub backoff: Duration,
    /// How many blobs move at once.
    pub jobs: usize,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        RegistryOptions {
            credentials: CredentialSource::default(),
            plain_http: Vec::new(),
            ca_files: Vec::new(),
            retries: 4,
            backoff: Duration::from_millis(250),
            jobs: 4,
        }
    }
}

/// Sent with every request.
const USER_AGENT: &str = concat!("airlock/", env!("CARGO_PKG_VERSION"));

/// Clients for every registry host one command talks to, sharing one connection pool.
#[derive(Debug)]
pub struct Registries {
    options: RegistryOptions,
    http: reqwest::blocking::Client,
    clients: Mutex<HashMap<String, Arc<Client>>>,
    limits: Limits,
}

impl Registries {
    /// Builds the HTTP client (with the extra CAs) once.
    pub fn new(options: RegistryOptions, limits: Limits) -> Result<Self, RegistryError> {
        let builder = reqwest::blocking::Client::builder()
            .user_agent(USER_AGENT)
            .connect_timeout(Duration::from_secs(30))
            // A blob may take long: no total timeout (docs/registry.md, "Timeouts").
            .timeout(None::<Duration>)
            .tcp_keepalive(Duration::from_secs(30))
            .pool_max_idle_per_host(options.jobs.max(1) * 2)
            .redirect(reqwest::redirect::Policy::custom(follow_redirect));
        let http = with_ca_files(builder, &options.ca_files)?
            .build()
            .map_err(|source| RegistryError::Transport {
                what: "building the HTTP client".into(),
                source,
            })?;
        Ok(Registries {
            options,
            http,
            clients: Mutex::new(HashMap::new()),
            limits,
        })
    }

    /// The options in use.
    pub fn options(&self) -> &RegistryOptions {
        &self.options
    }

    /// The client for `host`, made on first use.
    pub fn client(&self, host: &str) -> Arc<Client> {
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        clients
            .entry(host.to_owned())
            .or_insert_with(|| {
                Arc::new(Client {
                    host: host.to_owned(),
                    api_host: api_host(host).to_owned(),
                    base: OnceLock::new(),
                    http: self.http.clone(),
                    auth: Authenticator::with_options(host, &self.options),
                    plain: self.options.plain_http.iter().any(|h| h == host),
                    plain_allowed: self.options.plain_http.clone(),
                    retries: self.options.retries,
                    backoff: self.options.backoff,
                    referrers_api: Mutex::new(HashMap::new()),
                })
            })
            .clone()
    }

    /// A repository handle.
    pub fn repository(&self, host: &str, name: &str) -> Repository {
        Repository {
            client: self.client(host),
            name: name.to_owned(),
            limits: self.limits.clone(),
            jobs: self.options.jobs.max(1),
            pending: Arc::default(),
        }
    }

    /// The repository a reference names.
    pub fn repository_of(&self, r: &RegistryReference) -> Repository {
        self.repository(r.registry(), r.repository())
    }
}

/// `builder` trusting the CA certificates in every PEM file of `ca_files`, beside the system's.
pub(crate) fn with_ca_files(
    mut builder: reqwest::blocking::ClientBuilder,
    ca_files: &[PathBuf],
) -> Result<reqwest::blocking::ClientBuilder, RegistryError> {
    for path in ca_files {
        let bad = |reason: String| RegistryError::CaFile {
            path: path.clone(),
            reason,
        };
        let pem = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| bad(format!("not PEM certificates: {e}")))?;
        if certs.is_empty() {
            return Err(bad("holds no PEM certificate".into()));
        }
        for c in certs {
            builder = builder.add_root_certificate(c);
        }
    }
    Ok(builder)
}

/// Docker Hub's API lives on another host than its name.
fn api_host(host: &str) -> &str {
    if host == crate::reference::DEFAULT_REGISTRY {
        "registry-1.docker.io"
    } else {
        host
    }
}

/// The name or address of `host` (`name[:port]`, `[v6]:port` or `[v6]`), without brackets.
fn host_name(host: &str) -> &str {
    if let Some(inner) = host.strip_prefix('[') {
        inner.split(']').next().unwrap_or(inner)
    } else if host.matches(':').count() > 1 {
        // A bare IPv6 address (as a URL's host_str gives one without brackets): no port.
        host
    } else {
        host.rsplit_once(':').map_or(host, |(h, p)| {
            if p.bytes().all(|b| b.is_ascii_digit()) {
                h
            } else {
                host
            }
        })
    }
}

/// Whether `host` (`name[:port]` or `[v6]:port`) is a loopback address.
pub fn is_loopback(host: &str) -> bool {
    let name = host_name(host);
    name.eq_ignore_ascii_case("localhost")
        || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// One registry host: its scheme, its authentication state and what it supports.
#[derive(Debug)]
pub struct Client {
    host: String,
    api_host: String,
    base: OnceLock<String>,
    http: reqwest::blocking::Client,
    auth: Authenticator,
    plain: bool,
    plain_allowed: Vec<String>,
    retries: u32,
    backoff: Duration,
    /// Per repository: whether the referrers API answered.
    referrers_api: Mutex<HashMap<String, bool>>,
}

impl Client {
    /// The host as named in references.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// `https://host` or `http://host`: plain for `--plain-http` hosts; for loopback hosts,
    /// HTTPS when `/v2/` answers over TLS, else plain HTTP (docker's rule for local registries).
    fn base(&self) -> &str {
        self.base.get_or_init(|| {
            if self.plain {
                return format!("http://{}", self.api_host);
            }
            let https = format!("https://{}", self.api_host);
            if is_loopback(&self.host) {
                match self.http.get(format!("{https}/v2/")).timeout(PROBE_TIMEOUT).send() {
                    Ok(_) => https,
                    // It speaks TLS, with a certificate we do not trust: stay on HTTPS so the
                    // real error (and its hint about --ca-file) is what the user sees.
                    Err(e) if mentions_certificate(&e) => https,
                    Err(e) => {
                        tracing::debug!(host = %self.host, error = %e, "no TLS on a loopback registry; using plain HTTP");
                        format!("http://{}", self.api_host)
                    }
                }
            } else {
                https
            }
        })
    }

    /// Whether credentials may go to `host` (a token realm's host, as a URL gives it) over
    /// plain HTTP: a loopback host, or one named with `--plain-http` (its port aside).
    fn may_send_plain(&self, host: &str) -> bool {
        let host = host_name(host);
        is_loopback(host)
            || self
                .plain_allowed
                .iter()
                .any(|h| host_name(h).eq_ignore_ascii_case(host))
    }

    /// Sends a request built by `make` (called again for each attempt), answering auth
    /// challenges once and retrying transport failures, 5xx and 429 with backoff. Other
    /// statuses are returned for the caller to judge.
    fn execute(
        &self,
        what: &dyn Fn() -> String,
        scopes: &Scopes,
        make: &dyn Fn(&reqwest::blocking::Client, &str) -> Result<RequestBuilder, RegistryError>,
    ) -> Result<Response, RegistryError> {
        let mut attempt = 0u32;
        let mut answered_challenge = false;
        let may_send = |h: &str| self.may_send_plain(h);
        self.auth.prefetch(scopes, &self.http, &may_send)?;
        loop {
            let base = self.base();
            let mut request =
                make(&self.http, base)?
                    .build()
                    .map_err(|source| RegistryError::Transport {
                        what: what(),
                        source,
                    })?;
            refuse_downgrade(request.url(), base, what)?;
            // Credentials go to the registry's own origin only: a `Link` the registry sent may
            // name another.
            let sent = if same_origin(request.url(), base) {
                self.auth.header(scopes)
            } else {
                None
            };
            if let Some(h) = &sent {
                request
                    .headers_mut()
                    .insert(header::AUTHORIZATION, authorization_value(h)?);
            }
            let retry = match self.http.execute(request) {
                Err(source) => {
                    // An untrusted certificate will not become trusted by asking again.
                    if attempt >= self.retries
                        || source.is_builder()
                        || mentions_certificate(&source)
                    {
                        return Err(RegistryError::Transport {
                            what: what(),
                            source,
                        });
                    }
                    tracing::warn!(request = %what(), error = %source, attempt, "retrying");
                    None
                }
                Ok(response) => {
                    let status = response.status();
                    if status == StatusCode::UNAUTHORIZED && !same_origin(response.url(), base) {
                        // A redirect target's challenge: answering it would send this
                        // registry's credentials to that target's token server.
                        return Err(RegistryError::Unauthorized {
                            host: self.host.clone(),
                            reason: format!(
                                "{} was redirected to {}, which asks for credentials; airlock \
                                 sends the credentials of {} only to {base}",
                                what(),
                                sanitize(&origin_of(response.url())),
                                self.host,
                            ),
                        });
                    }
                    if status == StatusCode::UNAUTHORIZED {
                        if answered_challenge {
                            return Err(RegistryError::Unauthorized {
                                host: self.host.clone(),
                                reason: format!(
                                    "{} was refused with the credentials or token obtained ({})",
                                    what(),
                                    error_message(response)
                                ),
                            });
                        }
                        answered_challenge = true;
                        let challenge = response
                            .headers()
                            .get(header::WWW_AUTHENTICATE)
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_owned);
                        self.auth.respond(
                            challenge.as_deref(),
                            scopes,
                            sent.as_deref(),
                            &self.http,
                            &may_send,
                        )?;
                        continue;
                    }
                    let retryable =
                        status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS;
                    if !retryable {
                        return Ok(response);
                    }
                    if attempt >= self.retries {
                        return Err(status_error(what(), response));
                    }
                    tracing::warn!(request = %what(), %status, attempt, "retrying");
                    retry_after(response.headers())
                }
            };
            let delay = retry.unwrap_or_else(|| self.backoff.saturating_mul(1 << attempt.min(6)));
            std::thread::sleep(delay.min(Duration::from_secs(30)));
            attempt += 1;
        }
    }
}

/// Whether a TLS failure was about the server's certificate (so the server does speak TLS).
fn mentions_certificate(e: &reqwest::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if s.to_string().to_ascii_lowercase().contains("certificate") {
            return true;
        }
        source = s.source();
    }
    false
}

/// Follows at most [`MAX_REDIRECTS`] redirects, and never from HTTPS to plain HTTP: content and
/// credentials would then travel unencrypted (`reqwest` keeps `Authorization` on a redirect
/// within one host and port).
fn follow_redirect(attempt: reqwest::redirect::Attempt<'_>) -> reqwest::redirect::Action {
    if attempt.previous().len() > MAX_REDIRECTS {
        return attempt.error(format!("more than {MAX_REDIRECTS} redirects"));
    }
    if attempt.url().scheme() == "http" && attempt.previous().iter().any(|u| u.scheme() == "https")
    {
        let to = origin_of(attempt.url());
        return attempt.error(format!(
            "a redirect from HTTPS to plain HTTP ({to}) is refused"
        ));
    }
    attempt.follow()
}

/// `scheme://host[:port]` of `url`.
fn origin_of(url: &reqwest::Url) -> String {
    url.origin().ascii_serialization()
}

/// Whether `url` is on the registry's own origin (the scheme, host and port of `base`), the
/// only place its credentials go.
fn same_origin(url: &reqwest::Url, base: &str) -> bool {
    reqwest::Url::parse(base).is_ok_and(|b| b.origin() == url.origin())
}

/// Refuses a URL from the registry (an upload `Location`, a `Link`) that would move an HTTPS
/// conversation to plain HTTP.
fn refuse_downgrade(
    url: &reqwest::Url,
    base: &str,
    what: &dyn Fn() -> String,
) -> Result<(), RegistryError> {
    if url.scheme() == "http" && base.starts_with("https://") {
        return Err(RegistryError::Protocol {
            what: what(),
            reason: format!(
                "the registry pointed this request at plain HTTP ({}); refusing to send it \
                 unencrypted",
                sanitize(&origin_of(url))
            ),
        });
    }
    Ok(())
}

/// An `Authorization` value, marked sensitive (left out of debug output).
fn authorization_value(value: &str) -> Result<HeaderValue, RegistryError> {
    let mut v = HeaderValue::from_str(value).map_err(|_| RegistryError::Credentials {
        reason: "the Authorization value holds characters a header cannot carry".into(),
    })?;
    v.set_sensitive(true);
    Ok(v)
}

/// Text a registry sent, as it may appear in a message: without control characters (a
/// terminal would obey them) and at most 200 characters.
pub(crate) fn sanitize(text: &str) -> String {
    let clean: Vec<char> = text.chars().filter(|c| !c.is_control()).collect();
    let mut out: String = clean.iter().take(200).collect();
    if clean.len() > 200 {
        out.push('…');
    }
    out.trim().to_owned()
}

/// A `Retry-After` given in seconds.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

/// The registry's error codes and messages from an error body (`{"errors": [{code, message}]}`),
/// as `: CODE message; ...`, or empty.
fn error_message(response: Response) -> String {
    let mut body = Vec::new();
    let _ = response.take(MAX_ERROR_BODY).read_to_end(&mut body);
    #[derive(serde::Deserialize)]
    struct Errors {
        errors: Vec<ErrorEntry>,
    }
    #[derive(serde::Deserialize)]
    struct ErrorEntry {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    match serde_json::from_slice::<Errors>(&body) {
        Ok(e) if !e.errors.is_empty() => e
            .errors
            .iter()
            .take(5)
            .map(|e| format!("{} {}", sanitize(&e.code), sanitize(&e.message)))
            .map(|m| m.trim().to_owned())
            .collect::<Vec<_>>()
            .join("; "),
        _ => sanitize(&String::from_utf8_lossy(&body)),
    }
}

fn status_error(what: String, response: Response) -> RegistryError {
    let status = response.status().as_u16();
    let message = error_message(response);
    RegistryError::Status {
        what,
        status,
        message: if message.is_empty() {
            String::new()
        } else {
            format!(": {message}")
        },
    }
}

/// The tag under which the referrers of `subject` are listed when the registry has no
/// referrers API (OCI distribution spec 1.1, "Referrers Tag Schema"): `<alg>-<hex>`, the
/// algorithm cut to 32 characters and the hex to 64.
pub fn fallback_tag(subject: &Digest) -> String {
    let alg = subject.algorithm().as_str();
    let hex = subject.hex();
    format!(
        "{}-{}",
        &alg[..alg.len().min(32)],
        &hex[..hex.len().min(64)]
    )
}

/// What a manifest push learned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pushed {
    /// The registry answered `OCI-Subject`: it indexes referrers itself.
    pub subject_indexed: bool,
}

/// How a blob reached the destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlobOutcome {
    /// It was already there (HEAD).
    Present,
    /// The registry mounted it from another repository of its own.
    Mounted,
    /// Its bytes were sent.
    Uploaded,
}

/// Opens a fresh reader over a blob's bytes (called again for each attempt).
pub type Opener<'a> = dyn Fn() -> Result<Box<dyn Read + Send>, LayoutError> + Sync + 'a;

/// One repository of one registry.
#[derive(Clone, Debug)]
pub struct Repository {
    client: Arc<Client>,
    name: String,
    limits: Limits,
    jobs: usize,
    /// Referrers pushed and not yet in their subject's fallback index.
    pending: Arc<Mutex<Vec<(Digest, Descriptor)>>>,
}

impl Repository {
    /// The registry host.
    pub fn host(&self) -> &str {
        self.client.host()
    }

    /// The repository name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How many blobs should move at once.
    pub fn jobs(&self) -> usize {
        self.jobs
    }

    /// The limits this handle enforces.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    fn url(&self, base: &str, tail: &str) -> String {
        format!("{base}/v2/{}/{tail}", self.name)
    }

    /// Resolves a tag or digest to the manifest's descriptor and verified bytes. By tag, the
    /// digest is computed from the bytes (and must agree with `Docker-Content-Digest`).
    pub fn resolve(&self, r: &RegistryReference) -> Result<(Descriptor, Vec<u8>), RegistryError> {
        let reference = match (r.digest(), r.tag()) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.as_str().to_owned(),
            (None, None) => "latest".to_owned(),
        };
        let (bytes, media_type, header_digest) = self.get_manifest(&reference)?;
        let what = || format!("manifest {}/{}:{reference}", self.host(), self.name);
        let digest = match r.digest() {
            Some(d) => {
                d.verify_bytes(&bytes)
                    .map_err(|e| RegistryError::Protocol {
                        what: what(),
                        reason: e.to_string(),
                    })?;
                d.clone()
            }
            None => {
                let algorithm = header_digest
                    .as_ref()
                    .map_or(Algorithm::Sha256, Digest::algorithm);
                let computed = Digest::of(algorithm, &bytes);
                if let Some(h) = header_digest
                    && h != computed
                {
                    return Err(RegistryError::Protocol {
                        what: what(),
                        reason: format!(
                            "Docker-Content-Digest says {h} but the bytes hash to {computed}"
                        ),
                    });
                }
                computed
            }
        };
        let desc = descriptor(&media_type, &digest, bytes.len() as u64);
        Ok((desc, bytes))
    }

    /// GETs a manifest by tag or digest: its bytes (at most `max_manifest_bytes`), media type
    /// (the Content-Type, else the document's own), and the `Docker-Content-Digest` header.
    fn get_manifest(
        &self,
        reference: &str,
    ) -> Result<(Vec<u8>, String, Option<Digest>), RegistryError> {
        let what = || format!("GET manifest {}/{}:{reference}", self.host(), self.name);
        let response = self
            .client
            .execute(&what, &Scopes::pull(&self.name), &|http, base| {
                Ok(http
                    .get(self.url(base, &format!("manifests/{reference}")))
                    .header(header::ACCEPT, MANIFEST_ACCEPT)
                    .timeout(SMALL_REQUEST_TIMEOUT))
            })?;
        if !response.status().is_success() {
            return Err(status_error(what(), response));
        }
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or(v).trim().to_owned());
        let header_digest = response
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<Digest>().ok());
        let bytes = read_capped(
            response,
            self.limits.max_manifest_bytes,
            "max_manifest_bytes",
            &what,
        )?;
        let sniffed = sniff_media_type(&bytes);
        let media_type = match (content_type, sniffed) {
            (Some(ct), Some(own)) if ct != own && media::kind_of(&ct) != Kind::Blob => {
                return Err(RegistryError::Protocol {
                    what: what(),
                    reason: format!(
                        "served as {} but the document says {}",
                        sanitize(&ct),
                        sanitize(&own)
                    ),
                });
            }
            (_, Some(own)) => own,
            (Some(ct), None) if media::kind_of(&ct) != Kind::Blob => ct,
            _ => {
                return Err(RegistryError::Protocol {
                    what: what(),
                    reason: "neither the Content-Type nor the document names a manifest media type"
                        .into(),
                });
            }
        };
        Ok((bytes, media_type, header_digest))
    }

    /// Whether the blob is present, and its size when the registry says.
    pub fn blob_exists(&self, digest: &Digest) -> Result<Option<Option<u64>>, RegistryError> {
        let what = || format!("HEAD blob {}/{}@{digest}", self.host(), self.name);
        let response = self
            .client
            .execute(&what, &Scopes::pull(&self.name), &|http, base| {
                Ok(http
                    .head(self.url(base, &format!("blobs/{digest}")))
                    .timeout(SMALL_REQUEST_TIMEOUT))
            })?;
        match response.status() {
            // reqwest reports a HEAD body's length (0), not the header: read the header.
            s if s.is_success() => Ok(Some(
                response
                    .headers()
                    .get(header::CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok()),
            )),
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(status_error(what(), response)),
        }
    }

    /// Streams a blob; reading to EOF fails unless digest and size match.
    pub fn open_blob(
        &self,
        digest: &Digest,
        size: u64,
    ) -> Result<HashingReader<BlobBody>, LayoutError> {
        if size > self.limits.max_blob_bytes {
            return Err(LayoutError::TooLarge {
                what: format!("blob {digest} ({size} bytes)"),
                limit: self.limits.max_blob_bytes,
            });
        }
        let expected = Expected {
            digest: digest.clone(),
            size: Some(size),
        };
        if let Some(body) = self.open_blob_direct(digest, size)? {
            return Ok(HashingReader::verifying(
                BlobBody(BodyKind::Direct(body)),
                expected,
            ));
        }
        let what = || format!("GET blob {}/{}@{digest}", self.host(), self.name);
        let response = self
            .client
            .execute(&what, &Scopes::pull(&self.name), &|http, base| {
                Ok(http.get(self.url(base, &format!("blobs/{digest}"))))
            })?;
        match response.status() {
            s if s.is_success() => {}
            StatusCode::NOT_FOUND => return Err(LayoutError::BlobMissing(digest.clone())),
            _ => return Err(status_error(what(), response).into()),
        }
        if let Some(n) = response.content_length() {
            check_size(digest, size, n)?;
        }
        Ok(HashingReader::verifying(
            BlobBody(BodyKind::Http(response)),
            expected,
        ))
    }

    /// A large blob from a plain-HTTP registry, read straight from the socket (see
    /// `direct.rs`); `None` when that path does not apply or the answer was not the plainest,
    /// and the request goes through `reqwest` instead.
    fn open_blob_direct(
        &self,
        digest: &Digest,
        size: u64,
    ) -> Result<Option<direct::DirectBody>, RegistryError> {
        if size < direct::MIN_BYTES {
            return Ok(None);
        }
        let base = self.client.base();
        let Ok(url) = reqwest::Url::parse(&self.url(base, &format!("blobs/{digest}"))) else {
            return Ok(None);
        };
        if !direct::applies(&url) {
            return Ok(None);
        }
        let scopes = Scopes::pull(&self.name);
        let may_send = |h: &str| self.client.may_send_plain(h);
        self.client
            .auth
            .prefetch(&scopes, &self.client.http, &may_send)?;
        let auth = self.client.auth.header(&scopes);
        let mut headers = vec![("User-Agent", USER_AGENT), ("Accept", "*/*")];
        if let Some(h) = &auth {
            headers.push(("Authorization", h));
        }
        match direct::get(&url, &headers, size) {
            direct::Attempt::Body(body) => Ok(Some(body)),
            direct::Attempt::Declined(why) => {
                tracing::debug!(%digest, %why, "direct blob read declined; using the HTTP client");
                Ok(None)
            }
        }
    }

    /// Uploads a blob unless it is present: first a cross-repository mount from `mount_from`
    /// (a repository of the same registry) when given, else one monolithic streamed PUT. The
    /// registry checks the digest; `open` is called again for each retry.
    pub fn upload_blob(
        &self,
        digest: &Digest,
        size: u64,
        open: &Opener<'_>,
        mount_from: Option<&str>,
    ) -> Result<BlobOutcome, LayoutError> {
        if let Some(have) = self.blob_exists(digest)?
            && have.is_none_or(|n| n == size)
        {
            return Ok(BlobOutcome::Present);
        }
        let mut scopes = Scopes::push(&self.name);
        if let Some(from) = mount_from {
            scopes = scopes.and_pull(from);
        }
        let mut attempt = 0;
        loop {
            match self.try_upload(digest, size, open, mount_from, &scopes) {
                Ok(outcome) => return Ok(outcome),
                Err(UploadError::Retry(e)) if attempt < self.client.retries => {
                    tracing::warn!(%digest, error = %e, attempt, "upload failed; starting it again");
                    std::thread::sleep(self.client.backoff.saturating_mul(1 << attempt.min(6)));
                    attempt += 1;
                }
                Err(UploadError::Retry(e)) => return Err(e.into()),
                Err(UploadError::Fatal(e)) => return Err(e),
            }
        }
    }

    fn try_upload(
        &self,
        digest: &Digest,
        size: u64,
        open: &Opener<'_>,
        mount_from: Option<&str>,
        scopes: &Scopes,
    ) -> Result<BlobOutcome, UploadError> {
        let what = || format!("upload blob {digest} to {}/{}", self.host(), self.name);
        let response = self
            .client
            .execute(&what, scopes, &|http, base| {
                let url = self.url(base, "blobs/uploads/");
                let mut r = http
                    .post(url)
                    .header(header::CONTENT_LENGTH, 0)
                    .timeout(SMALL_REQUEST_TIMEOUT);
                if let Some(from) = mount_from {
                    r = r.query(&[("mount", digest.to_string().as_str()), ("from", from)]);
                }
                Ok(r)
            })
            .map_err(|e| UploadError::Fatal(e.into()))?;
        match response.status() {
            StatusCode::CREATED if mount_from.is_some() => return Ok(BlobOutcome::Mounted),
            StatusCode::ACCEPTED => {}
            _ => return Err(UploadError::Fatal(status_error(what(), response).into())),
        }
        let location = upload_location(&response, &what)?;
        let base = self.client.base().to_owned();
        // A relative Location is relative to the request that answered (RFC 9110).
        let mut url = response.url().join(&location).map_err(|e| {
            UploadError::Fatal(
                RegistryError::Protocol {
                    what: what(),
                    reason: format!("upload Location {:?}: {e}", sanitize(&location)),
                }
                .into(),
            )
        })?;
        refuse_downgrade(&url, &base, &what).map_err(|e| UploadError::Fatal(e.into()))?;
        url.query_pairs_mut()
            .append_pair("digest", &digest.to_string());
        let reader = EndChecked {
            inner: open().map_err(UploadError::Fatal)?,
            left: size,
        };
        let url_for_auth = url.clone();
        let mut request = self
            .client
            .http
            .put(url)
            .header(header::CONTENT_TYPE, "application/octet-stream")
            .header(header::CONTENT_LENGTH, size)
            .body(Body::sized(reader, size));
        // The credentials go with the blob only to the registry's own origin: a Location on
        // another host gets the PUT without them.
        if same_origin(&url_for_auth, &base)
            && let Some(h) = self.client.auth.header(scopes)
        {
            request = request.header(
                header::AUTHORIZATION,
                authorization_value(&h).map_err(|e| UploadError::Fatal(e.into()))?,
            );
        }
        let response = match request.send() {
            Ok(r) => r,
            // A source that failed its own digest check aborts the body: that is not a
            // transport failure to retry.
            Err(e) if source_digest_failure(&e).is_some() => {
                let source = source_digest_failure(&e).cloned().unwrap_or(
                    crate::digest::DigestError::SizeMismatch {
                        digest: digest.clone(),
                        expected: size,
                        actual: 0,
                    },
                );
                return Err(UploadError::Fatal(LayoutError::Content {
                    what: digest.to_string(),
                    source,
                }));
            }
            Err(source) => {
                return Err(UploadError::Retry(RegistryError::Transport {
                    what: what(),
                    source,
                }));
            }
        };
        let status = response.status();
        if status == StatusCode::CREATED {
            if let Some(d) = response
                .headers()
                .get("docker-content-digest")
                .and_then(|v| v.to_str().ok())
                && d != digest.to_string()
            {
                return Err(UploadError::Fatal(
                    RegistryError::Protocol {
                        what: what(),
                        reason: format!("the registry stored it as {d}"),
                    }
                    .into(),
                ));
            }
            return Ok(BlobOutcome::Uploaded);
        }
        let e = status_error(what(), response);
        if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
            Err(UploadError::Retry(e))
        } else {
            Err(UploadError::Fatal(e.into()))
        }
    }

    /// PUTs a manifest's exact bytes under `reference` (its digest or a tag). The registry's
    /// `Docker-Content-Digest`, when given, must be the bytes' digest.
    pub fn put_manifest(
        &self,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<Pushed, RegistryError> {
        let what = || format!("PUT manifest {}/{}:{reference}", self.host(), self.name);
        let body = bytes.to_vec();
        let response = self
            .client
            .execute(&what, &Scopes::push(&self.name), &|http, base| {
                Ok(http
                    .put(self.url(base, &format!("manifests/{reference}")))
                    .header(header::CONTENT_TYPE, media_type)
                    .body(body.clone())
                    .timeout(SMALL_REQUEST_TIMEOUT))
            })?;
        if !response.status().is_success() {
            return Err(status_error(what(), response));
        }
        let expected = Digest::sha256_of(bytes);
        if let Some(d) = response
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            && d.parse::<Digest>()
                .is_ok_and(|d| d.algorithm() == Algorithm::Sha256)
            && d != expected.to_string()
        {
            return Err(RegistryError::Protocol {
                what: what(),
                reason: format!("the registry stored it as {d}, not {expected}"),
            });
        }
        Ok(Pushed {
            subject_indexed: response.headers().contains_key("oci-subject"),
        })
    }

    /// Lists the referrers of `subject`: through the referrers API when the registry has one,
    /// else from the fallback tag's index. Sorted by digest, without duplicates.
    pub fn referrers(&self, subject: &Digest) -> Result<Vec<Descriptor>, LayoutError> {
        let known = self
            .client
            .referrers_api
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&self.name)
            .copied();
        let mut list = if known == Some(false) {
            self.fallback_referrers(subject)?
        } else {
            match self.api_referrers(subject)? {
                Some(list) => {
                    self.remember_api(true);
                    list
                }
                None => {
                    self.remember_api(false);
                    self.fallback_referrers(subject)?
                }
            }
        };
        list.sort_by_cached_key(|d| d.digest().to_string());
        list.dedup_by(|a, b| a.digest() == b.digest());
        Ok(list)
    }

    fn remember_api(&self, has: bool) {
        self.client
            .referrers_api
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(self.name.clone(), has);
    }

    /// The referrers API; `None` when the registry does not have it (404, 400, 405, 501).
    fn api_referrers(&self, subject: &Digest) -> Result<Option<Vec<Descriptor>>, LayoutError> {
        let mut out = Vec::new();
        let mut next: Option<String> = None;
        for page in 0..MAX_REFERRER_PAGES {
            let what = || {
                format!(
                    "GET referrers of {subject} in {}/{}",
                    self.host(),
                    self.name
                )
            };
            let path = next.clone();
            let response =
                self.client
                    .execute(&what, &Scopes::pull(&self.name), &|http, base| {
                        let url = match &path {
                            Some(p) => reqwest::Url::parse(base)
                                .and_then(|b| b.join(p))
                                .map_err(|e| RegistryError::Protocol {
                                    what: what(),
                                    reason: format!("Link {p:?}: {e}"),
                                })?
                                .to_string(),
                            None => self.url(base, &format!("referrers/{subject}")),
                        };
                        Ok(http
                            .get(url)
                            .header(header::ACCEPT, media::OCI_INDEX)
                            .timeout(SMALL_REQUEST_TIMEOUT))
                    })?;
            match response.status() {
                StatusCode::OK => {}
                StatusCode::NOT_FOUND
                | StatusCode::BAD_REQUEST
                | StatusCode::METHOD_NOT_ALLOWED
                | StatusCode::NOT_IMPLEMENTED
                    if page == 0 =>
                {
                    return Ok(None);
                }
                _ => return Err(status_error(what(), response).into()),
            }
            next = next_link(response.headers());
            let bytes = read_capped(
                response,
                self.limits.max_manifest_bytes,
                "max_manifest_bytes",
                &what,
            )?;
            self.collect_index(&bytes, &what(), &mut out)?;
            if next.is_none() {
                return Ok(Some(out));
            }
        }
        Err(RegistryError::Protocol {
            what: format!("referrers of {subject}"),
            reason: format!("more than {MAX_REFERRER_PAGES} pages"),
        }
        .into())
    }

    fn fallback_referrers(&self, subject: &Digest) -> Result<Vec<Descriptor>, LayoutError> {
        let tag = fallback_tag(subject);
        match self.get_manifest(&tag) {
            Ok((bytes, media_type, _)) => {
                let what = format!("referrers tag {tag} in {}/{}", self.host(), self.name);
                if media_type != media::OCI_INDEX {
                    return Err(RegistryError::Protocol {
                        what,
                        reason: format!("is a {}, not an image index", sanitize(&media_type)),
                    }
                    .into());
                }
                let mut out = Vec::new();
                self.collect_index(&bytes, &what, &mut out)?;
                Ok(out)
            }
            Err(e) if e.is_not_found() => Ok(Vec::new()),
            Err(e) => Err(e.into()),
        }
    }

    /// Appends the manifests listed by a referrers index to `out`, refusing more than
    /// `max_referrers_per_subject` in all.
    fn collect_index(
        &self,
        bytes: &[u8],
        what: &str,
        out: &mut Vec<Descriptor>,
    ) -> Result<(), LayoutError> {
        let parsed = parse_manifest(bytes, media::OCI_INDEX, &self.limits).map_err(|p| {
            RegistryError::Protocol {
                what: what.to_owned(),
                reason: format!("not a valid image index: {p:?}"),
            }
        })?;
        for (edge, d) in parsed.children {
            if edge != EdgeKind::Child {
                continue;
            }
            if out.len() >= self.limits.max_referrers_per_subject {
                return Err(RegistryError::Protocol {
                    what: what.to_owned(),
                    reason: format!(
                        "lists more than max_referrers_per_subject ({})",
                        self.limits.max_referrers_per_subject
                    ),
                }
                .into());
            }
            out.push(d);
        }
        Ok(())
    }

    /// Adds `referrers` to the fallback index of `subject` (distribution spec 1.1): pull the
    /// index tagged `<alg>-<hex>` (or start an empty one), skip the referrers already listed,
    /// append the others' descriptors (with `artifactType` and annotations) and push the index
    /// back under the tag.
    ///
    /// The tag schema has no compare-and-swap: two writers at once can each replace the
    /// other's list. After pushing, the index is read back; if another writer's push dropped
    /// this referrer, it is appended again (a few times).
    pub fn add_fallback_referrers(
        &self,
        subject: &Digest,
        referrers: &[Descriptor],
    ) -> Result<(), LayoutError> {
        let all_listed = |r: &Self| -> Result<bool, LayoutError> {
            let listed = r.fallback_referrers(subject)?;
            Ok(referrers
                .iter()
                .all(|x| listed.iter().any(|d| d.digest() == x.digest())))
        };
        for attempt in 0..FALLBACK_ATTEMPTS {
            self.append_fallback(subject, referrers)?;
            // Read back at once, and again once concurrent writers (whose read preceded our
            // push) have had time to push theirs: still listed then, it stays listed.
            if all_listed(self)? {
                std::thread::sleep(settle_delay(attempt));
                if all_listed(self)? {
                    return Ok(());
                }
            }
            tracing::warn!(%subject, "another writer replaced the referrers tag; adding again");
        }
        Err(RegistryError::Protocol {
            what: format!(
                "referrers tag {} in {}/{}",
                fallback_tag(subject),
                self.host(),
                self.name
            ),
            reason: "its referrers kept disappearing from it (other writers)".into(),
        }
        .into())
    }

    fn append_fallback(
        &self,
        subject: &Digest,
        referrers: &[Descriptor],
    ) -> Result<(), LayoutError> {
        let tag = fallback_tag(subject);
        let what = format!("referrers tag {tag} in {}/{}", self.host(), self.name);
        let mut doc: serde_json::Value = match self.get_manifest(&tag) {
            Ok((bytes, media_type, _)) => {
                if media_type != media::OCI_INDEX {
                    return Err(RegistryError::Protocol {
                        what,
                        reason: format!(
                            "is a {}, not an image index; not replacing it",
                            sanitize(&media_type)
                        ),
                    }
                    .into());
                }
                parse_manifest(&bytes, media::OCI_INDEX, &self.limits).map_err(|p| {
                    RegistryError::Protocol {
                        what: what.clone(),
                        reason: format!("not a valid image index: {p:?}"),
                    }
                })?;
                serde_json::from_slice(&bytes).map_err(|e| RegistryError::Protocol {
                    what: what.clone(),
                    reason: e.to_string(),
                })?
            }
            Err(e) if e.is_not_found() => serde_json::json!({
                "schemaVersion": 2,
                "mediaType": media::OCI_INDEX,
                "manifests": [],
            }),
            Err(e) => return Err(e.into()),
        };
        let Some(manifests) = doc.get_mut("manifests").and_then(|m| m.as_array_mut()) else {
            return Err(RegistryError::Protocol {
                what,
                reason: "has no manifests array".into(),
            }
            .into());
        };
        let mut added = false;
        for referrer in referrers {
            let digest = referrer.digest().to_string();
            if manifests
                .iter()
                .any(|m| m.get("digest").and_then(|d| d.as_str()) == Some(digest.as_str()))
            {
                continue;
            }
            if manifests.len() >= self.limits.max_referrers_per_subject {
                return Err(RegistryError::Protocol {
                    what,
                    reason: format!(
                        "already lists max_referrers_per_subject ({}) referrers",
                        self.limits.max_referrers_per_subject
                    ),
                }
                .into());
            }
            let entry = serde_json::to_value(referrer).map_err(|e| RegistryError::Protocol {
                what: what.clone(),
                reason: e.to_string(),
            })?;
            manifests.push(entry);
            added = true;
        }
        if !added {
            return Ok(());
        }
        let bytes = crate::layout::to_json_bytes(&doc);
        if bytes.len() as u64 > self.limits.max_manifest_bytes {
            // Pushed, it could no longer be read back (here or by an importer): every later
            // discover, copy -r or sign of the subject would fail.
            return Err(RegistryError::Protocol {
                what,
                reason: format!(
                    "the updated index would be {} bytes, more than max_manifest_bytes ({}); \
                     not pushing it (raise the limit with --limit max_manifest_bytes=N, or \
                     remove referrers)",
                    bytes.len(),
                    self.limits.max_manifest_bytes
                ),
            }
            .into());
        }
        self.put_manifest(&tag, media::OCI_INDEX, &bytes)?;
        Ok(())
    }

    /// Pushes a manifest by digest. One with a subject the registry does not index itself
    /// (no `OCI-Subject` answer) is queued for its subject's fallback index, which
    /// [`Repository::flush_referrers`] updates.
    pub fn push_manifest(
        &self,
        desc: &Descriptor,
        bytes: &[u8],
        subject: Option<&Digest>,
    ) -> Result<(), LayoutError> {
        let digest = crate::layout::verified_manifest_digest(desc, bytes)?;
        let pushed = self.put_manifest(&digest.to_string(), desc.media_type().as_ref(), bytes)?;
        if let Some(subject) = subject
            && !pushed.subject_indexed
        {
            // The fallback entry comes from the pushed bytes (distribution spec 1.1: its
            // artifactType, else its config's media type, and all its annotations), not from
            // whatever descriptor pointed at it.
            let parsed =
                parse_manifest(bytes, desc.media_type().as_ref(), &self.limits).map_err(|p| {
                    RegistryError::Protocol {
                        what: format!("push manifest {digest} to {}/{}", self.host(), self.name),
                        reason: format!("not a valid manifest: {p:?}"),
                    }
                })?;
            self.pending
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((
                    subject.clone(),
                    crate::graph::referrer_descriptor(desc, &parsed),
                ));
        }
        Ok(())
    }

    /// Records the referrers pushed since the last call in their subjects' fallback indexes,
    /// one update per subject.
    pub fn flush_referrers(&self) -> Result<(), LayoutError> {
        let pending = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()));
        let mut by_subject: std::collections::BTreeMap<Digest, Vec<Descriptor>> =
            std::collections::BTreeMap::new();
        for (subject, desc) in pending {
            by_subject.entry(subject).or_default().push(desc);
        }
        for (subject, list) in by_subject {
            self.add_fallback_referrers(&subject, &list)?;
        }
        Ok(())
    }
}

enum UploadError {
    Retry(RegistryError),
    Fatal(LayoutError),
}

/// The digest mismatch of the source, when a failed body send was caused by the body reader
/// itself: that must not be retried as a network failure.
fn source_digest_failure(e: &reqwest::Error) -> Option<&crate::digest::DigestError> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>()
            && let Some(d) = crate::digest::digest_error(io)
        {
            return Some(d);
        }
        source = s.source();
    }
    None
}

/// A blob's body as it streams: through `reqwest`, or straight from the socket (large blobs
/// from plain-HTTP registries).
#[derive(Debug)]
pub struct BlobBody(BodyKind);

#[derive(Debug)]
enum BodyKind {
    Http(Response),
    Direct(direct::DirectBody),
}

impl Read for BlobBody {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match &mut self.0 {
            BodyKind::Http(r) => r.read(buf),
            BodyKind::Direct(r) => r.read(buf),
        }
    }
}

/// A body reader that, having given its last expected byte, reads once more: a verifying
/// source checks its digest at its end, and a sized upload body would otherwise stop one read
/// short of it and leave the check to the registry.
struct EndChecked {
    inner: Box<dyn Read + Send>,
    left: u64,
}

impl Read for EndChecked {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("the source ended {} bytes early", self.left),
            ));
        }
        self.left -= n as u64;
        if self.left == 0 {
            let mut probe = [0u8; 1];
            if self.inner.read(&mut probe)? != 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "the source is longer than its descriptor says",
                ));
            }
        }
        Ok(n)
    }
}

fn upload_location(response: &Response, what: &dyn Fn() -> String) -> Result<String, UploadError> {
    response
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .ok_or_else(|| {
            UploadError::Fatal(
                RegistryError::Protocol {
                    what: what(),
                    reason: "the registry started an upload without a Location".into(),
                }
                .into(),
            )
        })
}

/// The `rel="next"` target of a `Link` header.
fn next_link(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::LINK)?.to_str().ok()?;
    v.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        params
            .split(';')
            .any(|p| p.trim().replace(' ', "") == "rel=\"next\"" || p.trim() == "rel=next")
            .then(|| {
                target
                    .trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_owned()
            })
    })
}

/// The whole body, refused past `max` bytes (the limit named `limit`): at once when its
/// `Content-Length` says so, else when the bytes run past it.
fn read_capped(
    response: Response,
    max: u64,
    limit: &str,
    what: &dyn Fn() -> String,
) -> Result<Vec<u8>, RegistryError> {
    if response.content_length().is_some_and(|n| n > max) {
        return Err(RegistryError::Protocol {
            what: what(),
            reason: format!("larger than {limit} ({max} bytes)"),
        });
    }
    let mut bytes = Vec::new();
    response
        .take(max.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| RegistryError::Protocol {
            what: what(),
            reason: format!("reading the body: {e}"),
        })?;
    if bytes.len() as u64 > max {
        return Err(RegistryError::Protocol {
            what: what(),
            reason: format!("larger than {limit} ({max} bytes)"),
        });
    }
    Ok(bytes)
}

/// Refuses a declared size above `max` before anything is requested.
fn refuse_over(digest: &Digest, kind: &str, size: u64, max: u64) -> Result<(), LayoutError> {
    if size > max {
        return Err(LayoutError::TooLarge {
            what: format!("{kind} {digest}"),
            limit: max,
        });
    }
    Ok(())
}

impl BlobStore for Repository {
    fn fetch_manifest(
        &self,
        digest: &Digest,
        size: u64,
        max: u64,
    ) -> Result<Arc<[u8]>, LayoutError> {
        refuse_over(digest, "manifest", size, max)?;
        let (bytes, _, _) = match self.get_manifest(&digest.to_string()) {
            Ok(m) => m,
            Err(e) if e.is_not_found() => return Err(LayoutError::BlobMissing(digest.clone())),
            Err(e) => return Err(e.into()),
        };
        check_size(digest, size, bytes.len() as u64)?;
        digest
            .verify_bytes(&bytes)
            .map_err(|e| LayoutError::Content {
                what: digest.to_string(),
                source: e,
            })?;
        Ok(Arc::from(bytes))
    }

    fn fetch_small_blob(
        &self,
        digest: &Digest,
        size: u64,
        max: u64,
    ) -> Result<Arc<[u8]>, LayoutError> {
        refuse_over(digest, "blob", size, max)?;
        let reader = self.open_blob(digest, size)?;
        let mut bytes = Vec::new();
        reader
            .take(max.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(|e| match crate::digest::digest_error(&e) {
                Some(de) => LayoutError::Content {
                    what: digest.to_string(),
                    source: de.clone(),
                },
                None => RegistryError::Protocol {
                    what: format!("GET blob {}/{}@{digest}", self.host(), self.name),
                    reason: format!("reading the body: {e}"),
                }
                .into(),
            })?;
        Ok(Arc::from(bytes))
    }

    fn check_blob(&self, digest: &Digest, size: u64) -> Result<(), LayoutError> {
        match self.blob_exists(digest)? {
            None => Err(LayoutError::BlobMissing(digest.clone())),
            Some(Some(n)) => check_size(digest, size, n),
            Some(None) => Ok(()),
        }
    }
}

impl GraphSource for Repository {
    fn referrers_of(&self, subject: &Digest) -> Result<Vec<Descriptor>, LayoutError> {
        self.referrers(subject)
    }
}

/// The SHA-256 of bytes read so far; used by tests of the streaming paths.
#[doc(hidden)]
pub fn sha256_stream(mut r: impl Read) -> std::io::Result<Digest> {
    let mut h = Hasher::new(Algorithm::Sha256);
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            return Ok(h.finish());
        }
        h.update(&buf[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fallback_tags_follow_the_spec() {
        let d: Digest = format!("sha256:{}", "ab".repeat(32)).parse().unwrap();
        assert_eq!(fallback_tag(&d), format!("sha256-{}", "ab".repeat(32)));
        let d: Digest = format!("sha512:{}", "cd".repeat(64)).parse().unwrap();
        assert_eq!(fallback_tag(&d), format!("sha512-{}", "cd".repeat(32)));
    }

    #[test]
    fn credentials_stay_on_the_registry_origin() {
        let url = |u: &str| reqwest::Url::parse(u).unwrap();
        let base = "https://reg.example:5000";
        assert!(same_origin(
            &url("https://reg.example:5000/v2/x/blobs/uploads/1?_state=a"),
            base
        ));
        assert!(same_origin(&url("https://REG.example:5000/v2/"), base));
        assert!(
            !same_origin(&url("https://reg.example/v2/"), base),
            "another port"
        );
        assert!(
            !same_origin(&url("http://reg.example:5000/v2/"), base),
            "another scheme"
        );
        assert!(!same_origin(
            &url("https://reg.example.evil:5000/v2/"),
            base
        ));
        assert!(!same_origin(&url("https://evil@other.example:5000/"), base));
        assert!(same_origin(
            &url("https://index.docker.io/v2/"),
            "https://index.docker.io:443"
        ));

        let what = || "upload".to_owned();
        let err = refuse_downgrade(&url("http://reg.example:5000/v2/"), base, &what).unwrap_err();
        assert!(
            err.to_string()
                .contains("plain HTTP (http://reg.example:5000)"),
            "{err}"
        );
        assert!(refuse_downgrade(&url("https://elsewhere.example/"), base, &what).is_ok());
        assert!(
            refuse_downgrade(
                &url("http://127.0.0.1:5000/"),
                "http://127.0.0.1:5000",
                &what
            )
            .is_ok()
        );
    }

    #[test]
    fn registry_text_is_cleaned_before_it_is_shown() {
        assert_eq!(sanitize("\u{1b}[2K\rverified OK\n"), "[2Kverified OK");
        let long = "x".repeat(5000);
        let shown = sanitize(&long);
        assert_eq!(shown.chars().count(), 201);
        assert!(shown.ends_with('…'));
        assert_eq!(sanitize("  MANIFEST_UNKNOWN  "), "MANIFEST_UNKNOWN");
    }

    #[test]
    fn plain_http_hosts_match_by_name_and_address() {
        assert_eq!(host_name("reg.example:5000"), "reg.example");
        assert_eq!(host_name("[fd00::1]:5000"), "fd00::1");
        assert_eq!(host_name("[fd00::1]"), "fd00::1");
        assert_eq!(
            host_name("fd00::1"),
            "fd00::1",
            "a bare v6 address is not host:port"
        );
        assert_eq!(host_name("reg.example"), "reg.example");
    }

    #[test]
    fn loopback_hosts() {
        for h in [
            "127.0.0.1:5000",
            "localhost",
            "LOCALHOST:80",
            "[::1]:5000",
            "127.9.9.9",
        ] {
            assert!(is_loopback(h), "{h}");
        }
        for h in [
            "registry.example",
            "10.0.0.1:5000",
            "[fe80::1]:5000",
            "localhost.example",
        ] {
            assert!(!is_loopback(h), "{h}");
        }
    }

    #[test]
    fn link_headers() {
        let mut h = HeaderMap::new();
        h.insert(
            header::LINK,
            "</v2/a/referrers/sha256:x?n=2&last=y>; rel=\"next\""
                .parse()
                .unwrap(),
        );
        assert_eq!(
            next_link(&h).as_deref(),
            Some("/v2/a/referrers/sha256:x?n=2&last=y")
        );
        h.insert(
            header::LINK,
            "<https://x/prev>; rel=\"prev\"".parse().unwrap(),
        );
        assert_eq!(next_link(&h), None);
    }
}
