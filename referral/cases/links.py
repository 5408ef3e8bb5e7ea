"""Linked cases: cases that share an identifier typed into a form (the definition's `links`), found through a
keyed hash of it, never by decrypting and never by the identifier in clear.

A link opens nothing. Who is told what is itself sensitive (that a person is a victim in a given proceeding):
a node sees the references of linked cases it already takes part in, as it could open them anyway; members of
the relations named in `count_visible_to` (coordination, which counts victims per proceeding) are also told
how many linked cases lie outside their scope, without their references. Everyone else learns nothing of
the cases they cannot open, not even that they exist.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, exists, select

from ..auth.models import User
from ..context import Context
from ..kernel.keystore import blind_indexer
from ..vault import normalise_document
from ..workflow import Text
from ..kernel.models import Case, CaseLink, Participant, live_participant

MIN_IDENTIFIER = 5  # shorter values ("0", "s/n") would link unrelated cases


@dataclass(frozen=True)
class LinkedCases:
    key: str
    label: Text
    form: str  # the form that records the shared identifier
    references: tuple[str, ...]  # linked cases the viewer's node takes part in
    elsewhere: int  # linked cases outside the viewer's scope (0 unless the viewer may be told)

    @property
    def total(self) -> int:
        """Cases of the group the viewer knows of, this one included."""
        return 1 + len(self.references) + self.elsewhere


def link_digest(ctx: Context, kind: str, raw: Any) -> bytes | None:
    """The keyed hash of one identifier, under a key of its own (never comparable with another kind's)."""
    value = normalise_document(raw) if isinstance(raw, str) else ""
    if len(value) < MIN_IDENTIFIER:
        return None
    return blind_indexer(ctx).digest(f"link|{kind}", [value])


def index_links(ctx: Context, case: Case, form_key: str, values: Mapping[str, Any]) -> None:
    """Replace the case's links that this form defines, after a revision of it was recorded."""
    for link in ctx.definition.links.values():
        if link.form != form_key:
            continue
        ctx.session.execute(delete(CaseLink).where(CaseLink.case_id == case.id, CaseLink.kind == link.key))
        digest = link_digest(ctx, link.key, values.get(link.field))
        if digest is not None:
            ctx.session.add(CaseLink(case_id=case.id, kind=link.key, digest=digest))


def linked_cases(ctx: Context, user: User, case: Case, relations: frozenset[str],
                 readable: frozenset[str]) -> tuple[LinkedCases, ...]:
    """What this user may be told of the cases linked to this one; `readable`: the link forms she may read
    (whoever may not read the identifier is not told that other cases share it)."""
    found = []
    for link in ctx.definition.links.values():
        if link.form not in readable:
            continue
        digest = ctx.session.scalar(select(CaseLink.digest).where(CaseLink.case_id == case.id,
                                                                 CaseLink.kind == link.key))
        if digest is None:
            continue
        others = select(CaseLink.case_id).where(CaseLink.kind == link.key, CaseLink.digest == digest,
                                                CaseLink.case_id != case.id)
        # named only where her node takes part as one who reads the identifier there too: a node that is in
        # the other case as a shelter would otherwise learn that it belongs to this proceeding
        readers = ctx.definition.form_uses[link.form].readers if link.form in ctx.definition.form_uses else ()
        reachable = exists(select(Participant.id).where(
            Participant.case_id == Case.id, Participant.node_id == user.node_id, live_participant(ctx.now()),
            *((Participant.relation.in_(readers),) if readers else ())))
        references = tuple(sorted(ctx.session.scalars(
            select(Case.reference).where(Case.id.in_(others), reachable))))
        elsewhere = 0
        if relations & set(link.count_visible_to):
            total = len(list(ctx.session.scalars(others)))
            elsewhere = total - len(references)
        found.append(LinkedCases(link.key, link.label, link.form, references, elsewhere))
    return tuple(found)
