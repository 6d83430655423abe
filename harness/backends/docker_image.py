"""The docker backend's image: built locally (no registry), cached by the content of docker/.

Two steps, each skipped when its tag already exists:
  base  engine-harness/base:<hash of build-base.sh>  debootstrap + `docker import` (docker/build-base.sh)
  node  engine-harness/node:<hash of the docker/ files>  docker/Dockerfile FROM the base
Changing any file under docker/ yields a new node tag, so a stale image is never reused.
"""
import hashlib
import subprocess
import time
from pathlib import Path

from harness.errors import ClusterError

DOCKER_DIR = Path(__file__).resolve().parents[2] / "docker"
LABEL = "engine-harness"          # every container, network and image we create carries LABEL=1
BASE_REPO = "engine-harness/base"
NODE_REPO = "engine-harness/node"
NOT_IN_IMAGE = {"README.md", "start-dockerd.sh"}  # docker/ files that do not change the image
BUILD_TIMEOUT = 1800              # seconds; a cold build is ~1 min on a good mirror


def client(timeout: float = 30.0):
    """A docker SDK client with a timeout on every API call; a clear error when dockerd is absent."""
    try:
        import docker
    except ImportError:
        raise ClusterError("the docker backend needs the Python package `docker` "
                           "(pip install 'engine-harness[docker]')") from None
    try:
        c = docker.from_env(timeout=timeout)
        c.ping()
        return c
    except Exception as e:  # docker.errors.DockerException, requests errors: all mean "no daemon"
        raise ClusterError(f"cannot reach dockerd ({e.__class__.__name__}); start it with "
                           f"docker/start-dockerd.sh") from None


def _docker_files() -> list[Path]:
    if not (DOCKER_DIR / "Dockerfile").is_file():
        raise ClusterError(f"{DOCKER_DIR}/Dockerfile not found: the docker backend needs the "
                           f"source checkout's docker/ directory")
    return sorted(p for p in DOCKER_DIR.rglob("*") if p.is_file() and p.name not in NOT_IN_IMAGE
                  and "__pycache__" not in p.parts)


def _digest(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(str(p.relative_to(DOCKER_DIR)).encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def base_tag() -> str:
    return f"{BASE_REPO}:{_digest([DOCKER_DIR / 'build-base.sh'])}"


def node_tag() -> str:
    return f"{NODE_REPO}:{_digest(_docker_files())}"


def _exists(c, tag: str) -> bool:
    import docker
    try:
        c.images.get(tag)
        return True
    except docker.errors.ImageNotFound:
        return False


def build_images(force: bool = False, log=print) -> dict:
    """Make sure the node image exists; returns {"image", "base", "seconds", "built": [tags]}."""
    t0 = time.monotonic()
    c = client(timeout=BUILD_TIMEOUT)
    base, node = base_tag(), node_tag()
    built = []
    if force or not _exists(c, base):
        log(f"building {base} (debootstrap bookworm, ~30 s)")
        try:
            subprocess.run([str(DOCKER_DIR / "build-base.sh"), base], check=True,
                           timeout=BUILD_TIMEOUT, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True)
        except subprocess.CalledProcessError as e:
            raise ClusterError(f"base image build failed: {(e.stderr or '').strip()[-400:]}") from None
        except subprocess.TimeoutExpired:
            raise ClusterError(f"base image build took over {BUILD_TIMEOUT} s") from None
        built.append(base)
    if force or not _exists(c, node):
        log(f"building {node} (apt-get install of the servers, ~30 s)")
        import docker
        try:
            c.images.build(path=str(DOCKER_DIR), tag=node, buildargs={"BASE": base}, rm=True,
                           forcerm=True, nocache=force, labels={LABEL: "1"})
        except docker.errors.BuildError as e:
            tail = " | ".join(str(x.get("stream", x.get("error", ""))).strip()
                              for x in list(e.build_log)[-5:])
            raise ClusterError(f"node image build failed: {e.msg}: {tail}") from None
        built.append(node)
    _prune(c, keep={base, node})  # also what an earlier build could not remove while in use
    return {"image": node, "base": base, "built": built,
            "seconds": round(time.monotonic() - t0, 1)}


def _prune(c, keep: set) -> None:
    """Drop this project's superseded images (other tags of our repositories, dangling layers
    labelled as ours); an image a container still uses stays."""
    import docker
    candidates = c.images.list(name=BASE_REPO) + c.images.list(name=NODE_REPO) + \
        c.images.list(filters={"dangling": True, "label": f"{LABEL}=1"})
    for image in candidates:
        if keep & set(image.tags):
            continue
        # by tag: an old node image is often a parent of the new one (shared apt layer) and can
        # only lose its name; dangling ones go by id
        for ref in image.tags or [image.id]:
            try:
                c.images.remove(ref, force=False, noprune=False)
            except docker.errors.APIError:
                pass  # in use by a container


def ensure_image(log=None) -> str:
    """The node image tag, building it first if needed (quietly unless `log` is given)."""
    return build_images(log=log or (lambda _msg: None))["image"]
