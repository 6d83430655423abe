"""Generators: deterministic from the seed, composable, thread-safe sources, pacing."""
import random
import threading

from harness.generator import (EachWorker, Pacer, Shared, TimeLimit, as_source, each_nth, limit, mix,
                               phases, repeat)
from workloads.list_append import KeyPool, final_reads, txn_generator


def take(it, n):
    return [next(it) for _ in range(n)]


def test_mix_is_reproducible_from_the_seed_and_uses_every_stream():
    def gen(seed):
        rng = random.Random(seed)
        return list(limit(200, mix(rng, repeat(lambda r: {"f": "a"}, rng), repeat(lambda r: {"f": "b"}, rng))))
    a, b = gen(7), gen(7)
    assert a == b
    assert {op["f"] for op in a} == {"a", "b"}
    assert gen(8) != a


def test_mix_respects_weights():
    rng = random.Random(1)
    ops = list(limit(2000, mix(rng, repeat(lambda r: {"f": "a"}, rng), repeat(lambda r: {"f": "b"}, rng),
                               weights=[9, 1])))
    share = sum(op["f"] == "a" for op in ops) / len(ops)
    assert 0.85 < share < 0.95


def test_phases_limit_and_each_nth():
    ops = list(phases(limit(3, repeat(lambda r: {"f": "w"}, None)), [{"f": "r"}]))
    assert [o["f"] for o in ops] == ["w", "w", "w", "r"]
    seq = [o["f"] for o in limit(9, each_nth(3, repeat(lambda r: {"f": "r"}, None), repeat(lambda r: {"f": "w"}, None)))]
    assert seq == ["w", "w", "r"] * 3


def test_shared_source_hands_each_op_out_exactly_once_across_threads():
    src = Shared({"f": "x", "value": i} for i in range(5000))
    got, lock = [], threading.Lock()

    def pull(w):
        while (op := src.next_op(w)) is not None:
            with lock:
                got.append(op["value"])
    threads = [threading.Thread(target=pull, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got) == list(range(5000))


def test_each_worker_streams_are_seeded_per_worker():
    make = lambda w, rng: ({"f": "x", "value": (w, rng.randrange(10**9))} for _ in range(3))  # noqa: E731
    a, b = EachWorker(make, seed=5), EachWorker(make, seed=5)
    assert [a.next_op(1) for _ in range(3)] == [b.next_op(1) for _ in range(3)]
    assert a.next_op(1) is None
    assert a.next_op(2)["value"][1] != b.next_op(3)["value"][1]


def test_time_limit_stops_at_the_deadline():
    now = [100.0]
    src = TimeLimit(as_source(repeat(lambda r: {"f": "x"}, None)), 5.0, clock=lambda: now[0])
    assert src.next_op(0) == {"f": "x"}
    now[0] = 104.9
    assert src.next_op(0) is not None
    now[0] = 105.0
    assert src.next_op(0) is None


def test_pacer_spaces_slots_to_the_rate_and_honours_the_deadline():
    now = [0.0]
    slept = []
    p = Pacer(100.0, seed=3, clock=lambda: now[0], sleep=slept.append)
    slots = [p.slot() for _ in range(1000)]
    assert slots == sorted(slots)
    assert 9.0 < slots[-1] < 11.0  # 1000 slots at 100/s: about 10 s
    gaps = [b - a for a, b in zip(slots, slots[1:])]
    assert min(gaps) >= 0 and max(gaps) < 0.02 + 1e-9  # stagger: uniform in [0, 2/rate)
    p2 = Pacer(1.0, seed=3, clock=lambda: now[0], sleep=slept.append)
    assert p2.wait(deadline=10.0) is True
    now[0] = 0.0
    assert p2.wait(deadline=0.0) is False  # the next slot lies past the deadline
    assert Pacer(0, clock=lambda: 0.0).wait(deadline=None) is True  # unpaced


def test_list_append_ops_have_unique_values_per_key_and_honest_hints():
    pool = KeyPool(3, 5)
    ops = take(txn_generator(pool, random.Random(2), 1, 4, 0.5, "append"), 500)
    seen = set()
    for op in ops:
        assert op["readonly"] == all(m[0] == "r" for m in op["value"])
        assert op["key"] == op["value"][0][1]
        for f, k, v in op["value"]:
            if f == "append":
                assert (k, v) not in seen
                seen.add((k, v))
                assert 1 <= v <= 5  # max_writes_per_key retires the key
    assert pool.next_key > 3  # keys rotated
    assert len(pool.active) == 3
    assert any(op["readonly"] for op in ops) and not all(op["readonly"] for op in ops)
    reads = final_reads(sorted(pool.touched), per_txn=4)
    assert [m[1] for r in reads for m in r["value"]] == sorted(pool.touched)
    assert all(r["readonly"] and len(r["value"]) <= 4 for r in reads)


def test_workload_generators_are_reproducible():
    from workloads import make_workload
    for name in ("list-append", "rw-register", "bank", "set"):
        a = take(iter(make_workload(name).generator(random.Random(11))), 50)
        b = take(iter(make_workload(name).generator(random.Random(11))), 50)
        assert a == b, name
