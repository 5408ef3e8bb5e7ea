"""Case documents: one row per uploaded file. In clear only ids, the uploader's node, the relations that
read it, the blob's random id and the moment of upload; the kind, file name, content type and size are
sealed under the case key (`data`), and so is the file's own key (`file_key`). The file's content is a
blob of chunks sealed under that key (referral/vault/files.py), kept outside the database."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import JSON, ForeignKey, Index, Integer, LargeBinary, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import Base, UTCDateTime, utcnow
from ..network.models import Node


class CaseAttachment(Base):
    __tablename__ = "case_attachments"
    __table_args__ = (Index("ix_case_attachments_case", "case_id", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    author_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    author_node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id"))
    shared_with: Mapped[list[str]] = mapped_column(JSON, default=list)  # relation codes (routing only)
    token: Mapped[str] = mapped_column(String(64), unique=True)  # the form's random token: one upload per page
    blob_id: Mapped[str] = mapped_column(String(32), unique=True)  # random: names the sealed content in the store
    key_version: Mapped[int] = mapped_column(Integer, default=1)  # of the file's own key, bound into every chunk
    file_key: Mapped[bytes] = mapped_column(LargeBinary)  # the file's key, sealed under the case key
    data: Mapped[bytes] = mapped_column(LargeBinary)  # sealed JSON: kind, file name, content type, size
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    author_node: Mapped[Node] = relationship()
