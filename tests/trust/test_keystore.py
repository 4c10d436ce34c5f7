"""Keystore: rkt's on-disk layout, whole-component prefixes, vendor keys and masking."""

from __future__ import annotations

import stat

import pytest

from rkt.errors import RktError, UsageError
from rkt.trust.keystore import Keystore, name_prefixes
from rkt.trust.openpgp import PublicKey, parse_public_keys


def test_name_prefixes():
    assert name_prefixes("example.com/app/x") == ["example.com", "example.com/app", "example.com/app/x"]
    assert name_prefixes("busybox") == ["busybox"]


def test_keys_for_follows_prefix_components(store, gpg_key, other_gpg_key):
    root = store.place(other_gpg_key)
    app = store.place(gpg_key, "example.com/app")
    ks = Keystore(store.opts)
    assert set(ks.keys_for("example.com/app")) == {root, app}
    assert set(ks.keys_for("example.com/app/db")) == {root, app}
    assert ks.keys_for("example.com/apple") == [root]
    assert ks.keys_for("example.com") == [root]


def test_vendor_and_local_keys_both_apply(store, gpg_key, other_gpg_key):
    vendor = store.place(gpg_key, "example.com", system=True)
    local = store.place(other_gpg_key, "example.com/app")
    assert set(Keystore(store.opts).keys_for("example.com/app")) == {vendor, local}


def test_empty_local_file_masks_vendor_key(store, gpg_key, other_gpg_key):
    store.place(gpg_key, "example.com/app", system=True)
    kept = store.place(other_gpg_key, "example.com/app", system=True)
    store.mask(gpg_key, "example.com/app")
    assert Keystore(store.opts).keys_for("example.com/app") == [kept]


def test_mask_does_not_remove_a_local_key(store, gpg_key):
    # Masking is for vendor keys; a key the admin trusted locally elsewhere stays trusted.
    local = store.place(gpg_key)
    store.mask(gpg_key, "example.com/app")
    assert Keystore(store.opts).keys_for("example.com/app") == [local]


def test_files_not_named_by_fingerprint_are_ignored(store, gpg_key):
    d = store.local / "trustedkeys" / "prefix.d" / "example.com"
    d.mkdir(parents=True)
    gpg_key.export(d / "README")
    gpg_key.export(d / (gpg_key.fingerprint.lower() + ".bak"))
    assert Keystore(store.opts).keys_for("example.com/app") == []


def test_invalid_image_name(store):
    with pytest.raises(RktError, match="invalid image name"):
        Keystore(store.opts).keys_for("Example.com/../x")


@pytest.mark.parametrize("name", ["example.com/../x", "a/./b", "example.com//app", "a/../../b"])
def test_names_that_would_leave_their_directory_are_refused(store, gpg_key, tmp_path, name):
    # appc's character-and-edge rules allow these names, but they are no trust-store path.
    ks = Keystore(store.opts)
    with pytest.raises(RktError, match="path component"):
        ks.keys_for(name)
    with pytest.raises(UsageError, match="path component"):
        ks.add(gpg_key.export(tmp_path / "k.asc").read_bytes(), prefix=name)
    assert not (store.local / "trustedkeys").exists() or \
        not any(p.is_file() for p in (store.local / "trustedkeys").rglob("*"))


def test_repeated_separators_are_a_valid_prefix(store, gpg_key, tmp_path):
    ks = Keystore(store.opts)
    path = ks.add(gpg_key.export(tmp_path / "k.asc").read_bytes(), prefix="example.com/shorthash--21")
    assert path == store.key_path(gpg_key, "example.com/shorthash--21")
    assert ks.keys_for("example.com/shorthash--21/x") == [path]


def test_add_stores_key_atomically(store, gpg_key, tmp_path):
    data = gpg_key.export(tmp_path / "k.asc").read_bytes()
    ks = Keystore(store.opts)
    path = ks.add(data, prefix="example.com/app")
    assert path == store.key_path(gpg_key, "example.com/app")
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    [stored] = parse_public_keys(path.read_bytes())
    assert stored.binary == parse_public_keys(data)[0].binary
    assert ks.add(data, prefix="example.com/app") == path  # idempotent
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]
    assert ks.add(data, root=True) == store.key_path(gpg_key)


def test_add_refuses_bad_input(store, gpg_key, other_gpg_key, tmp_path):
    ks = Keystore(store.opts)
    data = gpg_key.export(tmp_path / "k.asc").read_bytes()
    with pytest.raises(UsageError, match="AC Identifier"):
        ks.add(data, prefix="Example.com")
    with pytest.raises(UsageError):
        ks.add(data)
    with pytest.raises(RktError, match="not a public key|neither"):
        ks.add(b"junk", prefix="example.com")
    [key] = parse_public_keys(data)
    with pytest.raises(RktError, match="no self-signed user ID"):
        ks.add(PublicKey(key.packets[:1]), prefix="example.com")
    two = data + other_gpg_key.export(tmp_path / "o.asc").read_bytes()
    with pytest.raises(RktError, match="holds 2 keys"):
        ks.add(two, prefix="example.com")
    assert not (store.local / "trustedkeys" / "prefix.d" / "example.com").exists() or \
        list((store.local / "trustedkeys" / "prefix.d" / "example.com").iterdir()) == []
