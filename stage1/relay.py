"""The pod's relay: one process that carries app output and app notifications out of the pod.

The supervisor forks it before the apps. It polls every app's stdout and stderr pipe (lines go
to `logs.Output`: console, log file, journal) and every app's notify socket (messages go to the
waiting parent of `rkt run`, which owns the host's NOTIFY_SOCKET). A control pipe from the
supervisor says "s" once every app started, and its EOF says the apps are gone: the relay then
drains what the pipes still hold and exits, so no output written before an app exited is lost.
"""

from __future__ import annotations

import os
import select
# the C module behind `signal`: the same calls without importing enum (~5 ms a pod start)
import _signal as signal

from stage1 import logs, notify
from stage1.files import say

_IN = select.POLLIN | select.POLLPRI
_END = select.POLLHUP | select.POLLERR | select.POLLNVAL


class Relay:
    def __init__(self, *, uuid: str, stage1_rootfs: str, readers: list, notify_socks: list,
                 control_fd: int, packet_fd: int | None, limit: int):
        self.readers = {r.fd: r for r in readers}
        self.socks = {sock.fileno(): (sock, app) for sock, app in notify_socks}
        self.control_fd, self.packet_fd = control_fd, packet_fd
        self.output = logs.Output(uuid, sorted({r.app for r in readers}), limit,
                                  logs.Journal.connect(uuid) if readers else None,
                                  pids_dir=f"{stage1_rootfs}/rkt/pids")
        self.readiness = notify.Readiness([app for _, app in notify_socks], stage1_rootfs)

    def _to_host(self, messages: list[bytes]) -> None:
        if self.packet_fd is None or not messages:
            return
        try:
            os.write(self.packet_fd, b"\n".join(messages))
        except OSError:
            pass

    def _read(self, fd: int) -> bool:
        """Feed what the pipe holds; False at EOF."""
        try:
            data = os.read(fd, 65536)
        except InterruptedError:
            return True
        except OSError:
            data = b""
        if not data:
            return False
        self.readers[fd].feed(data, self.output)
        return True

    def run(self) -> None:
        poller = select.poll()
        for fd in (*self.readers, *self.socks, self.control_fd):
            poller.register(fd, _IN)
        open_pipes = set(self.readers)
        while True:
            try:
                events = poller.poll()
            except InterruptedError:
                continue
            finished = False
            for fd, event in events:
                if fd == self.control_fd:
                    try:
                        word = os.read(self.control_fd, 64)
                    except InterruptedError:
                        continue
                    if b"s" in word:
                        self._to_host(self.readiness.apps_started())
                    if not word:
                        finished = True
                elif fd in self.socks:
                    sock, app = self.socks[fd]
                    self._to_host(self.readiness.receive(sock, app))
                elif fd in open_pipes:
                    alive = self._read(fd) if event & _IN else not event & _END
                    if not alive:
                        poller.unregister(fd)
                        open_pipes.discard(fd)
            if finished:
                break
        # the apps are gone: what they wrote is in the pipes; their orphans may hold the write
        # ends open, so read without waiting
        for fd in open_pipes:
            os.set_blocking(fd, False)
            while True:
                try:
                    data = os.read(fd, 65536)
                except (BlockingIOError, OSError):
                    break
                if not data:
                    break
                self.readers[fd].feed(data, self.output)
        self.output.close()


def start(not_ours: list[int], **kwargs) -> int:
    """Fork the relay, which closes `not_ours` (the pipes' write ends: it must see EOF); its
    pid. The caller closes its copies of the fds the relay owns."""
    pid = os.fork()
    if pid:
        return pid
    code = 0
    try:
        for fd in not_ours:
            os.close(fd)
        try:
            with open("/proc/self/comm", "w") as comm:
                comm.write("rkt-relay")  # how ps and top tell it from the supervisor
        except OSError:
            pass
        # the pod's stop signals are for the apps; the relay stays until their output is out
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
        signal.alarm(0)
        Relay(**kwargs).run()
    except BaseException as err:  # noqa: BLE001 - a forked child must never return
        say(f"relay: {type(err).__name__}: {err}")
        code = 254
    os._exit(code)
