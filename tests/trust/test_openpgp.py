"""The small OpenPGP reader: keys recognised, split and fingerprinted exactly as gpg does."""

from __future__ import annotations

import subprocess

import pytest

from rkt.trust import openpgp
from rkt.trust.openpgp import KeyFileError, parse_public_keys


def test_armored_key_fingerprint_matches_gpg(gpg_key, tmp_path):
    [key] = parse_public_keys(gpg_key.export(tmp_path / "k.asc").read_bytes())
    assert key.fingerprint == gpg_key.fingerprint.lower()
    assert key.user_ids == ["Test Signer A <a@example.com>"]


def test_binary_key_and_rearmoring_round_trip(gpg_key):
    binary = subprocess.run(["gpg", "--batch", "--homedir", str(gpg_key.home), "--export",
                             gpg_key.fingerprint], check=True, capture_output=True).stdout
    [key] = parse_public_keys(binary)
    assert key.binary == binary
    [again] = parse_public_keys(key.armored())
    assert again.binary == binary and again.fingerprint == gpg_key.fingerprint.lower()


def test_keyring_with_two_keys_is_split(gpg_key, other_gpg_key, tmp_path):
    data = gpg_key.export(tmp_path / "a").read_bytes() + other_gpg_key.export(tmp_path / "b").read_bytes()
    expected = [gpg_key.fingerprint.lower(), other_gpg_key.fingerprint.lower()]
    keys = parse_public_keys(data)  # two armor blocks
    assert [k.fingerprint for k in keys] == expected
    assert [k.fingerprint for k in parse_public_keys(keys[0].binary + keys[1].binary)] == expected


def test_secret_key_is_refused(gpg_key):
    secret = gpg_key._gpg("--armor", "--passphrase", "", "--export-secret-keys", gpg_key.fingerprint).stdout
    with pytest.raises(KeyFileError, match="secret key"):
        parse_public_keys(secret.encode())


@pytest.mark.parametrize("data, message", [
    (b"", "empty"),
    (b"hello world\n", "neither an ASCII-armored nor a binary"),
    (b"\x99\x00", "truncated"),
    (b"\x99\x00\x10abc", "truncated packet"),
    (b"\xc6\x05\x03abcd", "unsupported OpenPGP key version 3"),
    (b"\xb4\x03abc", "unexpected OpenPGP packet"),  # a user ID with no key before it
    (b"x" * (openpgp.MAX_KEY_FILE_SIZE + 1), "larger than"),
])
def test_not_a_public_key(data, message):
    with pytest.raises(KeyFileError, match=message):
        parse_public_keys(data)


def test_armor_checksum_is_checked(gpg_key, tmp_path):
    text = gpg_key.export(tmp_path / "k.asc").read_text().splitlines()
    i = next(i for i, line in enumerate(text) if line.startswith("=") and len(line) == 5)
    text[i] = "=AAAA" if text[i] != "=AAAA" else "=BBBB"
    with pytest.raises(KeyFileError, match="checksum"):
        parse_public_keys("\n".join(text).encode())


def test_crc24_known_value():
    # RFC 4880 §6.1 test: CRC-24 of the empty string is the initial value.
    assert openpgp.crc24(b"") == 0xB704CE


def test_format_fingerprint():
    assert openpgp.format_fingerprint("8b86de38890ddb7291867b025210bd8888182190") == (
        "8B86 DE38 890D DB72 9186  7B02 5210 BD88 8818 2190")
