//! What a registry that checks its callers needs, made fresh for each test registry: a
//! throwaway CA and server certificate (written by the `openssl` CLI), an htpasswd file with a
//! bcrypt hash, and a Docker token server running inside the test process.
//!
//! The token server implements the Docker registry token flow
//! (<https://distribution.github.io/distribution/spec/auth/token/>) for one user:
//! `GET /token?service=S&scope=repository:NAME:pull,push[&scope=...]`, answered with an ES384
//! JWT whose header carries the signing certificate in `x5c`, the form registry 2.8 checks
//! against its `rootcertbundle`.
//!
//! Who gets what:
//! - the configured user with the right password (`Authorization: Basic`): every action asked
//!   for, in every scope asked for;
//! - a caller without credentials: a token that grants nothing (200, `access: []`), as Docker Hub
//!   answers for a repository the caller may not see; the registry then refuses every repository
//!   request with 401 `insufficient_scope`, so a client that forgets its credentials fails;
//! - wrong or malformed credentials: 401 with a `Basic` challenge and no token;
//! - a `service` other than the registry's: 400.
//!
//! Every request is recorded ([`TokenServer::requests`]) so tests can assert on what a client
//! asked for and whether it sent credentials.

use std::fs;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

use crate::harness::{require_tool, run_ok};

/// The `service` the registry names in its challenge and the token server signs for (`aud`).
pub(crate) const TOKEN_SERVICE: &str = "airlock-harness-registry";
/// The `iss` of every token, which the registry is configured to trust.
pub(crate) const TOKEN_ISSUER: &str = "airlock-harness-token-server";
/// Lifetime of a token, in seconds (`expires_in`).
pub(crate) const TOKEN_LIFETIME_SECS: u64 = 300;
/// bcrypt cost of the htpasswd entry: the smallest both the `bcrypt` crate and the registry's Go
/// bcrypt accept, so tests stay fast.
const HTPASSWD_COST: u32 = 4;
/// Largest request head the token server reads.
const MAX_REQUEST_HEAD: usize = 64 * 1024;

/// Runs `openssl ARGS` in `dir`; panics with its stderr on failure.
fn openssl(dir: &Path, args: &[&str], what: &str) {
    let mut cmd = Command::new(require_tool("openssl"));
    cmd.current_dir(dir).args(args);
    run_ok(&mut cmd, &format!("openssl ({what})"));
}

/// A throwaway CA and a server certificate it signed, for `IP:127.0.0.1` and `DNS:localhost`.
#[derive(Debug, Clone)]
pub(crate) struct TlsFiles {
    /// The CA certificate (PEM): what a client is told to trust (`--ca-file`).
    pub(crate) ca_cert: PathBuf,
    /// The server certificate (PEM), for the registry's `http.tls.certificate`.
    pub(crate) server_cert: PathBuf,
    /// The server's private key (PEM), for `http.tls.key`.
    pub(crate) server_key: PathBuf,
}

/// Writes a fresh CA (`ca.pem`, `ca.key`) and a server certificate signed by it
/// (`server.pem`, `server.key`) into `dir`. Keys are P-256; certificates last two days.
pub(crate) fn write_tls_files(dir: &Path) -> TlsFiles {
    fs::write(
        dir.join("server.ext"),
        "basicConstraints = critical, CA:FALSE\n\
         keyUsage = critical, digitalSignature\n\
         extendedKeyUsage = serverAuth\n\
         subjectAltName = IP:127.0.0.1, DNS:localhost\n",
    )
    .expect("write server certificate extensions");
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
    let ca_args = [
        &["req", "-x509", "-nodes", "-days", "2"][..],
        &ec,
        &["-keyout", "ca.key", "-out", "ca.pem"],
        &["-subj", "/CN=airlock harness test CA"],
        &["-addext", "basicConstraints=critical,CA:TRUE"],
        &["-addext", "keyUsage=critical,keyCertSign,cRLSign"],
    ]
    .concat();
    openssl(dir, &ca_args, "CA certificate");
    let csr_args = [
        &["req", "-new", "-nodes"][..],
        &ec,
        &["-keyout", "server.key", "-out", "server.csr"],
        &["-subj", "/CN=localhost"],
    ]
    .concat();
    openssl(dir, &csr_args, "server key and request");
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-CAserial",
            "ca.srl",
            "-days",
            "2",
            "-extfile",
            "server.ext",
            "-out",
            "server.pem",
        ],
        "server certificate",
    );
    TlsFiles {
        ca_cert: dir.join("ca.pem"),
        server_cert: dir.join("server.pem"),
        server_key: dir.join("server.key"),
    }
}

/// Writes an htpasswd file at `path` with one entry, `user:$2y$04$...` (bcrypt).
pub(crate) fn write_htpasswd(path: &Path, user: &str, password: &str) {
    assert!(
        !user.contains(':') && !user.contains('\n'),
        "htpasswd user {user:?} cannot hold ':' or a newline"
    );
    let hash = bcrypt::hash_with_result(password, HTPASSWD_COST)
        .expect("bcrypt hash")
        .format_for_version(bcrypt::Version::TwoY);
    fs::write(path, format!("{user}:{hash}\n")).expect("write htpasswd file");
}

/// One request the token server received, in arrival order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TokenRequest {
    /// `GET`, unless a client tried something else (answered 405).
    pub(crate) method: String,
    /// The path without the query (`/token`).
    pub(crate) path: String,
    /// The `service` parameter, if given.
    pub(crate) service: Option<String>,
    /// Every scope asked for, each `scope` parameter split on spaces, as sent
    /// (`repository:NAME:pull,push`).
    pub(crate) scopes: Vec<String>,
    /// The user named in `Authorization: Basic`, if that header was sent and decoded.
    pub(crate) user: Option<String>,
    /// Whether an `Authorization` header was sent at all.
    pub(crate) sent_credentials: bool,
    /// Whether the credentials were the configured user and password.
    pub(crate) authenticated: bool,
    /// The HTTP status answered.
    pub(crate) status: u16,
    /// The access the token granted, one `TYPE:NAME:ACTION,...` entry per scope with at least
    /// one action; empty when no token was issued.
    pub(crate) granted: Vec<String>,
}

/// How a token names the key that signed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyHint {
    /// `x5c`: the signing certificate, which the registry checks against its root bundle.
    X5c,
    /// `kid`: the libtrust fingerprint of the signing key, looked up among the bundle's keys.
    Kid,
}

/// One resource's access in a token's `access` claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Grant {
    pub(crate) kind: String,
    pub(crate) name: String,
    pub(crate) actions: Vec<String>,
}

impl Grant {
    /// `repository:NAME` with `actions`.
    pub(crate) fn repository(name: &str, actions: &[&str]) -> Grant {
        Grant {
            kind: "repository".into(),
            name: name.into(),
            actions: actions.iter().map(|a| (*a).to_owned()).collect(),
        }
    }

    /// Parses `TYPE:NAME:ACTIONS`: the type ends at the first `:`, the actions start after the
    /// last, so a name holding `:` survives; `None` if there are fewer than three parts.
    fn parse(scope: &str) -> Option<Grant> {
        let (kind, rest) = scope.split_once(':')?;
        let (name, actions) = rest.rsplit_once(':')?;
        Some(Grant {
            kind: kind.into(),
            name: name.into(),
            actions: actions
                .split(',')
                .filter(|a| !a.is_empty())
                .map(str::to_owned)
                .collect(),
        })
    }

    fn scope(&self) -> String {
        format!("{}:{}:{}", self.kind, self.name, self.actions.join(","))
    }
}

/// Signing material and policy shared with the connection threads.
struct State {
    user: String,
    password: String,
    key: airlock::key::PrivateKey,
    /// The signing certificate's DER, standard base64 (the `x5c` entry).
    cert_b64: String,
    requests: Mutex<Vec<TokenRequest>>,
    next_jti: AtomicU64,
}

/// A Docker token server on a loopback port, serving until dropped.
pub(crate) struct TokenServer {
    addr: SocketAddr,
    cert: PathBuf,
    state: Arc<State>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for TokenServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenServer")
            .field("realm", &self.realm())
            .field("user", &self.state.user)
            .finish()
    }
}

impl TokenServer {
    /// Writes a P-384 signing key and its self-signed certificate (`token-signer.pem`, the
    /// registry's `rootcertbundle`) into `dir` and starts serving tokens for `user`/`password`.
    pub(crate) fn start(dir: &Path, user: &str, password: &str) -> TokenServer {
        openssl(
            dir,
            &[
                "req",
                "-x509",
                "-nodes",
                "-days",
                "2",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:secp384r1",
                "-keyout",
                "token-signer.key",
                "-out",
                "token-signer.pem",
                "-subj",
                "/CN=airlock harness token signer",
            ],
            "token signing certificate",
        );
        let key_pem =
            fs::read_to_string(dir.join("token-signer.key")).expect("read token signing key");
        let key = airlock::key::PrivateKey::from_pem(&key_pem, "token signing key", || {
            panic!("openssl -nodes wrote an encrypted token signing key")
        })
        .expect("openssl writes a PKCS#8 P-384 key airlock reads");
        assert_eq!(
            key.algorithm(),
            airlock::key::KeyAlgorithm::P384,
            "token signing key"
        );
        let cert = dir.join("token-signer.pem");
        let cert_pem = fs::read_to_string(&cert).expect("read token signing certificate");
        let cert_b64: String = cert_pem
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect();
        STANDARD
            .decode(&cert_b64)
            .expect("the certificate PEM body is base64");

        let listener = TcpListener::bind("127.0.0.1:0").expect("bind token server on 127.0.0.1:0");
        let addr = listener.local_addr().expect("token server address");
        let state = Arc::new(State {
            user: user.to_owned(),
            password: password.to_owned(),
            key,
            cert_b64,
            requests: Mutex::new(Vec::new()),
            next_jti: AtomicU64::new(0),
        });
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let state = Arc::clone(&state);
            let stop = Arc::clone(&stop);
            std::thread::Builder::new()
                .name("token-server".into())
                .spawn(move || {
                    for stream in listener.incoming() {
                        if stop.load(Ordering::SeqCst) {
                            break;
                        }
                        let Ok(stream) = stream else { continue };
                        let state = Arc::clone(&state);
                        // One thread per connection, so a client that stalls blocks no other.
                        let _ = std::thread::Builder::new()
                            .name("token-conn".into())
                            .spawn(move || serve(&state, stream));
                    }
                })
                .expect("spawn token server thread")
        };
        TokenServer {
            addr,
            cert,
            state,
            stop,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT/token`, the registry's `auth.token.realm`.
    pub(crate) fn realm(&self) -> String {
        format!("http://{}/token", self.addr)
    }

    /// The signing certificate (PEM), the registry's `auth.token.rootcertbundle`.
    pub(crate) fn cert_path(&self) -> &Path {
        &self.cert
    }

    /// Every request received so far, in arrival order.
    pub(crate) fn requests(&self) -> Vec<TokenRequest> {
        self.state
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// A token for `subject` granting `access`, signed as the server signs, naming its key by
    /// `hint`; not recorded as a request. For tests that need a token the server would not give.
    pub(crate) fn mint(&self, hint: KeyHint, subject: &str, access: &[Grant]) -> String {
        self.state.jwt(hint, subject, access, unix_now())
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

impl State {
    /// A compact JWS (ES384) over the registry token claims.
    fn jwt(&self, hint: KeyHint, subject: &str, access: &[Grant], now: u64) -> String {
        let mut header = serde_json::json!({ "typ": "JWT", "alg": "ES384" });
        match hint {
            KeyHint::X5c => header["x5c"] = serde_json::json!([self.cert_b64]),
            KeyHint::Kid => header["kid"] = serde_json::json!(libtrust_key_id(&self.key)),
        }
        let access: Vec<serde_json::Value> = access
            .iter()
            .map(|g| serde_json::json!({ "type": g.kind, "name": g.name, "actions": g.actions }))
            .collect();
        let jti = format!(
            "{}-{}",
            std::process::id(),
            self.next_jti.fetch_add(1, Ordering::Relaxed)
        );
        let claims = serde_json::json!({
            "iss": TOKEN_ISSUER,
            "sub": subject,
            "aud": TOKEN_SERVICE,
            "exp": now + TOKEN_LIFETIME_SECS,
            "nbf": now,
            "iat": now,
            "jti": jti,
            "access": access,
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        // ECDSA P-384 with SHA-384, r‖s: exactly the JWS ES384 signature form.
        let signature = self.key.sign(signing_input.as_bytes());
        assert_eq!(signature.len(), 96, "ES384 signature is r‖s, 96 bytes");
        format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }
}

/// libtrust's key id: the first 240 bits of the SHA-256 of the SPKI DER, base32 without
/// padding, in colon-separated groups of four.
fn libtrust_key_id(key: &airlock::key::PrivateKey) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    // airlock's key id is the SHA-256 of the SPKI DER with the uncompressed point, as Go's
    // x509.MarshalPKIXPublicKey writes it.
    let id = key.id();
    let digest = &id.as_bytes()[..30];
    let mut bits = String::new();
    for chunk in digest.chunks(5) {
        let mut n: u64 = 0;
        for b in chunk {
            n = (n << 8) | u64::from(*b);
        }
        for i in (0..8).rev() {
            bits.push(char::from(ALPHABET[((n >> (i * 5)) & 31) as usize]));
        }
    }
    let groups: Vec<&str> = (0..bits.len() / 4)
        .map(|i| &bits[i * 4..i * 4 + 4])
        .collect();
    groups.join(":")
}

/// Answers one connection: one request, then close.
fn serve(state: &State, mut stream: TcpStream) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
    let Some(head) = read_head(&mut stream) else {
        return;
    };
    let (status, headers, body) = respond(state, &head);
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Error",
    };
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str("\r\n");
    out.push_str(&body);
    let _ = stream.write_all(out.as_bytes());
    let _ = stream.flush();
    let _ = stream.shutdown(Shutdown::Both);
}

/// The request head (through the blank line), or `None` if the client sent none.
fn read_head(stream: &mut TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        if head.len() > MAX_REQUEST_HEAD {
            return None;
        }
        let n = stream.read(&mut buf).ok()?;
        if n == 0 {
            return None;
        }
        head.extend_from_slice(&buf[..n]);
    }
    Some(String::from_utf8_lossy(&head).into_owned())
}

type Response = (u16, Vec<(&'static str, String)>, String);

fn error_body(code: &str, message: &str) -> String {
    serde_json::json!({ "errors": [{ "code": code, "message": message }] }).to_string()
}

/// Decides the answer to `head` and records the request.
fn respond(state: &State, head: &str) -> Response {
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next().unwrap_or("").split(' ');
    let method = request_line.next().unwrap_or("").to_owned();
    let target = request_line.next().unwrap_or("");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut service = None;
    let mut scopes = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_decode(value);
        match percent_decode(name).as_str() {
            "service" => service = Some(value),
            "scope" => scopes.extend(
                value
                    .split(' ')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned),
            ),
            _ => {}
        }
    }
    let authorization = lines
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("authorization"))
        .map(|(_, value)| value.trim().to_owned());
    let basic = authorization.as_deref().and_then(|value| {
        let (scheme, b64) = value.split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return None;
        }
        let plain = String::from_utf8(STANDARD.decode(b64.trim()).ok()?).ok()?;
        plain
            .split_once(':')
            .map(|(u, p)| (u.to_owned(), p.to_owned()))
    });
    let authenticated = basic
        .as_ref()
        .is_some_and(|(u, p)| *u == state.user && *p == state.password);
    let mut record = TokenRequest {
        method: method.clone(),
        path: path.to_owned(),
        service: service.clone(),
        scopes: scopes.clone(),
        user: basic.as_ref().map(|(u, _)| u.clone()),
        sent_credentials: authorization.is_some(),
        authenticated,
        status: 0,
        granted: Vec::new(),
    };
    let response = if path != "/token" {
        (
            404,
            Vec::new(),
            error_body("NOT_FOUND", "only /token is served"),
        )
    } else if method != "GET" {
        (
            405,
            vec![("Allow", "GET".to_owned())],
            error_body("UNSUPPORTED", "only GET /token is served"),
        )
    } else if service.as_deref() != Some(TOKEN_SERVICE) {
        (
            400,
            Vec::new(),
            error_body(
                "INVALID_REQUEST",
                &format!("service must be {TOKEN_SERVICE:?}, got {service:?}"),
            ),
        )
    } else if authorization.is_some() && !authenticated {
        (
            401,
            vec![(
                "WWW-Authenticate",
                format!("Basic realm=\"{TOKEN_ISSUER}\""),
            )],
            error_body("UNAUTHORIZED", "incorrect username or password"),
        )
    } else {
        // Authenticated: everything asked for. Anonymous: a token that grants nothing.
        let grants: Vec<Grant> = if authenticated {
            scopes
                .iter()
                .filter_map(|s| Grant::parse(s))
                .filter(|g| !g.actions.is_empty())
                .collect()
        } else {
            Vec::new()
        };
        record.granted = grants.iter().map(Grant::scope).collect();
        let now = unix_now();
        let subject = if authenticated {
            state.user.as_str()
        } else {
            ""
        };
        let token = state.jwt(KeyHint::X5c, subject, &grants, now);
        let body = serde_json::json!({
            "token": token,
            "access_token": token,
            "expires_in": TOKEN_LIFETIME_SECS,
            "issued_at": rfc3339(now),
        });
        (200, Vec::new(), body.to_string())
    };
    record.status = response.0;
    state
        .requests
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(record);
    response
}

/// Decodes `%XX` escapes and `+` (a space, in a query).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `YYYY-MM-DDTHH:MM:SSZ` for a Unix time.
fn rfc3339(secs: u64) -> String {
    let days = i64::try_from(secs / 86_400).expect("a date in range");
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[test]
fn rfc3339_formats_known_instants() {
    assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    assert_eq!(rfc3339(1_767_225_599), "2025-12-31T23:59:59Z");
}

#[test]
fn percent_decode_handles_scopes() {
    assert_eq!(
        percent_decode("repository%3Afoo%2Fbar%3Apull%2Cpush+x"),
        "repository:foo/bar:pull,push x"
    );
    assert_eq!(percent_decode("100%"), "100%");
    assert_eq!(percent_decode("%zz"), "%zz");
}
