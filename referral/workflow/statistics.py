"""What auditors count, as data: the `statistics` section of workflow.yaml.

- `entry`: the transition that makes a person *ingresada al Protocolo* (its first firing dates the entry).
- `dimensions`: the categories of the Mesa's tables, each read from a form field of the case (its
  choices are the categories), from an age computed at a date (grouped in brackets), or from a flag.
- `milestones`: steps whose first occurrence the dashboard times from detection.
- `closing`: a closing form's field (termination type); `not_activated`: the field of the form that
  closes a case without activating it (the despeje outcome); `residence`: a track counted by its state.

Pure: no database, no Flask. `referral/stats/` keeps the projection this describes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import DefinitionError
from .text import Text, text_from

if TYPE_CHECKING:
    from .definition import WorkflowDefinition

UNKNOWN = "sin_informacion"  # the category of a value not recorded
UNKNOWN_LABEL = Text("Sin información", "Unknown")
YES_NO = {"si": Text("Sí", "Yes"), "no": Text("No", "No")}


@dataclass(frozen=True)
class AgeBracket:
    code: str  # e.g. "18-29", "60+"
    low: int
    high: int | None  # inclusive; None: no upper bound


@dataclass(frozen=True)
class AgeRule:
    birth_date: str  # form.field holding a date of birth
    estimated: str  # form.field holding an estimated age in years
    at: str  # form.field holding the date (or datetime) at which the age counts (detection)
    brackets: tuple[AgeBracket, ...]

    def group(self, values: Mapping[str, Mapping[str, Any]]) -> str:
        """The bracket of the age at `on`: from the birth date, else the estimate; else UNKNOWN."""
        on = _date(_value(values, self.at))
        born = _date(_value(values, self.birth_date))
        age: int | None = None
        if born is not None and on is not None:
            age = on.year - born.year - ((on.month, on.day) < (born.month, born.day))
        else:
            estimate = _value(values, self.estimated)
            if isinstance(estimate, int) and not isinstance(estimate, bool):
                age = estimate
        if age is None or age < 0:
            return UNKNOWN
        for bracket in self.brackets:
            if age >= bracket.low and (bracket.high is None or age <= bracket.high):
                return bracket.code
        return UNKNOWN


@dataclass(frozen=True)
class Dimension:
    key: str
    label: Text
    field: str | None = None  # form.field whose choice (or country code) is the category
    age: AgeRule | None = None
    flag: str | None = None  # yes / no from a flag of the case
    htcds: str | None = None  # the HTCDS field name it exports as (timeline export)
    htcds_values: Mapping[str, str] = dataclasses.field(default_factory=dict)  # category code -> HTCDS value name
    # form.field paths read before `field`: the first one holding a value is the category (e.g. a focal
    # point's qualification of the case counts instead of what the detecting node could tell)
    prefer: tuple[str, ...] = ()
    # For `form.group.field`: only the group's items whose fields hold one of these codes count (e.g. a plan's
    # actions done: {estado: [cumplida]}).
    item_where: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)

    @property
    def in_items(self) -> bool:
        """Read from the items of a group field (`form.group.field`): a person holds several codes."""
        return (self.field or "").count(".") == 2

    def category(self, values: Mapping[str, Mapping[str, Any]], flags: Mapping[str, bool]) -> str | list[str]:
        """The person's category; a list of codes for a multiple-choice field or a group's items (a person
        counts in each; none recorded: [UNKNOWN])."""
        if self.flag is not None:
            return "si" if flags.get(self.flag) else "no"
        if self.age is not None:
            return self.age.group(values)
        if self.in_items:
            form, group, name = (self.field or "").split(".")
            items = (values.get(form) or {}).get(group)
            codes = sorted({str(item[name]) for item in items or () if isinstance(item, Mapping) and item.get(name)
                            and all(str(item.get(k)) in allowed for k, allowed in self.item_where.items())})
            return codes or [UNKNOWN]
        for path in (*self.prefer, self.field or ""):
            value = _value(values, path)
            if isinstance(value, list):
                return sorted({str(v) for v in value if v}) or [UNKNOWN]
            if isinstance(value, str) and value:
                return value
        return UNKNOWN


@dataclass(frozen=True)
class Milestone:
    key: str
    label: Text
    transitions: tuple[str, ...]  # the first firing of any of them reaches the milestone


# The annual report's counting units and the categories the engine derives itself (docs/audit.md, "The annual
# report"): a table declares one population (`count`) and one dimension for its rows and one for its columns.
POPULATIONS = ("persons", "cases", "not_entered", "milestone", "proceedings")
BUILT_IN = {
    "year": Text("Año", "Year"),
    "region": Text("Región de detección", "Region of detection"),
    "state": Text("Estado del caso", "State of the case"),
    "outcome": Text("Tipo de término", "Type of closing"),
    "service": Text("Servicio", "Service"),
    "provision": Text("Solicitado o prestado", "Requested or provided"),
    "node_type": Text("Tipo de institución que recibe", "Type of receiving institution"),
    "proceeding_state": Text("Estado de la causa", "State of the criminal case"),
    "victims": Text("Víctimas por causa", "Victims per criminal case"),
}
# Dimensions read off a criminal proceeding (a group of linked cases), not off one person.
PROCEEDING_ONLY = frozenset({"proceeding_state", "victims"})
# Dimensions read off a person's referrals and plan actions: their rows and columns come in pairs.
SERVICE_DIMENSIONS = frozenset({"service", "provision", "node_type"})


@dataclass(frozen=True)
class ReportTable:
    key: str
    title: Text
    count: str  # one of POPULATIONS
    rows: str  # a dimension (declared or built in)
    columns: str = "year"
    milestone: str | None = None  # count: milestone, the milestone whose first reaching dates a person
    where: Mapping[str, str] = field(default_factory=dict)  # dimension -> the one code counted (a flag: si)
    rule: Text | None = None  # what this table adds to its population's counting rule


@dataclass(frozen=True)
class ProceedingRule:
    """How cases make up one criminal proceeding: the cases sharing a `links` identifier (its case number)."""

    link: str  # a key of `links` (its keyed hash groups the cases)
    track: str  # the track whose state is the proceeding's status
    milestone: str  # the milestone whose first reaching among its cases dates the proceeding (formal charges)


@dataclass(frozen=True)
class ServicesRule:
    """Services requested and provided: a person's referrals (their service and state) and the plan's actions
    (declared dimensions of the plan's items)."""

    provided_states: tuple[str, ...] = ()  # referral states counted as provided (e.g. cumplida)
    requested_from: tuple[str, ...] = ()  # report dimensions holding the services a plan asked for
    provided_from: tuple[str, ...] = ()  # report dimensions holding the plan's services done


@dataclass(frozen=True)
class ReportDef:
    title: Text = field(default_factory=lambda: Text("Informe anual", "Annual report"))
    dimensions: Mapping[str, Dimension] = field(default_factory=dict)  # counted only in the report
    tables: tuple[ReportTable, ...] = ()
    proceedings: ProceedingRule | None = None
    services: ServicesRule = field(default_factory=ServicesRule)


@dataclass(frozen=True)
class StatisticsDef:
    entry: str = ""  # a transition key; empty: no statistics declared
    entry_label: Text = field(default_factory=lambda: Text("Ingreso al Protocolo", "Entry into the Protocol"))
    dimensions: Mapping[str, Dimension] = field(default_factory=dict)
    milestones: Mapping[str, Milestone] = field(default_factory=dict)
    closing: str | None = None  # form.field: the termination type, read when the case closes
    closing_label: Text = field(default_factory=lambda: Text("Tipo de término", "Type of closing"))
    not_activated: str | None = None  # form.field: the despeje outcome, read when the case is not activated
    not_activated_label: Text = field(default_factory=lambda: Text("Motivo de no activación", "Reason not activated"))
    residence: str | None = None  # a track whose states are counted (e.g. a permit's decision)
    residence_label: Text = field(default_factory=lambda: Text("Trámite por estado", "Procedure by state"))
    trafficking_type: str | None = None  # the dimension the dashboard filters by
    htcds_status: Mapping[str, str] = field(default_factory=dict)  # case state -> HTCDS Case.Status (else
    # Closed for a closed state, Active otherwise)
    report: ReportDef = field(default_factory=ReportDef)

    @property
    def all_dimensions(self) -> Mapping[str, Dimension]:
        """The statistics page's dimensions and the report's own."""
        return {**self.dimensions, **self.report.dimensions}

    @property
    def declared(self) -> bool:
        return bool(self.entry)

    def forms(self) -> set[str]:
        """Forms whose values the projection reads."""
        names = {d.field for d in self.all_dimensions.values() if d.field}
        names |= {path for d in self.all_dimensions.values() for path in d.prefer}
        for d in self.all_dimensions.values():
            if d.age is not None:
                names |= {d.age.birth_date, d.age.estimated, d.age.at}
        return {name.split(".", 1)[0] for name in names}

    def attributes(self, values: Mapping[str, Mapping[str, Any]],
                   flags: Mapping[str, bool]) -> dict[str, str | list[str]]:
        """Each dimension's category for a case (the report's too), from its forms' values and flags."""
        return {key: d.category(values, flags) for key, d in self.all_dimensions.items()}

    def outcome_field(self, form: str | None) -> str | None:
        """The field (of `form`) whose code a closed case keeps, when `form` closes cases (termination
        or despeje)."""
        for path in (self.closing, self.not_activated):
            if form and path and path.partition(".")[0] == form:
                return path.partition(".")[2]
        return None

    def milestones_of(self, transition: str) -> tuple[str, ...]:
        return tuple(m.key for m in self.milestones.values() if transition in m.transitions)


def _value(values: Mapping[str, Mapping[str, Any]], path: str) -> Any:
    form, _, name = path.partition(".")
    return (values.get(form) or {}).get(name)


def _date(value: Any) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


def parse_statistics(raw: Mapping[str, Any], where: str) -> StatisticsDef:
    from .definition import _shape

    if not raw.get("statistics"):
        return StatisticsDef()
    at = f"{where}.statistics"
    s = _shape(raw["statistics"], at, {"entry", "entry_label", "dimensions", "milestones", "closing", "not_activated",
                                       "residence", "trafficking_type", "htcds_status", "report"},
               ("entry", "dimensions", "milestones"))
    dimensions = {str(key): _dimension(str(key), value, f"{at}.dimensions.{key}")
                  for key, value in s["dimensions"].items()}
    milestones = {}
    for key, value in s["milestones"].items():
        here = f"{at}.milestones.{key}"
        value = _shape(value, here, {"label", "transitions"}, ("label", "transitions"))
        milestones[str(key)] = Milestone(str(key), text_from(value["label"], f"{here}.label"),
                                         tuple(str(t) for t in value["transitions"]))
    closing = _shape(s.get("closing") or {}, f"{at}.closing", {"field", "label"})
    not_activated = _shape(s.get("not_activated") or {}, f"{at}.not_activated", {"field", "label"})
    residence = _shape(s.get("residence") or {}, f"{at}.residence", {"track", "label"})
    defaults = StatisticsDef()
    return StatisticsDef(
        entry=str(s["entry"]),
        entry_label=text_from(s["entry_label"], f"{at}.entry_label") if s.get("entry_label") else defaults.entry_label,
        dimensions=dimensions, milestones=milestones,
        closing=closing.get("field"),
        closing_label=text_from(closing["label"], f"{at}.closing.label") if closing.get("label")
        else defaults.closing_label,
        not_activated=not_activated.get("field"),
        not_activated_label=text_from(not_activated["label"], f"{at}.not_activated.label")
        if not_activated.get("label") else defaults.not_activated_label,
        residence=residence.get("track"),
        residence_label=text_from(residence["label"], f"{at}.residence.label") if residence.get("label")
        else defaults.residence_label,
        trafficking_type=s.get("trafficking_type"),
        htcds_status={str(k): str(v) for k, v in (s.get("htcds_status") or {}).items()},
        report=_report(s.get("report"), f"{at}.report"),
    )


def _dimension(key: str, value: Any, here: str) -> Dimension:
    from .definition import _shape

    value = _shape(value, here, {"label", "field", "prefer", "age", "flag", "htcds", "item_where"}, ("label",))
    if sum(1 for k in ("field", "age", "flag") if value.get(k)) != 1:
        raise DefinitionError(f"{here}: declare exactly one of field, age, flag")
    prefer = value.get("prefer") or []
    if not isinstance(prefer, list) or not all(isinstance(p, str) for p in prefer) or (prefer and not value.get("field")):
        raise DefinitionError(f"{here}.prefer: a list of form.field paths read before field (needs field)")
    age = None
    if value.get("age"):
        a = _shape(value["age"], f"{here}.age", {"birth_date", "estimated", "at", "brackets"},
                   ("birth_date", "estimated", "at", "brackets"))
        age = AgeRule(str(a["birth_date"]), str(a["estimated"]), str(a["at"]),
                      tuple(_bracket(b, f"{here}.age.brackets") for b in a["brackets"]))
    htcds = _shape(value.get("htcds") or {}, f"{here}.htcds", {"field", "values"})
    item_where = _shape(value.get("item_where") or {}, f"{here}.item_where", set(value.get("item_where") or {}))
    if item_where and str(value.get("field") or "").count(".") != 2:
        raise DefinitionError(f"{here}.item_where: only for a group's items (field: form.group.field)")
    return Dimension(key, text_from(value["label"], f"{here}.label"), value.get("field"), age, value.get("flag"),
                     htcds.get("field"), {str(k): str(v) for k, v in (htcds.get("values") or {}).items()},
                     tuple(prefer), {str(k): tuple(str(c) for c in _list(v, f"{here}.item_where.{k}"))
                                     for k, v in item_where.items()})


def _list(raw: Any, where: str) -> list[Any]:
    if not isinstance(raw, list) or not raw:
        raise DefinitionError(f"{where}: a non-empty list")
    return raw


def _report(raw: Any, at: str) -> ReportDef:
    from .definition import _shape

    if not raw:
        return ReportDef()
    r = _shape(raw, at, {"title", "dimensions", "tables", "proceedings", "services"}, ("tables",))
    dimensions = {str(key): _dimension(str(key), value, f"{at}.dimensions.{key}")
                  for key, value in (r.get("dimensions") or {}).items()}
    tables: list[ReportTable] = []
    for position, value in enumerate(_list(r["tables"], f"{at}.tables")):
        here = f"{at}.tables[{position}]"
        t = _shape(value, here, {"key", "title", "count", "rows", "columns", "milestone", "where", "rule"},
                   ("key", "title", "count", "rows"))
        if t["count"] not in POPULATIONS:
            raise DefinitionError(f"{here}.count: one of {list(POPULATIONS)}, not {t['count']!r}")
        if (t["count"] == "milestone") != bool(t.get("milestone")):
            raise DefinitionError(f"{here}.milestone: needed with count: milestone, and only with it")
        where = _shape(t.get("where") or {}, f"{here}.where", set(t.get("where") or {}))
        tables.append(ReportTable(str(t["key"]), text_from(t["title"], f"{here}.title"), str(t["count"]),
                                  str(t["rows"]), str(t.get("columns") or "year"), t.get("milestone"),
                                  {str(k): str(v) for k, v in where.items()},
                                  text_from(t["rule"], f"{here}.rule") if t.get("rule") else None))
    keys = [t.key for t in tables]
    if len(set(keys)) != len(keys):
        raise DefinitionError(f"{at}.tables: a key is used twice")
    proceedings = None
    if r.get("proceedings"):
        c = _shape(r["proceedings"], f"{at}.proceedings", {"link", "track", "milestone"}, ("link", "track", "milestone"))
        proceedings = ProceedingRule(str(c["link"]), str(c["track"]), str(c["milestone"]))
    v = _shape(r.get("services") or {}, f"{at}.services", {"provided_states", "requested_from", "provided_from"})
    services = ServicesRule(tuple(str(x) for x in v.get("provided_states") or ()),
                            tuple(str(x) for x in v.get("requested_from") or ()),
                            tuple(str(x) for x in v.get("provided_from") or ()))
    return ReportDef(text_from(r["title"], f"{at}.title") if r.get("title") else ReportDef().title,
                     dimensions, tuple(tables), proceedings, services)


def _bracket(raw: Any, where: str) -> AgeBracket:
    """`[18, 29]` or `[60, null]`."""
    if not isinstance(raw, list) or len(raw) != 2 or not isinstance(raw[0], int) or not (
            raw[1] is None or isinstance(raw[1], int)):
        raise DefinitionError(f"{where}: a bracket is [low, high] in years (high may be null)")
    low, high = raw
    return AgeBracket(f"{low}-{high}" if high is not None else f"{low}+", low, high)


def statistics_problems(d: WorkflowDefinition) -> Iterator[str]:
    s = d.statistics
    if not s.declared:
        return
    transitions = {t for m in d.machines() for t in m.transitions}
    if s.entry not in transitions:
        yield f"statistics.entry: unknown transition '{s.entry}'"
    for m in s.milestones.values():
        for t in m.transitions:
            if t not in transitions:
                yield f"statistics.milestones.{m.key}: unknown transition '{t}'"
    for dim in s.all_dimensions.values():
        paths = [dim.field] if dim.field else []
        if dim.age is not None:
            paths += [dim.age.birth_date, dim.age.estimated, dim.age.at]
            if not dim.age.brackets:
                yield f"statistics.dimensions.{dim.key}: no age brackets"
        for path in paths:
            yield from _field_problem(d, path, f"statistics.dimensions.{dim.key}")
        for path in dim.prefer:
            yield from _prefer_problem(d, dim, path, f"statistics.dimensions.{dim.key}.prefer")
        if dim.flag is not None and dim.flag not in d.flags:
            yield f"statistics.dimensions.{dim.key}: unknown flag '{dim.flag}'"
    if s.closing:
        yield from _field_problem(d, s.closing, "statistics.closing")
    if s.not_activated:
        yield from _field_problem(d, s.not_activated, "statistics.not_activated")
    if s.residence and s.residence not in d.tracks:
        yield f"statistics.residence: unknown track '{s.residence}'"
    for state in s.htcds_status:
        if state not in d.main.states:
            yield f"statistics.htcds_status: unknown state '{state}'"
    if s.trafficking_type and s.trafficking_type not in s.dimensions:
        yield f"statistics.trafficking_type: unknown dimension '{s.trafficking_type}'"
    clash = set(s.dimensions) & set(s.report.dimensions)
    if clash:
        yield f"statistics.report.dimensions: already declared for the statistics page: {sorted(clash)}"
    yield from _report_problems(d)


def _report_problems(d: WorkflowDefinition) -> Iterator[str]:
    s = d.statistics
    r = s.report
    known = set(s.all_dimensions) | set(BUILT_IN)
    for t in r.tables:
        at = f"statistics.report.tables.{t.key}"
        for name in (t.rows, t.columns, *t.where):
            if name not in known:
                yield f"{at}: unknown dimension '{name}'"
        used = {t.rows, t.columns}
        if used & PROCEEDING_ONLY and t.count != "proceedings":
            yield f"{at}: {sorted(used & PROCEEDING_ONLY)} count proceedings only (count: proceedings)"
        if t.count == "proceedings" and r.proceedings is None:
            yield f"{at}: count: proceedings needs statistics.report.proceedings"
        if used & SERVICE_DIMENSIONS and (t.count != "persons" or "service" not in used or not used <= SERVICE_DIMENSIONS):
            yield f"{at}: service pairs with provision or node_type, counting persons"
        if t.milestone and t.milestone not in s.milestones:
            yield f"{at}: unknown milestone '{t.milestone}'"
        for name in t.where:
            dim = s.all_dimensions.get(name)
            if dim is not None and (dim.in_items or _is_multiple(d, dim)):
                yield f"{at}.where: '{name}' holds several codes; filter on a single-valued dimension"
    if r.proceedings is not None:
        if r.proceedings.link not in d.links:
            yield f"statistics.report.proceedings: unknown link '{r.proceedings.link}'"
        if r.proceedings.track not in d.tracks:
            yield f"statistics.report.proceedings: unknown track '{r.proceedings.track}'"
        if r.proceedings.milestone not in s.milestones:
            yield f"statistics.report.proceedings: unknown milestone '{r.proceedings.milestone}'"
    for name in (*r.services.requested_from, *r.services.provided_from):
        if name not in r.dimensions:
            yield f"statistics.report.services: unknown report dimension '{name}'"


def _is_multiple(d: WorkflowDefinition, dim: Dimension) -> bool:
    field_def = field_of(d, dim.field or "")
    return field_def is not None and field_def.type == "multichoice"


def field_of(d: WorkflowDefinition, path: str) -> Any:
    """The field a `form.field` or `form.group.field` path names, or None."""
    parts = path.split(".")
    if len(parts) not in (2, 3) or parts[0] not in d.forms:
        return None
    try:
        found = d.form(parts[0]).field(parts[1])
    except KeyError:
        return None
    if len(parts) == 3:
        return next((sub for sub in found.fields if sub.key == parts[2]), None)
    return found


def _field_problem(d: WorkflowDefinition, path: str, where: str) -> Iterator[str]:
    form, _, name = path.partition(".")
    if form not in d.forms:
        yield f"{where}: unknown form '{form}'"
        return
    if field_of(d, path) is None:
        yield f"{where}: form '{form}' has no field '{name}'"


def _prefer_problem(d: WorkflowDefinition, dim: Dimension, path: str, where: str) -> Iterator[str]:
    """A preferred field counts in the categories of `field`: its choices must be among them."""
    problems = list(_field_problem(d, path, where))
    if problems or not dim.field:
        yield from problems
        return
    form, _, name = path.partition(".")
    main_form, _, main_name = dim.field.partition(".")
    try:
        main = d.form(main_form).field(main_name)
    except KeyError:
        return  # reported for field
    mine = {c.value for c in d.form(form).field(name).choices}
    extra = sorted(mine - {c.value for c in main.choices})
    if not mine or extra:
        yield f"{where}: '{path}' must be a choice field whose choices are among those of '{dim.field}' (extra: {extra})"


def category_label(d: WorkflowDefinition, dimension: Dimension, code: str, language: str) -> str:
    """The reader's words for a category: the field's choice label, a country's name, Sí/No, a bracket."""
    if code == UNKNOWN:
        return UNKNOWN_LABEL.get(language)
    if dimension.flag is not None:
        return YES_NO[code].get(language) if code in YES_NO else code
    if dimension.age is not None:
        return code.replace("-", "–")
    field_def = field_of(d, dimension.field or "")
    label = field_def.choice_label(code) if field_def is not None else None
    return label.get(language) if label is not None else code
