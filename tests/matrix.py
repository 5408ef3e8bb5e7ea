"""Authorisation matrices written as tables: one line per route, one status column per user."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from flask import Flask


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


# -- the users and the world a matrix runs against ------------------------------------------------

ANON = "anonymous"
# A matrix runs for many minutes with one client per user; sensitive steps (@recently_verified) need a proof of
# identity from the last REAUTH_MINUTES (10), so a client older than this confirms again, as a person would.
RECONFIRM_AFTER = 5 * 60


class Client:
    """A test client signed in as one demo user (or anonymous), with a CSRF token of its session."""

    def __init__(self, app: Flask, name: str):
        from referral.demo.network import DEMO_PASSWORD

        from .browser import Browser, hidden_inputs

        self.name = name
        self.browser = browser = Browser(app, DEMO_PASSWORD)
        self.http = browser.client
        if name != ANON:
            assert browser.login(name).status_code == 302, f"{name} could not sign in"
        self.verified = time.monotonic()
        page = self.http.get("/ingresar" if name == ANON else "/protocolo")
        self.token = hidden_inputs(page.text)["csrf_token"]

    def request(self, method: str, path: str, data: dict[str, str] | None = None, *, token: bool = True) -> Any:
        if self.name != ANON and time.monotonic() - self.verified > RECONFIRM_AFTER:
            assert self.browser.confirm(self.name).status_code == 303, f"{self.name} could not confirm"
            self.verified = time.monotonic()
        if method == "GET":
            return self.http.get(path)
        return self.http.post(path, data={**({"csrf_token": self.token} if token else {}), **(data or {})})


@dataclass
class World:
    """An application, the values of a matrix's {placeholders}, and one signed-in client per user."""

    app: Flask
    values: dict[str, str]
    clients: dict[str, Client] = field(default_factory=dict)

    def client(self, name: str, *, fresh: bool = False) -> Client:
        if fresh:
            return Client(self.app, name)
        if name not in self.clients:
            self.clients[name] = Client(self.app, name)
        return self.clients[name]

    def url(self, template: str) -> str:
        return template.format(**self.values)
