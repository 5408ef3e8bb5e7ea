"""What the application asks of the country it runs, beside the workflow's states (docs/countries.md).

The code names no country's keys: "is this a child case?" is the flag the workflow marks `child: true`; a
clock of a subject that is not a case is the workflow's clock of that subject kind. What the application
says of the country beside its protocol (the name of its national coordination body, the words a local
password is often made of) is the country folder's `country.yaml`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .workflow import DefinitionError, Text, WorkflowDefinition
from .workflow.text import text_from

COUNTRY_FILE = "country.yaml"
# Without a country.yaml: a neutral name for the body whose sessions the Mesa pages record.
COORDINATION_BODY = Text("Mesa intersectorial nacional", "National inter-sector table")


@dataclass(frozen=True)
class CountryFacts:
    """A country folder's `country.yaml`: `coordination_body` ({es, en}), `password_words` (a list)."""

    coordination_body: Text = COORDINATION_BODY
    password_words: tuple[str, ...] = ()


def load_country(folder: Path) -> CountryFacts:
    """The facts of `folder/country.yaml`; the defaults without the file. DefinitionError if it is malformed."""
    path = folder / COUNTRY_FILE
    if not path.is_file():
        return CountryFacts()
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(raw, Mapping) or set(raw) - {"coordination_body", "password_words"}:
        raise DefinitionError(f"{path}: expected a mapping with coordination_body and password_words")
    words = raw.get("password_words") or []
    if not isinstance(words, list) or not all(isinstance(w, str) and w.strip() for w in words):
        raise DefinitionError(f"{path}: password_words: expected a list of words")
    body = raw.get("coordination_body")
    return CountryFacts(text_from(body, f"{path}: coordination_body") if body is not None else COORDINATION_BODY,
                        tuple(w.strip().lower() for w in words))


def child_flags(definition: WorkflowDefinition) -> tuple[str, ...]:
    """The keys of the flags that mark a child case (`flags.<key>.child: true`)."""
    return tuple(key for key, flag in definition.flags.items() if flag.child)


def is_child(definition: WorkflowDefinition, flags: Mapping[str, Any] | None) -> bool:
    """Whether a case with these computed flags is a child's."""
    return any(bool((flags or {}).get(key)) for key in child_flags(definition))


def subject_clock(definition: WorkflowDefinition, kind: str) -> str:
    """The key of the workflow's clock whose subject is of `kind` (a Mesa's agreement, a plan's target...):
    modules that run such clocks ask the definition, never name a country's clock. KeyError if it has none."""
    for key, clock in definition.clocks.items():
        if clock.subject == kind:
            return key
    raise KeyError(f"the workflow declares no clock of subjects of kind {kind!r}")
