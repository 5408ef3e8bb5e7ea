"""Characters that never belong in what a person types: the rules shared by the request hook
(`web/input.py`) and the node CSV import. No Flask here.

- Control characters: NUL and the other C0 controls except tab, CR and LF, DEL and the C1 controls.
  PostgreSQL refuses NUL in text («A string literal cannot contain NUL»), and none can be typed.
- U+FFFD: what a body, query or path that is not valid UTF-8 decodes to.
- In names (nodes, members, persons) and identifiers, also the bidirectional embedding, override
  and isolate controls (U+202A–U+202E, U+2066–U+2069) and the zero-width characters (U+200B–U+200D,
  U+FEFF): they reorder or hide what a name shows, so one name can pass for another in a list.
"""

from __future__ import annotations

import re

CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffd]")
SPOOFING = re.compile("[\u202a-\u202e\u2066-\u2069\u200b-\u200d\ufeff]")


def has_control(text: str) -> bool:
    """Whether `text` holds a control character (or the mark of bytes that were not UTF-8)."""
    return CONTROL.search(text) is not None


def has_spoofing(text: str) -> bool:
    """Whether `text` holds a bidi control or a zero-width character (refused in names)."""
    return SPOOFING.search(text) is not None


def first_bad_line(text: str) -> int | None:
    """The line (1-based) of the first control character in `text` other than tab, CR and LF, or None."""
    found = CONTROL.search(text)
    return None if found is None else text.count("\n", 0, found.start()) + 1
