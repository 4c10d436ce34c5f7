"""The mutable state of parsing a run-family command line, frozen into a PodSpec at the end.

Flags arrive one at a time and per-app flags modify the image before them, so the parser
fills these drafts in place; `Draft.spec()` then hands the library an immutable
`rkt.pod.spec.PodSpec`, pod-wide `--mount`s merged into every app as rkt's MergeMounts does.
"""

from __future__ import annotations

from rkt.pod.spec import AppSpec, PodSpec, Stage1Ref, merge_mounts

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing on `rkt run`
if TYPE_CHECKING:
    from typing import Any

    from rkt.appc.pod import Volume


def _frozen(value: Any) -> Any:
    """Lists become tuples, dicts tuples of (key, value): insertion order is kept."""
    if isinstance(value, list):
        return tuple(value)
    if isinstance(value, dict):
        return tuple(value.items())
    return value


class AppDraft:
    """One image on the command line and the per-app flags seen after it so far."""

    def __init__(self, image: str) -> None:
        self.image = image
        self.exec: str | None = None
        self.args: list[str] | None = None
        self.name: str | None = None
        self.mounts: list[tuple[str, str]] = []
        self.user: str | None = None
        self.group: str | None = None
        self.supplementary_gids: list[int] | None = None
        self.working_dir: str | None = None
        self.readonly_rootfs: bool | None = None
        self.environment: list[tuple[str, str]] = []
        # isolator name -> JSON value; a later flag of the same kind replaces an earlier one
        self.isolators: dict[str, Any] = {}
        self.signature: str | None = None
        self.annotations: dict[str, str] = {}
        self.user_annotations: dict[str, str] = {}
        self.user_labels: dict[str, str] = {}

    def spec(self, pod_mounts: list[tuple[str, str]]) -> AppSpec:
        fields = {name: _frozen(getattr(self, name)) for name in AppSpec._fields}
        return AppSpec(**{**fields, "mounts": merge_mounts(pod_mounts, self.mounts)})


class Draft:
    """The flags seen so far; `spec()` freezes them into the PodSpec the library takes."""

    def __init__(self, command: str) -> None:
        self.command = command
        self.apps: list[AppDraft] = []
        self.pod_mounts: list[tuple[str, str]] = []
        self.volumes: list[Volume] = []
        self.ports: list[tuple[str, str | None, int]] = []
        self.net: list[str] | None = None  # None: the default network
        self.dns: list[str] = []
        self.dns_search: list[str] = []
        self.dns_opt: list[str] = []
        self.dns_domain: str | None = None
        self.hosts_entries: list[tuple[str, str]] = []
        self.hostname: str | None = None
        self.interactive = False
        self.set_env: list[tuple[str, str]] = []
        self.set_env_files: list[str] = []
        self.inherit_env = False
        self.uuid_file_save: str | None = None
        self.pull_policy = "new"
        self.stage1: Stage1Ref | None = None
        self.no_overlay = False
        self.private_users = False
        self.mds_register = False
        self.pod_manifest: str | None = None
        self.ipc: str | None = None
        self.quiet = False
        self.help = False
        # flags given, for the conflict checks (--pod-manifest, stage1 selection)
        self.seen: set[str] = set()

    def spec(self) -> PodSpec:
        fields = {name: _frozen(getattr(self, name)) for name in PodSpec._fields}
        return PodSpec(**{**fields, "apps": tuple(app.spec(self.pod_mounts) for app in self.apps)})
