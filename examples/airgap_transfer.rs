//! The air-gap transfer, end to end, on OCI layout directories.
//!
//! 1. On the connected side: build a layout holding an image, an index over it and an SBOM
//!    attached to the image as a referrer.
//! 2. Pack it as one deterministic, zstd-compressed tarball: the file that crosses the gap.
//! 3. On the disconnected side: stream the tarball back in, verifying every blob digest and the
//!    completeness of the graph before anything is tagged, into a fresh layout.
//! 4. Show what arrived: the tagged roots and the referrer graph.
//!
//! Run: `cargo run --example airgap_transfer [WORKDIR]` (default: a new temporary directory).

#![allow(clippy::print_stdout)] // An example reports to its user on stdout.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use airlock::Limits;
use airlock::build::write_sample;
use airlock::graph::{Graph, Indexed};
use airlock::layout::Layout;
use airlock::reference::LayoutTag;
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
    println!("4. what arrived:");
    for entry in entries.iter().filter(|e| e.tag.is_some()) {
        let graph = Graph::walk(&indexed, &entry.descriptor, &limits)?;
        let name = entry.tag.as_deref().unwrap_or_default();
        println!("oci:{}:{name}\n{}", dest_dir.display(), graph.tree(false));
    }
    Ok(())
}
