"""Global options shared by every command (rkt's persistent flags).

They are parsed by hand in `rkt.cli.main` before any command module is imported, so the
`rkt run` path never pays for click; `GlobalOptions` is the result both paths share.
"""

from __future__ import annotations

from pathlib import Path

from rkt.errors import UsageError
from rkt.record import Record

# --insecure-options names, as in rkt/flag/secflags.go; the composite names expand.
INSECURE_FLAGS = frozenset(
    {"image", "tls", "ondisk", "http", "pubkey", "capabilities", "paths", "seccomp"}
)
INSECURE_ALIASES = {
    "none": frozenset(),
    "all-fetch": frozenset({"image", "tls", "http", "pubkey", "ondisk"}),
    "all-run": frozenset({"capabilities", "paths", "seccomp"}),
    "all": INSECURE_FLAGS,
}

DEFAULT_DIR = "/var/lib/rkt"
DEFAULT_LOCAL_CONFIG = "/etc/rkt"
DEFAULT_SYSTEM_CONFIG = "/usr/lib/rkt"


def parse_insecure_options(value: str) -> frozenset[str]:
    chosen: set[str] = set()
    for word in filter(None, (w.strip() for w in value.split(","))):
        if word in INSECURE_ALIASES:
            chosen |= INSECURE_ALIASES[word]
        elif word in INSECURE_FLAGS:
            chosen.add(word)
        else:
            known = ",".join(["none", *sorted(INSECURE_FLAGS), "all-fetch", "all-run", "all"])
            raise UsageError(f"--insecure-options: unknown option {word!r} (known: {known})")
    return frozenset(chosen)


def parse_bool(flag: str, value: str) -> bool:
    lowered = value.lower()
    if lowered in ("true", "1", "t", "yes"):
        return True
    if lowered in ("false", "0", "f", "no"):
        return False
    raise UsageError(f"{flag}: invalid boolean {value!r}")


class GlobalOptions(Record):
    dir: Path = Path(DEFAULT_DIR)
    local_config: Path = Path(DEFAULT_LOCAL_CONFIG)
    system_config: Path = Path(DEFAULT_SYSTEM_CONFIG)
    user_config: Path | None = None
    debug: bool = False
    insecure: frozenset[str] = frozenset()
    trust_keys_from_https: bool = False

    def insecure_for(self, name: str) -> bool:
        return name in self.insecure

    @property
    def config_dirs(self) -> list[Path]:
        """Config directories from lowest to highest precedence: system < local < user."""
        dirs = [self.system_config, self.local_config]
        if self.user_config is not None:
            dirs.append(self.user_config)
        return dirs


# flag name -> (field, takes a value)
_GLOBAL_FLAGS = {
    "--dir": ("dir", True),
    "--local-config": ("local_config", True),
    "--system-config": ("system_config", True),
    "--user-config": ("user_config", True),
    "--debug": ("debug", False),
    "--insecure-options": ("insecure", True),
    "--trust-keys-from-https": ("trust_keys_from_https", False),
}


def split_global_options(argv: list[str]) -> tuple[GlobalOptions, list[str]]:
    """Take rkt's persistent flags out of argv wherever they stand before a `--`.

    Like cobra's persistent flags, `rkt --dir=X run` and `rkt run --dir=X` mean the same.
    Boolean flags accept `--debug`, `--debug=true|false`.
    """
    values: dict[str, object] = {}
    rest: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            rest.extend(argv[i:])
            break
        name, eq, inline = arg.partition("=")
        spec = _GLOBAL_FLAGS.get(name)
        if spec is None:
            rest.append(arg)
            i += 1
            continue
        field, takes_value = spec
        if takes_value:
            if eq:
                value = inline
            elif i + 1 < len(argv):
                i += 1
                value = argv[i]
            else:
                raise UsageError(f"flag needs an argument: {name}")
            if field == "insecure":
                values[field] = parse_insecure_options(value)
            elif field == "user_config":
                values[field] = Path(value).absolute() if value else None
            else:
                if not value:
                    raise UsageError(f"{name}: empty path")
                # absolute: stage0 changes directory into the pod before exec'ing stage1
                values[field] = Path(value).absolute()
        else:
            values[field] = parse_bool(name, inline) if eq else True
        i += 1
    return GlobalOptions(**values), rest
