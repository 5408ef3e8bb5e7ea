"""`flask audit verify --workers N` (issue 17, item 6): the chain is cut into contiguous ranges, each
checked by its own process, and the answer is the single walk's, whatever the number of workers: a
tampered event in the first, a middle or the last range, a deleted event (inside a range, at its
borders, a whole range), a swapped pair and a cut-off tail are named exactly as one process names
them, with the same count and message."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from sqlalchemy import delete, select, update

from referral.audit.chain import canonical
from referral.audit.models import AuditEvent
from referral.audit.service import record, verify_log
from referral.audit.verifying import Span, _body, _sqlite_moment, spans

from ..backends import both_backends
from ..units import unit_of_work

EVENTS = 41  # not a multiple of the worker counts below: the ranges are uneven
WORKER_COUNTS = (2, 3, 4, 7)
ACTIONS = ("login.ok", "read", "transition.activar", "intake.ficha", "login.failed")


def a_chain(app: Any, events: int = EVENTS) -> None:
    """`events` events as the product records them, with varied details (accents, quotes, numbers)."""
    with unit_of_work(app) as ctx:
        for n in range(events):
            record(ctx, ACTIONS[n % len(ACTIONS)], role=None if n % 7 == 0 else "coordinador",
                   node_id=None if n % 5 == 0 else n, case_id=uuid.UUID(int=n % 3 + 1) if n % 2 else None,
                   subject=uuid.uuid4().hex if n % 4 == 0 else None,
                   details={"page": f"form:ficha{n % 3}", "revisión": n, "nota": 'código "x"\\ñ'} if n % 3 else None)
        ctx.session.commit()


def verify(app: Any, workers: int) -> tuple[int, Any]:
    with unit_of_work(app) as ctx:
        return verify_log(ctx.session, batch=3, workers=workers)  # small batches: walks cross batch borders


def tamper(app: Any, statement: Any) -> None:
    with unit_of_work(app) as ctx:
        ctx.session.execute(statement)
        ctx.session.commit()


def every_count_agrees(app: Any) -> tuple[int, Any]:
    """verify_log's answer with one process; every other worker count must give the same."""
    single = verify(app, 1)
    for workers in WORKER_COUNTS:
        assert verify(app, workers) == single, f"{workers} workers"
    return single


def ranges(workers: int) -> list[Span]:
    return spans(EVENTS, workers)


@both_backends
def test_an_intact_chain_verifies_with_any_number_of_workers(app: Any) -> None:
    a_chain(app)
    assert every_count_agrees(app) == (EVENTS, None)
    result = app.test_cli_runner().invoke(args=["audit", "verify", "--workers", "4"])
    assert result.exit_code == 0 and f"{EVENTS} eventos verificados" in result.output


@both_backends
@pytest.mark.parametrize("where", ["first", "middle", "last"])
def test_a_tampered_event_is_named_in_any_range(app: Any, where: str) -> None:
    a_chain(app)
    parts = ranges(4)
    part = {"first": parts[0], "middle": parts[2], "last": parts[-1]}[where]
    seq = part.lo + 1
    tamper(app, update(AuditEvent).where(AuditEvent.seq == seq).values(actor_role="auditor"))
    count, broken = every_count_agrees(app)
    assert broken is not None and broken.seq == seq and "alterado" in broken.reason and count == seq
    result = app.test_cli_runner().invoke(args=["audit", "verify", "--workers", "4"])
    assert result.exit_code == 1 and f"cadena rota en el evento {seq}:" in result.output


@both_backends
def test_the_first_of_two_broken_events_is_named(app: Any) -> None:
    """A later range breaks too (and its process may finish first): the earlier break is the answer."""
    a_chain(app)
    parts = ranges(4)
    for seq in (parts[1].lo + 2, parts[3].lo):
        tamper(app, update(AuditEvent).where(AuditEvent.seq == seq).values(details={"page": "otra"}))
    _, broken = every_count_agrees(app)
    assert broken is not None and broken.seq == parts[1].lo + 2


@both_backends
def test_a_deleted_event_is_named_inside_a_range_and_at_its_borders(app: Any) -> None:
    a_chain(app)
    parts = ranges(4)
    # the last event of a range (the next range's anchor), then the first of a range, then one inside
    for seq in (parts[1].lo - 1, parts[2].lo, parts[-1].lo + 3):
        tamper(app, delete(AuditEvent).where(AuditEvent.seq == seq))
        count, broken = every_count_agrees(app)
        assert broken is not None and broken.seq == parts[1].lo - 1 and count == parts[1].lo - 1
        assert broken.reason == f"falta el evento {parts[1].lo - 1} (sigue el {parts[1].lo})"


@both_backends
def test_a_whole_range_deleted_is_a_gap_up_to_the_next_event(app: Any) -> None:
    a_chain(app)
    parts = ranges(4)
    tamper(app, delete(AuditEvent).where(AuditEvent.seq >= parts[1].lo, AuditEvent.seq <= parts[2].lo + 1))
    count, broken = every_count_agrees(app)
    assert broken is not None and broken.seq == parts[1].lo and count == parts[1].lo
    assert broken.reason == f"falta el evento {parts[1].lo} (sigue el {parts[2].lo + 2})"


@both_backends
def test_a_swapped_pair_is_named_within_and_across_ranges(app: Any) -> None:
    a_chain(app)
    parts = ranges(4)
    with unit_of_work(app) as ctx:
        rows = {e.seq: e for e in ctx.session.scalars(select(AuditEvent))}
        ctx.session.expunge_all()
    for first in (parts[-1].lo + 1, parts[2].lo - 1):  # inside the last range, then across a border
        second = first + 1
        for seq, other in ((first, rows[second]), (second, rows[first])):
            tamper(app, update(AuditEvent).where(AuditEvent.seq == seq).values(
                action=other.action, at=other.at, details=other.details, actor_role=other.actor_role,
                actor_node_id=other.actor_node_id, case_pseudonym=other.case_pseudonym, subject=other.subject,
                prev_hash=other.prev_hash, hash=other.hash))
        _, broken = every_count_agrees(app)
        assert broken is not None and broken.seq == first


@both_backends
def test_a_cut_off_tail_is_named_with_any_number_of_workers(app: Any) -> None:
    a_chain(app)
    last_range = ranges(4)[-1]
    tamper(app, delete(AuditEvent).where(AuditEvent.seq >= last_range.lo - 1))
    count, broken = every_count_agrees(app)
    assert broken is not None and broken.seq == last_range.lo - 1 and "borrado" in broken.reason
    assert count == last_range.lo - 2


def test_an_empty_log_and_more_workers_than_events_verify(app: Any) -> None:
    assert every_count_agrees(app) == (0, None)
    a_chain(app, 3)
    assert every_count_agrees(app) == (3, None)


def test_ranges_cover_every_number_once() -> None:
    for top in (1, 2, 7, 41, 1000):
        for count in (1, 2, 3, 4, 7, 64):
            parts = spans(top, count)
            assert parts[0].first and parts[-1].hi is None and len(parts) == min(top, count)
            assert [p.lo for p in parts[1:]] == [p.hi + 1 for p in parts[:-1] if p.hi is not None]
            assert all(p.hi is None or p.hi >= p.lo for p in parts)


@pytest.mark.parametrize("details", [None, {}, {"b": 1, "a": [1, 2]}, {"ñ": 'dice "hola"\\\n\t', "x": None},
                                     {"z": {"y": 1.5, "x": True}}, {"emoji": "🙂", "ctl": "\u0001"}])
def test_the_fast_body_is_the_canonical_bytes(details: dict[str, Any] | None) -> None:
    """The verifier builds each event's bytes from the row's parts; they must be chain.canonical's."""
    import json

    at = dt.datetime(2026, 3, 4, 5, 6, 7, 89, tzinfo=dt.UTC)
    for role, node, pseudonym, subject in (("coordinador", 12, "ab" * 12, "S-1"), (None, None, None, None),
                                           ('co"ord', 0, "ñ", "\u2028")):
        expected = canonical(7, at, "login.ok", role, node, pseudonym, subject, details or {})
        stored = json.dumps(details) if details is not None else None
        row = (7, "2026-03-04 05:06:07.000089", "login.ok", role, node, pseudonym, subject, stored)
        assert _body(row, _sqlite_moment, {}) == expected
        assert _body((7, "2026-03-04T05:06:07.000089", *row[2:]), lambda text: text, {}) == expected
