"""`rkt trust` through the real CLI: storing keys, the fingerprint review, and its errors."""

from __future__ import annotations

import stat

from rkt.options import GlobalOptions
from rkt.trust.verify import verify
from tests.helpers.aci import make_aci, manifest
from tests.helpers.tty import run_on_tty


def key_file(rkt, key, name="key.asc"):
    return key.export(rkt.root / name)


def prefix_dir(rkt, prefix):
    return rkt.local_config / "trustedkeys" / "prefix.d" / prefix


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert lines and lines[-1].startswith("rkt: "), stderr
    return lines[-1]


def test_trust_prefix_then_verify(rkt, gpg_key):
    proc = rkt("trust", "--prefix", "example.com/app", "--skip-fingerprint-review", key_file(rkt, gpg_key))
    path = prefix_dir(rkt, "example.com/app") / gpg_key.fingerprint.lower()
    assert f'Added key for prefix "example.com/app" at "{path}"' in proc.stdout
    assert "gpg key fingerprint is: " + gpg_key.fingerprint[:4] in proc.stdout
    assert "Test Signer A <a@example.com>" in proc.stdout
    assert stat.S_IMODE(path.stat().st_mode) == 0o644

    aci = rkt.root / "app.aci"
    make_aci(aci, manifest("example.com/app"))
    opts = GlobalOptions(local_config=rkt.local_config, system_config=rkt.system_config)
    assert verify(opts, "example.com/app", aci, gpg_key.sign(aci)) == gpg_key.fingerprint.lower()


def test_trust_root(rkt, gpg_key):
    proc = rkt("trust", "--root", "--skip-fingerprint-review", key_file(rkt, gpg_key))
    path = rkt.local_config / "trustedkeys" / "root.d" / gpg_key.fingerprint.lower()
    assert f'Added root key at "{path}"' in proc.stdout
    assert path.is_file()


def test_trust_file_url_and_several_keys(rkt, gpg_key, other_gpg_key):
    a, b = key_file(rkt, gpg_key, "a.asc"), key_file(rkt, other_gpg_key, "b.asc")
    rkt("trust", "--prefix=example.com", "--skip-fingerprint-review", f"file://{a}", b)
    assert sorted(p.name for p in prefix_dir(rkt, "example.com").iterdir()) == sorted(
        [gpg_key.fingerprint.lower(), other_gpg_key.fingerprint.lower()])


def test_readd_is_idempotent(rkt, gpg_key):
    args = ("trust", "--prefix", "example.com/app", "--skip-fingerprint-review", key_file(rkt, gpg_key))
    rkt(*args)
    path = prefix_dir(rkt, "example.com/app") / gpg_key.fingerprint.lower()
    first = path.read_bytes()
    rkt(*args)
    assert path.read_bytes() == first
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_review_needs_a_tty(rkt, gpg_key):
    proc = rkt.fails("trust", "--prefix", "example.com/app", key_file(rkt, gpg_key), input="yes\n")
    assert "lack of tty" in one_line(proc.stderr)
    assert not prefix_dir(rkt, "example.com/app").exists()


def run_in_pty(cmd: list[str], answer: bytes) -> tuple[int, str]:
    code, output = run_on_tty(cmd, replies=((b"(yes/no)?", answer),), timeout=30)
    return code, output.decode(errors="replace")


def test_review_accepted_on_a_tty(rkt, gpg_key):
    code, out = run_in_pty(rkt.cmd("trust", "--prefix", "example.com/app", key_file(rkt, gpg_key)),
                           b"maybe\nyes\n")
    assert code == 0, out
    assert "Are you sure you want to trust this key (yes/no)?" in out
    assert "Please enter 'yes' or 'no'" in out
    assert "after fingerprint review" in out
    assert (prefix_dir(rkt, "example.com/app") / gpg_key.fingerprint.lower()).is_file()


def test_review_refused_on_a_tty(rkt, gpg_key):
    code, out = run_in_pty(rkt.cmd("trust", "--prefix", "example.com/app", key_file(rkt, gpg_key)), b"no\n")
    assert code == 0, out
    assert "Not trusting" in out
    assert not prefix_dir(rkt, "example.com/app").exists()


def test_bad_key_file_is_named(rkt, gpg_key):
    bad = rkt.root / "bad.asc"
    bad.write_text("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nAAAA\n-----END PGP PUBLIC KEY BLOCK-----\n")
    proc = rkt.fails("trust", "--prefix", "example.com", "--skip-fingerprint-review", bad)
    assert one_line(proc.stderr).startswith(f"rkt: error reading the key {bad}: ")
    sig = gpg_key.sign(key_file(rkt, gpg_key))
    proc = rkt.fails("trust", "--prefix", "example.com", "--skip-fingerprint-review", sig)
    assert "not a public key" in one_line(proc.stderr)
    proc = rkt.fails("trust", "--prefix", "example.com", "--skip-fingerprint-review", rkt.root / "missing")
    assert "No such file or directory" in one_line(proc.stderr)
    assert not prefix_dir(rkt, "example.com").exists()


def test_one_bad_key_stores_none(rkt, gpg_key):
    bad = rkt.root / "bad.asc"
    bad.write_text("nope\n")
    rkt.fails("trust", "--prefix", "example.com", "--skip-fingerprint-review", key_file(rkt, gpg_key), bad)
    assert not prefix_dir(rkt, "example.com").exists()


def test_usage_errors(rkt, gpg_key):
    key = key_file(rkt, gpg_key)
    assert "--root required" in one_line(rkt.fails("trust", key, code=254).stderr)
    assert "mutually exclusive" in one_line(
        rkt.fails("trust", "--root", "--prefix", "example.com", key, code=254).stderr)
    assert "omit https://" in one_line(rkt.fails("trust", "--prefix", "https://example.com", key, code=254).stderr)
    assert "AC Identifier" in one_line(rkt.fails("trust", "--prefix", "Example.com", key, code=254).stderr)
    rkt.fails("trust", code=254)
    rkt.fails("trust", "--root", code=254)


def test_http_key_url_needs_insecure_allow_http(rkt):
    proc = rkt.fails("trust", "--prefix", "example.com", "http://example.com/key.asc")
    assert "--insecure-allow-http required" in one_line(proc.stderr)
    # (https key URLs and key discovery: tests/fetch/test_trust_discovery.py, on loopback)


def test_binary_keyring_with_two_keys(rkt, gpg_key, other_gpg_key):
    import subprocess

    ring = b"".join(subprocess.run(["gpg", "--batch", "--homedir", str(k.home), "--export", k.fingerprint],
                                   check=True, capture_output=True).stdout
                    for k in (gpg_key, other_gpg_key))
    keyfile = rkt.root / "ring.gpg"
    keyfile.write_bytes(ring)
    proc = rkt("trust", "--root", "--skip-fingerprint-review", keyfile)
    assert proc.stdout.count("Added root key at") == 2
    root = rkt.local_config / "trustedkeys" / "root.d"
    assert sorted(p.name for p in root.iterdir()) == sorted(
        [gpg_key.fingerprint.lower(), other_gpg_key.fingerprint.lower()])
