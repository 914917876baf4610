#!/usr/bin/python3
"""The kubernetes auth method, end to end, against the real keywardd.

- Real kube-apiserver tokens from ../shared/vectors/k8s-tokens (README.md,
  manifest.json): each logs in at the mount holding its own cluster's key
  and is refused at every other; a role bound to its namespace and service
  account logs in, a role bound elsewhere answers 403. They have all expired
  but one, so keywardd runs with KEYWARD_TEST_NOW (a TEST-ONLY environment
  variable the front's credential checks honour; the keeper keeps the real
  clock and the front hands it the token's remaining life) set to a moment
  when each token was valid.
- Tokens minted here (python3-jwt, python3-cryptography) in exactly the
  shape kube-apiserver gives a projected token: a valid one, and every bad
  case of the issue — each answered 403 (or 400) with a clear error, one
  audit entry for the denial, and the server still serving afterwards.
- The TTL of a login token never exceeds the JWT's remaining life.
- hvac's auth.kubernetes.login works unmodified.
- TokenReview (use_token_review): no kube-apiserver can run here, so this is
  the ONE place with a stand-in, as the issue allows: a small HTTPS server
  (http.server + ssl) written below, answering TokenReviews for the tokens
  of pods it still considers alive.
"""

import base64
import hashlib
import hmac
import http.server
import json
import os
import ssl
import sys
import tempfile
import threading
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402

import jwt as pyjwt  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature  # noqa: E402

VECTORS = os.path.join(harness.repo_root(), "..", "shared", "vectors", "k8s-tokens")
ISSUER = "https://kubernetes.default.svc.cluster.local"
AUDIENCE = "keyward"
NAMESPACE = "payments"
SA = "api"


def b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def vec(path):
    with open(os.path.join(VECTORS, path)) as f:
        return f.read()


def spki_kid(public_key):
    """kube-apiserver's kid: base64url(SHA-256(DER SubjectPublicKeyInfo))."""
    der = public_key.public_bytes(serialization.Encoding.DER,
                                  serialization.PublicFormat.SubjectPublicKeyInfo)
    return b64u(hashlib.sha256(der).digest())


def pem_public(key):
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def jwk_of(key, kid):
    pub = key.public_key()
    if isinstance(pub, rsa.RSAPublicKey):
        n = pub.public_numbers()
        return {"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
                "n": b64u(n.n.to_bytes((n.n.bit_length() + 7) // 8, "big")),
                "e": b64u(n.e.to_bytes((n.e.bit_length() + 7) // 8, "big"))}
    n = pub.public_numbers()
    return {"kty": "EC", "kid": kid, "use": "sig", "crv": "P-256",
            "x": b64u(n.x.to_bytes(32, "big")), "y": b64u(n.y.to_bytes(32, "big"))}


def k8s_claims(now, ns=NAMESPACE, sa=SA, life=600, **over):
    """A projected token's claims, as kube-apiserver writes them."""
    c = {
        "aud": [AUDIENCE],
        "exp": now + life,
        "iat": now,
        "iss": ISSUER,
        "kubernetes.io": {
            "namespace": ns,
            "pod": {"name": "%s-7d9f8c6b5-x2x4q" % sa, "uid": str(uuid.uuid4())},
            "serviceaccount": {"name": sa, "uid": str(uuid.uuid4())},
        },
        "nbf": now,
        "sub": "system:serviceaccount:%s:%s" % (ns, sa),
    }
    c.update(over)
    return c


def compact(header, payload_bytes, sign):
    """A JWS from raw parts: header dict, payload bytes, sign(signing_input)."""
    h = b64u(json.dumps(header, separators=(",", ":")).encode())
    p = b64u(payload_bytes)
    signing_input = ("%s.%s" % (h, p)).encode()
    return "%s.%s.%s" % (h, p, b64u(sign(signing_input)))


def rs256(key):
    return lambda data: key.sign(data, padding.PKCS1v15(), hashes.SHA256())


def es256_raw(key):
    def sign(data):
        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return sign


def dumps(c):
    return json.dumps(c, separators=(",", ":")).encode()


class K8sCase(harness.KwTestCase):
    """Helpers shared by the tests below."""

    def daemon(self, test_now=None):
        old = os.environ.pop("KEYWARD_TEST_NOW", None)
        if test_now is not None:
            os.environ["KEYWARD_TEST_NOW"] = str(test_now)
        try:
            d = self.use_daemon(harness.Daemon(dev=True))
            d.start()
        finally:
            os.environ.pop("KEYWARD_TEST_NOW", None)
            if old is not None:
                os.environ["KEYWARD_TEST_NOW"] = old
        return d

    def api(self, d, method, path, body=None, status=(200, 204), token=None):
        r = d.request(method, "/v1/" + path, body=body,
                      token=d.root_token if token is None else token)
        statuses = status if isinstance(status, tuple) else (status,)
        self.assertIn(r.status, statuses, "%s %s: %r" % (method, path, r))
        return r

    def enable(self, d, mount, config, roles):
        self.api(d, "POST", "sys/auth/" + mount, {"type": "kubernetes"})
        self.api(d, "POST", "auth/%s/config" % mount, config)
        for name, role in roles.items():
            self.api(d, "POST", "auth/%s/role/%s" % (mount, name), role)

    def login(self, d, mount, role, token):
        return d.request("POST", "/v1/auth/%s/login" % mount, {"role": role, "jwt": token})

    def audit_size(self, d):
        return self.api(d, "GET", "keyward/audit/entries?start=0").json["data"]["tree_size"]

    def audit_since(self, d, start):
        data = self.api(d, "GET", "keyward/audit/entries?start=%d" % start).json["data"]
        return [e["entry"] for e in data["entries"]]

    def assert_refused(self, d, mount, role, token, reason, status=403, code=None):
        """Refused with a clear error naming no token bytes; one audit
        entry for the denial; the server still serving."""
        before = self.audit_size(d)
        r = self.login(d, mount, role, token)
        self.assertError(r, status, code=code)
        text = r.errors()[0]
        self.assertNotIn(token[-16:], r.body.decode("utf-8", "replace"))
        logins = [e for e in self.audit_since(d, before) if e["operation"] == "login"]
        self.assertEqual(len(logins), 1, "one audit entry per refused login: %r" % logins)
        self.assertNotEqual(logins[0]["result"], 0)
        self.assertEqual(logins[0]["result_code"], reason, "%r / %s" % (logins[0], text))
        self.assertEqual(logins[0]["path"], "auth/%s/login" % mount)
        self.assertNotIn(token[-16:], json.dumps(logins[0]))
        self.assertEqual(d.request("GET", "/v1/sys/health").status, 200)
        self.last_denial = logins[0]
        return text


# --- real apiserver tokens ------------------------------------------------------------

# mount -> (config, the namespace and service account its tokens name)
REAL_MOUNTS = {
    "mk2017": ({"pem_keys": [vec("minikube-2017-legacy/minikube-apiserver-pubkey.pem")],
                "issuer": "kubernetes/serviceaccount"}, "default", "vault-auth", ""),
    "mk2018": ({"pem_keys": [vec("minikube-2018-projected/sa.pub.pem")],
                "issuer": "kubernetes/serviceaccount"}, "default", "default",
               "kubernetes.default.svc"),
    # The 2020 cluster through a JWKS file (kid = kube-apiserver's derived kid).
    "mk2020": ({"jwks_file": os.path.abspath(
                    os.path.join(VECTORS, "minikube-2020-projected/jwks.derived.json")),
                "issuer": "kubernetes/serviceaccount"}, "default", "default",
               "kubernetes.default.svc"),
    # EKS through its published 13-key JWKS: the kid selects the key.
    "eks": ({"jwks_file": os.path.abspath(os.path.join(VECTORS, "eks-2025-projected/jwks.json")),
             "issuer": "https://oidc.eks.eu-west-1.amazonaws.com/id/"
                       "B88E7287E54DB073AC9CDC2FD1BE0969"},
            "hakawai", "hakawai-litellm-proxy", "sts.amazonaws.com"),
    # SYNTHETIC (not apiserver output): ES384 over legacy claims.
    "es384": ({"pem_keys": [vec("synthetic-not-apiserver/es384-p384-pubkey.pem")],
               "issuer": "kubernetes/serviceaccount"}, "default", "vault-auth", ""),
}

# token file, its mount, test clock when it was valid (None: no exp)
REAL_TOKENS = [
    ("minikube-2017-legacy/legacy-default-vault-auth.jwt", "mk2017", 1600000000),
    ("minikube-2018-projected/projected-default-default-exp2018.jwt", "mk2018", 1539966000),
    ("minikube-2018-projected/projected-default-default-exp2020.jwt", "mk2018", 1600000000),
    ("minikube-2020-projected/projected-default-default-exp2030.jwt", "mk2020", 1604083500),
    ("minikube-2020-projected/projected-default-default-exp2020.jwt", "mk2020", 1604083500),
    ("eks-2025-projected/token.jwt", "eks", 1764000000),
    ("synthetic-not-apiserver/es384-handmade-legacy-claims.jwt", "es384", 1600000000),
]


class RealTokens(K8sCase):
    def setup_mounts(self, d):
        for mount, (config, ns, sa, aud) in REAL_MOUNTS.items():
            roles = {
                "own": {"bound_service_account_names": [sa],
                        "bound_service_account_namespaces": [ns],
                        "audience": aud, "token_policies": ["reader"], "token_ttl": "1h"},
                "elsewhere": {"bound_service_account_names": [sa],
                              "bound_service_account_namespaces": ["kube-system"],
                              "audience": aud},
                # Any service account of these namespaces: for the
                # cross-mount checks, which must fail on the signature.
                "any": {"bound_service_account_names": "*",
                        "bound_service_account_namespaces": "default,hakawai"},
            }
            self.enable(d, mount, config, roles)

    def test_each_token_verifies_with_its_own_key_only(self):
        clocks = sorted({t for _, _, t in REAL_TOKENS})
        for clock in clocks:
            d = self.daemon(test_now=clock)
            self.setup_mounts(d)
            for path, own, when in REAL_TOKENS:
                if when != clock:
                    continue
                tok = vec(path)
                _, ns, sa, _ = REAL_MOUNTS[own]
                with self.subTest(token=path, mount=own):
                    r = self.login(d, own, "own", tok)
                    self.assertEqual(r.status, 200, r)
                    auth = r.json["auth"]
                    self.assertEqual(auth["metadata"]["namespace"], ns)
                    self.assertEqual(auth["metadata"]["service_account_name"], sa)
                    self.assertIn("reader", auth["policies"])
                    who = self.api(d, "GET", "auth/token/lookup-self",
                                   token=auth["client_token"]).json["data"]
                    self.assertEqual(who["display_name"], "k8s:%s/%s" % (ns, sa))
                with self.subTest(token=path, role="elsewhere"):
                    self.assert_refused(d, own, "elsewhere", tok, "binding_mismatch",
                                        code="permission_denied")
                for other in REAL_MOUNTS:
                    if other == own:
                        continue
                    with self.subTest(token=path, other=other):
                        r = self.login(d, other, "any", tok)
                        self.assertError(r, 403, code="bad_token")
            d.stop()

    def test_expired_real_token_is_refused_on_the_real_clock(self):
        d = self.daemon()
        self.setup_mounts(d)
        text = self.assert_refused(
            d, "mk2020", "own", vec("minikube-2020-projected/projected-default-default-exp2020.jwt"),
            "token_expired")
        self.assertIn("token expired", text)
        # The one real token still valid today logs in without a test clock.
        r = self.login(d, "mk2020", "own",
                       vec("minikube-2020-projected/projected-default-default-exp2030.jwt"))
        self.assertEqual(r.status, 200, r)

    def test_wrong_key_token_is_refused_everywhere(self):
        d = self.daemon(test_now=1600000000)
        self.setup_mounts(d)
        tok = vec("synthetic-not-apiserver/rs256-wrong-key-legacy-claims.jwt")
        for mount in REAL_MOUNTS:
            with self.subTest(mount=mount):
                r = self.login(d, mount, "any", tok)
                self.assertError(r, 403, code="bad_token")

    def test_ttl_never_exceeds_the_tokens_remaining_life(self):
        clock = 1604083500  # the 10-minute 2020 token has 386 s left
        d = self.daemon(test_now=clock)
        self.setup_mounts(d)
        exp = 1604083886
        r = self.login(d, "mk2020", "own",
                       vec("minikube-2020-projected/projected-default-default-exp2020.jwt"))
        self.assertEqual(r.status, 200, r)
        ttl = r.json["auth"]["lease_duration"]
        self.assertGreater(ttl, 0)
        self.assertLessEqual(ttl, exp - clock)
        info = self.api(d, "GET", "auth/token/lookup-self",
                        token=r.json["auth"]["client_token"]).json["data"]
        self.assertLessEqual(info["ttl"], exp - clock)


# --- minted tokens ------------------------------------------------------------------


class Minted(K8sCase):
    @classmethod
    def setUpClass(cls):
        cls.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        cls.ec = ec.generate_private_key(ec.SECP256R1())
        cls.other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        cls.rsa_kid = spki_kid(cls.rsa.public_key())
        cls.ec_kid = spki_kid(cls.ec.public_key())

    def setUp(self):
        self.d = self.daemon()
        self.jwks = os.path.join(self.d.dir, "cluster-jwks.json")
        with open(self.jwks, "w") as f:
            json.dump({"keys": [jwk_of(self.rsa, self.rsa_kid), jwk_of(self.ec, self.ec_kid)]}, f)
        self.enable(self.d, "kubernetes", {"jwks_file": self.jwks, "issuer": ISSUER}, {
            "app": {"bound_service_account_names": SA,
                    "bound_service_account_namespaces": NAMESPACE,
                    "audience": AUDIENCE, "token_policies": "signer", "token_ttl": "1h"},
            "globbed": {"bound_service_account_names": ["ap*"],
                        "bound_service_account_namespaces": ["pay*"],
                        "audience": AUDIENCE},
            "elsewhere": {"bound_service_account_names": [SA],
                          "bound_service_account_namespaces": ["billing"],
                          "audience": AUDIENCE},
        })

    def mint(self, claims=None, key=None, kid=None, alg="RS256"):
        now = int(time.time())
        return pyjwt.encode(claims or k8s_claims(now), key or self.rsa, algorithm=alg,
                            headers={"kid": self.rsa_kid if kid is None else kid})

    def test_valid_token_logs_in(self):
        for role in ("app", "globbed"):
            with self.subTest(role=role):
                r = self.login(self.d, "kubernetes", role, self.mint())
                self.assertEqual(r.status, 200, r)
                self.assertTrue(r.json["auth"]["client_token"])
        now = int(time.time())
        es = pyjwt.encode(k8s_claims(now), self.ec, algorithm="ES256",
                          headers={"kid": self.ec_kid})
        self.assertEqual(self.login(self.d, "kubernetes", "app", es).status, 200)
        entries = self.audit_since(self.d, 0)
        ok = [e for e in entries if e["operation"] == "login" and e["result"] == 0]
        self.assertEqual(len(ok), 3)
        self.assertEqual(ok[0]["subject"], "k8s:payments/api")
        self.assertEqual(ok[0]["auth_method"], "kubernetes")
        self.assertEqual(ok[0]["claims"]["pod_name"], "api-7d9f8c6b5-x2x4q")
        self.assertTrue(ok[0]["claims"]["pod_uid"])

    def test_ttl_is_cut_to_the_jwt_expiry(self):
        now = int(time.time())
        r = self.login(self.d, "kubernetes", "app", self.mint(k8s_claims(now, life=90)))
        self.assertEqual(r.status, 200, r)
        self.assertLessEqual(r.json["auth"]["lease_duration"], 90)
        self.assertGreater(r.json["auth"]["lease_duration"], 0)

    def test_role_bound_elsewhere_is_403(self):
        self.assert_refused(self.d, "kubernetes", "elsewhere", self.mint(), "binding_mismatch",
                            code="permission_denied")
        # The token verified: the denial names the service account and its pod.
        self.assertEqual(self.last_denial["subject"], "k8s:payments/api")
        self.assertEqual(self.last_denial["claims"]["pod_name"], "api-7d9f8c6b5-x2x4q")
        self.assertEqual(self.last_denial["auth_method"], "kubernetes")

    def test_unknown_role_is_403(self):
        self.assert_refused(self.d, "kubernetes", "nope", self.mint(), "role_not_found")

    def test_every_bad_token_is_refused_and_audited(self):
        now = int(time.time())
        good = k8s_claims(now)
        hdr = {"alg": "RS256", "kid": self.rsa_kid}
        pub_pem = pem_public(self.rsa).encode()
        valid = self.mint(good)
        h, p, s = valid.split(".")
        edited = dict(good, sub="system:serviceaccount:payments:admin")
        edited["kubernetes.io"] = dict(good["kubernetes.io"],
                                       serviceaccount={"name": "admin", "uid": "x"})
        dup = dumps(good)[:-1] + b',"sub":"system:serviceaccount:payments:other"}'
        cases = [
            ("expired", self.mint(k8s_claims(now - 7200, life=600)), "token_expired"),
            ("nbf in the future", self.mint(dict(good, nbf=now + 3600, iat=now)),
             "token_not_yet_valid"),
            ("wrong aud", self.mint(dict(good, aud=["vault"])), "audience_mismatch"),
            ("wrong iss", self.mint(dict(good, iss="https://evil.example")), "issuer_mismatch"),
            ("unknown kid", self.mint(good, key=self.other, kid="not-a-key-we-know"),
             "unknown_kid"),
            ("alg none", compact({"alg": "none", "kid": self.rsa_kid}, dumps(good),
                                 lambda _: b""), "alg_none"),
            ("HS256 with the RSA public key as secret",
             compact({"alg": "HS256", "kid": self.rsa_kid}, dumps(good),
                     lambda data: hmac.new(pub_pem, data, hashlib.sha256).digest()),
             "alg_not_allowed"),
            ("RS256 header on an EC key",
             compact({"alg": "RS256", "kid": self.ec_kid}, dumps(good), es256_raw(self.ec)),
             "alg_key_mismatch"),
            ("payload edited after signing", "%s.%s.%s" % (h, b64u(dumps(edited)), s),
             "bad_signature"),
            ("signature truncated", "%s.%s.%s" % (h, p, s[:-10]), "bad_signature_length"),
            ("64 KiB token", self.mint(dict(good, pad="A" * 65536)), "token_too_large"),
            ("bad base64url", "%s.%s.%s" % (h, p[:10] + "+/=" + p[13:], s), "bad_base64url"),
            ("duplicate JSON keys", compact(hdr, dup, rs256(self.rsa)), "duplicate_json_key"),
            ("non-string sub", self.mint(dict(good, sub=12345)), "bad_sub"),
        ]
        for name, token, reason in cases:
            with self.subTest(case=name):
                text = self.assert_refused(self.d, "kubernetes", "app", token, reason)
                self.assertTrue(text.startswith("login refused: "), text)
        # Still serving: a good token logs in after all of that.
        self.assertEqual(self.login(self.d, "kubernetes", "app", self.mint()).status, 200)

    def test_malformed_requests_are_400(self):
        for body in ({"role": "app"}, {"jwt": self.mint()}, {"role": "app", "jwt": 5}):
            with self.subTest(body=list(body)):
                r = self.d.request("POST", "/v1/auth/kubernetes/login", body)
                self.assertError(r, 400, code="invalid_request")

    def test_hvac_login_unmodified(self):
        client = self.d.hvac_client(token="")
        resp = client.auth.kubernetes.login("app", self.mint())
        self.assertIn("signer", resp["auth"]["policies"])
        self.assertEqual(client.token, resp["auth"]["client_token"])
        self.assertEqual(client.auth.token.lookup_self()["data"]["display_name"],
                         "k8s:payments/api")

    def test_config_and_roles_round_trip(self):
        cfg = self.api(self.d, "GET", "auth/kubernetes/config").json["data"]
        self.assertEqual(cfg["issuer"], ISSUER)
        self.assertNotIn("token_reviewer_jwt", cfg)
        role = self.api(self.d, "GET", "auth/kubernetes/role/app").json["data"]
        self.assertEqual(role["bound_service_account_names"], [SA])
        self.assertEqual(role["token_policies"], ["signer"])
        self.assertEqual(role["token_ttl"], 3600)
        names = self.api(self.d, "LIST", "auth/kubernetes/role").json["data"]["keys"]
        self.assertEqual(sorted(names), ["app", "elsewhere", "globbed"])
        # Vault's refusals: empty bindings, both "*".
        for bad in ({"bound_service_account_names": [], "bound_service_account_namespaces": "x"},
                    {"bound_service_account_names": "*", "bound_service_account_namespaces": "*"},
                    {"bound_service_account_names": "a", "bound_service_account_namespaces": "b",
                     "bogus_field": 1}):
            with self.subTest(role=bad):
                r = self.api(self.d, "POST", "auth/kubernetes/role/bad", bad, status=400)
                self.assertError(r, 400)
        # A config change is seen by the next login (the front's cache drops).
        self.api(self.d, "POST", "auth/kubernetes/config",
                 {"pem_keys": [pem_public(self.other)], "issuer": ISSUER})
        self.assertError(self.login(self.d, "kubernetes", "app", self.mint()), 403)
        tok = self.mint(key=self.other, kid="")
        self.assertEqual(self.login(self.d, "kubernetes", "app", tok).status, 200)


# --- TokenReview ------------------------------------------------------------------------


class FakeApiServer:
    """THE STAND-IN (the one the issue allows, since no kube-apiserver runs
    here): an HTTPS server answering POST /apis/authentication.k8s.io/v1/
    tokenreviews. A token is authenticated while it is in `alive` and the
    caller presents the reviewer JWT."""

    def __init__(self, directory, reviewer):
        self.ca, cert, key = harness.make_tls_files(directory)
        self.alive = set()
        self.reviewer = reviewer
        self.seen = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                outer.seen.append((self.path, self.headers.get("Authorization")))
                if self.headers.get("Authorization") != "Bearer " + outer.reviewer:
                    return self.answer(401, {"kind": "Status", "code": 401})
                review = json.loads(body)
                token = review["spec"]["token"]
                status = {"authenticated": False}
                if self.path == "/apis/authentication.k8s.io/v1/tokenreviews" and \
                        token in outer.alive:
                    status = {"authenticated": True, "audiences": [AUDIENCE], "user": {
                        "username": "system:serviceaccount:%s:%s" % (NAMESPACE, SA),
                        "uid": str(uuid.uuid4()), "groups": ["system:serviceaccounts"]}}
                review["status"] = status
                self.answer(201, review)

            def answer(self, code, obj):
                data = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.url = "https://127.0.0.1:%d" % self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class TokenReview(K8sCase):
    def setUp(self):
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.tmp = tempfile.mkdtemp(prefix="kw-apiserver-")
        self.reviewer = "reviewer-" + uuid.uuid4().hex
        self.api_server = FakeApiServer(self.tmp, self.reviewer)
        self.addCleanup(self.api_server.close)
        other_ca, _, _ = harness.make_tls_files(tempfile.mkdtemp(prefix="kw-otherca-"))
        with open(self.api_server.ca) as f:
            ca = f.read()
        with open(other_ca) as f:
            wrong_ca = f.read()
        self.d = self.daemon()
        role = {"app": {"bound_service_account_names": SA,
                        "bound_service_account_namespaces": NAMESPACE, "audience": AUDIENCE}}
        base = {"pem_keys": [pem_public(self.key)], "issuer": ISSUER,
                "kubernetes_host": self.api_server.url, "use_token_review": True,
                "token_reviewer_jwt": self.reviewer}
        self.enable(self.d, "kubernetes", dict(base, kubernetes_ca_cert=ca), role)
        self.enable(self.d, "k8s-wrong-ca", dict(base, kubernetes_ca_cert=wrong_ca), role)

    def mint(self):
        return pyjwt.encode(k8s_claims(int(time.time())), self.key, algorithm="RS256",
                            headers={"kid": spki_kid(self.key.public_key())})

    def test_a_deleted_pods_token_stops_working(self):
        tok = self.mint()
        self.api_server.alive.add(tok)
        r = self.login(self.d, "kubernetes", "app", tok)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.api_server.seen[-1],
                         ("/apis/authentication.k8s.io/v1/tokenreviews",
                          "Bearer " + self.reviewer))
        self.api_server.alive.discard(tok)  # the pod is deleted
        self.assert_refused(self.d, "kubernetes", "app", tok, "token_review_denied")

    def test_the_api_servers_certificate_is_verified(self):
        tok = self.mint()
        self.api_server.alive.add(tok)
        before = len(self.api_server.seen)
        self.assert_refused(self.d, "k8s-wrong-ca", "app", tok, "token_review_unavailable")
        self.assertEqual(len(self.api_server.seen), before, "no request past a bad TLS peer")

    def test_reviewer_jwt_is_never_returned(self):
        cfg = self.api(self.d, "GET", "auth/kubernetes/config").json["data"]
        self.assertNotIn("token_reviewer_jwt", cfg)
        self.assertNotIn(self.reviewer, json.dumps(cfg))
        self.assertTrue(cfg["use_token_review"])


if __name__ == "__main__":
    harness.main()
