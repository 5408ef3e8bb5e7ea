"""The auditors' pages and exports with real cases: nothing personal, no reference, no staff e-mail;
small counts suppressed; per-scope stable pseudonyms; timelines by month only; exports audited.

The world (module-scoped, all Metropolitana, filed by salud.rm on 2026-11-18): six women (Ficha of
«Xiomara Quispe», sexual exploitation) activated with SERNAMEG as lead node, one man (laboral)
activated, two men (laboral, «Wilmer Condori») activated, one case only detected. Two extra auditors: auditor.b (same node MITP-ST as «auditor») and
auditor.otro (another node, PAV).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from openpyxl import load_workbook
from sqlalchemy import func, select

from referral import create_app
from referral.audit.models import AuditEvent
from referral.audit.service import pseudonym, verify_log
from referral.auth.models import User
from referral.auth.passwords import hash_password
from referral.demo.network import DEMO_PASSWORD
from referral.extensions import database
from referral.network.directory import ORG_TYPES
from referral.network.models import Node
from referral.stats.pseudonyms import scoped

from ..browser import Browser
from ..conftest import Clock, _settings
from ..steps import activate, case_id, file_case, node_id
from ..units import unit_of_work

GIVEN, SURNAMES = "Xiomara", "Quispe Mamani"
DOCUMENT = "PE55210987"
PHONE = "+56 9 8765 4321"
ADDRESS = "Pasaje Los Aromos 1234, depto 56"
BORN = dt.date(1990, 3, 17)
PERSON = {"nombres": GIVEN, "apellidos": SURNAMES, "numero_documento": DOCUMENT, "telefono_seguro": PHONE,
          "fecha_nacimiento": BORN, "comuna": "Estación Central", "relato": f"Vive en {ADDRESS}, Santiago.",
          "nacionalidad": "PE", "sexo": "F", "tipo_trata": "sexual"}
MAN = {"nombres": "Wilmer", "apellidos": "Condori Ticona", "numero_documento": "BO88120345",
       "telefono_seguro": "+56 9 7111 2233", "fecha_nacimiento": dt.date(1985, 7, 9), "sexo": "M",
       "tipo_trata": "laboral", "nacionalidad": "BO", "relato": "Calle Las Acacias 77, Maipú."}
SECRETS = (GIVEN, "Quispe", SURNAMES, DOCUMENT, PHONE, "8765 4321", "87654321", ADDRESS, "Los Aromos",
           "1990-03-17", "17-03-1990", "17/03/1990", "17.03.1990", "1990/03/17",
           "Wilmer", "Condori", "BO88120345", "+56 9 7111 2233", "Las Acacias", "1985-07-09", "09-07-1985")
STAFF = ("@demo.cl", "salud.rm", "coordinador.rm", "gestor.sernameg")
REFERENCE = re.compile(r"TP-[0-9A-Z]{4}-[0-9A-Z]{4}")
FULL_DATE = re.compile(r"\b\d{1,2}[-/.]\d{1,2}[-/.]\d{4}\b|\b\d{4}-\d{2}-\d{2}\b")

PAGES = ("/auditoria/estadisticas", "/auditoria/tablero", "/auditoria/casos")
EXPORTS = ("/auditoria/estadisticas?formato=csv", "/auditoria/estadisticas?formato=xlsx",
           "/auditoria/casos?formato=csv", "/auditoria/casos?formato=xlsx")


@dataclass
class World:
    app: Flask
    women: list[str]
    men: list[str]
    waiting: str
    browsers: dict[str, Browser]

    def browser(self, name: str = "auditor") -> Browser:
        if name not in self.browsers:
            browser = Browser(self.app, DEMO_PASSWORD)
            assert browser.login(name).status_code == 302, name
            self.browsers[name] = browser
        return self.browsers[name]

    def name_for(self, reference: str, node: str = "MITP-ST") -> str:
        with unit_of_work(self.app) as ctx:
            return scoped(ctx, node_id(self.app, node), pseudonym(ctx, case_id(self.app, reference)))

    def log_name(self, reference: str) -> str:
        with unit_of_work(self.app) as ctx:
            return pseudonym(ctx, case_id(self.app, reference))


def add_auditor(app: Flask, name: str, node: str) -> None:
    with unit_of_work(app) as ctx:
        ctx.session.add(User(email=f"{name}@demo.cl", display_name=f"Auditoría {name}", role="auditor",
                             password_hash=hash_password(DEMO_PASSWORD, "test"), node_id=node_id(app, node),
                             active=True))
        ctx.session.commit()


@pytest.fixture(scope="module")
def world(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("stats_views")
    shutil.copy(sqlite_template, folder / "world.db")
    clock = Clock()
    app = create_app(_settings(folder / "instance", f"sqlite:///{folder / 'world.db'}", clock))
    women = []
    for _ in range(6):
        reference = file_case(app, **PERSON)
        clock.advance(hours=6)
        activate(app, reference)
        women.append(reference)
    men = []
    for _ in range(2):
        man = file_case(app, **MAN)
        clock.advance(days=1)
        activate(app, man)
        men.append(man)
    waiting = file_case(app, **PERSON)
    add_auditor(app, "auditor.b", "MITP-ST")
    add_auditor(app, "auditor.otro", "PAV")
    yield World(app, women, men, waiting, {})
    database.engine(app).dispose()


def xlsx_text(body: bytes) -> str:
    book = load_workbook(io.BytesIO(body), read_only=True)
    return "\n".join(str(value) for sheet in book.worksheets for row in sheet.iter_rows(values_only=True)
                     for value in row if value is not None)


def body_text(response: Any) -> str:
    if response.mimetype.endswith("spreadsheetml.sheet"):
        return xlsx_text(response.data)
    if response.mimetype == "text/csv":
        return response.data.decode("utf-8-sig")
    return response.text


def assert_anonymous(world: World, text: str, where: str) -> None:
    for secret in SECRETS:
        assert secret.lower() not in text.lower(), f"{where} shows {secret!r}"
    assert REFERENCE.findall(text) == [], f"{where} shows a case reference"
    for reference in [*world.women, *world.men, world.waiting]:
        assert reference not in text
    for staff in STAFF:
        assert staff not in text, f"{where} shows {staff!r}"


# -- nothing personal ------------------------------------------------------------------------------


def test_no_page_nor_export_shows_personal_data_a_reference_or_staff(world: World) -> None:
    auditor = world.browser()
    urls = [*PAGES, *EXPORTS, "/auditoria/casos?pagina=2", "/auditoria/tablero?region=CL-RM",
            f"/auditoria/casos/{world.name_for(world.women[0])}", f"/auditoria/casos/{world.name_for(world.men[0])}",
            f"/auditoria/casos/{world.name_for(world.waiting)}"]
    for url in urls:
        response = auditor.get(url)
        assert response.status_code == 200, url
        text = body_text(response)
        assert len(text) > 200, url  # something was read (not vacuous)
        assert_anonymous(world, text, url)


def test_the_exports_have_the_expected_content(world: World) -> None:
    auditor = world.browser()
    stats = auditor.get("/auditoria/estadisticas?formato=csv").data.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(stats)))
    assert ["30–45", "8", "8"] in rows  # eight persons entered in 2026, all 30 to 45: shown
    assert ["Femenino", "<5", "<5"] in rows and ["Masculino", "<5", "<5"] in rows  # 2 men, so 6 women too
    timelines = auditor.get("/auditoria/casos?formato=csv").data.decode("utf-8-sig")
    lines = list(csv.DictReader(io.StringIO(timelines)))
    names = {line["case_pseudonym"] for line in lines}
    assert names == {world.name_for(r) for r in [*world.women, *world.men, world.waiting]}
    assert {line["event_code"] for line in lines} >= {"transition.tomar_caso", "transition.activar"}
    assert all(re.fullmatch(r"\d{4}-\d{2}", line["event_month"]) for line in lines)
    assert all(line["cas_ReasonForCaseClosure"] == "" for line in lines)
    xlsx = xlsx_text(auditor.get("/auditoria/casos?formato=xlsx").data)
    assert world.name_for(world.women[0]) in xlsx
    assert world.log_name(world.women[0]) not in timelines + xlsx


# -- suppression -----------------------------------------------------------------------------------


def persons_by_sex(text: str) -> str:
    start = text.index("Personas ingresadas por sexo")
    return text[start:text.index("</table>", start)]


def row_cells(table_html: str, label: str) -> list[str]:
    match = re.search(rf'<th scope="row">{re.escape(label)}</th>(.*?)</tr>', table_html, re.S)
    assert match, label
    return re.findall(r"<td>(?:<strong>)?(.*?)(?:</strong>)?</td>", match.group(1))


def test_small_cells_are_suppressed_on_the_page_and_shown_with_a_lower_threshold(world: World) -> None:
    auditor = world.browser()
    assert world.app.config["STATS_MIN_CELL"] == 5
    table = persons_by_sex(auditor.get("/auditoria/estadisticas").text)
    # two men: fewer than 5, hidden; the six women too, or 8 - 6 would give the men away
    assert row_cells(table, "Masculino") == ["&lt;5", "&lt;5"]
    assert row_cells(table, "Femenino") == ["&lt;5", "&lt;5"]
    assert row_cells(table, "Otro") == ["0", "0"]
    assert ">2<" not in table and ">6<" not in table
    world.app.config["STATS_MIN_CELL"] = 2
    try:
        table = persons_by_sex(auditor.get("/auditoria/estadisticas").text)
        assert row_cells(table, "Masculino") == ["2", "2"]
        assert row_cells(table, "Femenino") == ["6", "6"]
        csv_rows = list(csv.reader(io.StringIO(
            auditor.get("/auditoria/estadisticas?formato=csv").data.decode("utf-8-sig"))))
        assert ["Masculino", "2", "2"] in csv_rows
    finally:
        world.app.config["STATS_MIN_CELL"] = 5


def test_cells_of_five_or_more_are_shown(world: World) -> None:
    auditor = world.browser()
    page = auditor.get("/auditoria/estadisticas").text
    start = page.index("Personas ingresadas por grupo de edad")
    ages = page[start:page.index("</table>", start)]
    assert row_cells(ages, "30–45") == ["8", "8"]
    assert row_cells(ages, "18–29") == ["0", "0"]
    start = page.index("Casos por estado")
    states = page[start:page.index("</table>", start)]
    # one case only detected: hidden, and so the eight activated ones
    assert row_cells(states, "Detectado") == ["&lt;5", "&lt;5"]
    assert row_cells(states, "Activado (ingresado al Protocolo)") == ["&lt;5", "&lt;5"]


# -- pseudonyms ------------------------------------------------------------------------------------


def listed_names(html: str) -> list[str]:
    return re.findall(r'href="/auditoria/casos/([a-z2-7]{26})"', html)


def test_names_are_stable_per_scope_and_differ_between_scopes(world: World) -> None:
    first, colleague, other = world.browser(), world.browser("auditor.b"), world.browser("auditor.otro")
    mine = listed_names(first.get("/auditoria/casos").text)
    assert len(mine) == 9 and len(set(mine)) == 9
    assert listed_names(first.get("/auditoria/casos").text) == mine  # stable across requests
    assert listed_names(colleague.get("/auditoria/casos").text) == mine  # same node, same names
    theirs = listed_names(other.get("/auditoria/casos").text)
    assert len(theirs) == 9 and set(theirs).isdisjoint(mine)
    name, other_name = world.name_for(world.women[0]), world.name_for(world.women[0], "PAV")
    assert name in mine and other_name in theirs and name != other_name
    assert first.get(f"/auditoria/casos/{name}").status_code == 200
    assert colleague.get(f"/auditoria/casos/{name}").status_code == 200
    assert other.get(f"/auditoria/casos/{name}").status_code == 404  # another scope's name opens nothing
    assert first.get(f"/auditoria/casos/{other_name}").status_code == 404
    assert other.get(f"/auditoria/casos/{other_name}").status_code == 200
    logs = {world.log_name(r) for r in [*world.women, *world.men, world.waiting]}
    for shown in [*mine, *theirs]:
        assert shown not in logs and not any(log in shown for log in logs)
        assert not REFERENCE.search(shown)


# -- the timeline ----------------------------------------------------------------------------------


def test_the_timeline_shows_steps_roles_org_types_and_months_only(world: World) -> None:
    reference = world.women[0]
    with unit_of_work(world.app) as ctx:
        d = ctx.definition
        activar = d.transition("activar").label.get("es")
        tomar = d.transition("tomar_caso").label.get("es")
        coordinator, detector = d.roles["coordinador"].label.get("es"), d.roles["deteccion"].label.get("es")
        cavd = ctx.session.scalar(select(Node.org_type).where(Node.code == "CAVD-CL-RM"))
        minsal = ctx.session.scalar(select(Node.org_type).where(Node.code == "MINSAL-CL-RM"))
    page = world.browser().get(f"/auditoria/casos/{world.name_for(reference)}")
    assert page.status_code == 200
    text = page.text
    for label in (activar, tomar, coordinator, detector, ORG_TYPES[cavd].get("es"), ORG_TYPES[minsal].get("es"),
                  "Ficha recibida (detección)", "Activación del Protocolo", "Triaje (caso tomado)"):
        assert label in text, label
    assert "2026-11" in text
    assert FULL_DATE.findall(text) == []
    assert world.name_for(reference) in text
    assert_anonymous(world, text, "timeline")


# -- exports are audited ---------------------------------------------------------------------------


def export_events(app: Flask) -> list[tuple[str, dict[str, Any]]]:
    with unit_of_work(app) as ctx:
        return [(e.actor_role or "", dict(e.details or {})) for e in ctx.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "export.audit").order_by(AuditEvent.seq))]


def test_each_export_records_an_audit_event_and_the_chain_still_verifies(world: World) -> None:
    auditor = world.browser()
    before = export_events(world.app)
    for url in EXPORTS:
        assert auditor.get(url).status_code == 200
    after = export_events(world.app)
    assert after[len(before):] == [
        ("auditor", {"what": "estadisticas", "format": "csv"}), ("auditor", {"what": "estadisticas", "format": "xlsx"}),
        ("auditor", {"what": "lineas_de_tiempo", "format": "csv"}),
        ("auditor", {"what": "lineas_de_tiempo", "format": "xlsx"})]
    for url in PAGES:  # looking is not exporting
        auditor.get(url)
    assert len(export_events(world.app)) == len(after)
    with unit_of_work(world.app) as ctx:
        checked, broken = verify_log(ctx.session)
        total = ctx.session.scalar(select(func.count()).select_from(AuditEvent))
    assert broken is None and checked == total and checked > 20


# -- filters ---------------------------------------------------------------------------------------


def board_count(world: World, query: str = "") -> int:
    text = world.browser().get(f"/auditoria/tablero{query}").text
    match = re.search(r"(\d+) casos con Ficha recibida", text)
    assert match, text[:500]
    return int(match.group(1))


def statistics_total(world: World, query: str, title: str = "Casos por estado") -> str:
    page = world.browser().get(f"/auditoria/estadisticas{query}").text
    start = page.index(title)
    table = page[start:page.index("</table>", start)]
    return re.findall(r"<tfoot>.*?<td><strong>(.*?)</strong></td></tr></tfoot>", table, re.S)[0]


def test_filters_narrow_the_counts(world: World) -> None:
    assert board_count(world) == 9
    assert board_count(world, "?region=CL-RM") == 9
    assert board_count(world, "?region=CL-TA") == 0
    assert board_count(world, "?tipo=laboral") == 2
    assert board_count(world, "?tipo=sexual") == 7
    assert board_count(world, "?since=2026-11-01&until=2026-11-30") == 9
    assert board_count(world, "?since=2026-12-01") == 0
    assert board_count(world, "?until=2026-11-17") == 0
    assert statistics_total(world, "") == "9"
    assert statistics_total(world, "?tipo=sexual") == "7"
    assert statistics_total(world, "?tipo=laboral") == "&lt;5"
    assert statistics_total(world, "", "Personas ingresadas por grupo de edad") == "8"
    assert statistics_total(world, "?tipo=sexual", "Personas ingresadas por grupo de edad") == "6"
    assert statistics_total(world, "?region=CL-TA", "Personas ingresadas por grupo de edad") == "0"
    listing = world.browser().get("/auditoria/casos?tipo=laboral").text
    assert sorted(listed_names(listing)) == sorted(world.name_for(r) for r in world.men)


@pytest.mark.parametrize("query", ["since=2026-13-45", "until=ayer", "since=18-11-2026", "region=XX-NO",
                                   "tipo=no_existe"])
def test_invalid_filters_are_refused(world: World, query: str) -> None:
    for page in PAGES:
        assert world.browser().get(f"{page}?{query}").status_code == 400, (page, query)
