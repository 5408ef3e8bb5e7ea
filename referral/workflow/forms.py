"""Form definitions as data: fields, conditional requirements, cross-field rules, storage format.

A form definition is pure data read from YAML. This module checks values against it (what is
missing, what is impossible) and converts values to and from the JSON that is encrypted at rest.
The web layer builds WTForms classes from the same definitions (see referral/web/dynamic_forms.py).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import DefinitionError
from .predicates import EMPTY_FACTS, Predicate, parse_on_values
from .text import Text, text_from

FIELD_TYPES = frozenset(
    {"text", "textarea", "integer", "boolean", "date", "datetime", "choice", "multichoice", "group"}
)
# Choice lists that come from the running system instead of the definition.
CHOICE_SOURCES = frozenset({"country", "region", "node"})
FIELD_RULES = frozenset({"not_future", "not_before", "max_age_years", "pattern", "pattern_example"})

REQUIRED = Text("Este campo es obligatorio.", "This field is required.")
NOT_FUTURE = Text("La fecha no puede estar en el futuro.", "The date cannot be in the future.")
TOO_EARLY = Text("La fecha no puede ser anterior a {limit}.", "The date cannot be before {limit}.")
TOO_OLD = Text(
    "Fecha imposible: indicaría más de {years} años de edad.",
    "Impossible date: it would mean an age over {years} years.",
)
TOO_FEW = Text("Agregue al menos {count}.", "Add at least {count}.")
NOT_A_NUMBER = Text("Debe ser un número entero.", "Must be a whole number.")
OUT_OF_RANGE = Text("Debe estar entre {low} y {high}.", "Must be between {low} and {high}.")
TOO_LONG = Text("Máximo {limit} caracteres.", "At most {limit} characters.")
# The message never repeats what was typed (it may be personal data); it shows the definition's example.
BAD_FORMAT = Text("El formato no es válido; debe ser como {example}.", "Invalid format; it must look like {example}.")


@dataclass(frozen=True)
class Choice:
    value: str
    label: Text


@dataclass(frozen=True)
class FieldDef:
    key: str
    type: str
    label: Text
    help: Text | None = None
    required: bool = False
    required_unless: Predicate | None = None
    required_if: Predicate | None = None
    choices: tuple[Choice, ...] = ()
    source: str | None = None
    source_filter: Mapping[str, Any] = field(default_factory=dict)
    rules: Mapping[str, Any] = field(default_factory=dict)
    max_length: int | None = None
    minimum: int | None = None
    maximum: int | None = None
    fields: tuple[FieldDef, ...] = ()  # for groups: the fields of one item
    min_items: int = 0
    widget: str | None = None

    def choice_label(self, value: str) -> Text | None:
        for choice in self.choices:
            if choice.value == value:
                return choice.label
        return None

    def is_required(self, values: Mapping[str, Any]) -> bool:
        if self.required_if is not None:
            return self.required_if.evaluate(EMPTY_FACTS, values) is True
        if not self.required:
            return False
        if self.required_unless is not None:
            return self.required_unless.evaluate(EMPTY_FACTS, values) is not True
        return True


@dataclass(frozen=True)
class Section:
    key: str
    label: Text
    fields: tuple[FieldDef, ...]
    help: Text | None = None


@dataclass(frozen=True)
class FormRule:
    """A rule across fields: derive a flag from an age, or demand an order between two dates."""

    kind: str
    params: Mapping[str, Any]
    message: Text | None


@dataclass(frozen=True)
class FormDef:
    key: str
    version: int
    label: Text
    sections: tuple[Section, ...]
    rules: tuple[FormRule, ...] = ()
    description: Text | None = None
    basis: str | None = None  # whose design the field list is: law, source (the Protocol) or product

    def fields(self) -> Iterator[FieldDef]:
        for section in self.sections:
            yield from section.fields

    def field(self, key: str) -> FieldDef:
        for candidate in self.fields():
            if candidate.key == key:
                return candidate
        raise KeyError(key)

    # -- checking -------------------------------------------------------------------------------

    def normalise(self, values: Mapping[str, Any], today: dt.date) -> dict[str, Any]:
        """Apply derivation rules (e.g. a minor flag set from the date of birth)."""
        result = dict(values)
        for rule in self.rules:
            if rule.kind == "minor_flag":
                _derive_minor_flag(rule.params, result, today)
        return result

    def problems(
        self, values: Mapping[str, Any], now: dt.datetime, *, final: bool
    ) -> dict[str, list[Text]]:
        """Errors by field key; `final` adds the required-field checks of a submission."""
        errors: dict[str, list[Text]] = {}
        for fdef in self.fields():
            for message in _field_problems(fdef, values, now, final):
                errors.setdefault(fdef.key, []).append(message)
        for rule in self.rules:
            for key, message in _rule_problems(rule, values):
                errors.setdefault(key, []).append(message)
        return errors

    def shape_problems(self, values: Mapping[str, Any]) -> dict[str, list[Text]]:
        """Errors of type and size only (a number that is not one, text over its length): what even an
        unfinished draft may not hold. Required fields, date rules and cross-field rules are not checked."""
        errors: dict[str, list[Text]] = {}
        for fdef in self.fields():
            for message in _shape_problems(fdef, values.get(fdef.key)):
                errors.setdefault(fdef.key, []).append(message)
        return errors

    def is_complete(self, values: Mapping[str, Any], now: dt.datetime) -> bool:
        return not self.problems(values, now, final=True)

    # -- storage --------------------------------------------------------------------------------

    def to_storage(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Values as JSON-ready data (dates as ISO text); unknown keys are dropped."""
        return {f.key: _dump(f, values.get(f.key)) for f in self.fields() if f.key in values}

    def from_storage(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        return {f.key: _load(f, raw.get(f.key)) for f in self.fields() if f.key in raw}


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _field_problems(
    fdef: FieldDef, values: Mapping[str, Any], now: dt.datetime, final: bool
) -> Iterator[Text]:
    value = values.get(fdef.key)
    if fdef.type == "group":
        items = value if isinstance(value, list) else []
        if final and len(items) < fdef.min_items:
            yield TOO_FEW.format(count=fdef.min_items)
        for item in items:
            for sub in fdef.fields:
                for message in _field_problems(sub, item, now, final):
                    yield Text(f"{sub.label.es}: {message.es}", f"{sub.label.get('en')}: {message.en}")
        return
    # An unticked box is an answer only where a box is optional; a required one must be ticked.
    if _empty(value) or (fdef.type == "boolean" and value is False):
        if final and fdef.is_required(values):
            yield REQUIRED
        return
    yield from _bound_problems(fdef, value)
    yield from _date_problems(fdef, value, now)


def _shape_problems(fdef: FieldDef, value: Any) -> Iterator[Text]:
    if fdef.type == "group":
        for item in value if isinstance(value, list) else []:
            for sub in fdef.fields:
                for message in _shape_problems(sub, item.get(sub.key) if isinstance(item, Mapping) else None):
                    yield Text(f"{sub.label.es}: {message.es}", f"{sub.label.get('en')}: {message.en}")
        return
    if not _empty(value):
        yield from _bound_problems(fdef, value)


def _bound_problems(fdef: FieldDef, value: Any) -> Iterator[Text]:
    if fdef.type == "integer":
        if not isinstance(value, int) or isinstance(value, bool):
            yield NOT_A_NUMBER
        elif (fdef.minimum is not None and value < fdef.minimum) or (fdef.maximum is not None and value > fdef.maximum):
            yield OUT_OF_RANGE.format(low=fdef.minimum if fdef.minimum is not None else "−∞",
                                      high=fdef.maximum if fdef.maximum is not None else "∞")
    elif fdef.type in ("text", "textarea") and fdef.max_length is not None and len(str(value)) > fdef.max_length:
        yield TOO_LONG.format(limit=fdef.max_length)
    if fdef.type in ("text", "textarea") and "pattern" in fdef.rules and not fdef.rules["pattern"].fullmatch(
            str(value).strip()):
        yield BAD_FORMAT.format(example=fdef.rules["pattern_example"])


def _date_problems(fdef: FieldDef, value: Any, now: dt.datetime) -> Iterator[Text]:
    if fdef.type not in ("date", "datetime"):
        return
    day = value.date() if isinstance(value, dt.datetime) else value
    if fdef.rules.get("not_future"):
        if (fdef.type == "datetime" and value > now) or day > now.date():
            yield NOT_FUTURE
    limit = fdef.rules.get("not_before")
    if limit is not None and day < limit:
        yield TOO_EARLY.format(limit=limit.strftime("%d-%m-%Y"))
    years = fdef.rules.get("max_age_years")
    if years is not None and _age_on(day, now.date()) > years:
        yield TOO_OLD.format(years=years)


def _age_on(birth: dt.date, today: dt.date) -> int:
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def _derive_minor_flag(params: Mapping[str, Any], values: dict[str, Any], today: dt.date) -> None:
    years = int(params.get("years", 18))
    birth = values.get(params["birth_date"])
    age = values.get(params["estimated_age"]) if params.get("estimated_age") else None
    if isinstance(birth, dt.date) and _age_on(birth, today) < years:
        values[params["flag"]] = True
    elif birth is None and isinstance(age, int) and age < years:
        values[params["flag"]] = True


def _rule_problems(rule: FormRule, values: Mapping[str, Any]) -> Iterator[tuple[str, Text]]:
    params = rule.params
    if rule.kind == "date_order":
        first, then = values.get(params["first"]), values.get(params["then"])
        if isinstance(first, dt.date) and isinstance(then, dt.date) and then < first:
            yield params["then"], rule.message or Text("Orden de fechas inválido.")
    elif rule.kind == "min_span_months":
        start, end = values.get(params["start"]), values.get(params["end"])
        if isinstance(start, dt.date) and isinstance(end, dt.date):
            if end < _add_months(start, int(params["months"])):
                yield params["end"], rule.message or Text("Período demasiado corto.")


def _add_months(day: dt.date, months: int) -> dt.date:
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    for candidate_day in (day.day, 30, 29, 28):
        try:
            return dt.date(year, month, candidate_day)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def _dump(fdef: FieldDef, value: Any) -> Any:
    if value is None:
        return None
    if fdef.type in ("date", "datetime"):
        return value.isoformat()
    if fdef.type == "group":
        return [{sub.key: _dump(sub, item.get(sub.key)) for sub in fdef.fields} for item in value]
    return value


def _load(fdef: FieldDef, raw: Any) -> Any:
    if raw is None:
        return None
    if fdef.type == "date":
        return dt.date.fromisoformat(raw)
    if fdef.type == "datetime":
        return dt.datetime.fromisoformat(raw)
    if fdef.type == "group":
        return [{sub.key: _load(sub, item.get(sub.key)) for sub in fdef.fields} for item in raw]
    return raw


# -- parsing --------------------------------------------------------------------------------------

# Where a rule, clock or form comes from: the law, the Protocol or another official source, or our
# product's default (changeable; /protocolo says which).
BASES = ("law", "source", "product")

_FIELD_KEYS = {
    "key", "type", "label", "help", "required", "required_unless", "required_if", "choices",
    "source", "filter", "rules", "max_length", "min", "max", "fields", "min_items", "widget",
}


def parse_form(raw: Mapping[str, Any], where: str) -> FormDef:
    """Build a FormDef from its YAML mapping; every error names the file and field."""
    for key in ("key", "version", "label", "sections"):
        if key not in raw:
            raise DefinitionError(f"{where}: missing '{key}'")
    sections = tuple(
        _parse_section(section, f"{where}.sections[{i}]") for i, section in enumerate(raw["sections"])
    )
    form = FormDef(
        key=str(raw["key"]),
        version=int(raw["version"]),
        label=text_from(raw["label"], f"{where}.label"),
        sections=sections,
        rules=tuple(_parse_rule(rule, f"{where}.rules[{i}]") for i, rule in enumerate(raw.get("rules", []))),
        description=text_from(raw["description"], f"{where}.description") if "description" in raw else None,
        basis=basis_of(raw, where),
    )
    _check_unique_keys(form, where)
    _check_rule_fields(form, where)
    _check_conditions(form, where)
    return form


def names_of(raw: Any, where: str) -> tuple[str, ...]:
    """A list of plain names (roles, relations, states); absent is empty."""
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
        raise DefinitionError(f"{where}: expected a list of names, got {raw!r}")
    return tuple(raw)


def basis_of(raw: Mapping[str, Any], where: str) -> str | None:
    """A form's or a guard's `basis`: law, source (the Protocol, official sources) or product (ours)."""
    basis = raw.get("basis")
    if basis is not None and basis not in BASES:
        raise DefinitionError(f"{where}.basis: must be one of {', '.join(BASES)} (where the rule comes from)")
    return basis


def _parse_section(raw: Mapping[str, Any], where: str) -> Section:
    fields = tuple(_parse_field(f, f"{where}.fields[{i}]") for i, f in enumerate(raw.get("fields", [])))
    if not fields:
        raise DefinitionError(f"{where}: a section needs at least one field")
    return Section(
        key=str(raw.get("key", "")),
        label=text_from(raw["label"], f"{where}.label"),
        fields=fields,
        help=text_from(raw["help"], f"{where}.help") if "help" in raw else None,
    )


def _parse_field(raw: Mapping[str, Any], where: str) -> FieldDef:
    if not isinstance(raw, Mapping):
        raise DefinitionError(f"{where}: a field is a mapping with a key and a type, got {raw!r}")
    key, kind = raw.get("key"), raw.get("type")
    where = f"{where} ({key})"
    unknown = set(raw) - _FIELD_KEYS
    if unknown:
        raise DefinitionError(f"{where}: unknown keys {sorted(unknown)}")
    if not key or kind not in FIELD_TYPES:
        raise DefinitionError(f"{where}: needs a key and a type among {sorted(FIELD_TYPES)}")
    source = raw.get("source")
    choices = tuple(_parse_choice(c, f"{where}.choices") for c in raw.get("choices", []))
    if kind in ("choice", "multichoice") and not choices and source not in CHOICE_SOURCES:
        raise DefinitionError(f"{where}: a choice field needs choices or a source {sorted(CHOICE_SOURCES)}")
    rules = _parse_field_rules(raw.get("rules", {}), where)
    sub = tuple(_parse_field(f, f"{where}.fields[{i}]") for i, f in enumerate(raw.get("fields", [])))
    if kind == "group" and not sub:
        raise DefinitionError(f"{where}: a group needs fields")
    return FieldDef(
        key=str(key),
        type=kind,
        label=text_from(raw["label"], f"{where}.label") if "label" in raw else _missing_label(where),
        help=text_from(raw["help"], f"{where}.help") if "help" in raw else None,
        required=bool(raw.get("required", False)),
        required_unless=parse_on_values(raw["required_unless"], f"{where}.required_unless")
        if "required_unless" in raw else None,
        required_if=parse_on_values(raw["required_if"], f"{where}.required_if")
        if "required_if" in raw else None,
        choices=choices,
        source=source,
        source_filter=dict(raw.get("filter", {})),
        rules=rules,
        max_length=raw.get("max_length"),
        minimum=raw.get("min"),
        maximum=raw.get("max"),
        fields=sub,
        min_items=int(raw.get("min_items", 0)),
        widget=raw.get("widget"),
    )


def _missing_label(where: str) -> Text:
    raise DefinitionError(f"{where}: missing label")


def _parse_choice(raw: Any, where: str) -> Choice:
    if isinstance(raw, Mapping) and isinstance(raw.get("value"), bool):
        raise DefinitionError(f"{where}: value {raw['value']!r} was read as a boolean; quote it (\"no\")")
    if isinstance(raw, Mapping) and "value" in raw:
        return Choice(str(raw["value"]), text_from(raw.get("label", raw["value"]), where))
    raise DefinitionError(f"{where}: a choice is written {{value: ..., label: ...}}, got {raw!r}")


def _parse_field_rules(raw: Mapping[str, Any], where: str) -> dict[str, Any]:
    unknown = set(raw) - FIELD_RULES
    if unknown:
        raise DefinitionError(f"{where}: unknown rules {sorted(unknown)}")
    rules = dict(raw)
    if "not_before" in rules:
        rules["not_before"] = dt.date.fromisoformat(str(rules["not_before"]))
    if "pattern" in rules or "pattern_example" in rules:
        rules["pattern"] = _pattern(rules, where)
    return rules


def _pattern(rules: Mapping[str, Any], where: str) -> re.Pattern[str]:
    """A `pattern` (a regular expression the whole value must match) and the `pattern_example` the error shows."""
    raw, example = rules.get("pattern"), rules.get("pattern_example")
    if not isinstance(raw, str) or not isinstance(example, str) or not example:
        raise DefinitionError(f"{where}: 'pattern' and 'pattern_example' go together, both as text")
    try:
        compiled = re.compile(raw)
    except re.error as problem:
        raise DefinitionError(f"{where}: pattern is not a regular expression ({problem})") from None
    if not compiled.fullmatch(example):
        raise DefinitionError(f"{where}: pattern_example {example!r} does not match the pattern")
    return compiled


_RULE_PARAMS = {
    "minor_flag": {"flag", "birth_date", "estimated_age", "years"},
    "date_order": {"first", "then"},
    "min_span_months": {"start", "end", "months"},
}


def _parse_rule(raw: Mapping[str, Any], where: str) -> FormRule:
    kind = raw.get("kind")
    if kind not in _RULE_PARAMS:
        raise DefinitionError(f"{where}: unknown rule kind {kind!r}; known: {sorted(_RULE_PARAMS)}")
    params = {k: v for k, v in raw.items() if k not in ("kind", "message")}
    if set(params) - _RULE_PARAMS[kind]:
        raise DefinitionError(f"{where}: unknown parameters {sorted(set(params) - _RULE_PARAMS[kind])}")
    message = text_from(raw["message"], f"{where}.message") if "message" in raw else None
    return FormRule(kind=kind, params=params, message=message)


def _check_unique_keys(form: FormDef, where: str) -> None:
    seen: set[str] = set()
    for fdef in form.fields():
        if fdef.key in seen:
            raise DefinitionError(f"{where}: field '{fdef.key}' appears twice")
        seen.add(fdef.key)


def _check_conditions(form: FormDef, where: str) -> None:
    """required_if / required_unless must name a field of the same form (or of the same group item)."""
    def check(fields: tuple[FieldDef, ...], scope: str) -> None:
        keys = {f.key for f in fields}
        for fdef in fields:
            for condition in (fdef.required_if, fdef.required_unless):
                for kind, name in condition.references() if condition is not None else ():
                    if kind == "input" and name.split(".")[0] not in keys:
                        raise DefinitionError(f"{where}: field '{fdef.key}' has a condition on unknown field "
                                              f"'{name}' (fields {scope}: {sorted(keys)})")
            if fdef.type == "group":
                check(fdef.fields, f"of group '{fdef.key}'")

    check(tuple(form.fields()), "of the form")


def _check_rule_fields(form: FormDef, where: str) -> None:
    keys = {f.key for f in form.fields()}
    for rule in form.rules:
        for name, value in rule.params.items():
            if name in ("years", "months"):
                continue
            if value not in keys:
                raise DefinitionError(f"{where}: rule {rule.kind} names unknown field '{value}'")
