#!/usr/bin/python3
"""The /v1/keyward/ operations the PKCS#11 module needs, against a real keywardd.

Every result is checked with python3-cryptography, never on keywardd's word:
raw PKCS#1 signatures verify over the DigestInfo's message, ciphertexts
made here decrypt there, ECDH-derived keys are proven by encrypting with
them through transit and decrypting here with the secret derived here, AES
modes and key wraps match Python's own output. Policy refusals, wrong key
types and bad input change nothing, and the audit log carries the
operation, its canonical path and the SHA-256 of input and output.
"""

import base64
import hashlib
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402

from cryptography.hazmat.primitives import hashes, keywrap, padding as sympad  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec, padding  # noqa: E402
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes  # noqa: E402
from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: E402
from cryptography.hazmat.primitives.kdf.x963kdf import X963KDF  # noqa: E402

SHA256_DIGESTINFO = bytes.fromhex("3031300d060960864801650304020105000420")
SHA1_DIGESTINFO = bytes.fromhex("3021300906052b0e03021a05000414")


def b64(data):
    return base64.b64encode(data).decode("ascii")


def unb64(text):
    return base64.b64decode(text, validate=True)


class P11OpsTest(harness.KwTestCase):

    @classmethod
    def setUpClass(cls):
        cls.d = harness.Daemon(dev=True, name="keywardd-p11ops")
        cls.addClassCleanup(cls.d.cleanup)
        cls.daemons = (cls.d,)
        cls.d.start()
        cls.root = cls.d.root_token

    # --- helpers -----------------------------------------------------------

    def name(self, suffix):
        return "%s-%s" % (self._testMethodName.replace("_", "-"), suffix)

    def api(self, method, path, body=None, token=None, status=200):
        r = self.d.request(method, "/v1/" + path, body, token=token or self.root)
        want = status if isinstance(status, tuple) else (status,)
        self.assertIn(r.status, want, "%s %s -> %r" % (method, path, r))
        return r

    def fail_code(self, method, path, body, status, code, token=None):
        r = self.api(method, path, body, token=token, status=status)
        self.assertEqual(r.error_code(), code, r)
        return r

    def create(self, name, key_type, **params):
        body = {"type": key_type}
        body.update(params)
        self.api("POST", "transit/keys/" + name, body)
        return self.api("GET", "transit/keys/" + name).json["data"]

    def public_key(self, name):
        info = self.api("GET", "transit/keys/" + name).json["data"]
        pem = info["keys"]["1"]["public_key"]
        return serialization.load_pem_public_key(pem.encode("ascii"))

    def exported(self, name):
        data = self.api("GET", "transit/export/encryption-key/%s/1" % name).json["data"]
        return unb64(data["keys"]["1"])

    def token(self, policy_name, paths):
        """A token whose policy grants {path: [caps]}."""
        policy = {"path": {p: {"capabilities": caps} for p, caps in paths.items()}}
        self.api("PUT", "sys/policies/acl/" + policy_name, {"policy": json.dumps(policy)},
                 status=(200, 204))
        return self.api("POST", "auth/token/create",
                        {"policies": [policy_name]}).json["auth"]["client_token"]

    def key_missing(self, name):
        self.fail_code("GET", "transit/keys/" + name, None, 404, "not_found")

    def audit_entry(self, operation, path):
        """The newest audit entry of operation on path."""
        data = self.api("GET", "keyward/audit/search?operation=%s&limit=1000"
                        % operation).json["data"]
        found = [e["entry"] for e in data["entries"]
                 if e["entry"] and e["entry"]["path"] == path]
        self.assertTrue(found, "no %s entry for %s in %r" % (operation, path, data))
        return found[-1]

    def assert_digest(self, value, data):
        self.assertEqual(value, hashlib.sha256(data).hexdigest())

    # --- sign-raw ------------------------------------------------------------

    def test_sign_raw_digestinfo_verifies_as_pkcs1(self):
        name = self.name("rsa")
        self.create(name, "rsa-2048")
        pub = self.public_key(name)
        for msg, prefix, h in ((b"tls 1.2 handshake", SHA256_DIGESTINFO, hashes.SHA256()),
                               (b"legacy", SHA1_DIGESTINFO, hashes.SHA1())):
            digest = hashlib.new(h.name, msg).digest()
            di = prefix + digest
            r = self.api("POST", "keyward/sign-raw/" + name, {"input": b64(di)})
            sig = unb64(r.json["data"]["signature"])
            self.assertEqual(r.json["data"]["key_version"], 1)
            pub.verify(sig, msg, padding.PKCS1v15(), h)
        # "version" is accepted, and an unknown one refused.
        self.api("POST", "keyward/sign-raw/" + name, {"input": b64(di), "version": 1})
        self.fail_code("POST", "keyward/sign-raw/" + name, {"input": b64(di), "version": 7},
                       400, "bad_key_version")
        entry = self.audit_entry("p11-sign-raw", "keyward/sign-raw/" + name)
        self.assertEqual(entry["result_code"], "bad_key_version")

    def test_sign_raw_audit_hashes(self):
        name = self.name("rsa")
        self.create(name, "rsa-2048")
        di = SHA256_DIGESTINFO + hashlib.sha256(b"audited").digest()
        r = self.api("POST", "keyward/sign-raw/" + name, {"input": b64(di)})
        sig = unb64(r.json["data"]["signature"])
        entry = self.audit_entry("p11-sign-raw", "keyward/sign-raw/" + name)
        self.assertEqual(entry["result_code"], "ok")
        # Found by key, as the compromise-window report looks for it.
        self.assertEqual(entry["key_name"], name)
        self.assertEqual(entry["key_version"], 1)
        self.assert_digest(entry["input_sha256"], di)
        self.assert_digest(entry["output_sha256"], sig)

    def test_sign_raw_refusals(self):
        rsa_name, ec_name = self.name("rsa"), self.name("ec")
        self.create(rsa_name, "rsa-2048")
        self.create(ec_name, "ecdsa-p256")
        di = SHA256_DIGESTINFO + hashlib.sha256(b"x").digest()
        self.fail_code("POST", "keyward/sign-raw/" + ec_name, {"input": b64(di)}, 400,
                       "wrong_key_type")
        self.fail_code("POST", "keyward/sign-raw/missing-key", {"input": b64(di)}, 404,
                       "not_found")
        # Arbitrary bytes need the .../any grant; a transit grant is not enough.
        tok = self.token(self.name("pol"), {"keyward/sign-raw/" + rsa_name: ["update"],
                                            "transit/sign/" + rsa_name: ["update"]})
        self.api("POST", "keyward/sign-raw/" + rsa_name, {"input": b64(di)}, token=tok)
        self.fail_code("POST", "keyward/sign-raw/" + rsa_name, {"input": b64(b"\x01" * 36)},
                       403, "permission_denied", token=tok)
        tok_any = self.token(self.name("pol-any"),
                             {"keyward/sign-raw/" + rsa_name: ["update"],
                              "keyward/sign-raw/%s/any" % rsa_name: ["update"]})
        r = self.api("POST", "keyward/sign-raw/" + rsa_name, {"input": b64(b"\x01" * 36)},
                     token=tok_any)
        pub = self.public_key(rsa_name)
        self.assertEqual(pub.recover_data_from_signature(
            unb64(r.json["data"]["signature"]), padding.PKCS1v15(), None), b"\x01" * 36)
        other = self.token(self.name("pol-other"), {"transit/sign/" + rsa_name: ["update"]})
        self.fail_code("POST", "keyward/sign-raw/" + rsa_name, {"input": b64(di)}, 403,
                       "permission_denied", token=other)
        self.fail_code("POST", "keyward/sign-raw/" + rsa_name, {"input": "%%%"}, 400,
                       "bad_base64")
        self.fail_code("POST", "keyward/sign-raw/" + rsa_name, {"input": b64(b"\x00" * 300)},
                       400, "invalid_request")

    # --- decrypt -------------------------------------------------------------

    def test_decrypt_oaep_variants(self):
        name = self.name("rsa")
        self.create(name, "rsa-2048")
        pub = self.public_key(name)
        cases = [
            ({}, padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None)),
            ({"hash": "sha1"}, padding.OAEP(padding.MGF1(hashes.SHA1()), hashes.SHA1(), None)),
            ({"hash": "sha384", "mgf_hash": "sha1", "label": b64(b"ctx")},
             padding.OAEP(padding.MGF1(hashes.SHA1()), hashes.SHA384(), b"ctx")),
            ({"hash": "sha512", "label": b64(b"L" * 40)},
             padding.OAEP(padding.MGF1(hashes.SHA512()), hashes.SHA512(), b"L" * 40)),
            ({"hash": "sha224"}, padding.OAEP(padding.MGF1(hashes.SHA224()), hashes.SHA224(),
                                              None)),
        ]
        for params, pad in cases:
            msg = os.urandom(20)
            body = {"ciphertext": b64(pub.encrypt(msg, pad)), "padding": "oaep"}
            body.update(params)
            r = self.api("POST", "keyward/decrypt/" + name, body)
            self.assertEqual(unb64(r.json["data"]["plaintext"]), msg, params)
        # A wrong label fails like any other bad ciphertext.
        ct = pub.encrypt(b"m", padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(),
                                            b"right"))
        r = self.fail_code("POST", "keyward/decrypt/" + name,
                           {"ciphertext": b64(ct), "padding": "oaep", "label": b64(b"wrong")},
                           400, "decryption_failed")
        r2 = self.fail_code("POST", "keyward/decrypt/" + name,
                            {"ciphertext": b64(os.urandom(256)), "padding": "oaep"}, 400,
                            "decryption_failed")
        self.assertEqual(r.errors(), r2.errors())

    def test_decrypt_pkcs1v15_implicit_rejection(self):
        name = self.name("rsa")
        self.create(name, "rsa-2048")
        pub = self.public_key(name)
        for n in (0, 1, 48, 245):
            msg = os.urandom(n)
            r = self.api("POST", "keyward/decrypt/" + name,
                         {"ciphertext": b64(pub.encrypt(msg, padding.PKCS1v15())),
                          "padding": "pkcs1v15"})
            self.assertEqual(unb64(r.json["data"]["plaintext"]), msg)
        # A bad padding is no error: a synthetic message, the same every time.
        bogus = b"\x00" + os.urandom(255)
        a = self.api("POST", "keyward/decrypt/" + name,
                     {"ciphertext": b64(bogus), "padding": "pkcs1v15"}).json["data"]
        b = self.api("POST", "keyward/decrypt/" + name,
                     {"ciphertext": b64(bogus), "padding": "pkcs1v15"}).json["data"]
        self.assertEqual(a["plaintext"], b["plaintext"])
        self.fail_code("POST", "keyward/decrypt/" + name,
                       {"ciphertext": b64(b"\x00" * 100), "padding": "pkcs1v15"}, 400,
                       "decryption_failed")
        self.fail_code("POST", "keyward/decrypt/" + name,
                       {"ciphertext": b64(bogus), "padding": "pkcs1v15", "hash": "sha1"}, 400,
                       "invalid_request")
        self.fail_code("POST", "keyward/decrypt/" + name,
                       {"ciphertext": b64(bogus), "padding": "raw"}, 400, "invalid_request")
        aes = self.name("aes")
        self.create(aes, "aes256-gcm96")
        self.fail_code("POST", "keyward/decrypt/" + aes,
                       {"ciphertext": b64(bogus), "padding": "pkcs1v15"}, 400, "wrong_key_type")

    # --- derive --------------------------------------------------------------

    def derived_proof(self, derived, key):
        """Encrypt with the derived key through transit; decrypt here with key."""
        pt = os.urandom(33)
        ct = self.api("POST", "transit/encrypt/" + derived,
                      {"plaintext": b64(pt)}).json["data"]["ciphertext"]
        self.assertTrue(ct.startswith("vault:v1:"))
        raw = unb64(ct[len("vault:v1:"):])
        self.assertEqual(AESGCM(key).decrypt(raw[:12], raw[12:], None), pt)

    def test_derive_ecdh_proven(self):
        for curve, ktype, kdf, h in ((ec.SECP256R1(), "ecdsa-p256", "null", None),
                                     (ec.SECP384R1(), "ecdsa-p384", "sha384", hashes.SHA384()),
                                     (ec.SECP521R1(), "ecdsa-p521", "sha256", hashes.SHA256())):
            name = self.name(ktype)
            self.create(name, ktype)
            ours = self.public_key(name)
            peer = ec.generate_private_key(curve)
            shared = peer.exchange(ec.ECDH(), ours)
            point = peer.public_key().public_bytes(serialization.Encoding.X962,
                                                   serialization.PublicFormat.UncompressedPoint)
            spki = peer.public_key().public_bytes(serialization.Encoding.DER,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo)
            for form, peer_bytes in (("point", point), ("spki", spki)):
                derived = self.name("%s-%s" % (ktype, form))
                body = {"peer_public_key": b64(peer_bytes), "derived_name": derived,
                        "derived_type": "aes256-gcm96", "kdf": kdf, "pkcs11_id": "c0ffee"}
                if h is not None:
                    body["shared_info"] = b64(b"info")
                info = self.api("POST", "keyward/derive/" + name, body).json["data"]
                self.assertEqual(info["name"], derived)
                self.assertEqual(info["type"], "aes256-gcm96")
                self.assertFalse(info["exportable"])
                self.assertEqual(info["pkcs11_id"], "c0ffee")
                self.assertEqual(info["source_version"], 1)
                if h is None:
                    key = shared[:32]
                else:
                    key = X963KDF(algorithm=h, length=32, sharedinfo=b"info").derive(shared)
                self.derived_proof(derived, key)
                self.fail_code("GET", "transit/export/encryption-key/" + derived, None, 400,
                               "not_exportable")
        entry = self.audit_entry("p11-derive", "keyward/derive/" + name)
        self.assert_digest(entry["input_sha256"], spki)

    def test_derive_refusals_change_nothing(self):
        name, rsa_name = self.name("ec"), self.name("rsa")
        self.create(name, "ecdsa-p256")
        self.create(rsa_name, "rsa-2048")
        peer = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        other_curve = ec.generate_private_key(ec.SECP384R1()).public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        new = self.name("new")
        base = {"peer_public_key": b64(peer), "derived_name": new, "derived_type": "aes256-gcm96"}
        off_curve = bytearray(peer)
        off_curve[-1] ^= 1
        for body, status, code, path in (
                (dict(base, peer_public_key=b64(bytes(off_curve))), 400, "invalid_request", name),
                (dict(base, peer_public_key=b64(other_curve)), 400, "invalid_request", name),
                (dict(base, derived_type="rsa-2048"), 400, "unsupported", name),
                (dict(base, kdf="md5"), 400, "unsupported", name),
                (dict(base, derived_name="bad/name"), 400, "invalid_request", name),
                (dict(base, pkcs11_id="00" * 65), 400, "invalid_request", name),
                (base, 400, "wrong_key_type", rsa_name)):
            self.fail_code("POST", "keyward/derive/" + path, body, status, code)
            self.key_missing(new)
        # Policy: the derive path alone is not enough; create on the new key is needed.
        tok = self.token(self.name("pol"), {"keyward/derive/" + name: ["update"]})
        self.fail_code("POST", "keyward/derive/" + name, base, 403, "permission_denied",
                       token=tok)
        self.key_missing(new)
        tok2 = self.token(self.name("pol2"), {"keyward/derive/" + name: ["update"],
                                              "transit/keys/" + new: ["create"]})
        self.api("POST", "keyward/derive/" + name, base, token=tok2)
        # A second derive into the same name is refused and changes nothing.
        self.fail_code("POST", "keyward/derive/" + name, base, 400, "already_exists")

    # --- AES modes -----------------------------------------------------------

    def test_cipher_modes_match_python(self):
        name = self.name("aes")
        self.create(name, "aes256-gcm96", exportable=True)
        key = self.exported(name)
        iv16, data = os.urandom(16), os.urandom(64)

        def run(body):
            r = self.api("POST", "keyward/cipher/" + name, body)
            return r.json["data"]

        for mode, pymode, pad in (("cbc", modes.CBC(iv16), False),
                                  ("cbc-pad", modes.CBC(iv16), True),
                                  ("ctr", modes.CTR(iv16), False),
                                  ("ecb", modes.ECB(), False)):
            pt = data[:37] if pad or mode == "ctr" else data
            body = {"operation": "encrypt", "mode": mode, "input": b64(pt)}
            if mode != "ecb":
                body["iv"] = b64(iv16)
            out = unb64(run(body)["output"])
            enc = Cipher(algorithms.AES(key), pymode).encryptor()
            padded = pt
            if pad:
                p = sympad.PKCS7(128).padder()
                padded = p.update(pt) + p.finalize()
            self.assertEqual(out, enc.update(padded) + enc.finalize(), mode)
            back = run(dict(body, operation="decrypt", input=b64(out)))
            self.assertEqual(unb64(back["output"]), pt, mode)
        for tag_bits in (128, 96):
            iv, aad = os.urandom(12), b"header"
            out = unb64(run({"operation": "encrypt", "mode": "gcm", "iv": b64(iv),
                             "aad": b64(aad), "tag_bits": tag_bits,
                             "input": b64(data)})["output"])
            tag_len = tag_bits // 8
            self.assertEqual(len(out), len(data) + tag_len)
            enc = Cipher(algorithms.AES(key), modes.GCM(iv)).encryptor()
            enc.authenticate_additional_data(aad)
            ct = enc.update(data) + enc.finalize()
            self.assertEqual(out, ct + enc.tag[:tag_len])
            back = run({"operation": "decrypt", "mode": "gcm", "iv": b64(iv), "aad": b64(aad),
                        "tag_bits": tag_bits, "input": b64(out)})
            self.assertEqual(unb64(back["output"]), data)
        # No IV: keyward picks one and returns it.
        res = run({"operation": "encrypt", "mode": "gcm", "input": b64(data)})
        iv = unb64(res["iv"])
        self.assertEqual(AESGCM(key).decrypt(iv, unb64(res["output"]), None), data)
        entry = self.audit_entry("p11-cipher", "keyward/cipher/" + name)
        self.assert_digest(entry["input_sha256"], data)
        self.assert_digest(entry["output_sha256"], unb64(res["output"]))

    def test_cipher_refusals(self):
        name, hmac_name = self.name("aes"), self.name("hmac")
        self.create(name, "aes128-gcm96")
        self.create(hmac_name, "hmac")
        blk = b64(b"\x00" * 16)
        for body, code in (({"operation": "encrypt", "mode": "cbc", "iv": blk,
                             "input": b64(b"\x00" * 15)}, "invalid_request"),
                           ({"operation": "encrypt", "mode": "cbc", "input": blk},
                            "invalid_request"),
                           ({"operation": "encrypt", "mode": "ecb", "iv": blk, "input": blk},
                            "invalid_request"),
                           ({"operation": "encrypt", "mode": "ofb", "iv": blk, "input": blk},
                            "invalid_request"),
                           ({"operation": "encrypt", "mode": "gcm", "tag_bits": 64,
                             "input": blk}, "invalid_request"),
                           ({"operation": "decrypt", "mode": "gcm", "iv": b64(b"\x00" * 12),
                             "input": b64(b"\x00" * 32)}, "decryption_failed"),
                           ({"operation": "decrypt", "mode": "cbc-pad", "iv": blk,
                             "input": b64(b"\x00" * 16)}, "decryption_failed")):
            self.fail_code("POST", "keyward/cipher/" + name, body, 400, code)
        self.fail_code("POST", "keyward/cipher/" + hmac_name,
                       {"operation": "encrypt", "mode": "ecb", "input": blk}, 400,
                       "wrong_key_type")
        # ECB is its own grant.
        tok = self.token(self.name("pol"), {"keyward/cipher/" + name: ["update"]})
        self.api("POST", "keyward/cipher/" + name,
                 {"operation": "encrypt", "mode": "cbc", "iv": blk, "input": blk}, token=tok)
        self.fail_code("POST", "keyward/cipher/" + name,
                       {"operation": "encrypt", "mode": "ecb", "input": blk}, 403,
                       "permission_denied", token=tok)
        tok_ecb = self.token(self.name("pol-ecb"),
                             {"keyward/cipher/" + name: ["update"],
                              "keyward/cipher/%s/ecb" % name: ["update"]})
        self.api("POST", "keyward/cipher/" + name,
                 {"operation": "encrypt", "mode": "ecb", "input": blk}, token=tok_ecb)
        entry = self.audit_entry("p11-cipher", "keyward/cipher/" + name)
        self.assertEqual(entry["result_code"], "ok")

    # --- wrap / unwrap -------------------------------------------------------

    def test_wrap_unwrap_round_trip(self):
        kek, target = self.name("kek"), self.name("target")
        self.create(kek, "aes256-gcm96", exportable=True)
        self.create(target, "aes128-gcm96", exportable=True)
        kek_bytes, target_bytes = self.exported(kek), self.exported(target)
        for mode, unwrap in (("kwp", keywrap.aes_key_unwrap_with_padding),
                             ("kw", keywrap.aes_key_unwrap)):
            r = self.api("POST", "keyward/wrap/" + kek, {"key": target, "mode": mode})
            wrapped = unb64(r.json["data"]["wrapped"])
            self.assertEqual(unwrap(kek_bytes, wrapped), target_bytes)
            new = self.name("unwrapped-" + mode)
            info = self.api("POST", "keyward/unwrap/" + kek,
                            {"wrapped": b64(wrapped), "mode": mode, "derived_name": new,
                             "derived_type": "aes128-gcm96", "pkcs11_id": "01"}).json["data"]
            self.assertFalse(info["exportable"])
            self.assertEqual(info["pkcs11_id"], "01")
            self.derived_proof(new, target_bytes)
        # Python-wrapped EC private key (PKCS#8) unwraps into an EC key.
        priv = ec.generate_private_key(ec.SECP256R1())
        der = priv.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())
        ec_name = self.name("ec")
        self.api("POST", "keyward/unwrap/" + kek,
                 {"wrapped": b64(keywrap.aes_key_wrap_with_padding(kek_bytes, der)),
                  "derived_name": ec_name, "derived_type": "ecdsa-p256"})
        self.assertEqual(self.public_key(ec_name).public_numbers(),
                         priv.public_key().public_numbers())
        entry = self.audit_entry("p11-wrap", "keyward/wrap/" + kek)
        self.assert_digest(entry["output_sha256"], wrapped)

    def test_wrap_refusals(self):
        kek, secret, rsa_name = self.name("kek"), self.name("secret"), self.name("rsa")
        self.create(kek, "aes256-gcm96")
        self.create(secret, "aes256-gcm96")
        self.create(rsa_name, "rsa-2048", exportable=True)
        self.fail_code("POST", "keyward/wrap/" + kek, {"key": secret}, 400, "not_exportable")
        self.fail_code("POST", "keyward/wrap/" + rsa_name, {"key": secret}, 400,
                       "wrong_key_type")
        self.fail_code("POST", "keyward/wrap/" + kek, {"key": "no-such-key"}, 404, "not_found")
        self.fail_code("POST", "keyward/wrap/" + kek, {"key": secret, "mode": "x"}, 400,
                       "invalid_request")
        # Wrapping exports the target: read on keyward/wrapped/<target> is needed.
        tok = self.token(self.name("pol"), {"keyward/wrap/" + kek: ["update"]})
        self.fail_code("POST", "keyward/wrap/" + kek, {"key": rsa_name}, 403,
                       "permission_denied", token=tok)
        new = self.name("new")
        for body, code in (({"wrapped": b64(os.urandom(40)), "derived_name": new,
                             "derived_type": "aes256-gcm96"}, "decryption_failed"),
                           ({"wrapped": b64(os.urandom(7)), "derived_name": new,
                             "derived_type": "aes256-gcm96"}, "decryption_failed"),
                           ({"wrapped": b64(os.urandom(40)), "derived_name": new,
                             "derived_type": "nope"}, "invalid_request")):
            self.fail_code("POST", "keyward/unwrap/" + kek, body, 400, code)
            self.key_missing(new)

    # --- CKA_ID --------------------------------------------------------------

    def test_pkcs11_id_on_create_and_read(self):
        name = self.name("k")
        info = self.create(name, "ecdsa-p256", pkcs11_id="A1B2c3")
        self.assertEqual(info["pkcs11_id"], "a1b2c3")
        plain = self.name("plain")
        self.assertEqual(self.create(plain, "aes256-gcm96")["pkcs11_id"], "")
        bad = self.name("bad")
        self.fail_code("POST", "transit/keys/" + bad, {"type": "aes256-gcm96",
                                                       "pkcs11_id": "00" * 65}, 400,
                       "invalid_request")
        self.fail_code("POST", "transit/keys/" + bad, {"type": "aes256-gcm96",
                                                       "pkcs11_id": "xyz"}, 400,
                       "invalid_request")
        self.key_missing(bad)
        # Still usable: the id is part of the versions' associated data.
        self.api("POST", "transit/sign/" + name, {"input": b64(b"with an id")})
        self.assertEqual(self.api("GET", "transit/keys/" + name).json["data"]["pkcs11_id"],
                         "a1b2c3")

    # --- objects -------------------------------------------------------------

    def test_objects_crud(self):
        name, key = self.name("cert"), self.name("key")
        self.create(key, "ecdsa-p256", pkcs11_id="0102")
        cert = os.urandom(900)
        body = {"class": "certificate", "key": key, "id": "0102", "label": "my cert",
                "value": b64(cert), "attributes": {"CKA_CERTIFICATE_TYPE": "x509",
                                                   "subject": "CN=test"}}
        self.api("PUT", "keyward/objects/" + name, body, status=204)
        got = self.api("GET", "keyward/objects/" + name).json["data"]
        self.assertEqual(got["class"], "certificate")
        self.assertEqual(got["key"], key)
        self.assertEqual(got["id"], "0102")
        self.assertEqual(got["label"], "my cert")
        self.assertEqual(unb64(got["value"]), cert)
        self.assertEqual(got["attributes"], body["attributes"])
        listed = self.api("LIST", "keyward/objects").json["data"]["keys"]
        self.assertIn(name, listed)
        # Update in place.
        self.api("PUT", "keyward/objects/" + name, dict(body, label="renamed"), status=204)
        self.assertEqual(self.api("GET", "keyward/objects/" + name).json["data"]["label"],
                         "renamed")
        entry = self.audit_entry("p11-object-get", "keyward/objects/" + name)
        self.assert_digest(entry["output_sha256"], cert)
        self.api("DELETE", "keyward/objects/" + name, status=204)
        self.fail_code("GET", "keyward/objects/" + name, None, 404, "not_found")
        self.fail_code("DELETE", "keyward/objects/" + name, None, 404, "not_found")

    def test_objects_refusals(self):
        name = self.name("obj")
        for body in ({"class": "private-key", "value": b64(b"x")},
                     {"class": "data", "value": b64(b"x" * (64 * 1024 + 1))},
                     {"class": "data", "id": "00" * 65},
                     {"class": "data", "attributes": {"a": 1}},
                     {"class": "data", "attributes": ["a"]},
                     {"class": "data", "key": "bad/key"}):
            self.fail_code("PUT", "keyward/objects/" + name, body, 400, "invalid_request")
            self.fail_code("GET", "keyward/objects/" + name, None, 404, "not_found")
        tok = self.token(self.name("pol"), {"keyward/objects/" + name: ["read"]})
        self.fail_code("PUT", "keyward/objects/" + name, {"class": "data"}, 403,
                       "permission_denied", token=tok)
        self.api("PUT", "keyward/objects/" + name, {"class": "data", "value": b64(b"d")},
                 status=204)
        self.assertEqual(self.api("GET", "keyward/objects/" + name, token=tok)
                         .json["data"]["value"], b64(b"d"))
        self.fail_code("DELETE", "keyward/objects/" + name, None, 403, "permission_denied",
                       token=tok)
        self.fail_code("LIST", "keyward/objects", None, 403, "permission_denied", token=tok)


if __name__ == "__main__":
    harness.main()
