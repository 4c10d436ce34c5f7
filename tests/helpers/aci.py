"""Build ACI fixtures with plain tarfile, independently of the code under test.

`make_aci(path, manifest, files)` writes an ACI whose rootfs holds `files`:
a mapping of rootfs-relative path -> bytes (regular file), or a `Entry` for other kinds.
"""

from __future__ import annotations

import bz2
import dataclasses
import gzip
import hashlib
import io
import json
import lzma
import tarfile
from pathlib import Path

BUSYBOX = Path("/bin/busybox")


@dataclasses.dataclass
class Entry:
    """A rootfs entry other than a plain 0644 file: kind is file, dir, symlink, hardlink, chr, blk, fifo."""

    kind: str = "file"
    data: bytes = b""
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    target: str = ""  # symlink/hardlink target (hardlink: archive path, e.g. "rootfs/a")
    major: int = 0
    minor: int = 0
    mtime: int = 1_500_000_000
    xattrs: dict | None = None


def manifest(name: str = "example.com/test", version: str | None = "1.0.0", exec_=None,
             user: str = "0", group: str = "0", **extra) -> dict:
    """A minimal valid image manifest; `extra` keys are merged at top level (app=None drops the app)."""
    labels = [{"name": "os", "value": "linux"}, {"name": "arch", "value": "amd64"}]
    if version is not None:
        labels.insert(0, {"name": "version", "value": version})
    m = {"acKind": "ImageManifest", "acVersion": "0.8.11", "name": name, "labels": labels,
         "app": {"exec": exec_ or ["/bin/true"], "user": user, "group": group}}
    m.update(extra)
    if m.get("app") is None:
        m.pop("app", None)
    return m


def _info(name: str, entry: Entry) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mode, info.uid, info.gid, info.mtime = entry.mode, entry.uid, entry.gid, entry.mtime
    kinds = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE,
             "hardlink": tarfile.LNKTYPE, "chr": tarfile.CHRTYPE, "blk": tarfile.BLKTYPE,
             "fifo": tarfile.FIFOTYPE}
    info.type = kinds[entry.kind]
    if entry.kind in ("symlink", "hardlink"):
        info.linkname = entry.target
    if entry.kind in ("chr", "blk"):
        info.devmajor, info.devminor = entry.major, entry.minor
    if entry.kind == "file":
        info.size = len(entry.data)
    if entry.xattrs:
        info.pax_headers = {f"SCHILY.xattr.{k}": v for k, v in entry.xattrs.items()}
    return info


def tar_bytes(manifest_obj, files: dict | None = None, *, raw_manifest: bytes | None = None,
              extra_members: list[tuple[str, Entry]] | None = None) -> bytes:
    """The uncompressed ACI tar. Parent directories of rootfs files are added automatically."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        data = raw_manifest if raw_manifest is not None else json.dumps(manifest_obj).encode()
        tf.addfile(_info("manifest", Entry(data=data)), io.BytesIO(data))
        tf.addfile(_info("rootfs", Entry(kind="dir", mode=0o755)))
        entries = {}
        for path, value in (files or {}).items():
            entry = value if isinstance(value, Entry) else Entry(data=value)
            parts = path.strip("/").split("/")
            for i in range(1, len(parts)):
                entries.setdefault("/".join(parts[:i]), Entry(kind="dir", mode=0o755))
            entries["/".join(parts)] = entry
        for path in sorted(entries, key=lambda p: (p.count("/"), p)):
            entry = entries[path]
            tf.addfile(_info(f"rootfs/{path}", entry),
                       io.BytesIO(entry.data) if entry.kind == "file" else None)
        for name, entry in extra_members or []:
            tf.addfile(_info(name, entry), io.BytesIO(entry.data) if entry.kind == "file" else None)
    return buf.getvalue()


def compress(data: bytes, compression: str) -> bytes:
    if compression == "gzip":
        return gzip.compress(data, mtime=0)
    if compression == "bzip2":
        return bz2.compress(data)
    if compression == "xz":
        return lzma.compress(data)
    assert compression in ("none", "tar")
    return data


def image_id(tar: bytes) -> str:
    return "sha512-" + hashlib.sha512(tar).hexdigest()


def make_aci(path: Path, manifest_obj: dict | None = None, files: dict | None = None,
             compression: str = "gzip", **kw) -> str:
    """Write an ACI to `path`; returns its image ID (sha512 of the uncompressed tar)."""
    tar = tar_bytes(manifest_obj if manifest_obj is not None else manifest(), files, **kw)
    Path(path).write_bytes(compress(tar, compression))
    return image_id(tar)


def make_layout(root: Path, name: str = "example.com/built", files: dict | None = None) -> Path:
    """An image layout directory (`manifest` + `rootfs/`) for `rkt image build` / build_aci;
    `files` maps rootfs paths to bytes (default: one script, bin/hello)."""
    layout = Path(root) / "layout"
    (layout / "rootfs").mkdir(parents=True)
    for rel, data in (files if files is not None else {"bin/hello": b"#!/bin/sh\necho hi\n"}).items():
        (layout / "rootfs" / rel).parent.mkdir(parents=True, exist_ok=True)
        (layout / "rootfs" / rel).write_bytes(data)
    (layout / "manifest").write_text(json.dumps(manifest(name)))
    return layout


def busybox_files(extra: dict | None = None) -> dict:
    """A rootfs with Debian's static busybox, its applets as symlinks, and a minimal /etc."""
    files: dict = {"bin/busybox": Entry(data=BUSYBOX.read_bytes(), mode=0o755)}
    for applet in ("sh", "true", "false", "echo", "cat", "ls", "sleep", "id", "env", "pwd",
                   "hostname", "mount", "grep", "touch", "test", "stat", "ps", "kill", "wc"):
        files[f"bin/{applet}"] = Entry(kind="symlink", target="busybox")
    files["etc/passwd"] = b"root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\n"
    files["etc/group"] = b"root:x:0:\nuser:x:1000:\nextra:x:1500:user\n"
    for d in ("proc", "sys", "dev", "tmp", "root", "home/user", "var", "run"):
        files[d] = Entry(kind="dir", mode=0o755)
    files.update(extra or {})
    return files


def busybox_aci(path: Path, name: str = "example.com/busybox", exec_=None, compression="gzip",
                **manifest_extra) -> str:
    return make_aci(path, manifest(name, exec_=exec_ or ["/bin/sh", "-c", "echo hello from busybox"],
                                   **manifest_extra), busybox_files(), compression)


