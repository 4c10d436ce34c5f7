"""JSON for the modules on `rkt run`'s path: json.loads and json.dumps through the C scanner and
encoder behind the json package, without importing the package.

The package's modules compile six regular expressions at import (~1.5 ms of every `rkt run`,
and with pathlib gone from the run path, their `re` and `enum` would be most of the rest);
results and errors are the package's: malformed input is handed to json.loads itself, for the
ValueError that says what is wrong. (stage1.files does the same for stage1, which stage0 may
not import.)
"""

from __future__ import annotations

_SPACE = " \t\n\r"


def _constant(name: str) -> float:
    return {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}[name]


class _Context:
    """What the C scanner reads from its decoder: json.loads's defaults."""

    strict = True
    object_hook = object_pairs_hook = None
    parse_float, parse_int = float, int

    def __init__(self, parse_constant) -> None:
        self.parse_constant = parse_constant


def loads(data: bytes | bytearray | str, parse_constant=_constant):
    """json.loads(data, parse_constant=...) for UTF-8 bytes or text; other encodings and
    malformed input go to json.loads."""
    import _json

    try:
        text = data.decode() if isinstance(data, (bytes, bytearray)) else data
        start = len(text) - len(text.lstrip(_SPACE))
        value, end = _json.make_scanner(_Context(parse_constant))(text, start)
        if not text[end:].strip(_SPACE):
            return value
    except Exception:  # noqa: BLE001 - the C scanner's errors are json.decoder's to word
        pass
    import json

    return json.loads(data, parse_constant=parse_constant)


def _unserializable(value):
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def dumps(value, sort_keys: bool = False) -> str:
    """json.dumps(value, sort_keys=sort_keys), character for character."""
    import _json

    encode = _json.make_encoder({}, _unserializable, _json.encode_basestring_ascii, None,
                                ": ", ", ", sort_keys, False, True)
    return "".join(encode(value, 0))
