//! `airlock attach REF --artifact-type TYPE FILE[:MEDIATYPE]`: add a file (an SBOM, a scan
//! result) as a referrer of an artifact.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::path::PathBuf;

use airlock::digest::{Algorithm, Expected, HashingReader};
use airlock::layout::{LayoutError, descriptor, descriptor_digest};
use airlock::{Error, Limits, copy, signature};
use clap::Args;
use serde_json::json;

use super::output::{Output, short};
use super::target::RegistryArgs;

#[derive(Debug, Args)]
pub(crate) struct AttachArgs {
    /// The subject: oci:PATH[:TAG|@DIGEST] or REGISTRY/REPO[:TAG|@DIGEST].
    reference: String,
    /// The referrer's artifactType (e.g. application/spdx+json).
    #[arg(long)]
    artifact_type: String,
    /// The content, as FILE or FILE:MEDIATYPE (default media type: application/octet-stream).
    file: String,
    /// An annotation on the referrer manifest, KEY=VALUE (repeatable).
    #[arg(long = "annotation", value_name = "KEY=VALUE", value_parser = parse_annotation)]
    annotations: Vec<(String, String)>,
}

fn parse_annotation(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .filter(|(k, _)| !k.is_empty())
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("expected KEY=VALUE, got {s:?}"))
}

/// Splits `FILE[:MEDIATYPE]`: the part after the last `:` is a media type only if it has a `/`,
/// so paths with colons still work.
fn split_file(s: &str) -> (PathBuf, String) {
    match s.rsplit_once(':') {
        Some((path, mt)) if mt.contains('/') && !path.is_empty() => (path.into(), mt.to_owned()),
        _ => (s.into(), "application/octet-stream".to_owned()),
    }
}

pub(crate) fn run(
    args: &AttachArgs,
    out: &Output,
    limits: &Limits,
    registry: &RegistryArgs,
) -> Result<(), Error> {
    if args.artifact_type == signature::SIGNATURE_ARTIFACT_TYPE {
        return Err(Error::Unsupported(
            "use `airlock sign` to add a signature".into(),
        ));
    }
    let (path, media_type) = split_file(&args.file);
    let t = super::target::resolve(&args.reference, limits, registry)?;
    let subject = signature::target_of(t.store.source(), &t.descriptor, limits)?;
    let open_file = || {
        File::open(&path).map_err(|source| LayoutError::Io {
            action: "open",
            path: path.clone(),
            source,
        })
    };
    // One pass for the digest (a registry upload names it first), then the upload streams
    // the file again through a reader that fails at its end if the file changed meanwhile.
    let (digest, size) = HashingReader::new(open_file()?, Algorithm::Sha256)
        .drain()
        .map_err(|source| LayoutError::Io {
            action: "read",
            path: path.clone(),
            source,
        })?;
    if size > limits.max_blob_bytes {
        return Err(LayoutError::TooLarge {
            what: path.display().to_string(),
            limit: limits.max_blob_bytes,
        }
        .into());
    }
    let layer = descriptor(&media_type, &digest, size);
    let open = || -> Result<Box<dyn Read + Send>, LayoutError> {
        Ok(Box::new(HashingReader::verifying(
            open_file()?,
            Expected {
                digest: digest.clone(),
                size: Some(size),
            },
        )))
    };
    let subject_desc = descriptor(&subject.media_type, &subject.digest, subject.size);
    let annotations: BTreeMap<String, String> = args.annotations.iter().cloned().collect();
    let referrer = copy::attach(
        t.store.destination(),
        &subject_desc,
        &args.artifact_type,
        (&layer, &open),
        &annotations,
    )?;
    let referrer_digest = descriptor_digest(&referrer)?;
    out.status(format!(
        "attached {} ({media_type}, {size} bytes) to {} ({})\n  referrer: {referrer_digest}",
        path.display(),
        t.reference,
        short(&subject.digest)
    ));
    out.result(
        "attach",
        json!({
            "reference": t.reference.to_string(),
            "subject": subject.digest,
            "referrer": { "digest": referrer_digest, "size": referrer.size(), "artifactType": args.artifact_type },
            "layer": { "digest": digest, "size": size, "mediaType": media_type },
        }),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::split_file;

    #[test]
    fn file_and_media_type() {
        assert_eq!(
            split_file("sbom.json:application/spdx+json").1,
            "application/spdx+json"
        );
        assert_eq!(split_file("a:b.json").0.to_str(), Some("a:b.json"));
        assert_eq!(split_file("scan.sarif").1, "application/octet-stream");
    }
}
