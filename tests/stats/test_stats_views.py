"""The auditors' pages and exports with real cases: nothing personal, no reference, no staff e-mail;
figures perturbed by their cases' record keys (the same people give the same figure), small ones
marked; per-scope stable pseudonyms; timelines in weeks, no dates; exports audited.

Nine cases are far too few for the defaults (threshold 10, figures only for 50 cases, k = 11: nothing
would be shown; tests/stats/test_attacks.py and test_disclosure.py test those): this world lowers the
threshold to 1 (only a perturbed zero is «<1»; a narrowed population needs 5 cases) and k to 2.

The world (module-scoped, all Metropolitana, filed by salud.rm on 2026-11-18): six women (Ficha of
«Xiomara Quispe», sexual exploitation) activated with SERNAMEG as lead node, one man (laboral)
activated, two men (laboral, «Wilmer Condori») activated, one case only detected. Two extra auditors: auditor.b (same node SERMIG as «auditor») and
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
from referral.stats.disclosure import perturb
from referral.stats.models import CaseStat
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

    def name_for(self, reference: str, node: str = "SERMIG") -> str:
        with unit_of_work(self.app) as ctx:
            return scoped(ctx, node_id(self.app, node), pseudonym(ctx, case_id(self.app, reference)))

    def log_name(self, reference: str) -> str:
        with unit_of_work(self.app) as ctx:
            return pseudonym(ctx, case_id(self.app, reference))

    def activated(self) -> list[str]:
        return [*self.women, *self.men]

    def published(self, references: list[str]) -> int:
        """What these cases count as once perturbed: their number plus the noise of their record keys."""
        with unit_of_work(self.app) as ctx:
            keys = ctx.session.scalars(select(CaseStat.record_key).where(
                CaseStat.case_id.in_([case_id(self.app, r) for r in references]))).all()
        assert len(keys) == len(references)
        return perturb(len(keys), sum(keys))


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
    app.config.update(STATS_MIN_CELL=1, TIMELINE_K=2)
    add_auditor(app, "auditor.b", "SERMIG")
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
    adults = world.published(world.activated())  # eight persons entered in 2026, all 30 to 45
    assert ["30–45", str(adults), str(adults)] in rows
    assert ["Femenino", str(world.published(world.women))] == [r[:2] for r in rows if r[:1] == ["Femenino"]][0]
    assert rows[-1][0].startswith("«<1»")  # the legend closes the file
    timelines = auditor.get("/auditoria/casos?formato=csv").data.decode("utf-8-sig")
    lines = list(csv.DictReader(io.StringIO(timelines)))
    names = {line["case_pseudonym"] for line in lines}
    assert names == {world.name_for(r) for r in [*world.women, *world.men, world.waiting]}
    assert {line["event_code"] for line in lines} >= {"transition.tomar_caso", "transition.activar"}
    assert all(line["weeks_since_detection"].isdigit() for line in lines)
    assert {line["detection_period"] for line in lines} == {"2026-T4"}
    assert "event_month" not in lines[0] and FULL_DATE.findall(timelines) == []
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


def test_with_the_default_threshold_nine_cases_show_no_number(world: World) -> None:
    auditor = world.browser()
    world.app.config["STATS_MIN_CELL"] = 10
    try:
        page = auditor.get("/auditoria/estadisticas").text
        table = persons_by_sex(page)
        # 6 women and 2 men, perturbed by at most 3: below 10, so «<10» (zeros too), or «x»
        for label in ("Femenino", "Masculino", "Otro"):
            assert set(row_cells(table, label)) <= {"&lt;10", "x"}, label
        numbers = [int(n) for n in re.findall(r"<td>(?:<strong>)?(\d+)(?:</strong>)?</td>", page)]
        assert all(10 <= n <= 12 for n in numbers), numbers  # 9 cases can be published as 10 to 12, never less
        narrowed = auditor.get("/auditoria/estadisticas?tipo=laboral").text
        assert "menos de 50 casos" in narrowed and "<table" not in narrowed
        assert "menos de 50 casos" in auditor.get("/auditoria/tablero").text  # the default period narrows
    finally:
        world.app.config["STATS_MIN_CELL"] = 1


def figures(page: str) -> list[str]:
    """The tables of a page (not its CSRF tokens, which carry the time)."""
    found = re.findall(r"<table.*?</table>", page, re.S)
    assert found
    return found


def test_the_same_people_give_the_same_figure_everywhere(world: World) -> None:
    auditor = world.browser()
    page = auditor.get("/auditoria/estadisticas").text
    start = page.index("Personas ingresadas por grupo de edad")
    ages = page[start:page.index("</table>", start)]
    everyone = str(world.published(world.activated()))
    assert row_cells(ages, "30–45") == [everyone, everyone]  # the same eight persons as the totals
    assert row_cells(ages, "18–29") == ["&lt;1", "&lt;1"]  # nobody: a zero, never perturbed
    for title in ("Personas ingresadas por sexo", "Personas ingresadas por nacionalidad",
                  "Personas ingresadas por región de detección"):
        start = page.index(title)
        table = page[start:page.index("</table>", start)]
        assert re.findall(r"<tfoot>.*?<td><strong>(.*?)</strong></td></tr></tfoot>", table, re.S) == [everyone]
    women = persons_by_sex(page)
    assert row_cells(women, "Femenino")[0] == str(world.published(world.women))
    assert figures(auditor.get("/auditoria/estadisticas").text) == figures(page)  # asking again changes nothing


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


def test_the_timeline_shows_steps_roles_org_types_and_weeks_only(world: World) -> None:
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
    assert "Detectado en 2026-T4" in text and "2026-11" not in text
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


def board_count(world: World, query: str = "") -> str:
    text = world.browser().get(f"/auditoria/tablero{query}").text
    if "podrían identificar a alguien" in text:
        return "narrow"
    match = re.search(r"(\d+) casos con Ficha recibida", text)
    assert match, text[:500]
    return match.group(1)


def statistics_total(world: World, query: str, title: str = "Casos por estado") -> str:
    page = world.browser().get(f"/auditoria/estadisticas{query}").text
    if "podrían identificar a alguien" in page:
        return "narrow"
    start = page.index(title)
    table = page[start:page.index("</table>", start)]
    return re.findall(r"<tfoot>.*?<td><strong>(.*?)</strong></td></tr></tfoot>", table, re.S)[0]


def test_filters_narrow_the_counts_on_the_grid(world: World) -> None:
    every = [*world.women, *world.men, world.waiting]
    sexual = [*world.women, world.waiting]

    def shown(references: list[str]) -> str:  # a narrowed population under 5 (threshold 1 × 5) shows nothing
        return "narrow" if world.published(references) < 5 else str(world.published(references))

    assert board_count(world) == shown(every)  # the current year (2026)
    assert board_count(world, "?periodo=") == str(world.published(every))  # every year: not narrowed
    assert board_count(world, "?region=CL-RM") == shown(every)
    assert board_count(world, "?region=CL-TA") == "narrow"
    assert board_count(world, "?tipo=laboral") == shown(world.men)
    assert board_count(world, "?periodo=2026-T4&tipo=sexual") == shown(sexual)
    assert board_count(world, "?periodo=2026-T3") == "narrow"
    assert world.browser().get("/auditoria/tablero?periodo=2025").status_code == 400  # before the first Ficha
    assert statistics_total(world, "") == str(world.published(every))
    assert statistics_total(world, "?tipo=sexual") == shown(sexual)
    assert statistics_total(world, "?tipo=laboral") == shown(world.men)
    assert statistics_total(world, "", "Personas ingresadas por grupo de edad") == str(
        world.published(world.activated()))
    assert statistics_total(world, "?region=CL-TA", "Personas ingresadas por grupo de edad") == "narrow"
    # day ranges are not on the grid: ignored, the page is the whole
    assert figures(world.browser().get("/auditoria/estadisticas?since=2026-11-18&until=2026-11-18").text) == \
        figures(world.browser().get("/auditoria/estadisticas").text)
    listing = world.browser().get("/auditoria/casos?tipo=laboral").text  # timelines: no type filter
    assert len(listed_names(listing)) == 9
    assert len(listed_names(world.browser().get("/auditoria/casos?periodo=2026").text)) == 9  # shown by quarter
    assert len(listed_names(world.browser().get("/auditoria/casos?periodo=2026-T4").text)) == 9
    assert listed_names(world.browser().get("/auditoria/casos?periodo=2026-T3").text) == []


@pytest.mark.parametrize("query", ["periodo=2026-06-01", "periodo=2026-11", "periodo=2026-T5", "periodo=ayer",
                                   "periodo=1999", "region=XX-NO", "tipo=no_existe"])
def test_filters_off_the_grid_are_refused(world: World, query: str) -> None:
    pages = PAGES if query.startswith("periodo") else PAGES[:2]  # timelines take the period only
    for page in pages:
        assert world.browser().get(f"{page}?{query}").status_code == 400, (page, query)
