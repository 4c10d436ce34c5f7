"""appc value types, with the good/bad tables of appc's Go tests (schema/types/*_test.go)."""

from fractions import Fraction

import pytest

from rkt.appc import types as t
from rkt.appc.quantity import QuantityError, parse_quantity
from rkt.errors import ManifestError

GOOD_IDENTIFIERS = [
    "asdf", "foo-bar-baz", "zab_rab_oof", "database", "my~database", "example.com/database",
    "example.com/~bob/database", "example.com/ourapp-1.0.0",
    "sub-domain.example.com/org/product/release-1.0.0",
    "sub-domain.example.com/org/product/~alice/release-1.0.0",
    # appc's Go code checks characters and edges only, so repeated separators are fine (the
    # spec text's regex refuses them; rkt and actool accept them).
    "shorthash--21", "example..com", "example.com//app", "a-_b", "a", "0",
]
BAD_IDENTIFIERS = [
    "", "BAR", "foo#", "EXAMPLE.com", "foo.com/BAR", "/app", "app/", "-app", "app-", ".app",
    "app.", "_app", "app_", "~app", "app~", "a b", "app\n", "caf\u00e9", "a+b", "a:b",
]
GOOD_NAMES = ["asdf", "foo-bar-baz", "database", "a", "0", "app-1", "a--b", "shorthash--21"]
BAD_NAMES = [
    "", "foo#", "example.com", "EXAMPLE.com", "example/database", "example/database-1.0.0",
    "foo.com/BAR", "example.com/app_1", "/app", "app/", "-app", "app-", ".app", "app.", "a_b",
    "a\n",
]


@pytest.mark.parametrize("name", GOOD_IDENTIFIERS)
def test_good_ac_identifier(name):
    assert t.ac_identifier(name, "name") == name


@pytest.mark.parametrize("name", BAD_IDENTIFIERS)
def test_bad_ac_identifier(name):
    with pytest.raises(ManifestError) as e:
        t.ac_identifier(name, "name")
    assert e.value.path == "name"
    assert e.value.rule == ("required" if name == "" else "must be an AC Identifier")


@pytest.mark.parametrize("value", [None, 1, ["a"], {"a": 1}, True])
def test_ac_identifier_wrong_json_type(value):
    with pytest.raises(ManifestError, match="must be an AC Identifier"):
        t.ac_identifier(value, "name")


@pytest.mark.parametrize("name", GOOD_NAMES)
def test_good_ac_name(name):
    assert t.ac_name(name) == name


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_ac_name(name):
    with pytest.raises(ManifestError):
        t.ac_name(name, "apps[0].name")


@pytest.mark.parametrize("text, want", [
    # appc's TestSanitizeACName table
    ("foo#", "foo"), ("EXAMPLE.com", "example-com"), ("foo.com/BAR", "foo-com-bar"),
    ("example.com/app_1", "example-com-app-1"), ("/app", "app"), ("app/", "app"), ("-app", "app"),
    ("app-", "app"), (".app", "app"), ("app.", "app"), ("app///", "app"), ("-/.app..", "app"),
    ("-/app.name-test/-/", "app-name-test"),
    ("sub-domain.example.com/org/product/release-1.0.0",
     "sub-domain-example-com-org-product-release-1-0-0"),
    # each character becomes one dash, as in Go (rkt names an image `x/my__app` app `my--app`)
    ("a..b", "a--b"), ("My__App", "my--app"),
])
def test_sanitize_ac_name(text, want):
    assert t.sanitize_ac_name(text) == want
    assert t.is_ac_name(want)


def test_sanitize_ac_name_of_nothing_valid():
    with pytest.raises(ManifestError, match="cannot make an AC Name"):
        t.sanitize_ac_name("#/.")


@pytest.mark.parametrize("image, app", [
    ("coreos.com/ace-validator-main", "ace-validator-main"),
    ("coreos.com/ace-validator-sidekick", "ace-validator-sidekick"),
    ("example.com/org/my_app.v2", "my-app-v2"),
    ("busybox", "busybox"),
    ("quay.io/coreos/etcd", "etcd"),
    ("example.com/shorthash--21", "shorthash--21"),
    ("example.com/my~app", "my-app"),
])
def test_app_name_from_image_name(image, app):
    assert t.app_name_from_image_name(image) == app


GOOD_ID = "sha512-" + "0123456789abcdef" * 8


def test_image_id_and_short_id():
    assert t.image_id(GOOD_ID) == GOOD_ID
    assert t.short_id(GOOD_ID) == "sha512-" + "0123456789abcdef" * 2
    assert len(t.short_id(GOOD_ID)) == 39


@pytest.mark.parametrize("bad", [
    "sha512-abcdefghi", "sha512-" + "0" * 127, "sha512-" + "0" * 129, "sha512-" + "A" * 128,
    "sha256-" + "0" * 128, "sha512" + "0" * 128, "", "sha512-", "-" + "0" * 128, None, 5,
    "sha512-" + "0" * 128 + "\n",
])
def test_bad_image_id(bad):
    with pytest.raises(ManifestError, match="must be an image ID"):
        t.image_id(bad, "apps[0].image.id")


@pytest.mark.parametrize("version", ["1.0.0", "3.2.1", "3.2.1-foo", "1.2.3-alpha+git", "0.8.11",
                                     "0.0.0-alpha", "0.0.1", "1.0.0+build.5"])
def test_good_semver(version):
    assert t.semver(version) == version


@pytest.mark.parametrize("version", ["1", "1.2.3.4", "v1.2.3", "", "01.2.3", "1.2", 1.2, None,
                                     "1.2.3-", "1.2.3+", " 1.2.3"])
def test_bad_semver(version):
    with pytest.raises(ManifestError, match="must be a semantic version"):
        t.semver(version, "acVersion")


def test_zero_semver_is_rejected():
    with pytest.raises(ManifestError, match="must not be 0.0.0"):
        t.semver("0.0.0", "acVersion")


@pytest.mark.parametrize("text", ["2004-05-14T23:11:14+00:00", "2001-02-03T04:05:06Z",
                                  "2014-11-14T17:36:54-08:00", "2014-10-27T19:32:27.67021798Z"])
def test_good_rfc3339(text):
    assert t.rfc3339(text).tzinfo is not None


@pytest.mark.parametrize("text", ["garbage", "1416015188", "Fri Nov 14 17:53:02 PST 2014",
                                  "2014-11-1417:36:54", "2014-11-14 17:36:54Z", "2014-11-14T17:36Z",
                                  "2014-13-14T17:36:54Z", "2014-02-30T17:36:54Z",
                                  "2014-11-14T17:36:54", 1416015188])
def test_bad_rfc3339(text):
    with pytest.raises(ManifestError, match="RFC 3339"):
        t.rfc3339(text, "annotations[0].value")


@pytest.mark.parametrize("url", ["http://foo.com", "http://foo.com/huh/what?is=this",
                                 "https://example.com/bar", "HTTPS://example.com"])
def test_good_url(url):
    assert t.http_url(url) == url


@pytest.mark.parametrize("url", ["ftp://example.com", "unix://file.net", "not a url",
                                 "not-A$@#URL", "http://a b", "http://host:port/", "", 5])
def test_bad_url(url):
    with pytest.raises(ManifestError):
        t.http_url(url, "annotations[0].value")


@pytest.mark.parametrize("name", ["DEBUG", "_0_DEBUG_0_", "DEBUG.0", "DEBUG-0", "lower_case"])
def test_good_environment_name(name):
    assert t.environment_name(name) == name


@pytest.mark.parametrize("name", ["", "0DEBUG", "VERBOSE|DEBUG", "A=B", "A B", ".A", None])
def test_bad_environment_name(name):
    with pytest.raises(ManifestError):
        t.environment_name(name, "app.environment[0].name")


@pytest.mark.parametrize("labels", [
    {"os": "linux", "arch": "amd64"}, {"os": "linux", "arch": "aarch64"},
    {"os": "linux", "arch": "aarch64_be"}, {"os": "linux", "arch": "armv6l"},
    {"os": "linux", "arch": "armv7l"}, {"os": "linux", "arch": "armv7b"},
    {"os": "linux", "arch": "ppc64le"}, {"os": "linux", "arch": "ppc64"},
    {"os": "linux", "arch": "s390x"}, {"os": "freebsd", "arch": "amd64"},
    {"os": "darwin", "arch": "x86_64"}, {"os": "linux"}, {"arch": "anything"}, {},
])
def test_good_os_arch(labels):
    t.os_arch(labels)


@pytest.mark.parametrize("labels, message", [
    ({"os": "linux", "arch": "arm64"}, 'bad arch "arm64" for linux'),
    ({"os": "linux", "arch": "arm64_be"}, 'bad arch "arm64_be" for linux'),
    ({"os": "linux", "arch": "arm"}, 'bad arch "arm" for linux'),
    ({"os": "linux", "arch": "ppc64l"}, 'bad arch "ppc64l" for linux'),
    ({"os": "linux", "arch": "S390x"}, 'bad arch "S390x" for linux'),
    ({"os": "OS/360", "arch": "S/360"}, 'bad os "OS/360"'),
    ({"os": "freebsd", "arch": "armv7b"}, 'bad arch "armv7b" for freebsd'),
])
def test_bad_os_arch(labels, message):
    with pytest.raises(ManifestError, match=message):
        t.os_arch(labels)


@pytest.mark.parametrize("text, want", [
    ("1", 1), ("0", 0), ("500m", Fraction(1, 2)), ("0.5", Fraction(1, 2)), (".5", Fraction(1, 2)),
    ("1.", 1), ("1k", 1000), ("1M", 10**6), ("1G", 10**9), ("1T", 10**12), ("1P", 10**15),
    ("1E", 10**18), ("1Ki", 1024), ("1Mi", 2**20), ("2Gi", 2**31), ("1Ti", 2**40), ("1Pi", 2**50),
    ("1Ei", 2**60), ("1e3", 1000), ("1E3", 1000), ("1e-3", Fraction(1, 1000)),
    ("100n", Fraction(1, 10**7)), ("3u", Fraction(3, 10**6)), ("+1", 1), ("-1", -1),
    ("1.5Gi", 3 * 2**29),
])
def test_quantity(text, want):
    assert parse_quantity(text) == want


@pytest.mark.parametrize("text", ["", "K", "1K", "1 G", "1GB", "such garbage", "1.2.3", "e3",
                                  "1e", "1Gi ", "0x10", "1e999", "1" * 100, "--1", "1KiB"])
def test_bad_quantity(text):
    with pytest.raises(QuantityError):
        parse_quantity(text)
