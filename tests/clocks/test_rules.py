"""The clocks as pure rules (referral/workflow/clocks.py) and their checks in the definition validator.

`reactions` is asked what the Chilean protocol's steps start and stop; `schedule` when each step of a
clock falls (moments written out by hand, see test_calendar.py); the validator refuses clocks that
could not work, each in a copy of the Chilean definition broken in one place.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from referral.workflow import WorkflowDefinition, load_definition
from referral.workflow.calendar import WorkingCalendar
from referral.workflow.clocks import (
    CASE_CLOSED, DUE, ESCALATION, PERIODIC, REMINDER, Occurrence, Step, matches, reactions, schedule,
)
from referral.workflow.definition import Clock, Duration
from referral.workflow.text import Text

from ..definitions import CHILE, Mutation, assert_names, both, deleter, refusal_of, rewritten, setter

SANTIAGO = ZoneInfo("America/Santiago")
UTC = dt.UTC
START = dt.datetime(2026, 11, 18, 15, 0, tzinfo=UTC)  # Wednesday, 12:00 in Santiago
CASE_CLOCKS = {"triaje", "informe_social", "plan", "seguimiento", "reporte_migraciones", "denuncia_obligatoria",
              "denuncia_obligatoria_punto_focal", "prorroga_permiso", "cedula", "respuesta_derivacion",
              "respuesta_emergencia", "accion_derivada", "reintegracion", "mesa_de_caso", "acuerdo_mesa"}
# Clocks whose subject is not a case (issue 18): their services start and stop them; no step of a case touches them.
SUBJECT_CLOCKS = {"acuerdo_mesa_intersectorial", "meta_plan_accion", "informe_semestral_plan"}
ALL_CLOCKS = CASE_CLOCKS | SUBJECT_CLOCKS



def utc(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=UTC)


@pytest.fixture(scope="module")
def chile() -> WorkflowDefinition:
    return load_definition(CHILE)


@pytest.fixture(scope="module")
def calendar() -> WorkingCalendar:
    return WorkingCalendar(SANTIAGO, "CL")


def clock(duration: Duration, *, remind_before: tuple[Duration, ...] = (), escalate: tuple[tuple[Duration, str], ...] = (),
          repeats: bool = False, remind: tuple[str, ...] = ("punto_focal",)) -> Clock:
    return Clock("prueba", Text("Prueba", "Test"), duration, {"enter_state": "detectado"}, {}, remind, escalate,
                 "product", repeats, remind_before)


def step(event: str, definition: WorkflowDefinition, from_state: str | None, to_state: str) -> Occurrence:
    return Occurrence.of_transition(definition.transition(event), from_state, to_state)


def plain(steps: tuple[Step, ...]) -> list[tuple[dt.datetime, str, tuple[str, ...], int]]:
    return [(s.at, s.kind, s.relations, s.level) for s in steps]


H = lambda n: Duration(n, "hours")  # noqa: E731
D = lambda n: Duration(n, "calendar_days")  # noqa: E731
W = lambda n: Duration(n, "working_days")  # noqa: E731


# -- which events start and stop which clocks -----------------------------------------------------------

def test_filing_the_ficha_enters_the_initial_state_and_starts_triage(chile: WorkflowDefinition) -> None:
    r = reactions(chile, Occurrence("", None, "detectado", actor_org_type="LawEnforcement"))
    assert r.starts == ("triaje", "denuncia_obligatoria")  # the complaint clock then checks the Ficha (service)
    assert dict(r.stops) == {}


@pytest.mark.parametrize(("org_type", "complaint_clock"), [
    ("LawEnforcement", "denuncia_obligatoria"),  # a public filer holds the CPP art. 175 duty itself
    ("HealthServiceOrganisation", "denuncia_obligatoria"),
    ("NonGovernmentalOrganisation", "denuncia_obligatoria_punto_focal"),  # an NGO: the public focal point does
    ("InternationalOrganisation", "denuncia_obligatoria_punto_focal"),
    (None, "denuncia_obligatoria_punto_focal"),  # a node with no organisation type is not presumed public
])
def test_the_complaint_duty_falls_on_the_public_filer_or_else_on_the_focal_point(
        chile: WorkflowDefinition, org_type: str | None, complaint_clock: str) -> None:
    r = reactions(chile, Occurrence("", None, "detectado", actor_org_type=org_type))
    assert r.starts == ("triaje", complaint_clock)
    assert chile.clocks["denuncia_obligatoria_punto_focal"].remind == ("punto_focal",)


def test_activation_stops_triage_by_its_stop_event_and_starts_the_informe_social(chile: WorkflowDefinition) -> None:
    r = reactions(chile, step("activar", chile, "en_evaluacion", "activado"))
    assert r.starts == ("informe_social",)
    assert dict(r.stops) == {"triaje": "stop_event"}


def test_taking_the_case_neither_starts_nor_stops_anything(chile: WorkflowDefinition) -> None:
    r = reactions(chile, step("tomar_caso", chile, "detectado", "en_evaluacion"))
    assert (r.starts, dict(r.stops)) == ((), {})


def test_submitting_a_form_in_a_transition_that_stays_stops_its_clock(chile: WorkflowDefinition) -> None:
    occurrence = step("enviar_informe", chile, "informe_social", "informe_social")
    assert occurrence.forms_submitted == frozenset({"informe_social"})
    r = reactions(chile, occurrence)
    assert r.starts == ()  # staying in a state does not enter it again
    assert dict(r.stops) == {"informe_social": "stop_event"}


def test_a_named_transition_starts_its_clock(chile: WorkflowDefinition) -> None:
    r = reactions(chile, step("aprobar_informe", chile, "informe_social", "plan_en_elaboracion"))
    assert r.starts == ("plan",)
    assert dict(r.stops) == {}


def test_entering_and_leaving_a_state_start_and_stop_a_repeating_clock(chile: WorkflowDefinition) -> None:
    assert reactions(chile, step("iniciar_seguimiento", chile, "plan_en_ejecucion", "seguimiento")).starts == (
        "seguimiento",)
    r = reactions(chile, step("reanudar_plan", chile, "seguimiento", "plan_en_ejecucion"))
    assert dict(r.stops) == {"seguimiento": "stop_event"}
    assert r.starts == ()
    # A plan revision sent from follow-up stays there: follow-up goes on, the plan clock is told to stop.
    r = reactions(chile, step("enviar_plan", chile, "seguimiento", "seguimiento"))
    assert r.starts == ()
    assert dict(r.stops) == {"plan": "stop_event"}


def test_track_states_start_and_stop_the_track_clocks(chile: WorkflowDefinition) -> None:
    presented = step("presentar_residencia", chile, "preparando", "presentada")
    assert presented.machine == "residencia"
    r = reactions(chile, presented)
    assert r.starts == ("reporte_migraciones",)
    assert dict(r.stops) == {}
    r = reactions(chile, step("otorgar_residencia", chile, "en_tramite", "otorgada"))
    assert dict(r.stops) == {"reporte_migraciones": "stop_event"}
    assert r.starts == ("prorroga_permiso", "cedula")
    r = reactions(chile, step("rechazar_residencia", chile, "presentada", "rechazada"))
    assert dict(r.stops) == {"reporte_migraciones": "stop_event"}
    assert r.starts == ()
    # Recording it as in process moves the track without reaching a stop state.
    assert dict(reactions(chile, step("registrar_tramite", chile, "presentada", "en_tramite")).stops) == {}


@pytest.mark.parametrize(("event", "occurrence", "expected"), [
    pytest.param({"enter_state": "activado"}, Occurrence("", "en_evaluacion", "activado"), True, id="enter"),
    pytest.param({"enter_state": ["cerrado", "activado"]}, Occurrence("", "en_evaluacion", "activado"), True,
                 id="enter, one of a list"),
    pytest.param({"enter_state": "activado"}, Occurrence("", "activado", "activado"), False,
                 id="staying is not entering"),
    pytest.param({"enter_state": "presentada"}, Occurrence("residencia", "preparando", "presentada"), False,
                 id="a track state is not a case state"),
    pytest.param({"leave_state": "seguimiento"}, Occurrence("", "seguimiento", "cerrado"), True, id="leave"),
    pytest.param({"leave_state": "seguimiento"}, Occurrence("", "seguimiento", "seguimiento"), False,
                 id="staying is not leaving"),
    pytest.param({"leave_state": "detectado"}, Occurrence("", None, "detectado"), False,
                 id="intake leaves nothing"),
    pytest.param({"transition": ["activar", "no_activar"]}, Occurrence("", "detectado", "no_activado", "no_activar"),
                 True, id="transition, one of a list"),
    pytest.param({"transition": "activar"}, Occurrence("", "detectado", "en_evaluacion", "tomar_caso"), False,
                 id="another transition"),
    pytest.param({"form_submitted": "plan"}, Occurrence("", "seguimiento", "seguimiento", "enviar_plan",
                                                        frozenset({"plan"})), True, id="form submitted"),
    pytest.param({"form_submitted": "plan"}, Occurrence("", "seguimiento", "seguimiento", "devolver_plan"), False,
                 id="no form submitted"),
    pytest.param({"track_state": "residencia.presentada"}, Occurrence("residencia", "preparando", "presentada"), True,
                 id="track state"),
    pytest.param({"track_state": "residencia.presentada"}, Occurrence("residencia", "presentada", "presentada"),
                 False, id="staying in a track state"),
    pytest.param({"track_state": "residencia.presentada"}, Occurrence("", "activado", "presentada"), False,
                 id="a case state is not a track state"),
    pytest.param({"track_state": "residencia.preparando"}, Occurrence("residencia", None, "preparando"), True,
                 id="a track starting"),
    pytest.param({"enter_state": "cerrado", "transition": "activar"},
                 Occurrence("", "detectado", "activado", "activar"), True, id="kinds combine with or"),
])
def test_matches_each_kind_of_event(event: dict[str, Any], occurrence: Occurrence, expected: bool) -> None:
    assert matches(event, occurrence) is expected


def test_closing_the_case_stops_every_clock(chile: WorkflowDefinition) -> None:
    r = reactions(chile, step("cerrar", chile, "seguimiento", "cerrado"))
    # leaving seguimiento is the follow-up clock's own stop event; every other clock stops by the closure
    assert dict(r.stops) == {**{key: CASE_CLOSED for key in CASE_CLOCKS}, "seguimiento": "stop_event"}
    assert r.starts == ()


def test_not_activating_stops_triage_by_its_own_event_and_the_rest_by_the_closure(chile: WorkflowDefinition) -> None:
    """no_activar is triage's own stop event (the triage was done, in time or not) and it also closes
    the case: triage records its own event; the other clocks stop because the case closed."""
    r = reactions(chile, step("no_activar", chile, "en_evaluacion", "no_activado"))
    assert r.stops["triaje"] == "stop_event"
    assert {k: v for k, v in r.stops.items() if k != "triaje"} == {k: CASE_CLOSED for k in CASE_CLOCKS - {"triaje"}}
    assert set(r.stops) == CASE_CLOCKS
    assert r.starts == ()


def test_no_clock_starts_on_the_step_that_closes_the_case(chile: WorkflowDefinition) -> None:
    archive = dataclasses.replace(clock(D(30)), key="archivo", starts_on={"enter_state": "cerrado"})
    on_close = dataclasses.replace(clock(D(30)), key="al_cerrar", starts_on={"transition": "cerrar"})
    definition = dataclasses.replace(chile, clocks={**chile.clocks, "archivo": archive, "al_cerrar": on_close})
    r = reactions(definition, step("cerrar", definition, "plan_en_ejecucion", "cerrado"))
    assert r.starts == ()
    assert r.stops["archivo"] == CASE_CLOSED and r.stops["al_cerrar"] == CASE_CLOSED


def test_reopening_a_closed_case_starts_clocks_again(chile: WorkflowDefinition) -> None:
    r = reactions(chile, step("reabrir", chile, "cerrado", "seguimiento"))
    assert r.starts == ("seguimiento",)
    assert dict(r.stops) == {}
    assert reactions(chile, step("reabrir_sin_plan", chile, "cerrado", "activado")).starts == ("informe_social",)


# -- when each step falls -----------------------------------------------------------------------------

def test_triage_reminds_six_hours_before_is_due_at_24_hours_and_escalates_at_48(
        chile: WorkflowDefinition, calendar: WorkingCalendar) -> None:
    assert plain(schedule(chile.clocks["triaje"], START, calendar)) == [
        (utc(2026, 11, 19, 9, 0), REMINDER, ("punto_focal",), 0),
        (utc(2026, 11, 19, 15, 0), DUE, ("punto_focal",), 0),
        (utc(2026, 11, 20, 15, 0), ESCALATION, ("coordinacion_nacional",), 1),
    ]


def test_the_informe_social_counts_working_days(chile: WorkflowDefinition, calendar: WorkingCalendar) -> None:
    # Activated Wednesday 18 November 2026 at 14:00: 10 working days end on Wednesday 2 December,
    # the reminder comes 2 working days earlier (end of Monday 30 November), the escalation after 12.
    assert plain(schedule(chile.clocks["informe_social"], utc(2026, 11, 18, 17, 0), calendar)) == [
        (utc(2026, 12, 1, 3, 0), REMINDER, ("nodo_lider",), 0),
        (utc(2026, 12, 3, 3, 0), DUE, ("nodo_lider",), 0),
        (utc(2026, 12, 5, 3, 0), ESCALATION, ("punto_focal",), 1),
    ]


def test_a_working_day_schedule_skips_a_holiday(chile: WorkflowDefinition, calendar: WorkingCalendar) -> None:
    # Started Tuesday 1 December 2026: Tuesday 8 December is a holiday.
    assert plain(schedule(chile.clocks["plan"], utc(2026, 12, 1, 15, 0), calendar)) == [
        (utc(2026, 12, 15, 3, 0), REMINDER, ("nodo_lider",), 0),
        (utc(2026, 12, 17, 3, 0), DUE, ("nodo_lider",), 0),
        (utc(2026, 12, 19, 3, 0), ESCALATION, ("punto_focal",), 1),
    ]


def test_the_identity_card_clock_reminds_a_week_before(chile: WorkflowDefinition, calendar: WorkingCalendar) -> None:
    assert plain(schedule(chile.clocks["cedula"], START, calendar)) == [
        (utc(2026, 12, 12, 3, 0), REMINDER, ("nodo_lider",), 0),
        (utc(2026, 12, 19, 3, 0), DUE, ("nodo_lider",), 0),
    ]


def test_a_repeating_clock_has_a_periodic_step_and_never_a_due_one(
        chile: WorkflowDefinition, calendar: WorkingCalendar) -> None:
    assert plain(schedule(chile.clocks["seguimiento"], START, calendar)) == [
        (utc(2026, 12, 19, 3, 0), PERIODIC, ("nodo_lider",), 0),
    ]
    repeating = clock(H(24), remind_before=(H(6),), repeats=True)
    assert [s.kind for s in schedule(repeating, START, calendar)] == [REMINDER, PERIODIC]


def test_several_reminders_come_in_time_order_and_once_each(calendar: WorkingCalendar) -> None:
    steps = schedule(clock(H(24), remind_before=(H(6), H(12), H(6))), START, calendar)
    assert plain(steps) == [
        (utc(2026, 11, 19, 3, 0), REMINDER, ("punto_focal",), 0),
        (utc(2026, 11, 19, 9, 0), REMINDER, ("punto_focal",), 0),
        (utc(2026, 11, 19, 15, 0), DUE, ("punto_focal",), 0),
    ]


def test_a_reminder_that_would_fall_before_or_at_the_start_is_dropped(calendar: WorkingCalendar) -> None:
    # Two hours, reminded "1 calendar day before": that is 00:00 on the start day, before noon.
    assert plain(schedule(clock(H(2), remind_before=(D(1),)), START, calendar)) == [
        (utc(2026, 11, 18, 17, 0), DUE, ("punto_focal",), 0),
    ]
    # Exactly at the start is dropped too; a reminder one hour in is kept.
    steps = schedule(clock(H(6), remind_before=(H(6), H(5))), START, calendar)
    assert plain(steps) == [
        (utc(2026, 11, 18, 16, 0), REMINDER, ("punto_focal",), 0),
        (utc(2026, 11, 18, 21, 0), DUE, ("punto_focal",), 0),
    ]


def test_an_escalation_before_the_deadline_is_moved_to_the_deadline_and_follows_it(calendar: WorkingCalendar) -> None:
    steps = schedule(clock(H(24), escalate=((H(12), "coordinacion_nacional"),)), START, calendar)
    assert plain(steps) == [
        (utc(2026, 11, 19, 15, 0), DUE, ("punto_focal",), 0),
        (utc(2026, 11, 19, 15, 0), ESCALATION, ("coordinacion_nacional",), 1),
    ]


def test_escalation_levels_are_numbered_as_declared(calendar: WorkingCalendar) -> None:
    steps = schedule(clock(H(24), escalate=((H(72), "coordinacion_nacional"), (H(48), "nodo_detector"))),
                     START, calendar)
    assert plain(steps) == [
        (utc(2026, 11, 19, 15, 0), DUE, ("punto_focal",), 0),
        (utc(2026, 11, 20, 15, 0), ESCALATION, ("nodo_detector",), 2),
        (utc(2026, 11, 21, 15, 0), ESCALATION, ("coordinacion_nacional",), 1),
    ]


def test_a_day_reminder_before_a_deadline_at_the_daylight_saving_jump_is_kept(calendar: WorkingCalendar) -> None:
    """30 calendar days from Thursday 6 August 2026 end with Saturday 5 September, at the moment the
    clocks go forward (04:00 UTC). "1 calendar day before" is the end of Friday 4 September."""
    steps = schedule(clock(D(30), remind_before=(D(1),)), utc(2026, 8, 6, 16, 0), calendar)
    assert plain(steps) == [
        (utc(2026, 9, 5, 4, 0), REMINDER, ("punto_focal",), 0),
        (utc(2026, 9, 6, 4, 0), DUE, ("punto_focal",), 0),
    ]


# -- the validator ------------------------------------------------------------------------------------------

WITHOUT_WORKING_DAY_CLOCKS = both(deleter("clocks", "informe_social"), deleter("clocks", "plan"),
                                  deleter("clocks", "reporte_migraciones"), deleter("clocks", "respuesta_derivacion"),
                                  deleter("clocks", "accion_derivada"), deleter("clocks", "acuerdo_mesa"),
                                  deleter("clocks", "acuerdo_mesa_intersectorial"), deleter("clocks", "meta_plan_accion"),
                                  deleter("clocks", "informe_semestral_plan"))
HOURS = {"value": 24, "unit": "hours"}

INVALID = [
    pytest.param(setter("clocks", "triaje", "remind", value=[]),
                 ["clock 'triaje'", "remind_before and notify_on_start need relations in remind"],
                 id="remind_before without remind"),
    pytest.param(deleter("clocks", "cedula", "remind"),
                 ["clock 'cedula'", "remind_before and notify_on_start need relations in remind"],
                 id="remind_before with remind left out"),
    pytest.param(setter("clocks", "triaje", "remind_before", value=[HOURS]),
                 ["clock 'triaje'", "must be shorter than the clock"],
                 id="a reminder as long as the clock"),
    pytest.param(setter("clocks", "triaje", "remind_before", value=[{"value": 6, "unit": "hours"},
                                                                    {"value": 30, "unit": "hours"}]),
                 ["clock 'triaje'", "must be shorter than the clock"],
                 id="a reminder longer than the clock"),
    pytest.param(setter("clocks", "informe_social", "remind_before", value=[{"value": 12, "unit": "working_days"}]),
                 ["clock 'informe_social'", "must be shorter than the clock"],
                 id="a working-day reminder longer than the clock"),
    pytest.param(setter("clocks", "triaje", "remind_before", value={"value": 6, "unit": "hours"}),
                 ["clocks.triaje.remind_before", "expected a list of durations"],
                 id="remind_before not a list"),
    pytest.param(setter("clocks", "triaje", "remind_before", value=[{"value": 6, "unit": "minutes"}]),
                 ["clocks.triaje.remind_before[0]", "a duration is"],
                 id="a reminder with an unknown unit"),
    pytest.param(setter("clocks", "triaje", "remind_before", value=[{"value": -6, "unit": "hours"}]),
                 ["clocks.triaje.remind_before[0]", "positive"],
                 id="a negative reminder"),
    pytest.param(setter("clocks", "seguimiento", "escalate",
                        value=[{"after": {"value": 45, "unit": "calendar_days"}, "relation": "punto_focal"}]),
                 ["clock 'seguimiento'", "a repeating clock is a periodic prompt and cannot escalate"],
                 id="a repeating clock with escalation"),
    pytest.param(setter("clocks", "triaje", "repeats", value=True),
                 ["clock 'triaje'", "cannot escalate"],
                 id="an escalating clock made repeating"),
    pytest.param(deleter("calendar"),
                 ["clock 'informe_social'", "clock 'plan'", "clock 'reporte_migraciones'",
                  "counts working days, so the workflow needs calendar: {country: XX}"],
                 id="working days without a calendar"),
    pytest.param(both(WITHOUT_WORKING_DAY_CLOCKS, deleter("calendar"),
                      setter("clocks", "triaje", "escalate", 0, "after", value={"value": 2, "unit": "working_days"})),
                 ["clock 'triaje'", "counts working days"],
                 id="an escalation in working days without a calendar"),
    pytest.param(both(WITHOUT_WORKING_DAY_CLOCKS, deleter("calendar"),
                      setter("clocks", "cedula", "remind_before", value=[{"value": 5, "unit": "working_days"}])),
                 ["clock 'cedula'", "counts working days"],
                 id="a reminder in working days without a calendar"),
    pytest.param(setter("calendar", value={"time_zone": "America/Santiago"}),
                 ["clock 'informe_social'", "counts working days"],
                 id="a calendar without a country"),
    pytest.param(setter("calendar", value={"time_zone": "America/Santiago", "country": "ZZ"}),
                 ["calendar.country", "does not know the country 'ZZ'"],
                 id="an unknown country code"),
    pytest.param(setter("calendar", value={"time_zone": "America/Santiago", "country": "cl"}),
                 ["calendar.country", "two-letter ISO 3166 code", "'cl'"],
                 id="a country code in lower case"),
    pytest.param(setter("calendar", value={"time_zone": "America/Santiago", "country": "CHL"}),
                 ["calendar.country", "two-letter ISO 3166 code", "'CHL'"],
                 id="a three-letter country code"),
    pytest.param(setter("calendar", value={"time_zone": "America/Santiago", "country": "Chile"}),
                 ["calendar.country", "two-letter ISO 3166 code"],
                 id="a country name"),
    pytest.param(setter("calendar", value={"time_zone": "America/Santiago", "country": 56}),
                 ["calendar.country", "two-letter ISO 3166 code", "56"],
                 id="a country as a number"),
    pytest.param(setter("calendar", value={"time_zone": "America/Santiago", "country": "CL", "region": "RM"}),
                 ["calendar", "unknown keys ['region']"],
                 id="an unknown key in the calendar"),
    pytest.param(setter("calendar", value={"country": "CL"}),
                 ["calendar", "missing 'time_zone'"],
                 id="a calendar without its time zone"),
    pytest.param(setter("calendar", value={"country": "CL", "time_zone": "Chile/Santiago de Chile"}),
                 ["calendar.time_zone", "unknown IANA time zone"],
                 id="a time zone the IANA database does not know"),
    pytest.param(setter("calendar", value="CL"),
                 ["calendar", "expected a mapping"],
                 id="a calendar that is not a mapping"),
    pytest.param(setter("calendar", value={"time_zone": "America/Santiago", "country": "CL", "subdivision": "ZZ"}),
                 ["calendar", "subdivision", "ZZ"],
                 id="a subdivision the holidays calendar does not know"),
    # a deadline typed into a form, and conditions on the start
    pytest.param(setter("clocks", "prorroga_permiso", "duration", value={"value": 30, "unit": "calendar_days"}),
                 ["clocks.prorroga_permiso", "either duration or deadline_from"],
                 id="a clock with both a duration and a typed deadline"),
    pytest.param(deleter("clocks", "cedula", "duration"),
                 ["clocks.cedula", "either duration or deadline_from"],
                 id="a clock with neither"),
    pytest.param(setter("clocks", "prorroga_permiso", "deadline_from", value="resolucion_residencia.numero_permiso"),
                 ["clock 'prorroga_permiso'", "not a date field"],
                 id="a typed deadline that is not a date"),
    pytest.param(setter("clocks", "prorroga_permiso", "deadline_from", value="vigencia_fin"),
                 ["clocks.prorroga_permiso.deadline_from", "expected form.field"],
                 id="a typed deadline without its form"),
    pytest.param(setter("clocks", "prorroga_permiso", "starts_on", value={"track_state": "residencia.otorgada"}),
                 ["clock 'prorroga_permiso'", "starts on transitions only"],
                 id="a typed deadline started by something that records no form"),
    pytest.param(setter("clocks", "prorroga_permiso", "starts_on", value={"transition": "solicitar_prorroga"}),
                 ["clock 'prorroga_permiso'", "does not record the form 'resolucion_residencia'"],
                 id="a typed deadline started by a transition with another form"),
    pytest.param(setter("clocks", "prorroga_permiso", "repeats", value=True),
                 ["clock 'prorroga_permiso'", "cannot repeat"],
                 id="a repeating clock with a typed deadline"),
    pytest.param(setter("clocks", "denuncia_obligatoria", "when", value={"field": "ficha.denuncia_hecha", "equals": "no"}),
                 ["clock 'denuncia_obligatoria'", "denuncia_hecha"],
                 id="a start condition on an unknown field"),
    pytest.param(setter("clocks", "denuncia_obligatoria", "started_by", value="LawEnforcement"),
                 ["clocks.denuncia_obligatoria.started_by", "list of names"],
                 id="started_by that is not a list"),
    pytest.param(setter("clocks", "denuncia_obligatoria_punto_focal", "started_by", value=["LawEnforcement"]),
                 ["clock 'denuncia_obligatoria_punto_focal'", "started_by or not_started_by, not both"],
                 id="started_by and not_started_by together"),
    pytest.param(setter("clocks", "denuncia_obligatoria_punto_focal", "not_started_by", value="NGO"),
                 ["clocks.denuncia_obligatoria_punto_focal.not_started_by", "list of names"],
                 id="not_started_by that is not a list"),
]


@pytest.mark.parametrize(("mutate", "fragments"), INVALID)
def test_the_validator_refuses_a_clock_or_calendar_that_cannot_work(
        tmp_path: Path, mutate: Mutation, fragments: list[str]) -> None:
    assert_names(refusal_of(rewritten(tmp_path, mutate)), *fragments)


def test_without_a_calendar_only_the_working_day_clocks_are_named(tmp_path: Path) -> None:
    message = refusal_of(rewritten(tmp_path, deleter("calendar")))
    for key in ("triaje", "seguimiento", "cedula"):
        assert f"clock '{key}'" not in message, message


@pytest.mark.parametrize("mutate", [
    pytest.param(both(WITHOUT_WORKING_DAY_CLOCKS, deleter("calendar")), id="no working days, no calendar"),
    pytest.param(setter("calendar", value={"time_zone": "America/Santiago", "country": "CL", "subdivision": "RM"}), id="a known subdivision"),
    pytest.param(setter("calendar", value={"time_zone": "America/Santiago", "country": "AR"}), id="another supported country"),
    pytest.param(setter("clocks", "triaje", "remind_before", value=[{"value": 23, "unit": "hours"}]),
                 id="a reminder an hour after the start"),
])
def test_the_validator_accepts_a_working_variant(tmp_path: Path, mutate: Mutation) -> None:
    definition = load_definition(rewritten(tmp_path, mutate))
    assert "triaje" in definition.clocks


def test_the_chilean_definition_declares_its_calendar_and_clocks(chile: WorkflowDefinition) -> None:
    assert chile.calendar.country == "CL"
    assert chile.calendar.subdivision is None
    assert set(chile.clocks) == ALL_CLOCKS
    triage = chile.clocks["triaje"]
    assert triage.duration == Duration(24, "hours")
    assert triage.remind == ("punto_focal",)
    assert triage.remind_before == (Duration(6, "hours"),)
    assert triage.escalate == ((Duration(48, "hours"), "coordinacion_nacional"),)
    assert triage.stops_on == {"transition": ["activar", "no_activar"]}
    assert chile.clocks["seguimiento"].repeats and chile.clocks["reporte_migraciones"].repeats
    assert not chile.clocks["cedula"].stops_on
