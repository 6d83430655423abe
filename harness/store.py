"""The store: where runs live. `store/<test-name>/<YYYYmmddTHHMMSS>/` + `store/latest` -> newest run.

Files in a run dir (DESIGN.md): history.jsonl (or history.jsonl.gz), results.json, test.json, harness.log, the report.
"""
from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

HISTORY = "history.jsonl"
HISTORY_GZ = "history.jsonl.gz"   # with --history-compress
RESULTS = "results.json"
TEST = "test.json"
LOG = "harness.log"


def history_path(run_dir) -> Path:
    """The run's history file: history.jsonl, or history.jsonl.gz when the run compressed it (the
    plain one when neither exists, for the message that says it is missing)."""
    gz = Path(run_dir) / HISTORY_GZ
    return gz if gz.exists() and not (Path(run_dir) / HISTORY).exists() else Path(run_dir) / HISTORY


def safe_name(name: str) -> str:
    """A test name usable as one directory name."""
    return re.sub(r"[^A-Za-z0-9._+-]+", "_", name).strip("._") or "test"


def new_run_dir(store: str | os.PathLike, test_name: str) -> Path:
    """Create and return a fresh run directory (a suffix keeps two runs in one second apart)."""
    base = Path(store) / safe_name(test_name)
    base.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    for n in range(1000):
        run_dir = base / (stamp if n == 0 else f"{stamp}-{n}")
        try:
            run_dir.mkdir()
        except FileExistsError:
            continue
        return run_dir
    raise RuntimeError(f"cannot create a run directory under {base}")


def update_latest(store: str | os.PathLike, run_dir: Path) -> Path:
    """Point `store/latest` at run_dir (relative symlink, replaced atomically)."""
    store = Path(store)
    link = store / "latest"
    tmp = store / f".latest.{os.getpid()}"
    target = os.path.relpath(Path(run_dir).resolve(), store.resolve())
    try:
        tmp.unlink()
    except FileNotFoundError:
        pass
    os.symlink(target, tmp)
    os.replace(tmp, link)
    return link


def latest(store: str | os.PathLike) -> Path | None:
    """The newest run directory, or None."""
    link = Path(store) / "latest"
    return link.resolve() if link.exists() else None


def write_json(path: Path, data) -> None:
    """Write JSON atomically (readers never see half a file)."""
    tmp = Path(str(path) + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")
    os.replace(tmp, path)


def read_json(path: Path):
    return json.loads(Path(path).read_text())


def runs(store: str | os.PathLike) -> list[Path]:
    """Every run dir in the store (those with a test.json), oldest first."""
    found = [p.parent for p in Path(store).glob(f"*/*/{TEST}")]
    return sorted(found, key=lambda p: p.name)
