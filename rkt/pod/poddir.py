"""Filling a pod directory with its stage1 and its apps' filesystems.

The stage1 image is copied into `stage1/` (it is small, and stage1 writes into its rootfs).
Each app gets `appsinfo/<app>/{treeStoreID,manifest}` and either overlay dirs
`overlay/<app>/{upper,work}` — the overlay itself is mounted only at run time, inside the pod's
private mount namespace, over the read-only tree store render — or, with `--no-overlay`, a full
copy of the rendered rootfs at `stage1/rootfs/opt/stage2/<app>/rootfs`.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from rkt import jsonio, kernel
from rkt.errors import RktError
from rkt.fsutil import copy_small_tree, copy_tree

STAGE2 = Path("stage1/rootfs/opt/stage2")
_TREE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,254}")
OVERLAY_PREPARED = "overlay-prepared"
PRIVATE_USERS_PREPARED = "private-users-prepared"  # rkt's common.PrivateUsersPreparedFilename
POD_LOCK = "pod.lck"  # rkt's lock for changing a pod's apps; created as rkt does, unused here
DIR_PERM, FILE_PERM = 0o750, 0o640  # rkt's common.DefaultRegular{Dir,File}Perm


def app_rootfs(pod_path: Path, app: str) -> Path:
    return pod_path / STAGE2 / app / "rootfs"


def _mkdirs(path: Path, mode: int = DIR_PERM) -> None:
    """mkdir -p with `mode` on every directory it creates, as Go's os.MkdirAll (rkt's modes)."""
    if path.is_dir():
        return
    _mkdirs(path.parent, mode)
    path.mkdir(mode=mode)


def _write(path: Path, data: bytes | str, mode: int = FILE_PERM) -> None:
    """Create or replace a file of the pod dir (its directory exists)."""
    raw = data.encode() if isinstance(data, str) else data
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(raw)


def _tree(store, image_id: str, check: bool):
    """The image's rendered tree; with `check` (unless --insecure-options=ondisk, as rkt) a
    tree changed on disk since its render is rendered again first."""
    return store.render_checked(image_id) if check else store.render(image_id)


def copy_stage1(store, stage1_id: str, pod_path: Path, check: bool = True) -> dict:
    """Copy the stage1 tree into the pod; its manifest (JSON)."""
    tree = _tree(store, stage1_id, check)
    stage1 = pod_path / "stage1"
    stage1.mkdir(mode=DIR_PERM)
    try:
        copy_small_tree(tree.path / "rootfs", stage1 / "rootfs")
    except OSError as err:
        raise RktError(f"cannot copy the stage1 image into the pod: {err.filename}: "
                       f"{err.strerror}") from None
    manifest = store.manifest_bytes(stage1_id)
    _write(stage1 / "manifest", manifest)
    _write(pod_path / "stage1TreeStoreID", tree.id)
    return jsonio.loads(manifest)


def prepare_app(store, pod_path: Path, app: str, image_id: str, overlay: bool,
                check: bool = True, uid_shift: int = 0) -> None:
    tree = _tree(store, image_id, check)
    info = pod_path / "appsinfo" / app
    _mkdirs(info)
    _write(info / "treeStoreID", tree.id)
    manifest = store.manifest_bytes(image_id)
    _write(info / "manifest", manifest)
    target = app_rootfs(pod_path, app)
    _mkdirs(target.parent)
    if overlay:
        # the overlay's root takes the upper dir's mode: the image's rootfs mode, as rkt
        image_mode = stat.S_IMODE((tree.path / "rootfs").stat().st_mode)
        _mkdirs(pod_path / "overlay" / app)
        (pod_path / "overlay" / app / "upper").mkdir(mode=image_mode)
        (pod_path / "overlay" / app / "work").mkdir(mode=DIR_PERM)
        target.mkdir(mode=image_mode)
    else:
        copy_tree(tree.path / "rootfs", target)
        if uid_shift:  # --private-users: root inside is the shifted uid outside, as rkt
            from rkt.pod.userns import shift_tree
            shift_tree(target, uid_shift)
            os.chown(target.parent, uid_shift, uid_shift)
    # rkt's stage1s read each app's image manifest beside its rootfs (common.ImageManifestPath)
    _write(target.parent / "manifest", manifest)


def prepare(store, pod_path: Path, stage1_id: str, pod_manifest: dict, image_ids: list[str],
            overlay: bool, check_trees: bool = True, private_users=None) -> None:
    """Fill the pod dir; `private_users`: the rkt.pod.userns.UidRange of --private-users."""
    from rkt.pod.stage1 import check_stage1

    stage1_manifest = copy_stage1(store, stage1_id, pod_path, check_trees)
    check_stage1(stage1_manifest, stage1_id)
    for ra, image_id in zip(pod_manifest["apps"], image_ids):
        prepare_app(store, pod_path, ra["name"], image_id, overlay, check_trees,
                    private_users.shift if private_users else 0)
    if overlay:
        _write(pod_path / OVERLAY_PREPARED, "", 0o644)
    if private_users:
        _write(pod_path / PRIVATE_USERS_PREPARED, private_users.serialize(), 0o644)
    _write(pod_path / POD_LOCK, "", 0o600)
    _write(pod_path / "pod", jsonio.dumps(pod_manifest))


# statfs f_type of filesystems overlayfs cannot take as upper dir (rkt's PathSupportsOverlay)
_NO_OVERLAY_UPPER = {0x794C7630: "overlayfs", 0x61756673: "aufs", 0x2FC12FC1: "zfs"}


def overlay_unsupported(path: Path) -> str | None:
    """Why the pods under `path` cannot use overlayfs, or None when they can."""
    try:
        with open("/proc/filesystems") as f:
            if not any(line.split()[-1] == "overlay" for line in f if line.strip()):
                return "the kernel has no overlay filesystem"
    except OSError:
        return "cannot read /proc/filesystems"
    try:
        f_type = kernel.current().statfs_type(path)
    except OSError:
        return None  # let the mount itself say what is wrong
    name = _NO_OVERLAY_UPPER.get(f_type)
    return f"{path} is on {name}" if name else None


def uses_overlay(pod_path: Path) -> bool:
    return (pod_path / OVERLAY_PREPARED).exists()


def private_users(pod_path: Path) -> str | None:
    """The `SHIFT:COUNT` range the pod was prepared with (--private-users), or None; the
    userns module is loaded only for a pod that has one."""
    try:
        text = (pod_path / PRIVATE_USERS_PREPARED).read_text()
    except FileNotFoundError:
        return None
    from rkt.pod.userns import UidRange

    return UidRange.parse(text).serialize()


def overlay_mounts(pod_path: Path, data_dir: str | os.PathLike) -> list[tuple[str, Path]]:
    """(overlay options, mount point) of every app of a prepared pod, over the store's trees."""
    from rkt.appc.types import is_ac_name
    from rkt.store import layout

    try:
        pod = jsonio.loads((pod_path / "pod").read_bytes())
        names = [ra["name"] for ra in pod["apps"]]
    except (OSError, ValueError, KeyError, TypeError):
        raise RktError(f"{pod_path}: unreadable pod manifest") from None
    mounts = []
    for app in names:
        if not isinstance(app, str) or not is_ac_name(app):
            raise RktError(f"{pod_path}: invalid app name {app!r} in the pod manifest")
        try:
            tree_id = (pod_path / "appsinfo" / app / "treeStoreID").read_text().strip()
        except OSError:
            raise RktError(f'app "{app}": no treeStoreID in the pod') from None
        if not _TREE_ID.fullmatch(tree_id):
            raise RktError(f'app "{app}": invalid treeStoreID {tree_id[:80]!r}')
        lower = layout.tree_path(data_dir, tree_id) / "rootfs"
        if not lower.is_dir():
            raise RktError(f'app "{app}": its image render {tree_id} is gone from the store '
                           "(was the image removed?)")
        upper = pod_path / "overlay" / app / "upper"
        work = pod_path / "overlay" / app / "work"
        for p in (lower, upper, work):
            if any(c in str(p) for c in ",:\\"):
                raise RktError(f"cannot mount an overlay from {p}: the path holds ',' ':' or '\\'")
        mounts.append((f"lowerdir={lower},upperdir={upper},workdir={work}",
                       app_rootfs(pod_path, app)))
    return mounts


def mount_overlays(overlays: list[tuple[str, Path]]) -> None:
    """Enter a private mount namespace (`/` rslave first) and mount each app's overlay there:
    the mounts live exactly as long as the processes of this namespace."""
    kernel.private_mount_namespace()
    for options, target in overlays:
        try:
            kernel.current().mount("overlay", target, "overlay", 0, options)
        except OSError as err:
            raise RktError(f"cannot mount the overlay at {target}: {err.strerror}") from None


def join_pod_mounts(pod_path: Path, pid: int) -> None:
    """Join the mount namespace of the pod's process `pid` and return to the pod dir, when
    its app overlays live only there (we mount them in a private namespace, rkt on the host):
    a stage1 that enters by path, as rkt's fly does through /proc/PID/root, then sees them."""
    if not uses_overlay(pod_path):
        return
    try:
        fd = os.open(f"/proc/{pid}/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
    except OSError as err:
        raise RktError(f"cannot open the mount namespace of the pod's process {pid}: "
                       f"{err.strerror}") from None
    try:
        kernel.current().setns(fd, kernel.CLONE_NEWNS)
        os.chdir(pod_path)  # setns moved our cwd to that namespace's root
    except OSError as err:
        raise RktError(f"cannot join the mount namespace of the pod's process {pid}: "
                       f"{err.strerror}") from None
    finally:
        os.close(fd)


def write_dns_files(pod_path: Path, spec) -> str:
    """Write rkt-resolv.conf / rkt-hosts for stage1 as rkt does; the --dns-conf-mode value."""
    etc = pod_path / "stage1" / "rootfs" / "etc"
    if spec.dns_host_or_none:
        resolv = spec.dns[0]
    elif spec.dns or spec.dns_search or spec.dns_opt or spec.dns_domain:
        resolv = "stage0"
        lines = ["# Generated by rkt run", ""]  # rkt's common.MakeResolvConf, byte for byte
        if spec.dns_search:
            lines.append("search " + " ".join(spec.dns_search))
        lines += [f"nameserver {ns}" for ns in spec.dns]
        if spec.dns_opt:
            lines.append("options " + " ".join(spec.dns_opt))
        if spec.dns_domain:
            lines.append(f"domain {spec.dns_domain}")
        etc.mkdir(parents=True, exist_ok=True)  # a stage1 image may have no /etc
        _write(etc / "rkt-resolv.conf", "\n".join(lines) + "\n", 0o644)
    else:
        resolv = "default"
    if any(ip == "host" for ip, _ in spec.hosts_entries):
        hosts = "host"
    elif spec.hosts_entries:
        hosts = "stage0"
        by_ip: dict[str, list[str]] = {}
        for ip, host in spec.hosts_entries:
            by_ip.setdefault(ip, []).append(host)
        # as rkt's writeEtcHosts: the stage1's fallback (localhost) first, then the entries
        try:
            text = (etc / "hosts-fallback").read_text()
        except OSError:
            text = "#created by rkt stage0\n127.0.0.1 localhost localhost.localdomain\n"
        text += "\n\n# Added by rkt run --hosts-entry\n"
        text += "".join(f"{ip} {' '.join(names)}\n" for ip, names in by_ip.items())
        etc.mkdir(parents=True, exist_ok=True)
        _write(etc / "rkt-hosts", text, 0o644)
    else:
        hosts = "default"
    return f"resolv={resolv},hosts={hosts}"
