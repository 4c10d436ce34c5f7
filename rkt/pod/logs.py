"""Reading the app logs stage1 keeps in a pod dir, for `rkt logs`.

stage1 writes each app's stdout and stderr to `logs/<app>.log` (rotated once to `.log.1`) in
the CRI logging format: `<RFC3339Nano UTC> <stdout|stderr> <F|P> <text>` per record, P records
being pieces of a line the next F record ends. Here the records become whole `Line`s again,
merged across apps by time; `follow` keeps reading while the pod runs, across rotations.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

from rkt.errors import RktError

if TYPE_CHECKING:
    from rkt.pod.pods import Pod

LOG_DIR = "logs"
POLL = 0.1


@dataclasses.dataclass(frozen=True)
class Line:
    time: str  # RFC3339Nano UTC with 9 fraction digits: sorts as text
    app: str
    stream: str  # stdout | stderr
    text: bytes


def parse_since(value: str, now: datetime.datetime | None = None) -> str:
    """`--since`: an RFC 3339 time (`2024-05-01T10:00:00Z`, any offset) or a Go duration back
    from now (`10m`); the comparable UTC timestamp."""
    from rkt.duration import parse_duration
    from rkt.errors import UsageError

    text = value.strip()
    when = None
    try:
        when = datetime.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        pass
    if when is None:
        try:
            seconds = parse_duration(text, "--since")
        except UsageError:
            raise UsageError(f'--since: "{value}" is neither an RFC 3339 time nor a duration '
                             "(e.g. 2024-05-01T10:00:00Z or 10m)") from None
        when = (now or datetime.datetime.now(datetime.timezone.utc)) - \
            datetime.timedelta(seconds=abs(seconds))
    if when.tzinfo is None:
        when = when.astimezone()  # a time without offset is local, as date(1) prints it
    when = when.astimezone(datetime.timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%S") + f".{when.microsecond:06d}000Z"


class AppReader:
    """One app's log files, read incrementally: first the rotated file, then the current one;
    a rotation while we read (the current file renamed away) finishes the old file first."""

    def __init__(self, log_dir: Path, app: str):
        self.app = app
        self.path = log_dir / f"{app}.log"
        self.file = None
        self.buffer = b""
        self.pieces: dict[str, tuple[str, bytes]] = {}
        self.done = False

    def start(self) -> Iterator[Line]:
        try:
            with open(f"{self.path}.1", "rb") as old:
                yield from self._parse(old.read(), final=True)
        except FileNotFoundError:
            pass
        self.file = self._open()
        yield from self.poll()

    def _open(self):
        try:
            return open(self.path, "rb")
        except FileNotFoundError:
            return None

    def poll(self) -> Iterator[Line]:
        if self.done:
            return
        if self.file is None:
            self.file = self._open()
            if self.file is None:
                return
        yield from self._parse(self.file.read())
        try:
            rotated = os.stat(self.path).st_ino != os.fstat(self.file.fileno()).st_ino
        except FileNotFoundError:
            rotated = True
        if rotated:
            yield from self._parse(self.file.read())
            self.file.close()
            self.file = self._open()
            if self.file is not None:
                yield from self._parse(self.file.read())

    def close(self) -> Iterator[Line]:
        """What is left: a last line without its end (the pod is gone, it will not come)."""
        if self.done:
            return
        self.done = True
        if self.file is not None:
            yield from self._parse(self.file.read(), final=True)
            self.file.close()
            self.file = None
        for stream, (stamp, text) in sorted(self.pieces.items()):
            yield Line(stamp, self.app, stream, text)
        self.pieces.clear()

    def _parse(self, data: bytes, final: bool = False) -> Iterator[Line]:
        data = self.buffer + data
        records = data.split(b"\n")
        self.buffer = b"" if final else records.pop()
        for record in records:
            parts = record.split(b" ", 3)
            if len(parts) < 3 or parts[1] not in (b"stdout", b"stderr") or parts[2] not in (b"F", b"P"):
                continue  # not a record (a torn write at a crash): skip it
            stamp, stream = parts[0].decode(errors="replace"), parts[1].decode()
            text = parts[3] if len(parts) == 4 else b""
            first, before = self.pieces.pop(stream, (stamp, b""))
            if parts[2] == b"P":
                self.pieces[stream] = (first, before + text)
            else:
                yield Line(first, self.app, stream, before + text)


def app_names(pod: "Pod", wanted: str | None) -> list[str]:
    """The apps whose logs to show (all, in pod manifest order, or `wanted`)."""
    from rkt.pod.status import app_entries, manifest_json

    names = [a["name"] for a in app_entries(manifest_json(pod))]
    if wanted is not None:
        if wanted not in names:
            raise RktError(f'pod {pod.uuid} has no app "{wanted}"')
        names = [wanted]
    if not (pod.path / LOG_DIR).is_dir():
        if pod.is_running:
            return names  # the stage1 has not made it yet
        raise RktError(f"pod {pod.uuid} has no logs (it never ran, ran interactively, or its "
                       "stage1 keeps none)")
    return names


def read(pod: "Pod", apps: list[str], *, since: str | None = None, tail: int | None = None,
         emit: Callable[[Line], None], follow: bool = False) -> None:
    """Hand the apps' lines to `emit`, oldest first; `follow`: then the new ones until the pod
    is no longer running."""
    from rkt.pod.status import FINISHED_STATES

    readers = [AppReader(pod.path / LOG_DIR, app) for app in apps]
    lines = [line for r in readers for line in r.start()]
    if not follow or pod.refresh().state in FINISHED_STATES:
        lines += [line for r in readers for line in r.close()]
    lines.sort(key=lambda line: line.time)  # stable: a line's own order stays
    if since is not None:
        lines = [line for line in lines if line.time >= since]
    if tail is not None:
        lines = lines[-tail:] if tail > 0 else []
    for line in lines:
        emit(line)
    if not follow:
        return
    while True:
        running = pod.refresh().state not in FINISHED_STATES
        fresh = [line for r in readers for line in r.poll()]
        if not running:
            fresh += [line for r in readers for line in r.close()]
        fresh.sort(key=lambda line: line.time)
        for line in fresh:
            if since is None or line.time >= since:
                emit(line)
        if not running:
            return
        time.sleep(POLL)
