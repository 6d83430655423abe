"""User-space packet delayer for kernels without netem.

Run inside a node's network namespace (`python -m nemesis.delayer --queue N --delay-ms D`). It
binds NFQUEUE N, prints "ready" on stdout once bound (the caller adds the iptables rule only
then: with --queue-bypass packets pass undelayed until a queue is bound, never get stuck), holds
each queued packet D ± J ms and accepts it. SIGTERM/SIGINT: accept everything still held,
unbind, exit 0. Single-threaded: select() on the queue's socket, a heap of release times.
"""
import argparse
import heapq
import itertools
import random
import select
import signal
import sys
import time

DEFAULT_QUEUE = 7707
MAX_HELD = 65536  # kernel queue length; beyond it the kernel drops, like a full link buffer


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m nemesis.delayer", description=__doc__.splitlines()[0])
    p.add_argument("--queue", type=int, default=DEFAULT_QUEUE, help="NFQUEUE number to bind")
    p.add_argument("--delay-ms", type=float, required=True, help="mean delay per packet")
    p.add_argument("--jitter-ms", type=float, default=0.0, help="uniform jitter: delay +- this")
    p.add_argument("--seed", type=int, default=None, help="seed for the jitter")
    return p.parse_args(argv)


class Delayer:
    def __init__(self, delay_s: float, jitter_s: float, rng: random.Random):
        self.delay_s = delay_s
        self.jitter_s = jitter_s
        self.rng = rng
        self.held = []               # heap of (release_at, seq, packet)
        self.seq = itertools.count()  # tie-breaker: packets are not comparable
        self.passed = 0

    def on_packet(self, pkt, now: float | None = None):
        # called from inside nfq.run(); the verdict is given later, which the library allows
        d = self.delay_s + (self.rng.uniform(-self.jitter_s, self.jitter_s) if self.jitter_s else 0.0)
        now = time.monotonic() if now is None else now
        heapq.heappush(self.held, (now + max(0.0, d), next(self.seq), pkt))

    def release_due(self, now: float):
        while self.held and self.held[0][0] <= now:
            _, _, pkt = heapq.heappop(self.held)
            pkt.accept()
            self.passed += 1

    def release_all(self):
        while self.held:
            _, _, pkt = heapq.heappop(self.held)
            try:
                pkt.accept()
            except RuntimeError:
                pass  # queue already gone: the kernel dropped it

    def next_timeout(self, now: float):
        return max(0.0, self.held[0][0] - now) if self.held else 0.2


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        from netfilterqueue import NetfilterQueue, COPY_META
    except ImportError:
        print("error: the NetfilterQueue package is not installed (pip install NetfilterQueue)",
              file=sys.stderr, flush=True)
        return 2
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    signal.signal(signal.SIGINT, lambda *_: stopping.append(1))

    delayer = Delayer(args.delay_ms / 1000.0, args.jitter_ms / 1000.0, random.Random(args.seed))
    nfq = NetfilterQueue()
    try:
        nfq.bind(args.queue, delayer.on_packet, max_len=MAX_HELD, mode=COPY_META)
    except OSError as e:
        print(f"error: cannot bind NFQUEUE {args.queue}: {e}", file=sys.stderr, flush=True)
        return 1
    print("ready", flush=True)
    fd = nfq.get_fd()
    try:
        while not stopping:
            now = time.monotonic()
            try:
                readable, _, _ = select.select([fd], [], [], delayer.next_timeout(now))
            except InterruptedError:
                continue
            if readable:
                nfq.run(block=False)
            delayer.release_due(time.monotonic())
    finally:
        delayer.release_all()
        nfq.unbind()
    return 0


if __name__ == "__main__":
    sys.exit(main())
