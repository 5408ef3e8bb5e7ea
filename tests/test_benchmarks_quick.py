"""Benchmarks at their --quick size, end to end as a person runs them: exit status 0 and the issue's
targets in the final JSON line.

`python bench/run.py disclosure --quick` (issue 13): the auditor-as-attacker against 2,000 generated
cases (bench/disclosure.py); about 1.5 minutes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT_S = 300


def run_quick(name: str) -> dict[str, float]:
    answer = subprocess.run([sys.executable, "bench/run.py", name, "--quick"], cwd=ROOT, capture_output=True,
                            text=True, timeout=TIMEOUT_S, check=False)
    assert answer.returncode == 0, answer.stderr[-4000:]
    result = json.loads(answer.stdout.strip().splitlines()[-1])
    assert result["bench"] == name
    metrics: dict[str, float] = result["metrics"]
    return metrics


def test_disclosure_quick_meets_the_targets() -> None:
    metrics = run_quick("disclosure")
    assert metrics["control_exact_small_cells_count"] > 0  # the attack works on an exact publication
    assert metrics["noise_violations_count"] == 0
    assert metrics["exact_small_cells_count"] == 0
    assert metrics["min_k_timelines_count"] >= 11
    assert metrics["utility_error_ratio"] <= 0.05
    assert metrics["reidentified_share_ratio"] == 0
