"""The `coreos.com/rkt/stage1/enter` entrypoint: `--pid=P --appname=A [--] CMD...`, cwd = the pod dir.

Runs CMD (default /bin/sh) inside a running app exactly as the app itself runs: the pod's pid,
uts, ipc and net namespaces (those of PID 1, P), the app's own mount namespace (its host pid is
in `stage1/rootfs/rkt/pids/<app>`), its cgroup, its environment (`stage1/rootfs/rkt/env/<app>`),
user, group, capabilities and seccomp filter. Never more privilege than the app has.
"""

from __future__ import annotations

import os
import signal
import sys

from stage1 import kernel, podinfo
from stage1.files import say


class EnterError(Exception):
    pass


def parse_args(argv: list[str]) -> tuple[int, str | None, list[str]]:
    pid, appname, cmd = None, None, []
    for i, arg in enumerate(argv):
        if arg == "--":
            cmd = argv[i + 1:]
            break
        if arg.startswith("--pid="):
            try:
                pid = int(arg[6:])
            except ValueError:
                raise EnterError(f"invalid --pid {arg[6:]!r}") from None
        elif arg.startswith("--appname="):
            appname = arg[10:]
        elif arg == "--debug":
            pass
        elif arg.startswith("-"):
            raise EnterError(f"unknown flag {arg}")
        else:
            cmd = argv[i:]
            break
    if pid is None or pid <= 0:
        raise EnterError("--pid is required")
    return pid, appname, cmd or ["/bin/sh"]


def _app_pid(app_name: str, pod_pid: int) -> int:
    base = "stage1/rootfs/rkt"
    if os.path.exists(f"{base}/status/{app_name}"):
        raise EnterError(f'app "{app_name}" is not running (it has exited)')
    try:
        with open(f"{base}/pids/{app_name}") as f:
            pid = int(f.read().strip())
        # guard against pid reuse: the app must live in the pod's pid namespace
        if os.stat(f"/proc/{pid}/ns/pid").st_ino != os.stat(f"/proc/{pod_pid}/ns/pid").st_ino:
            raise EnterError(f'app "{app_name}" is not running')
    except (OSError, ValueError):
        raise EnterError(f'app "{app_name}" is not running') from None
    return pid


def _read_env(app_name: str) -> dict:
    env = {}
    with open(f"stage1/rootfs/rkt/env/{app_name}") as f:
        for line in f.read().splitlines():
            name, sep, value = line.partition("=")
            if sep:
                env[name] = value
    return env


def run(argv: list[str]) -> int:
    pod_pid, app_name, cmd = parse_args(argv)
    try:
        pod = podinfo.load(".")
    except podinfo.PodError as err:
        raise EnterError(str(err)) from None
    apps = {a.name: a for a in pod.apps}
    if app_name is None:
        if len(apps) != 1:
            raise EnterError(f"the pod has {len(apps)} apps: choose one with --appname")
        app_name = next(iter(apps))
    app = apps.get(app_name)
    if app is None:
        raise EnterError(f'app "{app_name}" is not in the pod')
    app_pid = _app_pid(app_name, pod_pid)
    try:
        env = _read_env(app_name)
    except OSError as err:
        raise EnterError(f'app "{app_name}": cannot read its environment: {err.strerror}') from None

    try:
        with open("stage1/rootfs/rkt/insecure-options") as f:
            insecure = set(f.read().split())
    except OSError:
        insecure = set()
    no_caps, no_seccomp = "capabilities" in insecure, "seccomp" in insecure

    from stage1 import app as _app
    from stage1 import security, users
    from stage1.cgroups import pod as cgroups

    security.preload(seccomp_disabled=no_seccomp)
    try:
        security.check(app.isolators, caps_disabled=no_caps, seccomp_disabled=no_seccomp)
        fds = [(os.open(f"/proc/{pod_pid}/ns/{ns}", os.O_RDONLY), flag)
               for ns, flag in (("pid", kernel.CLONE_NEWPID), ("uts", kernel.CLONE_NEWUTS),
                                ("ipc", kernel.CLONE_NEWIPC), ("net", kernel.CLONE_NEWNET))]
        fds.append((os.open(f"/proc/{app_pid}/ns/mnt", os.O_RDONLY), kernel.CLONE_NEWNS))
        if os.stat(f"/proc/{app_pid}/ns/user").st_ino != os.stat("/proc/self/ns/user").st_ino:
            # --private-users: joined last (stage1.userns.join)
            fds.append((os.open(f"/proc/{app_pid}/ns/user", os.O_RDONLY), kernel.CLONE_NEWUSER))
        cgroups.manager().join(app_pid)
        for fd, flag in fds:
            kernel.current().setns(fd, flag)
            os.close(fd)
    except (OSError, ValueError) as err:
        raise EnterError(f'cannot enter app "{app_name}": {getattr(err, "strerror", None) or err}') from None

    pid = os.fork()
    if pid == 0:
        try:
            os.chdir(app.working_directory if os.path.isdir(app.working_directory) else "/")
            uid, gid = users.resolve_user(app.user), users.resolve_group(app.group)
            path = _app.find_executable(cmd[0], env)
            if path is None:
                raise EnterError(f'exec "{cmd[0]}": no such file')
            ident = _app.Identity(uid, gid, app.supplementary_gids, ".", path, env)
            # the app's own settings, as the run recorded them: enter grants nothing more
            ctx = _app.PodContext(uuid="", pod_dir="", hostname="", dns_mode={}, interactive=True,
                                  console="", disable_caps=no_caps, disable_paths=False,
                                  disable_seccomp=no_seccomp, mds_url=None, debug=False)
            _app.exec_as(cmd, path, ident, app.isolators, ctx, uid=uid, gid=gid,
                         sgids=app.supplementary_gids)
        except BaseException as err:  # noqa: BLE001 - the child must never return
            say(f"enter: {_app._describe(err)}")
        os._exit(254)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda signum, _f: os.kill(pid, signum))
    _, status = os.waitpid(pid, 0)
    return _app.exit_code(status)


def main() -> None:
    kernel.set_title("stage1", "enter", os.path.basename(os.getcwd()))  # cwd: the pod dir
    try:
        code = run(sys.argv[1:])
    except EnterError as err:
        say(str(err))
        code = 254
    os._exit(code)
