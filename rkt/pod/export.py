"""`rkt export`: an app's rootfs, with the changes the app made, as a new ACI.

With overlayfs the app's files are the tree store's rendered rootfs (lower) plus the pod's
`overlay/<app>/upper`; we mount both as a read-only overlay (upper over lower, no upperdir, so
nothing in the pod changes) in a private mount namespace of a child process, whose mounts vanish
with it. With `--no-overlay` the pod holds a plain copy, bind-mounted the same way.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from rkt import kernel
from rkt.errors import RktError
from rkt.pod import poddir
from rkt.pod import pods as podlib
from rkt.pod.enter import choose_app

if TYPE_CHECKING:
    from rkt.options import GlobalOptions
    from rkt.pod.pods import Pod

EXPORTABLE = (podlib.EXITED, podlib.EXITED_GARBAGE, podlib.PREPARED)


def _read_id(path: Path) -> str | None:
    try:
        value = path.read_text().strip()
    except OSError:
        return None
    return value if value and "/" not in value and not value.startswith(".") else None


def app_layers(opts: "GlobalOptions", pod: "Pod", app: str) -> tuple[Path, Path | None]:
    """(lower, upper) of the app's rootfs: (tree rootfs, upper dir) with overlay, (copy, None)
    without."""
    tree_id = _read_id(pod.path / "appsinfo" / app / "treeStoreID")
    upper = next((pod.path / "overlay" / name / "upper" for name in (app, tree_id)
                  if name and (pod.path / "overlay" / name / "upper").is_dir()), None)
    if upper is not None:
        if tree_id is None:
            raise RktError(f'pod "{pod.uuid}": app "{app}" has no treeStoreID')
        from rkt.store import layout

        lower = layout.tree_path(opts.dir, tree_id) / "rootfs"
        if not lower.is_dir():
            raise RktError(f'the rendered image of app "{app}" is gone from the store '
                           f"(tree {tree_id}); cannot rebuild its rootfs")
        return lower, upper
    copy = poddir.app_rootfs(pod.path, app)
    if not copy.is_dir() or copy.is_symlink():
        raise RktError(f'pod "{pod.uuid}": no rootfs for app "{app}"')
    return copy, None


def export_manifest(pod: "Pod", app: str) -> bytes:
    """The app's image manifest, without what no longer applies to a flattened rootfs."""
    try:
        manifest = json.loads((pod.path / "appsinfo" / app / "manifest").read_bytes())
    except (OSError, ValueError):
        raise RktError(f'pod "{pod.uuid}": cannot read the image manifest of app "{app}"') from None
    if not isinstance(manifest, dict):
        raise RktError(f'pod "{pod.uuid}": invalid image manifest for app "{app}"')
    manifest.pop("dependencies", None)
    manifest.pop("pathWhitelist", None)
    return json.dumps(manifest, indent=4).encode()


def mount_app_rootfs(lower: Path, upper: Path | None, rootfs: Path) -> None:
    """Show the app's files at `rootfs`, read-only: the plain copy bind-mounted, or the upper
    dir over the tree store render as an overlay without upperdir (nothing in the pod changes)."""
    k = kernel.current()
    try:
        if upper is None:
            k.mount(lower, rootfs, None, kernel.MS_BIND | kernel.MS_REC, None)
        else:
            k.mount("overlay", rootfs, "overlay", kernel.MS_RDONLY, f"lowerdir={upper}:{lower}")
    except OSError as err:
        what = f"bind-mount {lower}" if upper is None else "mount the app overlay"
        raise RktError(f"{what}: {err.strerror}") from None


def _in_private_mount_namespace(work) -> None:
    """Run `work()` in a forked child with its own (rslave) mount namespace; re-raise its error."""
    import sys

    sys.stdout.flush()
    sys.stderr.flush()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never returns
        code = 1
        try:
            os.close(read_end)
            kernel.private_mount_namespace()
            work()
            code = 0
        except BaseException as err:  # noqa: BLE001 - reported to the parent
            message = str(err) if isinstance(err, RktError) else f"{type(err).__name__}: {err}"
            try:
                os.write(write_end, message.encode(errors="replace")[:4096])
            except OSError:
                pass
        finally:
            os._exit(code)
    os.close(write_end)
    chunks = []
    while chunk := os.read(read_end, 4096):
        chunks.append(chunk)
    os.close(read_end)
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RktError(b"".join(chunks).decode(errors="replace") or "export failed")


def export(opts: "GlobalOptions", pod: "Pod", out: str, *, app: str | None = None,
           overwrite: bool = False) -> str:
    """Write the app's rootfs as an ACI to `out`; returns the app name."""
    from rkt.aci import build_aci

    if not out.endswith(".aci"):
        raise RktError(f"extension must be .aci (given {out})")
    target = Path(out)
    if target.exists() and not overwrite:
        raise RktError(f"{out}: target file exists (try --overwrite)")
    if target.is_dir():
        raise RktError(f"{out}: is a directory")
    if not target.absolute().parent.is_dir():
        raise RktError(f"{out}: directory {target.absolute().parent} does not exist")
    if pod.refresh().state not in EXPORTABLE:
        raise RktError(f'pod "{pod.uuid}" is {pod.state}: only exited or prepared pods '
                       f"can be exported")
    # a shared lock keeps gc (which needs it exclusively) away while we read the pod
    lock = pod.lock(exclusive=False, blocking=False)
    with lock:
        if pod.refresh(locate=False).state not in EXPORTABLE:
            raise RktError(f'pod "{pod.uuid}" is {pod.state}: only exited or prepared pods '
                           f"can be exported")
        name = choose_app(pod, app)
        lower, upper = app_layers(opts, pod, name)
        manifest = export_manifest(pod, name)
        tmp_root = Path(opts.dir) / "tmp"
        tmp_root.mkdir(parents=True, exist_ok=True)
        layout = Path(tempfile.mkdtemp(prefix="export-", dir=tmp_root))
        try:
            (layout / "manifest").write_bytes(manifest)
            rootfs = layout / "rootfs"
            rootfs.mkdir(mode=0o755)

            def build() -> None:
                mount_app_rootfs(lower, upper, rootfs)
                build_aci(layout, target)

            _in_private_mount_namespace(build)
        finally:
            shutil.rmtree(layout, ignore_errors=True)
    return name
