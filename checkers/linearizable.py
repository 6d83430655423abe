"""Linearizability of single-object registers (Knossos's and Porcupine's job).

Histories use Jepsen's independent-key ops: `f` = read | write | cas, `value` = [key, v] with v the
value read (null on the invoke), the value written, or [expected, new]; a bare v (no key) is one
register. Each key is checked alone (P-compositionality: a history is linearizable iff every key's
sub-history is). Real-time order is the order of events in the history (file order).

What each completion means:
    ok read / write / cas   took effect once between its invoke and its completion
    fail cas (no `error`)   the compare did not match: at some point between invoke and completion
                            the register held another value (Jepsen's and Porcupine's meaning)
    fail with an `error`,   did not happen (a deadlock, a connect error: the runner records why)
      fail read / write
    info write / cas, or    may take effect at any time after its invoke, or never
      no completion
    info read               constrains nothing (its result is unknown): dropped

Two deciders:
  * Gibbons & Korach's zone test (J. Comput. 1997; as restated by Golab, Li & Shah, PODC 2011), in
    O(n log n), for a key with no cas ops whose written values are unique: each written value's
    cluster (its write and the reads that saw it) spans a zone from the cluster's earliest
    completion to its latest invoke; the key is linearizable iff no read saw an unwritten value or
    completed before its write was invoked, no two forward zones overlap, and no backward zone
    lies inside a forward zone. A failing key is then searched as below only to explain it.
  * otherwise Wing & Gong's search with Lowe's just-in-time refinement (the algorithm Porcupine
    runs): walk the events in order, linearize any open op whose step is legal, backtrack at the
    first completion that is not yet linearized; memoise every (linearized set, state) seen so a
    configuration is never explored twice. The set is kept as (lowest unlinearized op, small
    bitset above it), so a long history costs no more per step than a short one. Ops whose outcome
    is unknown are tried there only when the walk is stuck; when many ops end unknown that order
    can wander (a 1,000-op cas history with 37 unknown ops: over 2.5 M configurations), so after
    JIT_SHARE configurations the same search runs in Porcupine's order instead (an unknown op is an
    ordinary op completing after all others: the same history in 22 k configurations).
A search that exceeds `budget` configurations or `time_limit` seconds leaves its key `unknown`:
never a wrong answer.

Public API (stable; other checkers use it, e.g. for the engine's (ID_, REV_) rows):
    check_ops(ops, model="cas-register", budget=DEFAULT_BUDGET, time_limit=None) -> result dict
        ops: op dicts in file order (invoke and completion events, as in a history)
        model: "cas-register" (read/write/cas) or "register" (read/write; a cas is an error)
    check(history, model="strict-serializable", datatype="cas-register", budget=..., time_limit=None)
        the registry entry for `harness check --workload cas-register`; `model` is the consistency
        model (`linearizable` is an alias of strict-serializable), `datatype` the register model.
The result is the DESIGN `--json` object. A non-linearizable key is one `nonlinearizable` anomaly:
{"key", "explanation", "ops" (the op that cannot be placed and the last ops before it),
 "blocked" (that op), "prefix_length", "linearized" (op indices of the longest linearizable prefix,
 in order), "states" (what the register could hold when the op had to take effect),
 "algorithm"}. stats adds "keys", "searched_keys", "zone_keys", "configurations".
"""
from __future__ import annotations

import time

from checkers.api import build_result, op_stats
from checkers.history import HistoryError, line_of, source_of
from checkers.pairing import NEMESIS, Pairer, no_invoke

ANOMALY = "nonlinearizable"

DATATYPES = ("register", "cas-register")
DEFAULT_BUDGET = 2_000_000
JIT_SHARE = 20_000          # configurations the just-in-time search gets before the eager one
EXPLAIN_BUDGET = 200_000   # configurations spent explaining a verdict the zone test already gave
DEFAULT_MODEL = "strict-serializable"
READ, WRITE, CAS, MISMATCH, CAS_INFO = range(5)
NEVER = float("inf")
_FS = ("read", "write", "cas")


class Op:
    """One operation of one key: when it was invoked and completed (event positions), what it did."""
    __slots__ = ("call", "ret", "kind", "a", "b", "invoke", "done", "key")

    def __init__(self, call, ret, kind, a, b, invoke, done, key):
        self.call, self.ret, self.kind, self.a, self.b = call, ret, kind, a, b
        self.invoke, self.done, self.key = invoke, done, key

    def describe(self) -> str:
        proc = self.invoke.get("process")
        what = {READ: lambda: f"read -> {_v(self.a)}", WRITE: lambda: f"write {_v(self.a)}",
                CAS: lambda: f"cas {_v(self.a)} -> {_v(self.b)}",
                MISMATCH: lambda: f"cas {_v(self.a)} -> {_v(self.b)} (failed: no match)",
                CAS_INFO: lambda: f"cas {_v(self.a)} -> {_v(self.b)}"}[self.kind]()
        if self.ret is NEVER:
            what += " (outcome unknown)"
        return f"process {proc} {what}"


def _v(x):
    return "nil" if x is None else str(list(x) if isinstance(x, tuple) else x)


def _hashable(v):
    return tuple(_hashable(x) for x in v) if isinstance(v, list) else v


def split_value(f, value):
    """(key, v) from an independent-key value, or (None, v) for a bare one."""
    if isinstance(value, list) and len(value) == 2:
        if f != "cas" or isinstance(value[1], list) or value[1] is None:
            return _hashable(value[0]), value[1]
    return None, value


def _cas_args(v, where):
    if not (isinstance(v, list) and len(v) == 2):
        raise HistoryError(*where, f"a cas value must be [expected, new], got {v!r}")
    return _hashable(v[0]), _hashable(v[1])


def collect(history, datatype="cas-register"):
    """{key: [Op, ...] sorted by invoke} from a history; HistoryError for ops that do not pair up."""
    if datatype not in DATATYPES:
        raise ValueError(f"unknown register model {datatype!r} (known: {', '.join(DATATYPES)})")
    path = source_of(history)
    pairer = Pairer(path)           # checkers.pairing's rules; a completion needs its invoke here
    by_key: dict = {}
    for pos, op in enumerate(history):
        proc = op.get("process")
        if proc == NEMESIS:
            continue
        where = (path, line_of(history, pos) or (pos + 1 if path == "<history>" else None))
        f = op.get("f")
        if f not in _FS:
            raise HistoryError(*where, f"op f {f!r} is not read, write or cas")
        t = op.get("type")
        if t == "invoke":
            pairer.invoke(proc, (pos, op, where), where[1], lambda started: started[2][1])
            continue
        started = pairer.complete(proc)
        if started is None:
            raise no_invoke(*where, t, proc)
        call, inv, inv_where = started
        if inv.get("f") != f:
            raise HistoryError(*where, f"completion f {f!r} does not match its invoke's {inv.get('f')!r}")
        _add(by_key, call, pos, t, inv, op, datatype, inv_where)  # errors name the invoke's line
    for call, inv, where in pairer.leftovers():  # never completed: like info
        _add(by_key, call, None, "info", inv, None, datatype, where)
    for ops in by_key.values():
        ops.sort(key=lambda o: o.call)
    return by_key


def _add(by_key, call, pos, t, inv, done, datatype, where):
    f = inv["f"]
    key, arg = split_value(f, inv.get("value"))
    if f == "read":
        if t != "ok":
            return  # a failed read did nothing; an unknown read constrains nothing
        _, v = split_value(f, done.get("value"))
        op = Op(call, pos, READ, _hashable(v), None, inv, done, key)
    elif f == "write":
        if t == "fail":
            return
        op = Op(call, pos if t == "ok" else NEVER, WRITE, _hashable(arg), None, inv, done, key)
    else:
        if datatype == "register":
            raise HistoryError(*where, "a cas op, but the register model has only read and write")
        e, n = _cas_args(arg, where)
        if t == "ok":
            op = Op(call, pos, CAS, e, n, inv, done, key)
        elif t == "fail":
            if done.get("error") is not None:
                return  # the runner knows why it failed: it never ran
            op = Op(call, pos, MISMATCH, e, n, inv, done, key)
        else:
            op = Op(call, NEVER, CAS_INFO, e, n, inv, done, key)
    by_key.setdefault(key, []).append(op)


# --- Gibbons & Korach: read/write registers with unique written values -------------------------

def zones_apply(ops) -> bool:
    """The zone test decides this key: reads and writes only, every written value unique and not nil."""
    seen = set()
    for op in ops:
        if op.kind != READ:
            if op.kind != WRITE or op.a is None or op.a in seen:
                return False
            seen.add(op.a)
    return True


def zone_check(ops):
    """None if linearizable, else a one-line reason (the ops are reads and uniquely valued writes)."""
    writes = {op.a: op for op in ops if op.kind == WRITE}
    lo = {}   # value -> earliest completion in its cluster
    hi = {}   # value -> latest invoke in its cluster
    read_values = set()
    for op in ops:
        if op.kind != READ:
            continue
        w = writes.get(op.a)
        if w is None and op.a is not None:
            return f"{op.describe()} read a value no write wrote"
        if w is not None and op.ret < w.call:
            return f"{op.describe()} completed before the write of {_v(op.a)} was invoked"
        read_values.add(op.a)
        lo[op.a] = min(lo.get(op.a, NEVER), op.ret)
        hi[op.a] = max(hi.get(op.a, -1), op.call)
    forward, backward = [], []
    for v, w in writes.items():
        if w.ret is NEVER and v not in read_values:
            continue  # an unknown write nobody saw: it may never have happened
        f = min(lo.get(v, NEVER), w.ret)
        s = max(hi.get(v, -1), w.call)
        (forward if f < s else backward).append((min(f, s), max(f, s), v))
    if None in read_values:  # the initial value: written before everything
        forward.append((-1, hi[None], None))
    forward.sort()
    for (a1, b1, v1), (a2, b2, v2) in zip(forward, forward[1:]):
        if a2 < b1:
            return (f"the values {_v(v1)} and {_v(v2)} must each hold over an interval the other "
                    f"needs (their forward zones overlap)")
    import bisect
    starts = [z[0] for z in forward]
    for a, b, v in backward:
        i = bisect.bisect_right(starts, a) - 1
        if i >= 0 and forward[i][1] >= b:
            return (f"the write of {_v(v)} must fall inside the interval where {_v(forward[i][2])} "
                    f"must hold (a backward zone inside a forward zone)")
    return None


# --- Wing & Gong / Lowe search with memoisation -------------------------------------------------

_NOTHING = object()   # "needs no particular value"


class Budget(Exception):
    """The search exceeded its budget: this key is unknown."""


def search(ops, init=None, budget=DEFAULT_BUDGET, deadline=None):
    """Is this key's history linearizable? (True, stats) or (False, failure dict); raises Budget.

    Two complete searches of the same configurations, in different orders: the just-in-time one
    (fastest when ops rarely end unknown) gets a small share of the budget; if it runs out, the
    eager one (Porcupine's order: an unknown op is an ordinary op completing after everything)
    gets the rest. Either one's answer is the answer; only the time to reach it differs.
    """
    if not any(o.ret is NEVER for o in ops):
        return search_jit(ops, init, budget, deadline)
    try:
        return search_jit(ops, init, min(budget, JIT_SHARE), deadline)
    except Budget as b:
        spent = b.args[0]
    return search_eager(ops, init, max(budget - spent, 1), deadline)


def _step(k, a, b, state):
    """(legal, new state) of an op of kind k taking effect on `state`."""
    if k == READ:
        return state == a, state
    if k == WRITE:
        return True, a
    if k == CAS:
        return state == a, b
    if k == MISMATCH:
        return state != a, state
    return True, (b if state == a else state)   # CAS_INFO: took effect, matched or not


def search_eager(ops, init=None, budget=DEFAULT_BUDGET, deadline=None):
    """Wing & Gong / Lowe over every op, an unknown one completing after all others (Porcupine).

    Reaching an unknown op's completion means every op that completed is linearized: the
    unknown ones left can take effect after everything, where nothing observes them.
    """
    n = len(ops)
    after_all = max((o.ret for o in ops if o.ret is not NEVER), default=0) + 1
    events = sorted([(o.call, i) for i, o in enumerate(ops)]
                    + [(after_all if o.ret is NEVER else o.ret, n + i) for i, o in enumerate(ops)])
    head, tail = 2 * n, 2 * n + 1
    nxt, prv, last = [tail] * (2 * n + 2), [head] * (2 * n + 2), head
    for _, node in events:
        nxt[last], prv[node], last = node, last, node
    nxt[last], prv[tail] = tail, last
    unknown = [o.ret is NEVER for o in ops]
    cache, stack = set(), []
    state, base, lin = init, 0, 0   # linearized set: bitset `lin` above `base` (as in search_jit)
    best, best_stack, blocked, stuck_states = -1, [], None, []
    entry = nxt[head]
    while True:
        if entry == tail or (entry >= n and unknown[entry - n]):
            return True, {"configurations": len(cache)}
        if entry < n:
            o = ops[entry]
            ok, new = _step(o.kind, o.a, o.b, state)
            if ok:
                rel = entry - base
                nlin, nbase = lin | (1 << rel), base
                if rel == 0:   # slide the window past the run of linearized ops at its bottom
                    run = (~nlin & (nlin + 1)).bit_length() - 1
                    nlin >>= run
                    nbase += run
                key = (nbase, nlin, new)
                if key not in cache:
                    cache.add(key)
                    if len(cache) & 1023 == 0 and (len(cache) > budget or (
                            deadline is not None and time.monotonic() > deadline)):
                        raise Budget(len(cache))
                    stack.append((entry, state, base, lin))
                    state, base, lin = new, nbase, nlin
                    for node in (entry, n + entry):   # lift the invoke and the completion
                        p, nx = prv[node], nxt[node]
                        nxt[p], prv[nx] = nx, p
                    entry = nxt[head]
                    continue
            entry = nxt[entry]
            continue
        # a completion whose op is not linearized: this branch fails
        depth = len(stack)
        if depth > best:
            best, blocked, stuck_states = depth, entry - n, [state]
            best_stack = [s[0] for s in stack]
        elif entry - n == blocked and len(stuck_states) < 50 and state not in stuck_states:
            stuck_states.append(state)
        if not stack:
            return False, {"configurations": len(cache), "linearized": best_stack, "blocked": blocked,
                           "states": stuck_states}
        e, state, base, lin = stack.pop()
        for node in (n + e, e):   # put them back
            nxt[prv[node]] = node
            prv[nxt[node]] = node
        entry = nxt[e]


def search_jit(ops, init=None, budget=DEFAULT_BUDGET, deadline=None):
    """Lowe's just-in-time search. Returns (True, stats) or (False, failure dict). Raises Budget.

    Ops that complete form a doubly linked event list (node i = op i's invoke, m + i its
    completion), from which a linearized op's two nodes are lifted and put back on backtracking
    (dancing links); their linearized set is a bitset `lin` relative to `base`, the lowest such
    op not yet linearized. The walk tries the invokes before the first pending completion R.
    Ops that never completed stay out of that walk: they are tried only when it is stuck at R,
    those that can give R the value it needs first, and one that would not change the state is
    never tried (taking effect without effect is the same as not taking effect). Their set is a
    second bitset `ilin`. Failure indices point into `ops`.
    """
    fin = [i for i, o in enumerate(ops) if o.ret is not NEVER]
    inf = [i for i, o in enumerate(ops) if o.ret is NEVER]
    m, q = len(fin), len(inf)
    kind = [ops[i].kind for i in fin]
    arg_a = [ops[i].a for i in fin]
    arg_b = [ops[i].b for i in fin]
    ret_pos = [ops[i].ret for i in fin]
    ikind = [ops[i].kind for i in inf]
    ia = [ops[i].a for i in inf]
    ib = [ops[i].b for i in inf]
    icall = [ops[i].call for i in inf]
    makes = [ia[j] if ikind[j] == WRITE else ib[j] for j in range(q)]   # the value it can set
    produce = {}
    twin = [-1] * q   # identical earlier op: interchangeable once both are invoked, try it first
    last_twin = {}
    for j in range(q):
        produce.setdefault(makes[j], []).append(j)
        sig = (ikind[j], ia[j], ib[j])
        twin[j] = last_twin.get(sig, -1)
        last_twin[sig] = j
    events = sorted([(ops[i].call, k) for k, i in enumerate(fin)]
                    + [(ops[i].ret, m + k) for k, i in enumerate(fin)])
    head, tail = 2 * m, 2 * m + 1
    nxt = [tail] * (2 * m + 2)
    prv = [head] * (2 * m + 2)
    last = head
    for _, node in events:
        nxt[last] = node
        prv[node] = last
        last = node
    nxt[last] = tail
    prv[tail] = last

    cache = set()
    stack = []   # (op, state before, base, lin, ilin, None | (R, pass, cursor) of an info op)
    state, base, lin, ilin = init, 0, 0, 0
    taken = bytearray(q)
    best, best_stack, blocked, stuck_states = -1, [], None, []
    pushes = 0
    entry = nxt[head]
    stuck = None   # (R, pass, cursor) while trying ops that never completed
    while True:
        if stuck is None:
            if entry < m:  # an invoke: try to linearize that op now
                k = kind[entry]
                if k == READ:
                    ok, new = state == arg_a[entry], state
                elif k == WRITE:
                    ok, new = True, arg_a[entry]
                elif k == CAS:
                    ok, new = state == arg_a[entry], arg_b[entry]
                else:  # MISMATCH
                    ok, new = state != arg_a[entry], state
                if ok:
                    rel = entry - base
                    nlin = lin | (1 << rel)
                    nbase = base
                    if rel == 0:  # slide the window past the run of linearized ops at its bottom
                        run = (~nlin & (nlin + 1)).bit_length() - 1
                        nlin >>= run
                        nbase += run
                    key = (nbase, nlin, ilin, new)
                    if key not in cache:
                        cache.add(key)
                        pushes += 1
                        if pushes & 1023 == 0 and (len(cache) > budget or (
                                deadline is not None and time.monotonic() > deadline)):
                            raise Budget(len(cache))
                        stack.append((entry, state, base, lin, ilin, None))
                        state, base, lin = new, nbase, nlin
                        p, nx = prv[entry], nxt[entry]   # lift the invoke and the completion
                        nxt[p] = nx
                        prv[nx] = p
                        c = m + entry
                        p, nx = prv[c], nxt[c]
                        nxt[p] = nx
                        prv[nx] = p
                        entry = nxt[head]
                        continue
                entry = nxt[entry]
                continue
            if entry == tail:  # no completion left unlinearized
                return True, {"configurations": len(cache)}
            j = entry - m
            depth = len(stack)
            if depth > best:
                best, blocked, stuck_states = depth, fin[j], [state]
                best_stack = [fin[s[0]] if s[5] is None else inf[s[0]] for s in stack]
            elif fin[j] == blocked and len(stuck_states) < 50 and state not in stuck_states:
                stuck_states.append(state)
            stuck = (entry, 0, 0)
        # stuck at completion R: try the ops that never completed, invoked before it
        R, phase, cur = stuck
        r = R - m
        pos_r = ret_pos[r]
        need = arg_a[r] if kind[r] == READ or kind[r] == CAS else _NOTHING
        wanted = produce.get(need, ()) if need is not _NOTHING else ()
        pushed = False
        while True:
            if phase == 0:   # first those that set the value R needs
                if cur >= len(wanted) or icall[wanted[cur]] > pos_r:
                    phase, cur = 1, 0
                    continue
                j = wanted[cur]
            else:
                if cur >= q or icall[cur] > pos_r:
                    break
                j = cur
                if makes[j] == need:   # tried in phase 0
                    cur += 1
                    continue
            cur += 1
            if taken[j]:
                continue
            t = twin[j]
            if t >= 0 and not taken[t]:
                continue
            if ikind[j] == WRITE:
                new = ia[j]
            else:
                new = ib[j] if state == ia[j] else state
            if new == state:
                continue
            nilin = ilin | (1 << j)
            key = (base, lin, nilin, new)
            if key in cache:
                continue
            cache.add(key)
            pushes += 1
            if pushes & 1023 == 0 and (len(cache) > budget or (
                    deadline is not None and time.monotonic() > deadline)):
                raise Budget(len(cache))
            stack.append((j, state, base, lin, ilin, (R, phase, cur)))
            taken[j] = 1
            state, ilin = new, nilin
            pushed = True
            break
        if pushed:
            stuck = None
            entry = nxt[head]
            continue
        # nothing can be placed here: backtrack
        while stack:
            e, state, base, lin, ilin, resume = stack.pop()
            if resume is not None:
                taken[e] = 0
                stuck = resume
                break
            c = m + e
            nxt[prv[c]] = c
            prv[nxt[c]] = c
            nxt[prv[e]] = e
            prv[nxt[e]] = e
            # An op that leaves the state alone and was legal could always have gone first
            # (every op that must precede it already has): if it led nowhere, neither does
            # any sibling, so backtrack past its parent too.
            if kind[e] != READ and kind[e] != MISMATCH:
                stuck = None
                entry = nxt[e]
                break
        else:
            break
    return False, {"configurations": len(cache), "linearized": best_stack, "blocked": blocked,
                   "states": stuck_states}


# --- results -------------------------------------------------------------------------------------

def _cite(op: Op) -> dict:
    return op.done if op.done is not None else op.invoke


def _explain_failure(key, ops, found, zone_reason=None) -> dict:
    order = [ops[i] for i in found["linearized"]]
    blocked = ops[found["blocked"]]
    states = found["states"]
    name = "the register" if key is None else f"key {_v(key)}"
    need = {READ: f"needs the register to hold {_v(blocked.a)}",
            CAS: f"needs the register to hold {_v(blocked.a)}",
            MISMATCH: f"needs the register to hold anything but {_v(blocked.a)}"}.get(
        blocked.kind, "always applies, but every continuation after it failed")
    lines = [f"{name} is not linearizable ({len(ops)} ops).",
             f"The longest linearizable prefix found has {len(order)} ops"
             + (f"; it ends with: " + "; ".join(o.describe() for o in order[-3:]) if order else "") + ".",
             f"Then {blocked.describe()} (invoked at #{blocked.invoke.get('index', '?')}, completed at "
             f"#{_cite(blocked).get('index', '?')}) cannot be placed: it must take effect before it "
             f"completes, and it {need}.",
             "Every time the search reached that completion, the register held "
             + (" or ".join(_v(s) for s in states) if states else "nothing reachable")
             + " (the candidate states), and no op still open could be placed first to make "
               "the op legal."]
    if zone_reason:
        lines.insert(1, f"Gibbons & Korach's zone test: {zone_reason}.")
    cited = [_cite(blocked)] + [_cite(o) for o in order[-3:]]
    return {"key": key, "explanation": " ".join(lines), "ops": cited, "blocked": _cite(blocked),
            "prefix_length": len(order), "linearized": [o.invoke.get("index") for o in order],
            "states": [list(s) if isinstance(s, tuple) else s for s in states],
            "algorithm": "zones" if zone_reason else "search"}


def check_keys(by_key, budget=DEFAULT_BUDGET, time_limit=None):
    """(anomalies, unknown keys, stats) over {key: [Op]}."""
    deadline = time.monotonic() + time_limit if time_limit else None
    anomalies, unknown = [], []
    zone_keys = searched = configurations = 0
    for key, ops in by_key.items():
        reason = None
        if zones_apply(ops):
            zone_keys += 1
            reason = zone_check(ops)
            if reason is None:
                continue
        searched += 1
        try:
            # a key the zone test already failed is searched only for its explanation: cheaply
            ok, found = search(ops, budget=budget if reason is None else min(budget, EXPLAIN_BUDGET),
                               deadline=deadline)
        except Budget as b:
            configurations += b.args[0]
            if reason is None:
                unknown.append(key)
            else:  # the zone test already decided; only the explanation is missing
                anomalies.append({"key": key, "ops": [], "algorithm": "zones",
                                  "explanation": f"{'the register' if key is None else f'key {_v(key)}'}"
                                                 f" is not linearizable: {reason}."})
            continue
        configurations += found["configurations"]
        if not ok:
            anomalies.append(_explain_failure(key, ops, found, reason))
        elif reason is not None:  # cannot happen unless one decider is wrong: say so, loudly
            raise AssertionError(f"zone test and search disagree on key {key!r}: {reason}")
    return anomalies, unknown, {"keys": len(by_key), "zone_keys": zone_keys, "searched_keys": searched,
                                "configurations": configurations}


def check_ops(ops, model="cas-register", budget=DEFAULT_BUDGET, time_limit=None,
              consistency="strict-serializable") -> dict:
    """Linearizability of a history of register ops under the register model `model`."""
    t0 = time.perf_counter()
    by_key = collect(ops, model)
    anomalies, unknown, kstats = check_keys(by_key, budget, time_limit)
    stats = op_stats(ops)
    stats.update(kstats)
    stats["seconds"] = round(time.perf_counter() - t0, 3)
    reason = None
    if unknown:
        reason = (f"search budget ({budget} configurations"
                  + (f" or {time_limit} s" if time_limit else "") + f") exhausted on "
                  f"{len(unknown)} key(s): " + ", ".join(_v(k) for k in unknown[:10]))
    elif not by_key:
        reason = "no read, write or cas ops"
    extra = {"unknown_keys": [_v(k) for k in unknown]} if unknown else {}
    return build_result({ANOMALY: anomalies} if anomalies else {}, consistency, stats,
                        unknown_reason=reason, **extra)


def check(history, model: str = DEFAULT_MODEL, datatype: str = "cas-register",
          budget: int = DEFAULT_BUDGET, time_limit: float | None = None, **_opts) -> dict:
    return check_ops(history, datatype, budget, time_limit, consistency=model)
