"""The run record: what a run writes beside the checker's result, in results.json and test.json.

One place names these keys and their types: the runner writes them, `harness analyze` keeps them,
the report and `harness serve` read them. The checker's own part of results.json (valid,
anomaly_types, anomalies, not, also_not, stats) is checkers.api's; a result with no verdict is
`checkers.api.unknown_result(...)`.

    results.json = checker result + run_results(...)   (DESIGN: "the check object plus run metadata")
    test.json    = spec.to_dict() + test_record(...)    (the spec, enough to rerun, plus run facts)
"""
from __future__ import annotations

import dataclasses
import json
import shlex
import time

# results.json's run metadata, each with the type a run writes. `harness analyze` keeps exactly
# these (the verdict is recomputed; model and run_dir are set anew); anything else in a damaged or
# hand-edited file is dropped. `error` is the old check's own error line, kept to tell it apart
# from the run's `errors`.
RUN_META = {"test": str, "db": str, "workload": str, "backend": str, "topology": list, "isolation": str,
            "routing": str, "nemesis": list, "seed": int, "versions": dict, "run": dict,
            "nemesis_notes": list, "lag": dict, "errors": list, "error": str, "server_options": list,
            "settings": dict, "started": str, "command": list}

# What test.json holds besides the spec: facts about the run (not settings to rerun with);
# TestSpec.from_dict drops them.
TEST_RECORD = ("cluster", "topology", "nemesis_info", "server_options", "settings", "started", "command")

# TestSpec's fields that are not one flag each: given as repeated --knob / --opt pairs.
PAIR_FLAGS = (("knobs", "--knob"), ("workload_opts", "--opt"))


def started_now() -> str:
    """The run's start, ISO 8601 UTC to the second (as the run dir's name, which is local to the store)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def rerun_argv(spec: dict) -> list[str]:
    """`harness run ...` for a spec dict (TestSpec.to_dict() or test.json), every setting explicit:
    the seed the run drew included, so the op stream is the same."""
    from harness.spec import TestSpec   # here: harness.spec reads this module's TEST_RECORD
    argv = ["harness", "run"]
    for key in (f.name for f in dataclasses.fields(TestSpec) if f.name not in dict(PAIR_FLAGS)):
        value = spec.get(key, spec.get(key.replace("_", "-")))
        if value in (None, "", [], False):
            continue
        flag = "--" + key.replace("_", "-")
        if value is True:           # a switch (--history-compress)
            argv.append(flag)
            continue
        if isinstance(value, (list, tuple)):
            value = ",".join(str(v) for v in value)
        argv += [flag, str(value)]
    for key, flag in PAIR_FLAGS:
        for k, v in (spec.get(key) or {}).items():
            argv += [flag, f"{k}={v if isinstance(v, str) else json.dumps(v)}"]
    return argv


def rerun_command(spec: dict) -> str:
    """rerun_argv as one shell line."""
    return shlex.join(rerun_argv(spec))


def _as_run(spec) -> dict:
    """The spec as run: the model it was judged against named, not left to the isolation's default."""
    return {**spec.to_dict(), "model": spec.checker_model}


def test_record(spec, cluster_name: str, topology: list, server: dict, started: str) -> dict:
    """test.json: the spec, and the facts known before the run starts (no results.json yet)."""
    return {**_as_run(spec), "cluster": cluster_name, "topology": topology, **server,
            "started": started, "command": rerun_argv(_as_run(spec))}


def run_results(result: dict, spec, *, topology: list, versions: dict, server: dict, run_dir,
                facts: dict, started: str) -> dict:
    """results.json after a run: the checker's result and the run's metadata (RUN_META's keys)."""
    return {**result,
            "test": spec.test_name, "db": spec.db, "workload": spec.workload,
            "backend": spec.backend, "topology": topology,
            "isolation": spec.isolation, "model": spec.checker_model,
            "routing": spec.routing, "nemesis": list(spec.nemesis),
            "seed": spec.seed, "versions": versions, **server, "run_dir": str(run_dir),
            "errors": facts["errors"] + ([result["error"]] if result.get("error") else []),
            "run": {k: facts[k] for k in ("seconds", "main_seconds", "throughput", "main_ops",
                                           "counts", "processes", "op_errors", "notes",
                                           "sticky_mapping", "network")},
            "nemesis_notes": facts["nemesis_notes"], "lag": facts["lag"],
            "started": started, "command": rerun_argv(_as_run(spec))}


def kept_meta(old) -> dict:
    """The run metadata of an old results.json that `harness analyze` carries over (RUN_META)."""
    if not isinstance(old, dict):
        return {}
    kept = {k: old[k] for k, t in RUN_META.items() if isinstance(old.get(k), t)}
    for k in ("errors", "nemesis", "nemesis_notes", "command"):  # lists of words
        if k in kept:
            kept[k] = [e for e in kept[k] if isinstance(e, str)]
    return kept


def analyzed_results(result: dict, old: dict, spec, run_dir) -> dict:
    """results.json after `harness analyze`: the new check, the old run's metadata (kept_meta), the
    errors of the run itself with the old check's error replaced by the new one's."""
    results = {**result, **{k: v for k, v in old.items() if k not in ("errors", "error")},
               "model": spec.checker_model, "run_dir": str(run_dir),
               "errors": [e for e in old.get("errors", []) if e != old.get("error")]
               + ([result["error"]] if result.get("error") else [])}
    results.setdefault("test", spec.test_name)
    results.setdefault("db", spec.db)
    results.setdefault("workload", spec.workload)
    return results
