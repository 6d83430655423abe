"""Workloads: a seeded generator + a SQL client + the checker that judges the history."""
