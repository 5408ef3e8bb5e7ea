"""The code's layers hold by contract: import-linter checks the contracts in pyproject.toml
([tool.importlinter]) on every run of the suite, and each contract is shown to catch its attacker: a
copy of the package with one forbidden import added fails the check."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")


def lint(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(LINT), "--no-cache", "--config", str(root / "pyproject.toml")], cwd=root,
                          capture_output=True, text=True, timeout=300)


def test_the_contracts_hold() -> None:
    result = lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.fixture(scope="module")
def copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("layers")
    shutil.copytree(ROOT / "referral", root / "referral",
                    ignore=shutil.ignore_patterns("__pycache__", "static", "translations", "migrations"))
    shutil.copy(ROOT / "pyproject.toml", root / "pyproject.toml")
    return root


ATTACKS = [
    # (module, the import added, the contract it breaks)
    ("referral/workflow/engine.py", "import sqlalchemy", "The engine and the vault are plain Python"),
    ("referral/vault/__init__.py", "from flask import current_app", "The engine and the vault are plain Python"),
    ("referral/kernel/records.py", "from ..cases.intake import file_intake", "Case packages are layered"),
    ("referral/clocks/service.py", "from ..referrals.reading import is_team", "Case packages are layered"),
    ("referral/kernel/keystore.py", "from ..keys.rotation import rotate_master_key", "Case packages are layered"),
    ("referral/referrals/service.py", "from ..cases.transitions import fire", "Case packages are layered"),
    ("referral/cases/intake.py", "from flask import request", "import no web layer"),
    ("referral/kernel/access.py", "from ..web.context import ctx", "import no web layer"),
]


@pytest.mark.parametrize(("module", "line", "contract"), ATTACKS, ids=[a[0] + ":" + a[1] for a in ATTACKS])
def test_a_forbidden_import_is_caught(copy: Path, module: str, line: str, contract: str) -> None:
    path = copy / module
    original = path.read_text()
    # hidden inside a function, as cycles used to be: the contracts see those too
    path.write_text(original + f"\n\ndef _attack() -> None:\n    {line}  # noqa\n")
    try:
        result = lint(copy)
    finally:
        path.write_text(original)
    assert result.returncode == 1, result.stdout
    broken = result.stdout[result.stdout.index("Broken contracts"):]
    assert contract in broken
