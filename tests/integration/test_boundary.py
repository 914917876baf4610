#!/usr/bin/python3
"""The process boundary DESIGN.md promises: after keys are used, the front's
memory does not hold their bytes; only the keeper's does.

To know a key's bytes without keyward ever exporting it, the test derives
one: ECDH between a keyward EC key and a key made here gives a shared secret
both sides can compute, and keyward/derive stores it as an AES key inside
keyward. Encrypting with that key through the API (checked here with the
secret) proves the stored key is exactly those bytes. Then every readable
mapping of the front (read through /proc/PID/mem) is searched for them and
must not hold them, while the keeper's must: that positive control shows the
search would have found them.

Both children are non-dumpable (PR_SET_DUMPABLE 0), so reading their memory
needs root (CAP_SYS_PTRACE). Without it the test cannot run: it says so and
exits 77, which CTest reports as skipped, never as passed.
"""

import base64
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from test_process import children, listens  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: E402

SKIP = 77
EC_KEY, AES_KEY = "boundary-ec", "boundary-aes"
# Mappings larger than this are not a process's data but reservations (the
# sanitizer build's shadow memory spans terabytes of untouched pages).
REGION_MAX = 256 << 20
MAPS_LINE = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$")


def b64(data):
    return base64.b64encode(data).decode("ascii")


def unb64(text):
    return base64.b64decode(text)


def memory_holds(pid, needle):
    """Does any readable mapping of pid contain needle?"""
    with open("/proc/%d/maps" % pid) as maps, open("/proc/%d/mem" % pid, "rb", 0) as mem:
        for line in maps:
            m = MAPS_LINE.match(line)
            if not m or not m.group(3).startswith("r") or m.group(4) in ("[vvar]", "[vsyscall]"):
                continue
            start, end = int(m.group(1), 16), int(m.group(2), 16)
            if end - start > REGION_MAX:
                continue
            try:
                mem.seek(start)
                data = mem.read(end - start)
            except OSError:
                continue  # guard pages and the like
            if data and needle in data:
                return True
    return False


class BoundaryTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = harness.Daemon()
        cls.d.start()

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()

    def api(self, method, path, body=None):
        r = self.d.request(method, "/v1/" + path, body, token=self.d.root_token)
        self.assertEqual(r.status, 200, "%s %s -> %r" % (method, path, r))
        return r.json["data"]

    def processes(self):
        kids = children(self.d.proc.pid)
        front = [p for p in kids if listens(p)]
        keeper = [p for p in kids if not listens(p)]
        self.assertEqual((len(front), len(keeper)), (1, 1), kids)
        return front[0], keeper[0]

    def derive_known_key(self):
        """An AES-256 key inside keyward whose bytes this test knows."""
        self.api("POST", "transit/keys/" + EC_KEY, {"type": "ecdsa-p256"})
        pem = self.api("GET", "transit/keys/" + EC_KEY)["keys"]["1"]["public_key"]
        theirs = serialization.load_pem_public_key(pem.encode("ascii"))
        mine = ec.generate_private_key(ec.SECP256R1())
        secret = mine.exchange(ec.ECDH(), theirs)
        point = mine.public_key().public_bytes(serialization.Encoding.X962,
                                               serialization.PublicFormat.UncompressedPoint)
        self.api("POST", "keyward/derive/" + EC_KEY,
                 {"peer_public_key": b64(point), "derived_name": AES_KEY,
                  "derived_type": "aes256-gcm96", "kdf": "null"})
        return secret[:32]

    def test_front_memory_holds_no_key_bytes(self):
        key = self.derive_known_key()
        # Use it, many times, as an application would.
        for i in range(50):
            iv = os.urandom(12)
            plain = b"boundary %d" % i
            out = self.api("POST", "keyward/cipher/" + AES_KEY,
                           {"operation": "encrypt", "mode": "gcm", "iv": b64(iv),
                            "input": b64(plain)})["output"]
            # The stored key is exactly the derived secret.
            self.assertEqual(AESGCM(key).decrypt(iv, unb64(out), None), plain)
            self.api("POST", "transit/sign/" + EC_KEY, {"input": b64(plain)})
        front, keeper = self.processes()
        self.assertTrue(memory_holds(keeper, key),
                        "the keeper's memory should hold the key: the search is broken")
        self.assertFalse(memory_holds(front, key), "the front's memory holds key bytes")


if __name__ == "__main__":
    if os.geteuid() != 0:
        print("test_boundary: reading the memory of keywardd's non-dumpable children needs "
              "root (CAP_SYS_PTRACE); not run", file=sys.stderr)
        sys.exit(SKIP)
    harness.main()
