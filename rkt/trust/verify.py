"""Checking an image's detached OpenPGP signature against the keys trusted for its name.

gpg sees only the keys that apply to the image name: they are written as a plain keyring into
a private temporary GNUPGHOME (no import step, no agent: verification needs neither), and
gpg's status lines decide. Everything gpg reports is turned into one line naming what was
missing or wrong.
"""

from __future__ import annotations

import copy
import io
import logging
import os
import shutil
import tempfile
import threading
from pathlib import Path

from rkt.errors import RktError
from rkt.options import GlobalOptions
from rkt.trust import openpgp
from rkt.trust.keystore import Keystore

MAX_SIGNATURE_SIZE = 1 << 20

# --no-autostart: never spawn gpg-agent or dirmngr; the rest keeps gpg from looking for keys
# anywhere but the keyring we hand it, and from asking anything.
_GPG_OPTIONS = ["--no-autostart", "--no-auto-key-retrieve", "--trust-model", "always",
                "--no-permission-warning", "--no-greeting"]

_template = None
_template_lock = threading.Lock()


def _gpg(home: str, keyring: str):
    """A python-gnupg handle on `home`; its constructor's `gpg --list-config` runs once a process."""
    global _template
    import gnupg

    with _template_lock:
        if _template is None:
            # python-gnupg logs gpg's warnings; unconfigured, logging would print them on stderr
            # next to our one-line error.
            logging.getLogger("gnupg").addHandler(logging.NullHandler())
            _template = gnupg.GPG(gnupghome=home, options=_GPG_OPTIONS)
    handle = copy.copy(_template)
    handle.gnupghome = home
    handle.keyring = [keyring]
    return handle


def read_signature_file(asc_path: Path) -> bytes:
    """The bytes of a signature file, read no further than a detached signature can be long."""
    try:
        with open(asc_path, "rb") as f:
            data = f.read(MAX_SIGNATURE_SIZE + 1)
    except OSError as err:
        raise RktError(f"error opening signature file {asc_path}: {err.strerror.lower()}") from None
    if len(data) > MAX_SIGNATURE_SIZE:
        raise RktError(f"signature file {asc_path}: larger than {MAX_SIGNATURE_SIZE} bytes, "
                       "not a detached signature")
    return data


def _read_signature(asc_path: Path) -> bytes:
    data = read_signature_file(asc_path)
    try:
        kind, binary = openpgp.dearmor(data)
        if kind not in (None, "SIGNATURE"):
            raise openpgp.KeyFileError(f"is a PGP {kind}, not a detached signature")
        if openpgp.first_tag(binary) not in (None, openpgp.TAG_SIGNATURE):
            raise openpgp.KeyFileError(f"starts with an OpenPGP packet of tag "
                                       f"{openpgp.first_tag(binary)}, not a detached signature")
        packets = openpgp.packets(binary)
    except openpgp.KeyFileError as err:
        raise RktError(f"signature file {asc_path} is malformed: {err}") from None
    # Only signature packets: a signed message carrying its own data must never stand in for
    # a detached signature of the image.
    if not packets or any(p.tag != openpgp.TAG_SIGNATURE for p in packets):
        raise RktError(f"signature file {asc_path} is malformed: not a detached signature")
    return data


def _no_keys(image_name: str) -> RktError:
    return RktError(f"no keys trusted for prefix {image_name}; run rkt trust --prefix {image_name}")


def verify(opts: GlobalOptions, image_name: str, aci_path: str | os.PathLike,
           asc_path: str | os.PathLike) -> str:
    """Check `asc_path` signs `aci_path` with a key trusted for `image_name`; the signer's
    primary key fingerprint (lower-case hex) is returned, anything else raises `RktError`."""
    aci_path, asc_path = Path(aci_path), Path(asc_path)
    trusted = Keystore(opts).trusted_keys(image_name)
    if not trusted:
        raise _no_keys(image_name)
    keys = [k.load() for k in trusted]
    signature = _read_signature(asc_path)
    if not aci_path.exists():  # a pipe is fine: remote fetches stream the image to gpg
        raise RktError(f"image file {aci_path}: not found")

    home = tempfile.mkdtemp(prefix="rkt-gpg-")  # mode 0700
    try:
        keyring = os.path.join(home, "trusted.gpg")
        with open(keyring, "wb") as f:
            f.write(b"".join(k.binary for k in keys))
        gpg = _gpg(home, keyring)
        result = gpg.verify_file(io.BytesIO(signature), data_filename=str(aci_path))
    except (OSError, ValueError) as err:  # python-gnupg: gpg missing or failing to start
        raise RktError(f"cannot run gpg: {err}") from None
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return _judge(result, image_name, aci_path, asc_path, trusted, keys)


def _status_line(stderr: str | None, keyword: str) -> list[str]:
    """The fields of gpg's first `[GNUPG:] KEYWORD ...` status line."""
    for line in (stderr or "").splitlines():
        fields = line.split()
        if fields[:2] == ["[GNUPG:]", keyword]:
            return fields[2:]
    return []


def _judge(result, image_name: str, aci_path: Path, asc_path: Path, trusted, keys) -> str:
    fingerprints = {k.fingerprint for k in keys}
    statuses = [p.get("status") for p in result.problems]
    key_id = (result.key_id or "").upper()
    signer = (result.pubkey_fingerprint or result.fingerprint or "").lower()
    if "signature bad" in statuses:
        raise RktError(f"bad signature: {aci_path} was tampered with or signed by another key "
                       f"(signature {asc_path} claims key {key_id})")
    if "signing key was revoked" in statuses:
        raise RktError(f"signature by key {key_id} for {image_name}: the key was revoked; "
                       "remove it from the trust store and get a new signature")
    if "signing key has expired" in statuses:
        raise RktError(f"signature by key {key_id} for {image_name}: the key has expired")
    if "signature expired" in statuses:
        raise RktError(f"signature {asc_path} by key {key_id}: the signature has expired")
    if "no public key" in statuses or "signature error" in statuses:
        errsig = _status_line(result.stderr, "ERRSIG")
        for entry, key in zip(trusted, keys):
            own = [key.fingerprint, *key.subkey_fingerprints]
            if key_id and any(fp.upper().endswith(key_id) for fp in own):
                # Trusted, yet gpg would not use it: stripped or broken self-signatures.
                raise RktError(f"trusted key {entry.path} signed {aci_path}, but gpg cannot use "
                               "it (no valid self-signature); re-export and re-trust the key")
        if len(errsig) >= 6 and errsig[5] != "9":  # 9: no public key; else e.g. 4: bad algorithm
            raise RktError(f"signature {asc_path} by key {key_id} cannot be checked "
                           f"(gpg error code {errsig[5]}: unsupported algorithm or damaged signature)")
        issuer = errsig[6].upper() if len(errsig) >= 7 and errsig[6] != "-" else key_id
        raise RktError(f"signature by untrusted key {issuer}: no key trusted for prefix "
                       f"{image_name} (or a parent prefix, or root) matches; "
                       f"run rkt trust --prefix {image_name} with its public key")
    if result.valid and result.returncode == 0 and signer in fingerprints:
        return signer
    if result.status == "signature expected but not found" or not result.status:
        raise RktError(f"signature file {asc_path} is malformed: no valid signature in it")
    detail = (result.stderr or "").strip().splitlines()
    raise RktError(f"signature verification of {aci_path} failed: {result.status}"
                   + (f" ({detail[-1].removeprefix('gpg: ')})" if detail else ""))
