"""Server-side SVG charts: well-formed, escaped, nothing loaded from anywhere, suppressed bars
marked «—», numbers with a decimal comma in Spanish."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable

import pytest

from referral.stats.charts import bar_chart, column_chart, format_number, range_chart, truncate

NS = "{http://www.w3.org/2000/svg}"
EVIL = "<script>alert('x')</script> & \"co\" \x07"
LONG = "Región de Magallanes y de la Antártica Chilena"


def charts(label: str = EVIL) -> dict[str, str]:
    return {
        "bar": bar_chart(f"Días {EVIL}", [(label, 3.25), ("Ñuble", None), ("Cero", 0)], "días", decimal_comma=True),
        "column": column_chart(f"Casos {EVIL}", [(label, 4), ("2026-02", None), ("2026-03", 0.5)], "casos",
                               decimal_comma=True),
        "range": range_chart(f"Tiempo {EVIL}", [(label, 2.5, 10), ("Ñuble", None, None)], "días",
                             median_label="mediana <m>", p90_label="percentil 90 & más", decimal_comma=True),
    }


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == f"{NS}svg"
    return root


def texts(root: ET.Element) -> list[str]:
    return [element.text or "" for element in root.iter(f"{NS}text")]


def titles(root: ET.Element) -> list[str]:
    return [element.text or "" for element in root.iter(f"{NS}title")]


@pytest.mark.parametrize("kind", ["bar", "column", "range"])
def test_well_formed_and_labelled_for_screen_readers(kind: str) -> None:
    root = parse(charts()[kind])
    assert root.get("role") == "img"
    assert root.get("aria-label", "").startswith(("Días ", "Casos ", "Tiempo "))
    assert root[0].tag == f"{NS}title" and "<script>" in (root[0].text or "")  # the text, escaped in the markup
    groups = list(root.iter(f"{NS}g"))
    assert groups and all(group[0].tag == f"{NS}title" for group in groups)


@pytest.mark.parametrize("kind", ["bar", "column", "range"])
def test_labels_are_escaped_and_nothing_is_loaded(kind: str) -> None:
    svg = charts()[kind]
    assert "<script" not in svg.lower()
    assert "&lt;script&gt;" in svg and "&amp;" in svg and "&quot;co&quot;" in svg
    assert "\x07" not in svg
    assert re.findall(r"https?://[^\s\"'<>]*", svg) == ["http://www.w3.org/2000/svg"]
    assert "href" not in svg and "url(" not in svg and "@import" not in svg
    assert "<style" not in svg and "<foreignObject" not in svg and "<image" not in svg
    assert " on" not in re.sub(r">[^<]*<", "><", svg)  # no event attributes (onload=...) in any tag


def test_an_attribute_cannot_be_closed_by_a_label() -> None:
    root = parse(bar_chart('x" onload="alert(1)', [("a", 1)], "", decimal_comma=False))
    assert root.get("aria-label") == 'x" onload="alert(1)'
    assert root.get("onload") is None


def test_suppressed_bars_show_a_dash_not_zero() -> None:
    for kind in ("bar", "column", "range"):
        root = parse(charts()[kind])
        assert "—" in texts(root), kind
        dashed = [rect for rect in root.iter(f"{NS}rect") if rect.get("stroke-dasharray")]
        assert dashed and all(rect.get("fill") == "none" for rect in dashed), kind
    bar = parse(charts()["bar"])
    assert "Ñuble: —" in titles(bar)
    assert "Cero: 0 días" in titles(bar)


def test_numbers_use_a_decimal_comma_in_spanish() -> None:
    bar = parse(charts()["bar"])
    assert "3,3 días" in texts(bar)  # 3.25 rounded half up, not to even
    assert f"{EVIL.replace(chr(7), '')}: 3,3 días" in titles(bar)
    english = parse(bar_chart("Days", [("a", 3.25), ("b", 12)], "days"))
    assert "3.3 days" in texts(english) and "12 days" in texts(english)
    assert format_number(7, decimal_comma=True) == "7"
    assert format_number(7.0, decimal_comma=True) == "7,0"
    assert format_number(0.04) == "0.0"
    assert format_number(None) == format_number(float("nan")) == "—"
    rng = parse(charts()["range"])
    assert "2,5 · 10 días" in texts(rng)
    assert any("mediana <m> 2,5 días; percentil 90 & más 10 días" in title for title in titles(rng))
    assert {"mediana <m>", "percentil 90 & más"} <= set(texts(rng))


def test_bar_lengths_follow_the_values() -> None:
    root = parse(bar_chart("t", [("a", 10), ("b", 5), ("c", 0)], "u"))
    widths = [float(rect.get("width", "")) for rect in root.iter(f"{NS}rect")]
    assert widths[0] == pytest.approx(2 * widths[1]) and widths[2] == 0 and widths[0] > 0


def test_zero_maximum_draws_no_bar_length() -> None:
    for svg in (bar_chart("t", [("a", 0), ("b", 0)], "u"), column_chart("t", [("a", 0)], "u"),
                range_chart("t", [("a", 0, 0)], "u")):
        root = parse(svg)
        filled = [(float(rect.get("width", "")), float(rect.get("height", "")))
                  for rect in root.iter(f"{NS}rect") if rect.get("fill") != "none"]
        bars = [size for size in filled if size != (10, 10)]  # not the legend's swatches
        assert bars and all(0 in size for size in bars)
        assert any(title.startswith("a: ") and "0 u" in title for title in titles(root))


Chart = Callable[..., str]


@pytest.mark.parametrize("chart", [bar_chart, column_chart, range_chart])
def test_empty_input_says_so(chart: Chart) -> None:
    root = parse(chart("Nada <aquí>", [], "u"))
    assert "Sin datos" in texts(root)
    assert "Nada <aquí>" in titles(root)
    assert "No data" in texts(parse(chart("Nothing", [], "u", empty="No data")))


def test_long_labels_are_cut_with_the_full_label_in_the_title() -> None:
    root = parse(bar_chart("t", [(LONG, 1)], "u"))
    shown = [text for text in texts(root) if text.startswith("Región")]
    assert shown == [truncate(LONG)] and len(shown[0]) == 28 and shown[0].endswith("…")
    assert f"{LONG}: 1 u" in titles(root)
    assert truncate("corto") == "corto"


def test_many_columns_label_every_nth() -> None:
    months = [(f"{2025 + (m - 1) // 12}-{(m - 1) % 12 + 1:02}", m) for m in range(1, 37)]
    root = parse(column_chart("Casos por mes", months, "casos"))
    labels = [text for text in texts(root) if text.startswith("202")]
    assert labels[0] == "2025-01" and 6 <= len(labels) <= 12
    assert len(titles(root)) == 37  # every column still has its title
    few = parse(column_chart("Casos", months[:12], "casos"))
    assert [text for text in texts(few) if text.startswith("202")] == [label for label, _ in months[:12]]
