"""appc (App Container) types, validated on the way in and written back as canonical appc JSON:
values and JSON plumbing (`types`), name/value pairs (`pairs`), isolators (`isolators`,
`quantity`), the image manifest and its app (`image`) and the pod manifest (`pod`)."""
