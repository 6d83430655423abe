"""--server-opt / --server-config: parsing, refusal of what the harness owns, where the options land."""
import os

import pytest

from harness import cli
from harness.certify.matrix import Cell, load_matrix
from harness.cluster import server_options as so
from harness.cluster.dbs import get
from harness.errors import UsageError
from harness.spec import TestSpec
from tests.unit.test_cluster import fake_cluster


def test_entries_parse_and_normalize():
    assert str(so.parse_entry("innodb-flush-log-at-trx-commit=0", "mysql", "x")) == "innodb_flush_log_at_trx_commit=0"
    assert str(so.parse_entry("n2:max_connections = 77", "mysql", "x")) == "n2:max_connections=77"
    assert str(so.parse_entry("skip-name-resolve", "mysql", "x")) == "skip_name_resolve"  # a flag
    assert str(so.parse_entry("Work_Mem=64MB", "postgres", "x")) == "work_mem=64MB"
    e = so.parse_entry("wsrep_provider_options=gcache.size=1G; a:b", "mysql", "x")
    assert (e.node, e.key, e.value) == (None, "wsrep_provider_options", "gcache.size=1G; a:b")
    with pytest.raises(UsageError, match="expected KEY=VALUE"):
        so.parse_entry("work_mem", "postgres", "--server-opt")
    with pytest.raises(UsageError, match="control characters"):
        so.parse_entry("a=1\n[client]\nuser=root", "mysql", "--server-opt")
    with pytest.raises(UsageError, match="expected"):
        so.parse_entry("=1", "mysql", "--server-opt")


@pytest.mark.parametrize("db,opt,named", [
    ("galera", "datadir=/x", "datadir"),
    ("galera", "bind-address=1.2.3.4", "bind_address"),
    ("galera", "bind-addr=1.2.3.4", "bind_address"),        # mariadbd takes unambiguous prefixes
    ("galera", "loose-socket=/tmp/s", "socket"),
    ("galera", "wsrep_cluster_address=gcomm://", "wsrep_cluster_address"),
    ("galera", "wsrep-node-address=1.2.3.4", "wsrep_node_address"),
    ("galera", "wsrep_provider=none", "wsrep_provider"),
    ("galera", "wsrep_provider_options=pc.recovery=FALSE", "pc.recovery"),
    ("mariadb", "pid-file=/x", "pid_file"),
    ("mariadb-mm", "server_id=9", "server_id"),
    ("mariadb-mm", "log-bin=x", "log_bin"),
    ("postgres", "listen_addresses=*", "listen_addresses"),
    ("postgres", "unix_socket_directories=/tmp", "unix_socket_directories"),
    ("postgres", "hba_file=/etc/x", "hba_file"),
    ("postgres-standby", "primary_conninfo=host=x", "primary_conninfo"),
])
def test_owned_options_are_refused_naming_the_option(db, opt, named):
    with pytest.raises(UsageError, match=f"{named}.*refused|refused.*{named}|{named}"):
        get(db).validate_knobs({"server_options": [opt]})
    with pytest.raises(UsageError, match="set by the harness"):
        get(db).validate_knobs({"server_options": [opt]})


def test_options_the_harness_does_not_own_pass():
    assert get("galera").validate_knobs({"server_options": ["log_bin=on", "innodb_flush_log_at_trx_commit=0"]})[
        "server_options"] == ["log_bin=on", "innodb_flush_log_at_trx_commit=0"]
    assert "server_options" not in get("galera").validate_knobs({})  # old records keep their shape
    assert get("postgres").validate_knobs({"server_options": "work_mem=4MB"})["server_options"] == ["work_mem=4MB"]


def test_node_prefix_must_name_a_node():
    g = get("galera")
    with pytest.raises(UsageError, match="n1..n3"):
        g.node_count(None, g.validate_knobs({"server_options": ["n4:max_connections=5"]}))
    assert g.node_count(5, g.validate_knobs({"server_options": ["n4:max_connections=5"]})) == 5


def test_mariadb_config_puts_the_users_options_last_per_node():
    dbdef, c = fake_cluster("galera", 3, {"server_options": [
        "innodb_buffer_pool_size=128M", "n2:max_connections=77", "wsrep_provider_options=gcache.size=64M"]})
    conf1, conf2 = dbdef.config(c, c.nodes[0]), dbdef.config(c, c.nodes[1])
    lines = conf1.splitlines()
    assert lines.index("innodb_buffer_pool_size=128M") > lines.index("innodb_buffer_pool_size=64M")
    assert "max_connections=77" not in conf1 and conf2.splitlines()[-1] == "max_connections=77"
    provider = [ln for ln in lines if ln.startswith("wsrep_provider_options")]
    assert len(provider) == 1 and "pc.recovery=TRUE" in provider[0] and provider[0].endswith('gcache.size=64M"')
    assert so.readback_keys(dbdef.server_entries(c.knobs), "mysql") == [
        "innodb_buffer_pool_size", "max_connections", "wsrep_provider_options"]


def test_postgres_options_go_after_the_harness_settings_and_per_node_into_node_conf():
    dbdef, c = fake_cluster("postgres-standby", 2, {"server_options": [
        "work_mem=64MB", "log_line_prefix=%m x ", "n2:work_mem=8MB", "recovery_min_apply_delay=5"]})
    conf = dbdef.settings(c) + dbdef.user_settings(c)
    assert conf.index("work_mem = 64MB") > conf.index("recovery_min_apply_delay = 0")
    assert "log_line_prefix = '%m x'" in conf and "recovery_min_apply_delay = 5" == conf[-1]
    assert dbdef.node_conf(c, c.nodes[1]) == "work_mem = 8MB\n" and dbdef.node_conf(c, c.nodes[0]) == ""
    assert so.quoted_pg("'it''s'") == "'it''s'" and so.quoted_pg("a b") == "'a b'"


def write(tmp_path, name, text, mode="w"):
    p = tmp_path / name
    with open(p, mode) as f:
        f.write(text)
    return str(p)


def test_mycnf_fragment(tmp_path):
    path = write(tmp_path, "my.cnf", "# mine\n[mysqld]\ninnodb_flush_log_at_trx_commit = 2  # fast\n"
                 "skip-name-resolve\n[galera]\nwsrep_slave_threads='4'\n")
    entries = so.parse_config(path, "mysql", get("galera").owned_options)
    assert [str(e) for e in entries] == ["innodb_flush_log_at_trx_commit=2", "skip_name_resolve",
                                         "wsrep_slave_threads=4"]


def test_postgresql_conf_fragment(tmp_path):
    path = write(tmp_path, "pg.conf", "work_mem = '64MB'   # per sort\nshared_buffers 128MB\n"
                 "log_line_prefix = '%m # [%p] '\n")
    entries = so.parse_config(path, "postgres", get("postgres").owned_options)
    assert [str(e) for e in entries] == ["work_mem='64MB'", "shared_buffers=128MB", "log_line_prefix='%m # [%p] '"]


@pytest.mark.parametrize("text,message", [
    ("[mysqld]\ndatadir=/x\n", ":2: datadir is set by the harness"),
    ("[client]\nuser=x\n", ":1: section [client] does not configure the server"),
    ("[mysqld]\n!includedir /etc/mysql\n", ":2: !includedir is not supported"),
    ("[mysqld\nx=1\n", ":1: malformed section header"),
    ("[mysqld]\nok=1\n\xff\n", ":3: not UTF-8"),
    ("[mysqld]\nok=1\nx\0y\n", ":3: not a text file"),
])
def test_bad_mycnf_is_one_line_with_file_and_line(tmp_path, text, message):
    path = write(tmp_path, "my.cnf", text.encode("latin-1"), mode="wb")
    with pytest.raises(UsageError) as e:
        so.parse_config(path, "mysql", get("galera").owned_options)
    assert str(e.value).startswith(path) and message in str(e.value) and "\n" not in str(e.value)


def test_bad_pg_conf(tmp_path):
    for text, message in (("port = 5433\n", ":1: port is set by the harness"),
                          ("include 'x.conf'\n", ":1: include is not supported"),
                          ("=x\n", ":1: expected `name = value`")):
        with pytest.raises(UsageError, match=message):
            so.parse_config(write(tmp_path, "pg.conf", text), "postgres", get("postgres").owned_options)


def test_unusable_files_never_hang(tmp_path):
    fifo = str(tmp_path / "fifo")
    os.mkfifo(fifo)
    with pytest.raises(UsageError, match="not a regular file"):
        so.read_text(fifo)  # a plain open() would block until a writer came
    with pytest.raises(UsageError, match="not a regular file"):
        so.read_text(str(tmp_path))
    with pytest.raises(UsageError, match="No such file"):
        so.read_text(str(tmp_path / "missing"))
    big = write(tmp_path, "big.cnf", "#" * (so.MAX_FILE_BYTES + 1))
    with pytest.raises(UsageError, match="larger than 1 MiB"):
        so.read_text(big)
    unreadable = write(tmp_path, "secret.cnf", "x=1\n")
    os.chmod(unreadable, 0)
    if os.geteuid() != 0:  # root reads anything
        with pytest.raises(UsageError, match="Permission denied"):
            so.read_text(unreadable)


def test_cli_refuses_with_exit_2_before_anything_is_built(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HARNESS_STATE_DIR", str(tmp_path / "state"))
    for argv in (["run", "--db", "galera", "--workload", "set", "--server-opt", "datadir=/x"],
                 ["cluster", "up", "--db", "postgres", "--server-opt", "port=1"],
                 ["probe", "--db", "mariadb", "--server-opt", "socket=/x"],
                 ["cluster", "up", "--db", "galera", "--server-config", str(tmp_path / "none.cnf")],
                 ["run", "--db", "galera", "--workload", "set", "--cluster", "x", "--server-opt", "a=1"]):
        assert cli.main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1, err
    assert not (tmp_path / "state" / "clusters").exists() or not list((tmp_path / "state" / "clusters").iterdir())


def test_spec_carries_them_as_a_knob_and_validates(tmp_path):
    spec = TestSpec(db="galera", workload="set", knobs={"server_options": ["innodb_flush_log_at_trx_commit=0"]})
    spec.validate()
    assert TestSpec.from_dict({**spec.to_dict(), "server_options": ["x"], "settings": {}}).knobs == spec.knobs
    with pytest.raises(UsageError, match="wsrep_cluster_name is set by the harness"):
        TestSpec(db="galera", workload="set", knobs={"server_options": ["wsrep_cluster_name=x"]}).validate()


def test_matrix_cell_carries_server_options_in_its_knobs(tmp_path):
    write(tmp_path, "mine.cnf", "[mysqld]\ninnodb_flush_log_at_trx_commit=0\n")
    path = write(tmp_path, "m.toml", '[[cell]]\nname = "a"\ndb = "galera"\nserver_config = "mine.cnf"\n'
                 'server_options = ["n1:max_connections=50"]\n[[cell]]\nname = "b"\ndb = "galera"\n')
    a, b = load_matrix(path).cells
    assert a.knobs["server_options"] == ["innodb_flush_log_at_trx_commit=0", "n1:max_connections=50"]
    assert a.cluster_key != b.cluster_key  # never the same cluster for different server settings
    bad = write(tmp_path, "bad.toml", '[[cell]]\nname = "a"\ndb = "galera"\nserver_options = ["port=1"]\n')
    with pytest.raises(UsageError, match="cell 'a': --server-opt port=1: port is set by the harness"):
        load_matrix(bad)
    assert Cell(name="c", db="postgres", server_options=["work_mem=1MB"]).knobs == {"server_options": ["work_mem=1MB"]}


def test_a_tmpfs_data_dir_is_named_as_the_reason_crashes_lose_no_innodb_commit():
    from harness.cluster import state
    assert state.fs_type("/dev/shm") == "tmpfs" and state.fs_type("/proc/self") == "proc"
    dbdef, c = fake_cluster("galera", 3)
    for n in c.nodes:
        n.shares_host_fs = True
    c.nodes[0].datadir = "/dev/shm/engine-harness/x/n1/data"
    assert "memory-maps its redo log" in dbdef.crash_note(c)
    c.nodes[0].datadir = "/proc/x"
    assert dbdef.crash_note(c) is None
