"""CSV and XLSX files of published tables and of anonymised timelines. Pure: no Flask, no SQL.

Tables come in already perturbed and suppressed (`Table`): a marked cell (`SMALL`, `HIDDEN`) is
written as the words the caller passes for it (e.g. «<10», «x»), never as a count. CSV text is returned without a BOM; `csv_bytes` adds it so Excel
opens accents right. Labels that a spreadsheet would run as a formula get a leading apostrophe in
CSV; in XLSX every label is written as a string cell, never as a formula.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterable, Mapping, Sequence

import xlsxwriter

from .tables import Cell, Mark, Table

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
SHEET_NAME_MAX = 31
_SHEET_FORBIDDEN = re.compile(r"[\[\]:*?/\\\x00-\x1f]")
_WORKBOOK_OPTIONS = {
    "in_memory": True,
    "strings_to_formulas": False,  # belt and braces: every string goes through write_string anyway
    "strings_to_urls": False,
    "strings_to_numbers": False,
}

Value = str | int | float | None


def csv_bytes(text: str) -> bytes:
    """UTF-8 with a BOM: Excel (es-CL) then reads «Región», «Ñandú» right."""
    return b"\xef\xbb\xbf" + text.encode("utf-8")


def safe_label(text: str) -> str:
    """A label a spreadsheet will show as text: a leading apostrophe before = + - @ tab CR."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


Marks = Mapping[Mark, str]  # how each mark is written, e.g. {"small": "<10", "hidden": "x"}


def _count(cell: Cell, marks: Marks) -> str | int:
    return cell if isinstance(cell, int) else safe_label(marks[cell])


def _table_rows(table: Table, marks: Marks, total_label: str) -> list[list[str | int]]:
    rows: list[list[str | int]] = [
        [safe_label(table.title)],
        [safe_label(table.rule)],
        [safe_label(label) for label in (table.row_header, *table.columns, total_label)],
    ]
    for label, cells, row_total in zip(table.rows, table.cells, table.row_totals, strict=True):
        rows.append([safe_label(label), *(_count(cell, marks) for cell in (*cells, row_total))])
    rows.append([safe_label(total_label), *(_count(cell, marks) for cell in (*table.column_totals, table.total))])
    return rows


def _csv_text(rows: Iterable[Sequence[str | int | float]], delimiter: str) -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    writer.writerows(rows)
    return out.getvalue()


def table_csv(table: Table, marks: Marks, total_label: str = "Total", delimiter: str = ",") -> str:
    """One table as CSV: title, rule, header, a line per row with its total, the total line."""
    return _csv_text(_table_rows(table, marks, total_label), delimiter)


def tables_csv(tables: Sequence[Table], marks: Marks, total_label: str = "Total", note: str = "",
               delimiter: str = ",") -> str:
    """Several tables in one CSV, an empty line between them; `note` (if any) as the last line."""
    rows: list[list[str | int]] = []
    for index, table in enumerate(tables):
        if index:
            rows.append([])
        rows.extend(_table_rows(table, marks, total_label))
    if note:
        rows.extend([[], [safe_label(note)]])
    return _csv_text(rows, delimiter)


def sheet_names(titles: Sequence[str]) -> list[str]:
    """Excel-valid sheet names for `titles`: at most 31 characters, none of []:*?/\\, no apostrophe at
    either end, unique ignoring case (Excel's rule); a title with nothing left becomes its position."""
    names: list[str] = []
    taken: set[str] = set()
    for position, title in enumerate(titles, start=1):
        base = " ".join(_SHEET_FORBIDDEN.sub(" ", title).split()).strip("'").strip() or str(position)
        if base.casefold() == "history":  # reserved by Excel
            base = f"{base} {position}"
        name = base[:SHEET_NAME_MAX].rstrip().rstrip("'")
        copy = 1
        while name.casefold() in taken:
            copy += 1
            suffix = f" ({copy})"
            name = base[:SHEET_NAME_MAX - len(suffix)].rstrip().rstrip("'") + suffix
        taken.add(name.casefold())
        names.append(name)
    return names


def tables_xlsx(tables: Sequence[Table], total_label: str, marks: Marks, note: str) -> bytes:
    """An .xlsx workbook, one sheet per table: title (bold) in A1, rule in A2, header, counts as
    numbers, marked cells as their words (text), totals in bold; `note` two rows below the table."""
    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(buffer, _WORKBOOK_OPTIONS)
    bold = workbook.add_format({"bold": True})
    header = workbook.add_format({"bold": True, "bottom": 1})
    mark = workbook.add_format({"align": "right"})
    bold_mark = workbook.add_format({"align": "right", "bold": True})
    for table, name in zip(tables, sheet_names([table.title for table in tables]), strict=True):
        sheet = workbook.add_worksheet(name)
        sheet.write_string(0, 0, table.title, bold)
        sheet.write_string(1, 0, table.rule)
        for col, label in enumerate((table.row_header, *table.columns, total_label)):
            sheet.write_string(2, col, label, header)
        body = [(label, (*cells, row_total), False)
                for label, cells, row_total in zip(table.rows, table.cells, table.row_totals, strict=True)]
        body.append((total_label, (*table.column_totals, table.total), True))
        for offset, (label, counts, is_total) in enumerate(body):
            row = 3 + offset
            sheet.write_string(row, 0, label, bold if is_total else None)
            for col, cell in enumerate(counts, start=1):
                if not isinstance(cell, int):
                    sheet.write_string(row, col, marks[cell], bold_mark if is_total else mark)
                else:
                    sheet.write_number(row, col, cell, bold if is_total else None)
        if note:
            sheet.write_string(3 + len(body) + 1, 0, note)
        widest = max((len(label) for label in (table.row_header, *table.rows, total_label)), default=10)
        sheet.set_column(0, 0, min(max(widest + 2, 12), 60))
        sheet.set_column(1, len(table.columns) + 1, 12)
        sheet.freeze_panes(3, 1)
    if not tables:  # a workbook needs a sheet: the note alone
        workbook.add_worksheet().write_string(0, 0, note)
    workbook.close()
    return buffer.getvalue()


def _checked(value: object, field: str) -> Value:
    if value is None or isinstance(value, str) or (isinstance(value, int | float) and not isinstance(value, bool)):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{field}: {value} is not a finite number")
        return value
    raise TypeError(f"{field}: {type(value).__name__} is not str, int, float or None")


def timeline_csv(rows: Sequence[Mapping[str, object]], fields: Sequence[str], delimiter: str = ",") -> str:
    """Rows as CSV under a header of `fields` (each row must have every field); None → empty."""
    lines: list[list[str | int | float]] = [[safe_label(field) for field in fields]]
    for row in rows:
        line: list[str | int | float] = []
        for field in fields:
            value = _checked(row[field], field)
            line.append("" if value is None else safe_label(value) if isinstance(value, str) else value)
        lines.append(line)
    return _csv_text(lines, delimiter)


def timeline_xlsx(rows: Sequence[Mapping[str, object]], fields: Sequence[str], sheet_name: str = "") -> bytes:
    """Rows as an .xlsx sheet under a bold header of `fields`: numbers as numbers, text as text, None empty."""
    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(buffer, _WORKBOOK_OPTIONS)
    header = workbook.add_format({"bold": True, "bottom": 1})
    sheet = workbook.add_worksheet(sheet_names([sheet_name])[0] if sheet_name.strip() else None)
    for col, field in enumerate(fields):
        sheet.write_string(0, col, field, header)
        sheet.set_column(col, col, min(max(len(field) + 2, 10), 40))
    for number, row in enumerate(rows, start=1):
        for col, field in enumerate(fields):
            value = _checked(row[field], field)
            if isinstance(value, str):
                sheet.write_string(number, col, value)
            elif value is not None:
                sheet.write_number(number, col, value)
    sheet.freeze_panes(1, 0)
    workbook.close()
    return buffer.getvalue()
