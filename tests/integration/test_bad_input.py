#!/usr/bin/python3
"""Malformed and hostile requests get a precise 4xx and the server lives on.

Every refusal must be a JSON body with a stable "code" and a non-empty
sentence in "errors". After each class's refusals the daemon must still
answer /v1/sys/health and still sign.
"""

import base64
import os
import socket
import ssl
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402

SMALL_LIMIT = 4096
DEFAULT_LIMIT = 1024 * 1024


def b64(data):
    return base64.b64encode(data).decode("ascii")


class BadInputBase(harness.KwTestCase):
    limits = None

    @classmethod
    def setUpClass(cls):
        cls.d = harness.Daemon(dev=True, limits=cls.limits, name="keywardd-badinput")
        cls.addClassCleanup(cls.d.cleanup)
        cls.daemons = (cls.d,)
        cls.d.start()
        cls.token = cls.d.root_token
        for name, key_type in [("bad-aes", "aes256-gcm96"), ("bad-hmac", "hmac"),
                               ("bad-ec", "ecdsa-p256")]:
            r = cls.d.request("POST", "/v1/transit/keys/%s" % name, {"type": key_type},
                              token=cls.token)
            if r.status not in (200, 204):
                raise AssertionError("creating %s: %r" % (name, r))

    def post(self, path, body, token=None, **kw):
        return self.d.request("POST", path, body, token=self.token if token is None else token,
                              **kw)

    def assert_still_serving(self):
        r = self.d.request("GET", "/v1/sys/health")
        self.assertEqual(r.status, 200, r)
        self.assertIs(r.json.get("sealed"), False)
        r = self.post("/v1/transit/sign/bad-ec", {"input": b64(b"still alive")})
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.json["data"]["signature"].startswith("vault:v1:"), r)


class BadInputTest(BadInputBase):
    limits = {"max_body_bytes": SMALL_LIMIT}

    def tearDown(self):
        # Whatever was thrown at it, it must keep serving.
        self.assert_still_serving()

    def test_malformed_json(self):
        for body in [b"{", b'{"plaintext": }', b"not json at all", b'{"plaintext":"aGk="',
                     b"\xff\xfe{}"]:
            with self.subTest(body=body):
                r = self.post("/v1/transit/encrypt/bad-aes", body)
                self.assertError(r, 400, code="invalid_request")

    def test_json_that_is_not_an_object(self):
        for body in [b"[1,2]", b'"aGk="', b"42", b"null"]:
            with self.subTest(body=body):
                r = self.post("/v1/transit/encrypt/bad-aes", body)
                self.assertError(r, 400, code="invalid_request")

    def test_bad_base64(self):
        cases = [
            ("/v1/transit/encrypt/bad-aes", {"plaintext": "***not base64***"}),
            ("/v1/transit/encrypt/bad-aes", {"plaintext": "aGk"}),  # missing padding
            ("/v1/transit/sign/bad-ec", {"input": "%%%%"}),
            ("/v1/transit/hmac/bad-hmac", {"input": "a b c d"}),
            ("/v1/transit/decrypt/bad-aes", {"ciphertext": "vault:v1:!!!!"}),
        ]
        for path, body in cases:
            with self.subTest(path=path, body=body):
                r = self.post(path, body)
                self.assertError(r, 400, codes=("bad_base64", "invalid_request"))
        r = self.post("/v1/transit/encrypt/bad-aes", {"plaintext": "***"})
        self.assertError(r, 400, code="bad_base64")

    def test_missing_and_wrongly_typed_fields(self):
        cases = [
            ("/v1/transit/encrypt/bad-aes", {}),
            ("/v1/transit/encrypt/bad-aes", {"plaintext": 12}),
            ("/v1/transit/sign/bad-ec", {"input": ["aGk="]}),
            ("/v1/transit/decrypt/bad-aes", {"ciphertext": "not-a-vault-ciphertext"}),
            ("/v1/transit/keys/bad-new", {"type": "rot13"}),
            ("/v1/transit/sign/bad-ec", {"input": b64(b"x"), "hash_algorithm": "md4"}),
        ]
        for path, body in cases:
            with self.subTest(path=path, body=body):
                r = self.post(path, body)
                self.assertError(r, 400)

    def test_body_over_configured_limit(self):
        big = {"plaintext": b64(os.urandom(SMALL_LIMIT))}
        r = self.post("/v1/transit/encrypt/bad-aes", big)
        self.assertError(r, 413, code="too_large")
        # Just under the limit is fine.
        ok = {"plaintext": b64(os.urandom(SMALL_LIMIT // 2))}
        r = self.post("/v1/transit/encrypt/bad-aes", ok)
        self.assertEqual(r.status, 200, r)

    def test_unknown_key(self):
        r = self.post("/v1/transit/sign/no-such-key", {"input": b64(b"x")})
        self.assertError(r, (400, 404), code="not_found")
        r = self.post("/v1/transit/decrypt/no-such-key",
                      {"ciphertext": "vault:v1:" + b64(os.urandom(40))})
        self.assertError(r, (400, 404), code="not_found")
        r = self.d.request("GET", "/v1/transit/keys/no-such-key", token=self.token)
        self.assertError(r, 404, code="not_found")

    def test_wrong_key_type_for_operation(self):
        cases = [
            ("/v1/transit/sign/bad-aes", {"input": b64(b"x")}),
            ("/v1/transit/encrypt/bad-hmac", {"plaintext": b64(b"x")}),
            ("/v1/transit/encrypt/bad-ec", {"plaintext": b64(b"x")}),
            ("/v1/transit/sign/bad-hmac", {"input": b64(b"x")}),
        ]
        for path, body in cases:
            with self.subTest(path=path):
                r = self.post(path, body)
                self.assertError(r, 400, code="wrong_key_type")

    def test_missing_token(self):
        r = self.d.request("POST", "/v1/transit/sign/bad-ec", {"input": b64(b"x")})
        self.assertError(r, (401, 403), code="bad_token")

    def test_bogus_token(self):
        for token in ["bogus", "s." + "A" * 24, "x" * 5000]:
            with self.subTest(token=token[:20]):
                r = self.post("/v1/transit/sign/bad-ec", {"input": b64(b"x")}, token=token)
                self.assertError(r, (400, 401, 403, 431), codes=("bad_token", "too_large",
                                                                  "invalid_request"))
                self.assertNotIn(token, r.body.decode("utf-8", "replace"))
        r = self.post("/v1/transit/sign/bad-ec", {"input": b64(b"x")}, token="bogus")
        self.assertError(r, (401, 403), code="bad_token")

    def test_unknown_path(self):
        for method, path in [("GET", "/v1/transit/no-such-endpoint"),
                             ("POST", "/v1/transit/no-such-endpoint/x"),
                             ("GET", "/v1/no-such-engine/thing"),
                             ("GET", "/not-even-v1")]:
            with self.subTest(method=method, path=path):
                r = self.d.request(method, path, {} if method == "POST" else None,
                                   token=self.token)
                self.assertError(r, 404)

    def test_nul_in_key_name_is_refused(self):
        # A percent-encoded NUL must not cut the name short and silently
        # select another key ("bad-aes%00x" is not "bad-aes").
        r = self.d.request("GET", "/v1/transit/keys/bad-aes%00x", token=self.token)
        self.assertError(r, (400, 404))
        r = self.post("/v1/transit/sign/bad-ec%00x", {"input": b64(b"x")})
        self.assertError(r, (400, 404))
        r = self.post("/v1/transit/keys/nul%00x", {"type": "aes256-gcm96"})
        self.assertError(r, (400, 404))
        r = self.d.request("GET", "/v1/transit/keys/nul", token=self.token)
        self.assertError(r, 404, code="not_found")

    def test_chunked_body_over_limit(self):
        # Without a Content-Length the limit must still hold.
        chunk = b'{"plaintext":"' + b"A" * (SMALL_LIMIT * 2) + b'"}'
        body = b"%x\r\n%s\r\n0\r\n\r\n" % (len(chunk), chunk)
        r = self.post("/v1/transit/encrypt/bad-aes", body,
                      headers={"Transfer-Encoding": "chunked", "Content-Length": None})
        self.assertError(r, 413, code="too_large")

    def test_errors_are_json_for_hvac(self):
        # hvac reads "errors" only when Content-Type is exactly application/json.
        r = self.post("/v1/transit/encrypt/bad-aes", b"{")
        self.assertEqual(r.headers.get("content-type"), "application/json", r.headers)


class DefaultLimitTest(BadInputBase):
    limits = None

    def test_body_over_default_limit(self):
        # Valid JSON, valid base64, only too big.
        body = {"plaintext": b64(os.urandom(DEFAULT_LIMIT))}
        r = self.post("/v1/transit/encrypt/bad-aes", body)
        self.assertError(r, 413, code="too_large")
        self.assert_still_serving()

    def test_body_under_default_limit(self):
        body = {"plaintext": b64(os.urandom(DEFAULT_LIMIT // 2))}
        r = self.post("/v1/transit/encrypt/bad-aes", body)
        self.assertEqual(r.status, 200, r)
        self.assert_still_serving()


class StalledClientsTest(BadInputBase):
    """Each connection has a thread in the front: clients that connect and
    stall must not hold up the others, the connection limit must hold, and
    the connection timeout must free their places."""

    LIMIT = 6
    limits = {"connection_limit": LIMIT, "connection_timeout": 2}

    def tls_socket(self):
        ctx = ssl.create_default_context(cafile=self.d.ca)
        raw = socket.create_connection(("127.0.0.1", self.d.port), timeout=10)
        return ctx.wrap_socket(raw, server_hostname="127.0.0.1")

    def stall(self):
        """A TLS connection that sends half a request and stops."""
        s = self.tls_socket()
        s.sendall(b"POST /v1/transit/sign/bad-ec HTTP/1.1\r\nHost: keyward\r\n")
        return s

    def retry(self, fn):
        """fn(), again for up to 5 s while the server still counts closed
        connections (their threads are ending)."""
        deadline = time.monotonic() + 5
        while True:
            try:
                return fn()
            except (AssertionError, OSError, ssl.SSLError, harness.ConnectionDropped):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def closed_by_server(self, s, within):
        """True once the server closes s (a client that never began TLS
        gets a TLS alert first); False if s is still open after within s."""
        s.settimeout(within)
        try:
            while len(s.recv(64)) > 0:
                pass
            return True
        except (ConnectionResetError, ssl.SSLError):
            return True
        except socket.timeout:
            return False

    def test_stalled_clients(self):
        # LIMIT - 2 stalled TLS clients and one that never starts TLS.
        stalled = [self.stall() for _ in range(self.LIMIT - 2)]
        silent = socket.create_connection(("127.0.0.1", self.d.port), timeout=10)
        # The one place left serves requests, one connection at a time.
        self.retry(self.assert_still_serving)
        # Fill it (the requests' own connections free their place a moment
        # after they close): the next one is over the limit, closed at once.
        stalled.append(self.retry(self.stall))
        with self.assertRaises((OSError, ssl.SSLError)):
            s = self.tls_socket()
            s.sendall(b"GET /v1/sys/health HTTP/1.1\r\nHost: keyward\r\n\r\n")
            if s.recv(1) == b"":
                raise ConnectionResetError("closed")
        # After the 2 s timeout the server closes every stalled connection.
        for s in stalled + [silent]:
            self.assertTrue(self.closed_by_server(s, 10), "a stalled connection stayed open")
            s.close()
        # Their threads end a moment after the sockets close.
        self.retry(self.assert_still_serving)

    def tearDown(self):
        self.retry(self.assert_still_serving)


if __name__ == "__main__":
    harness.main()
