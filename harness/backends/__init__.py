"""Cluster backends other than the built-in netns one. Each is imported lazily by the cluster layer
(`up(..., backend="docker")` imports harness.backends.docker), so its optional dependencies (the
docker SDK) are needed only when it is used."""
