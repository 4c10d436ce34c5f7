"""One app's process, from the supervisor's fork to the exec of the app's own binary.

The child takes its own mount namespace (forked from the pod's), builds the app's filesystem,
pivots into it and checks user, group, working directory and exec. It then reports to the
supervisor ("ok <host pid>" or "err <message>") and waits for the go: the supervisor starts
no app until every app's setup succeeded. After the go: pre-start handlers (as root), then the
app's identity, capabilities, seccomp, and exec.
"""

from __future__ import annotations

import os
# the C module behind `signal`: the same calls without importing enum (~5 ms a pod start)
import _signal as signal

from stage1.files import say
from stage1 import kernel, mounts, podinfo, security, users


class AppError(Exception):
    """A problem starting one app; the message is one line (the app name is added by the caller)."""


class PodContext:
    """Pod-wide settings every app needs, fixed before the first app is forked."""

    def __init__(self, *, uuid, pod_dir, hostname, dns_mode, interactive, console,
                 disable_caps, disable_paths, disable_seccomp, mds_url, debug, uid_range=None):
        self.uuid, self.pod_dir, self.hostname, self.dns_mode = uuid, pod_dir, hostname, dns_mode
        self.interactive, self.console, self.debug = interactive, console, debug
        self.disable_caps, self.disable_paths = disable_caps, disable_paths
        self.disable_seccomp, self.mds_url = disable_seccomp, mds_url
        self.uid_range = uid_range  # (shift, count) with --private-users (stage1.userns)

    @property
    def uid_shift(self) -> int:
        return self.uid_range[0] if self.uid_range else 0

    @property
    def stage1_rootfs(self) -> str:
        return f"{self.pod_dir}/stage1/rootfs"

    def app_rootfs(self, name: str) -> str:
        return f"{self.stage1_rootfs}/opt/stage2/{name}/rootfs"

    def volume_source(self, volume) -> str:
        if volume.kind == "host":
            return volume.source
        return f"{self.pod_dir}/sharedVolumes/{volume.name}"


class Identity:
    """Who the app runs as and what it execs; `seccomp`: its filter, compiled during setup."""

    __slots__ = ("uid", "gid", "sgids", "cwd", "path", "env", "seccomp")

    def __init__(self, uid, gid, sgids, cwd, path, env, seccomp=None):
        self.uid, self.gid, self.sgids, self.cwd, self.path, self.env = uid, gid, sgids, cwd, path, env
        self.seccomp = seccomp


def find_executable(name: str, env: dict, cwd: str = "/") -> str | None:
    """execvp's search, done inside the rootfs (we have pivoted already); a relative path
    with a slash is taken from the app's working directory, where it will be exec'd."""
    if "/" in name:
        path = os.path.join(cwd, name)
        return path if os.path.isfile(path) else None
    for directory in env.get("PATH", podinfo.DEFAULT_PATH).split(":"):
        candidate = f"{directory or '.'}/{name}"
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def setup(app: podinfo.App, ctx: PodContext, env: dict) -> Identity:
    """Everything before the go, in the app's new mount namespace; raises AppError."""
    # import here, not in the long-lived supervisor: its memory stays small
    security.preload(ctx.disable_seccomp)
    if ctx.uid_range:  # --private-users only (imported here: pivot_root comes before its last use)
        from stage1 import userns
    try:
        security.check(app.isolators, caps_disabled=ctx.disable_caps,
                       seccomp_disabled=ctx.disable_seccomp)
    except ValueError as err:
        raise AppError(str(err)) from None
    # made now (before pivot_root hides the stage1 rootfs, where a compiled one may wait),
    # while the supervisor sets up cgroups: after the go only loading it is left
    prepared = security.prepare_seccomp(app.isolators, ctx.disable_seccomp, ctx.stage1_rootfs)
    kernel.current().private_mount_namespace()
    root = ctx.app_rootfs(app.name)
    if not os.path.isdir(root):
        raise AppError(f"rootfs {root} does not exist")
    try:
        mounts.bind_root(root)
        mounts.setup_etc(root, hostname=ctx.hostname, stage1_rootfs=ctx.stage1_rootfs,
                         dns_mode=ctx.dns_mode)
        if ctx.uid_range:
            userns.own([mounts.resolve_in_root(root, p, create=None)
                        for p in ("/etc/hostname", "/etc/hosts", "/etc/resolv.conf", "/etc/mtab")],
                       ctx.uid_shift)
        mounts.prepare_root(root, console=ctx.console)
        for mount in app.mounts:
            mounts.mount_volume(root, mount, ctx.volume_source(mount.volume))
        security.protect_paths(root, ctx.disable_paths)
        if app.read_only_rootfs:
            mounts.seal_root(root)
        mounts.pivot(root)
    except mounts.MountError as err:
        raise AppError(str(err)) from None
    try:
        uid = users.resolve_user(app.user)
        gid = users.resolve_group(app.group)
    except users.UserError as err:
        raise AppError(str(err)) from None
    if not os.path.isdir(app.working_directory):
        raise AppError(f'working directory "{app.working_directory}" does not exist')
    path = find_executable(app.exec[0], env, app.working_directory)
    if path is None:
        raise AppError(f'exec "{app.exec[0]}": no such file')
    if ctx.uid_range:  # last: every check above ran as real root; the supervisor maps it
        try:
            userns.unshare()
        except userns.UserNSError as err:
            raise AppError(str(err)) from None
    return Identity(uid, gid, app.supplementary_gids, app.working_directory, path, env, prepared)


def exec_as(argv: list[str], path: str, ident: Identity, isolators: list, ctx: PodContext,
            *, uid: int, gid: int, sgids: list[int]) -> None:
    """Take the identity, load seccomp last (`ident.seccomp`: the filter compiled in setup,
    else compiled now), exec. Never returns."""
    security.become(isolators, uid, gid, sgids, caps_disabled=ctx.disable_caps)
    security.load_seccomp(isolators, ctx.disable_seccomp, uid, ident.seccomp)
    os.execve(path, argv, ident.env)


def run_handler(app: podinfo.App, argv: list[str], ident: Identity, ctx: PodContext) -> int:
    """Run an event handler as root in the app's rootfs and environment; its exit code."""
    path = find_executable(argv[0], ident.env, ident.cwd)
    if path is None:
        say(f'app "{app.name}": handler exec "{argv[0]}": no such file')
        return 254
    pid = os.fork()
    if pid == 0:
        try:
            os.chdir(ident.cwd)
            _stdin_null(ctx)
            exec_as(argv, path, ident, app.isolators, ctx, uid=0, gid=0, sgids=[])
        except BaseException as err:  # noqa: BLE001 - the child must never return
            say(f'app "{app.name}": handler "{argv[0]}": {_describe(err)}')
        os._exit(254)
    return exit_code(_wait(pid))


def start(app: podinfo.App, ctx: PodContext, ident: Identity, listen=()) -> None:
    """After the go: pre-start handlers, then the app itself (with its activated sockets,
    `listen`: [(fd, port name)]). Never returns."""
    # our own process group first, so that a forwarded signal reaches the handlers too
    if ctx.interactive:
        os.setpgid(0, 0)
        old = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
        try:
            os.tcsetpgrp(0, os.getpgrp())
        except OSError:
            pass
        signal.signal(signal.SIGTTOU, old)
    else:
        os.setsid()
    for handler in app.pre_start:
        code = run_handler(app, handler, ident, ctx)
        if code != 0:
            say(f'app "{app.name}": pre-start handler "{handler[0]}" failed with exit code {code}')
            os._exit(code)
    os.chdir(ident.cwd)
    _stdin_null(ctx)
    try:
        if listen:
            from stage1 import sockets  # imported by child() before pivot_root
            sockets.install(list(listen), ident.env)
        exec_as(app.exec, ident.path, ident, app.isolators, ctx,
                uid=ident.uid, gid=ident.gid, sgids=ident.sgids)
    except BaseException as err:  # noqa: BLE001
        say(f'app "{app.name}": exec "{app.exec[0]}": {_describe(err)}')
    os._exit(254)


def child(app: podinfo.App, ctx: PodContext, env: dict, report_fd: int, go_fd: int,
          output: tuple[int, int] | None = None, listen=()) -> None:
    """Body of the forked app process. Never returns. `output`: the write ends of the pipes
    the relay reads as the app's stdout and stderr (None: the console itself)."""
    code = 254
    try:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGALRM):
            signal.signal(sig, signal.SIG_DFL)
        if output is not None:
            for target, fd in ((1, output[0]), (2, output[1])):
                os.dup2(fd, target)
                os.close(fd)
        host_pid = os.readlink("/proc/self")  # the host's /proc: our pid as the host sees it
        if listen:
            import stage1.sockets  # noqa: F401 - for start(), after pivot_root
        try:
            ident = setup(app, ctx, env)
        except Exception as err:  # noqa: BLE001 - every setup failure is reported the same way
            os.write(report_fd, f"err {_describe(err)}\n".encode())
            os._exit(254)
        os.write(report_fd, f"ok {host_pid}\n".encode())
        os.close(report_fd)
        if os.read(go_fd, 1) != b"g":
            os._exit(254)
        os.close(go_fd)
        start(app, ctx, ident, listen)
    except BaseException as err:  # noqa: BLE001 - the child must never return into the supervisor
        say(f'app "{app.name}": {_describe(err)}')
    os._exit(code)


def post_stop(app: podinfo.App, ctx: PodContext, env: dict, mnt_fd: int, argv: list[str],
              user_fd: int | None = None) -> int:
    """Fork a post-stop handler into the exited app's mount namespace; the child's pid."""
    pid = os.fork()
    if pid:
        return pid
    try:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGALRM):
            signal.signal(sig, signal.SIG_DFL)
        security.preload(ctx.disable_seccomp)  # nothing can be imported after the setns
        if user_fd is not None:
            from stage1 import userns
        kernel.current().setns(mnt_fd, kernel.CLONE_NEWNS)
        if user_fd is not None:
            userns.join(user_fd)
        os.chdir(app.working_directory if os.path.isdir(app.working_directory) else "/")
        path = find_executable(argv[0], env, os.getcwd())
        if path is None:
            raise AppError(f'exec "{argv[0]}": no such file')
        os.setsid()
        _stdin_null(ctx, force=True)
        ident = Identity(0, 0, [], "/", path, env)
        exec_as(argv, path, ident, app.isolators, ctx, uid=0, gid=0, sgids=[])
    except BaseException as err:  # noqa: BLE001 - the child must never return
        say(f'app "{app.name}": post-stop handler "{argv[0]}": {_describe(err)}')
    os._exit(254)


def _stdin_null(ctx: PodContext, force: bool = False) -> None:
    if ctx.interactive and not force:
        return
    fd = os.open("/dev/null", os.O_RDONLY)
    if fd != 0:
        os.dup2(fd, 0)
        os.close(fd)


def _wait(pid: int) -> int:
    while True:
        try:
            return os.waitpid(pid, 0)[1]
        except ChildProcessError:
            return 254 << 8


def exit_code(status: int) -> int:
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def _describe(err: BaseException) -> str:
    """One line for any error (the message ends up in a one-line `stage1: ...`)."""
    if isinstance(err, OSError) and err.strerror:
        text = err.strerror.lower() if not err.filename else f"{err.filename}: {err.strerror.lower()}"
    else:
        text = str(err) or type(err).__name__
    return " ".join(text.split())

