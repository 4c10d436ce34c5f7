"""appc's value types and the JSON plumbing every manifest part shares: names, image IDs,
versions, paths, URLs, dates, and how a JSON object's fields are matched and checked.

Every validator takes the JSON value and the JSON path it came from, returns the clean value and
raises `ManifestError(path, rule)` otherwise, so a bad manifest is reported as
`manifest: app.isolators[0].value.limit: ...`. The rules follow the appc spec (0.8.11), except for
names: those are checked as appc's Go code checks them (allowed characters and edges only), since
rkt and actool accept `shorthash--21` and images in the wild carry such names.
"""

from __future__ import annotations

import re

from rkt import jsonio
from rkt.errors import ManifestError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing on `rkt run`
if TYPE_CHECKING:  # datetime itself loads only when a manifest needs it
    import datetime
    from typing import Any

AC_VERSION = "0.8.11"

# Patterns stay strings, compiled (and cached) by `re` on first use: compiling them all costs
# ~3 ms, and a command checks only a few of them.
# appc's Go code (schema/types/acidentifier.go, acname.go) checks only the characters and that
# both edges are alphanumeric; the spec text's regex also refuses repeated separators
# (`shorthash--21`, `example.com/~bob/app`), which rkt and actool accept.
AC_IDENTIFIER_PATTERN = r"[a-z0-9](?:[a-z0-9._~/-]*[a-z0-9])?"
AC_NAME_PATTERN = r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?"
ENV_NAME_PATTERN = r"[A-Za-z_][A-Za-z_0-9.-]*"
IMAGE_ID_PATTERN = r"sha512-[0-9a-f]{128}"
SHORT_ID_LENGTH = len("sha512-") + 32
_SEMVER_PATTERN = (
    r"(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)"
    r"(?:-((?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)"
    r"(?:\.(?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*))*))?"
    r"(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
)
# RFC 3339 date-time: Go's time.RFC3339 wants the literal `T`, seconds, and a zone.
_RFC3339_PATTERN = (
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]+)?"
    r"(Z|[+-][0-9]{2}:[0-9]{2})"
)

# The os/arch pairs appc's Go code accepts (schema/types/labels.go), longer than the prose list.
VALID_OS_ARCH: dict[str, tuple[str, ...]] = {
    "linux": ("amd64", "i386", "aarch64", "aarch64_be", "armv6l", "armv7l", "armv7b",
              "ppc64", "ppc64le", "s390x"),
    "freebsd": ("amd64", "i386", "arm"),
    "darwin": ("x86_64", "i386"),
}

EVENT_HANDLER_NAMES = ("pre-start", "post-stop")
VOLUME_KINDS = ("host", "empty")


# ---------------------------------------------------------------------------------------------
# JSON plumbing shared by the manifests (rkt.appc.image, rkt.appc.pod, rkt.appc.isolators)

def join(path: str, key: str | int) -> str:
    """`join("app", "user")` -> `app.user`; `join("labels", 1)` -> `labels[1]`."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def fields(obj: Any, path: str, names: tuple[str, ...]) -> dict[str, Any]:
    """The known fields of a JSON object, matched as Go's encoding/json does.

    Go matches keys case-insensitively (so `supplementaryGids` fills `supplementaryGIDs`), the
    last matching key wins, unknown keys are ignored, and `null` means absent.
    """
    if not isinstance(obj, dict):
        raise ManifestError(path, "must be a JSON object")
    exact = {n: n for n in names}
    folded = {n.casefold(): n for n in names}
    found: dict[str, Any] = {}
    for key, value in obj.items():
        if not isinstance(key, str):
            continue
        name = exact.get(key) or folded.get(key.casefold())
        if name is None:
            continue
        if value is None:
            found.pop(name, None)
        else:
            found[name] = value
    return found


def string(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise ManifestError(path, "must be a string")
    return value


def nonempty_string(value: Any, path: str) -> str:
    if string(value, path) == "":
        raise ManifestError(path, "must not be empty")
    return value


def boolean(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise ManifestError(path, "must be true or false")
    return value


def integer(value: Any, path: str, low: int | None = None, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ManifestError(path, "must be an integer")
    if (low is not None and value < low) or (high is not None and value > high):
        if high is None:
            raise ManifestError(path, f"must be at least {low}")
        raise ManifestError(path, f"must be between {low} and {high}")
    return value


def array(value: Any, path: str) -> list | tuple:
    # Tuples come from manifests built in code; JSON itself only has lists.
    if not isinstance(value, (list, tuple)):
        raise ManifestError(path, "must be a JSON array")
    return value


# No appc value nests deeper than a few levels; the cap keeps recursion (copies, comparisons,
# json.dumps) far from Python's limit whatever an unknown isolator holds.
MAX_JSON_DEPTH = 32


def copy_json(value: Any, path: str = "", depth: int = 0) -> Any:
    """A deep copy of plain JSON data, so callers cannot change a frozen manifest through it."""
    if depth > MAX_JSON_DEPTH:
        raise ManifestError(path, "nested too deeply")
    if isinstance(value, dict):
        return {k: copy_json(v, path, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [copy_json(v, path, depth + 1) for v in value]
    return value


def strings(value: Any, path: str) -> tuple[str, ...]:
    return tuple(string(v, join(path, i)) for i, v in enumerate(array(value, path)))


def string_map(value: Any, path: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ManifestError(path, "must be a JSON object")
    return {k: string(v, join(path, k)) for k, v in value.items()}


def required_string(f: dict[str, Any], key: str, path: str) -> str:
    """Member `key` of a JSON object's fields: a string that must be there and not be empty."""
    value = f.get(key, "")
    if value == "":
        raise ManifestError(join(path, key), "required")
    return string(value, join(path, key))


def omit_empty(**members: Any) -> dict[str, Any]:
    """JSON members as Go's `omitempty` writes them: None, false, 0 and empty ones left out.
    Parts become their JSON (`x.to_json()`), tuples lists, mappings plain dicts."""
    out: dict[str, Any] = {}
    for key, value in members.items():
        if value is None or (isinstance(value, (int, str, tuple, list, dict)) and not value):
            continue
        out[key] = _json_value(value)
    return out


def _json_value(value: Any) -> Any:
    if hasattr(value, "to_json"):
        return value.to_json()
    if isinstance(value, (tuple, list)):
        return [_json_value(v) for v in value]
    return dict(value) if isinstance(value, dict) else value


def absolute_path(value: Any, path: str) -> str:
    if not string(value, path).startswith("/"):
        raise ManifestError(path, "must be an absolute path")
    return value


def load_json(data: bytes | bytearray | str | dict) -> Any:
    """Parse manifest bytes/text (a dict passes through); bad JSON is a ManifestError."""
    if isinstance(data, dict):
        return data
    if not isinstance(data, (bytes, bytearray, str)):
        raise ManifestError("", "must be a JSON object")

    def no_constants(name: str):
        raise ValueError(f"{name} is not valid JSON")

    try:
        return jsonio.loads(data, parse_constant=no_constants)
    except RecursionError:
        raise ManifestError("", "invalid JSON: nested too deeply") from None
    except ValueError as e:  # JSONDecodeError, UnicodeDecodeError, int-digits limit
        reason = "a number has too many digits" if "digits" in str(e) else str(e)
        raise ManifestError("", f"invalid JSON: {reason}") from None


def parse_list(obj: dict, key: str, path: str, parse, unique: str | None = None) -> tuple:
    """The array `obj[key]` (absent: empty), each item parsed with `parse(item, item_path)`;
    with `unique`, no two items may share a name (`unique` says what the name is of)."""
    items = array(obj.get(key, []), join(path, key))
    parsed = tuple(parse(item, join(join(path, key), i)) for i, item in enumerate(items))
    if unique is not None:
        seen: set = set()
        for i, item in enumerate(parsed):
            if item.name in seen:
                raise ManifestError(join(join(path, key), i), f'duplicate {unique} "{item.name}"')
            seen.add(item.name)
    return parsed


def parse_document(cls, data, path: str = ""):
    """The body of every `X.from_json`: JSON text, bytes or a dict through `cls._parse`."""
    try:
        return cls._parse(load_json(data), path)
    except RecursionError:  # a dict built in code can nest without bound
        raise ManifestError(path, "nested too deeply") from None



# ---------------------------------------------------------------------------------------------
# Names, IDs and versions

def ac_identifier(value: Any, path: str = "") -> str:
    """An AC Identifier (image, label, isolator and annotation names): `example.com/app`."""
    if not is_ac_identifier(value):
        raise ManifestError(path, "must be an AC Identifier" if value != "" else "required")
    return value


def ac_name(value: Any, path: str = "") -> str:
    """An AC Name (app, volume, mount point and port names): `lower-case-with-dashes`."""
    if not is_ac_name(value):
        raise ManifestError(path, "must be an AC Name" if value != "" else "required")
    return value


def is_ac_identifier(value: str) -> bool:
    return isinstance(value, str) and re.fullmatch(AC_IDENTIFIER_PATTERN, value) is not None


def is_ac_name(value: str) -> bool:
    return isinstance(value, str) and re.fullmatch(AC_NAME_PATTERN, value) is not None


def is_env_name(value: str) -> bool:
    return isinstance(value, str) and re.fullmatch(ENV_NAME_PATTERN, value) is not None


def image_id(value: Any, path: str = "") -> str:
    """A full image ID: `sha512-` and 128 lowercase hex digits."""
    if not isinstance(value, str) or not re.fullmatch(IMAGE_ID_PATTERN, value):
        raise ManifestError(path, "must be an image ID (sha512- and 128 lowercase hex digits)")
    return value


def short_id(image_id: str) -> str:
    """The form rkt shows: `sha512-` and the first 32 hex digits."""
    return image_id[:SHORT_ID_LENGTH]


def semver(value: Any, path: str = "") -> str:
    """A SemVer 2.0.0 version other than 0.0.0."""
    if not isinstance(value, str) or not re.fullmatch(_SEMVER_PATTERN, value):
        raise ManifestError(path, "must be a semantic version like 0.8.11")
    if value == "0.0.0":
        raise ManifestError(path, "must not be 0.0.0")
    return value


def environment_name(value: Any, path: str = "") -> str:
    """An environment variable name: letters, digits and `_`, plus `.` and `-`."""
    if not is_env_name(value):
        raise ManifestError(path, "must be an environment variable name ([A-Za-z_][A-Za-z_0-9.-]*)"
                            if value != "" else "required")
    return value


def rfc3339(value: Any, path: str = "") -> datetime.datetime:
    """An RFC 3339 date-time, with the literal `T`, seconds and a time zone."""
    import datetime

    match = re.fullmatch(_RFC3339_PATTERN, value) if isinstance(value, str) else None
    if match is None:
        raise ManifestError(path, "must be an RFC 3339 date-time like 2015-01-02T15:04:05Z")
    text = value.replace("Z", "+00:00")
    frac = match.group(7)
    if frac:
        # fromisoformat wants at most 6 fractional digits; Go keeps nanoseconds.
        text = text.replace(frac, frac[:7])
    try:
        return datetime.datetime.fromisoformat(text)
    except ValueError:
        raise ManifestError(path, "must be an RFC 3339 date-time like 2015-01-02T15:04:05Z")



def manifest_fields(obj: Any, path: str, names: tuple[str, ...], kind: str) -> tuple[dict, str]:
    """A manifest's fields (as `fields`) once its acKind is `kind`, and its acVersion."""
    f = fields(obj, path, names)
    if "acKind" not in f or f["acKind"] == "":
        raise ManifestError(join(path, "acKind"), "required")
    if f["acKind"] != kind:
        raise ManifestError(join(path, "acKind"), f'must be "{kind}"')
    if "acVersion" not in f:
        raise ManifestError(join(path, "acVersion"), "required")
    return f, semver(f["acVersion"], join(path, "acVersion"))


# Whitespace, and a `%` not starting an escape (Go's url.Parse: "invalid URL escape").
_BAD_URL_CHARS = r"\s|%(?![0-9A-Fa-f]{2})"


def http_url(value: Any, path: str = "") -> str:
    """An absolute http or https URL."""
    from urllib.parse import urlsplit

    if not isinstance(value, str):
        raise ManifestError(path, "must be a string")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise ManifestError(path, "must be an http or https URL")
    if parts.scheme not in ("http", "https") or re.search(_BAD_URL_CHARS, value):
        raise ManifestError(path, "must be an http or https URL")
    return value


def os_arch(labels: dict[str, str], path: str = "labels") -> None:
    """Reject an unknown os, or an arch unknown for that os (appc's Go whitelist)."""
    os_name = labels.get("os")
    if os_name is None:
        return
    if os_name not in VALID_OS_ARCH:
        valid = ", ".join(sorted(VALID_OS_ARCH))
        raise ManifestError(path, f'bad os "{os_name}" (must be one of: {valid})')
    arch = labels.get("arch")
    if arch is not None and arch not in VALID_OS_ARCH[os_name]:
        valid = ", ".join(VALID_OS_ARCH[os_name])
        raise ManifestError(path, f'bad arch "{arch}" for {os_name} (must be one of: {valid})')


def check_annotation_values(values: dict[str, str], paths: dict[str, str]) -> None:
    """The annotations whose values appc checks, in pod and image manifests alike."""
    if "created" in values:
        rfc3339(values["created"], paths["created"])
    for name in ("homepage", "documentation"):
        if name in values:
            http_url(values[name], paths[name])


_INVALID_AC_NAME_CHARS = r"[^a-z0-9-]"


def sanitize_ac_name(text: str) -> str:
    """The AC Name appc's SanitizeACName makes: lowercase, each other character becomes `-`,
    dashes at the edges dropped (`my__app` -> `my--app`, as rkt names such an app)."""
    name = re.sub(_INVALID_AC_NAME_CHARS, "-", text.lower()).strip("-")
    if not name:
        raise ManifestError("", f'cannot make an AC Name from "{text}"')
    return name


def app_name_from_image_name(name: str) -> str:
    """rkt names an app after the last path element of its image name.

    `coreos.com/ace-validator-main` -> `ace-validator-main`; `example.com/My_App` -> `my-app`.
    """
    last = name.rsplit("/", 1)[-1]
    return sanitize_ac_name(last)



def ip_address(value: Any, path: str) -> str:
    """A host IP in its canonical text form."""
    import ipaddress

    try:
        return str(ipaddress.ip_address(string(value, path)))
    except ValueError:
        raise ManifestError(path, "must be an IP address")
