//! Helpers every integration-test module shares: the `airlock` binary, the external tools the
//! interop tests drive (skopeo, umoci, the venv's python) and a real CNCF Distribution registry
//! on loopback: plain HTTP and open by default, or with TLS, basic auth or token auth
//! ([`Registry::start_with`]; certificates, htpasswd and the token server are in
//! `auth_servers`).
//!
//! `scripts/test` installs every tool used here. A missing tool fails the test with that hint;
//! nothing is skipped silently.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::auth_servers::{self, TokenRequest, TokenServer};

/// Where Debian's `docker-registry` package installs the Distribution registry.
const REGISTRY_BIN: &str = "/usr/bin/docker-registry";
/// How long a registry may take to answer `GET /v2/` after it is started.
const REGISTRY_READY_TIMEOUT: Duration = Duration::from_secs(10);
/// Response header the harness configures on each registry, so a readiness probe that reaches
/// another process on the same port is never mistaken for ours.
const TOKEN_HEADER: &str = "X-Airlock-Harness";
/// The realm a basic-auth registry names in its challenge.
const BASIC_REALM: &str = "airlock-harness";

/// The `airlock` binary built for this test run.
pub(crate) fn airlock() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_airlock"));
    // Never the user's own trust store: a path that does not exist unless a test sets its own.
    cmd.env(
        "AIRLOCK_TRUST_DIR",
        std::env::temp_dir().join(format!("airlock-test-no-store-{}", std::process::id())),
    );
    cmd
}

/// The path of `name` on `PATH`; panics, naming the installer, when it is not there.
pub(crate) fn require_tool(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
        .unwrap_or_else(|| {
            panic!(
                "{name} is not on PATH; run scripts/test, which installs it \
                 (Debian package {name})"
            )
        })
}

fn is_executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Runs `skopeo --insecure-policy ARGS` and returns its stdout as text; panics with its stderr
/// on failure. Pass `--src-tls-verify=false` / `--dest-tls-verify=false` for a [`Registry`].
pub(crate) fn skopeo(args: &[&str]) -> String {
    String::from_utf8(skopeo_bytes(args)).expect("skopeo prints UTF-8")
}

/// Like [`skopeo`], returning stdout as bytes (for `inspect --raw`, compared byte for byte).
pub(crate) fn skopeo_bytes(args: &[&str]) -> Vec<u8> {
    let mut cmd = Command::new(require_tool("skopeo"));
    cmd.arg("--insecure-policy").args(args);
    run_ok(&mut cmd, "skopeo").stdout
}

/// Runs `cmd` to completion with no stdin; panics with its stderr unless it exits 0.
pub(crate) fn run_ok(cmd: &mut Command, what: &str) -> std::process::Output {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}): {cmd:?}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The venv python that has pycose, cryptography and cbor2: `AIRLOCK_TEST_PYTHON`, else
/// `.venv/bin/python` in the crate root.
pub(crate) fn python() -> PathBuf {
    let path = std::env::var_os("AIRLOCK_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python"));
    assert!(
        is_executable(&path),
        "no python venv at {}; run scripts/test, which creates it with pycose, cryptography \
         and cbor2<6",
        path.display()
    );
    path
}

/// Who may use a [`Registry`].
#[derive(Debug, Clone, Default)]
pub(crate) enum Access {
    /// Anyone, for anything.
    #[default]
    Open,
    /// HTTP basic auth against an htpasswd file (bcrypt) holding this one user.
    Basic { user: String, password: String },
    /// Docker token auth: the registry answers 401 with a `Bearer` challenge naming a token
    /// server in the test process, which gives this user (by basic auth) every action asked
    /// for and anonymous callers a token that grants nothing (see `auth_servers`).
    Token { user: String, password: String },
}

/// How [`Registry::start_with`] configures a registry.
#[derive(Debug, Clone, Default)]
pub(crate) struct RegistryOptions {
    /// Serve HTTPS with a certificate from a throwaway CA ([`Registry::ca_file`]) for
    /// `127.0.0.1` and `localhost`, instead of plain HTTP.
    pub(crate) tls: bool,
    pub(crate) access: Access,
}

/// A CNCF Distribution registry on a free loopback port, with its storage in a temporary
/// directory. Dropping it kills the process (and its token server) and removes the storage.
pub(crate) struct Registry {
    child: Child,
    port: u16,
    /// The CA certificate the registry's TLS certificate chains to, when it serves HTTPS.
    ca_file: Option<PathBuf>,
    token_server: Option<TokenServer>,
    // Held for its Drop: config, certificates, storage and log live here.
    _dir: tempfile::TempDir,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("url", &self.url(""))
            .field("pid", &self.child.id())
            .field("token_server", &self.token_server)
            .finish()
    }
}

/// Ports this test process has handed to a registry; never handed out twice.
static PORTS_USED: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

/// A loopback port nothing listens on right now, not used before by this process.
fn free_port() -> u16 {
    loop {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener
            .local_addr()
            .expect("local address of a bound socket")
            .port();
        let mut used = PORTS_USED.lock().unwrap_or_else(|e| e.into_inner());
        if used.get_or_insert_with(HashSet::new).insert(port) {
            return port;
        }
    }
}

/// Why a started registry did not become ready.
enum StartFailure {
    /// The port was taken between choosing it and the registry binding it.
    PortTaken(String),
    Other(String),
}

/// `path` as a double-quoted YAML scalar; panics if it would need escaping.
fn yaml_path(path: &Path) -> String {
    let text = path.to_str().expect("temporary path is UTF-8");
    assert!(
        !text.contains(['"', '\\', '\n']),
        "path needs no YAML escaping: {text}"
    );
    format!("\"{text}\"")
}

impl Registry {
    /// Starts a plain-HTTP, open registry and waits until it answers `GET /v2/`; panics with its
    /// log if it does not within ten seconds. A port lost to a race is retried on another port.
    pub(crate) fn start() -> Registry {
        Registry::start_with(RegistryOptions::default())
    }

    /// Starts a plain-HTTP registry that wants HTTP basic auth as `user` / `password`.
    pub(crate) fn with_basic_auth(user: &str, password: &str) -> Registry {
        Registry::start_with(RegistryOptions {
            tls: false,
            access: Access::Basic {
                user: user.into(),
                password: password.into(),
            },
        })
    }

    /// Starts a registry configured by `opts` and waits until it answers `GET /v2/` (200 when
    /// open, 401 with the expected challenge otherwise); panics with its log if it does not
    /// within ten seconds. A port lost to a race is retried on another port.
    pub(crate) fn start_with(opts: RegistryOptions) -> Registry {
        assert!(
            is_executable(Path::new(REGISTRY_BIN)),
            "{REGISTRY_BIN} is missing; run scripts/test, which installs it \
             (Debian package docker-registry)"
        );
        let mut failures = Vec::new();
        for _ in 0..5 {
            match Registry::try_start(&opts) {
                Ok(registry) => return registry,
                Err(StartFailure::PortTaken(why)) => failures.push(why),
                Err(StartFailure::Other(why)) => panic!("registry did not start: {why}"),
            }
        }
        panic!(
            "registry did not start, every port was taken:\n{}",
            failures.join("\n")
        );
    }

    fn try_start(opts: &RegistryOptions) -> Result<Registry, StartFailure> {
        static STARTED: AtomicU64 = AtomicU64::new(0);
        let dir = tempfile::tempdir().expect("create registry directory");
        // Before choosing the registry's port, so the two cannot be the same.
        let token_server = match &opts.access {
            Access::Token { user, password } => {
                Some(TokenServer::start(dir.path(), user, password))
            }
            Access::Open | Access::Basic { .. } => None,
        };
        let port = free_port();
        let token = format!(
            "{}-{}-{port}",
            std::process::id(),
            STARTED.fetch_add(1, Ordering::Relaxed)
        );
        let storage = dir.path().join("storage");
        fs::create_dir(&storage).expect("create registry storage");
        let mut config = format!(
            "version: 0.1\n\
             log:\n  level: error\n  accesslog:\n    disabled: true\n\
             storage:\n  filesystem:\n    rootdirectory: {}\n  \
             delete:\n    enabled: true\n  \
             maintenance:\n    uploadpurging:\n      enabled: false\n\
             http:\n  addr: 127.0.0.1:{port}\n  headers:\n    {TOKEN_HEADER}: [\"{token}\"]\n",
            yaml_path(&storage)
        );
        let ca_file = opts.tls.then(|| {
            let tls = auth_servers::write_tls_files(dir.path());
            config.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                yaml_path(&tls.server_cert),
                yaml_path(&tls.server_key)
            ));
            tls.ca_cert
        });
        match &opts.access {
            Access::Open => {}
            Access::Basic { user, password } => {
                let htpasswd = dir.path().join("htpasswd");
                auth_servers::write_htpasswd(&htpasswd, user, password);
                config.push_str(&format!(
                    "auth:\n  htpasswd:\n    realm: {BASIC_REALM}\n    path: {}\n",
                    yaml_path(&htpasswd)
                ));
            }
            Access::Token { .. } => {
                let server = token_server.as_ref().expect("token server started above");
                config.push_str(&format!(
                    "auth:\n  token:\n    realm: \"{}\"\n    service: {}\n    issuer: {}\n    \
                     rootcertbundle: {}\n",
                    server.realm(),
                    auth_servers::TOKEN_SERVICE,
                    auth_servers::TOKEN_ISSUER,
                    yaml_path(server.cert_path())
                ));
            }
        }
        let config_path = dir.path().join("config.yml");
        fs::write(&config_path, config).expect("write registry config");
        let log_path = dir.path().join("registry.log");
        let log = File::create(&log_path).expect("create registry log");
        let child = Command::new(REGISTRY_BIN)
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("duplicate log handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {REGISTRY_BIN}: {e}"));
        let mut registry = Registry {
            child,
            port,
            ca_file,
            token_server,
            _dir: dir,
        };
        match registry.wait_ready(&token, &opts.access) {
            Ok(()) => Ok(registry),
            Err(why) => {
                registry.stop();
                let log = fs::read_to_string(&log_path).unwrap_or_default();
                let report = format!("{why} on port {port}; registry output:\n{log}");
                if log.contains("address already in use") {
                    Err(StartFailure::PortTaken(report))
                } else {
                    Err(StartFailure::Other(report))
                }
            }
        }
    }

    /// Polls `GET /v2/` until the registry that answers carries `token` and the status (and
    /// challenge) `access` calls for.
    fn wait_ready(&mut self, token: &str, access: &Access) -> Result<(), String> {
        let (want_status, want_challenge) = match access {
            Access::Open => (200, None),
            Access::Basic { .. } => (401, Some("Basic ")),
            Access::Token { .. } => (401, Some("Bearer ")),
        };
        let client = self.ca_file.is_some().then(|| self.client());
        let deadline = Instant::now() + REGISTRY_READY_TIMEOUT;
        let mut last = String::from("no answer yet");
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("poll registry process") {
                return Err(format!("registry exited ({status})"));
            }
            let probe = match &client {
                Some(client) => self.probe_https(client),
                None => self.probe_http(),
            };
            match probe {
                Ok(answer) => {
                    let ours = answer.header(TOKEN_HEADER) == Some(token);
                    let challenge_ok = want_challenge.is_none_or(|scheme| {
                        answer
                            .header("WWW-Authenticate")
                            .is_some_and(|c| c.starts_with(scheme))
                    });
                    if answer.status == want_status && ours && challenge_ok {
                        return Ok(());
                    }
                    last = format!(
                        "unexpected answer: status {}, {TOKEN_HEADER} {:?}, \
                         WWW-Authenticate {:?}",
                        answer.status,
                        answer.header(TOKEN_HEADER),
                        answer.header("WWW-Authenticate")
                    );
                }
                Err(e) => last = e,
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!(
            "no answer to GET /v2/ within {REGISTRY_READY_TIMEOUT:?} ({last})"
        ))
    }

    fn probe_http(&self) -> Result<Probe, String> {
        let response = self.get("/v2/").map_err(|e| e.to_string())?;
        let head = response.split("\r\n\r\n").next().unwrap_or("");
        let mut lines = head.lines();
        let status_line = lines.next().unwrap_or("");
        let status = status_line
            .strip_prefix("HTTP/1.")
            .and_then(|rest| rest.get(2..5))
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| format!("not an HTTP response: {status_line:?}"))?;
        let headers = lines
            .filter_map(|line| line.split_once(':'))
            .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
            .collect();
        Ok(Probe { status, headers })
    }

    fn probe_https(&self, client: &reqwest::blocking::Client) -> Result<Probe, String> {
        let response = client
            .get(self.url("/v2/"))
            .timeout(Duration::from_secs(2))
            .send()
            .map_err(|e| error_chain(&e))?;
        let headers = response
            .headers()
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect();
        Ok(Probe {
            status: response.status().as_u16(),
            headers,
        })
    }

    /// A plain HTTP/1.0 GET against the registry, without credentials; returns the whole
    /// response (head and body). Only for a registry without TLS: use [`Registry::client`] for
    /// one with.
    pub(crate) fn get(&self, path: &str) -> std::io::Result<String> {
        assert!(
            self.ca_file.is_none(),
            "Registry::get speaks plain HTTP; this registry serves HTTPS, use Registry::client"
        );
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(500))?;
        stream.set_read_timeout(Some(Duration::from_secs(2)))?;
        stream.set_write_timeout(Some(Duration::from_secs(2)))?;
        write!(
            stream,
            "GET {path} HTTP/1.0\r\nHost: {}\r\n\r\n",
            self.host()
        )?;
        let mut response = Vec::new();
        stream.take(1 << 20).read_to_end(&mut response)?;
        Ok(String::from_utf8_lossy(&response).into_owned())
    }

    /// `127.0.0.1:PORT`, for `docker://HOST/repo:tag` references.
    pub(crate) fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:PORT{path}`, or `https://...` when the registry serves TLS.
    pub(crate) fn url(&self, path: &str) -> String {
        let scheme = if self.ca_file.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}{path}", self.host())
    }

    /// The CA certificate (PEM) to trust for this registry (`--ca-file`); `None` without TLS.
    pub(crate) fn ca_file(&self) -> Option<&Path> {
        self.ca_file.as_deref()
    }

    /// A blocking HTTP client for this registry: with TLS, it trusts only [`Registry::ca_file`]
    /// (not the system roots). It sends no credentials of its own.
    pub(crate) fn client(&self) -> reqwest::blocking::Client {
        let mut builder = reqwest::blocking::Client::builder().timeout(Duration::from_secs(10));
        if let Some(ca) = &self.ca_file {
            let pem = fs::read(ca).expect("read the registry's CA certificate");
            let cert = reqwest::Certificate::from_pem(&pem).expect("the CA certificate is PEM");
            builder = builder
                .tls_built_in_root_certs(false)
                .add_root_certificate(cert);
        }
        builder.build().expect("build an HTTP client")
    }

    /// The registry's token server; panics unless it was started with [`Access::Token`].
    pub(crate) fn token_server(&self) -> &TokenServer {
        self.token_server
            .as_ref()
            .expect("this registry was not started with Access::Token; it has no token server")
    }

    /// Every request its token server received so far; panics unless it was started with
    /// [`Access::Token`].
    pub(crate) fn token_requests(&self) -> Vec<TokenRequest> {
        self.token_server().requests()
    }

    fn stop(&mut self) {
        // Kill fails only if the process already exited; wait reaps it either way.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}

#[test]
fn venv_has_pycose() {
    let script = "import importlib.metadata as m, pycose, cryptography, cbor2\n\
                  print(m.version('cbor2'))";
    let out = run_ok(Command::new(python()).args(["-c", script]), "python");
    let version = String::from_utf8(out.stdout).expect("version is UTF-8");
    let major: u32 = version
        .trim()
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or_else(|| panic!("cbor2 version {version:?} does not parse"));
    assert!(
        major < 6,
        "cbor2 {} breaks pycose; scripts/test installs cbor2<6",
        version.trim()
    );
}

/// A layout at `dir` holding one `linux/amd64` image of one file, tagged `v1`.
fn one_file_image(
    dir: &Path,
    name: &str,
    content: &[u8],
) -> (airlock::layout::Layout, oci_spec::image::Descriptor) {
    let layout =
        airlock::layout::Layout::init(dir, airlock::Limits::default()).expect("init layout");
    let image =
        airlock::build::put_image(&layout, &[(name, content)], "amd64", "2026-01-01T00:00:00Z")
            .expect("write image");
    layout
        .tag(
            &airlock::reference::LayoutTag::new("v1").expect("valid tag"),
            &image,
        )
        .expect("tag image");
    (layout, image)
}

#[test]
fn registry_serves_what_skopeo_pushes() {
    // A plain image (no index, no referrer): this checks the harness, not the interop quirks.
    let work = tempfile::tempdir().expect("temporary directory");
    let dir = work.path().join("layout");
    let (layout, image) = one_file_image(&dir, "harness.txt", b"registry harness\n");
    let digest = airlock::Digest::from_oci(image.digest()).expect("valid digest");
    let manifest = fs::read(layout.blob_path(&digest)).expect("read manifest blob");

    let registry = Registry::start();
    let host = registry.host();
    let src = format!("oci:{}:v1", dir.display());
    let dest = format!("docker://{host}/harness:v1");
    skopeo(&[
        "copy",
        "--preserve-digests",
        "--dest-tls-verify=false",
        &src,
        &dest,
    ]);
    let raw = skopeo_bytes(&["inspect", "--raw", "--tls-verify=false", &dest]);
    assert_eq!(
        raw, manifest,
        "the registry returns the manifest bytes that were pushed"
    );
    let by_digest = format!("docker://{host}/harness@{digest}");
    let raw = skopeo_bytes(&["inspect", "--raw", "--tls-verify=false", &by_digest]);
    assert_eq!(raw, manifest, "the manifest is stored under its digest");
    let tags = registry
        .get("/v2/harness/tags/list")
        .expect("GET tags/list");
    assert!(tags.contains(r#""tags":["v1"]"#), "tags/list: {tags}");

    drop(registry);
    let addr = SocketAddr::from(([127, 0, 0, 1], host_port(&host)));
    assert!(
        TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_err(),
        "nothing listens on {host} once the registry is dropped"
    );
}

const TEST_USER: &str = "harness-user";
const TEST_PASSWORD: &str = "harness password: s3cret!";

fn token_access() -> Access {
    Access::Token {
        user: TEST_USER.into(),
        password: TEST_PASSWORD.into(),
    }
}

fn header(response: &reqwest::blocking::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default()
}

#[test]
fn tls_registry_is_trusted_only_with_its_ca() {
    let registry = Registry::start_with(RegistryOptions {
        tls: true,
        access: Access::Open,
    });
    let ca = registry.ca_file().expect("a TLS registry has a CA file");
    let pem = fs::read_to_string(ca).expect("read CA file");
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
    assert!(registry.url("/v2/").starts_with("https://127.0.0.1:"));

    let client = registry.client();
    let response = client.get(registry.url("/v2/")).send().expect("GET /v2/");
    assert_eq!(response.status().as_u16(), 200);
    // The certificate names localhost too.
    let by_name = format!("https://localhost:{}/v2/", registry.port);
    let response = client.get(&by_name).send().expect("GET /v2/ by name");
    assert_eq!(response.status().as_u16(), 200);

    let error = reqwest::blocking::Client::new()
        .get(registry.url("/v2/"))
        .send()
        .expect_err("a client without the CA refuses the registry's certificate");
    let chain = error_chain(&error);
    assert!(
        chain.contains("UnknownIssuer"),
        "the refusal is a TLS certificate error: {chain}"
    );
}

fn assert_basic_auth(registry: &Registry) {
    let client = registry.client();
    let url = registry.url("/v2/");
    let response = client.get(&url).send().expect("GET /v2/");
    assert_eq!(response.status().as_u16(), 401);
    assert_eq!(
        header(&response, "WWW-Authenticate"),
        format!("Basic realm=\"{BASIC_REALM}\"")
    );
    let response = client
        .get(&url)
        .basic_auth(TEST_USER, Some("wrong"))
        .send()
        .expect("GET /v2/ with a wrong password");
    assert_eq!(response.status().as_u16(), 401);
    let response = client
        .get(&url)
        .basic_auth(TEST_USER, Some(TEST_PASSWORD))
        .send()
        .expect("GET /v2/ with the password");
    assert_eq!(response.status().as_u16(), 200);
    let response = client
        .get(registry.url("/v2/harness-basic/tags/list"))
        .basic_auth(TEST_USER, Some(TEST_PASSWORD))
        .send()
        .expect("GET tags/list with the password");
    assert_eq!(response.status().as_u16(), 404);
    assert!(response.text().expect("body").contains("NAME_UNKNOWN"));
}

#[test]
fn basic_registry_checks_htpasswd() {
    let access = Access::Basic {
        user: TEST_USER.into(),
        password: TEST_PASSWORD.into(),
    };
    // Registry 2.8 does not insist on TLS for htpasswd: plain HTTP works, and so does HTTPS.
    let plain = Registry::start_with(RegistryOptions {
        tls: false,
        access: access.clone(),
    });
    assert_basic_auth(&plain);
    let tls = Registry::start_with(RegistryOptions { tls: true, access });
    assert_basic_auth(&tls);
}

/// Asks `registry`'s token server for `scopes`, with `credentials`; returns the status and
/// the token (empty unless 200).
fn fetch_token(
    registry: &Registry,
    scopes: &[&str],
    credentials: Option<(&str, &str)>,
) -> (u16, String) {
    let mut query = vec![("service", auth_servers::TOKEN_SERVICE)];
    query.extend(scopes.iter().map(|s| ("scope", *s)));
    let mut request = reqwest::blocking::Client::new()
        .get(registry.token_server().realm())
        .query(&query);
    if let Some((user, password)) = credentials {
        request = request.basic_auth(user, Some(password));
    }
    let response = request.send().expect("GET token");
    let status = response.status().as_u16();
    if status != 200 {
        return (status, String::new());
    }
    let body: serde_json::Value = serde_json::from_str(&response.text().expect("token answer"))
        .expect("token answer is JSON");
    let token = body["token"]
        .as_str()
        .expect("token is a string")
        .to_owned();
    assert_eq!(
        body["access_token"].as_str(),
        Some(token.as_str()),
        "{body}"
    );
    assert_eq!(
        body["expires_in"].as_u64(),
        Some(auth_servers::TOKEN_LIFETIME_SECS)
    );
    let issued_at = body["issued_at"].as_str().expect("issued_at is a string");
    assert!(
        issued_at.len() == 20 && issued_at.ends_with('Z'),
        "issued_at is RFC 3339 UTC: {issued_at}"
    );
    (status, token)
}

/// `GET path` on `registry` with `token` as bearer; the status and body.
fn get_with_token(registry: &Registry, path: &str, token: &str) -> (u16, String, String) {
    let response = registry
        .client()
        .get(registry.url(path))
        .bearer_auth(token)
        .send()
        .expect("GET with a token");
    let status = response.status().as_u16();
    let challenge = header(&response, "WWW-Authenticate");
    (status, challenge, response.text().expect("body"))
}

fn assert_token_auth(registry: &Registry) {
    let realm = registry.token_server().realm();
    let service = auth_servers::TOKEN_SERVICE;
    let client = registry.client();

    let response = client.get(registry.url("/v2/")).send().expect("GET /v2/");
    assert_eq!(response.status().as_u16(), 401);
    assert_eq!(
        header(&response, "WWW-Authenticate"),
        format!("Bearer realm=\"{realm}\",service=\"{service}\"")
    );
    let response = client
        .get(registry.url("/v2/harness-token/tags/list"))
        .send()
        .expect("GET tags/list");
    assert_eq!(response.status().as_u16(), 401);
    assert_eq!(
        header(&response, "WWW-Authenticate"),
        format!(
            "Bearer realm=\"{realm}\",service=\"{service}\",\
             scope=\"repository:harness-token:pull\""
        )
    );

    let pull = "repository:harness-token:pull";
    let (status, token) = fetch_token(registry, &[pull], Some((TEST_USER, TEST_PASSWORD)));
    assert_eq!(status, 200);
    assert_eq!(get_with_token(registry, "/v2/", &token).0, 200);
    let (status, _, body) = get_with_token(registry, "/v2/harness-token/tags/list", &token);
    assert_eq!(status, 404, "a pull token lists tags: {body}");
    assert!(body.contains("NAME_UNKNOWN"), "{body}");

    // A token for another repository opens /v2/ but not this repository.
    let (_, other) = fetch_token(
        registry,
        &["repository:harness-other:pull,push"],
        Some((TEST_USER, TEST_PASSWORD)),
    );
    assert_eq!(get_with_token(registry, "/v2/", &other).0, 200);
    let (status, challenge, body) = get_with_token(registry, "/v2/harness-token/tags/list", &other);
    assert_eq!(status, 401, "another repository's token: {body}");
    assert!(
        challenge.contains("error=\"insufficient_scope\""),
        "{challenge}"
    );

    // Anonymous callers get a token that grants nothing; wrong passwords get no token.
    let (status, anonymous) = fetch_token(registry, &[pull], None);
    assert_eq!(status, 200);
    assert_eq!(get_with_token(registry, "/v2/", &anonymous).0, 200);
    assert_eq!(
        get_with_token(registry, "/v2/harness-token/tags/list", &anonymous).0,
        401
    );
    assert_eq!(
        fetch_token(registry, &[pull], Some((TEST_USER, "wrong"))).0,
        401
    );

    // Both ways of naming the signing key work with registry 2.8.
    let grant = [auth_servers::Grant::repository("harness-token", &["pull"])];
    for hint in [auth_servers::KeyHint::X5c, auth_servers::KeyHint::Kid] {
        let token = registry.token_server().mint(hint, TEST_USER, &grant);
        let (status, _, body) = get_with_token(registry, "/v2/harness-token/tags/list", &token);
        assert_eq!(status, 404, "{hint:?} token: {body}");
    }
    // The registry does check signatures: a key outside its root bundle is refused either way.
    let stranger_dir = tempfile::tempdir().expect("temporary directory");
    let stranger = TokenServer::start(stranger_dir.path(), TEST_USER, TEST_PASSWORD);
    for hint in [auth_servers::KeyHint::X5c, auth_servers::KeyHint::Kid] {
        let token = stranger.mint(hint, TEST_USER, &grant);
        let (status, challenge, body) =
            get_with_token(registry, "/v2/harness-token/tags/list", &token);
        assert_eq!(status, 401, "{hint:?} token from an untrusted key: {body}");
        assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    }
    drop(stranger);

    let expect = |scope: &str, user: Option<&str>, authenticated: bool, status: u16| {
        let granted = if authenticated {
            vec![scope.to_owned()]
        } else {
            Vec::new()
        };
        TokenRequest {
            method: "GET".into(),
            path: "/token".into(),
            service: Some(service.into()),
            scopes: vec![scope.into()],
            user: user.map(str::to_owned),
            sent_credentials: user.is_some(),
            authenticated,
            status,
            granted,
        }
    };
    assert_eq!(
        registry.token_requests(),
        [
            expect(pull, Some(TEST_USER), true, 200),
            expect(
                "repository:harness-other:pull,push",
                Some(TEST_USER),
                true,
                200
            ),
            expect(pull, None, false, 200),
            expect(pull, Some(TEST_USER), false, 401),
        ]
    );
}

#[test]
fn token_registry_accepts_its_token_servers_tokens() {
    let registry = Registry::start_with(RegistryOptions {
        tls: false,
        access: token_access(),
    });
    assert_token_auth(&registry);
}

#[test]
fn tls_token_registry_accepts_its_token_servers_tokens() {
    let registry = Registry::start_with(RegistryOptions {
        tls: true,
        access: token_access(),
    });
    assert_token_auth(&registry);
}

#[test]
fn skopeo_pushes_through_tls_and_token_auth() {
    let work = tempfile::tempdir().expect("temporary directory");
    let dir = work.path().join("layout");
    one_file_image(&dir, "token.txt", b"token harness\n");

    let registry = Registry::start_with(RegistryOptions {
        tls: true,
        access: token_access(),
    });
    // skopeo reads every *.crt in --cert-dir as a CA.
    let certs = work.path().join("certs");
    fs::create_dir(&certs).expect("create cert dir");
    fs::copy(
        registry.ca_file().expect("TLS registry"),
        certs.join("ca.crt"),
    )
    .expect("copy CA");
    let certs = certs.to_str().expect("UTF-8 path");
    let creds = format!("{TEST_USER}:{TEST_PASSWORD}");
    let dest = format!("docker://{}/harness/token:v1", registry.host());
    skopeo(&[
        "copy",
        "--dest-cert-dir",
        certs,
        "--dest-creds",
        &creds,
        &format!("oci:{}:v1", dir.display()),
        &dest,
    ]);
    skopeo_bytes(&[
        "inspect",
        "--raw",
        "--cert-dir",
        certs,
        "--creds",
        &creds,
        &dest,
    ]);
    let requests = registry.token_requests();
    assert!(
        requests.iter().all(|r| r.authenticated && r.status == 200),
        "{requests:#?}"
    );
    assert!(
        requests.iter().any(|r| r
            .scopes
            .iter()
            .any(|s| s == "repository:harness/token:pull,push")),
        "skopeo asked for push: {requests:#?}"
    );
}

/// A readiness probe's answer: status and headers.
struct Probe {
    status: u16,
    headers: Vec<(String, String)>,
}

impl Probe {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// An error and all its sources, `: `-separated (reqwest's own message names no TLS cause).
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}

fn host_port(host: &str) -> u16 {
    host.rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .expect("host is IP:PORT")
}

/// Asserts that `generated` (a generator's fresh output) and `checked_in` hold the same files,
/// byte for byte, leaving out the top-level folders named in `skip`; failures name `what` (the
/// folder, as `tests/vectors/trust`) and say to run `regen`.
pub(crate) fn assert_same_tree(
    generated: &Path,
    checked_in: &Path,
    skip: &[&str],
    what: &str,
    regen: &str,
) {
    let tree = |root: &Path| {
        let mut files: Vec<PathBuf> = walkdir::WalkDir::new(root)
            .into_iter()
            .map(|e| e.expect("walk vectors"))
            .filter(|e| e.file_type().is_file())
            .map(|e| {
                e.path()
                    .strip_prefix(root)
                    .expect("below root")
                    .to_path_buf()
            })
            .filter(|p| !skip.iter().any(|s| p.starts_with(s)))
            .collect();
        files.sort();
        files
    };
    let fresh = tree(generated);
    assert_eq!(
        fresh,
        tree(checked_in),
        "{what} has other files than the generator writes; {regen}"
    );
    for rel in &fresh {
        let a = fs::read(generated.join(rel)).expect("read generated file");
        let b = fs::read(checked_in.join(rel)).expect("read checked-in file");
        assert!(
            a == b,
            "{what}/{} differs from the generator's output; {regen}",
            rel.display()
        );
    }
}
