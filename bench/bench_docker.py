"""Benchmark the docker backend: image build time (cold, node-only, warm) and the time until a
Galera cluster is ready, in containers and in network namespaces, side by side.

    python bench/bench_docker.py [--rounds 3] [--nodes 3] [--db galera] [--skip-cold] [--json]

  cold       both images rebuilt from nothing: debootstrap + docker import, then the node image
             without the layer cache (what a fresh CI machine pays once)
  node-only  the node image rebuilt without cache on an existing base (after a docker/ change)
  warm       `harness docker build` when the content-hashed tags exist (every later run)
  ready      up() until wait_healthy passed (Galera: size N, Synced), then teardown, per backend

Needs root, dockerd and the database packages. Clusters are named dkbench-* and always torn down.
"""
import argparse
import json
import secrets
import statistics
import sys
import time

from harness.backends import docker_image
from harness.cluster import up


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--db", default="galera")
    p.add_argument("--nodes", type=int, default=3)
    p.add_argument("--rounds", type=int, default=3, help="bring-ups per backend")
    p.add_argument("--skip-cold", action="store_true", help="do not rebuild the images from nothing")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    return p.parse_args(argv)


def timed(fn) -> float:
    t0 = time.monotonic()
    fn()
    return round(time.monotonic() - t0, 2)


def bench_build(skip_cold: bool) -> dict:
    out = {}
    if not skip_cold:
        out["cold_s"] = timed(lambda: docker_image.build_images(force=True, log=lambda _m: None))
        c = docker_image.client(timeout=docker_image.BUILD_TIMEOUT)
        out["node_only_s"] = timed(lambda: c.images.build(
            path=str(docker_image.DOCKER_DIR), tag=docker_image.node_tag(), nocache=True, rm=True,
            forcerm=True, buildargs={"BASE": docker_image.base_tag()}, labels={docker_image.LABEL: "1"}))
    out["warm_s"] = timed(lambda: docker_image.build_images(log=lambda _m: None))
    return out


def bench_ready(db: str, nodes: int, backend: str, rounds: int) -> dict:
    ready, down = [], []
    for _ in range(rounds):
        t0 = time.monotonic()
        cluster = up(db=db, nodes=nodes, backend=backend, name=f"dkbench-{secrets.token_hex(3)}")
        ready.append(time.monotonic() - t0)
        down.append(timed(cluster.teardown))
    return {"ready_s": [round(x, 2) for x in ready], "ready_median_s": round(statistics.median(ready), 2),
            "teardown_median_s": round(statistics.median(down), 2)}


def main(argv=None) -> int:
    args = parse_args(argv)
    result = {"build": bench_build(args.skip_cold), "db": args.db, "nodes": args.nodes}
    docker_image.ensure_image()  # a ready time must not include a build
    for backend in ("docker", "netns"):
        result[backend] = bench_ready(args.db, args.nodes, backend, args.rounds)
    if args.json:
        print(json.dumps(result))
        return 0
    b = result["build"]
    print("image build (s):  " + "   ".join(f"{k[:-2]} {v}" for k, v in b.items()))
    print(f"{args.db} {args.nodes}-node ready (s), {args.rounds} rounds:")
    print(f"  {'':10} {'median':>7} {'teardown':>9}   each")
    for backend in ("docker", "netns"):
        r = result[backend]
        print(f"  {backend:10} {r['ready_median_s']:>7} {r['teardown_median_s']:>9}   {r['ready_s']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
