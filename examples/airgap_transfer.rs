//! The air-gap transfer, end to end, on OCI layout directories.
//!
//! 1. On the connected side: build a layout holding an image, an index over it and an SBOM
//!    attached to the image as a referrer.
//!    Make a trust root naming the `wabbit-networks` signer identity, and an empty revocation
//!    snapshot; sign the index with the identity's Ed25519 key (a detached signature, stored as
//!    one more referrer; the index's digest and tag do not change).
//! 2. Pack it as one deterministic, zstd-compressed tarball: the file that crosses the gap.
//! 3. On the disconnected side: stream the tarball back in, verifying every blob digest and the
//!    completeness of the graph before anything is tagged, into a fresh layout.
//! 4. Verify it there offline: the far side pins the trust root by the digest it was given out
//!    of band, installs the revocation snapshot and a policy requiring the `wabbit-networks`
//!    signer, and judges the index by them; then show what arrived: the tagged roots and the
//!    referrer graph. (The trust files travel beside the tarball here; the bundle format will
//!    carry them inside it.)
//!
//! Run: `cargo run --example airgap_transfer [WORKDIR]` (default: a new temporary directory).

#![allow(clippy::print_stdout)] // An example reports to its user on stdout.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use airlock::Limits;
use airlock::build::write_sample;
use airlock::graph::{Graph, Indexed};
use airlock::key::{KeyAlgorithm, PrivateKey};
use airlock::layout::Layout;
use airlock::reference::{LayoutTag, Selector};
use airlock::revocation::{SignedSnapshot, Snapshot};
use airlock::signature::{self, SignOptions};
use airlock::tarball::{Compression, PackOptions, unpack_tarball, write_tarball};
use airlock::trust::root::{Role, RoleName};
use airlock::trust::{SignedRoot, TrustRoot, TrustStore};
use airlock::verify::{self, Context, Decision};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let keep;
    let work: PathBuf = match std::env::args_os().nth(1) {
        Some(dir) => dir.into(),
        None => {
            keep = tempfile::tempdir()?;
            keep.path().to_path_buf()
        }
    };
    let limits = Limits::default();
    let tag = LayoutTag::new("latest")?;

    let source_dir = work.join("connected/layout");
    let source = Layout::init(&source_dir, limits.clone())?;
    let sample = write_sample(&source, &tag, "net-monitor")?;
    println!(
        "1. built {} with index {} and SBOM {}",
        source_dir.display(),
        sample.index.digest(),
        sample.sbom.digest()
    );

    let key = PrivateKey::generate(KeyAlgorithm::Ed25519)?;
    let (root_key, revocation_key) = (
        PrivateKey::generate(KeyAlgorithm::Ed25519)?,
        PrivateKey::generate(KeyAlgorithm::Ed25519)?,
    );
    let now = airlock::time::now();
    let role = |k: &PrivateKey| Role {
        keys: [k.id()].into(),
        threshold: 1,
    };
    let trust_root = TrustRoot {
        version: 1,
        issued_at: now,
        expires: now + 365 * 86_400,
        keys: [&root_key, &revocation_key, &key]
            .iter()
            .map(|k| (k.id(), k.public().clone()))
            .collect(),
        roles: [
            (RoleName::Root, role(&root_key)),
            (RoleName::Revocation, role(&revocation_key)),
            (RoleName::Bundle, role(&root_key)),
        ]
        .into(),
        signers: [("wabbit-networks".to_owned(), role(&key))].into(),
    };
    let mut signed_root = SignedRoot::unsigned(trust_root, &limits)?;
    signed_root.sign(&root_key)?;
    let root_digest = signed_root.digest();
    std::fs::write(work.join("root-1.cose"), signed_root.to_vec())?;
    let mut snapshot = SignedSnapshot::unsigned(Snapshot {
        version: 1,
        issued_at: now,
        expires: now + 30 * 86_400,
        keys: Default::default(),
        digests: Default::default(),
    });
    snapshot.sign(&revocation_key)?;
    std::fs::write(work.join("revocation-1.cose"), snapshot.to_vec())?;
    println!(
        "   trust root version 1 (digest {root_digest}, to be given out of band) and revocation snapshot version 1"
    );
    let root = source.resolve(Some(&Selector::Tag(tag.clone())))?;
    let options = SignOptions {
        signing_time: airlock::time::now(),
        expiry: None,
        agent: Some("airgap_transfer example".into()),
    };
    let (target, sig) = signature::sign_layout(&source, &root, &key, &options)?;
    println!(
        "   signed {} with ed25519 key {}: signature {}",
        target.digest,
        key.id(),
        sig.digest()
    );

    let tarball = work.join("transfer.tar.zst");
    let mut out = BufWriter::new(File::create(&tarball)?);
    let opts = PackOptions {
        compression: Compression::Zstd,
        zstd_level: 3,
        mtime: PackOptions::mtime_from_env(),
    };
    let packed = write_tarball(&source, &mut out, opts)?;
    out.flush()?;
    println!(
        "2. packed {} blobs ({} bytes) into {}",
        packed.blobs,
        packed.blob_bytes,
        tarball.display()
    );

    let dest_dir = work.join("disconnected/layout");
    let (dest, contents) = unpack_tarball(File::open(&tarball)?, &dest_dir, &limits)?;
    println!(
        "3. unpacked into {}: {} blobs, every digest verified",
        dest_dir.display(),
        contents.blobs.len()
    );

    let trust_dir = work.join("disconnected/trust");
    let mut store = TrustStore::pin(
        &trust_dir,
        &std::fs::read(work.join("root-1.cose"))?,
        &root_digest,
        airlock::time::now(),
        &limits,
    )?;
    let carried = SignedSnapshot::parse(&std::fs::read(work.join("revocation-1.cose"))?, &limits)?;
    store.import_revocation(carried, airlock::time::now())?;
    store.set_policy(
        br#"{"version": 1, "scopes": [{"scope": "*", "level": "enforce", "signers": {"all-of": ["wabbit-networks"]}}]}"#,
    )?;
    let entries = dest.index()?;
    let indexed = Indexed::new(&dest, &entries, &limits)?;
    let policy = store.policy()?.ok_or("the policy was just installed")?;
    let ctx = Context {
        root: store.root().root(),
        revocation: store.revocation().map(|s| s.snapshot()),
        policy,
        now: airlock::time::now(),
        limits: &limits,
    };
    let judgement = verify::judge(&indexed, &root.descriptor, None, &ctx)?;
    if judgement.decision != Decision::Pass {
        return Err(format!(
            "{} did not pass the policy after the transfer: {:?}",
            judgement.target.digest, judgement.decision
        )
        .into());
    }
    println!(
        "4. pinned the trust root in {}; {} verified offline: signed by {} ({} signature(s)), policy met",
        trust_dir.display(),
        judgement.target.digest,
        judgement
            .satisfied
            .iter()
            .cloned()
            .collect::<Vec<_>>()
            .join(", "),
        judgement.signatures.len()
    );
    println!("   what arrived:");
    for entry in entries.iter().filter(|e| e.tag.is_some()) {
        let graph = Graph::walk(&indexed, &entry.descriptor, &limits)?;
        let name = entry.tag.as_deref().unwrap_or_default();
        println!("oci:{}:{name}\n{}", dest_dir.display(), graph.tree(false));
    }
    Ok(())
}
