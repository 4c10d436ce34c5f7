"""CNI network configurations and their plugins, run as the CNI spec's runtime.

A network is a `.conf` file (one plugin) or a `.conflist` (a chain of plugins sharing a name
and a cniVersion). A plugin is an executable found by its `type` on a search path; it reads its
configuration on stdin, the command (ADD, DEL, CHECK) and the attachment (container ID, netns
path, interface name, CNI_ARGS) from the environment, and prints a JSON result or error.
"""

from __future__ import annotations

import os

from stage1.files import dump_json, parse_json
from stage1.net import proc

# Debian's containernetworking-plugins lives in /usr/lib/cni; rkt's own paths come first
PLUGIN_DIRS = ("/usr/lib/rkt/plugins/net", "/usr/lib/cni", "/opt/cni/bin", "/usr/libexec/cni")
# plugins call iptables, ip, modprobe...: give them the usual sbin dirs whatever our PATH is
PLUGIN_ENV_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class NetError(Exception):
    """A network that cannot be loaded, added or removed; the message names it."""


class NetConfig:
    """One network: its name, CNI version and plugin chain, read from `path`. (Plain classes in
    stage1.net: the dataclass machinery alone would cost the starting pod ~30 ms of imports.)"""

    __slots__ = ("name", "version", "plugins", "path", "raw", "is_list", "disable_check")

    def __init__(self, name: str, version: str, plugins: tuple, path: str, raw: bytes,
                 is_list: bool = False, disable_check: bool = False):
        self.name, self.version, self.plugins, self.path = name, version, plugins, path
        self.raw, self.is_list, self.disable_check = raw, is_list, disable_check

    @property
    def supports_check(self) -> bool:
        return version_tuple(self.version) >= (0, 4, 0) and not self.disable_check

    def capability(self, name: str) -> bool:
        return any((p.get("capabilities") or {}).get(name) for p in self.plugins)


def version_tuple(version: str) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in (version or "0.1.0").split("."))
    except ValueError:
        return (0,)


def parse(raw: bytes, path: str) -> NetConfig:
    """The network in file `path` (its content `raw`): a .conflist or a single plugin .conf."""
    try:
        data = parse_json(raw)
    except ValueError as err:
        raise NetError(f"network config {path}: invalid JSON: {err}") from None
    if not isinstance(data, dict) or not isinstance(data.get("name"), str) or not data["name"]:
        raise NetError(f"network config {path}: no network name")
    version = str(data.get("cniVersion") or "0.1.0")
    if path.endswith(".conflist") or "plugins" in data:
        plugins = data.get("plugins")
        if not isinstance(plugins, list) or not plugins or not all(
                isinstance(p, dict) and isinstance(p.get("type"), str) for p in plugins):
            raise NetError(f"network config {path}: plugins must be a list of objects with a type")
        return NetConfig(data["name"], version, tuple(plugins), path, raw, is_list=True,
                         disable_check=data.get("disableCheck") is True)
    if not isinstance(data.get("type"), str) or not data["type"]:
        raise NetError(f"network config {path}: no plugin type")
    return NetConfig(data["name"], version, (data,), path, raw)


def load(path: str) -> NetConfig:
    try:
        with open(path, "rb") as f:
            return parse(f.read(), path)
    except OSError as err:
        raise NetError(f"network config {path}: {err.strerror}") from None


def load_dir(directory: str) -> list[NetConfig]:
    """`*.conf` and `*.conflist` in lexical order; a later file reusing a name is ignored (rkt)."""
    try:
        names = sorted(os.listdir(directory))
    except FileNotFoundError:
        return []
    except OSError as err:
        raise NetError(f"cannot list network configs in {directory}: {err.strerror}") from None
    found: dict[str, NetConfig] = {}
    for name in names:
        path = os.path.join(directory, name)
        if not name.endswith((".conf", ".conflist")) or not os.path.isfile(path):
            continue
        config = load(path)
        found.setdefault(config.name, config)
    return list(found.values())


def find_plugin(kind: str, search: list[str]) -> str:
    if "/" in kind or kind in ("", ".", ".."):
        raise NetError(f"invalid plugin type {kind!r}")
    for directory in search:
        path = os.path.join(directory, kind)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    raise NetError(f"plugin {kind!r} not found in {':'.join(search)}")


class Attachment:
    """Where a network meets the pod: the container ID, netns path, interface and CNI_ARGS."""

    __slots__ = ("container_id", "netns", "if_name", "args", "search")

    def __init__(self, container_id: str, netns: str, if_name: str, args: str, search: tuple):
        self.container_id, self.netns, self.if_name = container_id, netns, if_name
        self.args, self.search = args, tuple(search)


def _plugin_input(config: NetConfig, plugin: dict, prev: dict | None,
                  runtime: dict | None) -> bytes:
    if not config.is_list and prev is None and not runtime:
        return config.raw  # a single .conf goes to its plugin byte for byte, as rkt did
    data = dict(plugin)
    data["name"], data["cniVersion"] = config.name, config.version
    if prev is not None:
        data["prevResult"] = prev
    wanted = {k: v for k, v in (runtime or {}).items() if (plugin.get("capabilities") or {}).get(k)}
    if wanted:
        data["runtimeConfig"] = wanted
    return dump_json(data).encode()


def exec_plugin(command: str, config: NetConfig, plugin: dict, at: Attachment, *,
                prev: dict | None = None, runtime: dict | None = None) -> dict | None:
    """Run one plugin; its parsed result (ADD) or None; NetError with the plugin's message.
    Its stderr goes to ours, as rkt."""
    path = find_plugin(plugin["type"], list(at.search))
    env = {"CNI_COMMAND": command, "CNI_CONTAINERID": at.container_id, "CNI_NETNS": at.netns,
           "CNI_IFNAME": at.if_name, "CNI_ARGS": at.args, "CNI_PATH": ":".join(at.search),
           "PATH": PLUGIN_ENV_PATH}
    try:
        code, out = proc.run([path], stdin=_plugin_input(config, plugin, prev, runtime), env=env)
    except OSError as err:
        raise NetError(f"cannot run plugin {path}: {err.strerror}") from None
    if code != 0:
        raise NetError(f"plugin {plugin['type']} {command} failed: {_error_message(code, out)}")
    if command != "ADD":
        return None
    try:
        result = parse_json(out)
    except ValueError:
        raise NetError(f"plugin {plugin['type']} printed an invalid result: {out[:200]!r}") from None
    if not isinstance(result, dict):
        raise NetError(f"plugin {plugin['type']} printed a result that is not an object")
    return result


def _error_message(code: int, out: bytes) -> str:
    try:
        err = parse_json(out)
        message = err.get("msg") or f"error code {err.get('code')}"
        return message + (f"; {err['details']}" if err.get("details") else "")
    except (ValueError, AttributeError):
        text = out.decode(errors="replace").strip().splitlines()
        return text[-1] if text else f"exit status {code}"


def add(config: NetConfig, at: Attachment, *, runtime: dict | None = None) -> dict:
    """ADD through the chain, each plugin seeing the previous one's result; the last result."""
    result = None
    for plugin in config.plugins:
        result = exec_plugin("ADD", config, plugin, at, prev=result, runtime=runtime)
    return result or {}


def delete(config: NetConfig, at: Attachment, result: dict | None, *,
           runtime: dict | None = None) -> list[str]:
    """DEL through the chain in reverse; every plugin is tried, the failures are returned."""
    prev = result if version_tuple(config.version) >= (0, 4, 0) and result else None
    failures = []
    for plugin in reversed(config.plugins):
        try:
            exec_plugin("DEL", config, plugin, at, prev=prev, runtime=runtime)
        except NetError as err:
            failures.append(str(err))
    return failures


def check(config: NetConfig, at: Attachment, result: dict, *, runtime: dict | None = None) -> None:
    """CHECK (CNI >= 0.4.0): NetError when a plugin finds the attachment broken."""
    for plugin in config.plugins:
        exec_plugin("CHECK", config, plugin, at, prev=result, runtime=runtime)


class Summary:
    """What rkt keeps of a result: the pod's IPv4 address and mask, the host side, the DNS."""

    __slots__ = ("ip", "mask", "gateway", "host_if", "dns")

    def __init__(self, ip: str = "", mask: str = "", gateway: str = "", host_if: str = "",
                 dns: dict | None = None):
        self.ip, self.mask, self.gateway, self.host_if = ip, mask, gateway, host_if
        self.dns = dns or {}


def _mask(prefix: int) -> str:
    bits = (0xFFFFFFFF << (32 - prefix)) & 0xFFFFFFFF
    return ".".join(str((bits >> s) & 0xFF) for s in (24, 16, 8, 0))


def summarize(result: dict) -> Summary:
    """Both result formats: 0.1/0.2 (`ip4`) and 0.3+ (`interfaces`, `ips`)."""
    address, gateway = "", ""
    if isinstance(result.get("ip4"), dict):
        address, gateway = result["ip4"].get("ip", ""), result["ip4"].get("gateway", "")
    for ip in result.get("ips") or ():
        if isinstance(ip, dict) and "." in ip.get("address", ""):
            address, gateway = ip["address"], ip.get("gateway", "")
            break
    host_if = ""
    for iface in result.get("interfaces") or ():
        if isinstance(iface, dict) and not iface.get("sandbox") and iface.get("name"):
            host_if = iface["name"]
            break
    ip, _, prefix = address.partition("/")
    mask = _mask(int(prefix)) if prefix.isdigit() and int(prefix) <= 32 else ""
    dns = result.get("dns") if isinstance(result.get("dns"), dict) else {}
    return Summary(ip, mask, gateway or "", host_if, dns)
