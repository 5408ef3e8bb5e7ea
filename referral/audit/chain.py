"""The hash chain, pure: how an event is hashed and how a sequence of events is checked."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .models import GENESIS


def canonical(seq: int, at: dt.datetime, action: str, actor_role: str | None, actor_node_id: int | None,
              case_pseudonym: str | None, subject: str | None, details: Mapping[str, Any]) -> bytes:
    """The fields of an event as bytes that do not depend on the database or the dict order."""
    moment = at.astimezone(dt.UTC).replace(tzinfo=None).isoformat(timespec="microseconds")
    return json.dumps([seq, moment, action, actor_role, actor_node_id, case_pseudonym, subject, dict(details)],
                      sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def link(prev_hash: bytes, body: bytes) -> bytes:
    return hashlib.sha256(prev_hash + body).digest()


@dataclass(frozen=True)
class Broken:
    seq: int  # the first event that does not hold (or the head, for a missing tail)
    reason: str


def verify(events: Iterable[Any], head_seq: int, head_hash: bytes) -> tuple[int, Broken | None]:
    """Walk events in `seq` order; return how many were checked and the first broken link, if any.

    Detects an edited event (its hash no longer matches), a deleted or reordered one (a gap in `seq`, or
    a `prev_hash` that is not the previous event's hash), and deleted newest events (the head names a
    later link than the last event)."""
    expected_seq, prev, count = 1, GENESIS, 0
    for event in events:
        count += 1
        if event.seq != expected_seq:
            return count, Broken(expected_seq, f"falta el evento {expected_seq} (sigue el {event.seq})")
        if bytes(event.prev_hash) != prev:
            return count, Broken(event.seq, "no enlaza con el evento anterior")
        details = event.details
        if isinstance(details, str):  # read as stored text (PostgreSQL's fast path)
            details = json.loads(details)
        body = canonical(event.seq, event.at, event.action, event.actor_role, event.actor_node_id,
                         event.case_pseudonym, event.subject, details or {})
        if link(prev, body) != bytes(event.hash):
            return count, Broken(event.seq, "su contenido fue alterado")
        prev, expected_seq = bytes(event.hash), expected_seq + 1
    if head_seq != expected_seq - 1 or head_hash != prev:
        return count, Broken(expected_seq, f"faltan los eventos {expected_seq} a {head_seq} (el final fue borrado)")
    return count, None
