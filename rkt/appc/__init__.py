"""appc (App Container) types: names, IDs, isolators (`types`) and the image/pod manifests
(`manifest`), validated on the way in and written back as canonical appc JSON."""
