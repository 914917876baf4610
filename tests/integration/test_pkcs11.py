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

import PyKCS11
from PyKCS11 import LowLevel
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

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
        # Decryption needs the server's OAEP decrypt (phase 2).
        with self.assertRaises(PyKCS11.PyKCS11Error) as cm:
            s.decrypt(priv, ct, oaep)
        self.assertEqual(cm.exception.value, PyKCS11.CKR_MECHANISM_INVALID)

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
