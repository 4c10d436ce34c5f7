"""Flags whose value is optional, as pflag's NoOptDefVal: `--wait` or `--wait=10s`.

A bare flag never takes the next word as its value (`rkt status --wait UUID` keeps UUID an
argument), which click's own optional values would do; so the bare spelling is rewritten to
`--flag=<default>` before click parses.
"""

from __future__ import annotations

import click


def optional_value_command(bare: dict[str, str]) -> type[click.Command]:
    class OptionalValueCommand(click.Command):
        bare_values = bare  # the help page shows them as `--flag[="default"]`

        def parse_args(self, ctx, args):
            rewritten = []
            for i, arg in enumerate(args):
                if arg == "--":
                    rewritten.extend(args[i:])
                    break
                rewritten.append(f"{arg}={bare[arg]}" if arg in bare else arg)
            return super().parse_args(ctx, rewritten)

    return OptionalValueCommand
