"""The pod's PID 1: starts the apps, reaps every process, and ends the pod like rkt.

Each app is forked into its own mount namespace and sets itself up; only when all setups
succeeded do the apps get the go, so a bad app never leaves half a pod running. The supervisor
then reaps zombies (it is the pid namespace's init), forwards SIGTERM/SIGINT/SIGHUP to the apps,
records each app's exit code in `stage1/rootfs/rkt/status/<app>`, runs post-stop handlers in
the exited app's mount namespace, and stops the other apps (TERM, then KILL after a grace
period) as soon as one app fails. The pod's exit code is the first failing app's, else 0.
While the apps run, its one loop also carries their output and notifications (stage1.relay).
"""

from __future__ import annotations

import os
# the C module behind `signal`: the same calls without importing enum (~5 ms a pod start)
import _signal as signal

from stage1.files import read_all, write_atomic
from stage1 import app as _app
from stage1 import podinfo

KILL_GRACE_SECONDS = 10


class Running:
    """One app of the running pod."""

    __slots__ = ("app", "env", "pid", "host_pid", "mnt_fd", "user_fd", "post_stop", "exited")

    def __init__(self, app, env):
        self.app, self.env = app, env
        self.pid = self.host_pid = self.mnt_fd = self.user_fd = None
        self.post_stop = list(app.post_stop)
        self.exited = False


class Supervisor:
    def __init__(self, pod: podinfo.Pod, ctx: _app.PodContext, *, listen_fds=(),
                 notify_fd: int | None = None, log_limit: int = 0, watchdog_usec: str = ""):
        """`listen_fds`: (fd, name) sockets from systemd's socket activation; `notify_fd`: the
        packet pipe to the waiting parent, which owns the host's NOTIFY_SOCKET; `watchdog_usec`:
        the unit's watchdog interval, told to the apps that can ping it."""
        self.pod, self.ctx = pod, ctx
        self.listen_fds, self.notify_fd, self.log_limit = list(listen_fds), notify_fd, log_limit
        self.watchdog_usec = watchdog_usec
        self.relay = None  # a stage1.relay.Relay once the apps' pipes exist
        self.cgroup_dirs: list[str] = []
        self.apps = [Running(a, podinfo.app_environment(a, ctx.mds_url)) for a in pod.apps]
        self.children: dict[int, tuple[str, Running]] = {}
        self.first_failure: int | None = None
        self.stopping = False

    # -- signals -------------------------------------------------------------------------------
    def _forward(self, signum, _frame=None) -> None:
        if signum == signal.SIGTERM:
            self._begin_stop()
        else:
            self._signal_apps(signum)

    def _signal_apps(self, signum) -> None:
        for running in self.apps:
            if running.pid is not None and not running.exited:
                try:
                    os.killpg(running.pid, signum)
                except OSError:
                    try:
                        os.kill(running.pid, signum)
                    except OSError:
                        pass

    def _begin_stop(self) -> None:
        self._signal_apps(signal.SIGTERM)
        if not self.stopping:
            self.stopping = True
            signal.alarm(KILL_GRACE_SECONDS)

    def _kill_all(self, _signum=None, _frame=None) -> None:
        self._signal_apps(signal.SIGKILL)

    # -- start ---------------------------------------------------------------------------------
    def _prepare_pod_dirs(self) -> None:
        base = f"{self.ctx.stage1_rootfs}/rkt"
        for sub in ("status", "env", "pids"):
            os.makedirs(f"{base}/{sub}", exist_ok=True)
        for volume in self.pod.volumes.values():
            if volume.kind != "empty":
                continue
            path = self.ctx.volume_source(volume)
            os.makedirs(f"{self.ctx.pod_dir}/sharedVolumes", mode=0o700, exist_ok=True)
            try:
                os.mkdir(path)
            except FileExistsError:
                continue
            os.chmod(path, volume.mode)
            # --private-users: the volume's owner as the apps see it
            os.chown(path, volume.uid + self.ctx.uid_shift, volume.gid + self.ctx.uid_shift)
        # what enter must (not) apply: the pod's --disable-* flags, rkt's insecure-options names
        disabled = [name for name, off in (("capabilities", self.ctx.disable_caps),
                                           ("paths", self.ctx.disable_paths),
                                           ("seccomp", self.ctx.disable_seccomp)) if off]
        write_atomic(f"{base}/insecure-options", "".join(f"{d}\n" for d in disabled))
        # `rkt status --wait-ready` waits for "ready" (stage1.notify); until then it says so
        try:
            os.symlink("starting", f"{base}/supervisor-status")
        except FileExistsError:
            pass
        for running in self.apps:
            lines = "".join(f"{k}={v}\n" for k, v in running.env.items())
            write_atomic(f"{base}/env/{running.app.name}", lines)

    def _open_relay(self) -> list:
        """The relay (stage1.relay) with the read ends of every app's output pipes and the
        apps' notify sockets; per app, the write ends its stdout and stderr get (None in
        interactive mode: the terminal stays the app's)."""
        from stage1 import logs, relay
        from stage1 import notify

        outputs, readers, socks = [], [], []
        for index, running in enumerate(self.apps):
            if running.app.notify:
                socks.append((notify.bind(self.ctx.uuid, index), running.app.name))
                running.env["NOTIFY_SOCKET"] = notify.socket_name(self.ctx.uuid, index)
                if self.watchdog_usec.isdigit():
                    running.env["WATCHDOG_USEC"] = self.watchdog_usec
            if self.ctx.interactive:
                outputs.append(None)
                continue
            ends = []
            for stream in ("stdout", "stderr"):
                read_end, write_end = os.pipe()  # close-on-exec: the apps keep only theirs
                readers.append(logs.LineReader(running.app.name, stream, read_end))
                ends.append(write_end)
            outputs.append(tuple(ends))
        self.relay = relay.Relay(uuid=self.ctx.uuid, stage1_rootfs=self.ctx.stage1_rootfs,
                                 readers=readers, notify_socks=socks, packet_fd=self.notify_fd,
                                 limit=self.log_limit)
        self.notify_fd = None  # the relay's now
        return outputs

    def start(self) -> str | None:
        """Fork and set up every app; None when all are ready, else the first error."""
        self._prepare_pod_dirs()
        claimed = {}
        if self.listen_fds or any(app.ports for app in self.pod.apps):
            from stage1 import sockets
            if self.listen_fds or sockets.wanted(self.pod.apps):
                try:
                    claimed = sockets.assign(self.pod.apps, self.pod.raw, self.listen_fds)
                except sockets.SocketError as err:
                    return str(err)
        outputs = self._open_relay()
        pipes = []
        for _ in self.apps:
            report_r, report_w = os.pipe()
            go_r, go_w = os.pipe()
            pipes.append((report_r, report_w, go_r, go_w))
        all_fds = [fd for p in pipes for fd in p] + [fd for o in outputs if o for fd in o]
        for running, (report_r, report_w, go_r, go_w), output in zip(self.apps, pipes, outputs):
            pid = os.fork()
            if pid == 0:
                for fd in all_fds:
                    if fd not in (report_w, go_r) and (output is None or fd not in output):
                        os.close(fd)
                _app.child(running.app, self.ctx, running.env, report_w, go_r, output,
                           claimed.get(running.app.name, ()))
            running.pid = pid
            self.children[pid] = ("app", running)
        for output in outputs:
            for fd in output or ():
                os.close(fd)  # the relay sees EOF once the app and its children closed theirs
        for app_fds in claimed.values():
            for fd, _name in app_fds:
                os.close(fd)  # the apps have theirs
        # the cgroups are made while the apps set themselves up (on another core)
        cgroup_error = None
        app_cgroups = []
        where = ""
        try:
            from stage1 import security
            from stage1.cgroups import tree
            # under a systemd service the pod stays in the unit's cgroup (stage1.init found it)
            cgroups = security.pod_cgroups(self.ctx.uuid, tree.recorded_parent(self.ctx.pod_dir))
            self.cgroup_dirs = cgroups.paths()
            cgroups.attach(0)
            for running in self.apps:
                where = f'app "{running.app.name}": '
                app_cgroups.append(cgroups.app(running.app.name, running.app.isolators,
                                               device_policy=not self.ctx.disable_paths))
                # children first: the waiting parent removes each with one rmdir
                self.cgroup_dirs[:0] = app_cgroups[-1].paths()
        except (OSError, ValueError) as err:
            cgroup_error = f"{where}cannot set up cgroups: {_app._describe(err)}"
        error = None
        for running, (report_r, report_w, go_r, _go_w) in zip(self.apps, pipes):
            os.close(report_w)
            os.close(go_r)
            line = read_all(report_r).decode(errors="replace").strip()
            os.close(report_r)
            if line.startswith("ok "):
                running.host_pid = int(line[3:])
            elif error is None:
                error = f'app "{running.app.name}": ' + (line[4:] if line.startswith("err ") else
                                                          "setup failed")
        error = error or cgroup_error
        if error is None:
            for running, cgroup in zip(self.apps, app_cgroups):
                try:
                    cgroup.attach(running.pid)
                    running.mnt_fd = os.open(f"/proc/{running.host_pid}/ns/mnt", os.O_RDONLY)
                    if self.ctx.uid_range:
                        from stage1 import userns
                        userns.write_maps(running.host_pid, *self.ctx.uid_range)
                        running.user_fd = os.open(f"/proc/{running.host_pid}/ns/user", os.O_RDONLY)
                except OSError as err:
                    error = f'app "{running.app.name}": {_app._describe(err)}'
                    break
                write_atomic(f"{self.ctx.stage1_rootfs}/rkt/pids/{running.app.name}",
                              f"{running.host_pid}\n")
                if self.ctx.debug:
                    _app.say(f'debug: app "{running.app.name}" ready: host pid {running.host_pid}, '
                              f"exec {running.app.exec!r}")
        for running, (_r, _w, _g, go_w) in zip(self.apps, pipes):
            if error is None:
                os.write(go_w, b"g")
            os.close(go_w)
        return error

    # -- run -----------------------------------------------------------------------------------
    def _app_exited(self, running: Running, code: int) -> None:
        running.exited = True
        if self.ctx.debug:
            _app.say(f'debug: app "{running.app.name}" exited with {code}')
        write_atomic(f"{self.ctx.stage1_rootfs}/rkt/status/{running.app.name}", f"{code}")
        if code != 0 and self.first_failure is None:
            self.first_failure = code
            self._begin_stop()
        self._next_post_stop(running)

    def _next_post_stop(self, running: Running) -> None:
        if running.post_stop and running.mnt_fd is not None:
            argv = running.post_stop.pop(0)
            pid = _app.post_stop(running.app, self.ctx, running.env, running.mnt_fd, argv,
                                 running.user_fd)
            self.children[pid] = ("post", running)
        elif running.mnt_fd is not None:
            os.close(running.mnt_fd)
            running.mnt_fd = None
            if running.user_fd is not None:
                os.close(running.user_fd)
                running.user_fd = None

    def _collect(self) -> None:
        """Reap what has exited, orphans too (we are init), without waiting."""
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                self.children.clear()
                return
            if pid == 0:
                return
            entry = self.children.pop(pid, None)
            if entry is None:
                continue
            kind, running = entry
            if kind == "app":
                self._app_exited(running, _app.exit_code(status))
            else:
                self._next_post_stop(running)

    def reap(self) -> None:
        """Wait for every app and handler while carrying their output and notifications: one
        poll over the relay's fds and a wakeup pipe that SIGCHLD (any handled signal) writes."""
        import select
        wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
        signal.signal(signal.SIGCHLD, _ignore)
        poller = select.poll()
        poller.register(wake_r, select.POLLIN)
        self.relay.register(poller)
        try:
            while True:
                self._collect()  # before the poll: a SIGCHLD after it wakes the poll
                if not self.children:
                    break
                for fd, event in poller.poll():
                    if fd == wake_r:
                        _drain(wake_r)
                    else:
                        self.relay.handle(poller, fd, event)
        finally:
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            os.close(wake_r)
            os.close(wake_w)

    def run(self, ready_fd: int, pending: list[int] = ()) -> int:
        """`pending`: signals that arrived before us; they are forwarded once the apps run."""
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self._forward)
        signal.signal(signal.SIGALRM, self._kill_all)
        error = self.start()
        if error is not None:
            _app.say(error)
            self._kill_all()
            self.children.clear()  # nothing ran: no status, no post-stop; just reap
            _reap_everything()
            code = 254
        else:
            _tell_parent(ready_fd, b"r")
            self.relay.apps_started()  # readiness counts from here, after the pid
            for signum in pending:
                self._forward(signum)
            self.reap()
            code = self.first_failure or 0
        if self.relay is not None:
            self.relay.finish()
        # the waiting parent removes these once our pid namespace is gone (no import needed there)
        _tell_parent(ready_fd, b"\0" + "\0".join(self.cgroup_dirs).encode())
        os.close(ready_fd)
        return code


def _drain(fd: int) -> None:
    """Empty a nonblocking pipe (the signal wakeup's: its bytes only say "look again")."""
    try:
        while os.read(fd, 512):
            pass
    except BlockingIOError:
        pass


def _ignore(_signum, _frame) -> None:
    """SIGCHLD's handler: the wakeup pipe, not the handler, tells the loop."""


def _tell_parent(ready_fd: int, data: bytes) -> None:
    """Write to the waiting parent of `rkt run`; when it was killed (kill -9) nobody reads,
    and the pod ends on its own (`rkt gc` removes what the parent would have)."""
    try:
        os.write(ready_fd, data)
    except BrokenPipeError:
        pass


def _reap_everything() -> None:
    while True:
        try:
            os.wait()
        except ChildProcessError:
            return



