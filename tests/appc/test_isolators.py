"""Isolators: appc's TestIsolatorUnmarshal table, the per-app set rules and the typed accessors."""

import json

import pytest

from rkt.appc.image import App
from rkt.appc.isolators import DEFAULT_CAPABILITIES, Isolator, SELinuxContext
from rkt.errors import ManifestError

# (isolator JSON, valid?) from schema/types/isolator_test.go, in order.
GO_TABLE = [
    ('{"name": "os/linux/cpu-shares", "value": 2048}', True),
    ('{"name": "os/linux/cpu-shares", "value": 1}', False),
    ('{"name": "os/linux/cpu-shares", "value": "pants"}', False),
    ('{"name": "os/linux/cpu-shares", "value": "262145"}', False),
    ('{"name": "os/linux/cpu-shares", "value": "-1"}', False),
    ('{"name": "os/linux/oom-score-adj", "value": 250}', True),
    ('{"name": "os/linux/oom-score-adj", "value": -250}', True),
    ('{"name": "os/linux/oom-score-adj", "value": -2500}', False),
    ('{"name": "os/linux/oom-score-adj", "value": "pants"}', False),
    ('{"name": "os/linux/no-new-privileges", "value": true}', True),
    ('{"name": "os/linux/no-new-privileges", "value": false}', True),
    ('{"name": "os/linux/no-new-privileges", "value": 123}', False),
    ('{"name": "os/linux/no-new-privileges", "value": {"set": ["CAP_KILL"]}}', False),
    ('{"name": "os/linux/no-new-privileges", "value": "foo"}', False),
    ('{"name": "os/linux/capabilities-retain-set", "value": {"set": ["CAP_KILL"]}}', True),
    # Go accepts any string here; we refuse names the kernel does not have (see below).
    ('{"name": "os/linux/capabilities-retain-set", "value": {"set": []}}', False),
    ('{"name": "os/linux/capabilities-retain-set", "value": {"set": "CAP_PONIES"}}', False),
    ('{"name": "resource/block-bandwidth", "value": {"default": true, "limit": "1G"}}', True),
    ('{"name": "resource/block-bandwidth", "value": {"default": false, "limit": "1G"}}', False),
    ('{"name": "resource/block-bandwidth", "value": {"request": "30G", "limit": "1G"}}', False),
    ('{"name": "resource/block-iops", "value": {"default": true, "limit": "1G"}}', True),
    ('{"name": "resource/block-iops", "value": {"default": false, "limit": "1G"}}', False),
    ('{"name": "resource/block-iops", "value": {"request": "30G", "limit": "1G"}}', False),
    ('{"name": "resource/cpu", "value": {"request": "30m", "limit": "1m"}}', True),
    ('{"name": "resource/memory", "value": {"request": "1G", "limit": "2Gi"}}', True),
    ('{"name": "resource/memory", "value": {"default": true, "request": "1G", "limit": "2G"}}', False),
    ('{"name": "resource/network-bandwidth", "value": {"default": true, "limit": "1G"}}', True),
    ('{"name": "resource/network-bandwidth", "value": {"default": false, "limit": "1G"}}', False),
    ('{"name": "resource/network-bandwidth", "value": {"request": "30G", "limit": "1G"}}', False),
    ('{"name": "os/unix/sysctl", "value": {"net.ipv4.tcp_rfc1337": "1"}}', True),
    ('{"name": "os/unix/sysctl", "value": {"net.ipv4.tcp_rfc1337": 1}}', False),
    ('{"name": "os/unix/sysctl", "value": {["net.ipv4.tcp_rfc1337"]}}', False),
    ('{"name": "os/linux/selinux-context", "value": {"user": "user_u", "role": "role_r", '
     '"type": "type_r", "level": "s0-s0"}}', True),
    ('{"name": "os/linux/selinux-context", "value": {"user": "user_u", "role": "role_r", '
     '"type": "type_r", "level": "s0-s0:c0"}}', True),
    ('{"name": "os/linux/selinux-context", "value": {"user": "user_u", "role": "role_r:type_t", '
     '"type": "type_r", "level": "s0-s0"}}', False),
    ('{"name": "os/linux/selinux-context", "value": {"user": "user_u", "role": "", '
     '"type": "type_r", "level": "s0-s0"}}', False),
]

MORE = [
    # seccomp (isolator_linux_specific_test.go), apparmor, and the shape of values
    ('{"name": "os/linux/seccomp-remove-set", "value": {"set": ["chmod", "chown"], "errno": "-EPERM"}}', False),
    ('{"name": "os/linux/seccomp-remove-set", "value": {"set": ["@appc.io/empty"], "errno": "EACCESS"}}', True),
    ('{"name": "os/linux/seccomp-remove-set", "value": {"set": ["chmod", "chown"], "errno": ""}}', True),
    ('{"name": "os/linux/seccomp-remove-set", "value": {"set": []}}', False),
    ('{"name": "os/linux/seccomp-retain-set", "value": {"set": [], "errno": "eaccess"}}', False),
    ('{"name": "os/linux/seccomp-retain-set", "value": {"set": ["chmod"], "errno": "EACCESS"}}', True),
    ('{"name": "os/linux/seccomp-retain-set", "value": {"set": ["chmod"], "errno": "eperm"}}', False),
    ('{"name": "os/linux/seccomp-retain-set", "value": {"set": ["@appc.io/all"]}}', True),
    ('{"name": "os/linux/seccomp-retain-set", "value": {"set": ["Chmod"]}}', False),
    ('{"name": "os/linux/seccomp-retain-set", "value": {"set": [1]}}', False),
    ('{"name": "os/linux/seccomp-retain-set", "value": ["chmod"]}', False),
    ('{"name": "os/linux/capabilities-retain-set", "value": {"set": ["CAP_PONIES"]}}', False),
    ('{"name": "os/linux/capabilities-remove-set", "value": {"set": ["CAP_ADMIN"]}}', False),
    ('{"name": "os/linux/capabilities-remove-set", "value": {"set": ["cap_kill"]}}', False),
    ('{"name": "os/linux/capabilities-remove-set", "value": {"set": ["CAP_AUDIT_READ", "CAP_KILL"]}}', True),
    ('{"name": "os/linux/apparmor-profile", "value": {"profile": "docker-default"}}', True),
    ('{"name": "os/linux/apparmor-profile", "value": {"profile": ""}}', False),
    ('{"name": "os/linux/apparmor-profile", "value": "docker-default"}', False),
    ('{"name": "os/linux/no-new-privileges", "value": null}', False),
    ('{"name": "os/linux/no-new-privileges"}', False),
    ('{"name": "os/linux/oom-score-adj", "value": 1000}', True),
    ('{"name": "os/linux/oom-score-adj", "value": 1001}', False),
    ('{"name": "os/linux/oom-score-adj", "value": 2.5}', False),
    ('{"name": "os/linux/oom-score-adj", "value": true}', False),
    ('{"name": "os/linux/cpu-shares", "value": 262144}', True),
    ('{"name": "os/linux/cpu-shares", "value": 2}', True),
    ('{"name": "resource/memory", "value": {"limit": "1K"}}', False),
    ('{"name": "resource/memory", "value": {"limit": "-1G"}}', False),
    ('{"name": "resource/memory", "value": {"limit": 1048576}}', True),
    ('{"name": "resource/memory", "value": {"limit": true}}', False),
    ('{"name": "resource/memory", "value": {"limit": "1e99999999"}}', False),
    ('{"name": "resource/memory", "value": {"default": "false", "limit": "1G"}}', False),
    ('{"name": "resource/memory", "value": "1G"}', False),
    ('{"name": "resource/cpu", "value": {"limit": "such garbage"}}', False),
    ('{"name": "os/unix/sysctl", "value": {}}', True),
    ('{"name": "os/unix/sysctl", "value": {"foo": "bar"}}', True),
    ('{"name": "example.com/ponies", "value": 0}', True),
    ('{"name": "Example.com/ponies", "value": 0}', False),
    ('{"name": "resource/network-ponies"}', False),
    ('{"value": 1}', False),
    ('"resource/memory"', False),
]


@pytest.mark.parametrize("text, valid", GO_TABLE + MORE)
def test_isolator_table(text, valid):
    if valid:
        isolator = Isolator.from_json(text)
        assert Isolator.from_json(isolator.to_json()) == isolator
    else:
        with pytest.raises(ManifestError) as e:
            Isolator.from_json(text)
        assert str(e.value).startswith("manifest: ")


def test_error_paths_name_the_field():
    with pytest.raises(ManifestError) as e:
        Isolator.from_json('{"name": "os/linux/selinux-context", "value": '
                           '{"user": "u", "role": "r:x", "type": "t", "level": "s0"}}')
    assert (e.value.path, e.value.rule) == ("value.role", 'must not contain ":"')
    with pytest.raises(ManifestError) as e:
        Isolator.from_json('{"name": "os/linux/capabilities-retain-set", "value": {"set": ["CAP_KILL", "CAP_PONIES"]}}')
    assert (e.value.path, e.value.rule) == ("value.set[1]", 'unknown capability "CAP_PONIES"')
    with pytest.raises(ManifestError) as e:
        Isolator.from_json('{"name": "resource/block-iops", "value": {"default": true, "request": "1"}}')
    assert (e.value.path, e.value.rule) == ("value.request", "not supported by this resource")


def _app(*isolators) -> dict:
    return {"user": "0", "group": "0", "isolators": [json.loads(i) for i in isolators]}


SECCOMP_REMOVE = '{"name": "os/linux/seccomp-remove-set", "value": {"set": ["reboot"]}}'
SECCOMP_RETAIN = '{"name": "os/linux/seccomp-retain-set", "value": {"set": ["read"]}}'
CAPS_RETAIN = '{"name": "os/linux/capabilities-retain-set", "value": {"set": ["CAP_KILL"]}}'
CAPS_REMOVE = '{"name": "os/linux/capabilities-remove-set", "value": {"set": ["CAP_KILL"]}}'


@pytest.mark.parametrize("isolators, rule", [
    ((SECCOMP_REMOVE, SECCOMP_REMOVE), "at most one os/linux/seccomp-remove-set isolator is allowed"),
    ((SECCOMP_RETAIN, SECCOMP_RETAIN), "at most one os/linux/seccomp-retain-set isolator is allowed"),
    ((SECCOMP_REMOVE, SECCOMP_RETAIN),
     "os/linux/seccomp-retain-set cannot be combined with os/linux/seccomp-remove-set"),
    ((CAPS_RETAIN, CAPS_REMOVE),
     "os/linux/capabilities-remove-set cannot be combined with os/linux/capabilities-retain-set"),
    (('{"name": "os/linux/oom-score-adj", "value": 1}',) * 2,
     "at most one os/linux/oom-score-adj isolator is allowed"),
    (('{"name": "os/linux/cpu-shares", "value": 2}',) * 2,
     "at most one os/linux/cpu-shares isolator is allowed"),
    (('{"name": "os/unix/sysctl", "value": {}}',) * 2, "at most one os/unix/sysctl isolator is allowed"),
])
def test_isolator_set_rules(isolators, rule):
    with pytest.raises(ManifestError) as e:
        App.from_json(_app(*isolators))
    assert e.value.path == f"isolators[{len(isolators) - 1}]"
    assert e.value.rule == rule


def test_isolators_that_may_repeat():
    app = App.from_json(_app(CAPS_RETAIN, CAPS_RETAIN,
                             '{"name": "resource/memory", "value": {"limit": "1G"}}',
                             '{"name": "resource/memory", "value": {"limit": "2G"}}'))
    # As appc's GetByName: the last one wins.
    assert app.isolator("resource/memory").memory_limit == 2 * 10**9


def test_get_by_name_and_accessors():
    # schema/types/isolator_test.go TestIsolatorsGetByName, plus our other accessors.
    app = App.from_json(_app(
        '{"name": "resource/cpu", "value": {"request": "30m", "limit": "1m"}}',
        '{"name": "resource/memory", "value": {"request": "1G", "limit": "2Gi"}}',
        '{"name": "os/linux/capabilities-remove-set", "value": {"set": ["CAP_KILL"]}}',
        '{"name": "os/linux/no-new-privileges", "value": true}',
        '{"name": "os/unix/sysctl", "value": {"net.ipv4.tcp_rfc1337": "1"}}',
        '{"name": "os/linux/seccomp-remove-set", "value": {"set": ["reboot", "@rkt/default-blacklist"], "errno": "EPERM"}}',
        '{"name": "os/linux/oom-score-adj", "value": -250}',
        '{"name": "os/linux/cpu-shares", "value": 2048}',
        '{"name": "os/linux/selinux-context", "value": {"user": "u", "role": "r", "type": "t", "level": "s0:c1"}}',
        '{"name": "os/linux/apparmor-profile", "value": {"profile": "docker-default"}}',
        '{"name": "resource/block-bandwidth", "value": {"default": true, "limit": "10Mi"}}',
        '{"name": "example.com/ponies", "value": {"count": 3}}',
    ))
    cpu = app.isolator("resource/cpu")
    assert (cpu.cpu_limit_millicores, cpu.cpu_request_millicores) == (1, 30)
    memory = app.isolator("resource/memory")
    assert (memory.memory_limit, memory.memory_request) == (2147483648, 1000000000)
    assert app.isolator("os/linux/capabilities-remove-set").capabilities == frozenset({"CAP_KILL"})
    assert app.isolator("os/linux/no-new-privileges").enabled is True
    assert app.isolator("os/unix/sysctl").sysctls == {"net.ipv4.tcp_rfc1337": "1"}
    seccomp = app.isolator("os/linux/seccomp-remove-set").seccomp
    assert (seccomp.syscalls, seccomp.errno) == (("reboot", "@rkt/default-blacklist"), "EPERM")
    assert app.isolator("os/linux/oom-score-adj").oom_score_adj == -250
    assert app.isolator("os/linux/cpu-shares").cpu_shares == 2048
    assert app.isolator("os/linux/selinux-context").selinux_context == SELinuxContext("u", "r", "t", "s0:c1")
    assert str(app.isolator("os/linux/selinux-context").selinux_context) == "u:r:t:s0:c1"
    assert app.isolator("os/linux/apparmor-profile").apparmor_profile == "docker-default"
    assert app.isolator("resource/block-bandwidth").resource.limit == 10 * 2**20
    assert app.isolator("nope") is None
    # Unknown isolators are kept (the spec lets us ignore them) and reported for a warning.
    assert [i.name for i in app.unknown_isolators] == ["example.com/ponies"]
    assert app.isolator("example.com/ponies").known is False
    assert app.isolator("example.com/ponies").value == {"count": 3}
    # Round trip keeps the values exactly as written.
    assert App.from_json(app.to_json()) == app
    assert app.to_json()["isolators"][0] == {"name": "resource/cpu",
                                              "value": {"request": "30m", "limit": "1m"}}


def test_accessor_of_the_wrong_kind_is_a_programming_error():
    isolator = Isolator.make("resource/cpu", {"limit": "1"})
    with pytest.raises(TypeError):
        isolator.memory_limit
    with pytest.raises(TypeError):
        Isolator.make("example.com/x", 1).capabilities


def test_request_defaults_to_limit_and_rounds_up():
    isolator = Isolator.make("resource/memory", {"limit": "1.5"})
    assert (isolator.memory_limit, isolator.memory_request) == (2, 2)
    cpu = Isolator.make("resource/cpu", {"limit": "0.0001"})
    assert cpu.cpu_limit_millicores == 1
    assert Isolator.make("resource/memory", {"request": "1Ki"}).memory_limit is None


def test_make_validates():
    with pytest.raises(ManifestError, match="manifest: isolator.value: must be between 2 and 262144"):
        Isolator.make("os/linux/cpu-shares", 1)


def test_default_capabilities_are_the_spec_fourteen():
    assert len(DEFAULT_CAPABILITIES) == 14
    assert "CAP_SYS_ADMIN" not in DEFAULT_CAPABILITIES


def test_isolators_built_in_code_are_typed_and_checked():
    memory = Isolator("resource/memory", {"limit": "1Gi"})
    assert memory.memory_limit == 2**30
    bigger = memory.replace(value={"limit": "2Gi"})
    assert bigger.memory_limit == 2**31 and bigger != memory
    assert "parsed" not in repr(memory)  # derived, so no field
    assert Isolator("resource/memory", {"limit": "1Gi"}) == memory
    with pytest.raises(ManifestError, match="manifest: value: must be between -1000 and 1000"):
        Isolator("os/linux/oom-score-adj", 5000)
    assert Isolator("example.com/x", [1]).known is False


@pytest.mark.parametrize("key, ok", [
    ("net.ipv4.ip_forward", True), ("net.ipv4.conf.eth0/100.forwarding", True), ("kernel.msgmax", True),
    ("", False), ("net..ipv4", False), ("../../etc", False), ("/proc/sys/x", False), ("net.ipv4.", False),
    ("net ipv4", False), ("net.ipv4/../x", False),
])
def test_sysctl_keys(key, ok):
    value = {"name": "os/unix/sysctl", "value": {key: "1"}}
    if ok:
        assert Isolator.from_json(value).sysctls == {key: "1"}
    else:
        with pytest.raises(ManifestError, match="must be a sysctl key"):
            Isolator.from_json(value)
