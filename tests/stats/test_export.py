"""Exports of published tables and timelines: CSV read back with csv.reader, XLSX with openpyxl.

Marked cells come out as their words («<10» for a small value, «x» for one hidden to protect
another), never as a count; labels a spreadsheet would run as a
formula are text (an apostrophe in CSV, a string cell in XLSX)."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook

from referral.stats.export import (csv_bytes, safe_label, sheet_names, table_csv, tables_csv, tables_xlsx,
                                   timeline_csv, timeline_xlsx)
from referral.stats.tables import HIDDEN, SMALL, Table

MARKS = {SMALL: "<10", HIDDEN: "x"}
MARK, HIDE = MARKS[SMALL], MARKS[HIDDEN]
NOTE = "«<10»: menos de 10. «x»: oculto para que no se deduzca otra celda."


def table(**changes: object) -> Table:
    fields: dict[str, object] = dict(
        key="personas_por_region", title="Personas por región y año", rule="Regla de conteo: una persona por caso",
        row_header="Región", rows=("Ñuble", "=HYPERLINK(\"http://x\",\"clic\")", "+56 9 1234 5678"),
        columns=("2025", "2026"),
        cells=((12, SMALL), (7, 9), (HIDDEN, 30)),
        row_totals=(SMALL, 16, 33), column_totals=(22, 42), total=64, threshold=10, small=2, suppressed=1,
    )
    fields.update(changes)
    return Table(**fields)  # type: ignore[arg-type]


def read(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


def test_table_csv_lays_out_title_rule_header_rows_and_totals() -> None:
    lines = read(table_csv(table(), MARKS, total_label="Total"))
    assert lines[0] == ["Personas por región y año"]
    assert lines[1] == ["Regla de conteo: una persona por caso"]
    assert lines[2] == ["Región", "2025", "2026", "Total"]
    assert lines[3] == ["Ñuble", "12", MARK, MARK]
    assert lines[4][1:] == ["7", "9", "16"]
    assert lines[5][1:] == [HIDE, "30", "33"]
    assert lines[6] == ["Total", "22", "42", "64"]
    assert len(lines) == 7


def test_csv_labels_that_start_a_formula_get_an_apostrophe() -> None:
    lines = read(table_csv(table(), MARKS))
    assert lines[4][0] == "'=HYPERLINK(\"http://x\",\"clic\")"
    assert lines[5][0] == "'+56 9 1234 5678"
    assert [safe_label(text) for text in ("-1", "@SUM(A1)", "\tx", "\rx", "Ñuble", "")] == \
        ["'-1", "'@SUM(A1)", "'\tx", "'\rx", "Ñuble", ""]


def test_csv_title_rule_and_headers_are_escaped_too() -> None:
    lines = read(table_csv(table(title="=1+1", rule="-regla", row_header="@x", columns=("+a",)), MARKS, "=Total"))
    assert [lines[0][0], lines[1][0], *lines[2]] == ["'=1+1", "'-regla", "'@x", "'+a", "'=Total"]


def test_a_marked_total_is_its_word_too() -> None:
    lines = read(table_csv(table(total=HIDDEN, column_totals=(SMALL, 42)), MARKS))
    assert lines[-1] == ["Total", MARK, "42", HIDE]


def test_several_tables_in_one_csv_with_the_note_last() -> None:
    other = table(key="otra", title="Otra tabla", rows=("Mujer",), columns=("Personas",), cells=((8,),),
                  row_totals=(8,), column_totals=(8,), total=8)
    lines = read(tables_csv([table(), other], MARKS, total_label="Total", note=NOTE))
    assert lines[7] == []
    assert lines[8] == ["Otra tabla"]
    assert lines[10] == ["Región", "Personas", "Total"]
    assert lines[11] == ["Mujer", "8", "8"]
    assert lines[-1] == [NOTE]


def test_csv_bytes_start_with_the_utf8_bom() -> None:
    data = csv_bytes(table_csv(table(), MARKS))
    assert data.startswith(b"\xef\xbb\xbf")
    assert data[3:].decode("utf-8").startswith("Personas por región")
    assert data.decode("utf-8-sig") == table_csv(table(), MARKS)


def workbook(data: bytes):  # type: ignore[no-untyped-def]
    return load_workbook(io.BytesIO(data))


def test_xlsx_one_sheet_per_table_with_numbers_marks_and_totals() -> None:
    other = table(key="otra", title="Otra tabla", rows=("Mujer",), columns=("Personas",), cells=((8,),),
                  row_totals=(8,), column_totals=(8,), total=8)
    book = workbook(tables_xlsx([table(), other], "Total", MARKS, NOTE))
    assert book.sheetnames == ["Personas por región y año", "Otra tabla"]
    sheet = book["Personas por región y año"]
    assert sheet["A1"].value == "Personas por región y año" and sheet["A1"].font.bold
    assert sheet["A2"].value == "Regla de conteo: una persona por caso"
    assert [cell.value for cell in sheet[3]] == ["Región", "2025", "2026", "Total"]
    assert [cell.value for cell in sheet[4]] == ["Ñuble", 12, MARK, MARK]
    assert sheet["B4"].data_type == "n" and isinstance(sheet["B4"].value, int | float)
    assert sheet["C4"].data_type == "s"
    assert [cell.value for cell in sheet[7]] == ["Total", 22, 42, 64]
    assert all(cell.data_type == "n" for cell in sheet[7][1:])
    assert sheet["A9"].value == NOTE
    assert sheet.max_row == 9


def test_xlsx_labels_starting_with_equals_are_strings_not_formulas() -> None:
    book = workbook(tables_xlsx([table(title="=cmd|' /C calc'!A0")], "Total", MARKS, "=nota"))
    sheet = book.worksheets[0]
    for ref, text in (("A5", "=HYPERLINK(\"http://x\",\"clic\")"), ("A6", "+56 9 1234 5678"),
                      ("A1", "=cmd|' /C calc'!A0"), ("A9", "=nota")):
        assert sheet[ref].value == text  # no apostrophe: a string cell needs none
        assert sheet[ref].data_type == "s", ref


def test_sheet_names_are_valid_and_unique() -> None:
    names = sheet_names(["Personas [por] región: año*?/\\ y algo más largo que treinta y uno",
                         "Personas [por] región: año*?/\\ y algo más largo que treinta y uno",
                         "personas [POR] región: año*?/\\ y algo más largo que treinta y uno",
                         "'citado'", "[]:*?", "History"])
    assert all(0 < len(name) <= 31 for name in names)
    assert all(not set(name) & set("[]:*?/\\") for name in names)
    assert all(not name.startswith("'") and not name.endswith("'") for name in names)
    assert len({name.casefold() for name in names}) == len(names)
    assert names[0] == "Personas por región año y algo"
    assert names[1].endswith(" (2)") and names[2].endswith(" (3)")
    assert names[3] == "citado" and names[4] == "5" and names[5] != "History"


def test_xlsx_with_clashing_titles_opens() -> None:
    book = workbook(tables_xlsx([table(title="A" * 40), table(title="a" * 40)], "Total", MARKS, NOTE))
    assert len(book.sheetnames) == 2


def test_xlsx_with_no_tables_holds_the_note() -> None:
    book = workbook(tables_xlsx([], "Total", MARKS, NOTE))
    assert book.worksheets[0]["A1"].value == NOTE


ROWS = [
    {"caso": "C-01", "paso": "=derivación", "día": 0, "horas": 1.5, "región": "Ñuble"},
    {"caso": "C-01", "paso": "plan", "día": 12, "horas": None, "región": "-"},
]
FIELDS = ["caso", "paso", "día", "horas", "región"]


def test_timeline_csv() -> None:
    lines = read(timeline_csv(ROWS, FIELDS))
    assert lines == [FIELDS, ["C-01", "'=derivación", "0", "1.5", "Ñuble"], ["C-01", "plan", "12", "", "'-"]]


def test_timeline_xlsx_numbers_text_and_blanks() -> None:
    sheet = workbook(timeline_xlsx(ROWS, FIELDS, sheet_name="Línea de tiempo")).worksheets[0]
    assert sheet.title == "Línea de tiempo"
    assert [cell.value for cell in sheet[1]] == FIELDS
    assert [cell.value for cell in sheet[2]] == ["C-01", "=derivación", 0, 1.5, "Ñuble"]
    assert sheet["B2"].data_type == "s" and sheet["C2"].data_type == "n" and sheet["D2"].data_type == "n"
    assert sheet["D3"].value is None


def test_timeline_refuses_values_it_cannot_write() -> None:
    with pytest.raises(TypeError):
        timeline_csv([{"a": object()}], ["a"])
    with pytest.raises(ValueError):
        timeline_xlsx([{"a": float("nan")}], ["a"])
    with pytest.raises(KeyError):
        timeline_csv([{"a": 1}], ["b"])
