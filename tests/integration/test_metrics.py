#!/usr/bin/python3
"""GET /v1/sys/metrics?format=prometheus: valid Prometheus text whose
counters follow the requests made (the front's responses by status and
duration histogram, the keeper's requests by operation and result, the
audit log's entries), readable only with read on sys/metrics, and with no
key name or token in it.
"""

import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402

KEY = "metrics-key-name-that-must-not-leak"
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^{}]*\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="([^"\\]*)"')


def parse(text):
    """{(name, frozenset(labels)): value}, checking the format as it goes:
    every sample's family has a HELP and a TYPE line before it."""
    samples, types = {}, {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            types[name] = kind
            continue
        m = SAMPLE.match(line)
        if m is None:
            raise AssertionError("not a Prometheus sample line: %r" % line)
        name, labels, value = m.group(1), m.group(2) or "", float(m.group(3))
        family = re.sub(r"_(bucket|sum|count)$", "", name)
        if name not in types and family not in types:
            raise AssertionError("%s has no TYPE line before it" % name)
        samples[(name, frozenset(LABEL.findall(labels)))] = value
    return samples, types


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())), 0.0)


class MetricsTest(harness.KwTestCase):
    def setUp(self):
        super().setUp()
        self.d = self.use_daemon(harness.Daemon(dev=True, name="keywardd-metrics"))
        self.d.start()
        self.root = self.d.root_token

    def api(self, method, path, body=None, token=None, status=200):
        r = self.d.request(method, "/v1/" + path, body, token=token or self.root)
        self.assertIn(r.status, status if isinstance(status, tuple) else (status,), r)
        return r

    def scrape(self, token=None):
        r = self.api("GET", "sys/metrics?format=prometheus", token=token)
        ctype = {k.lower(): v for k, v in r.headers.items()}.get("content-type", "")
        self.assertTrue(ctype.startswith("text/plain; version=0.0.4"), ctype)
        return r.body.decode("utf-8")

    def token_with(self, name, policy):
        self.api("PUT", "sys/policies/acl/" + name, {"policy": json.dumps(policy)},
                 status=(200, 204))
        return self.api("POST", "auth/token/create", {"policies": [name]}).json["auth"][
            "client_token"]

    def test_counters_follow_requests(self):
        self.api("POST", "transit/keys/" + KEY, {"type": "ecdsa-p256"}, status=(200, 204))
        before, _ = parse(self.scrape())
        for i in range(3):
            self.api("POST", "transit/sign/" + KEY, {"input": "aGVsbG8="})
        self.api("POST", "transit/sign/" + KEY, {"input": "aGVsbG8="},
                 token="not-a-token", status=403)
        text = self.scrape()
        after, types = parse(text)

        def delta(name, **labels):
            return value(after, name, **labels) - value(before, name, **labels)

        self.assertEqual(delta("keyward_keeper_requests_total", operation="sign", result="ok"), 3)
        self.assertEqual(delta("keyward_keeper_requests_total", operation="sign",
                               result="bad_token"), 1)
        # The first scrape's own answer is counted after it was written.
        self.assertEqual(delta("keyward_keeper_requests_total", operation="metrics",
                               result="ok"), 1)
        self.assertEqual(delta("keyward_http_responses_total", code="200"), 4)
        self.assertEqual(delta("keyward_http_responses_total", code="403"), 1)
        # Every request that reached the keeper appended one audit entry.
        keeper = sum(v for (n, _), v in after.items() if n == "keyward_keeper_requests_total")
        keeper -= sum(v for (n, _), v in before.items() if n == "keyward_keeper_requests_total")
        self.assertEqual(delta("keyward_audit_entries"), keeper)
        self.assertEqual(value(after, "keyward_audit_forced"), 1)
        self.assertEqual(value(after, "keyward_audit_writable"), 1)
        self.assertGreaterEqual(value(after, "keyward_audit_durable_entries"),
                                value(before, "keyward_audit_entries"))
        # The histogram: cumulative buckets, +Inf equal to the count, and
        # the requests in between counted (the first scrape's own may land
        # a moment after its answer reached us).
        name = "keyward_http_request_duration_seconds"
        self.assertEqual(types[name], "histogram")
        buckets = sorted((float(dict(k)["le"]), v) for (n, k), v in after.items()
                         if n == name + "_bucket")
        self.assertEqual(buckets[-1][0], float("inf"))
        self.assertEqual([v for _, v in buckets], sorted(v for _, v in buckets))
        self.assertEqual(buckets[-1][1], value(after, name + "_count"))
        self.assertIn(delta(name + "_count"), (4, 5))
        self.assertGreater(delta(name + "_sum"), 0)
        # Labels are operations and codes: no key name, no token.
        self.assertNotIn(KEY, text)
        self.assertNotIn(self.root, text)

    def test_read_on_sys_metrics_is_needed(self):
        signer = self.token_with("signer", {"path": {"transit/sign/*": {
            "capabilities": ["update"]}}})
        r = self.api("GET", "sys/metrics?format=prometheus", token=signer, status=403)
        self.assertEqual(r.error_code(), "permission_denied")
        self.assertIn("sys/metrics", r.json["errors"][0])
        reader = self.token_with("metrics-reader", {"path": {"sys/metrics": {
            "capabilities": ["read"]}}})
        samples, _ = parse(self.scrape(token=reader))
        self.assertEqual(value(samples, "keyward_keeper_requests_total",
                               operation="metrics", result="permission_denied"), 1)
        self.api("GET", "sys/metrics?format=prometheus", token="not-a-token", status=403)

    def test_format_must_be_prometheus(self):
        for query in ("", "?format=json", "?format="):
            r = self.api("GET", "sys/metrics" + query, status=400)
            self.assertEqual(r.error_code(), "unsupported")
            self.assertIn("format=prometheus", r.json["errors"][0])


if __name__ == "__main__":
    harness.main()
