"""Two people acting on the same case at the same moment: exactly one wins, the other is told so.

Through the browser (two coordinators, the same page version), and at the service level with two
independent sessions: first in a fixed order, then with real threads that both read the case before
either writes. The loser must get StaleCase (409 for the web) and the database must hold the
winner's result only: one event, one record, one participant.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import event, func, select

from referral.auth.models import User
from referral.cases.editing import save_form
from referral.kernel.errors import DuplicateSubmission, StaleCase
from referral.cases.intake import file_intake
from referral.kernel.models import Case, CaseEvent, FormRecord, Participant
from referral.cases.reading import editable_values
from referral.cases.transitions import check_transition, fire_transition
from referral.context import Context
from referral.network.models import Node

from .backends import both_backends
from .browser import hidden_inputs
from .factories import ficha_post, ficha_values
from .units import unit_of_work

FIRST, SECOND = "coordinador.rm", "coordinacion.nacional"  # the regional focal point and national coordination
LEAD_NODE_OF = {FIRST: "CAVD-CL-RM", SECOND: "SERNAMEG"}  # each would pick a different lead node


# -- helpers --------------------------------------------------------------------------------------

def user(ctx: Context, name: str) -> User:
    found = ctx.session.scalar(select(User).where(User.email == f"{name}@demo.cl"))
    assert found is not None, name
    return found


def node_id(ctx: Context, code: str) -> int:
    return ctx.session.scalar(select(Node.id).where(Node.code == code))


def filed_case(app: Any) -> str:
    with unit_of_work(app) as ctx:
        case = file_intake(ctx, user(ctx, "salud.rm"), ficha_values(), "token-concurrency")
        ctx.session.commit()
        return case.reference


def activation(ctx: Context, name: str) -> dict[str, str]:
    return {"nodo_lider": str(node_id(ctx, LEAD_NODE_OF[name])), "fundamento": f"Decidido por {name}."}


def inputs_for(action: str) -> Callable[[Context, str], dict[str, str] | None]:
    return activation if action == "activar" else (lambda _ctx, _name: None)


def snapshot(app: Any, reference: str) -> dict[str, Any]:
    """What the database holds for a case, in terms a test can compare."""
    with unit_of_work(app) as ctx:
        case = ctx.session.scalar(select(Case).where(Case.reference == reference))
        events = ctx.session.execute(
            select(CaseEvent.action, CaseEvent.actor_node_id).where(CaseEvent.case_id == case.id)
            .order_by(CaseEvent.seq)).all()
        leads = ctx.session.scalars(select(Participant.node_id).where(
            Participant.case_id == case.id, Participant.relation == "nodo_lider")).all()
        decisions = ctx.session.scalars(select(FormRecord.author_node_id).where(
            FormRecord.case_id == case.id, FormRecord.form_key == "decision_activacion")).all()
        nodes = {name: user(ctx, name).node_id for name in (FIRST, SECOND)}
        return {"state": case.state, "version": case.version, "events": [tuple(e) for e in events],
                "leads": list(leads), "decisions": list(decisions), "node_of": nodes,
                "lead_node_of": {name: node_id(ctx, code) for name, code in LEAD_NODE_OF.items()}}


def assert_only_the_winner_applied(app: Any, reference: str, action: str, winner: str) -> None:
    held = snapshot(app, reference)
    assert held["state"] == {"tomar_caso": "en_evaluacion", "activar": "activado"}[action]
    assert held["version"] == 2
    assert held["events"] == [("ficha", held["events"][0][1]), (action, held["node_of"][winner])]
    if action == "activar":
        assert held["leads"] == [held["lead_node_of"][winner]]
        assert held["decisions"] == [held["node_of"][winner]]


def reference_of(response: Any) -> str:
    assert response.status_code == 303, response.status_code
    match = re.search(r"/casos/(TP-[0-9A-Z]{4}-[0-9A-Z]{4})$", response.headers["Location"])
    assert match, response.headers["Location"]
    return match.group(1)


# -- through the browser --------------------------------------------------------------------------

@both_backends
def test_two_coordinators_pressing_the_same_button_on_the_same_version_apply_it_once(
        app: Any, make_browser: Any) -> None:
    health, first, second = make_browser(), make_browser(), make_browser()
    health.login("salud.rm")
    first.login(FIRST)
    second.login(SECOND)
    reference = reference_of(health.submit("/fichas/nueva", ficha_post()))
    # Both have the case open: each page carries its CSRF token and the case version it shows.
    pages = [person.get(f"/casos/{reference}") for person in (first, second)]
    forms = [{"csrf_token": hidden_inputs(page.text)["csrf_token"],
              "case_version": re.search(r'name="case_version" value="(\d+)"', page.text).group(1)} for page in pages]
    assert forms[0]["case_version"] == forms[1]["case_version"]

    won = first.client.post(f"/casos/{reference}/acciones/tomar_caso", data=forms[0])
    lost = second.client.post(f"/casos/{reference}/acciones/tomar_caso", data=forms[1])

    assert won.status_code == 303
    assert lost.status_code == 409
    assert "Tomar para evaluación" in lost.text  # the page names the action it refused
    assert_only_the_winner_applied(app, reference, "tomar_caso", FIRST)


@both_backends
def test_two_coordinators_activating_with_different_lead_nodes_leave_only_the_first_decision(
        app: Any, make_browser: Any) -> None:
    health, first, second = make_browser(), make_browser(), make_browser()
    health.login("salud.rm")
    first.login(FIRST)
    second.login(SECOND)
    reference = reference_of(health.submit("/fichas/nueva", ficha_post()))
    url = f"/casos/{reference}/acciones/activar"
    with unit_of_work(app) as ctx:
        choices = {name: activation(ctx, name) for name in (FIRST, SECOND)}
    # Both open the activation form at the same version and fill it in.
    forms = [{**hidden_inputs(person.get(url).text), **choices[name]}
             for person, name in ((first, FIRST), (second, SECOND))]
    assert forms[0]["case_version"] == forms[1]["case_version"] == "1"

    won = first.client.post(url, data=forms[0])
    lost = second.client.post(url, data=forms[1])

    assert won.status_code == 303
    assert lost.status_code == 409
    assert_only_the_winner_applied(app, reference, "activar", FIRST)


@both_backends
def test_an_action_posted_on_a_version_another_coordinator_changed_gets_the_explanation_page(
        app: Any, make_browser: Any) -> None:
    health, first, second = make_browser(), make_browser(), make_browser()
    health.login("salud.rm")
    first.login(FIRST)
    second.login(SECOND)
    reference = reference_of(health.submit("/fichas/nueva", ficha_post()))
    url = f"/casos/{reference}/acciones/activar"
    with unit_of_work(app) as ctx:
        typed = activation(ctx, FIRST)
    opened = {**hidden_inputs(first.get(url).text), **typed}  # the first opens the form at version 1...
    assert second.act(reference, "tomar_caso").status_code == 303  # ...the second takes the case meanwhile
    stale = first.client.post(url, data=opened)  # activar is still possible, but on a changed case

    assert stale.status_code == 409
    assert "El caso cambió" in stale.text and "No se aplicó nada" in stale.text
    held = snapshot(app, reference)
    assert held["state"] == "en_evaluacion" and held["leads"] == [] and held["decisions"] == []
    assert [action for action, _node in held["events"]] == ["ficha", "tomar_caso"]


# -- at the service level: a fixed order ----------------------------------------------------------

@both_backends
@pytest.mark.parametrize("action", ["tomar_caso", "activar"])
def test_a_second_session_that_read_the_case_before_the_first_committed_gets_stale_case(
        app: Any, action: str) -> None:
    reference = filed_case(app)
    values = inputs_for(action)
    with unit_of_work(app) as first, unit_of_work(app) as second:
        # Both load the case (the page each of them opened): version 1.
        second_case, _ = check_transition(second, user(second, SECOND), reference, action)
        first_case, _ = check_transition(first, user(first, FIRST), reference, action)
        assert first_case.version == second_case.version == 1

        fire_transition(first, user(first, FIRST), reference, action, values(first, FIRST), 1)
        first.session.commit()

        with pytest.raises(StaleCase):
            fire_transition(second, user(second, SECOND), reference, action, values(second, SECOND), 1)
            second.session.commit()
        second.session.rollback()

    assert_only_the_winner_applied(app, reference, action, FIRST)


@both_backends
def test_a_session_that_reads_the_case_after_the_other_committed_is_refused_before_writing(app: Any) -> None:
    reference = filed_case(app)
    with unit_of_work(app) as first:
        fire_transition(first, user(first, FIRST), reference, "tomar_caso", None, 1)
        first.session.commit()
    with unit_of_work(app) as second:
        with pytest.raises(StaleCase):
            fire_transition(second, user(second, SECOND), reference, "tomar_caso", None, 1)
        assert not second.session.new and not second.session.dirty
        second.session.rollback()
    assert_only_the_winner_applied(app, reference, "tomar_caso", FIRST)


@both_backends
def test_two_tabs_saving_the_same_draft_from_the_same_version_save_it_once(app: Any) -> None:
    reference = filed_case(app)
    with unit_of_work(app) as ctx:
        coordinator, lead = user(ctx, FIRST), user(ctx, "gestor.rm")
        fire_transition(ctx, coordinator, reference, "tomar_caso", None, 1)
        fire_transition(ctx, coordinator, reference, "activar", activation(ctx, FIRST), 2)
        fire_transition(ctx, lead, reference, "iniciar_informe", None, 3)
        ctx.session.commit()
    with unit_of_work(app) as first, unit_of_work(app) as second:
        second_case, _form, _values = editable_values(second, user(second, "gestor.rm"), reference, "informe_social")
        first_case, _form, _values = editable_values(first, user(first, "gestor.rm"), reference, "informe_social")
        assert first_case.version == second_case.version == 4

        save_form(first, user(first, "gestor.rm"), reference, "informe_social", {"redes_apoyo": "Primera."}, 4)
        first.session.commit()

        with pytest.raises(StaleCase):
            save_form(second, user(second, "gestor.rm"), reference, "informe_social", {"redes_apoyo": "Segunda."}, 4)
            second.session.commit()
        second.session.rollback()

    with unit_of_work(app) as ctx:
        case = ctx.session.scalar(select(Case).where(Case.reference == reference))
        saves = ctx.session.scalar(select(func.count()).select_from(CaseEvent).where(
            CaseEvent.case_id == case.id, CaseEvent.action == "informe_social"))
        drafts = ctx.session.scalar(select(func.count()).select_from(FormRecord).where(
            FormRecord.case_id == case.id, FormRecord.form_key == "informe_social"))
        assert (case.version, saves, drafts) == (5, 1, 1)
        _case, _form, values = editable_values(ctx, user(ctx, "gestor.rm"), reference, "informe_social")
        assert values["redes_apoyo"] == "Primera."


# -- at the service level: real threads -----------------------------------------------------------

@both_backends
@pytest.mark.parametrize("action", ["tomar_caso", "activar"])
def test_two_threads_that_both_read_the_case_before_either_writes_produce_one_winner_and_one_stale_case(
        app: Any, action: str) -> None:
    reference = filed_case(app)
    values = inputs_for(action)
    both_read = threading.Barrier(2, timeout=20)
    outcome: dict[str, str] = {}

    def contender(name: str) -> None:
        try:
            with unit_of_work(app) as ctx:
                actor = user(ctx, name)
                typed = values(ctx, name)
                case, _ = check_transition(ctx, actor, reference, action)  # read, and keep what was read
                both_read.wait()
                try:
                    fire_transition(ctx, actor, reference, action, typed, case.version)
                    ctx.session.commit()
                    outcome[name] = "applied"
                except StaleCase:
                    ctx.session.rollback()
                    outcome[name] = "stale"
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            outcome[name] = f"{type(error).__module__}.{type(error).__name__}: {error}".splitlines()[0]

    threads = [threading.Thread(target=contender, args=(name,), name=name) for name in (FIRST, SECOND)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)
    assert not any(thread.is_alive() for thread in threads), "a contender hung"

    assert sorted(outcome.values()) == ["applied", "stale"], outcome
    winner = next(name for name, result in outcome.items() if result == "applied")
    assert_only_the_winner_applied(app, reference, action, winner)


# -- a Ficha sent twice at the same moment --------------------------------------------------------

@both_backends
def test_a_ficha_sent_twice_at_the_same_moment_creates_one_case_and_the_second_is_told_it_is_a_duplicate(
        app: Any) -> None:
    """A double click sends two requests; the second checks the token before the first commits."""
    token = "the-same-intake-token"
    with unit_of_work(app) as second:
        state = {"first": None}

        def the_first_commits_right_after_the_second_checks(orm: Any) -> Any:
            statement = str(orm.statement)
            if state["first"] is None and "intake_token" in statement and "SELECT" in statement:
                checked = orm.invoke_statement()  # the second finds no case with the token...
                with unit_of_work(app) as first:  # ...and the first request completes right then
                    state["first"] = file_intake(first, user(first, "salud.rm"), ficha_values(), token).reference
                    first.session.commit()
                return checked
            return None

        event.listen(second.session, "do_orm_execute", the_first_commits_right_after_the_second_checks)
        try:
            with pytest.raises(DuplicateSubmission) as duplicate:
                file_intake(second, user(second, "salud.rm"), ficha_values(), token)
            assert duplicate.value.reference == state["first"]
        finally:
            second.session.rollback()
            event.remove(second.session, "do_orm_execute", the_first_commits_right_after_the_second_checks)

    with unit_of_work(app) as ctx:
        assert ctx.session.scalar(select(func.count()).select_from(Case)) == 1
