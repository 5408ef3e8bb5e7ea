"""Case notes (atenciones): one row per entry. In clear only ids, the author's node, the relations it is
shared with and the moment it was written; its type, date, participants, narrative and next steps are
sealed under the case key (`data`)."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import JSON, ForeignKey, Index, LargeBinary, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import Base, UTCDateTime, utcnow
from ..network.models import Node


class CaseNote(Base):
    __tablename__ = "case_notes"
    __table_args__ = (Index("ix_case_notes_case", "case_id", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    author_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    author_node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id"))
    shared_with: Mapped[list[str]] = mapped_column(JSON, default=list)  # relation codes (routing only)
    token: Mapped[str] = mapped_column(String(64), unique=True)  # the form's random token: one note per page
    data: Mapped[bytes] = mapped_column(LargeBinary)  # sealed JSON: type, date, participants, narrative, next steps
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    author_node: Mapped[Node] = relationship()
