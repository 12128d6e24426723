#!/usr/bin/env python3
"""An independent check of a Switchboard audit transparency log, written from the specifications
alone (RFC 9162 section 2.1; C2SP signed-note and tlog-checkpoint) with Python's `cryptography`:
what an agency or a regulator holding the log's verifier key would run. Shares no code with the
gateway. Prints what it checked and exits 0, or prints why not and exits 1.

  verify_tlog.py checkpoint VERIFIER_KEY NOTE_FILE
  verify_tlog.py inclusion VERIFIER_KEY PROOFS_JSON [NOTE_FILE]   (NOTE_FILE: the checkpoint kept)
  verify_tlog.py consistency VERIFIER_KEY OLD_NOTE_FILE PROOF_JSON
"""
import base64
import hashlib
import json
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


class Failed(Exception):
    pass


def parse_verifier(text):
    name, key_hash, encoded = text.strip().split("+", 2)
    raw = base64.b64decode(encoded)
    if len(raw) != 33 or raw[0] != 0x01:
        raise Failed("the verifier key is not an Ed25519 note key")
    key_id = hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4]
    if key_id.hex() != key_hash:
        raise Failed("the verifier key's id does not match its key")
    return name, key_id, Ed25519PublicKey.from_public_bytes(raw[1:])


def open_checkpoint(verifier, note):
    """(size, root) of a signed checkpoint note, or Failed."""
    name, key_id, public = parse_verifier(verifier)
    split = note.rfind("\n\n")
    if split < 0:
        raise Failed("no blank line before the signatures")
    text, signatures = note[: split + 1], note[split + 2 :]
    verified = False
    for line in signatures.split("\n"):
        if not line:
            continue
        dash, signer, blob = line.split(" ")
        if dash != "\u2014":
            raise Failed("a signature line does not start with an em dash")
        blob = base64.b64decode(blob)
        if signer == name and blob[:4] == key_id:
            try:
                public.verify(blob[4:], text.encode())
            except InvalidSignature:
                raise Failed("the signature by %s does not verify" % name)
            verified = True
    if not verified:
        raise Failed("no signature by %s" % name)
    lines = text.split("\n")
    if lines[0] != name:
        raise Failed("the checkpoint is of %r, not %r" % (lines[0], name))
    root = base64.b64decode(lines[2])
    if len(root) != 32 or str(int(lines[1])) != lines[1]:
        raise Failed("the checkpoint's size or root is malformed")
    return int(lines[1]), root


def node(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def verify_inclusion(leaf, index, size, path, root):
    """RFC 9162 section 2.1.3.2."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node(p, r)
            if not fn & 1:
                while True:
                    fn >>= 1
                    sn >>= 1
                    if fn & 1 or fn == 0:
                        break
        else:
            r = node(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(first, second, first_root, second_root, path):
    """RFC 9162 section 2.1.4.2."""
    if first == second:
        return not path and first_root == second_root
    if first == 0 or first > second or not path and first & (first - 1):
        return first == 0 and not path
    if first & (first - 1) == 0:
        path = [first_root] + list(path)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node(c, fr)
            sr = node(c, sr)
            if not fn & 1:
                while True:
                    fn >>= 1
                    sn >>= 1
                    if fn & 1 or fn == 0:
                        break
        else:
            sr = node(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_root and sr == second_root and sn == 0


def event_hash(event):
    """The audit event's hash as Switchboard documents it: SHA-256 over its previous hash and each
    field, each preceded by its length in bytes and a colon ("-:" for a field that is absent)."""
    digest = hashlib.sha256()
    for key in ("previousHash", "sequence", "at", "kind", "actor", "referralId", "deliveryId", "agency", "detail"):
        value = event.get(key)
        if value is None:
            digest.update(b"-:")
            continue
        data = str(value).encode()
        digest.update(str(len(data)).encode() + b":" + data)
    return digest.hexdigest()


def read(path):
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def main(argv):
    command, verifier = argv[1], read(argv[2]) if argv[2].startswith("/") else argv[2]
    if command == "checkpoint":
        size, root = open_checkpoint(verifier, read(argv[3]))
        print("checkpoint verifies: %d events, root %s" % (size, base64.b64encode(root).decode()))
    elif command == "inclusion":
        proofs = json.loads(read(argv[3]))
        size, root = open_checkpoint(verifier, read(argv[4]) if len(argv) > 4 else proofs["checkpoint"])
        if proofs["treeSize"] != size:
            raise Failed("the proofs are for %d events, the checkpoint %d" % (proofs["treeSize"], size))
        for proven in proofs["events"]:
            event = proven["event"]
            recomputed = event_hash(event)
            if recomputed != event["hash"]:
                raise Failed("event %d's content does not match its hash" % event["sequence"])
            leaf = hashlib.sha256(b"\x00" + bytes.fromhex(recomputed)).digest()
            path = [base64.b64decode(p) for p in proven["inclusionProof"]]
            if proven["leafIndex"] != event["sequence"] - 1 or not verify_inclusion(leaf, proven["leafIndex"], size, path, root):
                raise Failed("event %d is not in the log the checkpoint signs" % event["sequence"])
        print("%d events of referral %s are in the log of %d events" % (len(proofs["events"]), proofs["referralId"], size))
    elif command == "consistency":
        old_size, old_root = open_checkpoint(verifier, read(argv[3]))
        proof = json.loads(read(argv[4]))
        new_size, new_root = open_checkpoint(verifier, proof["checkpoint"])
        if proof["oldSize"] != old_size or proof["newSize"] != new_size:
            raise Failed("the proof is between other sizes")
        path = [base64.b64decode(p) for p in proof["proof"]]
        if not verify_consistency(old_size, new_size, old_root, new_root, path):
            raise Failed("the log of %d events does not extend the kept checkpoint of %d" % (new_size, old_size))
        print("the log of %d events extends the kept checkpoint of %d" % (new_size, old_size))
    else:
        raise Failed("unknown command " + command)


if __name__ == "__main__":
    try:
        main(sys.argv)
    except Failed as failure:
        print("FAILED: %s" % failure)
        sys.exit(1)
