//! Writing a bundle: walk every root's graph in its source, build and sign the bundle manifest,
//! and stream the tarball in the order `formats/bundle.md` fixes.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::io::{self, Read, Write};
use std::sync::Arc;

use oci_spec::image::Descriptor;
use serde_json::{Value, json};

use super::{
    BUNDLE_ARTIFACT_TYPE, BaseBundle, BlobEntry, BundleError, BundleManifest,
    PACKING_LIST_MEDIA_TYPE, PACKING_LIST_VERSION, PackingList, REVOCATION_MEDIA_TYPE,
    ReferrerEdge, RootEntry, TRUST_ROOT_MEDIA_TYPE,
};
use crate::copy::Source;
use crate::digest::{Algorithm, Digest, digest_error};
use crate::error::Error;
use crate::graph::{EdgeKind, Graph, referrer_descriptor};
use crate::key::PrivateKey;
use crate::layout::{LayoutError, descriptor, to_json_bytes};
use crate::limits::Limits;
use crate::media::{self, Kind};
use crate::revocation::SignedSnapshot;
use crate::signature::{self, COSE_MEDIA_TYPE, SIGNATURE_ARTIFACT_TYPE, SignOptions, Target};
use crate::tarball::{Compression, TarballError, entry_header};
use crate::time::{Seconds, format_rfc3339};
use crate::trust::SignedRoot;
use crate::trust::root::RoleName;

/// One artifact to export.
pub struct ExportItem<'a> {
    /// Where it is read from.
    pub source: &'a dyn Source,
    /// Its root manifest or index.
    pub root: Descriptor,
    /// The repository path it is exported as (no registry host).
    pub repository: String,
    /// Its tag, if it has one.
    pub tag: Option<String>,
    /// The reference as the user gave it.
    pub reference: String,
}

impl std::fmt::Debug for ExportItem<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExportItem")
            .field("root", &self.root)
            .field("repository", &self.repository)
            .field("tag", &self.tag)
            .field("reference", &self.reference)
            .finish_non_exhaustive()
    }
}

/// How to write a bundle.
#[derive(Clone)]
pub struct ExportOptions<'a> {
    /// The trust-root chain to carry, oldest first (the local store's).
    pub chain: Vec<SignedRoot>,
    /// The revocation snapshot to carry (the local store's newest).
    pub revocation: SignedSnapshot,
    /// Keys of the newest root's `bundle` role that sign the bundle.
    pub keys: &'a [PrivateKey],
    /// Plain tar or zstd.
    pub compression: Compression,
    /// The zstd level.
    pub zstd_level: i32,
    /// The creation time written everywhere (mtimes, `created`, signing time):
    /// `SOURCE_DATE_EPOCH` for reproducible bundles.
    pub created: Seconds,
    /// For a delta bundle: the base bundle's manifest digest and every blob its packing list
    /// names (they are not carried again).
    pub since: Option<(Digest, BTreeSet<Digest>)>,
    /// Called with blob bytes as they are written.
    pub progress: Option<Arc<dyn Fn(u64) + Send + Sync>>,
}

impl std::fmt::Debug for ExportOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExportOptions")
            .field("compression", &self.compression)
            .field("created", &self.created)
            .finish_non_exhaustive()
    }
}

/// What an export wrote.
#[derive(Clone, Debug)]
pub struct ExportReport {
    /// The bundle manifest.
    pub bundle: Descriptor,
    /// The packing list.
    pub packing: PackingList,
    /// The bundle signatures (signature manifests).
    pub signatures: Vec<Descriptor>,
    /// Blobs carried and their bytes.
    pub carried: (usize, u64),
    /// Blobs omitted (delta) and their bytes.
    pub omitted: (usize, u64),
}

/// A node of the exported graphs: its descriptor as first reached, the index of the item whose
/// source it is read from, and a manifest's bytes.
type Found = (Descriptor, usize, Option<Arc<[u8]>>);

/// A bundle signature: its manifest's descriptor and bytes, its envelope's digest and bytes.
type Signed = (Descriptor, Arc<[u8]>, Digest, Arc<[u8]>);

/// Where each node of the exported graphs is read from.
struct Collected<'a> {
    /// Digest → where it is found.
    nodes: BTreeMap<Digest, Found>,
    edges: BTreeSet<ReferrerEdge>,
    /// Manifests with a subject: listed in `index.json` so layout readers find them.
    referrers: BTreeMap<Digest, Descriptor>,
    items: &'a [ExportItem<'a>],
}

fn collect<'a>(items: &'a [ExportItem<'a>], limits: &Limits) -> Result<Collected<'a>, Error> {
    let mut c = Collected {
        nodes: BTreeMap::new(),
        edges: BTreeSet::new(),
        referrers: BTreeMap::new(),
        items,
    };
    for (i, item) in items.iter().enumerate() {
        let graph = Graph::walk(item.source, &item.root, limits)?;
        add_graph(&mut c, &graph, i)?;
        if c.nodes.len() > limits.max_graph_nodes {
            return Err(BundleError::Usage(format!(
                "the exported graphs hold more than max_graph_nodes ({}) nodes",
                limits.max_graph_nodes
            ))
            .into());
        }
    }
    Ok(c)
}

fn add_graph(c: &mut Collected<'_>, graph: &Graph, source: usize) -> Result<(), Error> {
    for (digest, node) in &graph.nodes {
        if let Some((d, _, _)) = c.nodes.get(digest) {
            if d.size() != node.descriptor.size() {
                return Err(BundleError::Usage(format!(
                    "{digest} is reached with sizes {} and {}",
                    d.size(),
                    node.descriptor.size()
                ))
                .into());
            }
            continue;
        }
        c.nodes.insert(
            digest.clone(),
            (node.descriptor.clone(), source, node.raw.clone()),
        );
        if let Some(parsed) = &node.parsed
            && parsed.subject.is_some()
        {
            c.referrers.insert(
                digest.clone(),
                referrer_descriptor(&node.descriptor, parsed),
            );
        }
    }
    for e in &graph.edges {
        if e.kind != EdgeKind::Referrer {
            continue;
        }
        let artifact_type = c
            .referrers
            .get(&e.to)
            .and_then(|d| d.artifact_type().as_ref().map(|t| t.to_string()));
        c.edges.insert(ReferrerEdge {
            subject: e.from.clone(),
            referrer: e.to.clone(),
            artifact_type,
        });
    }
    Ok(())
}

/// A signed bundle's own documents, built in memory (they are small).
struct Own {
    manifest: BundleManifest,
    manifest_bytes: Vec<u8>,
    /// Digest → bytes for the bundle section and signatures, in stream order.
    stream: Vec<(Digest, Arc<[u8]>)>,
    signatures: Vec<Descriptor>,
}

fn json_bytes(v: &Value) -> Vec<u8> {
    to_json_bytes(v)
}

fn descriptor_value(d: &Descriptor) -> Value {
    // Invariant: a Descriptor is plain data and always serialises.
    #[allow(clippy::expect_used)]
    serde_json::to_value(d).expect("descriptor serialises")
}

fn build_own(packing: &PackingList, opts: &ExportOptions<'_>) -> Result<Own, Error> {
    let created = format_rfc3339(opts.created);
    let packing_bytes: Arc<[u8]> = packing.to_bytes().into();
    let mut stream: Vec<(Digest, Arc<[u8]>)> = Vec::new();
    let mut layer = |media_type: &str, bytes: Arc<[u8]>| {
        let digest = Digest::sha256_of(&bytes);
        let d = descriptor(media_type, &digest, bytes.len() as u64);
        if !stream.iter().any(|(s, _)| *s == digest) {
            stream.push((digest, bytes));
        }
        d
    };
    let packing_list = layer(PACKING_LIST_MEDIA_TYPE, packing_bytes);
    let roots: Vec<Descriptor> = opts
        .chain
        .iter()
        .map(|r| layer(TRUST_ROOT_MEDIA_TYPE, r.to_vec().into()))
        .collect();
    let revocation = layer(REVOCATION_MEDIA_TYPE, opts.revocation.to_vec().into());
    let config = layer(media::OCI_EMPTY, Arc::from(media::EMPTY_JSON));
    let mut layers = vec![descriptor_value(&packing_list)];
    layers.extend(roots.iter().map(descriptor_value));
    layers.push(descriptor_value(&revocation));
    let manifest_bytes = json_bytes(&json!({
        "schemaVersion": 2,
        "mediaType": media::OCI_MANIFEST,
        "artifactType": BUNDLE_ARTIFACT_TYPE,
        "config": descriptor_value(&config),
        "layers": layers,
        "annotations": { media::ANNOTATION_CREATED: created },
    }));
    let manifest_digest = Digest::sha256_of(&manifest_bytes);
    let mut manifest_desc = descriptor(
        media::OCI_MANIFEST,
        &manifest_digest,
        manifest_bytes.len() as u64,
    );
    manifest_desc.set_artifact_type(Some(BUNDLE_ARTIFACT_TYPE.into()));
    let manifest = BundleManifest {
        descriptor: manifest_desc.clone(),
        packing_list,
        roots,
        revocation,
        config: config.clone(),
    };
    // The signatures: one referrer per key, each holding one envelope over the manifest.
    let target = Target {
        media_type: media::OCI_MANIFEST.to_owned(),
        digest: manifest_digest,
        size: manifest_bytes.len() as u64,
    };
    let options = SignOptions {
        signing_time: opts.created,
        expiry: None,
        agent: Some(format!("airlock/{} export", env!("CARGO_PKG_VERSION"))),
    };
    let subject = descriptor(media::OCI_MANIFEST, &target.digest, target.size);
    let mut signed: Vec<Signed> = Vec::new();
    for key in opts.keys {
        let envelope: Arc<[u8]> = signature::envelope::sign(key, &target, &options)
            .map_err(signature::SignatureError::from)?
            .into();
        let envelope_digest = Digest::sha256_of(&envelope);
        let layer = descriptor(COSE_MEDIA_TYPE, &envelope_digest, envelope.len() as u64);
        let doc = crate::build::referrer_document(
            &subject,
            SIGNATURE_ARTIFACT_TYPE,
            &config,
            &layer,
            &signature::annotations_for(key, &options),
        )?;
        let bytes: Arc<[u8]> = json_bytes(&doc).into();
        let digest = Digest::sha256_of(&bytes);
        let mut desc = descriptor(media::OCI_MANIFEST, &digest, bytes.len() as u64);
        desc.set_artifact_type(Some(SIGNATURE_ARTIFACT_TYPE.into()));
        signed.push((desc, bytes, envelope_digest, envelope));
    }
    signed.sort_by_key(|a| a.0.digest().to_string());
    signed.dedup_by(|a, b| a.0.digest() == b.0.digest());
    let mut signatures = Vec::new();
    for (desc, bytes, envelope_digest, envelope) in signed {
        stream.push((Digest::sha256_of(&bytes), bytes));
        if !stream.iter().any(|(s, _)| *s == envelope_digest) {
            stream.push((envelope_digest, envelope));
        }
        signatures.push(desc);
    }
    Ok(Own {
        manifest,
        manifest_bytes,
        stream,
        signatures,
    })
}

/// The bundle's `index.json`: the bundle manifest, its signatures, the roots (tagged
/// `REPOSITORY:TAG`), then every referrer as an untagged entry.
fn index_json(own: &Own, packing: &PackingList, c: &Collected<'_>) -> Vec<u8> {
    let mut entries = vec![descriptor_value(&own.manifest.descriptor)];
    entries.extend(own.signatures.iter().map(descriptor_value));
    let mut listed: HashSet<Digest> = HashSet::new();
    for r in &packing.roots {
        let mut v = descriptor_value(&r.descriptor());
        if r.tag.is_some() {
            v["annotations"] = json!({ media::ANNOTATION_REF_NAME: r.ref_name() });
        }
        if listed.insert(r.digest.clone()) || r.tag.is_some() {
            entries.push(v);
        }
    }
    for (digest, d) in &c.referrers {
        if listed.insert(digest.clone()) {
            entries.push(descriptor_value(d));
        }
    }
    json_bytes(&json!({
        "schemaVersion": 2,
        "mediaType": media::OCI_INDEX,
        "manifests": entries,
    }))
}

/// Checks the signing keys against the newest root's `bundle` role before anything is written.
fn check_keys(opts: &ExportOptions<'_>) -> Result<(), BundleError> {
    let newest = opts
        .chain
        .last()
        .ok_or_else(|| BundleError::Usage("no trust root to carry".into()))?;
    let role = newest.root().role(RoleName::Bundle);
    if opts.keys.is_empty() {
        return Err(BundleError::Usage("no --sign-key given".into()));
    }
    for k in opts.keys {
        if let Some(entry) = opts.revocation.snapshot().key(&k.id()) {
            return Err(BundleError::Usage(format!(
                "key {} is revoked by the revocation snapshot carried (version {}): {}",
                k.id(),
                opts.revocation.version(),
                entry.reason
            )));
        }
        if !role.keys.contains(&k.id()) {
            return Err(BundleError::Usage(format!(
                "key {} is not in the bundle role of trust root version {} (its keys: {})",
                k.id(),
                newest.version(),
                role.keys
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    let distinct: BTreeSet<_> = opts.keys.iter().map(PrivateKey::id).collect();
    if distinct.len() < role.threshold {
        return Err(BundleError::Usage(format!(
            "the bundle role of trust root version {} needs {} distinct keys; {} given",
            newest.version(),
            role.threshold,
            distinct.len()
        )));
    }
    Ok(())
}

/// Exports `items` with their whole graphs as one signed bundle written to `out`.
pub fn export(
    items: &[ExportItem<'_>],
    out: impl Write,
    opts: &ExportOptions<'_>,
    limits: &Limits,
) -> Result<ExportReport, Error> {
    check_keys(opts)?;
    if items.is_empty() {
        return Err(BundleError::Usage("nothing to export".into()).into());
    }
    let c = collect(items, limits)?;
    let roots = items
        .iter()
        .map(|item| -> Result<RootEntry, Error> {
            let digest = crate::layout::descriptor_digest(&item.root)?;
            Ok(RootEntry {
                digest,
                media_type: item.root.media_type().to_string(),
                size: item.root.size(),
                repository: item.repository.clone(),
                tag: item.tag.clone(),
                source: item.reference.clone(),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    // The empty config `{}` is never omitted: every bundle carries it as its own manifest's
    // config, so an importer has it whatever the target holds.
    let empty = Digest::sha256_of(media::EMPTY_JSON);
    let omit = |d: &Digest, mt: &str| {
        opts.since
            .as_ref()
            .is_some_and(|(_, present)| present.contains(d))
            && super::rank_of(mt) == super::Rank::Content
            && *d != empty
    };
    let mut blobs: Vec<BlobEntry> = c
        .nodes
        .iter()
        .map(|(digest, (desc, _, _))| {
            let media_type = desc.media_type().to_string();
            BlobEntry {
                carried: !omit(digest, &media_type),
                digest: digest.clone(),
                size: desc.size(),
                media_type,
            }
        })
        .collect();
    blobs.sort_by(|a, b| (a.rank(), &a.digest).cmp(&(b.rank(), &b.digest)));
    // An importer holds manifests and signature envelopes until the checkpoint: a bundle it
    // would refuse for that is not written.
    let held: u64 = blobs
        .iter()
        .filter(|b| b.rank() != super::Rank::Content)
        .map(|b| b.size)
        .sum();
    if held > limits.max_buffered_manifest_bytes {
        return Err(BundleError::Usage(format!(
            "the manifests and signatures of this set total {held} bytes, more than an importer holds (max_buffered_manifest_bytes, {}): export fewer artifacts per bundle",
            limits.max_buffered_manifest_bytes
        ))
        .into());
    }
    let packing = PackingList {
        schema_version: PACKING_LIST_VERSION,
        media_type: PACKING_LIST_MEDIA_TYPE.to_owned(),
        created: format_rfc3339(opts.created),
        roots,
        blobs,
        referrers: c.edges.iter().cloned().collect(),
        base: opts
            .since
            .as_ref()
            .map(|(d, _)| BaseBundle { digest: d.clone() }),
    };
    // What is written must read back: the same checks an importer makes.
    let packing = PackingList::parse(&packing.to_bytes(), limits)
        .map_err(|e| BundleError::Usage(format!("cannot export this set: {e}")))?;
    let own = build_own(&packing, opts)?;
    let index = index_json(&own, &packing, &c);
    if index.len() as u64 > limits.max_layout_json_bytes {
        return Err(BundleError::Usage(
            "the bundle's index.json would exceed max_layout_json_bytes".into(),
        )
        .into());
    }
    let report = match opts.compression {
        Compression::None => write(out, &own, &index, &packing, &c, opts)?,
        Compression::Zstd => {
            let mut enc = zstd::stream::write::Encoder::new(out, opts.zstd_level)
                .map_err(TarballError::io("start zstd encoder"))?;
            enc.include_checksum(true)
                .map_err(TarballError::io("configure zstd encoder"))?;
            let report = write(&mut enc, &own, &index, &packing, &c, opts)?;
            enc.finish()
                .map_err(TarballError::io("finish zstd stream"))?
                .flush()
                .map_err(TarballError::io("flush bundle"))?;
            report
        }
    };
    Ok(report)
}

fn write(
    out: impl Write,
    own: &Own,
    index: &[u8],
    packing: &PackingList,
    c: &Collected<'_>,
    opts: &ExportOptions<'_>,
) -> Result<ExportReport, Error> {
    let mtime = u64::try_from(opts.created).unwrap_or(0);
    let mut builder = tar::Builder::new(out);
    let io_err = |what: &'static str| TarballError::io(what);
    let oci_layout = json_bytes(&json!({ "imageLayoutVersion": crate::layout::LAYOUT_VERSION }));
    for (name, bytes) in [
        (crate::layout::OCI_LAYOUT_FILE, oci_layout.as_slice()),
        (crate::layout::INDEX_FILE, index),
    ] {
        builder
            .append_data(
                &mut entry_header(bytes.len() as u64, false, mtime),
                name,
                bytes,
            )
            .map_err(io_err("write bundle"))?;
    }
    let mut algorithms: BTreeSet<Algorithm> = BTreeSet::from([Algorithm::Sha256]);
    algorithms.extend(packing.blobs.iter().map(|b| b.digest.algorithm()));
    builder
        .append_data(&mut entry_header(0, true, mtime), "blobs/", io::empty())
        .map_err(io_err("write bundle"))?;
    for alg in &algorithms {
        builder
            .append_data(
                &mut entry_header(0, true, mtime),
                format!("blobs/{alg}/"),
                io::empty(),
            )
            .map_err(io_err("write bundle"))?;
    }
    let mut written: HashSet<Digest> = HashSet::new();
    let put = |builder: &mut tar::Builder<_>,
               digest: &Digest,
               size: u64,
               reader: &mut dyn Read|
     -> Result<(), Error> {
        let name = format!("blobs/{}/{}", digest.algorithm(), digest.hex());
        // Names that fit a ustar header (sha256) are streamed with a large buffer; longer ones
        // (sha512) go through the tar crate, which adds a GNU long-name entry.
        let written = if name.len() <= 100 {
            append_streamed(
                builder.get_mut(),
                entry_header(size, false, mtime),
                &name,
                reader,
                size,
            )
        } else {
            builder.append_data(&mut entry_header(size, false, mtime), &name, reader)
        };
        written.map_err(|e| match digest_error(&e) {
            Some(de) => Error::from(LayoutError::Content {
                what: digest.to_string(),
                source: de.clone(),
            }),
            None => TarballError::Io {
                action: format!("write {name} to the bundle"),
                source: e,
            }
            .into(),
        })?;
        if let Some(p) = &opts.progress {
            p(size);
        }
        Ok(())
    };
    let manifest_digest = crate::layout::descriptor_digest(&own.manifest.descriptor)?;
    put(
        &mut builder,
        &manifest_digest,
        own.manifest_bytes.len() as u64,
        &mut own.manifest_bytes.as_slice(),
    )?;
    written.insert(manifest_digest);
    for (digest, bytes) in &own.stream {
        if written.insert(digest.clone()) {
            put(&mut builder, digest, bytes.len() as u64, &mut &bytes[..])?;
        }
    }
    let (mut carried, mut omitted) = ((0, 0), (0, 0));
    for b in &packing.blobs {
        if !b.carried {
            omitted = (omitted.0 + 1, omitted.1 + b.size);
            continue;
        }
        carried = (carried.0 + 1, carried.1 + b.size);
        if !written.insert(b.digest.clone()) {
            continue;
        }
        let Some((desc, source, raw)) = c.nodes.get(&b.digest) else {
            return Err(BundleError::Usage(format!("{} has no source", b.digest)).into());
        };
        match raw {
            Some(bytes) if media::kind_of(desc.media_type().as_ref()) != Kind::Blob => {
                put(&mut builder, &b.digest, b.size, &mut &bytes[..])?;
            }
            _ => {
                let mut reader = c.items[*source].source.open_blob(&b.digest, b.size)?;
                put(&mut builder, &b.digest, b.size, &mut reader)?;
            }
        }
    }
    let mut out = builder
        .into_inner()
        .map_err(TarballError::io("finish bundle"))?;
    out.flush().map_err(TarballError::io("flush bundle"))?;
    Ok(ExportReport {
        bundle: own.manifest.descriptor.clone(),
        packing: packing.clone(),
        signatures: own.signatures.clone(),
        carried,
        omitted,
    })
}

/// Reads the bundle manifest digest and packing list of an existing bundle (for `--since`),
/// stopping as soon as the packing list has been read and checked against the manifest.
pub fn read_packing_list(
    input: impl Read,
    limits: &Limits,
) -> Result<(Digest, PackingList), Error> {
    let index: std::cell::RefCell<Option<Vec<crate::layout::IndexEntry>>> = Default::default();
    let mut manifest: Option<BundleManifest> = None;
    let mut found: Option<(Digest, PackingList)> = None;
    let mut failure: Option<Error> = None;
    let stop = || TarballError::Malformed("stopped after the packing list".into());
    let result = crate::tarball::read_tarball_with(
        input,
        limits,
        |doc, bytes| {
            if doc == crate::tarball::Document::IndexJson {
                *index.borrow_mut() = Some(crate::layout::parse_index_entries(
                    bytes,
                    "index.json in base bundle",
                    limits,
                )?);
            }
            Ok(())
        },
        |digest, size, reader| {
            let fail = |e: Error, failure: &mut Option<Error>| {
                *failure = Some(e);
                stop()
            };
            let index = index.borrow();
            let Some(entries) = index.as_ref() else {
                return Err(fail(
                    BundleError::Malformed("a blob before index.json".into()).into(),
                    &mut failure,
                ));
            };
            match &manifest {
                None => {
                    let Some(first) = entries.first().filter(|e| &e.digest == digest) else {
                        return Err(fail(
                            BundleError::Malformed(
                                "the first blob is not the bundle manifest".into(),
                            )
                            .into(),
                            &mut failure,
                        ));
                    };
                    let bytes = read_small(reader, size, limits.max_manifest_bytes)?;
                    match BundleManifest::parse(&first.descriptor, &bytes, limits) {
                        Ok(m) => manifest = Some(m),
                        Err(e) => return Err(fail(e.into(), &mut failure)),
                    }
                    Ok(())
                }
                Some(m) => {
                    if crate::layout::descriptor_digest(&m.packing_list)
                        .ok()
                        .as_ref()
                        != Some(digest)
                    {
                        return Err(fail(
                            BundleError::Malformed(
                                "the packing list does not follow the bundle manifest".into(),
                            )
                            .into(),
                            &mut failure,
                        ));
                    }
                    let bytes = read_small(reader, size, limits.max_layout_json_bytes)?;
                    match crate::layout::descriptor_digest(&m.descriptor) {
                        Ok(manifest_digest) => match PackingList::parse(&bytes, limits) {
                            Ok(list) => found = Some((manifest_digest, list)),
                            Err(e) => failure = Some(e.into()),
                        },
                        Err(e) => failure = Some(e.into()),
                    }
                    Err(stop())
                }
            }
        },
    );
    if let Some(e) = failure {
        return Err(e);
    }
    if let Some(f) = found {
        return Ok(f);
    }
    result?;
    Err(BundleError::Malformed("no bundle manifest and packing list".into()).into())
}

/// Reads a whole small blob (verified by the reader at its end).
pub(super) fn read_small(
    reader: &mut dyn Read,
    size: u64,
    max: u64,
) -> Result<Vec<u8>, TarballError> {
    if size > max {
        return Err(TarballError::Malformed(format!(
            "a {size}-byte document where at most {max} bytes are allowed"
        )));
    }
    let mut bytes = Vec::with_capacity(size as usize);
    Read::take(&mut *reader, max.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(TarballError::io("read bundle entry"))?;
    Ok(bytes)
}

/// Writes one tar entry: header, `size` bytes of `reader` copied in 1 MiB reads, and padding to
/// the next 512-byte block. The reader is read to its end, so a verifying reader's digest check
/// runs before the entry counts as written.
fn append_streamed(
    out: &mut impl Write,
    mut header: tar::Header,
    name: &str,
    reader: &mut dyn Read,
    size: u64,
) -> io::Result<()> {
    header.set_path(name)?;
    header.set_cksum();
    out.write_all(header.as_bytes())?;
    let mut buf = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        let want = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
        let n = match reader.read(&mut buf[..want]) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("{name}: the source ended {left} bytes short"),
                ));
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        out.write_all(&buf[..n])?;
        left -= n as u64;
    }
    loop {
        match reader.read(&mut buf[..1]) {
            Ok(0) => break,
            Ok(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{name}: the source is longer than its size"),
                ));
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let pad = (512 - size % 512) % 512;
    out.write_all(&[0u8; 512][..pad as usize])
}
