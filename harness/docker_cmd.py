"""`harness docker build`: build the docker backend's images (base via debootstrap, then the node image)."""
import json

from harness.backends import docker_image


def register(subparsers):
    p = subparsers.add_parser("docker", help="docker backend: build its images")
    sub = p.add_subparsers(dest="docker_command", metavar="ACTION")
    b = sub.add_parser("build", help="build the images (cached by the content of docker/)")
    b.add_argument("--force", action="store_true", help="rebuild even when the tags exist")
    b.add_argument("--json", action="store_true", help="print one JSON object")
    b.set_defaults(func=_build)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _build(args) -> int:
    log = (lambda _m: None) if args.json else (lambda m: print(f"docker build: {m}", flush=True))
    result = docker_image.build_images(force=args.force, log=log)
    if args.json:
        print(json.dumps(result))
    else:
        state = "built" if result["built"] else "up to date (cached)"
        print(f"docker build: {result['image']} {state} in {result['seconds']} s")
    return 0
