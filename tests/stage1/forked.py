"""Running busybox in a forked child after some stage1 setup, for the real-kernel tests."""

from __future__ import annotations

import os
import signal

BUSYBOX = "/bin/busybox"


def in_child(setup, argv, *, timeout=20):
    """Fork; the child runs setup() then execs busybox argv. -> (exit code or -signal, output)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            os.dup2(w, 1)
            os.dup2(w, 2)
            signal.alarm(timeout)
            setup()
            os.execv(BUSYBOX, ["busybox", *argv])
        except BaseException as err:  # noqa: BLE001 - the child must never return into pytest
            os.write(2, f"setup failed: {type(err).__name__}: {err}\n".encode())
        finally:
            os._exit(99)
    os.close(w)
    chunks = []
    while chunk := os.read(r, 65536):
        chunks.append(chunk)
    os.close(r)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), b"".join(chunks).decode(errors="replace")
