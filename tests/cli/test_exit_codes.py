"""Exit status 254 for every failure rkt reports with 254, usage errors included; the
messages in rkt's words where scripts match them."""

import pytest


@pytest.mark.parametrize("args, stderr", [
    (["foo"], 'Error: unknown command "foo" for "rkt"\nRun \'rkt --help\' for usage.\n'),
    (["--bogus"], "Error: unknown flag: --bogus\n\n"),
    (["list", "--bogus"], "Error: unknown flag: --bogus\n\n"),
    (["image", "list", "--bogus"], "Error: unknown flag: --bogus\n\n"),
    (["run", "--bogus", "img"], "Error: unknown flag: --bogus\n\n"),
    (["run", "--cpu=1", "img"], 'Error: invalid argument "1" for --cpu=1: --cpu must follow an image\n\n'),
    (["run", "--stage1-path=a", "--stage1-name=b", "img"], 'Error: invalid argument "b" for '
     "--stage1-name=b: flags --stage1-name and --stage1-path are mutually exclusive\n\n"),
])
def test_flag_errors_print_help_and_exit_254(rkt, args, stderr):
    proc = rkt.fails(*args, code=254)
    assert proc.stderr == stderr
    if "unknown command" not in stderr:  # the command's help page, as cobra prints it
        assert proc.stdout.startswith("NAME:\n") and "OPTIONS:\n" in proc.stdout


@pytest.mark.parametrize("args", [
    ["run"],  # no image
    ["run", "--interactive", "a.aci", "b.aci"],
    ["run", "--pod-manifest=x.json", "img.aci"],
    ["status"],
    ["status", "--wait=later", "abc"],
    ["list", "--format=xml"],
    ["gc", "--grace-period=soon"],
    ["--insecure-options=bogus", "version"],
])
def test_usage_errors_exit_254(rkt, args):
    rkt.fails(*args, code=254)


def test_fetch_keeps_rkts_deprecated_store_flags(rkt):
    """rkt 1.30's fetch still takes --store-only/--no-store (apps' exit codes passing through
    are tested in tests/pod/test_status_real.py)."""
    proc = rkt.fails("fetch", "--store-only", "--no-store", "example.com/x", code=254)
    assert proc.stderr.splitlines() == [
        "Flag --store-only has been deprecated, please use --pull-policy=never",
        "Flag --no-store has been deprecated, please use --pull-policy=update",
        "rkt: both --store-only and --no-store specified"]
    proc = rkt.fails("fetch", "--store-only", "example.com/x", code=254)
    assert "is not in the store and --pull-policy=never" in proc.stderr


def test_rm_empty_uuid_in_rkts_words(rkt):
    proc = rkt.fails("rm", "")
    assert "rm: cannot get pod: UUID cannot be empty" in proc.stderr
    assert "failed to remove one or more pods" in proc.stderr


def test_missing_signature_in_rkts_words(rkt, tmp_path):
    from tests.helpers.aci import busybox_aci

    aci = tmp_path / "bb.aci"
    busybox_aci(aci)
    proc = rkt.fails("fetch", aci)
    assert f"error opening signature file {aci}.asc" in proc.stderr


def test_pod_manifest_without_apps(rkt, tmp_path):
    manifest = tmp_path / "pod.json"
    manifest.write_text('{"acVersion":"0.8.11","acKind":"PodManifest","apps":[]}')
    import os

    if os.geteuid() != 0:
        pytest.skip("rkt run refuses non-root callers before reading the manifest")
    proc = rkt.fails("--insecure-options=image", "run", f"--pod-manifest={manifest}")
    assert "pod must contain at least one application" in proc.stderr


def test_same_exit_codes_as_the_reference(rkt, ref):
    for args in (["foo"], ["--bogus"], ["list", "--bogus"], ["status"], ["rm", ""],
                 ["list", "--full=xyz"], ["image", "list", "--bogus"]):
        ours, theirs = rkt(*args, check=False), ref(*args)
        assert ours.returncode == theirs.returncode == 254, (args, ours.stderr, theirs.stderr)
        if theirs.stderr.startswith("Error:"):
            assert ours.stderr.split(":")[:2] == theirs.stderr.split(":")[:2], args
