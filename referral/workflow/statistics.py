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

    def category(self, values: Mapping[str, Mapping[str, Any]], flags: Mapping[str, bool]) -> str:
        if self.flag is not None:
            return "si" if flags.get(self.flag) else "no"
        if self.age is not None:
            return self.age.group(values)
        for path in (*self.prefer, self.field or ""):
            value = _value(values, path)
            if isinstance(value, str) and value:
                return value
        return UNKNOWN


@dataclass(frozen=True)
class Milestone:
    key: str
    label: Text
    transitions: tuple[str, ...]  # the first firing of any of them reaches the milestone


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

    @property
    def declared(self) -> bool:
        return bool(self.entry)

    def forms(self) -> set[str]:
        """Forms whose values the projection reads."""
        names = {d.field for d in self.dimensions.values() if d.field}
        names |= {path for d in self.dimensions.values() for path in d.prefer}
        for d in self.dimensions.values():
            if d.age is not None:
                names |= {d.age.birth_date, d.age.estimated, d.age.at}
        return {name.split(".", 1)[0] for name in names}

    def attributes(self, values: Mapping[str, Mapping[str, Any]], flags: Mapping[str, bool]) -> dict[str, str]:
        """Each dimension's category for a case, from its forms' values and flags."""
        return {key: d.category(values, flags) for key, d in self.dimensions.items()}

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
                                       "residence", "trafficking_type", "htcds_status"}, ("entry", "dimensions", "milestones"))
    dimensions = {}
    for key, value in s["dimensions"].items():
        here = f"{at}.dimensions.{key}"
        value = _shape(value, here, {"label", "field", "prefer", "age", "flag", "htcds"}, ("label",))
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
        dimensions[str(key)] = Dimension(str(key), text_from(value["label"], f"{here}.label"),
                                         value.get("field"), age, value.get("flag"), htcds.get("field"),
                                         {str(k): str(v) for k, v in (htcds.get("values") or {}).items()},
                                         tuple(prefer))
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
    )


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
    for dim in s.dimensions.values():
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


def _field_problem(d: WorkflowDefinition, path: str, where: str) -> Iterator[str]:
    form, _, name = path.partition(".")
    if form not in d.forms:
        yield f"{where}: unknown form '{form}'"
        return
    try:
        d.form(form).field(name)
    except KeyError:
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
    form, _, name = (dimension.field or "").partition(".")
    try:
        label = d.form(form).field(name).choice_label(code)
    except KeyError:
        label = None
    return label.get(language) if label is not None else code
