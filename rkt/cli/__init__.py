"""The `rkt` command line: global flags, command dispatch, and the one-line error contract.

Commands load lazily, one module per command. Most are click commands; the run family
(`run`, `prepare`, `run-prepared`) parses rkt's per-image app flags by hand in
`rkt.cli.runflags`, which click cannot express, and so the `rkt run` path never imports click.
"""

from __future__ import annotations

import importlib
import sys

from rkt import report
from rkt.errors import EXIT_FAILURE, FlagError, RktError
from rkt.options import GlobalOptions, split_global_options

# name -> module with `main(opts: GlobalOptions, args: list[str]) -> int`
FAST_COMMANDS = {
    "run": "rkt.cli.run",
    "prepare": "rkt.cli.prepare",
    "run-prepared": "rkt.cli.run_prepared",
}

# name -> (module with a click command named `command`, one-line help)
CLICK_COMMANDS = {
    "cat-manifest": ("rkt.cli.cat_manifest", "Inspect and print the pod manifest"),
    "config": ("rkt.cli.config", "Print configuration for each stage in JSON format"),
    "enter": ("rkt.cli.enter", "Enter the namespaces of an app within a rkt pod"),
    "export": ("rkt.cli.export", "Export an app from an exited pod to an ACI file"),
    "fetch": ("rkt.cli.fetch", "Fetch image(s) and store them in the local store"),
    "gc": ("rkt.cli.gc", "Garbage collect rkt pods no longer in use"),
    "image": ("rkt.cli.image", "Operate on image(s) in the local store"),
    "list": ("rkt.cli.list", "List pods"),
    "logs": ("rkt.cli.logs", "Print the logs of a pod's apps"),
    "metadata-service": ("rkt.cli.metadata_service", "Run metadata service"),
    "rm": ("rkt.cli.rm", "Remove all files and resources associated with an exited pod"),
    "status": ("rkt.cli.status", "Check the status of a rkt pod"),
    "stop": ("rkt.cli.stop", "Stop a pod"),
    "trust": ("rkt.cli.trust", "Trust a key for image verification"),
    "version": ("rkt.cli.version", "Print the version and exit"),
}

FAST_HELP = {
    "prepare": "Prepare to run image(s) in a pod in rkt",
    "run": "Run image(s) in a pod in rkt",
    "run-prepared": "Run a prepared application pod in rkt",
}


def _all_summaries() -> dict[str, str]:
    return {**{n: h for n, (_, h) in CLICK_COMMANDS.items()}, **FAST_HELP}


def usage() -> str:
    """`rkt help`: the root page, listing `image` subcommands one by one as rkt does."""
    from rkt.cli import helptext
    from rkt.cli.image import SUBCOMMANDS

    commands = []
    for name, summary in sorted(_all_summaries().items()):
        if name == "image":
            commands += [(f"image {n}", h) for n, h in sorted(SUBCOMMANDS.items()) if n != "fetch"]
        else:
            commands.append((name, summary))
    commands.append(("help", "Help about any command"))
    return helptext.page("rkt", "rkt, the application container runner", "rkt [command]",
                         helptext.ROOT_DESCRIPTION, commands=commands, root=True)


def resolve_command(word: str) -> str | None:
    """Full command name for `word`, accepting unique prefixes as rkt (cobra) did."""
    names = [*FAST_COMMANDS, *CLICK_COMMANDS]
    if word in names:
        return word
    matches = [n for n in names if n.startswith(word)]
    return matches[0] if len(matches) == 1 else None


def _command_first(args: list[str]) -> tuple[str | None, list[str]]:
    """The command word and its arguments, with flags written before the command name moved
    after it: cobra finds the command past leading flags (a `--flag value` without `=` takes
    the next word), so `rkt --set-env=A=b run img` is `rkt run --set-env=A=b img`."""
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--" or not arg.startswith("-") or arg == "-":
            break
        if "=" not in arg and arg not in ("-h", "--help", "-v", "--version") and (
                arg.startswith("--") or len(arg) == 2):
            i += 1
        i += 1
    if i >= len(args) or args[i] == "--":
        return None, args
    return args[i], args[:i] + args[i + 1:]


def dispatch(opts: GlobalOptions, args: list[str]) -> int:
    if args and args[0] == "help":
        if len(args) > 1 and resolve_command(args[1]) is not None:
            return dispatch(opts, [*args[1:], "--help"])
        if len(args) > 1:  # cobra's words, and exit 0, as rkt
            sys.stdout.write(usage())
            sys.stdout.flush()
            sys.stderr.write(f"Unknown help topic [`{args[1]}`].")
            return 0
        print(usage(), end="")
        return 0
    if args and args[0] in ("-v", "--version"):
        args = ["version"]
    word, rest = _command_first(args)
    if word is None:
        if not rest or any(a in ("-h", "--help") for a in rest):
            print(usage(), end="")
            return 0
        raise FlagError.unknown(rest[0], usage())
    name = resolve_command(word)
    if name is None:
        from rkt.cli import helptext

        helptext.unknown_command(word)
        return EXIT_FAILURE
    if name in FAST_COMMANDS:
        return importlib.import_module(FAST_COMMANDS[name]).main(opts, rest)
    from rkt.cli._click import invoke

    module, _ = CLICK_COMMANDS[name]
    return invoke(importlib.import_module(module).command, name, opts, rest)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv
    try:
        opts, rest = split_global_options(argv)
        report.install(report.Console(debug=opts.debug))
        code = dispatch(opts, rest)
    except FlagError as err:
        from rkt.cli.helptext import print_usage_error

        print_usage_error(err.message, err.help_page)
        code = err.exit_code
    except RktError as err:
        print(f"rkt: {err}", file=sys.stderr)
        code = err.exit_code
    except KeyboardInterrupt:
        code = 130
    except BrokenPipeError:
        code = 0
    except Exception as err:  # a bug: still one line, the detail with --debug
        if debug:
            import traceback

            traceback.print_exc()
        print(f"rkt: internal error: {type(err).__name__}: {err}", file=sys.stderr)
        code = EXIT_FAILURE
    sys.stdout.flush()
    sys.exit(code)
