//! `airlock discover REF`: the referrer tree of one artifact in a layout.

use std::collections::HashSet;

use airlock::graph::Graph;
use airlock::{Digest, Error, Limits};
use clap::Args;
use serde_json::{Value, json};

use super::output::Output;
use super::target::RegistryArgs;

#[derive(Debug, Args)]
pub(crate) struct DiscoverArgs {
    /// The artifact: oci:PATH[:TAG|@DIGEST] or REGISTRY/REPO[:TAG|@DIGEST].
    reference: String,
    /// Also show configs and layers, not only manifests and referrers.
    #[arg(long)]
    blobs: bool,
}

pub(crate) fn run(
    args: &DiscoverArgs,
    out: &Output,
    limits: &Limits,
    registry: &RegistryArgs,
) -> Result<(), Error> {
    let t = super::target::resolve(&args.reference, limits, registry)?;
    let graph = Graph::walk(t.store.source(), &t.descriptor, limits)?;
    let reference = &t.reference;
    out.text(&format!("{reference}\n{}", graph.tree(args.blobs)));
    out.result(
        "discover",
        json!({
            "reference": reference.to_string(),
            "root": node_json(&graph, &t.digest, "root", args.blobs, &mut HashSet::new()),
        }),
    );
    Ok(())
}

/// A node and, the first time it is met, its subtree; later occurrences are only
/// `{relation, digest, "repeated": true}`, so the document stays proportional to the graph.
fn node_json(
    graph: &Graph,
    digest: &Digest,
    relation: &str,
    blobs: bool,
    expanded: &mut HashSet<Digest>,
) -> Value {
    let Some(node) = graph.nodes.get(digest) else {
        return Value::Null;
    };
    if !expanded.insert(digest.clone()) {
        return json!({ "relation": relation, "digest": digest, "repeated": true });
    }
    let parsed = node.parsed.as_ref();
    let mut children = Vec::new();
    for e in graph
        .edges_from(digest)
        .filter(|e| blobs || !e.kind.is_blob())
    {
        children.push(node_json(
            graph,
            &e.to,
            &e.kind.to_string(),
            blobs,
            expanded,
        ));
    }
    json!({
        "repeated": false,
        "relation": relation,
        "digest": digest,
        "mediaType": node.descriptor.media_type().to_string(),
        "size": node.descriptor.size(),
        "artifactType": parsed.and_then(|p| p.artifact_type.clone()),
        "platform": node.descriptor.platform().as_ref().map(platform_json),
        "annotations": parsed.map(|p| json!(p.annotations)),
        "children": children,
    })
}

/// A platform with the image-spec's key names (`os.version`, `os.features`).
fn platform_json(p: &oci_spec::image::Platform) -> Value {
    let mut v = json!({ "architecture": p.architecture().to_string(), "os": p.os().to_string() });
    if let Some(x) = p.os_version() {
        v["os.version"] = json!(x);
    }
    if let Some(x) = p.os_features() {
        v["os.features"] = json!(x);
    }
    if let Some(x) = p.variant() {
        v["variant"] = json!(x);
    }
    v
}
