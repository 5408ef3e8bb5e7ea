"""A protocol as data: states, transitions, guards, effects, forms, clocks, inboxes.

`load_definition(folder)` reads a folder of `workflows/`: the workflow, in one `workflow.yaml` or split
by concern into `workflow/*.yaml` (top-level keys merged), and `forms/*.yaml`. The models of schema.py
check each element's shape; the dataclasses below are built from them, and `validate` checks, once, what
the elements say of each other. Anything wrong (an unknown key, an unknown state, an unreachable state, a
transition nobody may fire, a guard naming a form that does not exist) raises DefinitionError with the
file and the element named, and the application refuses to start.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import TypeAdapter, ValidationError

from . import schema
from .errors import DefinitionError
from .forms import BASES, FormDef, parse_form
from .network import PARTIES as REFERRAL_PARTIES
from .network import PARTY_LABELS
from .network import NetworkDef, network_problems, parse_network
from .statistics import StatisticsDef, parse_statistics, statistics_problems
from .meetings import DUE_FIELDS as SUBJECT_DUE_FIELDS
from .meetings import PARTIES as SUBJECT_PARTIES
from .meetings import PARTY_LABELS as SUBJECT_PARTY_LABELS
from .meetings import STATES as SUBJECT_STATES
from .meetings import MeetingsDef, meetings_problems, parse_meetings, subject_event
from .notes import NotesDef, notes_problems, parse_notes
from .attachments import AttachmentsDef, attachments_problems, parse_attachments
from .predicates import FieldIs, InputIs, Predicate, leaves
from .subjects import DUE_FIELD as NONCASE_DUE_FIELD
from .subjects import KINDS as NONCASE_KINDS
from .subjects import PARTIES as NONCASE_PARTIES
from .subjects import PARTY_LABELS as NONCASE_PARTY_LABELS
from .text import Text

CAPABILITIES = frozenset(schema.CAPABILITIES)
CLOCK_UNITS = frozenset(schema.CLOCK_UNITS)
EFFECT_KINDS = frozenset(schema.EFFECTS)
ACTOR_NODE = "actor"


@dataclass(frozen=True)
class Role:
    key: str
    label: Text
    capabilities: frozenset[str]
    # A capability that counts only at a node holding a network function: capability -> assignment
    # (e.g. approve_access only at the node holding coordinacion_nacional).
    held_at: Mapping[str, str] = field(default_factory=dict)
    second_factor: bool = False  # `second_factor: required`: nobody of this role signs in by password alone


@dataclass(frozen=True)
class Labelled:
    key: str
    label: Text
    scope: str = ""  # for assignments: "region" or "national"
    second_factor: bool = False  # for assignments: every member of a node holding it needs a second factor


@dataclass(frozen=True)
class Permit:
    """One (role, relation) pair allowed to fire a transition or edit a form."""

    role: str
    relation: str


@dataclass(frozen=True)
class Guard:
    check: Predicate
    message: Text
    basis: str | None = None  # where the rule comes from (BASES); None: not declared


@dataclass(frozen=True)
class Effect:
    kind: str
    form: str = ""
    relation: str = ""
    assignment: str = ""
    node_input: str = ""
    when: Predicate | None = None  # add_participant only when this holds of the case (and the step's input)


@dataclass(frozen=True)
class Transition:
    key: str
    machine: str  # "" for the main case machine, else the track key
    label: Text
    sources: tuple[str | None, ...]  # None: the track has not started yet
    target: str
    permits: tuple[Permit, ...]
    form: str | None = None
    guards: tuple[Guard, ...] = ()
    effects: tuple[Effect, ...] = ()
    style: str = "primary"
    help: Text | None = None
    stays: bool = False  # fires without leaving the current state (e.g. submit a form for review)
    available_when: Predicate | None = None  # not offered at all unless this holds (e.g. child cases only)
    prefill: bool = False  # its form opens filled with the current revision of the same form (an update)
    # destructive or final (close, refuse, withdraw): never the primary step, and fired only after the
    # user confirms on its own page, which tells this consequence. `style: danger` requires it.
    confirm: Text | None = None

    @property
    def destructive(self) -> bool:
        return self.confirm is not None


@dataclass(frozen=True)
class State:
    key: str
    label: Text
    help: Text | None = None
    closed: bool = False


@dataclass(frozen=True)
class Machine:
    key: str  # "" for the case itself
    label: Text
    states: Mapping[str, State]
    initial: str | None
    transitions: Mapping[str, Transition]
    available_when: Predicate | None = None  # for tracks: when the track may be started


@dataclass(frozen=True)
class FormUse:
    """How a workflow uses a form: who edits it, when, and who may read it."""

    key: str
    editors: tuple[Permit, ...] = ()
    editable_when: Predicate | None = None
    readers: tuple[str, ...] = ()  # relations; empty means every participant
    summary_fields: tuple[str, ...] = ()
    # relation -> the only sections it reads (a shelter reads who and what care, not the criminal case)
    sections: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Flag:
    key: str
    label: Text
    when: Predicate
    priority: int = 0
    child: bool = False  # the flag of a child's case (niño, niña o adolescente): the application reads it


@dataclass(frozen=True)
class Notice:
    """A warning the case page shows, on top, to members of some relations while a condition holds (e.g.
    a fact a receiving institution must not miss). Computed when the page is read; never stored in clear."""

    key: str
    message: Text
    when: Predicate
    relations: tuple[str, ...]
    basis: str | None = None


@dataclass(frozen=True)
class ParticipantRule:
    relation: str
    node: str = ""  # "actor" for the acting user's node
    assignment: str = ""


@dataclass(frozen=True)
class Intake:
    form: str
    state: str
    region_field: str
    participants: tuple[ParticipantRule, ...]
    region_fallback: str | None = None  # the region a case is routed to when the form leaves region_field blank


@dataclass(frozen=True)
class Duration:
    value: int
    unit: str


@dataclass(frozen=True)
class Clock:
    key: str
    label: Text
    duration: Duration | None  # None: the deadline is a date typed into the starting step's form
    starts_on: Mapping[str, str]
    stops_on: Mapping[str, Any]
    remind: tuple[str, ...]  # relations reminded before the deadline and told when it passes
    escalate: tuple[tuple[Duration, str], ...]  # (time after the start, relation told)
    basis: str
    repeats: bool = False  # a new period starts when one ends (a periodic prompt, never "overdue")
    remind_before: tuple[Duration, ...] = ()  # advance reminders, counted back from the deadline
    deadline_from: str | None = None  # "form.field": a date of the starting transition's form is the deadline
    started_by: tuple[str, ...] = ()  # only when the node taking the starting step has one of these org types
    when: Predicate | None = None  # only when this holds of the case at the starting step
    notify_on_start: bool = False  # tell `remind` at once when it starts (a referral that just arrived)
    not_started_by: tuple[str, ...] = ()  # only when it has none of these (or no org type at all)
    # a running period ends (met) and a new one starts when a note of these types is recorded by a node
    # holding one of these relations: {"note_recorded": (types...), "by": (relations...)}
    restarts_on: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # a subject that is not a case (referral/workflow/subjects.py): its owner's service starts and stops it
    subject: str | None = None


@dataclass(frozen=True)
class CalendarDef:
    """The users' time zone (IANA), and which public holidays working days skip: an ISO 3166 country
    and optionally a subdivision code of the `holidays` library."""

    time_zone: str = "UTC"  # a workflow without a calendar section (the engine tests' small workflows)
    country: str | None = None
    subdivision: str | None = None


@dataclass(frozen=True)
class BlindIndexDef:
    """A keyed hash over normalised identifying fields, to find a person's earlier cases."""

    key: str
    fields: tuple[str, ...]
    normalise: str  # "document" (one identifier) or "name" (name words + dates)


@dataclass(frozen=True)
class Duplicates:
    form: str
    indexes: Mapping[str, BlindIndexDef]
    visible_to: tuple[str, ...]  # relations whose members are told of possible matches in other cases


@dataclass(frozen=True)
class LinkDef:
    """Cases that share an identifier typed into a form (e.g. one proceeding with many victims) are linked
    through a keyed hash of it; a link grants no access to the other cases."""

    key: str
    label: Text
    form: str
    field: str
    count_visible_to: tuple[str, ...]  # relations told how many linked cases lie outside their node's scope


LOW_CARDINALITY = frozenset({"boolean", "choice", "multichoice", "integer", "date", "datetime"})


@dataclass(frozen=True)
class Inbox:
    key: str
    label: Text
    roles: tuple[str, ...]
    relations: tuple[str, ...]
    states: tuple[str, ...] = ()
    tracks: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    forms: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class WorkflowDefinition:
    key: str
    version: int
    label: Text
    roles: Mapping[str, Role]
    relations: Mapping[str, Labelled]
    assignments: Mapping[str, Labelled]
    main: Machine
    tracks: Mapping[str, Machine]
    forms: Mapping[str, Mapping[int, FormDef]]
    form_uses: Mapping[str, FormUse]
    intake: Intake
    flags: Mapping[str, Flag]
    clocks: Mapping[str, Clock]
    inboxes: Mapping[str, Inbox]
    duplicates: Duplicates | None = None
    links: Mapping[str, LinkDef] = field(default_factory=dict)
    notices: Mapping[str, Notice] = field(default_factory=dict)
    calendar: CalendarDef = field(default_factory=CalendarDef)
    network: NetworkDef = field(default_factory=NetworkDef)
    statistics: StatisticsDef = field(default_factory=StatisticsDef)
    source: str = ""
    notes: NotesDef | None = None
    attachments: AttachmentsDef | None = None
    meetings: MeetingsDef | None = None

    def machines(self) -> Iterator[Machine]:
        yield self.main
        yield from self.tracks.values()

    def transition(self, key: str) -> Transition:
        for machine in self.machines():
            if key in machine.transitions:
                return machine.transitions[key]
        raise KeyError(key)

    def machine(self, key: str) -> Machine:
        return self.main if key == "" else self.tracks[key]

    def form(self, key: str, version: int | None = None) -> FormDef:
        versions = self.forms[key]
        return versions[version if version is not None else max(versions)]

    def relation_label(self, key: str) -> Text:
        """A relation's label; also the two ends of a referral (receptor, emisor) that clocks may name."""
        if key in self.relations:
            return self.relations[key].label
        return PARTY_LABELS.get(key) or SUBJECT_PARTY_LABELS.get(key) or NONCASE_PARTY_LABELS.get(key, Text(key, key))

    def roles_with(self, capability: str) -> tuple[str, ...]:
        return tuple(key for key, role in self.roles.items() if capability in role.capabilities)

    def second_factor_required(self, role: str, node_assignments: Iterable[str]) -> bool:
        """Whether a person of `role`, in a node holding `node_assignments`, must have a second factor."""
        if role in self.roles and self.roles[role].second_factor:
            return True
        return any(key in self.assignments and self.assignments[key].second_factor for key in node_assignments)


# -- loading ------------------------------------------------------------------------------------

WORKFLOW_FILE = "workflow.yaml"  # the whole workflow in one file
WORKFLOW_FOLDER = "workflow"  # or split by concern into workflow/*.yaml, whose top-level keys are merged


def load_definition(folder: Path) -> WorkflowDefinition:
    """Read and validate the workflow in `folder` (workflow.yaml or workflow/*.yaml, plus forms/*.yaml)."""
    raw, origins, source = read_workflow(folder)
    forms = _load_forms(folder / "forms")
    definition = _build(raw, origins, forms, source)
    validate(definition)
    return definition


def read_workflow(folder: Path) -> tuple[dict[str, Any], dict[str, str], str]:
    """The workflow's top-level mapping, which file holds each top-level key, and the source's name.
    A key written in two files of workflow/ is refused, naming both."""
    single, split = folder / WORKFLOW_FILE, folder / WORKFLOW_FOLDER
    if single.is_file() and split.is_dir():
        raise DefinitionError(f"{folder}: give {WORKFLOW_FILE} or {WORKFLOW_FOLDER}/, not both")
    if single.is_file():
        raw = dict(_read_yaml(single))
        return raw, dict.fromkeys(raw, str(single)), str(single)
    paths = sorted(split.glob("*.yaml")) if split.is_dir() else []
    if not paths:
        raise DefinitionError(f"{single}: no workflow definition here (nor in {split}/)")
    merged: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for path in paths:
        for key, value in _read_yaml(path).items():
            if key in merged:
                raise DefinitionError(f"'{key}' is defined in both {origins[key]} and {path}")
            merged[key], origins[key] = value, str(path)
    return merged, origins, str(split)


def _strict(base: type[Any]) -> type[Any]:
    """A safe loader that refuses a key written twice in one mapping (YAML would keep the last)."""

    def no_duplicates(loader: Any, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _value in node.value:
            key = loader.construct_object(key_node, deep=deep)
            if key in seen:
                raise DefinitionError(f"line {key_node.start_mark.line + 1}: '{key}' is written twice in one mapping")
            seen.add(key)
        return loader.construct_mapping(node, deep=deep)

    loader = type(f"Strict{base.__name__}", (base,), {})
    loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, no_duplicates)
    return loader


# libyaml's C parser where PyYAML was built with it (several times faster), else the pure-Python one
PURE_LOADER = _strict(yaml.SafeLoader)
C_LOADER = _strict(yaml.CSafeLoader) if getattr(yaml, "__with_libyaml__", False) else None
LOADER = C_LOADER or PURE_LOADER


def _read_yaml(path: Path, loader: type[Any] | None = None) -> Mapping[str, Any]:
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=loader or LOADER)  # noqa: S506 (safe loader)
    except yaml.YAMLError as error:
        raise DefinitionError(f"{path}: not valid YAML: {error}") from error
    except DefinitionError as error:
        raise DefinitionError(f"{path}: {error}") from error
    if not isinstance(data, Mapping):
        raise DefinitionError(f"{path}: the top level must be a mapping")
    return data


def _load_forms(folder: Path) -> dict[str, dict[int, FormDef]]:
    forms: dict[str, dict[int, FormDef]] = {}
    for path in sorted(folder.glob("*.yaml")):
        form = parse_form(_read_yaml(path), str(path))
        if form.version in forms.get(form.key, {}):
            raise DefinitionError(f"{path}: form '{form.key}' version {form.version} is defined twice")
        forms.setdefault(form.key, {})[form.version] = form
    return forms


def _shape(raw: Any, where: str, allowed: set[str], required: tuple[str, ...] = ()) -> Mapping[str, Any]:
    """`raw` as a mapping with only `allowed` keys and every `required` one; else DefinitionError.
    (For the sections network.py and statistics.py still check by hand; the rest have models in schema.py.)"""
    if raw is None and not required:
        return {}
    if not isinstance(raw, Mapping):
        raise DefinitionError(f"{where}: expected a mapping with keys {sorted(allowed)}, got {raw!r}")
    unknown = set(raw) - allowed
    if unknown:
        raise DefinitionError(f"{where}: unknown keys {sorted(map(str, unknown))} (allowed: {sorted(allowed)})")
    for key in required:
        if key not in raw:
            raise DefinitionError(f"{where}: missing '{key}'")
    return raw


def _validated(adapter: TypeAdapter[Any], raw: Any, where: str) -> Any:
    try:
        return adapter.validate_python(raw)
    except ValidationError as error:
        raise DefinitionError("\n".join(f"{where}{'' if at.startswith('[') else '.'}{at}: {text}" if at
                                        else f"{where}: {text}" for _top, at, text in schema.described(error))) from None


def _model(raw: Mapping[str, Any], origins: Mapping[str, str], where: str) -> schema.Workflow:
    try:
        return schema.Workflow.model_validate(raw)
    except ValidationError as error:
        listing = "\n  - ".join(schema.problems(error, lambda key: origins.get(key, where)))
        raise DefinitionError(f"{where}: the workflow definition is not valid:\n  - {listing}") from None


def _build(raw: Mapping[str, Any], origins: Mapping[str, str], forms: dict[str, dict[int, FormDef]],
           where: str) -> WorkflowDefinition:
    m = _model(raw, origins, where)
    groups = {name: _permit_pairs(entries) for name, entries in m.permit_groups.items()}

    def at(key: str) -> str:
        return f"{origins.get(key, where)}: {key}"

    return WorkflowDefinition(
        key=m.id,
        version=m.version,
        label=m.label,
        roles={k: Role(k, v.label, frozenset(v.capabilities), dict(v.held_at), v.second_factor == "required")
               for k, v in m.roles.items()},
        relations={k: _labelled(k, v) for k, v in m.relations.items()},
        assignments={k: _labelled(k, v) for k, v in m.assignments.items()},
        main=_machine("", Text("Caso", "Case"), m.states, m.transitions, None, groups, at("transitions")),
        tracks={k: _machine(k, v.label, v.states, v.transitions, v.available_when, groups,
                            f"{at('tracks')}.{k}.transitions") for k, v in m.tracks.items()},
        forms=forms,
        form_uses={k: _form_use(k, v, groups, f"{at('forms')}.{k}") for k, v in m.forms.items()},
        intake=Intake(m.intake.form, m.intake.state, m.intake.region_field,
                      tuple(ParticipantRule(p.relation, p.node or "", p.assignment or "")
                            for p in m.intake.participants), m.intake.region_fallback),
        flags={k: Flag(k, v.label, v.when.build(), v.priority, v.child) for k, v in m.flags.items()},
        clocks={k: _clock(k, v) for k, v in m.clocks.items()},
        inboxes={k: Inbox(k, v.label, tuple(v.roles), tuple(v.relations), tuple(v.states),
                          {t: tuple(s) for t, s in v.tracks.items()}, {f: tuple(s) for f, s in v.forms.items()})
                 for k, v in m.inboxes.items()},
        duplicates=Duplicates(m.duplicates.form,
                              {k: BlindIndexDef(k, tuple(i.fields), i.normalise) for k, i in m.duplicates.indexes.items()},
                              tuple(m.duplicates.visible_to)) if m.duplicates else None,
        links={k: LinkDef(k, v.label, v.form, v.field, tuple(v.count_visible_to)) for k, v in m.links.items()},
        notices={k: Notice(k, v.message, v.when.build(), tuple(v.relations), v.basis) for k, v in m.notices.items()},
        calendar=CalendarDef(m.calendar.time_zone, m.calendar.country, m.calendar.subdivision) if m.calendar
        else CalendarDef(),
        network=parse_network(raw, where),
        statistics=parse_statistics(raw, origins.get("statistics", where)),
        source=where,
        notes=parse_notes(raw.get("notes"), at("notes")),
        attachments=parse_attachments(raw.get("attachments"), at("attachments")),
        meetings=parse_meetings(raw.get("meetings"), at("meetings")),
    )


def _labelled(key: str, value: Text | schema.Relation) -> Labelled:
    if isinstance(value, Text):
        return Labelled(key, value)
    return Labelled(key, value.label, value.scope or "", getattr(value, "second_factor", None) == "required")


def _permit_pairs(entries: list[schema.Permit]) -> tuple[Permit, ...]:
    return tuple(Permit(role, relation) for entry in entries
                 for role in _names(entry.role) for relation in _names(entry.relation))


def _names(value: str | list[str] | None) -> tuple[str, ...]:
    return () if value is None else (value,) if isinstance(value, str) else tuple(value)


def _permits(by: Any, groups: Mapping[str, tuple[Permit, ...]], where: str) -> tuple[Permit, ...]:
    """A `by` (a permit group's name, or a list of names and {role, relation} pairs) as pairs."""
    permits: list[Permit] = []
    for entry in [by] if isinstance(by, str) else by or []:
        if isinstance(entry, str):
            if entry not in groups:
                raise DefinitionError(f"{where}: unknown permit group '{entry}' (permit_groups: {', '.join(groups)})")
            permits.extend(groups[entry])
        else:
            permits.extend(_permit_pairs([entry]))
    return tuple(permits)


_PERMITS: TypeAdapter[Any] = TypeAdapter(schema.Permits)
_PERMIT_GROUPS: TypeAdapter[Any] = TypeAdapter(schema.Workflow.model_fields["permit_groups"].annotation)
_DURATION: TypeAdapter[schema.Duration] = TypeAdapter(schema.Duration)
_LABEL: TypeAdapter[Text] = TypeAdapter(schema.Label)


def permits_of(raw: Any, where: str, groups: Any = None) -> tuple[Permit, ...]:
    """For the sections still parsed by hand (network.py): a raw `by` list, with the workflow's raw
    permit_groups."""
    checked = _validated(_PERMIT_GROUPS, groups or {}, "permit_groups")
    return _permits(_validated(_PERMITS, raw, where), {k: _permit_pairs(v) for k, v in checked.items()}, where)


def _duration(raw: Any, where: str) -> Duration:
    checked = _validated(_DURATION, raw, where)
    return Duration(checked.value, checked.unit)


def confirmation(raw: Mapping[str, Any], style: str, where: str) -> Text | None:
    """The `confirm` text of a destructive step (for network.py's referral transitions)."""
    if "confirm" not in raw:
        if style == "danger":
            raise DefinitionError(f"{where}: {schema.DANGER_NEEDS_CONFIRM}")
        return None
    text = _validated(_LABEL, raw["confirm"], f"{where}.confirm")
    try:
        schema.both_languages(text)
    except ValueError as error:
        raise DefinitionError(f"{where}.confirm: {error}") from None
    return text


def _machine(key: str, label: Text, states: Mapping[str, schema.State | None],
             transitions: Mapping[str, schema.Transition], available: schema.Condition | None,
             groups: Mapping[str, tuple[Permit, ...]], where: str) -> Machine:
    built: dict[str, State] = {}
    initial = None
    for name, value in states.items():
        value = value or schema.State()
        built[name] = State(name, value.label or Text(name), value.help, value.closed)
        if value.initial:
            if key:
                raise DefinitionError(f"{where.rsplit('.', 1)[0]}.states.{name}: a track starts with a starts_track "
                                      "transition, not an initial state")
            if initial is not None:
                raise DefinitionError(f"{where.rsplit('.', 1)[0]}: two initial states ({initial}, {name})")
            initial = name
    return Machine(key, label, built, initial,
                   {name: _transition(name, key, value, groups, f"{where}.{name}")
                    for name, value in transitions.items()},
                   available.build() if available is not None else None)


def _transition(key: str, machine: str, t: schema.Transition, groups: Mapping[str, tuple[Permit, ...]],
                where: str) -> Transition:
    if t.starts_track and not machine:
        raise DefinitionError(f"{where}: starts_track is for track transitions only")
    return Transition(
        key=key,
        machine=machine,
        label=t.label,
        sources=(None,) if t.starts_track else _names(t.from_),
        target=t.to or "",
        permits=_permits(t.by, groups, f"{where}.by"),
        form=t.form,
        guards=tuple(Guard(g.check.build(), g.message, g.basis) for g in t.guards),
        effects=tuple(_effect(e) for e in t.effects),
        style=t.style,
        help=t.help,
        stays=t.stay,
        available_when=t.available_when.build() if t.available_when is not None else None,
        prefill=t.prefill,
        confirm=t.confirm,
    )


def _effect(effect: Any) -> Effect:
    if isinstance(effect, schema.AddParticipant):
        p = effect.add_participant
        return Effect("add_participant", relation=p.relation, assignment=p.assignment or "",
                      node_input=p.node_input or "", when=p.when.build() if p.when is not None else None)
    (kind, form), = effect.model_dump().items()
    return Effect(kind, form=form)


def _form_use(key: str, use: schema.FormUse, groups: Mapping[str, tuple[Permit, ...]], where: str) -> FormUse:
    edit = use.edit or schema.Editing()
    return FormUse(
        key=key,
        editors=_permits(edit.by, groups, f"{where}.edit.by"),
        editable_when=edit.when.build() if edit.when is not None else None,
        readers=tuple(use.readers),
        summary_fields=tuple(use.summary_fields),
        sections={k: tuple(v) for k, v in use.sections.items()},
    )


def _clock(key: str, c: schema.Clock) -> Clock:
    return Clock(
        key, c.label, Duration(c.duration.value, c.duration.unit) if c.duration else None,
        schema.event_mapping(c.starts_on), schema.event_mapping(c.stops_on), tuple(c.remind),
        tuple((Duration(e.after.value, e.after.unit), e.relation) for e in c.escalate), c.basis, c.repeats,
        tuple(Duration(d.value, d.unit) for d in c.remind_before), c.deadline_from, tuple(c.started_by),
        c.when.build() if c.when is not None else None, c.notify_on_start, tuple(c.not_started_by),
        {"note_recorded": tuple(c.restarts_on.note_recorded), "by": tuple(c.restarts_on.by)} if c.restarts_on else {},
        c.subject,
    )


# -- validation ---------------------------------------------------------------------------------


def validate(definition: WorkflowDefinition) -> None:
    """Check the definition as a whole; raise DefinitionError with every problem found."""
    problems = list(_problems(definition))
    if problems:
        listing = "\n  - ".join(problems)
        raise DefinitionError(f"{definition.source}: the workflow definition is not valid:\n  - {listing}")


def _problems(d: WorkflowDefinition) -> Iterator[str]:
    yield from _machine_problems(d)
    yield from _transition_problems(d)
    yield from _form_problems(d)
    yield from _intake_problems(d)
    yield from _clock_problems(d)
    yield from _inbox_problems(d)
    yield from _duplicate_problems(d)
    yield from _link_problems(d)
    yield from network_problems(d)
    yield from statistics_problems(d)
    yield from notes_problems(d.notes, d.relations)
    yield from attachments_problems(d.attachments, d.relations)
    yield from meetings_problems(d.meetings, d.relations)
    for flag in d.flags.values():
        yield from _predicate_problems(d, flag.when, f"flag '{flag.key}'", None, in_transition=False)
    yield from _notice_problems(d)
    if not d.roles_with("file_intake"):
        yield "no role has the capability file_intake: nobody could open a case"
    for role in d.roles.values():
        for capability, assignment in role.held_at.items():
            if assignment not in d.assignments:
                yield f"role '{role.key}': {capability} is held at unknown network function '{assignment}'"


def _machine_problems(d: WorkflowDefinition) -> Iterator[str]:
    keys = [t for m in d.machines() for t in m.transitions]
    for duplicate in sorted({k for k in keys if keys.count(k) > 1}):
        yield f"transition '{duplicate}' is declared twice (keys are unique across the case and its tracks)"
    if d.main.initial is None:
        yield "the case has no initial state (mark one state with initial: true)"
    for machine in d.machines():
        name = f"track '{machine.key}'" if machine.key else "the case"
        for t in machine.transitions.values():
            for state in [s for s in t.sources if s is not None] + ([] if t.stays else [t.target]):
                if state not in machine.states:
                    yield (f"transition '{t.key}' names state '{state}', unknown in {name} "
                           f"(states: {', '.join(machine.states)})")
        for state in sorted(set(machine.states) - _reachable(machine)):
            yield f"state '{state}' of {name} is unreachable: no transition leads to it"
        if machine.key and not any(None in t.sources for t in machine.transitions.values()):
            yield f"{name} has no transition with starts_track: true"
        if machine.available_when is not None:
            yield from _predicate_problems(d, machine.available_when, f"{name} available_when", None,
                                           in_transition=False)


def _reachable(machine: Machine) -> set[str]:
    frontier = [machine.initial] if machine.initial else []
    frontier += [t.target for t in machine.transitions.values() if None in t.sources and not t.stays]
    seen: set[str] = set()
    while frontier:
        state = frontier.pop()
        if state in seen or state is None:
            continue
        seen.add(state)
        frontier.extend(t.target for t in machine.transitions.values() if state in t.sources and not t.stays)
    return seen


def _permit_problems(d: WorkflowDefinition, permits: Iterable[Permit], where: str) -> Iterator[str]:
    for permit in permits:
        if permit.role not in d.roles:
            yield f"{where}: role '{permit.role}' is not declared (roles: {', '.join(d.roles)})"
        if permit.relation not in d.relations:
            yield f"{where}: relation '{permit.relation}' is not declared (relations: {', '.join(d.relations)})"


def _transition_problems(d: WorkflowDefinition) -> Iterator[str]:
    for machine in d.machines():
        for t in machine.transitions.values():
            where = f"transition '{t.key}'"
            yield from _permit_problems(d, t.permits, where)
            if t.form is not None and t.form not in d.forms:
                yield f"{where}: form '{t.form}' has no definition in forms/"
            for guard in t.guards:
                yield from _predicate_problems(d, guard.check, where, t.form)
            if t.available_when is not None:
                yield from _predicate_problems(d, t.available_when, where, None, in_transition=False)
            for effect in t.effects:
                yield from _effect_problems(d, effect, t, where)


def _effect_problems(d: WorkflowDefinition, effect: Effect, t: Transition, where: str) -> Iterator[str]:
    if effect.form and effect.form not in d.forms:
        yield f"{where}: effect {effect.kind} names unknown form '{effect.form}'"
    if effect.kind == "add_participant":
        if effect.relation not in d.relations:
            yield f"{where}: effect add_participant names unknown relation '{effect.relation}'"
        if effect.assignment and effect.assignment not in d.assignments:
            yield f"{where}: effect add_participant names unknown assignment '{effect.assignment}'"
        if effect.node_input:
            if t.form is None or effect.node_input not in {f.key for f in d.form(t.form).fields()}:
                yield f"{where}: effect add_participant reads '{effect.node_input}', not a field of its form"
            elif d.form(t.form).field(effect.node_input).source != "node":
                yield f"{where}: field '{effect.node_input}' must be a node choice (source: node)"
    if effect.when is not None:
        if effect.kind != "add_participant":
            yield f"{where}: only add_participant takes a condition (when)"
        yield from _predicate_problems(d, effect.when, where, t.form)


def _operand_problems(d: WorkflowDefinition, predicate: Predicate, where: str,
                      input_form: str | None) -> Iterator[str]:
    """A condition on a choice field must compare with text: `no` unquoted would be False."""
    for leaf in leaves(predicate):
        if isinstance(leaf, FieldIs):
            form, path = leaf.form, leaf.path
        elif isinstance(leaf, InputIs) and input_form is not None:
            form, path = input_form, leaf.path
        else:
            continue
        if form not in d.forms:
            continue
        fdef = next((f for f in d.form(form).fields() if f.key == path[0]), None)
        if fdef is None or fdef.type not in ("choice", "multichoice") or leaf.comparison.operator == "is_set":
            continue
        operand = leaf.comparison.operand
        items = operand if isinstance(operand, tuple) else (operand,)
        if not all(isinstance(item, str) for item in items):
            yield f"{where}: condition on choice field '{form}.{path[0]}' compares with {operand!r}; quote the values"


def _predicate_problems(d: WorkflowDefinition, predicate: Predicate, where: str,
                        input_form: str | None, in_transition: bool = True) -> Iterator[str]:
    yield from _operand_problems(d, predicate, where, input_form)
    for kind, name in predicate.references():
        if kind == "state" and name not in d.main.states:
            yield f"{where}: condition names unknown state '{name}'"
        elif kind == "track" and name not in d.tracks:
            yield f"{where}: condition names unknown track '{name}'"
        elif kind == "track_state":
            track, _, state = name.partition(".")
            if track in d.tracks and state not in d.tracks[track].states:
                yield f"{where}: condition names unknown state '{state}' of track '{track}'"
        elif kind == "form" and name not in d.forms:
            yield f"{where}: condition names unknown form '{name}'"
        elif kind == "field":
            form, _, field_key = name.partition(".")
            if form not in d.forms:
                yield f"{where}: condition names unknown form '{form}'"
            elif field_key.split(".")[0] not in {f.key for f in d.form(form).fields()}:
                yield f"{where}: condition names unknown field '{field_key}' of form '{form}'"
        elif kind == "input":
            if not in_transition:
                yield f"{where}: a condition on input '{name}' is only possible in the guard of a transition with a form"
            elif input_form is None:
                yield f"{where}: condition on input '{name}' but the transition has no form"
            elif input_form in d.forms and name.split(".")[0] not in {f.key for f in d.form(input_form).fields()}:
                yield f"{where}: condition names unknown field '{name}' of form '{input_form}'"
        elif kind == "flag" and name not in d.flags:
            yield f"{where}: condition names unknown flag '{name}'"
        elif kind == "assignment" and name not in d.assignments:
            yield f"{where}: condition names unknown network function '{name}'"
        elif kind == "service" and name not in d.network.services:
            yield f"{where}: condition names unknown service '{name}'"
        elif kind == "referral_kind" and (d.network.referrals is None or name not in d.network.referrals.kinds):
            yield f"{where}: condition names unknown kind of referral '{name}'"
        elif kind == "referral_state" and (d.network.referrals is None or name not in d.network.referrals.states):
            yield f"{where}: condition names unknown referral state '{name}'"


def _form_problems(d: WorkflowDefinition) -> Iterator[str]:
    for use in d.form_uses.values():
        where = f"form use '{use.key}'"
        if use.key not in d.forms:
            yield f"{where}: no definition in forms/"
            continue
        yield from _permit_problems(d, use.editors, where)
        if use.editable_when is not None:
            yield from _predicate_problems(d, use.editable_when, where, None, in_transition=False)
        for relation in use.readers:
            if relation not in d.relations:
                yield f"{where}: readers names unknown relation '{relation}'"
        fields = {f.key for f in d.form(use.key).fields()}
        for name in use.summary_fields:
            if name not in fields:
                yield f"{where}: summary field '{name}' is not a field of the form"
        known_sections = {s.key for version in d.forms[use.key].values() for s in version.sections}
        for relation, names in use.sections.items():
            if relation not in use.readers:
                yield f"{where}: sections for '{relation}', which is not among the readers"
            for name in names:
                if name not in known_sections:
                    yield f"{where}: unknown section '{name}'"


def _intake_problems(d: WorkflowDefinition) -> Iterator[str]:
    intake = d.intake
    if intake.form not in d.forms:
        yield f"intake: form '{intake.form}' has no definition"
        return
    if intake.state not in d.main.states:
        yield f"intake: state '{intake.state}' is not declared"
    elif intake.state != d.main.initial:
        yield f"intake: state '{intake.state}' must be the initial state '{d.main.initial}'"
    fields = {f.key: f for f in d.form(intake.form).fields()}
    region = fields.get(intake.region_field)
    if region is None or region.source != "region":
        yield f"intake: region_field '{intake.region_field}' must be a field of '{intake.form}' with source: region"
    elif not region.required and intake.region_fallback is None:
        yield (f"intake: region_field '{intake.region_field}' may be left blank; declare region_fallback, the region "
               "such a case is routed to")
    for rule in intake.participants:
        if rule.relation not in d.relations:
            yield f"intake: participant relation '{rule.relation}' is not declared"
        if rule.assignment and rule.assignment not in d.assignments:
            yield f"intake: participant assignment '{rule.assignment}' is not declared"
        if rule.node and rule.node != ACTOR_NODE:
            yield f"intake: participant node must be '{ACTOR_NODE}'"


def _clock_problems(d: WorkflowDefinition) -> Iterator[str]:
    transitions = {t for m in d.machines() for t in m.transitions}
    for clock in d.clocks.values():
        where = f"clock '{clock.key}'"
        if clock.subject is not None:
            yield from _noncase_clock_problems(d, clock, where)
            continue
        yield from _event_problems(d, clock.starts_on, transitions, where)
        if clock.stops_on:
            yield from _event_problems(d, clock.stops_on, transitions, where)
        if clock.basis not in BASES:
            yield f"{where}: basis must be law, source or product (where the value comes from)"
        of_referral = "referral_state" in clock.starts_on
        subject = subject_event(clock.starts_on)
        parties = REFERRAL_PARTIES if of_referral else SUBJECT_PARTIES[subject] if subject else frozenset()
        for relation in clock.remind + tuple(rel for _, rel in clock.escalate):
            if relation not in d.relations and relation not in parties:
                yield f"{where}: relation '{relation}' is not declared" + (
                    f" (this clock may also name {sorted(parties)})" if parties else "")
        if subject and d.meetings is None:
            yield f"{where}: starts on {subject}, but the workflow declares no meetings"
        if (clock.remind_before or clock.notify_on_start) and not clock.remind:
            yield f"{where}: remind_before and notify_on_start need relations in remind"
        for before in clock.remind_before:
            if clock.duration is not None and _not_shorter(before, clock.duration):
                yield f"{where}: a reminder before the deadline must be shorter than the clock"
        if clock.when is not None:
            yield from _predicate_problems(d, clock.when, where, None, in_transition=False)
        if clock.started_by and clock.not_started_by:
            yield f"{where}: give started_by or not_started_by, not both"
        if clock.deadline_from is not None:
            yield from _deadline_problems(d, clock, transitions, where)
        if clock.restarts_on:
            types = d.notes.types if d.notes is not None else {}
            for item in clock.restarts_on["note_recorded"]:
                if item not in types:
                    yield f"{where}: restarts_on names unknown note type '{item}' (declare it under notes.types)"
            for relation in clock.restarts_on["by"]:
                if relation not in d.relations:
                    yield f"{where}: restarts_on.by names unknown relation '{relation}'"
            if "referral_state" in clock.starts_on or subject:
                yield f"{where}: a referral's, meeting's or agreement's clock cannot be restarted by a note"
        if clock.repeats and clock.escalate:
            yield f"{where}: a repeating clock is a periodic prompt and cannot escalate"
        if (clock.duration is not None and clock.duration.unit == "working_days") or any(
                d.unit == "working_days" for d in clock.remind_before + tuple(a for a, _ in clock.escalate)):
            if d.calendar.country is None:
                yield f"{where}: counts working days, so the workflow needs calendar: {{country: XX}} for its holidays"


def _noncase_clock_problems(d: WorkflowDefinition, clock: Clock, where: str) -> Iterator[str]:
    """A clock of a subject that is not a case: a known kind, its two parties, a given date or a duration."""
    if clock.subject not in NONCASE_KINDS:
        yield f"{where}: subject '{clock.subject}' is not a kind of subject ({sorted(NONCASE_KINDS)})"
    if clock.basis not in BASES:
        yield f"{where}: basis must be law, source or product (where the value comes from)"
    for relation in clock.remind + tuple(rel for _, rel in clock.escalate):
        if relation not in NONCASE_PARTIES:
            yield f"{where}: a subject's clock reminds or escalates to {sorted(NONCASE_PARTIES)} only, not '{relation}'"
    if clock.deadline_from is not None and clock.deadline_from != NONCASE_DUE_FIELD:
        yield f"{where}: a subject's clock takes its deadline from {NONCASE_DUE_FIELD} (the date its service gives)"
    if clock.deadline_from is not None and clock.repeats:
        yield f"{where}: a clock whose deadline is a given date cannot repeat"
    if (clock.remind_before or clock.notify_on_start) and not clock.remind:
        yield f"{where}: remind_before and notify_on_start need parties in remind"
    if clock.when is not None or clock.started_by or clock.not_started_by or clock.restarts_on:
        yield f"{where}: when, started_by, not_started_by and restarts_on are about a case's steps"
    if clock.repeats and clock.escalate:
        yield f"{where}: a repeating clock is a periodic prompt and cannot escalate"
    if (clock.duration is not None and clock.duration.unit == "working_days") or any(
            x.unit == "working_days" for x in clock.remind_before + tuple(a for a, _ in clock.escalate)):
        if d.calendar.country is None:
            yield f"{where}: counts working days, so the workflow needs calendar: {{country: XX}} for its holidays"


def _deadline_problems(d: WorkflowDefinition, clock: Clock, transitions: set[str], where: str) -> Iterator[str]:
    """A deadline read from a form: a date field of the form every starting transition records."""
    form_key, _, field_key = str(clock.deadline_from).partition(".")
    if form_key == "referral":  # a referral's committed date: its clock starts on a referral state
        if field_key != REFERRAL_DUE_FIELD or set(clock.starts_on) != {"referral_state"}:
            yield (f"{where}: deadline_from referral.{REFERRAL_DUE_FIELD} is for clocks that start on a "
                   "referral_state")
        return
    subject = subject_event(clock.starts_on)
    if form_key in ("meeting", "agreement") or subject:  # the date of the meeting, the agreement's due date
        if subject is None or clock.deadline_from != SUBJECT_DUE_FIELDS[subject] or len(clock.starts_on) != 1:
            yield (f"{where}: deadline_from {sorted(SUBJECT_DUE_FIELDS.values())} is for clocks that start on "
                   "meeting_state or agreement_state respectively")
        return
    fields = {f.key: f for f in d.form(form_key).fields()} if form_key in d.forms else {}
    if field_key not in fields or fields[field_key].type != "date":
        yield f"{where}: deadline_from '{clock.deadline_from}' is not a date field of a form"
    if clock.repeats:
        yield f"{where}: a clock whose deadline is a typed date cannot repeat"
    starts = clock.starts_on.get("transition")
    keys = starts if isinstance(starts, list) else [starts] if starts else []
    if set(clock.starts_on) != {"transition"} or not keys:
        yield f"{where}: a deadline_from clock starts on transitions only (their form holds the date)"
    for key in keys:
        if key in transitions and d.transition(key).form != form_key:
            yield f"{where}: transition '{key}' does not record the form '{form_key}' that holds the deadline"


_HOURS = {"hours": 1, "calendar_days": 24}


def _not_shorter(before: Duration, clock: Duration) -> bool:
    """True when a reminder would fall at or before the clock's start (where units compare exactly)."""
    if before.unit == clock.unit:
        return before.value >= clock.value
    if before.unit in _HOURS and clock.unit in _HOURS:
        return before.value * _HOURS[before.unit] >= clock.value * _HOURS[clock.unit]
    return False  # working days against hours or calendar days depend on the dates; schedule() drops it


_EVENT_KINDS = {"enter_state", "leave_state", "transition", "form_submitted", "track_state", "referral_state",
                "meeting_state", "agreement_state"}
REFERRAL_DUE_FIELD = "due_on"  # the committed date of a referred action (deadline_from: referral.due_on)


def _event_problems(d: WorkflowDefinition, event: Mapping[str, Any], transitions: set[str],
                    where: str) -> Iterator[str]:
    if not event:
        yield f"{where}: an event is one of {sorted(_EVENT_KINDS)}"
        return
    for kind, value in event.items():
        values = value if isinstance(value, list) else [value]
        for item in values:
            if kind in ("enter_state", "leave_state") and item not in d.main.states:
                yield f"{where}: unknown state '{item}'"
            elif kind == "transition" and item not in transitions:
                yield f"{where}: unknown transition '{item}'"
            elif kind == "form_submitted" and item not in d.forms:
                yield f"{where}: unknown form '{item}'"
            elif kind == "track_state":
                track, _, state = str(item).partition(".")
                if track not in d.tracks or state not in d.tracks[track].states:
                    yield f"{where}: unknown track state '{item}'"
            elif kind == "referral_state":
                kind_key, _, state = str(item).partition(".")
                r = d.network.referrals
                if r is None or kind_key not in r.kinds or state not in r.states:
                    yield f"{where}: unknown referral state '{item}' (write kind.state)"
            elif kind in SUBJECT_STATES and item not in SUBJECT_STATES[kind]:
                yield f"{where}: unknown {kind} '{item}' (one of {list(SUBJECT_STATES[kind])})"


def _inbox_problems(d: WorkflowDefinition) -> Iterator[str]:
    for inbox in d.inboxes.values():
        where = f"inbox '{inbox.key}'"
        for role in inbox.roles:
            if role not in d.roles:
                yield f"{where}: unknown role '{role}'"
        for relation in inbox.relations:
            if relation not in d.relations:
                yield f"{where}: unknown relation '{relation}'"
        for state in inbox.states:
            if state not in d.main.states:
                yield f"{where}: unknown state '{state}'"
        for track, states in inbox.tracks.items():
            if track not in d.tracks or set(states) - set(d.tracks[track].states):
                yield f"{where}: unknown track or track states '{track}: {list(states)}'"
        for form in inbox.forms:
            if form not in d.forms:
                yield f"{where}: unknown form '{form}'"
        if not inbox.roles or not inbox.relations:
            yield f"{where}: needs roles and relations"


def _notice_problems(d: WorkflowDefinition) -> Iterator[str]:
    for notice in d.notices.values():
        where = f"notice '{notice.key}'"
        yield from _predicate_problems(d, notice.when, where, None, in_transition=False)
        if not notice.relations:
            yield f"{where}: name the relations it is shown to"
        for relation in notice.relations:
            if relation not in d.relations:
                yield f"{where}: unknown relation '{relation}'"
        # it says something of the forms its condition reads: only to those who may read them
        for kind, name in notice.when.references():
            use = d.form_uses.get(name.split(".")[0]) if kind == "field" else None
            if use is not None and use.readers:
                outside = [r for r in notice.relations if r not in use.readers]
                if outside:
                    yield f"{where}: relations {outside} may not read form '{use.key}' its condition reads"


def _link_problems(d: WorkflowDefinition) -> Iterator[str]:
    for link in d.links.values():
        where = f"links.{link.key}"
        for relation in link.count_visible_to:
            if relation not in d.relations:
                yield f"{where}: unknown relation '{relation}'"
        if link.form not in d.forms:
            yield f"{where}: unknown form '{link.form}'"
            continue
        known = {f.key: f for f in d.form(link.form).fields()}
        if link.field not in known:
            yield f"{where}: unknown field '{link.field}' in form '{link.form}'"
        elif known[link.field].type != "text":
            # a low-cardinality value (a yes/no, a choice, a date) would link unrelated cases in a few groups
            yield f"{where}: a link is made on one identifying text field, not a {known[link.field].type}"


def _duplicate_problems(d: WorkflowDefinition) -> Iterator[str]:
    if d.duplicates is None:
        return
    where = "duplicates"
    if d.duplicates.form not in d.forms:
        yield f"{where}: unknown form '{d.duplicates.form}'"
        return
    form = d.form(d.duplicates.form)
    known = {f.key: f for f in form.fields()}
    for relation in d.duplicates.visible_to:
        if relation not in d.relations:
            yield f"{where}: unknown relation '{relation}'"
    for index in d.duplicates.indexes.values():
        at = f"{where}.indexes.{index.key}"
        unknown = [key for key in index.fields if key not in known]
        if unknown:
            yield f"{at}: unknown fields {unknown} in form '{form.key}'"
            continue
        types = [known[key].type for key in index.fields]
        # A low-cardinality value (sex, nationality, a birth date) alone would sort people into a few
        # groups that anyone holding the digests could count and link.
        if all(t in LOW_CARDINALITY for t in types):
            yield f"{at}: never index low-cardinality fields alone; add an identifying text field"
        if index.normalise == "document" and types != ["text"]:
            yield f"{at}: a document index takes exactly one text field"
