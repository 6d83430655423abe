"""Every cell that differs from Hermitage's published row or from the topology's own same-node row,
and a sentence saying why: the mechanism when the evidence shows a known one, else what was seen."""
from __future__ import annotations

from harness.probe import hermitage
from harness.probe.definitions import BY_NAME

DIRTY_READ_TESTS = ("G1a", "G1b", "G1c", "OTV")


def cause(db: str, cross: bool, test: str, outcome: str, expected: str, why: str) -> str:
    """Why the cell came out as it did, in one sentence (the evidence follows it)."""
    refused = "refused:" in why
    if outcome == "error" and "hot standby" in why:
        return ("PostgreSQL refuses SERIALIZABLE on a hot standby (REPEATABLE READ is the most it "
                "offers there), so the read-only session routed to the standby could not start.")
    if outcome in ("prevented", "waits-then-prevented") and refused and db == "galera" and cross:
        return ("Galera certifies write sets cluster-wide and aborts the later of two conflicting "
                "transactions (first committer wins, error 1213), where one InnoDB node makes the second "
                "writer wait and then lets it proceed.")
    if cross and outcome == "prevented" and test in DIRTY_READ_TESTS and expected == hermitage.N:
        return ("Uncommitted writes never leave their node, so a session on another node cannot read "
                "them: a dirty read needs both sessions on one node.")
    if cross and outcome == "occurs" and test == "for-update":
        text = ("SELECT ... FOR UPDATE locks the row only on the node that runs it; the other node "
                "granted the same lock at once, so both sessions deployed the same version.")
        return text + (" Camunda's Galera page lists this limitation." if db == "galera" else "")
    if cross and outcome in ("occurs", "prevented-read-only") and db in ("mariadb-mm", "memory"):
        return ("Each master committed its own transaction without the other's locks or rows and "
                "replication applied the other's afterwards: nothing orders writes made on two masters.")
    if not cross and db.startswith("postgres") and test == "for-update" and outcome == "occurs":
        return ("PostgreSQL's snapshot is taken at the first statement, before the lock was granted, so "
                "the session that waited reads the old maximum version.")
    return ""


def differences(d: dict) -> list[dict]:
    """One entry per differing cell: {"isolation", "placement", "settled", "test", "outcome",
    "against": ["hermitage" and/or "same-node"], "expected", "explanation", "sentence"}."""
    d = d.to_dict() if hasattr(d, "to_dict") else d
    out = []
    for r in d["rows"]:
        label, pub = hermitage.published(d["dialect"], r["isolation"])
        base = next((x for x in d["rows"] if x["isolation"] == r["isolation"] and x["placement"] == "same-node"
                     and not x["settled"]), None)
        for test, outcome in r["results"].items():
            mine, against, expected = hermitage.SYMBOL[outcome], [], None
            if pub and test in pub and mine != pub[test]:
                against.append("hermitage")
                expected = pub[test]
            if base is not None and base is not r and hermitage.SYMBOL[base["results"].get(test, outcome)] != mine:
                against.append("same-node")
                expected = expected or hermitage.SYMBOL[base["results"][test]]
            if not against:
                continue
            why = r["evidence"][test]["why"]
            body = explanation(d["db"], r["placement"] != "same-node", test, outcome, against, expected,
                               label, why)
            where = r["placement"] + (" (settled)" if r["settled"] else "")
            out.append({"isolation": r["isolation"], "placement": r["placement"], "settled": r["settled"],
                        "test": test, "outcome": outcome, "against": against, "expected": expected,
                        "explanation": body, "sentence": f"{_title(test)} at {r['isolation']}, {where}: {body}"})
    return out


def explanation(db, cross, test, outcome, against, expected, label, why) -> str:
    names = " and ".join(label if a == "hermitage" else "the same-node row" for a in against)
    because = cause(db, cross, test, outcome, expected, why)
    return (f"{names} {'say' if len(against) > 1 else 'says'} {hermitage.MEANING.get(expected, expected)}, "
            f"here it {_verb(outcome)}. {because + ' ' if because else ''}Seen: {why}")


def _title(test):
    return f"{test} ({BY_NAME[test].title})"


def grouped(diffs: list[dict]) -> list[str]:
    """One sentence per difference repeated over placements (same level, test, outcome, reference);
    the evidence quoted is the first placement's."""
    groups = {}
    for x in diffs:
        key = (x["isolation"], x["test"], x["outcome"], tuple(x["against"]))
        groups.setdefault(key, []).append(x)
    out = []
    for (iso, test, outcome, against), xs in groups.items():
        where = ", ".join(x["placement"] + (" settled" if x["settled"] else "") for x in xs)
        out.append(f"{_title(test)} at {iso}, {where}: {xs[0]['explanation']}")
    return out


def _verb(outcome):
    return {"occurs": "occurred", "error": "could not be decided (error)",
            "prevented-read-only": "was prevented only for read-only transactions"}.get(outcome, "was prevented")
