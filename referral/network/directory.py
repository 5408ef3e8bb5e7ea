"""The node directory's vocabulary, the regions, and the institutions file: one office per region served.

The shared institutions file (`short_name,name,org_type,level,region,services,notes`) lists
institutions; `expand` turns one of its rows into offices (nodes): a row whose region is `each`
becomes one office per region, a list of regions (`CL-RM;CL-AP`) one per listed region, and a
national row (or a local one in a single region) one office. `csvio.py` imports those offices with
the same checks and upsert as the directory's own CSV, so the demo and an import share one path.
"""

from __future__ import annotations

import csv
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from ..workflow import Text
from .models import Assignment, Node, Region

# Organisation types of the HTCDS (Human Trafficking Case Data Standard), with the words lists show.
ORG_TYPES: dict[str, Text] = {
    "NGO": Text("ONG o fundación", "NGO"),
    "LawEnforcement": Text("Policía o fiscalía", "Law enforcement"),
    "HealthServiceOrganisation": Text("Servicio de salud", "Health service"),
    "CentralGovernmentOrganisation": Text("Gobierno central", "Central government"),
    "LocalGovernmentOrganisation": Text("Gobierno local", "Local government"),
    "ImmigrationService": Text("Servicio de migraciones", "Immigration service"),
    "LegalService": Text("Servicio jurídico o judicial", "Legal service"),
    "InternationalOrganisation": Text("Organismo internacional", "International organisation"),
}
LEVELS: dict[str, Text] = {
    "national": Text("Nacional", "National"),
    "regional": Text("Regional", "Regional"),
    "local": Text("Local", "Local"),
}
NATIONAL = "national"
EACH = "each"  # the region column of the institutions file: one office per region

# Everyday names of the regions whose official names are long.
SHORT_REGION_NAMES = {
    "CL-RM": "Metropolitana",
    "CL-LI": "O'Higgins",
    "CL-AI": "Aysén",
    "CL-MA": "Magallanes",
}


@dataclass(frozen=True)
class InstitutionRow:
    """One row of the institutions file, as written (services are labels or codes)."""

    short_name: str
    name: str
    org_type: str
    level: str
    region: str
    services: tuple[str, ...]


@dataclass(frozen=True)
class Office:
    """One node an institution row stands for; services are still the file's (see `service_code`)."""

    code: str
    short_name: str
    name: str
    org_type: str
    level: str
    home_region: str | None
    regions: tuple[str, ...]  # served; empty for a national node (it serves every region)
    services: tuple[str, ...]


class UnknownRegions(ValueError):
    def __init__(self, codes: Sequence[str]):
        super().__init__(", ".join(codes))
        self.codes = tuple(codes)


def service_code(label: str) -> str:
    """'asesoría jurídica' -> 'asesoria_juridica': the catalogue code used by forms."""
    plain = unicodedata.normalize("NFKD", label.strip()).encode("ascii", "ignore").decode()
    return "_".join(plain.lower().replace("-", " ").split())


def split_list(cell: str) -> list[str]:
    """A `;`-separated cell: its non-empty items, trimmed."""
    return [item.strip() for item in cell.split(";") if item.strip()]


def read_regions(path: Path) -> list[Region]:
    with path.open(encoding="utf-8") as handle:
        return [Region(code=row["code"], roman=row["roman"], name=row["name"], position=i)
                for i, row in enumerate(csv.DictReader(handle))]


def load_regions(session: Session, path: Path) -> list[Region]:
    """Add the regions of a `code,roman,name` file (north to south); flushed."""
    regions = read_regions(path)
    session.add_all(regions)
    session.flush()
    return regions


def short_region_name(region: Region) -> str:
    return SHORT_REGION_NAMES.get(region.code, region.name)


def expand(row: InstitutionRow, regions: Sequence[Region]) -> list[Office]:
    """The offices of one institution row; raise UnknownRegions if it names a region that does not exist."""
    by_code = {r.code: r for r in regions}
    services = tuple(service_code(s) for s in row.services if s.strip())
    if row.level == NATIONAL or (row.region in by_code and row.level != "regional"):
        if row.region and row.region not in by_code:
            raise UnknownRegions([row.region])
        home = row.region or None
        served = () if row.level == NATIONAL or home is None else (home,)
        return [Office(row.short_name, row.short_name, row.name, row.org_type, row.level, home, served, services)]
    codes = [r.code for r in regions] if row.region == EACH else split_list(row.region)
    unknown = [code for code in codes if code not in by_code]
    if unknown:
        raise UnknownRegions(unknown)
    return [
        Office(code=f"{row.short_name}-{code}", short_name=f"{row.short_name} {short_region_name(by_code[code])}",
               name=f"{row.name} — Región de {by_code[code].name}", org_type=row.org_type, level=row.level,
               home_region=code, regions=(code,), services=services)
        for code in codes
    ]


def assign(session: Session, function: str, node: Node, region_code: str | None = None) -> Assignment:
    assignment = Assignment(function=function, region_code=region_code, node_id=node.id)
    session.add(assignment)
    return assignment
