"""Pod networking in stage1: the pod's network namespace and the CNI networks attached to it.

As in rkt, stage1 sets networking up (`setup.setup`, called by the `run` entrypoint: a keeper
process attaches the networks while the pod's PID 1 starts, which waits for it before any app)
and tears it down (`setup.teardown`, by the keeper when the pod ends, or by the `gc` entrypoint
after a crash). `cni` runs the plugins, `ptp` makes the built-in networks itself (`link`:
rtnetlink, `ipam`: host-local's leases), `netns` handles namespaces, `portfwd` owns the per-pod
nftables table (port forwards and masquerade), `dns` the resolv.conf CNI results may supply.
"""
