"""Command-line parsing for `rkt run`, `rkt prepare` and `rkt run-prepared`, by hand.

rkt's run family mixes pod flags, images and per-app flags in one argv: a per-app flag applies
to the image before it, `--mount` before any image applies to every app, `--` starts the
preceding image's arguments and `---` ends them (rkt/cli_apps.go `parseApps`). click cannot
express that, and `rkt run` must not pay for importing it, so this is a small table-driven
parser (values are checked by `rkt.cli.runvalues`). It fills a mutable draft flag by flag and
hands the command a frozen `rkt.pod.spec.PodSpec`: the pod library never sees a flag.
"""

from __future__ import annotations

from rkt.cli import runvalues as rv
from rkt.cli.rundraft import AppDraft, Draft
from rkt.errors import FlagError, UsageError
from rkt.options import parse_bool
from rkt.pod.spec import IPC_MODES, PULL_POLICIES, PodSpec, Stage1Ref
from rkt.record import Record

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing on `rkt run`
if TYPE_CHECKING:
    from typing import Callable

    Setter = Callable[[Draft, str, str], None]


class ParsedRun(Record):
    """A parsed run-family command line: the pod spec and the command's own switches."""

    command: str
    spec: PodSpec
    help: bool = False
    quiet: bool = False  # prepare: print only the UUID
    uuid: str | None = None  # run-prepared: the pod


# --- the flag table ---------------------------------------------------------------------

class Flag(Record):
    help: str
    set: Setter
    boolean: bool = False
    optional_value: str | None = None  # pflag's NoOptDefVal: `--net` alone means "default"
    per_app: bool = False
    metavar: str = "string"


def _last_app(f: Draft, flag: str) -> AppDraft:
    if not f.apps:
        raise UsageError(f"{flag} must follow an image")
    return f.apps[-1]


def _app_once(attr: str) -> Setter:
    def setter(f: Draft, flag: str, value: str) -> None:
        app = _last_app(f, flag)
        if getattr(app, attr) is not None:
            raise UsageError(f"{flag} specified multiple times for the same image")
        setattr(app, attr, value)
    return setter


def _app_set(attr: str, parse=lambda flag, v: v) -> Setter:
    def setter(f: Draft, flag: str, value: str) -> None:
        setattr(_last_app(f, flag), attr, parse(flag, value))
    return setter


def _app_map(attr: str, check_key=None) -> Setter:
    def setter(f: Draft, flag: str, value: str) -> None:
        key, val = rv.key_value(flag, value)
        if check_key is not None:
            check_key(flag, key)
        getattr(_last_app(f, flag), attr)[key] = val
    return setter


def _app_isolator(name: str, parse) -> Setter:
    def setter(f: Draft, flag: str, value: str) -> None:
        _last_app(f, flag).isolators[name] = parse(flag, value)
    return setter


def _set_caps(kind: str) -> Setter:
    def setter(f: Draft, flag: str, value: str) -> None:
        from rkt.appc.isolators import CAPS_REMOVE, CAPS_RETAIN

        app = _last_app(f, flag)
        name = CAPS_RETAIN if kind == "retain" else CAPS_REMOVE
        other = CAPS_REMOVE if kind == "retain" else CAPS_RETAIN
        if other in app.isolators:
            raise UsageError("--caps-retain and --caps-remove are mutually exclusive")
        app.isolators[name] = rv.isolator(flag, name, {"set": rv.caps(flag, value)})
    return setter


def _set_seccomp(f: Draft, flag: str, value: str) -> None:
    from rkt.appc.isolators import SECCOMP_REMOVE, SECCOMP_RETAIN

    app = _last_app(f, flag)
    name, iso = rv.seccomp(flag, value)
    app.isolators.pop(SECCOMP_RETAIN, None)
    app.isolators.pop(SECCOMP_REMOVE, None)
    app.isolators[name] = iso


def _set_mount(f: Draft, flag: str, value: str) -> None:
    (f.apps[-1].mounts if f.apps else f.pod_mounts).append(rv.mount(flag, value))


def _pod(attr: str, parse=lambda flag, v: v) -> Setter:
    def setter(f: Draft, flag: str, value: str) -> None:
        setattr(f, attr, parse(flag, value))
    return setter


def _pod_append(attr: str, parse=lambda flag, v: v) -> Setter:
    def setter(f: Draft, flag: str, value: str) -> None:
        getattr(f, attr).append(parse(flag, value))
    return setter


def _pod_extend(attr: str, parse=lambda flag, v: v) -> Setter:
    """A list flag that also takes comma-separated values, as rkt's (`--hosts-entry=IP=A,IP=B`)."""
    def setter(f: Draft, flag: str, value: str) -> None:
        getattr(f, attr).extend(parse(flag, v) for v in value.split(",") if v)
    return setter


def _stage1(kind: str) -> Setter:
    def setter(f: Draft, flag: str, value: str) -> None:
        if f.stage1 is not None and f.stage1.kind != kind:
            # rkt's flag value check, so reported as pflag's "invalid argument" for this flag
            raise UsageError(f"flags {flag} and --stage1-{f.stage1.kind} are mutually exclusive")
        f.stage1 = Stage1Ref(kind, rv.nonempty(flag, value))
    return setter


def _pull_policy_if_set(policy: str) -> Setter:
    """A deprecated boolean spelling of --pull-policy (`--store-only`, `--no-store`)."""
    def setter(f: Draft, flag: str, value: str) -> None:
        if parse_bool(flag, value):
            f.pull_policy = policy
    return setter


def _bool(attr: str) -> Setter:
    return _pod(attr, parse_bool)


def _net_set(f: Draft, flag: str, value: str) -> None:
    f.net = (f.net or []) + rv.networks(flag, value)


APP_FLAGS: dict[str, Flag] = {
    "--exec": Flag("override the exec command for the preceding image", _app_once("exec"), per_app=True),
    "--name": Flag("set the name of the app (default: from the image name)", _app_once("name"), per_app=True),
    "--mount": Flag("mount point binding a volume to a path within an app (before any image: every app)",
                    _set_mount, per_app=True, metavar="volume=NAME,target=PATH"),
    "--user": Flag("user override for the preceding image (name, number, or path)",
                   _app_set("user", rv.nonempty), per_app=True),
    "--group": Flag("group override for the preceding image (name, number, or path)",
                    _app_set("group", rv.nonempty), per_app=True),
    "--supplementary-gids": Flag("supplementary group IDs override for the preceding image",
                                 _app_set("supplementary_gids", rv.gids), per_app=True, metavar="1,2"),
    "--working-dir": Flag("override the working directory of the preceding image",
                          _app_set("working_dir", rv.abs_path), per_app=True),
    "--readonly-rootfs": Flag("mount rootfs read-only for the preceding image",
                              _app_set("readonly_rootfs", parse_bool), boolean=True, per_app=True),
    "--environment": Flag("set the app's environment variables (NAME=VALUE)",
                          lambda f, flag, v: _last_app(f, flag).environment.append(rv.env_pair(flag, v)),
                          per_app=True),
    "--memory": Flag("memory limit for the preceding image (example: '--memory=16Mi')",
                     _app_isolator("resource/memory", rv.memory), per_app=True),
    "--cpu": Flag("cpu limit for the preceding image (example: '--cpu=500m')",
                  _app_isolator("resource/cpu", lambda flag, v: rv.isolator(
                      flag, "resource/cpu", {"limit": v, "request": v})), per_app=True),
    "--cpu-shares": Flag("cpu-shares assigns the specified CPU time share weight",
                         _app_isolator("os/linux/cpu-shares", lambda flag, v: rv.isolator(
                             flag, "os/linux/cpu-shares", rv.integer(flag, v))), per_app=True, metavar="int"),
    "--oom-score-adj": Flag("oom-score-adj isolator override",
                            _app_isolator("os/linux/oom-score-adj", lambda flag, v: rv.isolator(
                                flag, "os/linux/oom-score-adj", rv.integer(flag, v))), per_app=True,
                            metavar="int"),
    "--caps-retain": Flag("capability to retain (example: '--caps-retain=CAP_SYS_ADMIN')",
                          _set_caps("retain"), per_app=True),
    "--caps-remove": Flag("capability to remove (example: '--caps-remove=CAP_MKNOD')",
                          _set_caps("remove"), per_app=True),
    "--seccomp": Flag("seccomp filter override (example: '--seccomp mode=retain,errno=EPERM,chmod,chown')",
                      _set_seccomp, per_app=True),
    "--signature": Flag("local signature file to use in validating the preceding image",
                        _app_once("signature"), per_app=True),
    "--annotation": Flag("set the app's annotations (example: '--annotation=foo=bar')",
                         _app_map("annotations", rv.annotation_name), per_app=True,
                         metavar="NAME=VALUE"),
    "--user-annotation": Flag("set the app's user annotations (example: '--user-annotation=foo=bar')",
                              _app_map("user_annotations"), per_app=True, metavar="NAME=VALUE"),
    "--user-label": Flag("set the app's user labels (example: '--user-label=foo=bar')",
                         _app_map("user_labels"), per_app=True, metavar="NAME=VALUE"),
}
APP_FLAGS["--cap-retain"] = APP_FLAGS["--caps-retain"].replace(help="deprecated: --caps-retain")
APP_FLAGS["--cap-remove"] = APP_FLAGS["--caps-remove"].replace(help="deprecated: --caps-remove")

NET_FLAGS: dict[str, Flag] = {
    "--net": Flag("configure the pod's networking: host, none, default or a list of networks",
                  _net_set, optional_value="default", metavar="net[,net]"),
    "--dns": Flag("name servers to write in /etc/resolv.conf ('host', 'none' or IPs)",
                  _pod_extend("dns")),
    "--dns-search": Flag("DNS search domains to write in /etc/resolv.conf", _pod_extend("dns_search")),
    "--dns-opt": Flag("DNS options to write in /etc/resolv.conf", _pod_extend("dns_opt")),
    "--dns-domain": Flag("DNS domain to write in /etc/resolv.conf", _pod("dns_domain", rv.nonempty)),
    "--hosts-entry": Flag("entries to add to the pod's /etc/hosts ('host' or IP=HOSTNAME)",
                          _pod_extend("hosts_entries", rv.hosts_entry)),
    "--hostname": Flag("pod's hostname (default: rkt-$PODUUID)", _pod("hostname", rv.hostname)),
    "--interactive": Flag("run pod interactively (only one image allowed)",
                          _bool("interactive"), boolean=True),
    "--mds-register": Flag("register pod with metadata service (needs network)",
                           _bool("mds_register"), boolean=True),
    "--ipc": Flag("IPC namespace: auto, private or parent", _pod("ipc", rv.choice(IPC_MODES))),
}

PREPARE_FLAGS: dict[str, Flag] = {
    "--volume": Flag("volumes to make available in the pod (NAME,kind=host|empty,...)",
                     _pod_append("volumes", rv.volume)),
    "--port": Flag("ports to expose on the host (NAME:[HOSTIP:]HOSTPORT)",
                   _pod_append("ports", rv.port)),
    "--set-env": Flag("environment variable to set for all the apps (NAME=VALUE)",
                      _pod_append("set_env", rv.env_pair)),
    "--set-env-file": Flag("path to an environment variables file (NAME=VALUE lines)",
                           _pod_append("set_env_files")),
    "--inherit-env": Flag("inherit all environment variables not set by apps",
                          _bool("inherit_env"), boolean=True),
    "--uuid-file-save": Flag("write out pod UUID to specified file", _pod("uuid_file_save", rv.nonempty)),
    "--pull-policy": Flag("when to pull an image: new, update or never",
                          _pod("pull_policy", rv.choice(PULL_POLICIES))),
    "--store-only": Flag("deprecated: --pull-policy=never", _pull_policy_if_set("never"), boolean=True),
    "--no-store": Flag("deprecated: --pull-policy=update", _pull_policy_if_set("update"), boolean=True),
    "--stage1-path": Flag("path to a stage1 image (ACI file)", _stage1("path")),
    "--stage1-url": Flag("URL of a stage1 image (file:// only)", _stage1("url")),
    "--stage1-name": Flag("name of a stage1 image in the store (NAME[:VERSION])",
                          _stage1("name")),
    "--stage1-hash": Flag("hash (ID) of a stage1 image in the store", _stage1("hash")),
    "--stage1-from-dir": Flag("filename of a stage1 image in the stage1-images directory",
                              _stage1("from-dir")),
    "--no-overlay": Flag("disable overlay filesystem (copy the images instead)",
                         _bool("no_overlay"), boolean=True),
    "--pod-manifest": Flag("path to a pod manifest; conflicts with images and most flags",
                           _pod("pod_manifest", rv.nonempty)),
    "--private-users": Flag("run within user namespaces (requires --no-overlay)",
                            _bool("private_users"), boolean=True),
}

PREPARE_ONLY: dict[str, Flag] = {
    "--quiet": Flag("suppress superfluous output on stdout, print only the UUID",
                    _bool("quiet"), boolean=True),
}

COMMAND_FLAGS: dict[str, dict[str, Flag]] = {
    "run": {**NET_FLAGS, **PREPARE_FLAGS, **APP_FLAGS},
    "prepare": {**PREPARE_FLAGS, **PREPARE_ONLY, **APP_FLAGS},
    "run-prepared": dict(NET_FLAGS),
}

_IMAGE_HELP = """IMAGE should be a string referencing an image; either a hash, local file on
disk, or URL. They will be checked in that order and the first match will be
used."""

_ARGS_HELP = """An "--" may be used to inhibit rkt prepare's parsing of subsequent arguments,
which will instead be appended to the preceding image app's exec arguments. End
the image arguments with a lone "---" to resume argument parsing."""

DESCRIPTIONS = {
    "run": "\n\n".join([_IMAGE_HELP, """Volumes are made available to the container via --volume. Mounts bind volumes
into each image's root within the container via --mount. --mount is
position-sensitive; occurring before any images applies to all images, occurring
after any images applies only to the nearest preceding image. Per-app mounts
take precedence over global ones if they have the same path.""", """An "--" may be used to inhibit rkt run's parsing of subsequent arguments, which
will instead be appended to the preceding image app's exec arguments. End the
image arguments with a lone "---" to resume argument parsing."""]),
    "prepare": "\n\n".join(["""Prepares the pod and returns its UUID for a subsequent call to run-prepared.

Prepare is useful to get the UUID of the pod before running or when preparing
takes a long time.""", _IMAGE_HELP, _ARGS_HELP]),
    "run-prepared": "Runs a previously prepared pod by its UUID",
}

# rkt/run.go: any of these with --pod-manifest is a conflict
_POD_MANIFEST_CONFLICTS = {"--port", "--store-only", "--no-store", "--inherit-env", "--set-env",
                           "--set-env-file", "--volume", "--mount", "--exec", "--user", "--group",
                           "--caps-retain", "--caps-remove", "--cap-retain", "--cap-remove"}


def usage(command: str) -> str:
    """The command's help page, in rkt's layout (shared with the click commands)."""
    from rkt.cli import FAST_HELP, helptext

    options = [helptext.Option(name, flag.help, "false" if flag.boolean else flag.optional_value or "",
                               boolean=flag.boolean,
                               optional=flag.optional_value)
               for name, flag in COMMAND_FLAGS[command].items()]
    return helptext.page(command, FAST_HELP[command], helptext.USAGE[command], DESCRIPTIONS[command],
                         options)


def command_line(command: str, argv: list[str]) -> ParsedRun | None:
    """What a run-family command's `main` starts with: its parsed argv, or None once `--help`
    printed the usage; refuses non-root callers as rkt does."""
    from rkt.cli.util import ensure_superuser

    parsed = parse(command, argv)
    if parsed.help:
        print(usage(command), end="")
        return None
    ensure_superuser(command)
    return parsed


def parse(command: str, argv: list[str]) -> ParsedRun:
    """Parse argv of `command` (run, prepare, run-prepared); UsageError on misuse."""
    flags = COMMAND_FLAGS[command]
    f = Draft(command)
    positional: list[str] = []
    in_args = False
    apps_at_last_args = 0
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if in_args:
            if arg == "---":
                in_args = False
            else:
                f.apps[-1].args.append(arg)
            continue
        if arg == "--":
            if command == "run-prepared":
                # everything after `--` is positional, as pflag
                positional.extend(argv[i:])
                break
            if not f.apps:
                raise UsageError("an image is required before any app arguments")
            if apps_at_last_args == len(f.apps):
                raise UsageError("only one set of app arguments allowed per image")
            apps_at_last_args = len(f.apps)
            f.apps[-1].args = []
            in_args = True
            continue
        if arg == "---":
            continue  # rkt ignores a stray terminator
        if arg in ("-h", "--help"):
            f.help = True
            continue
        if arg.startswith("-") and arg != "-":
            name, eq, inline = arg.partition("=")
            flag = flags.get(name)
            if flag is None:
                raise FlagError.unknown(arg, usage(command))
            if eq:
                value = inline
            elif flag.boolean:
                value = "true"
            elif flag.optional_value is not None:
                value = flag.optional_value
            elif i < len(argv):
                value = argv[i]
                i += 1
            else:
                raise FlagError(f"flag needs an argument: {name}", usage(command))
            try:
                flag.set(f, name, value)
            except FlagError:
                raise
            except UsageError as err:  # pflag reports a value its setter refused this way
                raise FlagError(f'invalid argument "{value}" for {name}={value}: {err.message}',
                                usage(command)) from None
            f.seen.add(name)
            continue
        if command == "run-prepared":
            positional.append(arg)
        else:
            if not arg:
                raise UsageError("empty image name")
            f.apps.append(AppDraft(image=arg))
    if f.help:
        return ParsedRun(command, f.spec(), help=True)
    _check(f, positional)
    uuid = positional[0] if command == "run-prepared" else None
    return ParsedRun(command, f.spec(), quiet=f.quiet, uuid=uuid)


def _check(f: Draft, positional: list[str]) -> None:
    if f.command == "run-prepared" and len(positional) != 1:
        raise UsageError("run-prepared takes exactly one pod UUID")
    if f.pod_manifest is not None:
        conflicts = (f.seen & _POD_MANIFEST_CONFLICTS) or (f.apps and {"IMAGE"})
        if conflicts:
            raise UsageError("conflicting flags set with --pod-manifest (see --help)")
    elif f.command != "run-prepared" and not f.apps:
        raise UsageError("must provide at least one image or specify the pod manifest")
    if f.interactive and len(f.apps) > 1:
        raise UsageError("interactive option only supports one image")
    for app in f.apps:
        if app.name is not None:
            from rkt.appc.types import is_ac_name

            if not is_ac_name(app.name):
                raise UsageError(f'--name: invalid app name "{app.name}"')
    net = f.net or []
    if f.ports and ("host" in net or "none" in net):
        kind = "host" if "host" in net else "none"
        raise UsageError(f"--port flag does not work with '{kind}' networking")
    if f.mds_register and "none" in net:
        raise UsageError("--mds-register and --net=none are mutually exclusive")
    if len(net) > 1 and ("host" in net or "none" in net):
        raise UsageError("--net=host and --net=none cannot be combined with other networks")
    if f.dns and f.dns[0] in ("host", "none"):
        if len(f.dns) > 1:
            raise UsageError(f"--dns={f.dns[0]} cannot be combined with other name servers")
        if f.dns_search or f.dns_opt or f.dns_domain:
            raise UsageError(f"cannot use --dns-opt, --dns-search or --dns-domain with --dns={f.dns[0]}")
    else:
        for ns in f.dns:
            if not rv.is_ip(ns):
                raise UsageError(f"--dns: {ns!r} is not an IP address, host or none")
    if any(ip == "host" for ip, _ in f.hosts_entries) and len(f.hosts_entries) > 1:
        raise UsageError("--hosts-entry=host cannot be combined with other entries")
