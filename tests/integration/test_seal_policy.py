#!/usr/bin/python3
"""Seal, unseal, persistence, stored-key integrity and ACL policy.

keywardd runs in production mode (-config, no -dev): it starts uninitialised
and sealed, is initialised through PUT /v1/sys/init and unsealed with Shamir
shares. Each test has its own daemon and data directory.
"""

import base64
import json
import os
import sqlite3
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402

from hvac import exceptions as hvac_errors  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402

SHARES = 5
THRESHOLD = 3
SIGNER_POLICY = {"path": {"transit/sign/app-*": {"capabilities": ["update"]}}}


def b64(data):
    return base64.b64encode(data).decode("ascii")


def unb64(text):
    return base64.b64decode(text, validate=True)


def flip_wrapped_byte(db_path, key_name):
    """Corrupt one byte of each wrapped version of key_name, like a disk or
    an attacker editing the store would. Returns the number of rows changed."""
    con = sqlite3.connect(db_path)
    try:
        cols = [r[1] for r in con.execute("PRAGMA table_info(key_versions)")]
        if "wrapped" not in cols:
            raise AssertionError("key_versions has no wrapped column: %r" % cols)
        rowids = _rows_of_key(con, cols, key_name)
        for (rowid,) in rowids:
            (blob,) = con.execute("SELECT wrapped FROM key_versions WHERE rowid = ?",
                                  (rowid,)).fetchone()
            blob = bytearray(blob)
            blob[len(blob) // 2] ^= 0x01
            con.execute("UPDATE key_versions SET wrapped = ? WHERE rowid = ?",
                        (bytes(blob), rowid))
        con.commit()
        return len(rowids)
    finally:
        con.close()


def _rows_of_key(con, cols, key_name):
    """key_versions rows of a key, whether they name it or point at keys."""
    for c in cols:
        if c == "wrapped":
            continue
        rows = con.execute('SELECT rowid FROM key_versions WHERE "%s" = ?' % c,
                           (key_name,)).fetchall()
        if rows:
            return rows
    kcols = [r[1] for r in con.execute("PRAGMA table_info(keys)")]
    krow = con.execute("SELECT rowid, * FROM keys WHERE name = ?", (key_name,)).fetchone()
    if krow is None:
        raise AssertionError("key %s not in the keys table" % key_name)
    ids = {krow[0]}
    if "id" in kcols:
        ids.add(krow[1 + kcols.index("id")])
    for c in cols:
        if "key" not in c.lower() or c == "wrapped":
            continue
        for i in ids:
            rows = con.execute('SELECT rowid FROM key_versions WHERE "%s" = ?' % c,
                               (i,)).fetchall()
            if rows:
                return rows
    raise AssertionError("cannot find key_versions rows of %s (columns %r)" % (key_name, cols))


class SealPolicyBase(harness.KwTestCase):

    def setUp(self):
        self.d = self.use_daemon(harness.Daemon(dev=False, name="keywardd-sealed"))
        self.d.start()

    def seal_status(self):
        r = self.d.request("GET", "/v1/sys/seal-status")
        self.assertEqual(r.status, 200, r)
        return r.json

    def init(self):
        status = self.seal_status()
        self.assertIs(status["initialized"], False)
        resp = self.d.hvac_client(token="").sys.initialize(secret_shares=SHARES,
                                                           secret_threshold=THRESHOLD)
        self.assertEqual(len(resp["keys"]), SHARES)
        self.assertTrue(resp["root_token"])
        self.shares = resp["keys"]
        self.root = resp["root_token"]
        # Every share decodes to the same length (secret plus x coordinate).
        lengths = {len(bytes.fromhex(k)) for k in self.shares}
        self.assertEqual(len(lengths), 1, lengths)
        self.assertEqual(len(set(self.shares)), SHARES)
        return self.shares, self.root

    def unseal(self, shares):
        r = None
        for share in shares:
            r = self.d.request("PUT", "/v1/sys/unseal", {"key": share})
            self.assertEqual(r.status, 200, r)
        return r.json if r else None

    def init_and_unseal(self):
        self.init()
        if self.seal_status()["sealed"]:
            self.unseal(self.shares[:THRESHOLD])
        self.assertIs(self.seal_status()["sealed"], False)
        return self.d.hvac_client(token=self.root)

    def restart_and_unseal(self):
        self.d.restart()
        self.assertIs(self.seal_status()["sealed"], True)
        self.unseal(self.shares[:THRESHOLD])
        self.assertIs(self.seal_status()["sealed"], False)
        return self.d.hvac_client(token=self.root)


class SealTest(SealPolicyBase):

    def test_fresh_daemon_is_uninitialized_and_refuses_transit(self):
        status = self.seal_status()
        self.assertIs(status["initialized"], False)
        self.assertIs(status["sealed"], True)
        r = self.d.request("GET", "/v1/sys/init")
        self.assertEqual(r.status, 200, r)
        self.assertIs(r.json["initialized"], False)
        r = self.d.request("POST", "/v1/transit/keys/x", {"type": "aes256-gcm96"},
                           token="anything")
        self.assertError(r, (501, 503))

    def test_failed_self_test_refuses_unseal_and_names_it(self):
        self.init()
        os.environ["KEYWARD_SELFTEST_FAIL"] = "ecdsa-p256-pairwise"
        try:
            self.d.restart()
        finally:
            del os.environ["KEYWARD_SELFTEST_FAIL"]
        r = self.d.request("PUT", "/v1/sys/unseal", {"key": self.shares[0]})
        self.assertError(r, 500, code="self_test_failed")
        self.assertIn("ecdsa-p256-pairwise", r.errors()[0])
        self.assertIs(self.seal_status()["sealed"], True)
        # Without the fault the same shares unseal.
        self.d.restart()
        self.unseal(self.shares[:THRESHOLD])
        self.assertIs(self.seal_status()["sealed"], False)

    def test_init_twice_is_refused(self):
        self.init()
        r = self.d.request("PUT", "/v1/sys/init",
                           {"secret_shares": SHARES, "secret_threshold": THRESHOLD})
        self.assertError(r, 400, code="already_initialized")

    def test_restart_seals_and_threshold_applies(self):
        client = self.init_and_unseal()
        client.secrets.transit.create_key("sealed-k", key_type="aes256-gcm96")
        ct = client.secrets.transit.encrypt_data("sealed-k", b64(b"x"))["data"]["ciphertext"]

        self.d.restart()
        status = self.seal_status()
        self.assertIs(status["initialized"], True)
        self.assertIs(status["sealed"], True)
        self.assertEqual((status["t"], status["n"], status["progress"]), (THRESHOLD, SHARES, 0))
        r = self.d.request("POST", "/v1/transit/decrypt/sealed-k", {"ciphertext": ct},
                           token=self.root)
        self.assertError(r, 503, code="sealed")

        # Two shares are not enough.
        for i, share in enumerate(self.shares[:2]):
            st = self.unseal([share])
            self.assertIs(st["sealed"], True)
            self.assertEqual(st["progress"], i + 1)
        self.assertEqual(self.seal_status()["progress"], 2)
        r = self.d.request("POST", "/v1/transit/decrypt/sealed-k", {"ciphertext": ct},
                           token=self.root)
        self.assertError(r, 503, code="sealed")

        # A forged third share of the right length is refused, not used.
        forged = os.urandom(len(bytes.fromhex(self.shares[0]))).hex()
        r = self.d.request("PUT", "/v1/sys/unseal", {"key": forged})
        self.assertError(r, 400)
        status = self.seal_status()
        self.assertIs(status["sealed"], True)
        # Whether the failed attempt reset progress or kept the two good
        # shares, the remaining good shares must now unseal.
        needed = self.shares[2:] if status["progress"] == 2 else self.shares[:THRESHOLD]
        if status["progress"] not in (0, 2):
            self.fail("progress %d after a refused share" % status["progress"])
        st = None
        for share in needed:
            st = self.unseal([share])
            if not st["sealed"]:
                break
        self.assertIs(st["sealed"], False)
        got = client.secrets.transit.decrypt_data("sealed-k", ct)["data"]["plaintext"]
        self.assertEqual(unb64(got), b"x")

    def test_same_share_twice_counts_once(self):
        self.init_and_unseal()
        self.d.restart()
        self.unseal([self.shares[0]])
        r = self.d.request("PUT", "/v1/sys/unseal", {"key": self.shares[0]})
        self.assertIn(r.status, (200, 400), r)
        status = self.seal_status()
        self.assertIs(status["sealed"], True)
        self.assertLessEqual(status["progress"], 1)

    def test_keys_and_versions_survive_restarts(self):
        client = self.init_and_unseal()
        t = client.secrets.transit
        t.create_key("persist-aes", key_type="aes256-gcm96")
        ct1 = t.encrypt_data("persist-aes", b64(b"one"))["data"]["ciphertext"]
        t.rotate_key("persist-aes")
        ct2 = t.encrypt_data("persist-aes", b64(b"two"))["data"]["ciphertext"]
        self.assertTrue(ct2.startswith("vault:v2:"), ct2)
        t.create_key("persist-ec", key_type="ecdsa-p256")
        pem = t.read_key("persist-ec")["data"]["keys"]["1"]["public_key"]
        pub = serialization.load_pem_public_key(pem.encode("ascii"))

        for _ in range(2):
            client = self.restart_and_unseal()
            t = client.secrets.transit
            info = t.read_key("persist-aes")["data"]
            self.assertEqual(info["latest_version"], 2)
            self.assertEqual(sorted(info["keys"].keys()), ["1", "2"])
            self.assertEqual(unb64(t.decrypt_data("persist-aes", ct1)["data"]["plaintext"]),
                             b"one")
            self.assertEqual(unb64(t.decrypt_data("persist-aes", ct2)["data"]["plaintext"]),
                             b"two")
            self.assertEqual(t.read_key("persist-ec")["data"]["keys"]["1"]["public_key"], pem)
            sig = t.sign_data("persist-ec", hash_input=b64(b"still me"))["data"]["signature"]
            self.assertTrue(sig.startswith("vault:v1:"), sig)
            pub.verify(unb64(sig[len("vault:v1:"):]), b"still me", ec.ECDSA(hashes.SHA256()))
            self.assertIn("persist-ec", t.list_keys()["data"]["keys"])

    def test_edited_wrapped_row_fails_integrity_only_for_that_key(self):
        client = self.init_and_unseal()
        t = client.secrets.transit
        t.create_key("tamper-a", key_type="aes256-gcm96")
        t.create_key("tamper-b", key_type="aes256-gcm96")
        ct_a = t.encrypt_data("tamper-a", b64(b"a"))["data"]["ciphertext"]
        ct_b = t.encrypt_data("tamper-b", b64(b"b"))["data"]["ciphertext"]

        self.d.stop()
        self.assertEqual(flip_wrapped_byte(self.d.db_path, "tamper-a"), 1)
        self.d.start()
        self.unseal(self.shares[:THRESHOLD])

        r = self.d.request("POST", "/v1/transit/decrypt/tamper-a", {"ciphertext": ct_a},
                           token=self.root)
        self.assertError(r, 500, code="integrity")
        r = self.d.request("POST", "/v1/transit/encrypt/tamper-a", {"plaintext": b64(b"a")},
                           token=self.root)
        self.assertError(r, 500, code="integrity")
        # The untouched key is unaffected.
        t = self.d.hvac_client(token=self.root).secrets.transit
        self.assertEqual(unb64(t.decrypt_data("tamper-b", ct_b)["data"]["plaintext"]), b"b")
        ct = t.encrypt_data("tamper-b", b64(b"again"))["data"]["ciphertext"]
        self.assertEqual(unb64(t.decrypt_data("tamper-b", ct)["data"]["plaintext"]), b"again")


class PolicyTest(SealPolicyBase):

    def write_policy(self, client, name, policy):
        try:
            client.sys.create_or_update_policy(name, policy)
        except hvac_errors.InvalidPath:
            # Newer Vault path, in case only that one is routed.
            client.adapter.put("/v1/sys/policies/acl/%s" % name,
                               json={"policy": json.dumps(policy)})

    def test_sign_only_policy(self):
        root = self.init_and_unseal()
        t = root.secrets.transit
        t.create_key("app-1", key_type="ecdsa-p256")
        t.create_key("db-1", key_type="ecdsa-p256")
        t.create_key("app-enc", key_type="aes256-gcm96")
        # Make deletion possible so that a refused delete proves the policy,
        # not the key's own setting, stopped it.
        t.update_key_configuration("db-1", deletion_allowed=True)
        ct = t.encrypt_data("app-enc", b64(b"secret"))["data"]["ciphertext"]
        self.write_policy(root, "app-signer", SIGNER_POLICY)
        auth = root.auth.token.create(policies=["app-signer"])["auth"]
        token = auth["client_token"]
        self.assertIn("app-signer", auth["policies"])

        before = {n: t.read_key(n)["data"] for n in ("app-1", "db-1", "app-enc")}
        listed_before = sorted(t.list_keys()["data"]["keys"])

        limited = self.d.hvac_client(token=token).secrets.transit
        sig = limited.sign_data("app-1", hash_input=b64(b"allowed"))["data"]["signature"]
        pem = before["app-1"]["keys"]["1"]["public_key"]
        pub = serialization.load_pem_public_key(pem.encode("ascii"))
        pub.verify(unb64(sig[len("vault:v1:"):]), b"allowed", ec.ECDSA(hashes.SHA256()))

        # The hash-in-path form maps to the same canonical sign path.
        sig384 = limited.sign_data("app-1", hash_input=b64(b"allowed"),
                                   hash_algorithm="sha2-384")["data"]["signature"]
        pub.verify(unb64(sig384[len("vault:v1:"):]), b"allowed", ec.ECDSA(hashes.SHA384()))

        denied = [
            ("POST", "/v1/transit/sign/db-1", {"input": b64(b"no")}),
            ("POST", "/v1/transit/sign/db-1/sha2-256", {"input": b64(b"no")}),
            ("POST", "/v1/transit/verify/app-1", {"input": b64(b"allowed"), "signature": sig}),
            ("POST", "/v1/transit/hmac/app-1", {"input": b64(b"no")}),
            ("POST", "/v1/transit/encrypt/app-1", {"plaintext": b64(b"no")}),
            ("POST", "/v1/transit/decrypt/app-1", {"ciphertext": ct}),
            ("POST", "/v1/transit/encrypt/app-enc", {"plaintext": b64(b"no")}),
            ("POST", "/v1/transit/decrypt/app-enc", {"ciphertext": ct}),
            ("POST", "/v1/transit/keys/app-2", {"type": "ecdsa-p256"}),
            ("POST", "/v1/transit/keys/app-1/rotate", {}),
            ("POST", "/v1/transit/keys/app-1/config", {"exportable": True}),
            ("DELETE", "/v1/transit/keys/db-1", None),
            ("GET", "/v1/transit/keys/app-1", None),
            ("PUT", "/v1/sys/policy/app-signer", {"policy": '{"path":{"*":{"capabilities":'
                                                            '["sudo","update"]}}}'}),
        ]
        for method, path, body in denied:
            with self.subTest(method=method, path=path):
                r = self.d.request(method, path, body, token=token)
                self.assertError(r, 403, code="permission_denied")
                self.assertNotIn("secret", r.body.decode("utf-8", "replace"))

        # Nothing the refused requests asked for happened.
        after = {n: t.read_key(n)["data"] for n in ("app-1", "db-1", "app-enc")}
        self.assertEqual(after, before)
        self.assertEqual(sorted(t.list_keys()["data"]["keys"]), listed_before)
        with self.assertRaises(hvac_errors.InvalidPath):
            t.read_key("app-2")
        # And the policy still allows only what it allowed.
        limited.sign_data("app-1", hash_input=b64(b"still allowed"))
        with self.assertRaises(hvac_errors.Forbidden):
            limited.sign_data("db-1", hash_input=b64(b"still no"))

    def test_no_token_and_bad_token_are_refused(self):
        self.init_and_unseal()
        for token in (None, "not-a-real-token"):
            with self.subTest(token=token):
                r = self.d.request("POST", "/v1/transit/keys/x", {"type": "aes256-gcm96"},
                                   token=token)
                self.assertError(r, (401, 403), code="bad_token")


if __name__ == "__main__":
    harness.main()
