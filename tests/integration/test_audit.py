#!/usr/bin/python3
"""The verifiable audit log, end to end, against the real keywardd.

keywardd runs in production mode (init, unseal), so its audit log lives in
<data dir>/audit and outlives it. The tests check what the issue asks of
the log:

- after a mixed workload every operation has exactly one entry with the
  right fields, and a denied request has one with its error code;
- `keyward audit verify` passes on the untouched log and fails, naming the
  first bad index, for each kind of tampering (done on copies of a stopped
  daemon's log);
- inclusion and consistency proofs check out with the RFC 9162 verifier
  written below from the RFC alone (hashlib only, nothing shared with the
  server), and a proof for a tampered tree does not;
- `kill -9` of the whole daemon at random points under a signing load,
  repeated: after each restart the log verifies and every acknowledged
  signature is in it, found by the SHA-256 of its raw bytes;
- `keyward audit report` lists exactly the operations the test made with a
  key inside a time window.

Also: search filters, strict query parsing, and the API's sudo requirement.
Each test has its own daemon; the crash test prints its seed (rerun one
with KW_CRASH_SEED).

Digests follow the keeper's convention: the SHA-256 of the raw bytes the
keeper took in and gave out (the raw signature, nonce || ciphertext || tag,
the raw MAC, the raw plaintext), not of their vault:vN: text.
"""

import base64
import datetime
import hashlib
import json
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402

import requests  # noqa: E402
from cryptography.exceptions import InvalidSignature  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey  # noqa: E402

PAGE = 1000  # entries per /keyward/audit/entries page (the API's most)
CLI_TIMEOUT = 120
CRASH_ROUNDS = 3
CRASH_THREADS = 4
SEG_MAGIC = b"KWAUDSG1"
SEG_HEADER = 16  # magic and the segment's first index
REPORT_OPS = {"sign", "verify", "encrypt", "decrypt", "rewrap", "datakey", "hmac"}


def b64(data):
    return base64.b64encode(data).decode("ascii")


def unb64(text):
    return base64.b64decode(text, validate=True)


def sha(data):
    return hashlib.sha256(data).hexdigest()


def vault_raw(text):
    """The raw bytes behind "vault:vN:<base64>"."""
    prefix, version, body = text.split(":", 2)
    assert prefix == "vault" and version.startswith("v"), text
    return unb64(body)


def rfc3339(t):
    return datetime.datetime.fromtimestamp(t, tz=datetime.timezone.utc).isoformat(
        timespec="microseconds").replace("+00:00", "Z")


# ---- RFC 9162 section 2.1, from the RFC -------------------------------------------

def leaf_hash(leaf):
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def mth(hashes):
    """MTH over leaf hashes: k is the largest power of two below n."""
    n = len(hashes)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashes[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return node_hash(mth(hashes[:k]), mth(hashes[k:]))


def verify_inclusion(index, size, leaf_h, path, root):
    """RFC 9162 2.1.3.2."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf_h
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while True:
                    fn >>= 1
                    sn >>= 1
                    if fn & 1 or fn == 0:
                        break
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(m, n, proof, old_root, new_root):
    """RFC 9162 2.1.4.2."""
    if m > n:
        return False
    if m == n:
        return not proof and old_root == new_root
    if m == 0 or not proof:
        return False
    if m & (m - 1) == 0:
        proof = [old_root] + list(proof)
    fn, sn = m - 1, n - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while True:
                    fn >>= 1
                    sn >>= 1
                    if fn & 1 or fn == 0:
                        break
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == old_root and sr == new_root and sn == 0


# ---- C2SP signed notes and checkpoints ---------------------------------------------

def parse_verifier(text):
    name, key_id, key = text.split("+", 2)  # base64 may hold "+" too
    raw = unb64(key)
    assert raw[0] == 1 and len(raw) == 33, "not an Ed25519 verifier key"
    want = hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4]
    assert want.hex() == key_id, "verifier key id does not match"
    return name, bytes.fromhex(key_id), raw[1:]


def open_checkpoint(note, verifier):
    """(origin, size, root) of a checkpoint signed by verifier, else raise."""
    name, key_id, pub = parse_verifier(verifier)
    text, sep, sigs = note.partition("\n\n")
    assert sep, "no blank line in the note"
    text += "\n"
    good = False
    for line in sigs.splitlines():
        dash, sig_name, sig = line.split(" ")
        assert dash == "\u2014"
        raw = unb64(sig)
        if sig_name != name or raw[:4] != key_id:
            continue
        Ed25519PublicKey.from_public_bytes(pub).verify(raw[4:], text.encode())
        good = True
    assert good, "no signature by the verifier key"
    lines = text.splitlines()
    return lines[0], int(lines[1]), unb64(lines[2])


# ---- the entry encoding (the leaf), as docs/audit.md describes it --------------------

LEAF_FIELDS = [  # name, kind
    ("index", "u64"), ("time_us", "u64"), ("node_id", "text"), ("auth_method", "text"),
    ("subject", "text"), ("accessor", "text"), ("source_addr", "text"),
    ("listener_port", "u16"), ("operation", "text"), ("path", "text"), ("key_name", "text"),
    ("key_version", "u32"), ("result", "i32"), ("result_code", "text"),
    ("input_sha256", "hash"), ("output_sha256", "hash"), ("request_id", "text"), ("claims", "text"),
]
INT_FORMATS = {"u64": ">Q", "u32": ">I", "u16": ">H", "i32": ">i"}


def decode_leaf(leaf):
    assert leaf[0] == 1, "leaf version"
    out, p = {}, 1
    for name, kind in LEAF_FIELDS:
        (n,) = struct.unpack(">H", leaf[p:p + 2])
        v = leaf[p + 2:p + 2 + n]
        p += 2 + n
        if kind in INT_FORMATS:
            (out[name],) = struct.unpack(INT_FORMATS[kind], v)
        elif kind == "hash":
            out[name] = v.hex() if v else None
        else:
            out[name] = v.decode("utf-8")
    assert p == len(leaf), "trailing bytes"
    return out


def encode_leaf(e):
    out = b"\x01"
    for name, kind in LEAF_FIELDS:
        v = e[name]
        if kind in INT_FORMATS:
            v = struct.pack(INT_FORMATS[kind], v)
        elif kind == "hash":
            v = bytes.fromhex(v) if v else b""
        else:
            v = v.encode("utf-8")
        out += struct.pack(">H", len(v)) + v
    return out


# ---- the log directory, for tampering with copies ---------------------------------

def frame(leaf):
    """A record as the log writes it: length, leaf, check (leaf hash prefix)."""
    return struct.pack(">I", len(leaf)) + leaf + leaf_hash(leaf)[:4]


def read_records(data, pos):
    """[(offset, leaf)] of the framed records in data from pos on."""
    out = []
    while pos + 4 <= len(data):
        (n,) = struct.unpack(">I", data[pos:pos + 4])
        if pos + 8 + n > len(data):
            break
        out.append((pos, data[pos + 4:pos + 4 + n]))
        pos += 8 + n
    return out


def segments(d):
    return sorted(f for f in os.listdir(d) if f.endswith(".log"))


def load_leaves(d):
    leaves = []
    for name in segments(d):
        with open(os.path.join(d, name), "rb") as f:
            data = f.read()
        assert data[:8] == SEG_MAGIC, name
        leaves += [leaf for _, leaf in read_records(data, SEG_HEADER)]
    return leaves


def save_leaves(d, leaves):
    """Rewrite the log as one well-framed segment: a forger who knows the
    format, so only the indices and the checkpoints can give it away."""
    for name in segments(d):
        os.unlink(os.path.join(d, name))
    with open(os.path.join(d, "%020d.log" % 0), "wb") as f:
        f.write(SEG_MAGIC + struct.pack(">Q", 0) + b"".join(frame(x) for x in leaves))


def leaf_offset(d, index):
    """(segment path, offset of the leaf bytes) of entry index."""
    count = 0
    for name in segments(d):
        path = os.path.join(d, name)
        with open(path, "rb") as f:
            recs = read_records(f.read(), SEG_HEADER)
        if index < count + len(recs):
            return path, recs[index - count][0] + 4, len(recs[index - count][1])
        count += len(recs)
    raise AssertionError("no entry %d" % index)


# ---- the test base ------------------------------------------------------------------

def keyward_path():
    path = os.path.join(harness.build_dir(), "bin", "keyward")
    if not os.access(path, os.X_OK):
        raise AssertionError("keyward CLI not found at %s" % path)
    return path


class AuditBase(harness.KwTestCase):

    def setUp(self):
        self.d = self.use_daemon(harness.Daemon(dev=False, name="keywardd-audit"))
        self.d.start()
        r = self.d.request("PUT", "/v1/sys/init", {"secret_shares": 1, "secret_threshold": 1})
        self.assertEqual(r.status, 200, r)
        self.share = r.json["keys"][0]
        self.root = r.json["root_token"]
        self.unseal()
        self.audit_dir = os.path.join(self.d.dir, "audit")
        self.tmp = tempfile.mkdtemp(prefix="kw-audit-it-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def unseal(self):
        r = self.d.request("PUT", "/v1/sys/unseal", {"key": self.share})
        self.assertEqual(r.status, 200, r)
        self.assertIs(r.json["sealed"], False)

    def api(self, method, path, body=None, token=None, status=200):
        r = self.d.request(method, "/v1/" + path, body, token=token or self.root)
        self.assertIn(r.status, status if isinstance(status, tuple) else (status,), r)
        return r

    def checkpoint(self):
        return self.api("GET", "keyward/audit/checkpoint").json["data"]

    def entries(self):
        """Every entry the server has, as [{"index", "leaf", "entry"}]."""
        out, start, size = [], 0, None
        while size is None or start < size:
            data = self.api("GET", "keyward/audit/entries?start=%d" % start).json["data"]
            size = data["tree_size"] if size is None else size
            page = data["entries"]
            self.assertTrue(page or start >= size, "empty page at %d of %d" % (start, size))
            for e in page:
                if e["index"] < size:
                    out.append(e)
            start += len(page)
        self.assertEqual([e["index"] for e in out], list(range(len(out))))
        return out

    def cli(self, *args, status=0):
        env = dict(os.environ, KEYWARD_ADDR=self.d.url, KEYWARD_CACERT=self.d.ca,
                   KEYWARD_TOKEN=self.root)
        p = subprocess.run([keyward_path()] + list(args), env=env, capture_output=True,
                           text=True, timeout=CLI_TIMEOUT)
        self.assertEqual(p.returncode, status,
                         "keyward %s -> %d\nstdout: %s\nstderr: %s"
                         % (" ".join(args), p.returncode, p.stdout, p.stderr))
        return p

    def limited_token(self, policy_name, paths, caps=("update",)):
        policy = {"path": {p: {"capabilities": list(caps)} for p in paths}}
        self.api("PUT", "sys/policies/acl/" + policy_name, {"policy": json.dumps(policy)},
                 status=(200, 204))
        auth = self.api("POST", "auth/token/create", {"policies": [policy_name]}).json["auth"]
        return auth["client_token"], auth["accessor"]

    def root_accessor(self):
        return self.api("GET", "auth/token/lookup-self").json["data"]["accessor"]


# ---- entries have the right fields ------------------------------------------------

class EntryTest(AuditBase):

    def op(self, expect, method, path, body, key, operation, version, in_data=None,
           token=None, accessor=None, status=200, code="ok"):
        r = self.api(method, path, body, token=token, status=status)
        rec = {"operation": operation, "path": path, "key": key, "version": version,
               "accessor": accessor, "code": code,
               "in": sha(in_data) if in_data is not None else None,
               "request_id": (r.json or {}).get("request_id"), "resp": r}
        expect.append(rec)
        return r

    def test_mixed_workload_has_one_right_entry_per_operation(self):
        t0 = time.time()
        acc = self.root_accessor()
        signer, signer_acc = self.limited_token("only-sign", ["transit/sign/sig-1"])
        exp = []
        x, p = b"the document", b"the secret plaintext"
        self.op(exp, "POST", "transit/keys/sig-1", {"type": "ecdsa-p256"}, "sig-1",
                "key-create", 0, accessor=acc, status=(200, 204))
        self.op(exp, "POST", "transit/keys/enc-1", {"type": "aes256-gcm96"}, "enc-1",
                "key-create", 0, accessor=acc, status=(200, 204))
        sig = self.op(exp, "POST", "transit/sign/sig-1", {"input": b64(x)}, "sig-1", "sign", 1,
                      in_data=x, accessor=acc).json["data"]["signature"]
        exp[-1]["out"] = sha(vault_raw(sig))
        sig2 = self.op(exp, "POST", "transit/sign/sig-1", {"input": b64(x)}, "sig-1", "sign",
                       1, in_data=x, token=signer,
                       accessor=signer_acc).json["data"]["signature"]
        exp[-1]["out"] = sha(vault_raw(sig2))
        self.op(exp, "POST", "transit/verify/sig-1", {"input": b64(x), "signature": sig},
                "sig-1", "verify", 1, in_data=x, accessor=acc)
        exp[-1]["out"] = None
        ct = self.op(exp, "POST", "transit/encrypt/enc-1", {"plaintext": b64(p)}, "enc-1",
                     "encrypt", 1, in_data=p, accessor=acc).json["data"]["ciphertext"]
        exp[-1]["out"] = sha(vault_raw(ct))
        pt = self.op(exp, "POST", "transit/decrypt/enc-1", {"ciphertext": ct}, "enc-1",
                     "decrypt", 1, in_data=vault_raw(ct), accessor=acc)
        self.assertEqual(unb64(pt.json["data"]["plaintext"]), p)
        exp[-1]["out"] = sha(p)
        mac = self.op(exp, "POST", "transit/hmac/enc-1", {"input": b64(x)}, "enc-1", "hmac", 1,
                      in_data=x, accessor=acc).json["data"]["hmac"]
        exp[-1]["out"] = sha(vault_raw(mac))
        # Refused: the token may only sign.
        self.op(exp, "POST", "transit/encrypt/enc-1", {"plaintext": b64(p)}, "enc-1",
                "encrypt", 0, in_data=p, token=signer, accessor=signer_acc, status=403,
                code="permission_denied")
        exp[-1]["out"] = None
        t1 = time.time()

        cp = self.checkpoint()
        origin, _, _ = open_checkpoint(cp["checkpoint"], cp["verifier_key"])
        node = origin.rsplit("/", 1)[1]
        entries = self.entries()
        for item in entries:
            self.assertEqual(decode_leaf(unb64(item["leaf"]))["index"], item["index"])
        # One HTTP request may make several keeper requests (a key create
        # reads the key back), each with its own entry under the same id.
        by_req = {}
        for item in entries:
            e = item["entry"]
            by_req.setdefault((e["request_id"], e["operation"]), []).append(item)
        for rec in exp:
            if rec["request_id"] is not None:
                got = by_req.get((rec["request_id"], rec["operation"]), [])
                self.assertEqual(len(got), 1, "request %s (%s %s) has %d entries"
                                 % (rec["request_id"], rec["operation"], rec["path"], len(got)))
                e = got[0]["entry"]
            else:
                # An error reply carries no request id: find it by who and what.
                got = [i for i in entries if i["entry"]["accessor"] == rec["accessor"]
                       and i["entry"]["operation"] == rec["operation"]
                       and i["entry"]["result_code"] == rec["code"]]
                self.assertEqual(len(got), 1, "refused %s: %r" % (rec["operation"], got))
                e = got[0]["entry"]
            # The decoded entry and our own decoding of the leaf agree.
            self.assertEqual(decode_leaf(unb64(got[0]["leaf"]))["output_sha256"],
                             e["output_sha256"])
            what = "%s %s" % (rec["operation"], rec["path"])
            self.assertEqual(e["operation"], rec["operation"], what)
            self.assertEqual(e["path"], rec["path"], what)
            self.assertEqual(e["key_name"], rec["key"], what)
            self.assertEqual(e["key_version"], rec["version"], what)
            self.assertEqual(e["accessor"], rec["accessor"], what)
            self.assertTrue(e["auth_method"], what)
            self.assertEqual(e["result_code"], rec["code"], what)
            self.assertEqual(e["result"] == 0, rec["code"] == "ok", what)
            self.assertEqual(e["input_sha256"], rec["in"], what)
            self.assertEqual(e["output_sha256"], rec.get("out"), what)
            self.assertEqual(e["source_addr"], "127.0.0.1", what)
            self.assertEqual(e["listener_port"], self.d.port, what)
            self.assertEqual(e["node_id"], node, what)
            self.assertTrue(t0 - 1 <= e["time_us"] / 1e6 <= t1 + 1, what)
        # No plaintext, token or key material in any leaf.
        blob = b"".join(unb64(i["leaf"]) for i in entries)
        for secret in (p, self.root.encode(), signer.encode()):
            self.assertNotIn(secret, blob)

    def test_audit_api_needs_sudo_on_its_paths(self):
        reader, _ = self.limited_token("audit-read", ["keyward/audit/*"], caps=("read",))
        auditor, _ = self.limited_token("audit-sudo", ["keyward/audit/*"],
                                        caps=("read", "sudo"))
        paths = ["keyward/audit/checkpoint", "keyward/audit/entries?start=0",
                 "keyward/audit/proof/inclusion?index=0&tree_size=1",
                 "keyward/audit/proof/consistency?first=1&second=2",
                 "keyward/audit/search?operation=init"]
        for path in paths:
            self.assertError(self.api("GET", path, token=reader, status=403), 403,
                             code="permission_denied")
            self.api("GET", path, token=auditor)
        self.assertError(self.api("GET", paths[0], token="not-a-token", status=403), 403,
                         code="bad_token")

    def test_search_finds_by_key_identity_operation_and_time(self):
        self.api("POST", "transit/keys/s-1", {"type": "ed25519"}, status=(200, 204))
        t0 = time.time()
        time.sleep(0.01)
        ids = [self.api("POST", "transit/sign/s-1", {"input": b64(b"%d" % i)}).json["request_id"]
               for i in range(3)]
        time.sleep(0.01)
        t1 = time.time()
        self.api("POST", "transit/sign/s-1", {"input": b64(b"late")})
        q = "keyward/audit/search?key=s-1&operation=sign&since=%s&until=%s&identity=%s" % (
            rfc3339(t0).replace("+", "%2B"), int(t1) + 1, self.root_accessor())
        data = self.api("GET", q).json["data"]
        got = [e["entry"]["request_id"] for e in data["entries"]]
        self.assertEqual(got[:3], ids)
        self.assertIsInstance(data["next_cursor"], int)
        r = self.api("GET", "keyward/audit/search?keys=s-1", status=400)
        self.assertError(r, 400, code="invalid_request")
        self.assertIn('"keys"', r.errors()[0])
        p = self.cli("audit", "search", "-key", "s-1", "-operation", "sign", "-since",
                     rfc3339(t0), "-until", rfc3339(t1), "-format", "json")
        lines = [json.loads(x) for x in p.stdout.splitlines()]
        self.assertEqual([x["entry"]["request_id"] for x in lines], ids)


# ---- verification and tampering ----------------------------------------------------

class TamperTest(AuditBase):

    def workload(self, n):
        for i in range(n):
            self.api("POST", "transit/sign/t-1", {"input": b64(b"doc %d" % i)})

    def copy(self, name):
        dst = os.path.join(self.tmp, name)
        shutil.copytree(self.audit_dir, dst)
        return dst

    def verify(self, d, *extra, status=0):
        p = self.cli("audit", "verify", "-dir", d, "-key", self.verifier, *extra, status=status)
        return p.stdout

    def assert_fails_at(self, d, index, *extra):
        out = self.verify(d, *extra, status=1)
        self.assertTrue(out.startswith("FAIL at index %d: " % index), out)

    def test_verify_passes_untouched_and_names_first_bad_index(self):
        self.api("POST", "transit/keys/t-1", {"type": "ed25519"}, status=(200, 204))
        self.workload(10)
        cp1 = self.checkpoint()
        self.verifier = cp1["verifier_key"]
        size1 = open_checkpoint(cp1["checkpoint"], self.verifier)[1]
        self.workload(10)
        cp2 = self.checkpoint()
        size2 = open_checkpoint(cp2["checkpoint"], self.verifier)[1]
        self.workload(5)
        files = []
        for i, cp in enumerate((cp1, cp2)):
            files.append(os.path.join(self.tmp, "cp%d" % i))
            with open(files[-1], "w") as f:
                f.write(cp["checkpoint"])
        monitor = ["-checkpoint", files[0], "-checkpoint", files[1]]
        self.d.stop()  # a clean stop signs a last checkpoint
        n = len(load_leaves(self.audit_dir))
        self.assertGreater(size2, size1)
        self.assertGreater(n, size2)

        out = self.verify(self.copy("clean"))
        self.assertEqual(out, "ok: %d entries, verified up to checkpoint size %d\n" % (n, n))
        self.verify(self.copy("clean-monitor"), *monitor)

        # A flipped byte: the record's check gives it away.
        d = self.copy("flip")
        path, off, length = leaf_offset(d, 7)
        with open(path, "r+b") as f:
            f.seek(off + length // 2)
            b = f.read(1)
            f.seek(off + length // 2)
            f.write(bytes([b[0] ^ 0x01]))
        self.assert_fails_at(d, 7)

        # Deleted, reordered, inserted: re-framed well, the indices tell.
        leaves = load_leaves(self.audit_dir)
        d = self.copy("delete")
        save_leaves(d, leaves[:12] + leaves[13:])
        self.assert_fails_at(d, 12)
        d = self.copy("swap")
        swapped = list(leaves)
        swapped[5], swapped[9] = swapped[9], swapped[5]
        save_leaves(d, swapped)
        self.assert_fails_at(d, 5)
        d = self.copy("insert-one")
        forged = decode_leaf(leaves[14])
        forged.update(index=15, request_id="forged", output_sha256="cd" * 32)
        save_leaves(d, leaves[:15] + [encode_leaf(forged)] + leaves[15:])
        self.assert_fails_at(d, 15)

        # A forged entry with every later index moved up: consistent on its
        # face, caught by the tree; the monitor's checkpoints narrow it to
        # the first entry no checkpoint vouches for.
        forged = decode_leaf(leaves[size1 - 1])
        forged.update(index=size1, operation="sign", path="transit/sign/t-1",
                      key_name="t-1", output_sha256="ab" * 32)
        moved = [encode_leaf(dict(decode_leaf(x), index=decode_leaf(x)["index"] + 1))
                 for x in leaves[size1:]]
        d = self.copy("insert")
        save_leaves(d, leaves[:size1] + [encode_leaf(forged)] + moved)
        self.assert_fails_at(d, size1, *monitor)
        self.assert_fails_at(d, 0)  # the stored checkpoint alone vouches for nothing then

        # Cut below the checkpoint.
        d = self.copy("truncate")
        save_leaves(d, leaves[:size2])
        self.assert_fails_at(d, size2)

        # A checkpoint whose signature was replaced (and re-framed).
        d = self.copy("badsig")
        cps = os.path.join(d, "checkpoints")
        with open(cps, "rb") as f:
            recs = read_records(f.read(), 0)
        note = recs[-1][1].decode()
        head, _, sigline = note.rstrip("\n").rpartition("\n")
        dash, name, sig = sigline.split(" ")
        raw = unb64(sig)
        fake = raw[:4] + bytes(x ^ 0x55 for x in raw[4:])
        note = head + "\n" + " ".join((dash, name, b64(fake))) + "\n"
        with open(cps, "wb") as f:
            f.write(b"".join(frame(x) for _, x in recs[:-1]) + frame(note.encode()))
        out = self.verify(d, status=1)
        self.assertTrue(out.startswith("FAIL at index 0: checkpoint 0: no valid signature"), out)

    def test_verify_without_key_fetches_it_and_says_so(self):
        self.api("POST", "transit/keys/t-1", {"type": "ed25519"}, status=(200, 204))
        self.workload(3)
        p = self.cli("audit", "verify")
        self.assertTrue(p.stdout.startswith("ok: "), p.stdout)
        self.assertIn("no -key given", p.stderr)
        p = self.cli("audit", "verify", "-dir", self.audit_dir)
        self.assertTrue(p.stdout.startswith("ok: "), p.stdout)
        self.assertIn("no -key given", p.stderr)


# ---- proofs, checked by the verifier above ---------------------------------------------

class ProofTest(AuditBase):

    def proof(self, path):
        return [unb64(h) for h in self.api("GET", path).json["data"]["hashes"]]

    def test_inclusion_and_consistency_proofs_verify_independently(self):
        self.api("POST", "transit/keys/p-1", {"type": "ed25519"}, status=(200, 204))
        for i in range(20):
            self.api("POST", "transit/sign/p-1", {"input": b64(b"%d" % i)})
        cp_a = self.checkpoint()
        verifier = cp_a["verifier_key"]
        _, size_a, root_a = open_checkpoint(cp_a["checkpoint"], verifier)
        for i in range(37):
            self.api("POST", "transit/hmac/p-1", {"input": b64(b"%d" % i)})
        cp_b = self.checkpoint()
        origin, size_b, root_b = open_checkpoint(cp_b["checkpoint"], verifier)
        self.assertEqual(origin, parse_verifier(verifier)[0])
        self.assertGreater(size_b, size_a)

        leaves = [unb64(e["leaf"]) for e in self.entries()]
        hashes = [leaf_hash(x) for x in leaves]
        self.assertEqual(mth(hashes[:size_a]), root_a)
        self.assertEqual(mth(hashes[:size_b]), root_b)

        rng = random.Random(9162)
        for index in sorted(rng.sample(range(size_b), 12)) + [0, size_b - 1]:
            path = self.proof("keyward/audit/proof/inclusion?index=%d&tree_size=%d"
                              % (index, size_b))
            self.assertTrue(verify_inclusion(index, size_b, hashes[index], path, root_b), index)
            # A tampered leaf, or a tampered proof, does not prove.
            bad = bytearray(leaves[index])
            bad[-1] ^= 1
            self.assertFalse(verify_inclusion(index, size_b, leaf_hash(bytes(bad)), path, root_b))
            if path:
                wrong = list(path)
                wrong[0] = bytes(32)
                self.assertFalse(verify_inclusion(index, size_b, hashes[index], wrong, root_b))
        for index in (0, size_a - 1):
            path = self.proof("keyward/audit/proof/inclusion?index=%d&tree_size=%d"
                              % (index, size_a))
            self.assertTrue(verify_inclusion(index, size_a, hashes[index], path, root_a))

        proof = proof_ab = self.proof("keyward/audit/proof/consistency?first=%d&second=%d"
                                      % (size_a, size_b))
        self.assertTrue(verify_consistency(size_a, size_b, proof, root_a, root_b))
        # A tree whose old part was edited is not consistent with the new root.
        edited = list(hashes[:size_a])
        edited[3] = leaf_hash(b"forged")
        self.assertFalse(verify_consistency(size_a, size_b, proof, mth(edited), root_b))
        self.assertFalse(verify_consistency(size_a, size_b, proof[:-1], root_a, root_b))
        for first in (1, 2, 7, 8, size_a):
            proof = self.proof("keyward/audit/proof/consistency?first=%d&second=%d"
                               % (first, size_b))
            self.assertTrue(verify_consistency(first, size_b, proof, mth(hashes[:first]),
                                               root_b), first)

        # The CLI checks the same proofs on its own.
        files = []
        for i, cp in enumerate((cp_a, cp_b)):
            files.append(os.path.join(self.tmp, "cp%d" % i))
            with open(files[-1], "w") as f:
                f.write(cp["checkpoint"])
        p = self.cli("audit", "prove", "-index", str(size_a - 1), "-tree-size", str(size_a),
                     "-key", verifier, "-checkpoint", files[0])
        self.assertTrue(p.stdout.endswith("proof ok\n"), p.stdout)
        p = self.cli("audit", "prove", "-first", str(size_a), "-second", str(size_b), "-key",
                     verifier, "-checkpoint", files[0], "-checkpoint", files[1], "-format",
                     "json")
        got = json.loads(p.stdout)
        self.assertIs(got["ok"], True)
        self.assertEqual([unb64(h) for h in got["hashes"]], proof_ab)
        r = self.api("GET", "keyward/audit/proof/inclusion?index=5&tree_size=5", status=400)
        self.assertError(r, 400, code="invalid_request")


# ---- kill -9 ----------------------------------------------------------------------

class CrashTest(AuditBase):

    def signer(self, stop, acked, lock, seed):
        s = requests.Session()
        s.headers["X-Vault-Token"] = self.root
        url = self.d.url + "/v1/transit/sign/crash-1"
        i = 0
        while not stop.is_set():
            i += 1
            try:
                # verify per request: a session's is overridden by
                # $REQUESTS_CA_BUNDLE.
                r = s.post(url, json={"input": b64(b"%d-%d" % (seed, i))}, timeout=10,
                           verify=self.d.ca)
            except requests.RequestException:
                time.sleep(0.01)
                continue
            if r.status_code == 200:
                raw = vault_raw(r.json()["data"]["signature"])
                with lock:
                    acked.append(sha(raw))
        s.close()

    def test_kill9_under_load_loses_no_acknowledged_signature(self):
        seed = int(os.environ.get("KW_CRASH_SEED", random.randrange(1 << 30)))
        rng = random.Random(seed)
        sys.stderr.write("\ncrash test seed %d (KW_CRASH_SEED reruns it)\n" % seed)
        self.api("POST", "transit/keys/crash-1", {"type": "ed25519"}, status=(200, 204))
        verifier = self.checkpoint()["verifier_key"]
        acked, lock = [], threading.Lock()
        for rnd in range(CRASH_ROUNDS):
            stop = threading.Event()
            threads = [threading.Thread(target=self.signer,
                                        args=(stop, acked, lock, rnd * 100 + t))
                       for t in range(CRASH_THREADS)]
            before = len(acked)
            for t in threads:
                t.start()
            time.sleep(rng.uniform(0.3, 1.5))
            self.d.kill()  # SIGKILL to the whole process group, mid-load
            stop.set()
            for t in threads:
                t.join()
            self.assertGreater(len(acked), before, "round %d signed nothing" % rnd)
            self.d.start()
            self.unseal()
            self.assertEqual(self.checkpoint()["verifier_key"], verifier)
            outs = {e["entry"]["output_sha256"] for e in self.entries()
                    if e["entry"]["operation"] == "sign" and e["entry"]["result"] == 0}
            missing = [a for a in acked if a not in outs]
            sys.stderr.write("round %d: %d signatures acknowledged so far, %d sign entries\n"
                             % (rnd, len(acked), len(outs)))
            self.assertEqual(missing, [], "round %d: %d of %d acknowledged signatures are "
                             "not in the log" % (rnd, len(missing), len(acked)))
            p = self.cli("audit", "verify", "-key", verifier)
            self.assertTrue(p.stdout.startswith("ok: "), p.stdout)
        self.d.stop()
        n = len(load_leaves(self.audit_dir))
        p = self.cli("audit", "verify", "-dir", self.audit_dir, "-key", verifier)
        self.assertEqual(p.stdout, "ok: %d entries, verified up to checkpoint size %d\n"
                         % (n, n))


# ---- the compromise-window report -------------------------------------------------

class ReportTest(AuditBase):

    def test_report_lists_exactly_the_uses_in_the_window(self):
        acc = self.root_accessor()
        denied_tok, denied_acc = self.limited_token("nothing-much", ["transit/sign/none"])
        self.api("POST", "transit/keys/r-1", {"type": "aes256-gcm96"}, status=(200, 204))
        self.api("POST", "transit/keys/r-2", {"type": "aes256-gcm96"}, status=(200, 204))
        self.api("POST", "transit/encrypt/r-1", {"plaintext": b64(b"before")})
        time.sleep(0.05)
        t0 = time.time()
        time.sleep(0.05)
        made = []  # (operation, request id or None, code)

        def use(op, path, body, token=None, status=200, code="ok"):
            r = self.api("POST", path, body, token=token, status=status)
            made.append((op, (r.json or {}).get("request_id"), code))
            return r

        ct = use("encrypt", "transit/encrypt/r-1", {"plaintext": b64(b"one")}).json["data"]
        use("encrypt", "transit/encrypt/r-1", {"plaintext": b64(b"two")})
        use("decrypt", "transit/decrypt/r-1", {"ciphertext": ct["ciphertext"]})
        use("rewrap", "transit/rewrap/r-1", {"ciphertext": ct["ciphertext"]})
        use("datakey", "transit/datakey/wrapped/r-1", {})
        use("hmac", "transit/hmac/r-1", {"input": b64(b"m")})
        use("encrypt", "transit/encrypt/r-1", {"plaintext": b64(b"x")}, token=denied_tok,
            status=403, code="permission_denied")
        self.api("GET", "transit/keys/r-1")  # not a use
        self.api("POST", "transit/encrypt/r-2", {"plaintext": b64(b"other key")})
        time.sleep(0.05)
        t1 = time.time()
        time.sleep(0.05)
        self.api("POST", "transit/encrypt/r-1", {"plaintext": b64(b"after")})

        p = self.cli("audit", "report", "-key", "r-1", "-from", rfc3339(t0), "-to",
                     rfc3339(t1), "-format", "json")
        rep = json.loads(p.stdout)
        uses = rep["uses"]
        self.assertEqual(rep["count"], len(made))
        self.assertEqual([(u["operation"], u["result_code"]) for u in uses],
                         [(op, code) for op, _, code in made])
        self.assertEqual([u["request_id"] for u in uses if u["result_code"] == "ok"],
                         [rid for _, rid, code in made if code == "ok"])
        self.assertEqual({u["accessor"] for u in uses}, {acc, denied_acc})
        for u in uses:
            self.assertEqual(u["key_name"], "r-1")
            self.assertIn(u["operation"], REPORT_OPS)
            self.assertTrue(t0 <= u["time_us"] / 1e6 < t1)
        p = self.cli("audit", "report", "-key", "r-1", "-from", rfc3339(t0), "-to",
                     rfc3339(t1), "-format", "csv")
        rows = p.stdout.splitlines()
        self.assertEqual(len(rows), 1 + len(made))
        self.assertTrue(rows[0].startswith("time,operation,key,"))
        p = self.cli("audit", "report", "-key", "r-1", "-from", rfc3339(t0), "-to", rfc3339(t1))
        self.assertIn("%d uses" % len(made), p.stdout)
        for _, rid, code in made:
            if rid:
                self.assertIn(rid, p.stdout)


if __name__ == "__main__":
    harness.main()
