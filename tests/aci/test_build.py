"""build_aci's own checks, without the CLI: an output inside its layout, and names and ids
past ustar's limits going through PAX records."""

from __future__ import annotations

import io
import os

import pytest

from rkt.aci import build_aci, import_stream
from rkt.errors import RktError
from tests.helpers.aci import make_layout


@pytest.fixture
def layout(tmp_path):
    return make_layout(tmp_path)


def test_output_inside_layout_is_refused(layout):
    with pytest.raises(RktError, match="inside the layout"):
        build_aci(layout, layout / "rootfs/self.aci")
    assert not (layout / "rootfs/self.aci").exists()


@pytest.mark.root  # chown to ids no other user may give away
def test_long_names_and_big_ids_survive(layout, tmp_path):
    """Names past ustar's 100/155 limits and ids past 7 octal digits go through PAX records."""
    deep = layout / "rootfs" / ("x" * 150) / ("y" * 150)
    deep.mkdir(parents=True)
    (deep / ("z" * 200)).write_bytes(b"deep")
    os.symlink("t" * 300, layout / "rootfs/longlink")
    os.chown(layout / "rootfs/bin/hello", 3_000_000, 4_000_000)
    out = tmp_path / "o.aci"
    build_aci(layout, out, "none")
    dest = tmp_path / "d"
    import_stream(io.BytesIO(out.read_bytes()), dest=dest)
    assert (dest / "rootfs" / ("x" * 150) / ("y" * 150) / ("z" * 200)).read_bytes() == b"deep"
    assert os.readlink(dest / "rootfs/longlink") == "t" * 300
    st = os.stat(dest / "rootfs/bin/hello")
    assert (st.st_uid, st.st_gid) == (3_000_000, 4_000_000)
