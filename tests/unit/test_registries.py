"""Every kind of name has one owner; the tables keyed by those names elsewhere must agree with it."""
import pytest

from harness import isolation


def test_isolation_levels_and_their_models():
    from checkers.models import canonical
    assert isolation.LEVELS == ("read-uncommitted", "read-committed", "repeatable-read", "serializable")
    assert tuple(isolation.MODEL_FOR) == isolation.LEVELS
    assert isolation.MODEL_FOR["serializable"] == "strict-serializable"
    for model in isolation.MODEL_FOR.values():
        canonical(model)  # each is a model the checkers know


def test_isolation_spellings():
    assert isolation.check("READ_COMMITTED") == "read-committed"
    assert isolation.check("Repeatable Read") == "repeatable-read"
    with pytest.raises(ValueError, match=r"unknown isolation level 'snapshot' \(one of read-uncommitted, "):
        isolation.check("snapshot")


def test_every_reader_of_isolation_levels_uses_the_owner():
    from harness import spec
    from harness.cluster import conn
    from harness.cluster.dbs import base
    from harness.probe import api
    from harness.runner import PG_ISOLATION
    assert spec.ISOLATIONS is base.ISOLATIONS is api.ISOLATIONS is isolation.LEVELS
    assert spec.MODEL_FOR_ISOLATION is isolation.MODEL_FOR
    # the SQL per level is dialect knowledge, keyed by the owner's names: exactly those
    assert tuple(conn.ISOLATION_SQL) == isolation.LEVELS
    assert tuple(PG_ISOLATION) == isolation.LEVELS
    assert base.isolation("READ_UNCOMMITTED") == "read-uncommitted"
    with pytest.raises(ValueError):
        base.isolation("snapshot")


def test_hermitage_has_a_published_row_for_every_level_and_dialect():
    from harness.probe.hermitage import FAMILY, published
    for dialect in FAMILY:
        for level in isolation.LEVELS:
            assert published(dialect, level)[1] is not None, (dialect, level)
