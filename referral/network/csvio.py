"""The node directory as CSV: export, and import (an upsert by code) of the directory's own format
or of the shared institutions file (`short_name,name,org_type,level,region,services,notes`).

Each row is checked with the same rules as the administration form (`editing.check_node`); a bad
row is reported with its line in the file (the header is line 1) and a reason in Spanish and
English, and skipped; the good rows are saved together (one transaction: the caller commits).
Nothing is ever deleted: a node leaves the network with `active=no`. No Flask here.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TextIO

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from ..audit.service import record
from ..auth.models import User
from ..characters import first_bad_line
from ..context import Context
from ..workflow import Text, WorkflowDefinition
from .directory import NATIONAL, InstitutionRow, Office, UnknownRegions, expand, split_list
from .editing import (
    REQUIRED, NodeValues, apply_node, catalogue_code, check_node, dedupe, held_assignments, home_region,
    served_regions,
)
from .models import Node, Region

COLUMNS = ("code", "short_name", "name", "org_type", "level", "regions", "services", "capacity_total",
           "capacity_free", "contact_email", "contact_phone", "active")
SOURCE_COLUMNS = ("short_name", "name", "org_type", "level", "region", "services", "notes")
YES, NO = "si", "no"
ACTIVE_WORDS = {"si": True, "sí": True, "no": False}
# A spreadsheet runs a cell that starts with one of these as a formula: exported cells get a leading
# apostrophe (which spreadsheets hide), and an import removes it again.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class RowError:
    line: int  # in the file as written; the header is line 1
    reason: Text


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)

    @property
    def bad_lines(self) -> list[int]:
        return sorted({error.line for error in self.errors})

    @property
    def ok(self) -> bool:
        return not self.errors


# -- export ---------------------------------------------------------------------------------------


def escape_cell(value: str) -> str:
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def unescape_cell(value: str) -> str:
    return value[1:] if value.startswith("'") and value[1:].startswith(FORMULA_STARTS) else value


def _number(value: int | None) -> str:
    return "" if value is None else str(value)


def export_rows(session: Session) -> Iterator[list[str]]:
    """The header, then one row per node (by code), active or not."""
    yield list(COLUMNS)
    for node in session.scalars(select(Node).options(selectinload(Node.regions_served)).order_by(Node.code)):
        regions = () if node.level == NATIONAL else served_regions(node)
        yield [escape_cell(cell) for cell in (
            node.code, node.short_name, node.name, node.org_type, node.level, ";".join(regions),
            ";".join(node.services or ()), _number(node.capacity_total), _number(node.capacity_free),
            node.contact_email or "", node.contact_phone or "", YES if node.active else NO,
        )]


def export_csv(session: Session, out: TextIO) -> int:
    """Write the directory to `out`; return how many nodes."""
    writer = csv.writer(out, lineterminator="\r\n")
    count = -1
    for row in export_rows(session):
        writer.writerow(row)
        count += 1
    return count


def export_text(session: Session) -> str:
    out = io.StringIO()
    export_csv(session, out)
    return out.getvalue()


# -- import ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Row:
    line: int
    cells: Mapping[str, str]


def _decode(source: bytes | str) -> tuple[str, RowError | None]:
    if isinstance(source, str):
        text = source.removeprefix("\ufeff")
    else:
        try:
            text = source.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            line = source[:error.start].count(b"\n") + 1
            return "", RowError(line, Text("El archivo no está en UTF-8 (guárdelo como «CSV UTF-8»).",
                                           "The file is not UTF-8 (save it as “CSV UTF-8”)."))
    line = first_bad_line(text)
    if line is not None:  # NUL and the like: not a CSV a spreadsheet wrote (and PostgreSQL refuses NUL)
        return "", RowError(line, Text(
            "El archivo contiene un carácter de control (como NUL): no es un CSV de texto. Guárdelo de nuevo "
            "como «CSV UTF-8».",
            "The file contains a control character (such as NUL): it is not a text CSV. Save it again as "
            "“CSV UTF-8”."))
    return text, None


def _rows(text: str) -> tuple[list[str], list[_Row], list[RowError]]:
    """The header and the non-blank rows with the line each starts on (a quoted cell may span lines)."""
    reader = csv.reader(io.StringIO(text, newline=""))
    errors: list[RowError] = []
    try:
        header = [h.strip().lower() for h in next(reader, [])]
        repeated = _repeated(header)
        if repeated:
            return [], [], [RowError(1, Text(f"Columna repetida: {repeated} (cada columna va una sola vez).",
                                             f"Repeated column: {repeated} (each column goes only once)."))]
        rows = []
        start = reader.line_num + 1
        for cells in reader:
            line, start = start, reader.line_num + 1
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) > len(header):
                errors.append(RowError(line, Text(
                    f"La fila tiene {len(cells)} columnas y la cabecera {len(header)} (¿una coma sin comillas?).",
                    f"The row has {len(cells)} columns and the header {len(header)} (an unquoted comma?).")))
                continue
            rows.append(_Row(line, {key: unescape_cell(cells[i].strip()) if i < len(cells) else ""
                                    for i, key in enumerate(header)}))
    except csv.Error as error:
        errors.append(RowError(reader.line_num, Text(f"CSV mal formado: {error}.", f"Malformed CSV: {error}.")))
        return [], [], errors
    return header, rows, errors


def _repeated(header: Sequence[str]) -> str | None:
    """The first column named twice (a spreadsheet's empty trailing columns do not count)."""
    named = [name for name in header if name]
    return next((name for i, name in enumerate(named) if name in named[:i]), None)


def import_csv(session: Session, definition: WorkflowDefinition, source: bytes | str, now: dt.datetime
               ) -> ImportResult:
    """Create or update the nodes of a directory CSV or an institutions file (flushed, not committed)."""
    result = ImportResult()
    text, problem = _decode(source)
    if problem:
        result.errors.append(problem)
        return result
    header, rows, result.errors = _rows(text)
    if not header or not (set(COLUMNS) <= set(header) or set(SOURCE_COLUMNS) - {"notes"} <= set(header)):
        if not result.errors:
            result.errors.append(RowError(1, Text(
                f"Cabecera no reconocida: se espera {','.join(COLUMNS)} o {','.join(SOURCE_COLUMNS)}.",
                f"Header not recognised: expected {','.join(COLUMNS)} or {','.join(SOURCE_COLUMNS)}.")))
        return result
    source_format = not set(COLUMNS) <= set(header)
    importer = _Importer(session, definition)
    for row in rows:
        values, errors = importer.source_row(row) if source_format else importer.directory_row(row)
        if errors:
            result.errors.extend(RowError(row.line, reason) for reason in dedupe_texts(errors))
            continue
        for value in values:
            node = importer.existing.get(value.code)
            node, changed = apply_node(node, value, now)
            if node.id is None:
                session.add(node)
                result.created += 1
            elif changed:
                result.updated += 1
            else:
                result.unchanged += 1
    result.errors.sort(key=lambda error: error.line)
    session.flush()
    return result


def dedupe_texts(texts: Sequence[Text]) -> list[Text]:
    return list(dict.fromkeys(texts))


# Column names of each field in the two formats, for the reasons given back.
_DIRECTORY_COLUMN = {key: key for key in COLUMNS} | {"home_region": "regions"}
_SOURCE_COLUMN = _DIRECTORY_COLUMN | {"code": "short_name", "regions": "region", "home_region": "region"}


def _in_column(column: str, message: Text) -> Text:
    return Text(f"{column}: {message.es}", f"{column}: {message.get('en')}")


class _Importer:
    """Turns rows into checked NodeValues; remembers the codes seen, to refuse a repeated one."""

    def __init__(self, session: Session, definition: WorkflowDefinition):
        self.session = session
        self.definition = definition
        self.regions = list(session.scalars(select(Region).order_by(Region.position)))
        self.region_codes = {r.code for r in self.regions}
        self.existing = {n.code: n for n in session.scalars(select(Node).options(selectinload(Node.regions_served)))}
        self.seen: dict[str, int] = {}

    def _check(self, line: int, values: NodeValues, columns: Mapping[str, str],
               parse_errors: dict[str, list[Text]]) -> list[Text]:
        existing = self.existing.get(values.code)
        errors = check_node(self.definition, values, region_codes=self.region_codes, existing=existing,
                            held=held_assignments(self.session, existing.id if existing else None))
        for key, messages in parse_errors.items():
            errors[key] = messages  # what could not be read replaces what the check made of it
        if values.code in self.seen:
            errors.setdefault("code", []).append(Text(
                f"El código {values.code} ya aparece en la línea {self.seen[values.code]}.",
                f"The code {values.code} already appears on line {self.seen[values.code]}."))
        elif values.code:
            self.seen[values.code] = line
        return [_in_column(columns.get(key, key), message) for key, messages in errors.items() for message in messages]

    def _services(self, cell: str, errors: dict[str, list[Text]]) -> tuple[str, ...]:
        codes, unknown = [], []
        for item in split_list(cell):
            code = catalogue_code(self.definition, item)
            (codes if code else unknown).append(code or item)
        if unknown:
            errors["services"] = [Text(f"Servicio desconocido: {', '.join(unknown)} (no está en el catálogo).",
                                       f"Unknown service: {', '.join(unknown)} (not in the catalogue).")]
        return dedupe(codes)

    def directory_row(self, row: _Row) -> tuple[list[NodeValues], list[Text]]:
        cells, errors = row.cells, {}
        code = cells.get("code", "")
        existing = self.existing.get(code)
        level, regions = cells.get("level", ""), dedupe(split_list(cells.get("regions", "")))
        active = ACTIVE_WORDS.get(cells.get("active", "").lower())
        if active is None:
            errors["active"] = [Text("Escriba si o no.", "Write si or no.") if cells.get("active") else REQUIRED]
        values = NodeValues(
            code=code, short_name=cells.get("short_name", ""), name=cells.get("name", ""),
            org_type=cells.get("org_type", ""), level=level, regions=regions,
            services=self._services(cells.get("services", ""), errors),
            capacity_total=_count(cells.get("capacity_total", ""), "capacity_total", errors),
            capacity_free=_count(cells.get("capacity_free", ""), "capacity_free", errors),
            contact_email=cells.get("contact_email") or None, contact_phone=cells.get("contact_phone") or None,
            active=active if active is not None else (existing.active if existing else True),
            home_region=home_region(existing, level, regions),
        )
        return [values], self._check(row.line, values, _DIRECTORY_COLUMN, errors)

    def source_row(self, row: _Row) -> tuple[list[NodeValues], list[Text]]:
        cells = row.cells
        missing = [_in_column(key, REQUIRED) for key in ("short_name", "name", "org_type", "level", "region")
                   if not cells.get(key)]
        if missing:
            return [], missing
        institution = InstitutionRow(cells["short_name"], cells["name"], cells["org_type"], cells["level"],
                                     cells["region"], tuple(split_list(cells.get("services", ""))))
        try:
            offices = expand(institution, self.regions)
        except UnknownRegions as unknown:
            return [], [_in_column("region", Text(f"Región desconocida: {', '.join(unknown.codes)} (use los "
                                                  "códigos de la tabla de regiones, o each).",
                                                  f"Unknown region: {', '.join(unknown.codes)} (use the codes "
                                                  "of the regions table, or each)."))]
        values, reasons = [], []
        for office in offices:
            errors: dict[str, list[Text]] = {}
            value = self._office_values(office, errors)
            values.append(value)
            reasons += self._check(row.line, value, _SOURCE_COLUMN, errors)
        return values, reasons

    def _office_values(self, office: Office, errors: dict[str, list[Text]]) -> NodeValues:
        """An office's node; what the institutions file does not say (places, contacts, whether it is
        active) stays as the directory has it."""
        existing = self.existing.get(office.code)
        kept = NodeValues.of(existing) if existing else NodeValues(office.code, "", "", "", "")
        return replace(
            kept, code=office.code, short_name=office.short_name, name=office.name, org_type=office.org_type,
            level=office.level, regions=office.regions,
            services=self._services(";".join(office.services), errors), home_region=office.home_region,
        )


def _count(cell: str, key: str, errors: dict[str, list[Text]]) -> int | None:
    if not cell:
        return None
    try:
        number = int(cell)
    except ValueError:
        number = None
    if number is None or number < 0:
        errors[key] = [Text(f"Debe ser un número entero de 0 o más, no «{cell}».",
                            f"Must be a whole number, 0 or more, not “{cell}”.")]
        return None
    return number


def record_import(ctx: Context, result: ImportResult, actor: User | None = None) -> None:
    """The audit event of an import: counts only (an administrator's, or the command line's: no actor)."""
    record(ctx, "node.imported", role=actor.role if actor else None, node_id=actor.node_id if actor else None,
           details={"created": result.created, "updated": result.updated, "unchanged": result.unchanged,
                    "bad_lines": len(result.bad_lines), "source": "web" if actor else "cli"})
