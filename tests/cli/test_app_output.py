"""Apps' lines on the pod's console start with `app[pid]: ` when it is not a terminal (as
rkt's nspawn stage1 printed them, which tools scrape); `--interactive` leaves them as written."""

import re

import pytest

pytestmark = pytest.mark.root


def _run(rkt, stage1, *args, **kw):
    return rkt("--insecure-options=image", "run", f"--stage1-path={stage1}", "--net=none",
               *args, **kw)


def _sh_app(busybox, name: str, script: str) -> list:
    """The run arguments of one busybox app named `name` running `sh -c script`."""
    return [busybox, f"--name={name}", "--exec=/bin/sh", "--", "-c", script, "---"]


def test_each_line_prefixed_with_app_and_pid(rkt, real_stage1, busybox):
    proc = _run(rkt, real_stage1,
                *_sh_app(busybox, "first", "echo one; printf 'two'; sleep 0.1; echo ' halves'; echo err >&2"),
                *_sh_app(busybox, "second", "sleep 0.5; echo hi"))
    out = proc.raw_stdout.splitlines()
    pids = {re.match(r"^(\w+)\[(\d+)\]: ", line).groups() for line in out}
    assert {name for name, _ in pids} == {"first", "second"}
    assert len(pids) == 2  # one pid per app, the same on each of its lines
    first = [re.sub(r"^first\[\d+\]: ", "", line) for line in out if line.startswith("first[")]
    assert first == ["one", "two halves"]  # a line written in pieces is prefixed once
    assert re.search(r"^first\[\d+\]: err$", proc.raw_stderr, re.M)
    assert re.search(r"^second\[\d+\]: hi$", proc.raw_stdout, re.M)


def test_interactive_output_unprefixed(rkt, real_stage1, busybox):
    proc = _run(rkt, real_stage1, "--interactive", busybox, "--exec=/bin/echo",
                "--", "plain", "---", input="")
    assert proc.raw_stdout == "plain\n"


def test_interleaved_pieces_keep_one_owner_per_line(rkt, real_stage1, busybox):
    proc = _run(rkt, real_stage1, *_sh_app(busybox, "slow", "printf 'left '; sleep 0.4; echo right"),
                *_sh_app(busybox, "fast", "sleep 0.2; echo middle"))
    lines = proc.raw_stdout.splitlines()
    assert all(re.match(r"^(slow|fast)\[\d+\]: ", line) for line in lines), lines
    assert [re.sub(r"^\w+\[\d+\]: ", "", line) for line in lines] == ["left ", "middle", "right"]


def test_terminal_gets_the_apps_bytes_unprefixed(rkt, real_stage1, busybox):
    from tests.conftest import REPO
    from tests.helpers.tty import run_on_tty

    cmd = rkt.cmd("--insecure-options=image", "run", f"--stage1-path={real_stage1}", "--net=none",
                  busybox, "--exec=/bin/echo", "--", "on a tty", "---")
    code, out = run_on_tty(cmd, cwd=REPO)
    assert code == 0, out
    assert b"on a tty\r\n" in out and b"]: on a tty" not in out
