"""The query-count guard (issue 17, item 2): every main page runs at most a declared number of SQL
statements, and that number does not grow with the rows a page shows, so an N+1 fails the suite.

Counted on the app's own engine (`before_cursor_execute`), per request, through the test client
signed in as a real demo user; real database (SQLite and PostgreSQL), real vault. Sign-in, the
server-side session and the audit write of a read are part of every count: they are what a request
costs.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask
from sqlalchemy import event

from referral.extensions import database

from .backends import both_backends
from .browser import Browser
from .factories import VICTIM_DOCUMENT
from .referrals import consent, refer
from .steps import LEAD, activate, file_case, fire, node_id

FOCAL = "coordinador.rm"  # regional focal point of the Metropolitana
LEAD_USER = "gestor.sernameg"  # works at SERNAMEG, the lead node steps.activate names
RECEIVER = "ong.incami"  # INCAMI, the node a referral of each case goes to
DETECTOR = "salud.rm"  # filed every case

# The most statements each page may run: (page, who) -> ceiling. Raise one only with a reason in the
# commit; docs/architecture.md «Queries per page» gives the counts before and after issue 17.
CEILINGS: dict[tuple[str, str], int] = {
    ("case", FOCAL): 24,
    ("case", LEAD_USER): 24,
    ("case", RECEIVER): 21,
    ("case", DETECTOR): 22,
    ("/bandeja/triaje", FOCAL): 11,
    ("/bandeja/por_aprobar", FOCAL): 8,
    ("/bandeja/casos_liderados", LEAD_USER): 11,
    ("/bandeja/informacion_pendiente", DETECTOR): 8,
    ("/casos", FOCAL): 10,
    ("/casos", LEAD_USER): 10,
    ("/mis-casos", LEAD_USER): 8,
    ("/derivaciones", RECEIVER): 8,
    ("/notificaciones", FOCAL): 6,
    ("/buscar", FOCAL): 9,
}


class StatementCounter:
    """Every statement the app's engine sends to the database while `counting` is open."""

    def __init__(self, app: Flask) -> None:
        self.engine = database.engine(app)
        self.statements: list[str] = []
        self._on = False
        event.listen(self.engine, "before_cursor_execute", self._seen)

    def _seen(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if self._on:
            self.statements.append(statement)

    @contextmanager
    def counting(self) -> Iterator[list[str]]:
        self.statements = []
        self._on = True
        try:
            yield self.statements
        finally:
            self._on = False

    def get(self, browser: Browser, url: str) -> list[str]:
        with self.counting() as statements:
            response = browser.get(url)
        assert response.status_code == 200, f"{url} answered {response.status_code}"
        return list(statements)

    def search(self, browser: Browser, query: str) -> list[str]:
        page = browser.get("/buscar")
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text) or \
            re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token, "the search page carries no CSRF token"
        with self.counting() as statements:
            response = browser.client.post("/buscar", data={"csrf_token": token.group(1), "q": query,
                                                            "nacimiento": ""})
        assert response.status_code == 200, f"/buscar answered {response.status_code}"
        return list(statements)


def signed_in(app: Flask, name: str) -> Browser:
    from referral.demo.network import DEMO_PASSWORD

    browser = Browser(app, DEMO_PASSWORD)
    assert browser.login(name).status_code == 302, f"{name} could not sign in"
    browser.get("/protocolo")  # the first page after signing in; not the one counted
    return browser


def referred_case(app: Flask) -> str:
    """A case in its plan: filed, activated with SERNAMEG leading, consented, referred to INCAMI."""
    reference = file_case(app, by=DETECTOR)
    activate(app, reference, LEAD)
    consent(app, reference)
    refer(app, reference, "INCAMI", by=LEAD_USER, service="alojamiento")
    return reference


def explain(statements: list[str]) -> str:
    return "\n".join(f"  {i + 1:2}. {' '.join(s.split())[:160]}" for i, s in enumerate(statements))


def page_counts(app: Flask, reference: str) -> dict[tuple[str, str], list[str]]:
    counter = StatementCounter(app)
    found: dict[tuple[str, str], list[str]] = {}
    browsers = {name: signed_in(app, name) for name in (FOCAL, LEAD_USER, RECEIVER, DETECTOR)}
    for page, who in CEILINGS:
        browser = browsers[who]
        if page == "case":
            found[page, who] = counter.get(browser, f"/casos/{reference}")
        elif page == "/buscar":
            found[page, who] = counter.search(browser, VICTIM_DOCUMENT)
        else:
            found[page, who] = counter.get(browser, page)
    return found


@both_backends
def test_every_main_page_runs_at_most_its_declared_statements(app: Flask) -> None:
    reference = referred_case(app)
    file_case(app, by=DETECTOR)  # and one waiting in triage
    over = []
    for (page, who), statements in page_counts(app, reference).items():
        if len(statements) > CEILINGS[page, who]:
            over.append(f"{page} as {who}: {len(statements)} > {CEILINGS[page, who]}\n{explain(statements)}")
    assert not over, "\n".join(over)


def _worklist_counts(app: Flask, cases: int) -> dict[str, int]:
    for _ in range(cases):
        reference = file_case(app, by=DETECTOR)
    fire(app, FOCAL, reference, "tomar_caso")  # one of them taken: rows of two states
    counter = StatementCounter(app)
    focal, lead = signed_in(app, FOCAL), signed_in(app, LEAD_USER)
    counts = {url: len(counter.get(focal, url)) for url in ("/bandeja/triaje", "/casos", "/notificaciones")}
    return counts | {"lead /casos": len(counter.get(lead, "/casos"))}


@both_backends
def test_a_worklist_runs_as_many_statements_for_twelve_rows_as_for_three(app: Flask) -> None:
    """The N+1 guard proper: four times the rows, not one statement more."""
    three = _worklist_counts(app, 3)
    twelve = _worklist_counts(app, 9)  # 9 more: 12 in the worklists
    assert twelve == three


def _party_recipient_statements(app: Flask, cases: int) -> tuple[int, int]:
    """(statements, parties) of one `party_recipients` call over the referrals of `cases` referred cases."""
    from sqlalchemy import select

    from referral.clocks.service import party_recipients
    from referral.kernel.referral_models import Referral

    from .units import unit_of_work

    for _ in range(cases):
        referred_case(app)
    counter = StatementCounter(app)
    with unit_of_work(app) as ctx:
        subjects = {str(rid) for rid in ctx.session.scalars(select(Referral.id))}
        with counter.counting() as statements:
            parties = party_recipients(ctx, subjects)
        assert all(parties.values()), "every party of a live referral has someone to tell"
        return len(statements), len(parties)


@both_backends
def test_the_parties_of_many_referrals_are_found_in_as_many_statements_as_of_few(app: Flask) -> None:
    """The guard fails when statements multiply with rows: `party_recipients` ran one query per party
    (4 parties: 4 queries; 12 parties: 12) before issue 17; now one for all of them."""
    few, few_parties = _party_recipient_statements(app, 2)
    many, many_parties = _party_recipient_statements(app, 4)  # 4 more: 6 referrals
    assert (few_parties, many_parties) == (4, 12)
    assert many == few


def badge(page: str, label: str) -> int:
    """The count the navigation shows beside `label` (0: none shown)."""
    found = re.search(rf">{re.escape(label)}(?: <span class=\"count\">(\d+)</span>)?</a>", page)
    assert found, f"the navigation has no «{label}»"
    return int(found.group(1) or 0)


@both_backends
def test_the_navigation_counts_are_right_right_after_each_step(app: Flask) -> None:
    """A step taken in another unit of work (another request, worker or process) shows in the navigation
    at once: it raised the change generation the cached counts are keyed on (tests/test_nav_count_cache.py)."""
    focal, shelter = signed_in(app, FOCAL), signed_in(app, RECEIVER)
    assert badge(focal.get("/protocolo").text, "Bandeja de triaje") == 0
    first, second = file_case(app, by=DETECTOR), file_case(app, by=DETECTOR)
    assert badge(focal.get("/protocolo").text, "Bandeja de triaje") == 2
    fire(app, FOCAL, first, "tomar_caso")
    fire(app, FOCAL, first, "activar", {"nodo_lider": str(node_id(app, LEAD)),
                                        "fundamento": "Indicadores claros de captación."})
    assert badge(focal.get("/protocolo").text, "Bandeja de triaje") == 1
    assert badge(shelter.get("/protocolo").text, "Derivaciones") == 0
    consent(app, first)
    refer(app, first, "INCAMI", by=LEAD_USER, service="alojamiento")
    assert badge(shelter.get("/protocolo").text, "Derivaciones") == 1
    assert second


@both_backends
def test_a_case_opened_twice_in_a_unit_is_read_once_until_something_is_written(app: Flask) -> None:
    """open_case answers a second read from the unit of work, and reads again after any write: a
    relation ended in between (by a bulk UPDATE or by a flushed change) is refused at once."""
    import pytest
    from sqlalchemy import update

    from referral.kernel.access import open_case
    from referral.kernel.errors import AccessDenied
    from referral.kernel.models import Participant

    from .steps import user
    from .units import unit_of_work

    reference = referred_case(app)
    counter = StatementCounter(app)
    with unit_of_work(app) as ctx:
        shelter = user(ctx, RECEIVER)
        case, actor = open_case(ctx, shelter, reference)
        with counter.counting() as statements:
            assert open_case(ctx, shelter, reference) == (case, actor)
        assert statements == []
        ctx.session.execute(update(Participant).where(Participant.case_id == case.id,
                                                      Participant.node_id == shelter.node_id).values(active=False))
        with pytest.raises(AccessDenied):
            open_case(ctx, shelter, reference)
    with unit_of_work(app) as ctx:
        shelter = user(ctx, RECEIVER)
        case, _ = open_case(ctx, shelter, reference)
        for row in case.participants:
            if row.node_id == shelter.node_id:
                row.active = False  # pending, not yet flushed: the next open must not answer from memory
        with pytest.raises(AccessDenied):
            open_case(ctx, shelter, reference)
