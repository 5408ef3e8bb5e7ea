"""What a new password must be (NIST SP 800-63B, OWASP ASVS 2.1): long enough, not common, not the
person's own e-mail or name. No composition rules, no network call. No Flask here.

"Common" is judged by zxcvbn (docs/dependencies.md says why): its bundled frequency lists (30,000 leaked
passwords, English words, names, surnames, film and TV words) and its pattern matching (keyboard walks,
repeats, sequences, dates, l33t); a password it guesses in fewer than 10^8 tries (score below 3) is
refused, with the person's e-mail and name, a few Spanish words (LOCAL_WORDS) and the country folder's
`country.yaml` password_words (the words a local password is often made of; docs/countries.md) among the words
it knows.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from enum import Enum

from zxcvbn import zxcvbn

MIN_LENGTH = 12
MAX_LENGTH = 200  # argon2 takes any length; this bounds the work one request can ask for
MIN_SCORE = 3  # zxcvbn's "safely unguessable: moderate protection from an offline slow-hash attack"
SCORED_LENGTH = 50  # zxcvbn slows sharply past ~60 characters (0.7 s); characters past these only add strength
# zxcvbn's lists are English: Spanish words a password of this product is often made of, weighted like the
# person's own words (zxcvbn's `user_inputs`: the first counts as the most likely). The country's own words
# (places, teams, nicknames) come from its folder's country.yaml and go after these.
LOCAL_WORDS = ("contraseña", "contrasena", "clave", "protocolo", "trata", "teamo", "hola", "amor", "gobierno",
               "ministerio", "usuario", "administrador", "coordinador", "gestor", "migraciones", "salud", "demo",
               "bienvenido", "bienvenida", "secreto", "password")


class Problem(Enum):
    TOO_SHORT = "too_short"
    TOO_LONG = "too_long"
    PERSONAL = "personal"
    COMMON = "common"
    MISMATCH = "mismatch"


def _letters(text: str) -> str:
    """Letters only, lower case, accents removed: `Coordinador.RM-2026!` and `coordinador rm` agree."""
    plain = unicodedata.normalize("NFKD", text.casefold())
    return re.sub(r"[^a-z]", "", plain.encode("ascii", "ignore").decode())


def personal_words(email: str, name: str, country_words: Sequence[str] = ()) -> list[str]:
    local = email.partition("@")[0]
    own = (email, local, name, *re.split(r"[\s._-]+", local), *name.split())
    return [word for word in (*own, *LOCAL_WORDS, *country_words) if word]


def _is_personal(password: str, email: str, name: str) -> bool:
    letters = _letters(password)
    candidates = {_letters(email), _letters(email.partition("@")[0]), _letters(name)}
    return bool(letters) and letters in {c for c in candidates if c}


def problems(password: str, *, email: str = "", name: str = "", confirmation: str | None = None,
             country_words: Sequence[str] = ()) -> list[Problem]:
    """Why `password` cannot be used (empty: it can). With `confirmation`, the second typing must agree;
    `country_words`: the country folder's password words (`Protocol.country.password_words`)."""
    found = []
    if len(password) < MIN_LENGTH:
        found.append(Problem.TOO_SHORT)
    if len(password) > MAX_LENGTH:
        found.append(Problem.TOO_LONG)
    if confirmation is not None and confirmation != password:
        found.append(Problem.MISMATCH)
    if found:
        return found
    if _is_personal(password, email, name):
        return [Problem.PERSONAL]
    if zxcvbn(password[:SCORED_LENGTH], user_inputs=personal_words(email, name, country_words))["score"] < MIN_SCORE:
        return [Problem.COMMON]
    return []
