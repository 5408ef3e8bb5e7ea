"""Fictitious people for demo cases, drawn to match the published figures in calibration.json.

Every person is invented (Faker, seeded): the same seed gives the same people. Where the figures
are silent the assumption is written next to the number.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from faker import Faker

DATA = Path(__file__).resolve().parent / "data"

# Faker locale for names by nationality (Faker has no locale for some countries: nearest language).
NAME_LOCALES = {
    "CL": "es_CL", "AR": "es_AR", "UY": "es_AR", "CO": "es_CO", "BR": "pt_BR", "HT": "fr_FR", "CN": "zh_CN",
    "TH": "th_TH", "PH": "en_PH", "IN": "en_IN", "KR": "ko_KR", "ID": "id_ID", "PL": "pl_PL", "VN": "vi_VN",
}
DEFAULT_LOCALE = "es_MX"
# Assumption (the sources give the 30-45 mode only): adult age brackets and their shares.
ADULT_BRACKETS = ((18, 29, 0.35), (30, 45, 0.45), (46, 60, 0.17), (61, 70, 0.03))
# Assumption: the regions other than RM, O'Higgins and Maule share the rest equally.
MAIN_REGIONS = {"CL-RM": 0.35, "CL-LI": 0.13, "CL-ML": 0.129}


@dataclass(frozen=True)
class Person:
    given_names: str
    surnames: str
    sex: str  # F | M | sin_informacion
    birth_date: dt.date | None
    estimated_age: int | None
    minor: bool
    nationality: str
    trafficking_type: str  # sexual | laboral
    region: str
    document_number: str
    phone: str


class PersonFactory:
    """Draws people; one factory per demo load, seeded."""

    def __init__(self, seed: int, regions: list[str]):
        self.rng = random.Random(seed)
        self.seed = seed
        self.regions = regions
        self.calibration = json.loads((DATA / "calibration.json").read_text(encoding="utf-8"))
        self._fakers: dict[str, Faker] = {}

    def _faker(self, nationality: str) -> Faker:
        locale = NAME_LOCALES.get(nationality, DEFAULT_LOCALE)
        if locale not in self._fakers:
            fake = Faker(locale)
            fake.seed_instance(self.seed)
            self._fakers[locale] = fake
        return self._fakers[locale]

    @cached_property
    def _nationalities(self) -> tuple[list[str], list[float]]:
        entries = self.calibration["protocol_entries_2013_2023"]
        top = entries["top_nationalities_share"]
        others = entries["other_nationalities_seen"] + ["TH"]  # 2020: 16 Thai victims in one case
        rest = (1.0 - sum(top.values())) / len(others)
        return list(top) + others, list(top.values()) + [rest] * len(others)

    def _sex_and_type(self) -> tuple[str, str]:
        entries = self.calibration["protocol_entries_2013_2023"]
        formalised = self.calibration["formalised_cases_2011_2023"]
        unknown_share = formalised["victims_by_sex"]["unknown"] / formalised["victims"]
        total = entries["total"]
        p_female = entries["by_sex"]["F"] / total
        p_sexual = entries["by_type"]["sexual"] / total
        # Bayes with the share of women among sexual-exploitation victims keeps both marginals.
        p_sexual_given_f = formalised["sexual"]["share_female"] * p_sexual / p_female
        p_sexual_given_m = (1 - formalised["sexual"]["share_female"]) * p_sexual / (1 - p_female)
        draw = self.rng.random()
        if draw < unknown_share:
            sex = "sin_informacion"
            return sex, "sexual" if self.rng.random() < p_sexual else "laboral"
        sex = "F" if self.rng.random() < p_female else "M"
        p = p_sexual_given_f if sex == "F" else p_sexual_given_m
        return sex, "sexual" if self.rng.random() < p else "laboral"

    def _age(self) -> tuple[int | None, bool]:
        formalised = self.calibration["formalised_cases_2011_2023"]
        minors = formalised["minors"]
        if self.rng.random() < minors["victims"] / formalised["victims"]:
            ages = {k: v for k, v in minors["ages"].items()}
            key = self.rng.choices(list(ages), weights=list(ages.values()))[0]
            return (None, True) if key == "unknown" else (int(key), True)
        low, high, _ = self.rng.choices(ADULT_BRACKETS, weights=[b[2] for b in ADULT_BRACKETS])[0]
        return self.rng.randint(low, high), False

    def _region(self) -> str:
        others = [r for r in self.regions if r not in MAIN_REGIONS]
        rest = (1.0 - sum(MAIN_REGIONS.values())) / len(others)
        weights = [MAIN_REGIONS.get(r, rest) for r in self.regions]
        return self.rng.choices(self.regions, weights=weights)[0]

    def draw(self, today: dt.date, *, foreign: bool = False) -> Person:
        sex, kind = self._sex_and_type()
        codes, weights = self._nationalities
        nationality = self.rng.choices(codes, weights=weights)[0]
        while foreign and nationality == "CL":
            nationality = self.rng.choices(codes, weights=weights)[0]
        age, minor = self._age()
        fake = self._faker(nationality)
        given = fake.first_name_female() if sex == "F" else fake.first_name_male()
        if self.rng.random() < 0.4:
            given += " " + (fake.first_name_female() if sex == "F" else fake.first_name_male())
        surnames = f"{fake.last_name()} {fake.last_name()}"
        birth = None
        if age is not None and self.rng.random() < 0.65:
            birth = today - dt.timedelta(days=age * 365 + self.rng.randint(0, 364))
        return Person(
            given_names=given, surnames=surnames, sex=sex, birth_date=birth,
            estimated_age=age if birth is None else None, minor=minor, nationality=nationality,
            trafficking_type=kind, region=self._region(),
            document_number=self._rut() if nationality == "CL" else self._passport(),
            phone=f"+56 9 {self.rng.randint(2000, 9999)} {self.rng.randint(1000, 9999)}",
        )

    def _rut(self) -> str:
        body = self.rng.randint(8_000_000, 27_999_999)
        total, factor = 0, 2
        for digit in reversed(str(body)):
            total += int(digit) * factor
            factor = 2 if factor == 7 else factor + 1
        check = 11 - total % 11
        verifier = {11: "0", 10: "K"}.get(check, str(check))
        return f"{body:,}".replace(",", ".") + f"-{verifier}"

    def _passport(self) -> str:
        letters = "".join(self.rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(2))
        return f"{letters}{self.rng.randint(1_000_000, 9_999_999)}"
