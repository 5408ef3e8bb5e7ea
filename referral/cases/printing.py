"""The print view of an instrument (issue 16): one revision of a form, exactly as the form view reads it
(`form_revision`: the same relation check, the same sections), with what a paper copy must carry: the
case reference, the form's legal name in Spanish, the revision and its date, when it was printed and by
which node. Nothing here reads more than the form view does."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from ..auth.models import User
from ..context import Context
from ..workflow import Text
from ..kernel.errors import CaseNotFound
from .reading import FormView, form_revision

NOTHING_TO_PRINT = Text("Este formulario aún no tiene contenido que imprimir.",
                        "This form has no content to print yet.")


@dataclass(frozen=True)
class PrintView:
    case_id: uuid.UUID
    reference: str
    form: FormView
    legal_name: str  # the instrument's name in Spanish, whatever the reader's language
    printed_at: str  # local time, as the timeline shows it
    reader_node: str  # the node of whoever printed it: a paper copy says where it came from


def print_view(ctx: Context, user: User, reference: str, form_key: str, revision: int | None,
               language: str) -> PrintView:
    """One revision (default: the current one) of a form the user may read, ready to print."""
    case, form = form_revision(ctx, user, reference, form_key, revision, language)
    if form is None:
        raise CaseNotFound(NOTHING_TO_PRINT)
    legal_name = ctx.definition.form(form_key, form.form_version).label.get("es")
    printed_at = ctx.now().astimezone(ctx.timezone).strftime("%d-%m-%Y %H:%M")
    return PrintView(case.id, case.reference, form, legal_name, printed_at, user.node.name)
