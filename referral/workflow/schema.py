"""The shape of a workflow definition, as pydantic models; `workflows/schema.json` is generated from them.

These models check what one element says on its own (its keys, their types, the choices a key takes,
rules within one element such as "give either 'to' or 'stay: true'"). What elements say of each other
(a state, role, form or relation named somewhere and declared elsewhere) is checked once, over the
built definition, by the `_problems` functions of definition.py. `definition.py` turns the validated
models into the dataclasses the engine reads.

Regenerate the JSON Schema an editor validates against (docs/workflows.md):

    python -m referral.workflow schema > workflows/schema.json

Sections not modelled here yet (services, referrals, consent, emergency_access, statistics, notes,
attachments, meetings) are typed as open mappings and checked by their own modules' parsers.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
from pydantic import (
    BaseModel, BeforeValidator, ConfigDict, Discriminator, Field, PlainValidator, StrictBool, StrictInt, Tag, ValidationError,
    ValidationInfo, field_validator, model_validator,
)

from .errors import DefinitionError
from .predicates import (
    AllOf, AnyOf, Comparison, FieldIs, FlagIs, FormIs, InputIs, Not, Predicate, ReferralIs, StateIs, TrackIs,
)
from .text import Text, text_from

CAPABILITIES = ("file_intake", "case_access", "erase_cases", "manage_network", "audit", "approve_access",
                "assign_cases", "plan_manage", "plan_report")
CLOCK_UNITS = ("hours", "calendar_days", "working_days")
OPERATORS = ("equals", "in", "not_in", "is_set", "contains", "contains_any", "at_least")
TAG = "="  # a union member's tag starts with it, so error locations can leave it out (see `problems`)



def listed(what: str) -> BeforeValidator:
    """Refuse anything but a list, saying what the list holds (`remind: fiscalia` -> a list of names)."""

    def check(value: Any) -> Any:
        if not isinstance(value, list):
            raise ValueError(f"expected a list of {what}, got {value!r}")
        return value

    return BeforeValidator(check)


Basis = Literal["law", "source", "product"]
Name = Annotated[str, Field(min_length=1)]
Names = Annotated[list[Name], listed("names")]


def _one_or_list(value: Any) -> str:
    return "=list" if isinstance(value, list) else "=one"


# a name, or a non-empty list of names (one error, not one per alternative, when it is neither)
OneOrMore = Annotated[Annotated[Name, Tag("=one")] | Annotated[list[Name], Field(min_length=1), Tag("=list")],
                      Discriminator(_one_or_list)]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LabelShape(Model):
    """{es: ..., en: ...}: Spanish first and mandatory."""

    es: str
    en: str = ""


def _label(raw: Any) -> Text:
    if isinstance(raw, Text):
        return raw
    try:
        return text_from(raw, "")
    except DefinitionError as error:  # text_from's message starts with its (here empty) place
        raise ValueError(str(error).removeprefix(": ")) from None


Label = Annotated[Text, PlainValidator(_label, json_schema_input_type=str | LabelShape)]


def tagged(name: str, tags: tuple[str, ...], fallback: str | None = None) -> Callable[[Any], str | None]:
    """A discriminator for YAML's tagged shapes: the first of `tags` that is a key of the mapping (a
    one-key mapping whose key is not among them is reported as an unknown `name`)."""

    def tag(value: Any) -> str | None:
        if isinstance(value, BaseModel):
            return TAG + type(value).__name__
        if not isinstance(value, Mapping):
            return fallback
        for key in tags:
            if key in value:
                return TAG + key
        return f"{TAG}{next(iter(value))}" if len(value) == 1 else None

    tag.__name__ = name
    return tag


# -- conditions (referral/workflow/predicates.py) -----------------------------------------------------------


class _Comparing(Model):
    equals: Any = None
    in_: list[Any] | None = Field(None, alias="in")
    not_in: list[Any] | None = None
    is_set: StrictBool | None = None
    contains: Any = None
    contains_any: list[Any] | None = None
    at_least: Any = None

    @model_validator(mode="after")
    def _one_operator(self) -> _Comparing:
        given = [self._alias(name) for name in self.model_fields_set if self._alias(name) in OPERATORS]
        if len(given) != 1:
            raise ValueError(f"give exactly one of {', '.join(OPERATORS)}")
        operand = getattr(self, self._field(given[0]))
        if isinstance(operand, list) and any(isinstance(item, bool) for item in operand):
            raise ValueError(f"{operand!r} holds a value YAML read as a boolean; quote it (\"no\")")
        return self

    @staticmethod
    def _alias(name: str) -> str:
        return "in" if name == "in_" else name

    @staticmethod
    def _field(alias: str) -> str:
        return "in_" if alias == "in" else alias

    def comparison(self) -> Comparison:
        operator = next(self._alias(n) for n in self.model_fields_set if self._alias(n) in OPERATORS)
        operand = getattr(self, self._field(operator))
        return Comparison(operator, tuple(operand) if isinstance(operand, list) else operand)


def _tuple(value: str | list[Any]) -> tuple[Any, ...]:
    return tuple(value) if isinstance(value, list) else (value,)


class AllCondition(Model):
    all: Annotated[list[Condition], Field(min_length=1)]

    def build(self) -> Predicate:
        return AllOf(tuple(part.build() for part in self.all))


class AnyCondition(Model):
    any: Annotated[list[Condition], Field(min_length=1)]

    def build(self) -> Predicate:
        return AnyOf(tuple(part.build() for part in self.any))


class NotCondition(Model):
    not_: Condition = Field(alias="not")

    def build(self) -> Predicate:
        return Not(self.not_.build())


class StateCondition(Model):
    """{state: [a, b]}: the case is in one of these states."""

    state: OneOrMore

    def build(self) -> Predicate:
        return StateIs(_tuple(self.state))


class TrackCondition(Model):
    """{track: t, in: [s, ~]}: the track is in one of these states (~: not started); no `in`: not started."""

    track: Name
    in_: str | None | Annotated[list[str | None], Field(min_length=1)] = Field(None, alias="in")

    def build(self) -> Predicate:
        return TrackIs(self.track, _tuple(self.in_) if "in_" in self.model_fields_set else (None,))


class FormCondition(Model):
    """{form: f, status: [...], complete: true}: the current revision's status or completeness."""

    form: Name
    status: OneOrMore | None = None
    complete: StrictBool | None = None

    @model_validator(mode="after")
    def _something(self) -> FormCondition:
        if self.status is None and self.complete is None:
            raise ValueError("a form condition needs 'status' or 'complete'")
        return self

    def build(self) -> Predicate:
        return FormIs(self.form, _tuple(self.status) if self.status is not None else None, self.complete)


class FieldCondition(_Comparing):
    """{field: form.field, <operator>: value}: a value of a form of the case."""

    field: Annotated[str, Field(pattern=r"^[^.]+\..+$")]

    def build(self) -> Predicate:
        form, _, path = self.field.partition(".")
        return FieldIs(form, tuple(path.split(".")), self.comparison())


class InputCondition(_Comparing):
    """{input: field, <operator>: value}: a value typed into the transition's own form."""

    input: Name

    def build(self) -> Predicate:
        return InputIs(tuple(self.input.split(".")), self.comparison())


class FlagCondition(Model):
    flag: Name

    def build(self) -> Predicate:
        return FlagIs(self.flag)


class ReferralSpec(Model):
    to: OneOrMore | None = None
    service: OneOrMore | None = None
    kind: OneOrMore | None = None
    in_: OneOrMore | None = Field(None, alias="in")

    @model_validator(mode="after")
    def _something(self) -> ReferralSpec:
        if not self.model_fields_set:
            raise ValueError("a referral condition is {referral: {to, service, kind, in}} (any of them)")
        return self


class ReferralCondition(Model):
    """{referral: {to, service, kind, in}}: some referral of the case matches."""

    referral: ReferralSpec

    def build(self) -> Predicate:
        r = self.referral
        return ReferralIs(*(_tuple(v) if v is not None else () for v in (r.to, r.service, r.kind, r.in_)))


_CONDITIONS = ("all", "any", "not", "state", "track", "form", "field", "input", "flag", "referral")
Condition = Annotated[
    Annotated[AllCondition, Tag("=all")] | Annotated[AnyCondition, Tag("=any")]
    | Annotated[NotCondition, Tag("=not")] | Annotated[StateCondition, Tag("=state")]
    | Annotated[TrackCondition, Tag("=track")] | Annotated[FormCondition, Tag("=form")]
    | Annotated[FieldCondition, Tag("=field")] | Annotated[InputCondition, Tag("=input")]
    | Annotated[FlagCondition, Tag("=flag")] | Annotated[ReferralCondition, Tag("=referral")],
    Discriminator(tagged("condition", _CONDITIONS), custom_error_type="unknown_condition",
                  custom_error_message=f"a condition is a mapping keyed by one of {', '.join(_CONDITIONS)}"),
]

for _model in (AllCondition, AnyCondition, NotCondition):
    _model.model_rebuild()


# -- who may act ------------------------------------------------------------------------------------------


class Permit(Model):
    """{role: r, relation: [a, b]}: every role × relation pair given."""

    role: OneOrMore
    relation: OneOrMore


PermitEntry = Annotated[
    Annotated[Name, Tag("=group")] | Annotated[Permit, Tag("=permit")],
    Discriminator(lambda v: "=group" if isinstance(v, str) else "=permit"),
]
# `by: coordinacion` (a named group of permit_groups) or a list of groups and {role, relation} pairs
Permits = Annotated[Annotated[Name, Tag("=one")] | Annotated[list[PermitEntry], Tag("=list")],
                    Discriminator(_one_or_list)]


# -- roles, relations, assignments ------------------------------------------------------------------------


class Role(Model):
    label: Label
    capabilities: list[Literal[CAPABILITIES]] = []  # type: ignore[valid-type]
    # a capability that counts only at a node holding a network function: capability -> assignment
    held_at: dict[str, Name] = {}
    second_factor: Literal["required", "optional"] | None = None

    @field_validator("held_at")
    @classmethod
    def _held(cls, value: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        extra = sorted(set(value) - set(info.data.get("capabilities", ())))
        if extra:
            raise ValueError(f"names capabilities the role does not have {extra}")
        return value


class Relation(Model):
    label: Label
    scope: Literal["region", "national"] | None = None


class Assignment(Relation):
    second_factor: Literal["required", "optional"] | None = None  # every member of a node holding it


def _labelled(model: type[Relation]) -> Any:
    """A relation or assignment: its label alone, or {label, scope, ...}."""
    return Annotated[
        Annotated[Label, Tag("=label")] | Annotated[model, Tag("=full")],
        Discriminator(lambda v: "=full" if isinstance(v, Mapping) and "label" in v or isinstance(v, Relation)
                      else "=label"),
    ]


# -- the machines -----------------------------------------------------------------------------------------


class State(Model):
    label: Label | None = None  # the key itself when absent
    help: Label | None = None
    initial: StrictBool = False
    closed: StrictBool = False


class Guard(Model):
    check: Condition
    message: Label
    basis: Basis | None = None


class SubmitForm(Model):
    submit_form: Name


class ApproveForm(Model):
    approve_form: Name


class ReturnForm(Model):
    return_form: Name


class ParticipantToAdd(Model):
    relation: Name
    node_input: Name | None = None  # a field of the transition's form with source: node
    assignment: Name | None = None  # the node holding this network function
    when: Condition | None = None

    @model_validator(mode="after")
    def _one(self) -> ParticipantToAdd:
        if (self.node_input is None) == (self.assignment is None):
            raise ValueError("add_participant needs node_input or assignment (one)")
        return self


class AddParticipant(Model):
    add_participant: ParticipantToAdd


EFFECTS = ("submit_form", "approve_form", "return_form", "add_participant")
Effect = Annotated[
    Annotated[SubmitForm, Tag("=submit_form")] | Annotated[ApproveForm, Tag("=approve_form")]
    | Annotated[ReturnForm, Tag("=return_form")] | Annotated[AddParticipant, Tag("=add_participant")],
    Discriminator(tagged("effect", EFFECTS), custom_error_type="unknown_effect",
                  custom_error_message=f"an effect is a one-key mapping such as {{approve_form: plan}}, "
                                       f"keyed by one of {', '.join(EFFECTS)}"),
]


class Transition(Model):
    label: Label
    help: Label | None = None
    from_: OneOrMore | None = Field(None, alias="from")
    to: Name | None = None
    stay: StrictBool = False  # fires without leaving the current state
    starts_track: StrictBool = False  # a track's first step (tracks only; no `from`)
    by: Permits | None = None
    form: Name | None = None
    guards: list[Guard] = []
    effects: list[Effect] = []
    style: Literal["primary", "secondary", "danger"] = "primary"
    available_when: Condition | None = None
    prefill: StrictBool = False
    confirm: Label | None = None  # the consequence of a destructive step, in Spanish and English

    @model_validator(mode="after")
    def _coherent(self) -> Transition:
        if (self.to is not None) == self.stay:
            raise ValueError("give either 'to' or 'stay: true'")
        if self.starts_track and self.from_ is not None:
            raise ValueError("a starts_track transition has no 'from'")
        if not self.starts_track and self.from_ is None:
            raise ValueError("missing 'from'")
        if not self.by:
            raise ValueError("no role may fire this transition; add 'by'")
        if self.confirm is None and self.style == "danger":
            raise ValueError(DANGER_NEEDS_CONFIRM)
        return self

    @field_validator("confirm")
    @classmethod
    def _confirm(cls, value: Text | None) -> Text | None:
        if value is not None:
            both_languages(value)
        return value

    @field_validator("prefill")
    @classmethod
    def _prefill(cls, value: bool, info: ValidationInfo) -> bool:
        if value and not info.data.get("form"):
            raise ValueError("only a transition with a form can open it filled")
        return value


DANGER_NEEDS_CONFIRM = ("a step with style 'danger' is destructive: add 'confirm' (es/en: the consequence the user "
                        "confirms)")


def both_languages(confirm: Text) -> None:
    """A destructive step's `confirm` tells the consequence in Spanish and English."""
    if not (confirm.es.strip() and confirm.en.strip()):
        raise ValueError("the consequence, in Spanish and English")


class Track(Model):
    label: Label
    states: Annotated[dict[str, State | None], Field(min_length=1)]
    transitions: Annotated[dict[str, Transition], Field(min_length=1)]
    available_when: Condition | None = None  # when the track may be started


# -- forms, intake, flags, notices ------------------------------------------------------------------------


class Editing(Model):
    by: Permits | None = None
    when: Condition | None = None


class FormUse(Model):
    edit: Editing | None = None
    readers: Names = []  # relations; empty: every participant
    summary_fields: Names = []
    sections: dict[str, Names] = {}  # relation -> the only sections it reads


class Participant(Model):
    relation: Name
    node: Name | None = None  # "actor": the node of the user filing the case
    assignment: Name | None = None

    @model_validator(mode="after")
    def _one(self) -> Participant:
        if (self.node is None) == (self.assignment is None):
            raise ValueError("needs node: actor or an assignment (one)")
        return self


class Intake(Model):
    form: Name
    state: Name
    region_field: Name
    region_fallback: str | None = None
    participants: list[Participant]

    @field_validator("region_fallback")
    @classmethod
    def _region(cls, value: str | None) -> str | None:
        if value is not None and not value:
            raise ValueError(f"expected a region code, got {value!r}")
        return value


class Flag(Model):
    label: Label
    when: Condition
    priority: StrictInt = 0
    child: StrictBool = False  # the flag that marks a child's case (niño, niña o adolescente)


class Notice(Model):
    message: Label
    when: Condition
    relations: Names
    basis: Basis | None = None


# -- clocks -----------------------------------------------------------------------------------------------


def _unit(value: Any) -> Any:
    if value not in CLOCK_UNITS:
        raise ValueError(f"a duration is {{value: N, unit: {'|'.join(CLOCK_UNITS)}}}, got unit {value!r}")
    return value


class Duration(Model):
    value: StrictInt
    unit: Annotated[Literal[CLOCK_UNITS], BeforeValidator(_unit)]  # type: ignore[valid-type]

    @field_validator("value")
    @classmethod
    def _positive(cls, value: int) -> int:
        if value <= 0:
            raise ValueError("a duration must be positive")
        return value


class Escalation(Model):
    after: Duration
    relation: Name


class Restart(Model):
    note_recorded: Names
    by: Names


EVENTS = ("enter_state", "leave_state", "transition", "form_submitted", "track_state", "referral_state",
          "meeting_state", "agreement_state")


class OnEnterState(Model):
    """{enter_state: ...}: the case enters one of these states."""

    enter_state: OneOrMore


class OnLeaveState(Model):
    """{leave_state: ...}: the case leaves one of these states."""

    leave_state: OneOrMore


class OnTransition(Model):
    """{transition: ...}: one of these transitions fires."""

    transition: OneOrMore


class OnFormSubmitted(Model):
    """{form_submitted: ...}: one of these forms is submitted."""

    form_submitted: OneOrMore


class OnTrackState(Model):
    """{track_state: ...}: a track enters one of these states (track.state)."""

    track_state: OneOrMore


class OnReferralState(Model):
    """{referral_state: ...}: a referral enters one of these states (kind.state)."""

    referral_state: OneOrMore


class OnMeetingState(Model):
    """{meeting_state: ...}: a case meeting enters one of these states."""

    meeting_state: OneOrMore


class OnAgreementState(Model):
    """{agreement_state: ...}: an agreement of a meeting enters one of these states."""

    agreement_state: OneOrMore


Event = Annotated[
    Annotated[OnEnterState, Tag("=enter_state")]
    | Annotated[OnLeaveState, Tag("=leave_state")]
    | Annotated[OnTransition, Tag("=transition")]
    | Annotated[OnFormSubmitted, Tag("=form_submitted")]
    | Annotated[OnTrackState, Tag("=track_state")]
    | Annotated[OnReferralState, Tag("=referral_state")]
    | Annotated[OnMeetingState, Tag("=meeting_state")]
    | Annotated[OnAgreementState, Tag("=agreement_state")],
    Discriminator(tagged("event", EVENTS), custom_error_type="unknown_event",
                  custom_error_message=f"an event is a one-key mapping keyed by one of {', '.join(EVENTS)}"),
]


def event_mapping(event: Model | None) -> dict[str, Any]:
    """The event as the clocks read it: {kind: name or [names]}."""
    return dict(event.model_dump()) if event is not None else {}


class Clock(Model):
    label: Label
    duration: Duration | None = None
    # form.field: the deadline is a date typed into the starting step's form
    deadline_from: Annotated[str, Field(json_schema_extra={"pattern": r"^[^.]+\.[^.]+$"})] | None = None
    starts_on: Event | None = None
    stops_on: Event | None = None
    remind: Names = []
    remind_before: Annotated[list[Duration], listed("durations")] = []
    escalate: Annotated[list[Escalation], listed("{after: ..., relation: ...}")] = []
    basis: str
    repeats: StrictBool = False
    started_by: Names = []
    not_started_by: Names = []
    when: Condition | None = None
    notify_on_start: StrictBool = False
    restarts_on: Restart | None = None
    subject: Name | None = None  # a subject that is not a case (referral/workflow/subjects.py)

    @field_validator("deadline_from")
    @classmethod
    def _form_field(cls, value: str | None) -> str | None:
        if value is not None and value.count(".") != 1:
            raise ValueError(f"expected form.field, got {value!r}")
        return value

    @model_validator(mode="after")
    def _coherent(self) -> Clock:
        if self.subject is not None and (self.starts_on is not None or self.stops_on is not None):
            raise ValueError("a clock of a subject that is not a case has no starts_on/stops_on (its service starts "
                             "and stops it)")
        if self.subject is None and self.starts_on is None:
            raise ValueError("missing 'starts_on'")
        if (self.duration is None) == (self.deadline_from is None):
            raise ValueError("give either duration or deadline_from (a date field), not both or neither")
        return self


class Calendar(Model):
    time_zone: str  # IANA name: the users' time zone, in which days and deadlines are counted
    # ISO 3166: whose public holidays working days skip
    country: Annotated[str, Field(json_schema_extra={"pattern": "^[A-Z]{2}$"})] | None = None
    subdivision: str | None = None  # a subdivision code of the `holidays` library

    @field_validator("country", mode="before")
    @classmethod
    def _country(cls, value: Any) -> Any:
        if value is None:
            return value
        if not (isinstance(value, str) and len(value) == 2 and value.isupper()):
            raise ValueError(f"expected a two-letter ISO 3166 code such as CL, got {value!r}")
        if value not in holidays.list_supported_countries():
            raise ValueError(f"the holidays calendar does not know the country {value!r}")
        return value

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {value!r} (e.g. Europe/Lisbon)") from None
        return value

    @field_validator("subdivision")
    @classmethod
    def _subdivision(cls, value: str | None, info: ValidationInfo) -> str | None:
        country = info.data.get("country")
        if value is not None:
            if country is None:
                raise ValueError("a subdivision code needs a country")
            if value not in holidays.list_supported_countries()[country]:
                raise ValueError(f"the holidays calendar does not know {country}-{value}")
        return value


# -- inboxes, duplicates, links ---------------------------------------------------------------------------


class Inbox(Model):
    label: Label
    roles: Names = []
    relations: Names = []
    states: Names = []
    tracks: dict[str, Names] = {}
    forms: dict[str, Names] = {}


def _normaliser(value: Any) -> Any:
    if value not in ("document", "name"):
        raise ValueError(f"normalise must be one of ['document', 'name'], got {value!r}")
    return value


class BlindIndex(Model):
    fields: Names
    normalise: Annotated[Literal["document", "name"], BeforeValidator(_normaliser)]  # one identifier, or names


class Duplicates(Model):
    form: Name
    indexes: dict[str, BlindIndex]
    visible_to: Names = []


class Link(Model):
    label: Label
    form: Name
    field: Name
    count_visible_to: Names = []


# -- the whole --------------------------------------------------------------------------------------------

Section = dict[str, Any]  # checked by its module's parser (network.py, statistics.py, notes.py, ...)


class Workflow(Model):
    """A protocol as data: `workflows/<country>/workflow.yaml`, or its `workflow/*.yaml` merged."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="Workflow definition")

    id: Name
    version: StrictInt
    label: Label
    permit_groups: dict[str, Annotated[list[Permit], Field(min_length=1)]] = {}
    roles: Annotated[dict[str, Role], Field(min_length=1)]
    relations: Annotated[dict[str, _labelled(Relation)], Field(min_length=1)]  # type: ignore[valid-type]
    assignments: dict[str, _labelled(Assignment)] = {}  # type: ignore[valid-type]
    intake: Intake
    flags: dict[str, Flag] = {}
    states: Annotated[dict[str, State | None], Field(min_length=1)]
    transitions: Annotated[dict[str, Transition], Field(min_length=1)]
    tracks: dict[str, Track] = {}
    forms: dict[str, FormUse] = {}
    inboxes: dict[str, Inbox] = {}
    clocks: dict[str, Clock] = {}
    duplicates: Duplicates | None = None
    links: dict[str, Link] = {}
    notices: dict[str, Notice] = {}
    calendar: Calendar | None = None
    services: Section | None = None
    referrals: Section | None = None
    consent: Section | None = None
    emergency_access: Section | None = None
    statistics: Section | None = None
    notes: Section | None = None
    attachments: Section | None = None
    meetings: Section | None = None


# -- errors -----------------------------------------------------------------------------------------------


def place(loc: tuple[int | str, ...]) -> str:
    """('transitions', 'approve', 'guards', 0, '=field', 'in') -> 'transitions.approve.guards[0].in'."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif not part.startswith(TAG) and not part.startswith("function-"):
            text += f".{part}" if text else part
    return text


def problems(error: ValidationError, origin: Callable[[str], str]) -> list[str]:
    """Each error of `error` as "file: path: what is wrong", in the words of the rest of the validator.
    `origin(top_level_key)` names the file that holds that section."""
    return [f"{origin(top)}: {at}: {text}" if at else f"{origin(top)}: {text}" for top, at, text in described(error)]


def described(error: ValidationError) -> list[tuple[str, str, str]]:
    """Each error of `error` as (its top-level key, its path, what is wrong)."""
    result = []
    extra: dict[tuple[Any, ...], list[str]] = {}  # unknown keys, by the mapping that holds them
    for item in error.errors(include_url=False):
        if item["type"] == "extra_forbidden":
            extra.setdefault(tuple(item["loc"][:-1]), []).append(str(item["loc"][-1]))
    for loc, keys in extra.items():
        result.append((str(loc[0]) if loc else "", place(loc), f"unknown keys {sorted(keys)}"))
    for item in error.errors(include_url=False):
        loc = tuple(item["loc"])
        where, last, kind = place(loc), place(loc[-1:]), item["type"]
        parent = place(loc[:-1])
        value = item.get("input")
        if kind == "missing":
            at, text = parent, f"missing '{last}'"
        elif kind == "extra_forbidden":
            continue  # listed above, one line per mapping
        elif kind in ("unknown_condition", "unknown_effect", "unknown_event"):  # the discriminators' errors
            given = ", ".join(f"'{key}'" for key in value) if isinstance(value, Mapping) else repr(value)
            at, text = where, f"{kind.replace('_', ' ')} {given}: {item['msg']}"
        elif kind == "literal_error":
            expected = str(item.get("ctx", {}).get("expected", "")).replace("'", "").replace(" or ", ", ")
            at, text = where, f"must be one of {expected}, got {value!r}"
        elif kind == "bool_type":
            at, text = where, f"true or false, got {value!r}"
        elif kind == "list_type":
            at, text = where, f"expected a list, got {value!r}"
        elif kind in ("dict_type", "model_type"):
            at, text = where, f"expected a mapping, got {value!r}"
        elif kind == "value_error":
            at, text = where, item["msg"].removeprefix("Value error, ")
        else:
            scalar = value is None or isinstance(value, str | int | float | bool)
            at, text = where, item["msg"] + (f", got {value!r}" if scalar else "")
        result.append((str(loc[0]) if loc else "", at, text))
    return result


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a workflow file. The top level requires no key, so that each file of a workflow
    split into workflow/*.yaml validates on its own in an editor; the loader requires them of the whole."""
    schema = Workflow.model_json_schema()
    schema.pop("required", None)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "$comment": "Generated from referral/workflow/schema.py by `python -m referral.workflow schema > "
                        "workflows/schema.json`; do not edit by hand (docs/workflows.md).",
            **schema}


def main() -> None:
    sys.stdout.write(json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n")

