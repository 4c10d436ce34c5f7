"""The `rkt` command line: global flags, command dispatch, and the one-line error contract.

Commands load lazily, one module per command. Most are click commands; the run family
(`run`, `prepare`, `run-prepared`) parses rkt's per-image app flags by hand in
`rkt.cli.runflags`, which click cannot express, and so the `rkt run` path never imports click.
"""

from __future__ import annotations

import importlib
import sys

from rkt import report
from rkt.errors import EXIT_FAILURE, RktError, UsageError
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

GLOBAL_HELP = """\
Global Flags:
      --debug                     print out more debug information to stderr
      --dir string                rkt data directory (default "/var/lib/rkt")
      --insecure-options string   comma-separated list of security features to disable.
                                  Allowed values: "none", "image", "tls", "ondisk", "http",
                                  "pubkey", "capabilities", "paths", "seccomp",
                                  "all-fetch", "all-run", "all" (default "none")
      --local-config string       local configuration directory (default "/etc/rkt")
      --system-config string      system configuration directory (default "/usr/lib/rkt")
      --trust-keys-from-https     automatically trust gpg keys fetched from https
      --user-config string        user configuration directory
"""


def usage() -> str:
    lines = ["Usage:", "  rkt [command]", "", "Available Commands:"]
    names = {**{n: h for n, (_, h) in CLICK_COMMANDS.items()}, **FAST_HELP}
    lines += [f"  {name:<17}{names[name]}" for name in sorted(names)]
    lines += ["", GLOBAL_HELP, 'Use "rkt [command] --help" for more information about a command.']
    return "\n".join(lines)


def resolve_command(word: str) -> str:
    """Full command name for `word`, accepting unique prefixes as rkt (cobra) did."""
    names = [*FAST_COMMANDS, *CLICK_COMMANDS]
    if word in names:
        return word
    matches = [n for n in names if n.startswith(word)]
    if len(matches) == 1:
        return matches[0]
    raise UsageError(f'unknown command "{word}" for "rkt"' + (
        f" (ambiguous: {', '.join(sorted(matches))})" if matches else ""))


def dispatch(opts: GlobalOptions, args: list[str]) -> int:
    if not args or args[0] in ("-h", "--help", "help"):
        if len(args) > 1 and args[0] == "help":
            return dispatch(opts, [args[1], "--help", *args[2:]])
        print(usage())
        return 0
    if args[0] in ("-v", "--version"):
        args = ["version"]
    if args[0].startswith("-"):
        raise UsageError(f"unknown flag: {args[0]}")
    name = resolve_command(args[0])
    if name in FAST_COMMANDS:
        return importlib.import_module(FAST_COMMANDS[name]).main(opts, args[1:])
    from rkt.cli._click import invoke

    module, _ = CLICK_COMMANDS[name]
    return invoke(importlib.import_module(module).command, name, opts, args[1:])


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv
    try:
        opts, rest = split_global_options(argv)
        report.install(report.Console(debug=opts.debug))
        code = dispatch(opts, rest)
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
