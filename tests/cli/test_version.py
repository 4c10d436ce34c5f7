"""`rkt version` in rkt's lines: Nomad's rkt driver parses `rkt [Vv]ersion: X.Y.Z` and
`appc [Vv]ersion: X.Y.Z` and refuses rkt older than 1.27."""

import re


def test_version_lines_parse_as_nomad_does(rkt):
    out = rkt("version").stdout
    lines = out.splitlines()
    assert lines[0].startswith("rkt Version: 1.30.0+python")
    assert lines[1] == "appc Version: 0.8.11"
    assert re.match(r"^Python Version: 3\.\d+", lines[2])
    assert re.match(r"^Python OS/Arch: linux/(amd64|arm64|386|arm|ppc64le|s390x)$", lines[3])
    assert lines[4].startswith("Features: ")
    rkt_version = re.search(r"rkt [vV]ersion[:]? (\d[.\d]+)", out).group(1)
    appc_version = re.search(r"appc [vV]ersion[:]? (\d[.\d]+)", out).group(1)
    assert tuple(int(p) for p in rkt_version.strip(".").split(".")) >= (1, 27, 0)
    assert appc_version == "0.8.11"


def test_version_shape_matches_the_reference(rkt, ref):
    ours, theirs = rkt("version").stdout.splitlines(), ref("version").stdout.splitlines()
    assert [line.split(":")[0] for line in ours[:2]] == [line.split(":")[0] for line in theirs[:2]]
    assert ours[0].split("+")[0] == theirs[0].split("+")[0]  # the same rkt release
    assert ours[1] == theirs[1] and ours[-1] == theirs[-1]
    assert len(ours) == len(theirs)
