"""The shipped systemd units and tmpfiles entry: systemd's own tools accept them, and
`make install-systemd` puts them where systemd looks."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess

import pytest

from tests.conftest import REPO

DIST = REPO / "dist" / "systemd"
UNITS = sorted(p for p in DIST.iterdir() if p.suffix in (".service", ".socket", ".timer"))


def test_units_verify(tmp_path):
    assert {p.name for p in UNITS} >= {"rkt-gc.service", "rkt-gc.timer", "rkt-metadata.service",
                                       "rkt-metadata.socket", "example-pod.service",
                                       "example-pod-notify.service"}
    for unit in UNITS:
        shutil.copy(unit, tmp_path)
    run = subprocess.run(["systemd-analyze", "verify", "--man=no",
                          *(str(tmp_path / u.name) for u in UNITS)],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "rkt" not in run.stderr, run.stderr  # not even a warning about our units


@pytest.mark.parametrize("name,settings", [
    ("example-pod.service", ["KillMode=mixed", "ExecStopPost=/usr/local/bin/rkt gc --mark-only",
                             "--uuid-file-save="]),
    ("example-pod-notify.service", ["Type=notify", "KillMode=mixed", "NotifyAccess=main"]),
])
def test_example_pod_units(name, settings):
    text = (DIST / name).read_text()
    for setting in settings:
        assert setting in text


def test_tmpfiles_gives_group_rkt_the_data_dir(tmp_path):
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "group").write_text("root:x:0:\nrkt:x:4242:\nrkt-admin:x:4243:\n")
    (root / "etc" / "passwd").write_text("root:x:0:0::/root:/bin/sh\n")
    run = subprocess.run(["systemd-tmpfiles", "--create", f"--root={root}",
                          str(DIST / "tmpfiles.d" / "rkt.conf")],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    data = root / "var" / "lib" / "rkt"
    for path, mode in ((data, 0o2750), (data / "cas", 0o2770), (data / "cas" / "blob", 0o2770),
                       (data / "pods" / "run", 0o2750), (data / "cas" / "tree", 0o2700)):
        st = path.stat()
        assert stat.S_IMODE(st.st_mode) == mode, path
        assert st.st_gid == 4242, path
    index = (data / "cas" / "db" / "index.sqlite").stat()
    assert stat.S_IMODE(index.st_mode) == 0o660 and index.st_gid == 4242
    assert (root / "etc" / "rkt").stat().st_gid == 4243


def test_make_install_systemd(tmp_path):
    dest = tmp_path / "dest"
    run = subprocess.run(["make", "-s", "install-systemd", f"DESTDIR={dest}"], cwd=REPO,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    units = dest / "usr/local/lib/systemd/system"
    assert sorted(os.listdir(units)) == ["rkt-gc.service", "rkt-gc.timer",
                                          "rkt-metadata.service", "rkt-metadata.socket"]
    assert (dest / "usr/local/lib/tmpfiles.d/rkt.conf").read_text() == \
        (DIST / "tmpfiles.d/rkt.conf").read_text()
    assert (dest / "usr/local/lib/sysusers.d/rkt.conf").exists()
    assert "example-pod.service" in os.listdir(dest / "usr/local/share/doc/rkt/examples")
