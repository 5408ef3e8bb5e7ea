"""Exceptions of the workflow layer, named for the failure."""

from __future__ import annotations

from .text import Text


class DefinitionError(Exception):
    """A workflow definition is not valid; the message says where and why."""


class TransitionRefused(Exception):
    """A transition may not fire; `reason` says why, in every language of the definition."""

    def __init__(self, code: str, reason: Text):
        super().__init__(f"{code}: {reason.es}")
        self.code = code
        self.reason = reason
        self.reasons: tuple[Text, ...] = (reason,)  # every reason, when several guards fail at once
