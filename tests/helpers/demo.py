"""`make run`: build a small busybox ACI from Debian's busybox-static into DIR/busybox.aci."""

import sys
from pathlib import Path

from tests.helpers.aci import busybox_aci

if __name__ == "__main__":
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    busybox_aci(out / "busybox.aci")
    print(f"built {out / 'busybox.aci'}", file=sys.stderr)
