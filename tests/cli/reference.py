"""The reference rkt 1.30 binary beside ours, for side-by-side tests of the command line.

It runs in its own slave mount namespace (`unshare --mount --propagation slave`) with private
data and configuration directories, as the reference's README asks; tests skip, saying why,
where the reference is not installed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO

# ../shared beside the checkout (main, CI's clone), or beside the worktrees' parent
_CANDIDATES = [base / "shared" / "reference" / "rkt-1.30" for base in (REPO.parent, REPO.parent.parent)]
REFERENCE = next((c for c in _CANDIDATES if (c / "rkt").exists()), _CANDIDATES[0])


def need_reference() -> Path:
    if not (REFERENCE / "rkt").exists():
        pytest.skip(f"reference rkt 1.30 not installed at {REFERENCE} (../shared/reference/rkt-1.30)")
    if shutil.which("unshare") is None:
        pytest.skip("unshare(1) is missing: the reference rkt must run in its own mount namespace")
    return REFERENCE


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
    need_reference()
    return RefRkt(tmp_path / "ref")
