"""Running a command on a pseudo-terminal, as a person at a terminal would: rkt behaves
differently there (a fingerprint review asks, downloads draw a progress bar), so the tests of
that behaviour need a real tty and someone to type the answers."""

from __future__ import annotations

import os
import pty
import select
import signal
import time


def run_on_tty(cmd: list[str], *, replies: tuple[tuple[bytes, bytes], ...] = (),
               env: dict | None = None, cwd=None, timeout: float = 60) -> tuple[int, bytes]:
    """Run `cmd` with a new pty as its controlling terminal, stdin, stdout and stderr; each
    (prompt, reply) is typed once, in order, when its prompt has shown (an empty prompt: at
    once, as typing ahead). Returns the exit code and everything the command wrote; past
    `timeout` the command is killed."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: never returns into the test
        try:
            if cwd is not None:
                os.chdir(cwd)
            os.execvpe(cmd[0], cmd, os.environ if env is None else env)
        finally:
            os._exit(127)
    output, pending = b"", list(replies)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            while pending and pending[0][0] in output:
                os.write(fd, pending.pop(0)[1])
            ready, _, _ = select.select([fd], [], [], 0.5)
            if not ready:
                continue
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # EIO: the command closed the terminal
                break
            if not chunk:
                break
            output += chunk
        else:
            os.kill(pid, signal.SIGKILL)
    finally:
        os.close(fd)
        _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), output
