"""Preparing a pod and handing it to stage1 (rkt's stage0 Prepare and Run).

`prepare_pod` resolves the stage1 and app images, generates the pod manifest, and fills a pod
dir created in `prepare/` under its lock; it ends in `prepared/` (unlocked) or, for `rkt run`,
in `run/` with the lock still held. A failed prepare removes its pod dir itself (the lock is
held, nothing is mounted yet), so no aborted prepare is left for gc. `exec_stage1` then, with
the pod lock held, enters a new mount namespace (`/` made rslave first, so nothing propagates
back to the host), mounts each app's overlay there and execs the stage1 `run` entrypoint with
the lock fd as RKT_LOCK_FD: the overlays live exactly as long as the pod's processes.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from rkt import jsonio, report
from rkt.errors import RktError
from rkt.lock import FileLock
from rkt.pod import pods, poddir
from rkt.pod.pods import Pod

TYPE_CHECKING = False  # typing's own constant, without importing typing on `rkt run`
if TYPE_CHECKING:
    from rkt.pod.spec import PodSpec


def _prepare_lock(opts) -> FileLock:
    """rkt's store-wide prepare lock: shared while pods are prepared, exclusive for image gc."""
    locks = Path(opts.dir) / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    lock = FileLock(locks / "prepareLock")
    lock.shared()
    return lock


def _image_manifest_json(store, image_id: str) -> dict:
    return jsonio.loads(store.manifest_bytes(image_id))


def prepare_pod(opts, spec: "PodSpec", *, for_run: bool) -> tuple[Pod, FileLock | None]:
    """A prepared pod: in `run/` with its lock held (for_run) or in `prepared/` unlocked."""
    from rkt.fetch import fetch
    from rkt.pod import manifest, stage1
    from rkt.store import Store

    prepare_lock = None
    store = Store(opts.dir)
    try:
        stage1_id = stage1.select(opts, store, spec.stage1)
        if spec.pod_manifest:
            pod_json, image_ids = manifest.from_file(spec.pod_manifest, store)
        else:
            image_ids = [fetch(opts, store, app.image, signature=app.signature,
                               pull_policy=spec.pull_policy) for app in spec.apps]
            images = [(i, _image_manifest_json(store, i)) for i in image_ids]
            report.phase("resolve")
            pod_json = manifest.generate(spec, images)
        report.phase("manifest")
        # As rkt: after fetching (which may be long), until the pod dir names its trees.
        prepare_lock = _prepare_lock(opts)
        pod, lock = pods.new_pod(opts)
        report.debug(f"pod {pod.uuid}: stage1 {stage1_id[:39]}, apps "
                     f"{', '.join(a['name'] for a in pod_json['apps'])}")
        try:
            if spec.uuid_file_save:
                pods.write_uuid_file(spec.uuid_file_save, pod.uuid)
            overlay = not spec.no_overlay
            why_not = poddir.overlay_unsupported(pod.path) if overlay else None
            if why_not:
                report.warn(f"overlay filesystem not usable ({why_not}), disabling overlay support")
                overlay = False
            private_users = None
            if spec.private_users:
                from rkt.pod.userns import UidRange
                if overlay:  # rkt's message, word for word
                    raise RktError("cannot use both overlay and user namespace: not implemented "
                                   "yet. (Try --no-overlay)")
                private_users = UidRange.random()
            try:
                poddir.prepare(store, pod.path, stage1_id, pod_json, image_ids, overlay=overlay,
                               check_trees="ondisk" not in opts.insecure,
                               private_users=private_users)
            except OSError as err:
                where = f" {err.filename}" if err.filename else ""
                raise RktError(f"cannot prepare pod {pod.uuid}:{where}: {err.strerror}") from None
            store.mark_used({stage1_id, *image_ids})
            (pod.path / pods.POD_CREATED_FILE).touch(mode=0o640)  # rkt's mode
            report.phase("render")
            if for_run:
                # Not made durable: a crash kills the pod, and left in prepare/ it is an
                # aborted prepare that gc removes.
                pod.rename_to("run", durable=False)
                pod.state = pods.RUNNING
                return pod, lock
            pod.rename_to("prepared")
            lock.close()
            return pod, None
        except BaseException:
            import shutil

            shutil.rmtree(pod.path, ignore_errors=True)
            lock.close()
            raise
    finally:
        if prepare_lock is not None:
            prepare_lock.close()
        store.close()


def lock_prepared(opts, uuid_or_prefix: str) -> tuple[Pod, FileLock]:
    """`run-prepared`: lock a prepared pod and move it to `run/` (rkt's ToRun)."""
    pod = pods.resolve(opts, uuid_or_prefix)
    if pod.dir_state != "prepared":
        raise RktError(f"pod {pod.uuid} is not prepared (it is {pod.state})")
    try:
        lock = pod.lock(exclusive=True, blocking=False)
    except RktError:
        raise RktError(f"pod {pod.uuid} is not prepared: another process holds it") from None
    try:
        if not pod.path.is_dir():  # lost a race with another run-prepared or gc
            raise RktError(f"pod {pod.uuid} is not prepared anymore")
        pod.rename_to("run")
    except BaseException:
        lock.close()
        raise
    pod.state = pods.RUNNING
    return pod, lock


def _register_mds(pod: Pod) -> str:
    from rkt.mds import client

    token = client.new_token()
    manifests = {}
    for app in (pod.path / "appsinfo").iterdir():
        manifests[app.name] = (app / "manifest").read_bytes()
    client.register(pod.uuid, token, (pod.path / "pod").read_bytes(), manifests)
    (pod.path / "mds-registered").touch()  # tells gc to unregister a pod that died hard
    return token


def exec_stage1(opts, spec: "PodSpec", pod: Pod, lock: FileLock) -> None:
    """Replace this process by the stage1 run entrypoint of a pod in `run/` locked by `lock`."""
    from rkt.pod import entrypoints

    try:
        stage1_manifest = entrypoints.read_manifest(pod.path)
        entry = entrypoints.entrypoint_path(stage1_manifest, "run")
        version = entrypoints.interface_version(stage1_manifest)
    except RktError as err:
        raise err.within(f"pod {pod.uuid}") from None
    program = pod.path / "stage1" / "rootfs" / entry
    if not os.access(program, os.X_OK):
        raise RktError(f"pod {pod.uuid}: stage1 run entrypoint /{entry} is not executable")
    if spec.interactive and len(list((pod.path / "appsinfo").iterdir())) > 1:
        raise RktError("interactive option only supports pods with one app")
    dns_mode = poddir.write_dns_files(pod.path, spec)
    mds_token = _register_mds(pod) if spec.mds_register else None
    overlays = []
    if poddir.uses_overlay(pod.path):
        overlays = poddir.overlay_mounts(pod.path, opts.dir)
    # --local-config: where stage1 finds net.d, as rkt
    args = entrypoints.run_args(version, spec, pod.uuid, debug=opts.debug, insecure=opts.insecure,
                                dns_conf_mode=dns_mode, mds_token=mds_token,
                                private_users=poddir.private_users(pod.path),
                                local_config=str(opts.local_config))
    env = dict(os.environ)
    env["RKT_LOCK_FD"] = str(lock.inheritable())
    # as rkt's stage0 (empty: no SELinux labels here); stage1s may read them
    env.setdefault("RKT_SELINUX_CONTEXT", "")
    env.setdefault("RKT_SELINUX_MOUNT_CONTEXT", "")
    sys.stdout.flush()
    sys.stderr.flush()
    poddir.mount_overlays(overlays)
    os.chdir(pod.path)
    report.debug(f"exec {program} {' '.join(args)}")
    report.phase("exec")
    try:
        os.execve(program, [str(program), *args], env)
    except OSError as err:
        raise RktError(f"cannot exec stage1 {program}: {err.strerror}") from None
