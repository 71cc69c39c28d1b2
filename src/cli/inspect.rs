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
    /// A layout directory, a layout tarball or bundle (.tar or .tar.zst, detected by content),
    /// or - for stdin (read as a plain layout tarball).
    path: PathBuf,
    /// For a bundle: draw the artifact/referrer graph (Graphviz dot or Mermaid) on stdout.
    #[arg(long, value_enum, value_name = "FORMAT")]
    graph: Option<GraphFormat>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum GraphFormat {
    /// Graphviz dot.
    Dot,
    /// Mermaid flowchart.
    Mermaid,
}

pub(crate) fn run(args: &InspectArgs, out: &Output, limits: &Limits) -> Result<(), Error> {
    if args.path.is_dir() {
        return inspect_dir(args, out, limits);
    }
    // A bundle is recognised by its first entries (reading stops after the packing list).
    if args.path.as_os_str() != "-"
        && let Ok(f) = File::open(&args.path)
        && airlock::bundle::read_packing_list(io::BufReader::new(f), limits).is_ok()
    {
        return inspect_bundle(args, out, limits);
    }
    if args.graph.is_some() {
        return Err(Error::Unsupported(
            "--graph draws a bundle's graph; this is not a bundle".into(),
        ));
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

/// A bundle: artifacts and tags, signers per artifact, trust material, sizes; every digest and
/// the graph verified, trust not judged (that is `verify-bundle`).
fn inspect_bundle(args: &InspectArgs, out: &Output, limits: &Limits) -> Result<(), Error> {
    use airlock::bundle::{self, Discard, ReadOptions, RootEntry, TrustAnchor};
    let f = File::open(&args.path).map_err(|source| {
        Error::Tarball(TarballError::Io {
            action: format!("open {}", args.path.display()),
            source,
        })
    })?;
    let total = f.metadata().ok().map(|m| m.len());
    let bar = out.progress(total, "verifying");
    let now = airlock::time::now();
    let scope = |r: &RootEntry| Some(r.repository.clone());
    let opts = ReadOptions {
        anchor: TrustAnchor::Unverified,
        policy: None,
        now,
        at: now,
        repository: &scope,
        limits,
    };
    let report = bundle::read_bundle(bar.wrap_read(io::BufReader::new(f)), &mut Discard, &opts)?;
    bar.finish_and_clear();
    if let Some(format) = args.graph {
        out.text(&draw(&report, format));
        return Ok(());
    }
    let (all, carried) = report.packing.totals();
    let root = report.plan.root.root();
    let snap = report.plan.revocation.snapshot();
    let mut text = format!(
        "bundle {} ({}, {})\ncreated {}\ntrust root version {} (expires {}), revocation snapshot version {} (expires {})\nbundle signed by: {}\n",
        args.path.display(),
        report.compression,
        human_bytes(report.file_bytes),
        report.packing.created,
        root.version,
        airlock::time::format_rfc3339(root.expires),
        snap.version,
        airlock::time::format_rfc3339(snap.expires),
        if report.signers.is_empty() {
            "no valid signature of its own root's bundle role".to_owned()
        } else {
            report
                .signers
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        },
    );
    let mut roots_out = Vec::new();
    text.push_str("artifacts:\n");
    for r in &report.packing.roots {
        let sigs = report.signatures_of(&r.digest, now, limits);
        let signers: Vec<String> = sigs
            .iter()
            .map(|(s, ids)| {
                let key = s
                    .key_id
                    .map(|k| k.to_string())
                    .unwrap_or_else(|| "?".into());
                let who = if ids.is_empty() {
                    "no identity".to_owned()
                } else {
                    ids.join("+")
                };
                let state = if s.is_valid() { "valid" } else { "INVALID" };
                format!("{who} ({}, {state})", short_key(&key))
            })
            .collect();
        text.push_str(&format!(
            "  {:<32} {}  {}  from {}\n    signed by: {}\n",
            r.ref_name(),
            short(&r.digest),
            r.media_type,
            r.source,
            if signers.is_empty() {
                "nobody".to_owned()
            } else {
                signers.join(", ")
            }
        ));
        roots_out.push(json!({
            "name": r.ref_name(),
            "repository": r.repository,
            "tag": r.tag,
            "digest": r.digest.to_string(),
            "mediaType": r.media_type,
            "source": r.source,
            "signatures": sigs.iter().map(|(s, ids)| json!({
                "keyId": s.key_id.map(|k| k.to_string()),
                "identities": ids,
                "valid": s.is_valid(),
            })).collect::<Vec<_>>(),
        }));
    }
    let referrers = report.packing.referrers.len();
    text.push_str(&format!(
        "blobs: {} ({}), {} carried ({}){}\nreferrers: {referrers}\nevery digest verified; trust not judged here (airlock verify-bundle)\n",
        report.packing.blobs.len(),
        human_bytes(all),
        report.packing.blobs.iter().filter(|b| b.carried).count(),
        human_bytes(carried),
        match &report.packing.base {
            Some(b) => format!("; delta over bundle {}", short(&b.digest)),
            None => String::new(),
        }
    ));
    out.text(&text);
    out.result(
        "inspect",
        json!({
            "source": { "type": "bundle", "path": args.path, "compression": report.compression },
            "bundle": report.bundle.digest().to_string(),
            "bundleFile": report.file_digest.to_string(),
            "created": report.packing.created,
            "trustRoot": { "version": root.version, "expires": airlock::time::format_rfc3339(root.expires) },
            "revocation": { "version": snap.version, "expires": airlock::time::format_rfc3339(snap.expires) },
            "signers": report.signers.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "artifacts": roots_out,
            "blobs": { "count": report.packing.blobs.len(), "totalBytes": all, "carriedBytes": carried },
            "referrers": referrers,
            "base": report.packing.base.as_ref().map(|b| b.digest.to_string()),
            "verified": true,
        }),
    );
    Ok(())
}

fn short_key(k: &str) -> String {
    k.chars().take(19).collect()
}

/// The manifests of a bundle's graph and their child and referrer edges.
fn draw(report: &airlock::bundle::ReadReport, format: GraphFormat) -> String {
    use airlock::graph::EdgeKind;
    let names: BTreeMap<&Digest, String> = report
        .packing
        .roots
        .iter()
        .map(|r| (&r.digest, r.ref_name()))
        .collect();
    let id = |d: &Digest| format!("n{}", &d.hex()[..12]);
    let label = |d: &Digest, n: &airlock::graph::Node| {
        // A referrer is labelled by its artifact type, anything else by its media type.
        let kind = n
            .parsed
            .as_ref()
            .filter(|p| p.subject.is_some())
            .and_then(|p| p.artifact_type.clone())
            .unwrap_or_else(|| n.descriptor.media_type().to_string());
        let name = names.get(d).cloned().unwrap_or_default();
        format!("{name} {} {kind}", short(d))
            .trim()
            .replace('"', "'")
    };
    let manifests: Vec<(&Digest, &airlock::graph::Node)> = report
        .graph
        .nodes
        .iter()
        .filter(|(_, n)| n.raw.is_some())
        .collect();
    let edges: Vec<_> = report
        .graph
        .edges
        .iter()
        .filter(|e| matches!(e.kind, EdgeKind::Child | EdgeKind::Referrer))
        .collect();
    let mut s = String::new();
    match format {
        GraphFormat::Dot => {
            s.push_str("digraph bundle {\n  rankdir=LR;\n  node [shape=box];\n");
            for (d, n) in &manifests {
                s.push_str(&format!("  {} [label=\"{}\"];\n", id(d), label(d, n)));
            }
            for e in &edges {
                let style = if e.kind == EdgeKind::Referrer {
                    " [style=dashed, label=\"referrer\"]"
                } else {
                    ""
                };
                s.push_str(&format!("  {} -> {}{style};\n", id(&e.from), id(&e.to)));
            }
            s.push_str("}\n");
        }
        GraphFormat::Mermaid => {
            s.push_str("flowchart LR\n");
            for (d, n) in &manifests {
                s.push_str(&format!("  {}[\"{}\"]\n", id(d), label(d, n)));
            }
            for e in &edges {
                let arrow = if e.kind == EdgeKind::Referrer {
                    "-. referrer .->"
                } else {
                    "-->"
                };
                s.push_str(&format!("  {} {arrow} {}\n", id(&e.from), id(&e.to)));
            }
        }
    }
    s
}
