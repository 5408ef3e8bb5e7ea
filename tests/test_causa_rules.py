"""The causa penal (issue 15, item 2), rule by rule: who records it; which endings the Código Procesal Penal
allows at which step; reopening only a provisional filing; the causa going on after the case closes; the
RUC's format; non-punishment with what acts, shown on top to those who act on it and to no one else; and the
cases of one causa linked by a keyed hash of the RUC without any access across them (the attack tests)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select

from referral.kernel.errors import AccessDenied, InvalidInput
from referral.kernel.models import CaseLink
from referral.cases.reading import case_page, form_revision
from referral.workflow import TransitionRefused

from .factories import CAUSA_RUC, causa_values
from .referrals import consent, refer
from .steps import activate, case_id, file_case, fire, user
from .units import unit_of_work

DAY = dt.date(2026, 11, 18)
ARCHIVO_REFUSED = "El archivo provisional solo procede antes de la formalización"
NEEDS_CHARGES = "suponen una investigación formalizada"
NOTICE = "No punibilidad: la persona cometió actos a los que fue obligada"
LINKED = "Casos de la misma causa penal"


def track_state(app: Any, reference: str) -> str | None:
    with unit_of_work(app) as ctx:
        page = case_page(ctx, user(ctx, "coordinador.rm"), reference, "es")
    return dict(page.tracks).get("Causa penal")


def refused(app: Any, by: str, reference: str, action: str, values: dict[str, Any] | None = None) -> str:
    with pytest.raises(TransitionRefused) as caught:
        fire(app, by, reference, action, values)
    return caught.value.reason.es


def invalid(app: Any, by: str, reference: str, action: str, values: dict[str, Any]) -> dict[str, list[str]]:
    with pytest.raises(InvalidInput) as caught:
        fire(app, by, reference, action, values)
    return {key: [m.es for m in messages] for key, messages in caught.value.errors.items()}


def causa(app: Any, *, formalised: bool = False, **values: Any) -> str:
    """A new case whose focal point records the causa (before activation: a causa may predate it)."""
    reference = file_case(app)
    fire(app, "coordinador.rm", reference, "registrar_causa", causa_values(**values))
    if formalised:
        fire(app, "coordinador.rm", reference, "formalizar_causa", {"fecha": DAY})
    return reference


def page(app: Any, who: str, reference: str) -> Any:
    with unit_of_work(app) as ctx:
        return case_page(ctx, user(ctx, who), reference, "es")


# -- the causa's steps --------------------------------------------------------------------------------------


def test_the_causa_moves_through_its_procedural_states(app: Any) -> None:
    reference = causa(app)
    assert track_state(app, reference) == "En investigación (sin formalizar)"
    for action, state in (("formalizar_causa", "Formalizada"), ("acusar_causa", "Con acusación"),
                          ("iniciar_juicio_oral", "En juicio oral")):
        fire(app, "coordinador.rm", reference, action, {"fecha": DAY, "imputados": 2})
        assert track_state(app, reference) == state
    assert "no es posible cuando Causa penal está en «En juicio oral»" in refused(
        app, "coordinador.rm", reference, "formalizar_causa", {"fecha": DAY})
    fire(app, "coordinador.rm", reference, "terminar_causa", {"tipo": "condena", "fecha": DAY})
    assert track_state(app, reference) == "Terminada"


@pytest.mark.parametrize("ending", ["condena", "absolucion", "decision_no_perseverar", "suspension_condicional"])
def test_a_judgment_no_perseverar_or_a_suspension_needs_formal_charges(app: Any, ending: str) -> None:
    reference = causa(app)
    assert NEEDS_CHARGES in refused(app, "coordinador.rm", reference, "terminar_causa", {"tipo": ending, "fecha": DAY})
    assert track_state(app, reference) == "En investigación (sin formalizar)"  # nothing half-written
    fire(app, "coordinador.rm", reference, "formalizar_causa", {"fecha": DAY})
    fire(app, "coordinador.rm", reference, "terminar_causa", {"tipo": ending, "fecha": DAY})
    assert track_state(app, reference) == "Terminada"


def test_a_provisional_filing_only_before_formal_charges_and_only_it_reopens(app: Any) -> None:
    charged = causa(app, formalised=True)
    assert ARCHIVO_REFUSED in refused(app, "coordinador.rm", charged, "terminar_causa",
                                      {"tipo": "archivo_provisional", "fecha": DAY})
    fire(app, "coordinador.rm", charged, "terminar_causa", {"tipo": "decision_no_perseverar", "fecha": DAY})
    assert "Solo una causa en archivo provisional se reabre" in refused(
        app, "coordinador.rm", charged, "reabrir_causa", {"fecha": DAY})

    filed = causa(app)
    fire(app, "coordinador.rm", filed, "terminar_causa", {"tipo": "archivo_provisional", "fecha": DAY})
    fire(app, "coordinador.rm", filed, "reabrir_causa", {"fecha": DAY, "observaciones": "Nuevos antecedentes."})
    assert track_state(app, filed) == "En investigación (sin formalizar)"


def test_another_ending_says_which(app: Any) -> None:
    reference = causa(app)
    assert invalid(app, "coordinador.rm", reference, "terminar_causa", {"tipo": "otra", "fecha": DAY}) == {
        "tipo_otra": ["Este campo es obligatorio."]}


def test_the_causa_goes_on_after_the_case_closes(app: Any) -> None:
    reference = file_case(app)
    activate(app, reference)
    fire(app, "gestor.sernameg", reference, "registrar_causa", causa_values())
    fire(app, "coordinador.rm", reference, "cerrar", {"motivo": "desiste", "fecha_cierre": DAY})
    fire(app, "gestor.sernameg", reference, "formalizar_causa", {"fecha": DAY})
    assert track_state(app, reference) == "Formalizada"


def test_a_causa_is_recorded_on_an_open_case_only(app: Any) -> None:
    reference = file_case(app)
    assert "registrar_causa" in {a.key for a in page(app, "coordinador.rm", reference).actions}  # from detection
    fire(app, "coordinador.rm", reference, "no_activar", {"motivo": "no_es_trata", "fundamento": "Sin indicadores."})
    assert "registrar_causa" not in {a.key for a in page(app, "coordinador.rm", reference).actions}
    assert "Causa penal no está disponible para este caso" in refused(
        app, "coordinador.rm", reference, "registrar_causa", causa_values())


# -- the record ---------------------------------------------------------------------------------------------


def test_the_ruc_must_have_its_format(app: Any) -> None:
    reference = file_case(app)
    errors = invalid(app, "coordinador.rm", reference, "registrar_causa", causa_values(ruc="23-00417852"))
    assert errors == {"ruc": ["El formato no es válido; debe ser como 2300123456-7."]}
    assert track_state(app, reference) is None  # nothing half-written


def test_non_punishment_says_which_acts(app: Any) -> None:
    reference = causa(app)
    errors = invalid(app, "coordinador.rm", reference, "actualizar_causa", causa_values(no_punibilidad=True))
    assert errors == {"no_punibilidad_actos": ["Este campo es obligatorio."]}


def test_a_certified_victim_status_says_when(app: Any) -> None:
    reference = file_case(app)
    errors = invalid(app, "coordinador.rm", reference, "registrar_causa",
                     causa_values(certificacion_victima="certificada_uravit"))
    assert errors == {"fecha_certificacion": ["Este campo es obligatorio."]}
    fire(app, "coordinador.rm", reference, "registrar_causa",
         causa_values(certificacion_victima="certificada_uravit", fecha_certificacion=DAY))


# -- who records, who reads, who is warned ------------------------------------------------------------------


@pytest.fixture
def referred(app: Any) -> str:
    """An activated case (lead SERNAMEG) referred to a shelter (INCAMI), legal aid (CAVD Tarapacá) and the
    police (BITRAP PDI Metropolitana)."""
    reference = file_case(app)
    activate(app, reference, lead="SERNAMEG")
    consent(app, reference)
    refer(app, reference, "INCAMI", by="gestor.sernameg", service="alojamiento")
    refer(app, reference, "CAVD-CL-TA", by="gestor.sernameg", service="asesoria_juridica")
    refer(app, reference, "PDI-BITRAP-CL-RM", by="gestor.sernameg", service="proteccion_policial")
    return reference


def test_who_records_the_causa(app: Any, referred: str) -> None:
    for outsider in ("ong.incami", "salud.rm"):  # the shelter; the health node that detected the case
        assert "no permiten «Registrar la causa penal»" in refused(app, outsider, referred, "registrar_causa",
                                                                   causa_values())
    fire(app, "policia.rm", referred, "registrar_causa", causa_values())  # the police the case was referred to
    fire(app, "coordinador.ta", referred, "formalizar_causa", {"fecha": DAY})  # legal aid
    fire(app, "gestor.sernameg", referred, "actualizar_causa", causa_values(medidas_proteccion=["reserva_identidad"]))
    assert "no permiten" in refused(app, "ong.incami", referred, "actualizar_causa", causa_values())


def test_the_non_punishment_notice_reaches_those_who_act_on_it_and_no_one_else(app: Any, referred: str) -> None:
    fire(app, "gestor.sernameg", referred, "registrar_causa", causa_values(
        no_punibilidad=True, no_punibilidad_actos="Usó un pasaporte falso que le entregó la red."))
    for reader in ("gestor.sernameg", "coordinador.rm", "coordinacion.nacional", "coordinador.ta", "policia.rm"):
        view = page(app, reader, referred)
        assert len(view.notices) == 1 and view.notices[0].startswith(NOTICE), reader
        assert [link.label.es for link in view.links] == [LINKED], reader
    for outsider in ("ong.incami", "salud.rm"):  # a shelter and the detecting health node: not the criminal file
        view = page(app, outsider, referred)
        assert view.notices == () and view.links == (), outsider
        with unit_of_work(app) as ctx, pytest.raises(AccessDenied):
            form_revision(ctx, user(ctx, outsider), referred, "causa_penal", None, "es")
        timeline = " ".join(f"{d.label} {d.value}" for event in view.timeline for d in event.details)
        assert "pasaporte falso" not in timeline and CAUSA_RUC not in timeline, outsider
    without = causa(app)
    assert page(app, "coordinador.rm", without).notices == ()


def test_the_non_punishment_notice_in_the_browser(app: Any, make_browser: Any, referred: str) -> None:
    fire(app, "gestor.sernameg", referred, "registrar_causa", causa_values(
        no_punibilidad=True, no_punibilidad_actos="Usó un pasaporte falso que le entregó la red."))
    police, shelter = make_browser(), make_browser()
    police.login("policia.rm")
    shelter.login("ong.incami")
    assert NOTICE in police.get(f"/casos/{referred}").text
    assert f'value="{CAUSA_RUC}"' in police.get(f"/casos/{referred}/acciones/actualizar_causa").text
    shown = shelter.get(f"/casos/{referred}")
    assert shown.status_code == 200 and NOTICE not in shown.text and LINKED not in shown.text
    for url in (f"/casos/{referred}/acciones/actualizar_causa", f"/casos/{referred}/acciones/registrar_causa",
                f"/casos/{referred}/formularios/causa_penal"):
        answer = shelter.get(url)
        assert answer.status_code == 403 and CAUSA_RUC not in answer.text, url


# -- linked cases -------------------------------------------------------------------------------------------


@pytest.fixture
def one_causa(app: Any) -> dict[str, str]:
    """Four victims. A: lead SERNAMEG, referred to the police. B: filed by the police, lead CAVD Metropolitana.
    C: detected in Tarapacá. D: another causa. A, B and C share the RUC, typed three ways."""
    a = file_case(app)
    activate(app, a, lead="SERNAMEG")
    consent(app, a)
    refer(app, a, "PDI-BITRAP-CL-RM", by="gestor.sernameg", service="proteccion_policial")
    fire(app, "gestor.sernameg", a, "registrar_causa", causa_values())
    b = file_case(app, by="policia.rm", numero_documento="BO7719245")
    activate(app, b, lead="CAVD-CL-RM")
    fire(app, "gestor.rm", b, "registrar_causa", causa_values(ruc=" 2300417852-k"))
    c = file_case(app, by="salud.ta", region="CL-TA", comuna="Iquique", numero_documento="BO7719246")
    fire(app, "coordinador.ta", c, "registrar_causa", causa_values(ruc="2300417852-K "))
    d = causa(app, ruc="2400111222-3")
    return {"A": a, "B": b, "C": c, "D": d}


def linked(app: Any, who: str, reference: str) -> tuple[tuple[str, ...], int]:
    (link,) = page(app, who, reference).links
    return link.references, link.elsewhere


def test_the_cases_of_one_causa_are_linked_without_the_ruc_in_clear(app: Any, one_causa: dict[str, str]) -> None:
    with unit_of_work(app) as ctx:
        rows = {ref: ctx.session.scalars(select(CaseLink).where(CaseLink.case_id == case_id(app, ref))).all()
                for ref in one_causa.values()}
    digests = {ref: row.digest for ref, (row,) in rows.items()}
    assert digests[one_causa["A"]] == digests[one_causa["B"]] == digests[one_causa["C"]] != digests[one_causa["D"]]
    for digest in digests.values():
        assert len(digest) == 16 and b"2300417852" not in digest and b"2400111222" not in digest
    # the focal point of Metropolitana: B named (her region's case), C only counted (Tarapacá's)
    assert linked(app, "coordinador.rm", one_causa["A"]) == ((one_causa["B"],), 1)
    # national coordination takes part in every case: both named
    assert linked(app, "coordinacion.nacional", one_causa["A"]) == (tuple(sorted((one_causa["B"], one_causa["C"]))), 0)
    assert linked(app, "coordinador.rm", one_causa["D"]) == ((), 0)


def test_a_link_opens_nothing_and_tells_a_node_nothing_of_the_cases_it_cannot_open(
        app: Any, make_browser: Any, one_causa: dict[str, str]) -> None:
    a, b, c = one_causa["A"], one_causa["B"], one_causa["C"]
    # A's lead reads A's causa but takes no part in B or C: not named, not even counted
    assert linked(app, "gestor.sernameg", a) == ((), 0)
    for other in (b, c):
        with unit_of_work(app) as ctx, pytest.raises(AccessDenied):
            case_page(ctx, user(ctx, "gestor.sernameg"), other, "es")
    # the police read A's causa (a referral) and filed B, where they are only the detecting node, who does not
    # read the criminal file: B is not named to them from A (that would tell them B belongs to this causa)
    assert linked(app, "policia.rm", a) == ((), 0)
    lead = make_browser()
    lead.login("gestor.sernameg")
    shown = lead.get(f"/casos/{a}").text
    assert LINKED in shown and "Ningún otro caso que usted pueda ver comparte este registro." in shown
    assert b not in shown and c not in shown and "fuera del alcance" not in shown
    for other in (b, c):
        assert lead.get(f"/casos/{other}").status_code == 403
        assert lead.get(f"/casos/{other}/formularios/causa_penal").status_code == 403


def test_changing_the_ruc_unlinks_the_case(app: Any, one_causa: dict[str, str]) -> None:
    fire(app, "gestor.rm", one_causa["B"], "actualizar_causa", causa_values(ruc="2400111222-3"))
    assert linked(app, "coordinador.rm", one_causa["A"]) == ((), 1)  # C still counted
    assert linked(app, "coordinador.rm", one_causa["D"]) == ((one_causa["B"],), 0)


# -- what auditors get --------------------------------------------------------------------------------------


def test_the_projection_keeps_the_causa_status_and_its_formalisation_never_the_ruc(app: Any) -> None:
    from referral.stats.models import CaseStat, CaseStatStep

    reference = causa(app, formalised=True)
    with unit_of_work(app) as ctx:
        row = ctx.session.get(CaseStat, case_id(app, reference))
        assert row is not None and row.tracks == {"causa_penal": "formalizada"}
        assert set(ctx.session.scalars(select(CaseStatStep.milestone).where(
            CaseStatStep.case_id == row.case_id))) == {"causa_formalizada"}
        stored = repr([getattr(row, column.key) for column in CaseStat.__table__.columns])
    assert "2300417852" not in stored and "Fiscalía" not in stored
