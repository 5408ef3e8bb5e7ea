"""Consent as records: who consented, to what, when, until when, on what evidence; revocable.

Scopes have fixed meanings (their labels are in the workflow): `ingreso` (entering the Protocol),
`red` (sharing with any node of the network), `tipo_nodo` (with one organisation type), `nodo` (with
one node). A consent is live from the day it was given until it is revoked or its end date passes.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import or_, select

from ..auth.models import User
from ..kernel.access import open_case
from ..kernel.errors import CaseNotFound, InvalidInput
from ..kernel.models import Case
from ..kernel.records import details_cell
from ..kernel.timeline import append_event
from ..kernel.claims import claim_version
from ..context import Context
from ..kernel.keystore import seal_cell
from ..network.models import Node
from ..workflow import Text, TransitionRefused
from ..workflow.network import NOT_PERMITTED, permitted
from ..kernel.referral_models import Consent
from .notes import note as note_text

CONSENT_EVENT = "consent"
NOTE_MAX = 1000

REQUIRED = Text("Este campo es obligatorio.", "This field is required.")
UNKNOWN = Text("Elija una opción de la lista.", "Choose an option from the list.")
CHILD = Text("Caso NNA: el consentimiento lo da su representante legal o el organismo de protección, no el niño, "
             "niña o adolescente solo.",
             "Child case: consent is given by the legal guardian or the protection body, not the child alone.")
FUTURE = Text("La fecha no puede ser futura.", "The date cannot be in the future.")
ORDER = Text("La vigencia debe terminar después de la fecha en que se dio.", "It must end after the day it was given.")
NOT_FOUND = Text("Ese consentimiento no existe en este caso.", "There is no such consent in this case.")
ALREADY_REVOKED = Text("Ese consentimiento ya estaba revocado.", "That consent was already revoked.")


class ConsentNotFound(CaseNotFound):
    message = NOT_FOUND


def today(ctx: Context) -> dt.date:
    return ctx.now().astimezone(ctx.timezone).date()


def live_consents(ctx: Context, case: Case) -> list[Consent]:
    day = today(ctx)
    return list(ctx.session.scalars(select(Consent).where(
        Consent.case_id == case.id, Consent.revoked_at.is_(None), Consent.given_on <= day,
        or_(Consent.valid_until.is_(None), Consent.valid_until >= day)).order_by(Consent.created_at)))


def is_live(ctx: Context, consent: Consent) -> bool:
    """`live_consents`' rule for one consent already read: not revoked, given, not yet expired (today)."""
    day = today(ctx)
    return consent.revoked_at is None and consent.given_on <= day and \
        (consent.valid_until is None or consent.valid_until >= day)


def covers(consent: Consent, node: Node) -> bool:
    return (consent.scope == "red" or (consent.scope == "nodo" and consent.node_id == node.id)
            or (consent.scope == "tipo_nodo" and consent.org_type == node.org_type))


def covering_consent(ctx: Context, case: Case, node: Node) -> Consent | None:
    """A live consent that covers sharing the case with `node` (the most specific one), or None."""
    found = [c for c in live_consents(ctx, case) if covers(c, node)]
    order = {"nodo": 0, "tipo_nodo": 1, "red": 2}
    return min(found, key=lambda c: order[c.scope]) if found else None


def record_consent(ctx: Context, user: User, reference: str, *, given_by: str, scope: str, given_on: dt.date | None,
                   evidence: str, expected_version: int, valid_until: dt.date | None = None,
                   node_id: int | None = None, org_type: str | None = None, note: str = "") -> Consent:
    case, actor = open_case(ctx, user, reference)
    rules = ctx.definition.network.consent
    if rules is None or not permitted(rules.by, user.role, actor.relations):
        raise TransitionRefused("forbidden", NOT_PERMITTED)
    claim_version(ctx, case, expected_version)
    errors: dict[str, list[Text]] = {}
    if given_by not in rules.given_by:
        errors["given_by"] = [UNKNOWN]
    elif rules.child_flag and (case.flags or {}).get(rules.child_flag) and given_by not in rules.child_given_by:
        errors["given_by"] = [CHILD]
    if scope not in rules.scopes:
        errors["scope"] = [UNKNOWN]
    node = ctx.session.get(Node, node_id) if node_id is not None else None
    if scope == "nodo" and (node is None or not node.active):
        errors["node"] = [REQUIRED]
    if scope == "tipo_nodo" and not org_type:
        errors["org_type"] = [REQUIRED]
    if evidence not in rules.evidence:
        errors["evidence"] = [UNKNOWN]
    if given_on is None:
        errors["given_on"] = [REQUIRED]
    elif given_on > today(ctx):
        errors["given_on"] = [FUTURE]
    elif valid_until is not None and valid_until < given_on:
        errors["valid_until"] = [ORDER]
    note = note_text(note, "note", errors, limit=NOTE_MAX)
    if errors:
        raise InvalidInput(errors)
    assert given_on is not None
    consent = Consent(id=uuid.uuid4(), case_id=case.id, given_by=given_by, scope=scope,
                      node_id=node.id if scope == "nodo" and node else None,
                      org_type=org_type if scope == "tipo_nodo" else None, given_on=given_on, valid_until=valid_until,
                      evidence=evidence, recorded_by_user_id=user.id, recorded_by_node_id=user.node_id,
                      created_at=ctx.now())
    if note:
        consent.details = seal_cell(ctx, case, {"note": note}, details_cell("consents", consent.id))
    ctx.session.add(consent)
    append_event(ctx, case, user, kind=CONSENT_EVENT, action=f"consent.{scope}", machine="consent",
                 from_state=None, to_state="vigente", subject=str(consent.id))
    ctx.session.flush()
    return consent


def revoke_consent(ctx: Context, user: User, reference: str, consent_id: uuid.UUID, *,
                   expected_version: int) -> tuple[Consent, list[uuid.UUID]]:
    """Revoke a consent; the live referrals it alone covered are revoked with it. Returns their ids."""
    from .service import revoke_uncovered  # (the referral service reads consents)

    case, actor = open_case(ctx, user, reference)
    rules = ctx.definition.network.consent
    if rules is None or not permitted(rules.by, user.role, actor.relations):
        raise TransitionRefused("forbidden", NOT_PERMITTED)
    consent = ctx.session.get(Consent, consent_id)
    if consent is None or consent.case_id != case.id:
        raise ConsentNotFound()
    claim_version(ctx, case, expected_version)
    if consent.revoked_at is not None:
        raise InvalidInput({"consent": [ALREADY_REVOKED]})
    consent.revoked_at, consent.revoked_by_user_id = ctx.now(), user.id
    append_event(ctx, case, user, kind=CONSENT_EVENT, action=f"consent.{consent.scope}", machine="consent",
                 from_state="vigente", to_state="revocado", subject=str(consent.id))
    ctx.session.flush()
    ended = revoke_uncovered(ctx, case, user, consent.id)
    return consent, [r.id for r in ended]
