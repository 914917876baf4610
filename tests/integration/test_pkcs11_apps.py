#!/usr/bin/python3
"""libkeyward-pkcs11.so under programs that use PKCS#11 for real, against a
real keywardd:

- Kubernetes auto-login: the kubernetes auth method enabled with a test
  cluster key, service-account tokens minted here (python3-jwt) in the shape
  kube-apiserver gives a projected token (see test_auth_k8s.py), written to a
  file the module reads. pkcs11-tool and PyKCS11 work with no PIN; replacing
  the file mid-run, revoking the keyward token, and a lease two-thirds gone
  each make the module log in again, which the audit log shows.
- OpenSSL through Debian's libengine-pkcs11-openssl: `openssl pkeyutl -sign`
  with a pkcs11: URI, verified by plain openssl with the exported public key;
  `openssl req -x509` makes self-signed certificates whose signature checks
  with their own public key.
- nginx (unprivileged, foreground, its own prefix and config in a temporary
  directory, `ssl_engine pkcs11;`): curl completes TLS 1.2 ECDHE-ECDSA, TLS
  1.2 ECDHE-RSA and TLS 1.3 handshakes (RSA-PSS), verifying the certificate,
  and the audit log holds exactly one signature per handshake.

The engine gets the PIN from the pkcs11: URI (pin-value). A missing module,
engine, nginx or tool is a failure, never a skip.
"""

import base64
import hashlib
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402

import jwt as pyjwt  # noqa: E402
import PyKCS11  # noqa: E402
from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature  # noqa: E402

PIN = harness.ROOT_TOKEN
ENGINE = "/usr/lib/x86_64-linux-gnu/engines-3/pkcs11.so"
ISSUER = "https://kubernetes.default.svc.cluster.local"
AUDIENCE = "keyward"
NAMESPACE = "payments"
SA = "api"
WAIT = 30.0  # for audit entries to become durable; generous for ASan builds


def module_path():
    path = os.path.join(harness.build_dir(), "lib", "libkeyward-pkcs11.so")
    if not os.path.exists(path):
        raise AssertionError("module not built: %s" % path)
    return path


def tool(name):
    path = shutil.which(name) or (os.path.join("/usr/sbin", name)
                                  if os.path.exists(os.path.join("/usr/sbin", name)) else None)
    if path is None:
        raise AssertionError("%s not installed" % name)
    return path


def b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def spki_kid(public_key):
    der = public_key.public_bytes(serialization.Encoding.DER,
                                  serialization.PublicFormat.SubjectPublicKeyInfo)
    return b64u(hashlib.sha256(der).digest())


def k8s_claims(now, life=600):
    """A projected token's claims, as kube-apiserver writes them."""
    return {
        "aud": [AUDIENCE],
        "exp": now + life,
        "iat": now,
        "iss": ISSUER,
        "kubernetes.io": {
            "namespace": NAMESPACE,
            "pod": {"name": "%s-7d9f8c6b5-x2x4q" % SA, "uid": str(uuid.uuid4())},
            "serviceaccount": {"name": SA, "uid": "5c2a7e4e-0d6b-4d0b-9a57-1f1e0f6f2a10"},
        },
        "nbf": now,
        "sub": "system:serviceaccount:%s:%s" % (NAMESPACE, SA),
    }


def raw_to_der(sig):
    half = len(sig) // 2
    return encode_dss_signature(int.from_bytes(sig[:half], "big"),
                                int.from_bytes(sig[half:], "big"))


def der_octets(b):
    assert b[0] == 0x04
    if b[1] < 0x80:
        return b[2:]
    return b[2 + (b[1] & 0x7F):]


class AppCase(harness.KwTestCase):
    """A dev keywardd per class, the module's environment, audit helpers."""

    @classmethod
    def start(cls, label):
        cls.daemon = harness.Daemon().start()
        cls.daemons = (cls.daemon,)
        cls.module = module_path()
        cls.tmp = tempfile.mkdtemp(prefix="kw-p11apps-")
        os.chmod(cls.tmp, 0o755)
        cls.conf = os.path.join(cls.tmp, "pkcs11.conf")
        with open(cls.conf, "w") as f:
            f.write("[server]\nlabel = %s\n" % label)
        # The CA is copied where an unprivileged nginx worker can read it.
        cls.ca = os.path.join(cls.tmp, "keyward-ca.pem")
        shutil.copyfile(cls.daemon.ca, cls.ca)
        os.chmod(cls.ca, 0o644)
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("KEYWARD_", "VAULT_", "OPENSSL_"))}
        env.update(KEYWARD_ADDR=cls.daemon.url, KEYWARD_CACERT=cls.ca, KEYWARD_PKCS11_CONF=cls.conf)
        cls.env = env

    @classmethod
    def stop(cls):
        cls.daemon.cleanup()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def api(self, method, path, body=None, status=(200, 204), token=None):
        r = self.daemon.request(method, "/v1/" + path, body=body,
                                token=PIN if token is None else token)
        statuses = status if isinstance(status, tuple) else (status,)
        self.assertIn(r.status, statuses, "%s %s: %r" % (method, path, r))
        return r

    def audit_size(self):
        return self.api("GET", "keyward/audit/entries?start=0").json["data"]["tree_size"]

    def audit_until_marker(self, start):
        """Every entry from start up to a marker request made now: entries
        are durable in order, so once the marker is there all earlier ones
        are too, and none is missed or counted early."""
        rid = self.api("LIST", "transit/keys").json["request_id"]
        deadline = time.monotonic() + WAIT
        while True:
            got, pos = [], start
            while True:
                data = self.api("GET", "keyward/audit/entries?start=%d" % pos).json["data"]
                page = [e["entry"] for e in data["entries"]]
                got += page
                if not page or pos + len(page) >= data["tree_size"]:
                    break
                pos += len(page)
            for i, e in enumerate(got):
                if e["request_id"] == rid:
                    return got[:i]
            if time.monotonic() > deadline:
                raise AssertionError("marker %s not in the audit log after %ss" % (rid, WAIT))
            time.sleep(0.05)

    def signs(self, entries, key):
        # CKM_RSA_PKCS (TLS 1.2 ECDHE-RSA, the engine's PKCS#1) is keyward/sign-raw.
        return [e for e in entries if e["operation"] in ("sign", "p11-sign-raw") and
                e["key_name"] == key]

    def run_tool(self, args, env=None, check=True, timeout=120, stdin=None):
        r = subprocess.run(args, env=env or self.env, capture_output=True, text=True,
                           timeout=timeout, input=stdin)
        if check and r.returncode != 0:
            raise AssertionError("%s failed (%d):\n%s%s" % (args, r.returncode, r.stdout, r.stderr))
        return r


# --- Kubernetes auto-login -------------------------------------------------------------


SIGNER_POLICY = {"path": {"transit/*": {"capabilities": ["create", "read", "update", "list"]}}}


class KubernetesAutoLogin(AppCase):
    @classmethod
    def setUpClass(cls):
        cls.start("k8s-token")
        cls.cluster = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        cls.kid = spki_kid(cls.cluster.public_key())
        pem = cls.cluster.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
        d = cls.daemon
        for method, path, body in (
                ("PUT", "sys/policies/acl/p11-k8s", {"policy": json.dumps(SIGNER_POLICY)}),
                ("POST", "sys/auth/kubernetes", {"type": "kubernetes"}),
                ("POST", "auth/kubernetes/config", {"pem_keys": [pem], "issuer": ISSUER}),
                ("POST", "auth/kubernetes/role/p11",
                 {"bound_service_account_names": [SA],
                  "bound_service_account_namespaces": [NAMESPACE], "audience": AUDIENCE,
                  "token_policies": ["p11-k8s"], "token_ttl": "1h"}),
                ("POST", "auth/kubernetes/role/short",
                 {"bound_service_account_names": [SA],
                  "bound_service_account_namespaces": [NAMESPACE], "audience": AUDIENCE,
                  "token_policies": ["p11-k8s"], "token_ttl": 2}),
                ("POST", "transit/keys/k8s-ec", {"type": "ecdsa-p256"})):
            r = d.request(method, "/v1/" + path, body=body, token=PIN)
            assert r.status in (200, 204), (path, r)
        cls.token_file = os.path.join(cls.tmp, "sa-token")
        cls.write_token(cls.mint())
        with open(cls.conf, "a") as f:
            f.write("kubernetes_role = p11\nservice_account_token_file = %s\n" % cls.token_file)

    @classmethod
    def tearDownClass(cls):
        cls.stop()

    @classmethod
    def mint(cls):
        return pyjwt.encode(k8s_claims(int(time.time())), cls.cluster, algorithm="RS256",
                            headers={"kid": cls.kid})

    @classmethod
    def write_token(cls, jwt, path=None):
        """As kubelet does: a new file swapped in atomically."""
        path = path or cls.token_file
        tmp = path + ".new"
        with open(tmp, "w") as f:
            f.write(jwt)
        os.replace(tmp, path)

    def logins(self, entries, role="p11"):
        return [e for e in entries if e["operation"] == "login" and e["result"] == 0 and
                e["path"] == "auth/kubernetes/login" and e["claims"]["role"] == role]

    def test_pkcs11_tool_without_pin(self):
        p11 = [tool("pkcs11-tool"), "--module", self.module]
        info = self.run_tool(p11 + ["-T"]).stdout
        self.assertIn("k8s-token", info)
        self.assertIn("PIN pad present", info)  # CKF_PROTECTED_AUTHENTICATION_PATH
        start = self.audit_size()
        data = os.path.join(self.tmp, "msg")
        sig = os.path.join(self.tmp, "msg.sig")
        with open(data, "wb") as f:
            f.write(b"signed from a pod")
        # --login with no --pin: the token's protected path, an empty C_Login.
        self.run_tool(p11 + ["--login", "--sign", "-m", "ECDSA-SHA256", "--label", "k8s-ec",
                             "-i", data, "-o", sig])
        with open(sig, "rb") as f:
            raw = f.read()
        self.public_key().verify(raw_to_der(raw), b"signed from a pod", ec.ECDSA(hashes.SHA256()))
        entries = self.audit_until_marker(start)
        logins = self.logins(entries)
        self.assertEqual(len(logins), 1, logins)
        self.assertEqual(logins[0]["subject"], "k8s:payments/api")
        self.assertEqual(len(self.signs(entries, "k8s-ec")), 1)
        # The signature was made with the token the login gave.
        self.assertEqual(self.signs(entries, "k8s-ec")[0]["accessor"], logins[0]["accessor"])

    def public_key(self):
        info = self.api("GET", "transit/keys/k8s-ec").json["data"]
        pem = info["keys"][str(info["latest_version"])]["public_key"]
        return serialization.load_pem_public_key(pem.encode())

    def test_rotation_revocation_and_lease_renewal(self):
        """One module instance (PyKCS11, in this process): a new token file
        and a revoked keyward token each bring one more login."""
        os.environ.update({k: self.env[k] for k in
                           ("KEYWARD_ADDR", "KEYWARD_CACERT", "KEYWARD_PKCS11_CONF")})
        for k in ("KEYWARD_TOKEN", "VAULT_TOKEN", "KEYWARD_TOKEN_FILE"):
            os.environ.pop(k, None)
        lib = PyKCS11.PyKCS11Lib()
        lib.load(self.module)
        slot = lib.getSlotList(tokenPresent=True)[0]
        self.assertTrue(lib.getTokenInfo(slot).flags & PyKCS11.CKF_PROTECTED_AUTHENTICATION_PATH)
        s = lib.openSession(slot, PyKCS11.CKF_SERIAL_SESSION)
        self.addCleanup(s.closeSession)
        start = self.audit_size()
        s.login(None)
        priv = s.findObjects([(PyKCS11.CKA_CLASS, PyKCS11.CKO_PRIVATE_KEY),
                              (PyKCS11.CKA_LABEL, "k8s-ec")])
        self.assertEqual(len(priv), 1)
        pub = self.public_key()
        mech = PyKCS11.Mechanism(PyKCS11.CKM_ECDSA_SHA256)

        def sign(msg):
            sig = bytes(s.sign(priv[0], msg, mech))
            pub.verify(raw_to_der(sig), msg, ec.ECDSA(hashes.SHA256()))

        sign(b"first")
        sign(b"second")  # same token: no new login
        self.assertEqual(len(self.logins(self.audit_until_marker(start))), 1)

        # kubelet rotates the projected token: same service account, new pod
        # uid in the claims, a new file.
        self.write_token(self.mint())
        sign(b"after rotation")
        logins = self.logins(self.audit_until_marker(start))
        self.assertEqual(len(logins), 2, logins)
        self.assertNotEqual(logins[0]["claims"]["pod_uid"], logins[1]["claims"]["pod_uid"])
        self.assertNotEqual(logins[0]["accessor"], logins[1]["accessor"])

        # The server stops honouring the token: the module logs in again and
        # the refused request goes through on the new token.
        self.api("POST", "auth/token/revoke-accessor", {"accessor": logins[1]["accessor"]})
        sign(b"after revocation")
        entries = self.audit_until_marker(start)
        logins = self.logins(entries)
        self.assertEqual(len(logins), 3, logins)
        refused = [e for e in self.signs(entries, "k8s-ec") if e["result"] != 0]
        self.assertEqual([e["result_code"] for e in refused], ["bad_token"])
        ok = [e for e in self.signs(entries, "k8s-ec") if e["result"] == 0]
        self.assertEqual(len(ok), 4)
        self.assertEqual(ok[-1]["accessor"], logins[2]["accessor"])

    def test_lease_renewed_before_it_ends(self):
        """Role "short" gives 2-second tokens: after two-thirds of the lease
        the module logs in again before the request, so no request is ever
        refused. Run in a child so it has its own module instance."""
        conf = os.path.join(self.tmp, "short.conf")
        token_file = os.path.join(self.tmp, "sa-token-short")
        self.write_token(self.mint(), token_file)
        with open(conf, "w") as f:
            f.write("[server]\nlabel = short\nkubernetes_role = short\n"
                    "kubernetes_mount = kubernetes\nservice_account_token_file = %s\n"
                    % token_file)
        child = r"""
import sys, time, PyKCS11
lib = PyKCS11.PyKCS11Lib(); lib.load(sys.argv[1])
s = lib.openSession(lib.getSlotList(tokenPresent=True)[0], PyKCS11.CKF_SERIAL_SESSION)
s.login(None)
k = s.findObjects([(PyKCS11.CKA_CLASS, PyKCS11.CKO_PRIVATE_KEY), (PyKCS11.CKA_LABEL, "k8s-ec")])[0]
m = PyKCS11.Mechanism(PyKCS11.CKM_ECDSA_SHA256)
s.sign(k, b"one", m)
time.sleep(1.6)  # past two-thirds of the 2 s lease
s.sign(k, b"two", m)
print("signed")
"""
        start = self.audit_size()
        env = dict(self.env, KEYWARD_PKCS11_CONF=conf)
        r = self.run_tool(["/usr/bin/python3", "-c", child, self.module], env=env)
        self.assertIn("signed", r.stdout)
        entries = self.audit_until_marker(start)
        self.assertEqual(len(self.logins(entries, role="short")), 2)
        signs = self.signs(entries, "k8s-ec")
        self.assertEqual([e["result"] for e in signs], [0, 0])
        self.assertNotEqual(signs[0]["accessor"], signs[1]["accessor"])

    def test_openssl_engine_without_pin(self):
        """The engine sees the protected authentication path and logs in
        with no PIN: nothing secret in the URI or the configuration."""
        cnf = write_openssl_conf(self.tmp, self.module, "k8s-openssl.cnf")
        env = dict(self.env, OPENSSL_CONF=cnf)
        digest = os.path.join(self.tmp, "k8s.sha256")
        sig = os.path.join(self.tmp, "k8s-engine.sig")
        with open(digest, "wb") as f:
            f.write(hashlib.sha256(b"engine in a pod").digest())
        self.run_tool(["openssl", "pkeyutl", "-engine", "pkcs11", "-keyform", "engine", "-sign",
                       "-inkey", "pkcs11:token=k8s-token;object=k8s-ec;type=private",
                       "-in", digest, "-out", sig], env=env)
        with open(sig, "rb") as f:
            der = f.read()
        self.public_key().verify(der, b"engine in a pod", ec.ECDSA(hashes.SHA256()))


# --- OpenSSL engine and nginx -----------------------------------------------------------


def write_openssl_conf(directory, module, name="openssl.cnf"):
    """The engine configured in OpenSSL's own config file, as an operator
    would: engine path and module path; the PIN comes with the URI."""
    if not os.path.exists(ENGINE):
        raise AssertionError("libengine-pkcs11-openssl not installed (%s)" % ENGINE)
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        f.write("""openssl_conf = openssl_init
[openssl_init]
engines = engine_section
[engine_section]
pkcs11 = pkcs11_section
[pkcs11_section]
engine_id = pkcs11
dynamic_path = %s
MODULE_PATH = %s
init = 0
[req]
distinguished_name = req_dn
[req_dn]
""" % (ENGINE, module))
    os.chmod(path, 0o644)
    return path


def uri(key, kind="private"):
    return "pkcs11:token=app-token;object=%s;type=%s;pin-value=%s" % (key, kind, PIN)


class OpenSSLAndNginx(AppCase):
    @classmethod
    def setUpClass(cls):
        cls.start("app-token")
        for label, kt in (("tls-ec", "EC:prime256v1"), ("tls-rsa", "rsa:2048")):
            r = subprocess.run([tool("pkcs11-tool"), "--module", cls.module, "--login", "--pin",
                                PIN, "--keypairgen", "--key-type", kt, "--label", label],
                               env=cls.env, capture_output=True, text=True, timeout=120)
            assert r.returncode == 0, r.stdout + r.stderr
        cls.cnf = write_openssl_conf(cls.tmp, cls.module)
        cls.engine_env = dict(cls.env, OPENSSL_CONF=cls.cnf)
        # Plain OpenSSL and curl for checking: no engine, no module, and so
        # no sanitizer runtime either (curl can hang at exit under it).
        cls.plain_env = {k: v for k, v in cls.env.items()
                         if k not in ("LD_PRELOAD", "ASAN_OPTIONS")}
        cls.plain_env["OPENSSL_CONF"] = "/dev/null"
        cls.pubs = {}
        for key in ("tls-ec", "tls-rsa"):
            out = os.path.join(cls.tmp, key + ".pub.pem")
            r = subprocess.run(["openssl", "pkey", "-engine", "pkcs11", "-inform", "engine",
                                "-pubin", "-in", uri(key, "public"), "-pubout", "-out", out],
                               env=cls.engine_env, capture_output=True, text=True, timeout=120)
            assert r.returncode == 0, r.stderr
            cls.pubs[key] = out
        cls.nginx = None

    @classmethod
    def tearDownClass(cls):
        if cls.nginx is not None:
            stop_nginx(cls.nginx)
        cls.stop()

    def engine(self, *args):
        return self.run_tool(["openssl"] + list(args), env=self.engine_env)

    def plain(self, *args, check=True):
        return self.run_tool(["openssl"] + list(args), env=self.plain_env, check=check)

    def test_pkeyutl_sign_verified_by_plain_openssl(self):
        digest = os.path.join(self.tmp, "data.sha256")
        with open(digest, "wb") as f:
            f.write(hashlib.sha256(b"pkeyutl through the engine").digest())
        cases = (("tls-ec", []),
                 ("tls-rsa", ["-pkeyopt", "digest:sha256"]),
                 ("tls-rsa", ["-pkeyopt", "digest:sha256", "-pkeyopt", "rsa_padding_mode:pss",
                              "-pkeyopt", "rsa_pss_saltlen:32"]))
        for i, (key, opts) in enumerate(cases):
            with self.subTest(key=key, opts=opts):
                sig = os.path.join(self.tmp, "pkeyutl-%d.sig" % i)
                start = self.audit_size()
                self.engine("pkeyutl", "-engine", "pkcs11", "-keyform", "engine", "-sign",
                            "-inkey", uri(key), *opts, "-in", digest, "-out", sig)
                r = self.plain("pkeyutl", "-verify", "-pubin", "-inkey", self.pubs[key], *opts,
                               "-in", digest, "-sigfile", sig)
                self.assertIn("Signature Verified Successfully", r.stdout)
                # The signature came from keyward, not from a copy of the key.
                self.assertEqual(len(self.signs(self.audit_until_marker(start), key)), 1)
                with open(sig, "r+b") as f:
                    b = bytearray(f.read())
                    b[-3] ^= 1
                    f.seek(0)
                    f.write(b)
                r = self.plain("pkeyutl", "-verify", "-pubin", "-inkey", self.pubs[key], *opts,
                               "-in", digest, "-sigfile", sig, check=False)
                self.assertNotEqual(r.returncode, 0)

    def make_cert(self, key, name=None):
        """openssl req -x509 through the engine: the certificate's signature
        is made by keyward with the key it certifies."""
        crt = os.path.join(self.tmp, (name or key) + ".crt")
        if os.path.exists(crt):
            return crt
        self.engine("req", "-new", "-x509", "-engine", "pkcs11", "-keyform", "engine",
                    "-key", uri(key), "-sha256", "-days", "2", "-subj", "/CN=%s" % key,
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-out", crt)
        os.chmod(crt, 0o644)
        return crt

    def test_req_x509_self_signed(self):
        for key in ("tls-ec", "tls-rsa"):
            with self.subTest(key=key):
                start = self.audit_size()
                crt = self.make_cert(key, "req-" + key)
                self.assertEqual(len(self.signs(self.audit_until_marker(start), key)), 1)
                # Plain openssl: the self-signature verifies with its own key...
                r = self.plain("verify", "-CAfile", crt, crt)
                self.assertIn("OK", r.stdout)
                # ...which is keyward's public key.
                r = self.plain("x509", "-in", crt, "-noout", "-pubkey")
                with open(self.pubs[key]) as f:
                    self.assertEqual(r.stdout.strip(), f.read().strip())
                with open(crt, "rb") as f:
                    cert = x509.load_pem_x509_certificate(f.read())
                pub = cert.public_key()
                if isinstance(pub, rsa.RSAPublicKey):
                    pub.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(),
                               cert.signature_hash_algorithm)
                else:
                    pub.verify(cert.signature, cert.tbs_certificate_bytes,
                               ec.ECDSA(cert.signature_hash_algorithm))

    def test_nginx_handshakes_one_signature_each(self):
        certs = {k: self.make_cert(k) for k in ("tls-ec", "tls-rsa")}
        ports = {"tls-ec": harness.free_port(), "tls-rsa": harness.free_port()}
        type(self).nginx = start_nginx(self.tmp, self.engine_env, ports, certs)
        cases = (
            ("tls-ec", ["--tlsv1.2", "--tls-max", "1.2", "--ciphers",
                        "ECDHE-ECDSA-AES128-GCM-SHA256"], "TLSv1.2 / ECDHE-ECDSA-AES128-GCM-SHA256"),
            ("tls-rsa", ["--tlsv1.2", "--tls-max", "1.2", "--ciphers",
                         "ECDHE-RSA-AES128-GCM-SHA256"], "TLSv1.2 / ECDHE-RSA-AES128-GCM-SHA256"),
            ("tls-rsa", ["--tlsv1.3"], "TLSv1.3 / "),
            ("tls-ec", ["--tlsv1.3"], "TLSv1.3 / "),
        )
        for key, opts, want in cases:
            for _ in range(2):
                with self.subTest(key=key, opts=opts):
                    start = self.audit_size()
                    r = self.run_tool(["curl", "-sS", "-v", "--cacert", certs[key]] + opts +
                                      ["https://127.0.0.1:%d/" % ports[key]], env=self.plain_env,
                                      check=False, timeout=60)
                    self.assertEqual(r.returncode, 0, r.stderr + nginx_log(self.nginx))
                    self.assertEqual(r.stdout, "served by keyward's key\n")
                    self.assertIn("SSL connection using " + want, r.stderr)
                    self.assertIn("SSL certificate verify ok", r.stderr)
                    entries = self.audit_until_marker(start)
                    signs = self.signs(entries, key)
                    self.assertEqual(len(signs), 1, "one signature per handshake: %r" % signs)
                    self.assertEqual(signs[0]["result"], 0)
                    self.assertEqual(self.signs(entries, "tls-ec" if key == "tls-rsa"
                                                else "tls-rsa"), [])


NGINX_CONF = """daemon off;
master_process on;
worker_processes 2;
error_log {dir}/error.log info;
pid {dir}/nginx.pid;
ssl_engine pkcs11;
env KEYWARD_ADDR;
env KEYWARD_CACERT;
env KEYWARD_PKCS11_CONF;
env OPENSSL_CONF;
env ASAN_OPTIONS;
env LD_PRELOAD;
events {{ worker_connections 64; }}
http {{
  access_log {dir}/access.log;
  client_body_temp_path {dir}/tmp;
  proxy_temp_path {dir}/tmp;
  fastcgi_temp_path {dir}/tmp;
  uwsgi_temp_path {dir}/tmp;
  scgi_temp_path {dir}/tmp;
  default_type text/plain;
{servers}
}}
"""

NGINX_SERVER = """  server {{
    listen 127.0.0.1:{port} ssl;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache off;
    ssl_session_tickets off;
    ssl_certificate {cert};
    ssl_certificate_key "engine:pkcs11:{uri}";
    location / {{ return 200 "served by keyward's key\\n"; }}
  }}
"""


def start_nginx(tmp, env, ports, certs):
    """nginx in the foreground under a prefix of its own. Run by root (as in
    CI containers), it is started as nobody so that master and workers are
    unprivileged."""
    d = tempfile.mkdtemp(prefix="nginx-", dir=tmp)
    os.makedirs(os.path.join(d, "tmp"))
    servers = "".join(NGINX_SERVER.format(port=ports[k], cert=certs[k], uri=uri(k))
                      for k in sorted(ports))
    conf = os.path.join(d, "nginx.conf")
    with open(conf, "w") as f:
        f.write(NGINX_CONF.format(dir=d, servers=servers))
    preexec = None
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        for root, dirs, files in os.walk(d):
            for n in [root] + [os.path.join(root, x) for x in files]:
                os.chown(n, nobody.pw_uid, nobody.pw_gid)

        def preexec():
            os.setgroups([])
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
    with open(os.path.join(d, "stderr.log"), "wb") as log:
        proc = subprocess.Popen([tool("nginx"), "-p", d, "-c", conf,
                                 "-e", os.path.join(d, "error.log")],
                                env=env, stdout=log, stderr=log, preexec_fn=preexec,
                                start_new_session=True)
    proc.dir = d
    deadline = time.monotonic() + harness.START_TIMEOUT
    while True:
        if proc.poll() is not None:
            raise AssertionError("nginx exited (%s):\n%s" % (proc.returncode, nginx_log(proc)))
        if all(port_open(p) for p in ports.values()):
            return proc
        if time.monotonic() > deadline:
            stop_nginx(proc)
            raise AssertionError("nginx did not listen:\n%s" % nginx_log(proc))
        time.sleep(0.1)


def port_open(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def nginx_log(proc):
    text = ""
    for name in ("stderr.log", "error.log"):
        try:
            with open(os.path.join(proc.dir, name), errors="replace") as f:
                text += "--- nginx %s ---\n%s" % (name, f.read()[-6000:])
        except OSError:
            pass
    return text


def stop_nginx(proc):
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGQUIT)
        try:
            proc.wait(timeout=harness.STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


if __name__ == "__main__":
    harness.main()
