"""`flask demo load`: the demo network and cases, reproducible, spread over every state."""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import func, select

from referral.auth.models import User
from referral.kernel.models import Case, CaseAssignment, CaseLink, FormRecord, Track
from referral.kernel.meeting_models import CaseAgreement
from referral.kernel.note_models import CaseNote
from referral.clocks.models import CaseClock
from referral.kernel.records import open_values
from referral.context import Context
from referral.demo.loader import load_demo
from referral.demo.network import DEMO_PASSWORD
from referral.network.models import Assignment, Node, Region


def people(ctx: Context) -> list[tuple[str, str, str]]:
    """(state, names, nationality) of every demo case, in filing order."""
    rows = []
    for record in ctx.session.scalars(select(FormRecord).where(FormRecord.form_key == "ficha", FormRecord.revision == 1)):
        case = ctx.session.get(Case, record.case_id)
        ctx.act_as(case.detecting_node_id)  # the detecting node holds a wrap of every case it filed
        values = open_values(ctx, case, record)
        rows.append((case.state, f"{values.get('nombres')} {values.get('apellidos')}", values["nacionalidad"]))
    return sorted(rows)


def test_the_demo_network_has_every_region_with_its_cavd_fiscalia_and_mejor_ninez(app: Any, ctx: Context) -> None:
    load_demo(app, cases=0, seed=1, progress=lambda _line: None)
    regions = ctx.session.scalars(select(Region.code)).all()
    assert len(regions) == 16
    for prefix in ("CAVD", "FISCALIA", "MEJOR-NINEZ"):
        codes = set(ctx.session.scalars(select(Node.code).where(Node.code.like(f"{prefix}-%"))))
        assert codes == {f"{prefix}-{region}" for region in regions}
    focal = ctx.session.scalars(select(Assignment).where(Assignment.function == "punto_focal")).all()
    assert {a.region_code for a in focal} == set(regions)
    assert {u.role for u in ctx.session.scalars(select(User))} == set(app.extensions["referral.protocol"].definition.roles)


def test_demo_cases_cover_every_state_and_the_residence_track(app: Any, ctx: Context) -> None:
    load_demo(app, cases=26, seed=4, progress=lambda _line: None)
    states = Counter(ctx.session.scalars(select(Case.state)))
    assert set(states) == set(app.extensions["referral.protocol"].definition.main.states)
    assert {"en_tramite", "otorgada"} <= set(ctx.session.scalars(select(Track.state)))
    causas = Counter(ctx.session.scalars(select(Track.state).where(Track.track == "causa_penal")))
    assert set(causas) == {"investigacion", "formalizada", "juicio"}
    digests = Counter(ctx.session.scalars(select(CaseLink.digest)))
    assert max(digests.values()) >= 2  # cases of one causa, linked
    # one voluntary return the person asked for, in its reintegration follow-up (issue 15 item 4)
    assert "en_reintegracion" in set(ctx.session.scalars(select(Track.state).where(Track.track == "retorno")))
    # plans are filled in version 2, with the person's agreement (issue 15 item 6)
    assert set(ctx.session.scalars(select(FormRecord.form_version).where(FormRecord.form_key == "plan"))) == {2}
    # the daily work (issue 16): every case past its Informe's start has a responsible case worker at the lead
    # node and the worker's notes; a case in follow-up also the follow-up call that restarted its clock
    written = set(ctx.session.scalars(select(Case.state).where(Case.id.in_(select(CaseNote.case_id)))))
    assert {"informe_social", "plan_en_ejecucion", "seguimiento", "cerrado"} <= written
    assert "activado" not in written and "detectado" not in written
    assigned = set(ctx.session.scalars(select(CaseAssignment.case_id).where(CaseAssignment.ended_at.is_(None))))
    assert assigned == set(ctx.session.scalars(select(CaseNote.case_id)))
    # a mesa de caso on every approved plan, its agreement the focal point's task on the clocks
    met = set(ctx.session.scalars(select(Case.state).where(Case.id.in_(select(CaseAgreement.case_id)))))
    assert {"plan_en_ejecucion", "seguimiento", "cerrado"} <= met and "plan_en_elaboracion" not in met
    assert ctx.session.scalar(select(func.count()).select_from(CaseClock).where(CaseClock.clock == "acuerdo_mesa"))
    follow_up = ctx.session.scalars(select(Case).where(Case.state == "seguimiento")).first()
    assert ctx.session.scalar(select(func.count()).select_from(CaseNote).where(CaseNote.case_id == follow_up.id)) == 2


def test_the_same_seed_gives_the_same_people_and_another_seed_others(app: Any, ctx: Context) -> None:
    load_demo(app, cases=13, seed=99, progress=lambda _line: None)
    first = people(ctx)
    ctx.session.expire_all()
    load_demo(app, cases=13, seed=99, progress=lambda _line: None)
    ctx.ciphers.clear()
    ctx.keycache.clear()  # the reload made new node keys
    assert people(ctx) == first
    load_demo(app, cases=13, seed=100, progress=lambda _line: None)
    ctx.ciphers.clear()
    ctx.keycache.clear()  # the reload made new node keys
    assert {name for _, name, _ in people(ctx)}.isdisjoint({name for _, name, _ in first})


def test_demo_people_follow_the_published_figures(app: Any, ctx: Context) -> None:
    load_demo(app, cases=130, seed=8, progress=lambda _line: None)
    nationalities = Counter(nationality for _, _, nationality in people(ctx))
    top_three = {code for code, _ in nationalities.most_common(3)}
    assert len(top_three & {"VE", "BO", "CO"}) >= 2  # VE 25%, BO 22%, CO 13% of persons entered
    regions = Counter(ctx.session.scalars(select(Case.region_code)))
    assert regions.most_common(1)[0][0] == "CL-RM"


def test_the_command_loads_the_demo_and_says_how_to_log_in(app: Any, ctx: Context) -> None:
    result = app.test_cli_runner().invoke(args=["demo", "load", "--cases", "3", "--seed", "5"])
    assert result.exit_code == 0, result.output
    assert DEMO_PASSWORD in result.output and "3 cases" in result.output
    assert ctx.session.scalar(select(func.count()).select_from(Case)) == 3


def test_the_command_refuses_to_run_in_production(app: Any) -> None:
    app.config["REFERRAL_ENV"] = "production"
    result = app.test_cli_runner().invoke(args=["demo", "load", "--cases", "1"])
    assert result.exit_code != 0 and "production" in result.output


def test_the_demo_loads_the_plan_de_accion_with_its_users_and_some_progress(app: Any, ctx: Context) -> None:
    from referral.plan.models import Action, Plan, Progress

    load_demo(app, cases=0, seed=1, progress=lambda _line: None)
    assert ctx.session.scalar(select(func.count()).select_from(Plan)) == 1
    assert ctx.session.scalar(select(func.count()).select_from(Action)) == 43
    reports = ctx.session.scalars(select(Progress)).all()
    assert len(reports) == 6 and sum(1 for r in reports if r.evidence_blob_id) == 1
    users = {u.email: (u.role, u.node.code) for u in ctx.session.scalars(select(User).where(
        User.email.in_(["secretaria.mesa@demo.cl", "plan.pav@demo.cl"])))}
    assert users == {"secretaria.mesa@demo.cl": ("secretaria_tecnica", "SERMIG"),
                     "plan.pav@demo.cl": ("punto_focal_plan", "PAV")}
