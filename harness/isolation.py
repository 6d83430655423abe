"""The isolation levels a run can ask for, and the consistency model each is judged as.

The one owner of these names: the spec, the CLI, DB knobs and the probe read LEVELS. Tables of
per-level knowledge stay where that knowledge lives, keyed by these names: the SQL of each dialect
(harness.cluster.dialects), Hermitage's published rows (harness.probe.hermitage); a new level needs an
entry in each, and tests/unit/test_registries.py says which one is missing.
"""

LEVELS = ("read-uncommitted", "read-committed", "repeatable-read", "serializable")

# The consistency model the checker is asked about for each level. SERIALIZABLE on one server is
# strictly serializable (a commit is visible to every later transaction); a cluster that stands in
# for that server behind a load balancer must give the same, so `serializable` is judged as
# strict-serializable. A spec's `model` overrides it.
MODEL_FOR = {
    "read-uncommitted": "read-uncommitted",
    "read-committed": "read-committed",
    "repeatable-read": "repeatable-read",
    "serializable": "strict-serializable",
}


def spelled(text) -> str:
    """A level as users also write it ("READ_COMMITTED", "Read Committed") in the spelling of
    LEVELS; not checked (see `check`)."""
    return str(text).lower().replace("_", "-").replace(" ", "-")


def check(text) -> str:
    """The level `text` names (any spelling `spelled` accepts); ValueError naming LEVELS if none."""
    level = spelled(text)
    if level not in LEVELS:
        raise ValueError(f"unknown isolation level {text!r} (one of {', '.join(LEVELS)})")
    return level
