"""The CLI contract: global flags anywhere, one-line errors, exit codes, prefix matching."""


def test_version(rkt):
    out = rkt("version").stdout
    assert "rkt Version:" in out and "appc Version: 0.8.11" in out


def test_version_by_unique_prefix(rkt):
    assert "rkt Version:" in rkt("vers").stdout


def test_unknown_command_is_usage_error(rkt):
    proc = rkt.fails("no-such-command", code=2)
    assert proc.stderr.startswith("rkt: unknown command")
    assert len(proc.stderr.strip().splitlines()) == 1


def test_bad_insecure_option_is_usage_error(rkt):
    proc = rkt.fails("--insecure-options=bogus", "version", code=2)
    assert "bogus" in proc.stderr


def test_help_lists_commands(rkt):
    out = rkt("--help").stdout
    for name in ("run", "fetch", "image", "trust", "gc", "status"):
        assert f"  {name} " in out


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
