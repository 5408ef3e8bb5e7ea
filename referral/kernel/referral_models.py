"""Derivaciones, consent records and emergency (break-the-glass) access.

In clear: kinds, states, services, nodes, dates and reason *codes* (routing and oversight need them).
Sealed with the case key: every free text (the note to the receiving node, the reason typed for an
override or an emergency access, the evidence of a consent), because anything typed may name a person.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, LargeBinary, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import Base, UTCDateTime, utcnow
from ..network.models import Node


class Referral(Base):
    """One derivación (or lead-role transfer) from one node to another, with its own small machine."""

    __tablename__ = "referrals"
    __table_args__ = (
        Index("ix_referrals_case", "case_id", "state"),
        Index("ix_referrals_to_node", "to_node_id", "state"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))  # a key of referrals.kinds in the workflow
    service: Mapped[str | None] = mapped_column(String(60))  # None for a lead-role transfer
    relation: Mapped[str] = mapped_column(String(40))  # what the receiving node holds while it is live
    from_node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id"))
    to_node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id"))
    state: Mapped[str] = mapped_column(String(20))
    due_on: Mapped[dt.date | None] = mapped_column(Date)  # the action's committed date, if any
    consent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("consents.id", ondelete="SET NULL"))
    override_reason: Mapped[str | None] = mapped_column(String(40))  # a code; set when consent was overridden
    answer_reason: Mapped[str | None] = mapped_column(String(40))  # a code: why refused, not done or revoked
    details: Mapped[bytes | None] = mapped_column(LargeBinary)  # sealed: note, override and answer texts
    created_by_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    answered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    from_node: Mapped[Node] = relationship(foreign_keys=[from_node_id], lazy="joined")
    to_node: Mapped[Node] = relationship(foreign_keys=[to_node_id], lazy="joined")

    __mapper_args__ = {"version_id_col": version, "version_id_generator": False}


class Consent(Base):
    """Who consented, to what, when, until when, on what evidence; revocable. Never a boolean."""

    __tablename__ = "consents"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    given_by: Mapped[str] = mapped_column(String(40))  # persona | representante_legal | organismo_proteccion
    scope: Mapped[str] = mapped_column(String(40))  # ingreso | red | tipo_nodo | nodo
    node_id: Mapped[int | None] = mapped_column(ForeignKey("nodes.id"))  # scope nodo
    org_type: Mapped[str | None] = mapped_column(String(40))  # scope tipo_nodo
    given_on: Mapped[dt.date] = mapped_column(Date)
    valid_until: Mapped[dt.date | None] = mapped_column(Date)
    evidence: Mapped[str] = mapped_column(String(40))  # a code: signed form, recorded verbal consent...
    details: Mapped[bytes | None] = mapped_column(LargeBinary)  # sealed: the evidence note
    recorded_by_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    recorded_by_node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    node: Mapped[Node | None] = relationship(foreign_keys=[node_id], lazy="joined")


class EmergencyAccess(Base):
    """A coordinator's time-limited access to a case outside her node's scope, with a stated reason."""

    __tablename__ = "emergency_accesses"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    user_role: Mapped[str] = mapped_column(String(40))
    node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id"))
    reason: Mapped[str] = mapped_column(String(40))  # a code; the typed explanation is sealed
    details: Mapped[bytes | None] = mapped_column(LargeBinary)
    participant_id: Mapped[int | None] = mapped_column(ForeignKey("case_participants.id", ondelete="SET NULL"))
    granted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)  # ended early, or swept after expiry
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    node: Mapped[Node] = relationship(lazy="joined")
