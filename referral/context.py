"""What every service call needs, passed explicitly: the session, the protocol, the vault, the time."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from .blobs import BlobStore
from .country import CountryFacts
from .db import utcnow
from .vault import CaseCipher, Vault
from .workflow import Engine, WorkflowDefinition


@dataclass
class Protocol:
    """The running workflow: its validated definition and the engine over it."""

    definition: WorkflowDefinition
    engine: Engine
    country: CountryFacts = field(default_factory=CountryFacts)  # the country folder's country.yaml

    @classmethod
    def of(cls, definition: WorkflowDefinition, country: CountryFacts | None = None) -> Protocol:
        return cls(definition, Engine(definition), country or CountryFacts())


@dataclass
class Context:
    """One unit of work: services flush into `session`; the caller commits or rolls back once."""

    session: Session
    protocol: Protocol
    vault: Vault
    # The protocol's time zone (its `calendar.time_zone`) unless the caller gives one.
    timezone: ZoneInfo = field(default=None)  # type: ignore[assignment]
    clock: Callable[[], dt.datetime] = utcnow
    keyholder: int | None = None  # the node whose key pair opens case keys in this unit of work
    ciphers: dict[tuple[uuid.UUID, int], CaseCipher] = field(default_factory=dict)  # opened, this unit only
    keycache: dict[str, Any] = field(default_factory=dict)  # opened node keys and secrets, this unit only
    blobs: BlobStore | None = None  # where sealed case documents are kept (referral/blobs.py)
    # Cases opened in this unit of work with the opener's actor, and the session's write generation then
    # (referral/kernel/access.py open_case): routing rows only, never decrypted content.
    opened: dict[tuple[Any, ...], tuple[int, Any, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.timezone is None:
            self.timezone = ZoneInfo(self.protocol.definition.calendar.time_zone)

    @property
    def definition(self) -> WorkflowDefinition:
        return self.protocol.definition

    @property
    def engine(self) -> Engine:
        return self.protocol.engine

    def act_as(self, node_id: int) -> None:
        """Open case keys as `node_id` from now on; keys opened as another node are forgotten."""
        if node_id != self.keyholder:
            self.ciphers.clear()
            self.keyholder = node_id

    def now(self) -> dt.datetime:
        return self.clock()

    def local_now(self) -> dt.datetime:
        """Wall-clock time where the users are, naive, as typed into forms."""
        return self.clock().astimezone(self.timezone).replace(tzinfo=None)
