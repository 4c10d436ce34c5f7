"""Docker/OCI test fixtures made at run time: images built with umoci, a real registry
(Debian's `docker-registry`, the CNCF distribution) on 127.0.0.1, and a JWT token server.

`build_layout(dir)` makes an OCI layout tagged `t1` with busybox and a second layer carrying
a whiteout and an opaque directory. `Registry(...)` runs `docker-registry serve CONFIG` on a
free port with storage in a test dir (open, htpasswd, or token auth); `push` uses skopeo.
"""

from __future__ import annotations

import base64
import datetime
import io
import json
import subprocess
import tarfile
import time
import urllib.request
from pathlib import Path

from tests.helpers.https import HttpsServer, free_port

BUSYBOX = "/bin/busybox"
APP_SCRIPT = "id; pwd; echo FOO=$FOO; ls /opq; ls /"


def run(*cmd, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True,
                          timeout=timeout, **kw)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed: {proc.stderr}{proc.stdout}")
    return proc


def layer_tar(entries) -> bytes:
    """An uncompressed layer tar from (name, kind, data|linkname, mode) tuples."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, kind, payload, mode in entries:
            info = tarfile.TarInfo(name)
            info.type, info.mode = kind, mode
            data = None
            if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE):
                info.linkname = payload
            elif payload is not None:
                info.size = len(payload)
                data = io.BytesIO(payload)
            tf.addfile(info, data)
    return buf.getvalue()


def build_layout(root: Path, tag: str = "t1") -> Path:
    """An OCI layout at root/layout: layer 1 from umoci repack, layer 2 added verbatim."""
    layout = root / "layout"
    bundle = root / "bundle"
    run("umoci", "init", "--layout", layout)
    run("umoci", "new", "--image", f"{layout}:{tag}")
    run("umoci", "unpack", "--image", f"{layout}:{tag}", bundle)
    rootfs = bundle / "rootfs"
    for d in ("bin", "etc", "gone/sub", "opq", "keep"):
        (rootfs / d).mkdir(parents=True, exist_ok=True)
    (rootfs / "bin/busybox").write_bytes(Path(BUSYBOX).read_bytes())
    (rootfs / "bin/busybox").chmod(0o755)
    for applet in ("sh", "id", "ls", "echo", "cat", "pwd"):
        (rootfs / "bin" / applet).symlink_to("busybox")
    (rootfs / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\n"
                                       "app:x:1234:2345:app:/:/bin/sh\n")
    (rootfs / "etc/group").write_text("root:x:0:\nstaff:x:50:\napp:x:2345:\n")
    (rootfs / "gone/sub/f").write_text("gone\n")
    (rootfs / "opq/a").write_text("a\n")
    (rootfs / "keep/k").write_text("k\n")
    run("umoci", "repack", "--image", f"{layout}:{tag}", bundle)
    layer2 = root / "layer2.tar"
    layer2.write_bytes(layer_tar([
        ("opq", tarfile.DIRTYPE, None, 0o755),
        ("opq/.wh..wh..opq", tarfile.REGTYPE, b"", 0o644),
        ("opq/c", tarfile.REGTYPE, b"c\n", 0o644),
        (".wh.gone", tarfile.REGTYPE, b"", 0o644),
        ("keep/new", tarfile.REGTYPE, b"new\n", 0o644),
    ]))
    run("umoci", "raw", "add-layer", "--image", f"{layout}:{tag}", layer2)
    run("umoci", "config", "--image", f"{layout}:{tag}", "--config.entrypoint", "/bin/sh",
        "--config.cmd", "-c", "--config.cmd", APP_SCRIPT, "--config.env", "FOO=bar",
        "--config.workingdir", "/opq", "--config.user", "app", "--config.exposedports",
        "80/tcp", "--config.volume", "/data")
    run("umoci", "gc", "--layout", layout)
    return layout


def _die_with_parent() -> None:
    """PR_SET_PDEATHSIG: a registry never outlives a killed test run."""
    import ctypes
    import signal

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM, 0, 0, 0)


class Registry:
    """`docker-registry serve` on 127.0.0.1:<free port>; `auth` is a registry auth section,
    `tls` a TestCA whose server certificate it then serves HTTPS with."""

    def __init__(self, root: Path, storage: Path, auth: dict | None = None, tls=None):
        root.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        config = {"version": 0.1, "log": {"level": "error"},
                  "storage": {"filesystem": {"rootdirectory": str(storage)}},
                  "http": {"addr": self.host}}
        if auth:
            config["auth"] = auth
        if tls is not None:  # a tests.helpers.https.TestCA: serve HTTPS with its certificate
            config["http"]["tls"] = {"certificate": str(tls.cert_file), "key": str(tls.key_file)}
        self.config = root / "config.yml"
        self.config.write_text(json.dumps(config))  # YAML is a superset of JSON
        self.log = open(root / "registry.log", "wb")
        self.proc = subprocess.Popen(["docker-registry", "serve", str(self.config)],
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     preexec_fn=_die_with_parent)
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(f"http://{self.host}/v2/", timeout=1).close()
                break
            except urllib.error.HTTPError:
                break  # 401: up, asking for credentials
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.close()
                    raise RuntimeError(f"docker-registry did not start: "
                                       f"{(root / 'registry.log').read_text()}")
                time.sleep(0.05)

    def push(self, source: str, repo: str, fmt: str) -> None:
        run("skopeo", "copy", "--dest-tls-verify=false", "--format", fmt, source,
            f"docker://{self.host}/{repo}")

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def htpasswd(path: Path, user: str, password: str) -> Path:
    path.write_text(run("htpasswd", "-Bbn", user, password).stdout)
    return path


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenServer:
    """A Docker token server: anonymous tokens grant pull on `public/*`, the right
    user:password grants everything, a wrong password gets 401."""

    SERVICE, ISSUER = "rkt-test-registry", "rkt-test-issuer"

    def __init__(self, root: Path, user: str, password: str):
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.x509.oid import NameOID

        root.mkdir(parents=True, exist_ok=True)
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rkt test token signer")])
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(days=1))
                .not_valid_after(now + datetime.timedelta(days=2))
                .sign(self.key, hashes.SHA256()))
        self.cert_der = cert.public_bytes(serialization.Encoding.DER)
        self.cert_file = root / "token.pem"
        self.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        self.user, self.password = user, password
        self.server = HttpsServer(None, port=0, tls=False)
        self.server.routes["/token"] = self._token
        self.realm = f"http://127.0.0.1:{self.server.port}/token"

    def auth_section(self) -> dict:
        return {"token": {"realm": self.realm, "service": self.SERVICE, "issuer": self.ISSUER,
                          "rootcertbundle": str(self.cert_file)}}

    def _token(self, req) -> None:
        from urllib.parse import parse_qs, urlsplit

        query = parse_qs(urlsplit(req.path).query)
        scope = (query.get("scope") or [""])[0]
        granted = False
        header = req.headers.get("Authorization", "")
        if header:
            user, _, password = base64.b64decode(header.split(" ", 1)[1]).decode().partition(":")
            if (user, password) != (self.user, self.password):
                req.send(401, b'{"details":"bad credentials"}')
                return
            granted = True
        access = []
        kind, _, rest = scope.partition(":")
        repo, _, _actions = rest.rpartition(":")
        if kind == "repository" and (granted or repo.startswith("public/")):
            access.append({"type": "repository", "name": repo, "actions": ["pull"]})
        req.send(200, json.dumps({"token": self._jwt(access)}).encode(),
                 {"Content-Type": "application/json"})

    def _jwt(self, access: list) -> str:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(self.cert_der).decode()]}
        claims = {"iss": self.ISSUER, "sub": self.user, "aud": self.SERVICE, "exp": now + 300,
                  "nbf": now - 10, "iat": now, "jti": str(now), "access": access}
        signing = (_b64url(json.dumps(header).encode()) + "." +
                   _b64url(json.dumps(claims).encode()))
        signature = self.key.sign(signing.encode(), padding.PKCS1v15(), hashes.SHA256())
        return signing + "." + _b64url(signature)

    def close(self) -> None:
        self.server.close()


def write_layout(root: Path, layers: list[bytes], config: dict | None = None,
                 tag: str = "t1", compress: bool = True) -> Path:
    """An OCI layout written by hand (for hostile layers umoci would never make)."""
    import gzip
    import hashlib

    blobs = root / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)

    def put(data: bytes) -> dict:
        digest = hashlib.sha256(data).hexdigest()
        (blobs / digest).write_bytes(data)
        return {"digest": f"sha256:{digest}", "size": len(data)}

    diff_ids, descs = [], []
    for layer in layers:
        diff_ids.append("sha256:" + hashlib.sha256(layer).hexdigest())
        data = gzip.compress(layer, mtime=0) if compress else layer
        kind = "application/vnd.oci.image.layer.v1.tar" + ("+gzip" if compress else "")
        descs.append({"mediaType": kind, **put(data)})
    cfg = {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers",
                                                               "diff_ids": diff_ids},
           "config": config or {"Cmd": ["/bin/true"]}}
    cfg_desc = {"mediaType": "application/vnd.oci.image.config.v1+json",
                **put(json.dumps(cfg).encode())}
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": cfg_desc, "layers": descs}
    man_desc = {"mediaType": "application/vnd.oci.image.manifest.v1+json",
                **put(json.dumps(manifest).encode()),
                "annotations": {"org.opencontainers.image.ref.name": tag}}
    (root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (root / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [man_desc]}))
    return root
