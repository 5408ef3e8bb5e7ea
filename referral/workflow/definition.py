"""A protocol as data: states, transitions, guards, effects, forms, clocks, inboxes.

`load_definition(folder)` reads `workflow.yaml` and `forms/*.yaml` from a folder of `workflows/`,
builds the typed definition and validates it as a whole. Anything wrong (an unknown state, an
unreachable state, a transition nobody may fire, a guard naming a form that does not exist) raises
DefinitionError with the file and the element named, and the application refuses to start.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
import yaml

from .errors import DefinitionError
from .forms import BASES, FormDef, basis_of, names_of, parse_form
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
from .predicates import FieldIs, InputIs, Predicate, leaves, parse
from .subjects import DUE_FIELD as NONCASE_DUE_FIELD
from .subjects import KINDS as NONCASE_KINDS
from .subjects import PARTIES as NONCASE_PARTIES
from .subjects import PARTY_LABELS as NONCASE_PARTY_LABELS
from .text import Text, text_from

CAPABILITIES = frozenset({"file_intake", "case_access", "erase_cases", "manage_network", "audit", "approve_access",
                          "assign_cases", "plan_manage", "plan_report"})
CLOCK_UNITS = frozenset({"hours", "calendar_days", "working_days"})
EFFECT_KINDS = frozenset({"submit_form", "approve_form", "return_form", "add_participant"})
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
    child: bool = False  # the flag that marks a child case (the code asks for it, never for a key)


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
    """Which public holidays working days skip: an ISO 3166 country (and subdivision) code; and the time zone
    (IANA) every date and time of the protocol is shown, typed and counted in."""

    country: str | None = None
    subdivision: str | None = None
    time_zone: str = "UTC"  # required when a workflow writes `calendar:`; UTC for one that has none


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


NORMALISERS = frozenset({"document", "name"})
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


def load_definition(folder: Path) -> WorkflowDefinition:
    """Read and validate the workflow in `folder` (workflow.yaml plus forms/*.yaml)."""
    path = folder / "workflow.yaml"
    if not path.is_file():
        raise DefinitionError(f"{path}: no workflow definition here")
    raw = _read_yaml(path)
    forms = _load_forms(folder / "forms")
    definition = _build(raw, forms, str(path))
    validate(definition)
    return definition


class _StrictLoader(yaml.SafeLoader):
    """safe_load that refuses a key written twice in one mapping (YAML would keep the last)."""


def _no_duplicates(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _value in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise DefinitionError(f"line {key_node.start_mark.line + 1}: '{key}' is written twice in one mapping")
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicates)


def _read_yaml(path: Path) -> Mapping[str, Any]:
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_StrictLoader)  # noqa: S506 (safe loader)
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
    """`raw` as a mapping with only `allowed` keys and every `required` one; else DefinitionError."""
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


def _mapping(raw: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    value = raw.get(key)
    if not isinstance(value, Mapping) or not value:
        raise DefinitionError(f"{where}: '{key}' must be a non-empty mapping")
    return value


_TOP = {"id", "version", "label", "roles", "relations", "assignments", "intake", "flags", "states", "transitions",
        "tracks", "forms", "inboxes", "clocks", "duplicates", "links", "notices", "calendar", "services", "referrals", "consent",
        "emergency_access", "statistics", "notes", "attachments", "meetings"}


def _build(raw: Mapping[str, Any], forms: dict[str, dict[int, FormDef]], where: str) -> WorkflowDefinition:
    _shape(raw, where, _TOP, ("id", "version", "label", "roles", "relations", "states", "transitions", "intake"))
    tracks = _shape(raw.get("tracks"), f"{where}.tracks", set(raw.get("tracks") or {}))
    return WorkflowDefinition(
        key=str(raw["id"]),
        version=int(raw["version"]),
        label=text_from(raw["label"], f"{where}.label"),
        roles={k: _role(k, v, f"{where}.roles.{k}") for k, v in _mapping(raw, "roles", where).items()},
        relations=_labelled(_mapping(raw, "relations", where), f"{where}.relations"),
        assignments=_labelled(raw.get("assignments") or {}, f"{where}.assignments", assignments=True),
        main=_machine("", Text("Caso", "Case"), raw, where),
        tracks={k: _track(k, v, f"{where}.tracks.{k}") for k, v in tracks.items()},
        forms=forms,
        form_uses={k: _form_use(k, v, f"{where}.forms.{k}") for k, v in (raw.get("forms") or {}).items()},
        intake=_intake(raw["intake"], f"{where}.intake"),
        flags={k: _flag(k, v, f"{where}.flags.{k}") for k, v in (raw.get("flags") or {}).items()},
        clocks={k: _clock(k, v, f"{where}.clocks.{k}") for k, v in (raw.get("clocks") or {}).items()},
        inboxes={k: _inbox(k, v, f"{where}.inboxes.{k}") for k, v in (raw.get("inboxes") or {}).items()},
        duplicates=_duplicates(raw["duplicates"], f"{where}.duplicates") if raw.get("duplicates") else None,
        links={k: _link(k, v, f"{where}.links.{k}") for k, v in (raw.get("links") or {}).items()},
        notices={k: _notice(k, v, f"{where}.notices.{k}") for k, v in (raw.get("notices") or {}).items()},
        calendar=_calendar(raw.get("calendar"), f"{where}.calendar"),
        network=parse_network(raw, where),
        statistics=parse_statistics(raw, where),
        source=where,
        notes=parse_notes(raw.get("notes"), f"{where}.notes"),
        attachments=parse_attachments(raw.get("attachments"), f"{where}.attachments"),
        meetings=parse_meetings(raw.get("meetings"), f"{where}.meetings"),
    )


def _role(key: str, raw: Any, where: str) -> Role:
    raw = _shape(raw, where, {"label", "capabilities", "held_at", "second_factor"}, ("label",))
    capabilities = frozenset(names_of(raw.get("capabilities"), f"{where}.capabilities"))
    if capabilities - CAPABILITIES:
        raise DefinitionError(f"{where}: unknown capabilities {sorted(capabilities - CAPABILITIES)}")
    held = raw.get("held_at") or {}
    held_at = {str(k): str(v) for k, v in _shape(held, f"{where}.held_at",
                                                  set(held) if isinstance(held, Mapping) else set()).items()}
    if set(held_at) - capabilities:
        raise DefinitionError(f"{where}.held_at: names capabilities the role does not have "
                              f"{sorted(set(held_at) - capabilities)}")
    return Role(key, text_from(raw["label"], f"{where}.label"), capabilities, held_at,
                _second_factor(raw.get("second_factor"), f"{where}.second_factor"))


SECOND_FACTOR = {None: False, "optional": False, "required": True}


def _second_factor(raw: Any, where: str) -> bool:
    """`second_factor: required` or `optional` (the default)."""
    if not isinstance(raw, str | None) or raw not in SECOND_FACTOR:
        raise DefinitionError(f"{where}: 'required' or 'optional', got {raw!r}")
    return SECOND_FACTOR[raw]


def _labelled(raw: Mapping[str, Any], where: str, assignments: bool = False) -> dict[str, Labelled]:
    result = {}
    allowed = {"label", "scope", "second_factor"} if assignments else {"label", "scope"}
    for key, value in _shape(raw, where, set(raw)).items():
        value = value if isinstance(value, Mapping) and "label" in value else {"label": value}
        value = _shape(value, f"{where}.{key}", allowed)
        scope = str(value.get("scope", ""))
        if scope not in ("", "region", "national"):
            raise DefinitionError(f"{where}.{key}: scope is 'region' or 'national', got {scope!r}")
        result[key] = Labelled(key, text_from(value.get("label"), f"{where}.{key}.label"), scope,
                               _second_factor(value.get("second_factor"), f"{where}.{key}.second_factor"))
    return result


def _permits(raw: Any, where: str) -> tuple[Permit, ...]:
    if not isinstance(raw, list):
        raise DefinitionError(f"{where}: 'by' must list {{role: ..., relation: ...}} pairs")
    permits = []
    for i, item in enumerate(raw):
        if not isinstance(item, Mapping) or not item.get("role") or not item.get("relation"):
            raise DefinitionError(f"{where}[{i}]: each entry needs a role and a relation")
        _shape(item, f"{where}[{i}]", {"role", "relation"})
        roles = names_of(item["role"] if isinstance(item["role"], list) else [item["role"]], f"{where}[{i}].role")
        relations = names_of(item["relation"] if isinstance(item["relation"], list) else [item["relation"]],
                           f"{where}[{i}].relation")
        permits.extend(Permit(role, rel) for role in roles for rel in relations)
    return tuple(permits)


def _track(key: str, raw: Any, where: str) -> Machine:
    raw = _shape(raw, where, {"label", "states", "transitions", "available_when"}, ("label", "states", "transitions"))
    return _machine(key, text_from(raw["label"], f"{where}.label"), raw, where)


def _machine(key: str, label: Text, raw: Mapping[str, Any], where: str) -> Machine:
    states: dict[str, State] = {}
    initial = None
    for name, value in _mapping(raw, "states", where).items():
        value = _shape(value, f"{where}.states.{name}", {"label", "help", "initial", "closed"})
        states[name] = State(
            key=name,
            label=text_from(value.get("label", name), f"{where}.states.{name}.label"),
            help=text_from(value["help"], f"{where}.states.{name}.help") if "help" in value else None,
            closed=bool(value.get("closed", False)),
        )
        if value.get("initial"):
            if key:
                raise DefinitionError(f"{where}.states.{name}: a track starts with a starts_track transition, "
                                      "not an initial state")
            if initial is not None:
                raise DefinitionError(f"{where}: two initial states ({initial}, {name})")
            initial = name
    transitions = {
        name: _transition(name, key, value, f"{where}.transitions.{name}")
        for name, value in _mapping(raw, "transitions", where).items()
    }
    available = raw.get("available_when")
    return Machine(
        key=key,
        label=label,
        states=states,
        initial=initial,
        transitions=transitions,
        available_when=parse(available, f"{where}.available_when") if available else None,
    )


_TRANSITION_KEYS = {"label", "help", "from", "to", "stay", "starts_track", "by", "form", "guards", "effects", "style",
                    "available_when", "prefill", "confirm"}
STYLES = ("primary", "secondary", "danger")


def _transition(key: str, machine: str, raw: Any, where: str) -> Transition:
    raw = _shape(raw, where, _TRANSITION_KEYS, ("label",))
    if ("to" in raw) == bool(raw.get("stay")):
        raise DefinitionError(f"{where}: give either 'to' or 'stay: true'")
    starts = bool(raw.get("starts_track"))
    if starts and not machine:
        raise DefinitionError(f"{where}: starts_track is for track transitions only")
    if starts and "from" in raw:
        raise DefinitionError(f"{where}: a starts_track transition has no 'from'")
    if not starts and "from" not in raw:
        raise DefinitionError(f"{where}: missing 'from'")
    sources = raw.get("from")
    source_list: tuple[str | None, ...] = (None,) if starts else names_of(
        sources if isinstance(sources, list) else [sources], f"{where}.from")
    if not raw.get("by"):
        raise DefinitionError(f"{where}: no role may fire this transition; add 'by'")
    if not isinstance(raw.get("guards", []), list) or not isinstance(raw.get("effects", []), list):
        raise DefinitionError(f"{where}: 'guards' and 'effects' are lists")
    guards = tuple(_guard(g, f"{where}.guards[{i}]") for i, g in enumerate(raw.get("guards", [])))
    style = str(raw.get("style", "primary"))
    if style not in STYLES:
        raise DefinitionError(f"{where}: style is one of {STYLES}")
    confirm = confirmation(raw, style, where)
    return Transition(
        key=key,
        machine=machine,
        label=text_from(raw["label"], f"{where}.label"),
        sources=source_list,
        target=str(raw.get("to", "")),
        permits=_permits(raw["by"], f"{where}.by"),
        form=raw.get("form"),
        guards=guards,
        effects=tuple(_effect(e, f"{where}.effects[{i}]") for i, e in enumerate(raw.get("effects", []))),
        style=style,
        help=text_from(raw["help"], f"{where}.help") if "help" in raw else None,
        stays=bool(raw.get("stay")),
        available_when=parse(raw["available_when"], f"{where}.available_when") if raw.get("available_when") else None,
        prefill=_prefill(raw, where),
        confirm=confirm,
    )


def confirmation(raw: Mapping[str, Any], style: str, where: str) -> Text | None:
    """The `confirm` text of a destructive step (what it does, that the user must confirm); a step
    styled `danger` must have one."""
    if "confirm" not in raw:
        if style == "danger":
            raise DefinitionError(f"{where}: a step with style 'danger' is destructive: add 'confirm' "
                                  "(es/en: the consequence the user confirms)")
        return None
    text = text_from(raw["confirm"], f"{where}.confirm")
    if not isinstance(raw["confirm"], Mapping) or not text.es.strip() or not str(raw["confirm"].get("en", "")).strip():
        raise DefinitionError(f"{where}.confirm: the consequence, in Spanish and English")
    return text


def _prefill(raw: Mapping[str, Any], where: str) -> bool:
    value = raw.get("prefill", False)
    if not isinstance(value, bool):
        raise DefinitionError(f"{where}.prefill: true or false")
    if value and not raw.get("form"):
        raise DefinitionError(f"{where}.prefill: only a transition with a form can open it filled")
    return value


def _guard(raw: Any, where: str) -> Guard:
    raw = _shape(raw, where, {"check", "message", "basis"}, ("check", "message"))
    return Guard(parse(raw["check"], f"{where}.check"), text_from(raw["message"], f"{where}.message"),
                 basis_of(raw, where))


def _effect(raw: Any, where: str) -> Effect:
    if not isinstance(raw, Mapping) or len(raw) != 1:
        raise DefinitionError(f"{where}: an effect is a one-key mapping such as {{approve_form: plan}}")
    kind, value = next(iter(raw.items()))
    if kind not in EFFECT_KINDS:
        raise DefinitionError(f"{where}: unknown effect '{kind}'; known: {sorted(EFFECT_KINDS)}")
    if kind == "add_participant":
        value = _shape(value, f"{where}.add_participant", {"relation", "node_input", "assignment", "when"},
                       ("relation",))
        if bool(value.get("node_input")) == bool(value.get("assignment")):
            raise DefinitionError(f"{where}: add_participant needs node_input or assignment (one)")
        when = parse(value["when"], f"{where}.add_participant.when") if value.get("when") is not None else None
        return Effect(kind, relation=str(value["relation"]), assignment=str(value.get("assignment", "")),
                      node_input=str(value.get("node_input", "")), when=when)
    if not isinstance(value, str):
        raise DefinitionError(f"{where}: {kind} names a form, got {value!r}")
    return Effect(kind, form=value)


def _form_use(key: str, raw: Any, where: str) -> FormUse:
    raw = _shape(raw, where, {"edit", "readers", "summary_fields", "sections"})
    edit = _shape(raw.get("edit"), f"{where}.edit", {"by", "when"})
    sections = _shape(raw.get("sections"), f"{where}.sections", set(raw.get("sections") or {}))
    when = edit.get("when")
    return FormUse(
        key=key,
        editors=_permits(edit["by"], f"{where}.edit.by") if "by" in edit else (),
        editable_when=parse(when, f"{where}.edit.when") if when else None,
        readers=names_of(raw.get("readers"), f"{where}.readers"),
        summary_fields=names_of(raw.get("summary_fields"), f"{where}.summary_fields"),
        sections={k: names_of(v, f"{where}.sections.{k}") for k, v in sections.items()},
    )


def _intake(raw: Any, where: str) -> Intake:
    raw = _shape(raw, where, {"form", "state", "region_field", "region_fallback", "participants"},
                 ("form", "state", "region_field", "participants"))
    fallback = raw.get("region_fallback")
    if fallback is not None and not (isinstance(fallback, str) and fallback):
        raise DefinitionError(f"{where}.region_fallback: expected a region code, got {fallback!r}")
    if not isinstance(raw["participants"], list):
        raise DefinitionError(f"{where}.participants: expected a list")
    participants = []
    for i, item in enumerate(raw["participants"]):
        item = _shape(item, f"{where}.participants[{i}]", {"relation", "node", "assignment"}, ("relation",))
        if bool(item.get("node")) == bool(item.get("assignment")):
            raise DefinitionError(f"{where}.participants[{i}]: needs node: actor or an assignment (one)")
        participants.append(ParticipantRule(str(item["relation"]), str(item.get("node", "")),
                                            str(item.get("assignment", ""))))
    return Intake(str(raw["form"]), str(raw["state"]), str(raw["region_field"]), tuple(participants),
                  fallback)


def _flag(key: str, raw: Any, where: str) -> Flag:
    raw = _shape(raw, where, {"label", "when", "priority", "child"}, ("label", "when"))
    if not isinstance(raw.get("child", False), bool):
        raise DefinitionError(f"{where}.child: expected true or false")
    return Flag(key, text_from(raw["label"], f"{where}.label"), parse(raw["when"], f"{where}.when"),
                int(raw.get("priority", 0)), bool(raw.get("child", False)))


def _notice(key: str, raw: Any, where: str) -> Notice:
    raw = _shape(raw, where, {"message", "when", "relations", "basis"}, ("message", "when", "relations"))
    return Notice(key, text_from(raw["message"], f"{where}.message"), parse(raw["when"], f"{where}.when"),
                  names_of(raw["relations"], f"{where}.relations"), basis_of(raw, where))


def _duration(raw: Any, where: str) -> Duration:
    if not isinstance(raw, Mapping) or raw.get("unit") not in CLOCK_UNITS or not isinstance(raw.get("value"), int):
        raise DefinitionError(f"{where}: a duration is {{value: N, unit: {'|'.join(sorted(CLOCK_UNITS))}}}")
    if raw["value"] <= 0:
        raise DefinitionError(f"{where}: a duration must be positive")
    return Duration(int(raw["value"]), str(raw["unit"]))


_CLOCK_KEYS = {"label", "duration", "starts_on", "stops_on", "remind", "remind_before", "escalate", "basis",
               "repeats", "deadline_from", "started_by", "not_started_by", "when", "notify_on_start",
               "restarts_on", "subject"}


def _calendar(raw: Any, where: str) -> CalendarDef:
    if raw is None:
        return CalendarDef()
    raw = _shape(raw, where, {"country", "subdivision", "time_zone"}, ("time_zone",))
    time_zone = raw["time_zone"]
    try:
        ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise DefinitionError(f"{where}.time_zone: not a time zone of the IANA database: {time_zone!r}") from None
    country = raw.get("country")
    if country is not None and not (isinstance(country, str) and len(country) == 2 and country.isupper()):
        raise DefinitionError(f"{where}.country: expected a two-letter ISO 3166 code such as CL, got {country!r}")
    supported = holidays.list_supported_countries()
    if country is not None and country not in supported:
        raise DefinitionError(f"{where}.country: the holidays calendar does not know the country {country!r}")
    subdivision = raw.get("subdivision")
    if subdivision is not None:
        if country is None or not isinstance(subdivision, str):
            raise DefinitionError(f"{where}.subdivision: a subdivision code (text) needs a country")
        if subdivision not in supported[country]:
            raise DefinitionError(f"{where}.subdivision: the holidays calendar does not know {country}-{subdivision}")
    return CalendarDef(country, subdivision, time_zone)


def _clock(key: str, raw: Any, where: str) -> Clock:
    subject = raw.get("subject") if isinstance(raw, Mapping) else None
    raw = _shape(raw, where, _CLOCK_KEYS, ("label", "basis") if subject is not None else ("label", "starts_on", "basis"))
    if subject is not None and ("starts_on" in raw or "stops_on" in raw):
        raise DefinitionError(f"{where}: a clock of a subject that is not a case has no starts_on/stops_on (its "
                              "service starts and stops it)")
    if ("duration" in raw) == ("deadline_from" in raw):
        raise DefinitionError(f"{where}: give either duration or deadline_from (a date field), not both or neither")
    deadline_from = raw.get("deadline_from")
    if deadline_from is not None and not (isinstance(deadline_from, str) and deadline_from.count(".") == 1):
        raise DefinitionError(f"{where}.deadline_from: expected form.field, got {deadline_from!r}")
    if not isinstance(raw.get("escalate", []), list):
        raise DefinitionError(f"{where}.escalate: expected a list of {{after: ..., relation: ...}}")
    escalate = tuple(
        (_duration(step["after"], f"{where}.escalate[{i}].after"), str(step["relation"]))
        for i, step in enumerate(
            _shape(item, f"{where}.escalate[{j}]", {"after", "relation"}, ("after", "relation"))
            for j, item in enumerate(raw.get("escalate", []))
        )
    )
    starts = _shape(raw.get("starts_on"), f"{where}.starts_on", _EVENT_KINDS)
    stops = _shape(raw.get("stops_on"), f"{where}.stops_on", _EVENT_KINDS)
    if not isinstance(raw.get("remind_before", []), list):
        raise DefinitionError(f"{where}.remind_before: expected a list of durations")
    before = tuple(_duration(item, f"{where}.remind_before[{i}]") for i, item in enumerate(raw.get("remind_before", [])))
    duration = _duration(raw["duration"], f"{where}.duration") if "duration" in raw else None
    return Clock(key, text_from(raw["label"], f"{where}.label"), duration,
                 dict(starts), dict(stops), names_of(raw.get("remind"), f"{where}.remind"),
                 escalate, str(raw["basis"]), bool(raw.get("repeats", False)), before, deadline_from,
                 names_of(raw.get("started_by"), f"{where}.started_by"),
                 parse(raw["when"], f"{where}.when") if raw.get("when") is not None else None,
                 bool(raw.get("notify_on_start", False)),
                 names_of(raw.get("not_started_by"), f"{where}.not_started_by"),
                 _restarts(raw.get("restarts_on"), f"{where}.restarts_on"),
                 str(subject) if subject is not None else None)


def _restarts(raw: Any, where: str) -> dict[str, tuple[str, ...]]:
    """`restarts_on: {note_recorded: [types], by: [relations]}` (a contact recorded restarts the period)."""
    if raw is None:
        return {}
    raw = _shape(raw, where, {"note_recorded", "by"}, ("note_recorded", "by"))
    return {"note_recorded": names_of(raw["note_recorded"], f"{where}.note_recorded"),
            "by": names_of(raw["by"], f"{where}.by")}


def _inbox(key: str, raw: Any, where: str) -> Inbox:
    raw = _shape(raw, where, {"label", "roles", "relations", "states", "tracks", "forms"}, ("label",))
    tracks = _shape(raw.get("tracks"), f"{where}.tracks", set(raw.get("tracks") or {}))
    forms = _shape(raw.get("forms"), f"{where}.forms", set(raw.get("forms") or {}))
    return Inbox(
        key=key,
        label=text_from(raw["label"], f"{where}.label"),
        roles=names_of(raw.get("roles"), f"{where}.roles"),
        relations=names_of(raw.get("relations"), f"{where}.relations"),
        states=names_of(raw.get("states"), f"{where}.states"),
        tracks={k: names_of(v, f"{where}.tracks.{k}") for k, v in tracks.items()},
        forms={k: names_of(v, f"{where}.forms.{k}") for k, v in forms.items()},
    )


def _duplicates(raw: Any, where: str) -> Duplicates:
    raw = _shape(raw, where, {"form", "indexes", "visible_to"}, ("form", "indexes"))
    indexes = _shape(raw["indexes"], f"{where}.indexes", set(raw["indexes"] or {}))
    built = {}
    for key, spec in indexes.items():
        spec = _shape(spec, f"{where}.indexes.{key}", {"fields", "normalise"}, ("fields", "normalise"))
        built[key] = BlindIndexDef(key, names_of(spec["fields"], f"{where}.indexes.{key}.fields"), str(spec["normalise"]))
    return Duplicates(str(raw["form"]), built, names_of(raw.get("visible_to"), f"{where}.visible_to"))


def _link(key: str, raw: Any, where: str) -> LinkDef:
    raw = _shape(raw, where, {"label", "form", "field", "count_visible_to"}, ("label", "form", "field"))
    return LinkDef(key, text_from(raw["label"], f"{where}.label"), str(raw["form"]), str(raw["field"]),
                   names_of(raw.get("count_visible_to"), f"{where}.count_visible_to"))


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
        if index.normalise not in NORMALISERS:
            yield f"{at}: normalise must be one of {sorted(NORMALISERS)}"
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
