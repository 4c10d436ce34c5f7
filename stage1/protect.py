"""Protected kernel paths: what of /proc and /sys an app may not change or may not see.

rkt (through systemd's ReadOnlyPaths=, InaccessiblePaths= and ProtectKernelTunables=) makes
kernel tunables read-only and hides files that leak kernel memory or layout. We do the same in
the app's own mount namespace, over its freshly mounted /proc and /sys: read-only bind
remounts, an empty mode-000 file bound over hidden files, an empty mode-000 tmpfs over hidden
directories. `--insecure-options=paths` turns it off.
"""

from __future__ import annotations

import os
import stat

from stage1 import kernel
from stage1.mounts import resolve_in_root

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

def _inside(base: str, path: str) -> str | None:
    """`base` + `path` when it exists and no symlink leads there (inside the kernel's own
    filesystems there are none; anywhere else one could steer our mounts). `base` itself was
    resolved by `resolve_in_root`: only the components of `path` need a look (an lstat each,
    where realpath would walk the whole host path of the pod again)."""
    target = base
    for part in path.split("/"):
        if not part:
            continue
        target = f"{target}/{part}"
        try:
            if stat.S_ISLNK(os.lstat(target).st_mode):
                return None
        except OSError:
            return None
    return target


class _Masks:
    """One tiny tmpfs holding an empty mode-000 file and directory, bound over what to hide.

    It is first mounted on a directory that gets hidden anyway, so it never shows.
    """

    def __init__(self, anchor: str):
        self.kernel = kernel.current()
        flags = kernel.MS_NOSUID | kernel.MS_NODEV | kernel.MS_NOEXEC
        self.kernel.mount("tmpfs", anchor, "tmpfs", flags, "size=4k,nr_inodes=8,mode=000")
        self.dir = os.path.join(anchor, "d")
        self.file = os.path.join(anchor, "f")
        os.mkdir(self.dir, 0)
        os.close(os.open(self.file, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0))
        os.chmod(self.dir, 0)
        os.chmod(self.file, 0)
        # read-only from now on: nobody can put anything into the masks
        self.kernel.mount(None, anchor, None, kernel.MS_REMOUNT | kernel.MS_RDONLY | flags, "size=4k,nr_inodes=8,mode=000")

    def hide(self, target: str) -> None:
        source = self.dir if os.path.isdir(target) else self.file
        self.kernel.mount(source, target, None, kernel.MS_BIND)
        self.kernel.mount(None, target, None, kernel.MS_BIND | kernel.MS_REMOUNT | kernel.MS_RDONLY
                          | kernel.MS_NOSUID | kernel.MS_NODEV | kernel.MS_NOEXEC)


def protect_paths(rootfs: str, disabled: bool = False) -> None:
    """Protect `rootfs`/proc and `rootfs`/sys; call it in the app's private mount namespace
    after mounting them and before pivot_root."""
    if disabled:
        return
    rootfs = os.path.realpath(rootfs)
    # where the app's /proc and /sys really got mounted, even if the image made them links
    bases = {top: resolve_in_root(rootfs, top, create=None) for top in ("/proc", "/sys")}

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
            kernel.current().mount("/dev/null", target, None, kernel.MS_BIND)
    for target in read_only:
        kernel.current().bind(target, target, recursive=True, read_only=True)
