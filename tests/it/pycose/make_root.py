"""Make an airlock trust root with cbor2 and pycose, independently of airlock.

usage: make_root.py OUT --root-key PRIVATE_KEY... --threshold N [--signer NAME=PUBLIC_KEY...]
                    --version V --issued-at T --expires T
                    [--revocation-threshold N] [--bundle-threshold N] [--order canonical|document]
                    [--sign-count K]

Each PRIVATE_KEY is an unencrypted PKCS#8 PEM of an Ed25519 or P-384 key (airlock's NAME.key),
each PUBLIC_KEY an SPKI PEM (NAME.pub); both are read with `cryptography`. The payload
(formats/trust-root.md, "Trust-root payload") is built here with cbor2:
  {"type": "airlock.trust-root.v1", "version": V, "issued-at": T, "expires": T,
   "keys": {KEY_ID: {"algorithm": "ed25519"|"p384", "spki": SPKI DER}},
   "roles": {"root"|"revocation"|"bundle": {"keys": [sorted root key ids], "threshold": N}},
   "signers": {NAME: {"keys": [sorted key ids], "threshold": 1}}}
where KEY_ID is "sha256:" and the hex SHA-256 of the SPKI DER. The root keys hold all three
roles (--revocation-threshold and --bundle-threshold default to --threshold). With
--order canonical (the default) the payload is cbor2.dumps(..., canonical=True); with
--order document the maps keep the order above (cbor2's default), which is NOT the RFC 8949
deterministic order: airlock must refuse it. With --sign-count K only the first K root keys
sign (the others can then add theirs with `airlock trust sign`); K must be at least 1, since
pycose writes a SignMessage without signers as a 3-item array, not a COSE_Sign.

The message is a pycose SignMessage, encoded tagged (98):
  body protected    {3: "application/vnd.airlock.trust-root.v1+cbor"}    unprotected {}
  each signature    protected {1: -8 (EdDSA) | -35 (ES384), 4: UTF-8 of the key id}
                    unprotected {}, signed by pycose with the root key, external_aad empty
pycose encodes a protected header with cbor2 in the dict's insertion order (alg before kid, as
airlock writes them), integer labels as integers, and the kid as a byte string.

Prints one JSON object: the output path, the payload (hex) and the root key ids in order.
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
    load_pem_public_key,
)
from pycose import algorithms, headers
from pycose.keys import EC2Key, OKPKey
from pycose.keys.curves import P384, Ed25519
from pycose.messages import SignMessage
from pycose.messages.signer import CoseSignature

CONTENT_TYPE = "application/vnd.airlock.trust-root.v1+cbor"
TYPE = "airlock.trust-root.v1"


def describe(public) -> tuple:
    """The key id, airlock algorithm name and SPKI DER of a `cryptography` public key."""
    spki = public.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    if isinstance(public, ed25519.Ed25519PublicKey):
        name = "ed25519"
    elif isinstance(public, ec.EllipticCurvePublicKey) and isinstance(public.curve, ec.SECP384R1):
        name = "p384"
    else:
        raise SystemExit(f"unsupported public key type {type(public).__name__}")
    return "sha256:" + hashlib.sha256(spki).hexdigest(), name, spki


def signing_key(pem: bytes):
    """The key id, SPKI description, pycose key and COSE algorithm of a PKCS#8 PEM."""
    key = load_pem_private_key(pem, password=None)
    kid, name, spki = describe(key.public_key())
    if isinstance(key, ed25519.Ed25519PrivateKey):
        cose = OKPKey(crv=Ed25519, x=key.public_key().public_bytes_raw(), d=key.private_bytes_raw())
        return kid, name, spki, cose, algorithms.EdDSA
    if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP384R1):
        pub = key.public_key().public_numbers()
        cose = EC2Key(
            crv=P384,
            x=pub.x.to_bytes(48, "big"),
            y=pub.y.to_bytes(48, "big"),
            d=key.private_numbers().private_value.to_bytes(48, "big"),
        )
        return kid, name, spki, cose, algorithms.Es384
    raise SystemExit(f"unsupported private key type {type(key).__name__}")


def name_value(text: str) -> tuple:
    name, sep, value = text.partition("=")
    if not sep or not name or not value:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name, value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--root-key", action="append", required=True)
    parser.add_argument("--threshold", type=int, required=True)
    parser.add_argument("--revocation-threshold", type=int)
    parser.add_argument("--bundle-threshold", type=int)
    parser.add_argument("--signer", action="append", type=name_value, default=[])
    parser.add_argument("--version", type=int, required=True)
    parser.add_argument("--issued-at", type=int, required=True)
    parser.add_argument("--expires", type=int, required=True)
    parser.add_argument("--order", choices=["canonical", "document"], default="canonical")
    parser.add_argument("--sign-count", type=int)
    args = parser.parse_args()

    keys = {}
    signing = []
    for path in args.root_key:
        with open(path, "rb") as f:
            kid, name, spki, cose, alg = signing_key(f.read())
        keys[kid] = {"algorithm": name, "spki": spki}
        signing.append((kid, cose, alg))
    signers = {}
    for name, path in args.signer:
        with open(path, "rb") as f:
            kid, alg_name, spki = describe(load_pem_public_key(f.read()))
        keys[kid] = {"algorithm": alg_name, "spki": spki}
        signers.setdefault(name, set()).add(kid)

    def role(ids, threshold):
        return {"keys": sorted(ids), "threshold": threshold}

    root_ids = [kid for kid, _, _ in signing]
    doc = {
        "type": TYPE,
        "version": args.version,
        "issued-at": args.issued_at,
        "expires": args.expires,
        "keys": keys,
        "roles": {
            "root": role(root_ids, args.threshold),
            "revocation": role(root_ids, args.revocation_threshold or args.threshold),
            "bundle": role(root_ids, args.bundle_threshold or args.threshold),
        },
        "signers": {name: role(ids, 1) for name, ids in signers.items()},
    }
    payload = cbor2.dumps(doc, canonical=args.order == "canonical")
    if args.sign_count is not None and not 1 <= args.sign_count <= len(signing):
        raise SystemExit(f"--sign-count must be 1 to {len(signing)}")

    msg = SignMessage(
        phdr={headers.ContentType: CONTENT_TYPE},
        uhdr={},
        payload=payload,
        signers=[
            CoseSignature(phdr={headers.Algorithm: alg, headers.KID: kid.encode()}, uhdr={}, key=cose)
            for kid, cose, alg in signing[: args.sign_count]
        ],
    )
    with open(args.out, "wb") as f:
        f.write(msg.encode(tag=True))
    print(json.dumps({"out": args.out, "payload": payload.hex(), "root_keys": root_ids}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
