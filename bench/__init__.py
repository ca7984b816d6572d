"""The benchmark harness (issue 9): every figure next to a raw baseline measured in the same run.

    make bench          # full sizes (3 million certificates, 1,000 cascades, 100,000-certificate revocation)
    make bench-quick    # small sizes, for CI: the harness runs end to end, no thresholds
    .venv/bin/python -m bench --help

Services run as OS processes (`conformity_devstack.stack.Stack`, uvicorn, as `make run` starts
them) against the project's local Kafka broker; results are printed as a table and written
as JSON (and Markdown) under bench/results/. BENCHMARKS.md holds a full run and its reading.
"""
