"""Deadlines on the pages people use: the inbox column, the case page section, the notifications page.

The clocks run as in production (sweep, then run the steps, each committed) with the movable test
clock; pages are read through the browser, as the user sees them. The triage clock of a Ficha filed
at 2026-11-18 15:00 UTC (12:00 in Santiago) is due 24 h later, reminds the regional focal point
(coordinador.rm, gestor.rm) 6 h before, and escalates to national coordination at 48 h.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask
from sqlalchemy import event, select

from referral.auth.models import User
from referral.kernel.models import Case
from referral.clocks.models import Notification
from referral.clocks.service import run_clocks, sweep
from referral.clocks.wording import deadline
from referral.extensions import database
from referral.network.models import Node

from ..backends import both_backends
from ..browser import Browser, hidden_inputs
from ..conftest import Clock
from ..factories import COMPLAINT_MADE_POST, ficha_post, residencia_post
from ..units import unit_of_work
from . import activate, clock_of, file_case, to_follow_up

LEASE = dt.timedelta(minutes=5)
NOTE_FORM = re.compile(r'action="/notificaciones/([0-9a-f-]{36})/leida"')


def file_ficha(browser: Browser) -> str:
    response = browser.submit("/fichas/nueva", ficha_post(**COMPLAINT_MADE_POST))
    assert response.status_code == 303, response.status_code
    match = re.search(r"/casos/(TP-[0-9A-Z]{4}-[0-9A-Z]{4})$", response.headers["Location"])
    assert match, response.headers["Location"]
    return match.group(1)


def ok(response: Any) -> None:
    assert response.status_code == 303, response.status_code


def run_due_clocks(app: Flask, clock: Clock) -> list[uuid.UUID]:
    """What beat and a worker do at this moment: hand out the due clocks, run their steps."""
    with unit_of_work(app) as ctx:
        ids = sweep(ctx, clock.now, LEASE)
        created = run_clocks(ctx, ids, clock.now, email=False)
        ctx.session.commit()
    return created


def notes_of(app: Flask, name: str) -> list[tuple[uuid.UUID, str, dt.datetime | None]]:
    """(id, kind, read_at) of a user's notifications, oldest first."""
    with unit_of_work(app) as ctx:
        return [tuple(row) for row in ctx.session.execute(
            select(Notification.id, Notification.kind, Notification.read_at).join(User)
            .where(User.email == f"{name}@demo.cl").order_by(Notification.created_at, Notification.id))]


def node_id(app: Flask, code: str) -> int:
    with unit_of_work(app) as ctx:
        return int(ctx.session.scalar(select(Node.id).where(Node.code == code)))


def signed_in(make_browser: Any, name: str) -> Browser:
    browser = make_browser()
    assert browser.login(name).status_code == 302, name
    return browser


def in_english(browser: Browser) -> None:
    assert browser.post("/idioma", {"lang": "en", "next": "/"}).status_code == 302


def clock_items(html: str) -> list[str]:
    """The text of each clock shown, with its CSS class first: "overdue| Vencido Triaje …"."""
    items = re.findall(r'<(?:li|tr) class="clock (\w+)">([\s\S]*?)</(?:li|tr)>', html)
    return [f"{css}| " + " ".join(re.sub(r"<[^>]+>", " ", body).split()) for css, body in items]


def unread_in_nav(html: str) -> int | None:
    match = re.search(r'<a href="/notificaciones"[^>]*>[^<]*(?:<span class="count">(\d+)</span>)?</a>', html)
    assert match, "no «Notificaciones» in the navigation bar"
    return int(match.group(1)) if match.group(1) else None


# -- the inbox --------------------------------------------------------------------------------------


def test_the_inbox_shows_each_running_clock_with_time_left_in_colour_and_words(
        app: Flask, make_browser: Any, clock: Clock) -> None:
    health, coordinator = signed_in(make_browser, "salud.rm"), signed_in(make_browser, "coordinador.rm")
    reference = file_ficha(health)

    page = coordinator.get("/bandeja/triaje").text
    assert "<th>Plazos</th>" in page and reference in page
    assert clock_items(page) == ["soon| Por vencer Triaje de la Ficha: Vence en 24 h"]

    clock.advance(hours=4)
    assert clock_items(coordinator.get("/bandeja/triaje").text) == ["soon| Por vencer Triaje de la Ficha: Vence en 20 h"]

    clock.advance(hours=23)  # 3 h past the deadline: overdue in red, and in words
    page = coordinator.get("/bandeja/triaje").text
    assert clock_items(page) == ["overdue| Vencido Triaje de la Ficha: Vencido hace 3 h"]
    assert clock_items(coordinator.get("/casos").text) == clock_items(page)  # «my node's cases» too

    in_english(coordinator)
    assert clock_items(coordinator.get("/bandeja/triaje").text) == [
        "overdue| Overdue Triage of the form: Overdue by 3 h"]


def test_the_inbox_shows_clocks_of_its_own_rows_only_and_fetches_them_in_one_query(
        app: Flask, make_browser: Any, clock: Clock) -> None:
    health, coordinator = signed_in(make_browser, "salud.rm"), signed_in(make_browser, "coordinador.rm")
    references = [file_ficha(health) for _ in range(3)]
    clock.advance(hours=30)
    activated = references[0]
    ok(coordinator.act(activated, "tomar_caso"))
    ok(coordinator.act(activated, "activar", {"nodo_lider": str(node_id(app, "SERNAMEG")), "fundamento": "Claro."}))

    statements: list[str] = []

    def remember(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    engine = database.engine(app)
    event.listen(engine, "before_cursor_execute", remember)
    try:
        page = coordinator.get("/bandeja/triaje").text
    finally:
        event.remove(engine, "before_cursor_execute", remember)
    # the rows' clocks are read in one query (the worklist's own ordering reads deadlines inside its query)
    clock_queries = [s for s in statements if s.lstrip().startswith("SELECT case_clocks.")]
    assert len(clock_queries) == 1, clock_queries

    # The triage inbox lists the two cases still in triage, each with its overdue triage clock; the
    # activated case (with its Informe Social clock) is not a row there, so neither is its clock.
    assert activated not in page and all(r in page for r in references[1:])
    assert clock_items(page) == ["overdue| Vencido Triaje de la Ficha: Vencido hace 6 h"] * 2

    lead = signed_in(make_browser, "gestor.sernameg")
    assert clock_items(lead.get("/bandeja/casos_liderados").text) == [
        "on_time| En plazo Informe Social: Vence en 14 días"]  # 10 working days from Thursday 21:00 UTC

    outsider = signed_in(make_browser, "coordinador.ta")  # another region: no row, no clock
    assert clock_items(outsider.get("/bandeja/triaje").text) == []


# -- the case page ----------------------------------------------------------------------------------


def test_the_case_page_lists_every_running_clock_with_due_time_urgency_escalation_and_basis(
        app: Flask, make_browser: Any, clock: Clock) -> None:
    health, coordinator = signed_in(make_browser, "salud.rm"), signed_in(make_browser, "coordinador.rm")
    lead, national = signed_in(make_browser, "gestor.sernameg"), signed_in(make_browser, "coordinacion.nacional")
    reference = file_ficha(health)

    page = coordinator.get(f"/casos/{reference}").text
    assert '<h2 id="clocks-title">Plazos</h2>' in page
    assert clock_items(page) == ["soon| Triaje de la Ficha 19-11-2026 12:00 Vence en 24 h Por vencer Sin escalar"]

    clock.advance(hours=49)  # a day past the deadline and past the escalation to national coordination
    run_due_clocks(app, clock)
    expected = ("overdue| Triaje de la Ficha 19-11-2026 12:00 Vencido hace 25 h Vencido "
                "Escalado a Coordinación nacional (nivel 1)")
    assert clock_items(coordinator.get(f"/casos/{reference}").text) == [expected]
    assert clock_items(national.get(f"/casos/{reference}").text) == [expected]
    assert clock_items(health.get(f"/casos/{reference}").text) == [expected]  # every participant sees them
    in_english(national)
    assert clock_items(national.get(f"/casos/{reference}").text) == [
        "overdue| Triage of the form 19-11-2026 12:00 Overdue by 25 h Overdue Escalated to National coordination "
        "(level 1)"]

    # Activated late: triage stops (late), the Informe Social clock runs; then the residence request
    # is submitted and the statutory clock (art. 37) starts, marked as set by law.
    ok(coordinator.act(reference, "tomar_caso"))
    ok(coordinator.act(reference, "activar", {"nodo_lider": str(node_id(app, "SERNAMEG")), "fundamento": "Claro."}))
    ok(lead.act(reference, "iniciar_residencia"))
    ok(lead.submit(f"/casos/{reference}/formularios/solicitud_residencia/editar", residencia_post()))
    ok(lead.act(reference, "presentar_residencia"))
    page = lead.get(f"/casos/{reference}").text
    assert clock_items(page) == [
        # 10 working days after Friday 20 November: the end of Friday 4 December (midnight, local)
        "on_time| Informe Social 04-12-2026 23:59 Vence en 14 días En plazo Sin escalar",
        # 60 working days, skipping 8 and 25 December and 1 January: the end of Wednesday 17 February
        "on_time| Estado de la solicitud de residencia (art. 37) Ley 17-02-2027 23:59 Vence en 89 días En plazo "
        "Sin escalar",
    ]
    stopped = re.search(r'<details class="stopped-clocks">([\s\S]*?)</details>', page)
    assert stopped, "no stopped clocks on the case page"
    text = " ".join(re.sub(r"<[^>]+>", " ", stopped.group(1)).split())
    assert text == ("Plazos detenidos recientemente (1) Triaje de la Ficha : Cumplido con 25 h de atraso "
                    "(vencía el 19-11-2026 12:00; detenido el 20-11-2026 13:00)")
    assert 'class="stopped late"' in stopped.group(1)


def test_a_clock_stopped_in_time_reads_met_and_an_outsider_sees_no_clock(
        app: Flask, make_browser: Any, clock: Clock) -> None:
    health, coordinator = signed_in(make_browser, "salud.rm"), signed_in(make_browser, "coordinador.rm")
    reference = file_ficha(health)
    clock.advance(hours=2)
    ok(coordinator.act(reference, "tomar_caso"))
    ok(coordinator.act(reference, "activar", {"nodo_lider": str(node_id(app, "SERNAMEG")), "fundamento": "Claro."}))
    page = coordinator.get(f"/casos/{reference}").text
    assert 'class="stopped met"' in page and "Cumplido a tiempo" in page

    outsider = signed_in(make_browser, "coordinador.ta")
    refused = outsider.get(f"/casos/{reference}")
    assert refused.status_code == 403
    assert "Informe Social" not in refused.text and clock_items(refused.text) == []


# -- notifications ------------------------------------------------------------------------------------


@both_backends
def test_reminders_and_escalations_appear_in_each_recipients_notifications(
        app: Flask, make_browser: Any, clock: Clock) -> None:
    health, coordinator = signed_in(make_browser, "salud.rm"), signed_in(make_browser, "coordinador.rm")
    national = signed_in(make_browser, "coordinacion.nacional")
    reference = file_ficha(health)
    assert unread_in_nav(coordinator.get("/notificaciones").text) is None
    assert "No tiene notificaciones." in coordinator.get("/notificaciones").text

    clock.advance(hours=19)  # the reminder, 6 h before the deadline, has come
    run_due_clocks(app, clock)
    clock.advance(hours=6)  # the deadline has passed
    run_due_clocks(app, clock)

    page = coordinator.get("/notificaciones")
    assert page.status_code == 200
    assert unread_in_nav(page.text) == 2
    titles = re.findall(r"<strong>([^<]+)</strong>", page.text)
    assert titles == ["Plazo vencido", "Recordatorio de plazo"]  # newest first
    assert (f"Caso {reference}: «Triaje de la Ficha» venció el 19-11-2026 12:00 y sigue pendiente."
            in page.text)
    assert f"Caso {reference}: «Triaje de la Ficha» vence el 19-11-2026 12:00." in page.text
    assert page.text.count(f'href="/casos/{reference}"') == 2
    assert page.text.count("No leída") == 2
    assert "19-11-2026 13:00" in page.text and "19-11-2026 07:00" in page.text  # when each arrived, local

    assert "No tiene notificaciones." in health.get("/notificaciones").text  # the detecting node is not told
    assert unread_in_nav(national.get("/notificaciones").text) is None

    clock.advance(hours=24)  # 48 h after the start: national coordination is told
    run_due_clocks(app, clock)
    page = national.get("/notificaciones").text
    assert unread_in_nav(page) == 1
    assert "Escalamiento (nivel 1)" in page
    assert (f"Caso {reference}: «Triaje de la Ficha» está vencido desde el 19-11-2026 12:00. "
            "Se le informa como Coordinación nacional." in page)
    in_english(national)
    page = national.get("/notificaciones").text
    assert "Escalation (level 1)" in page and "You are told as National coordination." in page
    assert ">Notifications <span class=\"count\">1</span>" in page

    for name in ("auditor", "administrador"):  # every role has the page; these two are never told
        page = signed_in(make_browser, name).get("/notificaciones")
        assert page.status_code == 200 and "No tiene notificaciones." in page.text


@both_backends
def test_marking_read_touches_only_ones_own_notification_and_twice_is_once(
        app: Flask, make_browser: Any, clock: Clock) -> None:
    health = signed_in(make_browser, "salud.rm")
    coordinator, colleague = signed_in(make_browser, "coordinador.rm"), signed_in(make_browser, "gestor.rm")
    reference = file_ficha(health)
    clock.advance(hours=19)
    run_due_clocks(app, clock)
    clock.advance(hours=6)
    run_due_clocks(app, clock)
    (reminder, _, _), (due, _, _) = notes_of(app, "coordinador.rm")
    (colleagues, _, _), _ = notes_of(app, "gestor.rm")
    assert set(NOTE_FORM.findall(coordinator.get("/notificaciones").text)) == {str(reminder), str(due)}

    # Someone else's notification, even a colleague's at the same node: 404, and nothing changes.
    refused = colleague.post(f"/notificaciones/{due}/leida")
    assert refused.status_code == 404 and reference not in refused.text
    assert colleague.post(f"/notificaciones/{uuid.uuid4()}/leida").status_code == 404
    assert colleague.post("/notificaciones/no-es-un-id/leida").status_code == 404
    assert [read for _, _, read in notes_of(app, "coordinador.rm")] == [None, None]
    assert str(due) not in colleague.get("/notificaciones").text and str(colleagues) in colleague.get(
        "/notificaciones").text

    # The owner marks the newest read; the unread one moves to the top; a second click changes nothing.
    clock.advance(minutes=5)
    response = coordinator.submit(f"/notificaciones/{due}/leida", page_url="/notificaciones")
    assert response.status_code == 303 and response.headers["Location"] == "/notificaciones"
    first_read = dict((n, r) for n, _, r in notes_of(app, "coordinador.rm"))[due]
    assert first_read == clock.now
    clock.advance(minutes=5)
    again = coordinator.post(f"/notificaciones/{due}/leida")
    assert again.status_code == 303
    assert dict((n, r) for n, _, r in notes_of(app, "coordinador.rm"))[due] == first_read
    page = coordinator.get("/notificaciones").text
    assert unread_in_nav(page) == 1
    assert re.findall(r"<strong>([^<]+)</strong>", page) == ["Recordatorio de plazo", "Plazo vencido"]
    assert NOTE_FORM.findall(page) == [str(reminder)]  # the read one has no button any more
    assert [r for _, _, r in notes_of(app, "gestor.rm")] == [None, None]  # the colleague's are untouched


@both_backends
def test_mark_all_read_marks_what_the_page_showed_and_only_the_users_own(
        app: Flask, make_browser: Any, clock: Clock) -> None:
    health = signed_in(make_browser, "salud.rm")
    coordinator, colleague = signed_in(make_browser, "coordinador.rm"), signed_in(make_browser, "gestor.rm")
    file_ficha(health)
    clock.advance(hours=19)
    run_due_clocks(app, clock)

    shown = coordinator.get("/notificaciones").text  # the user looks: one reminder
    clock.advance(hours=6)
    run_due_clocks(app, clock)  # then the overdue notice arrives, before the click
    response = coordinator.client.post("/notificaciones/leidas", data=hidden_inputs(shown))
    assert response.status_code == 303 and response.headers["Location"] == "/notificaciones"
    kinds = {kind: read for _, kind, read in notes_of(app, "coordinador.rm")}
    assert kinds["reminder"] == clock.now and kinds["due"] is None  # unseen, so still unread
    assert [r for _, _, r in notes_of(app, "gestor.rm")] == [None, None]

    # From the current page, everything is marked; once more is harmless.
    ok(coordinator.submit("/notificaciones/leidas", page_url="/notificaciones"))
    assert all(read is not None for _, _, read in notes_of(app, "coordinador.rm"))
    page = coordinator.get("/notificaciones").text
    assert unread_in_nav(page) is None and "Marcar todas como leídas" not in page and "No leída" not in page
    ok(coordinator.post("/notificaciones/leidas", {"hasta": clock.now.isoformat()}))
    assert unread_in_nav(colleague.get("/notificaciones").text) == 2

    # A form without the page's moment is refused.
    assert coordinator.post("/notificaciones/leidas").status_code == 400
    assert coordinator.post("/notificaciones/leidas", {"hasta": "2026-11-19T12:00"}).status_code == 400


def test_anonymous_users_are_sent_to_sign_in_and_cannot_mark_anything(
        app: Flask, make_browser: Any, clock: Clock) -> None:
    health = signed_in(make_browser, "salud.rm")
    file_ficha(health)
    clock.advance(hours=25)
    run_due_clocks(app, clock)
    (note, _, _), = notes_of(app, "coordinador.rm")

    anonymous = make_browser()
    first = anonymous.get("/notificaciones")
    assert first.status_code == 302 and first.headers["Location"] == "/ingresar?next=/notificaciones"
    token = hidden_inputs(anonymous.get("/ingresar").text)["csrf_token"]
    for path in (f"/notificaciones/{note}/leida", "/notificaciones/leidas"):
        assert anonymous.client.post(path, data={"csrf_token": token}).status_code == 401
        assert anonymous.client.post(path).status_code == 400  # no CSRF token: refused before anything
    coordinator = signed_in(make_browser, "coordinador.rm")
    assert coordinator.client.post(f"/notificaciones/{note}/leida").status_code == 400  # nor for staff
    assert [read for _, _, read in notes_of(app, "coordinador.rm")] == [None]


def test_a_notification_about_a_case_the_node_left_keeps_its_words_but_not_its_link(
        app: Flask, make_browser: Any, clock: Clock) -> None:
    health = signed_in(make_browser, "salud.rm")
    reference = file_ficha(health)
    clock.advance(hours=25)
    run_due_clocks(app, clock)
    with unit_of_work(app) as ctx:  # as if a referral ended the focal point's part in the case
        case = ctx.session.scalar(select(Case).where(Case.reference == reference))
        for participant in case.participants:
            if participant.relation == "punto_focal":
                participant.active = False
        ctx.session.commit()
    page = signed_in(make_browser, "coordinador.rm").get("/notificaciones").text
    assert f"Caso {reference}: «Triaje de la Ficha» venció" in page
    assert f'href="/casos/{reference}"' not in page
    assert f"Su nodo ya no tiene acceso al caso {reference}." in page


def test_a_clock_stopped_by_the_step_that_closes_the_case_is_met_and_no_clock_is_left_running(
        app: Flask, make_browser: Any, clock: Clock) -> None:
    health, coordinator = signed_in(make_browser, "salud.rm"), signed_in(make_browser, "coordinador.rm")
    reference = file_ficha(health)
    clock.advance(hours=3)
    ok(coordinator.act(reference, "no_activar", {"motivo": "no_es_trata", "fundamento": "Sin indicadores."}))
    page = coordinator.get(f"/casos/{reference}").text
    assert clock_items(page) == []
    assert "No hay plazos corriendo en este caso." in page
    # not activating IS the triage decision (its own stop event), taken in time
    assert "Triaje de la Ficha</strong>: Cumplido a tiempo" in page
    assert 'class="stopped met"' in page


def test_a_periodic_clock_is_due_now_never_overdue_and_starts_its_next_period(
        app: Flask, make_browser: Any, clock: Clock) -> None:
    reference = file_case(app)
    activate(app, reference)
    to_follow_up(app, reference)
    lead = signed_in(make_browser, "gestor.sernameg")
    assert clock_items(lead.get(f"/casos/{reference}").text) == [
        "on_time| Contacto de seguimiento 18-12-2026 23:59 Vence en 30 días En plazo Sin escalar"]  # end of 18 Dec

    clock.advance(days=30, hours=14)  # 02:00 on 19 December: the period ended; the sweep has not come yet
    assert clock_items(lead.get(f"/casos/{reference}").text) == [
        "soon| Contacto de seguimiento 18-12-2026 23:59 Corresponde ahora Por vencer Sin escalar"]
    run_due_clocks(app, clock)
    second = clock_of(app, reference, "seguimiento")
    assert second.period == 2
    due = deadline(second.due_at, ZoneInfo("America/Santiago"))
    assert due == "17-01-2027 23:59"  # thirty days on: 19 December to the end of 17 January
    (shown,) = clock_items(lead.get(f"/casos/{reference}").text)
    assert re.fullmatch(rf"on_time\| Contacto de seguimiento {due} Vence en (29|30) días En plazo Sin escalar", shown), shown
    page = lead.get("/notificaciones").text
    assert "Acción periódica" in page
    assert f"Caso {reference}: corresponde «Contacto de seguimiento» (plazo del 18-12-2026 23:59)." in page
