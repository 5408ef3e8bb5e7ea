"""Fixtures of the per-country application tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..conftest import Clock
from .peru import PeruBrowser, peru_app


@pytest.fixture
def peru(backend: str, tmp_path: Path, clock: Clock) -> Iterator[Any]:
    """create_app with WORKFLOW=peru on a fresh database holding Peru's directory and demo accounts."""
    yield from peru_app(backend, tmp_path, clock)


@pytest.fixture
def peru_browser(peru: Any) -> Any:
    """A new browser for Peru's accounts at each call."""
    return lambda: PeruBrowser(peru)
