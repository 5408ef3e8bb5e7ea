"""A burst of auditors' queries: past AUDIT_QUERY_LIMIT (per signed-in user, the four statistics pages
counted together) the page answers 429 with the usual error page, and the audit log records one
`audit.query_burst` event (role, node, page, limit: never what was asked), listed under Excepciones.

Rate limits are off in tests; these build an app with them on, as tests/test_login.py does.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from typing import Any

import pytest

from flask import Flask
from sqlalchemy import select

from referral import create_app
from referral.audit.models import AuditEvent
from referral.audit.service import verify_log
from referral.auth.models import User
from referral.auth.passwords import hash_password
from referral.demo.network import DEMO_PASSWORD
from referral.extensions import database
from referral.network.models import Node

from ..backends import both_backends
from ..browser import Browser
from ..units import unit_of_work

LIMIT = "20 per hour;3 per minute"
BREACHED = "3 per 1 minute"  # how the log names the limit that was exceeded
SLOW_DOWN = "Demasiadas consultas en poco tiempo; espere unos minutos."
# a query with filter values: none of them may reach the audit log
QUERY = "/auditoria/estadisticas?region=CL-TA&tipo=laboral&since=2026-01-01"


@pytest.fixture
def limited(database_url: str, tmp_path: Any, clock: Any) -> Iterator[Flask]:
    """The app with rate limits on (in memory: each app counts alone)."""
    from ..conftest import _settings

    settings = _settings(tmp_path / "limited", database_url, clock)
    settings.update({"RATELIMIT_ENABLED": True, "RATELIMIT_STORAGE_URI": "memory://", "AUDIT_QUERY_LIMIT": LIMIT})
    app = create_app(settings)
    yield app
    database.engine(app).dispose()


def signed_in(app: Flask, name: str) -> Browser:
    browser = Browser(app, DEMO_PASSWORD)
    assert browser.login(name).status_code == 302
    return browser


def add_auditor(app: Flask, name: str, node: str = "SERMIG") -> None:
    with unit_of_work(app) as ctx:
        ctx.session.add(User(email=f"{name}@demo.cl", display_name=f"Auditoría {name}", role="auditor",
                             password_hash=hash_password(DEMO_PASSWORD, "test"),
                             node_id=ctx.session.scalar(select(Node.id).where(Node.code == node)), active=True))
        ctx.session.commit()


def bursts(app: Flask) -> list[AuditEvent]:
    with unit_of_work(app) as ctx:
        rows = list(ctx.session.scalars(select(AuditEvent).where(AuditEvent.action == "audit.query_burst")
                                        .order_by(AuditEvent.seq)))
        ctx.session.expunge_all()
    return rows


def node_of(app: Flask, name: str) -> int:
    with unit_of_work(app) as ctx:
        return ctx.session.scalar(select(User.node_id).where(User.email == f"{name}@demo.cl"))


@both_backends
def test_a_burst_past_the_limit_gets_429_and_one_audit_event_with_codes_only(limited: Flask) -> None:
    app = limited
    auditor = signed_in(app, "auditor")
    assert [auditor.get(QUERY).status_code for _ in range(3)] == [200, 200, 200]

    refused = auditor.get(QUERY)
    assert refused.status_code == 429
    assert SLOW_DOWN in html.unescape(refused.text)
    assert "Volver al inicio" in refused.text  # the application's error page, not Flask-Limiter's
    assert [auditor.get(QUERY).status_code for _ in range(3)] == [429, 429, 429]

    events = bursts(app)
    assert len(events) == 1  # once per window of the exceeded limit, not once per refused request
    event = events[0]
    assert (event.actor_role, event.actor_node_id, event.case_pseudonym, event.subject) == \
        ("auditor", node_of(app, "auditor"), None, None)
    assert event.details == {"endpoint": "stats.statistics", "limit": BREACHED}
    logged = repr((event.details, event.subject, event.case_pseudonym))
    for value in ("CL-TA", "laboral", "2026-01-01", "region", "auditor@demo.cl"):
        assert value not in logged
    with unit_of_work(app) as ctx:
        assert verify_log(ctx.session)[1] is None


def test_the_four_pages_share_one_count(limited: Flask) -> None:
    app = limited
    auditor = signed_in(app, "auditor")
    assert [auditor.get(url).status_code for url in ("/auditoria/estadisticas", "/auditoria/tablero",
                                                     "/auditoria/casos")] == [200, 200, 200]
    assert auditor.get("/auditoria/casos/aaaaaaaaaaaaaaaaaaaaaaaaaa").status_code == 429
    assert [e.details for e in bursts(app)] == [{"endpoint": "stats.case_timeline", "limit": BREACHED}]


def test_the_limit_is_per_user_not_per_address(limited: Flask) -> None:
    app = limited
    add_auditor(app, "auditor.b")
    first = signed_in(app, "auditor")
    assert [first.get("/auditoria/tablero").status_code for _ in range(4)] == [200, 200, 200, 429]
    second = signed_in(app, "auditor.b")  # same address (the test client's), same node, another person
    assert [second.get("/auditoria/tablero").status_code for _ in range(3)] == [200, 200, 200]
    assert first.get("/auditoria/tablero").status_code == 429
    assert [e.actor_node_id for e in bursts(app)] == [node_of(app, "auditor")]


def test_other_routes_are_not_limited(limited: Flask) -> None:
    app = limited
    auditor = signed_in(app, "auditor")
    assert [auditor.get("/auditoria/estadisticas").status_code for _ in range(4)] == [200, 200, 200, 429]
    # the blocked auditor still reaches the pages outside the limit
    assert [auditor.get("/auditoria/excepciones").status_code for _ in range(5)] == [200] * 5
    assert auditor.get("/protocolo").status_code == 200
    # and staff browsing their own pages are never counted
    coordinator = signed_in(app, "coordinador.rm")
    assert {coordinator.get(url).status_code for url in ("/casos", "/protocolo", "/derivaciones") * 4} == {200}
    assert coordinator.get("/auditoria/estadisticas").status_code == 403  # not an auditor: refused before counting
    assert len(bursts(app)) == 1


def test_the_burst_is_listed_under_exceptions_and_the_page_speaks_english(limited: Flask) -> None:
    app = limited
    auditor = signed_in(app, "auditor")
    for _ in range(4):
        auditor.get("/auditoria/estadisticas")
    page = html.unescape(auditor.get("/auditoria/excepciones").text)
    rows = [re.findall(r"<td>(.*?)</td>", row) for row in re.findall(r'<tr class="burst">[\s\S]*?</tr>', page)]
    assert rows == [["18-11-2026 12:00", "Auditor/a", "Servicio de migraciones", "Estadísticas",
                     f"<code>{BREACHED}</code>"]], rows

    auditor.post("/idioma", {"lang": "en"})
    refused = auditor.get("/auditoria/estadisticas")
    assert refused.status_code == 429
    assert "Too many queries in a short time; please wait a few minutes." in html.unescape(refused.text)
