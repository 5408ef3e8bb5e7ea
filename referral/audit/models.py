"""Audit events and the head of their hash chain. No personal data: roles, node ids, action codes,
case pseudonyms (keyed hashes) and codes in `details`."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, BigInteger, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, UTCDateTime

GENESIS = bytes(32)  # the "previous hash" of the first event


class AuditEvent(Base):
    """One event; `hash` = SHA-256 over the previous event's hash and this event's canonical fields."""

    __tablename__ = "audit_events"

    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                     autoincrement=False)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    action: Mapped[str] = mapped_column(String(80))
    actor_role: Mapped[str | None] = mapped_column(String(40))
    actor_node_id: Mapped[int | None] = mapped_column(Integer)  # not a foreign key: the log outlives rows
    case_pseudonym: Mapped[str | None] = mapped_column(String(32), index=True)
    subject: Mapped[str | None] = mapped_column(String(40))  # a referral, consent or access id (random)
    details: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)  # codes only
    prev_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class AuditHead(Base):
    """The chain's last link (one row): appends lock it, so events are numbered and chained in turn;
    `flask audit verify` compares it with the last event, so deleting the newest events shows."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))
