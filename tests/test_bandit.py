"""bandit, the static security checker, finds nothing in referral/ at any severity or confidence but
what pyproject.toml's [tool.bandit] skips or accepts, each with its reason (issue 14)."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from referral.config import PROJECT_ROOT

PYPROJECT = PROJECT_ROOT / "pyproject.toml"


def accepted() -> dict[str, str]:
    return dict(tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["tool"]["bandit"]["accepted"])


def key(finding: dict[str, Any]) -> str:
    return f"{finding['test_id']} {Path(finding['filename']).as_posix()}"


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    # --ignore-nosec: a `# nosec` comment in the code hides nothing; the one list is pyproject.toml's
    ran = subprocess.run([sys.executable, "-m", "bandit", "-c", str(PYPROJECT), "-r", "referral", "-f", "json", "-q",
                          "--ignore-nosec"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    assert ran.returncode in (0, 1), ran.stderr
    result: dict[str, Any] = json.loads(ran.stdout)
    assert not result["errors"], result["errors"]
    assert result["metrics"]["_totals"]["loc"] > 10_000  # it did read the package
    return result


def test_bandit_finds_nothing_but_what_is_accepted_with_a_reason(report: dict[str, Any]) -> None:
    new = [f"{key(f)}:{f['line_number']} [{f['issue_severity']}/{f['issue_confidence']}] {f['issue_text']}"
           for f in report["results"] if key(f) not in accepted()]
    assert not new, "fix these, or accept them in pyproject.toml [tool.bandit.accepted] with a reason:\n" + "\n".join(new)


def test_every_accepted_finding_still_exists_and_has_a_reason(report: dict[str, Any]) -> None:
    found = {key(f) for f in report["results"]}
    assert not set(accepted()) - found, "no longer found: remove from [tool.bandit.accepted]"
    assert all(len(reason) > 20 for reason in accepted().values())


def test_the_checker_reports_a_planted_password_pickle_and_shell_call(tmp_path: Path) -> None:
    """The same command over a planted file reports it: the test above can fail."""
    (tmp_path / "planted.py").write_text('import pickle, subprocess\nPASSWORD = "hunter2"\n'
                                         'def load(b):\n    return pickle.loads(b)\n'
                                         'def run(c):\n    subprocess.call(c, shell=True)\n')
    ran = subprocess.run([sys.executable, "-m", "bandit", "-c", str(PYPROJECT), "-r", str(tmp_path), "-f", "json",
                          "-q", "--ignore-nosec"], capture_output=True, text=True, timeout=120)
    assert {f["test_id"] for f in json.loads(ran.stdout)["results"]} >= {"B105", "B301", "B602"}
