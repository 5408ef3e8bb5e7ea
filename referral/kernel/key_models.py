"""Stored key material. Nothing here opens without the master key held outside the database."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, UTCDateTime, utcnow


class NodeKey(Base):
    """One version of a node's X25519 key pair; the private half wrapped by a master key.

    status: active (new wraps use the newest active key) | retiring (rotation moving its wraps) |
    retired (nothing uses it; the private key is destroyed).
    """

    __tablename__ = "node_keys"
    __table_args__ = (UniqueConstraint("node_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(12), default="active")
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    private_wrapped: Mapped[bytes | None] = mapped_column(LargeBinary)
    master_key_id: Mapped[str | None] = mapped_column(String(32), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    retired_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class CaseKeyWrap(Base):
    """A case's data key (one version), sealed with HPKE to one node key. Deleting it ends that
    node's ability to decrypt the case; deleting all of them shreds the case."""

    __tablename__ = "case_key_wraps"
    __table_args__ = (
        UniqueConstraint("case_id", "key_version", "node_id"),
        Index("ix_case_key_wraps_node_key", "node_key_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    key_version: Mapped[int] = mapped_column(Integer)
    node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id"))
    node_key_id: Mapped[int] = mapped_column(ForeignKey("node_keys.id"))
    wrapped: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class VaultSecret(Base):
    """A named secret (the blind-index root key) wrapped by a master key."""

    __tablename__ = "vault_secrets"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    master_key_id: Mapped[str] = mapped_column(String(32))
    wrapped: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
