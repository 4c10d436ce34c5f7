"""`rkt run --mds-register`: the app reaches its own data through AC_METADATA_URL, and the
registration is gone once the pod has exited."""

import os
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from tests.helpers.aci import Entry, busybox_files, make_aci, manifest
from tests.mds.test_service import free_port, wait_for

pytestmark = pytest.mark.root


@pytest.fixture
def mds_at_default_port(tmp_path, monkeypatch):
    """The pod reaches the service on rkt's fixed port 18112; skip if something holds it."""
    import socket

    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the service's own bind
        try:
            s.bind(("0.0.0.0", 18112))
        except OSError:
            pytest.skip("port 18112 is in use")
    sock = str(tmp_path / "mds.sock")
    monkeypatch.setenv("RKT_MDS_SOCKET", sock)
    proc = subprocess.Popen([sys.executable, "-m", "rkt", "metadata-service"], stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "RKT_MDS_SOCKET": sock})
    wait_for(sock, proc)
    yield
    proc.terminate()
    proc.wait(10)


def test_app_reads_its_uuid_and_registration_ends_with_the_pod(rkt, tmp_path, mds_at_default_port):
    files = busybox_files({"bin/wget": Entry(kind="symlink", target="busybox")})
    script = ('echo "URL=$AC_METADATA_URL"; '
              'wget -q -O- --header "Metadata-Flavor: AppContainer" "$AC_METADATA_URL/acMetadata/v1/pod/uuid"')
    aci = tmp_path / "mds.aci"
    make_aci(aci, manifest("example.com/mds-probe", exec_=["/bin/sh", "-c", script]), files)
    uuid_file = tmp_path / "uuid"
    out = rkt("--insecure-options=image", "run", "--net=host", "--mds-register",
              f"--uuid-file-save={uuid_file}", aci, env={**os.environ}).stdout
    url = next(line[4:] for line in out.splitlines() if line.startswith("URL="))
    token = url.rsplit("/", 1)[1]
    assert len(token) >= 32 and uuid_file.read_text().strip() not in url
    assert uuid_file.read_text().strip() in out  # the app got its own UUID
    request = urllib.request.Request(f"{url}/acMetadata/v1/pod/uuid",
                                     headers={"Metadata-Flavor": "AppContainer"})
    with pytest.raises(urllib.error.HTTPError) as gone:
        urllib.request.urlopen(request, timeout=5)
    assert gone.value.code == 404
    rkt("gc", "--grace-period=0s")
