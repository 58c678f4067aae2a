"""Operating a deployed team stack from the command line: lineage, rebuild, invoking handlers.

These run against AWS, or the emulator when AWS_ENDPOINT_URL is set, and reuse the handlers' own
`common` package so the CLI and the Lambdas cannot disagree on manifests, runs or training jobs.
"""
from __future__ import annotations

import sys
from pathlib import Path

_LAMBDAS = str(Path(__file__).resolve().parent.parent / "lambdas")
if _LAMBDAS not in sys.path:
    sys.path.insert(0, _LAMBDAS)
