//! The air-gap transfer, end to end, on OCI layout directories.
//!
//! 1. On the connected side: build a layout holding an image, an index over it and an SBOM
//!    attached to the image as a referrer.
//!    Sign the index with a new Ed25519 key (a detached signature, stored as one more referrer;
//!    the index's digest and tag do not change).
//! 2. Pack it as one deterministic, zstd-compressed tarball: the file that crosses the gap.
//! 3. On the disconnected side: stream the tarball back in, verifying every blob digest and the
//!    completeness of the graph before anything is tagged, into a fresh layout.
//! 4. Verify the signature there with only the public key, and show what arrived: the tagged
//!    roots and the referrer graph.
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
use airlock::signature::{self, SignOptions};
use airlock::tarball::{Compression, PackOptions, unpack_tarball, write_tarball};

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

    let entries = dest.index()?;
    let indexed = Indexed::new(&dest, &entries, &limits)?;
    let arrived = signature::target_of(&dest, &root.descriptor, &limits)?;
    let reports = signature::verify_referrers(
        &dest,
        &arrived,
        indexed.referrers(&arrived.digest),
        std::slice::from_ref(key.public()),
        airlock::time::now(),
        &limits,
    );
    if !reports.iter().any(|r| r.is_valid()) {
        return Err(format!(
            "no valid signature on {} after the transfer",
            arrived.digest
        )
        .into());
    }
    println!(
        "4. signature verified on the far side with the public key only ({} signature(s))",
        reports.len()
    );
    println!("   what arrived:");
    for entry in entries.iter().filter(|e| e.tag.is_some()) {
        let graph = Graph::walk(&indexed, &entry.descriptor, &limits)?;
        let name = entry.tag.as_deref().unwrap_or_default();
        println!("oci:{}:{name}\n{}", dest_dir.display(), graph.tree(false));
    }
    Ok(())
}
