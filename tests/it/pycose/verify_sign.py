"""Verify an airlock trust root (a COSE_Sign_Tagged message) with pycose and cbor2.

usage: verify_sign.py ROOT_FILE PUBLIC_KEY...

ROOT_FILE is a trust root or revocation snapshot: a COSE_Sign_Tagged (tag 98) message carrying
several COSE_Signatures over a deterministic-CBOR payload (formats/trust-root.md). Each
PUBLIC_KEY is an SPKI PEM (airlock's NAME.pub) of an Ed25519 or P-384 key. Nothing of airlock is
reused:
  - the key id of each PEM is computed here: "sha256:" + hex SHA-256 of the SPKI DER that
    `cryptography` re-encodes;
  - pycose decodes the message (SignMessage) and verifies every COSE_Signature with the COSE key
    whose id equals the signature's kid (OKP x for Ed25519; EC2 x and y for P-384), over
    pycose's own Sig_structure with an empty external_aad;
  - cbor2 decodes the payload on its own and checks (a) that cbor2's canonical encoding of what
    it decoded is the payload byte for byte, and (b) that every key id in the payload's "keys"
    map is the SHA-256 of that entry's "spki".

Prints one JSON object: "kids" (the signatures' kids, in order), "signatures" (per signature:
kid, alg, whether a key was given for it, whether it verified, its length), "verified" (the
kids whose signatures verified), "canonical" (a), "key_ids_match" (b) with "key_id_mismatches",
"message_canonical" (cbor2's canonical re-encoding of the whole file is the file),
"protected_canonical" (each protected header bstr is cbor2-canonical), "protected" (the body's
and each signature's protected header bytes, hex), "cty", and "payload" (type, version,
issued-at, expires, the role thresholds, the signer names and thresholds, the key algorithms).
Exit status:
  0  every signature verifies with a given key, (a) and (b) hold
  3  the message decodes but a signature does not verify, no key was given for its kid, or
     there is no signature at all
  4  pycose cannot decode the message, or cbor2 cannot decode the payload
  5  every signature verifies, but (a) or (b) fails
  2  bad arguments (argparse); 1  an unexpected error (traceback)
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
    load_pem_public_key,
)
from pycose import headers
from pycose.keys import EC2Key, OKPKey
from pycose.keys.curves import P384, Ed25519
from pycose.messages import SignMessage

EXIT_INVALID = 3
EXIT_UNDECODABLE = 4
EXIT_PAYLOAD = 5


def key_id(spki_der: bytes) -> str:
    """airlock's key id: "sha256:" and the hex SHA-256 of the SPKI DER."""
    return "sha256:" + hashlib.sha256(spki_der).hexdigest()


def cose_key(pem: bytes):
    """The key id and the pycose key of an SPKI PEM public key."""
    key = load_pem_public_key(pem)
    kid = key_id(key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo))
    if isinstance(key, ed25519.Ed25519PublicKey):
        return kid, OKPKey(crv=Ed25519, x=key.public_bytes_raw())
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP384R1):
        n = key.public_numbers()
        return kid, EC2Key(crv=P384, x=n.x.to_bytes(48, "big"), y=n.y.to_bytes(48, "big"))
    raise SystemExit(f"unsupported public key type {type(key).__name__}")


def canonical(data: bytes) -> bool:
    """Whether cbor2's canonical re-encoding of `data` is `data`."""
    try:
        return cbor2.dumps(cbor2.loads(data), canonical=True) == data
    except Exception:  # not CBOR at all
        return False


def summary(doc) -> dict:
    """What the payload says, for the caller to compare with what it wrote."""
    if not isinstance(doc, dict):
        return {"not-a-map": type(doc).__name__}
    roles = doc.get("roles") if isinstance(doc.get("roles"), dict) else {}
    signers = doc.get("signers") if isinstance(doc.get("signers"), dict) else {}
    keys = doc.get("keys") if isinstance(doc.get("keys"), dict) else {}

    def threshold(role):
        return role.get("threshold") if isinstance(role, dict) else None

    def key_list(role):
        return role.get("keys") if isinstance(role, dict) else None

    return {
        "type": doc.get("type"),
        "version": doc.get("version"),
        "issued-at": doc.get("issued-at"),
        "expires": doc.get("expires"),
        "roles": {name: threshold(r) for name, r in roles.items()},
        "role-keys": {name: key_list(r) for name, r in roles.items()},
        "signers": sorted(signers),
        "signer-thresholds": {name: threshold(r) for name, r in signers.items()},
        "signer-keys": {name: key_list(r) for name, r in signers.items()},
        "keys": {k: (v.get("algorithm") if isinstance(v, dict) else None) for k, v in keys.items()},
    }


def key_id_mismatches(doc) -> list:
    """The payload's key ids that are not the SHA-256 of their "spki" bytes."""
    keys = doc.get("keys") if isinstance(doc, dict) else None
    if not isinstance(keys, dict):
        return ["<no keys map>"]
    bad = []
    for kid, entry in keys.items():
        spki = entry.get("spki") if isinstance(entry, dict) else None
        if not isinstance(spki, bytes) or key_id(spki) != kid:
            bad.append(kid)
    return bad


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root")
    parser.add_argument("public_keys", nargs="+", metavar="public_key")
    args = parser.parse_args()
    with open(args.root, "rb") as f:
        data = f.read()
    keys = {}
    for path in args.public_keys:
        with open(path, "rb") as f:
            kid, key = cose_key(f.read())
        keys[kid] = key

    try:
        msg = SignMessage.decode(data)
    except Exception as e:  # pycose raises several types; all mean "cannot decode"
        print(json.dumps({"decoded": False, "error": f"pycose: {type(e).__name__}: {e}"}))
        return EXIT_UNDECODABLE
    payload = msg.payload
    try:
        doc = cbor2.loads(payload)
    except Exception as e:
        print(json.dumps({"decoded": False, "error": f"cbor2 payload: {type(e).__name__}: {e}"}))
        return EXIT_UNDECODABLE

    signatures = []
    for s in msg.signers:
        raw_kid = s.phdr.get(headers.KID)
        kid = raw_kid.decode("utf-8", "replace") if isinstance(raw_kid, bytes) else None
        alg = s.phdr.get(headers.Algorithm)
        entry = {
            "kid": kid,
            "kid_type": type(raw_kid).__name__,
            "alg": getattr(alg, "identifier", alg),
            "key_given": kid in keys,
            "length": len(s.signature),
            "verified": False,
        }
        if kid in keys:
            s.key = keys[kid]
            try:
                entry["verified"] = bool(s.verify_signature())
            except Exception as e:  # a wrong-length signature or a key/alg mismatch
                entry["error"] = f"{type(e).__name__}: {e}"
        signatures.append(entry)

    mismatches = key_id_mismatches(doc)
    protected = [msg.phdr_encoded] + [s.phdr_encoded for s in msg.signers]
    report = {
        "decoded": True,
        "cty": msg.phdr.get(headers.ContentType),
        "kids": [s["kid"] for s in signatures],
        "signatures": signatures,
        "verified": [s["kid"] for s in signatures if s["verified"]],
        "canonical": canonical(payload),
        "key_ids_match": not mismatches,
        "key_id_mismatches": mismatches,
        "message_canonical": canonical(data),
        "protected_canonical": all(canonical(p) for p in protected),
        "protected": {
            "body": msg.phdr_encoded.hex(),
            "signatures": [s.phdr_encoded.hex() for s in msg.signers],
        },
        "unprotected_empty": not msg.uhdr and all(not s.uhdr for s in msg.signers),
        "payload": summary(doc),
    }
    print(json.dumps(report))
    if not signatures or not all(s["verified"] for s in signatures):
        return EXIT_INVALID
    if not report["canonical"] or mismatches:
        return EXIT_PAYLOAD
    return 0


if __name__ == "__main__":
    sys.exit(main())
