//! The command line as a user meets it: outputs and messages are snapshot-tested (regenerate
//! with `SNAPSHOTS=overwrite cargo test --test it cli::`), exit codes checked.

use std::path::Path;

use airlock::Limits;
use airlock::build::write_sample;
use airlock::layout::Layout;
use airlock::reference::LayoutTag;
use snapbox::cmd::Command;
use snapbox::file;

fn airlock(dir: &Path) -> Command {
    Command::new(env!("CARGO_BIN_EXE_airlock"))
        .current_dir(dir)
        .env_remove("SOURCE_DATE_EPOCH")
        .env_remove("AIRLOCK_LOG")
}

/// A temp dir holding the deterministic sample layout at `./layout`, tagged `latest`.
fn sample_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let layout = Layout::init(dir.path().join("layout"), Limits::default()).expect("init");
    write_sample(
        &layout,
        &LayoutTag::new("latest").expect("tag"),
        "net-monitor",
    )
    .expect("sample");
    dir
}

fn json(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).expect("stdout is JSON")
}

#[test]
fn version() {
    let dir = tempfile::tempdir().expect("temp dir");
    airlock(dir.path())
        .arg("--version")
        .assert()
        .success()
        .stdout_eq(format!("airlock {}\n", env!("CARGO_PKG_VERSION")));
}

#[test]
fn discover_shows_the_referrer_tree() {
    let dir = sample_dir();
    airlock(dir.path())
        .args(["discover", "oci:layout:latest"])
        .assert()
        .success()
        .stdout_eq(file!["snapshots/discover.txt"])
        .stderr_eq("");
    airlock(dir.path())
        .args(["discover", "oci:layout:latest", "--blobs"])
        .assert()
        .success()
        .stdout_eq(file!["snapshots/discover-blobs.txt"]);
    airlock(dir.path())
        .args(["--json", "discover", "oci:layout:latest"])
        .assert()
        .success()
        .stdout_eq(file!["snapshots/discover.json"]);
}

#[test]
fn inspect_layout_and_tarballs() {
    let dir = sample_dir();
    airlock(dir.path())
        .args(["inspect", "layout"])
        .assert()
        .success()
        .stdout_eq(file!["snapshots/inspect-layout.txt"]);
    airlock(dir.path())
        .args(["-q", "layout", "pack", "layout", "-o", "t.tar"])
        .assert()
        .success()
        .stderr_eq("");
    airlock(dir.path())
        .args(["-q", "layout", "pack", "layout", "-o", "t.tar.zst"])
        .assert()
        .success();
    airlock(dir.path())
        .args(["--json", "inspect", "t.tar.zst"])
        .assert()
        .success()
        .stdout_eq(file!["snapshots/inspect-tarball.json"]);
    // Compression is detected by content, not by name.
    std::fs::rename(dir.path().join("t.tar.zst"), dir.path().join("renamed.tar")).expect("rename");
    let out = airlock(dir.path())
        .args(["--json", "inspect", "renamed.tar"])
        .output()
        .expect("run");
    assert_eq!(json(&out)["source"]["compression"], "zstd");
}

#[test]
fn pack_is_deterministic_and_unpack_round_trips() {
    let dir = sample_dir();
    let pack = |name: &str, epoch: Option<&str>| {
        let mut cmd = airlock(dir.path()).args(["--json", "layout", "pack", "layout", "-o", name]);
        if let Some(e) = epoch {
            cmd = cmd.env("SOURCE_DATE_EPOCH", e);
        }
        let out = cmd.output().expect("run");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::read(dir.path().join(name)).expect("read tarball")
    };
    let a = pack("a.tar", None);
    let b = pack("b.tar", None);
    assert_eq!(a, b, "same content, same bytes");
    let c = pack("c.tar", Some("1700000000"));
    assert_ne!(a, c, "SOURCE_DATE_EPOCH sets the entry mtimes");
    assert_eq!(a.len(), c.len());
    let z1 = pack("a.tar.zst", None);
    let z2 = pack("b.tar.zst", None);
    assert_eq!(z1, z2);
    assert_ne!(z1[..4], a[..4], "zstd output for a .zst name");

    // Unpack from a file and from stdin; both give the original index.json byte for byte.
    airlock(dir.path())
        .args(["-q", "layout", "unpack", "a.tar", "from-file"])
        .assert()
        .success();
    airlock(dir.path())
        .args(["-q", "layout", "unpack", "-", "from-stdin"])
        .stdin(z1.clone())
        .assert()
        .success();
    let original = std::fs::read(dir.path().join("layout/index.json")).expect("index");
    for d in ["from-file", "from-stdin"] {
        assert_eq!(
            std::fs::read(dir.path().join(d).join("index.json")).expect("index"),
            original
        );
    }
    // Packing the unpacked copy gives the same tarball again.
    airlock(dir.path())
        .args(["-q", "layout", "pack", "from-stdin", "-o", "again.tar"])
        .assert()
        .success();
    assert_eq!(
        std::fs::read(dir.path().join("again.tar")).expect("read"),
        a
    );
}

#[test]
fn errors_say_what_failed_and_what_to_do() {
    let dir = sample_dir();
    airlock(dir.path())
        .args(["inspect", "no-such-file"])
        .assert()
        .code(2)
        .stderr_eq(file!["snapshots/error-missing-file.txt"]);
    airlock(dir.path())
        .args(["discover", "oci:layout:v9"])
        .assert()
        .code(2)
        .stderr_eq(file!["snapshots/error-tag-not-found.txt"]);
    airlock(dir.path())
        .args(["--retries", "0", "discover", "127.0.0.1:1/app:v1"])
        .assert()
        .code(2)
        .stderr_eq(file!["snapshots/error-registry-unreachable.txt"]);
    airlock(dir.path())
        .args(["discover", "oci:layout:-bad"])
        .assert()
        .code(2);
    airlock(dir.path())
        .args(["no-such-command"])
        .assert()
        .code(2);

    // Corrupt the layer: verification fails with exit 1, naming the blob.
    let layout = Layout::open(dir.path().join("layout"), Limits::default()).expect("open");
    let layer = layout
        .blobs()
        .expect("blobs")
        .into_iter()
        .find(|(d, _)| {
            let bytes = std::fs::read(layout.blob_path(d)).expect("read");
            bytes.len() > 512 && bytes.starts_with(b"hello.txt")
        })
        .map(|(d, _)| d)
        .expect("the sample's layer");
    let path = layout.blob_path(&layer);
    let mut bytes = std::fs::read(&path).expect("read");
    bytes[512] ^= 1;
    std::fs::write(&path, bytes).expect("write");
    airlock(dir.path())
        .args(["inspect", "layout"])
        .assert()
        .code(1)
        .stderr_eq(file!["snapshots/error-corrupt-blob.txt"]);
    let out = airlock(dir.path())
        .args(["--json", "inspect", "layout"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let doc = json(&out);
    assert_eq!(doc["kind"], "error");
    assert_eq!(doc["schemaVersion"], 1);
    assert_eq!(doc["error"]["class"], "verification");
    assert!(
        doc["error"]["message"]
            .as_str()
            .expect("message")
            .contains(&layer.to_string())
    );
    // Packing refuses to carry the corrupt blob, and leaves no partial tarball behind.
    airlock(dir.path())
        .args(["layout", "pack", "layout", "-o", "bad.tar"])
        .assert()
        .code(1);
    assert!(!dir.path().join("bad.tar").exists());
}

#[test]
fn init_refuses_a_non_empty_directory() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("notes.txt"), b"x").expect("write");
    airlock(dir.path())
        .args(["layout", "init", "."])
        .assert()
        .code(2)
        .stderr_eq(file!["snapshots/error-init-not-empty.txt"]);
    airlock(dir.path())
        .args(["--json", "layout", "init", "new"])
        .assert()
        .success();
    assert!(dir.path().join("new/oci-layout").is_file());
}

#[test]
fn limits_can_be_tightened_and_named_wrongly() {
    let dir = sample_dir();
    airlock(dir.path())
        .args(["-q", "layout", "pack", "layout", "-o", "t.tar"])
        .assert()
        .success();
    airlock(dir.path())
        .args(["--limit", "max_tar_entries=4", "inspect", "t.tar"])
        .assert()
        .code(1)
        .stderr_eq(file!["snapshots/error-limit-exceeded.txt"]);
    airlock(dir.path())
        .args(["--limit", "max_tar_entries=1KiB", "inspect", "t.tar"])
        .assert()
        .success();
    airlock(dir.path())
        .args(["--limit", "max_tar_entries=lots", "inspect", "t.tar"])
        .assert()
        .code(2);
    airlock(dir.path())
        .args(["--limit", "no_such_limit=1", "inspect", "t.tar"])
        .assert()
        .code(2);
}
