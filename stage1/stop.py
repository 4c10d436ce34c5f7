"""The `coreos.com/rkt/stage1/stop` entrypoint: `[--force] UUID`, cwd = the pod dir.

Stopping is a signal to the pod's PID 1 (the supervisor): SIGTERM makes it stop every app
(TERM, then KILL after its grace period) and run their post-stop handlers; `--force` sends
SIGKILL, which the kernel turns into the death of every process in the pod's pid namespace.
"""

from __future__ import annotations

import os
import signal
import sys

from stage1.files import say


def main() -> None:
    args = [a for a in sys.argv[1:] if a != "--debug"]
    force = False
    if args and args[0] in ("--force", "--force=true", "--force=false"):
        force = args.pop(0) != "--force=false"
    if len(args) != 1 or args[0].startswith("-"):
        say("usage: stop [--force] UUID")
        os._exit(254)
    try:
        with open("pid") as f:
            pid = int(f.read().strip())
        os.kill(pid, signal.SIGKILL if force else signal.SIGTERM)
    except ProcessLookupError:
        pass  # already gone: stopping an exited pod is not an error
    except (OSError, ValueError) as err:
        say(f"cannot stop pod {args[0]}: {getattr(err, 'strerror', None) or err}")
        os._exit(254)
    os._exit(0)
