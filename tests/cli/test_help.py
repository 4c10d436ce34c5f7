"""Help pages in rkt's layout (cobra with rkt's template) for every command, from either
parser, and flags of a subcommand written before its name."""

import re

import pytest

from rkt.cli.helptext import tabwrite

COMMANDS = ["cat-manifest", "config", "enter", "export", "fetch", "gc", "list", "logs",
            "metadata-service", "prepare", "rm", "run", "run-prepared", "status", "stop", "trust",
            "version", "image cat-manifest", "image export", "image extract", "image gc",
            "image list", "image render", "image rm", "image verify"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_a_help_page(rkt, command):
    words = command.split()
    by_help = rkt("help", *words).stdout
    by_flag = rkt(*words, "--help").stdout
    assert by_help == by_flag
    sections = re.findall(r"^([A-Z ]+):$", by_help, re.M)
    assert sections[:2] == ["NAME", "USAGE"] and sections[-1] == "GLOBAL OPTIONS"
    assert by_help.startswith(f"NAME:\n\t{command} - ")
    assert "\n\trkt " + command in by_help
    assert "      --dir=/var/lib/rkt\t\trkt data directory\n" in by_help


def test_root_and_group_pages(rkt):
    root = rkt("help").stdout
    assert root.startswith("NAME:\n\trkt - rkt, the application container runner\n")
    assert "\n\timage list\t\tList images in the local store\n" in root
    assert "\nOPTIONS:\n      --debug[=false]\t\t\tprint out more debug information to stderr\n" in root
    group = rkt("image").stdout
    assert group.startswith("NAME:\n\timage - ") and "\n\tcat-manifest\t" in group
    assert rkt("image", "no-such").stdout == group  # as rkt: the group's page, exit 0


def test_flags_before_the_command_name(rkt):
    # cobra finds the command past leading flags; rkt's own example
    proc = rkt.fails("--insecure-options=image", "--set-env=A=b", "run", "--bogus", "img", code=254)
    assert proc.stderr == "Error: unknown flag: --bogus\n\n"
    assert rkt("--no-legend=true", "list").stdout == ""
    # a bare flag takes the next word as its value, as cobra: `list` is eaten, no command left
    assert rkt.fails("--no-legend", "list").stderr == "Error: unknown flag: --no-legend\n\n"
    assert "Error: unknown flag: --set-env" in rkt.fails("--set-env=A=b", "list").stderr


def test_tabwrite_is_gos_tabwriter_with_tabs():
    # cell width: widest + 1 padding, rounded up to a tab stop of 8, written as tabs
    assert tabwrite("a\tb\nlonger-cell\tc") == "a\t\tb\nlonger-cell\tc"
    assert tabwrite("\tx\ty\n\tlonger-than-8\tz") == "\tx\t\ty\n\tlonger-than-8\tz"
    assert tabwrite("no tabs\nx\ty") == "no tabs\nx\ty"


@pytest.mark.parametrize("command", ["list", "status", "run-prepared", "image gc", "config"])
def test_same_page_as_the_reference(rkt, ref, command):
    words = command.split()
    ours, theirs = rkt("help", *words).stdout, ref("help", *words).stdout
    assert _layout(ours) == _layout(theirs)


def _layout(page: str) -> list:
    """Section names, the command's usage line and its option names."""
    return [(line.split("=")[0].split("[")[0] if line.startswith("      --") else line)
            for line in page.splitlines()
            if re.match(r"^[A-Z ]+:$", line) or line.startswith("      --")
            or line.startswith("\trkt ")]


def test_help_for_an_unknown_topic(rkt):
    proc = rkt("help", "foo")  # cobra's words, exit 0
    assert proc.stderr == "Unknown help topic [`foo`]."
    assert proc.stdout == rkt("help").stdout
