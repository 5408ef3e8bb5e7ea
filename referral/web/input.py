"""One place that refuses characters nobody types, before any view, form or database sees them.

Every path, query value and form value (and uploaded file name) is checked; the names of fields
and parameters too. Refused with 400 and a page that says where (the field's name, never its value):

- everywhere: NUL and the other control characters except tab, CR and LF, and invalid UTF-8 (which
  Werkzeug decodes to U+FFFD). PostgreSQL would refuse NUL with an error, so without this a stray
  byte was a 500, even on the login page.
- in names and identifiers (`NAME_FIELDS`: node and member names, e-mails, codes, a person's names
  in the Ficha) and in the path and query: bidi embedding/override/isolate controls and zero-width
  characters, which make one name look like another in a list. Long free text (narratives, notes)
  keeps them: text pasted from messaging apps often carries them, and it is shown as plain text.

Files' contents are for their own parser (the node CSV import checks its cells).
"""

from __future__ import annotations

import re
from urllib.parse import unquote_to_bytes

from flask import Flask, request
from werkzeug.exceptions import BadRequest

from ..characters import has_control, has_spoofing
from ..workflow import Text

# Single-line names and identifiers, by form field name, in every form that has them.
NAME_FIELDS = frozenset({
    "code", "short_name", "name", "display_name", "email", "contact_email",  # nodes and members
    "nombres", "apellidos", "alias", "identificador", "numero_documento",  # a person, in case forms
    "reference", "confirmation", "to_node",  # case references typed or chosen
})
SHOWN_NAME = re.compile(r"[A-Za-z0-9_.\-]{1,64}")

IN_FIELD = Text(
    "El campo «{field}» contiene un carácter no permitido: un carácter de control (como NUL) o bytes que no "
    "son texto UTF-8. No se guardó nada: bórrelo (o vuelva a escribir el valor) y envíe de nuevo.",
    "The field “{field}” contains a character that is not allowed: a control character (such as NUL) or bytes "
    "that are not UTF-8 text. Nothing was saved: remove it (or type the value again) and send again.")
IN_NAME = Text(
    "El campo «{field}» es un nombre o identificador y contiene un carácter invisible (de ancho cero) o de "
    "control de la dirección del texto (como U+202E), que puede hacer que un nombre se vea como otro. No se "
    "guardó nada: vuelva a escribir el valor sin copiarlo y envíe de nuevo.",
    "The field “{field}” is a name or identifier and contains an invisible (zero-width) or text-direction "
    "control character (such as U+202E), which can make one name look like another. Nothing was saved: type "
    "the value again without pasting it and send again.")
IN_ADDRESS = Text(
    "La dirección de la página contiene un carácter no permitido (un carácter de control, invisible o de "
    "dirección del texto, o bytes que no son UTF-8). Vuelva a la página anterior y use sus enlaces.",
    "The page address contains a character that is not allowed (a control, invisible or text-direction "
    "character, or bytes that are not UTF-8). Go back to the previous page and use its links.")
SOME_FIELD = Text("sin nombre válido", "without a valid name")


class InvalidCharacters(BadRequest):
    """A request with a character `web/input.py` refuses; says where, never what was sent."""

    def __init__(self, message: Text, field: str | None = None):
        super().__init__()
        self.message = message
        self.field = field

    def explanation(self, lang: str) -> str:
        if self.field is None:
            return self.message.get(lang)
        shown = self.field if SHOWN_NAME.fullmatch(self.field) else SOME_FIELD.get(lang)
        return self.message.format(field=shown).get(lang)


def init_app(app: Flask) -> None:
    """Register the check first, so it runs before CSRF, the rate limits and every view."""
    app.before_request(check_request)


def check_request() -> None:
    if has_control(request.path) or has_spoofing(request.path) or not _utf8(request.query_string):
        raise InvalidCharacters(IN_ADDRESS)
    for key, values in request.args.lists():
        if any(has_control(text) or has_spoofing(text) for text in (key, *values)):
            raise InvalidCharacters(IN_ADDRESS)
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    if request.mimetype == "application/x-www-form-urlencoded":
        # Kept for the form parser, which reads it again. A bad escape survives parsing as it is.
        body = request.get_data(cache=True)
        if not _utf8(body.replace(b"+", b" ")):
            raise InvalidCharacters(IN_FIELD, _first_bad_key(body))
    for key, values in request.form.lists():
        _check_field(key, values)
    for key, files in request.files.lists():
        _check_field(key, [upload.filename or "" for upload in files])


def _utf8(query: bytes) -> bool:
    """Whether the query string decodes as UTF-8 (Werkzeug keeps a bad escape such as %FF as it is)."""
    try:
        unquote_to_bytes(query).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _first_bad_key(body: bytes) -> str:
    for pair in body.split(b"&"):
        key, _sep, value = pair.partition(b"=")
        if not _utf8(value.replace(b"+", b" ")):
            try:
                return unquote_to_bytes(key.replace(b"+", b" ")).decode("utf-8")
            except UnicodeDecodeError:
                return ""
    return ""


def _check_field(key: str, values: list[str]) -> None:
    if has_control(key) or any(has_control(value) for value in values):
        raise InvalidCharacters(IN_FIELD, key)
    if has_spoofing(key) or (key in NAME_FIELDS and any(has_spoofing(value) for value in values)):
        raise InvalidCharacters(IN_NAME, key)
