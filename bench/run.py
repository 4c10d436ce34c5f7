#!/usr/bin/env python3
"""`make bench`: run every benchmark in turn with the venv's Python; each prints its own table.

    python bench/run.py [NAME...]     (names: import, pod, fetch, net, docker, tree; default: all)
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

BENCHMARKS = {
    "import": "import_bench.py",
    "pod": "pod_bench.py",
    "fetch": "fetch_bench.py",
    "net": "net_bench.py",
    "docker": "docker_bench.py",
    "tree": "tree_check_bench.py",
}


def main() -> int:
    names = sys.argv[1:] or list(BENCHMARKS)
    status = 0
    for name in names:
        script = BENCHMARKS.get(name)
        if script is None or not (HERE / script).exists():
            print(f"unknown benchmark {name!r} (known: {', '.join(BENCHMARKS)})", file=sys.stderr)
            status = 2
            continue
        print(f"== {name} ({script})", flush=True)
        status = subprocess.run([sys.executable, str(HERE / script)]).returncode or status
    return status


if __name__ == "__main__":
    sys.exit(main())
