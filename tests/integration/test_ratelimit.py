#!/usr/bin/python3
"""limits.rate and limits.burst: a token bucket per client address in the
front. Past the burst a request gets 429 with code rate_limited and a
Retry-After header before the keeper sees it; tokens come back at the rate;
health, seal-status and metrics are never limited.
"""

import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402

RATE, BURST, EXTRA = 1, 4, 4


class RateLimitTest(harness.KwTestCase):
    def setUp(self):
        super().setUp()
        self.d = self.use_daemon(harness.Daemon(dev=True, name="keywardd-ratelimit",
                                                limits={"rate": RATE, "burst": BURST}))
        self.d.start()
        time.sleep(BURST / RATE)  # whatever start-up spent, a full bucket

    def lookup(self):
        return self.d.request("GET", "/v1/auth/token/lookup-self", token=self.d.root_token)

    def counter(self, name, **labels):
        r = self.d.request("GET", "/v1/sys/metrics?format=prometheus", token=self.d.root_token)
        self.assertEqual(r.status, 200, r)
        want = ",".join('%s="%s"' % kv for kv in sorted(labels.items()))
        m = re.search(r"^%s\{%s\} (\d+)$" % (re.escape(name), re.escape(want)),
                      r.body.decode(), re.M)
        return int(m.group(1)) if m else 0

    def test_burst_then_429_then_refill(self):
        looked_up = self.counter("keyward_keeper_requests_total",
                                 operation="token-lookup-self", result="ok")
        limited = self.counter("keyward_http_responses_total", code="429")
        t0 = time.monotonic()
        answers = [self.lookup() for _ in range(BURST + EXTRA)]
        elapsed = time.monotonic() - t0
        ok = [r for r in answers if r.status == 200]
        refused = [r for r in answers if r.status != 200]
        # The burst passes; beyond it only what the rate refilled meanwhile.
        self.assertGreaterEqual(len(ok), BURST)
        self.assertLessEqual(len(ok), BURST + int(elapsed * RATE))
        self.assertGreater(len(refused), 0, "%d requests in %.2f s" % (len(answers), elapsed))
        for r in refused:
            self.assertEqual(r.status, 429, r)
            self.assertEqual(r.error_code(), "rate_limited")
            self.assertIn("retry in 1 s", r.json["errors"][0])
            self.assertEqual({k.lower(): v for k, v in r.headers.items()}.get("retry-after"),
                             "1")
        # Probes and scrapes pass while the bucket is empty...
        for _ in range(10):
            self.assertEqual(self.d.request("GET", "/v1/sys/health").status, 200)
        # ...and show that no refused request reached the keeper.
        self.assertEqual(self.counter("keyward_keeper_requests_total",
                                      operation="token-lookup-self", result="ok"),
                         looked_up + len(ok))
        self.assertEqual(self.counter("keyward_http_responses_total", code="429"),
                         limited + len(refused))
        # At the rate, tokens come back.
        time.sleep(1.0 / RATE + 0.2)
        self.assertEqual(self.lookup().status, 200)


if __name__ == "__main__":
    harness.main()
