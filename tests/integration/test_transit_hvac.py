#!/usr/bin/python3
"""Vault transit compatibility: Debian's hvac, unmodified, against keywardd.

One dev-mode keywardd behind TLS serves the whole file; every test uses
its own key names, so tests do not depend on each other or on their order.
Every signature keywardd produces is also checked here with
python3-cryptography against the public key keywardd published through
read_key, so "valid" never rests on keywardd's word alone.
"""

import base64
import hashlib
import hmac as hmaclib
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402

from hvac import exceptions as hvac_errors  # noqa: E402
from hvac.constants import transit as hvac_transit  # noqa: E402
from cryptography.exceptions import InvalidSignature  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature  # noqa: E402
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305  # noqa: E402

AEAD_TYPES = ["aes128-gcm96", "aes256-gcm96", "chacha20-poly1305"]
AEAD_KEY_BYTES = {"aes128-gcm96": 16, "aes256-gcm96": 32, "chacha20-poly1305": 32}
ECDSA_TYPES = {  # type -> (curve, bytes per coordinate)
    "ecdsa-p256": (ec.SECP256R1, 32),
    "ecdsa-p384": (ec.SECP384R1, 48),
    "ecdsa-p521": (ec.SECP521R1, 66),
}
RSA_TYPES = {"rsa-2048": 2048, "rsa-3072": 3072, "rsa-4096": 4096}
SIGNING_TYPES = list(ECDSA_TYPES) + ["ed25519"] + list(RSA_TYPES)
ALL_TYPES = AEAD_TYPES + ["hmac"] + SIGNING_TYPES
HASHES = {
    "sha2-224": hashes.SHA224,
    "sha2-256": hashes.SHA256,
    "sha2-384": hashes.SHA384,
    "sha2-512": hashes.SHA512,
}
HASHLIB = {"sha2-224": "sha224", "sha2-256": "sha256", "sha2-384": "sha384",
           "sha2-512": "sha512"}
GCM_NONCE_BYTES = 12
TAG_BYTES = 16


def b64(data):
    return base64.b64encode(data).decode("ascii")


def unb64(text):
    return base64.b64decode(text, validate=True)


def unb64url(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def split_vault(value, version=1):
    """'vault:vN:payload' -> payload, checking the version."""
    prefix = "vault:v%d:" % version
    if not isinstance(value, str) or not value.startswith(prefix):
        raise AssertionError("%r does not start with %s" % (value, prefix))
    return value[len(prefix):]


def data_of(resp):
    """hvac returns a dict for 200 and a Response for 204."""
    if isinstance(resp, dict):
        return resp.get("data") or {}
    return {}


class TransitHvacTest(harness.KwTestCase):

    @classmethod
    def setUpClass(cls):
        cls.d = harness.Daemon(dev=True, name="keywardd-transit")
        cls.addClassCleanup(cls.d.cleanup)
        cls.daemons = (cls.d,)
        cls.d.start()
        cls.client = cls.d.hvac_client()
        cls.transit = cls.client.secrets.transit

    # --- helpers -----------------------------------------------------------

    def key_name(self, suffix):
        return "%s-%s" % (self._testMethodName.replace("_", "-"), suffix)

    def create_key(self, name, key_type, **params):
        """hvac's create_key where hvac 0.11.2 knows the type, raw otherwise."""
        if key_type in hvac_transit.ALLOWED_KEY_TYPES:
            return self.transit.create_key(name, key_type=key_type, **params)
        body = {"type": key_type}
        body.update(params)
        return self.client.adapter.post("/v1/transit/keys/%s" % name, json=body)

    def public_key(self, name, version=1):
        info = self.transit.read_key(name)["data"]
        entry = info["keys"][str(version)]
        self.assertIsInstance(entry, dict, "no public key entry in %r" % info)
        pub = entry["public_key"]
        if info["type"] == "ed25519":
            raw = unb64(pub)
            self.assertEqual(len(raw), 32)
            return ed25519.Ed25519PublicKey.from_public_bytes(raw)
        key = serialization.load_pem_public_key(pub.encode("ascii"))
        if info["type"] in ECDSA_TYPES:
            self.assertIsInstance(key, ec.EllipticCurvePublicKey)
            self.assertIsInstance(key.curve, ECDSA_TYPES[info["type"]][0])
        else:
            self.assertIsInstance(key, rsa.RSAPublicKey)
            self.assertEqual(key.key_size, RSA_TYPES[info["type"]])
        return key

    def check_ecdsa(self, key_type, pub, data, sig_text, hash_name, marshaling):
        h = HASHES[hash_name]()
        if marshaling == "jws":
            raw = unb64url(sig_text)
            n = ECDSA_TYPES[key_type][1]
            self.assertEqual(len(raw), 2 * n, "jws signature is not r||s of %d bytes" % n)
            der = encode_dss_signature(int.from_bytes(raw[:n], "big"),
                                       int.from_bytes(raw[n:], "big"))
        else:
            der = unb64(sig_text)
        pub.verify(der, data, ec.ECDSA(h))

    def check_rsa(self, pub, data, sig_text, hash_name, sig_alg):
        sig = unb64(sig_text)
        self.assertEqual(len(sig), pub.key_size // 8)
        h = HASHES[hash_name]()
        if sig_alg == "pkcs1v15":
            pad = padding.PKCS1v15()
        else:
            pad = padding.PSS(mgf=padding.MGF1(HASHES[hash_name]()), salt_length=padding.PSS.AUTO)
        pub.verify(sig, data, pad, h)

    def sign_and_check(self, name, key_type, pub, data, hash_name=None, prehashed=False,
                       sig_alg=None, marshaling=None):
        """Sign through hvac, verify independently and through keywardd."""
        signed = data
        if prehashed:
            signed = hashlib.new(HASHLIB[hash_name], data).digest()
        resp = self.transit.sign_data(
            name, hash_input=b64(signed), hash_algorithm=hash_name,
            prehashed=True if prehashed else None, signature_algorithm=sig_alg,
            marshaling_algorithm=marshaling)
        signature = resp["data"]["signature"]
        body = split_vault(signature)
        # A prehashed signature must be the signature of the original data.
        if key_type in ECDSA_TYPES:
            self.check_ecdsa(key_type, pub, data, body, hash_name or "sha2-256",
                             marshaling or "asn1")
        elif key_type in RSA_TYPES:
            self.check_rsa(pub, data, body, hash_name or "sha2-256", sig_alg or "pss")
        else:
            raw = unb64(body)
            self.assertEqual(len(raw), 64)
            pub.verify(raw, data)
        ok = self.transit.verify_signed_data(
            name, hash_input=b64(signed), signature=signature, hash_algorithm=hash_name,
            prehashed=True if prehashed else None, signature_algorithm=sig_alg,
            marshaling_algorithm=marshaling)
        self.assertIs(ok["data"]["valid"], True)
        return signature

    def assert_verify_false(self, name, data, signature, **kw):
        bad = bytes([data[0] ^ 1]) + data[1:]
        resp = self.transit.verify_signed_data(name, hash_input=b64(bad), signature=signature,
                                               **kw)
        self.assertIs(resp["data"]["valid"], False)

    def encrypt(self, name, plaintext, **kw):
        resp = self.transit.encrypt_data(name, plaintext=b64(plaintext), **kw)
        return resp["data"]["ciphertext"]

    def decrypt(self, name, ciphertext, **kw):
        resp = self.transit.decrypt_data(name, ciphertext=ciphertext, **kw)
        return unb64(resp["data"]["plaintext"])

    # --- key lifecycle -------------------------------------------------------

    def test_create_every_key_type(self):
        for key_type in ALL_TYPES:
            with self.subTest(key_type=key_type):
                name = self.key_name(key_type)
                self.create_key(name, key_type)
                info = self.transit.read_key(name)["data"]
                self.assertEqual(info["type"], key_type)
                self.assertEqual(info["name"], name)
                self.assertEqual(info["latest_version"], 1)
                self.assertEqual(list(info["keys"].keys()), ["1"])
                self.assertIs(info["exportable"], False)
                self.assertIs(info["deletion_allowed"], False)
                if key_type in AEAD_TYPES:
                    self.assertIs(info["supports_encryption"], True)
                    self.assertIs(info["supports_signing"], False)
                elif key_type in SIGNING_TYPES:
                    self.assertIs(info["supports_signing"], True)
                    self.public_key(name)  # parses and has the right size
                else:
                    self.assertIs(info["supports_signing"], False)
                    self.assertIs(info["supports_encryption"], False)

    def test_list_keys(self):
        names = [self.key_name(str(i)) for i in range(3)]
        for n in names:
            self.create_key(n, "aes256-gcm96")
        listed = self.transit.list_keys()["data"]["keys"]
        for n in names:
            self.assertIn(n, listed)

    def test_delete_refused_until_allowed(self):
        name = self.key_name("k")
        self.create_key(name, "aes256-gcm96")
        with self.assertRaises(hvac_errors.InvalidRequest) as cm:
            self.transit.delete_key(name)
        self.assertTrue(cm.exception.errors, "no error sentence")
        self.assertEqual(self.transit.read_key(name)["data"]["name"], name)
        self.transit.update_key_configuration(name, deletion_allowed=True)
        self.assertIs(self.transit.read_key(name)["data"]["deletion_allowed"], True)
        self.transit.delete_key(name)
        with self.assertRaises(hvac_errors.InvalidPath):
            self.transit.read_key(name)
        try:
            listed = self.transit.list_keys()["data"]["keys"]
        except hvac_errors.InvalidPath:  # Vault answers 404 for an empty list
            listed = []
        self.assertNotIn(name, listed)

    def test_export_refused_for_non_exportable_key(self):
        cases = [("aes256-gcm96", "encryption-key"), ("ecdsa-p256", "signing-key"),
                 ("hmac", "hmac-key")]
        for key_type, export_type in cases:
            with self.subTest(key_type=key_type):
                name = self.key_name(key_type)
                self.create_key(name, key_type)
                with self.assertRaises(hvac_errors.InvalidRequest) as cm:
                    self.transit.export_key(name, key_type=export_type)
                errors = cm.exception.errors
                self.assertTrue(errors, "hvac saw no errors list: %s" % cm.exception)
                self.assertIn("exportable", " ".join(errors).lower())
                raw = self.d.request("GET", "/v1/transit/export/%s/%s" % (export_type, name),
                                     token=self.d.root_token)
                self.assertError(raw, 400)

    def test_export_of_exportable_keys_matches_their_outputs(self):
        pt = os.urandom(100)
        for key_type in ["aes256-gcm96", "aes128-gcm96", "chacha20-poly1305"]:
            with self.subTest(key_type=key_type):
                name = self.key_name(key_type)
                self.create_key(name, key_type, exportable=True)
                ct = unb64(split_vault(self.encrypt(name, pt)))
                keys = self.transit.export_key(name, key_type="encryption-key")["data"]["keys"]
                key = unb64(keys["1"])
                self.assertEqual(len(key), AEAD_KEY_BYTES[key_type])
                aead = ChaCha20Poly1305(key) if key_type.startswith("chacha") else AESGCM(key)
                got = aead.decrypt(ct[:GCM_NONCE_BYTES], ct[GCM_NONCE_BYTES:], None)
                self.assertEqual(got, pt)
        with self.subTest(key_type="hmac"):
            name = self.key_name("hmac")
            self.create_key(name, "hmac", exportable=True)
            mac = self.transit.generate_hmac(name, b64(pt), algorithm="sha2-256")
            mac = unb64(split_vault(mac["data"]["hmac"]))
            keys = self.transit.export_key(name, key_type="hmac-key")["data"]["keys"]
            want = hmaclib.new(unb64(keys["1"]), pt, hashlib.sha256).digest()
            self.assertEqual(mac, want)

    # --- encryption ----------------------------------------------------------

    def test_encrypt_decrypt_single(self):
        for key_type in AEAD_TYPES:
            with self.subTest(key_type=key_type):
                name = self.key_name(key_type)
                self.create_key(name, key_type)
                for pt in [b"hello keyward", os.urandom(1), os.urandom(4096)]:
                    ct = self.encrypt(name, pt)
                    raw = unb64(split_vault(ct))
                    self.assertEqual(len(raw), GCM_NONCE_BYTES + len(pt) + TAG_BYTES)
                    self.assertEqual(self.decrypt(name, ct), pt)
                # Fresh nonces: the same plaintext never gives the same ciphertext.
                self.assertNotEqual(self.encrypt(name, b"same"), self.encrypt(name, b"same"))

    def test_encrypt_decrypt_batch(self):
        for key_type in AEAD_TYPES:
            with self.subTest(key_type=key_type):
                name = self.key_name(key_type)
                self.create_key(name, key_type)
                pts = [os.urandom(n) for n in (1, 16, 100, 1000)]
                resp = self.transit.encrypt_data(
                    name, plaintext=None, batch_input=[{"plaintext": b64(p)} for p in pts])
                results = resp["data"]["batch_results"]
                self.assertEqual(len(results), len(pts))
                cts = []
                for r in results:
                    self.assertNotIn("error", r, r)
                    split_vault(r["ciphertext"])
                    cts.append(r["ciphertext"])
                resp = self.transit.decrypt_data(
                    name, ciphertext=None, batch_input=[{"ciphertext": c} for c in cts])
                got = [unb64(r["plaintext"]) for r in resp["data"]["batch_results"]]
                self.assertEqual(got, pts)

    def test_encrypt_with_associated_data(self):
        for key_type in AEAD_TYPES:
            with self.subTest(key_type=key_type):
                name = self.key_name(key_type)
                self.create_key(name, key_type)
                pt, aad = os.urandom(64), b"record-42"
                # hvac 0.11.2's encrypt_data has no associated_data argument.
                resp = self.client.adapter.post(
                    "/v1/transit/encrypt/%s" % name,
                    json={"plaintext": b64(pt), "associated_data": b64(aad)})
                ct = resp["data"]["ciphertext"]
                resp = self.client.adapter.post(
                    "/v1/transit/decrypt/%s" % name,
                    json={"ciphertext": ct, "associated_data": b64(aad)})
                self.assertEqual(unb64(resp["data"]["plaintext"]), pt)
                for wrong in [{"associated_data": b64(b"record-43")}, {}]:
                    body = {"ciphertext": ct}
                    body.update(wrong)
                    with self.assertRaises(hvac_errors.InvalidRequest):
                        self.client.adapter.post("/v1/transit/decrypt/%s" % name, json=body)

    def test_rotate_and_min_decryption_version(self):
        name = self.key_name("k")
        self.create_key(name, "aes256-gcm96")
        pt1, pt2 = b"before rotation", b"after rotation"
        ct1 = self.encrypt(name, pt1)
        split_vault(ct1, 1)
        self.transit.rotate_key(name)
        info = self.transit.read_key(name)["data"]
        self.assertEqual(info["latest_version"], 2)
        self.assertEqual(sorted(info["keys"].keys()), ["1", "2"])
        self.assertEqual(self.decrypt(name, ct1), pt1)
        ct2 = self.encrypt(name, pt2)
        split_vault(ct2, 2)
        self.transit.update_key_configuration(name, min_decryption_version=2)
        self.assertEqual(self.transit.read_key(name)["data"]["min_decryption_version"], 2)
        with self.assertRaises(hvac_errors.InvalidRequest):
            self.decrypt(name, ct1)
        raw = self.d.request("POST", "/v1/transit/decrypt/%s" % name, {"ciphertext": ct1},
                             token=self.d.root_token)
        self.assertError(raw, 400)
        self.assertEqual(self.decrypt(name, ct2), pt2)

    def test_rewrap(self):
        for key_type in AEAD_TYPES:
            with self.subTest(key_type=key_type):
                name = self.key_name(key_type)
                self.create_key(name, key_type)
                pt = os.urandom(50)
                ct1 = self.encrypt(name, pt)
                self.transit.rotate_key(name)
                resp = self.transit.rewrap_data(name, ciphertext=ct1)
                ct2 = resp["data"]["ciphertext"]
                split_vault(ct2, 2)
                self.assertNotIn("plaintext", resp["data"])
                self.assertEqual(self.decrypt(name, ct2), pt)

    def test_datakey(self):
        name = self.key_name("k")
        self.create_key(name, "aes256-gcm96")
        for bits in (128, 256, 512):
            with self.subTest(kind="plaintext", bits=bits):
                d = self.transit.generate_data_key(name, key_type="plaintext", bits=bits)["data"]
                plain = unb64(d["plaintext"])
                self.assertEqual(len(plain), bits // 8)
                split_vault(d["ciphertext"])
                self.assertEqual(self.decrypt(name, d["ciphertext"]), plain)
        with self.subTest(kind="wrapped"):
            d = self.transit.generate_data_key(name, key_type="wrapped")["data"]
            self.assertNotIn("plaintext", d)
            self.assertEqual(len(self.decrypt(name, d["ciphertext"])), 32)

    # --- signatures ----------------------------------------------------------

    def test_sign_ecdsa(self):
        data = b"message signed by keyward " + os.urandom(16)
        for key_type in ECDSA_TYPES:
            name = self.key_name(key_type)
            self.create_key(name, key_type)
            pub = self.public_key(name)
            for hash_name in HASHES:
                for marshaling in ("asn1", "jws"):
                    for prehashed in (False, True):
                        with self.subTest(key_type=key_type, hash=hash_name,
                                          marshaling=marshaling, prehashed=prehashed):
                            self.sign_and_check(name, key_type, pub, data, hash_name=hash_name,
                                                prehashed=prehashed, marshaling=marshaling)
            with self.subTest(key_type=key_type, defaults=True):
                sig = self.sign_and_check(name, key_type, pub, data)
                self.assert_verify_false(name, data, sig)

    def test_sign_rsa(self):
        data = b"rsa message " + os.urandom(16)
        for key_type in RSA_TYPES:
            name = self.key_name(key_type)
            self.create_key(name, key_type)
            pub = self.public_key(name)
            for hash_name in HASHES:
                for sig_alg in ("pss", "pkcs1v15"):
                    for prehashed in (False, True):
                        with self.subTest(key_type=key_type, hash=hash_name, sig_alg=sig_alg,
                                          prehashed=prehashed):
                            sig = self.sign_and_check(name, key_type, pub, data,
                                                      hash_name=hash_name, prehashed=prehashed,
                                                      sig_alg=sig_alg)
                            if not prehashed:
                                self.assert_verify_false(name, data, sig,
                                                         hash_algorithm=hash_name,
                                                         signature_algorithm=sig_alg)
            with self.subTest(key_type=key_type, defaults=True):
                self.sign_and_check(name, key_type, pub, data)

    def test_sign_ed25519(self):
        name = self.key_name("k")
        self.create_key(name, "ed25519")
        pub = self.public_key(name)
        for data in [b"x", b"ed25519 message", os.urandom(1000)]:
            with self.subTest(length=len(data)):
                sig = self.sign_and_check(name, "ed25519", pub, data)
                self.assert_verify_false(name, data, sig)

    def test_sign_hash_in_url(self):
        name = self.key_name("k")
        self.create_key(name, "ecdsa-p256")
        pub = self.public_key(name)
        data = b"hash from the path"
        resp = self.client.adapter.post("/v1/transit/sign/%s/sha2-384" % name,
                                        json={"input": b64(data)})
        sig = resp["data"]["signature"]
        self.check_ecdsa("ecdsa-p256", pub, data, split_vault(sig), "sha2-384", "asn1")
        resp = self.client.adapter.post("/v1/transit/verify/%s/sha2-384" % name,
                                        json={"input": b64(data), "signature": sig})
        self.assertIs(resp["data"]["valid"], True)

    def test_sign_sha3(self):
        # Vault accepts sha3-* for signing; hvac 0.11.2 only lists sha2-*.
        data = b"sha3 message"
        for key_type, extra in [("ecdsa-p256", {}), ("rsa-2048", {"signature_algorithm": "pss"})]:
            name = self.key_name(key_type)
            self.create_key(name, key_type)
            pub = self.public_key(name)
            for hash_name, h in [("sha3-256", hashes.SHA3_256), ("sha3-512", hashes.SHA3_512)]:
                with self.subTest(key_type=key_type, hash=hash_name):
                    body = {"input": b64(data), "hash_algorithm": hash_name}
                    body.update(extra)
                    resp = self.client.adapter.post("/v1/transit/sign/%s" % name, json=body)
                    sig = unb64(split_vault(resp["data"]["signature"]))
                    if key_type in RSA_TYPES:
                        pub.verify(sig, data, padding.PSS(mgf=padding.MGF1(h()),
                                                          salt_length=padding.PSS.AUTO), h())
                    else:
                        pub.verify(sig, data, ec.ECDSA(h()))

    def test_sign_prehashed_digest_of_wrong_length_refused(self):
        name = self.key_name("k")
        self.create_key(name, "ecdsa-p256")
        # A "digest" of the wrong length for sha2-256 is not a digest.
        with self.assertRaises(hvac_errors.InvalidRequest):
            self.transit.sign_data(name, hash_input=b64(b"\x01" * 20), hash_algorithm="sha2-256",
                                   prehashed=True)

    def test_signature_of_other_key_is_invalid(self):
        a, b = self.key_name("a"), self.key_name("b")
        self.create_key(a, "ed25519")
        self.create_key(b, "ed25519")
        data = b"which key?"
        sig = self.transit.sign_data(a, hash_input=b64(data))["data"]["signature"]
        pub_b = self.public_key(b)
        with self.assertRaises(InvalidSignature):
            pub_b.verify(unb64(split_vault(sig)), data)
        resp = self.transit.verify_signed_data(b, hash_input=b64(data), signature=sig)
        self.assertIs(resp["data"]["valid"], False)

    # --- hmac, random, hash --------------------------------------------------

    def test_hmac_and_verify(self):
        name = self.key_name("k")
        self.create_key(name, "hmac")
        data = b"authenticate me"
        for alg, size in [("sha2-224", 28), ("sha2-256", 32), ("sha2-384", 48),
                          ("sha2-512", 64)]:
            with self.subTest(algorithm=alg):
                mac = self.transit.generate_hmac(name, b64(data), algorithm=alg)["data"]["hmac"]
                self.assertEqual(len(unb64(split_vault(mac))), size)
                ok = self.transit.verify_signed_data(name, hash_input=b64(data), hmac=mac,
                                                     hash_algorithm=alg)
                self.assertIs(ok["data"]["valid"], True)
                bad = self.transit.verify_signed_data(name, hash_input=b64(data + b"!"),
                                                      hmac=mac, hash_algorithm=alg)
                self.assertIs(bad["data"]["valid"], False)
        # Deterministic: the same input gives the same MAC.
        m1 = self.transit.generate_hmac(name, b64(data))["data"]["hmac"]
        m2 = self.transit.generate_hmac(name, b64(data))["data"]["hmac"]
        self.assertEqual(m1, m2)

    def test_random(self):
        r1 = unb64(self.transit.generate_random_bytes(n_bytes=48)["data"]["random_bytes"])
        r2 = unb64(self.transit.generate_random_bytes(n_bytes=48)["data"]["random_bytes"])
        self.assertEqual(len(r1), 48)
        self.assertNotEqual(r1, r2)
        h = self.transit.generate_random_bytes(n_bytes=16, output_format="hex")
        self.assertEqual(len(bytes.fromhex(h["data"]["random_bytes"])), 16)
        default = unb64(self.transit.generate_random_bytes()["data"]["random_bytes"])
        self.assertEqual(len(default), 32)

    def test_hash(self):
        data = b"hash me, keyward"
        for alg, name in HASHLIB.items():
            with self.subTest(algorithm=alg):
                got = self.transit.hash_data(b64(data), algorithm=alg)["data"]["sum"]
                self.assertEqual(got, hashlib.new(name, data).hexdigest())
                got = self.transit.hash_data(b64(data), algorithm=alg, output_format="base64")
                self.assertEqual(unb64(got["data"]["sum"]), hashlib.new(name, data).digest())
        default = self.transit.hash_data(b64(data))["data"]["sum"]
        self.assertEqual(default, hashlib.sha256(data).hexdigest())


if __name__ == "__main__":
    harness.main()
