"""Meetings of the national Mesa Intersectorial and of the regional Mesas, and their agreements.

Plan-monitoring data: no victim data, so nothing is sealed; every change is an audit event (ids and codes only).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, CheckConstraint, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import Base, UTCDateTime, utcnow
from ..network.models import Node

NATIONAL, REGIONAL = "nacional", "regional"
OPEN, DONE = "abierto", "cumplido"


class MesaMeeting(Base):
    """One session of the national Mesa (region NULL) or of one region's Mesa."""

    __tablename__ = "mesa_meetings"
    __table_args__ = (
        Index("ix_mesa_meetings_mesa", "mesa", "region_code", "held_on"),
        CheckConstraint("(mesa = 'nacional' AND region_code IS NULL) OR (mesa = 'regional' AND region_code IS NOT NULL)",
                        name="mesa_region"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    mesa: Mapped[str] = mapped_column(String(12))  # nacional | regional
    region_code: Mapped[str | None] = mapped_column(ForeignKey("regions.code"))
    held_on: Mapped[dt.date] = mapped_column(Date)
    present: Mapped[list[int]] = mapped_column(JSON, default=list)  # node ids of the institutions present
    minutes: Mapped[str | None] = mapped_column(Text)  # the acta; no victim data (plan monitoring)
    token: Mapped[str] = mapped_column(String(64), unique=True)  # the form's one-time token: one meeting per page
    recorded_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    recorder_node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id"))  # coordinates: told when an agreement is late
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    def __repr__(self) -> str:
        return f"<MesaMeeting {self.id} {self.mesa} {self.region_code or ''} {self.held_on}>"


class MesaAgreement(Base):
    """An agreement of a session: a task of one responsible institution (node) until its due date (on a clock)."""

    __tablename__ = "mesa_agreements"
    __table_args__ = (Index("ix_mesa_agreements_meeting", "meeting_id"),
                      Index("ix_mesa_agreements_node", "responsible_node_id", "status"))

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("mesa_meetings.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    responsible_node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id"))
    due_on: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(12), default=OPEN)  # abierto | cumplido
    done_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    done_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    responsible_node: Mapped[Node] = relationship()

    def __repr__(self) -> str:
        return f"<MesaAgreement {self.id} of {self.meeting_id} {self.status}>"
