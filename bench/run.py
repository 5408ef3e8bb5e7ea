"""Run one benchmark: `python bench/run.py NAME [--quick]` from the repository root.

Progress goes to stderr as it runs; stdout gets exactly one line at the end, JSON:
`{"bench": NAME, "metrics": {...}, "quick": false, "date": ..., "commit": ..., "machine": {...}}`:
every metric named with its unit as suffix (_s, _ms, _ratio, _bytes, _rps for requests per second, or
_count for sizes and counts); the run's UTC date and time, the commit measured (`-dirty` if the working tree differed) and
the machine (cores, processor, system, Python, SQLite, the 1-minute load average at the start and at
the end: other work on a shared machine slows every figure). An unknown NAME prints the usage and
exits with status 2.

A benchmark is a module `bench/<name>.py` with `run(quick: bool, progress) -> dict[str, float | int]`;
add it to BENCHMARKS below. Each builds its own throw-away databases: SQLite, and for `deadlines` also
PostgreSQL with Redis when they are reachable (it creates and drops its own database); `audit` measures
on PostgreSQL when reachable (100,000 cases, 4 million audit events), with SQLite at the --quick size beside it;
`disclosure` runs the auditor-as-attacker of bench/attacker.py against a generated population on SQLite.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import os
import platform
import re
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # `python bench/run.py` puts bench/ on the path, not the repository

# name -> "module:function"; the module is imported only when its benchmark runs.
BENCHMARKS: dict[str, str] = {
    "audit": "bench.audit:run",
    "deadlines": "bench.deadlines:run",
    "disclosure": "bench.disclosure:run",
    "encryption": "bench.encryption:run",
    "web": "bench.web:run",
}
METRIC_NAME = re.compile(r"[a-z][a-z0-9_]*_(s|ms|ratio|bytes|rps|count)")

Benchmark = Callable[[bool, Callable[[str], None]], dict[str, float | int]]


def load(name: str) -> Benchmark:
    module_name, function = BENCHMARKS[name].split(":")
    runner: Benchmark = getattr(importlib.import_module(module_name), function)
    return runner


def progress_printer() -> Callable[[str], None]:
    began = time.perf_counter()

    def progress(message: str) -> None:
        print(f"[{time.perf_counter() - began:7.1f}s] {message}", file=sys.stderr, flush=True)

    return progress


def revision() -> str:
    """The commit measured, `-dirty` if the working tree differs from it (other people edit the code too)."""
    try:
        answer = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"], capture_output=True,
                                text=True, timeout=10, check=False)
    except OSError:
        return "unknown"
    return answer.stdout.strip() or "unknown"


def processor() -> str:
    """The processor's model name (Linux), else what the platform says."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine(load_at_start: float) -> dict[str, object]:
    return {
        "cores": os.cpu_count(), "processor": processor(), "system": platform.platform(),
        "python": platform.python_version(), "sqlite": sqlite3.sqlite_version,
        "load_average_start": round(load_at_start, 2), "load_average_end": round(os.getloadavg()[0], 2),
    }


def checked(metrics: dict[str, float | int]) -> dict[str, float | int]:
    wrong = [name for name in metrics if not METRIC_NAME.fullmatch(name)]
    if wrong:
        raise ValueError(f"metric names must end with _s, _ms, _ratio, _bytes, _rps or _count: {', '.join(wrong)}")
    return metrics


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python bench/run.py", description="Run one benchmark; JSON on stdout.")
    parser.add_argument("name", choices=sorted(BENCHMARKS), metavar="NAME",
                        help=f"the benchmark: {', '.join(sorted(BENCHMARKS))}")
    parser.add_argument("--quick", action="store_true", help="a smaller data set and fewer repetitions")
    arguments = parser.parse_args(argv)  # an unknown NAME: usage on stderr, exit status 2
    progress = progress_printer()
    started, commit, load_at_start = dt.datetime.now(dt.UTC), revision(), os.getloadavg()[0]
    progress(f"benchmark {arguments.name}{' (quick)' if arguments.quick else ''}, code at {commit}")
    metrics = checked(load(arguments.name)(arguments.quick, progress))
    progress("done")
    print(json.dumps({"bench": arguments.name, "metrics": metrics, "quick": arguments.quick,
                      "date": started.isoformat(timespec="seconds"), "commit": commit,
                      "machine": machine(load_at_start)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
