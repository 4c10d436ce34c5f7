"""Removing the iptables rules CNI plugins tagged with a container ID, after the fact.

ptp and bridge with `ipMasq` add a per-container chain `CNI-...` jumped to from nat
POSTROUTING, with the comment `name: "<net>" id: "<container>"`; their DEL removes them only
while the pod's netns still exists. When it does not (every pod process and its keeper were
killed), gc finds the tagged rules in `iptables-save` and deletes them with one restore.
"""

from __future__ import annotations

import re

from stage1.net import proc

_JUMP = re.compile(r"\s-j\s+(CNI-[A-Za-z0-9_-]+)")


def _run(tool: str, args: list[str], stdin: bytes = b"") -> tuple[int, bytes] | None:
    """(status, stdout) of an iptables tool, None when it is not installed."""
    path = proc.find(tool, ("/usr/sbin", "/sbin", "/usr/local/sbin"))
    if path is None:
        return None
    try:
        return proc.run([path, *args], stdin=stdin, env=proc.TOOL_ENV, other="devnull")
    except OSError:
        return None


def tagged_rules(save_output: str, container_id: str) -> tuple[list[str], list[str]]:
    """(rule specs after `-A `, CNI chains they jump to) tagged with `container_id`."""
    tag = f'id: \\"{container_id}\\"'
    rules, chains = [], []
    for line in save_output.splitlines():
        if line.startswith("-A ") and tag in line:
            rules.append(line[3:])
            jump = _JUMP.search(line)
            if jump and jump.group(1) not in chains:
                chains.append(jump.group(1))
    return rules, chains


def remove_tagged(container_id: str, table: str = "nat") -> list[str]:
    saved = _run("iptables-save", ["-t", table])
    if saved is None or saved[0] != 0:
        return []  # no iptables here: no plugin could have added rules with it
    rules, chains = tagged_rules(saved[1].decode(errors="replace"), container_id)
    if not rules:
        return []
    script = [f"*{table}"] + [f"-D {r}" for r in rules]
    script += [f"-F {c}" for c in chains] + [f"-X {c}" for c in chains] + ["COMMIT", ""]
    done = _run("iptables-restore", ["--noflush", "-w"], "\n".join(script).encode())
    if done is None or done[0] != 0:
        return [f"removing the iptables rules of {container_id}: iptables-restore failed"]
    return []
