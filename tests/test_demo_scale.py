"""`flask demo scale`: prototypes through the services, cloned with fresh keys and wraps, that the application
opens, lists and verifies like any other case, with nothing personal in clear."""

from __future__ import annotations

import html
import re
from collections import Counter
from typing import Any

from sqlalchemy import select

from referral.auth.models import User
from referral.kernel.models import Case, FormRecord, Participant
from referral.kernel.records import open_values
from referral.clocks.models import CaseClock
from referral.context import Context
from referral.demo.country import default_folder, load_script
from referral.demo.scale import allocate, load_scale
from referral.kernel.key_models import CaseKeyWrap
from referral.kernel.keystore import cipher_for
from referral.network.models import Node

from .backends import both_backends
from .browser import Browser
from .test_encryption_at_rest import database_bytes, personal_values

CASES = 60
STAGE_SHARES = load_script(default_folder()).SCALE.stage_shares  # Chile's demo script (workflows/chile/demo.py)
# Clocks that must be running in a case standing in these states (the Protocol's deadlines).
RUNNING = {"detectado": "triaje", "en_evaluacion": "triaje", "informacion_solicitada": "triaje",
           "activado": "informe_social", "plan_en_elaboracion": "plan"}
# The case state each end stage of the generator leaves a case in.
STATE_OF = {"informe_borrador": "informe_social", "informe_enviado": "informe_social",
            "residencia_presentada": "plan_en_ejecucion", "residencia_otorgada": "seguimiento",
            "retorno_voluntario": "seguimiento"}


def reader(ctx: Context, case: Case) -> int:
    """The node the case page is opened as: its lead node, or before activation its detecting node."""
    relations = {p.relation: p.node_id for p in ctx.session.scalars(
        select(Participant).where(Participant.case_id == case.id, Participant.active))}
    return relations.get("nodo_lider", case.detecting_node_id)


def staff_of(ctx: Context, node_id: int) -> str:
    """A staff member of the node who signs in with the password alone (a case worker or detection team)."""
    user = ctx.session.scalar(select(User).where(User.node_id == node_id, User.role.in_(("gestor", "deteccion")))
                              .order_by(User.id))
    assert user is not None, node_id
    return user.email.split("@")[0]


@both_backends
def test_scale_cases_open_list_verify_and_follow_the_distribution(app: Any, ctx: Context) -> None:
    lines: list[str] = []
    summary = load_scale(app, cases=CASES, seed=7, progress=lines.append)
    assert f"{CASES} cases" in summary and any(f"{CASES}/{CASES} cases" in line for line in lines)
    assert any("cases/s" in line and "ETA" in line for line in lines)

    cases = list(ctx.session.scalars(select(Case)))
    assert len(cases) == CASES
    assert len(ctx.session.scalars(select(Node.id)).all()) >= 400
    assert len(ctx.session.scalars(select(User.id)).all()) >= 2500

    # the states follow the requested distribution exactly
    expected: Counter[str] = Counter()
    for stage, count in allocate(CASES, STAGE_SHARES).items():
        expected[STATE_OF.get(stage, stage)] += count
    assert Counter(c.state for c in cases) == +expected
    assert set(STAGE_SHARES) >= {"detectado", "cerrado"}

    # each case has its own key: every wrap opens only its own case, and cases are many people, not copies
    names = Counter()
    for case in cases:
        ctx.act_as(reader(ctx, case))
        record = ctx.session.scalar(select(FormRecord).where(FormRecord.case_id == case.id,
                                                             FormRecord.form_key == "ficha", FormRecord.current))
        values = open_values(ctx, case, record)
        names[f"{values['nombres']} {values['apellidos']}"] += 1
        assert values["region"] in (case.region_code, None)
        ctx.keycache.clear()
        ctx.ciphers.clear()
    assert len(names) >= CASES - 2
    assert len({w.wrapped for w in ctx.session.scalars(select(CaseKeyWrap))}) == len(
        ctx.session.scalars(select(CaseKeyWrap.id)).all())

    # clocks run where the state says so; a closed case has none running
    running: dict[Any, set[str]] = {}
    for clock in ctx.session.scalars(select(CaseClock).where(CaseClock.status == "running")):
        running.setdefault(clock.case_id, set()).add(clock.clock)
    for case in cases:
        if case.state in RUNNING:
            assert RUNNING[case.state] in running.get(case.id, set()), (case.state, running.get(case.id))
        if case.state == "cerrado":
            assert case.id not in running

    # every case opens, decrypted, as its lead (or detecting) node; a node not on the case cannot open it
    browsers: dict[int, Browser] = {}
    for case in cases:
        node_id = reader(ctx, case)
        if node_id not in browsers:
            browsers[node_id] = Browser(app, "demo-protocolo-2026")
            assert browsers[node_id].login(staff_of(ctx, node_id)).status_code == 302
        page = browsers[node_id].get(f"/casos/{case.reference}")
        assert page.status_code == 200, (case.state, page.status_code)
        ctx.act_as(node_id)
        record = ctx.session.scalar(select(FormRecord).where(FormRecord.case_id == case.id,
                                                             FormRecord.form_key == "ficha", FormRecord.current))
        given = open_values(ctx, case, record)["nombres"]
        assert html.escape(given) in page.text or given in page.text
    outsider = ctx.session.scalar(select(Node).where(Node.code.like("ONG-%"), ~Node.id.in_(
        select(Participant.node_id).where(Participant.case_id == cases[0].id))))
    stranger = Browser(app, "demo-protocolo-2026")
    assert stranger.login(staff_of(ctx, outsider.id)).status_code == 302
    assert stranger.get(f"/casos/{cases[0].reference}").status_code in (403, 404)
    ctx.act_as(outsider.id)
    try:
        cipher_for(ctx, cases[0])
        raise AssertionError("a node with no wrap opened the case key")
    except Exception as error:  # noqa: BLE001 - whichever refusal the store raises, it must raise
        assert "opened the case key" not in str(error)

    # worklists show the cases: the busiest lead node's list holds only its cases, and some of them
    leads = Counter(reader(ctx, c) for c in cases)
    node_id, count = leads.most_common(1)[0]
    listed = set(re.findall(r'<a href="/casos/(TP-[0-9A-Z]{4}-[0-9A-Z]{4})" class="ref">',
                            browsers[node_id].get("/casos").text))
    own = {c.reference for c in cases if reader(ctx, c) == node_id}
    assert listed and listed <= {c.reference for c in cases} and len(listed & own) == min(count, len(listed & own))
    assert listed & own

    # the audit chain, extended by the clones' events, verifies
    result = app.test_cli_runner().invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output

    # no person field of any case (prototype or clone) is in the database in clear
    # (a name of five letters or fewer can be part of a code in clear: «Irma» in «firma»)
    secrets = {value for value in personal_values(ctx) if len(value) > 5}
    assert len(secrets) > 3 * CASES
    stored = database_bytes(app)
    leaked = sorted(value for value in secrets if value.encode() in stored or value.lower().encode() in stored)
    assert leaked == []
