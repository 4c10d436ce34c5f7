"""The Makefile's install footprint: a user's `make install`/`make run` pulls only the packages
rkt runs with; `make test`/`make bench` (and so .ci/run) add what tests and benchmarks need."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
TEST_ONLY = {"golang-go", "golang-github-appc-spec-dev", "runc", "hyperfine", "systemd-container",
             "skopeo", "umoci", "docker-registry", "apache2-utils"}


def apt_packages(target: str) -> set[str]:
    """The packages `make TARGET` would apt-get install on a machine that has none of them."""
    out = subprocess.run(["make", "-n", "-B", "-C", str(REPO), target], capture_output=True,
                         text=True, timeout=60, check=True).stdout
    return {pkg for line in re.findall(r"apt-get install -y -qq ([^;]+);", out)
            for pkg in line.split()}


def test_install_pulls_only_the_runtime():
    runtime = apt_packages("install")
    assert {"python3", "python3-venv", "gnupg", "libseccomp2"} <= runtime
    assert not runtime & TEST_ONLY
    assert "busybox-static" not in runtime


def test_run_adds_only_the_demo_busybox():
    assert apt_packages("run") - apt_packages("install") == {"busybox-static"}


@pytest.mark.parametrize("target", ["test", "bench", "conformance"])
def test_test_targets_install_everything(target):
    assert TEST_ONLY | apt_packages("run") <= apt_packages(target)


def test_install_does_not_pull_test_extras():
    out = subprocess.run(["make", "-n", "-B", "-C", str(REPO), "install"], capture_output=True,
                         text=True, timeout=60, check=True).stdout
    assert "pip install -q -e .\n" in out and "[test]" not in out
    assert "compileall" in out
