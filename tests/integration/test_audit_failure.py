#!/usr/bin/python3
"""Forced audit fails closed: when the audit log cannot be written (here: a
full disk, a 64 KiB tmpfs), key operations answer 503 "unavailable" instead
of running unlogged, and keep doing so; the daemon stays up and says why.
Needs root (mount), as CI and the developers' machines run.
"""

import base64
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402

MAX_REQUESTS = 20000


class AuditDirDaemon(harness.Daemon):
    def __init__(self, audit_dir, **kw):
        super().__init__(**kw)
        self.audit_dir = audit_dir

    def _write_config(self):
        super()._write_config()
        with open(self.config_path) as f:
            conf = json.load(f)
        conf["audit"] = {"dir": self.audit_dir, "forced": True}
        with open(self.config_path, "w") as f:
            json.dump(conf, f)


class AuditFailureTest(harness.KwTestCase):
    def setUp(self):
        self.mnt = tempfile.mkdtemp(prefix="kw-audit-full-")
        self.addCleanup(os.rmdir, self.mnt)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs",
                        self.mnt], check=True)
        self.addCleanup(self.unmount)

    def unmount(self):
        # The daemon's processes may take a moment to let go of their files
        # (more so under the sanitizers): retry, then detach lazily.
        for _ in range(50):
            if subprocess.run(["umount", self.mnt], stderr=subprocess.DEVNULL).returncode == 0:
                return
            time.sleep(0.1)
        subprocess.run(["umount", "-l", self.mnt], check=True)

    def test_full_audit_disk_refuses_key_operations(self):
        d = self.use_daemon(AuditDirDaemon(os.path.join(self.mnt, "audit"), dev=True,
                                           name="keywardd-auditfull"))
        d.start()
        tok = d.root_token
        r = d.request("POST", "/v1/transit/keys/full", {"type": "ed25519"}, token=tok)
        self.assertIn(r.status, (200, 204), r)
        body = {"input": base64.b64encode(b"x" * 64).decode()}
        ok = 0
        for _ in range(MAX_REQUESTS):
            r = d.request("POST", "/v1/transit/sign/full", body, token=tok)
            if r.status != 200:
                break
            ok += 1
        self.assertGreater(ok, 10, "the tmpfs filled before any sign")
        self.assertError(r, 503, code="unavailable")
        self.assertIn("audit", r.errors()[0])
        # Sticky: nothing runs unlogged afterwards (refused before it runs,
        # and said so), and nothing crashed.
        r = d.request("POST", "/v1/transit/sign/full", body, token=tok)
        self.assertError(r, 503, code="unavailable")
        self.assertIn("refuses to work unlogged", r.errors()[0])
        r = d.request("GET", "/v1/sys/health")
        self.assertEqual(r.status, 200, r)
        d.kill()
        self.assertIn("audit", d.log_text)


if __name__ == "__main__":
    harness.main()
