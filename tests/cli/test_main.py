"""The CLI contract: global flags anywhere, one-line errors, exit codes, prefix matching."""


def test_version(rkt):
    out = rkt("version").stdout
    assert "rkt Version:" in out and "appc Version: 0.8.11" in out


def test_version_by_unique_prefix(rkt):
    assert "rkt Version:" in rkt("vers").stdout


def test_unknown_command_is_usage_error(rkt):
    proc = rkt.fails("no-such-command", code=254)
    assert proc.stderr == ('Error: unknown command "no-such-command" for "rkt"\n'
                           "Run 'rkt --help' for usage.\n")


def test_bad_insecure_option_is_usage_error(rkt):
    proc = rkt.fails("--insecure-options=bogus", "version", code=254)
    assert "bogus" in proc.stderr


def test_help_lists_commands(rkt):
    out = rkt("--help").stdout
    for name in ("run", "fetch", "image list", "trust", "gc", "status"):
        assert f"\t{name}\t" in out


def test_run_path_does_not_import_click():
    import subprocess
    import sys

    code = ("import sys; from rkt.cli import main; import rkt.options;"
            "assert 'click' not in sys.modules, 'click imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_relative_dir_is_taken_from_the_current_directory(rkt, tmp_path):
    import os

    from rkt.options import split_global_options

    opts, rest = split_global_options(["--dir", "rel/data", "version", "--local-config=etc"])
    assert opts.dir == tmp_path.cwd() / "rel/data" and opts.local_config.is_absolute()
    assert rest == ["version"] and os.path.isabs(opts.dir)
