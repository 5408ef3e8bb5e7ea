"""Finding the right node: who offers a service, nearest first, with free capacity.

Nearest means: nodes serving the case's region, then nodes serving a neighbouring region, then
national nodes (which serve every region), then the rest. Regions are neighbours when they share a land
border, as the country folder's `regions.csv` says (`regions.neighbours`). Within a group, nodes with free places come first, then nodes that do
not count places, then full ones.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ..context import Context
from ..network.models import Node, Region

SAME_REGION, NEIGHBOUR, NATIONAL, ELSEWHERE = 0, 1, 2, 3


@dataclass(frozen=True)
class Candidate:
    node: Node
    distance: int  # SAME_REGION, NEIGHBOUR, NATIONAL, ELSEWHERE

    @property
    def capacity_known(self) -> bool:
        return self.node.capacity_total is not None

    @property
    def has_room(self) -> bool:
        return not self.capacity_known or (self.node.capacity_free or 0) > 0


def neighbours(ctx: Context, region_code: str) -> set[str]:
    region = ctx.session.get(Region, region_code)
    return set(region.neighbours or ()) if region is not None else set()


def candidates(ctx: Context, service: str | None, region_code: str, *, exclude: set[int] = frozenset(),
               limit: int = 40) -> list[Candidate]:
    """Active nodes offering `service` (any node for None), nearest to `region_code` first."""
    near = neighbours(ctx, region_code)
    found = []
    for node in ctx.session.scalars(select(Node).where(Node.active).options(selectinload(Node.regions_served))):
        if node.id in exclude or (service is not None and service not in (node.services or [])):
            continue
        served = tuple(r.region_code for r in node.regions_served)
        if node.level == "national" and not served:
            distance = NATIONAL
        elif region_code in served:
            distance = SAME_REGION
        elif near & set(served):
            distance = NEIGHBOUR
        else:
            distance = ELSEWHERE
        found.append(Candidate(node, distance))
    found.sort(key=lambda c: (c.distance, 0 if c.capacity_known and c.has_room else 1 if c.has_room else 2,
                              -(c.node.capacity_free or 0), c.node.short_name))
    return found[:limit]
