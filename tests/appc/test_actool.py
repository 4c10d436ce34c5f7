"""Differential test against appc's own validator: actool, built from Debian's appc Go sources.

Every case of the schema table goes through `actool validate` and through rkt.appc.image and
rkt.appc.pod. They must agree, except on the cases listed in DIFFERENCES, each a deliberate
choice: where the appc spec is stricter than its Go code we follow the spec (but names are checked
as Go checks them, as rkt does), and unknown app isolators are accepted (the spec lets an
executor ignore them; Go refuses them).
"""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from rkt.errors import ManifestError
from tests.appc.test_schema import CASES

REPO = Path(__file__).resolve().parents[2]
GOPATH = "/usr/share/gocode"
TOOLS = REPO / "build" / "appc-tools"

# case -> why our answer differs from actool's
DIFFERENCES = {
    "unknown isolator": "spec: an executor MAY ignore unknown isolators; Go rejects them",
    "wrong acKind": "actool picks the manifest type from acKind, so it checks a pod manifest",
    "negative gid": "spec: supplementaryGIDs are unsigned; Go uses []int",
    "mount point without path": "spec: path required; Go never calls MountPoint.assertValid",
    "unknown capability": "a capability the kernel does not have cannot be applied",
    "caps retain and remove": "spec: the two capability sets cannot be combined",
    "relative whitelist": "spec: pathWhitelist holds absolute paths",
    "placeholder dependency id": "spec: an image ID is sha512- and 128 hex digits",
    "duplicate port names": "spec: port names are unique",
    "pod app without image id": "a pod manifest we run must be reified (image IDs present)",
    "pod short image id": "spec: an image ID is sha512- and 128 hex digits",
    "pod volume bad mode": "an empty volume's mode must be an octal permission",
    "pod mount without path": "spec: path required; Go never calls Mount.assertValid",
    "pod port without hostPort": "spec: hostPort required",
    "pod two sysctl isolators": "spec: at most one os/unix/sysctl per pod; Go skips pod isolators",
    "pod sysctl key escaping /proc/sys": "keys become paths under /proc/sys; Go checks nothing",
    "mount of undefined volume": "a reified pod backs every mount by a volume",
    "duplicate exposed ports": "spec: port names are unique across the pod",
}


@pytest.fixture(scope="module")
def actool() -> Path:
    if shutil.which("go") is None or not Path(GOPATH, "src/github.com/appc/spec").is_dir():
        pytest.skip("needs golang-go and golang-github-appc-spec-dev")
    binary = TOOLS / "actool"
    if not binary.exists():
        TOOLS.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "GOPATH": GOPATH, "GO111MODULE": "off", "GOFLAGS": "",
               "GOCACHE": str(TOOLS / "gocache"), "CGO_ENABLED": "0"}
        partial = TOOLS / f"actool.{os.getpid()}"
        subprocess.run(["go", "build", "-o", str(partial), "github.com/appc/spec/actool"],
                       env=env, check=True, capture_output=True, timeout=600)
        partial.rename(binary)
    return binary


def test_differences_are_real_cases():
    assert set(DIFFERENCES) <= set(CASES)


@pytest.mark.parametrize("case", list(CASES))
def test_agrees_with_actool(actool, tmp_path, case):
    cls, doc, _ = CASES[case]
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(doc))
    go = subprocess.run([actool, "validate", "--type=manifest", path], capture_output=True,
                        text=True, timeout=60)
    try:
        cls.from_json(doc)
        ours = True
    except ManifestError:
        ours = False
    go_ok = go.returncode == 0
    if case in DIFFERENCES:
        assert ours != go_ok, f"no longer differs from actool ({DIFFERENCES[case]})"
    else:
        assert ours == go_ok, f"actool says {go_ok}: {go.stderr.strip()}"
