"""`rkt metadata-service`."""

import click

from rkt.cli._click import CONTEXT_SETTINGS, options


@click.command(context_settings=CONTEXT_SETTINGS, help="Run metadata service")
@click.option("--listen-port", type=click.IntRange(0, 65535), default=18112, show_default=True,
              help="listen port")
def command(listen_port: int) -> None:
    from rkt.mds import socket_path
    from rkt.mds.service import serve

    serve(listen_port, socket_path(), debug=options().debug)
