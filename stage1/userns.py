"""`--private-users=SHIFT:COUNT`: each app runs in a user namespace whose ids 0..COUNT-1 are the
host's SHIFT..SHIFT+COUNT-1 (stage0 chowned the app's rootfs copy by SHIFT).

The app's process builds its filesystem as real root first (every mount, in namespaces the
host's user namespace owns), then unshares a new user namespace right before it reports ready;
the supervisor, still real root, writes its uid_map and gid_map before the go. Root in the app
is so root of nothing it could abuse: the mount, pid, net, ipc and uts namespaces stay owned by
the host's user namespace, and on the host its files and processes belong to SHIFT.
"""

from __future__ import annotations

import os

from stage1 import kernel


class UserNSError(Exception):
    """A problem with the pod's user namespace; the message is one line."""


def parse_range(text: str) -> tuple[int, int] | None:
    """`SHIFT:COUNT` as rkt serializes it (None for an empty value)."""
    if not text:
        return None
    shift, _, count = text.partition(":")
    try:
        shift_n, count_n = int(shift), int(count)
    except ValueError:
        raise UserNSError(f"invalid --private-users value {text!r}: want SHIFT:COUNT") from None
    if shift_n <= 0 or count_n <= 0 or shift_n + count_n > 1 << 32:
        raise UserNSError(f"invalid --private-users range {text!r}")
    return shift_n, count_n


def unshare() -> None:
    """Enter a new user namespace (the app's process, after its mounts and pivot_root)."""
    try:
        kernel.current().unshare(kernel.CLONE_NEWUSER)
    except OSError as err:
        raise UserNSError(f"cannot create a user namespace: {os.strerror(err.errno)}") from None


def write_maps(host_pid: int, shift: int, count: int) -> None:
    """Map the namespace of `host_pid` (the supervisor is real root: no setgroups deny)."""
    line = f"0 {shift} {count}\n".encode()
    for name in ("uid_map", "gid_map"):
        fd = os.open(f"/proc/{host_pid}/{name}", os.O_WRONLY)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)


def join(user_fd: int) -> None:
    """Join an app's user namespace (post-stop handlers, enter): after every other setns,
    since inside it we have no power over the namespaces the host's user namespace owns."""
    kernel.current().setns(user_fd, kernel.CLONE_NEWUSER)


def own(paths: list[str], shift: int) -> None:
    """Give files stage1 wrote as real root (e.g. /etc/hostname) to root inside."""
    for path in paths:
        try:
            if os.lstat(path).st_uid == 0:
                os.lchown(path, shift, shift)
        except FileNotFoundError:
            continue
