"""Crypto-shredding: erasing a case destroys every wrap of its data key, then every row of the case.

Without a wrap the ciphertext cannot be opened by anyone, including us, whatever copies of it
remain; deleting the rows as well (SQLite overwrites freed pages: `secure_delete`) leaves nothing
to attack in the live database. What stays is a tombstone: the random reference, when, why, and
the role and node of the administrator — no personal data and no key material.
"""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from ..audit.service import record
from ..auth.models import User
from ..clocks.models import CaseClock, Notification
from ..context import Context
from ..kernel.referral_models import Consent, EmergencyAccess, Referral
from ..kernel.key_models import CaseKeyWrap
from ..workflow import Text
from ..kernel.access import has_capability
from ..kernel.errors import AccessDenied, CaseError, CaseNotFound, InvalidInput
from ..kernel.attachment_models import CaseAttachment
from .attachments import blob_store, blobs_of_case, delete_after_commit
from ..kernel.meeting_models import CaseAgreement, CaseMeeting
from ..kernel.note_models import CaseNote
from ..kernel.models import (
    BlindIndex, Case, CaseEvent, CaseKey, CaseLink, CaseTombstone, FormRecord, Participant, Track, WorklistEntry,
)

# Why a case may be erased. Free text is not asked for: it could name the person.
REASONS: dict[str, Text] = {
    "retencion": Text("Vencimiento del plazo de conservación", "Retention period expired"),
    "solicitud_titular": Text("Solicitud de supresión de la persona o su representante",
                              "Erasure requested by the person or their representative"),
    "orden_judicial": Text("Orden judicial o de autoridad competente", "Court or competent-authority order"),
    "ingreso_erroneo": Text("Caso ingresado por error o duplicado", "Case entered in error or a duplicate"),
}
# Tables an erasure deletes from, for scrubbing their freed space afterwards.
ERASED_TABLES = ("case_key_wraps", "case_keys", "blind_indexes", "case_links", "notifications", "case_clocks", "worklist_entries", "case_events",
                 "case_notes", "case_attachments", "case_agreements", "case_meetings", "form_records", "case_tracks", "referrals", "emergency_accesses", "consents", "case_participants", "cases")
UNKNOWN_REASON = Text("Elija un motivo de la lista.", "Choose a reason from the list.")
CONFIRMATION_MISMATCH = Text("Escriba la referencia del caso exactamente para confirmar.",
                             "Type the case reference exactly to confirm.")


class AlreadyErased(CaseError):
    message = Text("Ese caso ya fue eliminado.", "That case has already been erased.")


def may_erase(ctx: Context, user: User) -> bool:
    return has_capability(ctx, user, "erase_cases")


def erase_case(ctx: Context, user: User, reference: str, reason: str, confirmation: str) -> CaseTombstone:
    """Shred the case `reference`; return its tombstone. Raise AccessDenied, InvalidInput, CaseNotFound."""
    if not may_erase(ctx, user):
        raise AccessDenied()
    errors: dict[str, list[Text]] = {}
    if reason not in REASONS:
        errors["reason"] = [UNKNOWN_REASON]
    if confirmation.strip().upper() != reference.strip().upper():
        errors["confirmation"] = [CONFIRMATION_MISMATCH]
    if errors:
        raise InvalidInput(errors)
    reference = reference.strip().upper()
    case = ctx.session.scalar(select(Case).where(Case.reference == reference).with_for_update())
    if case is None:  # never existed, or erased (perhaps a moment ago, by the first of two clicks)
        if ctx.session.scalar(select(CaseTombstone.id).where(CaseTombstone.reference == reference)) is not None:
            raise AlreadyErased()
        raise CaseNotFound()
    tombstone = CaseTombstone(reference=reference, reason=reason, erased_at=ctx.now(), actor_user_id=user.id,
                              actor_role=user.role, actor_node_id=user.node_id, opened_at=case.created_at)
    try:  # the tombstone first: of two simultaneous erasures, the second stops here
        with ctx.session.begin_nested():
            ctx.session.add(tombstone)
    except IntegrityError:
        raise AlreadyErased() from None
    record(ctx, "case.erase", role=user.role, node_id=user.node_id, case_id=case.id, details={"reason": reason})
    # The documents' blobs go once this erasure commits (their keys, sealed under the case key, go now).
    delete_after_commit(ctx.session, blob_store(ctx), blobs_of_case(ctx, case.id))
    # Keys first: from this statement on, nothing of the case can be decrypted.
    for model, column in ((CaseKeyWrap, CaseKeyWrap.case_id), (CaseKey, CaseKey.case_id),
                          (BlindIndex, BlindIndex.case_id), (CaseLink, CaseLink.case_id),
                          (Notification, Notification.case_id),
                          (CaseClock, CaseClock.case_id), (CaseEvent, CaseEvent.case_id), (CaseNote, CaseNote.case_id),
                          (CaseAttachment, CaseAttachment.case_id),
                          (CaseAgreement, CaseAgreement.case_id), (CaseMeeting, CaseMeeting.case_id),
                          (FormRecord, FormRecord.case_id), (Track, Track.case_id),
                          (Referral, Referral.case_id), (EmergencyAccess, EmergencyAccess.case_id),
                          (Consent, Consent.case_id), (Participant, Participant.case_id),
                          (WorklistEntry, WorklistEntry.case_id)):
        ctx.session.execute(delete(model).where(column == case.id).execution_options(worklist_cases=[case.id]))
    ctx.session.execute(delete(Case).where(Case.id == case.id)
                        .execution_options(synchronize_session=False, worklist_cases=[case.id]))
    ctx.session.expunge(case)
    ctx.session.flush()
    return tombstone
