"""Members of group `rkt` fetch and list without root (rkt #3640): a data dir made by
`systemd-tmpfiles` from dist/systemd/tmpfiles.d/rkt.conf, two unprivileged users in that group
taking turns with root on the same store, and a user outside the group refused in one line."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.helpers.aci import busybox_files, make_aci, manifest

RKT_GID, USER_A, USER_B, OUTSIDER = 4742, 4743, 4744, 4745
# the unprivileged users need the interpreter, which may live below a root-only home: in their
# mount namespace a world-readable tmpfs takes that home's place and the interpreter's tree is
# bound back into it
AS_USER = r"""
set -e
mount --make-rslave /
hidden="$1"; prefix="$2"; uid="$3"; groups="$4"; shift 4
if [ -n "$hidden" ]; then
    keep=$(mktemp -d)
    mount --bind "$prefix" "$keep"
    mount -t tmpfs -o mode=755 tmpfs "$hidden"
    mkdir -p "$prefix"
    mount --bind "$keep" "$prefix"
fi
cd /
exec setpriv --reuid="$uid" --regid="$uid" --groups="$groups" env HOME=/ "$@"
"""


@pytest.fixture
def shared_dir():
    """A root with /var/lib/rkt as rkt's tmpfiles entry makes it (group `rkt` = RKT_GID)."""
    root = Path(tempfile.mkdtemp(prefix="rkt-group-", dir="/tmp"))
    try:
        root.chmod(0o755)
        (root / "etc").mkdir()
        (root / "etc/group").write_text(f"root:x:0:\nrkt:x:{RKT_GID}:\nrkt-admin:x:{RKT_GID + 1}:\n")
        (root / "etc/passwd").write_text("root:x:0:0::/root:/bin/sh\n")
        conf = REPO / "dist/systemd/tmpfiles.d/rkt.conf"
        subprocess.run(["systemd-tmpfiles", "--create", f"--root={root}", str(conf)],
                       check=True, capture_output=True, timeout=60)
        yield root
    finally:
        shutil.rmtree(root)


def _first_closed(path: str) -> str:
    """The first directory on the way to `path` that others may not search ("" if none)."""
    parts = Path(path).parts
    for i in range(2, len(parts) + 1):
        here = Path(*parts[:i])
        if not here.stat().st_mode & 0o001:
            return str(here)
    return ""


def _image(path: Path, name: str) -> Path:
    make_aci(path, manifest(name, exec_=["/bin/sh", "-c", "echo hello from " + name]),
             busybox_files({}))
    path.chmod(0o644)
    return path


def _rkt(data: Path, *args, uid: int = 0, groups: str = str(RKT_GID)):
    cmd = [sys.executable, "-m", "rkt", f"--dir={data}", "--insecure-options=image",
           f"--system-config={data}/no-such-dir", f"--local-config={data}/no-such-dir",
           f"--user-config={data}/no-such-dir", *map(str, args)]
    if uid:
        prefix = os.path.realpath(sys.base_prefix)
        cmd = ["unshare", "--mount", "--propagation", "slave", "sh", "-c", AS_USER, "sh",
               _first_closed(prefix), prefix, str(uid), groups, *cmd]
    return subprocess.run(cmd, cwd="/" if uid else REPO, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)})


def test_members_of_group_rkt_fetch_and_list(shared_dir, real_stage1):
    data = shared_dir / "var/lib/rkt"
    assert data.stat().st_gid == RKT_GID and (data / "cas").stat().st_mode & 0o2070 == 0o2070
    one = _image(shared_dir / "one.aci", "example.com/one")
    two = _image(shared_dir / "two.aci", "example.com/two")

    fetched = _rkt(data, "fetch", one, uid=USER_A)
    assert fetched.returncode == 0, fetched.stderr
    # another member writes the same index, lock files and blob dirs
    fetched = _rkt(data, "fetch", two, uid=USER_B)
    assert fetched.returncode == 0, fetched.stderr
    # root runs what a member fetched (rendering the tree members may not write)
    ran = _rkt(data, "run", "--net=none", f"--stage1-path={real_stage1}", "example.com/one")
    assert ran.returncode == 0, ran.stderr
    assert "hello from example.com/one" in ran.stdout
    # and a member still fetches after root wrote the store
    again = _rkt(data, "fetch", _image(shared_dir / "three.aci", "example.com/three"), uid=USER_A)
    assert again.returncode == 0, again.stderr

    images = _rkt(data, "image", "list", uid=USER_B)
    assert images.returncode == 0, images.stderr
    for name in ("example.com/one", "example.com/two", "example.com/three"):
        assert name in images.stdout
    pods = _rkt(data, "list", "--full", uid=USER_A)
    assert pods.returncode == 0, pods.stderr
    uuid = next(line.split()[0] for line in pods.stdout.splitlines()[1:] if "example.com/one" in line)
    status = _rkt(data, "status", uuid, uid=USER_B)
    assert status.returncode == 0 and "app-one=0" in status.stdout, status.stderr

    for path in (data / "cas").rglob("*"):
        if path.is_relative_to(data / "cas/tree") or path.is_relative_to(data / "cas/treelocks"):
            continue  # root's alone, as rkt's 2700
        mode = path.stat().st_mode
        assert path.stat().st_gid == RKT_GID, path
        assert mode & 0o060 == 0o060, f"{path}: {oct(mode)} is not group-writable"

    # outside the group: refused, in one line
    outsider = _rkt(data, "image", "list", uid=OUTSIDER, groups=str(OUTSIDER))
    assert outsider.returncode == 254
    assert outsider.stderr.startswith("rkt: ") and outsider.stderr.count("\n") == 1, outsider.stderr
