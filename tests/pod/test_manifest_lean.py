"""The pod manifest of a plain `rkt run IMAGE` is built from the stored (import-validated) image
manifests without the full model round trip; it must equal what the full validation gives, and
anything from the command line still goes through that validation."""

from __future__ import annotations

import copy

import pytest

from rkt.errors import RktError
from rkt.pod import manifest
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
