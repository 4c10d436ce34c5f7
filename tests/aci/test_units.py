"""Pure logic: sizes, format sniffing, tar number fields and PAX records."""

from __future__ import annotations

import pytest

from rkt.aci import detect_compression, parse_size
from rkt.aci.tar import _number, parse_pax
from rkt.errors import RktError
from tests.helpers.aci import compress, manifest, tar_bytes


@pytest.mark.parametrize("text, value", [
    ("1234", 1234), ("16Gi", 16 << 30), ("512Mi", 512 << 20), ("1Ki", 1024), ("2G", 2 * 10**9),
    ("3k", 3000), ("1Ti", 1 << 40), (" 7 ", 7), ("1.5Gi", 3 << 29), ("1e3", 1000),
])
def test_parse_size(text, value):
    assert parse_size(text) == value


# appc's quantity grammar: suffixes are case-sensitive (`16gi` is not one), and a size is whole bytes
@pytest.mark.parametrize("text", ["", "-1", "16gi", "1K", "0.5", "1m", "12XB", "Gi", "1 2"])
def test_parse_size_rejects(text):
    with pytest.raises(RktError, match="invalid size"):
        parse_size(text)


def test_detect_compression():
    tar = tar_bytes(manifest())
    for name in ("gzip", "bzip2", "xz", "none"):
        assert detect_compression(compress(tar, name)[:512]) == name
    for junk in (b"", b"PK\x03\x04", b"\x28\xb5\x2f\xfd" + bytes(600), bytes(1024)):
        with pytest.raises(RktError, match="^not an ACI: unrecognized format$"):
            detect_compression(junk)


def test_number_fields():
    assert _number(b"0000644\x00", "mode") == 0o644
    assert _number(b"  644 \x00 ", "mode") == 0o644
    assert _number(b"\x00" * 8, "uid") == 0
    assert _number(b"\x80" + (5 << 40).to_bytes(11, "big"), "size") == 5 << 40
    assert _number(b"\xff" * 12, "mtime") == -1
    with pytest.raises(RktError, match="bad size field"):
        _number(b"12x45\x00", "size")


def test_pax_records():
    assert parse_pax(b"11 path=ab\n20 SCHILY.xattr.k=\xff\n") == {"path": b"ab",
                                                                 "SCHILY.xattr.k": b"\xff"}
    assert parse_pax(b"22 path=with space=eq\n") == {"path": b"with space=eq"}
    for bad in (b"99 path=x\n", b"x path=y\n", b"10 pathxy\n", b"5 a=b\n", b"nolength"):
        with pytest.raises(RktError, match="corrupt PAX header"):
            parse_pax(bad)
