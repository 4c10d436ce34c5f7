"""The keeper: a small process that holds the pod's network until the pod is gone, then undoes it.

stage1's waiting parent forks it before the pod's PID namespace exists (a process forked into
a PID namespace whose init has died could not fork the plugins). It attaches the pod's
networks while the parent goes on starting the pod (whose PID 1 waits for its report before
anything uses them), keeps the pod's netns and the pod lock open and reads a pipe whose write
ends only the parent and the supervisor hold:
end of file means both are gone, whether they exited or were killed with SIGKILL. It then runs
the teardown with the namespace still alive, so every plugin's DEL undoes everything.
"""

from __future__ import annotations

import os
# the C module behind `signal`: no enum import in a process that only waits
import _signal as signal

from stage1.files import phase, say


def start(netns, uuid: str, pod_dir: str, *, check: bool = False, first=None) -> tuple[int, int]:
    """Fork the keeper of the pod's `netns` (a netns.NetNS), which runs `first()` (attaching
    the networks) before it waits; (its pid, the pipe's write end). Its path to the
    namespace, `/proc/<its pid>/fd/<fd>`, is the one every plugin gets."""
    read_end, write_end = os.pipe()  # O_CLOEXEC: apps never hold it, only forked processes
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(write_end)
            # a Ctrl-C or `kill` meant for the pod must not take its network away while it runs
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
                signal.signal(sig, signal.SIG_IGN)
            if first is not None:
                first()
            code = _keep(netns, uuid, pod_dir, read_end, check)
        finally:
            os._exit(code)
    os.close(read_end)
    return pid, write_end


def _keep(netns, uuid: str, pod_dir: str, read_end: int, check: bool) -> int:
    from stage1.net import setup

    while True:
        try:
            if not os.read(read_end, 64):
                break
        except InterruptedError:
            continue
    phase("net-down")
    if check:  # --debug: did every attachment stay as its plugins made it, to the pod's end?
        for problem in setup.check(uuid, pod_dir, netns.path()):
            say(problem)
    failures = setup.teardown(uuid, pod_dir, netns.path())
    for failure in failures:
        say(f"network teardown: {failure}")
    netns.close()
    phase("net-gone")
    return 1 if failures else 0
