"""`rkt version`: rkt's lines, which tools parse (Nomad's rkt driver reads `rkt Version: X.Y.Z`
and `appc Version:` and refuses rkt older than 1.27), so the rkt version is the rkt 1.30 this
implements, with our own version as semver build metadata."""

import platform
import sys

import click

from rkt import APPC_VERSION, RKT_VERSION

# Go's names for machines, which `Go OS/Arch` printed and scripts compare
_GOARCH = {"x86_64": "amd64", "aarch64": "arm64", "i686": "386", "armv7l": "arm", "ppc64le": "ppc64le",
           "s390x": "s390x"}


@click.command(help="Print the version and exit.\n\n"
                    "Print the version of rkt, and various build and configuration information.")
def command() -> None:
    machine = platform.machine()
    print(f"rkt Version: {RKT_VERSION}")
    print(f"appc Version: {APPC_VERSION}")
    print(f"Python Version: {platform.python_version()}")
    print(f"Python OS/Arch: {sys.platform}/{_GOARCH.get(machine, machine)}")
    print("Features: -TPM -SDJOURNAL")
