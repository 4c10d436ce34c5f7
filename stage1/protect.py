"""Protected kernel paths: what of /proc and /sys an app may not change or may not see.

rkt (through systemd's ReadOnlyPaths=, InaccessiblePaths= and ProtectKernelTunables=) makes
kernel tunables read-only and hides files that leak kernel memory or layout. We do the same in
the app's own mount namespace, over its freshly mounted /proc and /sys: read-only bind
remounts, an empty mode-000 file bound over hidden files, an empty mode-000 tmpfs over hidden
directories. `--insecure-options=paths` turns it off.
"""

from __future__ import annotations

import os

from stage1 import sys as _sys

# rkt's protectKernelROPaths plus what ProtectKernelTunables= adds (rkt enabled it)
READ_ONLY = (
    "/proc/asound", "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
    "/proc/latency_stats", "/proc/timer_stats",
    "/sys/block", "/sys/bus", "/sys/class", "/sys/dev", "/sys/devices", "/sys/kernel",
)
# rkt's protectKernelHiddenPaths, plus Docker's masked /proc files
HIDDEN_FILES = (
    "/proc/config.gz", "/proc/kallsyms", "/proc/sched_debug", "/proc/kcore", "/proc/kmem",
    "/proc/mem", "/proc/keys", "/proc/timer_list",
)
# rkt's protectKernelHiddenDirs, plus Docker's masked /proc directories
HIDDEN_DIRS = (
    "/sys/firmware", "/sys/fs", "/sys/hypervisor", "/sys/module", "/sys/power",
    "/proc/acpi", "/proc/scsi",
)

# per-mount flags a read-only remount must keep (statvfs f_flag -> mount flag)
_KEEP_FLAGS = ((os.ST_NOSUID, _sys.MS_NOSUID), (os.ST_NODEV, _sys.MS_NODEV),
               (os.ST_NOEXEC, _sys.MS_NOEXEC))


def _in_root(rootfs: str, path: str) -> str:
    """Where `path` is in `rootfs` when the image's symlinks resolve as if `rootfs` were `/`
    (where the app's /proc and /sys really got mounted, even if the image made them links)."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    resolved: list[str] = []
    for _hop in range(256):
        if not parts:
            break
        part = parts.pop(0)
        if part == "..":
            resolved = resolved[:-1]
            continue
        current = os.path.join(rootfs, *resolved, part)
        if os.path.islink(current):
            target = os.readlink(current)
            if target.startswith("/"):
                resolved = []
            parts = [p for p in target.split("/") if p not in ("", ".")] + parts
            continue
        resolved.append(part)
    return os.path.join(rootfs, *resolved)


def _inside(base: str, path: str) -> str | None:
    """`base` + `path` when it exists and no symlink leads there (inside the kernel's own
    filesystems there are none; anywhere else one could steer our mounts)."""
    target = os.path.join(base, path.lstrip("/"))
    try:
        os.lstat(target)
    except OSError:
        return None
    if os.path.realpath(target) != target:
        return None
    return target


def _read_only(target: str) -> None:
    _sys.mount(target, target, None, _sys.MS_BIND | _sys.MS_REC)
    flags = _sys.MS_BIND | _sys.MS_REMOUNT | _sys.MS_RDONLY
    current = os.statvfs(target).f_flag
    for st_flag, ms_flag in _KEEP_FLAGS:
        if current & st_flag:
            flags |= ms_flag
    _sys.mount(None, target, None, flags)


class _Masks:
    """One tiny tmpfs holding an empty mode-000 file and directory, bound over what to hide.

    It is first mounted on a directory that gets hidden anyway, so it never shows.
    """

    def __init__(self, anchor: str):
        flags = _sys.MS_NOSUID | _sys.MS_NODEV | _sys.MS_NOEXEC
        _sys.mount("tmpfs", anchor, "tmpfs", flags, "size=4k,nr_inodes=8,mode=000")
        self.dir = os.path.join(anchor, "d")
        self.file = os.path.join(anchor, "f")
        os.mkdir(self.dir, 0)
        os.close(os.open(self.file, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0))
        os.chmod(self.dir, 0)
        os.chmod(self.file, 0)
        # read-only from now on: nobody can put anything into the masks
        _sys.mount(None, anchor, None, _sys.MS_REMOUNT | _sys.MS_RDONLY | flags, "size=4k,nr_inodes=8,mode=000")

    def hide(self, target: str) -> None:
        source = self.dir if os.path.isdir(target) else self.file
        _sys.mount(source, target, None, _sys.MS_BIND)
        _sys.mount(None, target, None, _sys.MS_BIND | _sys.MS_REMOUNT | _sys.MS_RDONLY
                   | _sys.MS_NOSUID | _sys.MS_NODEV | _sys.MS_NOEXEC)


def protect_paths(rootfs: str, disabled: bool = False) -> None:
    """Protect `rootfs`/proc and `rootfs`/sys; call it in the app's private mount namespace
    after mounting them and before pivot_root."""
    if disabled:
        return
    rootfs = os.path.realpath(rootfs)
    bases = {top: _in_root(rootfs, top) for top in ("/proc", "/sys")}

    def existing(paths):
        for path in paths:
            top, _, rest = path[1:].partition("/")
            target = _inside(bases["/" + top], rest)
            if target:
                yield target

    hidden_dirs = [t for t in existing(HIDDEN_DIRS) if os.path.isdir(t)]
    hidden_files = list(existing(HIDDEN_FILES))
    read_only = list(existing(READ_ONLY))

    if hidden_dirs:
        masks = _Masks(hidden_dirs[0])
        # the anchor last: once covered, the masks' own paths are gone
        for target in hidden_files + hidden_dirs[1:] + hidden_dirs[:1]:
            masks.hide(target)
    else:
        # no directory to keep the masks under (no /sys): mask files with /dev/null, as Docker
        for target in hidden_files:
            _sys.mount("/dev/null", target, None, _sys.MS_BIND)
    for target in read_only:
        _read_only(target)
