#!/usr/bin/env python3
"""appc conformance: build the ACE validator and actool from Debian's appc sources, run the
validator pod under our rkt, and check with actool what rkt produces.

    python specs/conformance/ace.py [--net=host] [--keep WORKDIR]

Exit 0 when the validator printed `prestart OK`, `main OK`, `sidekick OK`, `poststop OK` and no
FAIL, and actool accepted every ACI and manifest; otherwise print what failed and exit 1.
Needs root and the Debian packages golang-go and golang-github-appc-spec-dev.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
GOPATH = "/usr/share/gocode"
TOOLS = REPO / "build" / "conformance"
STAGES = ("prestart", "main", "sidekick", "poststop")


class Failure(Exception):
    pass


def sh(*cmd, **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    if proc.returncode != 0:
        raise Failure(f"{' '.join(map(str, cmd))} exited {proc.returncode}:\n{proc.stdout}{proc.stderr}")
    return proc


def build_tools() -> tuple[Path, Path]:
    """ace-validator (static: its images have no libc) and actool, in GOPATH mode, offline."""
    TOOLS.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "GOPATH": GOPATH, "GO111MODULE": "off", "GOFLAGS": "",
           "GOCACHE": str(TOOLS / "gocache"), "CGO_ENABLED": "0"}
    for name, package in (("ace-validator", "github.com/appc/spec/ace"),
                          ("actool", "github.com/appc/spec/actool")):
        if not (TOOLS / name).exists():
            sh("go", "build", "-o", TOOLS / name, package, env=env)
    return TOOLS / "ace-validator", TOOLS / "actool"


def go_arch() -> str:
    return {"x86_64": "amd64", "aarch64": "aarch64"}.get(platform.machine(), platform.machine())


def build_images(rkt: list[str], work: Path, validator: Path) -> dict[str, Path]:
    images = {}
    for kind in ("main", "sidekick"):
        layout = work / f"layout-{kind}"
        (layout / "rootfs").mkdir(parents=True)
        text = (HERE / f"ace-validator-{kind}.json").read_text()
        (layout / "manifest").write_text(text.replace("@OS@", "linux").replace("@ARCH@", go_arch()))
        shutil.copy2(validator, layout / "rootfs" / "ace-validator")
        if kind == "main":
            (layout / "rootfs" / "opt" / "acvalidator").mkdir(parents=True)
        images[kind] = work / f"ace-validator-{kind}.aci"
        sh(*rkt, "image", "build", layout, images[kind])
    return images


def start_metadata_service(rkt: list[str], env: dict) -> subprocess.Popen:
    proc = subprocess.Popen([*rkt, "metadata-service"], env=env, stderr=subprocess.PIPE, text=True)
    for _ in range(300):
        if os.path.exists(env["RKT_MDS_SOCKET"]):
            return proc
        if proc.poll() is not None:
            raise Failure(f"metadata service exited: {proc.stderr.read()}")
        time.sleep(0.02)
    proc.kill()
    raise Failure("metadata service did not start")


def check_stages(output: str) -> list[str]:
    problems = [line for line in output.splitlines() if "FAIL" in line or line.startswith("==>")]
    problems += [f"missing `{stage} OK`" for stage in STAGES if f"{stage} OK" not in output]
    return problems


def run(net: str, keep: Path | None) -> None:
    validator, actool = build_tools()
    work = Path(keep or tempfile.mkdtemp(prefix="rkt-ace-"))
    work.mkdir(parents=True, exist_ok=True)
    rkt = [sys.executable, "-m", "rkt", f"--dir={work / 'data'}", f"--local-config={work / 'etc'}",
           f"--system-config={work / 'lib'}"]
    env = {**os.environ, "RKT_MDS_SOCKET": str(work / "mds.sock")}
    mds = None
    try:
        images = build_images(rkt, work, validator)
        sh(actool, "validate", images["main"], images["sidekick"])
        mds = start_metadata_service(rkt, env)
        uuid_file = work / "uuid"
        pod = subprocess.run([*rkt, "--insecure-options=image", "run", f"--net={net}", "--mds-register",
                              f"--uuid-file-save={uuid_file}", "--volume", "database,kind=empty",
                              images["main"], images["sidekick"]],
                             env=env, capture_output=True, text=True, timeout=120)
        output = pod.stdout + pod.stderr
        print(output, end="")
        problems = check_stages(output)
        if pod.returncode != 0:
            problems.append(f"rkt run exited {pod.returncode}")
        if problems:
            raise Failure("ACE validator: " + "; ".join(problems))
        uuid = uuid_file.read_text().strip()
        (work / "pod.json").write_text(sh(*rkt, "cat-manifest", uuid).stdout)
        sh(*rkt, "image", "export", "coreos.com/ace-validator-main", work / "exported-image.aci")
        sh(*rkt, "export", "--app=ace-validator-main", uuid, work / "exported-pod-app.aci")
        sh(actool, "validate", work / "pod.json", work / "exported-image.aci", work / "exported-pod-app.aci")
        sh(*rkt, "rm", uuid)
        print("conformance: ACE validator passed; actool accepted the built, exported and pod artifacts")
    finally:
        if mds is not None:
            mds.terminate()
            mds.wait(10)
        if keep is None:
            subprocess.run([*rkt, "gc", "--grace-period=0s"], capture_output=True)
            shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--net", default="host", help="pod network (default: host)")
    parser.add_argument("--keep", type=Path, help="work in this directory and keep it")
    args = parser.parse_args()
    try:
        run(args.net, args.keep)
    except Failure as failure:
        print(f"conformance: FAILED: {failure}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
