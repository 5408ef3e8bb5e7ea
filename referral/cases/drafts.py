"""Drafts of the intake form: a Ficha saved unfinished by its author, before its case exists.

A draft is its author's alone: not her node's, not a coordinator's, not an administrator's. Every
query here selects by id *and* author, so anyone else — whoever they are — finds nothing (404), and
cannot tell a draft of someone else from one that never existed.

The values are sealed under a data key of the draft's own (AES-256-GCM, the cell format of cases),
and that key is wrapped by the master key with associated data binding it to the draft and its
author (`Vault.new_draft_key`): nothing in the row is readable without the master key, and a wrap
moved to another draft or person does not open. The row holds only ids, the form key and version,
the Ficha page's random token and timestamps.

Sending a draft files the case exactly as filing the Ficha directly does (`file_intake`, same checks,
same token so a double click files once) and deletes the draft in the same transaction. Discarding
deletes it. Drafts expire `RETENTION` after their last save: the clock sweep deletes them (deleting
the row deletes the only wrap of its key: crypto-shredding). Master key rotation re-wraps draft keys.
In-case instruments (Informe Social, Plan, residence request) are drafts of their own kind: form
records with status "draft", sealed under the case key, each save a new revision, readable by the
form's readers as the case team's working copy (referral/cases/editing.py). The forms of an action
(closure, decisions, returns with comments) have no drafts: they are a few fields typed at the moment
of the act, valid only for the case as it stands (its version); a draft of one would outlive the state
it was written for. A page refused with errors keeps what was typed, which is what they need.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, delete, func, select, update
from sqlalchemy.exc import IntegrityError

from ..audit.service import record as audit
from ..auth.models import User
from ..context import Context
from ..vault import CaseCipher, Cell
from ..workflow import Text
from ..workflow.forms import FormDef
from ..kernel.access import may_open_cases
from ..kernel.errors import CaseNotFound, DuplicateSubmission
from .intake import file_intake, may_file_intake
from ..kernel.models import Case, IntakeDraft
from .validation import draft_values

# [producto] basis: product — an unfinished Ficha is kept 30 days after its last save, then shredded:
# long enough to finish it after a weekend or a leave, short enough that forgotten personal data goes.
RETENTION = dt.timedelta(days=30)


class DraftNotFound(CaseNotFound):
    """No draft of this user with that id (someone else's, sent, discarded or expired: all alike)."""

    message = Text("No existe ese borrador: fue enviado, descartado o venció.",
                   "There is no such draft: it was sent, discarded or has expired.")


@dataclass(frozen=True)
class DraftLine:
    id: uuid.UUID
    summary: str
    updated_at: str
    expires_at: str


def may_draft(ctx: Context, user: User) -> bool:
    """Who may keep drafts: whoever may file the intake form."""
    return may_file_intake(ctx, user) and may_open_cases(ctx, user)


def _cell(draft: IntakeDraft) -> Cell:
    return Cell("intake_drafts", "data", draft.id)


def _cipher(ctx: Context, draft: IntakeDraft) -> CaseCipher:
    return ctx.vault.open_draft_key(draft.id, draft.author_user_id, draft.key_wrapped, draft.master_key_id)


def _own(ctx: Context, user: User, draft_id: uuid.UUID, *, lock: bool = False) -> IntakeDraft:
    if not may_draft(ctx, user):
        raise DraftNotFound()
    query = select(IntakeDraft).where(IntakeDraft.id == draft_id, IntakeDraft.author_user_id == user.id,
                                      IntakeDraft.expires_at > ctx.now())
    draft = ctx.session.scalar(query.with_for_update() if lock else query)
    if draft is None:
        raise DraftNotFound()
    return draft


def _intake_form(ctx: Context, draft: IntakeDraft | None = None) -> FormDef:
    key = ctx.definition.intake.form
    return ctx.definition.form(key, draft.form_version if draft is not None else None)


def _seal(ctx: Context, draft: IntakeDraft, form: FormDef, values: Mapping[str, Any]) -> None:
    draft.data = _cipher(ctx, draft).seal(form.to_storage(values), _cell(draft))
    now = ctx.now()
    draft.updated_at, draft.expires_at = now, now + RETENTION


def draft_values_of(ctx: Context, user: User, draft_id: uuid.UUID) -> tuple[IntakeDraft, FormDef, dict[str, Any]]:
    """The author's draft, its definition and its values (decrypted for her alone)."""
    draft = _own(ctx, user, draft_id)
    form = _intake_form(ctx, draft)
    return draft, form, form.from_storage(_cipher(ctx, draft).open(draft.data, _cell(draft)))


def save_draft(ctx: Context, user: User, values: Mapping[str, Any], token: str,
               draft_id: uuid.UUID | None = None) -> IntakeDraft:
    """Store the values typed so far: into the draft `draft_id`, or a new draft for this Ficha page.

    The page's token names its draft: a second «Guardar borrador» of the same new page (a double click)
    updates the draft the first made instead of making another.
    """
    if not may_draft(ctx, user):
        raise DraftNotFound()
    if draft_id is None:
        found = ctx.session.scalar(select(IntakeDraft.id).where(IntakeDraft.token == token,
                                                                IntakeDraft.author_user_id == user.id))
        draft_id = found
    if draft_id is not None:
        draft = _own(ctx, user, draft_id, lock=True)
        form = _intake_form(ctx, draft)
        _seal(ctx, draft, form, draft_values(ctx, form, values))
        action = "draft.save"
    else:
        form = _intake_form(ctx)
        clean = draft_values(ctx, form, values)
        if not token or len(token) > 64 or _token_taken(ctx, token):
            token = uuid.uuid4().hex  # a page already sent, a token not this page's: the draft gets its own
        new_id = uuid.uuid4()
        cipher, wrapped, master_id = ctx.vault.new_draft_key(new_id, user.id)
        now = ctx.now()
        draft = IntakeDraft(id=new_id, author_user_id=user.id, form_key=form.key, form_version=form.version,
                            token=token, key_wrapped=wrapped, master_key_id=master_id, data=b"",
                            created_at=now, updated_at=now, expires_at=now + RETENTION)
        draft.data = cipher.seal(form.to_storage(clean), _cell(draft))
        try:
            with ctx.session.begin_nested():  # two clicks at once: the second finds the first's draft
                ctx.session.add(draft)
        except IntegrityError:
            existing = ctx.session.scalar(select(IntakeDraft.id).where(IntakeDraft.token == token,
                                                                       IntakeDraft.author_user_id == user.id))
            if existing is None:  # someone else's token (never a real page): start over with a fresh one
                return save_draft(ctx, user, values, uuid.uuid4().hex)
            return save_draft(ctx, user, values, token, existing)
        action = "draft.create"
    audit(ctx, action, role=user.role, node_id=user.node_id, subject=str(draft.id))
    ctx.session.flush()
    return draft


def _token_taken(ctx: Context, token: str) -> bool:
    return (ctx.session.scalar(select(Case.id).where(Case.intake_token == token)) is not None
            or ctx.session.scalar(select(IntakeDraft.id).where(IntakeDraft.token == token)) is not None)


def file_from_page(ctx: Context, user: User, values: Mapping[str, Any], token: str) -> Case:
    """File the Ficha from its page; a draft this user saved from the same page is sent with it."""
    case = file_intake(ctx, user, values, token)
    draft_id = ctx.session.scalar(select(IntakeDraft.id).where(IntakeDraft.token == token,
                                                               IntakeDraft.author_user_id == user.id))
    if draft_id is not None:
        ctx.session.execute(delete(IntakeDraft).where(IntakeDraft.id == draft_id))
        audit(ctx, "draft.send", role=user.role, node_id=user.node_id, case_id=case.id, subject=str(draft_id))
        ctx.session.flush()
    return case


def _duplicate(ctx: Context, user: User, token: str) -> None:
    """Raise DuplicateSubmission if this user's node filed a case with the page's token."""
    if may_draft(ctx, user) and token:
        existing = ctx.session.scalar(select(Case.reference).where(
            Case.intake_token == token, Case.detecting_node_id == user.node_id))
        if existing is not None:
            raise DuplicateSubmission(existing)


def draft_form(ctx: Context, user: User, draft_id: uuid.UUID, token: str) -> FormDef:
    """The definition the author's draft is filled in; if the draft was just sent with `token`,
    DuplicateSubmission; else DraftNotFound."""
    try:
        return _intake_form(ctx, _own(ctx, user, draft_id))
    except DraftNotFound:
        _duplicate(ctx, user, token)
        raise


def send_draft(ctx: Context, user: User, draft_id: uuid.UUID, values: Mapping[str, Any], token: str) -> Case:
    """File the case from the draft (the values as now typed) and delete the draft, in one transaction.

    A second click finds the draft gone: if this user's node filed a case with the page's token, that
    is DuplicateSubmission (the view shows that case), else DraftNotFound.
    """
    try:
        draft = _own(ctx, user, draft_id, lock=True)
    except DraftNotFound:
        _duplicate(ctx, user, token)
        raise
    case = file_intake(ctx, user, values, draft.token)
    ctx.session.execute(delete(IntakeDraft).where(IntakeDraft.id == draft.id))
    audit(ctx, "draft.send", role=user.role, node_id=user.node_id, case_id=case.id, subject=str(draft.id))
    ctx.session.flush()
    return case


def discard_draft(ctx: Context, user: User, draft_id: uuid.UUID) -> None:
    """Delete the author's draft (and with it the only wrap of its key)."""
    draft = _own(ctx, user, draft_id, lock=True)
    ctx.session.execute(delete(IntakeDraft).where(IntakeDraft.id == draft.id))
    audit(ctx, "draft.discard", role=user.role, node_id=user.node_id, subject=str(draft_id))
    ctx.session.flush()


def my_drafts(ctx: Context, user: User, language: str) -> tuple[DraftLine, ...]:
    """The user's own live drafts, newest first, each with the names typed so far (for her eyes)."""
    from .reading import EMPTY, Reader

    if not may_draft(ctx, user):
        return ()
    rows = ctx.session.scalars(select(IntakeDraft).where(
        IntakeDraft.author_user_id == user.id, IntakeDraft.expires_at > ctx.now())
        .order_by(IntakeDraft.updated_at.desc())).all()
    reader = Reader(ctx, language)
    use = ctx.definition.form_uses.get(ctx.definition.intake.form)
    summary_fields = use.summary_fields if use is not None else ()
    lines = []
    for draft in rows:
        form = _intake_form(ctx, draft)
        values = form.from_storage(_cipher(ctx, draft).open(draft.data, _cell(draft)))
        shown = [reader.value(form.field(key), values.get(key)).value for key in summary_fields
                 if key in values and _has_field(form, key)]
        lines.append(DraftLine(draft.id, " · ".join(v for v in shown if v not in ("", EMPTY)),
                               reader.local(draft.updated_at), reader.local(draft.expires_at)))
    return tuple(lines)


def _has_field(form: FormDef, key: str) -> bool:
    return any(f.key == key for f in form.fields())


def draft_count_query(ctx: Context, user: User) -> Select[tuple[int]]:
    """The count of the user's live drafts, as a statement (the navigation runs its counts as one)."""
    return select(func.count()).select_from(IntakeDraft).where(
        IntakeDraft.author_user_id == user.id, IntakeDraft.expires_at > ctx.now())


def draft_count(ctx: Context, user: User) -> int:
    """How many live drafts the user has."""
    if not may_draft(ctx, user):
        return 0
    return ctx.session.scalar(draft_count_query(ctx, user)) or 0


def expire_drafts(ctx: Context, now: dt.datetime) -> int:
    """Shred every draft past its retention (the clock sweep calls this); how many went."""
    ids = list(ctx.session.scalars(select(IntakeDraft.id).where(IntakeDraft.expires_at <= now)))
    if not ids:
        return 0
    ctx.session.execute(delete(IntakeDraft).where(IntakeDraft.id.in_(ids)))
    for draft_id in ids:
        audit(ctx, "draft.expire", subject=str(draft_id))
    return len(ids)


def rewrap_drafts(ctx: Context) -> int:
    """Wrap every draft key under the primary master key (master rotation); how many moved.
    Compare-and-swap on the master key id, so a concurrent save is never overwritten."""
    primary, moved = ctx.vault.masters.key_id, 0
    for draft in ctx.session.scalars(select(IntakeDraft).where(IntakeDraft.master_key_id != primary)).all():
        wrapped, master_id = ctx.vault.rewrap_draft_key(draft.id, draft.author_user_id, draft.key_wrapped,
                                                        draft.master_key_id)
        moved += ctx.session.execute(
            update(IntakeDraft).where(IntakeDraft.id == draft.id, IntakeDraft.master_key_id == draft.master_key_id)
            .values(key_wrapped=wrapped, master_key_id=master_id).execution_options(synchronize_session=False)
        ).rowcount
    return moved


def draft_master_keys(ctx: Context) -> set[str]:
    return set(ctx.session.scalars(select(IntakeDraft.master_key_id).distinct()))
