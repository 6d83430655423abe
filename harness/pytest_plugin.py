"""pytest plugin for nightly jobs: the `harness_run` fixture (see issue 7; filled in by the report work)."""
