"""libkeyward-pkcs11.so against a real keywardd, through programs nobody here
wrote: OpenSC's pkcs11-tool, GnuTLS's p11tool and python3-pykcs11. Every
signature is checked with python3-cryptography from the public key the
module exposes (CKA_EC_POINT, CKA_MODULUS/CKA_PUBLIC_EXPONENT).

The module comes from <build dir>/lib/libkeyward-pkcs11.so; a missing module
or tool is a failure, never a skip."""

import hashlib
import os
import shutil
import subprocess
import tempfile
import threading

import base64
import ctypes
import datetime
import struct

import PyKCS11
from PyKCS11 import LowLevel
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, keywrap, serialization
from cryptography.hazmat.primitives import padding as sympad
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.x963kdf import X963KDF
from cryptography.x509.oid import NameOID

import harness

PIN = harness.ROOT_TOKEN
CURVES = {"ec256": ec.SECP256R1(), "ec384": ec.SECP384R1(), "py-ec": ec.SECP256R1()}


def module_path():
    path = os.path.join(harness.build_dir(), "lib", "libkeyward-pkcs11.so")
    if not os.path.exists(path):
        raise AssertionError("module not built: %s" % path)
    return path


def tool(name):
    path = shutil.which(name)
    if path is None:
        raise AssertionError("%s not installed" % name)
    return path


def der_octets(b):
    """The content of a DER OCTET STRING (CKA_EC_POINT)."""
    assert b[0] == 0x04
    if b[1] < 0x80:
        return b[2:]
    n = b[1] & 0x7F
    return b[2 + n:]


class CkAttribute(ctypes.Structure):
    _fields_ = [("type", ctypes.c_ulong), ("pValue", ctypes.c_void_p),
                ("ulValueLen", ctypes.c_ulong)]


def ctr_params(counter_bits, block):
    """CK_AES_CTR_PARAMS as bytes (PyKCS11 has no class for it)."""
    return struct.pack("=L", counter_bits) + block if ctypes.sizeof(ctypes.c_ulong) == 4 \
        else struct.pack("=Q", counter_bits) + block


def raw_to_der(sig):
    half = len(sig) // 2
    return encode_dss_signature(int.from_bytes(sig[:half], "big"),
                                int.from_bytes(sig[half:], "big"))


class Pkcs11Test(harness.KwTestCase):
    @classmethod
    def setUpClass(cls):
        cls.daemon = harness.Daemon().start()
        cls.daemons = (cls.daemon,)
        cls.module = module_path()
        cls.env = dict(os.environ, KEYWARD_ADDR=cls.daemon.url, KEYWARD_CACERT=cls.daemon.ca,
                       KEYWARD_PKCS11_CONF=os.path.join(cls.daemon.dir, "none.conf"))
        with open(cls.env["KEYWARD_PKCS11_CONF"], "w") as f:
            f.write("[server]\nlabel = it-token\n")
        os.environ.update({k: cls.env[k] for k in
                           ("KEYWARD_ADDR", "KEYWARD_CACERT", "KEYWARD_PKCS11_CONF")})
        os.environ.pop("KEYWARD_TOKEN", None)
        os.environ.pop("VAULT_TOKEN", None)
        cls.tmp = tempfile.mkdtemp(prefix="kw-p11-")
        cls.lib = PyKCS11.PyKCS11Lib()
        cls.lib.load(cls.module)
        cls.slot = cls.lib.getSlotList(tokenPresent=True)[0]
        # Key pairs made by pkcs11-tool, as a user would.
        for label, kt in (("ec256", "EC:prime256v1"), ("ec384", "EC:secp384r1"),
                          ("ed", "EC:edwards25519"), ("rsa", "rsa:2048")):
            cls.p11tool("--keypairgen", "--key-type", kt, "--label", label, login=True)

    @classmethod
    def tearDownClass(cls):
        cls.daemon.cleanup()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def p11tool(cls, *args, login=False, check=True):
        cmd = [tool("pkcs11-tool"), "--module", cls.module]
        if login:
            cmd += ["--login", "--pin", PIN]
        r = subprocess.run(cmd + list(args), env=cls.env, capture_output=True, text=True,
                           timeout=120)
        if check and r.returncode != 0:
            raise AssertionError("pkcs11-tool %s failed:\n%s%s" % (args, r.stdout, r.stderr))
        return r

    def session(self, rw=True, login=True):
        flags = PyKCS11.CKF_SERIAL_SESSION | (PyKCS11.CKF_RW_SESSION if rw else 0)
        s = self.lib.openSession(self.slot, flags)
        self.addCleanup(s.closeSession)
        if login:
            try:
                s.login(PIN)
            except PyKCS11.PyKCS11Error as e:
                if e.value != PyKCS11.CKR_USER_ALREADY_LOGGED_IN:
                    raise
        return s

    def find(self, s, label, cls):
        objs = s.findObjects([(PyKCS11.CKA_CLASS, cls), (PyKCS11.CKA_LABEL, label)])
        self.assertEqual(len(objs), 1, "%s objects labelled %s" % (len(objs), label))
        return objs[0]

    def public_key(self, s, label):
        pub = self.find(s, label, PyKCS11.CKO_PUBLIC_KEY)
        kt = s.getAttributeValue(pub, [PyKCS11.CKA_KEY_TYPE])[0]
        if kt == PyKCS11.CKK_RSA:
            n, e = s.getAttributeValue(pub, [PyKCS11.CKA_MODULUS, PyKCS11.CKA_PUBLIC_EXPONENT],
                                       allAsBinary=True)
            return rsa.RSAPublicNumbers(int.from_bytes(bytes(e), "big"),
                                        int.from_bytes(bytes(n), "big")).public_key()
        point = der_octets(bytes(s.getAttributeValue(pub, [PyKCS11.CKA_EC_POINT],
                                                     allAsBinary=True)[0]))
        if kt == PyKCS11.CKK_EC_EDWARDS:
            return ed25519.Ed25519PublicKey.from_public_bytes(point)
        return ec.EllipticCurvePublicKey.from_encoded_point(CURVES[label], point)

    def sign_file(self, mech, label, data):
        """pkcs11-tool signs; the signature bytes come back."""
        inp = os.path.join(self.tmp, "in-%s" % mech)
        out = os.path.join(self.tmp, "sig-%s" % mech)
        with open(inp, "wb") as f:
            f.write(data)
        self.p11tool("--sign", "-m", mech, "--id", label.encode().hex(), "-i", inp, "-o", out,
                     login=True)
        with open(out, "rb") as f:
            return f.read()

    # --- pkcs11-tool -------------------------------------------------------

    def test_pkcs11_tool_lists_slots_mechanisms_objects(self):
        slots = self.p11tool("-L").stdout
        self.assertIn("it-token", slots)
        mechs = self.p11tool("-M").stdout
        for m in ("ECDSA-SHA256", "EDDSA", "SHA256-RSA-PKCS-PSS", "RSA-PKCS-KEY-PAIR-GEN",
                  "EC-EDWARDS-KEY-PAIR-GEN", "SHA256"):
            self.assertIn(m, mechs)
        objs = self.p11tool("-O", login=True).stdout
        for label in ("ec256", "ec384", "ed", "rsa"):
            self.assertIn("label:      %s" % label, objs)
        self.assertIn("never extractable", objs)

    def test_pkcs11_tool_ecdsa_sha256_sha384(self):
        s = self.session()
        msg = b"sign me with ecdsa"
        for mech, label, h in (("ECDSA-SHA256", "ec256", hashes.SHA256()),
                               ("ECDSA-SHA384", "ec384", hashes.SHA384())):
            sig = self.sign_file(mech, label, msg)
            self.assertEqual(len(sig), 64 if label == "ec256" else 96)
            self.public_key(s, label).verify(raw_to_der(sig), msg, ec.ECDSA(h))

    def test_pkcs11_tool_ecdsa_prehashed(self):
        s = self.session()
        digest = hashlib.sha256(b"prehashed message").digest()
        sig = self.sign_file("ECDSA", "ec256", digest)
        from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
        self.public_key(s, "ec256").verify(raw_to_der(sig), digest,
                                           ec.ECDSA(Prehashed(hashes.SHA256())))

    def test_pkcs11_tool_eddsa(self):
        s = self.session()
        msg = b"ed25519 message"
        sig = self.sign_file("EDDSA", "ed", msg)
        self.assertEqual(len(sig), 64)
        self.public_key(s, "ed").verify(sig, msg)

    def test_pkcs11_tool_rsa_pkcs_and_pss(self):
        s = self.session()
        msg = b"rsa message"
        pub = self.public_key(s, "rsa")
        sig = self.sign_file("SHA256-RSA-PKCS", "rsa", msg)
        pub.verify(sig, msg, padding.PKCS1v15(), hashes.SHA256())
        sig = self.sign_file("SHA256-RSA-PKCS-PSS", "rsa", msg)
        pub.verify(sig, msg, padding.PSS(padding.MGF1(hashes.SHA256()), 32), hashes.SHA256())
        with self.assertRaises(InvalidSignature):
            pub.verify(sig, msg + b"!", padding.PSS(padding.MGF1(hashes.SHA256()), 32),
                       hashes.SHA256())

    def test_pkcs11_tool_test_run_passes(self):
        """OpenSC's own self-test: random, digests, the four signature
        functions and their length conventions, verification."""
        r = self.p11tool("--test", login=True)
        out = r.stdout
        self.assertIn("No errors", out, out + r.stderr)
        self.assertNotIn("ERR:", out)
        self.assertIn("all 4 digest functions seem to work", out)
        self.assertIn("all 4 signature functions seem to work", out)
        self.assertNotIn("Signatures: not implemented", out)
        self.assertRegex(out, r"RSA-PKCS: OK")

    # --- p11tool -----------------------------------------------------------

    def test_p11tool_test_sign(self):
        env = dict(self.env, GNUTLS_PIN=PIN)
        for label, algo in (("ec256", "ECDSA"), ("rsa", "RSA")):
            with self.subTest(label=label):
                r = subprocess.run([tool("p11tool"), "--provider", self.module, "--login",
                                    "--test-sign",
                                    "pkcs11:token=it-token;object=%s;type=private" % label],
                                   env=env, capture_output=True, text=True, timeout=120)
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                text = r.stdout + r.stderr
                self.assertIn("Signing using %s" % algo, text)
                self.assertIn("Verifying against public key in the token... ok", text)
                self.assertNotIn("failed", text.lower())

    def test_p11tool_list_all(self):
        env = dict(self.env, GNUTLS_PIN=PIN)
        r = subprocess.run([tool("p11tool"), "--provider", self.module, "--list-all", "--login",
                            "pkcs11:token=it-token"], env=env, capture_output=True, text=True,
                           timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        for label in ("ec256", "ec384", "ed", "rsa"):
            self.assertIn("Label: %s" % label, r.stdout)
        self.assertIn("CKA_NEVER_EXTRACTABLE", r.stdout)

    # --- PyKCS11 -----------------------------------------------------------

    def test_pykcs11_generate_sign_verify(self):
        s = self.session()
        pub_t = [(PyKCS11.CKA_TOKEN, True), (PyKCS11.CKA_LABEL, "py-ec"),
                 (PyKCS11.CKA_EC_PARAMS, bytes.fromhex("06082a8648ce3d030107")),
                 (PyKCS11.CKA_VERIFY, True)]
        priv_t = [(PyKCS11.CKA_TOKEN, True), (PyKCS11.CKA_LABEL, "py-ec"),
                  (PyKCS11.CKA_SIGN, True), (PyKCS11.CKA_SENSITIVE, True)]
        pub, priv = s.generateKeyPair(pub_t, priv_t,
                                      mecha=PyKCS11.Mechanism(PyKCS11.CKM_EC_KEY_PAIR_GEN))
        msg = b"pykcs11 message"
        sig = bytes(s.sign(priv, msg, PyKCS11.Mechanism(PyKCS11.CKM_ECDSA_SHA256)))
        self.public_key(s, "py-ec").verify(raw_to_der(sig), msg, ec.ECDSA(hashes.SHA256()))
        self.assertTrue(s.verify(pub, msg, sig, PyKCS11.Mechanism(PyKCS11.CKM_ECDSA_SHA256)))
        self.assertFalse(s.verify(pub, msg + b"x", sig,
                                  PyKCS11.Mechanism(PyKCS11.CKM_ECDSA_SHA256)))

    def test_pykcs11_rsa_pss_params_and_oaep_encrypt(self):
        s = self.session()
        priv = self.find(s, "rsa", PyKCS11.CKO_PRIVATE_KEY)
        pubobj = self.find(s, "rsa", PyKCS11.CKO_PUBLIC_KEY)
        digest = hashlib.sha256(b"pss prehashed").digest()
        mech = PyKCS11.RSA_PSS_Mechanism(PyKCS11.CKM_RSA_PKCS_PSS, PyKCS11.CKM_SHA256,
                                         PyKCS11.CKG_MGF1_SHA256, 20)
        sig = bytes(s.sign(priv, digest, mech))
        from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
        self.public_key(s, "rsa").verify(sig, digest,
                                         padding.PSS(padding.MGF1(hashes.SHA256()), 20),
                                         Prehashed(hashes.SHA256()))
        oaep = PyKCS11.RSAOAEPMechanism(PyKCS11.CKM_SHA256, PyKCS11.CKG_MGF1_SHA256)
        ct = bytes(s.encrypt(pubobj, b"secret", oaep))
        self.assertEqual(len(ct), 256)
        self.assertEqual(bytes(s.decrypt(priv, ct, oaep)), b"secret")

    def test_pykcs11_digest_and_random(self):
        s = self.session()
        d = bytes(s.digest(b"abc", PyKCS11.Mechanism(PyKCS11.CKM_SHA384)))
        self.assertEqual(d, hashlib.sha384(b"abc").digest())
        r = bytes(s.generateRandom(64))
        self.assertEqual(len(r), 64)
        self.assertNotEqual(r, bytes(64))

    def test_non_extractable(self):
        s = self.session()
        for label in ("ec256", "rsa", "ed"):
            priv = self.find(s, label, PyKCS11.CKO_PRIVATE_KEY)
            attrs = s.getAttributeValue(priv, [PyKCS11.CKA_SENSITIVE, PyKCS11.CKA_EXTRACTABLE,
                                               PyKCS11.CKA_NEVER_EXTRACTABLE,
                                               PyKCS11.CKA_ALWAYS_SENSITIVE])
            self.assertEqual(attrs, [True, False, True, True])
            attr = PyKCS11.CKA_PRIVATE_EXPONENT if label == "rsa" else PyKCS11.CKA_VALUE
            t = PyKCS11.LowLevel.ckattrlist(1)
            t[0].SetType(attr)
            rv = self.lib.lib.C_GetAttributeValue(s.session, priv, t)
            self.assertEqual(rv, PyKCS11.CKR_ATTRIBUTE_SENSITIVE)

    def test_sixteen_threads_sign(self):
        msg = b"threaded"
        pub = self.public_key(self.session(), "ec256")
        errors = []

        def worker():
            try:
                s = self.session(login=True)
                priv = self.find(s, "ec256", PyKCS11.CKO_PRIVATE_KEY)
                for _ in range(5):
                    sig = bytes(s.sign(priv, msg, PyKCS11.Mechanism(PyKCS11.CKM_ECDSA_SHA256)))
                    pub.verify(raw_to_der(sig), msg, ec.ECDSA(hashes.SHA256()))
            except Exception as e:  # reported below
                errors.append(repr(e))

        threads = [threading.Thread(target=worker) for _ in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])

    def test_forked_child_initializes_again(self):
        self.session()  # the parent has live connections
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                os.close(r)
                try:
                    self.lib.openSession(self.slot)
                    code = 2  # the parent's state must not be usable here
                except PyKCS11.PyKCS11Error as e:
                    if e.value == PyKCS11.CKR_CRYPTOKI_NOT_INITIALIZED:
                        code = 3
                if code == 3 and self.lib.lib.C_Initialize() == PyKCS11.CKR_OK:
                    s = self.lib.openSession(self.slot, PyKCS11.CKF_SERIAL_SESSION)
                    s.login(PIN)
                    priv = self.find(s, "ed", PyKCS11.CKO_PRIVATE_KEY)
                    sig = bytes(s.sign(priv, b"child", PyKCS11.Mechanism(PyKCS11.CKM_EDDSA)))
                    os.write(w, sig)
                    code = 0
            finally:
                os._exit(code)
        os.close(w)
        sig = os.read(r, 128)
        os.close(r)
        _, status = os.waitpid(pid, 0)
        self.assertEqual(os.waitstatus_to_exitcode(status), 0)
        self.public_key(self.session(), "ed").verify(sig, b"child")
        # The parent still works after the child's activity.
        s = self.session()
        priv = self.find(s, "ec256", PyKCS11.CKO_PRIVATE_KEY)
        s.sign(priv, b"parent", PyKCS11.Mechanism(PyKCS11.CKM_ECDSA_SHA256))


    # --- phase 2: keyward/ operations through the module -----------------------

    def rest(self, method, path, body=None):
        r = self.daemon.request(method, "/v1/" + path, body, token=PIN)
        self.assertLess(r.status, 300, "%s %s -> %r" % (method, path, r))
        return r

    def exportable_aes(self, name):
        """An exportable AES-256 key made through the API, and its bytes."""
        self.rest("POST", "transit/keys/" + name, {"type": "aes256-gcm96", "exportable": True})
        data = self.rest("GET", "transit/export/encryption-key/%s/1" % name).json["data"]
        return base64.b64decode(data["keys"]["1"])

    def secret(self, s, label):
        return self.find(s, label, PyKCS11.CKO_SECRET_KEY)

    def gcm_proof(self, s, key, raw):
        """Encrypt with AES-GCM through the module; decrypt here with raw."""
        iv, aad, pt = os.urandom(12), b"aad", os.urandom(45)
        ct = bytes(s.encrypt(key, pt, PyKCS11.AES_GCM_Mechanism(iv, aad, 128)))
        self.assertEqual(AESGCM(raw).decrypt(iv, ct, aad), pt)

    def test_pykcs11_rsa_pkcs_sign_any_input(self):
        s = self.session()
        priv = self.find(s, "rsa", PyKCS11.CKO_PRIVATE_KEY)
        pub = self.public_key(s, "rsa")
        mech = PyKCS11.Mechanism(PyKCS11.CKM_RSA_PKCS)
        # TLS 1.0's MD5||SHA-1: not a DigestInfo (the root token may).
        raw = os.urandom(36)
        sig = bytes(s.sign(priv, raw, mech))
        self.assertEqual(pub.recover_data_from_signature(sig, padding.PKCS1v15(), None), raw)
        di = bytes.fromhex("3031300d060960864801650304020105000420") + \
            hashlib.sha256(b"m").digest()
        pub.verify(bytes(s.sign(priv, di, mech)), b"m", padding.PKCS1v15(), hashes.SHA256())
        with self.assertRaises(PyKCS11.PyKCS11Error) as cm:
            s.sign(priv, bytes(246), mech)
        self.assertEqual(cm.exception.value, PyKCS11.CKR_DATA_LEN_RANGE)

    def test_pykcs11_decrypt_oaep_and_pkcs1(self):
        s = self.session()
        priv = self.find(s, "rsa", PyKCS11.CKO_PRIVATE_KEY)
        pub = self.public_key(s, "rsa")
        for h, ph, mgf, label in ((PyKCS11.CKM_SHA256, hashes.SHA256(), PyKCS11.CKG_MGF1_SHA256,
                                   b"ctx"),
                                  (PyKCS11.CKM_SHA_1, hashes.SHA1(), PyKCS11.CKG_MGF1_SHA1, None),
                                  (PyKCS11.CKM_SHA384, hashes.SHA384(), PyKCS11.CKG_MGF1_SHA1,
                                   None)):
            msg = os.urandom(32)
            mgf_hash = {PyKCS11.CKG_MGF1_SHA256: hashes.SHA256()}.get(mgf, hashes.SHA1())
            ct = pub.encrypt(msg, padding.OAEP(padding.MGF1(mgf_hash), ph, label))
            mech = PyKCS11.RSAOAEPMechanism(h, mgf, label)
            self.assertEqual(bytes(s.decrypt(priv, ct, mech)), msg)
        # A wrong label is an invalid ciphertext, like any other failure.
        ct = pub.encrypt(b"x", padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(),
                                            b"right"))
        with self.assertRaises(PyKCS11.PyKCS11Error) as cm:
            s.decrypt(priv, ct, PyKCS11.RSAOAEPMechanism(PyKCS11.CKM_SHA256,
                                                         PyKCS11.CKG_MGF1_SHA256, b"wrong"))
        self.assertEqual(cm.exception.value, PyKCS11.CKR_ENCRYPTED_DATA_INVALID)
        msg = os.urandom(50)
        ct = pub.encrypt(msg, padding.PKCS1v15())
        self.assertEqual(bytes(s.decrypt(priv, ct, PyKCS11.Mechanism(PyKCS11.CKM_RSA_PKCS))),
                         msg)

    def derive(self, s, priv, point, kdf, shared, label, extra=()):
        template = [(PyKCS11.CKA_CLASS, PyKCS11.CKO_SECRET_KEY),
                    (PyKCS11.CKA_KEY_TYPE, PyKCS11.CKK_AES), (PyKCS11.CKA_VALUE_LEN, 32),
                    (PyKCS11.CKA_LABEL, label), (PyKCS11.CKA_ID, b"\xd1"),
                    (PyKCS11.CKA_TOKEN, True), (PyKCS11.CKA_ENCRYPT, True)] + list(extra)
        return s.deriveKey(priv, template, PyKCS11.ECDH1_DERIVE_Mechanism(point, kdf, shared))

    def test_pykcs11_ecdh_derive_proven(self):
        s = self.session()
        priv = self.find(s, "ec256", PyKCS11.CKO_PRIVATE_KEY)
        ours = self.public_key(s, "ec256")
        peer = ec.generate_private_key(ec.SECP256R1())
        point = peer.public_key().public_bytes(serialization.Encoding.X962,
                                               serialization.PublicFormat.UncompressedPoint)
        shared = peer.exchange(ec.ECDH(), ours)
        for kdf, info, label, key in (
                (PyKCS11.CKD_NULL, None, "ecdh-null", shared[:32]),
                (PyKCS11.CKD_SHA256_KDF, b"info", "ecdh-sha256",
                 X963KDF(algorithm=hashes.SHA256(), length=32, sharedinfo=b"info")
                 .derive(shared))):
            h = self.derive(s, priv, point, kdf, info, label)
            attrs = s.getAttributeValue(h, [PyKCS11.CKA_SENSITIVE, PyKCS11.CKA_EXTRACTABLE,
                                            PyKCS11.CKA_LABEL, PyKCS11.CKA_ID])
            self.assertEqual(attrs[:3], [True, False, label])
            self.assertEqual(bytes(attrs[3]), b"\xd1")
            self.gcm_proof(s, h, key)
        # The same peer as CKA_EC_POINT holds it (a DER OCTET STRING), exportable.
        h = self.derive(s, priv, bytes([4, len(point)]) + point, PyKCS11.CKD_NULL, None,
                        "ecdh-der", [(PyKCS11.CKA_EXTRACTABLE, True)])
        self.assertEqual(s.getAttributeValue(h, [PyKCS11.CKA_EXTRACTABLE])[0], True)
        self.gcm_proof(s, h, shared[:32])
        # Non-sensitive keys cannot be honoured; an existing label is refused.
        for extra, label, code in (([(PyKCS11.CKA_SENSITIVE, False)], "ecdh-x",
                                    PyKCS11.CKR_TEMPLATE_INCONSISTENT),
                                   ([], "ecdh-null", PyKCS11.CKR_ATTRIBUTE_VALUE_INVALID)):
            with self.assertRaises(PyKCS11.PyKCS11Error) as cm:
                self.derive(s, priv, point, PyKCS11.CKD_NULL, None, label, extra)
            self.assertEqual(cm.exception.value, code)

    def test_pykcs11_aes_modes_against_python(self):
        s = self.session()
        raw = self.exportable_aes("aes-modes")
        key = self.secret(s, "aes-modes")
        iv, data = os.urandom(16), os.urandom(70)
        for mech, pymode, pad, pt in (
                (PyKCS11.Mechanism(PyKCS11.CKM_AES_CBC, iv), modes.CBC(iv), False, data[:64]),
                (PyKCS11.Mechanism(PyKCS11.CKM_AES_CBC_PAD, iv), modes.CBC(iv), True, data),
                (PyKCS11.Mechanism(PyKCS11.CKM_AES_CTR, ctr_params(128, iv)), modes.CTR(iv),
                 False, data),
                (PyKCS11.Mechanism(PyKCS11.CKM_AES_ECB), modes.ECB(), False, data[:32])):
            padded = pt
            if pad:
                p = sympad.PKCS7(128).padder()
                padded = p.update(pt) + p.finalize()
            enc = Cipher(algorithms.AES(raw), pymode).encryptor()
            want = enc.update(padded) + enc.finalize()
            self.assertEqual(bytes(s.encrypt(key, pt, mech)), want, mech)
            self.assertEqual(bytes(s.decrypt(key, want, mech)), pt, mech)
        gcm_iv = os.urandom(12)
        for tag_bits in (128, 96):
            ct = bytes(s.encrypt(key, data, PyKCS11.AES_GCM_Mechanism(gcm_iv, b"hdr", tag_bits)))
            enc = Cipher(algorithms.AES(raw), modes.GCM(gcm_iv)).encryptor()
            enc.authenticate_additional_data(b"hdr")
            self.assertEqual(ct, enc.update(data) + enc.finalize() + enc.tag[:tag_bits // 8])
            self.assertEqual(bytes(s.decrypt(key, ct, PyKCS11.AES_GCM_Mechanism(
                gcm_iv, b"hdr", tag_bits))), data)
        # A bad tag is an invalid ciphertext.
        bad = bytearray(ct)
        bad[-1] ^= 1
        with self.assertRaises(PyKCS11.PyKCS11Error) as cm:
            s.decrypt(key, bytes(bad), PyKCS11.AES_GCM_Mechanism(gcm_iv, b"hdr", 96))
        self.assertEqual(cm.exception.value, PyKCS11.CKR_ENCRYPTED_DATA_INVALID)
        # Multi-part: parts give nothing, the final call everything.
        ll = self.lib.lib
        m = PyKCS11.Mechanism(PyKCS11.CKM_AES_CBC_PAD, iv)
        self.assertEqual(ll.C_EncryptInit(s.session, m.to_native(), key), PyKCS11.CKR_OK)
        out = PyKCS11.ckbytelist()
        for part in (data[:10], data[10:50], data[50:]):
            self.assertEqual(ll.C_EncryptUpdate(s.session, PyKCS11.ckbytelist(part), out),
                             PyKCS11.CKR_OK)
        last = PyKCS11.ckbytelist()
        self.assertEqual(ll.C_EncryptFinal(s.session, last), PyKCS11.CKR_OK)  # length
        self.assertEqual(ll.C_EncryptFinal(s.session, last), PyKCS11.CKR_OK)
        p = sympad.PKCS7(128).padder()
        enc = Cipher(algorithms.AES(raw), modes.CBC(iv)).encryptor()
        self.assertEqual(bytes(last), enc.update(p.update(data) + p.finalize()) + enc.finalize())

    def test_pykcs11_wrap_unwrap_round_trip(self):
        s = self.session()
        kek_raw, target_raw = self.exportable_aes("wrap-kek"), self.exportable_aes("wrap-target")
        kek, target = self.secret(s, "wrap-kek"), self.secret(s, "wrap-target")
        for ckm, unwrap, label in ((PyKCS11.CKM_AES_KEY_WRAP_PAD,
                                    keywrap.aes_key_unwrap_with_padding, "unwrapped-kwp"),
                                   (PyKCS11.CKM_AES_KEY_WRAP, keywrap.aes_key_unwrap,
                                    "unwrapped-kw")):
            mech = PyKCS11.Mechanism(ckm)
            wrapped = bytes(s.wrapKey(kek, target, mech))
            self.assertEqual(unwrap(kek_raw, wrapped), target_raw)
            new = s.unwrapKey(kek, wrapped,
                              [(PyKCS11.CKA_CLASS, PyKCS11.CKO_SECRET_KEY),
                               (PyKCS11.CKA_KEY_TYPE, PyKCS11.CKK_AES),
                               (PyKCS11.CKA_VALUE_LEN, 32), (PyKCS11.CKA_LABEL, label),
                               (PyKCS11.CKA_TOKEN, True)], mech)
            self.assertEqual(s.getAttributeValue(new, [PyKCS11.CKA_EXTRACTABLE])[0], False)
            self.gcm_proof(s, new, target_raw)
            # What was unwrapped cannot be wrapped again.
            with self.assertRaises(PyKCS11.PyKCS11Error) as cm:
                s.wrapKey(kek, new, mech)
            self.assertEqual(cm.exception.value, PyKCS11.CKR_KEY_UNEXTRACTABLE)
        with self.assertRaises(PyKCS11.PyKCS11Error) as cm:
            s.unwrapKey(kek, os.urandom(40),
                        [(PyKCS11.CKA_CLASS, PyKCS11.CKO_SECRET_KEY),
                         (PyKCS11.CKA_KEY_TYPE, PyKCS11.CKK_AES), (PyKCS11.CKA_VALUE_LEN, 32),
                         (PyKCS11.CKA_LABEL, "unwrapped-junk")],
                        PyKCS11.Mechanism(PyKCS11.CKM_AES_KEY_WRAP_PAD))
        self.assertEqual(cm.exception.value, PyKCS11.CKR_WRAPPED_KEY_INVALID)

    def test_cka_id_at_generation(self):
        s = self.session()
        pub_t = [(PyKCS11.CKA_LABEL, "with-id"), (PyKCS11.CKA_ID, b"\x01\x02\xff"),
                 (PyKCS11.CKA_EC_PARAMS, bytes.fromhex("06082a8648ce3d030107"))]
        s.generateKeyPair(pub_t, [(PyKCS11.CKA_ID, b"\x01\x02\xff")],
                          mecha=PyKCS11.Mechanism(PyKCS11.CKM_EC_KEY_PAIR_GEN))
        fresh = self.session()
        objs = fresh.findObjects([(PyKCS11.CKA_ID, b"\x01\x02\xff")])
        self.assertEqual(sorted(fresh.getAttributeValue(o, [PyKCS11.CKA_CLASS])[0]
                                for o in objs),
                         [PyKCS11.CKO_PUBLIC_KEY, PyKCS11.CKO_PRIVATE_KEY])
        info = self.rest("GET", "transit/keys/with-id").json["data"]
        self.assertEqual(info["pkcs11_id"], "0102ff")

    def copy_object(self, s, handle, label):
        """C_CopyObject (PyKCS11 lacks it) on the same loaded module: the new
        handle, or the CK_RV of a failure."""
        lib = ctypes.CDLL(self.module)
        fn = lib.C_CopyObject
        fn.argtypes = [ctypes.c_ulong, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong,
                       ctypes.POINTER(ctypes.c_ulong)]
        fn.restype = ctypes.c_ulong
        buf = ctypes.create_string_buffer((label or "").encode())
        attr = CkAttribute(PyKCS11.CKA_LABEL, ctypes.cast(buf, ctypes.c_void_p),
                           len(label or ""))
        out = ctypes.c_ulong(0)
        rv = fn(s.session.value(), handle.value(), ctypes.byref(attr) if label else None,
                1 if label else 0, ctypes.byref(out))
        if label is None:
            return rv
        self.assertEqual(rv, PyKCS11.CKR_OK)
        h = LowLevel.CK_OBJECT_HANDLE()
        h.assign(out.value)
        return h

    def test_certificate_and_data_objects(self):
        s = self.session()
        pub = self.public_key(s, "ec384")
        ca = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ec384 in keyward")])
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                .public_key(pub).serial_number(4242).not_valid_before(now)
                .not_valid_after(now + datetime.timedelta(days=1)).sign(ca, hashes.SHA256()))
        der = cert.public_bytes(serialization.Encoding.DER)
        h = s.createObject([(PyKCS11.CKA_CLASS, PyKCS11.CKO_CERTIFICATE),
                            (PyKCS11.CKA_CERTIFICATE_TYPE, PyKCS11.CKC_X_509),
                            (PyKCS11.CKA_TOKEN, True), (PyKCS11.CKA_VALUE, der),
                            (PyKCS11.CKA_LABEL, "ec384"), (PyKCS11.CKA_ID, b"ec384")])
        d = s.createObject([(PyKCS11.CKA_CLASS, PyKCS11.CKO_DATA), (PyKCS11.CKA_TOKEN, True),
                            (PyKCS11.CKA_APPLICATION, "kw-test"), (PyKCS11.CKA_LABEL, "blob"),
                            (PyKCS11.CKA_VALUE, b"\x00data")])
        copy = self.copy_object(s, d, "blob-copy")
        # A new session (another process would see the same) finds them.
        fresh = self.session()
        certs = fresh.findObjects([(PyKCS11.CKA_CLASS, PyKCS11.CKO_CERTIFICATE),
                                   (PyKCS11.CKA_ID, b"ec384")])
        self.assertEqual(len(certs), 1)
        got = fresh.getAttributeValue(certs[0], [PyKCS11.CKA_VALUE, PyKCS11.CKA_SUBJECT,
                                                 PyKCS11.CKA_ISSUER, PyKCS11.CKA_SERIAL_NUMBER],
                                      allAsBinary=True)
        self.assertEqual(bytes(got[0]), der)
        self.assertEqual(bytes(got[1]), name.public_bytes())
        self.assertEqual(bytes(got[2]), name.public_bytes())
        self.assertEqual(bytes(got[3]), bytes.fromhex("02021092"))
        data = fresh.findObjects([(PyKCS11.CKA_CLASS, PyKCS11.CKO_DATA),
                                  (PyKCS11.CKA_LABEL, "blob-copy")])
        self.assertEqual(len(data), 1)
        self.assertEqual(bytes(fresh.getAttributeValue(data[0], [PyKCS11.CKA_VALUE],
                                                       allAsBinary=True)[0]), b"\x00data")
        # GnuTLS lists the certificate with the key it belongs to.
        env = dict(self.env, GNUTLS_PIN=PIN)
        r = subprocess.run([tool("p11tool"), "--provider", self.module, "--list-all", "--login",
                            "pkcs11:token=it-token"], env=env, capture_output=True, text=True,
                           timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("Type: X.509 Certificate (EC/ECDSA-SECP384R1)", r.stdout)
        self.assertIn("Type: Data", r.stdout)
        # Same CKA_ID as the key pair: how p11tool and Java pair them.
        self.assertIn("id=%65%63%33%38%34;object=ec384;type=cert", r.stdout)
        self.assertIn("id=%65%63%33%38%34;object=ec384;type=private", r.stdout)
        # Keys are not copyable; objects go away with C_DestroyObject.
        key = self.find(s, "ec384", PyKCS11.CKO_PRIVATE_KEY)
        self.assertEqual(self.copy_object(s, key, None), 0x1B)  # CKR_ACTION_PROHIBITED
        for o in (d, copy, h):
            s.destroyObject(o)
        self.assertEqual(self.session().findObjects([(PyKCS11.CKA_LABEL, "blob-copy")]), [])

    # --- misuse codes ------------------------------------------------------

    def test_misuse_codes(self):
        s = self.session()
        ll = self.lib.lib
        priv = self.find(s, "ec256", PyKCS11.CKO_PRIVATE_KEY)
        m = PyKCS11.Mechanism(PyKCS11.CKM_ECDSA_SHA256)
        self.assertEqual(ll.C_SignInit(s.session, m.to_native(), priv), PyKCS11.CKR_OK)
        self.assertEqual(ll.C_SignInit(s.session, m.to_native(), priv),
                         PyKCS11.CKR_OPERATION_ACTIVE)
        # Length query keeps the operation; a short buffer too.
        sig = PyKCS11.ckbytelist()
        self.assertEqual(ll.C_Sign(s.session, PyKCS11.ckbytelist(b"x"), sig), PyKCS11.CKR_OK)
        self.assertEqual(len(sig), 64)
        self.assertEqual(ll.C_Sign(s.session, PyKCS11.ckbytelist(b"x"), sig), PyKCS11.CKR_OK)
        self.assertEqual(ll.C_SignFinal(s.session, sig), PyKCS11.CKR_OPERATION_NOT_INITIALIZED)
        stale = LowLevel.CK_OBJECT_HANDLE()
        stale.assign(999999)
        self.assertEqual(ll.C_SignInit(s.session, m.to_native(), stale),
                         PyKCS11.CKR_KEY_HANDLE_INVALID)
        bad = PyKCS11.Mechanism(PyKCS11.CKM_SHA256_RSA_PKCS)
        self.assertEqual(ll.C_SignInit(s.session, bad.to_native(), priv),
                         PyKCS11.CKR_KEY_TYPE_INCONSISTENT)
        closed = self.lib.openSession(self.slot)
        handle = closed.session
        closed.closeSession()
        self.assertEqual(ll.C_SignInit(handle, m.to_native(), priv),
                         PyKCS11.CKR_SESSION_HANDLE_INVALID)
        ro = self.session(rw=False)
        with self.assertRaises(PyKCS11.PyKCS11Error) as cm:
            ro.destroyObject(priv)
        self.assertEqual(cm.exception.value, PyKCS11.CKR_SESSION_READ_ONLY)
        with self.assertRaises(PyKCS11.PyKCS11Error) as cm:
            s.login("not-a-token-at-all", user_type=PyKCS11.CKU_USER)
        self.assertEqual(cm.exception.value, PyKCS11.CKR_USER_ALREADY_LOGGED_IN)


if __name__ == "__main__":
    harness.main()
