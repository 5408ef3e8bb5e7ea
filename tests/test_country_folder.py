"""A country is one folder (issue 19, docs/countries.md): regions with their neighbours, the node directory,
the calendar's time zone, the child flag, the password words and the demo script all come from
`workflows/<country>/`; an application booted with another folder runs that country."""

from __future__ import annotations

import dataclasses
import shutil
import textwrap
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from referral import create_app
from referral.auth import policy
from referral.auth.models import User
from referral.config import StartupError
from referral.context import Context
from referral.country import COORDINATION_BODY, child_flags, is_child, load_country, subject_clock
from referral.demo.country import load_script
from referral.demo.loader import load_demo
from referral.migrate import upgrade
from referral.network.directory import BadRegions, read_regions
from referral.network.models import Assignment, Node, Region
from referral.referrals.finder import NEIGHBOUR, SAME_REGION, candidates, neighbours
from referral.workflow import DefinitionError, load_definition
from referral.extensions import database

from .conftest import Clock, _settings
from .units import unit_of_work

ROOT = Path(__file__).resolve().parents[1]
CHILE = ROOT / "workflows" / "chile"


# -- regions.csv ---------------------------------------------------------------------------------------------


def _regions(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "regions.csv"
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def test_chiles_regions_file_reads_in_order_with_symmetric_neighbours_and_short_names() -> None:
    regions = read_regions(CHILE / "regions.csv")
    assert len(regions) == 16 and [r.position for r in regions] == list(range(16))
    by_code = {r.code: r for r in regions}
    assert all(r.code in by_code[n].neighbours for r in regions for n in r.neighbours)
    assert by_code["CL-RM"].neighbours == ["CL-VS", "CL-LI"] and by_code["CL-RM"].short_name == "Metropolitana"
    assert by_code["CL-TA"].short_name is None and by_code["CL-TA"].long_name == "Región de Tarapacá"


@pytest.mark.parametrize(("text", "why"), [
    ("code,name,short_name\nXX-A,Alfa,\n", "missing columns neighbours"),
    ("code,name,short_name,neighbours\nXX-A,Alfa,,XX-B\nXX-B,Beta,,\n", "does not list XX-A"),
    ("code,name,short_name,neighbours\nXX-A,Alfa,,XX-Z\n", "cannot border XX-Z"),
    ("code,name,short_name,neighbours\nXX-A,Alfa,,XX-A\n", "cannot border XX-A"),
    ("code,name,short_name,neighbours\nXX-A,Alfa,,\nXX-A,Otra,,\n", "repeats"),
    ("code,name,short_name,neighbours\n,Alfa,,\n", "needs a code"),
])
def test_a_regions_file_with_bad_neighbours_or_codes_is_refused(tmp_path: Path, text: str, why: str) -> None:
    with pytest.raises(BadRegions, match=why):
        read_regions(_regions(tmp_path, text))


def test_a_minimal_regions_file_needs_no_roman_numeral_nor_long_name(tmp_path: Path) -> None:
    a, b = read_regions(_regions(tmp_path, """
        code,name,short_name,neighbours
        XX-A,Departamento de Alfa,Alfa,XX-B
        XX-B,Beta,,XX-A
    """))
    assert (a.roman, a.long_name, a.short_name, a.neighbours) == ("", None, "Alfa", ["XX-B"])
    assert (b.short_name, b.neighbours) == (None, ["XX-A"])


def test_the_finder_offers_the_nodes_of_the_regions_the_file_says_border_the_case(ctx: Context) -> None:
    """Neighbours are the stored land borders, not the display order: Magallanes' only one is Aysén until the
    database says otherwise."""
    assert neighbours(ctx, "CL-MA") == {"CL-AI"} and neighbours(ctx, "CL-XX") == set()
    cavd_rm = ctx.session.scalar(select(Node).where(Node.code == "CAVD-CL-RM"))

    def distance() -> int:
        return next(c.distance for c in candidates(ctx, None, "CL-MA", limit=1000) if c.node.id == cavd_rm.id)

    assert distance() not in (SAME_REGION, NEIGHBOUR)
    for code, other in (("CL-MA", "CL-RM"), ("CL-RM", "CL-MA")):
        region = ctx.session.get(Region, code)
        region.neighbours = [*region.neighbours, other]
    ctx.session.flush()
    assert distance() == NEIGHBOUR


# -- the calendar, the child flag, the password words ----------------------------------------------------------


def _country(tmp_path: Path, name: str = "otro", *, calendar: str | None = None) -> Path:
    """A copy of Chile's folder under another name, its workflow's calendar line replaced by `calendar`."""
    folder = tmp_path / "workflows" / name
    shutil.copytree(CHILE, folder)
    if calendar is not None:
        path = next(path for path in [folder / "workflow.yaml", *sorted((folder / "workflow").glob("*.yaml"))]
                    if path.is_file() and "\ncalendar:" in "\n" + path.read_text(encoding="utf-8"))
        text = path.read_text(encoding="utf-8")
        line = next(line for line in text.splitlines() if line.startswith("calendar:"))
        path.write_text(text.replace(line, calendar), encoding="utf-8")
    return folder


def test_the_time_zone_is_the_workflows_calendar_and_a_definition_without_one_is_refused(tmp_path: Path) -> None:
    assert load_definition(CHILE).calendar.time_zone == "America/Santiago"
    other = _country(tmp_path, calendar="calendar: {country: PE, time_zone: America/Lima}")
    calendar = load_definition(other).calendar
    assert (calendar.country, calendar.subdivision, calendar.time_zone) == ("PE", None, "America/Lima")
    for bad, why in (("calendar: {country: CL}", "missing 'time_zone'"),
                     ("calendar: {country: CL, time_zone: Santiago}", "unknown IANA time zone")):
        with pytest.raises(DefinitionError, match=why):
            load_definition(_country(tmp_path, f"bad{len(why)}", calendar=bad))


def test_an_app_runs_in_its_workflows_time_zone(tmp_path: Path) -> None:
    _country(tmp_path, calendar="calendar: {country: CL, time_zone: America/Punta_Arenas}")
    app = create_app({**_settings(tmp_path, f"sqlite:///{tmp_path / 'x.db'}", Clock()),
                      "WORKFLOWS_DIR": str(tmp_path / "workflows"), "WORKFLOW": "otro"})
    assert app.extensions["referral.timezone"].key == "America/Punta_Arenas"
    assert app.config["BABEL_DEFAULT_TIMEZONE"] == "America/Punta_Arenas"
    context = Context(session=None, protocol=app.extensions["referral.protocol"],  # type: ignore[arg-type]
                      vault=app.extensions["referral.vault"])
    assert context.timezone.key == "America/Punta_Arenas"  # a unit of work the caller builds by hand too
    _country(tmp_path, "roto", calendar="calendar: {country: CL, time_zone: Marte/Olimpo}")
    with pytest.raises(StartupError, match="time_zone"):
        create_app({**_settings(tmp_path, f"sqlite:///{tmp_path / 'y.db'}", Clock()),
                    "WORKFLOWS_DIR": str(tmp_path / "workflows"), "WORKFLOW": "roto"})


def test_a_child_case_is_the_one_whose_flag_says_child_whatever_its_key() -> None:
    definition = load_definition(CHILE)
    assert child_flags(definition) == ("nna",)
    assert is_child(definition, {"nna": True, "urgente": False})
    assert not is_child(definition, {"nna": False, "urgente": True}) and not is_child(definition, None)
    renamed = dataclasses.replace(definition, flags={"menor": definition.flags["nna"],
                                                     "urgente": definition.flags["urgente"]})
    assert is_child(renamed, {"menor": True}) and not is_child(renamed, {"nna": True})
    unmarked = dataclasses.replace(definition, flags={"nna": dataclasses.replace(definition.flags["nna"],
                                                                                 child=False)})
    assert not is_child(unmarked, {"nna": True})


def test_the_country_file_names_the_coordination_body_and_the_words_a_local_password_is_made_of(
        tmp_path: Path) -> None:
    chile = load_country(CHILE)
    assert chile.coordination_body.es == "Mesa Intersectorial sobre Trata de Personas"
    assert "colocolo" in chile.password_words
    assert load_country(tmp_path).coordination_body == COORDINATION_BODY  # a folder without the file
    assert load_country(tmp_path).password_words == ()
    assert policy.problems("temucoantofagasta") == []
    assert policy.problems("temucoantofagasta", country_words=chile.password_words) == [policy.Problem.COMMON]
    (tmp_path / "country.yaml").write_text("password_words: colocolo\n", encoding="utf-8")
    with pytest.raises(DefinitionError, match="password_words"):
        load_country(tmp_path)


def test_a_clock_of_a_subject_that_is_not_a_case_is_found_by_its_kind() -> None:
    definition = load_definition(CHILE)
    assert subject_clock(definition, "acuerdo_mesa") == "acuerdo_mesa_intersectorial"
    assert subject_clock(definition, "meta_plan") == "meta_plan_accion"
    with pytest.raises(KeyError):
        subject_clock(definition, "otro")


# -- another country, booted from its folder -------------------------------------------------------------------

DEMO = '''
from referral.demo.country import DemoUser
from referral.network.directory import assign

DOMAIN = "otro.example"


def directory(session, network):
    for region in network.regions:
        assign(session, "punto_focal", network.node(f"FOCAL-{region.code}"), region.code)
    network.node("REFUGIO").capacity_total = 4


def users(network):
    for region in network.regions:
        suffix = region.code.lower()
        yield DemoUser(f"coordinacion.{suffix}", f"FOCAL-{region.code}", "coordinador", f"Coordinación {region.name}")
    yield DemoUser("gestion.refugio", "REFUGIO", "gestor", "Gestión del refugio", manages_node=True)


class Cases:
    def __init__(self, ctx, network, seed):
        self.real_now = ctx.now()

    def create(self, index):
        raise AssertionError("no cases asked for")
'''
REGIONS = """code,name,short_name,neighbours,long_name
XX-N,Norte del País,Norte,XX-S,Departamento del Norte
XX-S,Sur,,XX-N,
"""
NODES = """short_name,name,org_type,level,region,services,notes
FOCAL,Oficina Focal,CentralGovernmentOrganisation,regional,each,coordinación,One per region
REFUGIO,Casa Refugio,NGO,local,XX-S,alojamiento,
"""


def test_an_app_booted_with_another_country_folder_loads_that_countrys_network(tmp_path: Path) -> None:
    """The generic demo machinery reads regions, nodes and the script of the folder the app runs; nothing of
    Chile's remains (no Chilean region, node or account)."""
    folder = _country(tmp_path, calendar="calendar: {country: PE, time_zone: America/Lima}")
    for name in ("demo.py", "nodes.csv", "corrections.csv", "regions.csv", "calibration.json", "country.yaml"):
        (folder / name).unlink()
    (folder / "demo.py").write_text(DEMO, encoding="utf-8")
    (folder / "regions.csv").write_text(REGIONS, encoding="utf-8")
    (folder / "nodes.csv").write_text(NODES, encoding="utf-8")
    app = create_app({**_settings(tmp_path, f"sqlite:///{tmp_path / 'otro.db'}", Clock()),
                      "WORKFLOWS_DIR": str(tmp_path / "workflows"), "WORKFLOW": "otro"})
    upgrade(database.engine(app))
    summary = load_demo(app, cases=0, seed=1, progress=lambda _line: None)
    assert "2 regions, 3 nodes, 3 users" in summary and "@otro.example" in summary
    with unit_of_work(app) as ctx:
        assert ctx.timezone.key == "America/Lima"
        regions = {r.code: r for r in ctx.session.scalars(select(Region))}
        assert regions["XX-N"].neighbours == ["XX-S"] and regions["XX-S"].neighbours == ["XX-N"]
        nodes = {n.code: n for n in ctx.session.scalars(select(Node))}
        assert set(nodes) == {"FOCAL-XX-N", "FOCAL-XX-S", "REFUGIO"}
        assert nodes["FOCAL-XX-N"].short_name == "FOCAL Norte"
        assert nodes["FOCAL-XX-N"].name == "Oficina Focal — Departamento del Norte"
        assert nodes["FOCAL-XX-S"].name == "Oficina Focal — Sur"  # no long name: the name
        assert nodes["REFUGIO"].contact_email == "contacto.refugio@otro.example" and nodes["REFUGIO"].capacity_total == 4
        focal = {(a.function, a.region_code) for a in ctx.session.scalars(select(Assignment))}
        assert focal == {("punto_focal", "XX-N"), ("punto_focal", "XX-S")}
        emails = set(ctx.session.scalars(select(User.email)))
        assert emails == {"coordinacion.xx-n@otro.example", "coordinacion.xx-s@otro.example",
                          "gestion.refugio@otro.example"}
        assert neighbours(ctx, "XX-N") == {"XX-S"}
        assert ctx.protocol.country.coordination_body == COORDINATION_BODY  # no country.yaml: the neutral name


def test_a_country_without_a_demo_script_or_with_an_incomplete_one_is_told_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(LookupError, match="no demo script"):
        load_script(tmp_path)
    (tmp_path / "demo.py").write_text('DOMAIN = "x.example"\n', encoding="utf-8")
    with pytest.raises(LookupError, match="directory, users, Cases"):
        load_script(tmp_path)


def test_chiles_demo_script_offers_the_whole_interface() -> None:
    script: Any = load_script(CHILE)
    assert script.DOMAIN == "demo.cl" and callable(script.extras) and script.SCALE is not None
    assert abs(sum(script.SCALE.stage_shares.values()) - 1) < 1e-9
    assert load_script(CHILE) is script  # imported once
