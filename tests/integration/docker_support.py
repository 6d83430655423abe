"""Shared by the docker backend's tests: is docker usable here, what does docker hold of a cluster,
and a module's cluster of containers that must leave nothing behind."""
import contextlib
import shutil

import pytest


def require_docker():
    """Skip when docker is not installed at all; FAIL when it is installed but dockerd does not
    answer (CI installs docker.io and must start dockerd: a skip would hide that)."""
    pytest.importorskip("docker")
    if not shutil.which("dockerd"):
        pytest.skip("docker.io is not installed (WITH_DOCKER=1 ./setup.sh)")
    from harness.backends import docker_image
    docker_image.client()  # raises ClusterError naming docker/start-dockerd.sh


def docker_objects(cluster_name: str) -> list[str]:
    """Containers and networks docker holds for the cluster (by label), e.g. ['container x', 'network y']."""
    from harness.backends import docker_image
    api = docker_image.client().api
    label = f"{docker_image.LABEL}.cluster={cluster_name}"
    found = [f"container {c['Names'][0].lstrip('/')}" for c in api.containers(all=True, filters={"label": label})]
    found += [f"network {n['Name']}" for n in api.networks(filters={"label": label})]
    return found


@contextlib.contextmanager
def docker_cluster(db, name, **kw):
    """A cluster of containers (skips without docker); torn down afterwards, and then nothing of it
    may remain: no namespace, process or data, no container, no network."""
    require_docker()
    from harness.cluster import up
    cluster = up(db=db, backend="docker", name=name, **kw)
    try:
        yield cluster
    finally:
        cluster.teardown()
    assert cluster.leftovers() == []
    assert docker_objects(cluster.name) == []
