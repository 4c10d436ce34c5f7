"""Just enough OpenPGP (RFC 4880) to recognise, split and fingerprint public keys.

Key files in the trust store are read here, in Python, so that a bad file is reported by name
before gpg ever runs and so that verification needs no `gpg --import`: the keys that apply to an
image are concatenated into a plain OpenPGP keyring that gpg reads as is. The cryptography
(self-signatures, signature checks, expiry, revocation) is left entirely to gpg.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import re

from rkt.errors import RktError

TAG_SIGNATURE = 2
TAG_SECRET_KEY = 5
TAG_PUBLIC_KEY = 6
TAG_SECRET_SUBKEY = 7
TAG_MARKER = 10
TAG_TRUST = 12
TAG_USER_ID = 13
TAG_PUBLIC_SUBKEY = 14
TAG_USER_ATTRIBUTE = 17

# Packets that may follow a primary key in a transferable public key (RFC 4880 §11.1).
_KEY_PARTS = {TAG_SIGNATURE, TAG_USER_ID, TAG_PUBLIC_SUBKEY, TAG_USER_ATTRIBUTE}
# Packets a keyring may carry that mean nothing to us; gpg's own trust packets among them.
_IGNORED = {TAG_MARKER, TAG_TRUST}

MAX_KEY_FILE_SIZE = 1 << 20

_ARMOR_RE = re.compile(
    rb"-----BEGIN PGP ([A-Z ,/0-9]+)-----\r?\n(.*?)-----END PGP \1-----", re.DOTALL)


class KeyFileError(RktError):
    """A key file that is not a usable OpenPGP public key."""


@dataclasses.dataclass(frozen=True)
class Packet:
    tag: int
    header: bytes
    body: bytes

    @property
    def raw(self) -> bytes:
        return self.header + self.body


@dataclasses.dataclass(frozen=True)
class PublicKey:
    """One transferable public key: the primary key packet and what belongs to it."""

    packets: tuple[Packet, ...]

    @property
    def fingerprint(self) -> str:
        """Lower-case hex v4 fingerprint, as rkt names trusted key files."""
        return v4_fingerprint(self.packets[0].body)

    @property
    def subkey_fingerprints(self) -> list[str]:
        return [v4_fingerprint(p.body) for p in self.packets if p.tag == TAG_PUBLIC_SUBKEY]

    @property
    def user_ids(self) -> list[str]:
        return [p.body.decode("utf-8", "replace") for p in self.packets if p.tag == TAG_USER_ID]

    @property
    def has_certified_user_id(self) -> bool:
        """Whether a user ID followed by a signature is present; gpg ignores keys without one."""
        tags = [p.tag for p in self.packets]
        return any(tag == TAG_USER_ID and TAG_SIGNATURE in tags[i + 1:i + 2]
                   for i, tag in enumerate(tags))

    @property
    def binary(self) -> bytes:
        return b"".join(p.raw for p in self.packets)

    def armored(self) -> bytes:
        return armor(self.binary, "PUBLIC KEY BLOCK")


def crc24(data: bytes) -> int:
    crc = 0xB704CE
    for byte in data:
        crc ^= byte << 16
        for _ in range(8):
            crc <<= 1
            if crc & 0x1000000:
                crc ^= 0x1864CFB
    return crc & 0xFFFFFF


def armor(data: bytes, kind: str) -> bytes:
    body = base64.b64encode(data)
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    checksum = base64.b64encode(crc24(data).to_bytes(3, "big"))
    return b"\n".join([f"-----BEGIN PGP {kind}-----".encode(), b"", *lines, b"=" + checksum,
                       f"-----END PGP {kind}-----".encode(), b""])


def dearmor(data: bytes) -> tuple[str | None, bytes]:
    """The binary content of `data` and its armor kind (None when `data` was binary already).

    Several armor blocks of one kind (keys exported one after another) are concatenated.
    """
    if data[:1] and data[0] & 0x80:
        return None, data
    blocks = list(_ARMOR_RE.finditer(data))
    if not blocks:
        raise KeyFileError("neither an ASCII-armored nor a binary OpenPGP file")
    kinds = {m.group(1).decode() for m in blocks}
    if len(kinds) > 1:
        raise KeyFileError(f"mixes armor blocks of kinds {', '.join(sorted(kinds))}")
    kind = kinds.pop()
    return kind, b"".join(_dearmor_block(kind, m.group(2)) for m in blocks)


def _dearmor_block(kind: str, text: bytes) -> bytes:
    text = text.replace(b"\r", b"")
    # Armor headers ("Version: ...", "Comment: ...") end at the first blank line.
    head, blank, rest = text.partition(b"\n\n")
    if blank and all(b": " in line for line in head.split(b"\n") if line):
        text = rest
    lines = [line.strip() for line in text.split(b"\n") if line.strip()]
    checksum = None
    if lines and lines[-1].startswith(b"=") and len(lines[-1]) == 5:
        checksum = lines.pop()
    try:
        binary = base64.b64decode(b"".join(lines), validate=True)
        expected = base64.b64decode(checksum[1:], validate=True) if checksum else None
    except ValueError:
        raise KeyFileError(f"corrupt ASCII armor in PGP {kind}") from None
    if expected is not None and int.from_bytes(expected, "big") != crc24(binary):
        raise KeyFileError(f"armor checksum mismatch in PGP {kind}")
    return binary


def packets(data: bytes) -> list[Packet]:
    """Split binary OpenPGP data into packets; partial (streamed) lengths are refused."""
    out = []
    pos = 0
    while pos < len(data):
        start = pos
        first = data[pos]
        if not first & 0x80:
            raise KeyFileError(f"not an OpenPGP packet at offset {pos}")
        if first & 0x40:  # new format
            tag = first & 0x3F
            if pos + 1 >= len(data):
                raise KeyFileError("truncated packet header")
            o1 = data[pos + 1]
            if o1 < 192:
                length, pos = o1, pos + 2
            elif o1 < 224:
                if pos + 2 >= len(data):
                    raise KeyFileError("truncated packet header")
                length, pos = ((o1 - 192) << 8) + data[pos + 2] + 192, pos + 3
            elif o1 == 255:
                if pos + 6 > len(data):
                    raise KeyFileError("truncated packet header")
                length, pos = int.from_bytes(data[pos + 2:pos + 6], "big"), pos + 6
            else:
                raise KeyFileError(f"OpenPGP packet (tag {tag}) of partial length, not expected here")
        else:
            tag = (first >> 2) & 0x0F
            size = {0: 1, 1: 2, 2: 4}.get(first & 3)
            if size is None:
                raise KeyFileError(f"OpenPGP packet (tag {tag}) of indeterminate length, "
                                   "not expected here")
            if pos + 1 + size > len(data):
                raise KeyFileError("truncated packet header")
            length = int.from_bytes(data[pos + 1:pos + 1 + size], "big")
            pos += 1 + size
        if pos + length > len(data):
            raise KeyFileError("truncated packet")
        out.append(Packet(tag, data[start:pos], data[pos:pos + length]))
        pos += length
    return out


def first_tag(data: bytes) -> int | None:
    """The tag of the first packet in binary `data`, None if it does not start with one."""
    if not data or not data[0] & 0x80:
        return None
    return data[0] & 0x3F if data[0] & 0x40 else (data[0] >> 2) & 0x0F


def v4_fingerprint(body: bytes) -> str:
    if not body:
        raise KeyFileError("empty key packet")
    if body[0] != 4:
        raise KeyFileError(f"unsupported OpenPGP key version {body[0]} (only v4 keys are supported)")
    return hashlib.sha1(b"\x99" + len(body).to_bytes(2, "big") + body).hexdigest()


def parse_public_keys(data: bytes) -> list[PublicKey]:
    """Every transferable public key in `data` (armored or binary); raises `KeyFileError` else."""
    if len(data) > MAX_KEY_FILE_SIZE:
        raise KeyFileError(f"larger than {MAX_KEY_FILE_SIZE} bytes, not a public key")
    if not data.strip():
        raise KeyFileError("empty file, not a public key")
    kind, binary = dearmor(data)
    if kind is not None and kind != "PUBLIC KEY BLOCK":
        if "PRIVATE" in kind or "SECRET" in kind:
            raise KeyFileError("is a secret key; export the public key with gpg --armor --export")
        raise KeyFileError(f"is a PGP {kind}, not a public key")
    keys: list[list[Packet]] = []
    for packet in packets(binary):
        if packet.tag in (TAG_SECRET_KEY, TAG_SECRET_SUBKEY):
            raise KeyFileError("is a secret key; export the public key with gpg --armor --export")
        if packet.tag == TAG_PUBLIC_KEY:
            v4_fingerprint(packet.body)
            keys.append([packet])
        elif packet.tag in _IGNORED:
            continue
        elif packet.tag in _KEY_PARTS and keys:
            if packet.tag == TAG_PUBLIC_SUBKEY:
                v4_fingerprint(packet.body)
            keys[-1].append(packet)
        else:
            raise KeyFileError(f"unexpected OpenPGP packet (tag {packet.tag}), not a public key")
    if not keys:
        raise KeyFileError("no public key in it")
    return [PublicKey(tuple(k)) for k in keys]


def format_fingerprint(fingerprint: str) -> str:
    """rkt's display form: upper-case groups of four hex digits, a double space mid-way."""
    groups = [fingerprint[i:i + 4].upper() for i in range(0, len(fingerprint), 4)]
    half = len(groups) // 2
    return " ".join(groups[:half]) + "  " + " ".join(groups[half:])


def _subpackets(data: bytes):
    """(type, body) of each signature subpacket in `data` (RFC 4880 5.2.3.1)."""
    pos = 0
    while pos < len(data):
        o1 = data[pos]
        if o1 < 192:
            length, pos = o1, pos + 1
        elif o1 < 255:
            if pos + 1 >= len(data):
                return
            length, pos = ((o1 - 192) << 8) + data[pos + 1] + 192, pos + 2
        else:
            length, pos = int.from_bytes(data[pos + 1:pos + 5], "big"), pos + 5
        if length == 0 or pos + length > len(data):
            return
        yield data[pos] & 0x7F, data[pos + 1:pos + length]
        pos += length


def signature_issuer(data: bytes) -> tuple[str | None, str | None]:
    """(issuer fingerprint, issuer key ID), lower-case hex, of the first signature packet in
    armored or binary `data`; None where the signature does not say. Only to name the signer
    early (before downloading what it signs): gpg still makes the decision."""
    try:
        _, binary = dearmor(data)
        sigs = [p for p in packets(binary) if p.tag == TAG_SIGNATURE]
    except KeyFileError:
        return None, None
    if not sigs or len(sigs[0].body) < 6 or sigs[0].body[0] != 4:
        return None, None
    body = sigs[0].body
    fingerprint = key_id = None
    hashed_len = int.from_bytes(body[4:6], "big")
    hashed = body[6:6 + hashed_len]
    rest = body[6 + hashed_len:]
    unhashed = rest[2:2 + int.from_bytes(rest[:2], "big")] if len(rest) >= 2 else b""
    for kind, value in [*_subpackets(hashed), *_subpackets(unhashed)]:
        if kind == 33 and len(value) == 21 and value[0] == 4:
            fingerprint = fingerprint or value[1:].hex()
        elif kind == 16 and len(value) == 8:
            key_id = key_id or value.hex()
    if fingerprint and not key_id:
        key_id = fingerprint[-16:]
    return fingerprint, key_id
