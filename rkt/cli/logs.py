"""`rkt logs`: the stdout and stderr of a pod's apps, kept by stage1 (not in rkt 1.30: rkt #3082)."""

from __future__ import annotations

import sys

import click

from rkt.cli._click import CONTEXT_SETTINGS, options
from rkt.errors import UsageError

HELP = """Print the logs of a pod's apps.

Shows what the apps wrote to stdout (on stdout) and stderr (on stderr), from a running pod or
one that exited and is not yet collected. With several apps, each line starts with `APP: `."""


@click.command(context_settings=CONTEXT_SETTINGS, help=HELP)
@click.option("--app", "app", metavar="NAME", help="only this app's logs")
@click.option("--follow", "-f", is_flag=True, help="keep printing new lines until the pod exits")
@click.option("--tail", metavar="N", default="-1", help="only the last N lines (-1: all)")
@click.option("--since", metavar="TIME|DURATION",
              help="only lines since an RFC 3339 time or a duration ago (e.g. 10m)")
@click.option("--uuid-file", metavar="FILE", help="read pod UUID from file instead of argument")
@click.argument("uuid", required=False)
def command(app: str | None, follow: bool, tail: str, since: str | None, uuid_file: str | None,
            uuid: str | None) -> int:
    from rkt.pod import logs, pods

    opts = options()
    if (uuid is None) == (uuid_file is None):
        raise UsageError("logs: give either --uuid-file=FILE or a UUID")
    try:
        lines = int(tail)
    except ValueError:
        raise UsageError(f'--tail: "{tail}" is not a number of lines') from None
    cutoff = logs.parse_since(since) if since else None
    pod = pods.resolve(opts, uuid if uuid is not None else pods.read_uuid_file(uuid_file))
    apps = logs.app_names(pod, app)
    prefix = len(apps) > 1

    def emit(line: logs.Line) -> None:
        out = sys.stdout.buffer if line.stream == "stdout" else sys.stderr.buffer
        out.write((line.app.encode() + b": " if prefix else b"") + line.text + b"\n")
        if follow:
            out.flush()

    logs.read(pod, apps, since=cutoff, tail=None if lines < 0 else lines, emit=emit,
              follow=follow)
    return 0
