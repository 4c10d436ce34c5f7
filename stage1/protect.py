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


def _inside(rootfs: str, path: str) -> str | None:
    """The host path of `path` in `rootfs`, or None when it is missing or reached through a
    symlink (an image must not steer our mounts somewhere else)."""
    target = os.path.join(rootfs, path.lstrip("/"))
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
    hidden_dirs = [t for t in (_inside(rootfs, p) for p in HIDDEN_DIRS) if t and os.path.isdir(t)]
    hidden_files = [t for t in (_inside(rootfs, p) for p in HIDDEN_FILES) if t]
    read_only = [t for t in (_inside(rootfs, p) for p in READ_ONLY) if t]

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
