"""Running a click command under rkt's contract: its help page and flag errors rendered as rkt
prints them (rkt.cli.helptext), every failure exit 254."""

from __future__ import annotations

import click

from rkt.cli import helptext
from rkt.errors import FlagError, RktError
from rkt.options import GlobalOptions

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"]}


def options() -> GlobalOptions:
    """The global options of the running command."""
    return click.get_current_context().find_root().obj


def _option(param: click.Option) -> helptext.Option | None:
    longs = [o for o in param.opts if o.startswith("--")]
    if not longs:
        return None
    name = longs[0]
    boolean = param.is_flag or isinstance(param.type, click.types.BoolParamType)
    default = param.default
    if boolean:
        return helptext.Option(name, param.help or "", "true" if default is True else "false", boolean=True)
    text = str(default) if isinstance(default, (str, int, float)) else ""
    if isinstance(default, (tuple, list)):
        text = ",".join(map(str, default))
    return helptext.Option(name, param.help or "", text)


def help_page(command: click.Command, path: str) -> str:
    """`rkt help PATH` for a click command or group."""
    short, description = helptext.split_help(command.help)
    usage = helptext.USAGE.get(path, f"rkt {path}")
    if isinstance(command, click.Group):
        ctx = click.Context(command)
        names = [n for n in command.list_commands(ctx)]
        subs = getattr(command, "summaries", {})
        return helptext.page(path, short, usage, description,
                             commands=[(n, subs.get(n, "")) for n in names])
    bare = getattr(command, "bare_values", {})
    opts = []
    for param in command.params:
        if isinstance(param, click.Option) and (opt := _option(param)) is not None:
            if opt.name in bare and not opt.boolean:
                opt = helptext.Option(opt.name, opt.help, opt.default, optional=bare[opt.name])
            opts.append(opt)
    return helptext.page(path, short, usage, description, opts)


def _wants_help(args: list[str]) -> bool:
    for arg in args:
        if arg == "--":
            return False
        if arg in ("-h", "--help"):
            return True
    return False


def invoke(command: click.Command, name: str, opts: GlobalOptions, args: list[str]) -> int:
    if isinstance(command, click.Group):
        sub = next((a for a in args if not a.startswith("-")), None)
        found = sub and command.get_command(click.Context(command), sub)
        if not found:  # rkt prints the group's page for a missing or unknown subcommand
            print(help_page(command, name), end="")
            return 0
        rest = list(args)
        rest.remove(sub)
        return invoke(found, f"{name} {command.full_name(sub)}", opts, rest)
    if _wants_help(args):
        print(help_page(command, name), end="")
        return 0
    try:
        result = command.main(args=args, prog_name=f"rkt {name}", standalone_mode=False, obj=opts)
    except click.exceptions.Exit as done:
        return done.exit_code
    except click.UsageError as err:
        raise FlagError(_flag_message(err, args), help_page(command, name)) from None
    except click.Abort:
        return 130
    except click.ClickException as err:
        raise RktError(err.format_message()) from None
    return result if isinstance(result, int) else 0


def _flag_message(err: click.UsageError, args: list[str]) -> str:
    """click's wording turned into pflag's, which scripts match."""
    if isinstance(err, click.NoSuchOption):
        return f"unknown flag: {err.option_name}"
    if isinstance(err, click.BadParameter) and err.param is not None and err.param.opts:
        name = next((o for o in err.param.opts if o.startswith("--")), err.param.opts[0])
        value = _value_of(name, args)
        if value is not None:
            return f'invalid argument "{value}" for {name}={value}: {err.message}'
        return f"invalid argument for {name}: {err.message}"
    message = err.format_message()
    if message.startswith("Option '") and "requires an argument" in message:
        return f"flag needs an argument: {message.split(chr(39))[1]}"
    return message


def _value_of(name: str, args: list[str]) -> str | None:
    """The last value given to flag `name` in args (`--x=v` or `--x v`)."""
    found = None
    for i, arg in enumerate(args):
        if arg == "--":
            break
        if arg.startswith(name + "="):
            found = arg[len(name) + 1:]
        elif arg == name and i + 1 < len(args):
            found = args[i + 1]
    return found
