"""Reading an HTTP response body under rkt.fetch.http's rules: a byte cap, a low-speed limit
enforced by a watchdog on each read, a partial file kept for resuming, and a progress bar.

`Body` is what `Response.body()` and `Client.open_resumable()` return; `PartialMeta` records
what an interrupted download was of (URL, ETag/Last-Modified) next to its partial file.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

from rkt.closing import Closing
from rkt import report
from rkt.fsutil import atomic_write
from rkt.fetch.http import CHUNK, READ_MIN, HttpError, _reason


class Body(Closing):
    """The response body as a file object: `read(n)` returns n bytes (fewer only at the end,
    b"" after it); over `max_bytes`, slower than the low-speed limit or cut short it raises."""

    def __init__(self, response: Response, *, max_bytes: int | None, what: str,
                 progress: bool | None, replay: Path | None = None, replay_bytes: int = 0,
                 sink=None, partial: Path | None = None):
        self.response, self.what, self.url = response, what, response.url
        self.config = response.client.config
        self.max_bytes = max_bytes
        self.sink, self.partial = sink, partial
        self.progress = None
        self._replay = open(replay, "rb") if replay is not None else None
        self.offset = replay_bytes  # bytes before this response's first byte
        declared = response.content_length
        self.size = declared + replay_bytes if declared is not None else None
        self.received = 0  # from the network
        self._window_start, self._window_bytes = time.monotonic(), 0
        self._watchdog: Watchdog | None = None
        self._chunk = int(min(CHUNK, max(READ_MIN, self.config.low_speed_limit *
                                         self.config.low_speed_time)))
        if max_bytes is not None and self.size is not None and self.size > max_bytes:
            self.close()
            raise HttpError.of(what, self.url, f"declared size {self.size} bytes is over the "
                               f"limit of {max_bytes} bytes")
        show = progress if progress is not None else self.config.progress
        if show is None:
            show = report.interactive()
        self.progress = Progress(what or "body", self.size, replay_bytes) if show else None

    @property
    def position(self) -> int:
        return self.offset + self.received

    def read(self, n: int = CHUNK) -> bytes:
        if n is None or n < 0:
            n = CHUNK
        if self._replay is not None:
            data = self._replay.read(n)
            if data:
                return data
            self._replay.close()
            self._replay = None
        # Like a buffered file: n bytes, fewer only at the end (callers read small bodies
        # with one read).
        parts, got = [], 0
        while got < n:
            data = self._read_network(n - got)
            if not data:
                break
            if self.sink is not None:
                self.sink.write(data)
            parts.append(data)
            got += len(data)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    readinto = None  # file-object users must go through read()

    def _read_network(self, n: int) -> bytes:
        import urllib3

        want = min(n, self._chunk)
        watchdog = self._watchdog
        if watchdog is None and self.config.low_speed_time > 0:
            watchdog = self._watchdog = Watchdog(self.response.raw.raw)
        if watchdog is not None:
            # At the lowest acceptable speed this read completes within the deadline.
            watchdog.arm(max(self.config.low_speed_time, want / max(self.config.low_speed_limit, 1)))
        try:
            # read(n) fills whole chunks in few Python calls (one call per TLS record would
            # double the CPU of a download); the watchdog bounds how long one may take.
            data = self.response.raw.raw.read(want, decode_content=False)
        except (urllib3.exceptions.ReadTimeoutError, TimeoutError):
            raise self._cut(self._slow_reason() or f"no data for {self.config.timeout:g}s") from None
        except (urllib3.exceptions.HTTPError, OSError, ValueError) as err:
            raise self._cut(self._slow_reason() or _reason(err)) from None
        finally:
            if watchdog is not None:
                watchdog.disarm()
        if self._slow_reason():
            raise self._cut(self._slow_reason())
        now = time.monotonic()
        self.received += len(data)
        self._window_bytes += len(data)
        if not data:
            if self.size is not None and self.position < self.size:
                raise self._cut("connection closed early")
            if self.progress:
                self.progress.done(self.position)
                self.progress = None
            return b""
        if self.max_bytes is not None and self.position > self.max_bytes:
            raise self._fail(f"larger than the limit of {self.max_bytes} bytes")
        elapsed = now - self._window_start
        if elapsed >= self.config.low_speed_time:
            if self._window_bytes < self.config.low_speed_limit * elapsed:
                raise self._cut(self._slow_message())
            self._window_start, self._window_bytes = now, 0
        if self.progress:
            self.progress.update(self.position)
        return data

    def _slow_message(self) -> str:
        return (f"slower than {self.config.low_speed_limit:g} bytes/s for "
                f"{self.config.low_speed_time:g}s")

    def _slow_reason(self) -> str | None:
        return self._slow_message() if self._watchdog is not None and self._watchdog.fired else None

    def _fail(self, why: str) -> HttpError:
        self.close(keep_partial=False)
        return HttpError.of(self.what, self.url, why)

    def _cut(self, why: str) -> HttpError:
        """A transfer interrupted: the partial file (if any) is kept for a resumed retry."""
        got = f" after {self.position} of {self.size} bytes" if self.size else \
            f" after {self.position} bytes"
        self.close()
        return HttpError.of(self.what, self.url, f"download interrupted{got}: {why}")

    def finish(self) -> None:
        """The body was used successfully: close it and drop the partial file."""
        self.close(keep_partial=False)

    def close(self, keep_partial: bool = True) -> None:
        if self._watchdog is not None:
            self._watchdog.stop()
        if self.progress:
            self.progress.clear()
            self.progress = None
        if self._replay is not None:
            self._replay.close()
            self._replay = None
        if self.sink is not None:
            try:
                self.sink.close()
            finally:
                self.sink = None
        if self.partial is not None and (not keep_partial or PartialMeta.load(self.partial) is None):
            # Without an ETag or Last-Modified to resume against, a partial file is useless.
            self.partial.unlink(missing_ok=True)
            PartialMeta.remove(self.partial)
        self.response.close()


class Watchdog:
    """Cuts the connection under a read that outlives its deadline (a slow drip keeps each
    socket read under the timeout, so only a clock on the whole read catches it)."""

    def __init__(self, urllib3_response):
        import threading

        self.response = urllib3_response
        self.deadline: float | None = None
        self.fired = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def arm(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds

    def disarm(self) -> None:
        self.deadline = None

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        import socket

        while not self._stop.wait(0.25):
            deadline = self.deadline
            if deadline is None or time.monotonic() < deadline:
                continue
            self.fired = True
            sock = getattr(getattr(self.response, "connection", None), "sock", None)
            try:
                if sock is not None:
                    sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return


@dataclasses.dataclass(frozen=True)
class PartialMeta:
    """What a partial download was of: its URL and the ETag/Last-Modified to resume against."""

    url: str
    validator: str

    @staticmethod
    def _path(partial: Path) -> Path:
        return partial.with_name(partial.name + ".json")

    @classmethod
    def load(cls, partial: Path) -> "PartialMeta | None":
        try:
            doc = json.loads(cls._path(partial).read_text())
            return cls(str(doc["url"]), str(doc["validator"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def save(self, partial: Path) -> None:
        # Not durable: after a crash a missing record only costs a restart from byte 0.
        atomic_write(self._path(partial), json.dumps({"url": self.url, "validator": self.validator}),
                     durable=False)

    @classmethod
    def remove(cls, partial: Path) -> None:
        cls._path(partial).unlink(missing_ok=True)


def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} GiB"


class Progress:
    """One self-rewriting status line through rkt.report: label, bar, bytes, rate and ETA."""

    WIDTH = 30

    def __init__(self, label: str, total: int | None, start: int):
        self.label, self.total, self.start = label, total, start
        self.t0 = time.monotonic()
        self.last = 0.0

    def update(self, done: int, force: bool = False, final: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last < 0.2:
            return
        self.last = now
        rate = (done - self.start) / max(now - self.t0, 1e-6)
        if self.total:
            filled = min(self.WIDTH, int(self.WIDTH * done / self.total))
            bar = "=" * filled + (">" if filled < self.WIDTH else "") + " " * (self.WIDTH - filled - 1)
            eta = (self.total - done) / rate if rate > 0 else 0
            line = (f"Downloading {self.label}: [{bar}] {_human(done)}/{_human(self.total)} "
                    f"{_human(rate)}/s ETA {int(eta)}s")
        else:
            line = f"Downloading {self.label}: {_human(done)} {_human(rate)}/s"
        report.progress(line[:200], done=final)

    def done(self, total: int) -> None:
        self.update(total, force=True, final=True)

    def clear(self) -> None:
        report.progress(None)
