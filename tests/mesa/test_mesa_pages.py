"""The Mesa's pages in a browser (issue 18): the Secretaría Técnica records a session (a double click records it once,
bad input keeps what was typed), the responsible institution's focal point marks its agreement done, and the
attacks the issue names are refused with nothing written: another institution's focal point marking it done, an
auditor or a case worker posting a complete form. Who reaches which page: tests/test_authorization.py."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from referral.audit.models import AuditEvent
from referral.clocks.models import CaseClock
from referral.mesa.models import MesaAgreement, MesaMeeting

from ..browser import hidden_inputs
from ..steps import node_id
from ..units import unit_of_work

MINUTES = "Se revisó el eje de protección; la PDI informó avances del operativo en Quilicura."
AGREEMENT = "SernamEG presenta propuesta de cupos en Maipú."


def counts(app: Any) -> tuple[int, int, int, int]:
    with unit_of_work(app) as ctx:
        s = ctx.session
        return (s.scalar(select(func.count()).select_from(MesaMeeting)) or 0,
                s.scalar(select(func.count()).select_from(MesaAgreement).where(MesaAgreement.status == "cumplido")) or 0,
                s.scalar(select(func.count()).select_from(CaseClock).where(CaseClock.case_id.is_(None))) or 0,
                s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action.like("mesa.%"))) or 0)


def session_form(app: Any, fields: dict[str, str], **changes: Any) -> dict[str, Any]:
    return {**fields, "held_on": "2026-11-17", "present": [str(node_id(app, "SERNAMEG")), str(node_id(app, "SERMIG"))],
            "minutes": MINUTES, "agreements-0-text": AGREEMENT,
            "agreements-0-responsible": str(node_id(app, "SERNAMEG")), "agreements-0-due_on": "2026-12-15", **changes}


def test_the_secretariat_records_a_session_once_and_bad_input_keeps_what_was_typed(app: Any, make_browser: Any) -> None:
    secretaria = make_browser()
    secretaria.login("secretaria.mesa")
    assert "/mesa/nacional/sesiones/nueva" in secretaria.get("/mesa/nacional").text
    fields = hidden_inputs(secretaria.get("/mesa/nacional/sesiones/nueva").text)
    refused = secretaria.client.post("/mesa/nacional/sesiones/nueva",
                                     data=session_form(app, fields, **{"agreements-0-responsible": ""}))
    assert refused.status_code == 400
    assert "operativo en Quilicura" in refused.text and "cupos en Maipú" in refused.text
    assert counts(app)[0] == 0
    good = session_form(app, fields)
    first = secretaria.client.post("/mesa/nacional/sesiones/nueva", data=good)
    second = secretaria.client.post("/mesa/nacional/sesiones/nueva", data=good)  # a double click: the same token
    assert first.status_code == 303 and second.status_code == 303
    assert counts(app)[:3] == (1, 0, 1)
    page = secretaria.get(first.headers["Location"])
    assert page.status_code == 200 and "operativo en Quilicura" in page.text and "SernamEG" in page.text


def test_only_the_responsible_focal_point_marks_its_agreement_done(app: Any, make_browser: Any) -> None:
    secretaria = make_browser()
    secretaria.login("secretaria.mesa")
    fields = hidden_inputs(secretaria.get("/mesa/nacional/sesiones/nueva").text)
    assert secretaria.client.post("/mesa/nacional/sesiones/nueva", data=session_form(app, fields)).status_code == 303
    with unit_of_work(app) as ctx:
        meeting_id, agreement_id = ctx.session.execute(select(MesaAgreement.meeting_id, MesaAgreement.id)).one()
    before = counts(app)

    pdi = make_browser()
    pdi.login("mesa.focal.pdi")
    page = pdi.get(f"/mesa/sesiones/{meeting_id}")
    assert page.status_code == 200 and "Marcar cumplido" not in page.text
    refused = pdi.post(f"/mesa/acuerdos/{agreement_id}/cumplido", {"agreement": str(agreement_id)})
    assert refused.status_code == 403
    for name in ("auditor", "gestor.rm", "coordinador.rm"):
        other = make_browser()
        other.login(name)
        assert other.post(f"/mesa/acuerdos/{agreement_id}/cumplido", {"agreement": str(agreement_id)}).status_code == 403
        assert other.post("/mesa/nacional/sesiones/nueva", session_form(app, {"token": "x" * 32})).status_code == 403
    assert counts(app) == before  # nothing written, not even an audit event of the Mesa

    sernameg = make_browser()
    sernameg.login("mesa.focal.sernameg")
    page = sernameg.get(f"/mesa/sesiones/{meeting_id}")
    assert "Marcar cumplido" in page.text
    done = sernameg.client.post(f"/mesa/acuerdos/{agreement_id}/cumplido",
                                data={**hidden_inputs(page.text), "agreement": str(agreement_id)})
    assert done.status_code == 303
    again = sernameg.client.post(f"/mesa/acuerdos/{agreement_id}/cumplido",
                                 data={**hidden_inputs(page.text), "agreement": str(agreement_id)})
    assert again.status_code == 303  # told it was already done
    assert counts(app)[1] == 1
    with unit_of_work(app) as ctx:
        assert ctx.session.scalar(select(CaseClock.status).where(CaseClock.case_id.is_(None))) == "stopped"


def test_the_overview_lists_the_national_mesa_and_every_region(app: Any, make_browser: Any) -> None:
    auditor = make_browser()
    auditor.login("auditor")
    page = auditor.get("/mesa")
    assert page.status_code == 200
    assert "/mesa/nacional" in page.text and "/mesa/CL-RM" in page.text and "/mesa/CL-MA" in page.text
    assert "Registrar sesión" not in auditor.get("/mesa/nacional").text


def test_a_notification_of_an_agreement_names_it_and_links_to_it_never_to_a_case(app: Any, make_browser: Any) -> None:
    import datetime as dt

    from ..clocks import tick

    secretaria = make_browser()
    secretaria.login("secretaria.mesa")
    fields = hidden_inputs(secretaria.get("/mesa/nacional/sesiones/nueva").text)
    assert secretaria.client.post("/mesa/nacional/sesiones/nueva", data=session_form(app, fields)).status_code == 303
    tick(app, app.config["CLOCK"].now + dt.timedelta(minutes=1))  # «Nuevo plazo» to SernamEG's focal point
    with unit_of_work(app) as ctx:
        agreement_id = ctx.session.scalar(select(MesaAgreement.id))
    sernameg = make_browser()
    sernameg.login("mesa.focal.sernameg")
    page = sernameg.get("/notificaciones")
    assert page.status_code == 200
    assert f"Acuerdo de la Mesa n.º {agreement_id}" in page.text and f'href="/mesa/acuerdos/{agreement_id}"' in page.text
    assert "/casos/" not in page.text.split("<main", 1)[-1] and "Maipú" not in page.text
    assert sernameg.get(f"/mesa/acuerdos/{agreement_id}").headers["Location"].endswith(f"#acuerdo-{agreement_id}")


def test_minutes_approved_later_are_recorded_once_and_then_counted(app: Any, make_browser: Any) -> None:
    from referral.mesa.service import count_minutes

    secretaria = make_browser()
    secretaria.login("secretaria.mesa")
    fields = hidden_inputs(secretaria.get("/mesa/CL-RM/sesiones/nueva").text)
    posted = secretaria.client.post("/mesa/CL-RM/sesiones/nueva", data=session_form(app, fields, minutes=""))
    assert posted.status_code == 303
    page = secretaria.get(posted.headers["Location"])
    assert "Sin acta registrada." in page.text and "Registrar acta" in page.text
    url = posted.headers["Location"] + "/acta"
    assert secretaria.client.post(url, data={**hidden_inputs(page.text), "minutes": MINUTES}).status_code == 303
    assert secretaria.client.post(url, data={**hidden_inputs(page.text), "minutes": "Otra."}).status_code == 303
    with unit_of_work(app) as ctx:
        assert ctx.session.scalar(select(MesaMeeting.minutes)) == MINUTES  # the second one changed nothing
        assert count_minutes(ctx.session, region="CL-RM") == 1
        events = list(ctx.session.scalars(select(AuditEvent).where(AuditEvent.action == "mesa.sesion.acta")))
        assert len(events) == 1 and "Quilicura" not in str(events[0].details)
    pdi = make_browser()
    pdi.login("mesa.focal.pdi")
    assert "Registrar acta" not in pdi.get(posted.headers["Location"]).text


def test_a_focal_point_finds_its_institutions_open_agreements_on_the_mesa_page(app: Any, make_browser: Any) -> None:
    secretaria = make_browser()
    secretaria.login("secretaria.mesa")
    fields = hidden_inputs(secretaria.get("/mesa/nacional/sesiones/nueva").text)
    assert secretaria.client.post("/mesa/nacional/sesiones/nueva", data=session_form(app, fields)).status_code == 303
    sernameg, pdi = make_browser(), make_browser()
    sernameg.login("mesa.focal.sernameg")
    pdi.login("mesa.focal.pdi")
    assert "cupos en Maipú" in sernameg.get("/mesa").text
    assert "cupos en Maipú" not in pdi.get("/mesa").text
