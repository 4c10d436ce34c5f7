"""`rkt status`: state, times, pid and per-app exit codes of a pod."""

from __future__ import annotations

import click

from rkt.cli._click import CONTEXT_SETTINGS, options
from rkt.cli._optional import optional_value_command
from rkt.errors import UsageError

HELP = """Check the status of a rkt pod.

Prints assorted information about the pod such as its state, pid and exit status.

The --wait and --wait-ready flags accept boolean or timeout values. If set to true, wait
indefinitely. If set to false, don't wait at all. They can also be set to a duration. If the
duration is less than zero, wait indefinitely. If the duration is zero, don't wait at all."""

FORMATS = ("json", "json-pretty")


def wait_seconds(value: str, flag: str) -> float | None:
    """rkt's parseDuration: true/"" -> forever (None), false -> 0, else a Go duration."""
    from rkt.duration import parse_duration

    lowered = value.strip().lower()
    if lowered in ("", "true", "t", "1"):
        return None
    if lowered in ("false", "f", "0"):
        return 0.0
    seconds = parse_duration(value, flag)
    return None if seconds < 0 else seconds


@click.command(cls=optional_value_command({"--wait": "true", "--wait-ready": "true"}),
               context_settings=CONTEXT_SETTINGS, help=HELP)
@click.option("--wait", default="false", metavar="BOOL|DURATION",
              help="wait for the pod to finish; use the output to see its terminal state")
@click.option("--wait-ready", default="false", metavar="BOOL|DURATION",
              help="wait until the pod is ready")
@click.option("--format", "fmt", default="", metavar="json|json-pretty",
              help="output format: 'json', 'json-pretty'; key=value lines if empty")
@click.option("--uuid-file", metavar="FILE", help="read pod UUID from file instead of argument")
@click.argument("uuid", required=False)
def command(wait: str, wait_ready: str, fmt: str, uuid_file: str | None, uuid: str | None) -> int:
    from rkt.pod import pods, status

    opts = options()
    if fmt not in ("",) + FORMATS:
        raise UsageError(f"--format: unknown format {fmt!r} (use json or json-pretty)")
    if (uuid is None) == (uuid_file is None):
        raise UsageError("status: give either --uuid-file=FILE or a UUID")
    until_finished = wait_seconds(wait, "--wait")
    until_ready = wait_seconds(wait_ready, "--wait-ready")
    pod = pods.resolve(opts, uuid if uuid is not None else pods.read_uuid_file(uuid_file))
    if until_ready != 0:
        status.wait_ready(pod, until_ready)
    if until_finished != 0:
        status.wait_finished(pod, until_finished)
    pod.refresh()
    if fmt:
        print(status.dump_json(status.pod_info(pod), fmt == "json-pretty"))
    else:
        print("\n".join(status.status_lines(pod)))
    return 0
