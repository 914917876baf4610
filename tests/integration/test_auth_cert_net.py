#!/usr/bin/python3
"""Client certificates and network identities, through the real keywardd.

Certificates are made here with the openssl CLI at test time (nothing
binary is committed): a test CA issuing SPIFFE X509-SVIDs, another CA, an
expired certificate, and one with a SAN the role does not allow.

- cert method: a workload with a SPIFFE certificate signs with no token at
  all (implicit login, audited as its SPIFFE ID), or logs in through
  auth/cert/login; a certificate of another CA, an expired one and one with
  a disallowed SAN are refused with 403.
- a listener with tls_client_auth: require refuses requests without a
  certificate that verifies against its tls_client_ca_file.
- network identities: two listeners on 127.0.0.2, one allowing 127.0.0.1/32
  and one 127.0.0.2/32. A client from the allowed address signs with no
  token as net:<name> (the audit entry says so); from the other address the
  connection is closed before any TLS byte is exchanged; a token, when sent,
  still works and wins over the network identity.
"""

import base64
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402

TRUST_DOMAIN = "test.example"
SPIFFE_API = "spiffe://%s/ns/payments/sa/api" % TRUST_DOMAIN
SPIFFE_OTHER = "spiffe://%s/ns/billing/sa/api" % TRUST_DOMAIN
NET_NAME = "payments-signer"
NET_NAME_2 = "loopback-two"
KEY = "pay-key"
OTHER_KEY = "other-key"
POLICY = "payments-sign"
REFUSAL_TIMEOUT = 20.0  # a guard only: a refused connection closes at once
OPENSSL_TIMEOUT = 60


def b64(data):
    return base64.b64encode(data).decode()


def openssl(*args, cwd=None):
    p = subprocess.run(["openssl"] + list(args), cwd=cwd, capture_output=True, text=True,
                       timeout=OPENSSL_TIMEOUT)
    if p.returncode != 0:
        raise AssertionError("openssl %s failed:\n%s%s" % (" ".join(args), p.stdout, p.stderr))
    return p.stdout


def utc(t):
    return time.strftime("%Y%m%d%H%M%SZ", time.gmtime(t))


class CA:
    """A CA made with `openssl req -x509`, issuing with `openssl ca` (which
    takes explicit start and end dates, for the expired certificate)."""

    def __init__(self, directory, name):
        self.dir = os.path.join(directory, name)
        os.makedirs(os.path.join(self.dir, "new"))
        self.cert = os.path.join(self.dir, "ca.pem")
        self.key = os.path.join(self.dir, "ca.key")
        open(os.path.join(self.dir, "index.txt"), "w").close()
        with open(os.path.join(self.dir, "serial"), "w") as f:
            f.write("1000\n")
        self.conf = os.path.join(self.dir, "ca.cnf")
        with open(self.conf, "w") as f:
            f.write("[ca]\ndefault_ca = ca_default\n"
                    "[ca_default]\ndir = %s\ndatabase = $dir/index.txt\n"
                    "new_certs_dir = $dir/new\nserial = $dir/serial\n"
                    "default_md = sha256\npolicy = policy_any\nunique_subject = no\n"
                    "copy_extensions = none\n"
                    "[policy_any]\ncommonName = supplied\n" % self.dir)
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-nodes", "-keyout", self.key, "-out", self.cert, "-days", "3",
                "-subj", "/O=keyward tests/CN=%s" % name,
                "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        with open(self.cert) as f:
            self.pem = f.read()

    def issue(self, name, cn, san=None, eku="clientAuth", start=None, end=None):
        """A client certificate; returns (cert_path, key_path)."""
        now = time.time()
        start = start if start is not None else now - 3600
        end = end if end is not None else now + 86400
        key = os.path.join(self.dir, name + ".key")
        csr = os.path.join(self.dir, name + ".csr")
        cert = os.path.join(self.dir, name + ".pem")
        ext = os.path.join(self.dir, name + ".ext")
        lines = ["basicConstraints = CA:FALSE", "keyUsage = critical,digitalSignature"]
        if eku:
            lines.append("extendedKeyUsage = " + eku)
        if san:
            lines.append("subjectAltName = " + san)
        with open(ext, "w") as f:
            f.write("[ext]\n" + "\n".join(lines) + "\n")
        openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=%s" % cn)
        openssl("ca", "-batch", "-config", self.conf, "-cert", self.cert, "-keyfile",
                self.key, "-in", csr, "-out", cert, "-notext", "-startdate", utc(start),
                "-enddate", utc(end), "-extfile", ext, "-extensions", "ext")
        return cert, key


class Pki:
    def __init__(self, directory):
        self.ca = CA(directory, "test-ca")
        self.other_ca = CA(directory, "other-ca")
        self.api = self.ca.issue("api", "api", san="URI:" + SPIFFE_API)
        self.other = self.other_ca.issue("stranger", "api", san="URI:" + SPIFFE_API)
        now = time.time()
        self.expired = self.ca.issue("expired", "api", san="URI:" + SPIFFE_API,
                                     start=now - 3 * 86400, end=now - 86400)
        self.billing = self.ca.issue("billing", "api", san="URI:" + SPIFFE_OTHER)
        self.server_only = self.ca.issue("server-only", "api", san="URI:" + SPIFFE_API,
                                         eku="serverAuth")


class IdentityDaemon(harness.Daemon):
    """The harness's daemon plus: a listener asking for client certificates,
    one requiring them, and two network-identity listeners on 127.0.0.2."""

    def __init__(self, pki, **kw):
        super().__init__(**kw)
        self.pki = pki
        self.cert_port = harness.free_port()
        self.require_port = harness.free_port()
        self.net_port = harness.free_port()
        self.net_port_2 = harness.free_port()

    def _write_config(self):
        super()._write_config()
        with open(self.config_path) as f:
            conf = json.load(f)
        tls = {"tls_cert_file": self.cert, "tls_key_file": self.key}
        conf["listeners"] += [
            dict(tls, address="127.0.0.1:%d" % self.cert_port,
                 tls_client_ca_file=self.pki.ca.cert, tls_client_auth="request"),
            dict(tls, address="127.0.0.1:%d" % self.require_port,
                 tls_client_ca_file=self.pki.ca.cert, tls_client_auth="require"),
            dict(tls, address="127.0.0.2:%d" % self.net_port,
                 identity={"name": NET_NAME, "policies": [POLICY],
                           "allow": ["127.0.0.1/32"]}),
            dict(tls, address="127.0.0.2:%d" % self.net_port_2,
                 identity={"name": NET_NAME_2, "policies": [POLICY],
                           "allow": ["127.0.0.2/32"]}),
        ]
        with open(self.config_path, "w") as f:
            json.dump(conf, f, indent=2)


def call(d, host, port, method, path, body=None, token=None, cert=None, source="127.0.0.1"):
    """One request on a fresh TLS connection from source, optionally with a
    client certificate (cert = (cert_path, key_path))."""
    data = json.dumps(body).encode() if body is not None else b""
    head = "%s %s HTTP/1.1\r\nHost: %s:%d\r\nConnection: close\r\nContent-Length: %d\r\n" % (
        method, path, host, port, len(data))
    if data:
        head += "Content-Type: application/json\r\n"
    if token is not None:
        head += "X-Vault-Token: %s\r\n" % token
    head += "\r\n"
    ctx = ssl.create_default_context(cafile=d.ca)
    if cert is not None:
        ctx.load_cert_chain(cert[0], cert[1])
    deadline = time.monotonic() + harness.REQUEST_TIMEOUT
    raw = socket.create_connection((host, port), timeout=harness.REQUEST_TIMEOUT,
                                   source_address=(source, 0))
    # The server certificate names localhost and 127.0.0.1.
    sock = ctx.wrap_socket(raw, server_hostname="localhost")
    try:
        sock.sendall(head.encode() + data)
        return harness._read_response(sock, deadline)
    finally:
        sock.close()


class AuthCertNetTest(harness.KwTestCase):

    @classmethod
    def setUpClass(cls):
        # Class cleanups run even when the set-up fails half-way.
        cls.tmp = tempfile.mkdtemp(prefix="kw-certnet-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, True)
        cls.pki = Pki(cls.tmp)
        cls.d = IdentityDaemon(cls.pki, name="keywardd-certnet")
        cls.addClassCleanup(cls.d.cleanup)
        cls.daemons = (cls.d,)
        cls.d.start()
        cls.root = cls.d.root_token

    def setUp(self):
        # Idempotent: every test may run alone.
        policy = {"path": {"transit/sign/%s" % KEY: {"capabilities": ["update"]}}}
        self.api("PUT", "sys/policies/acl/" + POLICY, {"policy": json.dumps(policy)},
                 status=(200, 204))
        for k in (KEY, OTHER_KEY):
            self.api("POST", "transit/keys/" + k, {"type": "ed25519"}, status=(200, 204))

    def api(self, method, path, body=None, token=None, status=200):
        r = self.d.request(method, "/v1/" + path, body, token=token or self.root)
        self.assertIn(r.status, status if isinstance(status, tuple) else (status,), r)
        return r

    def sign_body(self, text=b"hello"):
        return {"input": b64(text)}

    def audit_entry(self, request_id, operation="sign"):
        """The audit entry of one request's operation, found by its id."""
        r = self.api("GET", "keyward/audit/entries?start=0")
        size = r.json["data"]["tree_size"]
        start = max(0, size - 200)
        entries = self.api("GET", "keyward/audit/entries?start=%d" % start).json["data"]
        found = [e["entry"] for e in entries["entries"]
                 if e["entry"].get("request_id") == request_id]
        for e in found:
            if e["operation"] == operation:
                return e
        self.fail("no %s audit entry for request %s: %r" % (operation, request_id, found))

    def assert_closed_before_tls(self, host, port, source):
        """The server closes the connection without sending a byte and
        without waiting for a ClientHello: the refusal happened before TLS."""
        s = socket.create_connection((host, port), timeout=REFUSAL_TIMEOUT,
                                     source_address=(source, 0))
        try:
            # We send nothing: an accepted TLS connection would wait for our
            # ClientHello (until the idle timeout), never answer with EOF.
            try:
                got = s.recv(4096)
            except ConnectionResetError:
                got = b""
            except socket.timeout:
                self.fail("connection from %s to %s:%d was kept open" % (source, host, port))
            self.assertEqual(got, b"")
        finally:
            s.close()

    # ---- network identities -------------------------------------------------

    def test_net_identity_signs_without_token(self):
        r = call(self.d, "127.0.0.2", self.d.net_port, "POST", "/v1/transit/sign/" + KEY,
                 self.sign_body(), source="127.0.0.1")
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.json["data"]["signature"].startswith("vault:v1:"))
        e = self.audit_entry(r.json["request_id"])
        self.assertEqual(e["subject"], "net:" + NET_NAME)
        self.assertEqual(e["auth_method"], "network")
        self.assertEqual(e["source_addr"], "127.0.0.1")
        self.assertEqual(e["listener_port"], self.d.net_port)
        self.assertEqual(e["operation"], "sign")

    def test_net_identity_second_listener_other_source(self):
        r = call(self.d, "127.0.0.2", self.d.net_port_2, "POST", "/v1/transit/sign/" + KEY,
                 self.sign_body(), source="127.0.0.2")
        self.assertEqual(r.status, 200, r)
        e = self.audit_entry(r.json["request_id"])
        self.assertEqual(e["subject"], "net:" + NET_NAME_2)
        self.assertEqual(e["source_addr"], "127.0.0.2")

    def test_net_identity_policies_still_apply(self):
        r = call(self.d, "127.0.0.2", self.d.net_port, "POST",
                 "/v1/transit/sign/" + OTHER_KEY, self.sign_body(), source="127.0.0.1")
        self.assertError(r, 403)

    def test_refused_before_tls_from_other_address(self):
        self.assert_closed_before_tls("127.0.0.2", self.d.net_port, "127.0.0.2")
        self.assert_closed_before_tls("127.0.0.2", self.d.net_port_2, "127.0.0.1")
        # A TLS client sees the handshake fail, never an HTTP answer.
        with self.assertRaises((ssl.SSLError, ConnectionError, harness.ConnectionDropped)):
            call(self.d, "127.0.0.2", self.d.net_port, "POST", "/v1/transit/sign/" + KEY,
                 self.sign_body(), source="127.0.0.2")
        # Counted and logged, with the address and nothing else of the client.
        self.assertIn("refused a connection from 127.0.0.2", self.d.log_tail())
        # And the listener still serves its allowed source.
        r = call(self.d, "127.0.0.2", self.d.net_port, "POST", "/v1/transit/sign/" + KEY,
                 self.sign_body(), source="127.0.0.1")
        self.assertEqual(r.status, 200, r)

    def test_token_wins_over_net_identity(self):
        # The root token works on the network listener and is who is audited.
        r = call(self.d, "127.0.0.2", self.d.net_port, "POST",
                 "/v1/transit/sign/" + OTHER_KEY, self.sign_body(), token=self.root,
                 source="127.0.0.1")
        self.assertEqual(r.status, 200, r)
        e = self.audit_entry(r.json["request_id"])
        self.assertEqual(e["auth_method"], "token")
        self.assertNotEqual(e["subject"], "net:" + NET_NAME)
        # A token without the policy is refused even though the network
        # identity alone would have been allowed: the token wins.
        weak = {"path": {"sys/health": {"capabilities": ["read"]}}}
        self.api("PUT", "sys/policies/acl/weak", {"policy": json.dumps(weak)}, status=(200, 204))
        tok = self.api("POST", "auth/token/create", {"policies": ["weak"]}).json["auth"]
        r = call(self.d, "127.0.0.2", self.d.net_port, "POST", "/v1/transit/sign/" + KEY,
                 self.sign_body(), token=tok["client_token"], source="127.0.0.1")
        self.assertError(r, 403)
        # A bad token is a bad token, not a fallback to the network identity.
        r = call(self.d, "127.0.0.2", self.d.net_port, "POST", "/v1/transit/sign/" + KEY,
                 self.sign_body(), token="kw-not-a-token", source="127.0.0.1")
        self.assertError(r, 403)

    def test_no_identity_on_plain_listener(self):
        r = call(self.d, "127.0.0.1", self.d.port, "POST", "/v1/transit/sign/" + KEY,
                 self.sign_body(), source="127.0.0.1")
        self.assertError(r, 403)

    # ---- tls_client_auth: require ----------------------------------------------

    def test_require_refuses_missing_or_untrusted_certificate(self):
        r = call(self.d, "127.0.0.1", self.d.require_port, "GET", "/v1/sys/health")
        self.assertError(r, 403, code="client_certificate_refused")
        self.assertIn("requires a TLS client certificate", r.errors()[0])
        r = call(self.d, "127.0.0.1", self.d.require_port, "GET", "/v1/sys/health",
                 cert=self.pki.other)
        self.assertError(r, 403, code="client_certificate_refused")
        self.assertIn("not issued by a trusted CA", r.errors()[0])
        r = call(self.d, "127.0.0.1", self.d.require_port, "GET", "/v1/sys/health",
                 cert=self.pki.expired)
        self.assertError(r, 403, code="client_certificate_refused")
        self.assertIn("expired", r.errors()[0])
        r = call(self.d, "127.0.0.1", self.d.require_port, "GET", "/v1/sys/health",
                 cert=self.pki.server_only)
        self.assertError(r, 403, code="client_certificate_refused")
        r = call(self.d, "127.0.0.1", self.d.require_port, "GET", "/v1/sys/health",
                 cert=self.pki.api)
        self.assertEqual(r.status, 200, r)
        # No certificate bytes in any reply or log line.
        with open(self.pki.other[0]) as f:
            body = "".join(l for l in f.read().splitlines() if not l.startswith("-----"))
        self.assertNotIn(body[:40], self.d.log_tail())

    def test_request_mode_serves_without_certificate(self):
        r = call(self.d, "127.0.0.1", self.d.cert_port, "GET", "/v1/sys/health")
        self.assertEqual(r.status, 200, r)
        r = call(self.d, "127.0.0.1", self.d.cert_port, "POST", "/v1/transit/sign/" + KEY,
                 self.sign_body(), token=self.root)
        self.assertEqual(r.status, 200, r)

    # ---- the cert method -------------------------------------------------------

    def cert_mount(self):
        r = self.api("GET", "sys/auth")
        mounts = r.json.get("data", r.json)
        if "cert/" not in mounts:
            self.api("POST", "sys/auth/cert", {"type": "cert"}, status=(200, 204))
        self.api("POST", "auth/cert/certs/api", {
            "certificate": self.pki.ca.pem,
            "allowed_uri_sans": ["spiffe://%s/ns/payments/sa/*" % TRUST_DOMAIN],
            "token_policies": [POLICY],
            "token_ttl": "10m",
        }, status=(200, 204))

    def test_cert_implicit_login_signs_without_token(self):
        self.cert_mount()
        r = call(self.d, "127.0.0.1", self.d.cert_port, "POST", "/v1/transit/sign/" + KEY,
                 self.sign_body(), cert=self.pki.api)
        self.assertEqual(r.status, 200, r)
        e = self.audit_entry(r.json["request_id"])
        self.assertEqual(e["subject"], SPIFFE_API, e)
        self.assertEqual(e["auth_method"], "cert")
        self.assertIsInstance(e["claims"], dict)
        self.assertEqual(e["claims"].get("role"), "api")
        self.assertEqual(len(e["claims"].get("sha256", "")), 64)
        # Its policies, not more.
        r = call(self.d, "127.0.0.1", self.d.cert_port, "POST",
                 "/v1/transit/sign/" + OTHER_KEY, self.sign_body(), cert=self.pki.api)
        self.assertError(r, 403)

    def test_cert_login_returns_token(self):
        self.cert_mount()
        r = call(self.d, "127.0.0.1", self.d.cert_port, "POST", "/v1/auth/cert/login",
                 {"name": "api"}, cert=self.pki.api)
        self.assertEqual(r.status, 200, r)
        auth = r.json["auth"]
        self.assertIn(POLICY, auth["policies"])
        self.assertLessEqual(auth["lease_duration"], 600)
        # The token works anywhere, without the certificate.
        r = call(self.d, "127.0.0.1", self.d.port, "POST", "/v1/transit/sign/" + KEY,
                 self.sign_body(), token=auth["client_token"])
        self.assertEqual(r.status, 200, r)

    def test_cert_refusals(self):
        self.cert_mount()
        for name, cert in (("another CA", self.pki.other), ("expired", self.pki.expired),
                           ("disallowed SAN", self.pki.billing)):
            with self.subTest(name):
                r = call(self.d, "127.0.0.1", self.d.cert_port, "POST",
                         "/v1/transit/sign/" + KEY, self.sign_body(), cert=cert)
                self.assertError(r, 403)
                r = call(self.d, "127.0.0.1", self.d.cert_port, "POST", "/v1/auth/cert/login",
                         {"name": "api"}, cert=cert)
                self.assertError(r, 403)
        # No certificate at all: no identity, no login.
        r = call(self.d, "127.0.0.1", self.d.cert_port, "POST", "/v1/auth/cert/login",
                 {"name": "api"})
        self.assertError(r, (400, 403))


if __name__ == "__main__":
    harness.main()
