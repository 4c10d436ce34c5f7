"""The metadata service through its real sockets: registration over unix, the appc API over TCP."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid as uuidlib

import pytest

from rkt.errors import RktError
from rkt.mds import client

IMAGE_ID = "sha512-" + "ab" * 64


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(path: str, proc: subprocess.Popen) -> None:
    for _ in range(200):
        if os.path.exists(path):
            return
        assert proc.poll() is None, proc.stderr.read()
        time.sleep(0.02)
    raise AssertionError("metadata service did not start")


@pytest.fixture
def mds(tmp_path, monkeypatch):
    sock = str(tmp_path / "mds.sock")
    port = free_port()
    monkeypatch.setenv("RKT_MDS_SOCKET", sock)
    proc = subprocess.Popen([sys.executable, "-m", "rkt", "metadata-service", f"--listen-port={port}"],
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "RKT_MDS_SOCKET": sock})
    wait_for(sock, proc)
    yield port
    proc.terminate()
    assert proc.wait(10) == 0
    assert not os.path.exists(sock), "socket left behind"


def pod_manifest(annotations="absent", app_annotations=None) -> dict:
    app = {"name": "main", "image": {"id": IMAGE_ID, "name": "example.com/main"},
           "annotations": app_annotations or [{"name": "lorem", "value": "pod"},
                                              {"name": "extra", "value": "x"}]}
    manifest = {"acKind": "PodManifest", "acVersion": "0.8.11", "apps": [app]}
    if annotations != "absent":
        manifest["annotations"] = annotations
    return manifest


IMAGE = {"acKind": "ImageManifest", "acVersion": "0.8.11", "name": "example.com/main",
         "annotations": [{"name": "lorem", "value": "ipsum"}, {"name": "created", "value": "2020-01-01T00:00:00Z"}]}


def register(manifest: dict) -> tuple[str, str]:
    pod_uuid, token = str(uuidlib.uuid4()), client.new_token()
    client.register(pod_uuid, token, json.dumps(manifest).encode(), {"main": json.dumps(IMAGE).encode()})
    return pod_uuid, token


def call(port: int, token: str, path: str, form: dict | None = None, flavor: bool = True):
    data = urllib.parse.urlencode(form).encode() if form is not None else None
    req = urllib.request.Request(f"http://127.0.0.1:{port}/{token}/acMetadata/v1{path}", data=data,
                                 headers={"Metadata-Flavor": "AppContainer"} if flavor else {})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, resp.headers["Content-Type"], resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers["Content-Type"], err.read()


def test_endpoints_content_types_and_bodies(mds):
    pod_uuid, token = register(pod_manifest())
    status, ctype, body = call(mds, token, "/pod/uuid")
    assert (status, ctype, body.decode()) == (200, "text/plain; charset=us-ascii", pod_uuid)
    status, ctype, body = call(mds, token, "/pod/manifest")
    assert (status, ctype) == (200, "application/json") and json.loads(body) == pod_manifest()
    assert call(mds, token, "/apps/main/image/id")[1:] == ("text/plain; charset=us-ascii", IMAGE_ID.encode())
    assert json.loads(call(mds, token, "/apps/main/image/manifest")[2]) == IMAGE
    # image order kept, pod value replaces in place, new names appended
    assert json.loads(call(mds, token, "/apps/main/annotations")[2]) == [
        {"name": "lorem", "value": "pod"}, {"name": "created", "value": "2020-01-01T00:00:00Z"},
        {"name": "extra", "value": "x"}]
    assert call(mds, token, "/apps/nope/image/id")[0] == 404


@pytest.mark.parametrize("annotations,expected", [("absent", b"null"), (None, b"null"), ([], b"[]"),
                                                  ([{"name": "a", "value": "b"}], b'[{"name": "a", "value": "b"}]')])
def test_pod_annotations_keep_null_apart_from_empty(mds, annotations, expected):
    _, token = register(pod_manifest(annotations))
    status, ctype, body = call(mds, token, "/pod/annotations")
    assert (status, ctype, body) == (200, "application/json", expected)


def test_wrong_token_and_other_pods_data_are_unreachable(mds):
    uuid_a, token_a = register(pod_manifest())
    uuid_b, token_b = register(pod_manifest())
    assert call(mds, token_a, "/pod/uuid")[2].decode() == uuid_a
    assert call(mds, token_b, "/pod/uuid")[2].decode() == uuid_b
    assert call(mds, "0" * 64, "/pod/uuid")[0] == 404
    assert call(mds, uuid_a, "/pod/uuid")[0] == 404  # the UUID is not a key
    assert call(mds, token_a[:-1], "/pod/uuid")[0] == 404
    assert call(mds, token_a, "/pod/uuid", flavor=False)[0] == 400


def test_hmac_sign_and_verify(mds):
    uuid_a, token_a = register(pod_manifest())
    uuid_b, token_b = register(pod_manifest())
    status, ctype, sig = call(mds, token_a, "/pod/hmac/sign", {"content": "Old MacDonald"})
    assert (status, ctype) == (200, "text/plain; charset=us-ascii")
    # any pod can verify another's signature given the signer's uuid
    status, ctype, _ = call(mds, token_b, "/pod/hmac/verify",
                            {"content": "Old MacDonald", "uuid": uuid_a, "signature": sig.decode()})
    assert (status, ctype) == (200, "text/plain; charset=us-ascii")
    tampered = sig.decode()[:-4] + ("AAAA" if not sig.decode().endswith("AAAA") else "BBBB")
    assert call(mds, token_b, "/pod/hmac/verify",
                {"content": "Old MacDonald", "uuid": uuid_a, "signature": tampered})[0] == 403
    assert call(mds, token_b, "/pod/hmac/verify",
                {"content": "Old MacDonald!", "uuid": uuid_a, "signature": sig.decode()})[0] == 403
    assert call(mds, token_b, "/pod/hmac/verify",
                {"content": "Old MacDonald", "uuid": uuid_b, "signature": sig.decode()})[0] == 403


def test_unregister_removes_access(mds):
    pod_uuid, token = register(pod_manifest())
    assert client.unregister(pod_uuid) is True
    assert call(mds, token, "/pod/uuid")[0] == 404
    assert client.unregister(pod_uuid) is False


def test_registration_rejects_bad_input(mds):
    assert client._request("PUT", f"/pods/not-a-uuid?token={'a' * 64}", b"{}") == 400
    assert client._request("PUT", f"/pods/{uuidlib.uuid4()}?token=short", b"{}") == 400
    assert client._request("PUT", f"/pods/{uuidlib.uuid4()}?token={'a' * 64}", b"not json") == 400
    assert client._request("PUT", f"/pods/{uuidlib.uuid4()}/main", b"{}") == 404


def test_registration_socket_is_root_only(mds):
    assert os.stat(os.environ["RKT_MDS_SOCKET"]).st_mode & 0o077 == 0


def test_register_without_service_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("RKT_MDS_SOCKET", str(tmp_path / "absent.sock"))
    with pytest.raises(RktError, match="is `rkt metadata-service` running?"):
        register(pod_manifest())


def test_socket_activation(tmp_path, monkeypatch):
    """Started by a systemd .socket unit: the registration socket arrives as fd 3."""
    path = str(tmp_path / "activated.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen()
    port = free_port()
    cmd = f'export LISTEN_PID=$$ LISTEN_FDS=1; exec {sys.executable} -m rkt metadata-service --listen-port={port}'
    proc = subprocess.Popen(["sh", "-c", cmd], close_fds=False,
                            preexec_fn=lambda: (os.dup2(listener.fileno(), 3), os.set_inheritable(3, True)),
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "RKT_MDS_SOCKET": path})
    listener.close()
    try:
        monkeypatch.setenv("RKT_MDS_SOCKET", path)
        for _ in range(200):
            try:
                _, token = register(pod_manifest())
                break
            except Exception:
                assert proc.poll() is None, proc.stderr.read()
                time.sleep(0.02)
        assert call(port, token, "/pod/manifest")[0] == 200
    finally:
        proc.terminate()
        assert proc.wait(10) == 0
    assert os.path.exists(path), "an activated socket belongs to systemd and must stay"


def test_busy_port_fails_cleanly_without_leaving_the_socket(tmp_path):
    sock_path = tmp_path / "mds.sock"
    with socket.socket() as holder:
        holder.bind(("0.0.0.0", 0))
        holder.listen()
        port = holder.getsockname()[1]
        proc = subprocess.run([sys.executable, "-m", "rkt", "metadata-service", f"--listen-port={port}"],
                              capture_output=True, text=True, timeout=30,
                              env={**os.environ, "RKT_MDS_SOCKET": str(sock_path)})
    assert proc.returncode == 254 and proc.stderr.startswith("rkt: metadata service: listening on port")
    assert not sock_path.exists()
