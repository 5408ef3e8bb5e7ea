"""Running clocks and the notifications they produce. No personal data: a clock is a case id (or, for a
subject that is not a case, its kind and id), a clock key and moments; a notification is a user, a case
id (or none) and what kind of step it was."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import JSON, Boolean, CheckConstraint, ForeignKey, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..auth.models import User
from ..kernel.models import Case
from ..db import Base, UTCDateTime, utcnow
from ..network.models import Node

RUNNING, STOPPED, FINISHED = "running", "stopped", "finished"


class CaseClock(Base):
    """One period of one clock of one case. The database is the truth: `next_at` is when the next
    step (reminder, deadline, escalation) falls, and the sweep picks every row whose moment has come.
    """

    __tablename__ = "case_clocks"
    __table_args__ = (
        # The sweep reads this index only: rows with nothing left to do have next_at NULL.
        Index("ix_case_clocks_next_at", "next_at"),
        Index("ix_case_clocks_case", "case_id", "status"),
        # At most one running period of a clock per case, even if two writers race.
        Index("uq_case_clocks_running", "case_id", "clock", "subject", unique=True,
              sqlite_where=text("status = 'running'"), postgresql_where=text("status = 'running'")),
        # The same for a subject that is not a case (case_id NULL, which a unique index does not compare).
        Index("uq_subject_clocks_running", "subject_kind", "clock", "subject", unique=True,
              sqlite_where=text("status = 'running' AND case_id IS NULL"),
              postgresql_where=text("status = 'running' AND case_id IS NULL")),
        # A clock belongs to a case, or to a subject of a declared kind: never to nothing.
        CheckConstraint("case_id IS NOT NULL OR subject_kind != ''", name="case_or_subject"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # NULL for a clock whose subject is not a case (a Mesa's agreement, a meta of the Plan de Acción)
    case_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    clock: Mapped[str] = mapped_column(String(60))
    # "" for a clock of the case; a referral's id for a clock of one referral (its answer, its action); the
    # subject's own id for a clock of a subject that is not a case
    subject: Mapped[str] = mapped_column(String(40), default="", server_default="")
    # "" for a case's clock; else the kind of subject (`subject:` of the clock, referral/clocks/subjects.py)
    subject_kind: Mapped[str] = mapped_column(String(40), default="", server_default="")
    # a subject clock's parties, given when it starts: {"responsable": [node ids], "coordinadora": [node ids]}
    parties: Mapped[dict[str, list[int]] | None] = mapped_column(JSON)
    period: Mapped[int] = mapped_column(Integer, default=1)  # repeating clocks count their periods
    status: Mapped[str] = mapped_column(String(12), default=RUNNING)  # running | stopped | finished
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    next_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    step: Mapped[int] = mapped_column(Integer, default=0)  # steps of this period already handled
    escalation: Mapped[int] = mapped_column(Integer, default=0)  # highest escalation level reached
    breached_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)  # the deadline passed while running
    stopped_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    stop_reason: Mapped[str | None] = mapped_column(String(20))  # stop_event | case_closed
    enqueued_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)  # a task was sent; lease

    case: Mapped[Case | None] = relationship()

    @property
    def met(self) -> bool | None:
        """Stopped in time (True), late (False), or not stopped yet (None)."""
        if self.stopped_at is None:
            return None
        return self.stopped_at <= self.due_at


class Notification(Base):
    """A reminder or escalation for one user, or, for a node that has no active staff in the system,
    an e-mail to the node's institutional contact (`node_id`, no user). Unique per clock period, step
    and user (or node): however often a task runs, a step notifies each person or office once."""

    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("clock_id", "period", "step", "user_id", name="uq_notifications_once"),
        UniqueConstraint("clock_id", "period", "step", "node_id", name="uq_notifications_once_per_node"),
        Index("ix_notifications_user", "user_id", "read_at"),
        Index("ix_notifications_email", "email_pending"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    node_id: Mapped[int | None] = mapped_column(ForeignKey("nodes.id"))  # to the node's contact address
    # NULL for a step of a clock whose subject is not a case (its clock row says which subject)
    case_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    clock_id: Mapped[int] = mapped_column(ForeignKey("case_clocks.id", ondelete="CASCADE"))
    clock: Mapped[str] = mapped_column(String(60))
    period: Mapped[int] = mapped_column(Integer)
    step: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(12))  # started | reminder | due | periodic | escalation
    level: Mapped[int] = mapped_column(Integer, default=0)
    due_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    email_pending: Mapped[bool] = mapped_column(Boolean, default=False)
    # a sweep (or the run that wrote it) handed its e-mail to the mail queue; lease, as CaseClock.enqueued_at
    email_enqueued_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    email_claimed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)  # a task is in the SMTP conversation
    emailed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User | None] = relationship()
    node: Mapped[Node | None] = relationship()
    case: Mapped[Case | None] = relationship()
    clock_row: Mapped[CaseClock] = relationship()
