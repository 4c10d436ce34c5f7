"""Help pages and usage errors in the layout rkt prints (cobra with rkt's template).

Scripts and people read `rkt help CMD`, `rkt CMD --help` and "Error: unknown flag: --x" as rkt
prints them, so both parsers (click for most commands, the hand parser of the run family) render
through this one module. It imports nothing heavy: the `rkt run --help` path stays click-free.
"""

from __future__ import annotations

import dataclasses
import sys


@dataclasses.dataclass(frozen=True)
class Option:
    """One flag line of a help page: `--name=DEFAULT`, `--name[=false]` or `--name[=VALUE]`."""

    name: str
    help: str
    default: str = ""
    boolean: bool = False
    optional: str | None = None  # the value a bare `--name` means (pflag's NoOptDefVal)

    def spec(self) -> str:
        if self.boolean:
            return f"      {self.name}[={self.default or 'false'}]"
        if self.optional is not None:
            return f'      {self.name}[="{self.default}"]'
        return f"      {self.name}={self.default}"


GLOBAL_OPTIONS = (
    Option("--debug", "print out more debug information to stderr", boolean=True),
    Option("--dir", "rkt data directory", "/var/lib/rkt"),
    Option("--insecure-options", 'comma-separated list of security features to disable. Allowed values: '
           '"none", "image", "tls", "ondisk", "http", "pubkey", "capabilities", "paths", "seccomp", '
           '"all-fetch", "all-run", "all"', "none"),
    Option("--local-config", "local configuration directory", "/etc/rkt"),
    Option("--system-config", "system configuration directory", "/usr/lib/rkt"),
    Option("--trust-keys-from-https", "automatically trust gpg keys fetched from https", boolean=True),
    Option("--user-config", "user configuration directory"),
)

ROOT_DESCRIPTION = ('A CLI for running app containers on Linux.\n\n'
                    'To get the help on any specific command, run "rkt help command".')


def tabwrite(text: str, tabwidth: int = 8, padding: int = 1) -> str:
    """Align tab-separated cells as Go's tabwriter does with '\\t' padding: a column's width is
    its widest cell plus padding rounded up to a tab stop, within runs of lines that have it."""
    rows = [line.split("\t") for line in text.split("\n")]
    widths: dict[tuple[int, int], int] = {}  # (row, column) -> cell width in its block
    for col in range(max(len(r) for r in rows)):
        start = 0
        while start < len(rows):
            if len(rows[start]) - 1 <= col:  # last cell of a line is not aligned
                start += 1
                continue
            end = start
            while end < len(rows) and len(rows[end]) - 1 > col:
                end += 1
            width = max(len(rows[i][col]) for i in range(start, end)) + padding
            width = -(-width // tabwidth) * tabwidth
            for i in range(start, end):
                widths[(i, col)] = width
            start = end
    out = []
    for i, cells in enumerate(rows):
        line = ""
        for col, cell in enumerate(cells[:-1]):
            line += cell + "\t" * -(-(widths[(i, col)] - len(cell)) // tabwidth)
        out.append(line + cells[-1])
    return "\n".join(out)


def _options(options) -> list[str]:
    return [f"{o.spec()}\t{o.help}" for o in sorted(options, key=lambda o: o.name)]


def _indent(text: str) -> list[str]:
    return ["\t" + line if line else "\t" for line in text.strip("\n").split("\n")]


def page(path: str, short: str, usage: str, description: str = "", options=(),
         commands: list[tuple[str, str]] | None = None, root: bool = False) -> str:
    """A help page: NAME, USAGE, [COMMANDS,] DESCRIPTION, OPTIONS, GLOBAL OPTIONS."""
    lines = ["NAME:", f"\t{path} - {short}", "", "USAGE:", f"\t{usage}", ""]
    if root:
        from rkt import RKT_VERSION

        lines += ["VERSION:", f"\t{RKT_VERSION}", ""]
    if commands:
        lines += ["COMMANDS:", *(f"\t{n}\t{h}" for n, h in commands), ""]
    if description:
        lines += ["DESCRIPTION:", *_indent(description), ""]
    if root:
        lines += ["OPTIONS:", *_options(GLOBAL_OPTIONS), ""]
    else:
        if options:
            lines += ["OPTIONS:", *_options(options), ""]
        lines += ["GLOBAL OPTIONS:", *_options(GLOBAL_OPTIONS), ""]
    return tabwrite("\n".join(lines)) + "\n"


def print_usage_error(message: str, help_page: str | None) -> None:
    """rkt's flag errors: the command's help on stdout, `Error: ...` and a blank line on stderr."""
    if help_page:
        sys.stdout.write(help_page)
        sys.stdout.flush()
    sys.stderr.write(f"Error: {message}\n\n")


def unknown_command(word: str, parent: str = "rkt") -> None:
    sys.stderr.write(f'Error: unknown command "{word}" for "{parent}"\n'
                     f"Run '{parent} --help' for usage.\n")


USAGE = {
    "cat-manifest": "rkt cat-manifest --uuid-file=FILE | UUID ...",
    "config": "rkt config",
    "enter": "rkt enter [--app=APPNAME] UUID [CMD [ARGS ...]]",
    "export": "rkt export [--app=APPNAME] UUID OUTPUT_ACI_FILE",
    "fetch": "rkt fetch IMAGE_URL...",
    "gc": "rkt gc [--grace-period=duration] [--expire-prepared=duration]",
    "image": "rkt image [command]",
    "image build": "rkt image build LAYOUT_DIR OUTPUT_ACI_FILE",
    "image cat-manifest": "rkt image cat-manifest IMAGE",
    "image export": "rkt image export IMAGE OUTPUT_ACI_FILE",
    "image extract": "rkt image extract IMAGE OUTPUT_DIR",
    "image fetch": "rkt image fetch IMAGE_URL...",
    "image gc": "rkt image gc",
    "image list": "rkt image list",
    "image render": "rkt image render IMAGE OUTPUT_DIR",
    "image rm": "rkt image rm IMAGE...",
    "image verify": "rkt image verify IMAGE...",
    "list": "rkt list",
    "logs": "rkt logs [--app=NAME] [--follow] [--tail=N] [--since=TIME] --uuid-file=FILE | UUID",
    "metadata-service": "rkt metadata-service [--listen-port=PORT]",
    "prepare": "rkt prepare [--volume=name,kind=host,...] [--mount volume=VOL,target=PATH] [--quiet] "
               "IMAGE [-- image-args...[---]]...",
    "rm": "rkt rm --uuid-file=FILE | UUID ...",
    "run": "rkt run [--volume=name,kind=host,...] [--mount volume=VOL,target=PATH] IMAGE "
           "[-- image-args...[---]]...",
    "run-prepared": "rkt run-prepared UUID",
    "status": "rkt status [--wait=bool|timeout] [--wait-ready=bool|timeout] --uuid-file=FILE | UUID",
    "stop": "rkt stop --uuid-file=FILE | UUID ...",
    "trust": "rkt trust [--prefix=PREFIX] [--insecure-allow-http] [--skip-fingerprint-review] [--root] "
             "[PUBKEY ...]",
    "version": "rkt version",
}


def split_help(text: str) -> tuple[str, str]:
    """A command's help text as (short line, description): the first paragraph is the short
    line, without its final period as rkt's short lines are written."""
    first, _, rest = (text or "").strip().partition("\n\n")
    return " ".join(first.split()).rstrip("."), rest.strip()
