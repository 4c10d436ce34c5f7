"""Small file and message helpers shared by stage1's processes (imports only `os`, so the
waiting parent that stays alive for the whole pod can use them without growing)."""

import os


def read_all(fd: int) -> bytes:
    """Everything readable from `fd` until EOF."""
    chunks = []
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def write_atomic(path: str, text: str) -> None:
    """Readers see the old content or the new, never a partial file."""
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


def say(message: str) -> None:
    """stage1's one-line message on stderr (a raw write: safe in PID 1 and after fork). A
    console that is gone (its reader closed it, `rkt run` was killed) loses the message; it
    never stops the pod."""
    try:
        os.write(2, f"stage1: {message}\n".encode())
    except OSError:
        pass


def phase(name: str) -> None:
    """A benchmark's phase mark, as stage0's `rkt.report.phase` (RKT_BENCH_PHASES=FILE)."""
    path = os.environ.get("RKT_BENCH_PHASES")
    if path:
        import time

        with open(path, "a") as f:
            f.write(f"{name} {time.clock_gettime_ns(time.CLOCK_MONOTONIC)}\n")
