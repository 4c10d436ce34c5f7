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


HELP = """Operate on image(s) in the local store.

This subcommand operates on image(s) in the local store.

The "cat-manifest", "export", "extract", "render", and "rm" subcommands
take the ID or image name to reference images in the local store.

The ID can be specified using the long or short version, i.e. "sha512-78c08a541997",
or "sha512-78c08a5419979fff71e615f27aad75b84362a3cd9a13703b9d47ec27d1cfd029".

The image name can be specified including the version tag as stored in the local store,
i.e. "quay.io/coreos/etcd:latest", or "quay.io/coreos/etcd:v3.0.13".

The version tag may be left out, i.e. "quay.io/coreos/etcd"."""


class LazyImageGroup(click.Group):
    summaries = SUBCOMMANDS

    def list_commands(self, ctx):
        return sorted(n for n in SUBCOMMANDS if n != "fetch")

    def full_name(self, name: str) -> str | None:
        """The subcommand `name` stands for, accepting unique prefixes as cobra does."""
        matches = [n for n in SUBCOMMANDS if n == name] or [n for n in SUBCOMMANDS if n.startswith(name)]
        return matches[0] if len(matches) == 1 else None

    def get_command(self, ctx, name):
        matches = [self.full_name(name)] if self.full_name(name) else []
        if not matches:
            return None
        if matches[0] == "fetch":  # hidden alias of `rkt fetch`, as in rkt
            return importlib.import_module("rkt.cli.fetch").command
        module = "rkt.cli.image_" + matches[0].replace("-", "_")
        return importlib.import_module(module).command


@click.group(cls=LazyImageGroup, context_settings=CONTEXT_SETTINGS,
             help=HELP)
def command() -> None:
    pass
