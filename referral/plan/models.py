"""The Plan de Acción Nacional contra la Trata de Personas: plans, their ejes, líneas and acciones, the
institutions that execute them, and the progress their focal points report.

Plan data holds no victim data: everything is in clear, except the evidence documents, which are sealed like
case documents (their own file key, sealed under the plan module's key; referral/plan/evidence.py). Rows are
found by stable keys (`key`, `code`), so loading a changed YAML file updates them in place.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import Base, UTCDateTime, utcnow

NOT_STARTED, IN_PROGRESS, DONE, LATE = "no_iniciada", "en_curso", "cumplida", "atrasada"
REPORTED_STATUSES = (NOT_STARTED, IN_PROGRESS, DONE)  # «atrasada» is computed, never reported
YES_NO, NUMBER = "si_no", "numero"
INDICATOR_KINDS = (YES_NO, NUMBER)


class Plan(Base):
    __tablename__ = "plan_plans"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(60), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    starts_on: Mapped[dt.date] = mapped_column(Date)
    ends_on: Mapped[dt.date] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    ejes: Mapped[list[Eje]] = relationship(back_populates="plan", order_by="Eje.number")
    institutions: Mapped[list[Institution]] = relationship(back_populates="plan", order_by="Institution.name")

    def __repr__(self) -> str:
        return f"Plan({self.key})"


class Institution(Base):
    """An institution of the Mesa that coordinates an eje or executes actions; `nodes` are the codes of the
    node directory whose focal points report for it."""

    __tablename__ = "plan_institutions"
    __table_args__ = (UniqueConstraint("plan_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plan_plans.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(60))
    name: Mapped[str] = mapped_column(String(300))
    node_codes: Mapped[list[str]] = mapped_column(JSON, default=list)

    plan: Mapped[Plan] = relationship(back_populates="institutions")

    def __repr__(self) -> str:
        return f"Institution({self.key})"


class Eje(Base):
    __tablename__ = "plan_ejes"
    __table_args__ = (UniqueConstraint("plan_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plan_plans.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(300))
    objective: Mapped[str] = mapped_column(Text, default="")
    coordinator_id: Mapped[int | None] = mapped_column(ForeignKey("plan_institutions.id"))

    plan: Mapped[Plan] = relationship(back_populates="ejes")
    coordinator: Mapped[Institution | None] = relationship()
    lineas: Mapped[list[Linea]] = relationship(back_populates="eje", order_by="Linea.number")

    def __repr__(self) -> str:
        return f"Eje({self.number})"


class Linea(Base):
    __tablename__ = "plan_lineas"
    __table_args__ = (UniqueConstraint("eje_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    eje_id: Mapped[int] = mapped_column(ForeignKey("plan_ejes.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(Text)

    eje: Mapped[Eje] = relationship(back_populates="lineas")
    actions: Mapped[list[Action]] = relationship(back_populates="linea", order_by="Action.position")

    def __repr__(self) -> str:
        return f"Linea({self.number})"


class Action(Base):
    """One acción: the seed's code within its eje («1.1»), what is to be done, its result indicators
    (`indicators`: [{"text", "kind"}]), its meta and the meta's date (`due_on`), and who executes it."""

    __tablename__ = "plan_actions"
    __table_args__ = (UniqueConstraint("plan_id", "eje_number", "code"), Index("ix_plan_actions_due", "plan_id", "due_on"))

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plan_plans.id", ondelete="CASCADE"))
    linea_id: Mapped[int] = mapped_column(ForeignKey("plan_lineas.id", ondelete="CASCADE"))
    eje_number: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(String(12))
    position: Mapped[int] = mapped_column(Integer, default=0)
    description: Mapped[str] = mapped_column(Text)
    indicators: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    meta: Mapped[str] = mapped_column(Text)
    due_on: Mapped[dt.date | None] = mapped_column(Date)
    responsible_id: Mapped[int | None] = mapped_column(ForeignKey("plan_institutions.id"))

    linea: Mapped[Linea] = relationship(back_populates="actions")
    responsible: Mapped[Institution | None] = relationship()

    def __repr__(self) -> str:
        return f"Action({self.eje_number}-{self.code})"


class Progress(Base):
    """One progress report of an action: its status, the indicators' values (`values`, one per indicator, in
    order; None where not given), a reference text, and optionally a sealed evidence document."""

    __tablename__ = "plan_progress"
    __table_args__ = (Index("ix_plan_progress_action", "action_id", "reported_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    action_id: Mapped[int] = mapped_column(ForeignKey("plan_actions.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id"))
    reported_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    status: Mapped[str] = mapped_column(String(20))
    values: Mapped[list[float | None]] = mapped_column(JSON, default=list)
    reference: Mapped[str] = mapped_column(Text, default="")
    token: Mapped[str] = mapped_column(String(64), unique=True)  # the form's random token: one report per page
    evidence_blob_id: Mapped[str | None] = mapped_column(String(32), unique=True)
    evidence_key: Mapped[bytes | None] = mapped_column(LargeBinary)  # the file's key, sealed under the plan key
    evidence_data: Mapped[bytes | None] = mapped_column(LargeBinary)  # sealed JSON: file name, type, size

    action: Mapped[Action] = relationship()

    def __repr__(self) -> str:
        return f"Progress({self.id})"
