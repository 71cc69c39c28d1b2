//! Helpers every integration-test module shares: the `airlock` binary, the external tools the
//! interop tests drive (skopeo, umoci, the venv's python) and a real CNCF Distribution registry
//! on loopback.
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

/// Where Debian's `docker-registry` package installs the Distribution registry.
const REGISTRY_BIN: &str = "/usr/bin/docker-registry";
/// How long a registry may take to answer `GET /v2/` after it is started.
const REGISTRY_READY_TIMEOUT: Duration = Duration::from_secs(10);
/// Response header the harness configures on each registry, so a readiness probe that reaches
/// another process on the same port is never mistaken for ours.
const TOKEN_HEADER: &str = "X-Airlock-Harness";

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

/// A CNCF Distribution registry serving plain HTTP on a free loopback port, with its storage in
/// a temporary directory. Dropping it kills the process and removes the storage.
pub(crate) struct Registry {
    child: Child,
    port: u16,
    // Held for its Drop: config, storage and log live here.
    _dir: tempfile::TempDir,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("host", &self.host())
            .field("pid", &self.child.id())
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

impl Registry {
    /// Starts a registry and waits until it answers `GET /v2/`; panics with its log if it does
    /// not within ten seconds. A port lost to a race is retried on another port.
    pub(crate) fn start() -> Registry {
        assert!(
            is_executable(Path::new(REGISTRY_BIN)),
            "{REGISTRY_BIN} is missing; run scripts/test, which installs it \
             (Debian package docker-registry)"
        );
        let mut failures = Vec::new();
        for _ in 0..5 {
            match Registry::try_start() {
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

    fn try_start() -> Result<Registry, StartFailure> {
        static STARTED: AtomicU64 = AtomicU64::new(0);
        let dir = tempfile::tempdir().expect("create registry directory");
        let port = free_port();
        let token = format!(
            "{}-{}-{port}",
            std::process::id(),
            STARTED.fetch_add(1, Ordering::Relaxed)
        );
        let storage = dir.path().join("storage");
        fs::create_dir(&storage).expect("create registry storage");
        let storage = storage.to_str().expect("temporary path is UTF-8");
        assert!(
            !storage.contains(['"', '\\']),
            "storage path needs no YAML escaping: {storage}"
        );
        let config = dir.path().join("config.yml");
        fs::write(
            &config,
            format!(
                "version: 0.1\n\
                 log:\n  level: error\n  accesslog:\n    disabled: true\n\
                 storage:\n  filesystem:\n    rootdirectory: \"{storage}\"\n  \
                 delete:\n    enabled: true\n  \
                 maintenance:\n    uploadpurging:\n      enabled: false\n\
                 http:\n  addr: 127.0.0.1:{port}\n  headers:\n    {TOKEN_HEADER}: [\"{token}\"]\n"
            ),
        )
        .expect("write registry config");
        let log_path = dir.path().join("registry.log");
        let log = File::create(&log_path).expect("create registry log");
        let child = Command::new(REGISTRY_BIN)
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("duplicate log handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {REGISTRY_BIN}: {e}"));
        let mut registry = Registry {
            child,
            port,
            _dir: dir,
        };
        match registry.wait_ready(&token) {
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

    /// Polls `GET /v2/` until the registry that answers carries `token`.
    fn wait_ready(&mut self, token: &str) -> Result<(), String> {
        let deadline = Instant::now() + REGISTRY_READY_TIMEOUT;
        let mut last = String::from("no answer yet");
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("poll registry process") {
                return Err(format!("registry exited ({status})"));
            }
            match self.get("/v2/") {
                Ok(response) => {
                    let ours = response.lines().any(|line| {
                        line.split_once(':').is_some_and(|(name, value)| {
                            name.eq_ignore_ascii_case(TOKEN_HEADER) && value.trim() == token
                        })
                    });
                    if response.starts_with("HTTP/1.") && response.contains(" 200 ") && ours {
                        return Ok(());
                    }
                    last = format!(
                        "unexpected answer: {}",
                        response.lines().next().unwrap_or("")
                    );
                }
                Err(e) => last = e.to_string(),
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!(
            "no answer to GET /v2/ within {REGISTRY_READY_TIMEOUT:?} ({last})"
        ))
    }

    /// A plain HTTP/1.0 GET against the registry; returns the whole response (head and body).
    pub(crate) fn get(&self, path: &str) -> std::io::Result<String> {
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

#[test]
fn registry_serves_what_skopeo_pushes() {
    use airlock::layout::Layout;
    use airlock::reference::LayoutTag;

    // A plain image (no index, no referrer): this checks the harness, not the interop quirks.
    let work = tempfile::tempdir().expect("temporary directory");
    let dir = work.path().join("layout");
    let layout = Layout::init(&dir, airlock::Limits::default()).expect("init layout");
    let image = airlock::build::put_image(
        &layout,
        &[("harness.txt", b"registry harness\n")],
        "amd64",
        "2026-01-01T00:00:00Z",
    )
    .expect("write image");
    layout
        .tag(&LayoutTag::new("v1").expect("valid tag"), &image)
        .expect("tag image");
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
