"""The metadata service server: a registration API on a unix socket, the appc API on TCP.

Responses follow appc's metadata spec exactly (the ACE validator compares Content-Type strings
and the null-vs-[] shape of annotations): JSON bodies are the manifests as registered, text
bodies are `text/plain; charset=us-ascii`.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import os
import secrets
import socket
import socketserver
import sys
import threading
import uuid as uuidlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from rkt.appc.types import ac_name
from rkt.errors import ManifestError, RktError

JSON = "application/json"
TEXT = "text/plain; charset=us-ascii"
API = "/acMetadata/v1"


@dataclasses.dataclass
class RegisteredPod:
    uuid: str
    manifest: dict
    images: dict[str, dict] = dataclasses.field(default_factory=dict)

    def app(self, name: str) -> dict | None:
        return next((a for a in self.manifest.get("apps") or [] if a.get("name") == name), None)


class Registry:
    """Registered pods by token; one lock, tiny critical sections."""

    def __init__(self):
        self._lock = threading.Lock()
        self._by_token: dict[str, RegisteredPod] = {}
        self._token_of: dict[str, str] = {}
        self.hmac_key = secrets.token_bytes(64)

    def add_pod(self, uuid: str, token: str, manifest: dict) -> None:
        with self._lock:
            old = self._token_of.pop(uuid, None)
            if old:
                self._by_token.pop(old, None)
            self._by_token[token] = RegisteredPod(uuid, manifest)
            self._token_of[uuid] = token

    def add_app(self, uuid: str, app: str, manifest: dict) -> bool:
        with self._lock:
            token = self._token_of.get(uuid)
            if token is None:
                return False
            self._by_token[token].images[app] = manifest
            return True

    def remove(self, uuid: str) -> bool:
        with self._lock:
            token = self._token_of.pop(uuid, None)
            return token is not None and self._by_token.pop(token, None) is not None

    def by_token(self, token: str) -> RegisteredPod | None:
        with self._lock:
            return self._by_token.get(token)

    def sign(self, uuid: str, content: bytes) -> bytes:
        mac = hmac.new(self.hmac_key, uuidlib.UUID(uuid).bytes + content, hashlib.sha512)
        return base64.b64encode(mac.digest())


def merged_app_annotations(image: dict, app: dict | None) -> list | None:
    """Image annotations with the pod app's laid over them: image order kept, values replaced
    in place, new names appended; empty means null (as appc's Go types do)."""
    merged = [dict(a) for a in image.get("annotations") or []]
    index = {a["name"]: i for i, a in enumerate(merged)}
    for annotation in (app or {}).get("annotations") or []:
        if annotation["name"] in index:
            merged[index[annotation["name"]]]["value"] = annotation["value"]
        else:
            index[annotation["name"]] = len(merged)
            merged.append(dict(annotation))
    return merged or None


class _Handler(BaseHTTPRequestHandler):
    server_version = "rkt-metadata"
    protocol_version = "HTTP/1.1"
    registry: Registry

    def log_message(self, fmt, *args):  # quiet unless debugging
        if getattr(self.server, "debug", False):
            sys.stderr.write("metadata-service: " + (fmt % args) + "\n")

    def reply(self, status: int, body: bytes = b"", content_type: str = TEXT) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def reply_json(self, value) -> None:
        self.reply(200, json.dumps(value).encode(), JSON)

    def body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if length > 16 << 20:
            raise ValueError("request too large")
        return self.rfile.read(length)


class PublicHandler(_Handler):
    """`/<token>/acMetadata/v1/...`, the API apps see."""

    def route(self) -> tuple[RegisteredPod, str] | None:
        token, _, rest = urlsplit(self.path).path.lstrip("/").partition("/")
        pod = self.registry.by_token(token) if token else None
        if pod is None or not ("/" + rest).startswith(API + "/"):
            self.reply(404, b"not found\n")
            return None
        if self.headers.get("Metadata-Flavor") != "AppContainer":
            self.reply(400, b"Metadata-Flavor: AppContainer header required\n")
            return None
        return pod, ("/" + rest)[len(API):]

    def do_GET(self):
        routed = self.route()
        if routed is None:
            return
        pod, path = routed
        if path == "/pod/manifest":
            return self.reply_json(pod.manifest)
        if path == "/pod/annotations":
            return self.reply_json(pod.manifest.get("annotations"))
        if path == "/pod/uuid":
            return self.reply(200, pod.uuid.encode())
        parts = path.split("/")
        if len(parts) >= 4 and parts[1] == "apps" and parts[2] in pod.images:
            name, what = parts[2], "/".join(parts[3:])
            image, app = pod.images[name], pod.app(name)
            if what == "annotations":
                return self.reply_json(merged_app_annotations(image, app))
            if what == "image/manifest":
                return self.reply_json(image)
            if what == "image/id" and app is not None:
                return self.reply(200, app["image"]["id"].encode())
        self.reply(404, b"not found\n")

    do_HEAD = do_GET

    def do_POST(self):
        routed = self.route()
        if routed is None:
            return
        pod, path = routed
        try:
            form = {k: v[0] for k, v in parse_qs(self.body().decode(), strict_parsing=False).items()}
        except (ValueError, UnicodeDecodeError):
            return self.reply(400, b"malformed form\n")
        content = form.get("content", "").encode()
        if path == "/pod/hmac/sign":
            if not content:
                return self.reply(400, b"content form value not found\n")
            return self.reply(200, self.registry.sign(pod.uuid, content))
        if path == "/pod/hmac/verify":
            signer = form.get("uuid") or form.get("uid") or ""
            try:
                expected = self.registry.sign(signer, content)
            except ValueError:
                return self.reply(400, b"uuid field missing or malformed\n")
            if not content or not form.get("signature"):
                return self.reply(400, b"content and signature are required\n")
            ok = hmac.compare_digest(expected, form["signature"].encode())
            return self.reply(200 if ok else 403, b"" if ok else b"signature mismatch\n")
        self.reply(404, b"not found\n")


class RegistrationHandler(_Handler):
    """The root-only registration API on the unix socket."""

    client_address = ("unix", 0)

    def split(self) -> tuple[list[str], dict]:
        parsed = urlsplit(self.path)
        return [p for p in parsed.path.split("/") if p], parse_qs(parsed.query)

    def do_PUT(self):
        parts, query = self.split()
        try:
            uuid = str(uuidlib.UUID(parts[1])) if len(parts) >= 2 and parts[0] == "pods" else None
            body = json.loads(self.body())
        except (ValueError, IndexError):
            return self.reply(400, b"malformed UUID or JSON body\n")
        if uuid is None or not isinstance(body, dict):
            return self.reply(404, b"not found\n")
        if len(parts) == 2:
            token = (query.get("token") or [""])[0]
            if len(token) < 32:
                return self.reply(400, b"token missing or too short\n")
            self.registry.add_pod(uuid, token, body)
            return self.reply(200)
        try:
            ac_name(parts[2], "app")
        except ManifestError:
            return self.reply(400, b"app name is not an AC Name\n")
        if not self.registry.add_app(uuid, parts[2], body):
            return self.reply(404, b"pod not registered\n")
        self.reply(200)

    def do_DELETE(self):
        parts, _ = self.split()
        try:
            uuid = str(uuidlib.UUID(parts[1])) if len(parts) == 2 and parts[0] == "pods" else None
        except ValueError:
            uuid = None
        if uuid is None:
            return self.reply(400, b"malformed UUID\n")
        self.reply(200 if self.registry.remove(uuid) else 404)


class _UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


def _activated_sockets() -> list[socket.socket]:
    """Sockets passed by systemd socket activation (sd_listen_fds protocol)."""
    if os.environ.get("LISTEN_PID") not in (None, str(os.getpid())):
        return []
    count = int(os.environ.get("LISTEN_FDS") or 0)
    return [socket.socket(fileno=3 + i) for i in range(count)]


def serve(port: int, socket_path: str, debug: bool = False) -> None:
    """Run until SIGTERM/SIGINT. Listens on TCP `port` (all IPv4 addresses, like rkt) for
    apps and on `socket_path` for registrations, unless systemd passed the sockets."""
    import signal

    # Before the socket exists: whoever sees it may stop us at once, and must stop us cleanly.
    done = threading.Event()
    for signo in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signo, lambda *_: done.set())
    registry = Registry()
    public_cls = type("Public", (PublicHandler,), {"registry": registry})
    reg_cls = type("Registration", (RegistrationHandler,), {"registry": registry})

    servers = []
    unix_sock = tcp_sock = None
    for sock in _activated_sockets():
        if sock.family == socket.AF_UNIX:
            unix_sock = sock
        else:
            tcp_sock = sock
    # the TCP port first: when it is taken we fail before touching the socket path
    if tcp_sock is not None:
        public = ThreadingHTTPServer(("0.0.0.0", port), public_cls, bind_and_activate=False)
        public.socket.close()
        public.socket = tcp_sock
    else:
        try:
            public = ThreadingHTTPServer(("0.0.0.0", port), public_cls)
        except OSError as err:
            raise RktError(f"metadata service: listening on port {port}: {err.strerror}") from None
    public.daemon_threads = True
    if unix_sock is not None:
        reg = _UnixServer(socket_path, reg_cls, bind_and_activate=False)
        reg.socket.close()
        reg.socket = unix_sock
    else:
        os.makedirs(os.path.dirname(socket_path) or ".", mode=0o755, exist_ok=True)
        if os.path.exists(socket_path):
            _refuse_if_live(socket_path)
            os.unlink(socket_path)
        old_umask = os.umask(0o177)  # the socket is root-only: registering is a privilege
        try:
            reg = _UnixServer(socket_path, reg_cls)
        finally:
            os.umask(old_umask)
    servers.extend([reg, public])
    for server in servers:
        server.debug = debug

    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers]
    for thread in threads:
        thread.start()
    print(f"metadata service running on port {public.server_address[1]}, "
          f"registration socket {socket_path}", file=sys.stderr, flush=True)
    done.wait()
    for server in servers:
        server.shutdown()
        server.server_close()
    if unix_sock is None:  # a socket systemd gave us is systemd's to remove
        try:
            os.unlink(socket_path)
        except FileNotFoundError:
            pass


def _refuse_if_live(path: str) -> None:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except OSError:
        return  # stale socket of a dead service
    finally:
        probe.close()
    raise RktError(f"metadata service: {path} is in use by another running service")
