"""Attaching a pod to its networks and detaching it, idempotently (rkt's networking.Setup/Teardown).

`--net` names the networks: user CNI configs from `<local-config>/net.d` (lexical order), and
the built-in `default` (ptp, 172.16.28.0/24, default route, masquerade) or, when `default` is
not asked for, `default-restricted` (172.31.0.0/16, no route) so that every pod reaches the
metadata service. Every step is recorded in `net/attachments.json` before it is taken, so that
a teardown (the keeper's at the pod's end, or gc's after a crash) can undo exactly that.
"""

from __future__ import annotations

import os

from stage1.files import dump_json, parse_json, phase, read_all, write_atomic
from stage1.net import cni, portfwd
# attaching and detaching happen in the keeper, after its fork: their modules (ptp, link, ipam,
# dns) are imported there, not on the waiting parent's way to PID 1
from stage1.net.netns import NetNS, create as create_netns

DEFAULT_SUBNET = "172.16.28.0/24"
RESTRICTED_SUBNET = "172.31.0.0/16"
BUILTIN_FILES = {"default": "99-default.conf", "default-restricted": "99-default-restricted.conf"}
RECORDS = "net/attachments.json"
TABLE_MARK = "net/nft-table"  # the pod's nftables table may exist (written before it is made)
NET_INFO = "net-info.json"
MDS_PORT = 18112


class NetSetupError(Exception):
    pass


def parse_net_flag(value: str) -> list[tuple[str, str]]:
    """`--net=a,b:K=V;K2=V2` -> [("a", ""), ("b", "K=V;K2=V2")]; empty means default."""
    found = []
    for item in filter(None, (value or "default").split(",")):
        name, _, args = item.partition(":")
        found.append((name.strip(), args))
    return found or [("default", "")]


def contained(value: str) -> bool:
    """Whether `--net` gives the pod its own network namespace (all but `host`)."""
    return [n for n, _ in parse_net_flag(value)] != ["host"]


def data_dir(pod_dir: str) -> str:
    """rkt's data dir, `<dir>` of `<dir>/pods/<state>/<uuid>`, where built-in leases live."""
    real = os.path.realpath(pod_dir)
    parent = os.path.dirname(os.path.dirname(real))
    if os.path.basename(parent) == "pods":
        return os.path.dirname(parent)
    return "/var/lib/rkt"


def builtin_config(name: str, leases: str) -> dict:
    restricted = name == "default-restricted"
    ipam = {"type": "host-local", "subnet": RESTRICTED_SUBNET if restricted else DEFAULT_SUBNET,
            "dataDir": leases}
    if not restricted:
        ipam["routes"] = [{"dst": "0.0.0.0/0"}]
    # masquerade is ours (one nftables table per pod), so the plugin must not add iptables rules
    return {"cniVersion": "0.4.0", "name": name, "type": "ptp", "ipMasq": False, "ipam": ipam}


def select(requested: list[tuple[str, str]], local_config: str, pod_dir: str) -> list[cni.NetConfig]:
    """The networks to attach, in file-name order (rkt's): the requested user networks and,
    unless one of them is named so, the built-in `default` or `default-restricted`."""
    names = {n for n, _ in requested}
    if names == {"none"}:
        return []
    user = cni.load_dir(os.path.join(local_config, "net.d")) if local_config else []
    chosen = [c for c in user if "all" in names or c.name in names]
    have = {c.name for c in chosen}
    if not have & {"default", "default-restricted"}:
        builtin = "default" if names & {"default", "all"} else "default-restricted"
        leases = os.path.join(data_dir(pod_dir), "networks")
        raw = dump_json(builtin_config(builtin, leases)).encode()
        chosen.append(cni.parse(raw, os.path.join(pod_dir, "net", BUILTIN_FILES[builtin])))
        have.add(builtin)
        # rkt orders all of them by file name: 99-default*.conf among the user's files
        chosen.sort(key=lambda c: os.path.basename(c.path))
    missing = sorted(names - have - {"all"})
    if len(missing) == 1:
        raise NetSetupError(f'network "{missing[0]}" not found')
    if missing:
        raise NetSetupError(f"networks not found: {', '.join(missing)}")
    return chosen


def _builtin(config: cni.NetConfig, pod_dir: str) -> bool:
    """A built-in network: its config was generated into the pod's `net/`, not read from net.d."""
    return os.path.dirname(config.path) == os.path.join(pod_dir, "net")


def _masquerades(config: cni.NetConfig, pod_dir: str) -> bool:
    if _builtin(config, pod_dir):
        return config.name == "default"
    return any(p.get("ipMasq") for p in config.plugins)


def _forwardable(configs: list[cni.NetConfig], pod_dir: str) -> int:
    """rkt's forwardable network: the first masqueraded one, else the last."""
    for i, config in enumerate(configs):
        if _masquerades(config, pod_dir):
            return i
    return len(configs) - 1


class PodNetwork:
    """The pod's namespace, its keeper (pid, write end of its pipe), what was attached, and
    the read end of the pipe on which the keeper reports the attaching (`wait_attached`)."""

    __slots__ = ("netns", "keeper", "records", "attached")

    def __init__(self, netns: NetNS, keeper: tuple[int, int], records: list[dict], attached: int = -1):
        self.netns, self.keeper, self.records, self.attached = netns, keeper, records, attached

    @property
    def netns_path(self) -> str:
        """The keeper's path to the namespace: the same for ADD, CHECK and DEL (CHECK compares
        it with the sandbox the ADD result names)."""
        return f"/proc/{self.keeper[0]}/fd/{self.netns.pod_fd}"

    def release(self, *, closed: bool = False) -> bool:
        """Let the keeper tear the network down (once nobody else holds its pipe) and wait;
        whether everything was undone (the keeper exited 0)."""
        pid, write_end = self.keeper
        if not closed:
            os.close(write_end)
        while True:
            try:
                return os.waitpid(pid, 0)[1] == 0
            except InterruptedError:
                continue
            except ChildProcessError:
                return False


def _save(pod_dir: str, records: list[dict]) -> None:
    write_atomic(os.path.join(pod_dir, RECORDS), dump_json(records))


def _load_records(pod_dir: str) -> list[dict]:
    try:
        with open(os.path.join(pod_dir, RECORDS), "rb") as f:
            records = parse_json(f.read())
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as err:
        raise NetSetupError(f"cannot read {RECORDS}: {err}") from None
    return records if isinstance(records, list) else []


def _net_info(records: list[dict]) -> list[dict]:
    """rkt's net-info.json: what `rkt list` and `rkt status` show."""
    info = []
    for rec in records:
        summary = cni.summarize(rec.get("result") or {})
        info.append({"netName": rec["netName"], "netConf": rec["netConf"],
                     "pluginPath": rec.get("pluginPath", ""), "ifName": rec["ifName"],
                     "ip": summary.ip, "args": rec.get("args", ""), "mask": summary.mask})
    return info


def setup(*, uuid: str, pod_dir: str, net: str, local_config: str, resolv_mode: str,
          forwards: list[portfwd.Forward], check: bool = False) -> PodNetwork:
    """Create the pod's netns and fork its keeper, which attaches the networks while the pod
    starts (its PID 1 waits for that with `wait_attached` before anything uses them) and owns
    every teardown. The caller stays in the host's namespace; a failure of the attaching is
    reported to PID 1, and the keeper undoes whatever was done once the pod is gone."""
    phase("net")
    requested = parse_net_flag(net)
    configs = select(requested, local_config, pod_dir)
    args = dict(requested)
    search = [os.path.join(local_config, "net.d")] if local_config else []
    search += list(cni.PLUGIN_DIRS) + [os.path.join(pod_dir, "stage1/rootfs/usr/lib/rkt/plugins/net")]
    if forwards and not configs:
        raise NetSetupError("--port needs a network: none is attached with --net=none")
    try:
        netns = create_netns()
    except OSError as err:
        raise NetSetupError(f"cannot create the pod's network namespace: {err.strerror}") from None
    from stage1.net import keeper

    attached_r, attached_w = os.pipe()

    def attach() -> None:  # in the keeper, while the parent goes on to start the pod
        os.close(attached_r)
        pod = PodNetwork(netns, (os.getpid(), -1), [])
        try:
            report = "ok " + _attach(pod, uuid, pod_dir, configs, args, search, forwards, resolv_mode)
        except NetSetupError as err:
            report = f"err {err}"
        except OSError as err:
            report = f"err {err.strerror or err}"
        except Exception as err:  # noqa: BLE001 - reported to PID 1; the keeper must go on to undo it
            report = f"err {type(err).__name__}: {err}"
        phase("net-up")
        os.write(attached_w, report.encode())
        os.close(attached_w)

    pid, write_end = keeper.start(netns, uuid, pod_dir, check=check, first=attach)
    os.close(attached_w)
    return PodNetwork(netns, (pid, write_end), [], attached_r)


def wait_attached(fd: int) -> str:
    """Wait for the keeper's report on the attaching (read end `fd`, closed here): where apps
    reach the metadata service (the main network's gateway; "" for none). NetSetupError with
    what failed."""
    try:
        text = read_all(fd).decode(errors="replace")
    finally:
        os.close(fd)
    if text.startswith("ok "):
        return text[3:]
    if text.startswith("err "):
        raise NetSetupError(text[4:])
    raise NetSetupError("the network's keeper ended before attaching it")


def _attach(pod: PodNetwork, uuid: str, pod_dir: str, configs: list[cni.NetConfig],
            args: dict, search: list[str], forwards: list, resolv_mode: str) -> str:
    """Attach the networks; where apps reach the metadata service."""
    os.makedirs(os.path.join(pod_dir, "net"), exist_ok=True)
    if not configs:
        return ""
    main = _forwardable(configs, pod_dir)
    plugin_ports = forwards and configs[main].capability("portMappings")
    runtime_ports = {"portMappings": [
        {"hostPort": f.host_port, "containerPort": f.pod_port, "protocol": f.protocol,
         **({"hostIP": f.host_ip} if f.host_ip else {})} for f in forwards]} if plugin_ports else None
    own_masquerade = _builtin(configs[main], pod_dir) and configs[main].name == "default"
    masquerade_from = DEFAULT_SUBNET if own_masquerade else ""
    own_forwards = () if plugin_ports else tuple(forwards)
    if masquerade_from or own_forwards:
        write_atomic(os.path.join(pod_dir, TABLE_MARK), "")  # before the table: teardown removes it
    if masquerade_from:  # by subnet: it needs no address of the pod's
        _table(portfwd.masquerade, uuid, masquerade_from)
    summaries = [_add(pod, uuid, pod_dir, index, config, args, search,
                      runtime_ports if index == main else None)
                 for index, config in enumerate(configs)]
    chosen = summaries[main]
    mds_host = chosen.gateway or next((s.gateway for s in summaries if s.gateway), "")
    if own_forwards:
        if not chosen.ip:
            raise NetSetupError(f'network "{configs[main].name}" gave the pod no IPv4 address '
                                "to forward ports to")
        _table(portfwd.route_localnet, chosen.host_if)
        _table(portfwd.install, uuid, chosen.ip, own_forwards)
    from stage1.net import dns
    dns.write_from_cni(pod_dir, resolv_mode,
                       [(c.name, s.dns) for c, s in zip(configs, summaries)])
    with open(os.path.join(pod_dir, NET_INFO), "w") as f:
        f.write(dump_json(_net_info(pod.records)))
    return mds_host


def _add(pod: PodNetwork, uuid: str, pod_dir: str, index: int, config: cni.NetConfig,
         args: dict, search: list[str], runtime_ports: dict | None) -> cni.Summary:
    """Record network `config` as the pod's `eth<index>`, ADD it, record its result."""
    copy = os.path.join("net", os.path.basename(config.path))
    with open(os.path.join(pod_dir, copy), "wb") as f:
        f.write(config.raw)
    rec = {"netName": config.name, "netConf": copy, "ifName": f"eth{index}",
           "args": args.get(config.name, ""), "search": search,
           "pluginPath": _plugin_path(config, search), "result": None}
    builtin = _builtin(config, pod_dir)
    if builtin:
        rec["builtin"] = True  # attached and detached by stage1.net.ptp, not by running plugins
    if runtime_ports:
        rec["runtimeConfig"] = runtime_ports
    pod.records.append(rec)
    _save(pod_dir, pod.records)  # before ADD: a crash mid-ADD still leaves gc the DEL to run
    at = cni.Attachment(uuid, pod.netns_path, rec["ifName"], rec["args"], tuple(search))
    from stage1.net import ptp
    try:
        rec["result"] = ptp.add(config, at) if builtin else cni.add(config, at, runtime=runtime_ports)
    except (cni.NetError, ptp.PtpError) as err:
        raise NetSetupError(f'network "{config.name}": {err}') from None
    _save(pod_dir, pod.records)
    return cni.summarize(rec["result"])


def _table(step, *args) -> None:
    """One step of the pod's table (portfwd), its PortError as ours."""
    try:
        step(*args)
    except portfwd.PortError as err:
        raise NetSetupError(str(err)) from None


def _plugin_path(config: cni.NetConfig, search: list[str]) -> str:
    try:
        return cni.find_plugin(config.plugins[0]["type"], search)
    except cni.NetError:
        return ""


def check(uuid: str, pod_dir: str, netns_path: str) -> list[str]:
    """CHECK every attached network that supports it; the problems found."""
    problems = []
    for rec in _load_records(pod_dir):
        try:
            config = cni.load(os.path.join(pod_dir, rec["netConf"]))
            if config.supports_check and rec.get("result"):
                at = cni.Attachment(uuid, netns_path, rec["ifName"], rec.get("args", ""),
                                    tuple(rec.get("search") or cni.PLUGIN_DIRS))
                cni.check(config, at, rec["result"], runtime=rec.get("runtimeConfig"))
        except cni.NetError as err:
            problems.append(f'network "{rec.get("netName")}": CHECK: {err}')
    return problems


def teardown(uuid: str, pod_dir: str, netns_path: str = "") -> list[str]:
    """Undo whatever setup recorded, newest first; safe to repeat. An empty `netns_path` means
    the namespace is gone (plugins then only release what lives outside it). Returns failures;
    the records of networks whose DEL failed stay for the next try."""
    failures = []
    removed = None
    table_mark = os.path.join(pod_dir, TABLE_MARK)
    if os.path.exists(table_mark):
        try:
            removed = portfwd.remove(uuid)  # its kernel's cleanup overlaps the networks' DEL
            _unlink(table_mark)
        except portfwd.PortError as err:
            failures.append(str(err))
    try:
        records = _load_records(pod_dir)
    except NetSetupError as err:
        records = None  # unreadable: kept as it is for a later look
        failures.append(str(err))
    remaining = []
    for rec in reversed(records or ()):
        conf_path = os.path.join(pod_dir, rec.get("netConf", ""))
        try:
            config = cni.load(conf_path)
        except cni.NetError as err:
            failures.append(str(err))
            continue
        at = cni.Attachment(uuid, netns_path, rec.get("ifName", ""), rec.get("args", ""),
                            tuple(rec.get("search") or cni.PLUGIN_DIRS))
        if rec.get("builtin"):
            from stage1.net import ptp
            errors = ptp.delete(config, at)
        else:
            errors = cni.delete(config, at, rec.get("result"), runtime=rec.get("runtimeConfig"))
        if errors:
            failures += [f'network "{config.name}": {e}' for e in errors]
            remaining.insert(0, rec)
            continue
        _unlink(conf_path)
    if removed is not None:
        removed.close()
    if records is None:
        return failures
    if records and not netns_path:
        failures += sweep_cni_iptables(uuid)
    if remaining:
        _save(pod_dir, remaining)
    else:
        _unlink(os.path.join(pod_dir, RECORDS))
    _unlink(os.path.join(pod_dir, NET_INFO))
    return failures


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def sweep_cni_iptables(container_id: str) -> list[str]:
    """Rules plugins tag with `id: "<container>"` (masquerade of ptp/bridge `ipMasq`), which
    their DEL leaves behind when the netns is already gone: delete them and their chains."""
    from stage1.net import iptables
    return iptables.remove_tagged(container_id)
