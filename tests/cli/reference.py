"""The reference rkt 1.30 binary beside ours, for side-by-side tests of the command line.

Found as tests/interop finds it (`reference_dir`); it runs in its own slave mount namespace
(`unshare --mount --propagation slave`) with private data and configuration directories, as
the reference's README asks. Tests skip, saying why, where it is not installed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.interop.conftest import reference_dir

REFERENCE, _WHY_MISSING = reference_dir()


class RefRkt:
    """The reference binary with private dirs under `root`."""

    def __init__(self, root: Path):
        self.root = root
        for sub in ("data", "local", "system", "user"):
            (root / sub).mkdir(parents=True, exist_ok=True)

    def __call__(self, *args, timeout: float = 60) -> subprocess.CompletedProcess:
        r = self.root
        argv = ["unshare", "--mount", "--propagation", "slave", str(REFERENCE / "rkt"),
                f"--dir={r}/data", f"--local-config={r}/local", f"--system-config={r}/system",
                f"--user-config={r}/user", *map(str, args)]
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def ref(tmp_path) -> RefRkt:
    if REFERENCE is None:
        pytest.skip(_WHY_MISSING)
    if shutil.which("unshare") is None:
        pytest.skip("unshare(1) is missing: the reference rkt must run in its own mount namespace")
    return RefRkt(tmp_path / "ref")
