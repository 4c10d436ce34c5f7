"""Apps' console output as tests read it: stage1 starts each line an app prints with
`app[pid]: ` on a console that is not a terminal (as rkt's nspawn stage1); most tests compare
what the app wrote, so they read it without that prefix (tests/cli/test_app_output.py checks it)."""

from __future__ import annotations

import re
import subprocess

_PREFIX = re.compile(r"^[a-z0-9][a-z0-9-]*\[\d+\]: ", re.M)


def without_app_prefixes(text):
    return _PREFIX.sub("", text) if isinstance(text, str) else text


def app_output(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    """The same result with apps' prefixes removed; the console as printed stays in
    `raw_stdout` / `raw_stderr`."""
    stripped = subprocess.CompletedProcess(proc.args, proc.returncode,
                                           without_app_prefixes(proc.stdout),
                                           without_app_prefixes(proc.stderr))
    stripped.raw_stdout, stripped.raw_stderr = proc.stdout, proc.stderr
    return stripped
