"""Fixtures for the stage1-interface tests: the reference rkt 1.30, our stage1 ACI, and one
private mount namespace per test that every rkt command of the test runs in.

The reference binaries are `../shared/reference/rkt-1.30/{rkt,stage1-fly.aci}` next to the
checkout (or next to the main checkout, for a git worktree), or `$RKT_REFERENCE_DIR`. rkt's
stage0 mounts overlays and rkt's fly stage1 bind-mounts /dev, /proc and /sys where it runs, so
every command runs through `nsenter` in a namespace `unshare --mount --propagation slave`
made: nothing reaches the host, and the test checks nothing is left in that namespace either.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, Rkt
from tests.helpers.aci import busybox_aci
from tests.helpers.output import app_output

REFERENCE_ENV = "RKT_REFERENCE_DIR"
REFERENCE_REL = Path("shared/reference/rkt-1.30")


def _main_checkout(repo: Path) -> Path:
    """The main checkout of a git worktree (its .git is a file naming <main>/.git/worktrees/X)."""
    git = repo / ".git"
    if git.is_file():
        text = git.read_text().strip()
        if text.startswith("gitdir:"):
            gitdir = Path(text.split(":", 1)[1].strip())
            if gitdir.parent.name == "worktrees":
                return gitdir.parent.parent.parent
    return repo


def reference_dir() -> tuple[Path | None, str]:
    """The reference rkt 1.30 directory, or None and why it was not found."""
    if os.environ.get(REFERENCE_ENV):
        candidates = [Path(os.environ[REFERENCE_ENV])]
    else:
        candidates = [REPO.parent / REFERENCE_REL, _main_checkout(REPO).parent / REFERENCE_REL]
    for ref in candidates:
        if os.access(ref / "rkt", os.X_OK) and (ref / "stage1-fly.aci").is_file():
            return ref, ""
    return None, (f"the reference rkt 1.30 is missing: no executable rkt and stage1-fly.aci in "
                  f"{' or '.join(map(str, dict.fromkeys(candidates)))} (set ${REFERENCE_ENV})")


@pytest.fixture(scope="session")
def reference() -> Path:
    ref, why = reference_dir()
    if ref is None:
        pytest.skip(why)
    return ref


@pytest.fixture(scope="session")
def our_stage1(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("stage1") / "stage1.aci"
    subprocess.run([sys.executable, "-m", "stage1.build", str(out)], cwd=REPO, check=True,
                   timeout=120)
    return out


@pytest.fixture(scope="session")
def apps(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("apps")
    made = {"exit7": (["/bin/sh", "-c", "echo hello from the app; exit 7"], "example.com/exit7"),
            "sleeper": (["/bin/sleep", "60"], "example.com/sleeper")}
    for key, (exec_, name) in made.items():
        busybox_aci(d / f"{key}.aci", name=name, exec_=exec_)
    return {key: d / f"{key}.aci" for key in made}


def _mounts(pid: int | str = "self") -> list[str]:
    with open(f"/proc/{pid}/mountinfo") as f:
        return [line.split()[4] for line in f]


class Namespace:
    """A held mount namespace (slave of the host's) that commands are run in with nsenter."""

    def __init__(self, root: Path):
        self.root = root
        self.holder = subprocess.Popen(["unshare", "--mount", "--propagation", "slave",
                                        "sleep", "infinity"])
        self.ours = Rkt(root / "ours")
        self.ref_dir = root / "ref"
        self.reference: Path | None = None
        for _ in range(200):  # until unshare has exec'd sleep in its own namespace
            if os.readlink(f"/proc/{self.holder.pid}/ns/mnt") != os.readlink("/proc/self/ns/mnt"):
                break
            time.sleep(0.01)

    def argv(self, argv: list) -> list[str]:
        return ["nsenter", f"--mount=/proc/{self.holder.pid}/ns/mnt", f"--wd={REPO}", "--",
                *map(str, argv)]

    def rkt(self, *args) -> list[str]:
        """Our rkt, with its private dirs."""
        return self.argv(self.ours.cmd(*args))

    def ref(self, *args) -> list[str]:
        """The reference rkt 1.30, with private dirs (its data and configuration)."""
        r = self.ref_dir
        return self.argv([self.reference / "rkt", f"--dir={r}/data", f"--local-config={r}/local",
                          f"--system-config={r}/system", f"--user-config={r}/user", *args])

    def run(self, argv: list[str], timeout: float = 120, **kw) -> subprocess.CompletedProcess:
        return app_output(subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw))

    def mounts_here(self) -> list[str]:
        return [m for m in _mounts(self.holder.pid) if m.startswith(str(self.root))]

    def kill_pods(self) -> None:
        """After a failed test: kill what still runs (each pod's `pid`; for ours, its PID 1)."""
        for data in (self.ours.dir, self.ref_dir / "data"):
            for pid_file in (data / "pods").glob("*/*/pid"):
                try:
                    os.kill(int(pid_file.read_text()), signal.SIGKILL)
                except (OSError, ValueError):
                    pass

    def close(self) -> None:
        self.holder.kill()
        self.holder.wait()


@pytest.fixture
def ns(tmp_path, reference):
    """A private namespace for the test; afterwards nothing is mounted under tmp_path, neither
    on the host nor in that namespace (rkt's gc must have unmounted its overlays)."""
    before = set(_mounts())
    space = Namespace(tmp_path)
    space.reference = reference
    try:
        yield space
        left = space.mounts_here()
        assert not left, f"mounts left in the test's namespace: {left}"
    finally:
        space.kill_pods()
        space.close()
        leaked = sorted(m for m in set(_mounts()) - before if m.startswith(str(tmp_path)))
        assert not leaked, f"mounts leaked onto the host: {leaked}"
