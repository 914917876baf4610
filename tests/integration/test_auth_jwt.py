#!/usr/bin/python3
"""The jwt auth method (any OIDC issuer), end to end, against the real keywardd.

One mount trusts two issuers (keyward's "issuers" list): a CI system whose
tokens carry repository and ref claims (GitHub-Actions-like, RS256) and a
cloud identity provider (Azure-AD-like, ES256). Roles bind audiences,
subject and claims (exact and glob), choose the user claim (plain or JSON
pointer) and map claims into the token's metadata and the audit log. Keys of
one issuer never vouch for another issuer's tokens. A second mount uses
Vault's single-issuer fields. hvac's auth.jwt.jwt_login works unmodified.

Tokens are minted here with python3-jwt and python3-cryptography; the
issuers' keys are given as jwt_validation_pubkeys (no network: the JWKS and
discovery fetchers are covered by src/auth's unit tests).
"""

import json
import os
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402

import jwt as pyjwt  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec, rsa  # noqa: E402

CI_ISS = "https://ci.example.test"
IDP_ISS = "https://login.idp.example.test/tenant-1/v2.0"
TENANT = "tenant-1"
OBJECT_ID = "3f1c6d2e-0a6b-4d8e-9b1a-7c2f5e4d3a21"


def pem_public(key):
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


class JwtMethod(harness.KwTestCase):
    @classmethod
    def setUpClass(cls):
        cls.ci_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        cls.idp_key = ec.generate_private_key(ec.SECP256R1())

    def setUp(self):
        self.d = self.use_daemon(harness.Daemon(dev=True)).start()
        self.api("POST", "sys/auth/jwt", {"type": "jwt", "description": "CI and cloud"})
        self.api("POST", "auth/jwt/config", {"issuers": [
            {"issuer": CI_ISS, "jwt_validation_pubkeys": [pem_public(self.ci_key)]},
            {"issuer": IDP_ISS, "jwt_validation_pubkeys": [pem_public(self.idp_key)]},
        ]})
        self.api("POST", "auth/jwt/role/deploy", {
            "role_type": "jwt", "bound_audiences": ["keyward"],
            "bound_claims": {"repository": "acme/payments", "ref": ["refs/heads/main",
                                                                   "refs/tags/v*"]},
            "bound_claims_type": "glob", "user_claim": "repository",
            "claim_mappings": {"repository": "repo", "ref": "ref", "run_id": "run"},
            "token_policies": ["deployer"], "token_ttl": "10m"})
        self.api("POST", "auth/jwt/role/workload", {
            "role_type": "jwt", "bound_audiences": "api://keyward",
            "bound_subject": OBJECT_ID, "bound_claims": {"tid": TENANT},
            "token_policies": "signer"})
        self.api("POST", "auth/jwt/role/by-actor", {
            "bound_audiences": ["keyward"], "bound_claims": {"repository": "acme/payments"},
            "user_claim": "/actor/login", "user_claim_json_pointer": True})
        self.api("POST", "auth/jwt/role/subject-only", {"bound_subject": OBJECT_ID})
        self.api("POST", "auth/jwt/role/lenient", {
            "bound_audiences": ["keyward"], "not_before_leeway": 300,
            "expiration_leeway": 300})

    def api(self, method, path, body=None, status=(200, 204), token=None):
        r = self.d.request(method, "/v1/" + path, body=body,
                           token=self.d.root_token if token is None else token)
        statuses = status if isinstance(status, tuple) else (status,)
        self.assertIn(r.status, statuses, "%s %s: %r" % (method, path, r))
        return r

    def ci_token(self, key=None, alg="RS256", **over):
        now = int(time.time())
        claims = {"iss": CI_ISS, "aud": "keyward", "sub": "repo:acme/payments:ref:refs/heads/main",
                  "repository": "acme/payments", "ref": "refs/heads/main", "run_id": 4242,
                  "actor": {"login": "octo"}, "iat": now, "nbf": now, "exp": now + 300,
                  "jti": str(uuid.uuid4())}
        claims.update(over)
        claims = {k: v for k, v in claims.items() if v is not None}  # None drops a claim
        return pyjwt.encode(claims, key or self.ci_key, algorithm=alg)

    def idp_token(self, key=None, alg="ES256", **over):
        now = int(time.time())
        claims = {"iss": IDP_ISS, "aud": "api://keyward", "sub": OBJECT_ID, "tid": TENANT,
                  "oid": OBJECT_ID, "iat": now, "nbf": now, "exp": now + 3600}
        claims.update(over)
        claims = {k: v for k, v in claims.items() if v is not None}
        return pyjwt.encode(claims, key or self.idp_key, algorithm=alg)

    def login(self, role, token, mount="jwt"):
        return self.d.request("POST", "/v1/auth/%s/login" % mount, {"role": role, "jwt": token})

    def audit_size(self):
        return self.api("GET", "keyward/audit/entries?start=0").json["data"]["tree_size"]

    def logins_since(self, start):
        data = self.api("GET", "keyward/audit/entries?start=%d" % start).json["data"]
        return [e["entry"] for e in data["entries"] if e["entry"]["operation"] == "login"]

    def refused(self, role, token, reason, code="bad_token", mount="jwt"):
        before = self.audit_size()
        r = self.login(role, token, mount)
        self.assertError(r, 403, code=code)
        logins = self.logins_since(before)
        self.assertEqual(len(logins), 1, logins)
        self.assertEqual(logins[0]["result_code"], reason)
        self.assertEqual(self.d.request("GET", "/v1/sys/health").status, 200)
        return r

    # --- two issuers ---

    def test_each_issuer_logs_in_to_its_role(self):
        before = self.audit_size()
        r = self.login("deploy", self.ci_token())
        self.assertEqual(r.status, 200, r)
        auth = r.json["auth"]
        self.assertIn("deployer", auth["policies"])
        self.assertEqual(auth["metadata"]["repo"], "acme/payments")
        self.assertEqual(auth["metadata"]["run"], "4242")
        self.assertLessEqual(auth["lease_duration"], 300)
        who = self.api("GET", "auth/token/lookup-self",
                       token=auth["client_token"]).json["data"]
        self.assertEqual(who["display_name"], "jwt:jwt/acme/payments")

        r = self.login("workload", self.idp_token())
        self.assertEqual(r.status, 200, r)
        self.assertIn("signer", r.json["auth"]["policies"])
        self.assertLessEqual(r.json["auth"]["lease_duration"], 3600)

        ok = [e for e in self.logins_since(before) if e["result"] == 0]
        self.assertEqual([e["subject"] for e in ok],
                         ["jwt:jwt/acme/payments", "jwt:jwt/" + OBJECT_ID])
        self.assertEqual(ok[0]["auth_method"], "jwt")
        self.assertEqual(ok[0]["claims"]["iss"], CI_ISS)
        self.assertEqual(ok[0]["claims"]["ref"], "refs/heads/main")
        self.assertEqual(ok[1]["claims"]["sub"], OBJECT_ID)

    def test_one_issuers_key_never_vouches_for_the_other(self):
        # CI claims signed by the IdP's key, and the reverse.
        self.refused("deploy", self.ci_token(key=self.idp_key, alg="ES256"), "issuer_mismatch")
        self.refused("workload", self.idp_token(key=self.ci_key, alg="RS256"), "issuer_mismatch")
        self.refused("deploy", self.ci_token(iss="https://evil.example"), "issuer_mismatch")

    def test_claim_bindings(self):
        self.assertEqual(self.login("deploy", self.ci_token(ref="refs/tags/v1.2")).status, 200)
        self.refused("deploy", self.ci_token(repository="acme/other"), "binding_mismatch",
                     code="permission_denied")
        self.refused("deploy", self.ci_token(ref="refs/heads/feature"), "binding_mismatch",
                     code="permission_denied")
        self.refused("workload", self.idp_token(tid="tenant-2"), "binding_mismatch",
                     code="permission_denied")
        self.refused("workload", self.idp_token(sub="someone-else"), "binding_mismatch",
                     code="permission_denied")
        self.refused("deploy", self.ci_token(aud="other"), "audience_mismatch")
        # A token with an audience needs a role that binds one (Vault's rule).
        self.refused("subject-only", self.idp_token(), "audience_not_bound",
                     code="permission_denied")
        self.assertEqual(self.login("subject-only", self.idp_token(aud=None)).status, 200)

    def test_user_claim_json_pointer(self):
        r = self.login("by-actor", self.ci_token())
        self.assertEqual(r.status, 200, r)
        who = self.api("GET", "auth/token/lookup-self",
                       token=r.json["auth"]["client_token"]).json["data"]
        self.assertEqual(who["display_name"], "jwt:jwt/octo")
        self.refused("by-actor", self.ci_token(actor="octo"), "user_claim_missing")

    def test_leeway(self):
        now = int(time.time())
        early = self.ci_token(nbf=now + 120, iat=now)
        self.refused("deploy", early, "token_not_yet_valid")
        r = self.login("lenient", early)
        self.assertEqual(r.status, 200, r)
        # A login never outlives the JWT: past its exp on keyward's clock it
        # is refused, whatever expiration_leeway says.
        late = self.ci_token(exp=now - 30, iat=now - 600, nbf=now - 600)
        self.refused("lenient", late, "token_expired")

    def test_expired_and_unknown_role(self):
        now = int(time.time())
        self.refused("deploy", self.ci_token(exp=now - 3600, iat=now - 7200, nbf=now - 7200),
                     "token_expired")
        self.refused("nope", self.ci_token(), "role_not_found", code="permission_denied")

    def test_hvac_jwt_login_unmodified(self):
        client = self.d.hvac_client(token="")
        resp = client.auth.jwt.jwt_login("workload", self.idp_token(), path="jwt")
        self.assertIn("signer", resp["auth"]["policies"])
        self.assertEqual(client.token, resp["auth"]["client_token"])

    # --- Vault's single-issuer config ---

    def test_single_issuer_mount(self):
        self.api("POST", "sys/auth/ci", {"type": "jwt"})
        self.api("POST", "auth/ci/config", {"jwt_validation_pubkeys": pem_public(self.ci_key),
                                            "bound_issuer": CI_ISS})
        self.api("POST", "auth/ci/role/deploy", {"bound_audiences": "keyward",
                                                 "bound_claims": {"repository": "acme/payments"},
                                                 "policies": "deployer"})
        r = self.login("deploy", self.ci_token(), mount="ci")
        self.assertEqual(r.status, 200, r)
        self.refused("deploy", self.ci_token(iss=IDP_ISS), "issuer_mismatch", mount="ci")
        cfg = self.api("GET", "auth/ci/config").json["data"]
        self.assertEqual(cfg["bound_issuer"], CI_ISS)

    def test_config_and_role_validation(self):
        pem = pem_public(self.ci_key)
        bad_configs = [
            {"jwt_validation_pubkeys": [pem], "jwks_url": "https://x.example/keys"},
            {"jwks_url": "http://x.example/keys"},
            {"oidc_discovery_url": CI_ISS, "oidc_client_secret": "s3cret"},
            {"issuers": [{"issuer": CI_ISS}]},
            {"jwt_validation_pubkeys": ["not a key"]},
            {},
            {"jwt_validation_pubkeys": [pem], "unknown": 1},
        ]
        for cfg in bad_configs:
            with self.subTest(config=list(cfg)):
                r = self.api("POST", "auth/jwt/config", cfg, status=400)
                self.assertError(r, 400)
                self.assertNotIn("s3cret", r.body.decode())
        bad_roles = [
            {"role_type": "oidc", "bound_audiences": "x"},
            {"token_policies": "p"},  # no bound constraint
            {"bound_audiences": "x", "bound_claims_type": "regex"},
            {"bound_audiences": "x", "bound_claims": {"a": {"b": 1}}},
            {"bound_audiences": "x", "claim_mappings": {"a": "role"}},
        ]
        for role in bad_roles:
            with self.subTest(role=role):
                self.assertError(self.api("POST", "auth/jwt/role/bad", role, status=400), 400)
        # The working config survived the refused writes.
        self.assertEqual(self.login("deploy", self.ci_token()).status, 200)

    def test_mounts_are_listed(self):
        mounts = self.api("GET", "sys/auth").json["data"]
        self.assertEqual(mounts["jwt/"]["type"], "jwt")
        self.assertEqual(mounts["jwt/"]["description"], "CI and cloud")
        self.assertEqual(mounts["token/"]["type"], "token")
        roles = self.api("LIST", "auth/jwt/role").json["data"]["keys"]
        self.assertEqual(sorted(roles), ["by-actor", "deploy", "lenient", "subject-only",
                                         "workload"])
        role = self.api("GET", "auth/jwt/role/deploy").json["data"]
        self.assertEqual(role["bound_claims"]["repository"], ["acme/payments"])
        self.assertEqual(role["user_claim"], "repository")
        self.assertEqual(role["token_ttl"], 600)
        # Disabling the mount revokes its tokens and stops its logins.
        tok = self.login("deploy", self.ci_token()).json["auth"]["client_token"]
        self.api("DELETE", "sys/auth/jwt")
        self.assertError(self.d.request("GET", "/v1/auth/token/lookup-self", token=tok), 403)
        self.assertError(self.login("deploy", self.ci_token()), 404)
        self.assertNotIn("jwt/", json.dumps(self.api("GET", "sys/auth").json["data"]))


if __name__ == "__main__":
    harness.main()
