"""The protocol in force, as a page: every state, transition, guard and clock, from the definition."""

from __future__ import annotations

from dataclasses import dataclass

from ..workflow import Text, WorkflowDefinition
from ..workflow.definition import Clock, LinkDef, Machine, Permit, Transition

UNITS = {
    "hours": Text("horas", "hours"),
    "calendar_days": Text("días corridos", "calendar days"),
    "working_days": Text("días hábiles", "working days"),
}
# Which rules are the law's, which the Protocol's (or another official source's), which our product's
# default: the page says so beside every clock, rule and form that declares its `basis`.
BASIS = {
    "law": Text("ley", "law"),
    "source": Text("Protocolo o fuente oficial", "Protocol or official source"),
    "product": Text("default del producto, no del Protocolo (configurable)",
                    "product default, not the Protocol's (configurable)"),
}
STAYS = Text("(mismo estado)", "(same state)")
START = Text("(inicio)", "(start)")


@dataclass(frozen=True)
class RuleRow:
    message: str
    basis: str  # BASIS label; "" when the rule does not declare one


@dataclass(frozen=True)
class TransitionRow:
    label: str
    sources: str
    target: str
    who: str
    form: str
    guards: tuple[str, ...]
    rules: tuple[RuleRow, ...] = ()  # the guards with their basis (case and track machines)
    form_basis: str = ""


@dataclass(frozen=True)
class MachineView:
    label: str
    states: tuple[tuple[str, str], ...]  # (label, help)
    transitions: tuple[TransitionRow, ...]


@dataclass(frozen=True)
class ClockRow:
    label: str
    duration: str
    basis: str
    escalation: str


@dataclass(frozen=True)
class KindRow:
    label: str
    states: str  # case states in which it may be sent
    services: str
    who: str


@dataclass(frozen=True)
class LinkRow:
    label: str
    field: str  # the form and the field whose value links cases
    counted_for: str  # relations told how many linked cases lie outside their scope


@dataclass(frozen=True)
class NoticeRow:
    message: str
    shown_to: str
    basis: str


@dataclass(frozen=True)
class ProtocolView:
    label: str
    version: int
    machines: tuple[MachineView, ...]
    clocks: tuple[ClockRow, ...]
    referrals: MachineView | None = None
    referral_kinds: tuple[KindRow, ...] = ()
    links: tuple[LinkRow, ...] = ()
    notices: tuple[NoticeRow, ...] = ()


LIVE = Text("el nodo que recibe accede al caso", "the receiving node has access to the case")
LEAD_TRANSFER = Text("traspaso del rol de nodo líder", "transfer of the lead role")


def protocol_view(d: WorkflowDefinition, language: str) -> ProtocolView:
    """Everything an auditor or a new colleague needs to know of the rules in force."""
    return ProtocolView(
        label=d.label.get(language), version=d.version,
        machines=tuple(_machine(d, m, language) for m in d.machines()),
        clocks=tuple(_clock(d, c, language) for c in d.clocks.values()),
        referrals=_referrals(d, language), referral_kinds=_kinds(d, language),
        links=tuple(_link(d, link, language) for link in d.links.values()),
        notices=tuple(NoticeRow(n.message.get(language), _relations(d, n.relations, language), _basis(n.basis, language))
                      for n in d.notices.values()),
    )


def _relations(d: WorkflowDefinition, relations: tuple[str, ...], language: str) -> str:
    return ", ".join(d.relation_label(r).get(language) for r in relations)


def _link(d: WorkflowDefinition, link: LinkDef, language: str) -> LinkRow:
    form = d.form(link.form)
    field = next(f for f in form.fields() if f.key == link.field)
    return LinkRow(link.label.get(language), f"{form.label.get(language)}: {field.label.get(language)}",
                   _relations(d, link.count_visible_to, language))


def _who(d: WorkflowDefinition, permits: tuple[Permit, ...], language: str) -> str:
    return "; ".join(f"{d.roles[p.role].label.get(language)} ({d.relation_label(p.relation).get(language)})"
                     for p in permits)


def _referrals(d: WorkflowDefinition, language: str) -> MachineView | None:
    r = d.network.referrals
    if r is None:
        return None
    states = tuple((s.label.get(language), LIVE.get(language) if s.live else "") for s in r.states.values())
    rows = tuple(TransitionRow(
        label=t.label.get(language), sources=", ".join(r.states[s].label.get(language) for s in t.sources),
        target=r.states[t.target].label.get(language), who=_who(d, t.by, language), form="",
        guards=tuple(r.kinds[k].label.get(language) for k in t.kinds)) for t in r.transitions.values())
    return MachineView(Text("Derivaciones", "Referrals").get(language), states, rows)


def _kinds(d: WorkflowDefinition, language: str) -> tuple[KindRow, ...]:
    r = d.network.referrals
    if r is None:
        return ()
    return tuple(KindRow(
        label=k.label.get(language), states=", ".join(d.main.states[s].label.get(language) for s in k.from_states),
        services=LEAD_TRANSFER.get(language) if k.transfers else ", ".join(
            d.network.services[s].label.get(language) for s in d.network.kind_services(k)),
        who=_who(d, k.by, language)) for k in r.kinds.values())


def _machine(d: WorkflowDefinition, machine: Machine, language: str) -> MachineView:
    return MachineView(
        label=machine.label.get(language),
        states=tuple((s.label.get(language), s.help.get(language) if s.help else "") for s in machine.states.values()),
        transitions=tuple(_transition(d, machine, t, language) for t in machine.transitions.values()),
    )


def _transition(d: WorkflowDefinition, machine: Machine, t: Transition, language: str) -> TransitionRow:
    sources = ", ".join(
        machine.states[s].label.get(language) if s is not None else START.get(language) for s in t.sources
    )
    who = "; ".join(
        f"{d.roles[p.role].label.get(language)} ({d.relations[p.relation].label.get(language)})" for p in t.permits
    )
    return TransitionRow(
        label=t.label.get(language), sources=sources,
        target=STAYS.get(language) if t.stays else machine.states[t.target].label.get(language), who=who,
        form=d.form(t.form).label.get(language) if t.form else "",
        guards=tuple(g.message.get(language) for g in t.guards),
        rules=tuple(RuleRow(g.message.get(language), _basis(g.basis, language)) for g in t.guards),
        form_basis=_basis(d.form(t.form).basis, language) if t.form else "",
    )


def _basis(basis: str | None, language: str) -> str:
    return BASIS[basis].get(language) if basis else ""


COMMITTED_DATE = Text("fecha comprometida de la derivación", "the referral's committed date")
UNTIL_DATE = Text("hasta la fecha «{field}»", "until the date “{field}”")
SUBJECT_DATES = {  # the deadlines of clocks of one referral, meeting or agreement
    "referral": COMMITTED_DATE,
    "meeting": Text("fecha y hora de la mesa de caso", "the case meeting's date and time"),
    "agreement": Text("fecha comprometida del acuerdo", "the agreement's due date"),
    # a subject that is not a case (a Mesa's agreement, a meta of the Plan, its report): the date its service gives
    "subject": Text("fecha comprometida (acuerdo de la Mesa, meta o informe del Plan)",
                    "the committed date (the Table's agreement, the Plan's target or report)"),
}
REMINDERS_BEFORE = Text("recordatorios {before} antes", "reminders {before} before")


def _duration(value: int, unit: str, language: str) -> str:
    return f"{value} {UNITS[unit].get(language)}"


def _clock(d: WorkflowDefinition, clock: Clock, language: str) -> ClockRow:
    escalation = "; ".join(
        f"{_duration(after.value, after.unit, language)} → {d.relation_label(rel).get(language)}"
        for after, rel in clock.escalate
    )
    if clock.duration is not None:
        duration = _duration(clock.duration.value, clock.duration.unit, language)
    else:  # the deadline is a date typed into a form, or a referral's committed date
        form_key, _, field_key = str(clock.deadline_from).partition(".")
        label = SUBJECT_DATES[form_key] if form_key in SUBJECT_DATES else next(
            f for f in d.form(form_key).fields() if f.key == field_key).label
        duration = UNTIL_DATE.format(field=label.get(language)).get(language)
    if clock.remind_before:
        before = ", ".join(_duration(b.value, b.unit, language) for b in clock.remind_before)
        duration = f"{duration} ({REMINDERS_BEFORE.format(before=before).get(language)})"
    return ClockRow(clock.label.get(language), duration, BASIS[clock.basis].get(language), escalation)
