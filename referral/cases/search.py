"""Finding a case: by its reference, or by the person through the blind indexes; and the worklists' text
filter over the decrypted rows of one page.

A search answers only with cases the user's node may open (a live relation, the rule of `open_case`), and
asks the database one question that already carries that rule: "no such case" and "a case you may not open"
run the same queries and give the same answer, so a search never tells a node that a case exists. Nothing
typed is stored, logged or put in a URL; the audit log records that a search happened and how many cases
it showed.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Exists, exists, select, tuple_

from ..audit.service import record
from ..auth.models import User
from ..context import Context
from ..kernel.keystore import open_many
from ..kernel.access import may_open_cases
from .duplicates import query_digests
from ..kernel.models import BlindIndex, Case, Participant, live_participant
from .reading import Reader

REFERENCE = re.compile(r"[A-Z]{2}-[0-9A-Z]{4}-[0-9A-Z]{4}")
MAX_QUERY = 200  # longer is not a name, a number or a reference
MAX_RESULTS = 50  # one person rarely has more cases; a longer list would be a listing, not a search
_DATE = re.compile(r"\b(?:(\d{4})-(\d{1,2})-(\d{1,2})|(\d{1,2})[-/.](\d{1,2})[-/.](\d{4}))\b")


@dataclass(frozen=True)
class Found:
    reference: str
    person: str  # the sealed summary line, opened for this row
    state_label: str
    opened_at: str


@dataclass(frozen=True)
class SearchResult:
    kind: str  # "reference", "person" or "none" (nothing that can identify a case was typed)
    rows: tuple[Found, ...] = ()
    redirect_to: str | None = None  # the reference typed, when the user may open that case


@dataclass(frozen=True)
class Query:
    reference: str | None
    text: str  # without the date
    date: dt.date | None


def parse_query(raw: str, birth_date: dt.date | None = None) -> Query:
    """A reference (any case), or a document number, or names with a date of birth (typed in the box as
    dd-mm-aaaa or aaaa-mm-dd, or in the date field)."""
    text = " ".join(raw.split())[:MAX_QUERY]
    if REFERENCE.fullmatch(text.upper()):
        return Query(text.upper(), "", None)
    date = birth_date
    match = _DATE.search(text)
    if match is not None:
        year, month, day = (match.group(1), match.group(2), match.group(3)) if match.group(1) else \
            (match.group(6), match.group(5), match.group(4))
        try:
            date = date or dt.date(int(year), int(month), int(day))
        except ValueError:
            pass
        else:
            text = " ".join((text[:match.start()] + " " + text[match.end():]).split())
    return Query(None, text, date)


def _reachable(ctx: Context, user: User) -> Exists:
    return exists(select(Participant.id).where(
        Participant.case_id == Case.id, Participant.node_id == user.node_id, live_participant(ctx.now())))


def search_cases(ctx: Context, user: User, query: Query, language: str) -> SearchResult:
    """The cases matching `query` that the user may open, and nothing about any other."""
    if not may_open_cases(ctx, user):
        return SearchResult("none")
    if query.reference is not None:
        # One query, with the access rule inside it: a case the user may not open is no case at all.
        found = ctx.session.scalar(select(Case.reference).where(
            Case.reference == query.reference, _reachable(ctx, user)))
        _audit(ctx, user, "reference", 1 if found else 0)
        return SearchResult("reference", redirect_to=found)
    digests = query_digests(ctx, query.text, query.date)
    if not digests:
        return SearchResult("none")
    matching = select(BlindIndex.case_id).where(tuple_(BlindIndex.kind, BlindIndex.digest).in_(digests))
    cases = list(ctx.session.scalars(
        select(Case).where(Case.id.in_(matching), _reachable(ctx, user))
        .order_by(Case.created_at.desc(), Case.reference).limit(MAX_RESULTS)))
    _audit(ctx, user, "person", len(cases))
    return SearchResult("person", rows=_rows(ctx, user, cases, language))


def _rows(ctx: Context, user: User, cases: list[Case], language: str) -> tuple[Found, ...]:
    ctx.act_as(user.node_id)
    open_many(ctx, cases)
    reader = Reader(ctx, language)
    states = ctx.definition.main.states
    return tuple(Found(case.reference, reader.summary_line(case), reader.t(states[case.state].label),
                       reader.local(case.created_at)) for case in cases)


def _audit(ctx: Context, user: User, kind: str, count: int) -> None:
    """That a search ran, of which kind, and how many cases it showed; never what was typed."""
    record(ctx, "search", role=user.role, node_id=user.node_id, details={"kind": kind, "count": count})


# -- the worklists' text filter ---------------------------------------------------------------------------

MAX_FILTER = 100


def fold(text: str) -> str:
    """Lower case, accents and punctuation removed: what a filter compares."""
    plain = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return " ".join(re.sub(r"[^0-9a-z]+", " ", plain.lower()).split())


def matches(haystack: Iterable[str], text: str) -> bool:
    """Every word of `text` appears in one of the `haystack` strings (already decrypted for display)."""
    words = fold(text).split()
    folded = " ".join(fold(item) for item in haystack)
    return all(word in folded for word in words)
