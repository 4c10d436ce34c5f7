"""The pod's relay: carries app output and app notifications out of the pod, in PID 1's loop.

The supervisor polls the relay's fds together with its own signal wakeup: every app's stdout and
stderr pipe (lines go to `logs.Output`: console, log file, journal) and every app's notify socket
(messages go to the waiting parent of `rkt run`, which owns the host's NOTIFY_SOCKET). Living in
the supervisor, not in a process of its own, saves a Python interpreter per pod (~2-3 MiB); a
console that takes nothing holds it up at most `logs.CONSOLE_WAIT_MS` once, never for good.
Once the apps are gone `finish` drains what the pipes still hold, so no output is lost.
"""

from __future__ import annotations

import os
import select

from stage1 import logs, notify

_IN = select.POLLIN | select.POLLPRI
_END = select.POLLHUP | select.POLLERR | select.POLLNVAL


class Relay:
    def __init__(self, *, uuid: str, stage1_rootfs: str, readers: list, notify_socks: list,
                 packet_fd: int | None, limit: int):
        """`readers`: a logs.LineReader per app output pipe (the relay owns the read ends);
        `notify_socks`: (socket, app name) pairs; `packet_fd`: the packet pipe to the waiting
        parent, None when the host has no NOTIFY_SOCKET."""
        self.readers = {r.fd: r for r in readers}
        self.socks = {sock.fileno(): (sock, app) for sock, app in notify_socks}
        self.packet_fd = packet_fd
        self.output = logs.Output(uuid, sorted({r.app for r in readers}), limit,
                                  logs.Journal.connect(uuid) if readers else None,
                                  pids_dir=f"{stage1_rootfs}/rkt/pids")
        self.readiness = notify.Readiness([app for _, app in notify_socks], stage1_rootfs)

    def register(self, poller) -> None:
        for fd in (*self.readers, *self.socks):
            poller.register(fd, _IN)

    def handle(self, poller, fd: int, event: int) -> None:
        """One poll event on one of our fds: output to carry, a notification, or a pipe's end."""
        if fd in self.socks:
            sock, app = self.socks[fd]
            self._to_host(self.readiness.receive(sock, app))
        elif fd in self.readers:
            if not (self._read(fd) if event & _IN else not event & _END):
                poller.unregister(fd)
                os.close(fd)
                del self.readers[fd]

    def apps_started(self) -> None:
        """Every app runs (and the pod's pid is written): readiness counts from here."""
        self._to_host(self.readiness.apps_started())

    def finish(self) -> None:
        """The apps are gone: what they wrote is in the pipes; their orphans may hold the write
        ends open, so read without waiting. Then the journal's last pieces and the end of the
        parent's packet pipe."""
        for fd in self.readers:
            os.set_blocking(fd, False)
            while self._read(fd):  # an empty pipe (EAGAIN) ends it as EOF does
                pass
            os.close(fd)
        self.readers = {}
        for sock, _app in self.socks.values():
            sock.close()
        self.socks = {}
        self.output.close()
        if self.packet_fd is not None:
            os.close(self.packet_fd)
            self.packet_fd = None

    def _to_host(self, messages: list[bytes]) -> None:
        if self.packet_fd is None or not messages:
            return
        try:
            os.write(self.packet_fd, b"\n".join(messages))
        except OSError:
            pass

    def _read(self, fd: int) -> bool:
        """Feed what the pipe holds; False at EOF (or when it has nothing, if nonblocking)."""
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
