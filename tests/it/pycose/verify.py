"""Verify an airlock signature envelope with pycose, an independent COSE implementation.

usage: verify.py ENVELOPE PUBLIC_KEY

ENVELOPE is a COSE_Sign1_Tagged message; PUBLIC_KEY is an SPKI PEM (airlock's NAME.pub) of an
Ed25519 or P-384 key. The key is read with `cryptography` and given to pycose as a COSE key built
from its raw coordinates (OKP x for Ed25519; EC2 x and y for P-384), so nothing of airlock's key
handling is reused.

Prints one JSON object: what pycose decoded (alg, kid, cty, crit, payload, the text-labelled
protected headers, with tag 1 epoch times as integers) and "verified". Exit status:
  0  the signature verifies
  3  the message decodes but the signature does not verify
  4  pycose cannot decode the message (e.g. an algorithm it does not know)
  2  bad arguments (argparse); 1  an unexpected error (traceback)
"""

import argparse
import datetime
import json
import sys

from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from pycose import headers
from pycose.keys import EC2Key, OKPKey
from pycose.keys.curves import P384, Ed25519
from pycose.messages import Sign1Message

EXIT_INVALID = 3
EXIT_UNDECODABLE = 4


def cose_key(pem: bytes):
    """The pycose key for an SPKI PEM public key."""
    key = load_pem_public_key(pem)
    if isinstance(key, ed25519.Ed25519PublicKey):
        return OKPKey(crv=Ed25519, x=key.public_bytes_raw())
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP384R1):
        numbers = key.public_numbers()
        return EC2Key(crv=P384, x=numbers.x.to_bytes(48, "big"), y=numbers.y.to_bytes(48, "big"))
    raise SystemExit(f"unsupported public key type {type(key).__name__}")


def plain(value):
    """A header value as JSON: tag 1 times (decoded by cbor2 as datetimes) become epoch integers."""
    if isinstance(value, datetime.datetime):
        return int(value.timestamp())
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, list):
        return [plain(v) for v in value]
    return getattr(value, "identifier", value)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("envelope")
    parser.add_argument("public_key")
    args = parser.parse_args()
    with open(args.envelope, "rb") as f:
        envelope = f.read()
    with open(args.public_key, "rb") as f:
        key = cose_key(f.read())

    try:
        msg = Sign1Message.decode(envelope)
    except Exception as e:  # pycose raises several types; all mean "cannot decode"
        print(json.dumps({"decoded": False, "error": f"{type(e).__name__}: {e}"}))
        return EXIT_UNDECODABLE

    msg.key = key
    verified = msg.verify_signature()
    print(json.dumps({
        "decoded": True,
        "verified": verified,
        "alg": msg.get_attr(headers.Algorithm).identifier,
        "kid": plain(msg.phdr.get(headers.KID)),
        "cty": msg.phdr.get(headers.ContentType),
        "crit": plain(msg.phdr.get(headers.Critical)),
        "text": {k: plain(v) for k, v in msg.phdr.items() if isinstance(k, str)},
        "payload": msg.payload.decode("utf-8", "replace"),
    }))
    return 0 if verified else EXIT_INVALID


if __name__ == "__main__":
    sys.exit(main())
