"""Loading the node directory: regions and institutions from CSV, one office per region served.

The CSV lists institutions; a row whose region is `each` becomes one node per region, a row with
a list of regions (`CL-RM;CL-AP`) one node per listed region, and a national row one node.
"""

from __future__ import annotations

import csv
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from .models import Assignment, Node, NodeRegion, Region

# Everyday names of the regions whose official names are long.
SHORT_REGION_NAMES = {
    "CL-RM": "Metropolitana",
    "CL-LI": "O'Higgins",
    "CL-AI": "Aysén",
    "CL-MA": "Magallanes",
}


@dataclass(frozen=True)
class NodeRow:
    short_name: str
    name: str
    org_type: str
    level: str
    region: str
    services: tuple[str, ...]


def service_code(label: str) -> str:
    """'asesoría jurídica' -> 'asesoria_juridica': the catalogue code used by forms."""
    plain = unicodedata.normalize("NFKD", label.strip()).encode("ascii", "ignore").decode()
    return "_".join(plain.lower().replace("-", " ").split())


def read_regions(path: Path) -> list[Region]:
    with path.open(encoding="utf-8") as handle:
        return [Region(code=row["code"], roman=row["roman"], name=row["name"], position=i)
                for i, row in enumerate(csv.DictReader(handle))]


def read_nodes(path: Path) -> list[NodeRow]:
    with path.open(encoding="utf-8") as handle:
        return [
            NodeRow(row["short_name"], row["name"], row["org_type"], row["level"], row["region"],
                    tuple(service_code(s) for s in row["services"].split(";") if s.strip()))
            for row in csv.DictReader(handle)
        ]


def short_region_name(region: Region) -> str:
    return SHORT_REGION_NAMES.get(region.code, region.name)


def expand(rows: Iterable[NodeRow], regions: list[Region]) -> list[Node]:
    """One Node per office: per region for `each` or a region list, one for a national row."""
    by_code = {r.code: r for r in regions}
    nodes = []
    for row in rows:
        if row.level == "national" or (row.region in by_code and row.level != "regional" and row.region != "each"):
            home = row.region if row.region in by_code else None
            node = Node(code=row.short_name, short_name=row.short_name, name=row.name, org_type=row.org_type,
                        level=row.level, home_region=home, services=list(row.services), active=True)
            if row.level != "national" and home:
                node.regions_served = [NodeRegion(region_code=home)]
            nodes.append(node)
            continue
        codes = [r.code for r in regions] if row.region == "each" else row.region.split(";")
        for code in codes:
            region = by_code[code]
            nodes.append(Node(
                code=f"{row.short_name}-{code}", short_name=f"{row.short_name} {short_region_name(region)}",
                name=f"{row.name} — Región de {region.name}", org_type=row.org_type, level=row.level,
                home_region=code, services=list(row.services), active=True,
                regions_served=[NodeRegion(region_code=code)],
            ))
    return nodes


def load_directory(session: Session, regions_csv: Path, nodes_csv: Path) -> dict[str, Node]:
    """Add the regions and nodes of the two CSV files; return nodes by code."""
    regions = read_regions(regions_csv)
    session.add_all(regions)
    session.flush()
    nodes = expand(read_nodes(nodes_csv), regions)
    session.add_all(nodes)
    session.flush()
    return {node.code: node for node in nodes}


def assign(session: Session, function: str, node: Node, region_code: str | None = None) -> Assignment:
    assignment = Assignment(function=function, region_code=region_code, node_id=node.id)
    session.add(assignment)
    return assignment
