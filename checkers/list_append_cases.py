"""List-append's non-cycle anomalies: one record type per anomaly, and the cases that the
checker does not compute inline in its streaming loop, each a pure function of the indexed
history (see checkers/list_append.py for the arrays).

The indexed history, as the cases see it: each key's version order flattened into one array
`fw` (flat position -> writer txn, -1 if no txn appended that element), `key_off` (a key's
first flat position; key_len the lengths), `fw_type` (the writer's type, -1 if none), and the
committed reads as parallel arrays `r_txn`, `r_kid`, `r_len` (a read shows the first r_len
elements of its key's order), `r_off` (its key's offset), `good` (reads that are prefixes of
their key's order; the others are judged one by one in the checker). `order(kid)` gives a key's
version order as a list, `keys[kid]` the key itself.

internal, future-read and incompatible-order are found inline in `Analyzer.consume` (the hot
loop: one check per micro-op, no call); their records are here all the same.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from checkers.explain import fmt_list
from checkers.findings import Finding
from checkers.graph import FAIL, INFO, OK


@dataclass(frozen=True, slots=True)
class Internal(Finding):
    """A read after the txn's own state of the key (a read, or appends) does not show it."""
    kind = "internal"
    tid: int
    key: object
    read: list
    base: list | None    # the txn's previous read of the key (None: it only appended so far)
    mine: list           # its own appends since then

    txn_fields = ("tid",)

    def text(self, ex):
        T, k, v, base, mine = ex.name(self.tid), self.key, self.read, self.base, self.mine
        if base is None:
            text = (f"{T} appended {fmt_list(mine)} to key {k!r} and then read it as "
                    f"{fmt_list(v)}, which does not end with its own appends.")
        elif mine:
            text = (f"{T} read key {k!r} = {fmt_list(base)}, then appended {fmt_list(mine)}, "
                    f"then read it as {fmt_list(v)}, not {fmt_list(base + mine)}: a transaction must "
                    f"see its own earlier state.")
        else:
            text = (f"{T} read key {k!r} = {fmt_list(base)} and later, with no append of its "
                    f"own in between, read it as {fmt_list(v)}: a transaction must see one state.")
        return text


@dataclass(frozen=True, slots=True)
class GarbageRead(Finding):
    """A read shows an element no txn appended to that key."""
    kind = "garbage-read"
    cites_order = True
    reader: int
    key: object
    shown: list
    x: object            # the first such element

    txn_fields = ("reader",)

    def text(self, ex):
        shown, x = self.shown, self.x
        text = (f"{ex.name(self.reader)} read key {self.key!r} = {fmt_list(shown, shown.index(x))}, which "
                f"includes {x!r}, a value no transaction in the history appended to that key.")
        return text


@dataclass(frozen=True, slots=True)
class FutureRead(Finding):
    """A read shows an append its own txn makes only later."""
    kind = "future-read"
    tid: int
    key: object
    read: list
    value: object

    txn_fields = ("tid",)

    def text(self, ex):
        T = ex.name(self.tid)
        text = (f"{T} read key {self.key!r} = {fmt_list(self.read)}, which already contains "
                f"{self.value!r}, a value {T} itself appends only later in the same transaction.")
        return text


@dataclass(frozen=True, slots=True)
class IncompatibleOrder(Finding):
    """Two reads of a key, neither a prefix of the other."""
    kind = "incompatible-order"
    cites_order = True
    key: object
    t1: int
    v1: list
    t2: int
    v2: list

    txn_fields = ("t1", "t2")

    def text(self, ex):
        text = (f"{ex.name(self.t1)} read key {self.key!r} = {fmt_list(self.v1)} and {ex.name(self.t2)} "
                f"read it as {fmt_list(self.v2)}: neither is a prefix of the other, so no single order "
                f"of appends explains both.")
        return text


@dataclass(frozen=True, slots=True)
class DuplicateElements(Finding):
    """A read shows an element more than once."""
    kind = "duplicate-elements"
    cites_order = True
    key: object
    reader: int
    read: list
    dups: list

    txn_fields = ("reader",)

    def text(self, ex):
        text = (f"{ex.name(self.reader)} read key {self.key!r} = {fmt_list(self.read)}, which contains "
                f"{', '.join(map(repr, self.dups))} more than once, though each value was appended once.")
        return text


@dataclass(frozen=True, slots=True)
class G1a(Finding):
    """A read shows an append of a failed (aborted) txn."""
    kind = "G1a"
    cites_order = True
    reader: int
    key: object
    shown: list
    writer: int
    x: object            # the failed txn's element the read shows

    txn_fields = ("reader", "writer")

    def text(self, ex):
        shown, x = self.shown, self.x
        text = (f"{ex.name(self.reader)} read key {self.key!r} = {fmt_list(shown, shown.index(x))}, which "
                f"includes {x!r}, appended by {ex.name(self.writer)}, a transaction that failed "
                f"(aborted): it read a write that never committed.")
        return text


@dataclass(frozen=True, slots=True)
class G1b(Finding):
    """A read ends on an append its writer later extended in the same txn."""
    kind = "G1b"
    cites_order = True
    reader: int
    key: object
    shown: list
    writer: int

    txn_fields = ("reader", "writer")

    def text(self, ex):
        R, W, k, shown = ex.name(self.reader), ex.name(self.writer), self.key, self.shown
        later = [m[2] for m in ex.mops(self.writer) if m[0] == "append" and m[1] == k]
        text = (f"{R} read key {k!r} = {fmt_list(shown)}, ending with "
                f"{shown[-1]!r}; but {W} appended {fmt_list(later)} to that key, so "
                f"{shown[-1]!r} was an intermediate state of {W}, never committed as final.")
        return text


@dataclass(frozen=True, slots=True)
class DirtyUpdate(Finding):
    """A committed (or info) append comes after a failed one in a key's order."""
    kind = "dirty-update"
    cites_order = True
    key: object
    failed: int          # the failed writer
    failed_at: int       # its element's index in the key's order
    later: int           # the first non-failed writer after it
    later_at: int

    txn_fields = ("failed", "later")

    def text(self, ex):
        L, f, lp = ex.order(ex.kids[self.key]), self.failed_at, self.later_at
        text = (f"Key {self.key!r} was read as {fmt_list(L[:lp + 1], lp)}: {L[f]!r} there was "
                f"appended by {ex.name(self.failed)}, which failed, yet {ex.name(self.later)}'s append of "
                f"{L[lp]!r} comes after it: a committed write built on an aborted one.")
        return text


@dataclass(frozen=True, slots=True)
class LostUpdate(Finding):
    """Committed txns whose first read of a key showed the same version, and which all appended
    to it."""
    kind = "lost-update"
    cites_order = True
    key: object
    shown: list
    tids: list

    @property
    def txns(self):
        return list(self.tids)

    def text(self, ex):
        names = ", ".join(ex.name(t) for t in self.tids)
        text = (f"{names} all first read key {self.key!r} = {fmt_list(self.shown)} (the same version) and "
                f"each then appended to it and committed: each one's update ignores the others'.")
        return text


# -- cases --------------------------------------------------------------------------------
def duplicate_elements(key, reader, L) -> DuplicateElements:
    """The longest read `L` of `key` (by `reader`) repeats elements."""
    seen, dups = set(), []
    for x in L:
        if x in seen:
            dups.append(x)
        seen.add(x)
    return DuplicateElements(key, reader, list(L), dups)


def first_flagged(flagged, flat_key, key_off, nk):
    """(keys of the flagged flat positions, per key the index in its order of its first flagged
    element, int64 max where none), or None when nothing is flagged."""
    if not flagged.any():
        return None
    fpos = np.nonzero(flagged)[0]
    fkey = flat_key[fpos]
    first = np.full(nk, np.iinfo(np.int64).max, np.int64)
    np.minimum.at(first, fkey, fpos - key_off[fkey])
    return fkey, first


def _reads_past(first, key_off, good, r_kid, r_len, r_txn, order, keep):
    """The reads (prefixes of their key's order) long enough to show their key's first flagged
    element: (how many, [(reader, kid, what it shows, flat position, element)] for the first
    `keep`)."""
    hit = np.nonzero(good & (r_len > first[r_kid]))[0]
    out = []
    for i in hit[:keep]:
        kid = int(r_kid[i])
        p = int(key_off[kid] + first[kid])
        shown = order(kid)[:int(r_len[i])]
        out.append((int(r_txn[i]), kid, shown, p, shown[p - int(key_off[kid])]))
    return len(hit), out


def g1a_reads(first, fw, key_off, good, r_txn, r_kid, r_len, order, keys, keep):
    """G1a: reads that show an append of a failed txn (`first` from first_flagged on the failed
    positions). (how many, records for the first `keep`)."""
    n, hits = _reads_past(first, key_off, good, r_kid, r_len, r_txn, order, keep)
    return n, [G1a(t, keys[kid], shown, int(fw[p]), x) for t, kid, shown, p, x in hits]


def garbage_reads(first, key_off, good, r_txn, r_kid, r_len, order, keys, keep):
    """garbage-read: reads that show an element no txn appended (`first` from first_flagged on
    the positions without a writer). (how many, records for the first `keep`)."""
    n, hits = _reads_past(first, key_off, good, r_kid, r_len, r_txn, order, keep)
    return n, [GarbageRead(t, keys[kid], shown, x) for t, kid, shown, p, x in hits]


def dirty_updates(fkey, first, fw, fw_type, key_off, keys) -> list:
    """dirty-update: per key with a failed append in its order, the first ok / info append after
    the first failed one."""
    out = []
    for kid in np.unique(fkey):
        lo, hi = int(key_off[kid]), int(key_off[kid + 1])
        f0 = lo + int(first[kid])
        later = np.nonzero((fw_type[f0 + 1:hi] == OK) | (fw_type[f0 + 1:hi] == INFO))[0]
        if len(later):
            out.append(DirtyUpdate(keys[int(kid)], int(fw[f0]), f0 - lo,
                                   int(fw[f0 + 1 + later[0]]), f0 + 1 + int(later[0]) - lo))
    return out


def g1b_reads(inter_pos, fw, fw_type, good, r_txn, r_kid, r_len, r_off, order, keys, keep):
    """G1b: reads that end on an element whose committed writer appended to the key again later
    (`inter_pos`: the flat positions of such elements). (how many, records for the first `keep`)."""
    inter = np.zeros(len(fw), bool)
    inter[np.asarray(inter_pos, dtype=np.int64)] = True
    has = (r_len > 0) & good
    p = np.where(has, r_off + r_len - 1, 0)
    hit = np.nonzero(has & inter[p] & (fw[p] != r_txn) & (fw_type[p] == OK))[0]
    out = []
    for i in hit[:keep]:
        kid = int(r_kid[i])
        out.append(G1b(int(r_txn[i]), keys[kid], order(kid)[:int(r_len[i])], int(fw[p[i]])))
    return len(hit), out


def aborted_or_garbage(reader, key, v, writers, types):
    """G1a or garbage-read for one read judged on what it shows (`v`; keys whose reads disagree):
    its first element that a failed txn appended, or that no txn appended; None if neither.
    writers: the key's {value: writer txn}. An unhashable element raises TypeError."""
    for x in v:
        w = writers.get(x)
        if w is None:
            return GarbageRead(reader, key, list(v), x)
        if types[w] == FAIL:
            return G1a(reader, key, list(v), w, x)
    return None


def intermediate_read(reader, key, v, writers, types, intermediate):
    """G1b for one read judged on what it shows: it ends on an element that another committed
    txn appended and then extended (`intermediate`: the key's such elements); None if not."""
    if v:
        last = v[-1]
        w = writers.get(last)
        if w is not None and w != reader and types[w] == OK and last in intermediate:
            return G1b(reader, key, list(v), w)
    return None


def lost_updates(rmw, bad, read_value, longest, keys) -> list:
    """lost-update (as Elle): committed txns whose first read of a key showed the same version,
    and which all then appended to it. rmw: (kid, that read's length, txn, read row) per txn
    that read a key, then appended to it; keys in `bad` (reads disagree) are grouped by what the
    read showed (read_value(row, kid, length)), the others by length (reads are prefixes of
    longest[kid])."""
    groups = defaultdict(list)
    for kid, n, tid, row in rmw:
        if kid in bad:
            try:
                groups[(kid, tuple(read_value(row, kid, n)))].append(tid)
            except TypeError:
                continue      # an unhashable element: reported as bad input elsewhere
        else:
            groups[(kid, n)].append(tid)
    out = []
    for (kid, v), tids in groups.items():
        if len(tids) > 1:
            shown = list(v) if isinstance(v, tuple) else longest[kid][:v]
            out.append(LostUpdate(keys[kid], shown, tids))
    return out
