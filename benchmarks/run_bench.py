#!/usr/bin/env python
"""Thin wrapper: ``python benchmarks/run_bench.py ARTIFACT_DIR [options]`` == ``ijepa-bench ...``.

The harness lives in the installed package (``ijepa_deploy.exporters.benchmark`` and
``ijepa_deploy.exporters.bench_report``) so ``ijepa-bench`` works after ``pip install``; this
directory holds the committed reports (``results/``) and what we learned (``README.md``).
"""

import sys

from ijepa_deploy.cli.bench import main

if __name__ == "__main__":
    main(sys.argv[1:])
