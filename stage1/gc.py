"""The `coreos.com/rkt/stage1/gc` entrypoint: `[--debug] [--local-config DIR] UUID`, cwd = the pod dir.

Everything stage1 creates outside the pod directory must go here. Our namespaces die with the
pod's processes and our mounts live only in those namespaces, so what remains is the pod's
cgroups and, when its network keeper was killed too, its networks (IPAM leases, nftables
table, plugin rules), undone from the records in `net/`.
"""

from __future__ import annotations

import os
import sys

from stage1.files import say


def parse_args(argv: list[str]) -> list[str]:
    """The positional arguments; rkt's stage0 passes `--local-config DIR` to interface
    version 5 stage1s (as two arguments), which our gc does not need: networks are undone
    from the pod's own records in `net/`."""
    args, rest = [], list(argv)
    while rest:
        arg = rest.pop(0)
        if arg == "--local-config" and rest:
            rest.pop(0)
        elif arg != "--debug" and not arg.startswith("--local-config="):
            args.append(arg)
    return args


def main() -> None:
    args = parse_args(sys.argv[1:])
    if len(args) != 1 or args[0].startswith("-"):
        say("usage: gc [--debug] [--local-config DIR] UUID")
        os._exit(254)
    from stage1 import security
    from stage1.cgroups import tree
    failures = []
    try:
        security.cleanup_cgroups(args[0], tree.recorded_parent())
    except (OSError, ValueError) as err:
        failures.append(f"cgroups: {getattr(err, 'strerror', None) or err}")
    if os.path.isdir("net"):
        from stage1.net import setup
        failures += [f"network: {f}" for f in setup.teardown(args[0], ".", "")]
    for failure in failures:
        say(f"gc of pod {args[0]!r}: {failure}")
    os._exit(254 if failures else 0)
