"""`rkt trust`: add public keys to the local trust store, after the user reviewed them."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

import click

from rkt.cli._click import CONTEXT_SETTINGS, options
from rkt.errors import RktError, UsageError

HELP = """Trust a key for image verification.

Adds keys to the local keystore for use in verifying signed images. PUBKEY may be a local
file, a file:// URL or an https:// URL; with no PUBKEY, the keys of PREFIX are found by appc
discovery (ac-discovery-pubkeys). PREFIX scopes the applicability of PUBKEY to image names equal to
PREFIX or below it (example.com/app trusts example.com/app and example.com/app/x, not
example.com/apple). --root must be specified to add keys with no prefix."""


def _q(text: str) -> str:
    """Go's %q, closely enough: a double-quoted, escaped string."""
    return json.dumps(text, ensure_ascii=False)


class _Http:
    """One HTTP client for all the keys of a command, made on first use (requests is heavy)."""

    def __init__(self, allow_http: bool):
        self.allow_http = allow_http
        self.client = None

    def get(self):
        if self.client is None:
            import dataclasses

            from rkt.fetch.http import Client, HttpConfig

            config = HttpConfig.from_options(options())
            self.client = Client(dataclasses.replace(
                config, allow_http=config.allow_http or self.allow_http))
        return self.client


def _read_key(location: str, http: _Http) -> bytes:
    from rkt.trust.openpgp import MAX_KEY_FILE_SIZE

    url = urlsplit(location)
    if url.scheme == "":
        path = Path(location)
    elif url.scheme == "file":
        if url.netloc not in ("", "localhost"):
            raise RktError(f"error accessing the key {location}: file URLs must name a local path")
        path = Path(unquote(url.path))
    elif url.scheme in ("http", "https"):
        if url.scheme == "http" and not http.allow_http:
            raise RktError(f"error accessing the key {location}: "
                           "--insecure-allow-http required for http URLs")
        from rkt.fetch.http import HttpError

        try:
            return http.get().get_bytes(location, max_bytes=MAX_KEY_FILE_SIZE,
                                        what="public key").data
        except HttpError as err:
            raise RktError(f"error accessing the key: {err.message}") from None
    else:
        raise RktError(f"error accessing the key {location}: "
                       "only local files and http or https URLs supported")
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_KEY_FILE_SIZE + 1)
    except OSError as err:
        raise RktError(f"error accessing the key {location}: {err.strerror}") from None
    return data


def _discover_keys(prefix: str, http: _Http) -> tuple[str, ...]:
    """The key URLs appc discovery (ac-discovery-pubkeys) gives for `prefix`."""
    from rkt.fetch.discovery import discover

    return discover(http.get(), prefix, {}, want="pubkeys").pubkeys


def _review(prefix: str, location: str, keys) -> None:
    from rkt.trust.openpgp import format_fingerprint

    print(f"prefix: {_q(prefix)}", file=sys.stderr)
    print(f"key: {_q(location)}", file=sys.stderr)
    for key in keys:
        print(f"gpg key fingerprint is: {format_fingerprint(key.fingerprint)}")
        for sub in key.subkey_fingerprints:
            print(f"    Subkey fingerprint: {format_fingerprint(sub)}")
        for uid in key.user_ids:
            print(f"\t{uid}")
    sys.stdout.flush()


def _ask() -> bool:
    while True:
        sys.stdout.write("Are you sure you want to trust this key (yes/no)? ")
        sys.stdout.flush()
        answer = sys.stdin.readline()
        if not answer:
            raise RktError("error reviewing key: no answer (end of input)")
        answer = answer.strip()
        if answer == "yes":
            return True
        if answer == "no":
            return False
        print("Please enter 'yes' or 'no'")


@click.command(context_settings=CONTEXT_SETTINGS, help=HELP)
@click.option("--prefix", default="", metavar="PREFIX", help="prefix to limit trust to")
@click.option("--root", is_flag=True, help="add root key from filesystem without a prefix")
@click.option("--skip-fingerprint-review", is_flag=True,
              help="accept key without fingerprint confirmation")
@click.option("--insecure-allow-http", is_flag=True,
              help="allow HTTP use for key discovery and/or retrieval")
@click.argument("pubkeys", nargs=-1, metavar="[PUBKEY...]")
def command(prefix: str, root: bool, skip_fingerprint_review: bool, insecure_allow_http: bool,
            pubkeys: tuple[str, ...]) -> None:
    from rkt.trust.keystore import Keystore, check_prefix
    from rkt.trust.openpgp import KeyFileError, parse_public_keys

    if not prefix and not root:
        raise UsageError("--root required for non-prefixed (root) keys" if pubkeys
                         else "--prefix PREFIX or --root required (see rkt trust --help)")
    if prefix and root:
        raise UsageError("--root and --prefix usage mutually exclusive")
    if prefix:
        scheme = urlsplit(prefix).scheme
        if "://" in prefix and scheme:
            raise UsageError(f"--prefix must not contain a URL scheme, omit {scheme}://")
        check_prefix(prefix)
    http = _Http(insecure_allow_http)
    if not pubkeys:
        if root:
            raise UsageError("at least one key or --prefix required")
        pubkeys = _discover_keys(prefix, http)
    keystore = Keystore(options())
    interactive = sys.stdin.isatty() and sys.stderr.isatty()

    # Read and check every key before asking anything or writing anything.
    parsed = []
    for location in pubkeys:
        try:
            parsed.append((location, parse_public_keys(_read_key(location, http))))
        except KeyFileError as err:
            raise RktError(f"error reading the key {location}: {err}") from None

    for location, keys in parsed:
        _review(prefix, location, keys)
        if skip_fingerprint_review:
            print(f"Trusting {_q(location)} for prefix {_q(prefix)} without fingerprint review.")
        else:
            if not interactive:
                raise RktError("error reviewing key: unable to ask user to review fingerprint "
                               "due to lack of tty; review it and pass --skip-fingerprint-review")
            if not _ask():
                print(f"Not trusting {_q(location)}")
                continue
            print(f"Trusting {_q(location)} for prefix {_q(prefix)} after fingerprint review.")
        for key in keys:
            if root:
                path = keystore.add(key, root=True)
                print(f"Added root key at {_q(str(path))}")
            else:
                path = keystore.add(key, prefix=prefix)
                print(f"Added key for prefix {_q(prefix)} at {_q(str(path))}")
