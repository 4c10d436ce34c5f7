"""rkt.report: what each kind of library message looks like on the console, and the seam."""

from __future__ import annotations

import pytest

from rkt import report


@pytest.fixture
def console():
    """A Console (no debug) installed for the test, the previous reporter put back after."""
    previous = report.install(report.Console())
    yield report.current()
    report.install(previous)


def test_console_lines(console, capsys):
    report.out('Garbage collecting pod "u"')
    report.info("gc: moving pod \"u\" to garbage")
    report.warn("overlay filesystem not usable (x), disabling overlay support")
    report.debug("hidden without --debug")
    captured = capsys.readouterr()
    assert captured.out == 'Garbage collecting pod "u"\n'
    assert captured.err == ('gc: moving pod "u" to garbage\n'
                            "rkt: warning: overlay filesystem not usable (x), disabling overlay support\n")


def test_console_debug_lines(capsys):
    previous = report.install(report.Console(debug=True))
    try:
        report.debug("exec /stage1/run")
    finally:
        report.install(previous)
    assert capsys.readouterr().err == "rkt: exec /stage1/run\n"


def test_recorder_receives_library_messages():
    from rkt.pod.manifest import fill_mount_points

    recorder = report.Recorder()
    previous = report.install(recorder)
    try:
        pod = {"apps": [{"name": "a", "app": {"mountPoints": [{"name": "data", "path": "/d"}]}}]}
        fill_mount_points(pod)
    finally:
        report.install(previous)
    assert recorder.messages == [("warn", 'no volume specified for mount point "data", implicitly '
                                  'creating an "empty" volume. This volume will be removed when '
                                  "the pod is garbage-collected.")]
    assert pod["volumes"][0]["name"] == "a-data"


def test_console_progress_line_rewrites_itself(console, capsys):
    report.progress("Downloading ACI: 1 KiB")
    report.progress("Downloading ACI: 2 KiB", done=True)
    report.progress("Downloading x: 3 B")
    report.progress(None)
    assert capsys.readouterr().err == ("\rDownloading ACI: 1 KiB\033[K"
                                       "\rDownloading ACI: 2 KiB\033[K\n"
                                       "\rDownloading x: 3 B\033[K"
                                       "\r\033[K")
    assert not report.interactive()  # captured stderr is no terminal: fetches show no bar


def test_recorder_keeps_progress_and_is_not_interactive():
    recorder = report.Recorder()
    recorder.progress("50%")
    recorder.progress(None)
    assert recorder.messages == [("progress", "50%"), ("progress", "")]
    assert not recorder.interactive()
