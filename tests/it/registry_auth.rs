//! Registry authentication and transport security against the real registry: Basic (htpasswd,
//! bcrypt) over TLS with a private CA, the Bearer token flow (a token server in the harness),
//! credentials from flags, the environment, a docker config file and a credential helper.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use airlock::Digest;
use base64::Engine as _;
use serde_json::json;

use crate::harness::{Access, Registry, RegistryOptions};
use crate::proxy::{Action, Proxy};
use crate::trust::Org;

const USER: &str = "ci-bot";
const PASSWORD: &str = "s3cret:with-colon";

fn stderr_of(org: &Org, args: &[&str]) -> (Option<i32>, String) {
    let out = org.run("-", args);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `airlock ARGS` in `org`'s directory with `envs` set; asserts success and returns stdout.
fn ok_with_env(org: &Org, envs: &[(&str, &std::ffi::OsStr)], args: &[&str]) -> String {
    let out = crate::harness::airlock()
        .current_dir(org.dir.path())
        .envs(envs.iter().copied())
        .args(args)
        .output()
        .expect("run airlock");
    assert!(
        out.status.success(),
        "airlock {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn basic_auth_over_tls_with_a_private_ca() {
    let registry = Registry::start_with(RegistryOptions {
        tls: true,
        access: Access::Basic {
            user: USER.into(),
            password: PASSWORD.into(),
        },
    });
    let org = Org::new();
    let image = org.artifact("app", "v1");
    let host = registry.host();
    let remote = format!("{host}/secure/app:v1");
    let ca = registry
        .ca_file()
        .expect("TLS registry has a CA")
        .to_str()
        .expect("utf-8");
    let creds = format!("{host}={USER}:{PASSWORD}");

    // Without the CA: the certificate is refused, and the hint names --ca-file.
    let (code, err) = stderr_of(&org, &["--creds", &creds, "copy", &image, &remote]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.to_lowercase().contains("certificate"), "{err}");
    assert!(err.contains("--ca-file"), "{err}");
    // With the CA and no credentials: refused, and the hint says how to give them.
    let (code, err) = stderr_of(&org, &["--ca-file", ca, "copy", &image, &remote]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("not authorised"), "{err}");
    assert!(err.contains("--creds"), "{err}");
    // A wrong password.
    let wrong = format!("{host}={USER}:nope");
    let (code, err) = stderr_of(
        &org,
        &["--ca-file", ca, "--creds", &wrong, "copy", &image, &remote],
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("refused"), "{err}");
    assert!(
        !err.contains("nope"),
        "the password is never printed: {err}"
    );

    // Flag credentials: push, sign in place (the fallback tag is written with them too).
    org.ok(
        "-",
        &[
            "--ca-file",
            ca,
            "--creds",
            &creds,
            "copy",
            "-r",
            &image,
            &remote,
        ],
    );
    org.key("k", "ed25519");
    org.ok(
        "-",
        &[
            "--ca-file",
            ca,
            "--creds",
            &creds,
            "sign",
            &remote,
            "--key",
            "k.key",
        ],
    );
    // Environment credentials and CA.
    ok_with_env(
        &org,
        &[
            ("AIRLOCK_REGISTRY_CREDS", creds.as_ref()),
            ("AIRLOCK_CA_FILE", ca.as_ref()),
        ],
        &["verify", &remote, "--key", "k.pub"],
    );

    // A docker config file: `auths` with base64 USER:PASSWORD under an https:// key.
    let config = org.path("docker/config.json");
    fs::create_dir_all(config.parent().expect("parent")).expect("mkdir");
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    fs::write(
        &config,
        serde_json::to_vec(&json!({ "auths": { format!("https://{host}"): { "auth": auth } } }))
            .expect("json"),
    )
    .expect("write config");
    let config_arg = config.to_str().expect("utf-8");
    org.ok(
        "-",
        &[
            "--ca-file",
            ca,
            "--authfile",
            config_arg,
            "copy",
            "-r",
            &remote,
            "oci:pulled",
        ],
    );
    // DOCKER_CONFIG finds it too, without --authfile.
    let docker_dir = org.path("docker");
    let listed = ok_with_env(
        &org,
        &[("DOCKER_CONFIG", docker_dir.as_os_str())],
        &["--ca-file", ca, "discover", &remote],
    );
    assert!(listed.contains("notary.signature"), "{listed}");

    // A credential helper named by credHelpers: docker-credential-NAME get, host on stdin.
    let bin = org.path("bin");
    fs::create_dir_all(&bin).expect("mkdir");
    let helper = bin.join("docker-credential-airlocktest");
    let log = org.path("helper.log");
    fs::write(
        &helper,
        format!(
            "#!/bin/sh\n[ \"$1\" = get ] || exit 1\nread host\necho \"$host\" >> '{}'\n\
             printf '{{\"ServerURL\":\"%s\",\"Username\":\"{USER}\",\"Secret\":\"{PASSWORD}\"}}' \"$host\"\n",
            log.display()
        ),
    )
    .expect("write helper");
    fs::set_permissions(&helper, fs::Permissions::from_mode(0o755)).expect("chmod");
    let helped = org.path("helped.json");
    fs::write(
        &helped,
        serde_json::to_vec(&json!({ "credHelpers": { host.clone(): "airlocktest" } }))
            .expect("json"),
    )
    .expect("write config");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    ok_with_env(
        &org,
        &[("PATH", path.as_ref())],
        &[
            "--ca-file",
            ca,
            "--authfile",
            helped.to_str().expect("utf-8"),
            "verify",
            &remote,
            "--key",
            "k.pub",
        ],
    );
    assert_eq!(
        fs::read_to_string(&log).expect("helper ran").trim(),
        host,
        "the helper was asked once, for the host"
    );
}

#[test]
fn token_auth_asks_for_the_scopes_each_operation_needs() {
    let registry = Registry::start_with(RegistryOptions {
        tls: false,
        access: Access::Token {
            user: USER.into(),
            password: PASSWORD.into(),
        },
    });
    let org = Org::new();
    let image = org.artifact("app", "v1");
    let host = registry.host();
    let creds = format!("{host}={USER}:{PASSWORD}");
    let dev = format!("{host}/tok/dev:v1");
    org.ok("-", &["--creds", &creds, "copy", "-r", &image, &dev]);
    let pushes: Vec<_> = registry
        .token_requests()
        .into_iter()
        .filter(|r| r.scopes.iter().any(|s| s == "repository:tok/dev:pull,push"))
        .collect();
    assert!(!pushes.is_empty(), "a push token was asked for");
    assert!(
        pushes.iter().all(|r| r.authenticated),
        "with the credentials"
    );

    // Promotion asks for one token covering both repositories, and mounts the blobs.
    let before = registry.token_requests().len();
    let prod = format!("{host}/tok/prod:v1");
    let (code, doc, err) = org.json("-", &["--creds", &creds, "copy", "-r", &dev, &prod]);
    assert_eq!(code, 0, "{err}");
    assert!(doc["blobs"]["mounted"].as_u64().unwrap_or(0) > 0, "{doc}");
    let asked = &registry.token_requests()[before..];
    assert!(
        asked.iter().any(|r| {
            r.scopes
                .contains(&"repository:tok/prod:pull,push".to_owned())
                && r.scopes.contains(&"repository:tok/dev:pull".to_owned())
        }),
        "a mount needs push on the target and pull on the source: {asked:?}"
    );

    // Without credentials the token server grants nothing, and the registry still refuses.
    let (code, err) = stderr_of(&org, &["discover", &prod]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("not authorised"), "{err}");
    let last = registry.token_requests().pop().expect("a token request");
    assert!(!last.sent_credentials);

    // With them, the copy is byte for byte.
    let (code, doc, err) = org.json("-", &["--creds", &creds, "copy", "-r", &prod, "oci:out"]);
    assert_eq!(code, 0, "{err}");
    let layout =
        airlock::layout::Layout::open(org.path("out"), airlock::Limits::default()).expect("layout");
    let entry = layout
        .resolve(Some(&airlock::reference::Selector::Tag(
            airlock::reference::LayoutTag::new("v1").expect("tag"),
        )))
        .expect("the source's tag");
    assert_eq!(doc["digest"], entry.digest.to_string());
    assert_ne!(entry.digest, Digest::sha256_of(b""));

    // A large layer is read directly from the plain-HTTP registry, with the token the client
    // got for the manifest.
    let (_, _, layer) = crate::registry::big_image(&org, "big");
    org.ok(
        "-",
        &[
            "--creds",
            &creds,
            "copy",
            "oci:big:v1",
            &format!("{host}/tok/big:v1"),
        ],
    );
    let watch = Proxy::start(&host, |_| Action::Forward);
    let (code, _, err) = org.json(
        "-",
        &[
            "--creds",
            &format!("{}={USER}:{PASSWORD}", watch.host()),
            "copy",
            &format!("{}/tok/big:v1", watch.host()),
            "oci:big-out",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let gets = crate::registry::blob_gets(&watch, &layer.to_string());
    assert_eq!(gets.len(), 1, "{gets:?}");
    assert!(crate::registry::direct(&gets[0]), "{gets:?}");
    assert!(
        gets[0]
            .headers
            .iter()
            .any(|(n, v)| n.eq_ignore_ascii_case("authorization") && v.starts_with("Bearer ")),
        "{gets:?}"
    );
}

/// Writes `docker-credential-NAME` (a shell script) into `org`'s `bin`, and returns a `PATH`
/// that finds it first.
fn install_helper(org: &Org, name: &str, script: &str) -> String {
    let bin = org.path("bin");
    fs::create_dir_all(&bin).expect("mkdir");
    let helper = bin.join(format!("docker-credential-{name}"));
    fs::write(&helper, script).expect("write helper");
    fs::set_permissions(&helper, fs::Permissions::from_mode(0o755)).expect("chmod");
    format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// Writes a docker config file into `org` and returns its path.
fn write_config(org: &Org, name: &str, config: &serde_json::Value) -> String {
    let path = org.path(name);
    fs::write(&path, serde_json::to_vec(config).expect("json")).expect("write config");
    path.to_str().expect("utf-8").to_owned()
}

/// `airlock ARGS` with `PATH` set, killed (and the test failed) when it takes more than two
/// minutes; returns the exit code and stderr.
fn run_bounded(org: &Org, path: &str, args: &[&str]) -> (Option<i32>, String) {
    let mut child = crate::harness::airlock()
        .current_dir(org.dir.path())
        .env("PATH", path)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run airlock");
    let mut stderr = child.stderr.take().expect("stderr");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut text);
        text
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("airlock {args:?} hung");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    (status.code(), reader.join().expect("stderr reader"))
}

#[test]
fn an_empty_auths_entry_falls_through_to_the_creds_store() {
    let registry = Registry::with_basic_auth(USER, PASSWORD);
    let org = Org::new();
    let image = org.artifact("app", "v1");
    let host = registry.host();
    let path = install_helper(
        &org,
        "airlockstore",
        &format!(
            "#!/bin/sh\n[ \"$1\" = get ] || exit 1\nread host\n\
             printf '{{\"ServerURL\":\"%s\",\"Username\":\"{USER}\",\"Secret\":\"{PASSWORD}\"}}' \"$host\"\n"
        ),
    );
    // What Docker Desktop writes: an empty entry beside the store that holds the credentials.
    let config = write_config(
        &org,
        "desktop.json",
        &json!({ "auths": { host.clone(): {} }, "credsStore": "airlockstore" }),
    );
    ok_with_env(
        &org,
        &[("PATH", path.as_ref())],
        &[
            "--authfile",
            &config,
            "copy",
            &image,
            &format!("{host}/desktop/app:v1"),
        ],
    );
}

#[test]
fn credential_helper_failures_are_shown_and_floods_refused() {
    let registry = Registry::with_basic_auth(USER, PASSWORD);
    let org = Org::new();
    let image = org.artifact("app", "v1");
    let host = registry.host();
    let remote = format!("{host}/helpers/app:v1");

    // A helper that fails for a reason of its own: its first stderr line is shown, without
    // the control characters it held.
    let path = install_helper(
        &org,
        "airlocklocked",
        "#!/bin/sh\nprintf 'keychain is locked\\033[2K\\rverified OK\\nmore detail\\n' >&2\nexit 1\n",
    );
    let config = write_config(
        &org,
        "locked.json",
        &json!({ "credsStore": "airlocklocked" }),
    );
    let (code, err) = run_bounded(
        &org,
        &path,
        &["--authfile", &config, "copy", &image, &remote],
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("keychain is locked"), "{err}");
    assert!(err.contains("docker-credential-airlocklocked"), "{err}");
    assert!(!err.contains("more detail"), "{err}");
    assert!(!err.contains('\u{1b}') && !err.contains('\r'), "{err:?}");

    // "credentials not found" is no failure: nothing is shown about the helper.
    let path = install_helper(
        &org,
        "airlocknone",
        "#!/bin/sh\necho 'credentials not found in native keychain'\nexit 1\n",
    );
    let config = write_config(&org, "none.json", &json!({ "credsStore": "airlocknone" }));
    let (code, err) = run_bounded(
        &org,
        &path,
        &["--authfile", &config, "copy", &image, &remote],
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(!err.contains("airlocknone"), "{err}");

    // A helper that writes without end does not hang airlock.
    let path = install_helper(&org, "airlockflood", "#!/bin/sh\nexec yes airlock\n");
    let config = write_config(
        &org,
        "flood.json",
        &json!({ "credHelpers": { host.clone(): "airlockflood" } }),
    );
    let (code, err) = run_bounded(
        &org,
        &path,
        &["--authfile", &config, "copy", &image, &remote],
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("more than 1048576 bytes"), "{err}");
}
