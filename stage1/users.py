"""App identity: the appc `user`/`group` strings turned into numbers, inside the app's rootfs.

A user or group is a number, a name looked up in the IMAGE's /etc/passwd or /etc/group (never the
host's), or an absolute path whose owner uid/gid is used (rkt's `ParseUserGroup`). Called after
pivot_root, so `/etc/passwd` here is the image's.
"""

from __future__ import annotations

import os


class UserError(Exception):
    """The app's user or group cannot be resolved; the message is one line."""


def _lookup(db: str, name: str) -> int | None:
    try:
        with open(db, "rb") as f:
            lines = f.read().decode(errors="replace").splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split(":")
        if len(fields) >= 3 and fields[0] == name:
            try:
                return int(fields[2])
            except ValueError:
                return None
    return None


def _resolve(value: str, kind: str, db: str, root: str) -> int:
    if value.isdigit():
        number = int(value)
        if number >= 2**32 - 1:
            raise UserError(f"{kind} {value!r} is out of range")
        return number
    if value.startswith("/"):
        try:
            st = os.stat(root.rstrip("/") + value)
        except OSError as err:
            raise UserError(f"{kind} from file {value!r}: {err.strerror}") from None
        return st.st_uid if kind == "user" else st.st_gid
    if value == "root":
        return 0
    number = _lookup(root.rstrip("/") + db, value)
    if number is None:
        raise UserError(f"{kind} {value!r} not found in the image's {db}")
    return number


def resolve_user(value: str, root: str = "/") -> int:
    return _resolve(value, "user", "/etc/passwd", root)


def resolve_group(value: str, root: str = "/") -> int:
    return _resolve(value, "group", "/etc/group", root)
