"""rkt's trust store: which OpenPGP keys may sign images of which names.

The layout is rkt's: `<config>/trustedkeys/root.d/<fingerprint>` trusts a key for every image,
`<config>/trustedkeys/prefix.d/<prefix>/<fingerprint>` for images named `<prefix>` or below it,
in the local config dir (written by `rkt trust`) and the system (vendor) config dir. An empty
file in the local dir masks vendor keys of the same fingerprint. Unlike rkt, whose string
comparison let a key for `example.com/app` sign `example.com/apple`, a prefix only matches
whole path components.
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path

from rkt.appc.types import is_ac_identifier
from rkt.errors import RktError, UsageError
from rkt.fsutil import atomic_write
from rkt.options import GlobalOptions
from rkt.trust.openpgp import MAX_KEY_FILE_SIZE, KeyFileError, PublicKey, parse_public_keys

_FINGERPRINT_RE = re.compile(r"[0-9a-f]{40}")


def _is_store_path(name: str) -> bool:
    """A name's components become directories under prefix.d; appc's rules allow `a/../b` and
    `a//b` (Go checks only characters and edges), which must not name another directory."""
    return is_ac_identifier(name) and all(part not in ("", ".", "..") for part in name.split("/"))


def check_prefix(prefix: str) -> str:
    if not is_ac_identifier(prefix):
        raise UsageError(f"invalid prefix {prefix!r}: must be an AC Identifier "
                         "(lower-case letters, digits and -._~/, like example.com/app)")
    if not _is_store_path(prefix):
        raise UsageError(f'invalid prefix {prefix!r}: a path component is empty, "." or ".."')
    return prefix


def name_prefixes(name: str) -> list[str]:
    """Every prefix that covers image `name`, shortest first: a/b/c -> a, a/b, a/b/c."""
    parts = name.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]


@dataclasses.dataclass(frozen=True)
class TrustedKey:
    path: Path
    fingerprint: str
    scope: str  # "" for root.d, else the prefix

    def load(self) -> PublicKey:
        """The key in the file; it must be exactly one public key named by its fingerprint."""
        try:
            with open(self.path, "rb") as f:
                keys = parse_public_keys(f.read(MAX_KEY_FILE_SIZE + 1))
        except OSError as err:
            raise RktError(f"trusted key {self.path}: {err.strerror}") from None
        except KeyFileError as err:
            raise RktError(f"trusted key {self.path}: {err}") from None
        if len(keys) != 1:
            raise RktError(f"trusted key {self.path}: holds {len(keys)} keys, expected one")
        if keys[0].fingerprint != self.fingerprint:
            raise RktError(f"trusted key {self.path}: fingerprint mismatch: file is named "
                           f"{self.fingerprint} but holds key {keys[0].fingerprint}")
        return keys[0]


class Keystore:
    def __init__(self, opts: GlobalOptions):
        self.local = Path(opts.local_config) / "trustedkeys"
        self.system = Path(opts.system_config) / "trustedkeys"

    @staticmethod
    def _dir(base: Path, prefix: str) -> Path:
        return base / "root.d" if not prefix else base / "prefix.d" / prefix

    @staticmethod
    def _entries(directory: Path) -> list[tuple[str, Path, bool]]:
        """(fingerprint, path, empty) for the key files directly in `directory`."""
        try:
            names = sorted(os.listdir(directory))
        except (FileNotFoundError, NotADirectoryError):
            return []
        except OSError as err:
            raise RktError(f"trust store {directory}: {err.strerror}") from None
        out = []
        for name in names:
            path = directory / name
            if not path.is_file():
                continue  # sub-prefix directories, or junk
            if not _FINGERPRINT_RE.fullmatch(name):
                continue  # rkt names key files by fingerprint; anything else is not a key
            out.append((name, path, path.stat().st_size == 0))
        return out

    def trusted_keys(self, image_name: str) -> list[TrustedKey]:
        """The keys that may sign an image named `image_name`, with their scope."""
        if not is_ac_identifier(image_name):
            raise RktError(f"invalid image name {image_name!r}: must be an AC Identifier")
        if not _is_store_path(image_name):
            raise RktError(f"image name {image_name!r} has an empty, \".\" or \"..\" path "
                           "component: no trusted key can cover it")
        scopes = ["", *name_prefixes(image_name)]
        local = [(scope, entry) for scope in scopes
                 for entry in self._entries(self._dir(self.local, scope))]
        masked = {fp for _, (fp, _, empty) in local if empty}
        found: dict[str, TrustedKey] = {}
        for scope, (fp, path, empty) in local:
            if not empty:
                found.setdefault(fp, TrustedKey(path, fp, scope))
        for scope in scopes:
            for fp, path, empty in self._entries(self._dir(self.system, scope)):
                if not empty and fp not in masked:
                    found.setdefault(fp, TrustedKey(path, fp, scope))
        return list(found.values())

    def all_keys(self) -> list[TrustedKey]:
        """Every key in the store, whatever its prefix (to name an unknown signer early,
        before the image that tells its name is downloaded)."""
        found = []
        for base in (self.local, self.system):
            found += [TrustedKey(path, fp, "") for fp, path, empty in self._entries(base / "root.d")
                      if not empty]
            top = base / "prefix.d"
            for directory, _, _ in os.walk(top):
                scope = os.path.relpath(directory, top)
                found += [TrustedKey(path, fp, scope)
                          for fp, path, empty in self._entries(Path(directory)) if not empty]
        return found

    def keys_for(self, image_name: str) -> list[Path]:
        return [k.path for k in self.trusted_keys(image_name)]

    def add(self, key: bytes | PublicKey, prefix: str | None = None, root: bool = False) -> Path:
        """Store one public key in the local trust store for `prefix` (or as a root key)."""
        if (prefix is None) == (not root):
            raise UsageError("exactly one of a prefix or root is required")
        if prefix is not None:
            check_prefix(prefix)
        if not isinstance(key, PublicKey):
            try:
                keys = parse_public_keys(key)
            except KeyFileError as err:
                raise RktError(f"public key: {err}") from None
            if len(keys) != 1:
                raise RktError(f"public key data holds {len(keys)} keys; add them one by one")
            key = keys[0]
        if not key.has_certified_user_id:
            raise RktError(f"public key {key.fingerprint} has no self-signed user ID; "
                           "gpg could not use it to check signatures")
        directory = self._dir(self.local, prefix or "")
        try:
            directory.mkdir(parents=True, exist_ok=True, mode=0o755)
            target = directory / key.fingerprint
            atomic_write(target, key.armored())
        except OSError as err:
            raise RktError(f"cannot store key in {directory}: {err.strerror or err}") from None
        return target
