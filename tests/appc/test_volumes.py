"""Volumes given on the command line (`--volume NAME,kind=...`): appc's types/volume_test.go
cases, the round trip through str() and JSON, and the one-line usage errors."""

import pytest

from rkt.appc.pod import Volume
from rkt.errors import UsageError


@pytest.mark.parametrize("text, volume", [
    ("foobar,kind=host,source=/tmp", Volume("foobar", "host", "/tmp")),
    ("foobar,kind=host,source=/tmp,readOnly=false", Volume("foobar", "host", "/tmp", read_only=False)),
    ("foobar,kind=host,source=/tmp,readOnly=true", Volume("foobar", "host", "/tmp", read_only=True)),
    ("foobar,kind=empty", Volume("foobar", "empty", mode="0755", uid=0, gid=0)),
    ("foobar,kind=empty,readOnly=true", Volume("foobar", "empty", read_only=True)),
    ("foobar,kind=empty,readOnly=true,mode=0777", Volume("foobar", "empty", read_only=True, mode="0777")),
    ("foobar,kind=empty,mode=0777,uid=1000", Volume("foobar", "empty", mode="0777", uid=1000)),
    ("foobar,kind=empty,mode=0777,uid=1000,gid=1000",
     Volume("foobar", "empty", mode="0777", uid=1000, gid=1000)),
    ("foobar,kind=host,source=/tmp,recursive=false", Volume("foobar", "host", "/tmp", recursive=False)),
    ("foobar,kind=host,source=/tmp,recursive=true", Volume("foobar", "host", "/tmp", recursive=True)),
])
def test_volume_from_string(text, volume):
    parsed = Volume.from_string(text)
    assert parsed == volume
    assert str(parsed) == text  # serialization is reversible, as in Go
    assert Volume.from_json(parsed.to_json()) == parsed


@pytest.mark.parametrize("text, message", [
    ("#foobar,kind=host,source=/tmp", 'volume "#foobar,kind=host,source=/tmp": name must be an AC Name'),
    ("foobar,kind=host,source=/tmp,readOnly=true,asdf=asdf", 'unknown parameter "asdf"'),
    ("foobar,kind=host,source=tmp", "source must be an absolute path"),
    ("foobar,kind=host,uid=3", "source required for a host volume"),
    ("foobar,kind=host,source=/tmp,mode=0755", "mode not allowed for a host volume"),
    ("foobar,kind=host,mode=0600,readOnly=true,gid=0", "source required for a host volume"),
    ("foobar,kind=empty,source=/tmp", "source not allowed for an empty volume"),
    ("foobar,kind=host,source=/tmp,recursive=MAYBE", "recursive must be true or false"),
    ("foobar", "kind required"),
    ("foobar,kind", '"kind" is not key=value'),
    ("foobar,kind=empty,kind=host", '"kind" given twice'),
    ("foobar,kind=empty,uid=-1", "uid must be a number"),
    ("foobar,kind=empty,uid=١", "uid must be a number"),
    ("foobar,kind=empty,name=x", 'unknown parameter "name"'),
    ("", "name required"),
])
def test_bad_volume_from_string(text, message):
    with pytest.raises(UsageError) as e:
        Volume.from_string(text)
    assert message in str(e.value)
    assert e.value.exit_code == 254


def test_volume_from_string_takes_go_booleans():
    assert Volume.from_string("v,kind=host,source=/x,readOnly=1,recursive=F") == \
        Volume("v", "host", "/x", read_only=True, recursive=False)
    with pytest.raises(UsageError, match="readOnly must be true or false"):
        Volume.from_string("v,kind=host,source=/x,readOnly=yes")
