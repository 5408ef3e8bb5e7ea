"""Break the glass (workflow.yaml `emergency_access:`): a focal-point coordinator states a reason and an
explanation and gets time-limited access (default 4 h, 1..24) to a case outside her node's scope. From
the expiry on the access is refused at once; the sweep then ends it and deletes the key wrap. Auditors
see each access by role, node type and reason label, never a name or the typed explanation.

Setup: a Metropolitana Ficha filed by salud.rm; coordinador.ta (CAVD-CL-TA, Tarapacá) is outside it.
The test clock starts at 2026-11-18 15:00 UTC.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select

from referral.kernel.errors import AccessDenied, CaseNotFound, InvalidInput
from referral.kernel.models import Case, CaseEvent, Participant
from referral.cases.reading import case_page, form_revision
from referral.referrals.emergency import end_access, expire, grant
from referral.kernel.referral_models import EmergencyAccess
from referral.referrals.reading import exceptions

from ..backends import both_backends
from ..factories import VICTIM_DOCUMENT, VICTIM_GIVEN, VICTIM_PHONE, VICTIM_SURNAMES
from ..steps import case_id, file_case, node_id, user
from ..units import unit_of_work
from . import AUDIT_SCOPE, audit_name, has_wrap, opens, relations

T0 = dt.datetime(2026, 11, 18, 15, 0, tzinfo=dt.UTC)
NOTE = f"{VICTIM_GIVEN} llegó a Iquique sin red de apoyo"
PERSONAL = (VICTIM_GIVEN, VICTIM_SURNAMES, VICTIM_DOCUMENT, VICTIM_PHONE)


def break_glass(app: Any, reference: str, who: str = "coordinador.ta", *, reason: str = "traslado_entre_regiones",
                note: str = NOTE, hours: int | None = None) -> EmergencyAccess:
    with unit_of_work(app) as ctx:
        access = grant(ctx, user(ctx, who), reference, reason=reason, note=note, hours=hours)
        ctx.session.commit()
        ctx.session.refresh(access)
        ctx.session.expunge(access)
        return access


def access_row(app: Any, access_id: Any) -> tuple[EmergencyAccess, Participant | None]:
    with unit_of_work(app) as ctx:
        access = ctx.session.get(EmergencyAccess, access_id)
        assert access is not None
        participant = ctx.session.get(Participant, access.participant_id) if access.participant_id else None
        ctx.session.expunge_all()
        return access, participant


def accesses(app: Any, reference: str) -> list[EmergencyAccess]:
    with unit_of_work(app) as ctx:
        rows = list(ctx.session.scalars(select(EmergencyAccess).where(
            EmergencyAccess.case_id == case_id(app, reference)).order_by(EmergencyAccess.granted_at)))
        ctx.session.expunge_all()
        return rows


def sweep_now(app: Any, now: dt.datetime) -> int:
    with unit_of_work(app) as ctx:
        ended = expire(ctx, now)
        ctx.session.commit()
        return ended


def glass_refused(app: Any, reference: str, who: str = "coordinador.ta", **kwargs: Any) -> Exception:
    values: dict[str, Any] = {"reason": "riesgo_vital", "note": "Explicación."}
    values.update(kwargs)
    with unit_of_work(app) as ctx, pytest.raises(Exception) as caught:
        grant(ctx, user(ctx, who), reference, **values)
    assert accesses(app, reference) == []
    return caught.value


# -- who and how ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("who", ["gestor.ta", "policia.ta", "auditor", "administrador", "migraciones"])
def test_only_a_coordinator_may_break_the_glass(app: Any, who: str) -> None:
    reference = file_case(app)
    error = glass_refused(app, reference, who)
    assert isinstance(error, AccessDenied)
    assert not opens(app, "coordinador.ta", reference)


def test_a_reason_from_the_list_and_an_explanation_are_required(app: Any) -> None:
    reference = file_case(app)
    error = glass_refused(app, reference, reason="curiosidad")
    assert isinstance(error, InvalidInput) and "reason" in error.errors
    for note in ("", "   "):
        error = glass_refused(app, reference, note=note)
        assert isinstance(error, InvalidInput) and "note" in error.errors
    error = glass_refused(app, reference, note="x" * 1001)
    assert isinstance(error, InvalidInput) and "note" in error.errors
    assert not opens(app, "coordinador.ta", reference)


@pytest.mark.parametrize("hours", [0, -1, 25, 100])
def test_hours_outside_one_to_twenty_four_are_refused(app: Any, hours: int) -> None:
    reference = file_case(app)
    error = glass_refused(app, reference, hours=hours)
    assert isinstance(error, InvalidInput) and "hours" in error.errors


@pytest.mark.parametrize("hours,expected", [(None, 4), (1, 1), (24, 24)])
def test_the_access_lasts_the_hours_asked_four_by_default(app: Any, hours: int | None, expected: int) -> None:
    reference = file_case(app)
    access = break_glass(app, reference, hours=hours)
    assert access.granted_at == T0
    assert access.expires_at == T0 + dt.timedelta(hours=expected)
    _, participant = access_row(app, access.id)
    assert participant is not None and participant.expires_at == access.expires_at


def test_a_node_that_already_has_access_is_refused(app: Any) -> None:
    reference = file_case(app)
    error = glass_refused(app, reference, "coordinador.rm")  # the focal point of the case
    assert isinstance(error, InvalidInput) and "reference" in error.errors
    break_glass(app, reference)
    with unit_of_work(app) as ctx, pytest.raises(InvalidInput):  # a second one while the first lasts
        grant(ctx, user(ctx, "coordinador.ta"), reference, reason="riesgo_vital", note="Otra vez.")
    assert len(accesses(app, reference)) == 1


def test_an_unknown_case_is_not_found(app: Any) -> None:
    with unit_of_work(app) as ctx, pytest.raises(CaseNotFound):
        grant(ctx, user(ctx, "coordinador.ta"), "TP-XXXX-XXXX", reason="riesgo_vital", note="x")


# -- the grant -------------------------------------------------------------------------------------------

@both_backends
def test_after_the_grant_the_node_reads_the_case_and_the_timeline_shows_it(app: Any) -> None:
    reference = file_case(app)
    assert not opens(app, "coordinador.ta", reference)
    access = break_glass(app, reference)
    assert relations(app, reference, "CAVD-CL-TA") == {"acceso_emergencia"}
    assert has_wrap(app, reference, "CAVD-CL-TA")
    assert opens(app, "coordinador.ta", reference)
    assert opens(app, "gestor.ta", reference)  # the node reads it, as any relation gives
    with unit_of_work(app) as ctx:
        _, ficha = form_revision(ctx, user(ctx, "coordinador.ta"), reference, "ficha", None, "es")
        page = case_page(ctx, user(ctx, "coordinador.ta"), reference, "es")
        whole = len(ctx.definition.form("ficha").sections)
    assert ficha is not None and len(ficha.sections) == whole == 8  # the whole Ficha (version 2)
    assert any(VICTIM_GIVEN in f.value for s in ficha.sections for f in s.fields)
    texts = [e.text for e in page.timeline]
    assert texts[0] == "Acceso de emergencia (romper el vidrio)"
    with unit_of_work(app) as ctx:
        event = ctx.session.scalar(select(CaseEvent).where(CaseEvent.case_id == case_id(app, reference))
                                   .order_by(CaseEvent.seq.desc()).limit(1))
        assert event is not None
        assert (event.kind, event.action, event.subject, event.actor_node_id) == (
            "emergency_access", "acceso_emergencia.otorgar", str(access.id), node_id(app, "CAVD-CL-TA"))
        stored = ctx.session.get(EmergencyAccess, access.id)
        assert stored is not None and stored.details is not None
        assert NOTE.encode() not in stored.details and VICTIM_GIVEN.encode() not in stored.details  # sealed
        assert (stored.user_role, stored.reason, stored.node_id) == (
            "coordinador", "traslado_entre_regiones", node_id(app, "CAVD-CL-TA"))
    # the case team sees it on the timeline too
    with unit_of_work(app) as ctx:
        page = case_page(ctx, user(ctx, "coordinador.rm"), reference, "es")
    assert "Acceso de emergencia (romper el vidrio)" in [e.text for e in page.timeline]


@both_backends
def test_past_expiry_access_is_refused_at_once_and_the_sweep_ends_it(app: Any, clock: Any) -> None:
    reference = file_case(app)
    access = break_glass(app, reference, hours=2)
    clock.now = T0 + dt.timedelta(hours=1, minutes=59)
    assert opens(app, "coordinador.ta", reference)
    clock.now = T0 + dt.timedelta(hours=2)  # the expiry itself: no longer live
    assert not opens(app, "coordinador.ta", reference)
    with unit_of_work(app) as ctx, pytest.raises(AccessDenied):
        form_revision(ctx, user(ctx, "coordinador.ta"), reference, "ficha", None, "es")
    # before any sweep the rows are still there (the wrap too), but nothing opens
    stored, participant = access_row(app, access.id)
    assert stored.active and participant is not None and participant.active
    assert has_wrap(app, reference, "CAVD-CL-TA")
    assert sweep_now(app, T0 + dt.timedelta(hours=1)) == 0  # not yet due at that moment
    assert sweep_now(app, clock.now) == 1
    stored, participant = access_row(app, access.id)
    assert not stored.active and stored.ended_at == clock.now
    assert participant is not None and not participant.active and participant.until == clock.now
    assert relations(app, reference, "CAVD-CL-TA") == set()
    assert not has_wrap(app, reference, "CAVD-CL-TA")
    assert sweep_now(app, clock.now + dt.timedelta(minutes=1)) == 0  # once
    # the case's own nodes keep theirs
    for code in ("CAVD-CL-RM", "MINSAL-CL-RM", "PAV"):
        assert has_wrap(app, reference, code)
    assert opens(app, "coordinador.rm", reference)


@both_backends
def test_ending_early_works(app: Any, clock: Any) -> None:
    reference = file_case(app)
    access = break_glass(app, reference)
    clock.advance(minutes=30)
    with unit_of_work(app) as ctx:
        ended = end_access(ctx, user(ctx, "coordinador.ta"), reference)
        ctx.session.commit()
        assert ended.id == access.id
    stored, participant = access_row(app, access.id)
    assert not stored.active and stored.ended_at == T0 + dt.timedelta(minutes=30)
    assert participant is not None and not participant.active
    assert not has_wrap(app, reference, "CAVD-CL-TA")
    assert not opens(app, "coordinador.ta", reference)
    with unit_of_work(app) as ctx:
        event = ctx.session.scalar(select(CaseEvent).where(CaseEvent.case_id == case_id(app, reference))
                                   .order_by(CaseEvent.seq.desc()).limit(1))
        assert event is not None and (event.action, event.to_state) == ("acceso_emergencia.terminar", "terminado")
    with unit_of_work(app) as ctx, pytest.raises(AccessDenied):  # nothing left to end
        end_access(ctx, user(ctx, "coordinador.ta"), reference)
    assert sweep_now(app, T0 + dt.timedelta(hours=5)) == 0  # the sweep does not end it again


def test_another_node_cannot_end_my_access(app: Any) -> None:
    reference = file_case(app)
    access = break_glass(app, reference)
    with unit_of_work(app) as ctx, pytest.raises(AccessDenied):
        end_access(ctx, user(ctx, "coordinador.rm"), reference)
    assert access_row(app, access.id)[0].active
    assert opens(app, "coordinador.ta", reference)


@both_backends
def test_a_new_access_after_an_expired_one_survives_the_sweep_of_the_old_one(app: Any, clock: Any) -> None:
    """The first access expired and was not swept yet; the coordinator asks again. Sweeping the old one
    must end the old one only: the fresh access (and its wrap) lasts its own hours."""
    reference = file_case(app)
    first = break_glass(app, reference, hours=1)
    clock.now = T0 + dt.timedelta(hours=1, minutes=5)
    assert not opens(app, "coordinador.ta", reference)
    second = break_glass(app, reference, hours=4, reason="riesgo_vital", note="Sigue sin responder el nodo.")
    assert opens(app, "coordinador.ta", reference)
    assert not access_row(app, first.id)[0].active  # the new grant ended the expired one at once
    assert access_row(app, first.id)[0].ended_at == T0 + dt.timedelta(hours=1)  # at its expiry, for auditors
    assert sweep_now(app, clock.now) == 0  # nothing left for the sweep, and the new access is untouched
    stored, participant = access_row(app, second.id)
    assert stored.active
    assert participant is not None and participant.active
    assert relations(app, reference, "CAVD-CL-TA") == {"acceso_emergencia"}
    assert has_wrap(app, reference, "CAVD-CL-TA")
    assert opens(app, "coordinador.ta", reference)


# -- the auditors' list -----------------------------------------------------------------------------------

@both_backends
def test_auditors_see_the_access_by_role_node_type_and_reason_never_a_name(app: Any, clock: Any) -> None:
    reference = file_case(app)
    break_glass(app, reference, reason="riesgo_vital", hours=3)
    with unit_of_work(app) as ctx:
        rows = exceptions(ctx, "es", AUDIT_SCOPE)
    mine = [r for r in rows if r.case == audit_name(app, reference)]
    assert len(mine) == 1
    row = mine[0]
    assert row.kind == "Acceso de emergencia"
    assert row.role == "Coordinador/a de punto focal"
    assert row.node_type == "CentralGovernmentOrganisation"
    assert row.reason == "Riesgo inminente para la persona; el nodo a cargo no responde"
    assert row.when == "18-11-2026 12:00" and row.until == "18-11-2026 15:00"
    text = repr(rows)
    for word in (reference, *PERSONAL, NOTE, "Iquique", "coordinador.ta", "CAVD-CL-TA", "CAVD Tarapacá"):
        assert word not in text, word
    with unit_of_work(app) as ctx:
        english = [r for r in exceptions(ctx, "en", AUDIT_SCOPE) if r.case == audit_name(app, reference)]
    assert english[0].reason == "Imminent risk to the person; the responsible node does not answer"
    assert english[0].role == "Focal-point coordinator"
    # ended early: "until" says when it ended
    clock.advance(minutes=45)
    with unit_of_work(app) as ctx:
        end_access(ctx, user(ctx, "coordinador.ta"), reference)
        ctx.session.commit()
    with unit_of_work(app) as ctx:
        row = [r for r in exceptions(ctx, "es", AUDIT_SCOPE) if r.case == audit_name(app, reference)][0]
    assert row.until == "18-11-2026 12:45"


# -- the real sweep task, run inline ----------------------------------------------------------------------

@both_backends
def test_the_clock_sweep_task_ends_expired_accesses(app: Any, clock: Any) -> None:
    """`referral.clocks.sweep` (what beat sends every minute) run in this process, with Celery in eager
    mode: no broker is needed, and any clock work it hands out runs inline."""
    import referral.tasks  # noqa: F401  (registers the tasks)

    from ..clocks import notified

    reference = file_case(app)
    kept = file_case(app)
    access = break_glass(app, reference, hours=1)
    other = break_glass(app, kept, hours=24)
    celery_app = app.extensions["celery"]
    celery_app.conf.task_always_eager = True
    celery_app.set_default()
    clock.now = T0 + dt.timedelta(hours=18)  # the triage reminder of both cases is due too
    with app.app_context():
        handed_out = celery_app.tasks["referral.clocks.sweep"]()
    assert handed_out >= 2
    # the clocks it handed out ran inline (eager): the focal point was reminded of the triage
    assert ("coordinador.rm", "triaje", "reminder", 1, 0, 0) in notified(app, reference)
    assert ("coordinador.rm", "triaje", "reminder", 1, 0, 0) in notified(app, kept)
    stored, participant = access_row(app, access.id)
    assert not stored.active and participant is not None and not participant.active
    assert not has_wrap(app, reference, "CAVD-CL-TA")
    assert access_row(app, other.id)[0].active
    assert has_wrap(app, kept, "CAVD-CL-TA")
    assert opens(app, "coordinador.ta", kept)
    with unit_of_work(app) as ctx:
        assert ctx.session.scalar(select(Case.state).where(Case.reference == reference)) == "detectado"
