"""The statistics projection: one row per case with coded categories and step times, written in the
same transaction as each step, so auditors' figures never decrypt a case (docs/audit.md).

In clear by design: category codes (sex, age bracket, nationality, type of trafficking, NNA), region,
state and when each milestone was first reached. Never a name, a document, a birth date, a place or a
typed text. The case's audit pseudonym names it to auditors (scoped again per audit body on display).
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import JSON, Float, ForeignKey, Integer, String, Uuid
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, UTCDateTime


CODES = JSON().with_variant(JSONB(), "postgresql")


class CaseStat(Base):
    __tablename__ = "case_stats"

    case_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True)
    pseudonym: Mapped[str] = mapped_column(String(32), unique=True)  # as in the audit log
    region_code: Mapped[str] = mapped_column(String(10), index=True)  # of detection
    detecting_org_type: Mapped[str] = mapped_column(String(40))
    state: Mapped[str] = mapped_column(String(40))
    # JSONB on PostgreSQL: the annual report groups by many codes of every case (read in place, not re-parsed)
    tracks: Mapped[dict[str, str]] = mapped_column(CODES, default=dict)  # track -> state
    # dimension -> category code, or a list of codes (a multiple choice: annual report dimensions only)
    attributes: Mapped[dict[str, str | list[str]]] = mapped_column(CODES, default=dict)
    detected_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)  # the Ficha filed
    entered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, index=True)  # first entry (activation)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    closing: Mapped[str | None] = mapped_column(String(40))  # the termination type code, while closed
    # Permanent random key of the case's record for cell-key perturbation (disclosure.py); never shown.
    record_key: Mapped[int] = mapped_column(Integer)


class CaseStatStep(Base):
    """The first time a case reached a milestone, and the days since detection."""

    __tablename__ = "case_stat_steps"

    case_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("case_stats.case_id", ondelete="CASCADE"),
                                               primary_key=True)
    milestone: Mapped[str] = mapped_column(String(40), primary_key=True, index=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    days: Mapped[float] = mapped_column(Float)
