"""Coordination meetings of a case (mesa de caso) and their agreements (acuerdos).

In clear only ids, nodes (institutions), moments, the modality code, the agreement's due date and
whether it is done; the meeting's place and purpose, its minutes (nodes present, narrative), each
agreement's text and the note that closes it are sealed under the case key.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, LargeBinary, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import Base, UTCDateTime, utcnow
from ..network.models import Node

OPEN, DONE = "abierto", "cumplido"


class CaseMeeting(Base):
    __tablename__ = "case_meetings"
    __table_args__ = (Index("ix_case_meetings_case", "case_id", "starts_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    convener_node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id"))
    convener_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    invited: Mapped[list[int]] = mapped_column(JSON, default=list)  # node ids (institutions: routing only)
    starts_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    modality: Mapped[str] = mapped_column(String(40))  # a code of the workflow's `meetings.modalities`
    token: Mapped[str] = mapped_column(String(64), unique=True)  # the form's random token: one meeting per page
    data: Mapped[bytes] = mapped_column(LargeBinary)  # sealed JSON: place, purpose
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    minutes: Mapped[bytes | None] = mapped_column(LargeBinary)  # sealed JSON: nodes present, narrative
    minutes_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    minutes_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)  # called off by its convener
    cancelled_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", name="fk_case_meetings_cancelled_user"))
    cancel_reason: Mapped[str | None] = mapped_column(String(40))  # a code of meetings.CANCEL_REASONS

    convener_node: Mapped[Node] = relationship()


class CaseAgreement(Base):
    __tablename__ = "case_agreements"
    __table_args__ = (Index("ix_case_agreements_case", "case_id", "status"),
                      Index("ix_case_agreements_meeting", "meeting_id"))  # a meeting's agreements (its minutes)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    meeting_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("case_meetings.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)  # its order in the minutes
    responsible_node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id"))
    due_on: Mapped[dt.date] = mapped_column(Date)
    data: Mapped[bytes] = mapped_column(LargeBinary)  # sealed JSON: the agreement's text
    status: Mapped[str] = mapped_column(String(12), default=OPEN)  # abierto | cumplido
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    done_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    done_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    done_note: Mapped[bytes | None] = mapped_column(LargeBinary)  # sealed JSON: how it was done (optional)

    responsible_node: Mapped[Node] = relationship()
