"""Layering: the 14 cases of appc's pkg/acirenderer/acirenderer_test.go, through real ACIs
imported into a real store and the real render, plus unit tests of the pure ordering logic."""

from __future__ import annotations

import io
import json
import os
import stat
import tarfile
from pathlib import Path

import pytest

from rkt.errors import RktError
from rkt.store import Store
from rkt.store.layering import Layer, Node, choose_files, flatten, normalize_whitelist, tree_id

# -- building the test images ----------------------------------------------------------------

F, D, L = "file", "dir", "symlink"


def build(tmp: Path, name: str, entries=(), *, pwl=None, deps=(), rootfs_mode=0o755) -> Path:
    """An ACI with exactly these rootfs entries (no implicit parent directories), like the Go
    tests' tars. entries: (path, kind, mode, data_or_target)."""
    manifest = {"acKind": "ImageManifest", "acVersion": "0.1.1", "name": name}
    if pwl is not None:
        manifest["pathWhitelist"] = pwl
    if deps:
        manifest["dependencies"] = [{"imageName": n, "imageID": i} for n, i in deps]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        data = json.dumps(manifest).encode()
        info = tarfile.TarInfo("manifest")
        info.size, info.mode = len(data), 0o644
        tf.addfile(info, io.BytesIO(data))
        info = tarfile.TarInfo("rootfs")
        info.type, info.mode = tarfile.DIRTYPE, rootfs_mode
        tf.addfile(info)
        for path, kind, mode, payload in entries:
            info = tarfile.TarInfo("rootfs/" + path)
            info.mode = mode or (0o755 if kind == D else 0o644)
            if kind == F:
                info.size = len(payload)
                tf.addfile(info, io.BytesIO(payload.encode()))
            elif kind == D:
                info.type = tarfile.DIRTYPE
                tf.addfile(info)
            else:
                info.type, info.linkname = tarfile.SYMTYPE, payload
                tf.addfile(info)
    out = tmp / (name.replace("/", "_") + ".aci")
    out.write_bytes(buf.getvalue())
    return out


def rendered(store: Store, image_id: str) -> dict[str, tuple]:
    """path -> (kind, size, mode) for everything in the rendered rootfs."""
    root = store.render(image_id).rootfs
    found = {"": (D, 0, stat.S_IMODE(os.lstat(root).st_mode))}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            rel = os.path.relpath(path, root)
            kind = D if stat.S_ISDIR(st.st_mode) else L if stat.S_ISLNK(st.st_mode) else F
            found[rel] = (kind, st.st_size if kind == F else 0, stat.S_IMODE(st.st_mode))
    return found


def check(found: dict, expected: list[tuple]) -> None:
    """Every expected entry is there with its kind/size/mode; nothing else is, except the
    directories created implicitly as parents of expected entries (mode 0755)."""
    want = {}
    for path, kind, *rest in expected:
        size = rest[0] if rest else 0
        mode = rest[1] if len(rest) > 1 else (0o755 if kind == D else 0o644)
        want[path] = (kind, size, mode)
    parents = {os.path.dirname(p) for p in want}
    while "" not in parents and parents:
        parents |= {os.path.dirname(p) for p in parents}
    for path, (kind, size, mode) in want.items():
        assert path in found, f"{path} missing from the render: {sorted(found)}"
        got = found[path]
        assert got[0] == kind, (path, got)
        if kind == F:
            assert got[1] == size, (path, got)
        if kind != L:
            assert got[2] == mode, (path, oct(got[2]), oct(mode))
    for path, (kind, _, mode) in found.items():
        if path in want or path == "":
            continue
        assert kind == D and path in parents, f"unexpected {path} {found[path]}"
        assert mode == 0o755, f"implicit parent {path} has mode {oct(mode)}"


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "data") as s:
        yield s


@pytest.fixture
def make(tmp_path, store):
    aci_dir = tmp_path / "acis"
    aci_dir.mkdir()

    def make_image(name, entries=(), **kw):
        return store.import_aci(build(aci_dir, name, entries, **kw))

    return make_image


# -- the 14 acirenderer cases ----------------------------------------------------------------


def test_get_upper_pwlm():
    """TestGetUpperPWLM: only ancestors' whitelists count, never a sibling's."""
    l0 = ("/a/path/white/list/level0/1",)
    l1 = ("/a/path/white/list/level1/1",)
    assert flatten(Node("A", l0))[0].ancestor_whitelist is None
    chain = flatten(Node("A", l0, (Node("B", l1, (Node("C"),)),)))
    assert [l.image_id for l in chain] == ["A", "B", "C"]
    assert chain[2].ancestor_whitelist == normalize_whitelist(l0)
    # A ---- B --- D
    #    \-- C (pwl)
    tree = flatten(Node("A", (), (Node("B", (), (Node("D"),)), Node("C", l1))))
    assert [l.image_id for l in tree] == ["A", "C", "B", "D"]
    assert tree[3].ancestor_whitelist is None


def test_dir_from_parent(make, store):
    dep = make("example.com/test01", [("a", D, 0, None)])
    top = make("example.com/test02", deps=[("example.com/test01", dep)])
    check(rendered(store, top), [("a", D)])


def test_new_dir(make, store):
    dep = make("example.com/test01")
    top = make("example.com/test02", [("a", D, 0, None)], deps=[("example.com/test01", dep)])
    check(rendered(store, top), [("a", D)])


def test_dir_override(make, store):
    dep = make("example.com/test01", [("a", D, 0, None)])
    top = make("example.com/test02", [("a", D, 0o700, None)], deps=[("example.com/test01", dep)])
    check(rendered(store, top), [("a", D, 0, 0o700)])


def test_file_from_parent(make, store):
    dep = make("example.com/test01", [("a/file01.txt", F, 0, "hello")])
    top = make("example.com/test02", deps=[("example.com/test01", dep)])
    check(rendered(store, top), [("a/file01.txt", F, 5)])


def test_new_file(make, store):
    dep = make("example.com/test01")
    top = make("example.com/test02", [("a/file01.txt", F, 0, "hellohello")],
               deps=[("example.com/test01", dep)])
    check(rendered(store, top), [("a/file01.txt", F, 10)])


def test_file_override(make, store):
    dep = make("example.com/test01", [("a/file01.txt", F, 0, "hello")])
    top = make("example.com/test02", [("a/file01.txt", F, 0, "hellohello")],
               deps=[("example.com/test01", dep)])
    check(rendered(store, top), [("a/file01.txt", F, 10)])


def test_file_overrides_dir(make, store):
    dep = make("example.com/test01", [("a/b", D, 0o700, None), ("a/b/c", D, 0o700, None),
                                      ("a/b/c/file01", F, 0, "hello")])
    top = make("example.com/test02", [("a/b", F, 0, "hellohello")],
               deps=[("example.com/test01", dep)])
    check(rendered(store, top), [("a/b", F, 10)])


PWL_PARENT_FILES = [
    ("a/file01.txt", F, 0, "hello"), ("a/file02.txt", F, 0, "hello"),
    ("a/file03.txt", F, 0, "hello"), ("b/link01.txt", L, 0, "file01.txt"),
    ("c", D, 0o700, None), ("c/file01.txt", F, 0o700, "hello"),
    ("d", D, 0o700, None), ("d/file01.txt", F, 0o700, "hello"),
    ("e/file01.txt", F, 0o700, "hello"),
]


def test_pwl_only_parent(make, store):
    dep = make("example.com/test01", PWL_PARENT_FILES,
               pwl=["/a/file01.txt", "/a/file02.txt", "/b/link01.txt", "/c/", "/d/"])
    top = make("example.com/test02", [("b/file01.txt", F, 0, "hellohello"),
                                      ("c/file02.txt", F, 0, "hello")],
               deps=[("example.com/test01", dep)])
    check(rendered(store, top), [
        ("a/file01.txt", F, 5), ("a/file02.txt", F, 5), ("b/link01.txt", L),
        ("b/file01.txt", F, 10), ("c", D, 0, 0o700), ("c/file02.txt", F, 5), ("d", D, 0, 0o700)])


def test_pwl_only_image(make, store):
    dep = make("example.com/test01", PWL_PARENT_FILES)
    top = make("example.com/test02", [("a/file01.txt", F, 0, "hellohello"),
                                      ("c/file02.txt", F, 0, "hello")],
               pwl=["/a/file01.txt", "/a/file02.txt", "/b/link01.txt", "/b/file01.txt",
                    "/c/file02.txt", "/d/"],
               deps=[("example.com/test01", dep)])
    # The image's whitelist filters its dependency's directories too: c (0700) is not listed,
    # so c exists only as the implicit parent of c/file02.txt.
    check(rendered(store, top), [
        ("a/file01.txt", F, 10), ("a/file02.txt", F, 5), ("b/link01.txt", L),
        ("c/file02.txt", F, 5), ("d", D, 0, 0o700)])


B_FILES = [("a/file01.txt", F, 0, "hello"), ("a/file02.txt", F, 0, "hello"),
           ("a/file03.txt", F, 0, "hello"), ("a/file04.txt", F, 0, "hello"),
           ("b/link01.txt", L, 0, "file01.txt")]
C_FILES = [("a/file01.txt", F, 0, "hellohello"), ("a/file02.txt", F, 0, "hellohello"),
           ("b/file01.txt", F, 0, "hello")]
A_FILES = [("a/file01.txt", F, 0, "hellohellohello"), ("b/file02.txt", F, 0, "hello"),
           ("c/file01.txt", F, 0, "hello")]
A_PWL = ["/a/file01.txt", "/a/file02.txt", "/a/file03.txt", "/b/link01.txt", "/b/file01.txt",
         "/b/file02.txt", "/c/file01.txt"]
TWO_DEPS_EXPECTED = [
    ("a/file01.txt", F, 15), ("a/file02.txt", F, 10), ("a/file03.txt", F, 5),
    ("b/link01.txt", L), ("b/file01.txt", F, 5), ("b/file02.txt", F, 5), ("c/file01.txt", F, 5)]


def test_two_deps_first_with_whitelist(make, store):
    b = make("example.com/test01", B_FILES, pwl=["/a/file01.txt", "/a/file02.txt",
             "/a/file03.txt", "/a/file04.txt", "/b/link01.txt", "/b/file01.txt"])
    c = make("example.com/test02", C_FILES)
    a = make("example.com/test03", A_FILES, pwl=A_PWL,
             deps=[("example.com/test01", b), ("example.com/test02", c)])
    check(rendered(store, a), TWO_DEPS_EXPECTED)


def test_two_deps_second_with_whitelist(make, store):
    b = make("example.com/test01", B_FILES)
    c = make("example.com/test02", C_FILES, pwl=["/a/file01.txt", "/a/file02.txt",
                                                  "/b/file01.txt"])
    a = make("example.com/test03", A_FILES, pwl=A_PWL,
             deps=[("example.com/test01", b), ("example.com/test02", c)])
    check(rendered(store, a), TWO_DEPS_EXPECTED)


def test_three_deps(make, store):
    """A (pwl) ---- B
                \\-- C -- D"""
    b = make("example.com/test01", B_FILES)
    d = make("example.com/test03", [("a/file02.txt", F, 0, "hello"), ("b/file01.txt", F, 0, "hello"),
                                    ("d", D, 0o700, None), ("d/file01.txt", F, 0o700, "hello")])
    c = make("example.com/test02", C_FILES, deps=[("example.com/test03", d)])
    a = make("example.com/test04", A_FILES, pwl=A_PWL,
             deps=[("example.com/test01", b), ("example.com/test02", c)])
    check(rendered(store, a), TWO_DEPS_EXPECTED)


@pytest.mark.parametrize("pwl", [None, ["/foo"]], ids=["plain", "whitelist"])
def test_empty_rootfs_dir(make, store, pwl):
    image = make("example.com/test_empty_rootfs", rootfs_mode=0o700, pwl=pwl)
    found = rendered(store, image)
    assert found == {"": (D, 0, 0o700)}


# -- beyond the Go cases ---------------------------------------------------------------------


def test_shared_dependency_is_read_once_per_branch():
    """A->[B,C], B->[D], C->[D]: override order D, B, D, C, A (appc spec/aci.md)."""
    d = Node("D")
    layers = flatten(Node("A", (), (Node("B", (), (d,)), Node("C", (), (d,)))))
    assert [l.image_id for l in reversed(layers)] == ["D", "B", "D", "C", "A"]


def test_lower_file_under_upper_symlink_is_dropped():
    upper = Layer("U", 0, None, None)
    lower = Layer("L", 1, None, None)
    members = {"U": [("/", True), ("/etc", False)],
               "L": [("/", True), ("/etc", True), ("/etc/passwd", False)]}
    chosen = choose_files([upper, lower], lambda l: members[l.image_id])
    assert chosen == [{"/", "/etc"}, {"/"}]


def test_tree_id_depends_on_the_whole_dependency_list():
    one = tree_id(flatten(Node("sha512-aa", (), (Node("sha512-bb"),))))
    other = tree_id(flatten(Node("sha512-aa", (), (Node("sha512-cc"),))))
    assert one != other and one.startswith("deps-sha512-") and len(one) == len("deps-sha512-") + 64


def test_missing_dependency_is_named(tmp_path, store):
    acis = tmp_path / "acis"
    acis.mkdir()
    missing = "sha512-" + "ab" * 64
    path = build(acis, "example.com/top", deps=[("example.com/base", missing)])
    with pytest.raises(RktError, match=r'dependency "example.com/base \(sha512-abab'):
        store.import_aci(path)
    assert store.images() == []
    assert list((store.cas / "tmp").iterdir()) == []


def test_dependency_by_name_and_symlink_replaced(make, store):
    """An upper layer's file replaces a lower layer's symlink-to-directory, never following it."""
    base = make("example.com/base", [("etc", D, 0, None), ("etc/os", F, 0, "base"),
                                     ("lib", L, 0, "/etc")])
    top_aci = build(store.cas.parent.parent / "acis", "example.com/top",
                    [("lib", D, 0, None), ("lib/x", F, 0, "top")], deps=[])
    manifest_deps = json.dumps([{"imageName": "example.com/base"}])
    # Rebuild with a by-name dependency (no imageID).
    data = top_aci.read_bytes()
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        members = [(m, tf.extractfile(m).read() if m.isfile() else None) for m in tf]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for m, payload in members:
            if m.name == "manifest":
                manifest = json.loads(payload)
                manifest["dependencies"] = json.loads(manifest_deps)
                payload = json.dumps(manifest).encode()
                m.size = len(payload)
            tf.addfile(m, io.BytesIO(payload) if payload is not None else None)
    top_aci.write_bytes(buf.getvalue())
    top = store.import_aci(top_aci)
    found = rendered(store, top)
    assert found["lib"][0] == D and found["lib/x"][0] == F
    assert found["etc/os"] == (F, 4, 0o644)
    assert not (store.render(base).rootfs / "etc" / "x").exists()


def test_own_whitelist_without_dependencies(make, store):
    image = make("example.com/solo", [("keep", F, 0, "k"), ("drop", F, 0, "d"),
                                      ("dir", D, 0o700, None), ("dir/drop", F, 0, "d"),
                                      ("dir/keep", L, 0, "../keep")],
                 pwl=["/keep", "/dir/keep"])
    check(rendered(store, image), [("keep", F, 1), ("dir", D, 0, 0o700), ("dir/keep", L)])


def test_import_tree_equals_a_fresh_render(tmp_path, store):
    """The tree kept from the import pass is exactly what render() would produce."""
    from tests.helpers.aci import Entry, make_aci, manifest

    aci = tmp_path / "x.aci"
    make_aci(aci, manifest("example.com/x"), {
        "bin/tool": Entry(data=b"#!x", mode=0o4755, uid=7, gid=8),
        "etc/link": Entry(kind="symlink", target="/bin/tool"),
        "etc/hard": Entry(kind="hardlink", target="rootfs/bin/tool"),
        "var/empty": Entry(kind="dir", mode=0o1777),
        "dev/null": Entry(kind="chr", major=1, minor=3, mode=0o666),
    })
    image = store.import_aci(aci)
    tree = store.render(image)
    imported_hash = (tree.path / "hash").read_text()
    store.render(image, rebuild=True)
    assert (tree.path / "hash").read_text() == imported_hash
    assert store.verify_tree(tree.id)


def test_damaged_blob_never_reaches_a_tree(make, store):
    dep = make("example.com/base", [("etc/data", F, 0, "A" * 4000)])
    top = make("example.com/top", [("etc/top", F, 0, "t")], deps=[("example.com/base", dep)])
    blob = store.blob_path(dep)
    data = bytearray(blob.read_bytes())
    at = data.index(b"A" * 100)
    data[at] = ord("B")
    blob.write_bytes(bytes(data))
    with pytest.raises(RktError, match="blob in the store is damaged"):
        store.render(top)
    assert not any(t for t in store.trees() if store.tree_image(t) == top)
    assert list((store.cas / "tmp").iterdir()) == []
