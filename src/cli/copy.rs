//! `airlock copy SRC DST [-r] [--platform OS/ARCH]`: an artifact and its graph between
//! registries and layouts, in any direction, every digest preserved.

use std::sync::Arc;

use airlock::copy::{self, CopyOptions, Platform};
use airlock::layout::{Layout, descriptor_digest};
use airlock::reference::{Reference, Selector};
use airlock::{Error, Limits, media};
use clap::Args;
use serde_json::json;

use super::output::{Output, human_bytes, short};
use super::target::{RegistryArgs, Store};

#[derive(Debug, Args)]
pub(crate) struct CopyArgs {
    /// What to copy: REGISTRY/REPO[:TAG|@DIGEST] or oci:PATH[:TAG|@DIGEST].
    source: String,
    /// Where: REGISTRY/REPO[:TAG] or oci:PATH[:TAG] (the repository may differ from the
    /// source's: a rename keeps every digest, so signatures stay valid). Without a tag, the
    /// source's tag is used; a layout that does not exist is created.
    destination: String,
    /// Copy referrers too (signatures, SBOMs, attestations), and theirs, at every level.
    #[arg(short, long)]
    recursive: bool,
    /// For an index: copy only the manifest for OS/ARCH[/VARIANT], which becomes the copy's
    /// root (the index and its signatures are not copied).
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    platform: Option<Platform>,
    /// How many blobs move at once.
    #[arg(long, short = 'j', default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    jobs: u16,
}

pub(crate) fn run(
    args: &CopyArgs,
    out: &Output,
    limits: &Limits,
    registry: &RegistryArgs,
) -> Result<(), Error> {
    let jobs = usize::from(args.jobs);
    let src_ref: Reference = args.source.parse()?;
    let dst_ref: Reference = args.destination.parse()?;
    let registries =
        if matches!(src_ref, Reference::Registry(_)) || matches!(dst_ref, Reference::Registry(_)) {
            Some(registry.registries(limits, jobs)?)
        } else {
            None
        };
    let src = super::target::resolve_with(&args.source, limits, registry, registries.as_ref())?;
    let source_tag = match &src.reference {
        Reference::Registry(r) => r.tag().map(|t| t.as_str().to_owned()),
        Reference::Layout(l) => match l.selector() {
            Some(Selector::Tag(t)) => Some(t.as_str().to_owned()),
            _ => None,
        },
    };
    let root = match &args.platform {
        Some(p) => copy::select_platform(src.store.source(), &src.descriptor, p, limits)?,
        None => src.descriptor.clone(),
    };
    let root_digest = descriptor_digest(&root)?;
    // A platform's manifest is not what the source tag names.
    let source_tag = source_tag.filter(|_| args.platform.is_none() || root_digest == src.digest);
    let (dest, tag, wanted_digest) = match &dst_ref {
        Reference::Registry(r) => {
            let repo = registries
                .as_ref()
                .ok_or_else(|| Error::Unsupported("no registry client".into()))?
                .repository_of(r);
            let tag = r.tag().map(|t| t.as_str().to_owned());
            (Store::Registry(repo), tag, r.digest().cloned())
        }
        Reference::Layout(l) => {
            let layout = if l.path().join("oci-layout").is_file() {
                Layout::open(l.path(), limits.clone())?
            } else {
                Layout::init(l.path(), limits.clone())?
            };
            let (tag, digest) = match l.selector() {
                Some(Selector::Tag(t)) => (Some(t.as_str().to_owned()), None),
                Some(Selector::Digest(d)) => (None, Some(d.clone())),
                None => (None, None),
            };
            let entries = layout.index()?;
            let indexed = airlock::graph::Indexed::new(layout, &entries, limits)?;
            (Store::Layout(indexed), tag, digest)
        }
    };
    if let Some(d) = &wanted_digest
        && *d != root_digest
    {
        return Err(Error::Unsupported(format!(
            "the destination names {d}, but the source is {root_digest}; a copy never changes a digest"
        )));
    }
    let tag = if wanted_digest.is_some() {
        tag
    } else {
        tag.or(source_tag)
    };
    let bar = out.progress(None, "copying");
    let progress_bar = bar.clone();
    let options = CopyOptions {
        referrers: args.recursive,
        platform: None,
        jobs,
        progress: Some(Arc::new(move |n| progress_bar.inc(n))),
    };
    let report = copy::copy(
        src.store.source(),
        &root,
        dest.destination(),
        tag.as_deref(),
        &options,
        limits,
    );
    bar.finish_and_clear();
    let report = report?;
    let shown_dst = match (&tag, &dst_ref) {
        (Some(t), Reference::Registry(r)) if r.tag().is_none() => format!("{dst_ref}:{t}"),
        (Some(t), Reference::Layout(l)) if l.selector().is_none() => format!("{dst_ref}:{t}"),
        _ => dst_ref.to_string(),
    };
    let kind = if media::kind_of(root.media_type().as_ref()) == media::Kind::Index {
        "index"
    } else {
        "manifest"
    };
    out.status(format!(
        "copied {} ({kind} {}) → {shown_dst}\n  {} manifest(s), {} of them referrers; {} blob(s) sent ({}), {} already there, {} mounted",
        src.reference,
        short(&root_digest),
        report.manifests,
        report.referrers,
        report.blobs_sent,
        human_bytes(report.bytes_sent),
        report.blobs_present,
        report.blobs_mounted,
    ));
    out.result(
        "copy",
        json!({
            "source": src.reference.to_string(),
            "destination": shown_dst,
            "digest": root_digest,
            "mediaType": root.media_type().to_string(),
            "tag": tag,
            "recursive": args.recursive,
            "platform": args.platform.as_ref().map(ToString::to_string),
            "manifests": report.manifests,
            "referrers": report.referrers,
            "blobs": {
                "sent": report.blobs_sent,
                "present": report.blobs_present,
                "mounted": report.blobs_mounted,
                "bytesSent": report.bytes_sent,
            },
        }),
    );
    Ok(())
}
