"""The auditor as attacker (issue 13): every query the auditor role can make, over HTTP only, then the
attacks on what came back.

**What the attacker has.** A signed-in Flask test client of an auditor, and the documented method
(docs/audit.md, "Disclosure control"). Each published count is its true count plus a noise of at most
`MAX_NOISE` (3), the same whenever the same set of cases is counted: a number v says the count is in
[v−3, v+3]; «<T» says the perturbed value is below the threshold T (read from the pages' legend), so
the count is at most T−1+3; «x» hides a value that is *not* small, so the count is at least T−3. A
narrowed query shows nothing when its perturbed population (cases filed within the filters) is below
5T (read from the message): at most 5T−1+3 cases, or at least 5T−3 when it shows figures. A
dashboard median or percentile is shown only over at least T cases. What the attacker infers from
the pages' layout, only when the pages show it: a table whose categories or years change with the
filters lists those that count someone (absent: zero; sometimes absent but listed: at least one);
a dashboard that shows medians other than exactly when the published count is at least T+3 decides
on the true count (a hidden median under a published count: fewer than T cases); a node's acceptance
rate min(1, accepted / answered) in whole percent, with its median shown when the published count of
answered referrals is at least T+3, bounds that count. No database, no product code: `collect()` is
requests and parsing, the attacks are pure functions of what it collected.

**Collection** (`collect()`): the filter grid is read from the pages' <select> options (periods: each
year and quarter; regions; types of trafficking). Then, level by level (no filter; one; two; three),
the statistics CSV and the dashboard of each combination, those whose every parent showed figures
first, until `max_grid_requests` (None: the whole grid). Then the timeline list pages (at most
`list_pages`), the timeline export (one per period when one file cannot hold every listed case) and
`sample_pages` timeline pages.

**The attacks** (each returns what it recovered; bench/disclosure.py scores it against the truth):

1. `interval_lp()`: every figure becomes an interval for the true count of a canonical set of cases,
   `Key = (what is counted, constraints, time)`: the same set seen on two pages is one variable. True
   counts add up: within a table (rows → totals, years → row totals), across the linked persons tables
   of a query (they share their totals: the same people), over time (all years = the years, a year =
   its quarters, a quarter = its months on the dashboard), over regions (national = the regions) and
   over types (parts not asked for are one unknown); NNA «Sí» lies between the 0–13 plus 14–17 age
   groups and those plus unknown ages; clocks overdue ≤ running and ≤ breached; a node's accepted,
   refused and pending ≤ its referrals. One LP per family of linked queries (a year with its quarters;
   all years with each year; national with each region; all types with each type; a query in none of
   them alone), the cheapest first. Every target (a count whose interval reaches below T) is bounded
   with scipy's HiGHS: solutions that move as many targets as they can one integer past what was seen
   (maximise Σ min(x − lower, 1) and Σ min(upper − x, 1)) show most of them free; those that no
   solution can move off their bound at all are pinned there (one LP proves it for all at once); the
   others are minimised and maximised one by one. A target is **determined** when its range holds a
   single integer (max − min < 1, or an interval such as [2.4, 3.3]).
2. `differences()`: published figures of nested queries (a year and its quarter, all years and a year,
   national and a region, all types and one type) subtracted figure by figure.
3. `dashboard_findings()`: shown medians and percentiles, named nodes and small numbers, for scoring.
4. `timeline_findings()`: the shown quasi-identifiers of every exported case and how many cases share
   them; the sequence of (event, week) of every case as a fingerprint, and how many are unique and
   join across two audit bodies' exports.

`exact_cell()` turns a truth function into the control publication (no noise, «<T» only).
"""

from __future__ import annotations

import csv
import html
import io
import math
import random
import re
import time
import warnings
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlencode

import numpy as np
from scipy.optimize import OptimizeWarning, linprog
from scipy.sparse import csr_matrix, hstack, vstack

STATISTICS_URL = "/auditoria/estadisticas"
DASHBOARD_URL = "/auditoria/tablero"
CASES_URL = "/auditoria/casos"

MAX_NOISE = 3  # the documented bound of the perturbation (the attacker knows the method)
K_TIMELINES = 11  # the documented k of the timelines
SMALL, HIDDEN, UNSEEN = "<T", "x", "—"  # «<10»; «x»; a chart's «—» (either of the two)
Cell = int | str
TOTAL = "\x00Total"  # the total row or column of a table
ALL = "*"  # time: every year
CAP = 1e6  # upper bound given to unbounded counts in the LPs (a count above it is not small anyway)
EPS = 1e-6
LARGE_LP = 3000  # counts: above, interior point then crossover (a vertex) is faster than the simplex here

PERSONS = "Personas ingresadas por"
CASE_STATES = ("Casos por estado", "Casos por estado actual")
STEP = "hito:"  # dashboard: cases that reached a milestone
CLOCK = "plazo:"  # dashboard: clocks, "plazo:<label>:<column>"
NODE = "nodo:"  # dashboard: referrals to a named node, "nodo:<column>" with the constraint ("nodo", name)
NODE_ANSWERED = "nodo:respondidas"  # the referrals a node's median is over (never shown; scored)
AGE_HEADER, NNA_PREFIX, YES, UNKNOWN_LABEL = "Grupo de edad", "NNA", "Sí", "Sin información"
MINOR_AGES = ("0–13", "14–17")
NODE_SENT, NODE_ACCEPTED, NODE_REFUSED, NODE_PENDING = "Recibidas", "Aceptadas", "Rechazadas", "Sin respuesta"
CLOCK_RUNNING, CLOCK_OVERDUE, CLOCK_MET, CLOCK_BREACHED = "En curso", "Vencidos ahora", "Cumplidos", "Incumplidos"
NARROW_WORDS = "no se muestran"

Key = tuple[str, tuple[tuple[str, str], ...], str]  # (what is counted, sorted constraints, time)
Progress = Callable[[str], None]


def make_key(kind: str, constraints: Mapping[str, str], when: str) -> Key:
    return kind, tuple(sorted(constraints.items())), when


def _quiet(_: str) -> None:
    pass


# -- the query grid -------------------------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class Query:
    """A combination of filters; "" is «all»."""

    period: str = ""
    region: str = ""
    tipo: str = ""

    @property
    def level(self) -> int:
        return sum(bool(v) for v in (self.period, self.region, self.tipo))

    @property
    def when(self) -> str:
        return self.period or ALL

    def constraints(self) -> dict[str, str]:
        found = {}
        if self.region:
            found["region"] = self.region
        if self.tipo:
            found["tipo"] = self.tipo
        return found

    def parents(self) -> list[Query]:
        found = []
        if self.period:
            found.append(replace(self, period=""))
        if self.region:
            found.append(replace(self, region=""))
        if self.tipo:
            found.append(replace(self, tipo=""))
        return found

    def url(self, path: str, **extra: str) -> str:
        params = {"periodo": self.period}  # always: the dashboard's «periodo=» is every year
        if self.region:
            params["region"] = self.region
        if self.tipo:
            params["tipo"] = self.tipo
        return f"{path}?{urlencode({**params, **extra})}"

    def __str__(self) -> str:
        return "/".join(v or "·" for v in (self.period, self.region, self.tipo))


def is_quarter(period: str) -> bool:
    return "-T" in period


@dataclass
class Grid:
    periods: list[str]  # as offered: years and quarters
    regions: dict[str, str]  # code -> name
    tipos: dict[str, str]  # code -> label
    threshold: int

    def years(self) -> list[str]:
        return [p for p in self.periods if not is_quarter(p)]

    def children(self, when: str) -> list[str]:
        """The periods that partition `when`: all → years, a year → its quarters, a quarter → its months."""
        if when == ALL:
            return self.years()
        if len(when) == 4:
            return [p for p in self.periods if p.startswith(f"{when}-T")]
        if is_quarter(when):
            year, quarter = when.split("-T")
            return [f"{year}-{m:02d}" for m in range(3 * int(quarter) - 2, 3 * int(quarter) + 1)]
        return []

    def levels(self) -> list[list[Query]]:
        ps, rs, ts = self.periods, list(self.regions), list(self.tipos)
        return [
            [Query()],
            [Query(period=p) for p in ps] + [Query(region=r) for r in rs] + [Query(tipo=t) for t in ts],
            [Query("", r, t) for r in rs for t in ts] + [Query(p, r, "") for p in ps for r in rs]
            + [Query(p, "", t) for p in ps for t in ts],
            [Query(p, r, t) for p in ps for r in rs for t in ts],
        ]


# -- what the pages show --------------------------------------------------------------------------------------


@dataclass
class Table:
    title: str
    header: str  # the row header (the dimension's name)
    rows: tuple[str, ...]
    columns: tuple[str, ...]  # years; () for a table without years (the dashboard's states)
    cells: dict[tuple[str, str], Cell]  # (row or TOTAL, column or TOTAL)
    by_year: bool = True


@dataclass
class StatisticsView:
    narrow: bool
    tables: list[Table]


@dataclass
class StepRow:
    label: str
    cases: Cell
    median: int | None
    p90: int | None


@dataclass
class NodeRow:
    name: str
    others: bool  # «Otros nodos»: nodes under the threshold together
    figures: dict[str, Cell]  # column header -> cell
    rate: int | None  # acceptance, whole percent
    median: int | None
    p90: int | None


@dataclass
class DashboardView:
    narrow: bool
    count: Cell | None = None
    steps: list[StepRow] = field(default_factory=list)
    nodes: list[NodeRow] = field(default_factory=list)
    clocks: dict[str, dict[str, Cell]] = field(default_factory=dict)  # label -> column header -> cell
    states: Table | None = None
    months: dict[str, Cell] = field(default_factory=dict)


@dataclass
class ExportedCase:
    name: str
    qi: tuple[str, ...]  # the shown quasi-identifiers, "" where generalised away
    status: tuple[str, str]  # cas_Status, cas_ReasonForCaseClosure
    events: tuple[tuple[str, int], ...]  # (event_code, weeks_since_detection) in order


@dataclass
class CaseLine:
    name: str
    period: str
    region: str
    state: str


@dataclass
class TimelinePage:
    name: str
    withheld: bool
    period: str = ""
    region: str = ""
    state: str = ""
    categories: dict[str, str] = field(default_factory=dict)


@dataclass
class Timelines:
    exported: dict[str, ExportedCase]
    qi_fields: tuple[str, ...]
    listed: dict[str, CaseLine]
    listed_total: int
    pages: dict[str, TimelinePage]
    export_limit: int


@dataclass
class Observations:
    grid: Grid
    min_population: int | None  # read from the «too narrow» message
    statistics: dict[Query, StatisticsView]
    dashboards: dict[Query, DashboardView]
    timelines: Timelines | None
    requests: int
    grid_complete: bool  # every combination of the grid was asked

    def shown(self, query: Query) -> bool:
        stats, board = self.statistics.get(query), self.dashboards.get(query)
        return bool((stats and not stats.narrow) or (board and not board.narrow))


def parse_cell(text: str) -> Cell:
    text = html.unescape(text).strip()
    if text.startswith("<"):
        return SMALL
    if text == "x":
        return HIDDEN
    if text in ("—", "", "-"):
        return UNSEEN
    return int(text)


_SELECT = re.compile(r'<select[^>]*\bname="(\w+)"[^>]*>(.*?)</select>', re.S)
_OPTION = re.compile(r"<option([^>]*)>(.*?)</option>", re.S)
_VALUE = re.compile(r'value="([^"]*)"')


def select_options(page: str) -> dict[str, list[tuple[str, str]]]:
    found: dict[str, list[tuple[str, str]]] = {}
    for name, body in _SELECT.findall(page):
        options = []
        for attributes, label in _OPTION.findall(body):
            value = _VALUE.search(attributes)
            options.append((html.unescape(value[1]) if value else "", html.unescape(label).strip()))
        found[name] = options
    return found


def parse_grid(page: str) -> Grid:
    options = select_options(page)
    legend = re.search(r"«<(\d+)»", html.unescape(page))
    if legend is None or not {"periodo", "region", "tipo"} <= set(options):
        raise ValueError("the statistics page has no legend or no filters")
    return Grid([v for v, _ in options["periodo"] if v], {v: n for v, n in options["region"] if v},
                {v: n for v, n in options["tipo"] if v}, int(legend[1]))


def parse_statistics_csv(body: bytes) -> tuple[list[Table], str]:
    """The tables of a statistics CSV (title, rule, header, rows, «Total» line; a blank line between),
    and the text of the rest (the note)."""
    lines = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    blocks: list[list[list[str]]] = [[]]
    for line in lines:
        if any(part.strip() for part in line):
            blocks[-1].append(line)
        elif blocks[-1]:
            blocks.append([])
    tables, notes = [], []
    for block in blocks:
        if len(block) >= 4 and block[-1][0] == "Total":
            header = block[2]
            columns = tuple(header[1:-1])
            cells: dict[tuple[str, str], Cell] = {}
            rows = []
            for line in block[3:]:
                label = TOTAL if line is block[-1] else line[0]
                if label != TOTAL:
                    rows.append(label)
                for column, value in zip((*columns, TOTAL), line[1:], strict=True):
                    cells[(label, column)] = parse_cell(value)
            tables.append(Table(block[0][0], header[0], tuple(rows), columns, cells))
        else:
            notes.extend(" ".join(line) for line in block)
    return tables, " ".join(notes)


class _Tables(HTMLParser):
    """Every <table> of a page: its caption and its rows of cell texts."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: list[tuple[str, list[list[str]]]] = []
        self._rows: list[list[str]] | None = None
        self._caption: list[str] | None = None
        self._caption_text = ""
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._rows, self._caption_text = [], ""
        elif self._rows is None:
            return
        elif tag == "caption":
            self._caption = []
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
        elif tag == "br" and self._caption is not None:
            self._caption.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if self._rows is None:
            return
        if tag == "caption" and self._caption is not None:
            self._caption_text = "".join(self._caption)
            self._caption = None
        elif tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self._rows.append(self._row)
            self._row = None
        elif tag == "table":
            self.tables.append((self._caption_text, self._rows))
            self._rows = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        elif self._caption is not None:
            self._caption.append(data)


def page_tables(page: str) -> list[tuple[str, list[list[str]]]]:
    parser = _Tables()
    parser.feed(page)
    return parser.tables


def _number(text: str) -> int | None:
    text = text.strip()
    return int(text) if text.isdigit() else None


def parse_dashboard(page: str) -> DashboardView:
    lead = re.search(r'<p class="lead">\s*(\S+) casos con Ficha', page)
    if lead is None:
        if NARROW_WORDS not in page:
            raise ValueError("a dashboard with neither figures nor the «too narrow» message")
        return DashboardView(narrow=True)
    view = DashboardView(narrow=False, count=parse_cell(lead[1]))
    for caption, rows in page_tables(page):
        if not rows:
            continue
        head = rows[0]
        if caption.startswith(CASE_STATES[1]):
            cells: dict[tuple[str, str], Cell] = {}
            labels = []
            for line in rows[1:]:
                label = TOTAL if line[0] == "Total" else line[0]
                if label != TOTAL:
                    labels.append(label)
                cells[(label, TOTAL)] = parse_cell(line[-1])
                if parse_cell(line[1]) != parse_cell(line[-1]):
                    raise ValueError(f"states table: {line} has a cell other than its total")
            view.states = Table(CASE_STATES[1], head[0], tuple(labels), (), cells, by_year=False)
        elif head[0] == "Paso":
            view.steps = [StepRow(line[0], parse_cell(line[1]), _number(line[2]), _number(line[3])) for line in rows[1:]]
        elif head[0] == "Nodo":
            for line in rows[1:]:
                figures = {name: parse_cell(value) for name, value in zip(head[2:6], line[2:6], strict=True)}
                view.nodes.append(NodeRow(line[0], line[0].startswith("Otros nodos"), figures,
                                          _number(line[6].rstrip("%").strip()), _number(line[7]), _number(line[8])))
        elif head[0] == "Plazo":
            view.clocks = {line[0]: {name: parse_cell(value) for name, value in zip(head[1:], line[1:], strict=True)}
                           for line in rows[1:]}
    for month, value in re.findall(r"<title>(\d{4}-\d{2}): ([^<]*)</title>", page):
        view.months[month] = parse_cell(html.unescape(value).split()[0])
    return view


_CASE_ROW = re.compile(r'<tr><td><a href="/auditoria/casos/([a-z0-9]+)"><code>[^<]*</code></a></td>'
                       r"<td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td></tr>")


def parse_case_list(page: str) -> tuple[list[CaseLine], int, int, int]:
    """(rows, cases matching, pages, cases per export file)."""
    rows = [CaseLine(n, html.unescape(p), html.unescape(r), html.unescape(s)) for n, p, r, s in _CASE_ROW.findall(page)]
    total = re.search(r"<p>(\d+) casos\.", page)
    pages = re.search(r"Página \d+ de (\d+)", page)
    limit = re.search(r"Hasta (\d+) casos por archivo", page)
    return (rows, int(total[1]) if total else len(rows), int(pages[1]) if pages else 1,
            int(limit[1]) if limit else 0)


def parse_timeline(name: str, page: str) -> TimelinePage:
    if "no se muestra" in page and 'class="notice"' in page:
        return TimelinePage(name, withheld=True)
    lead = re.search(r'<p class="lead">Detectado en (.*?)</p>', page, re.S)
    parts = [html.unescape(p).strip() for p in (lead[1] if lead else "").split("·")]
    facts = re.search(r'<dl class="facts">(.*?)</dl>', page, re.S)
    categories = {html.unescape(k).strip(): html.unescape(v).strip()
                  for k, v in re.findall(r"<dt>(.*?)</dt><dd>(.*?)</dd>", facts[1] if facts else "", re.S)}
    return TimelinePage(name, False, *(parts + ["", "", ""])[:3], categories=categories)


def parse_export(body: bytes) -> tuple[dict[str, ExportedCase], tuple[str, ...]]:
    """Cases of a timeline export: their shown quasi-identifiers (detection period, the categories and
    the region), status and (event, week) sequence."""
    reader = csv.DictReader(io.StringIO(body.decode("utf-8-sig")))
    fields = tuple(reader.fieldnames or ())
    start, end = fields.index("detection_period"), fields.index("region_of_detection")
    qi_fields = fields[start:end + 1]
    rows: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in reader:
        rows[row["case_pseudonym"]].append(row)
    cases = {}
    for name, steps in rows.items():
        steps.sort(key=lambda r: int(r["event_number"]))
        first = steps[0]
        cases[name] = ExportedCase(name, tuple(first[f] for f in qi_fields),
                                   (first["cas_Status"], first["cas_ReasonForCaseClosure"]),
                                   tuple((r["event_code"], int(r["weeks_since_detection"])) for r in steps))
    return cases, qi_fields


# -- collection -----------------------------------------------------------------------------------------------


class Session:
    """The attacker's HTTP: GETs through the test client, counted."""

    def __init__(self, client: Any):
        self.client = client
        self.requests = 0

    def get(self, url: str, expect: int | None = 200) -> Any:
        self.requests += 1
        answer = self.client.get(url)
        if expect is not None and answer.status_code != expect:
            raise RuntimeError(f"GET {url}: {answer.status_code}, expected {expect}")
        return answer


def collect(client: Any, max_grid_requests: int | None = None, list_pages: int | None = None,
            sample_pages: int = 20, seed: int = 13, progress: Progress = _quiet) -> Observations:
    """Every figure the auditor can ask for (within the caps), through `client` only."""
    http = Session(client)
    grid = parse_grid(http.get(STATISTICS_URL).text)
    progress(f"  grid: {len(grid.periods)} periods, {len(grid.regions)} regions, {len(grid.tipos)} types, "
             f"threshold {grid.threshold}")
    statistics: dict[Query, StatisticsView] = {}
    dashboards: dict[Query, DashboardView] = {}
    min_population: list[int] = []
    complete = True

    def shown(q: Query) -> bool:
        return q in statistics and not statistics[q].narrow

    began = time.perf_counter()
    for level in grid.levels():
        ordered = sorted(enumerate(level), key=lambda item: (not all(shown(p) for p in item[1].parents()), item[0]))
        for _, query in ordered:
            if max_grid_requests is not None and http.requests + 2 > max_grid_requests:
                complete = False
                break
            tables, note = parse_statistics_csv(http.get(query.url(STATISTICS_URL, formato="csv")).data)
            narrow = not tables and NARROW_WORDS in note
            found = re.search(r"menos de (\d+) casos", note)
            if narrow and found:
                min_population.append(int(found[1]))
            statistics[query] = StatisticsView(narrow, tables)
            dashboards[query] = parse_dashboard(http.get(query.url(DASHBOARD_URL)).text)
        if not complete:
            break
    shown_count = sum(1 for v in statistics.values() if not v.narrow)
    progress(f"  {len(statistics)} combinations asked ({shown_count} with figures), {http.requests} requests, "
             f"{time.perf_counter() - began:.1f} s{'' if complete else ' (capped)'}")
    timelines = collect_timelines(http, grid, list_pages, sample_pages, random.Random(seed), progress)
    return Observations(grid, min(min_population) if min_population else None, statistics, dashboards, timelines,
                        http.requests, complete)


def export_all(http: Session, grid: Grid, listed_total: int | None = None) -> tuple[dict[str, ExportedCase],
                                                                                   tuple[str, ...]]:
    """Every case the timeline export gives: one file, or one per period when one cannot hold them all."""
    cases, fields = parse_export(http.get(f"{CASES_URL}?formato=csv").data)
    if listed_total is None:
        listed_total = parse_case_list(http.get(CASES_URL).text)[1]
    if len(cases) < listed_total:
        for period in grid.periods:
            more, _ = parse_export(http.get(Query(period).url(CASES_URL, formato="csv")).data)
            cases.update(more)
    return cases, fields


def collect_timelines(http: Session, grid: Grid, list_pages: int | None, sample_pages: int, rng: random.Random,
                      progress: Progress = _quiet) -> Timelines:
    began = time.perf_counter()
    rows, total, pages, limit = parse_case_list(http.get(CASES_URL).text)
    listed = {row.name: row for row in rows}
    for page in range(2, 1 + min(pages, list_pages if list_pages is not None else pages)):
        listed.update((row.name, row) for row in parse_case_list(http.get(f"{CASES_URL}?pagina={page}").text)[0])
    exported, fields = export_all(http, grid, total)
    names = sorted(exported)
    sampled = {}
    for name in rng.sample(names, min(sample_pages, len(names))):
        sampled[name] = parse_timeline(name, http.get(f"{CASES_URL}/{name}").text)
    progress(f"  timelines: {total} cases listed, {len(listed)} read from the list, {len(exported)} exported, "
             f"{len(sampled)} pages, {time.perf_counter() - began:.1f} s")
    return Timelines(exported, fields, listed, total, sampled, limit)


@dataclass
class DayRangeProbe:
    """The old day-range parameters and a day period."""

    statistics_identical: bool  # since/until …-06-11 vs …-06-12 vs none: the same CSV
    dashboard_identical: bool
    cases_identical: bool
    day_period_statuses: dict[str, int]  # page -> status of «periodo=2026-06-01»
    requests: int


def probe_day_ranges(client: Any) -> DayRangeProbe:
    http = Session(client)
    first, second = "since=2026-06-01&until=2026-06-11", "since=2026-06-01&until=2026-06-12"

    def three(path: str, extra: str = "") -> list[bytes]:
        return [http.get(f"{path}?{q}{extra}").data for q in (first, second, "")]

    def same(bodies: list[bytes]) -> bool:
        return len(set(bodies)) == 1

    listed = [parse_case_list(body.decode())[0] for body in three(CASES_URL)]
    statistics_identical = same(three(STATISTICS_URL, "&formato=csv"))
    boards = [parse_dashboard(body.decode()) for body in three(DASHBOARD_URL)]  # the figures, not CSRF tokens
    dashboard_identical = boards[0] == boards[1] == boards[2]
    statuses = {path: http.get(f"{path}?periodo=2026-06-01", expect=None).status_code
                for path in (STATISTICS_URL, DASHBOARD_URL, CASES_URL)}
    return DayRangeProbe(statistics_identical, dashboard_identical, listed[0] == listed[1] == listed[2], statuses,
                         http.requests)


# -- figures as intervals over canonical sets of cases ---------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    name: tuple[str, ...]  # where it is shown within a query's pages
    key: Key
    cell: Cell


@dataclass
class Evidence:
    """What one query's pages say: figures, and what the attacker knows exactly about true counts."""

    figures: list[Figure] = field(default_factory=list)
    sums: list[tuple[Key, tuple[Key, ...]]] = field(default_factory=list)  # parent = sum of children
    at_most: list[tuple[dict[Key, float], float]] = field(default_factory=list)  # Σ coefficient·count ≤ value
    bounds: list[tuple[Key, float, float, str]] = field(default_factory=list)  # lower, upper, why


@dataclass
class Layout:
    """What the attacker learns from which rows and years tables list, across every query: the rows a
    table ever lists and those it always lists (declared categories); a row listed only sometimes is a
    category listed when it counts someone. Years likewise, if some table without a period leaves out
    a year of the grid (then a year is listed when it counts someone). A product that lists every row
    and every year whatever the filters says nothing by it."""

    rows: dict[str, set[str]]
    always: dict[str, set[str]]
    years_vary: set[str]  # tables whose years depend on the filters

    @classmethod
    def of(cls, statistics: Mapping[Query, StatisticsView], grid: Grid) -> Layout:
        rows: dict[str, set[str]] = {}
        always: dict[str, set[str]] = {}
        years_vary: set[str] = set()
        for query, view in statistics.items():
            for table in view.tables:
                rows.setdefault(table.title, set()).update(table.rows)
                always[table.title] = always.get(table.title, set(table.rows)) & set(table.rows)
                if not query.period and set(grid.years()) - set(table.columns):
                    years_vary.add(table.title)
        return cls(rows, always, years_vary)


def classify(table: Table, grid: Grid) -> tuple[str, str, dict[str, str]]:
    """(what the table counts, its dimension, row label -> constraint value): persons tables share what
    they count; their region and type tables are the grid's region and type."""
    if table.title.startswith(PERSONS):
        names = {name: code for code, name in grid.regions.items()}
        labels = {label: code for code, label in grid.tipos.items()}
        if table.rows and all(r in names for r in table.rows):
            return "personas", "region", names
        if table.rows and all(r in labels for r in table.rows):
            return "personas", "tipo", labels
        return "personas", table.header, {}
    if table.title in CASE_STATES:
        return "casos", table.header, {}
    return table.title, table.header, {}


def cell_key(query: Query, kind: str, dimension: str, value: str | None, column: str) -> Key | None:
    """The canonical set a cell counts; None when the filters exclude it by definition (a type other
    than the filter's)."""
    constraints = query.constraints()
    if value is not None:
        if constraints.get(dimension, value) != value:
            return None
        constraints[dimension] = value
    if column == TOTAL or query.period:
        when = query.when
    else:
        when = column
    return make_key(kind, constraints, when)


Override = Callable[[Key], Cell] | None


def table_evidence(query: Query, table: Table, grid: Grid, layout: Layout | None, evidence: Evidence,
                   override: Override = None, where: str = "estadisticas") -> None:
    kind, dimension, codes = classify(table, grid)
    columns = list(table.columns) if table.by_year else []
    rows = list(table.rows)

    def key(row: str, column: str) -> Key | None:
        return cell_key(query, kind, dimension, None if row == TOTAL else codes.get(row, row), column)

    for (row, column), cell in table.cells.items():
        k = key(row, column)
        if k is not None:
            evidence.figures.append(Figure((where, table.title, row, column), k, override(k) if override else cell))
    for column in [*columns, TOTAL]:
        parent = key(TOTAL, column)
        if parent is not None:
            evidence.sums.append((parent, tuple(k for r in rows if (k := key(r, column)) is not None)))
    if table.by_year:
        for row in [*rows, TOTAL]:
            parent = key(row, TOTAL)
            children = tuple(k for c in columns if (k := key(row, c)) is not None)
            if parent is not None and children != (parent,):
                evidence.sums.append((parent, children))
    if table.by_year and layout is not None and table.title in layout.years_vary:
        for column in columns:  # a year is listed when it counts someone
            if (k := key(TOTAL, column)) is not None:
                evidence.bounds.append((k, 1, math.inf, "year listed"))
        if not query.period:  # a year of the grid that is not listed counts no one
            for year in grid.years():
                if year not in table.columns:
                    for row in [*rows, TOTAL]:
                        if (k := key(row, year)) is not None:
                            evidence.bounds.append((k, 0, 0, "year not listed"))
    if layout is not None and table.title in layout.rows:
        optional = layout.rows[table.title] - layout.always[table.title]
        for row in rows:  # a category that is not always listed is listed when it counts someone
            if row in optional and (k := key(row, TOTAL)) is not None:
                evidence.bounds.append((k, 1, math.inf, "category listed"))
        for row in layout.rows[table.title] - set(rows):  # ... and counts no one when it is not
            if (k := key(row, TOTAL)) is not None:
                evidence.bounds.append((k, 0, 0, "category not listed"))


def medians_follow_published_counts(obs: Observations) -> bool:
    """Whether the dashboard shows a step's median exactly when its published count is at least T + 3
    (the documented rule: the decision then tells nothing the count does not). If not, it follows the
    true count: a hidden median under a published count says the true count is below T."""
    t = obs.grid.threshold
    return all((step.median is not None or step.p90 is not None) == (step.cases >= t + MAX_NOISE)
               for board in obs.dashboards.values() for step in board.steps if isinstance(step.cases, int))


def answered_range(node: NodeRow, threshold: int, published_rule: bool) -> tuple[float, float] | None:
    """The published count of a node's answered referrals (accepted or refused, a figure of its own)
    that its acceptance rate min(1, accepted / answered), in whole percent, and its median (shown when
    that count is at least T + 3) leave possible."""
    accepted = node.figures.get(NODE_ACCEPTED)
    if not published_rule or node.rate is None or not isinstance(accepted, int):
        return None
    rate = node.rate
    low = float(threshold) if rate >= 100 else max(threshold, math.ceil(accepted * 100 / (rate + 0.5) - EPS))
    high = math.floor(accepted * 100 / (rate - 0.5) + EPS) if rate > 0.5 else CAP
    if node.median is not None or node.p90 is not None:
        low = max(low, threshold + MAX_NOISE)
    else:
        high = min(high, threshold + MAX_NOISE - 1)
    return low, high


def query_evidence(query: Query, obs: Observations, layout: Layout | None, override: Override = None,
                   published_rule: bool | None = None) -> Evidence:
    evidence = Evidence()
    grid, t = obs.grid, obs.grid.threshold
    stats, board = obs.statistics.get(query), obs.dashboards.get(query)
    population = make_key("casos", query.constraints(), query.when)
    if stats is not None:
        for table in stats.tables:
            table_evidence(query, table, grid, layout, evidence, override)
    narrow = (stats is not None and stats.narrow) or (board is not None and board.narrow)
    shown = (stats is not None and not stats.narrow) or (board is not None and not board.narrow)
    if query.level and obs.min_population:  # the decision is taken on the perturbed population
        if narrow:
            evidence.bounds.append((population, 0, obs.min_population - 1 + MAX_NOISE, "too narrow"))
        elif shown:
            evidence.bounds.append((population, max(0, obs.min_population - MAX_NOISE), math.inf, "shown"))
    if board is None or board.narrow:
        return evidence
    constraints, when = query.constraints(), query.when

    def figure(name: tuple[str, ...], key: Key, cell: Cell) -> None:
        evidence.figures.append(Figure(("tablero", *name), key, override(key) if override else cell))

    if board.count is not None:
        figure(("casos",), population, board.count)
    if board.states is not None:
        table_evidence(query, board.states, grid, None, evidence, override, where="tablero")
    for month, cell in board.months.items():
        figure(("mes", month), make_key("casos", constraints, month), cell)
    for step in board.steps:
        key = make_key(STEP + step.label, constraints, when)
        figure(("paso", step.label), key, step.cases)
        if step.median is not None or step.p90 is not None:  # over at least T cases
            evidence.bounds.append((key, t, math.inf, "median shown"))
        elif isinstance(step.cases, int) and not published_rule:  # the decision followed the true count
            evidence.bounds.append((key, 0, t - 1, "median not shown"))
    for label, columns in board.clocks.items():
        keys = {name: make_key(f"{CLOCK}{label}:{name}", constraints, when) for name in columns}
        for name, cell in columns.items():
            figure(("plazo", label, name), keys[name], cell)
        if {CLOCK_RUNNING, CLOCK_OVERDUE, CLOCK_BREACHED} <= set(keys):
            evidence.at_most.append(({keys[CLOCK_OVERDUE]: 1, keys[CLOCK_RUNNING]: -1}, 0))
            evidence.at_most.append(({keys[CLOCK_OVERDUE]: 1, keys[CLOCK_BREACHED]: -1}, 0))
    for node in board.nodes:
        if node.others:
            continue
        keys = {name: make_key(NODE + name, {**constraints, "nodo": node.name}, when) for name in node.figures}
        for name, cell in node.figures.items():
            figure(("nodo", node.name, name), keys[name], cell)
        if {NODE_SENT, NODE_ACCEPTED, NODE_REFUSED, NODE_PENDING} <= set(keys):
            evidence.at_most.append(({keys[NODE_ACCEPTED]: 1, keys[NODE_REFUSED]: 1, keys[NODE_PENDING]: 1,
                                      keys[NODE_SENT]: -1}, 0))
            answered = {keys[NODE_ACCEPTED]: 1.0, keys[NODE_REFUSED]: 1.0}
            answered_figure = answered_range(node, t, bool(published_rule))
            if answered_figure is not None:  # the published count of the answered referrals, within the noise
                low, high = answered_figure
                evidence.at_most.append(({k: -v for k, v in answered.items()}, -(low - MAX_NOISE)))
                evidence.at_most.append((answered, high + MAX_NOISE))
            elif node.median is not None or node.p90 is not None:  # over the answered referrals: at least T
                evidence.at_most.append(({k: -v for k, v in answered.items()}, -t))
            elif not published_rule:  # assumed: every accepted or refused referral has its answer time
                evidence.at_most.append((answered, t - 1))
    return evidence


def interval(cell: Cell, threshold: int, noise: int) -> tuple[float, float]:
    """What a published cell says of the true count."""
    if isinstance(cell, int):
        return max(0, cell - noise), cell + noise
    if cell == SMALL:
        return 0, threshold - 1 + noise
    if cell == HIDDEN:  # a complement: its perturbed value is not small
        return max(0, threshold - noise), math.inf
    return 0, math.inf


# -- 1. the interval LP --------------------------------------------------------------------------------------


@dataclass
class Model:
    lower: dict[Key, float] = field(default_factory=dict)
    upper: dict[Key, float] = field(default_factory=dict)
    sums: set[tuple[Key, tuple[Key, ...]]] = field(default_factory=set)
    at_most: list[tuple[dict[Key, float], float]] = field(default_factory=list)
    cells: dict[Key, set[Cell]] = field(default_factory=lambda: defaultdict(set))

    def variable(self, key: Key) -> None:
        self.lower.setdefault(key, 0.0)
        self.upper.setdefault(key, math.inf)

    def bound(self, key: Key, low: float, high: float) -> None:
        self.variable(key)
        self.lower[key] = max(self.lower[key], low)
        self.upper[key] = min(self.upper[key], high)


REST = "~rest"  # the unasked parts of a sum, together (not a target)


def grid_sums(keys: set[Key], grid: Grid) -> set[tuple[Key, tuple[Key, ...]]]:
    """Counts that add up over the grid: a period over its sub-periods, national over the regions, all
    types over the types; for each known count with at least one of its parts known. A single unknown
    part stays itself (subtraction may determine it); several unknown parts are one unknown, their
    sum (a variable each would only add freedom)."""
    found = set()
    for kind, constraints, when in keys:
        fixed = dict(constraints)
        splits = [("time", [(kind, constraints, w) for w in grid.children(when)])]
        if "region" not in fixed:
            splits.append(("region", [make_key(kind, {**fixed, "region": r}, when) for r in grid.regions]))
        if "tipo" not in fixed:
            splits.append(("tipo", [make_key(kind, {**fixed, "tipo": t}, when) for t in grid.tipos]))
        for axis, children in splits:
            known = tuple(child for child in children if child in keys)
            if not known:
                continue
            unknown = [child for child in children if child not in keys]
            if len(unknown) > 1:
                unknown = [(REST, ((axis, repr((kind, constraints, when))),), when)]
            found.add(((kind, constraints, when), known + tuple(unknown)))
    return found


def linked_tables(keys: set[Key]) -> list[tuple[dict[Key, float], float]]:
    """NNA «Sí» against the age groups: minors by age ≤ NNA ≤ minors by age + unknown age."""
    found: list[tuple[dict[Key, float], float]] = []
    for kind, constraints, when in keys:
        fixed = dict(constraints)
        nna = next((d for d, v in fixed.items() if d.startswith(NNA_PREFIX) and v == YES), None)
        if kind != "personas" or nna is None:
            continue
        rest = {d: v for d, v in fixed.items() if d != nna}
        minors = [make_key(kind, {**rest, AGE_HEADER: age}, when) for age in MINOR_AGES]
        unknown = make_key(kind, {**rest, AGE_HEADER: UNKNOWN_LABEL}, when)
        key = (kind, constraints, when)
        if all(m in keys for m in minors):
            found.append(({**{m: 1.0 for m in minors}, key: -1.0}, 0))
            if unknown in keys:
                found.append(({key: 1.0, **{m: -1.0 for m in minors}, unknown: -1.0}, 0))
    return found


def build_model(evidences: Sequence[Evidence], grid: Grid, noise: int) -> Model:
    model = Model()
    for evidence in evidences:
        for figure in evidence.figures:
            model.bound(figure.key, *interval(figure.cell, grid.threshold, noise))
            model.cells[figure.key].add(figure.cell)
        for key, low, high, _ in evidence.bounds:
            model.bound(key, low, high)
        for parent, children in evidence.sums:
            model.sums.add((parent, children))
        model.at_most.extend(evidence.at_most)
    keys = set(model.lower)
    model.sums |= grid_sums(keys, grid)
    model.at_most.extend(linked_tables(keys))
    for parent, children in model.sums:
        for key in (parent, *children):
            model.variable(key)
    for coefficients, _ in model.at_most:
        for key in coefficients:
            model.variable(key)
    return model


def inconsistencies(model: Model, threshold: int) -> list[tuple[Key, tuple[Cell, ...]]]:
    """The same set of cases published as two different figures (numbers that differ, or a number
    and «<T»): the method promises the same figure."""
    found = []
    for key, cells in model.cells.items():
        numbers = {c for c in cells if isinstance(c, int)}
        if len(numbers) > 1 or (numbers and SMALL in cells):
            found.append((key, tuple(sorted(cells, key=str))))
    return found


class Infeasible(Exception):
    pass


@dataclass
class LPResult:
    determined: dict[Key, int]  # targets whose range holds a single integer, with that integer
    how: dict[Key, str]  # "bounds" (its own figures and facts pin it) or "lp"
    ranges: dict[Key, tuple[float, float]]  # the exact range of each target solved to the end
    targets: int
    families: int  # linked queries found
    components: int
    solves: int
    infeasible: list[str]  # families with no solution: a modelling error or an inconsistent publication
    inconsistent: list[tuple[Key, tuple[Cell, ...]]]
    seconds: float
    families_solved: int = 0


def single_integer(low: float, high: float) -> int | None:
    first, last = math.ceil(low - EPS), math.floor(high + EPS)
    return first if first == last else None


class _Component:
    """One connected part of a model: its counts, bounds, sums and inequalities as an LP."""

    def __init__(self, keys: list[Key], sums: list[tuple[Key, tuple[Key, ...]]],
                 at_most: list[tuple[dict[Key, float], float]], model: Model):
        self.keys = keys
        index = {k: i for i, k in enumerate(keys)}
        self.index = index
        n = len(keys)
        lower = np.array([model.lower[k] for k in keys], dtype=float)
        upper = np.array([min(model.upper[k], CAP) for k in keys], dtype=float)
        if np.any(lower > upper + EPS):
            raise Infeasible("a count's own figures contradict each other")
        self.bounds = np.column_stack([lower, np.maximum(lower, upper)])
        rows: list[int] = []
        cols: list[int] = []
        data: list[float] = []
        for r, (parent, children) in enumerate(sums):
            coefficients: dict[int, float] = defaultdict(float)
            coefficients[index[parent]] -= 1
            for child in children:
                coefficients[index[child]] += 1
            for c, v in coefficients.items():
                if v:
                    rows.append(r)
                    cols.append(c)
                    data.append(v)
        self.a_eq = csr_matrix((data, (rows, cols)), shape=(len(sums), n)) if sums else None
        self.b_eq = np.zeros(len(sums)) if sums else None
        rows, cols, data = [], [], []
        for r, (coefficients_by_key, _) in enumerate(at_most):
            for k, v in coefficients_by_key.items():
                rows.append(r)
                cols.append(index[k])
                data.append(v)
        self.a_ub = csr_matrix((data, (rows, cols)), shape=(len(at_most), n)) if at_most else None
        self.b_ub = np.array([value for _, value in at_most], dtype=float) if at_most else None
        self.solves = 0
        self.method = "highs-ipm" if n > LARGE_LP else "highs"

    def extreme(self, objective: np.ndarray) -> np.ndarray | None:
        """A solution minimising `objective`; None when the solver gives none (numerical trouble)."""
        self.solves += 1
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", OptimizeWarning)
            result = linprog(objective, A_ub=self.a_ub, b_ub=self.b_ub, A_eq=self.a_eq, b_eq=self.b_eq,
                             bounds=self.bounds, method=self.method)
        if result.status == 2:
            raise Infeasible(result.message)
        return result.x if result.status == 0 else None

    def opening(self, floor: np.ndarray, ceiling: np.ndarray,
                push: np.ndarray) -> tuple[np.ndarray, np.ndarray] | tuple[None, None]:
        """A solution taking as many as it can of the `floor` counts one above their lower bound and of
        the `ceiling` counts one below their upper bound (maximise Σ y + Σ z with y = min(x − lower, 1),
        z = min(upper − x, 1)), and pushing the others along `push`: (solution, the y then the z)."""
        n, a, b = len(self.keys), len(floor), len(ceiling)
        m = a + b
        picks = csr_matrix((np.concatenate([-np.ones(a), np.ones(b)]), (np.arange(m), np.concatenate([floor, ceiling]))),
                           shape=(m, n))
        rows = hstack([picks, csr_matrix((np.ones(m), (np.arange(m), np.arange(m))), shape=(m, m))])
        b_ub = np.concatenate([-self.bounds[floor, 0], self.bounds[ceiling, 1]])
        if self.a_ub is not None:
            rows = vstack([hstack([self.a_ub, csr_matrix((self.a_ub.shape[0], m))]), rows])
            b_ub = np.concatenate([self.b_ub, b_ub])
        a_eq = hstack([self.a_eq, csr_matrix((self.a_eq.shape[0], m))]).tocsr() if self.a_eq is not None else None
        bounds = np.vstack([self.bounds, np.tile([0.0, 1.0], (m, 1))])
        objective = np.concatenate([push, -np.ones(m)])
        self.solves += 1
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", OptimizeWarning)
            result = linprog(objective, A_ub=rows.tocsr(), b_ub=b_ub, A_eq=a_eq, b_eq=self.b_eq, bounds=bounds,
                             method=self.method)
        if result.status == 2:
            raise Infeasible(result.message)
        return (result.x[:n], result.x[n:]) if result.status == 0 else (None, None)


@dataclass
class _Part:
    keys: list[Key]
    sums: list[tuple[Key, tuple[Key, ...]]]
    at_most: list[tuple[dict[Key, float], float]]


def _components(model: Model) -> list[_Part]:
    """The connected parts of a model (counts linked by a sum or an inequality)."""
    parent: dict[Key, Key] = {k: k for k in model.lower}

    def root(k: Key) -> Key:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    def join(keys: Iterable[Key]) -> None:
        keys = list(keys)
        first = root(keys[0])
        for k in keys[1:]:
            other = root(k)
            if other != first:
                parent[other] = first

    for p, children in model.sums:
        join((p, *children))
    for coefficients, _ in model.at_most:
        join(coefficients)
    parts: dict[Key, _Part] = {}
    for k in model.lower:
        parts.setdefault(root(k), _Part([], [], [])).keys.append(k)
    for p, children in model.sums:
        parts[root(p)].sums.append((p, children))
    for coefficients, value in model.at_most:
        parts[root(next(iter(coefficients)))].at_most.append((coefficients, value))
    return list(parts.values())


SMALL_PART = 400  # linked counts: parts smaller than this are solved together, larger ones alone


def solve(model: Model, threshold: int, rng: np.random.Generator, result: LPResult, label: str) -> None:
    """Bound every target of `model` (a count whose interval reaches below `threshold`); record the
    determined ones in `result`. A count linked to no other is bounded by its own figures; the small
    parts of linked counts are one LP (an objective over independent parts is optimal in each), the
    large ones an LP each (so that their rounds do not carry the others)."""
    together = _Part([], [], [])
    parts = []
    for part in _components(model):
        targets = [k for k in part.keys if model.lower[k] <= threshold - 1 and k[0] != REST]
        if not targets:
            continue
        if len(part.keys) == 1:
            result.targets += 1
            k = part.keys[0]
            if model.lower[k] > model.upper[k] + EPS:
                result.infeasible.append(f"{label}: {k}")
                continue
            value = single_integer(model.lower[k], min(model.upper[k], CAP))
            if value is not None:
                result.determined[k] = value
                result.how.setdefault(k, "bounds")
            continue
        result.components += 1
        if len(part.keys) >= SMALL_PART:
            parts.append(part)
            continue
        together.keys.extend(part.keys)
        together.sums.extend(part.sums)
        together.at_most.extend(part.at_most)
    for part in [together, *parts] if together.keys else parts:
        targets = [k for k in part.keys if model.lower[k] <= threshold - 1 and k[0] != REST]
        result.targets += len(targets)
        component = None
        try:
            component = _Component(part.keys, part.sums, part.at_most, model)
            _bound_targets(component, [component.index[k] for k in targets], model, rng, result)
        except Infeasible as problem:
            result.infeasible.append(f"{label}: {len(part.keys)} linked counts: {problem}")
        if component is not None:
            result.solves += component.solves


def _bound_targets(component: _Component, targets: list[int], model: Model, rng: np.random.Generator,
                   result: LPResult) -> None:
    """The range of each target: screening by solutions that move as many targets as they can off
    their bounds; then, for the targets still at a bound, proofs for many at once (when no solution
    can move any of them off its bound at all, each is pinned there); the others one by one (minimise,
    maximise)."""
    n = len(component.keys)
    t = np.array(targets)
    low = np.full(len(t), np.inf)
    high = np.full(len(t), -np.inf)
    lower, upper = component.bounds[t, 0], component.bounds[t, 1]

    def seen(x: np.ndarray | None) -> None:
        if x is not None:
            np.minimum(low, x[t], out=low)
            np.maximum(high, x[t], out=high)

    def open_(i: int) -> bool:  # two integers seen: not determined
        return bool(high[i] >= low[i]) and math.floor(high[i] + EPS) - math.ceil(low[i] - EPS) >= 1

    def record(i: int, minimum: float, maximum: float) -> None:
        key = component.keys[t[i]]
        result.ranges[key] = (float(minimum), float(maximum))
        value = single_integer(minimum, maximum)
        if value is not None:
            result.determined[key] = value
            own = single_integer(model.lower[key], min(model.upper[key], CAP))
            result.how[key] = "bounds" if own == value else "lp"

    none = np.zeros(0, dtype=int)
    still = np.zeros(n)
    everything = np.arange(len(t))
    for floor, ceiling in ((everything, none), (none, everything)):
        seen(component.opening(t[floor], t[ceiling], still)[0])
    candidates = [i for i in range(len(t)) if not open_(i)]
    if not np.isfinite(low).all():
        candidates = list(range(len(t)))
    for i in list(candidates):  # pinned by its own figures and facts (and the LP is feasible)
        if single_integer(lower[i], upper[i]) is not None:
            record(i, lower[i], upper[i])
            candidates.remove(i)
    one_by_one = [i for i in candidates if lower[i] + EPS < low[i] and high[i] < upper[i] - EPS]
    at_bound = [i for i in candidates if i not in set(one_by_one)]
    while at_bound:
        floor = [i for i in at_bound if low[i] <= lower[i] + EPS]
        ceiling = [i for i in at_bound if i not in set(floor)]
        x, lifts = component.opening(t[floor], t[ceiling], still)
        if x is None or lifts is None:
            one_by_one.extend(at_bound)
            break
        seen(x)
        if lifts.sum() <= EPS:  # none can leave its bound: each is pinned there
            for i in floor:
                record(i, lower[i], lower[i])
            for i in ceiling:
                record(i, upper[i], upper[i])
            break
        opened = {i for i in at_bound if open_(i)}
        if not opened:  # only moved by less than one: their ranges one by one
            moved = {i for i, lift in zip(floor + ceiling, lifts, strict=True) if lift > EPS}
            one_by_one.extend(moved)
            opened = moved
        at_bound = [i for i in at_bound if i not in opened]
    objective = np.zeros(n)
    for i in one_by_one:
        if open_(i):
            continue
        ends: list[float | None] = []
        for sign, end, at in ((1.0, lower[i], low[i]), (-1.0, upper[i], high[i])):
            if abs(at - end) <= EPS:  # seen at its bound: that end is known
                ends.append(float(end))
                continue
            objective[:] = 0
            objective[t[i]] = sign
            x = component.extreme(objective)
            seen(x)
            ends.append(None if x is None else float(x[t[i]]))
            if open_(i):
                break
        if len(ends) == 2 and ends[0] is not None and ends[1] is not None:
            record(i, ends[0], ends[1])


def families(obs: Observations) -> list[tuple[str, list[Query]]]:
    """Linked queries: a year with its quarters, all years with each year, national with each region,
    all types with each type (each within the other filters); a query in none of them, alone."""
    grid = obs.grid
    shown = {q for q in set(obs.statistics) | set(obs.dashboards) if obs.shown(q)}
    found: dict[frozenset[Query], str] = {}
    rs, ts = ["", *grid.regions], ["", *grid.tipos]
    for r in rs:
        for t in ts:
            found.setdefault(frozenset({Query("", r, t), *(Query(y, r, t) for y in grid.years())}),
                             f"years {r or '·'}/{t or '·'}")
            for year in grid.years():
                found.setdefault(frozenset({Query(year, r, t), *(Query(q, r, t) for q in grid.children(year))}),
                                 f"quarters of {year} {r or '·'}/{t or '·'}")
    for p in ["", *grid.periods]:
        for t in ts:
            found.setdefault(frozenset({Query(p, r, t) for r in rs}), f"regions {p or '·'}/{t or '·'}")
        for r in rs:
            found.setdefault(frozenset({Query(p, r, t) for t in ts}), f"types {p or '·'}/{r or '·'}")
    chosen: list[tuple[str, list[Query]]] = []
    covered: set[Query] = set()
    for members, name in found.items():
        present = sorted(members & shown)
        if len(present) >= 2:
            chosen.append((name, present))
            covered.update(present)
    chosen.extend((f"alone {q}", [q]) for q in sorted(shown - covered))

    def size(family: tuple[str, list[Query]]) -> int:  # figures to bound: the cheapest families first
        return sum(sum(len(t.cells) for t in obs.statistics[q].tables) if q in obs.statistics else 0
                   for q in family[1])

    return sorted(chosen, key=size)


def interval_lp(obs: Observations, noise: int = MAX_NOISE, override: Override = None, seed: int = 13,
                max_families: int | None = None, max_seconds: float | None = None,
                progress: Progress = _quiet) -> LPResult:
    """The interval LP over every family of linked queries (see the module's docstring), the cheapest
    first; at most `max_families`, and no family started after `max_seconds`."""
    began = time.perf_counter()
    rng = np.random.default_rng(seed)
    layout = Layout.of(obs.statistics, obs.grid)
    rule = medians_follow_published_counts(obs)
    evidence = {q: query_evidence(q, obs, layout, override, rule) for q in set(obs.statistics) | set(obs.dashboards)}
    chosen = families(obs)
    result = LPResult({}, {}, {}, 0, len(chosen), 0, 0, [], [], 0.0)
    if max_families is not None:
        chosen = chosen[:max_families]
    seen_inconsistent: set[Key] = set()
    for number, (name, members) in enumerate(chosen, 1):
        if max_seconds is not None and time.perf_counter() - began > max_seconds:
            break
        result.families_solved = number
        model = build_model([evidence[q] for q in members], obs.grid, noise)
        for key, cells in inconsistencies(model, obs.grid.threshold):
            if key not in seen_inconsistent:
                seen_inconsistent.add(key)
                result.inconsistent.append((key, cells))
        started = time.perf_counter()
        solve(model, obs.grid.threshold, rng, result, name)
        if time.perf_counter() - started > 30:
            progress(f"    family {number} ({name}, {len(members)} queries, {len(model.lower)} counts): "
                     f"{time.perf_counter() - started:.0f} s")
        if number % 50 == 0:
            progress(f"    {number}/{len(chosen)} families, {result.solves} LPs, {len(result.determined)} determined, "
                     f"{time.perf_counter() - began:.0f} s")
    result.seconds = time.perf_counter() - began
    return result


def exact_cell(truth: Callable[[Key], int], threshold: int) -> Callable[[Key], Cell]:
    """The control publication: the true count, «<T» below the threshold, nothing else."""
    def cell(key: Key) -> Cell:
        n = truth(key)
        return n if n >= threshold else SMALL
    return cell


# -- 2. differencing -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Difference:
    larger: Query
    smaller: Query
    figure: tuple[str, ...]
    larger_key: Key
    smaller_key: Key
    published: int  # larger − smaller as published


def nested(query: Query) -> list[Query]:
    """The queries whose population holds `query`'s and differs from it by one step of the grid."""
    found = []
    if is_quarter(query.period):
        found.append(replace(query, period=query.period[:4]))
    elif query.period:
        found.append(replace(query, period=""))
    if query.region:
        found.append(replace(query, region=""))
    if query.tipo:
        found.append(replace(query, tipo=""))
    return found


def differences(obs: Observations) -> list[Difference]:
    """Every pair of published numbers of the same figure in two nested queries."""
    layout = Layout.of(obs.statistics, obs.grid)
    figures = {}
    for q in set(obs.statistics) | set(obs.dashboards):
        if obs.shown(q):
            figures[q] = {f.name: f for f in query_evidence(q, obs, layout, None, True).figures
                          if isinstance(f.cell, int)}
    found = []
    for smaller, small_figures in figures.items():
        for larger in nested(smaller):
            for name, big in figures.get(larger, {}).items():
                small = small_figures.get(name)
                if small is not None and small.key != big.key:
                    found.append(Difference(larger, smaller, name, big.key, small.key,
                                            int(big.cell) - int(small.cell)))
    return found


# -- 3. the dashboard ----------------------------------------------------------------------------------------


@dataclass
class DashboardFindings:
    medians: list[tuple[Query, str, Key]]  # a shown median or percentile: what it is over
    named_nodes: list[tuple[Query, str, Key]]  # a node named (not in «Otros nodos»): its referrals
    small_numbers: list[tuple[Query, tuple[str, ...], int]]  # a number shown below the threshold


def dashboard_findings(obs: Observations) -> DashboardFindings:
    found = DashboardFindings([], [], [])
    t = obs.grid.threshold
    for q, board in obs.dashboards.items():
        if board.narrow:
            continue
        c, when = q.constraints(), q.when
        for step in board.steps:
            if step.median is not None or step.p90 is not None:
                found.medians.append((q, step.label, make_key(STEP + step.label, c, when)))
        for node in board.nodes:
            if node.others:
                continue
            node_constraints = {**c, "nodo": node.name}
            found.named_nodes.append((q, node.name, make_key(NODE + NODE_SENT, node_constraints, when)))
            if node.median is not None or node.p90 is not None:
                found.medians.append((q, node.name, make_key(NODE_ANSWERED, node_constraints, when)))
        for f in query_evidence(q, replace(obs, statistics={}), None, None, True).figures:
            if isinstance(f.cell, int) and f.cell < t:
                found.small_numbers.append((q, f.name, f.cell))
    for q, view in obs.statistics.items():
        for table in view.tables:
            for (row, column), cell in table.cells.items():
                if isinstance(cell, int) and cell < t:
                    found.small_numbers.append((q, ("estadisticas", table.title, row, column), cell))
    return found


# -- 4. timelines -------------------------------------------------------------------------------------------


@dataclass
class TimelineFindings:
    cases: int
    groups: Counter[tuple[str, ...]]  # shown quasi-identifiers -> cases sharing them
    min_k: int
    below_k: list[str]  # case names whose shown combination fewer than K cases share
    min_k_with_status: int  # the same with the exported status and closing reason added
    below_k_with_status: int  # cases sharing that with fewer than K
    below_k_with_steps: int  # cases sharing their shown quasi-identifiers and number of steps with fewer than K
    fingerprint_unique: float  # share of cases whose (event, week) sequence is unique
    joined: float  # share of cases matched one to one with the other body's export by that sequence
    mismatches: list[str]  # list or page showing another period or region than the export


def timeline_findings(timelines: Timelines, other: Mapping[str, ExportedCase] | None = None) -> TimelineFindings:
    cases = timelines.exported
    groups = Counter(case.qi for case in cases.values())
    with_status = Counter((*case.qi, *case.status) for case in cases.values())
    with_steps = Counter((*case.qi, len(case.events)) for case in cases.values())
    period_at, region_at = timelines.qi_fields.index("detection_period"), timelines.qi_fields.index(
        "region_of_detection")
    mismatches = []
    for name, line in timelines.listed.items():
        case = cases.get(name)
        if case is None:
            mismatches.append(f"{name}: listed, not exported")
        elif (line.period, line.region if line.region != UNSEEN else "") != (case.qi[period_at], case.qi[region_at]):
            mismatches.append(f"{name}: list {line.period}/{line.region}, export {case.qi[period_at]}/"
                              f"{case.qi[region_at]}")
    for name, page in timelines.pages.items():
        case = cases[name]
        if page.withheld or (page.period, page.region if page.region != UNSEEN else "") != (
                case.qi[period_at], case.qi[region_at]):
            mismatches.append(f"{name}: page {page.period}/{page.region}, export {case.qi[period_at]}/"
                              f"{case.qi[region_at]}")
    prints = Counter(case.events for case in cases.values())
    unique = sum(1 for case in cases.values() if prints[case.events] == 1)
    joined = 0
    if other is not None:
        theirs = Counter(case.events for case in other.values())
        joined = sum(1 for case in cases.values() if prints[case.events] == 1 and theirs[case.events] == 1)
    n = len(cases)
    return TimelineFindings(
        n, groups, min(groups.values()) if groups else 0,
        sorted(name for name, case in cases.items() if groups[case.qi] < K_TIMELINES),
        min(with_status.values()) if with_status else 0,
        sum(1 for case in cases.values() if with_status[(*case.qi, *case.status)] < K_TIMELINES),
        sum(1 for case in cases.values() if with_steps[(*case.qi, len(case.events))] < K_TIMELINES),
        unique / n if n else 0.0, joined / n if n else 0.0, mismatches)
