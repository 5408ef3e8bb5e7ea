"""Checking the hash chain fast: contiguous ranges of events, each walked by its own process.

A range's walk is the single walk of `chain.verify` started in the middle: it expects its first event
to be number `lo` and to name, as its previous hash, the stored hash of event `lo - 1` (its anchor);
every event's hash is recomputed from its content and the previous hash. The parent joins the ranges
in order, so the answer is exactly the single walk's: while every range before it held, the walk
arrives at a range with the range's own starting point (number `lo`, the anchor's hash), and sees the
same events in the same order, so the first range that breaks names the event the single walk names.
Where a range ends short of its last number (events deleted at its end), the single walk would next
meet the first event of the next range that has any: the parent names the gap with it, as the single
walk does. The first range has no lower bound and the last none above, so an event numbered outside
[1, head] is walked as the single walk would.

Rows are read straight from the driver in batches (a server-side cursor on PostgreSQL, a stepped
SQLite cursor), so memory stays flat whatever the log's size; each moment comes as the canonical text
(PostgreSQL formats it in UTC), `details` as stored text, canonicalised once per distinct value
(details hold codes only, so few distinct values). The bytes hashed are those of `chain.canonical`
(tests/audit/test_parallel_verify.py compares them on awkward values).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

from sqlalchemy.pool import NullPool

from .chain import Broken
from .models import GENESIS

# The columns of a row, in this order: seq, moment (canonical text), action, actor_role, actor_node_id,
# case_pseudonym, subject, details (stored text), prev_hash, hash.
_POSTGRES_SQL = ("SELECT seq, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US'), action, actor_role, "
                 "actor_node_id, case_pseudonym, subject, details::text, prev_hash, hash FROM audit_events")
_SQLITE_SQL = ("SELECT seq, at, action, actor_role, actor_node_id, case_pseudonym, subject, details, prev_hash, "
               "hash FROM audit_events")
_RANGES = {"all": " ORDER BY seq", "from": " WHERE seq >= %s ORDER BY seq", "to": " WHERE seq <= %s ORDER BY seq",
           "between": " WHERE seq >= %s AND seq <= %s ORDER BY seq"}
_SQL: dict[str, dict[str, str]] = {
    "postgresql": {"anchor": "SELECT hash FROM audit_events WHERE seq = %s",
                   **{key: _POSTGRES_SQL + tail for key, tail in _RANGES.items()}},
    "sqlite": {"anchor": "SELECT hash FROM audit_events WHERE seq = ?",
               **{key: _SQLITE_SQL + tail.replace("%s", "?") for key, tail in _RANGES.items()}},
}
_DETAILS_CACHE_LIMIT = 100_000
_encode_text: Callable[[str], str] = json.encoder.encode_basestring  # type: ignore[attr-defined]  # C, as json.dumps


@dataclass(frozen=True)
class Span:
    """Events numbered lo..hi. The first range has no lower bound (it starts from the genesis link, at
    number 1, whatever is stored below it), and `hi` None is no upper bound (the last range)."""

    index: int
    lo: int
    hi: int | None
    first: bool


@dataclass(frozen=True)
class Walked:
    """What one range's walk found: events checked (the broken one included), the first broken link in
    it, the first event's number, and where the walk stood at its end (next number expected, last hash)."""

    count: int
    broken: Broken | None
    first_seq: int | None
    expected: int
    prev: bytes


def spans(top: int, ranges: int) -> list[Span]:
    """Cut 1..top into `ranges` contiguous ranges of (nearly) equal size, at least one event each."""
    ranges = max(1, min(ranges, top))
    bounds = [1 + k * top // ranges for k in range(ranges)] + [top + 1]
    return [Span(k, bounds[k], bounds[k + 1] - 1 if k < ranges - 1 else None, k == 0) for k in range(ranges)]


def join(walks: Sequence[tuple[Span, Walked]], head_seq: int, head_hash: bytes) -> tuple[int, Broken | None]:
    """The single walk's answer from the ranges' walks, in order."""
    expected, prev, count = 1, GENESIS, 0
    for span, walked in walks:
        if walked.count == 0:
            continue  # nothing in this range: the single walk goes on to the next one
        if expected != span.lo:  # the ranges before ended short: the walk meets this range's first event
            return count + 1, Broken(expected, f"falta el evento {expected} (sigue el {walked.first_seq})")
        count += walked.count
        if walked.broken is not None:
            return count, walked.broken
        expected, prev = walked.expected, walked.prev
    if head_seq != expected - 1 or head_hash != prev:
        return count, Broken(expected, f"faltan los eventos {expected} a {head_seq} (el final fue borrado)")
    return count, None


# -- one range ----------------------------------------------------------------------------------------------


def walk(rows: Iterator[Sequence[Any]], expected: int, prev: bytes, moment: Callable[[Any], str]) -> Walked:
    """`chain.verify`'s loop over driver rows, from number `expected` after a link whose hash is `prev`."""
    details_cache: dict[Any, str] = {}
    sha256 = hashlib.sha256
    count, first_seq = 0, None
    for row in rows:
        seq = row[0]
        count += 1
        if first_seq is None:
            first_seq = seq
        if seq != expected:
            return Walked(count, Broken(expected, f"falta el evento {expected} (sigue el {seq})"),
                          first_seq, expected, prev)
        if bytes(row[8]) != prev:
            return Walked(count, Broken(seq, "no enlaza con el evento anterior"), first_seq, expected, prev)
        stored = bytes(row[9])
        if sha256(prev + _body(row, moment, details_cache)).digest() != stored:
            return Walked(count, Broken(seq, "su contenido fue alterado"), first_seq, expected, prev)
        prev, expected = stored, expected + 1
    return Walked(count, None, first_seq, expected, prev)


def _body(row: Sequence[Any], moment: Callable[[Any], str], details_cache: dict[Any, str]) -> bytes:
    """`chain.canonical`'s bytes, built from the row's parts (an unreadable row hashes to nothing, so it
    shows as altered)."""
    seq, at, action, role, node, pseudonym, subject, details = row[:8]
    try:
        fragment = details_cache.get(details)
        if fragment is None:
            value = json.loads(details) if details is not None else None
            fragment = json.dumps(dict(value or {}), sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                                  default=str)
            if len(details_cache) < _DETAILS_CACHE_LIMIT:
                details_cache[details] = fragment
        return (f"[{int.__repr__(seq)},{_encode_text(moment(at))},{_encode_text(action)},{_text(role)},"
                f"{_integer(node)},{_text(pseudonym)},{_text(subject)},{fragment}]").encode()
    except (TypeError, ValueError):
        return b""


def _text(value: str | None) -> str:
    return "null" if value is None else _encode_text(value)


def _integer(value: int | None) -> str:
    return "null" if value is None else int.__repr__(value)


def _postgres_moment(value: str) -> str:
    return value


def _sqlite_moment(value: str) -> str:
    """SQLite keeps naive UTC text; canonical text is its ISO form with microseconds."""
    moment = dt.datetime.fromisoformat(value)
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
    return moment.isoformat(timespec="microseconds")


def walk_span(driver_connection: Any, dialect: str, span: Span, batch: int) -> Walked:
    """Read one range's events in batches from a DB-API connection and walk them."""
    postgres = dialect == "postgresql"
    sql = _SQL[dialect]
    expected, prev = 1, GENESIS
    if not span.first:
        expected = span.lo
        cursor = driver_connection.cursor()
        try:
            cursor.execute(sql["anchor"], (span.lo - 1,))
            anchor = cursor.fetchone()
        finally:
            cursor.close()
        # No anchor: event lo - 1 is missing, and the range before says so first (its walk ends short).
        prev = bytes(anchor[0]) if anchor is not None else b""
    bounds = ([] if span.first else [span.lo]) + ([] if span.hi is None else [span.hi])
    query = sql[("from" if not span.first else "all") if span.hi is None else ("to" if span.first else "between")]
    if postgres:  # a server-side cursor: the rows come `batch` at a time
        cursor = driver_connection.cursor(name=f"audit_verify_{os.getpid()}_{span.index}")
        cursor.itersize = batch
    else:
        cursor = driver_connection.cursor()
    try:
        cursor.execute(query, bounds)
        return walk(_batches(cursor, batch), expected, prev, _postgres_moment if postgres else _sqlite_moment)
    finally:
        cursor.close()


def _batches(cursor: Any, batch: int) -> Iterator[Sequence[Any]]:
    while rows := cursor.fetchmany(batch):
        yield from rows


def _walk_in_child(url: str, span: Span, batch: int) -> Walked:
    """A worker process: its own connection (nothing of the parent's is used), one range."""
    from ..db import make_engine

    engine = make_engine(url, poolclass=NullPool)
    try:
        connection = engine.raw_connection()
        try:
            return walk_span(connection.driver_connection, engine.dialect.name, span, batch)
        finally:
            connection.close()
    finally:
        engine.dispose()


def default_workers() -> int:
    """One process per core this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def walk_spans_in_processes(url: str, spans_: Sequence[Span], batch: int, workers: int) -> list[Walked]:
    """Each range in a worker process; the results in the ranges' order. Processes are forked where the
    system can (no second start-up of the interpreter and the application), spawned elsewhere."""
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = [pool.submit(_walk_in_child, url, span, batch) for span in spans_]
        return [future.result() for future in futures]
