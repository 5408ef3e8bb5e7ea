"""Choice lists that come from the running system: countries, regions, nodes.

Used by the web forms (to offer options) and by the services (to refuse a tampered value), so a
value is valid in exactly one place.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

import pycountry
from babel import Locale
from sqlalchemy import select
from sqlalchemy.orm import Session

from .network.models import Node, NodeRegion, Region
from .workflow import Text
from .workflow.forms import FieldDef

NODE_GROUPS = (Text("En la región del caso", "In the case's region"), Text("Nacionales", "National"),
               Text("Otras regiones", "Other regions"))
NO_NATIONALITY = "ZZ"  # CLDR's "unknown region": sin nacionalidad identificada
_NO_NATIONALITY_LABEL = {"es": "Sin nacionalidad identificada", "en": "No identified nationality"}


def _sort_key(label: str) -> str:
    return unicodedata.normalize("NFKD", label).encode("ascii", "ignore").decode().casefold()


@lru_cache(maxsize=4)
def countries(language: str) -> tuple[tuple[str, str], ...]:
    """ISO 3166-1 countries (pycountry) with names in `language` (CLDR via Babel), sorted."""
    names = Locale.parse("es_CL" if language == "es" else language).territories
    listed = sorted(
        ((c.alpha_2, names.get(c.alpha_2, c.name)) for c in pycountry.countries),
        key=lambda item: _sort_key(item[1]),
    )
    return ((NO_NATIONALITY, _NO_NATIONALITY_LABEL.get(language, _NO_NATIONALITY_LABEL["es"])), *listed)


@lru_cache(maxsize=4)
def country_names(language: str) -> dict[str, str]:
    return dict(countries(language))


@lru_cache(maxsize=1)
def _country_codes() -> frozenset[str]:
    return frozenset(code for code, _ in countries("es"))


class ChoiceProvider:
    """Options and validity of choice fields whose list comes from data (`source:` in a form)."""

    def __init__(self, session: Session, language: str = "es"):
        self.session = session
        self.language = language
        self._nodes: list[Node] | None = None

    def options(self, fdef: FieldDef, region: str | None = None) -> list[tuple[str, str, str | None]]:
        """(value, label, group) triples; nodes are grouped nearest first."""
        if fdef.source is None:
            return [(c.value, c.label.get(self.language), None) for c in fdef.choices]
        if fdef.source == "country":
            return [(code, name, None) for code, name in countries(self.language)]
        if fdef.source == "region":
            return [(r.code, r.name, None) for r in self._regions()]
        groups = [g.get(self.language) for g in NODE_GROUPS] if region else [None, None, None]
        return [(str(node.id), node.short_name, groups[rank]) for rank, node in self._nodes_near(region)]

    def is_valid(self, fdef: FieldDef, value: str) -> bool:
        if fdef.source is None:
            return any(c.value == value for c in fdef.choices)
        if fdef.source == "country":
            return value in _country_codes()
        if fdef.source == "region":
            return self.session.get(Region, value) is not None
        return value.isdigit() and any(str(node.id) == value for node in self._active_nodes())

    def label(self, fdef: FieldDef, value: str) -> str:
        if fdef.source is None:
            label = fdef.choice_label(value)
            return label.get(self.language) if label else value
        if fdef.source == "country":
            return country_names(self.language).get(value, value)
        if fdef.source == "region":
            region = self.session.get(Region, value)
            return region.name if region else value
        node = self.session.get(Node, int(value)) if value.isdigit() else None
        return node.short_name if node else value

    def _regions(self) -> list[Region]:
        return list(self.session.scalars(select(Region).order_by(Region.position)))

    def _active_nodes(self) -> list[Node]:
        if self._nodes is None:
            self._nodes = list(self.session.scalars(select(Node).where(Node.active).order_by(Node.short_name)))
        return self._nodes

    def _nodes_near(self, region: str | None) -> list[tuple[int, Node]]:
        """Nodes serving `region` first, then national nodes, then the rest, with that rank."""
        nodes = self._active_nodes()
        if region is None:
            return [(0, node) for node in nodes]
        serving = set(self.session.scalars(select(NodeRegion.node_id).where(NodeRegion.region_code == region)))

        def rank(node: Node) -> int:
            if node.home_region == region or node.id in serving:
                return 0
            return 1 if node.level == "national" else 2

        return sorted(((rank(node), node) for node in nodes), key=lambda pair: (pair[0], _sort_key(pair[1].short_name)))
