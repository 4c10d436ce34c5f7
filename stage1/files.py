"""Small file and message helpers shared by stage1's processes (imports only `os`, so the
waiting parent that stays alive for the whole pod can use them without growing)."""

import os

_JSON_SPACE = " \t\n\r"


class _JSONContext:
    """What the C scanner behind the json package reads from its decoder: json.loads's defaults."""
    strict = True
    object_hook = object_pairs_hook = None
    parse_float, parse_int = float, int
    parse_constant = {"NaN": float("nan"), "Infinity": float("inf"),
                      "-Infinity": float("-inf")}.__getitem__


def parse_json(data: bytes):
    """json.loads of UTF-8 `data`, through the same C scanner but without the json package,
    whose decoder imports re and with it enum: ~10 ms of every pod's start. Malformed data is
    handed to json.loads, for its ValueError that says what is wrong."""
    import _json

    text = data.decode()
    start = len(text) - len(text.lstrip(_JSON_SPACE))
    try:
        value, end = _json.make_scanner(_JSONContext())(text, start)
        if not text[end:].strip(_JSON_SPACE):
            return value
    except Exception:  # noqa: BLE001 - the C scanner reports errors only through json.decoder
        pass
    import json
    return json.loads(text)


def _unserializable(value):
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def dump_json(value) -> str:
    """json.dumps(value), through the C encoder behind the json package, without importing it
    (see parse_json)."""
    import _json

    encode = _json.make_encoder({}, _unserializable, _json.encode_basestring_ascii, None,
                                ": ", ", ", False, False, True)
    return "".join(encode(value, 0))


def read_all(fd: int) -> bytes:
    """Everything readable from `fd` until EOF."""
    chunks = []
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def write_atomic(path: str, text: str) -> None:
    """Readers see the old content or the new, never a partial file."""
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


def say(message: str) -> None:
    """stage1's one-line message on stderr (a raw write: safe in PID 1 and after fork). A
    console that is gone (its reader closed it, `rkt run` was killed) loses the message; it
    never stops the pod."""
    try:
        os.write(2, f"stage1: {message}\n".encode())
    except OSError:
        pass


def phase(name: str) -> None:
    """A benchmark's phase mark, as stage0's `rkt.report.phase` (RKT_BENCH_PHASES=FILE)."""
    path = os.environ.get("RKT_BENCH_PHASES")
    if path:
        import time

        with open(path, "a") as f:
            f.write(f"{name} {time.clock_gettime_ns(time.CLOCK_MONOTONIC)}\n")
