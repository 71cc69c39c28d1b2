"""Sign a target descriptor with pycose, shaping the envelope the way airlock does.

usage: sign.py --key PRIVATE_KEY --media-type MT --digest DIGEST --size N --signing-time T
               [--expiry T] OUT

PRIVATE_KEY is an unencrypted PKCS#8 PEM of an Ed25519 or P-384 key (airlock's NAME.key). The
output is a COSE_Sign1_Tagged message built by pycose, independently of airlock:
  protected    alg (1)  EdDSA (-8) for Ed25519, ES384 (-35) for P-384
               crit (2) ["io.cncf.notary.signingScheme"] (+ "io.cncf.notary.expiry" with --expiry)
               cty (3)  "application/vnd.cncf.notary.payload.v1+json"
               kid (4)  UTF-8 of "sha256:<hex>", the SHA-256 of the key's SPKI DER
               "io.cncf.notary.signingScheme": "airlock.key.v1"
               "io.cncf.notary.signingTime": 1(T)       (CBOR tag 1, integer seconds)
               "io.cncf.notary.expiry": 1(T)            (only with --expiry)
  unprotected  {}
  payload      {"targetArtifact":{"digest":…,"mediaType":…,"size":…}} (compact, keys sorted)
pycose encodes text labels as given and cbor2.CBORTag(1, int) as tag 1 around an integer.
"""

import argparse
import hashlib
import json
import sys

import cbor2
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_private_key,
)
from pycose import algorithms, headers
from pycose.keys import EC2Key, OKPKey
from pycose.keys.curves import P384, Ed25519
from pycose.messages import Sign1Message

CONTENT_TYPE = "application/vnd.cncf.notary.payload.v1+json"
SCHEME = "io.cncf.notary.signingScheme"
SIGNING_TIME = "io.cncf.notary.signingTime"
EXPIRY = "io.cncf.notary.expiry"


def cose_key(pem: bytes):
    """The pycose key, the COSE alg and the airlock key id for a PKCS#8 PEM private key."""
    key = load_pem_private_key(pem, password=None)
    spki = key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    kid = "sha256:" + hashlib.sha256(spki).hexdigest()
    if isinstance(key, ed25519.Ed25519PrivateKey):
        x = key.public_key().public_bytes_raw()
        return OKPKey(crv=Ed25519, x=x, d=key.private_bytes_raw()), algorithms.EdDSA, kid
    if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP384R1):
        pub = key.public_key().public_numbers()
        d = key.private_numbers().private_value
        cose = EC2Key(
            crv=P384,
            x=pub.x.to_bytes(48, "big"),
            y=pub.y.to_bytes(48, "big"),
            d=d.to_bytes(48, "big"),
        )
        return cose, algorithms.Es384, kid
    raise SystemExit(f"unsupported private key type {type(key).__name__}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--key", required=True)
    parser.add_argument("--media-type", required=True)
    parser.add_argument("--digest", required=True)
    parser.add_argument("--size", type=int, required=True)
    parser.add_argument("--signing-time", type=int, required=True)
    parser.add_argument("--expiry", type=int)
    parser.add_argument("out")
    args = parser.parse_args()
    with open(args.key, "rb") as f:
        key, alg, kid = cose_key(f.read())

    crit = [SCHEME] + ([EXPIRY] if args.expiry is not None else [])
    # A dict keeps insertion order, and pycose encodes the protected header in that order.
    protected = {
        headers.Algorithm: alg,
        headers.Critical: crit,
        headers.ContentType: CONTENT_TYPE,
        headers.KID: kid.encode(),
        SCHEME: "airlock.key.v1",
        SIGNING_TIME: cbor2.CBORTag(1, args.signing_time),
    }
    if args.expiry is not None:
        protected[EXPIRY] = cbor2.CBORTag(1, args.expiry)
    target = {"digest": args.digest, "mediaType": args.media_type, "size": args.size}
    payload = json.dumps({"targetArtifact": target}, separators=(",", ":"), sort_keys=True)

    msg = Sign1Message(phdr=protected, uhdr={}, payload=payload.encode(), key=key)
    with open(args.out, "wb") as f:
        f.write(msg.encode(tag=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
