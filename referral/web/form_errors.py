"""Service errors (`InvalidInput.errors`: field key -> messages) onto a WTForms form, in the reader's language.

A key names a field (`date`) or a field of one row of a list of subforms (`agreements-0-text`); a key that names
nothing on the form is left for the caller (which may flash it)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from flask_wtf import FlaskForm

from ..workflow import Text


def apply_errors(form: FlaskForm, errors: Mapping[str, Sequence[Text]], language: str) -> dict[str, Sequence[Text]]:
    """Put each message on the field its key names; return the messages whose key names no field."""
    left: dict[str, Sequence[Text]] = {}
    for key, messages in errors.items():
        target: Any = form
        for part in key.split("-"):  # agreements-0-text: a field of one agreement row
            target = target.entries[int(part)].form if part.isdigit() else getattr(target, part, None)
            if target is None:
                break
        if target is not None and hasattr(target, "errors"):
            target.errors = list(target.errors or []) + [m.get(language) for m in messages]
        else:
            left[key] = messages
    return left
