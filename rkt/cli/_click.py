"""Running a click command under rkt's error contract (one line, exit 254; usage errors exit 2)."""

from __future__ import annotations

import click

from rkt.errors import EXIT_USAGE, RktError
from rkt.options import GlobalOptions

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"]}


def options() -> GlobalOptions:
    """The global options of the running command."""
    return click.get_current_context().find_root().obj


def invoke(command: click.Command, name: str, opts: GlobalOptions, args: list[str]) -> int:
    try:
        result = command.main(args=args, prog_name=f"rkt {name}", standalone_mode=False, obj=opts)
    except click.exceptions.Exit as done:
        return done.exit_code
    except click.UsageError as err:
        raise _Usage(err.format_message()) from None
    except click.Abort:
        return 130
    except click.ClickException as err:
        raise RktError(err.format_message()) from None
    return result if isinstance(result, int) else 0


class _Usage(RktError):
    exit_code = EXIT_USAGE
