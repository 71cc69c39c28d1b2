"""Read an extracted airlock bundle as an OCI image layout with oras-py (PyPI `oras`).

usage: oras_layout.py DIR TAG

Validates DIR as an OCI image layout (oras.layout.NewLayout, which checks oci-layout, index.json
against oras-py's own schema and the blobs directory), collects the blobs of the manifest tagged
TAG in push order (Layout.get_ordered_blobs: layers, config, manifests, index last), checks each
exists (Layout.blob_exists), and prints {"tag": TAG, "blobs": [DIGEST, ...]} as JSON.
"""

import json
import sys

import oras.layout


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    path, tag = sys.argv[1], sys.argv[2]
    layout = oras.layout.NewLayout(path, validate=True)
    blobs = layout.get_ordered_blobs(tag)
    missing = [d for d in blobs if not layout.blob_exists(d)]
    if missing:
        print(f"blobs missing from the layout: {missing}", file=sys.stderr)
        return 1
    print(json.dumps({"tag": tag, "blobs": blobs}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
