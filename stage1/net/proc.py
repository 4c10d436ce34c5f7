"""Running a helper program (a CNI plugin, nft, iptables) and collecting one of its streams.

stage1's waiting parent pays for every import while the pod starts, and `subprocess` brings
`signal`/`enum`, `selectors` and `threading` with it; posix_spawn from `os` needs nothing.
Inputs and outputs here are small (a network config, a JSON result, an error line), so one
stream is read to its end with the other sent elsewhere, and no deadlock is possible.
"""

from __future__ import annotations

import os

from stage1.files import read_all


# the usual sbin and bin dirs, whatever our PATH is: the tools' own PATH
TOOL_ENV = {"PATH": "/usr/local/sbin:/usr/sbin:/sbin:/usr/local/bin:/usr/bin:/bin"}


def find(tool: str, dirs: tuple[str, ...]) -> str | None:
    """The executable `tool` in the first of `dirs` holding one; None when it is not installed."""
    return next((f"{d}/{tool}" for d in dirs if os.access(f"{d}/{tool}", os.X_OK)), None)


def run(argv: list[str], *, stdin: bytes = b"", env: dict[str, str], capture: str = "stdout",
        other: str = "stderr") -> tuple[int, bytes]:
    """(exit status, captured bytes) of `argv` run with `stdin`; a status of 128+N means it was
    killed by signal N. `capture` ("stdout" or "stderr") is read through a pipe; the other
    stream goes to our stderr (`other="stderr"`) or /dev/null. OSError if it cannot be started."""
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    devnull = os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC) if other == "devnull" else None
    captured_fd, other_fd = (1, 2) if capture == "stdout" else (2, 1)
    actions = [(os.POSIX_SPAWN_DUP2, in_r, 0), (os.POSIX_SPAWN_DUP2, out_w, captured_fd)]
    if devnull is not None:
        actions.append((os.POSIX_SPAWN_DUP2, devnull, other_fd))
    elif other_fd == 1:
        actions.append((os.POSIX_SPAWN_DUP2, 2, 1))
    try:
        # default dispositions: the keeper that runs most helpers ignores these
        pid = os.posix_spawn(argv[0], argv, env, file_actions=actions, setsigdef=(1, 2, 3, 15))
    except BaseException:
        os.close(out_r)
        os.close(in_w)
        raise
    finally:
        for fd in (in_r, out_w) + ((devnull,) if devnull is not None else ()):
            os.close(fd)
    try:
        if stdin:
            try:
                os.write(in_w, stdin)  # configs are far below a pipe's 64 KiB
            except BrokenPipeError:
                pass
    finally:
        os.close(in_w)
    try:
        output = read_all(out_r)
    finally:
        os.close(out_r)
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except InterruptedError:
            continue
    code = os.waitstatus_to_exitcode(status)
    return (128 - code if code < 0 else code), output
