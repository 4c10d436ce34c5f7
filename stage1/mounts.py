"""The app's filesystem: its rootfs becomes `/` with /proc, /sys, /dev, /etc files and volumes.

Runs in the app's own mount namespace, already made rslave, so nothing here reaches the host.
Every target path is resolved inside the app rootfs (an image symlink `/data -> /var/data` means
`<rootfs>/var/data`, never the host's `/var/data`), then `pivot_root` makes the rootfs `/` and
the old root is detached.
"""

from __future__ import annotations

import os
import stat

from stage1 import kernel

DEV_NODES = ("null", "zero", "full", "random", "urandom", "tty")
_MAX_SYMLINKS = 40


class MountError(Exception):
    """A problem preparing the app's filesystem; the message is one line."""


def resolve_in_root(root: str, path: str, *, create: str | None = "dir") -> str:
    """Host path of `path` inside `root`, following symlinks as if `root` were `/`.

    Missing components are created as 0755 directories, the last one as a directory, an empty
    file with create="file", or not at all with create="parents"; create=None creates nothing.
    """
    parts = [p for p in path.split("/") if p not in ("", ".")]
    resolved: list[str] = []
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        current = root + "/" + "/".join(resolved + [part])
        try:
            st = os.lstat(current)
        except FileNotFoundError:
            if create is None or (create == "parents" and not parts):
                return root + "/" + "/".join(resolved + [part] + parts)
            if parts or create == "dir":
                os.mkdir(current, 0o755)
            else:
                os.close(os.open(current, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o644))
            resolved.append(part)
            continue
        if stat.S_ISLNK(st.st_mode):
            hops += 1
            if hops > _MAX_SYMLINKS:
                raise MountError(f"too many levels of symbolic links in {path!r}")
            target = os.readlink(current)
            if target.startswith("/"):
                resolved = []
            parts = [p for p in target.split("/") if p not in ("", ".")] + parts
            continue
        if parts and not stat.S_ISDIR(st.st_mode):
            raise MountError(f"{path!r}: {'/' + '/'.join(resolved + [part])} is not a directory")
        resolved.append(part)
    return root + ("/" + "/".join(resolved) if resolved else "")


def _mount(source, target, fstype=None, flags=0, data=None):
    try:
        kernel.current().mount(source, target, fstype, flags, data)
    except OSError as err:
        raise MountError(f"cannot mount {fstype or source} on {target}: {os.strerror(err.errno)}") from None


def _bind(source: str, target: str, *, recursive: bool = False, read_only: bool = False) -> None:
    try:
        kernel.current().bind(source, target, recursive=recursive, read_only=read_only)
    except OSError as err:
        raise MountError(f"cannot mount {source} on {target}: {os.strerror(err.errno)}") from None


def _remount_read_only(target: str, what: str = "") -> None:
    try:
        kernel.current().remount_read_only(target)
    except OSError as err:
        raise MountError(f"cannot make {what}{target} read-only: {os.strerror(err.errno)}") from None


def _write(path: str, data: bytes, mode: int = 0o644) -> None:
    """Replace `path` (resolved inside the rootfs) with a regular file: an image's symlink,
    device node or fifo at that path is removed first, never written through."""
    try:
        try:
            st = os.lstat(path)
            if not stat.S_ISREG(st.st_mode):
                os.unlink(path)
        except FileNotFoundError:
            pass
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, mode)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
    except OSError as err:
        raise MountError(f"cannot write {path}: {err.strerror}") from None


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def setup_dev(dev: str, console: str) -> None:
    """A tmpfs /dev with the standard nodes bound one by one from the host (never /dev itself)."""
    _mount("tmpfs", dev, "tmpfs", kernel.MS_NOSUID | kernel.MS_STRICTATIME, "mode=755,size=65536k")
    for name in DEV_NODES:
        target = f"{dev}/{name}"
        os.close(os.open(target, os.O_WRONLY | os.O_CREAT, 0o666))
        _bind(f"/dev/{name}", target)
    os.close(os.open(f"{dev}/console", os.O_WRONLY | os.O_CREAT, 0o600))
    _bind(console, f"{dev}/console")
    os.mkdir(f"{dev}/pts", 0o755)
    _mount("devpts", f"{dev}/pts", "devpts", kernel.MS_NOSUID | kernel.MS_NOEXEC,
           "newinstance,ptmxmode=0666,mode=0620,gid=5")
    os.symlink("pts/ptmx", f"{dev}/ptmx")
    os.mkdir(f"{dev}/shm", 0o1777)
    _mount("shm", f"{dev}/shm", "tmpfs", kernel.MS_NOSUID | kernel.MS_NODEV, "mode=1777,size=65536k")
    os.symlink("/proc/self/fd", f"{dev}/fd")
    for i, name in enumerate(("stdin", "stdout", "stderr")):
        os.symlink(f"/proc/self/fd/{i}", f"{dev}/{name}")


def hosts_file(hostname: str) -> bytes:
    return (f"127.0.0.1\tlocalhost localhost.localdomain localhost4 localhost4.localdomain4 {hostname}\n"
            f"::1\tlocalhost localhost.localdomain localhost6 localhost6.localdomain6 {hostname}\n"
            ).encode()


def setup_etc(root: str, *, hostname: str, stage1_rootfs: str, dns_mode: dict) -> None:
    """/etc/mtab, /etc/hostname, /etc/hosts and /etc/resolv.conf as rkt places them."""
    etc = resolve_in_root(root, "/etc")
    mtab = etc + "/mtab"
    if not os.path.lexists(mtab):
        os.symlink("../proc/self/mounts", mtab)
    _write(resolve_in_root(root, "/etc/hostname", create="parents"), hostname.encode() + b"\n")

    hosts_path = resolve_in_root(root, "/etc/hosts", create="parents")
    stage0_hosts = _read(f"{stage1_rootfs}/etc/rkt-hosts")
    hosts_mode = dns_mode.get("hosts", "default")
    if stage0_hosts is not None and hosts_mode in ("stage0", "default"):
        _write(hosts_path, stage0_hosts)
    elif hosts_mode == "host":
        _host_file(hosts_path, "/etc/hosts", hosts_file(hostname))
    elif not os.path.isfile(hosts_path):
        _write(hosts_path, hosts_file(hostname))

    resolv_mode = dns_mode.get("resolv", "default")
    resolv = None
    if resolv_mode in ("stage0", "default"):
        # default: present only when a CNI plugin returned DNS (stage1.net.dns)
        resolv = _read(f"{stage1_rootfs}/etc/rkt-resolv.conf")
    elif resolv_mode == "host":
        _host_file(resolve_in_root(root, "/etc/resolv.conf", create="parents"), "/etc/resolv.conf", None)
    if resolv is not None:
        _write(resolve_in_root(root, "/etc/resolv.conf", create="parents"), resolv)


def _host_file(path: str, host: str, fallback: bytes | None) -> None:
    """`--dns=host`, `--hosts-entry=host`: the host's file bound read-only at `path`, as rkt
    (the pod sees what the host changes in place); `fallback` when the host has none."""
    data = _read(host)
    if data is None:
        if fallback is not None:
            _write(path, fallback)
        return
    _write(path, data)  # a regular file to mount on: never an image's symlink or device
    _bind(host, path, read_only=True)


def mount_volume(root: str, mount, source: str) -> None:
    """Bind `source` (a host path, or the pod's dir of an empty volume) at the mount's target."""
    try:
        is_dir = os.path.isdir(source)
        if not is_dir and not os.path.exists(source):
            raise MountError(f"volume {mount.volume.name!r}: source {source} does not exist")
        target = resolve_in_root(root, mount.path, create="dir" if is_dir else "file")
        recursive = mount.volume.kind == "host" and mount.volume.recursive
        _bind(source, target, recursive=recursive, read_only=mount.read_only)
    except OSError as err:
        raise MountError(f"volume {mount.volume.name!r} at {mount.path}: {err.strerror}") from None


def bind_root(root: str) -> None:
    """pivot_root needs the new root to be a mount point."""
    _bind(root, root, recursive=True)


def prepare_root(root: str, *, console: str) -> None:
    """Give the rootfs /proc (the pod's), a read-only /sys and /dev. Called after every file
    write into the rootfs, so that no image symlink can steer a write into procfs or sysfs."""
    proc = resolve_in_root(root, "/proc")
    _mount("proc", proc, "proc", kernel.MS_NOSUID | kernel.MS_NODEV | kernel.MS_NOEXEC)
    sys_ = resolve_in_root(root, "/sys")
    _mount("sysfs", sys_, "sysfs", kernel.MS_RDONLY | kernel.MS_NOSUID | kernel.MS_NODEV | kernel.MS_NOEXEC)
    mount_cgroups(sys_)
    setup_dev(resolve_in_root(root, "/dev"), console)


def mount_cgroups(sys_: str) -> None:
    """/sys/fs/cgroup as rkt's stage1 shows it to apps: the host's cgroup hierarchies, every
    one read-only (a fresh sysfs has only an empty directory there)."""
    target = f"{sys_}/fs/cgroup"
    if not os.path.isdir("/sys/fs/cgroup") or not os.path.isdir(target):
        return
    _bind("/sys/fs/cgroup", target, recursive=True)
    from stage1.procfs import mountinfo
    for entry in mountinfo():
        if entry.mount_point == target or entry.mount_point.startswith(target + "/"):
            _remount_read_only(entry.mount_point)


def seal_root(root: str) -> None:
    """readOnlyRootFS: make the rootfs mount itself read-only, last, once every mount point
    and /etc file is in place. Only that mount changes: /proc, /dev (with /dev/shm and
    /dev/pts), the read-only /sys and each volume are mounts of their own and keep their mode."""
    _remount_read_only(root, "the rootfs ")


def pivot(root: str) -> None:
    """Make `root` the filesystem root and detach the old one (safe: we are rslave)."""
    try:
        os.chdir(root)
        kernel.current().pivot_root(".", ".")
        kernel.current().umount(".", kernel.MNT_DETACH)
        os.chdir("/")
    except OSError as err:
        raise MountError(f"pivot_root into {root}: {os.strerror(err.errno)}") from None
