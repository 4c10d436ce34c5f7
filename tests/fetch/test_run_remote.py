"""`rkt run NAME` of an image only the network has: discovery, its dependency fetched by
name, the rendered tree, and the app running in a real pod."""

from __future__ import annotations

import pytest

from tests.fetch.util import publish, trust
from tests.helpers.aci import busybox_files, manifest

pytestmark = pytest.mark.root


def test_run_fetches_image_and_dependency(rkt, server, ca_env, gpg_key, tmp_path):
    base = publish(server, tmp_path, "localhost/busybox", version="1", key=gpg_key,
                   files=busybox_files({"etc/base-marker": b"from base\n"}))
    app = manifest("localhost/app", "1.0.0", exec_=["/bin/sh", "-c", "cat /etc/base-marker /etc/app"],
                   dependencies=[{"imageName": "localhost/busybox",
                                  "labels": [{"name": "version", "value": "1"}]}])
    publish(server, tmp_path, "localhost/app", key=gpg_key, manifest_obj=app,
            files={"etc/app": b"from app\n"})
    trust(rkt, gpg_key, "localhost")
    proc = rkt("run", "--net=host", "localhost/app:1.0.0", env=ca_env, timeout=180)
    assert "from base" in proc.stdout and "from app" in proc.stdout
    assert server.requested(base["aci_route"])
    # a second run needs no network: the default pull policy for run is "new"
    n = len(server.log)
    rkt("run", "--net=host", "localhost/app:1.0.0", env=ca_env, timeout=180)
    assert len(server.log) == n
    rkt("gc", "--grace-period=0s")
