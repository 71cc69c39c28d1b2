//! `airlock inspect PATH`: a layout directory or a tarball (file or `-`).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read};
use std::path::PathBuf;

use airlock::graph::Graph;
use airlock::layout::{IndexEntry, Layout};
use airlock::tarball::{self, TarballError};
use airlock::{Digest, Error, Limits};
use clap::Args;
use serde_json::{Value, json};

use super::output::{Output, human_bytes, short};

#[derive(Debug, Args)]
pub(crate) struct InspectArgs {
    /// A layout directory, a layout tarball (.tar or .tar.zst, detected by content), or - for stdin.
    path: PathBuf,
}

pub(crate) fn run(args: &InspectArgs, out: &Output, limits: &Limits) -> Result<(), Error> {
    if args.path.is_dir() {
        return inspect_dir(args, out, limits);
    }
    let (input, total): (Box<dyn Read>, Option<u64>) = if args.path.as_os_str() == "-" {
        (Box::new(io::stdin().lock()), None)
    } else {
        let f = File::open(&args.path).map_err(|source| {
            Error::Tarball(TarballError::Io {
                action: format!("open {}", args.path.display()),
                source,
            })
        })?;
        let len = f.metadata().ok().map(|m| m.len());
        (Box::new(f), len)
    };
    let bar = out.progress(total, "verifying");
    let inspected = tarball::inspect_tarball(bar.wrap_read(input), limits)?;
    bar.finish_and_clear();
    let c = &inspected.contents;
    report(
        out,
        json!({ "type": "tarball", "path": args.path, "compression": c.compression }),
        &format!("tarball {} ({})", args.path.display(), c.compression),
        &c.entries,
        &c.blobs,
        &inspected.graph,
    );
    Ok(())
}

fn inspect_dir(args: &InspectArgs, out: &Output, limits: &Limits) -> Result<(), Error> {
    let layout = Layout::open(&args.path, limits.clone())?;
    let entries = layout.index()?;
    let graph = Graph::walk_entries(&layout, &entries, limits)?;
    // Every blob the roots reach is hashed in full.
    let blobs: BTreeMap<Digest, u64> = graph
        .nodes
        .iter()
        .map(|(d, n)| (d.clone(), n.descriptor.size()))
        .collect();
    let total: u64 = blobs.values().sum();
    let bar = out.progress(Some(total), "verifying");
    for (d, size) in &blobs {
        layout.verify_blob(d, Some(*size))?;
        bar.inc(*size);
    }
    bar.finish_and_clear();
    report(
        out,
        json!({ "type": "layout", "path": args.path }),
        &format!("layout {}", args.path.display()),
        &entries,
        &blobs,
        &graph,
    );
    Ok(())
}

fn report(
    out: &Output,
    source: Value,
    title: &str,
    entries: &[IndexEntry],
    blobs: &BTreeMap<Digest, u64>,
    graph: &Graph,
) {
    let referrers = graph
        .edges
        .iter()
        .filter(|e| e.kind == airlock::graph::EdgeKind::Referrer)
        .count();
    out.text(&format!(
        "{title}\n{}blobs: {}, {} (every digest verified)\nreferrers: {referrers}\n",
        roots_text(entries),
        blobs.len(),
        human_bytes(blobs.values().sum()),
    ));
    out.result(
        "inspect",
        json!({
            "source": source,
            "roots": roots_json(entries),
            "blobs": blobs_json(blobs),
            "referrers": referrers,
            "verified": true,
        }),
    );
}

/// The top-level entries as JSON: `[{tag, digest, mediaType, size, artifactType}]`.
pub(crate) fn roots_json(entries: &[IndexEntry]) -> Value {
    Value::Array(
        entries
            .iter()
            .map(|e| {
                json!({
                    "tag": e.tag,
                    "digest": e.digest,
                    "mediaType": e.descriptor.media_type().to_string(),
                    "size": e.descriptor.size(),
                    "artifactType": e.descriptor.artifact_type().as_ref().map(ToString::to_string),
                })
            })
            .collect(),
    )
}

/// The top-level entries as text lines.
pub(crate) fn roots_text(entries: &[IndexEntry]) -> String {
    let mut s = String::from("roots:\n");
    if entries.is_empty() {
        s.push_str("  (none)\n");
    }
    for e in entries {
        s.push_str(&format!(
            "  {:<20} {}  {}  {}\n",
            e.tag.as_deref().unwrap_or("(untagged)"),
            short(&e.digest),
            e.descriptor.media_type(),
            human_bytes(e.descriptor.size()),
        ));
    }
    s
}

/// Blob count and total size as JSON.
pub(crate) fn blobs_json(blobs: &BTreeMap<Digest, u64>) -> Value {
    json!({ "count": blobs.len(), "totalBytes": blobs.values().sum::<u64>() })
}
