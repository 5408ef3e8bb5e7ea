"""Charts as inline SVG drawn on the server: no JavaScript, no fonts, no links, nothing loaded.

Every function returns SVG markup that a template embeds with `|safe`; every label, unit and title
is escaped here, so this module is the protection. A value of `None` (suppressed, or no data) is
drawn as an empty dashed bar marked «—», never as zero. Each bar carries a <title> («label: value
unit») for screen readers, and the chart as a whole has role="img", an aria-label and a <title>.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal

SVG_NS = "http://www.w3.org/2000/svg"
NO_VALUE = "—"
LABEL_MAX = 28            # characters shown of a label; the full label is in the bar's <title>
CHAR_WIDTH = 6.6          # rough width of a character at FONT_SIZE in a sans-serif font
FONT_SIZE = 12
TITLE_SIZE = 14
TITLE_BAND = 28           # height of the title line
ROW_HEIGHT = 22
BAR_HEIGHT = 14
PAD = 8
COLUMN_LABELS_MAX = 12    # more columns than this: label every nth
BAR_COLOUR = "#1f4e79"
LIGHT_COLOUR = "#9dc3e6"
EMPTY_COLOUR = "#8a8a8a"
TEXT_COLOUR = "#222222"
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")  # not allowed in XML 1.0


def _esc(text: str) -> str:
    """Text safe inside an element or a double-quoted attribute; characters XML forbids removed."""
    return html.escape(_NOT_XML.sub("", text), quote=True)


def _n(x: float) -> str:
    """A coordinate: one decimal at most."""
    return f"{x:.1f}".removesuffix(".0")


def _width(text: str, size: float = FONT_SIZE) -> float:
    return len(text) * CHAR_WIDTH * size / FONT_SIZE


def _value(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else value


def format_number(value: float | None, decimal_comma: bool = False) -> str:
    """Integers plain, other numbers with one decimal (a comma when `decimal_comma`); None → «—»."""
    value = _value(value)
    if value is None:
        return NO_VALUE
    if isinstance(value, int):
        return str(value)
    text = str(Decimal(repr(value)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))  # 2.25 → 2.3, as people round
    return text.replace(".", ",") if decimal_comma else text


def _with_unit(value: float | None, unit: str, decimal_comma: bool) -> str:
    value = _value(value)
    text = format_number(value, decimal_comma)
    return f"{text} {unit}" if unit and value is not None else text


def truncate(label: str, limit: int = LABEL_MAX) -> str:
    """`label` cut to `limit` characters, the last one «…» when cut."""
    if len(label) <= limit:
        return label
    return label[:max(limit - 1, 0)].rstrip() + "…"


def _open(title: str, width: float, height: float) -> list[str]:
    return [
        f'<svg xmlns="{SVG_NS}" width="{_n(width)}" height="{_n(height)}" viewBox="0 0 {_n(width)} {_n(height)}" '
        f'role="img" aria-label="{_esc(title)}" font-family="sans-serif" font-size="{FONT_SIZE}" '
        f'fill="{TEXT_COLOUR}">',
        f"<title>{_esc(title)}</title>",
        f'<text x="{PAD}" y="18" font-size="{TITLE_SIZE}" font-weight="bold">'
        f"{_esc(truncate(title, max(int((width - 2 * PAD) / _width('x', TITLE_SIZE)), 8)))}</text>",
    ]


def _text(x: float, y: float, text: str, anchor: str = "start", extra: str = "") -> str:
    return f'<text x="{_n(x)}" y="{_n(y)}" text-anchor="{anchor}"{extra}>{_esc(text)}</text>'


def _rect(x: float, y: float, w: float, h: float, fill: str) -> str:
    return f'<rect x="{_n(x)}" y="{_n(y)}" width="{_n(max(w, 0))}" height="{_n(max(h, 0))}" fill="{fill}"/>'


def _empty_rect(x: float, y: float, w: float, h: float) -> str:
    return (f'<rect x="{_n(x)}" y="{_n(y)}" width="{_n(max(w, 0))}" height="{_n(max(h, 0))}" fill="none" '
            f'stroke="{EMPTY_COLOUR}" stroke-dasharray="3 3"/>')


def _empty_chart(title: str, empty: str, width: float) -> str:
    parts = _open(title, width, 56)
    parts.append(_text(PAD, 44, empty, extra=f' fill="{EMPTY_COLOUR}"'))
    parts.append("</svg>")
    return "".join(parts)


def _scale(values: Sequence[float | None]) -> float:
    """The largest value drawn, or 0 when there is none above zero (every bar then has no length)."""
    return max((v for v in values if v is not None and v > 0), default=0.0)


def _length(value: float, maximum: float, span: float) -> float:
    return span * value / maximum if maximum > 0 and value > 0 else 0.0


def bar_chart(title: str, bars: Sequence[tuple[str, float | None]], unit: str, width: int = 640, *,
              decimal_comma: bool = False, empty: str = "Sin datos") -> str:
    """Horizontal bars, one per (label, value), the value written at the bar's end."""
    if not bars:
        return _empty_chart(title, empty, width)
    values = [_value(value) for _, value in bars]
    texts = [_with_unit(value, unit, decimal_comma) for value in values]
    labels = [truncate(label) for label, _ in bars]
    label_w = max(_width(label) for label in labels) + PAD
    value_w = max(_width(text) for text in texts) + PAD
    left = PAD + label_w
    span = max(width - left - value_w - PAD, 20)
    width = max(width, int(left + span + value_w + PAD))
    maximum = _scale(values)
    parts = _open(title, width, TITLE_BAND + len(bars) * ROW_HEIGHT + PAD)
    for index, ((label, _), short, value, text) in enumerate(zip(bars, labels, values, texts, strict=True)):
        top = TITLE_BAND + index * ROW_HEIGHT + (ROW_HEIGHT - BAR_HEIGHT) / 2
        baseline = top + BAR_HEIGHT - 3
        parts.append(f"<g><title>{_esc(f'{label}: {text}')}</title>")
        parts.append(_text(left - PAD / 2, baseline, short, anchor="end"))
        if value is None:
            parts.append(_empty_rect(left, top, span, BAR_HEIGHT))
            parts.append(_text(left + 4, baseline, NO_VALUE, extra=f' fill="{EMPTY_COLOUR}"'))
        else:
            length = _length(value, maximum, span)
            parts.append(_rect(left, top, length, BAR_HEIGHT, BAR_COLOUR))
            parts.append(_text(left + length + 4, baseline, text))
        parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts)


def column_chart(title: str, columns: Sequence[tuple[str, float | None]], unit: str, width: int = 640,
                 height: int = 220, *, decimal_comma: bool = False, empty: str = "Sin datos") -> str:
    """Vertical columns in order (e.g. cases per month «2026-01»); more than 12: every nth labelled."""
    if not columns:
        return _empty_chart(title, empty, width)
    values = [_value(value) for _, value in columns]
    texts = [_with_unit(value, unit, decimal_comma) for value in values]
    numbers = [format_number(value, decimal_comma) for value in values]
    count = len(columns)
    slot = (width - 2 * PAD) / count
    every = math.ceil(count / COLUMN_LABELS_MAX) if count > COLUMN_LABELS_MAX else 1
    widest = max(_width(truncate(label)) for label, _ in columns) + 4
    every = max(every, min(math.ceil(widest / slot), math.ceil(count / 2)))  # labels that fit side by side
    label_chars = max(int(slot * every / CHAR_WIDTH), 3)
    unit_band = FONT_SIZE + 4 if unit else 0      # the unit, under the title
    top = TITLE_BAND + unit_band + FONT_SIZE + 4  # room for the value above the tallest column
    span = max(height - FONT_SIZE - PAD - top, 20)
    baseline = top + span                         # bottom of the columns; the labels below it
    maximum = _scale(values)
    bar_w = max(slot * 0.7, 1)
    show_values = all(_width(number) <= slot for number in numbers)
    parts = _open(title, width, max(height, baseline + FONT_SIZE + PAD))
    if unit:
        parts.append(_text(PAD, TITLE_BAND + FONT_SIZE - 4, unit, extra=f' fill="{EMPTY_COLOUR}"'))
    parts.append(f'<line x1="{PAD}" y1="{_n(baseline)}" x2="{_n(width - PAD)}" y2="{_n(baseline)}" '
                 f'stroke="{EMPTY_COLOUR}"/>')
    for index, ((label, _), value, text, number) in enumerate(zip(columns, values, texts, numbers, strict=True)):
        centre = PAD + slot * (index + 0.5)
        x = centre - bar_w / 2
        parts.append(f"<g><title>{_esc(f'{label}: {text}')}</title>")
        if value is None:
            parts.append(_empty_rect(x, baseline - 16, bar_w, 16))
            parts.append(_text(centre, baseline - 20, NO_VALUE, anchor="middle", extra=f' fill="{EMPTY_COLOUR}"'))
        else:
            length = _length(value, maximum, span)
            parts.append(_rect(x, baseline - length, bar_w, length, BAR_COLOUR))
            if show_values:
                parts.append(_text(centre, baseline - length - 4, number, anchor="middle"))
        if index % every == 0:
            parts.append(_text(centre, baseline + FONT_SIZE + 2, truncate(label, label_chars), anchor="middle"))
        parts.append("</g>")
    if not show_values and maximum > 0:  # the values do not fit above the columns: one line marks the largest
        parts.append(f'<line x1="{PAD}" y1="{_n(top)}" x2="{_n(width - PAD)}" y2="{_n(top)}" stroke="{EMPTY_COLOUR}" '
                     f'stroke-dasharray="2 4"/>')
        parts.append(_text(width - PAD, top - 4, format_number(maximum, decimal_comma), anchor="end",
                           extra=f' fill="{EMPTY_COLOUR}"'))
    parts.append("</svg>")
    return "".join(parts)


def range_chart(title: str, rows: Sequence[tuple[str, float | None, float | None]], unit: str, width: int = 640,
                *, median_label: str = "mediana", p90_label: str = "percentil 90", decimal_comma: bool = False,
                empty: str = "Sin datos") -> str:
    """Per row (label, median, 90th percentile): a dark bar to the median over a light bar to the
    90th percentile, both values written at the end; a legend names the two."""
    if not rows:
        return _empty_chart(title, empty, width)
    medians = [_value(median) for _, median, _ in rows]
    p90s = [_value(p90) for _, _, p90 in rows]
    texts = [f"{format_number(median, decimal_comma)} · {format_number(p90, decimal_comma)}"
             + (f" {unit}" if unit and (median is not None or p90 is not None) else "")
             for median, p90 in zip(medians, p90s, strict=True)]
    labels = [truncate(label) for label, _, _ in rows]
    label_w = max(_width(label) for label in labels) + PAD
    value_w = max(_width(text) for text in texts) + PAD
    left = PAD + label_w
    span = max(width - left - value_w - PAD, 20)
    width = max(width, int(left + span + value_w + PAD))
    maximum = _scale([*medians, *p90s])
    legend_y = TITLE_BAND + 6
    body_top = TITLE_BAND + ROW_HEIGHT
    parts = _open(title, width, body_top + len(rows) * ROW_HEIGHT + PAD)
    legend_x = left
    for colour, word in ((BAR_COLOUR, median_label), (LIGHT_COLOUR, p90_label)):
        parts.append(_rect(legend_x, legend_y - 9, 10, 10, colour))
        parts.append(_text(legend_x + 14, legend_y, word))
        legend_x += 14 + _width(word) + 2 * PAD
    for index, ((label, _, _), short, median, p90, text) in enumerate(
            zip(rows, labels, medians, p90s, texts, strict=True)):
        top = body_top + index * ROW_HEIGHT + (ROW_HEIGHT - BAR_HEIGHT) / 2
        baseline = top + BAR_HEIGHT - 3
        spoken = (f"{label}: {median_label} {_with_unit(median, unit, decimal_comma)}; "
                  f"{p90_label} {_with_unit(p90, unit, decimal_comma)}")
        parts.append(f"<g><title>{_esc(spoken)}</title>")
        parts.append(_text(left - PAD / 2, baseline, short, anchor="end"))
        if median is None and p90 is None:
            parts.append(_empty_rect(left, top, span, BAR_HEIGHT))
            parts.append(_text(left + 4, baseline, NO_VALUE, extra=f' fill="{EMPTY_COLOUR}"'))
        else:
            end = 0.0
            if p90 is not None:
                end = _length(p90, maximum, span)
                parts.append(_rect(left, top, end, BAR_HEIGHT, LIGHT_COLOUR))
                parts.append(f'<line x1="{_n(left + end)}" y1="{_n(top - 2)}" x2="{_n(left + end)}" '
                             f'y2="{_n(top + BAR_HEIGHT + 2)}" stroke="{BAR_COLOUR}" stroke-width="2"/>')
            if median is not None:
                length = _length(median, maximum, span)
                parts.append(_rect(left, top + 3, length, BAR_HEIGHT - 6, BAR_COLOUR))
                end = max(end, length)
            parts.append(_text(left + end + 6, baseline, text))
        parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts)
