"""Helpers for the tests and the benchmarks, not shipped with the package (pyproject packages only
harness, workloads, nemesis and checkers): simulated histories, synthetic run directories and
hand-built histories. Found from the repo root (pytest's rootdir, or the bench scripts' sys.path).

    list_append_sim  a seeded atomic list-append store (+ planted faults)
    engine_sim       the save-resume workload against one atomic in-memory engine database
    synthetic        run directories with a planted verdict, for the report and `harness serve`
    histories        small histories written by hand (hist, seq) and as Jepsen EDN (to_edn)
    atom             an in-memory cluster (one shared SQLite database, serial transactions)
                     for running harness.runner.run_test without root
"""
