"""The mutable state of parsing a run-family command line, frozen into a PodSpec at the end.

Flags arrive one at a time and per-app flags modify the image before them, so the parser
fills these drafts in place; `Draft.spec()` then hands the library an immutable
`rkt.pod.spec.PodSpec`, pod-wide `--mount`s merged into every app as rkt's MergeMounts does.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from rkt.pod.spec import AppSpec, PodSpec, Stage1Ref, merge_mounts


def _frozen(value: Any) -> Any:
    """Lists become tuples, dicts tuples of (key, value): insertion order is kept."""
    if isinstance(value, list):
        return tuple(value)
    if isinstance(value, dict):
        return tuple(value.items())
    return value


@dataclasses.dataclass
class AppDraft:
    """One image on the command line and the per-app flags seen after it so far."""

    image: str
    exec: str | None = None
    args: list[str] | None = None
    name: str | None = None
    mounts: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    user: str | None = None
    group: str | None = None
    supplementary_gids: list[int] | None = None
    working_dir: str | None = None
    readonly_rootfs: bool | None = None
    environment: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    # isolator name -> JSON value; a later flag of the same kind replaces an earlier one
    isolators: dict[str, Any] = dataclasses.field(default_factory=dict)
    signature: str | None = None
    annotations: dict[str, str] = dataclasses.field(default_factory=dict)
    user_annotations: dict[str, str] = dataclasses.field(default_factory=dict)
    user_labels: dict[str, str] = dataclasses.field(default_factory=dict)

    def spec(self, pod_mounts: list[tuple[str, str]]) -> AppSpec:
        fields = {f.name: _frozen(getattr(self, f.name)) for f in dataclasses.fields(AppSpec)}
        return AppSpec(**{**fields, "mounts": merge_mounts(pod_mounts, self.mounts)})


@dataclasses.dataclass
class Draft:
    """The flags seen so far; `spec()` freezes them into the PodSpec the library takes."""

    command: str
    apps: list[AppDraft] = dataclasses.field(default_factory=list)
    pod_mounts: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    volumes: list = dataclasses.field(default_factory=list)  # rkt.appc.pod.Volume
    ports: list[tuple[str, str | None, int]] = dataclasses.field(default_factory=list)
    net: list[str] | None = None  # None: the default network
    dns: list[str] = dataclasses.field(default_factory=list)
    dns_search: list[str] = dataclasses.field(default_factory=list)
    dns_opt: list[str] = dataclasses.field(default_factory=list)
    dns_domain: str | None = None
    hosts_entries: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    hostname: str | None = None
    interactive: bool = False
    set_env: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    set_env_files: list[str] = dataclasses.field(default_factory=list)
    inherit_env: bool = False
    uuid_file_save: str | None = None
    pull_policy: str = "new"
    stage1: Stage1Ref | None = None
    no_overlay: bool = False
    private_users: bool = False
    mds_register: bool = False
    pod_manifest: str | None = None
    ipc: str | None = None
    quiet: bool = False
    help: bool = False
    # flags given, for the conflict checks (--pod-manifest, stage1 selection)
    seen: set[str] = dataclasses.field(default_factory=set)

    def spec(self) -> PodSpec:
        fields = {f.name: _frozen(getattr(self, f.name)) for f in dataclasses.fields(PodSpec)}
        return PodSpec(**{**fields, "apps": tuple(app.spec(self.pod_mounts) for app in self.apps)})
