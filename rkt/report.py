"""How library code tells the user something: a small reporter interface the CLI owns.

Library packages (`rkt.pod`, `rkt.store`, `rkt.aci`, `rkt.appc`, `rkt.trust`, `rkt.fetch`,
`rkt.mds`) never print; they call `rkt.report.info/warn/debug/out/progress`, which go to the
reporter installed last.
The CLI installs a `Console` (stdout/stderr, `--debug` deciding whether debug lines show);
tests and other front ends may install their own, e.g. a `Recorder`.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing on `rkt run`
if TYPE_CHECKING:
    from typing import Protocol
else:
    Protocol = object  # the interface is for readers and type checkers


class Reporter(Protocol):
    def out(self, message: str) -> None:
        """A line of the command's output proper (stdout), e.g. `Garbage collecting pod "U"`."""

    def info(self, message: str) -> None:
        """A progress or status line for the person at the terminal (stderr), verbatim."""

    def warn(self, message: str) -> None:
        """Something went wrong but the command goes on (stderr, `rkt: warning: ...`)."""

    def debug(self, message: str) -> None:
        """Detail for `--debug` (stderr, `rkt: ...`); dropped otherwise."""

    def interactive(self) -> bool:
        """Whether a person watches (stderr is a terminal): only then are progress lines shown."""

    def progress(self, line: str | None, *, done: bool = False) -> None:
        """A self-rewriting status line (a download's bar): `line` replaces the one shown,
        `done` keeps it and moves to the next line, None erases it."""


class Console:
    """rkt's own output: stdout for results, stderr for the rest, each line flushed at once
    so that it lands in order with the output of the processes rkt runs."""

    def __init__(self, debug: bool = False):
        self.debug_enabled = debug

    @staticmethod
    def _line(stream, text: str) -> None:
        stream.write(text + "\n")
        stream.flush()

    def out(self, message: str) -> None:
        self._line(sys.stdout, message)

    def info(self, message: str) -> None:
        self._line(sys.stderr, message)

    def warn(self, message: str) -> None:
        self._line(sys.stderr, f"rkt: warning: {message}")

    def debug(self, message: str) -> None:
        if self.debug_enabled:
            self._line(sys.stderr, f"rkt: {message}")

    def interactive(self) -> bool:
        return sys.stderr.isatty()

    def progress(self, line: str | None, *, done: bool = False) -> None:
        # \r back to the line's start, \033[K erases what a longer previous line left
        text = "\r\033[K" if line is None else "\r" + line + "\033[K" + ("\n" if done else "")
        sys.stderr.write(text)
        sys.stderr.flush()


class Recorder:
    """Keeps (kind, message) pairs instead of writing them: for tests and embedding."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, str]] = []

    def out(self, message: str) -> None:
        self.messages.append(("out", message))

    def info(self, message: str) -> None:
        self.messages.append(("info", message))

    def warn(self, message: str) -> None:
        self.messages.append(("warn", message))

    def debug(self, message: str) -> None:
        self.messages.append(("debug", message))

    def interactive(self) -> bool:
        return False

    def progress(self, line: str | None, *, done: bool = False) -> None:
        self.messages.append(("progress", "" if line is None else line))


_current: Reporter = Console()


def install(reporter: Reporter) -> Reporter:
    """Make `reporter` receive every message from now on; the one it replaces."""
    global _current
    previous, _current = _current, reporter
    return previous


def current() -> Reporter:
    return _current


def out(message: str) -> None:
    _current.out(message)


def info(message: str) -> None:
    _current.info(message)


def warn(message: str) -> None:
    _current.warn(message)


def debug(message: str) -> None:
    _current.debug(message)


def interactive() -> bool:
    return _current.interactive()


def progress(line: str | None, *, done: bool = False) -> None:
    _current.progress(line, done=done)


def phase(name: str) -> None:
    """A benchmark's phase mark: with RKT_BENCH_PHASES=FILE set, append `name CLOCK_MONOTONIC-ns`
    to FILE (bench/pod_bench.py splits a run's time by these); nothing otherwise."""
    import os

    path = os.environ.get("RKT_BENCH_PHASES")
    if path:
        with open(path, "a") as f:
            f.write(f"{name} {time_ns()}\n")


def time_ns() -> int:
    import time

    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)
