"""Each app's stdout and stderr, kept per pod in `logs/<app>.log` (what `rkt logs` reads).

The relay reads an app's output pipes line by line and hands every piece to `Output.emit`, the
one place that writes it to the console, to the app's log file and, when journald listens, to
the journal. On a console that is not a terminal each line starts with `app[pid]: `, as rkt's
nspawn stage1 printed it and tools that scrape rkt's output expect; a terminal, the log file
and the journal get the app's bytes unchanged. Log files use the CRI logging format, one record a line:
`<RFC3339Nano UTC> <stdout|stderr> <F|P> <text>` (P: a piece of a longer line, continued by the
next records, the last one F); a file that outgrows its bound is rotated to `<app>.log.1`.
"""

from __future__ import annotations

import os
import select
import time

LOG_DIR = "logs"
DEFAULT_MAX_BYTES = 1 << 20
MAX_RECORD = 16384  # longer lines are split into P records (the journal gets them whole up to 64k)
MIN_BYTES = 2 * MAX_RECORD  # a file always holds whole records
JOURNAL_SOCKET = "/run/systemd/journal/socket"
JOURNAL_MAX = 65536
_PRIORITY = {"stdout": b"6", "stderr": b"3"}  # info, err
CONSOLE_WAIT_MS = 1000  # how long a console that takes nothing may hold the apps' output up
_PIPE_BUF = 4096  # a pipe that polls writable takes this much without blocking


def max_bytes(raw: str | None) -> int:
    """RKT_LOG_MAX_SIZE: bytes per log file (k/M/G suffixes, at least 32k); bad or missing
    values mean 1 MiB."""
    if not raw:
        return DEFAULT_MAX_BYTES
    scale = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}.get(raw[-1].lower(), 1)
    digits = raw[:-1] if scale != 1 else raw
    try:
        value = int(digits) * scale
    except ValueError:
        return DEFAULT_MAX_BYTES
    return max(value, MIN_BYTES)


def timestamp(ns: int | None = None) -> str:
    ns = time.time_ns() if ns is None else ns
    seconds, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{frac:09d}Z"


class LogFile:
    """One app's log: appends records, rotates to `.1` (replacing the older one) past `limit`,
    so an app never holds more than two files of `limit` bytes."""

    def __init__(self, path: str, limit: int):
        self.path, self.limit = path, limit
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        self.size = os.fstat(self.fd).st_size

    def append(self, stream: str, records: list[tuple[bytes, bool]]) -> None:
        """Records read together share their timestamp; one write(2) per file."""
        head = b"%s %s " % (timestamp().encode(), stream.encode())
        data = b"".join(b"%s%s %s\n" % (head, b"F" if complete else b"P", text)
                        for text, complete in records)
        while self.size + len(data) > self.limit:
            # fill the current file up to its bound with whole records, then rotate
            cut = data.rfind(b"\n", 0, self.limit - self.size) + 1
            if cut == 0 and self.size == 0:
                cut = data.index(b"\n") + 1  # cannot happen with MAX_RECORD < limit; no hang
            if cut:
                self._write(data[:cut])
                data = data[cut:]
            self._rotate()
        if data:
            self._write(data)

    def _write(self, data: bytes) -> None:
        try:
            os.write(self.fd, data)
            self.size += len(data)
        except OSError:
            pass  # a full disk must not stop the app's console output

    def _rotate(self) -> None:
        self.size = 0  # even when the rename fails: appending on beats stopping
        try:
            os.rename(self.path, self.path + ".1")
        except OSError:
            return
        os.close(self.fd)
        self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)


class Journal:
    """journald's native protocol: one datagram per line, fields `NAME=value` (binary-safe)."""

    def __init__(self, sock, uuid: str):
        self.sock, self.uuid = sock, uuid.encode()
        self.pending: dict[tuple[str, str], bytes] = {}

    @classmethod
    def connect(cls, uuid: str, path: str = JOURNAL_SOCKET) -> "Journal | None":
        if not os.path.exists(path):
            return None
        import _socket
        sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_DGRAM)
        try:
            sock.connect(path)
        except OSError:
            sock.close()
            return None
        sock.setblocking(False)  # journald being slow costs log lines, never the app's output
        return cls(sock, uuid)

    def send(self, app: str, stream: str, text: bytes, complete: bool) -> None:
        key = (app, stream)
        text = self.pending.pop(key, b"") + text
        if not complete and len(text) < JOURNAL_MAX:
            self.pending[key] = text
            return
        message = text[:JOURNAL_MAX]
        fields = (b"MESSAGE\n" + len(message).to_bytes(8, "little") + message + b"\n"
                  + b"PRIORITY=" + _PRIORITY[stream] + b"\n"
                  + b"SYSLOG_IDENTIFIER=" + app.encode() + b"\n"
                  + b"RKT_APP_NAME=" + app.encode() + b"\n"
                  + b"RKT_POD_UUID=" + self.uuid + b"\n"
                  + b"RKT_STREAM=" + stream.encode() + b"\n")
        try:
            self.sock.send(fields)
        except OSError:
            pass

    def flush(self) -> None:
        for (app, stream) in list(self.pending):
            self.send(app, stream, b"", True)


class Output:
    """Where an app's output goes: console, log file, journal."""

    def __init__(self, uuid: str, app_names: list[str], limit: int, journal: Journal | None,
                 pids_dir: str | None = None):
        if app_names:  # an interactive pod keeps its terminal: no logs dir, rkt logs says so
            os.makedirs(LOG_DIR, mode=0o750, exist_ok=True)
        self.files = {name: LogFile(f"{LOG_DIR}/{name}.log", limit) for name in app_names}
        self.journal = journal
        self.consoles = {1: Console(1), 2: Console(2)}
        self.lines = {fd: ConsoleLines(pids_dir) if pids_dir and not os.isatty(fd) else None
                      for fd in (1, 2)}

    def emit(self, app: str, stream: str, records: list[tuple[bytes, bool]]) -> None:
        """What one read of the app's pipe gave, as records: a whole line (complete) or the
        piece read so far of a longer one."""
        fd = 1 if stream == "stdout" else 2
        lines = self.lines[fd]
        self.consoles[fd].write(
            lines.render(app, records) if lines is not None
            else b"".join(text + b"\n" if complete else text for text, complete in records))
        self.files[app].append(stream, records)
        if self.journal is not None:
            for text, complete in records:
                self.journal.send(app, stream, text, complete)

    def close(self) -> None:
        if self.journal is not None:
            self.journal.flush()


class LineReader:
    """Splits one pipe's bytes into lines; what is left without a newline goes out as a piece
    at once (an app's prompt shows before its newline, as it did on a terminal)."""

    def __init__(self, app: str, stream: str, fd: int):
        self.app, self.stream, self.fd = app, stream, fd

    def feed(self, data: bytes, output: Output) -> None:
        lines = data.split(b"\n")
        last = lines.pop()
        records = []
        for line in lines:
            records += _pieces(line, True)
        if last:
            records += _pieces(last, False)
        output.emit(self.app, self.stream, records)


def _pieces(line: bytes, complete: bool) -> list[tuple[bytes, bool]]:
    out = []
    while len(line) > MAX_RECORD:
        out.append((line[:MAX_RECORD], False))
        line = line[MAX_RECORD:]
    out.append((line, complete))
    return out


class ConsoleLines:
    """`app[pid]: ` at the start of every console line of one fd. A line another app left
    unfinished is ended first, so each console line has one owner; the pid is read once from
    `pids_dir/<app>`, which the supervisor writes before it lets the apps go."""

    def __init__(self, pids_dir: str):
        self.pids_dir = pids_dir
        self.prefixes: dict[str, bytes] = {}
        self.open: str | None = None  # the app whose line is unfinished

    def _prefix(self, app: str) -> bytes:
        if app not in self.prefixes:
            try:
                with open(f"{self.pids_dir}/{app}", "rb") as f:
                    pid = f.read(32).strip().decode()
            except (OSError, UnicodeDecodeError):
                return f"{app}: ".encode()
            self.prefixes[app] = f"{app}[{pid}]: ".encode()
        return self.prefixes[app]

    def render(self, app: str, records: list[tuple[bytes, bool]]) -> bytes:
        out = []
        for text, complete in records:
            if self.open is not None and self.open != app:
                out.append(b"\n")
                self.open = None
            if self.open is None:
                out.append(self._prefix(app))
            out.append(text + b"\n" if complete else text)
            self.open = None if complete else app
        return b"".join(out)


class Console:
    """fd 1 or 2 of `rkt run`. It may be gone (a closed pipe: EPIPE, SIGPIPE is ignored) or
    stalled (its reader stopped reading, e.g. after `kill -9` of `rkt run`): then lines skip it
    instead of blocking the relay and, through their full pipes, the apps; the log file keeps
    everything. A stalled console is tried again without waiting at every line."""

    def __init__(self, fd: int):
        self.fd, self.stalled = fd, False
        self.poller = select.poll()
        self.poller.register(fd, select.POLLOUT)

    def write(self, data: bytes) -> None:
        while data:
            try:
                events = self.poller.poll(0 if self.stalled else CONSOLE_WAIT_MS)
            except InterruptedError:
                continue
            if not events or events[0][1] & (select.POLLERR | select.POLLHUP | select.POLLNVAL):
                self.stalled = True
                return
            try:
                data = data[os.write(self.fd, data[:_PIPE_BUF]):]
            except InterruptedError:
                continue
            except OSError:
                self.stalled = True
                return
        self.stalled = False
