#!/usr/bin/python3
"""keywardd started as root with `user:` set: the keeper and the front become
that user after their privileged start-up (the keeper once its secure heap is
locked, the front once its listeners are bound), for good; the parent, which
only supervises, stays root. A user that does not exist, and a store the user
cannot write, are refused at start with a message that names them.

Switching users needs root: as anyone else this file exits 77, which CTest
reports as skipped, never as passed.
"""

import json
import os
import pwd
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402

SKIP = 77
USER = "nobody"
START_FAIL_TIMEOUT = 30


def children(pid):
    with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
        return [int(p) for p in f.read().split()]


def ids(pid, tid=None):
    """(uids, gids, groups) of a process or one of its threads."""
    with open("/proc/%d/task/%s/status" % (pid, tid or pid)) as f:
        status = dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)
    return status["Uid"].split(), status["Gid"].split(), status["Groups"].split()


class UserDaemon(harness.Daemon):
    def _write_config(self):
        super()._write_config()
        with open(self.config_path) as f:
            conf = json.load(f)
        conf["user"] = USER
        with open(self.config_path, "w") as f:
            json.dump(conf, f)


class UserTest(harness.KwTestCase):
    def setUp(self):
        super().setUp()
        pw = pwd.getpwnam(USER)
        self.uid, self.gid = str(pw.pw_uid), str(pw.pw_gid)

    def run_refused(self, conf):
        """Start keywardd on conf (YAML text); it must exit non-zero. Its output."""
        d = tempfile.mkdtemp(prefix="kw-user-")
        self.addCleanup(subprocess.run, ["rm", "-rf", d])
        path = os.path.join(d, "keyward.yaml")
        with open(path, "w") as f:
            f.write(conf.replace("@DIR@", d))
        p = subprocess.run([harness.keywardd_path(), "-config", path], cwd=d,
                           stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=START_FAIL_TIMEOUT)
        self.assertNotEqual(p.returncode, 0, p)
        return p.returncode, p.stdout.decode() + p.stderr.decode()

    def test_children_become_the_user_and_work(self):
        d = self.use_daemon(UserDaemon(dev=True, name="keywardd-user"))
        d.start()
        kids = children(d.proc.pid)
        self.assertEqual(len(kids), 2, kids)
        for pid in kids:
            # Every thread: the front's listener threads predate the switch.
            for tid in os.listdir("/proc/%d/task" % pid):
                uids, gids, groups = ids(pid, tid)
                self.assertEqual(uids, [self.uid] * 4, tid)  # real, effective, saved, fs
                self.assertEqual(gids, [self.gid] * 4, tid)
                self.assertEqual(groups, [self.gid], tid)  # root's groups are gone
        self.assertEqual(ids(d.proc.pid)[0][0], "0", "the parent supervises as root")
        self.assertIn("will run as user '%s'" % USER, d.log_tail())

        # Keys are made, used and logged by the unprivileged keeper...
        self.assert_signs(d, "as-nobody")
        # ...in files that user owns (dev mode: the directory the banner names).
        m = re.search(r"everything is in (\S+) and", d.log_tail())
        self.assertIsNotNone(m, "no dev banner in the log")
        owners = set()
        for root, dirs, files in os.walk(m.group(1)):
            for name in dirs + files:
                owners.add(os.stat(os.path.join(root, name)).st_uid)
        self.assertGreater(len(owners), 0)
        self.assertEqual(owners, {int(self.uid)})
        d.stop()

    def test_unknown_user_is_refused(self):
        rc, out = self.run_refused(
            "storage: { path: @DIR@/keyward.db }\n"
            "listeners: [ { address: '127.0.0.1:%d' } ]\n"
            "user: no-such-user-kw\n" % harness.free_port())
        self.assertEqual(rc, 2, out)
        self.assertIn("user 'no-such-user-kw' does not exist", out)

    def test_root_is_not_an_unprivileged_user(self):
        rc, out = self.run_refused(
            "storage: { path: @DIR@/keyward.db }\n"
            "listeners: [ { address: '127.0.0.1:%d' } ]\n"
            "user: root\n" % harness.free_port())
        self.assertEqual(rc, 2, out)
        self.assertIn("is root; name an unprivileged user", out)

    def test_store_the_user_cannot_write_is_named(self):
        # mkdtemp makes the directory 0700 for root: nobody cannot write it.
        rc, out = self.run_refused(
            "storage: { path: @DIR@/keyward.db }\n"
            "listeners: [ { address: '127.0.0.1:%d' } ]\n"
            "user: %s\n" % (harness.free_port(), USER))
        self.assertEqual(rc, 1, out)
        self.assertRegex(out, r"the store's directory \S+ is not writable by user '%s'" % USER)
        self.assertIn("keeper process stopped unexpectedly", out)


if __name__ == "__main__":
    if os.geteuid() != 0:
        print("test_user: switching to another user needs root; not run", file=sys.stderr)
        sys.exit(SKIP)
    harness.main()
