"""The node directory's vocabulary, the regions, and the institutions file: one office per region served.

The shared institutions file (`short_name,name,org_type,level,region,services,notes`) lists
institutions; `expand` turns one of its rows into offices (nodes): a row whose region is `each`
becomes one office per region, a list of regions (`XX-A;XX-B`) one per listed region, and a
national row (or a local one in a single region) one office. `csvio.py` imports those offices with
the same checks and upsert as the directory's own CSV, so the demo and an import share one path.

The regions come from the country folder's `regions.csv` (`code,name,short_name,neighbours`, optional
`long_name` and `roman`; docs/countries.md): row order is the display order, `neighbours` the land borders.
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

REGION_COLUMNS = ("code", "name", "short_name", "neighbours")


class BadRegions(ValueError):
    """A regions file that cannot be loaded; the message says which line and why."""


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
    """The regions of a `regions.csv`, in its order; raise BadRegions if a column is missing, a code repeats,
    or the neighbours name an unknown region, the region itself, or are not symmetric."""
    with path.open(encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in REGION_COLUMNS if c not in (reader.fieldnames or ())]
        if missing:
            raise BadRegions(f"{path.name}: missing columns {', '.join(missing)} (expected {','.join(REGION_COLUMNS)})")
        rows = list(reader)
    regions, seen = [], set()
    for i, row in enumerate(rows):
        code, name = (row["code"] or "").strip(), (row["name"] or "").strip()
        if not code or not name or len(code) > 8:
            raise BadRegions(f"{path.name} line {i + 2}: a region needs a code (up to 8 characters) and a name")
        if code in seen:
            raise BadRegions(f"{path.name} line {i + 2}: the code {code} repeats")
        seen.add(code)
        regions.append(Region(code=code, name=name, short_name=(row["short_name"] or "").strip() or None,
                              long_name=(row.get("long_name") or "").strip() or None,
                              roman=(row.get("roman") or "").strip(), position=i,
                              neighbours=split_list(row["neighbours"] or "")))
    for line, region in enumerate(regions, start=2):
        for other in region.neighbours:
            if other not in seen or other == region.code:
                raise BadRegions(f"{path.name} line {line}: {region.code} cannot border {other}")
            if region.code not in next(r.neighbours for r in regions if r.code == other):
                raise BadRegions(f"{path.name} line {line}: {region.code} borders {other}, but {other} does not "
                                 f"list {region.code} (neighbours are symmetric)")
    return regions


def load_regions(session: Session, path: Path) -> list[Region]:
    """Add the regions of a country folder's `regions.csv` (display order); flushed."""
    regions = read_regions(path)
    session.add_all(regions)
    session.flush()
    return regions


def short_region_name(region: Region) -> str:
    return region.short_name or region.name


def long_region_name(region: Region) -> str:
    return region.long_name or region.name


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
               name=f"{row.name} — {long_region_name(by_code[code])}", org_type=row.org_type, level=row.level,
               home_region=code, regions=(code,), services=services)
        for code in codes
    ]


def assign(session: Session, function: str, node: Node, region_code: str | None = None) -> Assignment:
    assignment = Assignment(function=function, region_code=region_code, node_id=node.id)
    session.add(assignment)
    return assignment
