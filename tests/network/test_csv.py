"""The node directory as CSV: import (both formats), its checks, export, and the `flask nodes` commands."""

from __future__ import annotations

import csv
import hashlib
import io
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from referral.context import Context
from referral.network.csvio import COLUMNS, escape_cell, export_text, import_csv, unescape_cell
from referral.network.models import Node, NodeRegion, Region

from ..backends import both_backends

ROOT = Path(__file__).resolve().parents[2]
DEMO_FILE = ROOT / "workflows" / "chile" / "nodes.csv"
CORRECTIONS_FILE = ROOT / "workflows" / "chile" / "corrections.csv"
SHARED_FILE = ROOT.parent / "shared" / "data" / "nodes_cl.csv"


def csv_text(rows: list[list[str]], header: tuple[str, ...] = COLUMNS) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def exported(ctx: Context) -> dict[str, dict[str, str]]:
    """The current directory as the export writes it, by code."""
    return {row["code"]: row for row in csv.DictReader(io.StringIO(export_text(ctx.session)))}


def node(ctx: Context, code: str) -> Node:
    ctx.session.expire_all()
    found = ctx.session.scalar(select(Node).where(Node.code == code))
    assert found is not None, code
    return found


def regions_of(ctx: Context, code: str) -> set[str]:
    return set(ctx.session.scalars(select(NodeRegion.region_code).join(Node, Node.id == NodeRegion.node_id)
                                   .where(Node.code == code)))


def good(code: str, **changes: str) -> list[str]:
    values = {"code": code, "short_name": "Refugio Norte", "name": "Fundación Refugio del Norte", "org_type": "NGO",
              "level": "local", "regions": "CL-TA", "services": "alojamiento;proteccion_de_nna",
              "capacity_total": "6", "capacity_free": "2", "contact_email": "contacto@refugio.cl",
              "contact_phone": "+56 57 234 5678", "active": "si"}
    values.update(changes)
    return [values[column] for column in COLUMNS]


def bad(i: int, changes: dict[str, str]) -> list[str]:
    return good(changes.get("code", f"MALO-{i}"), **{k: v for k, v in changes.items() if k != "code"})


def as_row(values: dict[str, str], **changes: str) -> list[str]:
    return [{**values, **changes}[column] for column in COLUMNS]


# Each bad row: what is wrong with it, and words of the Spanish reason given for it.
BAD_ROWS: list[tuple[str, dict[str, str], str]] = [
    ("name missing", {"name": ""}, "name: Obligatorio."),
    ("code missing", {"code": ""}, "code: Obligatorio."),
    ("code not a code", {"code": "refugio sur"}, "code: Use solo mayúsculas"),
    ("unknown organisation type", {"org_type": "Charity"}, "org_type: Tipo de organización desconocido: Charity"),
    ("unknown level", {"level": "provincial"}, "level: Nivel desconocido: provincial"),
    ("unknown region", {"regions": "CL-TA;CL-XX"}, "regions: Región desconocida: CL-XX"),
    ("national with regions", {"level": "national"}, "regions: Un nodo nacional atiende todas las regiones"),
    ("regional without regions", {"level": "regional", "regions": ""}, "regions: Indique al menos una región"),
    ("unknown service", {"services": "alojamiento;masajes"}, "services: Servicio desconocido: masajes"),
    ("places not a number", {"capacity_total": "diez"}, "capacity_total: Debe ser un número entero de 0 o más, no «diez»"),
    ("negative places", {"capacity_free": "-1"}, "capacity_free: Debe ser un número entero de 0 o más, no «-1»"),
    ("more free than total", {"capacity_free": "9"}, "capacity_free: Los cupos libres (9) no pueden superar el total (6)"),
    ("free without total", {"capacity_total": ""}, "capacity_total: Indique cupos libres y totales, o ninguno"),
    ("places without a shelter", {"services": "salud_mental"}, "capacity_total: Solo cuenta cupos un nodo que ofrece"),
    ("not an e-mail", {"contact_email": "contacto-en-refugio.cl"}, "contact_email: Correo no válido"),
    ("not a phone", {"contact_phone": "llamar al portero"}, "contact_phone: Teléfono no válido"),
    ("neither si nor no", {"active": "quizás"}, "active: Escriba si o no."),
    ("no service", {"services": "", "capacity_total": "", "capacity_free": ""},
     "services: Un nodo activo ofrece al menos un servicio del catálogo."),
]


@both_backends
def test_an_import_keeps_the_good_rows_and_reports_each_bad_one_with_its_line(
        app: Any, ctx: Context, directory: None, tmp_path: Path) -> None:
    current = exported(ctx)
    rows = [good("REFUGIO-NORTE")]  # line 2
    rows += [bad(i, changes) for i, (_what, changes, _reason) in enumerate(BAD_ROWS)]  # lines 3..
    first_other = 3 + len(BAD_ROWS)
    rows += [
        good("REFUGIO-NORTE", name="Otra vez"),  # the code again
        as_row(current["CAVD-CL-RM"], regions="CL-TA"),  # the focal point of CL-RM would stop serving CL-RM
        as_row(current["PAV"], active="no"),  # the national coordinator would leave the network
        good("REFUGIO-SUR", regions="CL-AN") + ["columna de más"],
        as_row(current["SERNAMEG"], capacity_free="7"),  # a good update
        as_row(current["DT-CL-TA"], active="no"),  # a good deactivation
        good("REFUGIO-ORIENTE", name="Refugio\nde dos líneas"),  # a quoted cell on two lines
        good("MALO-FINAL", level=""),  # starts after the two-line row
    ]
    path = tmp_path / "nodos.csv"
    path.write_text(csv_text(rows), encoding="utf-8")

    result = app.test_cli_runner().invoke(args=["nodes", "import", str(path)])

    assert result.exit_code == 1, result.output
    reported = [line for line in result.stderr.splitlines() if line]
    for i, (what, _changes, reason) in enumerate(BAD_ROWS):
        assert any(line.startswith(f"línea {3 + i}: {reason}") for line in reported), (what, reported)
    expected = {
        first_other: "code: El código REFUGIO-NORTE ya aparece en la línea 2.",
        first_other + 1: "regions: El nodo tiene asignada la función «Punto focal regional» (CL-RM): no puede "
                         "dejar de atender CL-RM",
        first_other + 2: "active: El nodo tiene asignada la función «Coordinación nacional del Protocolo»",
        first_other + 3: "La fila tiene 13 columnas y la cabecera 12",
        first_other + 8: "level: Obligatorio.",
    }
    for line, reason in expected.items():
        assert any(r.startswith(f"línea {line}: {reason}") for r in reported), (line, reason, reported)
    bad_lines = {int(r.split(":")[0].removeprefix("línea ")) for r in reported}
    assert bad_lines == set(range(3, first_other + 4)) | {first_other + 8}
    assert "nodos creados: 2, actualizados: 2" in result.stdout
    assert f"filas con errores: {len(bad_lines)}" in result.stdout

    # The good rows were saved, the bad ones not at all.
    created = node(ctx, "REFUGIO-NORTE")
    assert created.services == ["alojamiento", "proteccion_nna"]  # proteccion_de_nna is an alias
    assert (created.capacity_total, created.capacity_free, created.home_region) == (6, 2, "CL-TA")
    assert created.contact_phone == "+56 57 234 5678" and created.name == "Fundación Refugio del Norte"
    assert node(ctx, "REFUGIO-ORIENTE").name == "Refugio\nde dos líneas"
    assert node(ctx, "SERNAMEG").capacity_free == 7
    assert node(ctx, "DT-CL-TA").active is False  # deactivated, never deleted
    assert regions_of(ctx, "CAVD-CL-RM") == {"CL-RM"} and node(ctx, "PAV").active
    assert ctx.session.scalar(select(func.count()).select_from(Node).where(Node.code.like("MALO-%"))) == 0


def test_every_reason_is_given_in_spanish_and_english(ctx: Context) -> None:
    rows = [bad(i, changes) for i, (_what, changes, _reason) in enumerate(BAD_ROWS)]
    result = import_csv(ctx.session, ctx.definition, csv_text(rows), ctx.now())
    assert result.created == 0 and len(result.bad_lines) == len(rows)
    for error in result.errors:
        assert error.reason.es and error.reason.en and error.reason.es != error.reason.en, error


def test_a_file_that_is_not_a_directory_is_refused_at_its_header(ctx: Context) -> None:
    result = import_csv(ctx.session, ctx.definition, "nombre,correo\nAna,ana@demo.cl\n", ctx.now())
    assert [(e.line, e.reason.es[:23]) for e in result.errors] == [(1, "Cabecera no reconocida:")]
    latin1 = csv_text([good("REFUGIO-NORTE", name="Fundación")]).encode("latin-1")
    result = import_csv(ctx.session, ctx.definition, latin1, ctx.now())
    assert [(e.line, e.reason.es[:27]) for e in result.errors] == [(2, "El archivo no está en UTF-8")]
    assert result.created == 0


@both_backends
def test_export_then_import_changes_nothing(app: Any, ctx: Context, directory: None, tmp_path: Path) -> None:
    path = tmp_path / "directorio.csv"
    runner = app.test_cli_runner()
    exported_now = runner.invoke(args=["nodes", "export", str(path)])
    assert exported_now.exit_code == 0, exported_now.output
    total = ctx.session.scalar(select(func.count()).select_from(Node))
    assert f"{total} nodos escritos" in exported_now.stderr

    again = runner.invoke(args=["nodes", "import", str(path)])

    assert again.exit_code == 0, again.output
    assert again.stderr == ""
    assert f"nodos creados: 0, actualizados: 0, sin cambios: {total}, filas con errores: 0" in again.stdout
    assert runner.invoke(args=["nodes", "export", "-"]).stdout.replace("\r\n", "\n") == \
        path.read_text(encoding="utf-8").replace("\r\n", "\n")


def test_the_export_has_one_row_per_node_in_the_documented_columns(ctx: Context) -> None:
    rows = exported(ctx)
    assert list(next(iter(rows.values()))) == list(COLUMNS)
    assert len(rows) == ctx.session.scalar(select(func.count()).select_from(Node))
    pav, sernameg, cavd = rows["PAV"], rows["SERNAMEG"], rows["CAVD-CL-RM"]
    assert pav["level"] == "national" and pav["regions"] == ""  # a national node serves every region
    assert (sernameg["capacity_total"], sernameg["capacity_free"]) == ("10", "3")
    assert sernameg["services"] == "alojamiento;salud_mental;asesoria_juridica"
    assert cavd["regions"] == "CL-RM" and cavd["active"] == "si" and cavd["capacity_total"] == ""
    assert cavd["contact_email"] == "contacto.cavd-cl-rm@demo.cl"


# sha256 of ../shared/data/nodes_cl.csv as the domain brief ships it: the demo's copy must be that file,
# byte for byte, whether or not the shared folder sits next to this checkout (CI clones the repository alone).
SHARED_FILE_SHA256 = "4ee222fd82ccb94fe13006e95aea4e0e0f60e978bd4c0926a3d5ebe725423405"


def test_the_shared_institutions_file_is_the_demo_file() -> None:
    assert hashlib.sha256(DEMO_FILE.read_bytes()).hexdigest() == SHARED_FILE_SHA256
    if SHARED_FILE.exists():  # next to the brief: the brief's file has not changed since either
        assert SHARED_FILE.read_bytes() == DEMO_FILE.read_bytes()


def test_the_institutions_file_and_the_demos_corrections_import_into_the_same_directory_the_demo_has(
        ctx: Context) -> None:
    shared = import_csv(ctx.session, ctx.definition, DEMO_FILE.read_bytes(), ctx.now())
    assert shared.ok, shared.errors
    # MITP-ST comes back: the demo retires it (no separate technical-secretary node, brief section 8);
    # updated: LIBERA, SERMIG, the 16 Carabineros offices and the 32 CAVD and CAJ offices (reparation services)
    assert shared.created == 1 and shared.updated == 50
    corrections = import_csv(ctx.session, ctx.definition, CORRECTIONS_FILE.read_bytes(), ctx.now())
    assert corrections.ok, corrections.errors
    assert corrections.created == 0 and corrections.updated == shared.updated  # corrected again, nothing new
    nodes = ctx.session.scalar(select(func.count()).select_from(Node))
    assert shared.unchanged + shared.updated + shared.created + 2 == nodes  # the demo adds CARABINEROS-OS9 and SUBINTERIOR
    assert import_csv(ctx.session, ctx.definition, CORRECTIONS_FILE.read_bytes(), ctx.now()).unchanged == 52


def test_the_institutions_format_makes_one_office_per_region(ctx: Context) -> None:
    source = ("short_name,name,org_type,level,region,services,notes\n"
              "CASA-LUZ,Casa Luz,NGO,regional,each,alojamiento;asesoría jurídica;protección de NNA,\n"
              "RED-SUR,Red Sur,NGO,regional,CL-LL;CL-AI,salud mental,two offices\n"
              "OBS,Observatorio Nacional,NGO,national,CL-RM,detección,\n"
              "CASA-SOL,Casa Sol,NGO,local,CL-VS,educación,one office in one region\n"
              "MALA,Mala,NGO,regional,CL-LL;CL-ZZ,,\n"
              "PEOR,Peor,NGO,local,CL-RM,masajes,\n"
              ",Sin nombre,NGO,national,CL-RM,,\n")
    result = import_csv(ctx.session, ctx.definition, source, ctx.now())
    ctx.session.commit()

    assert result.created == 16 + 2 + 1 + 1
    assert [(e.line, e.reason.es) for e in result.errors] == [
        (6, "region: Región desconocida: CL-ZZ (use los códigos de la tabla de regiones, o each)."),
        (7, "services: Servicio desconocido: masajes (no está en el catálogo)."),
        (8, "short_name: Obligatorio."),
    ]
    luz = node(ctx, "CASA-LUZ-CL-TA")
    assert luz.short_name == "CASA-LUZ Tarapacá" and luz.name == "Casa Luz — Región de Tarapacá"
    assert luz.services == ["alojamiento", "asesoria_juridica", "proteccion_nna"]  # labels to codes, alias too
    assert (luz.level, luz.home_region, regions_of(ctx, "CASA-LUZ-CL-TA")) == ("regional", "CL-TA", {"CL-TA"})
    assert {n.code for n in ctx.session.scalars(select(Node).where(Node.code.like("RED-SUR-%")))} == {
        "RED-SUR-CL-LL", "RED-SUR-CL-AI"}
    obs = node(ctx, "OBS")
    assert (obs.level, obs.home_region, regions_of(ctx, "OBS"), obs.services) == ("national", "CL-RM", set(), ["deteccion"])
    assert regions_of(ctx, "CASA-SOL") == {"CL-VS"}
    assert node(ctx, "CASA-LUZ-CL-RM").active and node(ctx, "CASA-LUZ-CL-RM").capacity_total is None

    # What the institutions file does not say (places, contacts, active) is kept on a later import.
    sol = node(ctx, "CASA-SOL")
    sol.contact_email, sol.active = "contacto@casasol.cl", False
    ctx.session.commit()
    again = import_csv(ctx.session, ctx.definition, source, ctx.now())
    assert (again.created, again.updated, again.unchanged) == (0, 0, 20)
    assert node(ctx, "CASA-SOL").contact_email == "contacto@casasol.cl" and not node(ctx, "CASA-SOL").active


FORMULAS = ("=HYPERLINK(\"http://x\",\"y\")", "+56 2 2345 6789", "-1+1", "@SUM(A1)")


@pytest.mark.parametrize("value", FORMULAS)
def test_a_cell_a_spreadsheet_would_run_gets_an_apostrophe_and_loses_it_on_import(value: str) -> None:
    assert escape_cell(value) == "'" + value
    assert unescape_cell(escape_cell(value)) == value
    assert escape_cell("Fundación Libera") == "Fundación Libera"
    assert unescape_cell("'sin fórmula") == "'sin fórmula"  # an apostrophe the export did not add stays


def test_an_exported_formula_is_inert_and_round_trips(ctx: Context) -> None:
    rows = [good("REFUGIO-NORTE", short_name="=1+1", name="@cmd|' /C calc'!A0", contact_phone="+56 57 234 5678")]
    assert import_csv(ctx.session, ctx.definition, csv_text(rows), ctx.now()).created == 1
    ctx.session.commit()
    row = exported(ctx)["REFUGIO-NORTE"]
    assert row["short_name"] == "'=1+1" and row["name"] == "'@cmd|' /C calc'!A0"
    assert row["contact_phone"] == "'+56 57 234 5678"
    for code in exported(ctx):
        for cell in exported(ctx)[code].values():
            assert not cell.startswith(("=", "+", "-", "@")), (code, cell)
    again = import_csv(ctx.session, ctx.definition, export_text(ctx.session), ctx.now())
    assert again.ok and again.created == again.updated == 0
    assert node(ctx, "REFUGIO-NORTE").short_name == "=1+1"


def test_an_empty_database_gets_its_regions_first_then_the_directory(tmp_path: Path) -> None:
    """A new installation: without regions the import says how to load them (exit 2, nothing saved);
    with --regions it loads the regions and the institutions file in one go."""
    from referral import create_app
    from referral.migrate import upgrade

    from ..conftest import Clock, _settings
    from ..units import unit_of_work

    app = create_app(_settings(tmp_path, f"sqlite:///{tmp_path / 'empty.db'}", Clock()))
    with app.app_context():
        from referral.extensions import database

        upgrade(database.engine(app))
    data = Path(__file__).resolve().parents[2] / "workflows" / "chile"
    runner = app.test_cli_runner()
    refused = runner.invoke(args=["nodes", "import", str(data / "nodes.csv")])
    assert refused.exit_code == 2 and "--regions" in refused.output
    loaded = runner.invoke(args=["nodes", "import", "--regions", str(data / "regions.csv"),
                                 str(data / "nodes.csv")])
    assert loaded.exit_code == 0, loaded.output
    with unit_of_work(app) as ctx:
        assert ctx.session.scalar(select(func.count()).select_from(Region)) == 16
        assert ctx.session.scalar(select(Node.id).where(Node.code == "CAVD-CL-MA")) is not None


# -- a header that names a column twice; an export to a place that cannot be written ---------------------


def test_a_header_that_names_a_column_twice_is_refused_at_line_1(ctx: Context) -> None:
    """Read as a spreadsheet shows it, the row says active=si; a reader that kept the last of two
    «active» columns would save active=no. The file is refused before any row is read."""
    header = (*COLUMNS, "active")
    source = csv_text([[*good("REFUGIO-NORTE"), "no"]], header=header)
    result = import_csv(ctx.session, ctx.definition, source, ctx.now())
    assert [(e.line, e.reason.es, e.reason.en) for e in result.errors] == [
        (1, "Columna repetida: active (cada columna va una sola vez).",
         "Repeated column: active (each column goes only once).")]
    assert result.created == 0
    assert ctx.session.scalar(select(func.count()).select_from(Node).where(Node.code == "REFUGIO-NORTE")) == 0


def test_a_repeated_column_is_found_whatever_its_case_or_spaces(ctx: Context) -> None:
    source = csv_text([[*good("REFUGIO-NORTE"), "Otro"]], header=(*COLUMNS, " Name "))
    result = import_csv(ctx.session, ctx.definition, source, ctx.now())
    assert [(e.line, e.reason.es[:23]) for e in result.errors] == [(1, "Columna repetida: name ")]


def test_empty_trailing_columns_a_spreadsheet_adds_are_not_repeated_columns(ctx: Context) -> None:
    source = csv_text([[*good("REFUGIO-NORTE"), "", ""]], header=(*COLUMNS, "", ""))
    result = import_csv(ctx.session, ctx.definition, source, ctx.now())
    assert result.ok and result.created == 1


def test_the_import_command_reports_a_repeated_column_as_line_1(app: Any, tmp_path: Path) -> None:
    path = tmp_path / "nodos.csv"
    path.write_text(csv_text([[*good("REFUGIO-NORTE"), "no"]], header=(*COLUMNS, "active")), encoding="utf-8")
    result = app.test_cli_runner().invoke(args=["nodes", "import", str(path)])
    assert result.exit_code == 1
    assert result.stderr.startswith("línea 1: Columna repetida: active")
    assert "nodos creados: 0, actualizados: 0" in result.stdout


@pytest.mark.parametrize("where", ["/no/such/dir/f.csv", "{tmp}"])
def test_an_export_to_a_place_that_cannot_be_written_says_so_in_one_line(app: Any, tmp_path: Path, where: str
                                                                         ) -> None:
    target = where.format(tmp=tmp_path)  # a missing folder, or a folder where a file should be
    result = app.test_cli_runner().invoke(args=["nodes", "export", target])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"No se puede escribir {target}: ")
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)  # not the OSError itself
