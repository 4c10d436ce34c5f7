"""The appc ACE validator pod and actool checks, run by specs/conformance/ace.py."""

import subprocess
import sys

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.root


def test_ace_validator_passes_and_actool_accepts_our_artifacts():
    proc = subprocess.run([sys.executable, str(REPO / "specs/conformance/ace.py")],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for stage in ("prestart", "main", "sidekick", "poststop"):
        assert f"{stage} OK" in proc.stdout
    assert "FAIL" not in proc.stdout + proc.stderr


def test_ace_validator_passes_on_the_default_network():
    """The metadata service is reached from the pod's own network namespace (172.16.28.1):
    everything, rkt and the service included, runs in a network namespace made for the test."""
    proc = subprocess.run(["unshare", "--net", "--", "sh", "-c", 'ip link set lo up && exec "$@"', "sh",
                           sys.executable, str(REPO / "specs/conformance/ace.py"), "--net=default"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for stage in ("prestart", "main", "sidekick", "poststop"):
        assert f"{stage} OK" in proc.stdout
