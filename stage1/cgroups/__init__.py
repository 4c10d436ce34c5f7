"""Control groups: each pod gets `machine.slice/machine-rkt\\x2d<uuid>.scope` (rkt's name for it)
and each app a child cgroup there, where the resource isolators become kernel limits.

`pod` chooses the cgroup version once (`detect`) and builds a pod's cgroups through the small
`manager.Manager` interface, implemented by `v1` (a hierarchy per controller) and `v2` (one
unified hierarchy). `limits` turns isolators into kernel units, `devices` holds rkt's closed
device policy (devices.allow on v1, an eBPF program on v2), `tree` names and removes cgroup
directories. This package imports nothing, so the waiting parent can use `tree` alone.
"""
