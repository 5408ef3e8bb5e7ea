"""Steps of the referral network, called as the views call them (one committed unit of work each)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from flask import Flask
from sqlalchemy import select

from referral.kernel.access import open_case
from referral.kernel.errors import AccessDenied
from referral.kernel.models import Case, Participant
from referral.kernel.key_models import CaseKeyWrap
from referral.referrals.consent import record_consent, revoke_consent
from referral.kernel.referral_models import Referral
from referral.referrals.service import answer_referral, send_referral

from ..steps import case_id, case_version, node_id, user
from ..units import unit_of_work


def consent(app: Flask, reference: str, by: str = "coordinador.rm", *, scope: str = "red",
            given_by: str = "persona", **extra: Any) -> uuid.UUID:
    with unit_of_work(app) as ctx:
        row = record_consent(ctx, user(ctx, by), reference, given_by=given_by, scope=scope,
                             given_on=extra.pop("given_on", dt.date(2026, 11, 1)), evidence=extra.pop("evidence", "firma"),
                             expected_version=case_version(app, reference), **extra)
        ctx.session.commit()
        return row.id


def revoke(app: Flask, reference: str, consent_id: uuid.UUID, by: str = "coordinador.rm") -> list[uuid.UUID]:
    with unit_of_work(app) as ctx:
        _, ended = revoke_consent(ctx, user(ctx, by), reference, consent_id,
                                  expected_version=case_version(app, reference))
        ctx.session.commit()
        return ended


def refer(app: Flask, reference: str, to: str, *, by: str = "coordinador.rm", kind: str = "derivacion",
          service: str | None = "alojamiento", **extra: Any) -> uuid.UUID:
    with unit_of_work(app) as ctx:
        row = send_referral(ctx, user(ctx, by), reference, kind=kind, service=service, to_node_id=node_id(app, to),
                            expected_version=case_version(app, reference), **extra)
        ctx.session.commit()
        return row.id


def answer(app: Flask, reference: str, referral_id: uuid.UUID, key: str, by: str, **extra: Any) -> None:
    with unit_of_work(app) as ctx:
        answer_referral(ctx, user(ctx, by), reference, referral_id, key,
                        expected_version=case_version(app, reference), **extra)
        ctx.session.commit()


def opens(app: Flask, who: str, reference: str) -> bool:
    """Whether the user may open the case now (a live relation of their node)."""
    with unit_of_work(app) as ctx:
        try:
            open_case(ctx, user(ctx, who), reference)
        except AccessDenied:
            return False
        return True


def state_of(app: Flask, referral_id: uuid.UUID) -> str:
    with unit_of_work(app) as ctx:
        row = ctx.session.get(Referral, referral_id)
        assert row is not None
        return row.state


def relations(app: Flask, reference: str, code: str) -> set[str]:
    with unit_of_work(app) as ctx:
        return set(ctx.session.scalars(select(Participant.relation).where(
            Participant.case_id == case_id(app, reference), Participant.node_id == node_id(app, code),
            Participant.active)))


def has_wrap(app: Flask, reference: str, code: str) -> bool:
    with unit_of_work(app) as ctx:
        return ctx.session.scalar(select(CaseKeyWrap.id).where(
            CaseKeyWrap.case_id == case_id(app, reference), CaseKeyWrap.node_id == node_id(app, code)).limit(1)) is not None


__all__ = ["Case", "answer", "consent", "has_wrap", "opens", "refer", "relations", "revoke", "state_of"]


AUDIT_SCOPE = 0  # any audit body's node id: exceptions name cases by that body's pseudonym


def audit_name(app: Any, reference: str) -> str:
    """The name auditors of AUDIT_SCOPE see for a case (never its reference)."""
    from referral.audit.service import pseudonym
    from referral.stats.pseudonyms import scoped

    from ..units import unit_of_work

    with unit_of_work(app) as ctx:
        case_id = ctx.session.scalar(select(Case.id).where(Case.reference == reference))
        return scoped(ctx, AUDIT_SCOPE, pseudonym(ctx, case_id))
