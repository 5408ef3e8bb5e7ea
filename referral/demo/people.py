"""A fictitious person of a demo case: what a country's demo script draws (docs/countries.md).

Every person is invented by the country's script (seeded: the same seed gives the same people).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class Person:
    given_names: str
    surnames: str
    sex: str  # F | M | sin_informacion
    birth_date: dt.date | None
    estimated_age: int | None
    minor: bool
    nationality: str  # ISO 3166-1 alpha-2
    trafficking_type: str  # sexual | laboral
    region: str  # a region code of the country folder's regions.csv
    document_number: str
    phone: str
