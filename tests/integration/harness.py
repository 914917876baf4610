"""Integration harness: run the real keywardd over TLS and talk to it.

Each test file imports this module. It provides:

- Daemon: starts keywardd in a private temporary directory on a free
  loopback port, with a freshly generated CA and server certificate
  (python3-cryptography), waits for /v1/sys/health, stops it with SIGTERM
  (failing if it does not exit cleanly within STOP_TIMEOUT), and restarts it
  on the same data directory. Its stderr goes to a file that is printed when
  a test fails.
- request(): a tiny raw HTTP/1.1 client over TLS that can send any bytes,
  for malformed-input tests and endpoints hvac does not wrap.
- KwTestCase: a unittest.TestCase that prints the daemon logs on failure.
- main(): the entry point CTest runs (takes --build-dir).

keywardd is found through $KEYWARD_BIN, else <build dir>/bin/keywardd, where
the build dir comes from --build-dir (CTest passes it) or $KEYWARD_BUILD_DIR,
else the repository's build/. A missing binary is a failure, never a skip.
"""

import ctypes
import datetime
import ipaddress
import json
import os
import select
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

START_TIMEOUT = 30.0  # generous: sanitizer builds start slowly
STOP_TIMEOUT = 10.0
CHILD_EXIT_GRACE = 3.0
REQUEST_TIMEOUT = 60.0
ROOT_TOKEN = "kw-integration-root"
LOG_TAIL_LINES = 300
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>

_build_dir = None


def repo_root():
    return os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def build_dir():
    if _build_dir:
        return _build_dir
    return os.environ.get("KEYWARD_BUILD_DIR") or os.path.join(repo_root(), "build")


def keywardd_path():
    path = os.environ.get("KEYWARD_BIN") or os.path.join(build_dir(), "bin", "keywardd")
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise AssertionError(
            "keywardd not found or not executable at %s "
            "(build it, or set KEYWARD_BIN)" % path)
    return path


def free_port():
    """A loopback port nobody listens on right now (bind to 0, then let go)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_tls_files(directory):
    """A CA and a server certificate for 127.0.0.1 and localhost.

    Returns (ca_path, cert_path, key_path)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    not_before = now - datetime.timedelta(minutes=5)
    not_after = now + datetime.timedelta(days=2)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "keyward test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False),
            critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    srv_key = ec.generate_private_key(ec.SECP256R1())
    srv_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(srv_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=False,
                crl_sign=False, encipher_only=False, decipher_only=False),
            critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                       critical=False)
        .add_extension(
            x509.SubjectAlternativeName([
                x509.DNSName("localhost"),
                x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            ]),
            critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    ca_path = os.path.join(directory, "ca.pem")
    cert_path = os.path.join(directory, "server.pem")
    key_path = os.path.join(directory, "server-key.pem")
    with open(ca_path, "wb") as f:
        f.write(ca_cert.public_bytes(serialization.Encoding.PEM))
    with open(cert_path, "wb") as f:
        f.write(srv_cert.public_bytes(serialization.Encoding.PEM))
        f.write(ca_cert.public_bytes(serialization.Encoding.PEM))
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(srv_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
    return ca_path, cert_path, key_path


class Response:
    """What request() got back. json is None when the body is not JSON."""

    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body
        try:
            self.json = json.loads(body.decode("utf-8")) if body else None
        except (UnicodeDecodeError, ValueError):
            self.json = None

    def error_code(self):
        return self.json.get("code") if isinstance(self.json, dict) else None

    def errors(self):
        return self.json.get("errors") if isinstance(self.json, dict) else None

    def __repr__(self):
        return "<HTTP %d %r>" % (self.status, self.body[:500])


class ConnectionDropped(Exception):
    """The server closed the connection without sending a complete response."""


def _read_response(sock, deadline, buf=b""):
    while b"\r\n\r\n" not in buf:
        chunk = _recv(sock, deadline)
        if not chunk:
            raise ConnectionDropped("closed before the response head (%r)" % buf[:200])
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("iso-8859-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
        raise ConnectionDropped("bad status line %r" % lines[0])
    status = int(parts[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = _read_chunked(sock, rest, deadline)
    elif "content-length" in headers:
        length = int(headers["content-length"])
        body = rest
        while len(body) < length:
            chunk = _recv(sock, deadline)
            if not chunk:
                raise ConnectionDropped("closed mid-body")
            body += chunk
        body = body[:length]
    elif status in (204, 304) or status < 200:
        body = b""
    else:
        body = rest
        while True:
            chunk = _recv(sock, deadline)
            if not chunk:
                break
            body += chunk
    return Response(status, headers, body)


def _read_chunked(sock, buf, deadline):
    body = b""
    while True:
        while b"\r\n" not in buf:
            chunk = _recv(sock, deadline)
            if not chunk:
                raise ConnectionDropped("closed mid-chunk")
            buf += chunk
        line, buf = buf.split(b"\r\n", 1)
        size = int(line.split(b";")[0], 16)
        while len(buf) < size + 2:
            chunk = _recv(sock, deadline)
            if not chunk:
                raise ConnectionDropped("closed mid-chunk")
            buf += chunk
        if size == 0:
            return body
        body += buf[:size]
        buf = buf[size + 2:]


def _recv(sock, deadline):
    sock.settimeout(max(0.1, deadline - time.monotonic()))
    try:
        return sock.recv(65536)
    except (ConnectionResetError, BrokenPipeError, ssl.SSLError):
        return b""


def request(base, method, path, body=None, token=None, headers=None, ca=None,
            timeout=REQUEST_TIMEOUT):
    """Send one request on a fresh connection and return a Response.

    base is "https://127.0.0.1:PORT" (or http://); body is bytes, str, or
    anything JSON-serialisable. The body is streamed in pieces and sending
    stops as soon as the server answers, so an early "too large" reply is
    read rather than lost to a reset."""
    scheme, _, hostport = base.partition("://")
    host, _, port = hostport.rstrip("/").rpartition(":")
    if body is None:
        data = b""
    elif isinstance(body, bytes):
        data = body
    elif isinstance(body, str):
        data = body.encode("utf-8")
    else:
        data = json.dumps(body).encode("utf-8")
    hdrs = {"Host": hostport, "Connection": "close", "Content-Length": str(len(data))}
    if data:
        hdrs["Content-Type"] = "application/json"
    if token is not None:
        hdrs["X-Vault-Token"] = token
    hdrs.update(headers or {})
    hdrs = {k: v for k, v in hdrs.items() if v is not None}  # None removes a header
    head = "%s %s HTTP/1.1\r\n" % (method, path)
    head += "".join("%s: %s\r\n" % kv for kv in hdrs.items()) + "\r\n"

    deadline = time.monotonic() + timeout
    raw = socket.create_connection((host, int(port)), timeout=timeout)
    sock = raw
    try:
        if scheme == "https":
            ctx = ssl.create_default_context(cafile=ca)
            sock = ctx.wrap_socket(raw, server_hostname=host)
        sock.sendall(head.encode("iso-8859-1"))
        early = _send_body(sock, data)
        return _read_response(sock, deadline, early)
    finally:
        sock.close()


def _send_body(sock, data):
    """Send data; stop early if the server answers or closes first.

    Returns the bytes of an early answer (b"" if none)."""
    step = 64 * 1024
    for off in range(0, len(data), step):
        # An answer before the whole body went out is the server refusing it.
        stop, early = _poll_early(sock)
        if stop:
            return early
        try:
            sock.sendall(data[off:off + step])
        except (BrokenPipeError, ConnectionResetError, ssl.SSLEOFError):
            return b""
    return b""


def _poll_early(sock):
    """(stop, bytes): has the server sent application data or closed?

    Readability alone proves nothing under TLS 1.3, where session tickets
    arrive after the handshake; only a non-blocking read tells."""
    pending = isinstance(sock, ssl.SSLSocket) and sock.pending()
    if not pending and not select.select([sock], [], [], 0)[0]:
        return False, b""
    timeout = sock.gettimeout()
    sock.setblocking(False)
    try:
        chunk = sock.recv(65536)
        return True, chunk
    except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
        return False, b""
    except (ConnectionResetError, BrokenPipeError, ssl.SSLError):
        return True, b""
    finally:
        sock.settimeout(timeout)


class Daemon:
    """One keywardd process with its own directory, port and certificate.

    dev=True runs `keywardd -dev -config FILE -dev-root-token-id TOKEN`:
    initialised and unsealed, root token known. dev=False runs
    `keywardd -config FILE` with a store in the directory: it starts
    uninitialised and sealed. limits is merged into the config's limits."""

    def __init__(self, dev=True, limits=None, root_token=ROOT_TOKEN, name="keywardd"):
        self.binary = keywardd_path()
        self.dev = dev
        self.limits = limits or {}
        self.root_token = root_token if dev else None
        self.name = name
        self.dir = tempfile.mkdtemp(prefix="kw-it-")
        self.ca, self.cert, self.key = make_tls_files(self.dir)
        self.db_path = os.path.join(self.dir, "keyward.db")
        self.config_path = os.path.join(self.dir, "keyward.yaml")
        self.port = None
        self.url = None
        self.proc = None
        self.log_path = os.path.join(self.dir, "keywardd.log")
        self.log_text = ""
        self.starts = 0
        self._clients = []

    # --- lifecycle -------------------------------------------------------

    def _write_config(self):
        # JSON is valid YAML; it saves us from quoting rules.
        conf = {
            "storage": {"path": self.db_path},
            "listeners": [{
                "address": "127.0.0.1:%d" % self.port,
                "tls_cert_file": self.cert,
                "tls_key_file": self.key,
            }],
            "log_level": "debug",
        }
        if self.limits:
            conf["limits"] = dict(self.limits)
        with open(self.config_path, "w") as f:
            json.dump(conf, f, indent=2)
            f.write("\n")

    def start(self):
        if self.proc is not None:
            raise AssertionError("%s already running" % self.name)
        # A restart keeps the port, as an operator's would.
        if self.port is None:
            self.port = free_port()
            self.url = "https://127.0.0.1:%d" % self.port
        self._write_config()
        args = [self.binary]
        if self.dev:
            args += ["-dev", "-config", self.config_path, "-dev-root-token-id", self.root_token]
        else:
            args += ["-config", self.config_path]
        self.starts += 1
        with open(self.log_path, "ab") as log:
            log.write(("=== start %d: %s\n" % (self.starts, " ".join(args))).encode())
            log.flush()
            self.proc = subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=self.dir,
                start_new_session=True, preexec_fn=_die_with_parent)
        self._wait_ready()
        return self

    def _wait_ready(self):
        deadline = time.monotonic() + START_TIMEOUT
        last = None
        while time.monotonic() < deadline:
            rc = self.proc.poll()
            if rc is not None:
                self.proc = None
                raise AssertionError("%s exited with status %s during start-up\n%s"
                                     % (self.name, rc, self.log_tail()))
            try:
                # Dev mode must come up unsealed; otherwise any health
                # answer (501 uninitialised, 503 sealed) means it is serving.
                r = request(self.url, "GET", "/v1/sys/health", ca=self.ca, timeout=5)
                if r.status == 200 or (not self.dev and r.status in (501, 503)):
                    return
                last = r
            except (OSError, ConnectionDropped, ssl.SSLError) as e:
                last = e
            time.sleep(0.1)
        self.kill()
        raise AssertionError("%s did not answer /v1/sys/health within %ss (last: %r)\n%s"
                             % (self.name, START_TIMEOUT, last, self.log_tail()))

    def stop(self):
        """SIGTERM and wait; a hang or a non-zero exit is a test failure."""
        self._close_clients()
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            self._snapshot_log()
            raise AssertionError("%s did not exit within %ss of SIGTERM\n%s"
                                 % (self.name, STOP_TIMEOUT, self.log_tail()))
        # The keeper and front are children: none may outlive the parent.
        leftover = _group_alive(proc.pid, CHILD_EXIT_GRACE)
        _kill_group(proc)
        self._snapshot_log()
        if leftover:
            raise AssertionError("%s exited but processes of its group were still running "
                                 "%ss later\n%s" % (self.name, CHILD_EXIT_GRACE, self.log_tail()))
        if rc != 0:
            raise AssertionError("%s exited with status %d after SIGTERM\n%s"
                                 % (self.name, rc, self.log_tail()))

    def kill(self):
        self._close_clients()
        if self.proc is not None:
            _kill_group(self.proc)
            self.proc = None
        self._snapshot_log()

    def restart(self):
        self.stop()
        return self.start()

    def cleanup(self):
        """Stop (forcefully if need be) and remove the directory."""
        try:
            if self.proc is not None:
                self.stop()
        finally:
            self.kill()
            shutil.rmtree(self.dir, ignore_errors=True)

    # --- logs --------------------------------------------------------------

    def _snapshot_log(self):
        try:
            with open(self.log_path, "rb") as f:
                self.log_text = f.read().decode("utf-8", "replace")
        except OSError:
            pass

    def log_tail(self):
        self._snapshot_log()
        lines = self.log_text.splitlines()
        cut = lines[-LOG_TAIL_LINES:]
        return "----- %s log (%s, last %d of %d lines) -----\n%s\n----- end of log -----" % (
            self.name, self.log_path, len(cut), len(lines), "\n".join(cut))

    # --- talking to it -------------------------------------------------------

    def request(self, method, path, body=None, token=None, **kw):
        return request(self.url, method, path, body=body, token=token, ca=self.ca, **kw)

    def hvac_client(self, token=None):
        import hvac
        c = hvac.Client(url=self.url, token=token if token is not None else self.root_token,
                        verify=self.ca)
        self._clients.append(c)
        return c

    def _close_clients(self):
        # Their pooled keep-alive connections point at a process that is
        # going away; requests opens new ones if a client is used again.
        for c in self._clients:
            c.adapter.close()


def _die_with_parent():
    """In the child before exec: SIGTERM when the test runner dies, so a
    CTest timeout (which kills python) does not leave daemons behind."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def _group_alive(pgid, grace):
    deadline = time.monotonic() + grace
    while True:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        if time.monotonic() >= deadline:
            return True
        time.sleep(0.05)


def _kill_group(proc):
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        pass


class KwTestCase(unittest.TestCase):
    """Prints the logs of every daemon the test used when it fails.

    Tests register daemons with self.use_daemon(d) (per-test ones are
    cleaned up automatically) and classes put theirs in cls.daemons."""

    daemons = ()

    def use_daemon(self, d):
        self._test_daemons.append(d)
        self.addCleanup(d.cleanup)
        return d

    def assert_signs(self, d, key):
        """d makes an ECDSA key and signs with it (the root token)."""
        r = d.request("POST", "/v1/transit/keys/" + key, {"type": "ecdsa-p256"},
                      token=d.root_token)
        self.assertIn(r.status, (200, 204), r)
        r = d.request("POST", "/v1/transit/sign/" + key, {"input": "aGVsbG8="},
                      token=d.root_token)
        self.assertEqual(r.status, 200, r)

    def run(self, result=None):
        self._test_daemons = []
        if result is None:
            result = self.defaultTestResult()
        before = len(result.failures) + len(result.errors)
        out = super().run(result)
        if len(result.failures) + len(result.errors) > before:
            for d in list(self._test_daemons) + list(type(self).daemons):
                sys.stderr.write("\n%s\n" % d.log_tail())
        return out

    def assertError(self, resp, status, code=None, codes=None):
        """resp is an error reply with that status (int or tuple), a stable
        code and a non-empty sentence."""
        statuses = status if isinstance(status, tuple) else (status,)
        self.assertIn(resp.status, statuses, "unexpected status: %r" % (resp,))
        self.assertIsInstance(resp.json, dict, "error body is not a JSON object: %r" % (resp,))
        errors = resp.json.get("errors")
        self.assertIsInstance(errors, list, "no errors list: %r" % (resp,))
        self.assertTrue(errors and isinstance(errors[0], str) and errors[0].strip(),
                        "no error sentence: %r" % (resp,))
        got = resp.json.get("code")
        self.assertIsInstance(got, str, "no code: %r" % (resp,))
        self.assertTrue(got, "empty code: %r" % (resp,))
        if code is not None:
            self.assertEqual(got, code, "wrong code: %r" % (resp,))
        if codes is not None:
            self.assertIn(got, codes, "wrong code: %r" % (resp,))
        return resp


def main():
    """unittest.main with --build-dir DIR taken out of argv first.

    Exits non-zero when nothing ran, so a broken import cannot pass."""
    global _build_dir
    argv = list(sys.argv)
    if "--build-dir" in argv:
        i = argv.index("--build-dir")
        _build_dir = argv[i + 1]
        del argv[i:i + 2]
    prog = unittest.main(argv=argv, exit=False, verbosity=2)
    res = prog.result
    if res.testsRun == 0 or not res.wasSuccessful() or res.skipped:
        sys.exit(1)
    sys.exit(0)
