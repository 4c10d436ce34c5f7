"""`rkt version`."""

import platform
import sys

import click

from rkt import APPC_VERSION, __version__


@click.command(help="Print the version and exit")
def command() -> None:
    print(f"rkt Version: {__version__}")
    print(f"appc Version: {APPC_VERSION}")
    print(f"Python Version: {platform.python_version()}")
    print(f"Python OS/Arch: {sys.platform}/{platform.machine()}")
    print("Features: -TPM -SDJOURNAL")
