"""The free texts of the referral network (a note to a node, a reason, an evidence note): trimmed,
bounded, required where the rules say so. They are sealed by the services, never stored in clear."""

from __future__ import annotations

from ..workflow import Text
from ..workflow.forms import TOO_LONG

EXPLAIN = Text("Explique el motivo (obligatorio).", "Explain the reason (required).")


def note(raw: str | None, key: str, errors: dict[str, list[Text]], *, limit: int, required: bool = False) -> str:
    """The trimmed text; adds to `errors[key]` if it is too long, or empty where required."""
    value = (raw or "").strip()
    if len(value) > limit:
        errors.setdefault(key, []).append(TOO_LONG.format(limit=limit))  # the forms' own words
    elif required and not value:
        errors.setdefault(key, []).append(EXPLAIN)
    return value
