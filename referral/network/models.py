"""Regions, nodes (institutions or their regional offices) and network assignments."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import Base, UTCDateTime


class Region(Base):
    __tablename__ = "regions"

    code: Mapped[str] = mapped_column(String(8), primary_key=True)  # ISO 3166-2, e.g. CL-RM
    roman: Mapped[str] = mapped_column(String(8))
    name: Mapped[str] = mapped_column(String(120))
    position: Mapped[int] = mapped_column(Integer)  # north to south, for ordering lists

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
    code: Mapped[str] = mapped_column(String(40), unique=True)  # e.g. CAVD-CL-RM
    short_name: Mapped[str] = mapped_column(String(80))  # what lists show, e.g. "CAVD Valparaíso"
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
