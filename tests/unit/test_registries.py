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
    from harness.cluster import dialects
    from harness.cluster.dbs import base
    from harness.probe import api
    assert spec.ISOLATIONS is base.ISOLATIONS is api.ISOLATIONS is isolation.LEVELS
    assert spec.MODEL_FOR_ISOLATION is isolation.MODEL_FOR
    # the SQL per level is dialect knowledge, keyed by the owner's names: exactly those
    assert tuple(dialects.LEVEL_SQL) == isolation.LEVELS
    assert dialects.isolation_sql("READ_COMMITTED") == "READ COMMITTED"
    assert base.isolation("READ_UNCOMMITTED") == "read-uncommitted"
    with pytest.raises(ValueError):
        base.isolation("snapshot")


def test_hermitage_has_a_published_row_for_every_level_and_dialect():
    from harness.probe.hermitage import FAMILY, published
    for dialect in FAMILY:
        for level in isolation.LEVELS:
            assert published(dialect, level)[1] is not None, (dialect, level)


def test_databases_have_one_list_and_carry_their_own_facts():
    from harness import cluster, spec
    from harness.cluster import dbs
    assert spec.DB_NAMES is cluster.DB_NAMES is dbs.DB_NAMES
    for name in dbs.DB_NAMES:
        cls = dbs.definition(name)
        assert cls.name == name                   # the registry key is the definition's own name
        assert cls.dialect in ("mysql", "postgres")
        assert cls.min_nodes <= cls.default_nodes <= cls.max_nodes
        assert dbs.single_node(name) == (cls.max_nodes == 1)
    assert [n for n in dbs.DB_NAMES if dbs.single_node(n)] == ["mariadb", "postgres"]
    assert not dbs.single_node("no-such-db")
    with pytest.raises(Exception, match="unknown db 'no-such-db'"):
        dbs.definition("no-such-db")


def test_backends_have_one_list():
    from harness import backends, cluster, spec
    assert spec.BACKENDS is cluster.BACKENDS is backends.BACKENDS
    assert backends.DEFAULT in backends.BACKENDS
    assert spec.TestSpec(db="mariadb", workload="bank").backend == backends.DEFAULT


def test_every_runnable_workload_has_a_checker_and_the_cli_offers_them():
    from checkers.registry import CHECKERS
    from harness import check_cmd
    from workloads import WORKLOADS, workload_class
    assert check_cmd.WORKLOADS == tuple(CHECKERS)
    for name in WORKLOADS:
        cls = workload_class(name)
        assert cls.name == name
        assert (cls.checker or name) in CHECKERS, name


def _help(*argv):
    import contextlib
    import io
    from harness.cli import build_parser
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        build_parser().parse_args([*argv, "--help"])
    return " ".join(out.getvalue().split()).replace("- ", "-")  # argparse wraps at hyphens


def test_run_help_and_choices_read_the_owners():
    import nemesis
    from checkers.registry import CHECKERS
    from harness.cluster.dbs import DB_NAMES
    from harness.routing import POLICIES
    from workloads import WORKLOADS
    text = _help("run")
    for names in (DB_NAMES, WORKLOADS, POLICIES, isolation.LEVELS):
        assert ", ".join(names) in text
    assert ", ".join(sorted(nemesis.FAULTS)) in text
    assert ",".join(isolation.LEVELS) in _help("probe")
    assert "{" + ",".join(CHECKERS) + "}" in _help("check")


def test_run_flags_default_to_the_spec_fields():
    import dataclasses
    from harness.cli import build_parser
    from harness.run_cmd import spec_from_args
    from harness.spec import TestSpec
    args = build_parser().parse_args(["run", "--db", "mariadb", "--workload", "bank", "--seed", "1"])
    got, want = spec_from_args(args), TestSpec(db="mariadb", workload="bank", seed=1)
    for f in dataclasses.fields(TestSpec):
        assert getattr(got, f.name) == getattr(want, f.name), f.name


def test_one_node_routings_and_single_node_dbs_decide_the_matrix():
    from harness.certify.matrix import MULTI_NODE_FAULTS, SINGLE_NODE_FAULTS, Cell
    from harness.certify.rc import placements_for
    from harness.routing import ONE_NODE, POLICIES
    assert set(ONE_NODE) < set(POLICIES)
    assert Cell(name="a", db="postgres").nemesis == SINGLE_NODE_FAULTS
    assert Cell(name="b", db="postgres-standby").nemesis == MULTI_NODE_FAULTS
    for policy in POLICIES:
        spreads = policy not in ONE_NODE
        assert Cell(name="c", db="galera", routing=policy).user_may_switch_nodes == spreads
        assert not Cell(name="d", db="mariadb", routing=policy).user_may_switch_nodes
        assert placements_for(policy, single_node=False) == ("all" if spreads else "same-node")


def test_fault_lists_name_registered_faults():
    import nemesis
    from harness.certify.matrix import MULTI_NODE_FAULTS, SINGLE_NODE_FAULTS, fault_names
    assert set(nemesis.PARAMETERS) <= set(nemesis.FAULTS)
    for fault_set in MULTI_NODE_FAULTS + SINGLE_NODE_FAULTS:
        assert nemesis.parse_faults(",".join(fault_names(fault_set))) == fault_names(fault_set)


def test_cluster_up_knob_help_names_every_knob_of_every_database():
    # the help is written by hand (building it from the definitions would import every one of them
    # on each CLI call, ~0.3 s): this keeps it from drifting from the definitions' knobs
    from harness.cli import build_parser
    from harness.cluster.dbs import DB_NAMES, definition
    cluster = build_parser()._subparsers._group_actions[0].choices["cluster"]
    up = cluster._subparsers._group_actions[0].choices["up"]
    text = next(a.help for a in up._actions if "--knob" in a.option_strings)
    for db in DB_NAMES:
        for knob in definition(db).knobs:
            assert knob in text, (db, knob)
