"""Authorisation matrices written as tables: one line per route, one status column per user."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import NamedTuple


class Cell(NamedTuple):
    method: str
    path: str  # with {placeholders}
    user: str
    status: int


def parse(table: str, users: Sequence[str]) -> list[Cell]:
    """`METHOD /path code code ...` lines (one code per user, in `users` order); `#` lines are comments."""
    cells = []
    for line in table.strip().splitlines():
        if line.lstrip().startswith("#"):
            continue
        method, path, *codes = line.split()
        assert len(codes) == len(users), f"{path}: {len(codes)} columns"
        cells += [Cell(method, path, user, int(code)) for user, code in zip(users, codes, strict=True)]
    return cells


def shown(path: str) -> str:
    return re.sub(r"{(\w+)}", r"<\1>", path)


def cell_id(cell: Cell) -> str:
    return f"{cell.method} {shown(cell.path)} as {cell.user}"
