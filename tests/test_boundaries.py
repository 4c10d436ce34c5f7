"""The package boundaries, read from the source (AST), so that they cannot drift silently.

stage0 (`rkt/`) and stage1 (`stage1/`) share only the pod directory, so neither imports the
other; the libraries under `rkt/` know no command line (no `rkt.cli` import) and talk to the
user only through `rkt.report` (no `print`, no writes to sys.stdout/sys.stderr).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
LIBRARIES = ("rkt/pod", "rkt/store", "rkt/aci", "rkt/appc", "rkt/trust", "rkt/fetch",
             "rkt/mds/client.py")


def sources(*roots: str) -> list[Path]:
    found: list[Path] = []
    for root in roots:
        path = REPO / root
        found += [path] if path.is_file() else sorted(path.rglob("*.py"))
    assert found, f"no sources under {roots}"
    return found


def imported_modules(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, dotted module name) of every import, `from a import b` counting as a and a.b."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr == "import_module" and node.args
              and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            found.append((node.lineno, node.args[0].value))
    return found


def console_writes(tree: ast.AST) -> list[tuple[int, str]]:
    """print(...) calls and sys.stdout/sys.stderr .write/.writelines calls."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id == "print":
            found.append((node.lineno, "print"))
        elif (isinstance(func, ast.Attribute) and func.attr in ("write", "writelines")
              and isinstance(func.value, ast.Attribute) and func.value.attr in ("stdout", "stderr")
              and isinstance(func.value.value, ast.Name) and func.value.value.id == "sys"):
            found.append((node.lineno, f"sys.{func.value.attr}.{func.attr}"))
    return found


def violations(paths: list[Path], check) -> list[str]:
    out = []
    for path in paths:
        tree = ast.parse(path.read_text(), str(path))
        out += [f"{path.relative_to(REPO)}:{line}: {what}" for line, what in check(tree)]
    return out


def _matches(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


@pytest.mark.parametrize("root", LIBRARIES)
def test_libraries_do_not_import_the_cli(root):
    bad = violations(sources(root), lambda tree: [
        (line, m) for line, m in imported_modules(tree) if _matches(m, "rkt.cli")])
    assert not bad, "library code imports the CLI:\n" + "\n".join(bad)


@pytest.mark.parametrize("root", LIBRARIES)
def test_libraries_report_instead_of_printing(root):
    bad = violations(sources(root), console_writes)
    assert not bad, "library code writes to the console (use rkt.report):\n" + "\n".join(bad)


def test_stage1_never_imports_rkt():
    bad = violations(sources("stage1"), lambda tree: [
        (line, m) for line, m in imported_modules(tree) if _matches(m, "rkt")])
    assert not bad, "stage1 imports stage0:\n" + "\n".join(bad)


def test_rkt_never_imports_stage1():
    bad = violations(sources("rkt"), lambda tree: [
        (line, m) for line, m in imported_modules(tree) if _matches(m, "stage1")])
    assert not bad, "stage0 imports stage1:\n" + "\n".join(bad)


@pytest.mark.parametrize("snippet, expected", [
    ("import rkt.cli.runflags", ["rkt.cli.runflags"]),
    ("from rkt.cli import runflags", ["rkt.cli", "rkt.cli.runflags"]),
    ("from rkt import cli", ["rkt", "rkt.cli"]),
    ("importlib.import_module('rkt.cli.run')", ["rkt.cli.run"]),
    ("from . import sibling", []),
])
def test_import_finder_sees_every_form(snippet, expected):
    assert [m for _, m in imported_modules(ast.parse(snippet))] == expected


@pytest.mark.parametrize("snippet, expected", [
    ("print('x')", ["print"]),
    ("sys.stderr.write('x')", ["sys.stderr.write"]),
    ("sys.stdout.writelines([])", ["sys.stdout.writelines"]),
    ("sys.stdout.flush()", []),
    ("report.warn('x')", []),
])
def test_console_write_finder(snippet, expected):
    assert [w for _, w in console_writes(ast.parse(snippet))] == expected
