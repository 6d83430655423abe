"""The docker backend's image and entry point, and cleanup of labelled objects.

The entry-point tests run docker/entrypoint.sh with the host's /bin/sh (it is plain POSIX sh), so
they need neither docker nor root; the rest need dockerd and are marked integration + docker."""
import os
import subprocess
import sys

import pytest

from harness.backends import docker_image

ENTRYPOINT = str(docker_image.DOCKER_DIR / "entrypoint.sh")


def entry(args, env, tmp_path):
    cp = subprocess.run(["sh", ENTRYPOINT, *args], capture_output=True, text=True, timeout=10,
                        env={"PATH": os.environ["PATH"], **env}, cwd=tmp_path)
    assert cp.returncode == 0, cp.stderr
    return cp


def test_new_cluster_flag_is_kept_only_on_the_first_start(tmp_path):
    env = {"HARNESS_START_MARKER": str(tmp_path / "started")}
    first = entry(["echo", "a", "--wsrep-new-cluster", "b"], env, tmp_path)
    again = entry(["echo", "a", "--wsrep-new-cluster", "b"], env, tmp_path)
    forced = entry(["echo", "a", "--wsrep-new-cluster", "b"], {**env, "HARNESS_FORCE_BOOTSTRAP": "1"}, tmp_path)
    assert first.stdout.split() == ["a", "--wsrep-new-cluster", "b"]
    assert again.stdout.split() == ["a", "b"]
    assert "not bootstrapping again" in again.stderr
    assert forced.stdout.split() == ["a", "--wsrep-new-cluster", "b"]


def test_any_first_start_counts_and_arguments_keep_their_spaces(tmp_path):
    env = {"HARNESS_START_MARKER": str(tmp_path / "started")}
    entry(["true"], env, tmp_path)  # a start without the flag is a start too
    out = entry(["printf", "%s|", "x y", "--wsrep-new-cluster", ""], env, tmp_path)
    assert out.stdout == "x y||"


def test_output_goes_to_the_log_file(tmp_path):
    log = tmp_path / "server.log"
    out = entry(["sh", "-c", "echo to-out; echo to-err >&2"], {"HARNESS_LOG": str(log)}, tmp_path)
    assert out.stdout == "" and log.read_text().split() == ["to-out", "to-err"]


def test_tags_follow_the_content_of_docker_dir(tmp_path, monkeypatch):
    for name in ("Dockerfile", "entrypoint.sh", "build-base.sh"):
        (tmp_path / name).write_text(f"# {name}\n")
    monkeypatch.setattr(docker_image, "DOCKER_DIR", tmp_path)
    node, base = docker_image.node_tag(), docker_image.base_tag()
    (tmp_path / "entrypoint.sh").write_text("# changed\n")
    assert docker_image.node_tag() != node and docker_image.base_tag() == base
    (tmp_path / "build-base.sh").write_text("# changed\n")
    assert docker_image.base_tag() != base
    assert docker_image.node_tag().startswith("engine-harness/node:")


def test_missing_docker_dir_is_one_clear_error(tmp_path, monkeypatch):
    from harness.errors import ClusterError
    monkeypatch.setattr(docker_image, "DOCKER_DIR", tmp_path / "nowhere")
    with pytest.raises(ClusterError, match="Dockerfile not found"):
        docker_image.node_tag()


@pytest.mark.integration
@pytest.mark.docker
def test_warm_build_is_cached_and_cleanup_removes_labelled_objects():
    from harness.backends.docker import cleanup_docker
    from tests.integration.docker_support import require_docker
    require_docker()
    docker_image.build_images(log=lambda _m: None)  # cold on a fresh machine, else already warm
    warm = docker_image.build_images(log=lambda _m: None)
    assert warm["built"] == [] and warm["seconds"] < 5, warm
    client = docker_image.client()
    image = client.images.get(warm["image"])
    assert image.labels.get(docker_image.LABEL) == "1"
    # a stray labelled container and network, as a SIGKILLed harness would leave them
    labels = {docker_image.LABEL: "1", f"{docker_image.LABEL}.cluster": "dktest-stray"}
    net = client.networks.create("eh-dktest-stray", labels=labels, internal=True)
    box = client.containers.create(warm["image"], ["sleep", "60"], name="eh-dktest-stray", labels=labels,
                                   network="eh-dktest-stray")
    removed = cleanup_docker(cluster="dktest-stray")  # all labelled objects without the argument
    assert "container eh-dktest-stray" in removed and "network eh-dktest-stray" in removed
    import docker
    for getter, ident in ((client.containers.get, box.id), (client.networks.get, net.id)):
        with pytest.raises(docker.errors.NotFound):
            getter(ident)


def test_no_dockerd_is_one_line_and_exit_2(tmp_path):
    env = {**os.environ, "DOCKER_HOST": f"unix://{tmp_path}/no-such.sock"}
    cp = subprocess.run([sys.executable, "-m", "harness", "docker", "build"], capture_output=True, text=True, timeout=60, env=env)
    assert cp.returncode == 2
    assert cp.stderr.strip().splitlines() == [
        "harness docker: cannot reach dockerd (DockerException); start it with docker/start-dockerd.sh"]
