"""`docker://[REGISTRY[:PORT]/]NAME[:TAG|@sha256:DIGEST]`, with rkt's (docker2aci's) defaults.

No registry means Docker Hub (`registry-1.docker.io`), where a one-component name lives in
`library/`; no tag means `latest`. The first component is a registry when it has a `.` or a
`:` or is `localhost`, as in Docker. The ACI name is `REGISTRY/REPOSITORY` made an appc name.
"""

from __future__ import annotations

import dataclasses
import re

from rkt.errors import RktError

DOCKER_HUB = "registry-1.docker.io"
_HUB_ALIASES = ("docker.io", "index.docker.io", DOCKER_HUB)
_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_HOST = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.?)+(?::[0-9]+)?|\[[0-9a-fA-F:]+\](?::[0-9]+)?")


@dataclasses.dataclass(frozen=True)
class Reference:
    registry: str
    repository: str
    tag: str | None
    digest: str | None

    @property
    def reference(self) -> str:
        """What the manifest is asked for by: the digest if given, else the tag."""
        return self.digest or self.tag or "latest"

    @property
    def version(self) -> str:
        return self.tag or self.digest or "latest"

    @property
    def aci_name(self) -> str:
        from rkt.fetch.docker.convert import ac_identifier

        return ac_identifier(f"{self.registry}/{self.repository}")

    def __str__(self) -> str:
        suffix = f"@{self.digest}" if self.digest else f":{self.tag or 'latest'}"
        return f"docker://{self.registry}/{self.repository}{suffix}"


def parse_reference(text: str) -> Reference:
    """A docker reference, with or without the `docker://` scheme."""
    ref = text[len("docker://"):] if text.startswith("docker://") else text
    shown = f'image "{text}"'
    if not ref:
        raise RktError(f"{shown}: empty docker reference")
    ref, at, digest = ref.partition("@")
    if at:
        from rkt.fetch.docker.image import check_digest

        check_digest(digest, shown)
    first, slash, rest = ref.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        registry, path = first, rest
        if not _HOST.fullmatch(registry):
            raise RktError(f'{shown}: invalid registry "{registry}"')
    else:
        registry, path = DOCKER_HUB, ref
    name, colon, tag = path.rpartition(":") if ":" in path else (path, "", "")
    if colon and "/" in tag:
        name, tag = path, ""
        colon = ""
    if colon and not _TAG.fullmatch(tag):
        raise RktError(f'{shown}: invalid tag "{tag}"')
    if registry in _HUB_ALIASES:
        registry = DOCKER_HUB
        if "/" not in name:
            name = "library/" + name
    if not name or not all(_COMPONENT.fullmatch(c) for c in name.split("/")):
        raise RktError(f'{shown}: invalid repository name "{name}" (lowercase letters, digits '
                       "and separators)")
    return Reference(registry, name, tag or (None if at else "latest"), digest or None)
