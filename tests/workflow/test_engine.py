"""The generic engine over Chile's Protocolo, the forms layer, and a second, non-Chilean workflow.

No Flask and no database: facts are built by hand as the service layer would gather them.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import textwrap
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from referral.workflow import (
    Actor, CaseFacts, Engine, FormFacts, Text, TransitionRefused, WorkflowDefinition, load_definition,
)
from referral.workflow.definition import Permit, Transition
from referral.workflow.forms import NOT_FUTURE, REQUIRED
from referral.workflow.predicates import (
    AllOf, AnyOf, Comparison, FieldIs, FlagIs, FormIs, InputIs, Not, Predicate, ReferralFacts, ReferralIs, StateIs,
    TrackIs,
)

ROOT = Path(__file__).resolve().parents[2]
CHILE = ROOT / "workflows" / "chile"
DEFINITION = load_definition(CHILE)
ENGINE = Engine(DEFINITION)
NOW = dt.datetime(2026, 11, 18, 12, 0)  # local wall-clock time, naive, as forms are typed
TODAY = NOW.date()

ACTIVATED = ("activado", "informe_social", "plan_en_elaboracion", "plan_en_ejecucion", "seguimiento")
NOT_ACTIVATED = ("detectado", "en_evaluacion", "informacion_solicitada", "no_activado", "cerrado")

LEAD = Actor("gestor", frozenset({"nodo_lider"}))
FOCAL_POINT = Actor("coordinador", frozenset({"punto_focal"}))
NATIONAL = Actor("coordinador", frozenset({"coordinacion_nacional"}))
DETECTOR = Actor("deteccion", frozenset({"nodo_detector"}))
MIGRATION = Actor("migraciones", frozenset({"servicio_migraciones"}))


def facts(state: str, *, tracks: Mapping[str, str] | None = None, nationality: str = "VE",
          consent: str = "si", **forms: FormFacts) -> CaseFacts:
    """A case in `state` whose Ficha was submitted (foreign national, consenting unless told)."""
    ficha = FormFacts("submitted", True, {"nacionalidad": nationality, "consentimiento": consent})
    return CaseFacts(state=state, tracks=dict(tracks or {}), forms={"ficha": ficha, **forms})


def refusal(key: str, case: CaseFacts, actor: Actor, values: Mapping[str, Any] | None = None) -> TransitionRefused:
    with pytest.raises(TransitionRefused) as caught:
        ENGINE.check(key, case, actor, values)
    return caught.value


def guard_message(key: str, index: int = 0) -> Text:
    return DEFINITION.transition(key).guards[index].message


def option_keys(case: CaseFacts, actor: Actor) -> set[str]:
    return {option.transition.key for option in ENGINE.options(case, actor)}


# -- facts that satisfy a transition, built from the definition ------------------------------------
#
# A tiny solver over the predicate language: make a predicate true (or false) by assigning facts,
# refusing contradictory assignments. It knows the predicate classes, never a Chilean name.

FORM_STATUSES = ("draft", "submitted", "returned", "approved", "none")
OTHER = "__another_value__"


class Conflict(Exception):
    pass


class FactsBuilder:
    def __init__(self, definition: WorkflowDefinition, assigned: dict[tuple[Any, ...], Any] | None = None):
        self.definition = definition
        self.assigned: dict[tuple[Any, ...], Any] = dict(assigned or {})

    def copy(self) -> FactsBuilder:
        return FactsBuilder(self.definition, self.assigned)

    def set(self, key: tuple[Any, ...], value: Any) -> None:
        if key in self.assigned and self.assigned[key] != value:
            raise Conflict(f"{key}: {self.assigned[key]!r} and {value!r}")
        self.assigned[key] = value

    def first_that_fits(self, attempts: list[Any]) -> None:
        """Apply the first attempt (a function of a builder) that causes no conflict."""
        for attempt in attempts:
            trial = self.copy()
            try:
                attempt(trial)
            except Conflict:
                continue
            self.assigned = trial.assigned
            return
        raise Conflict(f"no way to satisfy {attempts}")

    def make(self, predicate: Predicate, want: bool) -> None:
        if isinstance(predicate, Not):
            self.make(predicate.part, not want)
        elif isinstance(predicate, (AllOf, AnyOf)):
            every = want if isinstance(predicate, AllOf) else not want
            if every:
                for part in predicate.parts:
                    self.make(part, want)
            else:
                self.first_that_fits([lambda b, p=part: b.make(p, want) for part in predicate.parts])
        elif isinstance(predicate, StateIs):
            choices = predicate.states if want else [s for s in self.definition.main.states if s not in predicate.states]
            self.first_that_fits([lambda b, s=s: b.set(("state",), s) for s in choices])
        elif isinstance(predicate, TrackIs):
            every = (None, *self.definition.tracks[predicate.track].states)
            choices = predicate.states if want else [s for s in every if s not in predicate.states]
            self.first_that_fits([lambda b, s=s: b.set(("track", predicate.track), s) for s in choices])
        elif isinstance(predicate, FormIs):
            self._make_form(predicate, want)
        elif isinstance(predicate, FieldIs):
            self.set(("field", predicate.form, predicate.path), value_making(predicate.comparison, want))
        elif isinstance(predicate, InputIs):
            self.set(("input", predicate.path), value_making(predicate.comparison, want))
        elif isinstance(predicate, FlagIs):
            self.set(("flag", predicate.flag), want)
        elif isinstance(predicate, ReferralIs):
            self.set(("referral", predicate), want)  # true: build() adds one referral that matches it
        else:
            raise TypeError(f"the test solver does not know {predicate!r}")

    def _make_form(self, predicate: FormIs, want: bool) -> None:
        statuses = predicate.statuses if predicate.statuses is not None else FORM_STATUSES
        if want:
            complete = predicate.complete if predicate.complete is not None else True
            self.first_that_fits([
                lambda b, s=s: (b.set(("status", predicate.form), s), b.set(("complete", predicate.form), complete))
                for s in statuses
            ])
        else:
            attempts = [lambda b, s=s: b.set(("status", predicate.form), s)
                        for s in FORM_STATUSES if s not in statuses]
            if predicate.complete is not None:
                attempts.append(lambda b: b.set(("complete", predicate.form), not predicate.complete))
            self.first_that_fits(attempts)

    def build(self, with_form: bool) -> tuple[CaseFacts, dict[str, Any] | None]:
        state = self.assigned.get(("state",), self.definition.main.initial)
        tracks = {key[1]: value for key, value in self.assigned.items() if key[0] == "track" and value is not None}
        flags = {key[1]: value for key, value in self.assigned.items() if key[0] == "flag"}
        names = {key[1] for key in self.assigned if key[0] in ("status", "complete", "field")}
        forms = {}
        for name in names:
            values: dict[str, Any] = {}
            for key, value in self.assigned.items():
                if key[0] == "field" and key[1] == name:
                    put(values, key[2], value)
            forms[name] = FormFacts(self.assigned.get(("status", name), "submitted"),
                                    self.assigned.get(("complete", name), True), values)
        inputs: dict[str, Any] = {}
        for key, value in self.assigned.items():
            if key[0] == "input":
                put(inputs, key[1], value)
        referrals = tuple(
            ReferralFacts(key[1].kinds[0] if key[1].kinds else "derivacion",
                          key[1].services[0] if key[1].services else None,
                          key[1].states[0] if key[1].states else "pendiente", frozenset(key[1].to[:1]))
            for key, value in self.assigned.items() if key[0] == "referral" and value)
        return (CaseFacts(state, tracks, flags, forms, referrals=referrals),
                (inputs if inputs or with_form else None))


def put(values: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for part in path[:-1]:
        values = values.setdefault(part, {})
    values[path[-1]] = value


def value_making(comparison: Comparison, want: bool) -> Any:
    op, operand = comparison.operator, comparison.operand
    if want:
        value = {"equals": operand, "in": operand[0] if isinstance(operand, tuple) else operand,
                 "not_in": OTHER, "is_set": "set" if operand else None, "contains": [operand],
                 "contains_any": [operand[0]] if isinstance(operand, tuple) else [], "at_least": operand}[op]
    else:
        value = {"equals": OTHER, "in": OTHER, "not_in": operand[0] if isinstance(operand, tuple) else None,
                 "is_set": None if operand else "set", "contains": [], "contains_any": [], "at_least": None}[op]
    assert comparison.test(value) is want, (comparison, value, want)
    return value


def satisfying(definition: WorkflowDefinition, transition: Transition,
               source: str | None) -> tuple[CaseFacts, dict[str, Any] | None]:
    """Facts where `transition` leaves `source` and every guard holds (its track available, if any)."""
    builder = FactsBuilder(definition)
    if transition.machine == "":
        builder.set(("state",), source)
    else:
        machine = definition.machine(transition.machine)
        if machine.available_when is not None:
            builder.make(machine.available_when, True)
        builder.set(("track", transition.machine), source)
    if transition.available_when is not None:
        builder.make(transition.available_when, True)
    for guard in transition.guards:
        builder.make(guard.check, True)
    return builder.build(with_form=transition.form is not None)


def assert_conditions_hold(definition: WorkflowDefinition, transition: Transition, case: CaseFacts,
                           values: Mapping[str, Any] | None) -> None:
    """The precondition of the matrix, checked with the definition's own predicates."""
    machine = definition.machine(transition.machine)
    current = case.state if transition.machine == "" else case.tracks.get(transition.machine)
    assert current in transition.sources
    if None in transition.sources and machine.available_when is not None:
        assert machine.available_when.evaluate(case, None) is True
    if transition.available_when is not None:
        assert transition.available_when.evaluate(case, None) is True
    for guard in transition.guards:
        assert guard.check.evaluate(case, values) is True, guard.message.en


def every_transition(definition: WorkflowDefinition) -> Iterator[Transition]:
    for machine in definition.machines():
        yield from machine.transitions.values()


MATRIX = [
    pytest.param(t.key, role, relation, id=f"{t.key}-by-{role}-from-{relation}")
    for t in every_transition(DEFINITION)
    for role in DEFINITION.roles
    for relation in DEFINITION.relations
]


# -- who may fire what: the matrix ---------------------------------------------------------------------


def test_the_matrix_covers_every_transition_of_the_case_and_its_tracks() -> None:
    keys = {t.key for t in every_transition(DEFINITION)}
    assert {"tomar_caso", "activar", "cerrar", "reabrir", "iniciar_residencia", "otorgar_definitiva"} <= keys
    assert len(MATRIX) == len(keys) * len(DEFINITION.roles) * len(DEFINITION.relations)


@pytest.mark.parametrize(("key", "role", "relation"), MATRIX)
def test_a_transition_is_allowed_exactly_for_the_role_and_relation_pairs_it_permits(
    key: str, role: str, relation: str
) -> None:
    transition = DEFINITION.transition(key)
    case, values = satisfying(DEFINITION, transition, transition.sources[0])
    assert_conditions_hold(DEFINITION, transition, case, values)
    actor = Actor(role, frozenset({relation}))

    if Permit(role, relation) in transition.permits:
        assert ENGINE.check(key, case, actor, values) is transition
        assert key in option_keys(case, actor)
    else:
        with pytest.raises(TransitionRefused) as caught:
            ENGINE.check(key, case, actor, values)
        assert caught.value.code == "forbidden"
        assert key not in option_keys(case, actor)


@pytest.mark.parametrize(
    ("key", "source"),
    [pytest.param(t.key, s, id=f"{t.key}-from-{s or 'not-started'}") for t in every_transition(DEFINITION)
     for s in t.sources],
)
def test_a_permitted_actor_may_fire_a_transition_from_each_of_its_source_states(key: str, source: str | None) -> None:
    transition = DEFINITION.transition(key)
    case, values = satisfying(DEFINITION, transition, source)
    assert_conditions_hold(DEFINITION, transition, case, values)
    for permit in transition.permits:
        assert ENGINE.check(key, case, Actor(permit.role, frozenset({permit.relation})), values) is transition


def test_an_actor_holding_several_relations_may_fire_what_any_of_them_permits() -> None:
    case = facts("informe_social", informe_social=FormFacts("draft", True))
    actor = Actor("gestor", frozenset({"nodo_detector", "nodo_lider"}))
    assert ENGINE.check("enviar_informe", case, actor).key == "enviar_informe"


def test_a_refusal_for_the_wrong_role_names_the_role_and_the_action_in_both_languages() -> None:
    refused = refusal("tomar_caso", facts("detectado"), LEAD)
    role, action = DEFINITION.roles["gestor"].label, DEFINITION.transition("tomar_caso").label
    assert refused.code == "forbidden"
    assert role.es in refused.reason.es and f"«{action.es}»" in refused.reason.es
    assert role.en in refused.reason.en and f"«{action.en}»" in refused.reason.en


def test_an_unknown_transition_is_refused_as_unknown() -> None:
    assert refusal("archivar", facts("detectado"), FOCAL_POINT).code == "unknown"


def test_the_auditor_may_fire_nothing_whatever_relation_it_holds() -> None:
    auditor = Actor("auditor", frozenset(DEFINITION.relations))
    for state in DEFINITION.main.states:
        assert option_keys(facts(state, tracks={"residencia": "presentada"}), auditor) == set()


# -- wrong state ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "state", "actor"),
    [
        pytest.param("tomar_caso", "activado", FOCAL_POINT, id="taking an activated case"),
        pytest.param("activar", "cerrado", NATIONAL, id="activating a closed case"),
        pytest.param("aprobar_plan", "informe_social", FOCAL_POINT, id="approving a plan while the social report is open"),
        pytest.param("reabrir", "seguimiento", FOCAL_POINT, id="reopening a case that is not closed"),
        pytest.param("responder_informacion", "en_evaluacion", DETECTOR, id="answering when nothing was asked"),
    ],
)
def test_a_permitted_actor_in_the_wrong_state_is_refused_with_the_state_named(key: str, state: str, actor: Actor) -> None:
    refused = refusal(key, facts(state, informe_social=FormFacts("submitted", True),
                                 plan=FormFacts("submitted", True)), actor)
    label = DEFINITION.main.states[state].label
    assert label.es and label.en
    assert refused.code == "state"
    assert f"«{label.es}»" in refused.reason.es and "el caso" in refused.reason.es
    assert f"«{label.en}»" in refused.reason.en and "the case" in refused.reason.en


def test_a_track_transition_in_the_wrong_track_state_names_the_track_and_its_state() -> None:
    refused = refusal("registrar_tramite", facts("seguimiento", tracks={"residencia": "otorgada"}), MIGRATION)
    track = DEFINITION.tracks["residencia"]
    state = track.states["otorgada"].label
    assert refused.code == "state"
    assert track.label.es in refused.reason.es and f"«{state.es}»" in refused.reason.es
    assert track.label.en in refused.reason.en and f"«{state.en}»" in refused.reason.en


def test_a_track_cannot_be_started_twice() -> None:
    refused = refusal("iniciar_residencia", facts("seguimiento", tracks={"residencia": "preparando"}), LEAD)
    state = DEFINITION.tracks["residencia"].states["preparando"].label
    assert refused.code == "state"
    assert f"«{state.es}»" in refused.reason.es and f"«{state.en}»" in refused.reason.en


# -- guards of the Chilean protocol ------------------------------------------------------------------------


@pytest.mark.parametrize("consent", ["si", "no_consultado_nna", "no_consultado_incapacidad"])
def test_activation_is_allowed_when_the_person_consented_or_could_not_be_asked(consent: str) -> None:
    assert ENGINE.check("activar", facts("en_evaluacion", consent=consent), FOCAL_POINT).key == "activar"


def test_activation_is_refused_when_the_person_did_not_consent() -> None:
    refused = refusal("activar", facts("en_evaluacion", consent="no"), FOCAL_POINT)
    assert refused.code == "guard"
    assert refused.reason == guard_message("activar")
    assert "no consintió" in refused.reason.es


def test_a_refused_activation_is_still_offered_with_its_reason() -> None:
    options = {o.transition.key: o for o in ENGINE.options(facts("detectado", consent="no"), FOCAL_POINT)}
    assert set(options) == {"tomar_caso", "solicitar_informacion", "activar", "no_activar", "registrar_causa"}
    assert options["activar"].refusal is not None and options["activar"].refusal.code == "guard"
    assert options["no_activar"].refusal is None


@pytest.mark.parametrize(
    ("record", "allowed"),
    [
        pytest.param(FormFacts("draft", True), True, id="complete draft"),
        pytest.param(FormFacts("returned", True), True, id="complete returned"),
        pytest.param(FormFacts("draft", False), False, id="incomplete draft"),
        pytest.param(FormFacts("returned", False), False, id="incomplete returned"),
        pytest.param(FormFacts("submitted", True), False, id="already submitted"),
        pytest.param(FormFacts("approved", True), False, id="already approved"),
        pytest.param(None, False, id="not started"),
    ],
)
def test_submitting_the_social_report_needs_it_complete_and_in_draft_or_returned(
    record: FormFacts | None, allowed: bool
) -> None:
    case = facts("informe_social", **({"informe_social": record} if record else {}))
    if allowed:
        assert ENGINE.check("enviar_informe", case, LEAD).key == "enviar_informe"
    else:
        assert refusal("enviar_informe", case, LEAD).code == "guard"


@pytest.mark.parametrize(
    ("status", "allowed"),
    [("submitted", True), ("draft", False), ("returned", False), ("approved", False), (None, False)],
    ids=["submitted", "draft", "returned", "approved", "not started"],
)
def test_approving_the_social_report_needs_it_submitted(status: str | None, allowed: bool) -> None:
    case = facts("informe_social", **({"informe_social": FormFacts(status, True)} if status else {}))
    for key in ("aprobar_informe", "devolver_informe"):
        if allowed:
            assert ENGINE.check(key, case, FOCAL_POINT).key == key
        else:
            assert refusal(key, case, FOCAL_POINT).code == "guard"


def test_follow_up_is_refused_while_a_plan_revision_is_submitted() -> None:
    refused = refusal("iniciar_seguimiento", facts("plan_en_ejecucion", plan=FormFacts("submitted", True)), LEAD)
    assert refused.code == "guard"
    assert refused.reason == guard_message("iniciar_seguimiento")


def test_follow_up_is_allowed_once_the_plan_is_approved() -> None:
    case = facts("plan_en_ejecucion", plan=FormFacts("approved", True))
    assert ENGINE.check("iniciar_seguimiento", case, LEAD).key == "iniciar_seguimiento"
    assert ENGINE.check("iniciar_seguimiento", case, FOCAL_POINT).key == "iniciar_seguimiento"


def closing(track: str | None, grave_danger: bool, retorno: str | None = "concluido") -> CaseFacts:
    """A case in follow-up; by default the person's own return (track `retorno`) is on record, concluded."""
    request = FormFacts("submitted", True, {"peligro_grave": grave_danger})
    tracks = {**({"residencia": track} if track else {}), **({"retorno": retorno} if retorno else {})}
    return facts("seguimiento", tracks=tracks, solicitud_residencia=request)


@pytest.mark.parametrize("track", ["preparando", "presentada", "en_tramite"])
def test_assisted_return_is_refused_while_a_residence_request_declaring_grave_danger_is_pending(track: str) -> None:
    refused = refusal("cerrar", closing(track, True, retorno=None), LEAD, {"motivo": "retorno_asistido"})
    assert refused.code == "guard"
    assert refused.reason == guard_message("cerrar")
    assert "Ley 21.325" in refused.reason.es and "Ley 21.325" in refused.reason.en  # the law, no unverified article


@pytest.mark.parametrize("track", ["preparando", "presentada", "en_tramite"])
def test_assisted_return_is_allowed_when_the_pending_request_declares_no_grave_danger(track: str) -> None:
    assert ENGINE.check("cerrar", closing(track, False), LEAD, {"motivo": "retorno_asistido"}).key == "cerrar"


@pytest.mark.parametrize("track", ["otorgada", "rechazada", "definitiva", None],
                         ids=["otorgada", "rechazada", "definitiva", "no request"])
def test_assisted_return_is_allowed_when_no_residence_request_is_pending(track: str | None) -> None:
    assert ENGINE.check("cerrar", closing(track, True), LEAD, {"motivo": "retorno_asistido"}).key == "cerrar"


@pytest.mark.parametrize("retorno", [None, "solicitado", "preparando", "viaje_programado", "en_reintegracion",
                                     "desistido"])
def test_closing_as_a_return_is_refused_unless_her_own_return_is_concluded(retorno: str | None) -> None:
    """Issue 15 item 4: a return is hers or none; without a pending dangerous request only this rule holds."""
    refused = refusal("cerrar", closing(None, False, retorno=retorno), LEAD, {"motivo": "retorno_asistido"})
    assert refused.code == "guard"
    assert refused.reason.es.startswith("El retorno asistido es voluntario")
    assert "Ley 21.325" not in refused.reason.es


@pytest.mark.parametrize("reason", ["objetivos_cumplidos", "traslado", "desiste", "perdida_contacto", "fallecimiento"])
def test_closing_for_another_reason_is_allowed_while_a_dangerous_request_is_pending(reason: str) -> None:
    assert ENGINE.check("cerrar", closing("presentada", True, retorno=None), LEAD, {"motivo": reason}).key == "cerrar"


def test_the_return_rule_is_left_open_while_the_closing_form_is_not_typed() -> None:
    case = closing("presentada", True, retorno=None)
    options = {o.transition.key: o for o in ENGINE.options(case, LEAD)}
    assert "cerrar" in options and options["cerrar"].refusal is None
    assert ENGINE.check("cerrar", case, LEAD, None).key == "cerrar"


# -- the residence track ---------------------------------------------------------------------------------


@pytest.mark.parametrize("state", ACTIVATED + NOT_ACTIVATED)
@pytest.mark.parametrize("nationality", ["VE", "HT", "CL"])
def test_the_residence_track_is_available_only_to_a_foreign_national_in_an_activated_case(
    state: str, nationality: str
) -> None:
    case = facts(state, nationality=nationality)
    available = state in ACTIVATED and nationality != "CL"
    for actor in (LEAD, FOCAL_POINT, NATIONAL):
        assert ("iniciar_residencia" in option_keys(case, actor)) is available
        if available:
            assert ENGINE.check("iniciar_residencia", case, actor).key == "iniciar_residencia"
        else:
            refused = refusal("iniciar_residencia", case, actor)
            assert refused.code == "state"
            assert "no está disponible" in refused.reason.es and "not available" in refused.reason.en


# -- options, editing, reading ---------------------------------------------------------------------------

CAUSA = {"registrar_causa"}  # the criminal case may be recorded on any open case by the team


@pytest.mark.parametrize(
    ("case", "actor", "expected"),
    [
        pytest.param(facts("detectado"), FOCAL_POINT, {"tomar_caso", "solicitar_informacion", "activar", "no_activar"} | CAUSA,
                     id="focal point on a new case"),
        pytest.param(facts("detectado"), NATIONAL, {"tomar_caso", "solicitar_informacion", "activar", "no_activar"} | CAUSA,
                     id="national coordination on a new case"),
        pytest.param(facts("detectado"), DETECTOR, set(), id="detecting node on a new case"),
        pytest.param(facts("informacion_solicitada"), DETECTOR, {"responder_informacion"},
                     id="detecting node asked for information"),
        pytest.param(facts("informacion_solicitada"), FOCAL_POINT, CAUSA, id="focal point waiting for information"),
        pytest.param(facts("no_activado"), FOCAL_POINT, {"reabrir_evaluacion"}, id="focal point on a case not activated"),
        pytest.param(facts("activado", nationality="CL"), LEAD, {"iniciar_informe", "cerrar"} | CAUSA,
                     id="lead on an activated Chilean case"),
        pytest.param(facts("informe_social", nationality="CL"), LEAD, {"enviar_informe", "cerrar"} | CAUSA,
                     id="lead writing the report for a Chilean"),
        pytest.param(facts("informe_social"), LEAD, {"enviar_informe", "cerrar", "iniciar_residencia", "solicitar_retorno"} | CAUSA,
                     id="lead writing the report for a foreign national"),
        pytest.param(facts("informe_social"), FOCAL_POINT,
                     {"aprobar_informe", "devolver_informe", "cerrar", "iniciar_residencia", "solicitar_retorno"} | CAUSA,
                     id="focal point reviewing the report"),
        pytest.param(facts("plan_en_ejecucion", tracks={"residencia": "otorgada"}), FOCAL_POINT,
                     {"aprobar_revision_plan", "devolver_plan", "iniciar_seguimiento", "cerrar", "solicitar_prorroga",
                      "solicitar_retorno"} | CAUSA,
                     id="focal point on a plan in progress with residence granted"),
        pytest.param(facts("plan_en_ejecucion", tracks={"residencia": "otorgada"}), LEAD,
                     {"enviar_plan", "iniciar_seguimiento", "cerrar", "solicitar_prorroga", "solicitar_retorno"} | CAUSA,
                     id="lead on a plan in progress with residence granted"),
        pytest.param(facts("seguimiento", tracks={"residencia": "presentada"}), MIGRATION,
                     {"registrar_tramite", "otorgar_residencia", "rechazar_residencia"},
                     id="migration service on a submitted request"),
        pytest.param(facts("seguimiento", tracks={"residencia": "otorgada"}), MIGRATION, {"otorgar_definitiva"},
                     id="migration service on a granted residence"),
        pytest.param(facts("seguimiento", tracks={"residencia": "preparando"}), LEAD,
                     {"enviar_plan", "reanudar_plan", "cerrar", "presentar_residencia", "solicitar_retorno"} | CAUSA,
                     id="lead in follow-up preparing a residence request"),
        pytest.param(facts("cerrado"), NATIONAL, {"reabrir", "reabrir_sin_plan"},
                     id="national coordination on a closed case"),
        pytest.param(facts("cerrado"), LEAD, set(), id="lead on a closed case"),
    ],
)
def test_options_list_exactly_the_permitted_transitions_from_the_current_states(
    case: CaseFacts, actor: Actor, expected: set[str]
) -> None:
    options = ENGINE.options(case, actor)
    assert {o.transition.key for o in options} == expected
    assert len(options) == len(expected)


@pytest.mark.parametrize("state", list(DEFINITION.main.states))
@pytest.mark.parametrize("role", list(DEFINITION.roles))
@pytest.mark.parametrize("relation", list(DEFINITION.relations))
def test_every_option_is_a_permitted_transition_from_a_current_state(state: str, role: str, relation: str) -> None:
    actor = Actor(role, frozenset({relation}))
    for track_state in (None, *DEFINITION.tracks["residencia"].states):
        case = facts(state, tracks={"residencia": track_state} if track_state else {})
        for option in ENGINE.options(case, actor):
            t = option.transition
            assert Permit(role, relation) in t.permits
            assert (case.state if t.machine == "" else case.tracks.get(t.machine)) in t.sources
            try:
                ENGINE.check(t.key, case, actor)
            except TransitionRefused as refused:
                assert option.refusal is not None and refused.code == option.refusal.code == "guard"
            else:
                assert option.refusal is None


@pytest.mark.parametrize("actor", [LEAD, Actor("gestor", frozenset({"nodo_detector", "nodo_lider"}))],
                         ids=["lead", "lead that also detected"])
@pytest.mark.parametrize("status", ["draft", "returned", None], ids=["draft", "returned", "not started"])
def test_the_lead_may_edit_the_social_report_while_it_is_being_written(actor: Actor, status: str | None) -> None:
    case = facts("informe_social", **({"informe_social": FormFacts(status, False)} if status else {}))
    assert ENGINE.edit_refusal("informe_social", case, actor) is None


@pytest.mark.parametrize(
    "actor",
    [FOCAL_POINT, NATIONAL, DETECTOR, MIGRATION, Actor("gestor", frozenset({"nodo_detector"})),
     Actor("coordinador", frozenset({"nodo_lider"})), Actor("auditor", frozenset({"nodo_lider"}))],
    ids=["focal point", "national coordination", "detecting node", "migration service", "case worker of another node",
         "coordinator of the lead node", "auditor"],
)
def test_nobody_else_may_edit_the_social_report(actor: Actor) -> None:
    refused = ENGINE.edit_refusal("informe_social", facts("informe_social"), actor)
    label = DEFINITION.form("informe_social").label
    assert refused is not None and refused.code == "forbidden"
    assert f"«{label.es}»" in refused.reason.es and f"«{label.en}»" in refused.reason.en


@pytest.mark.parametrize("state", [s for s in DEFINITION.main.states if s != "informe_social"])
def test_the_social_report_cannot_be_edited_outside_its_stage(state: str) -> None:
    refused = ENGINE.edit_refusal("informe_social", facts(state, informe_social=FormFacts("draft", False)), LEAD)
    assert refused is not None and refused.code == "state"


def test_a_submitted_social_report_cannot_be_edited_until_reviewed() -> None:
    refused = ENGINE.edit_refusal("informe_social", facts("informe_social", informe_social=FormFacts("submitted", True)),
                                  LEAD)
    assert refused is not None and refused.code == "state"
    assert "enviado" in refused.reason.es and "submitted" in refused.reason.en


def test_a_form_without_editors_cannot_be_edited_by_anyone() -> None:
    for role in DEFINITION.roles:
        refused = ENGINE.edit_refusal("devolucion", facts("informe_social"), Actor(role, frozenset(DEFINITION.relations)))
        assert refused is not None and refused.code == "forbidden"


@pytest.mark.parametrize(
    ("form", "relation", "readable"),
    [
        ("informe_social", "nodo_lider", True),
        ("informe_social", "punto_focal", True),
        ("informe_social", "coordinacion_nacional", True),
        ("informe_social", "nodo_detector", False),
        ("informe_social", "servicio_migraciones", False),
        ("ficha", "nodo_detector", True),
        ("ficha", "servicio_migraciones", False),
        ("solicitud_residencia", "servicio_migraciones", True),
        ("solicitud_residencia", "nodo_detector", False),
        ("solicitud_informacion", "nodo_lider", False),
        ("cierre", "nodo_detector", False),
        ("cierre", "nodo_lider", True),
    ],
)
def test_reading_a_form_honours_its_readers(form: str, relation: str, readable: bool) -> None:
    assert ENGINE.can_read(form, frozenset({relation})) is readable


def test_a_node_without_any_relation_to_the_case_reads_nothing() -> None:
    for form in DEFINITION.forms:
        assert ENGINE.can_read(form, frozenset()) is False


def test_a_node_reads_a_form_if_any_of_its_relations_may() -> None:
    assert ENGINE.can_read("informe_social", frozenset({"nodo_detector", "nodo_lider"})) is True


def test_the_engine_decrypts_only_the_forms_its_conditions_read() -> None:
    # causa_penal: the non-punishment notice; causa_termino: reopening only a provisional filing
    assert ENGINE.fact_forms == {"ficha", "solicitud_residencia", "causa_penal", "causa_termino", "retorno_documentos",
                                 "retorno_solicitud"}


# -- flags ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ficha", "expected", "priority"),
    [
        pytest.param({}, {"nna": False, "urgente": False}, 0, id="nothing known"),
        pytest.param({"nna": False, "riesgos_inmediatos": []}, {"nna": False, "urgente": False}, 0, id="adult no risk"),
        pytest.param({"nna": True}, {"nna": True, "urgente": False}, 1, id="child"),
        pytest.param({"riesgos_inmediatos": ["peligro_inminente"]}, {"nna": False, "urgente": True}, 2, id="urgent"),
        pytest.param({"nna": True, "riesgos_inmediatos": ["tratante_busca", "necesidad_medica_urgente"]},
                     {"nna": True, "urgente": True}, 3, id="urgent child"),
    ],
)
def test_flags_come_from_the_ficha_and_priority_sums_them(
    ficha: dict[str, Any], expected: dict[str, bool], priority: int
) -> None:
    case = CaseFacts("detectado", forms={"ficha": FormFacts("submitted", True, ficha)})
    flags = ENGINE.flags(case)
    assert flags == expected
    assert ENGINE.priority(flags) == priority


def test_a_case_without_a_ficha_has_no_flags() -> None:
    assert ENGINE.flags(CaseFacts("detectado")) == {"nna": False, "urgente": False}


def test_a_birth_date_under_eighteen_makes_a_child_case() -> None:
    ficha = DEFINITION.form("ficha").normalise({"fecha_nacimiento": dt.date(2012, 3, 1)}, TODAY)
    case = CaseFacts("detectado", forms={"ficha": FormFacts("submitted", True, ficha)})
    assert ENGINE.flags(case)["nna"] is True


# -- the forms layer ------------------------------------------------------------------------------------

FICHA = DEFINITION.form("ficha")
FICHA_V1 = DEFINITION.form("ficha", 1)
# Version 2 (issue 15): only what routing needs, what was observed, consent and the complaint question; no
# element of the offence is required (the focal point qualifies the case).
FICHA_REQUIRED = {
    "fecha_deteccion", "lugar_deteccion", "contexto", "funcionario_contacto", "solicitante", "sexo", "edad_tipo",
    "indicadores", "denuncia_realizada", "consentimiento",
}


def complete_ficha(**changes: Any) -> dict[str, Any]:
    values = {
        "fecha_deteccion": dt.datetime(2026, 11, 17, 22, 30), "region": "RM", "comuna": "Santiago",
        "contexto": "centro_salud", "solicitante": "victima", "sexo": "F", "edad_tipo": "estimada",
        "edad_estimada": 30, "nacionalidad": "VE", "acciones": ["captacion", "traslado"], "medios": ["engano"],
        "fines": ["trabajos_forzados"], "tipo_trata": "laboral", "ambito": "internacional",
        "denuncia_realizada": "no", "consentimiento": "si", "consentimiento_de": "persona",
        "lugar_deteccion": "chile", "funcionario_contacto": "+56 2 2574 0000", "indicadores": ["deuda"],
    }
    values.update(changes)
    return {key: value for key, value in values.items() if value is not None}


def test_a_complete_ficha_has_no_problems() -> None:
    assert FICHA.problems(complete_ficha(), NOW, final=True) == {}
    assert FICHA.is_complete(complete_ficha(), NOW)


def test_an_empty_ficha_reports_every_required_field_on_submission() -> None:
    problems = FICHA.problems({}, NOW, final=True)
    assert set(problems) == FICHA_REQUIRED
    assert all(messages == [REQUIRED] for messages in problems.values())


def test_an_empty_ficha_draft_reports_nothing_missing() -> None:
    assert FICHA.problems({}, NOW, final=False) == {}


@pytest.mark.parametrize("key", sorted(FICHA_REQUIRED))
def test_each_required_ficha_field_is_reported_when_missing(key: str) -> None:
    values = complete_ficha(**{key: None})
    assert FICHA.problems(values, NOW, final=True) == {key: [REQUIRED]}
    assert FICHA.problems(values, NOW, final=False) == {}


def test_version_1_required_the_means_of_trafficking_for_an_adult() -> None:
    assert FICHA_V1.problems(complete_ficha(medios=None, nna=False), NOW, final=True) == {"medios": [REQUIRED]}


def test_version_1_did_not_require_the_means_of_trafficking_for_a_child() -> None:
    assert FICHA_V1.problems(complete_ficha(medios=None, nna=True), NOW, final=True) == {}


def test_a_ficha_on_indicators_alone_with_every_legal_element_unknown_is_complete() -> None:
    """Issue 15: a health worker who only saw indicators can file; the elements are the focal point's."""
    unknown = complete_ficha(acciones=None, medios=None, fines=None, tipo_trata=None, ambito=None, nacionalidad=None,
                             comuna=None)
    assert FICHA.problems(unknown, NOW, final=True) == {}
    marked = complete_ficha(acciones=["sin_informacion"], medios=["sin_informacion"], fines=["sin_informacion"],
                            tipo_trata="sin_informacion", ambito="sin_informacion")
    assert FICHA.problems(marked, NOW, final=True) == {}


@pytest.mark.parametrize(("changes", "missing"), [
    pytest.param({"lugar_deteccion": "chile", "region": None}, {"region"}, id="in Chile: the region"),
    pytest.param({"lugar_deteccion": "extranjero", "region": None}, {"pais_deteccion"},
                 id="abroad: the country, not the region"),
    pytest.param({"lugar_deteccion": "extranjero", "region": None, "pais_deteccion": "AR"}, set(),
                 id="abroad with its country"),
    pytest.param({"contexto": "fiscalizacion"}, {"organismo_fiscalizador"}, id="an inspection names its body"),
    pytest.param({"indicadores": ["otro"]}, {"indicador_otro"}, id="another indicator is described"),
    pytest.param({"denuncia_realizada": "si", "denuncia_ante": "fiscalia", "denuncia_fecha": dt.date(2026, 11, 17)},
                 {"denuncia_por"}, id="a complaint says who made it"),
    pytest.param({"denuncia_realizada": "si", "denuncia_ante": "fiscalia", "denuncia_fecha": dt.date(2026, 11, 17),
                  "denuncia_por": "institucional"}, {"victima_informada"},
                 id="an institutional complaint says whether the person was told first"),
    pytest.param({"denuncia_realizada": "si", "denuncia_ante": "fiscalia", "denuncia_fecha": dt.date(2026, 11, 17),
                  "denuncia_por": "institucional", "victima_informada": "si", "denuncia_ruc": "2400123456-7"}, set(),
                 id="an institutional complaint the person knew of, with its RUC"),
])
def test_what_the_version_2_ficha_requires_depends_on_where_and_what(changes: dict[str, Any], missing: set[str]) -> None:
    assert set(FICHA.problems(complete_ficha(**changes), NOW, final=True)) == missing


@pytest.mark.parametrize(
    ("changes", "child"),
    [
        pytest.param({"edad_tipo": "fecha_nacimiento", "edad_estimada": None, "fecha_nacimiento": dt.date(2009, 1, 1)},
                     True, id="born 2009"),
        pytest.param({"edad_tipo": "fecha_nacimiento", "edad_estimada": None,
                      "fecha_nacimiento": dt.date(2008, 11, 19)}, True, id="eighteen tomorrow"),
        pytest.param({"edad_tipo": "fecha_nacimiento", "edad_estimada": None,
                      "fecha_nacimiento": dt.date(2008, 11, 18)}, False, id="eighteen today"),
        pytest.param({"edad_estimada": 15}, True, id="estimated fifteen"),
        pytest.param({"edad_estimada": 18}, False, id="estimated eighteen"),
    ],
)
def test_a_child_derived_from_the_age_needs_no_means_of_trafficking(changes: dict[str, Any], child: bool) -> None:
    values = FICHA_V1.normalise(complete_ficha(medios=None, **changes), TODAY)  # version 1 required them of adults
    assert bool(values.get("nna")) is child
    expected = {} if child else {"medios": [REQUIRED]}
    assert FICHA_V1.problems(values, NOW, final=True) == expected
    assert FICHA.problems(FICHA.normalise(complete_ficha(medios=None, **changes), TODAY), NOW, final=True) == {}


def test_a_detection_in_the_future_is_refused() -> None:
    values = complete_ficha(fecha_deteccion=NOW + dt.timedelta(minutes=5))
    assert FICHA.problems(values, NOW, final=True) == {"fecha_deteccion": [NOT_FUTURE]}
    assert FICHA.problems(values, NOW, final=False) == {"fecha_deteccion": [NOT_FUTURE]}


def test_a_detection_earlier_today_is_accepted() -> None:
    assert FICHA.problems(complete_ficha(fecha_deteccion=NOW - dt.timedelta(hours=3)), NOW, final=True) == {}


def test_a_detection_before_2000_is_refused() -> None:
    problems = FICHA.problems(complete_ficha(fecha_deteccion=dt.datetime(1999, 12, 31, 23, 0)), NOW, final=True)
    assert list(problems) == ["fecha_deteccion"]
    assert "01-01-2000" in problems["fecha_deteccion"][0].es


def birth(day: dt.date) -> dict[str, Any]:
    return complete_ficha(edad_tipo="fecha_nacimiento", edad_estimada=None, fecha_nacimiento=day)


def test_a_birth_date_in_the_future_is_refused() -> None:
    problems = FICHA.problems(birth(TODAY + dt.timedelta(days=1)), NOW, final=True)
    assert problems == {"fecha_nacimiento": [NOT_FUTURE]}


def test_a_birth_date_implying_an_age_over_110_is_refused() -> None:
    problems = FICHA.problems(birth(dt.date(1915, 11, 18)), NOW, final=False)
    assert list(problems) == ["fecha_nacimiento"]
    assert "110" in problems["fecha_nacimiento"][0].es and "110" in problems["fecha_nacimiento"][0].en


def test_a_birth_date_implying_an_age_of_110_is_accepted() -> None:
    assert FICHA.problems(birth(dt.date(1916, 11, 18)), NOW, final=True) == {}


def test_a_birth_date_is_required_when_the_ficha_says_it_is_known() -> None:
    values = complete_ficha(edad_tipo="fecha_nacimiento", edad_estimada=None)
    assert FICHA.problems(values, NOW, final=True) == {"fecha_nacimiento": [REQUIRED]}


@pytest.mark.parametrize(
    ("changes", "missing"),
    [
        pytest.param({"contexto": "otro"}, {"contexto_otro"}, id="other setting needs a description"),
        pytest.param({"contexto": "otro", "contexto_otro": "feria libre"}, set(), id="other setting described"),
        pytest.param({"contexto": "albergue"}, set(), id="a listed setting needs no description"),
        pytest.param({"denuncia_realizada": "si"}, {"denuncia_ante", "denuncia_fecha", "denuncia_por"},
                     id="complaint made"),
        pytest.param({"denuncia_realizada": "si", "denuncia_ante": "fiscalia", "denuncia_fecha": dt.date(2026, 11, 1),
                      "denuncia_por": "victima_asistida"}, set(), id="complaint made and described"),
        pytest.param({"denuncia_realizada": "sin_informacion"}, set(), id="complaint unknown"),
        pytest.param({"idiomas": ["es", "otro"]}, {"idioma_otro"}, id="other language needs naming"),
        pytest.param({"consentimiento": "no_consultado_nna", "nna": True}, {"consentimiento_motivo"},
                     id="consent not asked needs a reason"),
    ],
)
def test_conditional_requirements_of_the_ficha(changes: dict[str, Any], missing: set[str]) -> None:
    problems = FICHA.problems(complete_ficha(**changes), NOW, final=True)
    assert problems == {key: [REQUIRED] for key in missing}
    assert FICHA.problems(complete_ficha(**changes), NOW, final=False) == {}


RESOLUTION = DEFINITION.form("resolucion_residencia")


@pytest.mark.parametrize(
    ("start", "end", "accepted"),
    [
        pytest.param(dt.date(2026, 3, 10), dt.date(2027, 3, 10), True, id="exactly twelve months"),
        pytest.param(dt.date(2026, 3, 10), dt.date(2028, 1, 1), True, id="longer"),
        pytest.param(dt.date(2026, 3, 10), dt.date(2027, 3, 9), False, id="one day short"),
        pytest.param(dt.date(2026, 3, 10), dt.date(2026, 9, 10), False, id="six months"),
        pytest.param(dt.date(2026, 8, 31), dt.date(2027, 8, 31), True, id="month end to month end"),
        pytest.param(dt.date(2026, 8, 31), dt.date(2027, 8, 30), False, id="month end one day short"),
        pytest.param(dt.date(2028, 2, 29), dt.date(2029, 2, 28), True, id="leap day to end of february"),
        pytest.param(dt.date(2028, 2, 29), dt.date(2029, 2, 27), False, id="leap day one day short"),
        pytest.param(dt.date(2026, 12, 31), dt.date(2027, 12, 31), True, id="across the year end"),
        pytest.param(dt.date(2026, 3, 10), dt.date(2026, 3, 1), False, id="ends before it starts"),
    ],
)
def test_a_temporary_residence_lasts_at_least_twelve_months(start: dt.date, end: dt.date, accepted: bool) -> None:
    problems = RESOLUTION.problems({"vigencia_inicio": start, "vigencia_fin": end}, NOW, final=False)
    if accepted:
        assert problems == {}
    else:
        assert list(problems) == ["vigencia_fin"]
        assert "12 meses" in problems["vigencia_fin"][0].es and "12 months" in problems["vigencia_fin"][0].en


@pytest.mark.parametrize(
    ("form", "values"),
    [
        pytest.param("ficha", complete_ficha(fecha_nacimiento=dt.date(1990, 2, 28), nna=False,
                                             riesgos_inmediatos=["peligro_inminente"]), id="ficha"),
        pytest.param("solicitud_residencia", {
            "certificacion": "si", "certificacion_fecha": dt.date(2026, 10, 1), "peligro_grave": True,
            "fecha_preparacion": dt.date(2026, 11, 2),
            "dependientes": [
                {"nombre": "Ana", "parentesco": "hija", "fecha_nacimiento": dt.date(2015, 6, 1)},
                {"nombre": "Luis", "parentesco": "hijo", "fecha_nacimiento": None},
            ],
        }, id="residence request with dependants"),
        pytest.param("plan", {
            "objetivos_corto_plazo": "alojamiento seguro", "objetivos_largo_plazo": "empleo",
            "acciones": [{"necesidad": "alojamiento", "servicio": "alojamiento", "nodo_responsable": "7",
                          "plazo": "corto", "fecha_compromiso": dt.date(2026, 12, 1), "estado": "pendiente",
                          "notas_seguimiento": None}],
        }, id="plan with an action"),
    ],
)
def test_storage_round_trips_dates_datetimes_and_groups(form: str, values: dict[str, Any]) -> None:
    definition = DEFINITION.form(form)
    stored = definition.to_storage(values)
    assert json.loads(json.dumps(stored)) == stored  # JSON-ready: dates as ISO text
    assert definition.from_storage(stored) == values


def test_storage_writes_dates_as_iso_text_and_drops_unknown_keys() -> None:
    stored = FICHA.to_storage({"fecha_deteccion": dt.datetime(2026, 11, 17, 22, 30),
                               "fecha_nacimiento": dt.date(1990, 2, 28), "no_such_field": "x"})
    assert stored == {"fecha_deteccion": "2026-11-17T22:30:00", "fecha_nacimiento": "1990-02-28"}


# -- bugs found in the forms layer ----------------------------------------------------------------------


def test_assisted_return_without_confirming_it_was_voluntary_is_incomplete() -> None:
    """An unticked box arrives as False (referral/web/dynamic_forms.py _clean), not None."""
    values = {"motivo": "retorno_asistido", "retorno_voluntario": False, "fecha_cierre": dt.date(2026, 11, 10)}
    assert DEFINITION.form("cierre").problems(values, NOW, final=True) == {"retorno_voluntario": [REQUIRED]}


def test_a_plan_without_any_action_is_incomplete() -> None:
    """The plan's `acciones` group has min_items: 1 (the guard says "at least one action")."""
    plan = DEFINITION.form("plan")
    for acciones in ([], None):
        values = {"objetivos_corto_plazo": "a", "objetivos_largo_plazo": "b", "acciones": acciones}
        assert "acciones" in plan.problems(values, NOW, final=True), acciones
        assert not plan.is_complete(values, NOW)


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        pytest.param({"edad_estimada": 500}, "edad_estimada", id="an estimated age above its max of 110"),
        pytest.param({"edad_estimada": -3}, "edad_estimada", id="a negative estimated age"),
        pytest.param({"comuna": "x" * 81}, "comuna", id="a comuna longer than its max_length of 80"),
    ],
)
def test_the_forms_layer_refuses_values_outside_the_declared_bounds(changes: dict[str, Any], key: str) -> None:
    """The services re-check every value (referral/cases/validation.py) but only through problems()."""
    assert key in FICHA.problems(complete_ficha(**changes), NOW, final=False)


# -- genericity ---------------------------------------------------------------------------------------------

REPAIRS_WORKFLOW = """
id: housing-repairs
version: 3
label: Housing repair requests
roles:
  clerk: {label: Desk clerk, capabilities: [file_intake, case_access]}
  inspector: {label: Building inspector, capabilities: [case_access]}
relations:
  tenant_office: Tenant's office
  district_office: District office
assignments:
  district_office: {label: District office, scope: region}
intake:
  form: request
  state: received
  region_field: district
  participants:
    - {relation: tenant_office, node: actor}
    - {relation: district_office, assignment: district_office}
flags:
  hazard:
    label: Safety hazard
    when: {field: request.hazard, equals: true}
    priority: 5
states:
  received: {initial: true, label: Received}
  inspecting: {label: Under inspection}
  repaired: {label: Repaired, closed: true}
  declined: {label: Declined, closed: true}
transitions:
  inspect:
    label: Send an inspector
    from: [received]
    to: inspecting
    by: [{role: clerk, relation: district_office}]
  decline:
    label: Decline the request
    from: [received, inspecting]
    to: declined
    by: [{role: clerk, relation: district_office}]
    form: decision
    guards:
      - check: {not: {all: [{input: reason, equals: not_urgent}, {flag: hazard}]}}
        message: A hazard is never declined as not urgent.
  confirm_repair:
    label: Confirm the repair
    from: [inspecting]
    to: repaired
    by: [{role: inspector, relation: district_office}]
    guards:
      - check: {form: inspection, complete: true}
        message: The inspection report is not complete.
tracks:
  appeal:
    label: Appeal
    available_when: {state: [declined]}
    states:
      lodged: {label: Lodged}
      upheld: {label: Upheld}
    transitions:
      lodge_appeal:
        label: Lodge an appeal
        starts_track: true
        to: lodged
        by: [{role: clerk, relation: tenant_office}]
      uphold_appeal:
        label: Uphold the appeal
        from: [lodged]
        to: upheld
        by: [{role: inspector, relation: district_office}]
forms:
  inspection:
    edit:
      by: [{role: inspector, relation: district_office}]
      when: {state: [inspecting]}
    readers: [district_office]
"""

REPAIRS_FORMS = {
    "request.v1.yaml": """
        key: request
        version: 1
        label: Repair request
        sections:
          - key: request
            label: Request
            fields:
              - {key: district, type: choice, source: region, required: true, label: District}
              - {key: hazard, type: boolean, label: Safety hazard}
              - {key: description, type: textarea, required: true, label: What is broken}
    """,
    "decision.v1.yaml": """
        key: decision
        version: 1
        label: Decision
        sections:
          - key: decision
            label: Decision
            fields:
              - key: reason
                type: choice
                required: true
                label: Reason
                choices:
                  - {value: not_urgent, label: Not urgent}
                  - {value: not_ours, label: Not our building}
    """,
    "inspection.v1.yaml": """
        key: inspection
        version: 1
        label: Inspection report
        sections:
          - key: findings
            label: Findings
            fields:
              - {key: findings, type: textarea, required: true, label: Findings}
    """,
}


@pytest.fixture
def repairs(tmp_path: Path) -> Engine:
    folder = tmp_path / "workflows" / "repairs"
    (folder / "forms").mkdir(parents=True)
    (folder / "workflow.yaml").write_text(REPAIRS_WORKFLOW, encoding="utf-8")
    for name, text in REPAIRS_FORMS.items():
        (folder / "forms" / name).write_text(textwrap.dedent(text), encoding="utf-8")
    return Engine(load_definition(folder))


CLERK = Actor("clerk", frozenset({"district_office"}))
TENANT_CLERK = Actor("clerk", frozenset({"tenant_office"}))
INSPECTOR = Actor("inspector", frozenset({"district_office"}))


def test_a_workflow_of_another_domain_loads_through_the_same_loader(repairs: Engine) -> None:
    definition = repairs.definition
    assert definition.key == "housing-repairs" and definition.version == 3
    assert definition.main.initial == "received"
    assert set(definition.tracks) == {"appeal"}
    assert definition.intake.region_field == "district"
    assert repairs.fact_forms == {"request"}


def test_a_workflow_of_another_domain_runs_through_the_same_engine(repairs: Engine) -> None:
    received = CaseFacts("received")
    assert {o.transition.key for o in repairs.options(received, CLERK)} == {"inspect", "decline"}
    assert repairs.options(received, INSPECTOR) == []
    assert repairs.check("inspect", received, CLERK).target == "inspecting"
    assert refusal_code(repairs, "inspect", received, INSPECTOR) == "forbidden"

    inspecting = CaseFacts("inspecting", forms={"inspection": FormFacts("draft", False)})
    assert refusal_code(repairs, "confirm_repair", inspecting, INSPECTOR) == "guard"
    done = CaseFacts("inspecting", forms={"inspection": FormFacts("draft", True)})
    assert repairs.check("confirm_repair", done, INSPECTOR).target == "repaired"
    assert repairs.edit_refusal("inspection", inspecting, INSPECTOR) is None
    assert repairs.can_read("inspection", frozenset({"tenant_office"})) is False


def test_a_workflow_of_another_domain_names_its_own_states_when_refusing(repairs: Engine) -> None:
    with pytest.raises(TransitionRefused) as caught:
        repairs.check("confirm_repair", CaseFacts("received"), INSPECTOR)
    assert caught.value.code == "state"
    assert "«Received»" in caught.value.reason.es and "«Confirm the repair»" in caught.value.reason.es


def test_a_workflow_of_another_domain_has_its_own_guards_and_flags(repairs: Engine) -> None:
    hazard = CaseFacts("received", flags={"hazard": True},
                       forms={"request": FormFacts("submitted", True, {"hazard": True})})
    assert repairs.flags(hazard) == {"hazard": True}
    assert repairs.priority(repairs.flags(hazard)) == 5
    assert refusal_code(repairs, "decline", hazard, CLERK, {"reason": "not_urgent"}) == "guard"
    assert repairs.check("decline", hazard, CLERK, {"reason": "not_ours"}).key == "decline"
    assert repairs.check("decline", hazard, CLERK, None).key == "decline"  # not typed yet: left open


def test_a_workflow_of_another_domain_has_its_own_track(repairs: Engine) -> None:
    assert "lodge_appeal" not in {o.transition.key for o in repairs.options(CaseFacts("received"), TENANT_CLERK)}
    assert refusal_code(repairs, "lodge_appeal", CaseFacts("received"), TENANT_CLERK) == "state"
    declined = CaseFacts("declined")
    assert {o.transition.key for o in repairs.options(declined, TENANT_CLERK)} == {"lodge_appeal"}
    lodged = CaseFacts("declined", tracks={"appeal": "lodged"})
    assert {o.transition.key for o in repairs.options(lodged, INSPECTOR)} == {"uphold_appeal"}
    assert repairs.check("uphold_appeal", lodged, INSPECTOR).target == "upheld"


def test_the_matrix_solver_satisfies_every_transition_of_another_domain(repairs: Engine) -> None:
    """The facts builder of the matrix is generic too: it satisfies the repairs workflow's guards."""
    definition = repairs.definition
    for transition in every_transition(definition):
        for source in transition.sources:
            case, values = satisfying(definition, transition, source)
            assert_conditions_hold(definition, transition, case, values)
            for role in definition.roles:
                for relation in definition.relations:
                    actor = Actor(role, frozenset({relation}))
                    if Permit(role, relation) in transition.permits:
                        assert repairs.check(transition.key, case, actor, values) is transition
                    else:
                        assert refusal_code(repairs, transition.key, case, actor, values) == "forbidden"


def refusal_code(engine: Engine, key: str, case: CaseFacts, actor: Actor,
                 values: Mapping[str, Any] | None = None) -> str:
    with pytest.raises(TransitionRefused) as caught:
        engine.check(key, case, actor, values)
    return caught.value.code


CHILEAN_WORDS = ("ficha", "nna", "trata", "sermig", "cavd", "residencia", "activado", "coordinador", "chile")


@pytest.mark.parametrize("path", sorted((ROOT / "referral" / "workflow").glob("*.py")), ids=lambda p: p.name)
def test_no_file_of_the_engine_names_anything_chilean(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    found = [
        f"line {number}: {word!r} in {line.strip()!r}"
        for number, line in enumerate(text.splitlines(), start=1)
        for word in CHILEAN_WORDS
        if re.search(re.escape(word), line, re.IGNORECASE)
    ]
    assert found == []


def test_labels_fall_back_to_spanish_when_english_is_missing() -> None:
    assert Text("Cerrado").get("en") == "Cerrado"
    assert Text("Cerrado", "Closed").get("en") == "Closed"
    assert str(Text("Cerrado", "Closed")) == "Cerrado"


def test_a_statistics_dimension_counts_the_qualification_when_given_else_the_ficha() -> None:
    """`prefer` (issue 15): the focal point's type of trafficking counts over the Ficha's; blank falls back."""
    dimension = DEFINITION.statistics.dimensions["tipo_trata"]
    assert dimension.prefer == ("decision_activacion.tipo_trata",)
    ficha = {"ficha": {"tipo_trata": "sin_informacion"}}
    assert dimension.category(ficha, {}) == "sin_informacion"  # «sin información» is a countable category
    assert dimension.category({**ficha, "decision_activacion": {"tipo_trata": "laboral"}}, {}) == "laboral"
    assert dimension.category({**ficha, "decision_activacion": {"tipo_trata": None}}, {}) == "sin_informacion"
    assert dimension.category({"ficha": {"tipo_trata": "sexual"}, "decision_activacion": {}}, {}) == "sexual"
    assert dimension.category({}, {}) == "sin_informacion"
    assert "decision_activacion" in DEFINITION.statistics.forms()
