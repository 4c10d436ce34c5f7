"""Pure parsing helpers of the store: appc image strings and Go durations."""

import pytest

from rkt.errors import RktError
from rkt.store import parse_image_string
from rkt.duration import parse_duration


@pytest.mark.parametrize("ref, name, labels", [
    ("example.com/app", "example.com/app", {}),
    ("example.com/app:1.2.3", "example.com/app", {"version": "1.2.3"}),
    ("example.com/app:v1,os=linux,arch=amd64", "example.com/app",
     {"version": "v1", "os": "linux", "arch": "amd64"}),
    ("example.com/app,arch=aarch64", "example.com/app", {"arch": "aarch64"}),
])
def test_image_strings(ref, name, labels):
    assert parse_image_string(ref) == (name, labels)


@pytest.mark.parametrize("ref", ["example.com/app:", ":1.0", "example.com/app,os", "x,=v"])
def test_bad_image_strings(ref):
    with pytest.raises(RktError):
        parse_image_string(ref)


@pytest.mark.parametrize("text, seconds", [
    ("24h", 86400), ("30m", 1800), ("1h30m", 5400), ("90s", 90), ("0", 0), ("0s", 0),
    ("1.5h", 5400), ("500ms", 0.5), ("-1m", -60),
])
def test_durations(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "h", "24", "1d", "soon", "1h 30m"])
def test_bad_durations(text):
    with pytest.raises(RktError, match="invalid duration"):
        parse_duration(text)
