"""The worklists' rows kept by the steps (issue 17, referral/cases/worklists.py), against an oracle and attackers.

The oracle (`tests/worklist_oracle.py`) is the SQL the worklist pages ran before the rows were stored. The
attackers: a bulk statement that does not say which cases it touched (every case is computed again), a write around the session (SQL on a raw
connection), a failure inside the commit, a relation that lapses with time, a database upgraded with cases and
no rows.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select, update

from referral.cases import worklists
from referral.kernel.models import Case, Participant, WorklistEntry
from referral.tasks import reconcile_worklists
from referral.demo.loader import load_demo
from referral.demo.network import DEMO_PASSWORD
from referral.extensions import database
from referral.units import unit_of_work

from .backends import both_backends
from .browser import Browser
from .referrals import answer, consent, refer
from .steps import activate, case_id, file_case, node_id
from .test_authorization import build_cases
from .worklist_oracle import differences, drift, stored_count

FOCAL = "CAVD-CL-RM"  # the Metropolitana's focal point: every case filed by salud.rm is in its triage list


def _listed(app: Flask, inbox: str, code: str, role: str) -> set[str]:
    with unit_of_work(app) as ctx:
        return set(ctx.session.scalars(select(WorklistEntry.reference).where(
            WorklistEntry.inbox == inbox, WorklistEntry.node_id == node_id(app, code), WorklistEntry.role == role)))


@both_backends
def test_at_every_stage_of_the_protocol_the_rows_are_the_oracles(app: Flask, caplog: Any) -> None:
    cases = build_cases(app)  # a case at every stage, tracks, forms for approval, meetings
    assert "named no cases" not in caplog.text  # every bulk statement of the steps names or bounds its cases
    assert differences(app) == []
    assert drift(app) == 0
    with unit_of_work(app) as ctx:
        lists = set(ctx.session.scalars(select(WorklistEntry.inbox).distinct()))
    assert {"triaje", "casos_liderados", "informacion_pendiente", "residencias"} <= lists, lists  # not vacuous
    assert len(cases) >= 5 and stored_count(app) > 5


@both_backends
def test_the_demos_cases_in_every_state_have_the_oracles_rows(app: Flask, caplog: Any) -> None:
    load_demo(app, cases=60, seed=2013, progress=lambda _: None)  # every state, returns, forms for approval
    assert "named no cases" not in caplog.text
    assert differences(app) == []
    assert drift(app) == 0
    with unit_of_work(app) as ctx:
        lists = set(ctx.session.scalars(select(WorklistEntry.inbox).distinct()))
    assert lists == set(ctx.definition.inboxes), lists  # every kind of list (by state, track, form) holds rows


@both_backends
def test_the_rows_follow_each_step(app: Flask) -> None:
    reference = file_case(app)
    assert reference in _listed(app, "triaje", FOCAL, "coordinador")
    assert differences(app) == []
    activate(app, reference)
    assert reference not in _listed(app, "triaje", FOCAL, "coordinador")
    assert reference in _listed(app, "casos_liderados", "SERNAMEG", "gestor")
    assert differences(app) == []
    consent(app, reference, by="gestor.sernameg")
    referral_id = refer(app, reference, "INCAMI", by="gestor.sernameg")
    answer(app, reference, referral_id, "aceptar", by="ong.incami")
    assert differences(app) == []


@both_backends
def test_a_bulk_write_names_or_bounds_its_cases_or_every_case_is_computed_again(app: Flask, caplog: Any) -> None:
    reference, other = file_case(app), file_case(app)
    with unit_of_work(app) as ctx:  # bounded by its WHERE: only that case is computed again
        ctx.session.execute(update(Case).where(Case.id == case_id(app, reference)).values(priority=7))
        ctx.session.commit()
    assert "named no cases" not in caplog.text
    with unit_of_work(app) as ctx:  # neither named nor bounded (by reference): every case is computed again
        ctx.session.execute(update(Case).where(Case.reference == other).values(priority=9))
        ctx.session.commit()
    assert "named no cases" in caplog.text
    with unit_of_work(app) as ctx:
        priorities = {r: p for r, p in ctx.session.execute(select(WorklistEntry.reference, WorklistEntry.priority))}
    assert priorities[reference] == 7 and priorities[other] == 9
    assert differences(app) == []


@both_backends
def test_a_write_around_the_session_is_found_and_repaired(app: Flask) -> None:
    reference = file_case(app)
    with database.engine(app).begin() as connection:  # raw SQL: no session, no event sees which case
        connection.execute(update(Case).where(Case.reference == reference).values(state="no_activado"))
    assert differences(app) != []
    runner = app.test_cli_runner()
    checked = runner.invoke(args=["worklists", "check"])
    assert checked.exit_code == 1 and "differ" in checked.output
    with app.app_context():
        assert reconcile_worklists.run() > 0  # the quarter-hourly task
    assert differences(app) == [] and drift(app) == 0
    assert runner.invoke(args=["worklists", "check"]).exit_code == 0
    assert reference not in _listed(app, "triaje", FOCAL, "coordinador")


@both_backends
def test_a_failure_inside_the_commit_leaves_the_step_and_its_rows_undone(app: Flask, monkeypatch: Any) -> None:
    reference = file_case(app)
    before = _listed(app, "triaje", FOCAL, "coordinador")

    def broken(*_: Any) -> Any:
        raise RuntimeError("the worklists could not be computed")

    monkeypatch.setattr(worklists, "compute", broken)
    with unit_of_work(app) as ctx:
        ctx.session.scalar(select(Case).where(Case.reference == reference)).state = "no_activado"  # type: ignore
        with pytest.raises(RuntimeError):
            ctx.session.commit()
    monkeypatch.undo()
    with unit_of_work(app) as ctx:
        assert ctx.session.scalar(select(Case.state).where(Case.reference == reference)) == "detectado"
    assert _listed(app, "triaje", FOCAL, "coordinador") == before
    assert differences(app) == []


@both_backends
def test_a_lapsed_relation_leaves_the_list_with_time(app: Flask, clock: Any) -> None:
    reference = file_case(app)
    with unit_of_work(app) as ctx:
        relation = ctx.session.scalar(select(Participant).where(
            Participant.case_id == case_id(app, reference), Participant.relation == "punto_focal"))
        assert relation is not None
        relation.expires_at = clock.now.replace(hour=18)
        ctx.session.commit()
    browser = Browser(app, DEMO_PASSWORD)
    browser.login("coordinador.rm")
    assert reference in browser.get("/bandeja/triaje").get_data(as_text=True)
    clock.advance(hours=4)
    assert reference not in browser.get("/bandeja/triaje").get_data(as_text=True)
    assert differences(app) == []  # the oracle, at the same moment, agrees


@both_backends
def test_an_upgrade_fills_an_empty_table_from_the_cases(app: Flask) -> None:
    file_case(app)
    activate(app, file_case(app))
    with database.engine(app).begin() as connection:
        connection.execute(WorklistEntry.__table__.delete())
    assert stored_count(app) == 0
    result = app.test_cli_runner().invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert "worklists:" in result.output
    assert stored_count(app) > 0 and differences(app) == []
