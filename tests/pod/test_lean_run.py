"""What the run path skips, and that skipping changes nothing: the pod manifest of a plain
`rkt run IMAGE` is built from the stored (import-validated) image manifests without the full
model round trip and equals what the full validation gives (command-line values still go through
it); the stage1 choice reads no config model when no config dir holds anything it would read."""

from __future__ import annotations

import copy

import pytest

from rkt.errors import RktError
from rkt import config
from rkt.options import GlobalOptions
from rkt.pod import manifest, stage1
from rkt.pod.spec import AppSpec, PodSpec
from tests.helpers.aci import manifest as image_manifest

ID = "sha512-" + "ab" * 64


def _image() -> dict:
    return image_manifest("example.com/lean", mountPoints=None, annotations=[
        {"name": "a.example.com/x", "value": "y"}],
        app={"exec": ["/bin/sh", "-c", "true"], "user": "0", "group": "0",
             "environment": [{"name": "A", "value": "1"}],
             "mountPoints": [{"name": "data", "path": "/data"}],
             "isolators": [{"name": "os/linux/no-new-privileges", "value": True}]})


def test_plain_run_manifest_equals_the_validated_one():
    spec = PodSpec(apps=(AppSpec(image="example.com/lean"),))
    lean = manifest.generate(spec, [(ID, _image())])
    assert lean == manifest.validate(copy.deepcopy(lean))
    assert lean["apps"][0]["name"] == "lean"


@pytest.mark.parametrize("app", [AppSpec(image="x", working_dir="relative/dir"),
                                 AppSpec(image="x", name="Not_An_AC_Name")])
def test_command_line_values_are_still_validated(app):
    with pytest.raises(RktError, match=r"invalid pod manifest: .*apps\[0\]\.(app\.workingDirectory|name)"):
        manifest.generate(PodSpec(apps=(app,)), [(ID, _image())])


def test_the_config_subdirs_stage1_looks_for_are_those_rkt_config_reads():
    assert set(stage1._CONFIG_SUBDIRS) == set(config.SUBDIRS)


def test_no_config_only_when_no_dir_holds_a_config_subdir(tmp_path):
    system, local = tmp_path / "system", tmp_path / "local"
    opts = GlobalOptions(system_config=system, local_config=local)
    assert stage1._no_config(opts)  # neither exists
    local.mkdir()
    (local / "other").mkdir()
    assert stage1._no_config(opts)
    (local / "stage1.d").mkdir()
    assert not stage1._no_config(opts)
    (local / "stage1.d").rmdir()
    system.write_text("")  # not a directory: rkt.config reports it
    assert not stage1._no_config(opts)
