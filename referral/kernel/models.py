"""Cases and what hangs off them. Personal content lives only in the LargeBinary (sealed) columns.

In clear, a case row holds only routing metadata: workflow state, region of detection, the nodes
involved, boolean routing flags (child case, immediate risk) and timestamps. See docs/encryption.md.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import (
    JSON, Boolean, ColumnElement, ForeignKey, Index, Integer, LargeBinary, String, UniqueConstraint, Uuid, or_, text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import Base, UTCDateTime, utcnow
from ..network.models import Node, Region


class Case(Base):
    __tablename__ = "cases"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    reference: Mapped[str] = mapped_column(String(20), unique=True)  # random; safe in URLs and emails
    workflow: Mapped[str] = mapped_column(String(60))
    workflow_version: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(40), index=True)
    region_code: Mapped[str] = mapped_column(ForeignKey("regions.code"), index=True)
    detecting_node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id"))
    flags: Mapped[dict[str, bool]] = mapped_column(JSON, default=dict)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    intake_token: Mapped[str] = mapped_column(String(64), unique=True)  # one case per submitted Ficha
    summary: Mapped[bytes | None] = mapped_column(LargeBinary)  # sealed: names, sex, age, nationality
    key_version: Mapped[int] = mapped_column(Integer, default=1)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    state_changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    detecting_node: Mapped[Node] = relationship()
    region: Mapped[Region | None] = relationship(viewonly=True)  # open_case loads it with the case
    participants: Mapped[list[Participant]] = relationship(back_populates="case", order_by="Participant.id")
    tracks: Mapped[list[Track]] = relationship(back_populates="case")

    # Optimistic locking: every change bumps the version (see touch()), and the UPDATE checks the
    # version it read, so two writers cannot both win.
    __mapper_args__ = {"version_id_col": version, "version_id_generator": False}
    __table_args__ = (Index("ix_cases_inbox", "priority", "created_at"),)

    def touch(self, now: dt.datetime) -> None:
        """Mark the case changed: a new version, so pages opened before this change are stale."""
        self.version += 1
        self.updated_at = now

    def __repr__(self) -> str:
        return f"Case({self.reference}, {self.state})"


class WorklistEntry(Base):
    """One case on one worklist of one node, for one role: the worklists' rows kept by the steps (issue 17).

    A derived copy of routing columns only (state, region, priority, the soonest running deadline, whether the
    role has a step to take now), recomputed from the case, its relations, tracks, forms and clocks whenever a
    transaction writes any of them (`referral/cases/worklists.py`). The access rule never reads it: opening a
    case still checks the relations. Nothing personal: no sealed column is copied.
    """

    __tablename__ = "worklist_entries"
    __table_args__ = (Index("ix_worklist_entries_case", "case_id"),)

    inbox: Mapped[str] = mapped_column(String(40), primary_key=True)
    node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id"), primary_key=True)
    role: Mapped[str] = mapped_column(String(40), primary_key=True)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True)
    mine: Mapped[bool] = mapped_column(Boolean)  # the role, through the inbox's relations, can take a step now
    state: Mapped[str] = mapped_column(String(40))
    region_code: Mapped[str] = mapped_column(String(8))
    priority: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    reference: Mapped[str] = mapped_column(String(20))
    due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)  # soonest running deadline
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)  # the node's relation lapses then


class CaseKey(Base):
    """One version of a case's data key. The key itself exists only as per-node wraps
    (`case_key_wraps`); `status` is active (the version new cells use) or retiring (rotation is
    re-sealing its cells).

    `master_key_id`/`wrapped` hold a key stored under the first scheme (wrapped by the master key,
    before per-node wraps); `flask keys rotate-master` converts them and empties both columns.
    """

    __tablename__ = "case_keys"

    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[str] = mapped_column(String(12), default="active", server_default="active")
    master_key_id: Mapped[str | None] = mapped_column(String(32))
    wrapped: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Participant(Base):
    """A node's relation to a case (detecting, focal point, lead...): the basis of all access."""

    __tablename__ = "case_participants"
    # "Does this node take part in this case?" is asked for every row of every worklist.
    __table_args__ = (Index("ix_case_participants_case_node", "case_id", "node_id", "active"),
                      # "Which cases does this node take part in?" (a worklist), answered from the index alone:
                      # a regional focal point takes part in a third of a national database's cases.
                      Index("ix_case_participants_node_cover", "node_id", "case_id",
                            postgresql_include=["relation", "active", "expires_at"]))

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id"), index=True)
    relation: Mapped[str] = mapped_column(String(40))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    since: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # A time-limited relation (emergency access): not live from this moment, even before a sweep ends it.
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    case: Mapped[Case] = relationship(back_populates="participants")

    def live_at(self, now: dt.datetime) -> bool:
        return self.active and (self.expires_at is None or self.expires_at > now)
    node: Mapped[Node] = relationship(lazy="joined")


class Track(Base):
    """The state of one parallel track of a case (e.g. the residence request)."""

    __tablename__ = "case_tracks"

    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True)
    track: Mapped[str] = mapped_column(String(40), primary_key=True)
    state: Mapped[str] = mapped_column(String(40), index=True)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    case: Mapped[Case] = relationship(back_populates="tracks")


class FormRecord(Base):
    """One revision of one form of a case; its content is sealed and keeps its definition version."""

    __tablename__ = "form_records"
    __table_args__ = (
        UniqueConstraint("case_id", "form_key", "revision"),
        Index("ix_form_records_current", "case_id", "form_key", "current"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    form_key: Mapped[str] = mapped_column(String(60))
    form_version: Mapped[int] = mapped_column(Integer)
    revision: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20))  # draft | submitted | approved | returned
    complete: Mapped[bool] = mapped_column(Boolean, default=False)
    current: Mapped[bool] = mapped_column(Boolean, default=True)  # the latest revision of this form
    data: Mapped[bytes] = mapped_column(LargeBinary)  # sealed JSON of the values
    author_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    author_node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    submitted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    reviewed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    author_node: Mapped[Node] = relationship()


class CaseEvent(Base):
    """One step on a case's timeline: who (role and node) did what, when. No personal data in clear."""

    __tablename__ = "case_events"
    __table_args__ = (UniqueConstraint("case_id", "seq"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    actor_role: Mapped[str] = mapped_column(String(40))
    actor_node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id"))
    kind: Mapped[str] = mapped_column(String(20))  # intake | transition | form_saved
    action: Mapped[str] = mapped_column(String(60))  # transition key or form key
    machine: Mapped[str] = mapped_column(String(40), default="")  # "" for the case, else the track
    from_state: Mapped[str | None] = mapped_column(String(40))
    to_state: Mapped[str | None] = mapped_column(String(40))
    form_record_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("form_records.id"))
    subject: Mapped[str | None] = mapped_column(String(40))  # the referral, consent or access the step is about

    actor_node: Mapped[Node] = relationship()
    form_record: Mapped[FormRecord | None] = relationship()


class BlindIndex(Base):
    """A keyed hash of a normalised identifier of the person in a case (document number; name and
    date of birth), so a new Ficha can be matched to earlier cases without decrypting anything."""

    __tablename__ = "blind_indexes"
    __table_args__ = (Index("ix_blind_indexes_lookup", "kind", "digest"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    digest: Mapped[bytes] = mapped_column(LargeBinary(16))


class CaseLink(Base):
    """A keyed hash of an identifier several cases share (one criminal proceeding, for instance): cases
    with the same kind and digest are linked. It opens nothing; the identifier itself is only sealed."""

    __tablename__ = "case_links"
    __table_args__ = (Index("ix_case_links_lookup", "kind", "digest"),
                      UniqueConstraint("case_id", "kind", name="uq_case_links_case_kind"))

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    digest: Mapped[bytes] = mapped_column(LargeBinary(16))


class CaseTombstone(Base):
    """What remains of an erased case: its random reference, when, why and by whom (role and node).
    No personal data and no key material."""

    __tablename__ = "case_tombstones"

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(20), unique=True)
    reason: Mapped[str] = mapped_column(String(40))
    erased_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    actor_role: Mapped[str] = mapped_column(String(40))
    actor_node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id"))
    opened_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


def live_participant(now: dt.datetime) -> ColumnElement[bool]:
    """SQL for "this relation is live now": active, and not past its expiry."""
    return Participant.active & or_(Participant.expires_at.is_(None), Participant.expires_at > now)


class IntakeDraft(Base):
    """An unfinished intake form (a Ficha not yet sent), readable by its author alone.

    In clear: ids, the form key and version and timestamps only. The values are sealed under a data key
    of the draft's own, and that key is wrapped by the master key bound to the draft and its author
    (`Vault.new_draft_key`). Deleting the row shreds it; `expires_at` is when the sweep does so.
    """

    __tablename__ = "intake_drafts"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    author_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    form_key: Mapped[str] = mapped_column(String(60))
    form_version: Mapped[int] = mapped_column(Integer)
    token: Mapped[str] = mapped_column(String(64), unique=True)  # the Ficha's intake token: one draft per page
    key_wrapped: Mapped[bytes] = mapped_column(LargeBinary)
    master_key_id: Mapped[str] = mapped_column(String(32), index=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)  # sealed JSON of the values typed so far
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)


class CaseAssignment(Base):
    """Who at one node is responsible for a case («responsable»), and since when. One row per
    assignment; the current one has no `ended_at`. In clear: ids, moments and a reason code only.
    [producto] issue 16 item 4."""

    __tablename__ = "case_assignments"
    __table_args__ = (
        # At most one current responsible person per case and node, even if two writers race.
        Index("uq_case_assignments_current", "case_id", "node_id", unique=True,
              sqlite_where=text("ended_at IS NULL"), postgresql_where=text("ended_at IS NULL")),
        Index("ix_case_assignments_user", "user_id", "ended_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    assigned_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    assigned_by_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    reason: Mapped[str | None] = mapped_column(String(40))  # a code; None for a first assignment
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
