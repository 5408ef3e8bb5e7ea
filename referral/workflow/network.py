"""The referral network as data: the service catalogue, derivaciones (kinds, states, transitions),
consent records and emergency access. Parsed from `services`, `referrals`, `consent` and
`emergency_access` in workflow.yaml; validated with the rest of the definition.

Pure: no database, no Flask. `referral/referrals/` stores referrals and applies what this allows.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import DefinitionError, TransitionRefused
from .forms import names_of
from .predicates import CaseFacts, Predicate, parse
from .text import Text, text_from

if TYPE_CHECKING:
    from .definition import Duration, Permit, WorkflowDefinition

# Who may act on a referral besides (role, relation) pairs: the node it was sent to, the node that sent it.
RECEIVER, SENDER = "receptor", "emisor"
PARTIES = frozenset({RECEIVER, SENDER})
PARTY_LABELS = {
    RECEIVER: Text("Nodo que recibe la derivación", "Node receiving the referral"),
    SENDER: Text("Nodo que derivó", "Referring node"),
}


@dataclass(frozen=True)
class Service:
    key: str
    label: Text
    relation: str | None = None  # what a receiving node holds while a referral for it is live; None: not referable
    capacity: bool = False  # the directory counts places (shelter beds) for nodes offering it
    aliases: tuple[str, ...] = ()  # other codes for it in directory files
    when: Predicate | None = None  # a condition on the case for referring to this service at all
    refused: Text | None = None  # what the user reads when `when` does not hold


@dataclass(frozen=True)
class ReferralKind:
    key: str
    label: Text
    from_states: tuple[str, ...]  # case states in which this kind may be sent
    by: tuple[Permit, ...]  # who may send it
    services: tuple[str, ...] = ()  # empty: every referable service (ignored for a transfer)
    when: Predicate | None = None  # a further condition on the case (e.g. a child case)
    transfers: str | None = None  # a relation handed from its holder to the receiver on acceptance
    relation: str | None = None  # for a transfer: what the receiver holds while it decides
    needs_consent: bool = True
    help: Text | None = None


@dataclass(frozen=True)
class ReferralState:
    key: str
    label: Text
    live: bool  # the receiving node holds its relation (reads the case) while the referral is here
    initial: bool = False


@dataclass(frozen=True)
class ReferralTransition:
    key: str
    label: Text
    sources: tuple[str, ...]
    target: str
    by: tuple[Permit, ...]  # relations may be receptor / emisor besides case relations
    reasons: str | None = None  # a key of `reasons`: the answer needs one
    kinds: tuple[str, ...] = ()  # empty: every kind
    style: str = "primary"
    confirm: Text | None = None  # destructive or final (refuse, revoke): asks the user to confirm this consequence

    @property
    def destructive(self) -> bool:
        return self.confirm is not None


@dataclass(frozen=True)
class FormSource:
    """Rows of a form that ask for a service (a plan's actions): each can be referred in one step."""

    group: str  # the repeated group of the form
    service: str  # its field holding the service code
    kind: str  # the kind of referral it becomes
    due: str | None = None  # its field holding the committed date
    node: str | None = None  # its field naming the node (source: node), preselected
    state: str | None = None  # its typed state: shown only while the row has no referral (else the referral's)


@dataclass(frozen=True)
class ReferralsDef:
    kinds: Mapping[str, ReferralKind]
    states: Mapping[str, ReferralState]
    transitions: Mapping[str, ReferralTransition]
    reasons: Mapping[str, Mapping[str, Text]]  # reason list -> code -> label
    from_forms: Mapping[str, FormSource] = field(default_factory=dict)  # form key -> its rows that refer

    @property
    def initial(self) -> str:
        return next(s.key for s in self.states.values() if s.initial)

    def live_states(self) -> tuple[str, ...]:
        return tuple(s.key for s in self.states.values() if s.live)

    def answers(self) -> tuple[frozenset[str], frozenset[str]]:
        """(accepted, refused): states that mean the receiving node answered yes or no.

        Its answers are the transitions out of the initial state that the receptor may fire; a live
        target is a yes, any other a no. A state reached only from yes-states is a yes too (done, not
        done); a state also reached straight from the initial state (revoked) is neither."""
        answers = [t for t in self.transitions.values()
                   if self.initial in t.sources and any(p.relation == RECEIVER for p in t.by)]
        accepted = {t.target for t in answers if self.states[t.target].live}
        refused = {t.target for t in answers} - accepted
        grown = True
        while grown:
            grown = False
            for state in self.states:
                sources = {source for t in self.transitions.values() if t.target == state for source in t.sources}
                if state not in accepted and sources and sources <= accepted:
                    accepted.add(state)
                    grown = True
        return frozenset(accepted), frozenset(refused)


@dataclass(frozen=True)
class ConsentDef:
    given_by: Mapping[str, Text]
    child_flag: str | None  # when this flag is set, consent must come from `child_given_by`
    child_given_by: tuple[str, ...]
    scopes: Mapping[str, Text]  # ingreso | red | tipo_nodo | nodo (fixed meanings, labels here)
    evidence: Mapping[str, Text]
    by: tuple[Permit, ...]  # who records and revokes consent
    override_by: tuple[Permit, ...]  # who may refer without a covering consent (reason required)
    override_reasons: Mapping[str, Text]


@dataclass(frozen=True)
class EmergencyAccessDef:
    relation: str
    roles: tuple[str, ...]
    duration: Duration
    max_hours: int
    reasons: Mapping[str, Text]


CONSENT_SCOPES = ("ingreso", "red", "tipo_nodo", "nodo")


@dataclass(frozen=True)
class NetworkDef:
    services: Mapping[str, Service] = field(default_factory=dict)
    referrals: ReferralsDef | None = None
    consent: ConsentDef | None = None
    emergency_access: EmergencyAccessDef | None = None

    def service_code(self, code: str) -> str | None:
        """The catalogue key for a code or one of its aliases; None if the catalogue does not know it."""
        if code in self.services:
            return code
        return next((s.key for s in self.services.values() if code in s.aliases), None)

    def referable(self) -> dict[str, Service]:
        return {k: s for k, s in self.services.items() if s.relation}

    def kind_services(self, kind: ReferralKind) -> tuple[str, ...]:
        if kind.transfers:
            return ()
        return kind.services or tuple(self.referable())

    def referral_relations(self) -> frozenset[str]:
        """Relations held only through a referral (not the lead role a transfer hands over)."""
        relations = {s.relation for s in self.services.values() if s.relation}
        if self.referrals:
            relations |= {k.relation for k in self.referrals.kinds.values() if k.relation}
        return frozenset(r for r in relations if r)


# -- the rules ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Party:
    """How the acting user stands to one referral: role, case relations, and receiver / sender."""

    role: str
    relations: frozenset[str]  # the node's case relations plus receptor / emisor for this referral


def permitted(permits: tuple[Permit, ...], role: str, relations: frozenset[str]) -> bool:
    return any(p.role == role and p.relation in relations for p in permits)


NOT_PERMITTED = Text("Su rol o su nodo no puede hacer esto en esta derivación.",
                     "Your role or node cannot do this on this referral.")


def check_send(d: WorkflowDefinition, kind_key: str, service: str | None, facts: CaseFacts, role: str,
               relations: frozenset[str]) -> ReferralKind:
    """May this actor send a referral of this kind for this service now? Raise TransitionRefused if not."""
    net = d.network
    if net.referrals is None or kind_key not in net.referrals.kinds:
        raise TransitionRefused("unknown", Text("Tipo de derivación desconocido.", "Unknown kind of referral."))
    kind = net.referrals.kinds[kind_key]
    if not permitted(kind.by, role, relations):
        raise TransitionRefused("forbidden", NOT_PERMITTED)
    if facts.state not in kind.from_states:
        state = d.main.states[facts.state].label
        raise TransitionRefused("state", Text(
            f"«{kind.label.es}» no es posible en el estado «{state.es}».",
            f"«{kind.label.get('en')}» is not possible in the state «{state.get('en')}»."))
    if kind.when is not None and kind.when.evaluate(facts, None) is not True:
        raise TransitionRefused("guard", Text(f"«{kind.label.es}» no corresponde a este caso.",
                                              f"«{kind.label.get('en')}» does not apply to this case."))
    if not kind.transfers and service not in net.kind_services(kind):
        raise TransitionRefused("guard", Text(
            f"«{kind.label.es}» no incluye ese servicio.", f"«{kind.label.get('en')}» does not include that service."))
    wanted = net.services.get(service or "")
    if wanted is not None and wanted.when is not None and wanted.when.evaluate(facts, None) is not True:
        raise TransitionRefused("guard", wanted.refused or Text("El servicio no corresponde a este caso.",
                                                                 "The service does not apply to this case."))
    return kind


def check_answer(d: WorkflowDefinition, key: str, kind: str, state: str, party: Party) -> ReferralTransition:
    """May this party move a referral of `kind` in `state` by transition `key`?"""
    referrals = d.network.referrals
    if referrals is None or key not in referrals.transitions:
        raise TransitionRefused("unknown", Text("Acción desconocida.", "Unknown action."))
    transition = referrals.transitions[key]
    if transition.kinds and kind not in transition.kinds:
        raise TransitionRefused("unknown", Text("Esa acción no existe para este tipo de derivación.",
                                                "That action does not exist for this kind of referral."))
    if not permitted(transition.by, party.role, party.relations):
        raise TransitionRefused("forbidden", NOT_PERMITTED)
    if state not in transition.sources:
        label = referrals.states[state].label
        raise TransitionRefused("state", Text(
            f"La derivación está «{label.es}»: ya no admite «{transition.label.es}».",
            f"The referral is «{label.get('en')}»: «{transition.label.get('en')}» is no longer possible."))
    return transition


def options(d: WorkflowDefinition, kind: str, state: str, party: Party) -> list[ReferralTransition]:
    referrals = d.network.referrals
    if referrals is None:
        return []
    return [t for t in referrals.transitions.values()
            if (not t.kinds or kind in t.kinds) and state in t.sources and permitted(t.by, party.role, party.relations)]


# -- parsing --------------------------------------------------------------------------------------


def _shape(raw: Any, where: str, allowed: set[str], required: tuple[str, ...] = ()) -> Mapping[str, Any]:
    from .definition import _shape as shape

    return shape(raw, where, allowed, required)


def _labels(raw: Any, where: str) -> dict[str, Text]:
    if not isinstance(raw, Mapping) or not raw:
        raise DefinitionError(f"{where}: expected a mapping of code: {{es: ..., en: ...}}")
    return {str(k): text_from(v, f"{where}.{k}") for k, v in raw.items()}


def parse_network(raw: Mapping[str, Any], where: str) -> NetworkDef:
    from .definition import _duration, confirmation, permits_of

    def _permits(by: Any, at: str) -> tuple[Permit, ...]:  # a permit group's name, or pairs
        return permits_of(by, at, raw.get("permit_groups"))

    services = {}
    for key, value in (raw.get("services") or {}).items():
        value = _shape(value, f"{where}.services.{key}", {"label", "relation", "capacity", "aliases", "when", "refused"},
                       ("label",))
        if ("when" in value) != ("refused" in value):
            raise DefinitionError(f"{where}.services.{key}: 'when' and 'refused' (the message) go together")
        services[str(key)] = Service(str(key), text_from(value["label"], f"{where}.services.{key}.label"),
                                     value.get("relation"), bool(value.get("capacity", False)),
                                     names_of(value.get("aliases"), f"{where}.services.{key}.aliases"),
                                     parse(value["when"], f"{where}.services.{key}.when") if value.get("when") else None,
                                     text_from(value["refused"], f"{where}.services.{key}.refused")
                                     if value.get("refused") else None)
    referrals = None
    if raw.get("referrals"):
        at = f"{where}.referrals"
        r = _shape(raw["referrals"], at, {"kinds", "states", "transitions", "reasons", "from_forms"},
                   ("kinds", "states", "transitions"))
        kinds = {}
        for key, value in r["kinds"].items():
            value = _shape(value, f"{at}.kinds.{key}", {"label", "help", "from_states", "by", "services", "when",
                                                         "transfers", "relation", "needs_consent"},
                           ("label", "from_states", "by"))
            kinds[key] = ReferralKind(
                key, text_from(value["label"], f"{at}.kinds.{key}.label"),
                names_of(value["from_states"], f"{at}.kinds.{key}.from_states"), _permits(value["by"], f"{at}.kinds.{key}.by"),
                names_of(value.get("services"), f"{at}.kinds.{key}.services"),
                parse(value["when"], f"{at}.kinds.{key}.when") if value.get("when") else None,
                value.get("transfers"), value.get("relation"), bool(value.get("needs_consent", True)),
                text_from(value["help"], f"{at}.kinds.{key}.help") if value.get("help") else None)
        states = {}
        for key, value in r["states"].items():
            value = _shape(value, f"{at}.states.{key}", {"label", "live", "initial"}, ("label",))
            states[key] = ReferralState(key, text_from(value["label"], f"{at}.states.{key}.label"),
                                        bool(value.get("live", False)), bool(value.get("initial", False)))
        transitions = {}
        for key, value in r["transitions"].items():
            value = _shape(value, f"{at}.transitions.{key}", {"label", "from", "to", "by", "reasons", "kinds", "style",
                                                               "confirm"}, ("label", "from", "to", "by"))
            style = str(value.get("style", "primary"))
            transitions[key] = ReferralTransition(
                key, text_from(value["label"], f"{at}.transitions.{key}.label"),
                names_of(value["from"], f"{at}.transitions.{key}.from"), str(value["to"]),
                _permits(value["by"], f"{at}.transitions.{key}.by"), value.get("reasons"),
                names_of(value.get("kinds"), f"{at}.transitions.{key}.kinds"), style,
                confirmation(value, style, f"{at}.transitions.{key}"))
        reasons = {k: _labels(v, f"{at}.reasons.{k}") for k, v in (r.get("reasons") or {}).items()}
        sources = {}
        for key, value in (r.get("from_forms") or {}).items():
            value = _shape(value, f"{at}.from_forms.{key}", {"group", "service", "kind", "due", "node", "state"},
                           ("group", "service", "kind"))
            sources[str(key)] = FormSource(str(value["group"]), str(value["service"]), str(value["kind"]),
                                           value.get("due"), value.get("node"), value.get("state"))
        referrals = ReferralsDef(kinds, states, transitions, reasons, sources)
    consent = None
    if raw.get("consent"):
        at = f"{where}.consent"
        c = _shape(raw["consent"], at, {"given_by", "child_flag", "child_given_by", "scopes", "evidence", "by",
                                        "override_by", "override_reasons"},
                   ("given_by", "scopes", "evidence", "by", "override_by", "override_reasons"))
        consent = ConsentDef(_labels(c["given_by"], f"{at}.given_by"), c.get("child_flag"),
                             names_of(c.get("child_given_by"), f"{at}.child_given_by"), _labels(c["scopes"], f"{at}.scopes"),
                             _labels(c["evidence"], f"{at}.evidence"), _permits(c["by"], f"{at}.by"),
                             _permits(c["override_by"], f"{at}.override_by"),
                             _labels(c["override_reasons"], f"{at}.override_reasons"))
    emergency = None
    if raw.get("emergency_access"):
        at = f"{where}.emergency_access"
        e = _shape(raw["emergency_access"], at, {"relation", "roles", "duration", "max_hours", "reasons"},
                   ("relation", "roles", "duration", "reasons"))
        emergency = EmergencyAccessDef(str(e["relation"]), names_of(e["roles"], f"{at}.roles"),
                                       _duration(e["duration"], f"{at}.duration"), int(e.get("max_hours", 24)),
                                       _labels(e["reasons"], f"{at}.reasons"))
    return NetworkDef(services, referrals, consent, emergency)


# -- validation -----------------------------------------------------------------------------------


def network_problems(d: WorkflowDefinition) -> Iterator[str]:
    net = d.network
    for service in net.services.values():
        if service.relation and service.relation not in d.relations:
            yield f"service '{service.key}': unknown relation '{service.relation}'"
        if service.when is not None:
            from .definition import _predicate_problems

            yield from _predicate_problems(d, service.when, f"service '{service.key}'", None, in_transition=False)
    if net.referrals is not None:
        yield from _referral_problems(d, net.referrals)
    if net.consent is not None:
        c = net.consent
        if set(c.scopes) != set(CONSENT_SCOPES):
            yield f"consent.scopes: declare exactly {list(CONSENT_SCOPES)} (their meaning is fixed; labels are yours)"
        if c.child_flag and c.child_flag not in d.flags:
            yield f"consent.child_flag: unknown flag '{c.child_flag}'"
        for who in c.child_given_by:
            if who not in c.given_by:
                yield f"consent.child_given_by: '{who}' is not in given_by"
        yield from _permit_names(d, c.by + c.override_by, "consent")
    if net.emergency_access is not None:
        e = net.emergency_access
        if e.relation not in d.relations:
            yield f"emergency_access: unknown relation '{e.relation}'"
        for role in e.roles:
            if role not in d.roles:
                yield f"emergency_access: unknown role '{role}'"
        if e.duration.unit != "hours" or not 0 < e.duration.value <= e.max_hours:
            yield "emergency_access.duration: hours, at most max_hours"


def _permit_names(d: WorkflowDefinition, permits: tuple[Permit, ...], where: str,
                  parties: frozenset[str] = frozenset()) -> Iterator[str]:
    for p in permits:
        if p.role not in d.roles:
            yield f"{where}: unknown role '{p.role}'"
        if p.relation not in d.relations and p.relation not in parties:
            yield f"{where}: unknown relation '{p.relation}'"


def _referral_problems(d: WorkflowDefinition, r: ReferralsDef) -> Iterator[str]:
    initial = [s.key for s in r.states.values() if s.initial]
    if len(initial) != 1:
        yield "referrals.states: exactly one state is initial"
    for kind in r.kinds.values():
        where = f"referral kind '{kind.key}'"
        for state in kind.from_states:
            if state not in d.main.states:
                yield f"{where}: unknown state '{state}'"
        for service in kind.services:
            if service not in d.network.services or not d.network.services[service].relation:
                yield f"{where}: '{service}' is not a referable service (a service with a relation)"
        yield from _permit_names(d, kind.by, where)
        if kind.transfers and (kind.transfers not in d.relations or not kind.relation
                               or kind.relation not in d.relations):
            yield f"{where}: a transfer names the relation it hands over and the one held while pending"
        if kind.when is not None:
            from .definition import _predicate_problems

            yield from _predicate_problems(d, kind.when, where, None, in_transition=False)
    for form_key, source in r.from_forms.items():
        where = f"referrals.from_forms.{form_key}"
        if form_key not in d.forms:
            yield f"{where}: unknown form"
            continue
        group = next((f for f in d.form(form_key).fields() if f.key == source.group and f.type == "group"), None)
        if group is None:
            yield f"{where}: '{source.group}' is not a repeated group of the form"
            continue
        names = {f.key for f in group.fields}
        for name in (source.service, source.due, source.node, source.state):
            if name is not None and name not in names:
                yield f"{where}: '{name}' is not a field of the group '{source.group}'"
        if source.kind not in r.kinds:
            yield f"{where}: unknown kind '{source.kind}'"
    for t in r.transitions.values():
        where = f"referral transition '{t.key}'"
        for state in t.sources + (t.target,):
            if state not in r.states:
                yield f"{where}: unknown referral state '{state}'"
        for kind in t.kinds:
            if kind not in r.kinds:
                yield f"{where}: unknown kind '{kind}'"
        if t.reasons is not None and t.reasons not in r.reasons:
            yield f"{where}: unknown reason list '{t.reasons}'"
        yield from _permit_names(d, t.by, where, PARTIES)
