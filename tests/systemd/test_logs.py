"""`rkt logs`: the apps' stdout and stderr kept per pod, after exit and live, bounded, and in
the journal when journald listens; the console output of `rkt run` stays what the apps wrote."""

from __future__ import annotations

import os
import socket
import subprocess
import time

from tests.conftest import REPO
from tests.systemd.conftest import run_args, running, wait_for


def _run(rkt, stage1, *args, env=None):
    return subprocess.run(run_args(rkt, stage1, *args), cwd=REPO, capture_output=True,
                          timeout=120, env=env)


def test_logs_after_exit_per_app_and_tail(rkt, real_stage1, image, tmp_path):
    a = image(["/bin/sh", "-c", "echo a1; echo a2 >&2; printf 'no newline'"], name="example.com/a")
    b = image(["/bin/sh", "-c", "sleep 0.2; echo b1"], name="example.com/b")
    uuid_file = tmp_path / "uuid"
    run = _run(rkt, real_stage1, f"--uuid-file-save={uuid_file}", a, b)
    assert run.returncode == 0, run.stderr
    # the console got what the apps wrote, bytes unchanged
    assert b"a1\n" in run.stdout and b"b1\n" in run.stdout and b"no newline" in run.stdout
    assert b"a2\n" in run.stderr
    uuid = uuid_file.read_text().strip()

    both = rkt("logs", uuid)
    assert both.stdout.splitlines() == ["a: a1", "a: no newline", "b: b1"]
    assert both.stderr.splitlines() == ["a: a2"]
    only_a = rkt("logs", "--app=a", uuid)
    assert only_a.stdout.splitlines() == ["a1", "no newline"] and only_a.stderr == "a2\n"
    last = rkt("logs", "--app=a", "--tail=2", uuid)
    assert last.stdout == "no newline\n" and last.stderr == "a2\n"
    assert rkt("logs", "--tail=0", uuid).stdout == ""
    assert rkt("logs", "--since=1h", "--app=b", uuid).stdout == "b1\n"
    assert rkt("logs", "--since=2099-01-01T00:00:00Z", uuid).stdout == ""
    assert 'no app "c"' in rkt.fails("logs", "--app=c", uuid).stderr
    assert "--tail" in rkt.fails("logs", "--tail=many", uuid, code=254).stderr
    # kept until the pod is collected
    rkt("gc", "--grace-period=0s")
    rkt("gc", "--grace-period=0s")
    assert "no matches found" in rkt.fails("logs", uuid).stderr


def test_follow_a_running_pod(rkt, real_stage1, image, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    uuid_file = tmp_path / "uuid"
    aci = image(["/bin/sh", "-c", "echo one; touch /data/one; sleep 1.5; echo two; sleep 0.3"],
                mount_points=[{"name": "data", "path": "/data"}])
    with running(rkt, real_stage1, f"--uuid-file-save={uuid_file}",
                 f"--volume=data,kind=host,source={data}", aci) as proc:
        wait_for(data / "one")
        uuid = uuid_file.read_text().strip()
        follow = subprocess.Popen(rkt.cmd("logs", "--follow", uuid), cwd=REPO,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        first = follow.stdout.readline()
        assert first == b"one\n"
        seen_at = time.monotonic()
        second = follow.stdout.readline()
        assert second == b"two\n" and time.monotonic() - seen_at > 0.5  # live, not at the end
        # and it ends by itself once the pod exited
        rest, err = follow.communicate(timeout=20)
        assert follow.returncode == 0 and rest == b"", err
        proc.communicate(timeout=20)
    assert proc.returncode == 0


def test_rotation_keeps_logs_bounded(rkt, real_stage1, image, tmp_path):
    uuid_file = tmp_path / "uuid"
    script = 'i=0; while [ $i -lt 5000 ]; do echo "line $i padding padding"; i=$((i+1)); done'
    aci = image(["/bin/sh", "-c", script])
    run = _run(rkt, real_stage1, f"--uuid-file-save={uuid_file}", aci,
               env={**os.environ, "RKT_LOG_MAX_SIZE": "32k"})
    assert run.returncode == 0, run.stderr
    assert run.stdout.count(b"\n") == 5000  # the console lost nothing
    uuid = uuid_file.read_text().strip()
    pod_dir = rkt.pod_dir(uuid)
    files = sorted(p.name for p in (pod_dir / "logs").iterdir())
    assert files == ["sd.log", "sd.log.1"]
    for name in files:
        assert (pod_dir / "logs" / name).stat().st_size <= 32768
    lines = rkt("logs", uuid).stdout.splitlines()
    numbers = [int(line.split()[1]) for line in lines]
    assert numbers[-1] == 4999 and numbers == list(range(numbers[0], 5000))
    assert 500 < len(numbers) < 5000


def test_journal_gets_each_line(rkt, real_stage1, image, tmp_path):
    """journald's socket is /run/systemd/journal/socket: here a socket the test holds, bound
    over that path in a private mount namespace of `rkt run`."""
    journal_dir = tmp_path / "journal"
    journal_dir.mkdir()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(journal_dir / "socket"))
    uuid_file = tmp_path / "uuid"
    aci = image(["/bin/sh", "-c", "echo to-journal; echo err-line >&2"], name="example.com/jr")
    cmd = " ".join(run_args(rkt, real_stage1, f"--uuid-file-save={uuid_file}", aci))
    script = (f"mount -t tmpfs tmpfs /run/systemd && mkdir /run/systemd/journal && "
              f"mount --bind {journal_dir} /run/systemd/journal && exec {cmd}")
    run = subprocess.run(["unshare", "--mount", "--propagation", "slave", "sh", "-c", script],
                         cwd=REPO, capture_output=True, timeout=120)
    assert run.returncode == 0, run.stderr
    uuid = uuid_file.read_text().strip()
    sock.settimeout(5)
    entries = []
    for _ in range(2):
        entries.append(_fields(sock.recv(65536)))
    sock.close()
    by_message = {e[b"MESSAGE"]: e for e in entries}
    assert set(by_message) == {b"to-journal", b"err-line"}
    for entry in entries:
        assert entry[b"SYSLOG_IDENTIFIER"] == b"jr"
        assert entry[b"RKT_POD_UUID"] == uuid.encode()
    assert by_message[b"to-journal"][b"PRIORITY"] == b"6"
    assert by_message[b"err-line"][b"PRIORITY"] == b"3"


def _fields(datagram: bytes) -> dict[bytes, bytes]:
    """journald's native format: NAME=value lines, or NAME\\n<le64 size><bytes>\\n."""
    fields, pos = {}, 0
    while pos < len(datagram):
        end = datagram.index(b"\n", pos)
        line = datagram[pos:end]
        if b"=" in line:
            name, _, value = line.partition(b"=")
            pos = end + 1
        else:
            size = int.from_bytes(datagram[end + 1:end + 9], "little")
            name, value = line, datagram[end + 9:end + 9 + size]
            pos = end + 9 + size + 1
        fields[name] = value
    return fields


def test_writer_and_reader_agree_across_pieces_and_rotation(tmp_path, monkeypatch):
    """stage1's writer and stage0's reader, without a pod: long lines split into P records come
    back whole, in order, across a rotation; no file outgrows the bound."""
    from rkt.pod.logs import AppReader
    from stage1 import logs as writer

    monkeypatch.chdir(tmp_path)

    class Console:
        data = b""

    console = Console()
    monkeypatch.setattr(writer.Console, "write", lambda _self, data: setattr(
        console, "data", console.data + data))
    out = writer.Output("uuid", ["app"], writer.max_bytes("32k"), None)
    reader = writer.LineReader("app", "stdout", -1)
    sent = b""
    for i in range(400):
        size = 20000 if i % 50 == 0 else i * 37 % 3000  # some lines longer than a record
        chunk = b"line %d " % i + b"x" * size + b"\n"
        if i % 7 == 0:
            reader.feed(chunk[:10], out)  # a line arriving in two reads
            reader.feed(chunk[10:], out)
        else:
            reader.feed(chunk, out)
        sent += chunk
        for name in ("app.log", "app.log.1"):
            path = tmp_path / "logs" / name
            assert not path.exists() or path.stat().st_size <= 32 * 1024
    assert console.data == sent  # the console got every byte unchanged
    lines = [line.text for line in [*AppReader(tmp_path / "logs", "app").start()]]
    expected = sent.split(b"\n")[:-1]
    # the oldest line may have lost its first pieces with the file rotated away
    assert 10 < len(lines) < len(expected)
    assert lines[1:] == expected[-len(lines) + 1:]
    assert expected[-len(lines)].endswith(lines[0])
