#!/usr/bin/python3
"""libkeyward-pkcs11.so under Java's SunPKCS11 provider (Debian's
openjdk-17-jdk-headless), against a real keywardd.

Setup, through the module (PyKCS11): an EC P-256 and an RSA-2048 key pair
with a CKA_ID unlike their label, each with a self-signed certificate stored
as a CKO_CERTIFICATE object under the key's CKA_ID — its signature made by
keyward with the key it certifies (stored with PyKCS11's createObject for
one, pkcs11-tool --write-object for the other) — and a third key with no
certificate.

java/KeywardSunPkcs11.java, compiled with javac into a temporary directory,
configures SunPKCS11 with the module (name, library, slotListIndex), loads the
"PKCS11" KeyStore with the keyward token as PIN, lists the aliases, and signs
with every key entry (SHA256withECDSA; SHA256withRSA, RSASSA-PSS and
SHA256withRSASSA-PSS), verifying each signature with the JDK's own providers.
Here each signature is checked again with python3-cryptography against the
public key keywardd's REST API gives, and the audit log must hold exactly
one signature per Java signature. A missing JDK or module is a failure,
never a skip.
"""

import datetime
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402

import PyKCS11  # noqa: E402
from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402

PIN = harness.ROOT_TOKEN
TOKEN_LABEL = "java-token"
JAVA_SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "java",
                           "KeywardSunPkcs11.java")
P256_OID = bytes.fromhex("06082a8648ce3d030107")
# label -> CKA_ID; ids differ from labels so that SunPKCS11 must pair key and
# certificate by CKA_ID, as it does.
KEYS = {"java-ec": b"\x4a\x01", "java-rsa": b"\x4a\x02", "java-nocert": b"\x4a\x03"}
MESSAGE = b"signed by SunPKCS11 with a key that stays in keyward"
PSS_SHA256 = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
JAVA_TIMEOUT = 300  # a JVM under the sanitizer runtime starts slowly
AUDIT_WAIT = 30.0  # for audit entries to become durable; generous for ASan builds


def tool(name):
    path = shutil.which(name)
    if path is None:
        raise AssertionError("%s not installed (Debian: openjdk-17-jdk-headless)" % name)
    return path


def module_path():
    path = os.path.join(harness.build_dir(), "lib", "libkeyward-pkcs11.so")
    if not os.path.exists(path):
        raise AssertionError("module not built: %s" % path)
    return path


def raw_to_der(sig):
    """PKCS#11's r || s as the DER ECDSA-Sig-Value X.509 carries."""
    half = len(sig) // 2
    return encode_dss_signature(int.from_bytes(sig[:half], "big"),
                                int.from_bytes(sig[half:], "big"))


# --- a self-signed certificate signed through the module ---------------------------------


def der_length(n):
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def der_children(der):
    """The TLVs inside a DER SEQUENCE, as bytes."""
    def header(buf, i):
        first = buf[i + 1]
        if first < 0x80:
            return 2, first
        n = first & 0x7F
        return 2 + n, int.from_bytes(buf[i + 2:i + 2 + n], "big")

    hlen, clen = header(der, 0)
    assert der[0] == 0x30 and hlen + clen == len(der)
    out, i = [], hlen
    while i < len(der):
        h, c = header(der, i)
        out.append(der[i:i + h + c])
        i += h + c
    return out


def self_signed(session, priv, label, public_key):
    """A certificate for public_key signed with the module's private key.

    cryptography cannot sign with a key it does not hold, so the
    certificate is built and signed with a throwaway key of the same type
    (which fixes the signature algorithm in the TBS), then its signature is
    replaced by one keyward makes over the same TBS bytes."""
    if isinstance(public_key, rsa.RSAPublicKey):
        throwaway = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        mech = PyKCS11.Mechanism(PyKCS11.CKM_SHA256_RSA_PKCS)
    else:
        throwaway = ec.generate_private_key(ec.SECP256R1())
        mech = PyKCS11.Mechanism(PyKCS11.CKM_ECDSA_SHA256)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, label)])
    now = datetime.datetime.now(datetime.timezone.utc)
    draft = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
             .public_key(public_key).serial_number(x509.random_serial_number())
             .not_valid_before(now - datetime.timedelta(minutes=5))
             .not_valid_after(now + datetime.timedelta(days=2))
             .sign(throwaway, hashes.SHA256()))
    tbs, alg, _ = der_children(draft.public_bytes(serialization.Encoding.DER))
    sig = bytes(session.sign(priv, tbs, mech))
    if not isinstance(public_key, rsa.RSAPublicKey):
        sig = raw_to_der(sig)
    bits = b"\x03" + der_length(len(sig) + 1) + b"\x00" + sig
    body = tbs + alg + bits
    cert = x509.load_der_x509_certificate(b"\x30" + der_length(len(body)) + body)
    verify(public_key, cert.signature, cert.tbs_certificate_bytes,
           "SHA256withRSA" if isinstance(public_key, rsa.RSAPublicKey) else "SHA256withECDSA")
    return cert


def verify(public_key, sig, data, alg):
    """Raises InvalidSignature unless sig is alg's signature of data."""
    if alg == "SHA256withECDSA":
        public_key.verify(sig, data, ec.ECDSA(hashes.SHA256()))
    elif alg == "SHA256withRSA":
        public_key.verify(sig, data, padding.PKCS1v15(), hashes.SHA256())
    elif alg in ("RSASSA-PSS", "SHA256withRSASSA-PSS"):
        public_key.verify(sig, data, PSS_SHA256, hashes.SHA256())
    else:
        raise AssertionError("no check for %s" % alg)


# --- the test --------------------------------------------------------------------------


class JavaSunPkcs11(harness.KwTestCase):
    @classmethod
    def setUpClass(cls):
        cls.daemon = harness.Daemon().start()
        cls.daemons = (cls.daemon,)
        cls.tmp = tempfile.mkdtemp(prefix="kw-java-")
        try:
            cls.prepare()
        except BaseException:
            cls.tearDownClass()  # unittest does not when setUpClass fails
            raise

    @classmethod
    def prepare(cls):
        cls.module = module_path()
        conf = os.path.join(cls.tmp, "pkcs11.conf")
        with open(conf, "w") as f:
            f.write("[server]\nlabel = %s\n" % TOKEN_LABEL)
        cls.env = {k: v for k, v in os.environ.items() if not k.startswith(("KEYWARD_", "VAULT_"))}
        cls.env.update(KEYWARD_ADDR=cls.daemon.url, KEYWARD_CACERT=cls.daemon.ca,
                       KEYWARD_PKCS11_CONF=conf)
        # PyKCS11 loads the module into this process.
        os.environ.update({k: cls.env[k] for k in
                           ("KEYWARD_ADDR", "KEYWARD_CACERT", "KEYWARD_PKCS11_CONF")})
        for k in ("KEYWARD_TOKEN", "VAULT_TOKEN", "KEYWARD_TOKEN_FILE"):
            os.environ.pop(k, None)
        lib = PyKCS11.PyKCS11Lib()
        lib.load(cls.module)
        s = lib.openSession(lib.getSlotList(tokenPresent=True)[0],
                            PyKCS11.CKF_SERIAL_SESSION | PyKCS11.CKF_RW_SESSION)
        s.login(PIN)
        cls.certs = {}
        for label, ckid in KEYS.items():
            priv = cls.generate(s, label, ckid)
            if label == "java-nocert":
                continue
            cert = self_signed(s, priv, label, cls.rest_public_key(label))
            der = cert.public_bytes(serialization.Encoding.DER)
            if label == "java-ec":
                s.createObject([(PyKCS11.CKA_CLASS, PyKCS11.CKO_CERTIFICATE),
                                (PyKCS11.CKA_CERTIFICATE_TYPE, PyKCS11.CKC_X_509),
                                (PyKCS11.CKA_TOKEN, True), (PyKCS11.CKA_LABEL, label),
                                (PyKCS11.CKA_ID, ckid), (PyKCS11.CKA_VALUE, der)])
            else:
                cls.write_cert_with_pkcs11_tool(label, ckid, der)
            cls.certs[label] = cert
        s.logout()
        s.closeSession()
        cls.java_config = os.path.join(cls.tmp, "sunpkcs11.cfg")
        with open(cls.java_config, "w") as f:
            f.write("name = keyward\nlibrary = %s\nslotListIndex = 0\n" % cls.module)
        cls.run_java()

    @classmethod
    def tearDownClass(cls):
        cls.daemon.cleanup()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def write_cert_with_pkcs11_tool(cls, label, ckid, der):
        """The command-line route docs/pkcs11.md gives operators."""
        path = os.path.join(cls.tmp, label + ".der")
        with open(path, "wb") as f:
            f.write(der)
        r = subprocess.run([tool("pkcs11-tool"), "--module", cls.module, "--login", "--pin", PIN,
                            "--write-object", path, "--type", "cert", "--id", ckid.hex(),
                            "--label", label], env=cls.env, capture_output=True, text=True,
                           timeout=120)
        assert r.returncode == 0, "pkcs11-tool --write-object failed:\n" + r.stdout + r.stderr

    @classmethod
    def generate(cls, s, label, ckid):
        common = [(PyKCS11.CKA_TOKEN, True), (PyKCS11.CKA_LABEL, label), (PyKCS11.CKA_ID, ckid)]
        priv_t = common + [(PyKCS11.CKA_PRIVATE, True), (PyKCS11.CKA_SIGN, True),
                           (PyKCS11.CKA_SENSITIVE, True)]
        if "rsa" in label:
            pub_t = common + [(PyKCS11.CKA_VERIFY, True), (PyKCS11.CKA_MODULUS_BITS, 2048),
                              (PyKCS11.CKA_PUBLIC_EXPONENT, (0x01, 0x00, 0x01))]
            mech = PyKCS11.CKM_RSA_PKCS_KEY_PAIR_GEN
        else:
            pub_t = common + [(PyKCS11.CKA_VERIFY, True), (PyKCS11.CKA_EC_PARAMS, P256_OID)]
            mech = PyKCS11.CKM_EC_KEY_PAIR_GEN
        _, priv = s.generateKeyPair(pub_t, priv_t, mecha=PyKCS11.Mechanism(mech))
        return priv

    @classmethod
    def rest_public_key(cls, name):
        """The public key as keywardd's REST API gives it: independent of
        the module and of Java."""
        r = cls.daemon.request("GET", "/v1/transit/keys/" + name, token=PIN)
        assert r.status == 200, r
        info = r.json["data"]
        pem = info["keys"][str(info["latest_version"])]["public_key"]
        return serialization.load_pem_public_key(pem.encode())

    @classmethod
    def run_java(cls):
        """Compile and run the Java program once; tests check its output.
        javac does not load the module, so it runs without the sanitizer
        runtime; java does."""
        classes = os.path.join(cls.tmp, "classes")
        os.makedirs(classes)
        plain = {k: v for k, v in cls.env.items() if k not in ("LD_PRELOAD", "ASAN_OPTIONS")}
        r = subprocess.run([tool("javac"), "-Xlint:all", "-Werror", "-d", classes,
                            JAVA_SOURCE], env=plain, capture_output=True, text=True,
                           timeout=JAVA_TIMEOUT)
        assert r.returncode == 0, "javac failed:\n" + r.stdout + r.stderr
        message = os.path.join(cls.tmp, "message")
        with open(message, "wb") as f:
            f.write(MESSAGE)
        cls.audit_start = cls.audit_page(0)["tree_size"]
        cls.java = subprocess.run([tool("java"), "-cp", classes, "KeywardSunPkcs11",
                                   cls.java_config, message],
                                  env=dict(cls.env, KEYWARD_JAVA_PIN=PIN), capture_output=True,
                                  text=True, timeout=JAVA_TIMEOUT)

    @classmethod
    def audit_page(cls, start):
        r = cls.daemon.request("GET", "/v1/keyward/audit/entries?start=%d" % start, token=PIN)
        assert r.status == 200, r
        return r.json["data"]

    def audit_until_marker(self, start):
        """The audit entries from start up to a marker request made now:
        entries become durable in order, so once the marker is there every
        earlier one is too."""
        r = self.daemon.request("LIST", "/v1/transit/keys", token=PIN)
        self.assertEqual(r.status, 200, r)
        marker = r.json["request_id"]
        deadline = time.monotonic() + AUDIT_WAIT
        while True:
            got, pos = [], start
            while True:
                data = self.audit_page(pos)
                page = [e["entry"] for e in data["entries"]]
                got += page
                pos += len(page)
                if not page or pos >= data["tree_size"]:
                    break
            ids = [e["request_id"] for e in got]
            if marker in ids:
                return got[:ids.index(marker)]
            self.assertLess(time.monotonic(), deadline, "marker not in the audit log")
            time.sleep(0.05)

    def signs(self, entries, key):
        # SunPKCS11 may sign RSA PKCS#1 v1.5 as CKM_RSA_PKCS on a DigestInfo
        # (keyward/sign-raw) rather than CKM_SHA256_RSA_PKCS.
        return [e for e in entries if e["operation"] in ("sign", "p11-sign-raw") and
                e["key_name"] == key]

    def output(self, kind):
        """The lines of one kind the Java program printed, split in words."""
        self.assertEqual(self.java.returncode, 0,
                         "java failed:\n" + self.java.stdout + self.java.stderr)
        self.assertEqual(self.java.stdout.splitlines()[-1], "done")
        return [line.split(" ")[1:] for line in self.java.stdout.splitlines()
                if line.split(" ")[0] == kind]

    def test_provider_configured_with_the_module(self):
        self.assertEqual(self.output("provider"), [["SunPKCS11-keyward"]])
        # The module offers CKM_RSA_PKCS_PSS and CKM_SHA256_RSA_PKCS_PSS.
        self.assertEqual(sorted(self.output("offers")),
                         [["RSASSA-PSS", "yes"], ["SHA256withRSASSA-PSS", "yes"]])

    def test_aliases_are_the_keys_with_a_certificate(self):
        # SunPKCS11 lists a private key only with a certificate of the same
        # CKA_ID, under the certificate's label.
        self.assertEqual(self.output("alias"), [["java-ec"], ["java-rsa"]])
        self.assertEqual(self.output("cert"), [["java-ec", "self-signed-verified"],
                                               ["java-rsa", "self-signed-verified"]])

    def test_private_keys_are_sensitive_and_not_extractable(self):
        keys = {k[0]: k for k in self.output("key")}
        self.assertEqual(sorted(keys), ["java-ec", "java-rsa"])
        self.assertEqual(keys["java-ec"][1], "EC")
        self.assertEqual(keys["java-rsa"][1], "RSA")
        for alias, k in keys.items():
            with self.subTest(alias=alias):
                self.assertEqual(k[2], "encoded=null")
                desc = " ".join(k[3:])
                # P11Key's description: "... token object, sensitive, unextractable)"
                self.assertIn("token object", desc)
                self.assertRegex(desc, r"(?<!not )sensitive")
                self.assertIn("unextractable", desc)

    def test_signatures_verify_with_keyward_public_keys(self):
        sigs = self.output("sig")
        self.assertEqual(sorted((s[0], s[1]) for s in sigs),
                         [("java-ec", "SHA256withECDSA"), ("java-rsa", "RSASSA-PSS"),
                          ("java-rsa", "SHA256withRSA"), ("java-rsa", "SHA256withRSASSA-PSS")])
        for alias, alg, signer, verifier, hexsig in sigs:
            with self.subTest(alias=alias, alg=alg):
                self.assertEqual(signer, "SunPKCS11-keyward")
                self.assertIn(verifier, ("SunEC", "SunRsaSign"))
                pub = self.rest_public_key(alias)
                verify(pub, bytes.fromhex(hexsig), MESSAGE, alg)
                # The certificate Java paired with the key holds that key.
                self.assertEqual(self.certs[alias].public_key().public_numbers(),
                                 pub.public_numbers())

    def test_each_java_signature_is_one_keyward_signature(self):
        sigs = self.output("sig")
        entries = self.audit_until_marker(self.audit_start)
        for alias in ("java-ec", "java-rsa"):
            with self.subTest(alias=alias):
                made = self.signs(entries, alias)
                self.assertEqual([e["result"] for e in made],
                                 [0] * len([s for s in sigs if s[0] == alias]))
                # SunPKCS11 hashes in the module's mechanisms (or signs a
                # digest): transit/sign, never the raw PKCS#1 path, so a
                # policy with update on transit/sign/<key> is enough.
                self.assertEqual({(e["operation"], e["path"]) for e in made},
                                 {("sign", "transit/sign/" + alias)})
        self.assertEqual(self.signs(entries, "java-nocert"), [])


if __name__ == "__main__":
    harness.main()
