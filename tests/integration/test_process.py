#!/usr/bin/python3
"""keywardd's processes: a parent that supervises, a keeper and a front.

Both children run without core dumps and under their syscall filters; when either child dies the other is
stopped and keywardd exits 1 with a log line naming the one that died (no
half-alive daemon); SIGTERM stops everything with status 0.
"""

import json
import os
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402

EXIT_TIMEOUT = 10


def children(pid):
    with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
        return [int(p) for p in f.read().split()]


def core_limit(pid):
    with open("/proc/%d/limits" % pid) as f:
        for line in f:
            if line.startswith("Max core file size"):
                return line.split()[4:6]
    raise AssertionError("no core limit line for %d" % pid)


def listens(pid):
    """Does pid hold a listening TCP socket? (Only the front does.)"""
    inodes = set()
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    with open("/proc/%d/net/tcp" % pid) as f:
        for line in f.readlines()[1:]:
            cols = line.split()
            if cols[3] == "0A" and cols[9] in inodes:  # 0A = LISTEN
                return True
    return False


def proc_status(pid):
    with open("/proc/%d/status" % pid) as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)


class UnixDaemon(harness.Daemon):
    """A daemon with a unix-socket listener beside its TLS one."""

    def _write_config(self):
        super()._write_config()
        self.sock_path = os.path.join(self.dir, "keyward.sock")
        with open(self.config_path) as f:
            conf = json.load(f)
        conf["listeners"].append({"address": "unix:" + self.sock_path})
        with open(self.config_path, "w") as f:
            json.dump(conf, f)


def unix_get(path, url, token):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(path)
    s.sendall(("GET %s HTTP/1.1\r\nHost: keyward\r\nX-Vault-Token: %s\r\n"
               "Connection: close\r\n\r\n" % (url, token)).encode())
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


class ProcessTest(harness.KwTestCase):
    def start(self):
        d = self.use_daemon(harness.Daemon(dev=True, name="keywardd-process"))
        d.start()
        kids = children(d.proc.pid)
        self.assertEqual(len(kids), 2, kids)
        front = [p for p in kids if listens(p)]
        keeper = [p for p in kids if not listens(p)]
        self.assertEqual((len(front), len(keeper)), (1, 1), kids)
        return d, front[0], keeper[0]

    def wait_gone(self, pid, what):
        deadline = time.monotonic() + EXIT_TIMEOUT
        while os.path.exists("/proc/%d" % pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertFalse(os.path.exists("/proc/%d" % pid), what)

    def wait_exit(self, d):
        rc = d.proc.wait(timeout=EXIT_TIMEOUT)
        d.proc = None
        d._snapshot_log()
        return rc

    def test_children_cannot_dump_core(self):
        d, front, keeper = self.start()
        for pid in (front, keeper):
            self.assertEqual(core_limit(pid), ["0", "0"], pid)

    def test_children_run_under_their_syscall_filters(self):
        d, front, keeper = self.start()
        for pid in (front, keeper):
            status = proc_status(pid)
            self.assertEqual(status["Seccomp"], "2", (pid, status["Seccomp"]))  # 2 = filter
            self.assertEqual(status["NoNewPrivs"], "1", pid)
        # Every thread of the front is filtered, those started before the
        # filter too (the listeners' threads).
        for tid in os.listdir("/proc/%d/task" % front):
            with open("/proc/%d/task/%s/status" % (front, tid)) as f:
                self.assertIn("Seccomp:\t2\n", f.read(), tid)
        # The filter lets the daemon work: a key is made and used.
        self.assert_signs(d, "sandboxed")
        d.stop()
        self.assertNotIn("syscall filter", d.log_text)

    def test_a_filter_kill_is_named(self):
        # A denied call ends the process with SIGSYS; the parent says so
        # (the signal is sent here: nothing in a healthy front makes one).
        d, front, keeper = self.start()
        os.kill(front, signal.SIGSYS)
        self.assertEqual(self.wait_exit(d), 1)
        self.assertIn("front was stopped by its syscall filter", d.log_text)
        self.wait_gone(keeper, "the keeper outlived the front")

    def test_keeper_death_stops_the_daemon(self):
        d, front, keeper = self.start()
        os.kill(keeper, signal.SIGKILL)
        self.assertEqual(self.wait_exit(d), 1)
        self.assertIn("keeper process stopped unexpectedly", d.log_text)
        self.wait_gone(front, "the front outlived the keeper")

    def test_front_death_stops_the_daemon(self):
        d, front, keeper = self.start()
        os.kill(front, signal.SIGKILL)
        self.assertEqual(self.wait_exit(d), 1)
        self.assertIn("front process stopped unexpectedly", d.log_text)
        self.wait_gone(keeper, "the keeper outlived the front")

    def test_unix_socket_listener_serves_and_is_private(self):
        d = self.use_daemon(UnixDaemon(dev=True, name="keywardd-unix"))
        d.start()
        mode = os.stat(d.sock_path).st_mode & 0o777
        self.assertEqual(mode & 0o007, 0, "the socket is open to others: %o" % mode)
        status, body = unix_get(d.sock_path, "/v1/auth/token/lookup-self", d.root_token)
        self.assertEqual(status, 200, body)
        self.assertIn("root", json.loads(body)["data"]["policies"])
        d.stop()
        self.assertFalse(os.path.exists(d.sock_path), "the socket file outlived keywardd")

    def test_sigterm_stops_cleanly(self):
        d, front, keeper = self.start()
        r = d.request("GET", "/v1/sys/health")
        self.assertEqual(r.status, 200, r)
        d.stop()  # asserts exit status 0 and no leftover process


if __name__ == "__main__":
    harness.main()
