"""A real threaded HTTPS server on loopback with a test CA made at run time (for fetch tests).

`TestCA(dir)` writes a CA and a server certificate for `localhost`/127.0.0.1 with
`cryptography`; `HttpsServer(ca)` serves on 127.0.0.1:443 (names under `localhost/...` then
discover to it without touching /etc/hosts). Routes map a request path (with or without its
query) to a handler `fn(req)`, where `req` is the BaseHTTPRequestHandler; every request is
logged with its headers so tests can assert what was (not) asked for or sent. Servers on
the same port take turns through a lock file in /tmp (several worktrees test at once here).
"""

from __future__ import annotations

import datetime
import errno
import os
import http.server
import ipaddress
import socket
import socketserver
import ssl
import threading
import time
from pathlib import Path

BIND_RETRY_SECONDS = 120


class TestCA:
    def __init__(self, directory: Path, names=("localhost",)):
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        directory.mkdir(parents=True, exist_ok=True)
        now = datetime.datetime.now(datetime.timezone.utc)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rkt test CA")])
        ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
              .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
              .not_valid_before(now - datetime.timedelta(days=1))
              .not_valid_after(now + datetime.timedelta(days=2))
              .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
              .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False),
                             critical=True)
              .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                             critical=False)
              .sign(ca_key, hashes.SHA256()))
        key = ec.generate_private_key(ec.SECP256R1())
        sans = [x509.DNSName(n) for n in names] + [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
                .issuer_name(ca_name).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(days=1))
                .not_valid_after(now + datetime.timedelta(days=1))
                .add_extension(x509.SubjectAlternativeName(sans), critical=False)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                               critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                               critical=False)
                .sign(ca_key, hashes.SHA256()))
        pem = serialization.Encoding.PEM
        self.ca_file = directory / "ca.pem"
        self.ca_file.write_bytes(ca.public_bytes(pem))
        self.cert_file = directory / "server.pem"
        self.cert_file.write_bytes(cert.public_bytes(pem))
        self.key_file = directory / "server.key"
        self.key_file.write_bytes(key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                                    serialization.NoEncryption()))

    def env(self, base: dict | None = None) -> dict:
        """An environment for an rkt subprocess that trusts this CA (and only it)."""
        import os

        env = dict(os.environ if base is None else base)
        env["SSL_CERT_FILE"] = str(self.ca_file)
        for var in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_DIR"):
            env.pop(var, None)
        return env


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "rkt-test"

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        server: HttpsServer = self.server.owner
        path = self.path
        server.log.append((self.command, path, {k.lower(): v for k, v in self.headers.items()},
                           self.headers.get("Host", "")))
        handler = server.routes.get(path) or server.routes.get(path.split("?", 1)[0])
        if handler is None:
            self.send(404, b"not found\n")
            return
        try:
            handler(self)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, TimeoutError):
            pass

    def send(self, status: int, body: bytes = b"", headers: dict | None = None) -> None:
        self.send_response(status)
        hdrs = {"Content-Length": str(len(body)), **(headers or {})}
        for k, v in hdrs.items():
            self.send_header(k, v)
        self.end_headers()
        if body:
            self.wfile.write(body)


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64


class HttpsServer:
    """Serves `routes` over TLS on host:port until closed (a context manager)."""

    def __init__(self, ca: TestCA, port: int = 443, host: str = "127.0.0.1", tls: bool = True):
        self.routes: dict = {}
        self.log: list = []
        self._lock = _port_lock(port)
        deadline = time.monotonic() + BIND_RETRY_SECONDS
        while True:
            try:
                self.httpd = _Server((host, port), _Handler)
                break
            except OSError as err:
                if err.errno == errno.EADDRINUSE and time.monotonic() < deadline:
                    time.sleep(0.2)  # a server of a run that does not know the lock file
                    continue
                self._lock.close()
                if err.errno == errno.EADDRINUSE:
                    raise RuntimeError(f"cannot bind {host}:{port} for the test HTTPS server: "
                                       "the port is busy (another test server running?)") from None
                raise
        self.httpd.owner = self
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(ca.cert_file, ca.key_file)
            self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.scheme = "https" if tls else "http"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    def url(self, path: str, host: str = "localhost") -> str:
        default = 443 if self.scheme == "https" else 80
        port = "" if self.port == default else f":{self.port}"
        return f"{self.scheme}://{host}{port}{path}"

    def requested(self, path: str) -> list:
        """The logged requests for `path` (query ignored unless given)."""
        return [e for e in self.log if e[1] == path or ("?" not in path and e[1].split("?")[0] == path)]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)
        self._lock.close()

    def __enter__(self) -> "HttpsServer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def serve_bytes(data: bytes, *, etag: str | None = None, max_age: int | None = None,
                ranges: bool = True, status: int = 200, extra: dict | None = None):
    """A handler serving `data`, honouring If-None-Match (304) and Range/If-Range (206)."""
    def handler(req) -> None:
        headers = dict(extra or {})
        if etag:
            headers["ETag"] = etag
        if max_age is not None:
            headers["Cache-Control"] = f"max-age={max_age}"
        if etag and req.headers.get("If-None-Match") == etag:
            req.send(304, b"", {**headers, "Content-Length": "0"})
            return
        rng = req.headers.get("Range")
        if ranges and rng and rng.startswith("bytes=") and req.headers.get("If-Range") in (None, etag):
            start = int(rng[6:].split("-")[0])
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
            req.send(206, data[start:], headers)
            return
        req.send(status, data, headers)
    return handler


PORT_LOCK_TIMEOUT = 600


def _port_lock(port: int):
    """A lock file per well-known port, held while serving: test runs of several worktrees
    on this machine then take turns on 127.0.0.1:443 instead of failing on a busy port."""
    import fcntl

    if port == 0:
        return open(os.devnull)  # an ephemeral port is the kernel's pick: nothing to share
    f = open(f"/tmp/rkt-test-port-{port}.lock", "a")
    deadline = time.monotonic() + PORT_LOCK_TIMEOUT
    while True:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return f
        except BlockingIOError:
            if time.monotonic() > deadline:
                f.close()
                raise RuntimeError(f"port {port}: another test server held it for "
                                   f"{PORT_LOCK_TIMEOUT}s") from None
            time.sleep(0.1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
