"""Definitions and data stay in step (issue 19, item 4): start-up refuses a definition that lacks keys the
database holds, `flask workflow check` lists them, `flask workflow migrate` renames them in one transaction
(or refuses and writes nothing), and the check costs a fixed number of statements."""

from __future__ import annotations

import dataclasses
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import event, func, select

from referral import StartupError, create_app
from referral import _cli_runs_anyway
from referral.audit.models import AuditEvent
from referral.kernel.models import Case, CaseEvent, Track, WorklistEntry
from referral.definition_check import stored_key_problems
from referral.extensions import database
from referral.stats.models import CaseStat

from .backends import both_backends
from .conftest import _settings
from .steps import activate, file_case, fire
from .definitions import workflow_text
from .units import unit_of_work

CHILE = Path(__file__).resolve().parents[1] / "workflows" / "chile"


def workflows_with(tmp_path: Path, renames: dict[str, str], version: int | None = None, name: str = "w",
                   clocks: dict[str, str] | None = None) -> Path:
    """A copy of the Chilean workflow with keys renamed wherever the workflow names them (whole words), and
    clocks renamed (their keys only)."""
    root = tmp_path / name
    shutil.copytree(CHILE, root / "chile")
    text = workflow_text(root / "chile")  # Chile's workflow/*.yaml, written back as one workflow.yaml
    shutil.rmtree(root / "chile" / "workflow")
    path = root / "chile" / "workflow.yaml"
    for old, new in renames.items():
        text = re.sub(rf"\b{re.escape(old)}\b", new, text)
    if version is not None or clocks:
        raw = yaml.safe_load(text)
        assert raw["version"] != version
        raw["version"] = version if version is not None else raw["version"]
        raw["clocks"] = {(clocks or {}).get(key, key): clock for key, clock in raw["clocks"].items()}
        text = yaml.safe_dump(raw, allow_unicode=True, sort_keys=False)
    path.write_text(text, encoding="utf-8")
    return root


def app_on(database_url: str, tmp_path: Path, clock: Any, workflows: Path, **config: Any) -> Any:
    return create_app({**_settings(tmp_path / f"instance-{workflows.name}", database_url, clock),
                       "WORKFLOWS_DIR": str(workflows), **config})


def counts(app: Any, column: Any, value: str) -> int:
    with unit_of_work(app) as ctx:
        return int(ctx.session.scalar(select(func.count()).where(column == value)) or 0)


@contextmanager
def statements(app: Any) -> Iterator[list[str]]:
    seen: list[str] = []
    engine = database.engine(app)

    def count(*args: Any) -> None:
        seen.append(args[2])

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


@both_backends
def test_a_renamed_state_stops_start_up_with_the_key_and_the_way_out(
        app: Any, database_url: str, tmp_path: Path, clock: Any) -> None:
    reference = file_case(app)
    fire(app, "coordinador.rm", reference, "tomar_caso")  # en_evaluacion
    database.engine(app).dispose()
    renamed = workflows_with(tmp_path, {"en_evaluacion": "evaluacion"})
    with pytest.raises(StartupError) as caught:
        app_on(database_url, tmp_path, clock, renamed)  # no DEFINITION_CHECK given: the check runs by default
    message = str(caught.value)
    assert "cases.state: state 'en_evaluacion' (1 row) is not in the loaded definition" in message
    assert "worklist_entries.state" in message
    assert "flask --app wsgi workflow migrate" in message and "--rename-state OLD=NEW" in message
    assert reference not in message  # keys and counts, never a case
    # the definition it was written with still starts
    database.engine(app_on(database_url, tmp_path, clock, workflows_with(tmp_path, {}, name="same"))).dispose()


@both_backends
def test_migrate_renames_in_one_transaction_stamps_the_version_and_audits_keys_and_counts(
        app: Any, database_url: str, tmp_path: Path, clock: Any) -> None:
    assessed = file_case(app)
    fire(app, "coordinador.rm", assessed, "tomar_caso")
    residence = file_case(app)
    activate(app, residence)
    database.engine(app).dispose()
    renamed = workflows_with(tmp_path, {"en_evaluacion": "evaluacion"}, version=2, clocks={"triaje": "triaje_inicial"})
    tool = app_on(database_url, tmp_path, clock, renamed, DEFINITION_CHECK=False)
    runner = tool.test_cli_runner()

    checked = runner.invoke(args=["workflow", "check"])
    assert checked.exit_code == 1
    assert "state 'en_evaluacion'" in checked.output and "clock 'triaje'" in checked.output
    assert "cases.workflow_version: 2 rows written under definition version 1" in checked.output

    dry = runner.invoke(args=["workflow", "migrate", "--rename-state", "en_evaluacion=evaluacion",
                              "--rename-clock", "triaje=triaje_inicial"])
    assert dry.exit_code == 0, dry.output
    assert "cases.state: 1 row(s) renamed" in dry.output and "dry run: nothing written" in dry.output
    assert counts(tool, Case.state, "en_evaluacion") == 1  # a dry run writes nothing

    audit_before = counts(tool, AuditEvent.action, "workflow.migrate")
    done = runner.invoke(args=["workflow", "migrate", "--rename-state", "en_evaluacion=evaluacion",
                               "--rename-clock", "triaje=triaje_inicial", "--yes"])
    assert done.exit_code == 0, done.output
    assert "applied" in done.output and "worklist rows computed again" in done.output
    assert counts(tool, Case.state, "evaluacion") == 1 and counts(tool, Case.state, "en_evaluacion") == 0
    assert counts(tool, WorklistEntry.state, "en_evaluacion") == 0
    assert counts(tool, CaseStat.state, "evaluacion") == 1
    assert counts(tool, CaseEvent.to_state, "evaluacion") >= 1  # the timeline says the same under the new name
    with unit_of_work(tool) as ctx:
        assert set(ctx.session.scalars(select(Case.workflow_version))) == {2}
        (audit,) = ctx.session.scalars(select(AuditEvent).where(AuditEvent.action == "workflow.migrate"))
        assert audit_before == 0
        assert audit.actor_role == "operador" and audit.case_pseudonym is None
        assert audit.details["states"] == {"en_evaluacion": "evaluacion"}
        assert audit.details["clocks"] == {"triaje": "triaje_inicial"}
        assert audit.details["rows"]["cases.state"] == 1 and audit.details["cases_stamped"] == 2
        assert assessed not in str(audit.details) and residence not in str(audit.details)
        assert stored_key_problems(ctx.session, ctx.definition) == []
    database.engine(tool).dispose()
    started = app_on(database_url, tmp_path, clock, renamed)  # the check runs, and passes
    assert started.extensions["referral.protocol"].definition.version == 2
    database.engine(started).dispose()


@both_backends
def test_a_partial_mapping_is_refused_and_writes_nothing(
        app: Any, database_url: str, tmp_path: Path, clock: Any) -> None:
    assessed = file_case(app)
    fire(app, "coordinador.rm", assessed, "tomar_caso")
    activated = file_case(app)
    activate(app, activated)
    database.engine(app).dispose()
    renamed = workflows_with(tmp_path, {"en_evaluacion": "evaluacion", "activado": "activo"})
    tool = app_on(database_url, tmp_path, clock, renamed, DEFINITION_CHECK=False)
    runner = tool.test_cli_runner()
    result = runner.invoke(args=["workflow", "migrate", "--rename-state", "en_evaluacion=evaluacion", "--yes"])
    assert result.exit_code == 1
    assert "refused, nothing written" in result.output and "state 'activado' (1 row)" in result.output
    assert counts(tool, Case.state, "en_evaluacion") == 1 and counts(tool, Case.state, "evaluacion") == 0
    assert counts(tool, AuditEvent.action, "workflow.migrate") == 0
    # a new key the definition lacks is refused before anything is tried
    wrong = runner.invoke(args=["workflow", "migrate", "--rename-state", "activado=activada", "--yes"])
    assert wrong.exit_code == 1 and "state 'activada' (for 'activado') is not a state of the case" in wrong.output
    track = runner.invoke(args=["workflow", "migrate", "--rename-track-state", "residence:a=b"])
    assert track.exit_code == 1 and "track 'residence' is not in the loaded definition" in track.output
    both = runner.invoke(args=["workflow", "migrate", "--rename-state", "en_evaluacion=evaluacion",
                               "--rename-state", "activado=activo", "--yes"])
    assert both.exit_code == 0, both.output
    assert counts(tool, Case.state, "activo") == 1
    database.engine(tool).dispose()


def test_a_track_state_renamed_is_found_and_migrated(app: Any, database_url: str, tmp_path: Path,
                                                    clock: Any) -> None:
    reference = file_case(app)
    activate(app, reference)
    with unit_of_work(app) as ctx:  # a track row as the residence steps write it
        case = ctx.session.scalar(select(Case).where(Case.reference == reference))
        assert case is not None
        ctx.session.add(Track(case_id=case.id, track="residencia", state="preparando"))
        ctx.session.commit()
    database.engine(app).dispose()
    renamed = workflows_with(tmp_path, {"preparando": "en_preparacion"})
    with pytest.raises(StartupError) as caught:
        app_on(database_url, tmp_path, clock, renamed)
    assert "case_tracks.state: track state 'residencia.preparando' (1 row)" in str(caught.value)
    assert "retorno.preparando" not in str(caught.value)
    tool = app_on(database_url, tmp_path, clock, renamed, DEFINITION_CHECK=False)
    result = tool.test_cli_runner().invoke(
        args=["workflow", "migrate", "--rename-track-state", "residencia:preparando=en_preparacion", "--yes"])
    assert result.exit_code == 0, result.output
    assert counts(tool, Track.state, "en_preparacion") == 1
    database.engine(tool).dispose()


def test_the_check_costs_the_same_statements_for_one_case_or_many(app: Any) -> None:
    file_case(app)
    with unit_of_work(app) as ctx, statements(app) as seen:
        assert stored_key_problems(ctx.session, ctx.definition) == []
    one = len(seen)
    for _ in range(3):
        reference = file_case(app)
        activate(app, reference)
    with unit_of_work(app) as ctx, statements(app) as seen:
        assert stored_key_problems(ctx.session, ctx.definition) == []
    assert len(seen) == one <= 14  # ten GROUP BY statements and the list of tables
    assert sum("GROUP BY" in s for s in seen) == 10


def test_commands_that_must_run_anyway_skip_the_start_up_check(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLASK_RUN_FROM_CLI", raising=False)
    assert not _cli_runs_anyway(["workflow", "migrate"])  # not under `flask`: gunicorn, celery, tests
    monkeypatch.setenv("FLASK_RUN_FROM_CLI", "true")
    assert _cli_runs_anyway(["--app", "wsgi", "db", "upgrade"])
    assert _cli_runs_anyway(["-A", "wsgi", "workflow", "migrate", "--rename-state", "a=b"])
    assert _cli_runs_anyway(["--app", "wsgi", "--help"])
    assert not _cli_runs_anyway(["--app", "wsgi", "run", "--port", "5000"])
    assert not _cli_runs_anyway(["--app", "wsgi", "clocks", "sweep"])
    assert not _cli_runs_anyway(["-e", "db", "clocks", "sweep"])  # an option's value is not the command


def test_the_demo_in_every_state_matches_its_definition_and_a_foreign_one_does_not(app: Any) -> None:
    """No false alarm on real data (every state, tracks, referrals, clocks, notifications, drafts), and every
    kind of key is named when the definition is another's."""
    from referral.demo.loader import load_demo

    load_demo(app, cases=60, seed=2013, progress=lambda _: None)
    with unit_of_work(app) as ctx:
        assert stored_key_problems(ctx.session, ctx.definition) == []
        d = ctx.definition
        foreign = dataclasses.replace(d, key="otro", version=d.version + 1, main=dataclasses.replace(d.main, states={}),
                                      tracks={}, forms={}, clocks={}, relations={}, inboxes={},
                                      network=dataclasses.replace(d.network, referrals=None))
        kinds = {p.kind for p in stored_key_problems(ctx.session, foreign)}
    assert {"workflow", "version", "state", "track", "form", "clock", "relation", "referral_kind", "inbox"} <= kinds


@both_backends
def test_building_the_app_leaves_no_connection_for_a_forked_worker_to_share(
        app: Any, database_url: str, tmp_path: Path, clock: Any) -> None:
    """The check reads the database while create_app runs; Celery's prefork workers (and a preloading gunicorn)
    fork after that, and two processes on one pooled connection corrupt each other's results (the deadlines
    benchmark's worker failed so: half its clock runs died). The pool is empty when create_app returns."""
    file_case(app)
    database.engine(app).dispose()
    built = app_on(database_url, tmp_path, clock, workflows_with(tmp_path, {}, name="same"))
    engine = database.engine(built)
    assert engine.pool.checkedin() == 0 and engine.pool.checkedout() == 0
    engine.dispose()
