"""The cas-register workload's generator (pure): Jepsen's independent-key ops, unique written
values per key, final reads of every key, one-line errors for bad options."""
import itertools
import random

import pytest

from workloads import make_workload


def test_ops_are_independent_key_reads_writes_and_cas_with_unique_values():
    w = make_workload("cas-register", {"key_count": 3})
    ops = list(itertools.islice(w.generator(random.Random(1)), 2000))
    assert {op["f"] for op in ops} == {"read", "write", "cas"}
    written = {}
    for op in ops:
        k, v = op["value"]
        assert op["key"] == k and 0 <= k < 3
        if op["f"] == "read":
            assert v is None and op["readonly"]
            continue
        new = v if op["f"] == "write" else v[1]
        assert new not in written.setdefault(k, set())    # unique per key, never nil
        if op["f"] == "cas":
            assert v[0] is None or v[0] in written[k]     # expects nil or a value written before
        written[k].add(new)
    assert [op["value"] for op in w.final_generator(random.Random(1))] == [[0, None], [1, None], [2, None]]
    assert w.checker == "cas-register"


@pytest.mark.parametrize("opts,message", [({"key_count": 0}, "key_count"),
                                          ({"read_fraction": 0.8, "write_fraction": 0.5}, "add up"),
                                          ({"colour": 1}, "unknown option")])
def test_bad_options_are_one_line(opts, message):
    with pytest.raises(ValueError, match=message):
        make_workload("cas-register", opts)
