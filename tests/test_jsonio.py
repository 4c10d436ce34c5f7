"""rkt.jsonio reads and writes exactly what the json package does, errors included."""

from __future__ import annotations

import json
import math

import pytest

from rkt import jsonio

DOCUMENTS = ['{"a": [1, 2.5, null, true, false, "\\u00e9x\\n"], "b": {}}', " \n[1]\t", '"s"',
             "NaN", "[Infinity, -Infinity]", "1e400", "-0", '{"a": 1, "a": 2}', "[]"]
MALFORMED = ["", "[1", "[1] x", "[1] [2]", '{"a" 1}', "\ufeff[]", "[NaN", '"\x01"', "tru"]


@pytest.mark.parametrize("text", DOCUMENTS)
@pytest.mark.parametrize("as_bytes", [False, True])
def test_loads_as_json(text, as_bytes):
    data = text.encode() if as_bytes else text
    assert repr(jsonio.loads(data)) == repr(json.loads(data))


@pytest.mark.parametrize("data", [*MALFORMED, b"\xff", b"[1"])
def test_malformed_input_fails_with_jsons_error(data):
    with pytest.raises(ValueError) as ours:
        jsonio.loads(data)
    with pytest.raises(ValueError) as theirs:
        json.loads(data)
    assert type(ours.value) is type(theirs.value) and str(ours.value) == str(theirs.value)


def test_other_encodings_and_bom_as_json():
    for data in ["[1]".encode("utf-16"), "[1]".encode("utf-32-be"), b"\xef\xbb\xbf[1]"]:
        assert jsonio.loads(data) == json.loads(data) == [1]


def test_parse_constant_is_called_for_constants():
    def refuse(name):
        raise ValueError(f"{name} is not valid JSON")

    assert math.isnan(jsonio.loads("NaN"))
    with pytest.raises(ValueError, match="Infinity is not valid JSON"):
        jsonio.loads("[1, Infinity]", parse_constant=refuse)


def test_deep_nesting_is_a_recursion_error_as_in_json():
    with pytest.raises(RecursionError):
        jsonio.loads("[" * 100_000 + "]" * 100_000)


@pytest.mark.parametrize("value", [{"b": 1, "a": [1.5, None, "é\n", True]}, "x", [math.nan, 1e400],
                                   {}, {"k": {"n": [[]]}}, {1: "int key"}])
@pytest.mark.parametrize("sort_keys", [False, True])
def test_dumps_as_json(value, sort_keys):
    assert jsonio.dumps(value, sort_keys=sort_keys) == json.dumps(value, sort_keys=sort_keys)


def test_dumps_refuses_what_json_refuses():
    for value in ([object()], {1j: 1}):
        with pytest.raises(TypeError) as ours:
            jsonio.dumps(value)
        with pytest.raises(TypeError) as theirs:
            json.dumps(value)
        assert str(ours.value) == str(theirs.value)
    loop: list = []
    loop.append(loop)
    with pytest.raises(ValueError, match="Circular reference"):
        jsonio.dumps(loop)
