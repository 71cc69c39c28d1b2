"""Read what airlock pushed to a registry with oras-py (PyPI `oras`), an independent OCI client.

usage:
  oras_read.py [--insecure] REF manifest
  oras_read.py [--insecure] REF referrers [--artifact-type TYPE] [--no-api] [--no-verify]
  oras_read.py [--insecure] REF pull-blob DIGEST OUTFILE [--size N]

REF is HOST[:PORT]/REPO@sha256:HEX or HOST[:PORT]/REPO:TAG (REPO may have slashes). --insecure
speaks plain HTTP (oras.provider.Registry(insecure=True)); without it, HTTPS.

manifest   fetches the manifest with oras (Registry.get_manifest, validated against oras-py's own
           manifest or index JSON schema, and Registry.do_request for the raw bytes, which
           get_manifest does not expose), hashes the raw bytes and prints one JSON object:
             {"reference", "digest": "sha256:..." (over the raw bytes), "size",
              "mediaType" (the body's), "contentType" and "dockerContentDigest" (response
              headers, or null), "manifest" (the parsed JSON),
              "raw" (the bytes as fetched, as text)}
           When REF names a digest, the bytes must hash to it.

referrers  lists the referrers of the manifest REF names (a tag is resolved to its digest first).
           oras-py has no referrers/discover call, so this asks the referrers API with the
           client's own Registry.do_request (GET /v2/REPO/referrers/DIGEST) and, when that
           answers 404 (no API, as with Distribution 2.8), falls back to the referrers tag schema
           of OCI distribution-spec 1.1: Registry.get_manifest fetches the image index tagged
           sha256-HEX (a HEAD that finds no such tag means no referrers). The subject itself
           must exist.
           Unless --no-verify, each referrer manifest is fetched and must hash to its
           descriptor's digest, have its size, name REF's manifest as its subject, and carry the
           descriptor's artifactType. Prints one JSON object:
             {"subject": "sha256:...", "source": "api"|"tag", "tag": "sha256-HEX",
              "referrers": [descriptor as listed, ...]}
           --artifact-type keeps only descriptors of that artifactType; --no-api skips the API.

pull-blob  downloads blob DIGEST of REF's repository with Registry.download_blob into OUTFILE,
           then hashes the file (oras-py does not check digests) and prints
             {"digest", "size", "path"}

Exit status: 0 on success; 1 on any failure, with a message on stderr; 2 on bad arguments.
"""

import argparse
import hashlib
import json
import socket
import sys

import jsonschema
import oras.container
import oras.defaults
import oras.provider
import oras.schemas

INDEX_MEDIA_TYPE = "application/vnd.oci.image.index.v1+json"
MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"
DOCKER_LIST_MEDIA_TYPE = "application/vnd.docker.distribution.manifest.list.v2+json"


class Failure(Exception):
    """A check failed: the message goes to stderr and the exit status is 1."""


def digest_of(data: bytes, algorithm: str = "sha256") -> str:
    if algorithm not in ("sha256", "sha512"):
        raise Failure(f"unsupported digest algorithm {algorithm!r}")
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


def split_digest(digest: str):
    algorithm, sep, encoded = digest.partition(":")
    if not sep or algorithm not in ("sha256", "sha512") or not encoded:
        raise Failure(f"not a sha256/sha512 digest: {digest!r}")
    want = 64 if algorithm == "sha256" else 128
    if len(encoded) != want or any(c not in "0123456789abcdef" for c in encoded):
        raise Failure(f"malformed {algorithm} digest: {digest!r}")
    return algorithm, encoded


def check_reachable(container: oras.container.Container, insecure: bool):
    """Fail fast when nothing listens: oras-py's do_request retries a refused connection
    five times with growing sleeps (about two minutes in all) before it gives up."""
    hostport = container.registry
    if hostport.startswith("["):
        host, _, rest = hostport[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    else:
        host, _, port = hostport.rpartition(":") if ":" in hostport else (hostport, "", "")
    port = int(port) if port else (80 if insecure else 443)
    try:
        socket.create_connection((host, port), timeout=5).close()
    except OSError as e:
        raise Failure(f"registry {hostport} is not reachable: {e}") from None


def repo_ref(container: oras.container.Container, tag: str = None, digest: str = None) -> str:
    """A reference in REF's repository, for oras-py's Container parser."""
    base = f"{container.registry}/{container.api_prefix}"
    return f"{base}@{digest}" if digest else f"{base}:{tag}"


def fetch_raw_manifest(registry, container, reference: str, accept):
    """The manifest's raw bytes and response, through oras-py's own request path."""
    url = f"{registry.prefix}://{container.manifest_url(reference)}"
    response = registry.do_request(url, "GET", headers={"Accept": ", ".join(accept)})
    if response.status_code != 200:
        raise Failure(f"GET {url}: HTTP {response.status_code} {response.text.strip()[:500]}")
    return response.content, response


def schema_for(media_type):
    if media_type in (INDEX_MEDIA_TYPE, DOCKER_LIST_MEDIA_TYPE):
        return oras.schemas.index
    return oras.schemas.manifest


def get_manifest_checked(registry, ref: str, accept=None, schema=None):
    """Fetch with Registry.get_manifest, then refetch the raw bytes and check both agree.

    get_manifest returns only the parsed JSON; the digest needs the bytes as served."""
    container = registry.get_container(ref)
    accept = accept or oras.defaults.default_manifest_accepted_media_types
    try:
        parsed = registry.get_manifest(container, allowed_media_type=list(accept))
    except Exception as e:  # oras-py raises ValueError("Issue with URL: reason")
        raise Failure(f"oras get_manifest {ref}: {e}") from None
    if not isinstance(parsed, dict):
        raise Failure(f"{ref}: manifest is not a JSON object")
    try:
        jsonschema.validate(parsed, schema=schema or schema_for(parsed.get("mediaType")))
    except jsonschema.ValidationError as e:
        raise Failure(f"{ref}: fails oras-py's schema: {e.message}") from None
    reference = container.digest or container.tag
    raw, response = fetch_raw_manifest(registry, container, reference, accept)
    try:
        reparsed = json.loads(raw)
    except ValueError as e:
        raise Failure(f"{ref}: manifest is not JSON: {e}") from None
    if reparsed != parsed:
        raise Failure(f"{ref}: get_manifest and the raw fetch disagree (manifest changed?)")
    if container.digest:
        algorithm, _ = split_digest(container.digest)
        got = digest_of(raw, algorithm)
        if got != container.digest:
            raise Failure(f"{ref}: fetched bytes hash to {got}, not {container.digest}")
    return parsed, raw, response


def cmd_manifest(registry, container, args):
    parsed, raw, response = get_manifest_checked(registry, container.uri)
    algorithm = split_digest(container.digest)[0] if container.digest else "sha256"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Failure(f"{container.uri}: manifest is not UTF-8") from None
    return {
        "reference": container.uri,
        "digest": digest_of(raw, algorithm),
        "size": len(raw),
        "mediaType": parsed.get("mediaType"),
        "contentType": response.headers.get("Content-Type"),
        "dockerContentDigest": response.headers.get("Docker-Content-Digest"),
        "manifest": parsed,
        "raw": text,
    }


def check_index(index, where: str):
    if index.get("mediaType") != INDEX_MEDIA_TYPE:
        raise Failure(f"{where}: mediaType is {index.get('mediaType')!r}, not {INDEX_MEDIA_TYPE}")
    if index.get("schemaVersion") != 2:
        raise Failure(f"{where}: schemaVersion is {index.get('schemaVersion')!r}, not 2")
    manifests = index.get("manifests")
    if not isinstance(manifests, list):
        raise Failure(f"{where}: no manifests list")
    for i, d in enumerate(manifests):
        if not isinstance(d, dict):
            raise Failure(f"{where}: manifests[{i}] is not an object")
        for field, kind in (("mediaType", str), ("digest", str), ("size", int)):
            if not isinstance(d.get(field), kind) or isinstance(d.get(field), bool):
                raise Failure(
                    f"{where}: manifests[{i}].{field} is missing or not a {kind.__name__}"
                )
        split_digest(d["digest"])
    return manifests


def referrers_from_api(registry, container, subject: str, artifact_type):
    """The referrers API's list, or None when the registry answers 404 (no API)."""
    url = f"{registry.prefix}://{container.registry}/v2/{container.api_prefix}/referrers/{subject}"
    if artifact_type:
        url += f"?artifactType={artifact_type}"
    response = registry.do_request(url, "GET", headers={"Accept": INDEX_MEDIA_TYPE})
    if response.status_code == 404:
        return None
    if response.status_code != 200:
        raise Failure(f"GET {url}: HTTP {response.status_code} {response.text.strip()[:500]}")
    try:
        index = response.json()
    except ValueError as e:
        raise Failure(f"GET {url}: not JSON: {e}") from None
    return check_index(index, f"referrers API {url}")


def manifest_exists(registry, container, reference: str, accept) -> bool:
    """HEAD a manifest through oras-py's request path: True on 200, False on 404."""
    url = f"{registry.prefix}://{container.manifest_url(reference)}"
    response = registry.do_request(url, "HEAD", headers={"Accept": ", ".join(accept)})
    if response.status_code == 404:
        return False
    if response.status_code != 200:
        raise Failure(f"HEAD {url}: HTTP {response.status_code}")
    return True


def referrers_from_tag(registry, container, tag: str):
    """The referrers tag schema: the index tagged sha256-HEX, or [] when there is no such tag.

    Existence is asked with HEAD, not Registry.get_tags: Distribution answers tags/list of a
    repository that has manifests but no tag yet with 404 NAME_UNKNOWN."""
    if not manifest_exists(registry, container, tag, [INDEX_MEDIA_TYPE]):
        return []
    index, _, _ = get_manifest_checked(
        registry, repo_ref(container, tag=tag), accept=[INDEX_MEDIA_TYPE], schema=oras.schemas.index
    )
    return check_index(index, f"referrers tag {tag}")


def verify_referrer(registry, container, subject: str, descriptor):
    ref = repo_ref(container, digest=descriptor["digest"])
    where = f"referrer {descriptor['digest']}"
    manifest, raw, _ = get_manifest_checked(registry, ref, accept=[descriptor["mediaType"]])
    if len(raw) != descriptor["size"]:
        raise Failure(f"{where}: {len(raw)} bytes, descriptor says {descriptor['size']}")
    if manifest.get("mediaType") != descriptor["mediaType"]:
        raise Failure(
            f"{where}: mediaType {manifest.get('mediaType')!r}, "
            f"descriptor says {descriptor['mediaType']!r}"
        )
    manifest_subject = manifest.get("subject") or {}
    if manifest_subject.get("digest") != subject:
        raise Failure(f"{where}: subject is {manifest_subject.get('digest')!r}, not {subject}")
    artifact_type = manifest.get("artifactType") or (manifest.get("config") or {}).get("mediaType")
    if descriptor.get("artifactType") != artifact_type:
        raise Failure(
            f"{where}: artifactType {artifact_type!r}, "
            f"descriptor says {descriptor.get('artifactType')!r}"
        )


def cmd_referrers(registry, container, args):
    if container.digest:
        subject = container.digest
        accept = oras.defaults.default_manifest_accepted_media_types
        if not manifest_exists(registry, container, subject, accept):
            raise Failure(f"subject {container.uri} not found")
    else:
        _, raw, _ = get_manifest_checked(registry, container.uri)
        subject = digest_of(raw)
    algorithm, encoded = split_digest(subject)
    tag = f"{algorithm}-{encoded}"[:128]
    manifests = None if args.no_api else referrers_from_api(
        registry, container, subject, args.artifact_type
    )
    source = "api"
    if manifests is None:
        source = "tag"
        manifests = referrers_from_tag(registry, container, tag)
    if args.artifact_type:
        # The API may ignore the filter (no OCI-Filters-Applied header); the tag schema has none.
        manifests = [d for d in manifests if d.get("artifactType") == args.artifact_type]
    if not args.no_verify:
        for descriptor in manifests:
            verify_referrer(registry, container, subject, descriptor)
    return {"subject": subject, "source": source, "tag": tag, "referrers": manifests}


def cmd_pull_blob(registry, container, args):
    algorithm, _ = split_digest(args.digest)
    try:
        path = registry.download_blob(container, args.digest, args.outfile)
    except Exception as e:
        raise Failure(f"oras download_blob {args.digest}: {e}") from None
    if path != args.outfile:
        # download_blob swallows a failed download of the empty blob and returns /dev/null.
        raise Failure(
            f"oras download_blob {args.digest} did not write {args.outfile} (gave {path})"
        )
    h = hashlib.new(algorithm)
    size = 0
    with open(args.outfile, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 16), b""):
            h.update(chunk)
            size += len(chunk)
    got = f"{algorithm}:{h.hexdigest()}"
    if got != args.digest:
        raise Failure(f"blob {args.digest}: downloaded bytes hash to {got}")
    if args.size is not None and size != args.size:
        raise Failure(f"blob {args.digest}: {size} bytes, expected {args.size}")
    return {"digest": got, "size": size, "path": args.outfile}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Read a registry with oras-py.")
    parser.add_argument("--insecure", action="store_true", help="plain HTTP")
    parser.add_argument(
        "ref", metavar="REF", help="HOST[:PORT]/REPO@DIGEST or HOST[:PORT]/REPO:TAG"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("manifest", help="fetch a manifest and its digest")
    p = sub.add_parser("referrers", help="list referrers (API, else the tag schema)")
    p.add_argument("--artifact-type", help="keep only this artifactType")
    p.add_argument("--no-api", action="store_true", help="skip the referrers API")
    p.add_argument("--no-verify", action="store_true", help="do not fetch the referrers")
    p = sub.add_parser("pull-blob", help="download a blob and check its digest")
    p.add_argument("digest", metavar="DIGEST")
    p.add_argument("outfile", metavar="OUTFILE")
    p.add_argument("--size", type=int, help="expected size in bytes")
    args = parser.parse_args(argv)

    try:
        registry = oras.provider.Registry(insecure=args.insecure)
        try:
            container = registry.get_container(args.ref)
        except ValueError as e:
            raise Failure(str(e)) from None
        if not container.registry or "/" in container.registry:
            raise Failure(f"REF {args.ref!r} names no registry host")
        if container.digest:
            split_digest(container.digest)
        check_reachable(container, args.insecure)
        run = {"manifest": cmd_manifest, "referrers": cmd_referrers, "pull-blob": cmd_pull_blob}
        result = run[args.command](registry, container, args)
    except Failure as e:
        print(f"oras_read.py: error: {e}", file=sys.stderr)
        return 1
    except Exception as e:  # anything oras-py or requests raised
        print(f"oras_read.py: error: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    json.dump(result, sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
