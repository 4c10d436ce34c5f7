"""Build the stage1 ACI: `python -m stage1.build OUT.aci`.

Like rkt's "host" flavor, our stage1 image carries no interpreter: its rootfs holds four tiny
entrypoint scripts (`/init`, `/enter`, `/gc`, `/stop`) that start the installing venv's Python
with `-I -S` (no site import: fast start) and put this repository and the venv's site-packages
on sys.path, both fixed at build time.
"""

from __future__ import annotations

import io
import json
import os
import re
import sys
import sysconfig
import tarfile

NAME = "coreos.com/rkt/stage1-python"
# 6: takes --ipc (rkt 1.30's stage0 passes it only to interface versions above 5)
INTERFACE_VERSION = "6"
ENTRYPOINTS = {"run": ("init", "stage1.init"), "enter": ("enter", "stage1.enter"),
               "gc": ("gc", "stage1.gc"), "stop": ("stop", "stage1.stop")}
_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}


def rkt_version(repo: str) -> str:
    """The version string of rkt/__init__.py, read as text (stage1 never imports rkt)."""
    with open(os.path.join(repo, "rkt", "__init__.py")) as f:
        match = re.search(r'^__version__\s*=\s*"([^"]+)"', f.read(), re.M)
    return match.group(1) if match else "0.0.0"


def manifest(version: str) -> dict:
    annotations = [{"name": f"coreos.com/rkt/stage1/{ep}", "value": f"/{path}"}
                   for ep, (path, _module) in ENTRYPOINTS.items()]
    annotations.append({"name": "coreos.com/rkt/stage1/interface-version",
                        "value": INTERFACE_VERSION})
    return {"acKind": "ImageManifest", "acVersion": "0.8.11", "name": NAME,
            "labels": [{"name": "version", "value": version},
                       {"name": "os", "value": "linux"},
                       {"name": "arch", "value": _ARCH.get(os.uname().machine, os.uname().machine)}],
            "annotations": annotations}


def script(module: str, python: str, paths: list[str]) -> bytes:
    return (f"#!{python} -IS\n"
            "import sys\n"
            f"sys.path[:0] = {paths!r}\n"
            f"from {module} import main\n"
            "main()\n").encode()


def build(out: str, python: str | None = None) -> None:
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    python = python or sys.executable
    paths = [repo, sysconfig.get_paths()["purelib"]]
    files = {path: script(module, python, paths) for path, module in ENTRYPOINTS.values()}
    tmp = out + ".tmp"
    with tarfile.open(tmp, "w:gz", format=tarfile.PAX_FORMAT) as tf:
        def add(name, data=None, mode=0o644):
            info = tarfile.TarInfo(name)
            info.mode, info.mtime = mode, 0
            if data is None:
                info.type = tarfile.DIRTYPE
                tf.addfile(info)
            else:
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
        add("manifest", json.dumps(manifest(rkt_version(repo)), indent=2).encode())
        add("rootfs", mode=0o755)
        # as rkt's stage1 images: rkt's stage0 in overlay mode touches rkt/status before the run
        for directory in ("opt", "opt/stage2", "rkt", "rkt/status"):
            add(f"rootfs/{directory}", mode=0o755)
        for path, data in sorted(files.items()):
            add(f"rootfs/{path}", data, 0o755)
    os.rename(tmp, out)


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit("usage: python -m stage1.build OUT.aci")
    out = sys.argv[1]
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    build(out)


if __name__ == "__main__":
    main()
