"""`rkt enter`: run a command inside a running app, through the stage1 `enter` entrypoint.

stage0 only finds the pod's PID 1 and the app, then execs the entrypoint
(`--pid=P --appname=A -- CMD...`, cwd the pod dir); joining the app's namespaces, rootfs, cgroup,
capabilities and seccomp filter is stage1's job, since only it knows how it built them.
"""

from __future__ import annotations

import os
import sys
import time
from typing import TYPE_CHECKING

from rkt import report
from rkt.errors import RktError
from rkt.pod import entrypoints, poddir
from rkt.pod import pods as podlib

if TYPE_CHECKING:
    from rkt.pod.pods import Pod

DEFAULT_COMMAND = "/bin/sh"
PID_TIMEOUT = 10.0  # rkt waits for the pid file stage1 writes shortly after the pod starts


def wait_for_pid(pod: "Pod", timeout: float = PID_TIMEOUT) -> int:
    """The PID of the pod's PID 1, waiting for stage1 to write it; fails if the pod stops."""
    deadline = time.monotonic() + timeout
    while True:
        pid = pod.pid()
        if pid is not None and pid > 0 and os.path.exists(f"/proc/{pid}"):
            return pid
        if pod.refresh().state != podlib.RUNNING:
            raise RktError(f'pod "{pod.uuid}" is not running anymore (state {pod.state})')
        if time.monotonic() >= deadline:
            raise RktError(f'pod "{pod.uuid}" did not report its pid within {timeout:g}s')
        time.sleep(0.05)


def choose_app(pod: "Pod", app: str | None) -> str:
    names = pod.app_names()
    if app is not None:
        if app not in names:
            raise RktError(f'pod "{pod.uuid}" has no app named "{app}" (apps: {", ".join(names)})')
        return app
    if len(names) == 1:
        return names[0]
    if not names:
        raise RktError(f'pod "{pod.uuid}" contains zero apps')
    raise RktError(f'pod "{pod.uuid}" contains several apps ({", ".join(names)}): '
                   f'specify one with "rkt enter --app=NAME"')


def enter(pod: "Pod", app: str | None, command: list[str]) -> None:
    """Exec the stage1 enter entrypoint; returns only by raising."""
    if pod.refresh().state != podlib.RUNNING:
        raise RktError(f'pod "{pod.uuid}" isn\'t currently running')
    name = choose_app(pod, app)
    pid = wait_for_pid(pod)
    path = entrypoints.entrypoint(pod.path, "enter")
    if not command:
        report.info(f'No command specified, assuming "{DEFAULT_COMMAND}"')
        command = [DEFAULT_COMMAND]
    argv = [str(path), f"--pid={pid}", f"--appname={name}", "--", *command]
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.chdir(pod.path)
        poddir.join_pod_mounts(pod.path, pid)
        os.execv(path, argv)
    except OSError as err:
        raise RktError(f"cannot run stage1 enter entrypoint {path}: {err.strerror}") from None
