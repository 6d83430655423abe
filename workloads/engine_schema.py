"""Camunda 7's tables, as far as the modelled commands touch them, in both dialects.

Table and column names and types follow Camunda's create scripts
(engine/src/main/resources/org/camunda/bpm/engine/db/create/activiti.{mysql,postgres}.create.engine.sql),
so a reader of a report recognises their own tables. Columns the modelled commands never touch are
left out. Two deliberate facts of the real schema matter to the verdicts:
  - ACT_RU_VARIABLE has ACT_UNIQ_VARIABLE unique (VAR_SCOPE_, NAME_);
  - ACT_RE_PROCDEF has NO unique constraint on (KEY_, VERSION_): only the deployment lock
    (SELECT ... FOR UPDATE on ACT_GE_PROPERTY 'deployment.lock') keeps versions unique.
One table is not the engine's: HARNESS_EFFECT is the ledger of the outside world a service task or
a message handler acts on (a payment charged), so that doing it twice is visible.
"""
from __future__ import annotations

from workloads.base import table_options

# the property rows the engine seeds (DbSqlSession's create scripts and later upgrades)
SEED_PROPERTIES = [
    ("schema.version", "fox"),
    ("next.dbid", "1"),
    ("deployment.lock", "0"),
    ("history.cleanup.job.lock", "0"),
    ("startup.lock", "0"),
    ("installationId.lock", "0"),
]

# column type names per dialect (Camunda's own choices: TINYINT vs boolean, LONGBLOB vs bytea)
_TYPES = {
    "mysql": {"id": "varchar(64)", "str": "varchar(255)", "text": "varchar(4000)", "int": "integer",
              "long": "bigint", "bool": "TINYINT", "time": "datetime(3)", "bytes": "LONGBLOB"},
    "postgres": {"id": "varchar(64)", "str": "varchar(255)", "text": "varchar(4000)", "int": "integer",
                 "long": "bigint", "bool": "boolean", "time": "timestamp(3)", "bytes": "bytea"},
}

# table -> [(column, type, extra)], the primary key first
TABLES = {
    "ACT_GE_PROPERTY": [("NAME_", "varchar(64)", "NOT NULL"), ("VALUE_", "varchar(300)", ""),
                        ("REV_", "int", "")],
    "ACT_GE_BYTEARRAY": [("ID_", "id", "NOT NULL"), ("REV_", "int", ""), ("NAME_", "str", ""),
                         ("DEPLOYMENT_ID_", "id", ""), ("BYTES_", "bytes", ""), ("GENERATED_", "bool", ""),
                         ("TYPE_", "int", ""), ("CREATE_TIME_", "time", "")],
    "ACT_RE_DEPLOYMENT": [("ID_", "id", "NOT NULL"), ("NAME_", "str", ""), ("DEPLOY_TIME_", "time", "")],
    "ACT_RE_PROCDEF": [("ID_", "id", "NOT NULL"), ("REV_", "int", ""), ("KEY_", "str", "NOT NULL"),
                       ("VERSION_", "int", "NOT NULL"), ("DEPLOYMENT_ID_", "id", ""),
                       ("RESOURCE_NAME_", "text", ""), ("SUSPENSION_STATE_", "int", "")],
    "ACT_RU_EXECUTION": [("ID_", "id", "NOT NULL"), ("REV_", "int", ""), ("PROC_INST_ID_", "id", ""),
                         ("BUSINESS_KEY_", "str", ""), ("PARENT_ID_", "id", ""), ("PROC_DEF_ID_", "id", ""),
                         ("ACT_ID_", "str", ""), ("ACT_INST_ID_", "id", ""), ("IS_ACTIVE_", "bool", ""),
                         ("IS_SCOPE_", "bool", ""), ("SUSPENSION_STATE_", "int", ""),
                         ("SEQUENCE_COUNTER_", "long", "")],
    "ACT_RU_VARIABLE": [("ID_", "id", "NOT NULL"), ("REV_", "int", ""), ("TYPE_", "str", "NOT NULL"),
                        ("NAME_", "str", "NOT NULL"), ("EXECUTION_ID_", "id", ""), ("PROC_INST_ID_", "id", ""),
                        ("BYTEARRAY_ID_", "id", ""), ("LONG_", "long", ""), ("TEXT_", "text", ""),
                        ("VAR_SCOPE_", "id", "NOT NULL"), ("SEQUENCE_COUNTER_", "long", "")],
    "ACT_RU_TASK": [("ID_", "id", "NOT NULL"), ("REV_", "int", ""), ("EXECUTION_ID_", "id", ""),
                    ("PROC_INST_ID_", "id", ""), ("PROC_DEF_ID_", "id", ""), ("NAME_", "str", ""),
                    ("DESCRIPTION_", "text", ""), ("TASK_DEF_KEY_", "str", ""), ("CREATE_TIME_", "time", ""),
                    ("SUSPENSION_STATE_", "int", "")],
    "ACT_RU_JOB": [("ID_", "id", "NOT NULL"), ("REV_", "int", ""), ("TYPE_", "str", "NOT NULL"),
                   ("LOCK_EXP_TIME_", "time", "NULL"), ("LOCK_OWNER_", "str", ""), ("EXCLUSIVE_", "bool", ""),
                   ("EXECUTION_ID_", "id", ""), ("PROCESS_INSTANCE_ID_", "id", ""),
                   ("PROCESS_DEF_KEY_", "id", ""), ("RETRIES_", "int", ""), ("DUEDATE_", "time", "NULL"),
                   ("HANDLER_TYPE_", "str", ""), ("HANDLER_CFG_", "text", ""), ("SUSPENSION_STATE_", "int", ""),
                   ("PRIORITY_", "long", "NOT NULL DEFAULT 0"), ("SEQUENCE_COUNTER_", "long", "")],
    "ACT_RU_EVENT_SUBSCR": [("ID_", "id", "NOT NULL"), ("REV_", "int", ""), ("EVENT_TYPE_", "str", "NOT NULL"),
                            ("EVENT_NAME_", "str", ""), ("EXECUTION_ID_", "id", ""), ("PROC_INST_ID_", "id", ""),
                            ("ACTIVITY_ID_", "id", ""), ("CREATED_", "time", "NOT NULL")],
    "ACT_HI_ACTINST": [("ID_", "id", "NOT NULL"), ("PROC_DEF_KEY_", "str", ""), ("PROC_DEF_ID_", "id", ""),
                       ("PROC_INST_ID_", "id", "NOT NULL"), ("EXECUTION_ID_", "id", "NOT NULL"),
                       ("ACT_ID_", "str", "NOT NULL"), ("TASK_ID_", "id", ""), ("ACT_TYPE_", "str", "NOT NULL"),
                       ("START_TIME_", "time", "NOT NULL"), ("SEQUENCE_COUNTER_", "long", "")],
    "HARNESS_EFFECT": [("ID_", "str", "NOT NULL"), ("KIND_", "str", "NOT NULL"), ("TARGET_", "id", "NOT NULL"),
                       ("ATTEMPT_", "long", "NOT NULL"), ("NODE_", "str", "")],
}

INDEXES = [
    "CREATE INDEX ACT_IDX_EXEC_BUSKEY ON ACT_RU_EXECUTION (BUSINESS_KEY_)",
    "CREATE INDEX ACT_IDX_PROCDEF_KEY ON ACT_RE_PROCDEF (KEY_)",
    "CREATE INDEX ACT_IDX_VARIABLE_EXEC ON ACT_RU_VARIABLE (EXECUTION_ID_)",
    "CREATE INDEX ACT_IDX_TASK_EXEC ON ACT_RU_TASK (EXECUTION_ID_)",
    "CREATE INDEX ACT_IDX_JOB_PROCINST ON ACT_RU_JOB (PROCESS_INSTANCE_ID_)",
    "CREATE INDEX ACT_IDX_JOB_HANDLER ON ACT_RU_JOB (HANDLER_TYPE_)",
    "CREATE INDEX ACT_IDX_EVENT_SUBSCR ON ACT_RU_EVENT_SUBSCR (PROC_INST_ID_, EVENT_NAME_)",
    "CREATE INDEX ACT_IDX_HI_ACT_INST_PROCINST ON ACT_HI_ACTINST (PROC_INST_ID_)",
    "CREATE INDEX ACT_IDX_BYTEARRAY_NAME ON ACT_GE_BYTEARRAY (NAME_)",
    # the engine's own unique constraint: one variable of a name per scope
    "ALTER TABLE ACT_RU_VARIABLE ADD CONSTRAINT ACT_UNIQ_VARIABLE UNIQUE (VAR_SCOPE_, NAME_)",
]
# Not Camunda's: an application that forbids two running orders per business key adds this
# (the workload's `unique` option), so a duplicate start is a constraint violation on one database.
UNIQUE_BUSINESS_KEY = "CREATE UNIQUE INDEX APP_UNIQ_EXEC_BUSKEY ON ACT_RU_EXECUTION (BUSINESS_KEY_)"


def ddl(dialect: str, unique_business_key: bool) -> list[str]:
    """CREATE TABLE / INDEX statements and the seed rows, in order."""
    types = _TYPES[dialect]
    out = []
    for table, cols in TABLES.items():
        body = ", ".join(f"{name} {types.get(kind, kind)}{' ' + extra if extra else ''}"
                         for name, kind, extra in cols)
        out.append(f"CREATE TABLE {table} ({body}, PRIMARY KEY ({cols[0][0]})){table_options(dialect)}")
    out += INDEXES
    if unique_business_key:
        out.append(UNIQUE_BUSINESS_KEY)
    out += [f"INSERT INTO ACT_GE_PROPERTY (NAME_, VALUE_, REV_) VALUES ('{n}', '{v}', 1)"
            for n, v in SEED_PROPERTIES]
    return out


# what the final read dumps of every node: table -> columns in dump order (ordered by the first)
DUMP = {
    "ACT_GE_PROPERTY": ["NAME_", "VALUE_", "REV_"],
    "ACT_RE_PROCDEF": ["ID_", "KEY_", "VERSION_", "DEPLOYMENT_ID_"],
    "ACT_RU_EXECUTION": ["ID_", "REV_", "BUSINESS_KEY_", "ACT_INST_ID_", "SEQUENCE_COUNTER_"],
    "ACT_RU_VARIABLE": ["ID_", "REV_", "EXECUTION_ID_", "NAME_", "TEXT_", "BYTEARRAY_ID_"],
    "ACT_GE_BYTEARRAY": ["ID_", "REV_", "NAME_", "BYTES_"],
    "ACT_RU_TASK": ["ID_", "REV_", "EXECUTION_ID_", "DESCRIPTION_"],
    "ACT_RU_JOB": ["ID_", "REV_", "PROCESS_INSTANCE_ID_", "HANDLER_TYPE_", "HANDLER_CFG_", "LOCK_OWNER_"],
    "ACT_RU_EVENT_SUBSCR": ["ID_", "REV_", "PROC_INST_ID_", "EVENT_NAME_"],
    "ACT_HI_ACTINST": ["ID_", "PROC_INST_ID_", "SEQUENCE_COUNTER_", "ACT_ID_"],
    "HARNESS_EFFECT": ["ID_", "KIND_", "TARGET_", "ATTEMPT_", "NODE_"],
}
