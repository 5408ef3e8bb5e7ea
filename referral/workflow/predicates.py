"""The small condition language of workflow definitions (guards, case flags, conditional fields).

A predicate is written in YAML as a one-key mapping, for example::

    {form: report, status: [submitted]}
    {field: intake.consent, in: [yes, not_asked]}
    {input: reason, equals: assisted_return}
    {track: residence, in: [submitted, processing]}
    {not: {flag: minor}}

Evaluation is three-valued: a predicate over the input of a transition that has not been typed yet
is *unknown* (None), so a page can show an action as possible before its form is filled in.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from .errors import DefinitionError

Tri = bool | None

_OPERATORS = ("equals", "in", "not_in", "is_set", "contains", "contains_any", "at_least")


@dataclass(frozen=True)
class FormFacts:
    """What a predicate may know of the latest revision of one form of a case."""

    status: str
    complete: bool
    values: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ReferralFacts:
    """What a predicate may know of one referral of a case (never its free text)."""

    kind: str
    service: str | None
    state: str
    to_functions: frozenset[str] = frozenset()  # network functions (assignments) the receiving node holds


@dataclass(frozen=True)
class CaseFacts:
    """Everything predicates may look at, gathered by the service layer for one case."""

    state: str
    tracks: Mapping[str, str] = field(default_factory=dict)
    flags: Mapping[str, bool] = field(default_factory=dict)
    forms: Mapping[str, FormFacts] = field(default_factory=dict)
    referrals: tuple[ReferralFacts, ...] = ()


class Predicate(Protocol):
    def evaluate(self, facts: CaseFacts, values: Mapping[str, Any] | None) -> Tri: ...

    def references(self) -> Iterator[tuple[str, str]]: ...


def _lookup(values: Mapping[str, Any] | None, path: Sequence[str]) -> Any:
    current: Any = values
    for part in path:
        if not isinstance(current, Mapping):
            return None
        current = current.get(part)
    return current


@dataclass(frozen=True)
class Comparison:
    """One operator applied to a value (`equals`, `in`, `is_set`, ...)."""

    operator: str
    operand: Any

    def test(self, value: Any) -> bool:
        op, operand = self.operator, self.operand
        if op == "equals":
            return bool(value == operand)
        if op == "in":
            return value in operand
        if op == "not_in":
            return value not in operand
        if op == "is_set":
            return _is_set(value) == bool(operand)
        if op == "contains":
            return isinstance(value, (list, tuple)) and operand in value
        if op == "contains_any":
            return isinstance(value, (list, tuple)) and any(item in value for item in operand)
        if op == "at_least":
            try:
                return value is not None and value >= operand
            except TypeError:  # a value of another kind (text where a number was expected)
                return False
        raise AssertionError(op)  # parse() admits only known operators


def _is_set(value: Any) -> bool:
    return value not in (None, "", [], {}, False)


@dataclass(frozen=True)
class StateIs:
    states: tuple[str, ...]

    def evaluate(self, facts: CaseFacts, values: Mapping[str, Any] | None) -> Tri:
        return facts.state in self.states

    def references(self) -> Iterator[tuple[str, str]]:
        for state in self.states:
            yield ("state", state)


@dataclass(frozen=True)
class TrackIs:
    track: str
    states: tuple[str | None, ...]

    def evaluate(self, facts: CaseFacts, values: Mapping[str, Any] | None) -> Tri:
        return facts.tracks.get(self.track) in self.states

    def references(self) -> Iterator[tuple[str, str]]:
        yield ("track", self.track)
        for state in self.states:
            if state is not None:
                yield ("track_state", f"{self.track}.{state}")


@dataclass(frozen=True)
class FormIs:
    form: str
    statuses: tuple[str, ...] | None
    complete: bool | None

    def evaluate(self, facts: CaseFacts, values: Mapping[str, Any] | None) -> Tri:
        record = facts.forms.get(self.form)
        status = record.status if record else "none"
        if self.statuses is not None and status not in self.statuses:
            return False
        if self.complete is not None and (record is not None and record.complete) != self.complete:
            return False
        return True

    def references(self) -> Iterator[tuple[str, str]]:
        yield ("form", self.form)


@dataclass(frozen=True)
class FieldIs:
    form: str
    path: tuple[str, ...]
    comparison: Comparison

    def evaluate(self, facts: CaseFacts, values: Mapping[str, Any] | None) -> Tri:
        record = facts.forms.get(self.form)
        return self.comparison.test(_lookup(record.values if record else None, self.path))

    def references(self) -> Iterator[tuple[str, str]]:
        yield ("field", f"{self.form}.{'.'.join(self.path)}")


@dataclass(frozen=True)
class InputIs:
    """A condition on the values typed into the form of the transition being fired."""

    path: tuple[str, ...]
    comparison: Comparison

    def evaluate(self, facts: CaseFacts, values: Mapping[str, Any] | None) -> Tri:
        if values is None:
            return None
        return self.comparison.test(_lookup(values, self.path))

    def references(self) -> Iterator[tuple[str, str]]:
        yield ("input", ".".join(self.path))


@dataclass(frozen=True)
class FlagIs:
    flag: str

    def evaluate(self, facts: CaseFacts, values: Mapping[str, Any] | None) -> Tri:
        return bool(facts.flags.get(self.flag, False))

    def references(self) -> Iterator[tuple[str, str]]:
        yield ("flag", self.flag)


@dataclass(frozen=True)
class ReferralIs:
    """True if some referral of the case matches: to a node holding a network function, of a
    service or kind, in one of some states. Written {referral: {to: ..., service: ..., in: [...]}}."""

    to: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    states: tuple[str, ...] = ()

    def evaluate(self, facts: CaseFacts, values: Mapping[str, Any] | None) -> Tri:
        return any(
            (not self.to or r.to_functions & set(self.to)) and (not self.services or r.service in self.services)
            and (not self.kinds or r.kind in self.kinds) and (not self.states or r.state in self.states)
            for r in facts.referrals
        )

    def references(self) -> Iterator[tuple[str, str]]:
        for name in self.to:
            yield ("assignment", name)
        for name in self.services:
            yield ("service", name)
        for name in self.kinds:
            yield ("referral_kind", name)
        for name in self.states:
            yield ("referral_state", name)


@dataclass(frozen=True)
class AllOf:
    parts: tuple[Predicate, ...]

    def evaluate(self, facts: CaseFacts, values: Mapping[str, Any] | None) -> Tri:
        results = [part.evaluate(facts, values) for part in self.parts]
        if any(result is False for result in results):
            return False
        return None if any(result is None for result in results) else True

    def references(self) -> Iterator[tuple[str, str]]:
        for part in self.parts:
            yield from part.references()


@dataclass(frozen=True)
class AnyOf:
    parts: tuple[Predicate, ...]

    def evaluate(self, facts: CaseFacts, values: Mapping[str, Any] | None) -> Tri:
        results = [part.evaluate(facts, values) for part in self.parts]
        if any(result is True for result in results):
            return True
        return None if any(result is None for result in results) else False

    def references(self) -> Iterator[tuple[str, str]]:
        for part in self.parts:
            yield from part.references()


@dataclass(frozen=True)
class Not:
    part: Predicate

    def evaluate(self, facts: CaseFacts, values: Mapping[str, Any] | None) -> Tri:
        result = self.part.evaluate(facts, values)
        return None if result is None else not result

    def references(self) -> Iterator[tuple[str, str]]:
        yield from self.part.references()


def _comparison(raw: Mapping[str, Any], where: str, subject: str) -> Comparison:
    operators = [key for key in raw if key in _OPERATORS]
    if len(operators) != 1:
        raise DefinitionError(f"{where}: give exactly one of {', '.join(_OPERATORS)}")
    extra = set(raw) - {subject, operators[0]}
    if extra:
        raise DefinitionError(f"{where}: unknown keys {sorted(extra)} in a condition")
    operator = operators[0]
    operand = raw[operator]
    if operator in ("in", "not_in", "contains_any"):
        if not isinstance(operand, list):
            raise DefinitionError(f"{where}: '{operator}' takes a list")
        if any(isinstance(item, bool) for item in operand):
            raise DefinitionError(f"{where}: {operand!r} holds a value YAML read as a boolean; quote it (\"no\")")
    return Comparison(operator, tuple(operand) if isinstance(operand, list) else operand)


def _names(raw: Any, where: str) -> tuple[Any, ...]:
    items = raw if isinstance(raw, list) else [raw]
    if not items:
        raise DefinitionError(f"{where}: the list is empty")
    return tuple(items)


def parse(raw: Any, where: str) -> Predicate:
    """Build a predicate from its YAML form; raise DefinitionError naming `where` if malformed."""
    if not isinstance(raw, Mapping) or not raw:
        raise DefinitionError(f"{where}: a condition must be a mapping, got {raw!r}")
    keys = set(raw)
    if keys == {"all"} or keys == {"any"}:
        kind = "all" if "all" in keys else "any"
        items = raw[kind]
        if not isinstance(items, list) or not items:
            raise DefinitionError(f"{where}: '{kind}' takes a non-empty list")
        parts = tuple(parse(item, f"{where}.{kind}[{i}]") for i, item in enumerate(items))
        return AllOf(parts) if kind == "all" else AnyOf(parts)
    if keys == {"not"}:
        return Not(parse(raw["not"], f"{where}.not"))
    if keys == {"state"}:
        return StateIs(_names(raw["state"], where))
    if "track" in keys and keys <= {"track", "in"}:
        return TrackIs(str(raw["track"]), _names(raw.get("in", [None]), where))
    if "form" in keys and keys <= {"form", "status", "complete"}:
        statuses = _names(raw["status"], where) if "status" in raw else None
        complete = raw.get("complete")
        if statuses is None and complete is None:
            raise DefinitionError(f"{where}: a form condition needs 'status' or 'complete'")
        return FormIs(str(raw["form"]), statuses, complete)
    if "field" in keys:
        form, _, path = str(raw["field"]).partition(".")
        if not path:
            raise DefinitionError(f"{where}: 'field' is written form.field, got {raw['field']!r}")
        return FieldIs(form, tuple(path.split(".")), _comparison(raw, where, "field"))
    if "input" in keys:
        return InputIs(tuple(str(raw["input"]).split(".")), _comparison(raw, where, "input"))
    if keys == {"flag"}:
        return FlagIs(str(raw["flag"]))
    if keys == {"referral"}:
        spec = raw["referral"]
        if not isinstance(spec, Mapping) or not spec or set(spec) - {"to", "service", "kind", "in"}:
            raise DefinitionError(f"{where}: a referral condition is {{referral: {{to, service, kind, in}}}} (any of them)")
        return ReferralIs(*(tuple(_names(spec[k], where)) if k in spec else () for k in ("to", "service", "kind", "in")))
    raise DefinitionError(f"{where}: unknown condition {dict(raw)!r}")


def parse_on_values(raw: Any, where: str) -> Predicate:
    """A condition inside a form, over that form's own values: written with `field: name`."""
    if isinstance(raw, Mapping) and "field" in raw and "." not in str(raw["field"]):
        return InputIs(tuple(str(raw["field"]).split(".")), _comparison(raw, where, "field"))
    if isinstance(raw, Mapping) and set(raw) in ({"all"}, {"any"}):
        kind = next(iter(raw))
        parts = tuple(parse_on_values(item, f"{where}.{kind}") for item in raw[kind])
        return AllOf(parts) if kind == "all" else AnyOf(parts)
    if isinstance(raw, Mapping) and set(raw) == {"not"}:
        return Not(parse_on_values(raw["not"], f"{where}.not"))
    raise DefinitionError(f"{where}: a form condition is written {{field: name, <operator>: value}}")


def leaves(predicate: Predicate) -> Iterator[Predicate]:
    """Every simple condition inside a combination of conditions."""
    if isinstance(predicate, (AllOf, AnyOf)):
        for part in predicate.parts:
            yield from leaves(part)
    elif isinstance(predicate, Not):
        yield from leaves(predicate.part)
    else:
        yield predicate


EMPTY_FACTS = CaseFacts(state="")
