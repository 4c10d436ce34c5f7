"""`rkt image`: a group whose subcommands load lazily from `rkt/cli/image_<name>.py`."""

from __future__ import annotations

import importlib

import click

from rkt.cli._click import CONTEXT_SETTINGS

SUBCOMMANDS = {
    "build": "Build an ACI from a layout directory",
    "cat-manifest": "Inspect and print the image manifest",
    "export": "Export a stored image to an ACI file",
    "extract": "Extract a stored image to a directory",
    "fetch": "Fetch image(s) and store them in the local store",
    "gc": "Garbage collect local store",
    "list": "List images in the local store",
    "render": "Render a stored image to a directory with all its dependencies",
    "rm": "Remove one or more images with the given IDs or image names from the local store",
    "verify": "Verify the rendered tree of stored images and repair it",
}


class LazyImageGroup(click.Group):
    def list_commands(self, ctx):
        return sorted(SUBCOMMANDS)

    def get_command(self, ctx, name):
        matches = [n for n in SUBCOMMANDS if n == name] or [n for n in SUBCOMMANDS if n.startswith(name)]
        if len(matches) != 1:
            return None
        if matches[0] == "fetch":  # hidden alias of `rkt fetch`, as in rkt
            return importlib.import_module("rkt.cli.fetch").command
        module = "rkt.cli.image_" + matches[0].replace("-", "_")
        return importlib.import_module(module).command


@click.group(cls=LazyImageGroup, context_settings=CONTEXT_SETTINGS,
             help="Operate on image(s) in the local store")
def command() -> None:
    pass
