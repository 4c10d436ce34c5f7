"""`rkt prepare` prints the UUID of a prepared pod; conflicting flags are refused first."""

import json

import pytest

pytestmark = pytest.mark.root

INSECURE = "--insecure-options=image"


def test_prepared_pod_is_listed_as_prepared(rkt, stage1_script, busybox):
    uuid = rkt(INSECURE, "prepare", "--quiet", f"--stage1-path={stage1_script}", busybox).stdout.strip()
    status = rkt("status", uuid).stdout
    assert "state=prepared" in status and "created=" in status
    assert json.loads(rkt("cat-manifest", uuid).stdout)["apps"][0]["name"] == "busybox"


@pytest.mark.parametrize("flags", [
    ["--exec=/bin/true"], ["--user=1"], ["--group=1"], ["--caps-retain=CAP_KILL"],
    ["--caps-remove=CAP_KILL"], ["--inherit-env"], ["--set-env=A=b"], ["--port=http:80"],
    ["--volume=v,kind=empty"], ["--mount=volume=v,target=/v"], ["--store-only"], ["--no-store"],
])
def test_conflicting_flags_with_pod_manifest(rkt, busybox, tmp_path, flags):
    manifest = tmp_path / "pod.json"
    manifest.write_text("{}")
    # --exec and friends need an image to follow; the image itself conflicts too
    proc = rkt.fails("prepare", f"--pod-manifest={manifest}", *(
        [str(busybox), *flags] if flags[0] in ("--exec=/bin/true", "--user=1", "--group=1",
                                               "--caps-retain=CAP_KILL", "--caps-remove=CAP_KILL")
        else flags), code=254)
    assert "conflicting flags set with --pod-manifest (see --help)" in proc.stderr
    assert rkt.pod_dirs() == []
