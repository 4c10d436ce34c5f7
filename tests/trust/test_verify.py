"""verify(): real gpg, real signed ACIs, keys laid out as rkt lays them out."""

from __future__ import annotations

import threading

import pytest

from rkt.errors import RktError
from rkt.trust.verify import verify
from tests.trust.conftest import gpg_agents_for


@pytest.fixture(autouse=True)
def quiet(capfd):
    """Failures travel as one RktError; nothing (gpg, python-gnupg's logging) may print."""
    yield
    assert capfd.readouterr().err == ""


def refused(store, name, aci, asc) -> str:
    with pytest.raises(RktError) as err:
        verify(store.opts, name, aci, asc)
    message = str(err.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("name, prefix", [
    ("example.com/app", "example.com/app"),         # the image's own prefix
    ("example.com/app/worker", "example.com/app"),  # a name below the prefix
    ("example.com/app", "example.com"),             # the parent domain
    ("other.org/thing", None),                      # a root key trusts every name
    ("example.com/shorthash--21", "example.com"),   # names as appc's Go code allows them
])
def test_accepted_with_a_key_that_covers_the_name(store, signed_aci, gpg_key, name, prefix):
    aci, asc = signed_aci(name)
    store.place(gpg_key, prefix)
    assert verify(store.opts, name, aci, asc) == gpg_key.fingerprint.lower()


def test_accepted_with_vendor_key(store, signed_aci, gpg_key):
    aci, asc = signed_aci("example.com/app")
    store.place(gpg_key, "example.com/app", system=True)
    assert verify(store.opts, "example.com/app", aci, asc) == gpg_key.fingerprint.lower()


def test_accepted_with_binary_signature(store, signed_aci, gpg_key, tmp_path):
    aci, _ = signed_aci("example.com/app")
    sig = tmp_path / "app.sig"
    gpg_key._gpg("--yes", "-u", gpg_key.fingerprint, "--detach-sign", "-o", str(sig), str(aci))
    store.place(gpg_key, "example.com/app")
    assert verify(store.opts, "example.com/app", aci, sig) == gpg_key.fingerprint.lower()


def test_refused_without_keys(store, signed_aci):
    aci, asc = signed_aci("example.com/app")
    assert refused(store, "example.com/app", aci, asc) == (
        "no keys trusted for prefix example.com/app; run rkt trust --prefix example.com/app")


def test_refused_with_wrong_prefix(store, signed_aci, gpg_key):
    aci, asc = signed_aci("example.com/app")
    store.place(gpg_key, "example.org/app")
    store.place(gpg_key, "example.com/app/sub")  # a prefix below the name trusts nothing above
    assert refused(store, "example.com/app", aci, asc).startswith("no keys trusted for prefix example.com/app")


def test_sibling_prefix_is_not_trusted(store, signed_aci, gpg_key):
    # rkt compared strings, so a key for example.com/app also signed example.com/apple.
    aci, asc = signed_aci("example.com/apple")
    store.place(gpg_key, "example.com/app")
    assert "no keys trusted for prefix example.com/apple" in refused(store, "example.com/apple", aci, asc)


def test_refused_with_wrong_key(store, signed_aci, gpg_key, other_gpg_key):
    aci, asc = signed_aci("example.com/app", key=other_gpg_key)
    store.place(gpg_key, "example.com/app")
    message = refused(store, "example.com/app", aci, asc)
    assert message.startswith(f"signature by untrusted key {other_gpg_key.fingerprint}: ")
    assert "example.com/app" in message


def test_refused_when_tampered(store, signed_aci, gpg_key):
    aci, asc = signed_aci("example.com/app")
    store.place(gpg_key, "example.com/app")
    data = bytearray(aci.read_bytes())
    data[len(data) // 2] ^= 0xFF
    aci.write_bytes(bytes(data))
    message = refused(store, "example.com/app", aci, asc)
    assert message.startswith(f"bad signature: {aci} was tampered with or signed by another key")


def test_signature_of_another_file(store, signed_aci, gpg_key, tmp_path):
    aci, _ = signed_aci("example.com/app")
    other = tmp_path / "other"
    other.write_bytes(b"something else")
    store.place(gpg_key, "example.com/app")
    assert refused(store, "example.com/app", aci, gpg_key.sign(other)).startswith("bad signature:")


@pytest.mark.parametrize("damage", ["truncated", "empty", "garbage", "public key", "bad base64"])
def test_malformed_signature(store, signed_aci, gpg_key, damage, tmp_path):
    aci, asc = signed_aci("example.com/app")
    store.place(gpg_key, "example.com/app")
    text = asc.read_text()
    asc.write_text({
        "truncated": text[: len(text) // 2],
        "empty": "",
        "garbage": "this is not a signature\n",
        "public key": gpg_key.export(tmp_path / "k.asc").read_text(),
        "bad base64": text.replace("\n\n", "\n\n!!!!", 1),
    }[damage])
    message = refused(store, "example.com/app", aci, asc)
    assert message.startswith(f"signature file {asc}"), message


@pytest.mark.parametrize("armor", [["--armor"], []])
def test_signed_message_is_not_a_detached_signature(store, signed_aci, gpg_key, tmp_path, armor):
    # A validly signed message carries its own data; it must not pass for the image's signature.
    aci, asc = signed_aci("example.com/app")
    store.place(gpg_key, "example.com/app")
    other = tmp_path / "other"
    other.write_bytes(b"payload")
    signed = tmp_path / "signed.asc"
    gpg_key._gpg("--yes", "-u", gpg_key.fingerprint, *armor, "--sign", "-o", str(signed), str(other))
    assert "not a detached signature" in refused(store, "example.com/app", aci, signed)


def test_missing_signature_file(store, signed_aci, gpg_key, tmp_path):
    aci, _ = signed_aci("example.com/app")
    store.place(gpg_key, "example.com/app")
    assert "error opening signature file" in refused(store, "example.com/app", aci, tmp_path / "nope.asc")


def test_masked_vendor_key(store, signed_aci, gpg_key):
    aci, asc = signed_aci("example.com/app")
    store.place(gpg_key, "example.com/app", system=True)
    store.mask(gpg_key, "example.com/app")
    assert refused(store, "example.com/app", aci, asc).startswith("no keys trusted")


def test_root_mask_masks_vendor_prefix_key(store, signed_aci, gpg_key):
    aci, asc = signed_aci("example.com/app")
    store.place(gpg_key, "example.com", system=True)
    store.mask(gpg_key)
    assert refused(store, "example.com/app", aci, asc).startswith("no keys trusted")


def test_expired_key(store, signed_aci, expired_key):
    aci, asc = signed_aci("example.com/app", key=expired_key)
    store.place(expired_key, "example.com/app")
    message = refused(store, "example.com/app", aci, asc)
    assert "the key has expired" in message and expired_key.fingerprint[-16:] in message


def test_revoked_key(store, signed_aci, revoked_key):
    aci, asc = signed_aci("example.com/app", key=revoked_key)
    revoked_key.revoke()
    store.place(revoked_key, "example.com/app")
    assert "the key was revoked" in refused(store, "example.com/app", aci, asc)


def test_invalid_key_file_is_named(store, signed_aci, gpg_key):
    aci, asc = signed_aci("example.com/app")
    bad = store.key_path(gpg_key, "example.com/app")
    bad.parent.mkdir(parents=True)
    bad.write_text("not a key\n")
    message = refused(store, "example.com/app", aci, asc)
    assert message.startswith(f"trusted key {bad}: ")


def test_key_file_named_by_another_fingerprint(store, signed_aci, gpg_key, other_gpg_key):
    aci, asc = signed_aci("example.com/app")
    path = store.key_path(other_gpg_key, "example.com/app")
    path.parent.mkdir(parents=True)
    gpg_key.export(path)
    assert "fingerprint mismatch" in refused(store, "example.com/app", aci, asc)


def test_trusted_key_without_self_signature(store, signed_aci, gpg_key):
    from rkt.trust.openpgp import PublicKey, parse_public_keys

    aci, asc = signed_aci("example.com/app")
    path = store.place(gpg_key, "example.com/app")
    [key] = parse_public_keys(path.read_bytes())
    path.write_bytes(PublicKey(key.packets[:1]).armored())  # the bare key packet, no user ID
    message = refused(store, "example.com/app", aci, asc)
    assert message.startswith(f"trusted key {path} signed {aci}, but gpg cannot use it")


def test_only_keys_for_the_name_reach_gpg(store, signed_aci, gpg_key, other_gpg_key):
    # other_gpg_key is trusted, but for another prefix: it must not make the signature valid.
    aci, asc = signed_aci("example.com/app", key=other_gpg_key)
    store.place(gpg_key, "example.com/app")
    store.place(other_gpg_key, "example.org")
    assert refused(store, "example.com/app", aci, asc).startswith("signature by untrusted key")


def test_nothing_left_behind(store, signed_aci, gpg_key, private_tmp):
    aci, asc = signed_aci("example.com/app")
    store.place(gpg_key, "example.com/app")
    verify(store.opts, "example.com/app", aci, asc)
    with pytest.raises(RktError):
        verify(store.opts, "example.com/app", asc, asc)
    assert list(private_tmp.iterdir()) == []
    assert gpg_agents_for(str(private_tmp)) == []
    assert gpg_agents_for("rkt-gpg-") == []


def test_concurrent_verifications(store, signed_aci, gpg_key, other_gpg_key, private_tmp):
    good = signed_aci("example.com/app")
    bad = signed_aci("example.com/app/x", key=other_gpg_key)
    store.place(gpg_key, "example.com/app")
    results: list = [None] * 8

    def run(i):
        name, (aci, asc) = ("example.com/app", good) if i % 2 == 0 else ("example.com/app/x", bad)
        try:
            results[i] = verify(store.opts, name, aci, asc)
        except RktError as err:
            results[i] = err

    threads = [threading.Thread(target=run, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results[0::2] == [gpg_key.fingerprint.lower()] * 4
    assert all(isinstance(r, RktError) and "untrusted key" in str(r) for r in results[1::2])
    assert list(private_tmp.iterdir()) == []


def test_invalid_image_name(store, signed_aci, gpg_key):
    aci, asc = signed_aci("example.com/app")
    store.place(gpg_key)
    assert "invalid image name" in refused(store, "../etc", aci, asc)
