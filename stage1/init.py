"""The `coreos.com/rkt/stage1/run` entrypoint: turn the pod directory into a running pod.

stage0 execs us with cwd = the pod dir and the pod lock in RKT_LOCK_FD. We create the pod's
namespaces (mount, uts, ipc and net here; pid for our child), fork the supervisor as the pod's
PID 1, write its host pid to `pid` once every app is set up, and wait: `rkt run` ends with the
pod's exit code. While the pod runs this process only waits and forwards signals.
"""

from __future__ import annotations

import os
# the C module behind `signal`: same calls, without importing enum (~5 ms) into the process
# that waits for the whole pod
import _signal as signal
import gc
import sys

from stage1 import kernel
from stage1.podinfo import valid_uuid
from stage1.files import phase, read_all, say, write_atomic

MDS_PORT = 18112
# written in the pod dir when the pod ended with nothing left for the gc entrypoint to undo
CLEANED_UP = "stage1-cleaned-up"
_BOOL_FLAGS = {"--debug": "debug", "--interactive": "interactive",
               "--disable-capabilities-restriction": "disable_caps",
               "--disable-paths": "disable_paths", "--disable-seccomp": "disable_seccomp",
               "--mutable": "mutable"}
_VALUE_FLAGS = {"--net": "net", "--hostname": "hostname", "--dns-conf-mode": "dns_conf_mode",
                "--mds-token": "mds_token", "--ipc": "ipc", "--local-config": "local_config",
                "--private-users": "private_users"}


class Stage1Error(Exception):
    """A failure of stage1 itself: `stage1: <message>` and exit 254."""


class Options:
    def __init__(self):
        self.debug = self.interactive = self.mutable = False
        self.disable_caps = self.disable_paths = self.disable_seccomp = False
        self.net = "default"
        self.hostname = self.mds_token = self.local_config = self.private_users = ""
        self.dns_conf_mode = ""
        self.ipc = "auto"
        self.uuid = ""
        self.uid_range: tuple[int, int] | None = None  # --private-users (stage1.userns)
        self.mds_host = "127.0.0.1"  # where apps reach the metadata service: set by networking
        self.net_attached: int | None = None  # the network keeper's report (stage1.net.setup)
        self.listen_fds: list[tuple[int, str]] = []  # socket activation (stage1.sockets)
        self.notify_fd: int | None = None  # packets for the host's NOTIFY_SOCKET (stage1.notify)
        self.watchdog_usec = ""  # the unit's WatchdogSec=, for the apps that speak sd_notify


def parse_args(argv: list[str]) -> Options:
    opts = Options()
    positional = []
    for arg in argv:
        if not arg.startswith("--"):
            positional.append(arg)
            continue
        name, has_value, value = arg.partition("=")
        if name in _BOOL_FLAGS:
            if has_value and value not in ("true", "false"):
                raise Stage1Error(f"invalid value {value!r} for flag {name}")
            setattr(opts, _BOOL_FLAGS[name], value != "false")
        elif name in _VALUE_FLAGS:
            if name == "--net" and not has_value:
                value = "default"
            setattr(opts, _VALUE_FLAGS[name], value)
        else:
            raise Stage1Error(f"unknown flag {name}")
    if len(positional) != 1:
        raise Stage1Error("expected exactly one argument: the pod UUID")
    opts.uuid = positional[0]
    if not valid_uuid(opts.uuid):
        raise Stage1Error(f"invalid pod UUID {opts.uuid!r}")
    if len(opts.hostname.encode()) > 64 or any(c in opts.hostname for c in "/\0\n "):
        raise Stage1Error(f"invalid --hostname {opts.hostname!r}")
    opts.ipc = opts.ipc or "auto"  # rkt's stage0 passes --ipc= when the user gave none
    if opts.ipc not in ("auto", "private", "parent"):
        raise Stage1Error(f"invalid --ipc value {opts.ipc!r}: must be auto, private or parent")
    if opts.private_users:
        from stage1 import userns
        try:
            opts.uid_range = userns.parse_range(opts.private_users)
        except userns.UserNSError as err:
            raise Stage1Error(str(err)) from None
    return opts


def parse_dns_conf_mode(value: str) -> dict:
    """`resolv=host,hosts=stage0` -> {"resolv": "host", "hosts": "stage0"}."""
    modes = {"resolv": "default", "hosts": "default"}
    for item in filter(None, value.split(",")):
        key, _, mode = item.partition("=")
        allowed = {"resolv": ("host", "stage0", "none", "default"),
                   "hosts": ("host", "stage0", "default")}.get(key)
        if allowed is None or mode not in allowed:
            raise Stage1Error(f"invalid --dns-conf-mode entry {item!r}")
        modes[key] = mode
    return modes


def network_namespace(net: str) -> bool:
    """Whether the pod gets its own network namespace: every `--net` but `host`."""
    return [n.split(":", 1)[0] for n in net.split(",") if n] != ["host"]


def metadata_url(token: str, host: str = "127.0.0.1") -> str:
    """AC_METADATA_URL for an app; `host` is where the pod reaches the metadata service."""
    return f"http://{host}:{MDS_PORT}/{token}"


def _lock_fd() -> int | None:
    raw = os.environ.get("RKT_LOCK_FD")
    if not raw:
        return None
    try:
        fd = int(raw)
        # the supervisor (forked, not exec'd) keeps the lock; apps (exec'd) must not inherit it
        os.set_inheritable(fd, False)
    except (ValueError, OSError):
        raise Stage1Error(f"RKT_LOCK_FD={raw!r} is not an open file descriptor") from None
    return fd


def _remove_cgroups(uuid: str, dirs: list[str]) -> bool:
    """Remove the cgroup dirs the supervisor reported; what stays busy or unreported gets the
    full cleanup (kill what is left, then remove), as gc would. False if some could not be."""
    from stage1.cgroups import tree
    dirs = [d for d in dirs if d.startswith(tree.CGROUP_ROOT + "/")]
    try:
        try:
            removed = bool(dirs) and tree.remove(dirs, timeout=0)
        except OSError:
            removed = False
        if not removed:
            from stage1 import security
            security.cleanup_cgroups(uuid, tree.recorded_parent())
    except (OSError, ValueError) as err:
        say(f"cannot remove the pod's cgroups: {getattr(err, 'strerror', None) or err}")
        return False
    return True


def _setup_network(opts: Options):
    """Start attaching the pod's networks (stage1.net's keeper does it while the pod starts;
    PID 1 waits for it in `_wait_network`) and move into the pod's namespace so that the
    supervisor starts there; the setup.PodNetwork."""
    from stage1.net import portfwd, setup

    try:
        forwards = portfwd.forwards(*_ports_source())
        if opts.listen_fds:
            # a host port systemd passed a socket for is served by that socket (socket
            # activation), not forwarded into the pod
            from stage1 import sockets
            taken = sockets.listening(opts.listen_fds)
            forwards = [f for f in forwards if (f.protocol, f.host_port) not in taken]
        pod = setup.setup(uuid=opts.uuid, pod_dir=os.getcwd(), net=opts.net,
                          local_config=opts.local_config,
                          resolv_mode=parse_dns_conf_mode(opts.dns_conf_mode)["resolv"],
                          forwards=forwards, check=opts.debug)
    except (setup.NetSetupError, portfwd.PortError) as err:
        raise Stage1Error(f"failed to setup network: {err}") from None
    except OSError as err:
        raise Stage1Error(f"failed to setup network: {err.strerror or err}") from None
    opts.net_attached = pod.attached
    try:
        pod.netns.enter_pod()
    except OSError as err:
        pod.release()
        raise Stage1Error(f"cannot enter the pod's network namespace: {err.strerror}") from None
    pod.netns.close()
    return pod


def _wait_network(opts: Options) -> None:
    """In PID 1, before anything uses the network: wait until the keeper attached it."""
    if opts.net_attached is None:
        return
    from stage1.net import setup

    try:
        opts.mds_host = setup.wait_attached(opts.net_attached) or opts.mds_host
    except setup.NetSetupError as err:
        raise Stage1Error(f"failed to setup network: {err}") from None


def _ports_source() -> tuple[dict, dict]:
    """The pod manifest and its apps' image manifests' `app`s, for the published ports."""
    from stage1.podinfo import PodError, read_json

    # read as PID 1's podinfo.load reads them, with the same errors
    try:
        pod = read_json("pod", "pod manifest")
        images = {}
        if pod.get("ports"):
            for entry in pod.get("apps") or ():
                if isinstance(entry, dict) and not entry.get("app"):
                    name = entry.get("name")
                    image = read_json(f"appsinfo/{name}/manifest", f"image manifest of app {name!r}")
                    images[name] = image.get("app") or {}
    except PodError as err:
        raise Stage1Error(str(err)) from None
    return pod, images


def _started(pid: int, ready_r: int) -> bytes:
    """The ready pipe's first byte; `pid` written when it says the apps run."""
    first = os.read(ready_r, 1)
    phase("app")
    if first == b"r":
        write_atomic("pid", str(pid))
    return first


def _wait_started(pid: int, ready_r: int, notify_r: int, host_sock) -> bytes:
    """`_started`, meanwhile passing the relay's messages (stage1.relay, in the supervisor)
    to the host's NOTIFY_SOCKET (we are the unit's main pid) until the supervisor closes their
    pipe; the ready pipe's first byte."""
    import select
    from stage1 import notify

    first = None
    poller = select.poll()
    poller.register(ready_r, select.POLLIN)
    poller.register(notify_r, select.POLLIN)
    notifying = True
    while first is None or notifying:
        try:
            events = dict(poller.poll())
        except InterruptedError:
            continue
        if first is None and ready_r in events:  # pid before READY=1 reaches systemd
            first = _started(pid, ready_r)
            poller.unregister(ready_r)
        if notify_r in events and not notify.forward(notify_r, host_sock):
            poller.unregister(notify_r)
            notifying = False
    os.close(notify_r)
    host_sock.close()
    return first


def run(argv: list[str]) -> int:
    """The waiting parent: namespaces, fork PID 1, wait. It imports as little as it can, since
    it stays alive for the whole pod (the supervisor loads the pod)."""
    phase("stage1")
    opts = parse_args(argv)
    parse_dns_conf_mode(opts.dns_conf_mode)
    _lock_fd()
    new_net = network_namespace(opts.net)
    from stage1.cgroups import tree  # imports nothing: cheap for this long-lived process
    try:
        tree.join_service()
    except OSError as err:
        raise Stage1Error(f"cannot join the service's cgroup: {err.strerror}") from None
    if "LISTEN_FDS" in os.environ:
        from stage1 import sockets
        opts.listen_fds = sockets.inherited(os.environ)
    host_notify = notify_r = None
    if os.environ.get("NOTIFY_SOCKET"):
        from stage1 import notify
        host_notify = notify.connect_host(os.environ.pop("NOTIFY_SOCKET"))
        if os.environ.get("WATCHDOG_PID", str(os.getpid())) == str(os.getpid()):
            opts.watchdog_usec = os.environ.get("WATCHDOG_USEC", "")
    flags = kernel.CLONE_NEWUTS
    if opts.ipc != "parent":
        flags |= kernel.CLONE_NEWIPC
    k = kernel.current()
    kernel.set_title("stage1", "run", opts.uuid)
    try:
        k.private_mount_namespace(also=flags)
        k.sethostname(opts.hostname or f"rkt-{opts.uuid}")
    except OSError as err:
        raise Stage1Error(f"cannot create the pod's namespaces: {err.strerror}") from None
    network = _setup_network(opts) if new_net else None  # a setup.PodNetwork
    try:
        k.unshare(kernel.CLONE_NEWPID)
    except OSError as err:
        if network is not None:
            network.release()
        raise Stage1Error(f"cannot create the pod's namespaces: {err.strerror}") from None

    if host_notify is not None:
        # packet mode: each write of the relay is one message, read whole (made after the
        # network's keeper forked: only the supervisor may hold the write end)
        notify_r, opts.notify_fd = os.pipe2(os.O_DIRECT | os.O_CLOEXEC)
    ready_r, ready_w = os.pipe()
    # no signal may kill us between the fork and our handlers: the pod would run on unowned
    forwarded = {signal.SIGTERM, signal.SIGINT, signal.SIGHUP}
    signal.pthread_sigmask(signal.SIG_BLOCK, forwarded)
    # PID 1 shares our pages until either writes one: its garbage collections must not visit
    # (and so copy) every object we made; measured 0.45 MiB less per pod
    gc.freeze()
    pid = os.fork()
    if pid == 0:
        os.close(ready_r)
        if host_notify is not None:
            host_notify.close()
            os.close(notify_r)
        os._exit(pod_main(opts, ready_w, forwarded))

    os.close(ready_w)
    if network is not None:
        os.close(network.keeper[1])  # the supervisor's copy keeps the pod's network until it ends
        os.close(network.attached)  # the supervisor waits for the attaching
    for fd, _name in opts.listen_fds:
        os.close(fd)  # the pod has them
    forward = lambda signum, _frame: os.kill(pid, signum)  # noqa: E731
    for sig in forwarded:
        signal.signal(sig, forward)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, forwarded)
    if host_notify is None:
        first = _started(pid, ready_r)
    else:
        os.close(opts.notify_fd)
        first = _wait_started(pid, ready_r, notify_r, host_notify)
    _, status = os.waitpid(pid, 0)
    phase("exit")
    rest = read_all(ready_r)  # every pod process is gone: EOF comes at once
    os.close(ready_r)
    cleaned = _remove_cgroups(opts.uuid, (first + rest).decode(errors="replace").split("\0")[1:])
    if opts.mds_token:
        from stage1 import mds
        mds.unregister(opts.uuid)
    # the keeper's teardown ran while we removed the cgroups
    torn_down = network.release(closed=True) if network is not None else True
    if cleaned and torn_down:
        # nothing of the pod is left outside its dir: stage0's gc may skip our gc entrypoint
        # (one interpreter start per pod, most of `rkt gc`'s time with many pods)
        write_atomic(CLEANED_UP, "")
    if opts.interactive and os.isatty(0):
        signal.signal(signal.SIGTTOU, signal.SIG_IGN)
        try:
            os.tcsetpgrp(0, os.getpgrp())
        except OSError:
            pass
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def _stop_with_parent(ready_fd: int) -> bool:
    """The pod ends with `rkt run`, as rkt's did (nspawn's container init had PDEATHSIG=SIGKILL;
    fly execs the app itself): when the waiting parent dies, even by SIGKILL, the kernel sends
    us SIGTERM and the pod stops as on `rkt stop` (apps TERMed, KILLed after the grace period,
    post-stop handlers, exit codes recorded). False when the parent is already gone (an error
    on our end of its pipe): the caller stops the pod at once."""
    import select
    try:
        kernel.current().prctl(kernel.PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        return True
    poller = select.poll()
    poller.register(ready_fd, select.POLLOUT)
    return not any(event & select.POLLERR for _fd, event in poller.poll(0))


def _start_pod_cgroups(uuid: str, pod_dir: str) -> None:
    """Make the pod's cgroups first and start moving PID 1 in, for the supervisor to find
    (security.start_pod_cgroups): the move waits out a grace period while the pod loads. What
    fails here the supervisor does again, and reports."""
    from stage1 import security
    from stage1.cgroups import tree
    try:
        # under a systemd service the pod stays in the unit's cgroup (run() recorded it)
        security.start_pod_cgroups(uuid, tree.recorded_parent(pod_dir))
    except (OSError, ValueError):
        pass


def pod_main(opts: Options, ready_fd: int, blocked: set = frozenset()) -> int:
    """PID 1 of the pod: load the pod and hand over to the supervisor."""
    code = 254
    # as a pid namespace's init we would silently ignore signals that have no handler: note
    # them from the first instant and hand them to the supervisor
    pending: list[int] = []
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda signum, _frame: pending.append(signum))
    if not _stop_with_parent(ready_fd):
        pending.append(signal.SIGTERM)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, blocked)
    kernel.set_title("stage1", "init", opts.uuid)
    try:
        os.setpgid(0, 0)
        pod_dir = os.getcwd()
        _start_pod_cgroups(opts.uuid, pod_dir)
        from stage1 import podinfo
        from stage1 import app as _app
        from stage1.supervisor import Supervisor

        try:
            pod = podinfo.load(pod_dir)
        except podinfo.PodError as err:
            raise Stage1Error(str(err)) from None
        if opts.interactive and len(pod.apps) != 1:
            raise Stage1Error("interactive mode only works with pods of exactly one app")
        _wait_network(opts)
        ctx = _app.PodContext(
            uuid=opts.uuid, pod_dir=pod_dir, hostname=opts.hostname or f"rkt-{opts.uuid}",
            dns_mode=parse_dns_conf_mode(opts.dns_conf_mode), interactive=opts.interactive,
            console=os.ttyname(0) if os.isatty(0) else "/dev/null",
            disable_caps=opts.disable_caps, disable_paths=opts.disable_paths,
            disable_seccomp=opts.disable_seccomp,
            mds_url=metadata_url(opts.mds_token, opts.mds_host) if opts.mds_token else None, debug=opts.debug,
            uid_range=opts.uid_range)
        from stage1.logs import max_bytes
        code = Supervisor(pod, ctx, listen_fds=opts.listen_fds, notify_fd=opts.notify_fd,
                          log_limit=max_bytes(os.environ.get("RKT_LOG_MAX_SIZE")),
                          watchdog_usec=opts.watchdog_usec).run(ready_fd, pending)
    except Stage1Error as err:
        say(str(err))
    except BaseException as err:  # noqa: BLE001 - PID 1 must report, never raise
        say(f"supervisor: {type(err).__name__}: {err}")
        if opts.debug:
            import traceback
            traceback.print_exc()
    return code


def main() -> None:
    try:
        code = run(sys.argv[1:])
    except Stage1Error as err:
        say(str(err))
        code = 254
    except KeyboardInterrupt:
        code = 130
    sys.stdout.flush()
    # the rest of `rkt run` is the kernel's: our exit ends the pod's mount namespace, and with
    # it the apps' overlays, whose unmount syncs the upper filesystem (docs/design.md)
    phase("done")
    os._exit(code)
