"""Cluster backends: the one list of their names. netns is built into the cluster layer
(harness.cluster.netns); the others are modules here, each imported lazily by the cluster layer
(`up(..., backend="docker")` imports harness.backends.docker), so its optional dependencies (the
docker SDK) are needed only when it is used."""

BACKENDS = ("netns", "docker", "ssh")
DEFAULT = "netns"  # no dependencies beyond root and the database packages
