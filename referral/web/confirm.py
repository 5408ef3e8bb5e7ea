"""The confirmation of a destructive or final step (`confirm` in the workflow definition): its page
says the consequence and asks to tick «Confirmo»; a POST without it does nothing. No JavaScript."""

from __future__ import annotations

from flask import request

CONFIRM_FIELD = "confirmo"
CONFIRM_VALUE = "si"


def confirmed() -> bool:
    """Whether the posted form carries the ticked confirmation."""
    return request.form.get(CONFIRM_FIELD) == CONFIRM_VALUE
