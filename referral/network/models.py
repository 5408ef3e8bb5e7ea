"""Regions, nodes (institutions or their regional offices), network assignments, and requests for access."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import Base, UTCDateTime


class Region(Base):
    """A first-level subdivision of the country, as `workflows/<country>/regions.csv` says it."""

    __tablename__ = "regions"

    code: Mapped[str] = mapped_column(String(8), primary_key=True)  # ISO 3166-2
    roman: Mapped[str] = mapped_column(String(8), default="")  # a country's own numbering; '' where it has none
    name: Mapped[str] = mapped_column(String(120))
    short_name: Mapped[str | None] = mapped_column(String(80))  # what lists show; None: the name
    long_name: Mapped[str | None] = mapped_column(String(160))  # in an office's name; None: the name
    position: Mapped[int] = mapped_column(Integer)  # the file's order, for ordering lists
    # region codes across a land border
    neighbours: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")

    def __repr__(self) -> str:
        return f"Region({self.code})"


class NodeRegion(Base):
    """A region a node serves (a national node serves every region without rows here)."""

    __tablename__ = "node_regions"

    node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id", ondelete="CASCADE"), primary_key=True)
    region_code: Mapped[str] = mapped_column(ForeignKey("regions.code"), primary_key=True)


class Node(Base):
    __tablename__ = "nodes"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)  # an institution's code, then its region's for a regional office
    short_name: Mapped[str] = mapped_column(String(80))  # what lists show: the institution and the region's short name
    name: Mapped[str] = mapped_column(String(200))
    org_type: Mapped[str] = mapped_column(String(40))  # HTCDS organisation type
    level: Mapped[str] = mapped_column(String(12))  # national | regional | local
    home_region: Mapped[str | None] = mapped_column(ForeignKey("regions.code"))
    services: Mapped[list[str]] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Places (e.g. shelter beds), where capacity matters: None means the node does not count places.
    capacity_total: Mapped[int | None] = mapped_column(Integer)
    capacity_free: Mapped[int | None] = mapped_column(Integer)
    capacity_updated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # The institution's own contact for the network (an office address, never a person's).
    contact_email: Mapped[str | None] = mapped_column(String(200))
    contact_phone: Mapped[str | None] = mapped_column(String(40))

    regions_served: Mapped[list[NodeRegion]] = relationship(cascade="all, delete-orphan")

    def __repr__(self) -> str:
        return f"Node({self.code})"


class Assignment(Base):
    """A network function held by a node: e.g. the regional focal point of one region."""

    __tablename__ = "assignments"
    __table_args__ = (UniqueConstraint("function", "region_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    function: Mapped[str] = mapped_column(String(40))
    region_code: Mapped[str | None] = mapped_column(ForeignKey("regions.code"))
    node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id"))

    node: Mapped[Node] = relationship()


class AccessGrant(Base):
    """A proposed change that would let an account read cases (a new account with such a role, a raise to
    one, a move to another node, a new e-mail or a reactivation of such an account): it takes effect only
    when a second person holding `approve_access` approves it (referral/network/grants.py)."""

    __tablename__ = "access_grants"
    __table_args__ = (
        Index("ix_access_grants_state", "state", "expires_at"),
        # One pending request per account, even for two proposals sent at once (the second is a conflict).
        Index("uq_access_grants_one_pending", "user_id", unique=True, sqlite_where=text("state = 'pendiente'"),
              postgresql_where=text("state = 'pendiente'")),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)  # whose access changes
    proposed_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    proposed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    # What changes, as codes: {"create": true, "role": "coordinador", "node_id": 3, "active": true, "email": true}
    changes: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    new_email: Mapped[str | None] = mapped_column(String(200))  # only for an e-mail change (never in the audit)
    state: Mapped[str] = mapped_column(String(12))  # pendiente | aprobada | rechazada | caducada
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    reason: Mapped[str | None] = mapped_column(String(40))  # a code of grants.REASONS

    def __repr__(self) -> str:
        return f"AccessGrant(id={self.id}, user={self.user_id}, state={self.state})"


class AccessNotice(Base):
    """A node manager told of a request or decision about an account of her node (ids and codes only)."""

    __tablename__ = "access_notices"
    __table_args__ = (Index("ix_access_notices_user", "user_id", "read_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    grant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("access_grants.id", ondelete="CASCADE"), index=True)
    event: Mapped[str] = mapped_column(String(20))  # requested | approved | rejected | expired
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    read_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    def __repr__(self) -> str:
        return f"AccessNotice(id={self.id}, user={self.user_id}, event={self.event})"
