"""Pod networking in stage1: the pod's network namespace and the CNI networks attached to it.

As in rkt, stage1 sets networking up (`setup.setup`, called by the `run` entrypoint before the
pod's PID 1 starts) and tears it down (`setup.teardown`, by a keeper process when the pod ends,
or by the `gc` entrypoint after a crash). `cni` runs the plugins, `netns` handles namespaces,
`portfwd` owns the per-pod nftables table (port forwards and masquerade), `dns` the resolv.conf
that CNI results may supply.
"""
