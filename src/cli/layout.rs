//! `airlock layout init|pack|unpack`.

use std::fs::File;
use std::io::{self, BufWriter, Read};
use std::path::{Path, PathBuf};

use airlock::digest::{Algorithm, HashingWriter};
use airlock::layout::{Layout, LayoutError};
use airlock::tarball::{self, Compression, PackOptions, TarballError};
use airlock::{Error, Limits};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::json;

use super::inspect::{blobs_json, roots_json, roots_text};
use super::output::{Output, human_bytes};

#[derive(Debug, Subcommand)]
pub(crate) enum LayoutCommand {
    /// Create an empty OCI image layout directory.
    Init(InitArgs),
    /// Write a layout as a deterministic tarball (.tar, or .tar.zst).
    Pack(PackArgs),
    /// Read a layout tarball (a file, or - for stdin), verify it and write it as a directory.
    Unpack(UnpackArgs),
}

#[derive(Debug, Args)]
pub(crate) struct InitArgs {
    /// The directory to create (it must not exist or be empty).
    dir: PathBuf,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum CompressionArg {
    /// zstd when the output name ends in .zst or .zstd, else none.
    Auto,
    None,
    Zstd,
}

#[derive(Debug, Args)]
pub(crate) struct PackArgs {
    /// The layout directory.
    dir: PathBuf,
    /// The tarball to write, or - for stdout.
    #[arg(short, long)]
    output: PathBuf,
    /// Compression of the tarball.
    #[arg(long, value_enum, default_value_t = CompressionArg::Auto)]
    compression: CompressionArg,
    /// zstd level (1-19).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(i32).range(1..=19))]
    level: i32,
}

#[derive(Debug, Args)]
pub(crate) struct UnpackArgs {
    /// The tarball, or - for stdin.
    input: PathBuf,
    /// The directory to write (it must not exist or be empty).
    dir: PathBuf,
}

pub(crate) fn run(cmd: &LayoutCommand, out: &Output, limits: &Limits) -> Result<(), Error> {
    match cmd {
        LayoutCommand::Init(a) => init(a, out, limits),
        LayoutCommand::Pack(a) => pack(a, out, limits),
        LayoutCommand::Unpack(a) => unpack(a, out, limits),
    }
}

fn init(args: &InitArgs, out: &Output, limits: &Limits) -> Result<(), Error> {
    let layout = Layout::init(&args.dir, limits.clone())?;
    let entries = layout.index()?;
    if !entries.is_empty() {
        out.status(format!(
            "{} is already a layout ({} entries)",
            args.dir.display(),
            entries.len()
        ));
    }
    out.text(&format!("initialised OCI layout {}\n", args.dir.display()));
    out.result("layout-init", json!({ "layout": args.dir }));
    Ok(())
}

fn is_stdio(p: &Path) -> bool {
    p.as_os_str() == "-"
}

fn pack(args: &PackArgs, out: &Output, limits: &Limits) -> Result<(), Error> {
    let layout = Layout::open(&args.dir, limits.clone())?;
    let compression = match args.compression {
        CompressionArg::None => Compression::None,
        CompressionArg::Zstd => Compression::Zstd,
        CompressionArg::Auto => {
            let name = args.output.to_string_lossy();
            if name.ends_with(".zst") || name.ends_with(".zstd") {
                Compression::Zstd
            } else {
                Compression::None
            }
        }
    };
    let opts = PackOptions {
        compression,
        zstd_level: args.level,
        mtime: PackOptions::mtime_from_env(),
    };
    let (summary, digest, bytes) = if is_stdio(&args.output) {
        let stdout = io::stdout().lock();
        let mut w =
            HashingWriter::new(BufWriter::with_capacity(1 << 20, stdout), Algorithm::Sha256);
        let summary = tarball::write_tarball(&layout, &mut w, opts)?;
        let (_, d, n) = w.finish().map_err(|e| io_err("write to stdout", e))?;
        (summary, d, n)
    } else {
        // Write beside the target and rename on success: a failed pack leaves no partial file.
        let parent = match args.output.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let tmp = tempfile::Builder::new()
            .prefix(".airlock-pack-")
            .tempfile_in(&parent)
            .map_err(|e| LayoutError::Io {
                action: "create temporary file in",
                path: parent.clone(),
                source: e,
            })?;
        let mut w = HashingWriter::new(BufWriter::with_capacity(1 << 20, tmp), Algorithm::Sha256);
        let summary = tarball::write_tarball(&layout, &mut w, opts)?;
        let (buf, d, n) = w.finish().map_err(|e| io_err("write tarball", e))?;
        let tmp = buf
            .into_inner()
            .map_err(|e| io_err("flush tarball", e.into_error()))?;
        tmp.as_file()
            .sync_all()
            .map_err(|e| io_err("sync tarball", e))?;
        tmp.persist(&args.output).map_err(|e| LayoutError::Io {
            action: "rename tarball to",
            path: args.output.clone(),
            source: e.error,
        })?;
        (summary, d, n)
    };
    out.status(format!(
        "packed {} blobs ({}) into {} ({compression}, {})",
        summary.blobs,
        human_bytes(summary.blob_bytes),
        args.output.display(),
        human_bytes(bytes)
    ));
    out.status(format!("tarball digest {digest}"));
    out.result(
        "layout-pack",
        json!({
            "layout": args.dir,
            "output": args.output,
            "compression": compression,
            "blobs": { "count": summary.blobs, "totalBytes": summary.blob_bytes },
            "bytes": bytes,
            "digest": digest,
        }),
    );
    Ok(())
}

fn unpack(args: &UnpackArgs, out: &Output, limits: &Limits) -> Result<(), Error> {
    let (input, total): (Box<dyn Read>, Option<u64>) = if is_stdio(&args.input) {
        (Box::new(io::stdin().lock()), None)
    } else {
        let f = File::open(&args.input)
            .map_err(|e| io_err(&format!("open {}", args.input.display()), e))?;
        let len = f.metadata().ok().map(|m| m.len());
        (Box::new(f), len)
    };
    let bar = out.progress(total, "unpacking");
    let (_layout, contents) = tarball::unpack_tarball(bar.wrap_read(input), &args.dir, limits)?;
    bar.finish_and_clear();
    out.text(&format!(
        "unpacked {} into {} ({})\n{}blobs: {}, {} (every digest verified)\n",
        args.input.display(),
        args.dir.display(),
        contents.compression,
        roots_text(&contents.entries),
        contents.blobs.len(),
        human_bytes(contents.blobs.values().sum()),
    ));
    out.result(
        "layout-unpack",
        json!({
            "input": args.input,
            "layout": args.dir,
            "compression": contents.compression,
            "roots": roots_json(&contents.entries),
            "blobs": blobs_json(&contents.blobs),
        }),
    );
    Ok(())
}

fn io_err(action: &str, source: io::Error) -> Error {
    Error::Tarball(TarballError::Io {
        action: action.to_owned(),
        source,
    })
}
