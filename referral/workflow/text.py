"""Bilingual text as it comes from a workflow definition (Spanish first, English second)."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_LANGUAGE = "es"


@dataclass(frozen=True)
class Text:
    """A label or message in every language the definition gives; Spanish is mandatory."""

    es: str
    en: str = ""

    def get(self, language: str) -> str:
        if language == "en" and self.en:
            return self.en
        return self.es

    def __str__(self) -> str:  # Spanish first: what a user sees when no language is chosen
        return self.es

    def format(self, **values: object) -> Text:
        return Text(self.es.format(**values), self.en.format(**values) if self.en else "")


def text_from(raw: object, where: str) -> Text:
    """Read a label written as a plain string (Spanish) or as {es: ..., en: ...}."""
    from .errors import DefinitionError

    if isinstance(raw, str):
        return Text(raw)
    if isinstance(raw, dict) and isinstance(raw.get("es"), str):
        unknown = set(raw) - {"es", "en"}
        if unknown:
            raise DefinitionError(f"{where}: unknown languages {sorted(unknown)}")
        english = raw.get("en", "")
        if not isinstance(english, str):
            raise DefinitionError(f"{where}: the English text {english!r} is not text (YAML reads an unquoted "
                                  "yes/no as a boolean); quote it")
        return Text(raw["es"], english)
    raise DefinitionError(f"{where}: a label needs Spanish text (es), got {raw!r}")
