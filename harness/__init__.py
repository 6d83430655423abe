"""Jepsen-style harness: the wiring (CLI, runner, store, report, cluster backends)."""
