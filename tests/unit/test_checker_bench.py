"""The checker benchmark script runs end to end on a small history (the real sizes are in bench/)."""
import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_checker.py"


def test_benchmark_runs_and_reports(tmp_path):
    r = subprocess.run([sys.executable, str(BENCH), "--txns", "3000", "--repeat", "1", "--keep", str(tmp_path)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    row = json.loads(lines[-1])
    assert "check/parse ratio" in lines[-2] and f"{row['ratio_cpu']:.2f}x CPU" in lines[-2]
    assert row["valid"] is True and row["anomalies"] == []
    assert row["txns"] >= 3000
    assert row["check_s"] > 0 and row["parse_s"] > 0 and row["check_peak_rss_mb"] > 0
    assert row["check_cpu_s"] > 0 and row["parse_cpu_s"] > 0
    assert list(tmp_path.glob("list-append-3000-*.jsonl"))
