"""Simulated register stores: histories whose linearizability is known, for tests and benchmarks.

`simulate(n_ops, rng, ...)` runs `processes` clients against an in-memory store of `keys`
registers. Every op takes effect atomically at one moment between its invoke and its completion,
so the store is linearizable by construction, unless a fault is planted (once per history):
    "stale-read"  a read returns the value before the current one, although the write that set the
                  current one completed before the read was invoked (and the one before it
                  completed before that write began)
    "lost-write"  a write is acknowledged but never applied, although the value it should have
                  replaced was set by an op that completed before it began; its key then sees
                  only reads, and the final reads of every key show the loss
With unique values (every write and cas writes a fresh value per key, the default) either fault
makes the history provably non-linearizable. `info_rate`: that share of writes and cas ops end in
`info`, half of them having taken effect; the process then gets a new number, as Jepsen's do.
Ops are in Jepsen's independent-key form (`value` = [key, v]); `keys=None` writes bare values.
Returns the history; `planted(history)` says whether the fault was planted.
"""
from __future__ import annotations


class History(list):
    planted = False


def simulate(n_ops, rng, processes=5, keys=1, datatype="register", fault=None, info_rate=0.0,
             unique=True, values=5):
    """A history (list of op dicts, file order) of `n_ops` ops plus one final read per key."""
    bare = keys is None
    nkeys = 1 if bare else keys
    store = [None] * nkeys
    setter = [None] * nkeys          # the op record that set each key's current value
    counter = [0] * nkeys
    frozen = set()                   # keys whose write was lost: only reads from then on
    history = History()
    pids = list(range(processes))
    next_pid = processes
    busy = {}                        # slot -> op record
    started = 0
    fs = ("read", "write", "cas") if datatype == "cas-register" else ("read", "write")

    def emit(op):
        op["index"] = len(history)
        op["time"] = len(history) * 1000
        history.append(op)
        return len(history) - 1

    def wrap(k, v):
        return v if bare else [k, v]

    def settled(rec):
        """The op that set a value definitely took effect before it completed, long ago."""
        return rec is None or (not rec["info"] and rec["done"] is not None)

    while busy or started < n_ops:
        slot = rng.randrange(processes)
        rec = busy.get(slot)
        if rec is None:
            if started >= n_ops:
                continue
            started += 1
            k = rng.randrange(nkeys)
            f = "read" if k in frozen else rng.choice(fs)
            arg = None
            if f != "read":
                counter[k] += 1
                new = counter[k] if unique else rng.randrange(values)
                arg = new if f == "write" else [
                    store[k] if rng.random() < 0.6 else rng.randrange(values), new]
            op = {"type": "invoke", "process": pids[slot], "f": f, "value": wrap(k, arg)}
            busy[slot] = {"op": op, "key": k, "arg": arg, "invoked": emit(op), "applied": False,
                          "result": None, "done": None, "prev": None,
                          "info": f != "read" and rng.random() < info_rate}
            continue
        k, f, arg = rec["key"], rec["op"]["f"], rec["arg"]
        if not rec["applied"]:  # its linearization point
            rec["applied"] = True
            cur = setter[k]
            if f == "read":
                rec["result"] = store[k]
                if (fault == "stale-read" and not history.planted and cur is not None
                        and settled(cur) and cur["done"] < rec["invoked"] and settled(cur["prev"])
                        and (cur["prev"] is None or cur["prev"]["done"] < cur["invoked"])):
                    rec["result"] = cur["old"]
                    history.planted = True
            elif rec["info"] and rng.random() < 0.5:
                pass  # an indeterminate op that never took effect
            elif (f == "write" and fault == "lost-write" and not history.planted
                  and not rec["info"] and settled(cur) and (cur is None or cur["done"] < rec["invoked"])
                  and all(r["op"]["f"] == "read" for r in busy.values() if r["key"] == k and r is not rec)):
                history.planted = True
                frozen.add(k)
            elif f == "write" or store[k] == arg[0]:
                rec["old"], rec["prev"] = store[k], cur
                store[k] = arg if f == "write" else arg[1]
                setter[k] = rec
            else:
                rec["result"] = "mismatch"
            continue
        del busy[slot]
        done = {"type": "ok", "process": rec["op"]["process"], "f": f, "value": rec["op"]["value"]}
        if f == "read":
            done["value"] = wrap(k, rec["result"])
        elif rec["info"]:
            done["type"] = "info"
            pids[slot] = next_pid
            next_pid += 1
        elif rec["result"] == "mismatch":
            done["type"] = "fail"
        rec["done"] = emit(done)
    for k in range(nkeys):  # final reads, one after another
        emit({"type": "invoke", "process": pids[0], "f": "read", "value": wrap(k, None)})
        emit({"type": "ok", "process": pids[0], "f": "read", "value": wrap(k, store[k])})
    return history
