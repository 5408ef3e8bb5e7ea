"""What a user sees of a case: plain view models, decrypted only for what the user may read."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from .duplicates import DuplicateNotice, notice_for
from .links import LinkedCases, linked_cases
from ..auth.models import User
from ..choices import ChoiceProvider
from ..clocks.reading import CaseClocks, case_clocks
from ..referrals.reading import case_network, event_text, is_team, pending_answers, referral_subjects
from ..context import Context
from ..workflow import Actor, Option, Text
from ..workflow.guidance import TRANSITION, next_steps
from ..workflow.definition import Transition
from ..workflow.forms import FieldDef, FormDef
from ..kernel.access import open_case
from ..kernel.errors import AccessDenied, CaseNotFound
from ..kernel.keystore import open_cell
from ..kernel.models import Case, CaseEvent, FormRecord
from ..kernel.records import all_records, current_records, facts_for, open_values, summary_cell

STATUS_LABELS = {
    "draft": Text("Borrador", "Draft"),
    "submitted": Text("Enviado, espera revisión", "Submitted, awaiting review"),
    "approved": Text("Aprobado", "Approved"),
    "returned": Text("Devuelto con comentarios", "Returned with comments"),
    "none": Text("Sin iniciar", "Not started"),
}
FINAL_STATUS = {"submitted": Text("Registrado", "Recorded")}  # for forms nobody reviews
NO_SUCH_FORM = Text("Ese formulario no existe.", "There is no such form.")
YES, NO, EMPTY = Text("Sí", "Yes"), Text("No", "No"), "—"
NETWORK_EVENTS = frozenset({"referral", "consent", "emergency_access"})  # told by referrals/reading.py


@dataclass(frozen=True)
class FieldView:
    label: str
    value: str = ""
    multiline: bool = False
    items: tuple[tuple[FieldView, ...], ...] = ()  # for repeated groups


@dataclass(frozen=True)
class SectionView:
    label: str
    fields: tuple[FieldView, ...]


@dataclass(frozen=True)
class FormView:
    key: str
    label: str
    revision: int
    form_version: int
    status_label: str
    author_node: str
    updated_at: str
    sections: tuple[SectionView, ...]


@dataclass(frozen=True)
class FormSlot:
    key: str
    label: str
    status_label: str
    revision: int
    readable: bool
    editable: bool
    revisions: tuple[int, ...] = ()


@dataclass(frozen=True)
class ActionView:
    key: str
    label: str
    style: str
    refusal: str | None
    has_form: bool


@dataclass(frozen=True)
class StepView:
    """One of the user's steps in «Acciones disponibles», ranked (referral/workflow/guidance.py)."""

    kind: str  # transition, edit, answer, refer
    key: str
    label: str
    primary: bool  # the user's own next step: the one primary button
    confirm: bool  # destructive: a secondary button to a page that asks to confirm
    one_click: bool  # a transition with no form and no confirmation, posted from the case page
    subject: str = ""  # an answer's referral id
    needed_for: str = ""  # the blocked steps it clears the way for


@dataclass(frozen=True)
class BlockedView:
    """A step the user may take once every one of its missing prerequisites (`reasons`) is met."""

    key: str
    label: str
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class EventView:
    when: str
    actor: str
    text: str
    change: str
    details: tuple[FieldView, ...] = ()


@dataclass(frozen=True)
class CaseHeader:
    reference: str
    state_label: str
    closed: bool
    region: str
    flags: tuple[tuple[str, str], ...]  # (key, label)
    person: tuple[FieldView, ...]
    opened_at: str


@dataclass(frozen=True)
class CasePage:
    header: CaseHeader
    version: int
    participants: tuple[tuple[str, str], ...]  # (relation label, node name)
    tracks: tuple[tuple[str, str], ...]  # (track label, state label)
    forms: tuple[FormSlot, ...]
    actions: tuple[ActionView, ...]
    timeline: tuple[EventView, ...]
    relations: frozenset[str] = field(default_factory=frozenset)
    duplicates: DuplicateNotice | None = None
    links: tuple[LinkedCases, ...] = ()
    notices: tuple[str, ...] = ()  # warnings for the user's relations, shown on top
    clocks: CaseClocks = field(default_factory=lambda: CaseClocks((), ()))
    network: Any = None  # the referrals section (referral/referrals/reading.py: CaseNetwork)
    steps: tuple[StepView, ...] = ()  # «Acciones disponibles»: the user's steps, her next one first
    blocked: tuple[BlockedView, ...] = ()  # her steps not possible yet, each with all that is missing

    @property
    def blocked_open(self) -> bool:
        """Show what is missing unfolded when the user has no step of her own, or her steps clear the way."""
        return not any(step.primary for step in self.steps) or any(step.needed_for for step in self.steps)
    case_id: Any = None  # for the audit event of this read


class Reader:
    """Renders values of one definition in one language, for one unit of work."""

    def __init__(self, ctx: Context, language: str):
        self.ctx = ctx
        self.language = language
        self.choices = ChoiceProvider(ctx.session, language)

    def t(self, text: Text) -> str:
        return text.get(self.language)

    def local(self, moment: dt.datetime) -> str:
        return moment.astimezone(self.ctx.timezone).strftime("%d-%m-%Y %H:%M")

    def value(self, fdef: FieldDef, value: Any) -> FieldView:
        label = self.t(fdef.label)
        if fdef.type == "group":
            items = tuple(
                tuple(self.value(sub, item.get(sub.key)) for sub in fdef.fields) for item in value or []
            )
            return FieldView(label, "" if items else EMPTY, items=items)
        return FieldView(label, self._scalar(fdef, value), multiline=fdef.type == "textarea")

    def _scalar(self, fdef: FieldDef, value: Any) -> str:
        if value is None or value == "" or value == []:
            return EMPTY if fdef.type != "boolean" else self.t(NO)
        if fdef.type == "boolean":
            return self.t(YES if value else NO)
        if fdef.type == "date":
            return value.strftime("%d-%m-%Y")
        if fdef.type == "datetime":
            return value.strftime("%d-%m-%Y %H:%M")
        if fdef.type == "choice":
            return self.choices.label(fdef, value)
        if fdef.type == "multichoice":
            return ", ".join(self.choices.label(fdef, item) for item in value)
        return str(value)

    def form(self, record: FormRecord, values: Mapping[str, Any],
             only: frozenset[str] | None = None) -> FormView:
        """A revision's values by section; `only`: the sections the reader may see (None: all)."""
        form = self.ctx.definition.form(record.form_key, record.form_version)
        sections = tuple(
            SectionView(self.t(section.label), tuple(self.value(f, values.get(f.key)) for f in section.fields))
            for section in form.sections if only is None or section.key in only
        )
        return FormView(
            key=form.key, label=self.t(form.label), revision=record.revision, form_version=record.form_version,
            status_label=self.status(record.form_key, record.status), author_node=record.author_node.short_name,
            updated_at=self.local(record.updated_at), sections=sections,
        )

    def status(self, form_key: str, status: str) -> str:
        if form_key not in self.ctx.engine.reviewed_forms and status in FINAL_STATUS:
            return self.t(FINAL_STATUS[status])
        return self.t(STATUS_LABELS.get(status, Text(status)))

    def summary(self, case: Case) -> tuple[FieldView, ...]:
        """The case's sealed summary (names, sex, age, nationality) as label/value pairs."""
        if case.summary is None:
            return ()
        form = self.ctx.definition.form(self.ctx.definition.intake.form)
        raw = open_cell(self.ctx, case, case.summary, summary_cell(case))
        values = form.from_storage(raw)
        return tuple(self.value(form.field(key), values.get(key)) for key in values)

    def summary_line(self, case: Case) -> str:
        return " · ".join(f.value for f in self.summary(case) if f.value not in ("", EMPTY))

    def header(self, case: Case) -> CaseHeader:
        d = self.ctx.definition
        state = d.main.states[case.state]
        region = case.region  # loaded with the case by open_case
        flags = tuple((key, self.t(d.flags[key].label)) for key, on in (case.flags or {}).items()
                      if on and key in d.flags)
        return CaseHeader(
            reference=case.reference, state_label=self.t(state.label), closed=state.closed,
            region=region.name if region else case.region_code, flags=flags,
            person=tuple(item for item in self.summary(case) if item.value not in ("", EMPTY)),
            opened_at=self.local(case.created_at),
        )


def case_page(ctx: Context, user: User, reference: str, language: str) -> CasePage:
    """Everything the case page shows to this user, decrypting only what the user may read."""
    case, actor = open_case(ctx, user, reference)
    reader = Reader(ctx, language)
    every = all_records(ctx, case)  # every revision, once: the facts, the forms' revisions, the timeline
    records = {row.form_key: row for row in every if row.current}
    facts = facts_for(ctx, case, records)
    d = ctx.definition

    team = is_team(ctx, actor.relations)
    hidden = d.network.referral_relations()
    now = ctx.now()
    participants = tuple(
        (reader.t(d.relations[p.relation].label), p.node.short_name)
        for p in case.participants if p.live_at(now) and p.relation in d.relations
        # a node there by referral sees the case team and itself, not which other services were asked
        and (team or p.relation not in hidden or p.node_id == user.node_id)
    )
    tracks = tuple(  # the facts read them already: no second query
        (reader.t(d.tracks[track].label), reader.t(d.tracks[track].states[state].label))
        for track, state in facts.tracks.items() if track in d.tracks
    )
    options = ctx.engine.options(facts, actor)
    actions = tuple(
        ActionView(o.transition.key, reader.t(o.transition.label), o.transition.style,
                   reader.t(o.refusal.reason) if o.refusal else None, o.transition.form is not None)
        for o in options
    )

    network = case_network(ctx, user, case, actor, language, facts)
    steps, blocked = _steps(ctx, user, case, actor, facts, options, network, reader)
    return CasePage(
        header=reader.header(case), version=case.version, participants=participants, tracks=tracks,
        forms=_form_slots(ctx, case, actor, records, every, facts, reader), actions=actions,
        timeline=_timeline(ctx, case, actor, every, reader), relations=actor.relations,
        duplicates=notice_for(ctx, user, case, actor.relations), clocks=case_clocks(ctx, case, language),
        links=linked_cases(ctx, user, case, actor.relations, frozenset(
            link.form for link in d.links.values() if ctx.engine.can_read(link.form, actor.relations))),
        notices=tuple(reader.t(notice.message) for notice in ctx.engine.notices(facts, actor.relations)),
        network=network, case_id=case.id, steps=steps, blocked=blocked,
    )


def _steps(ctx: Context, user: User, case: Case, actor: Actor, facts: Any, options: list[Option], network: Any,
           reader: Reader) -> tuple[tuple[StepView, ...], tuple[BlockedView, ...]]:
    """The user's steps ranked, her next one first and primary; and her blocked steps with every reason."""

    d = ctx.definition
    editable = [key for key in d.form_uses if ctx.engine.edit_refusal(key, facts, actor) is None]
    ranked = next_steps(d, options, facts, editable, pending_answers(ctx, user, case, actor),
                        [kind.key for kind in network.kinds])
    lead = next((step for step in ranked if step.leads), None)
    steps = tuple(
        StepView(step.kind, step.key, reader.t(step.label), primary=step is lead, confirm=step.confirm is not None,
                 one_click=step.kind == TRANSITION and not step.has_form and step.confirm is None,
                 subject=step.subject, needed_for=", ".join(f"«{reader.t(label)}»" for label in step.needed_for))
        for step in ranked
    )
    blocked = tuple(BlockedView(o.transition.key, reader.t(o.transition.label),
                                tuple(reader.t(guard.message) for guard in o.failing))
                    for o in options if o.failing)
    return steps, blocked


def _form_slots(ctx: Context, case: Case, actor: Actor, records: Mapping[str, FormRecord],
                every: Sequence[FormRecord], facts: Any, reader: Reader) -> tuple[FormSlot, ...]:
    d = ctx.definition
    keys = [d.intake.form] + [u.key for u in d.form_uses.values() if u.editors and u.key != d.intake.form]
    revisions = _revisions(every)
    slots = []
    for key in keys:
        record = records.get(key)
        editable = ctx.engine.edit_refusal(key, facts, actor) is None
        if record is None and not editable:
            continue
        slots.append(FormSlot(
            key=key, label=reader.t(d.form(key).label),
            status_label=reader.status(key, record.status if record else "none"),
            revision=record.revision if record else 0, readable=ctx.engine.can_read(key, actor.relations),
            editable=editable, revisions=tuple(revisions.get(key, ())),
        ))
    return tuple(slots)


def _revisions(every: Sequence[FormRecord]) -> dict[str, list[int]]:
    """The revisions of each form, oldest first (`every`: the case's records in revision order)."""
    found: dict[str, list[int]] = {}
    for row in every:
        found.setdefault(row.form_key, []).append(row.revision)
    return found


def _timeline(ctx: Context, case: Case, actor: Actor, every: Sequence[FormRecord],
              reader: Reader) -> tuple[EventView, ...]:

    d = ctx.definition
    team = is_team(ctx, actor.relations)
    mine = set() if team else referral_subjects(ctx, case)
    by_id = {row.id: row for row in every}  # an event's record is one of the case's: no statement per event
    events = ctx.session.scalars(
        select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.seq.desc())
    )
    views = []
    for event in events:
        role = d.roles.get(event.actor_role)
        who = f"{reader.t(role.label) if role else event.actor_role} · {event.actor_node.short_name}"
        details: tuple[FieldView, ...] = ()
        record = None
        if event.form_record_id is not None:
            record = by_id.get(event.form_record_id) or event.form_record
        if event.subject and not team and event.subject not in mine:
            continue  # a node there through a referral sees its own referral's steps, not the others'
        if event.kind == "transition" and record is not None and ctx.engine.can_read(record.form_key, actor.relations):
            values = open_values(ctx, case, record)
            form = d.form(record.form_key, record.form_version)
            only = ctx.engine.readable_sections(record.form_key, actor.relations)
            details = tuple(reader.value(f, values.get(f.key)) for section in form.sections
                            if only is None or section.key in only
                            for f in section.fields if values.get(f.key) not in (None, ""))
        views.append(EventView(
            when=reader.local(event.occurred_at), actor=who, text=_event_text(ctx, event, reader),
            change=_change_text(ctx, event, reader), details=details,
        ))
    return tuple(views)


def _event_text(ctx: Context, event: CaseEvent, reader: Reader) -> str:
    d = ctx.definition
    if event.kind == "intake":
        return reader.t(Text("Envió la {form}", "Filed the {form}").format(form=reader.t(d.form(event.action).label)))
    if event.kind in NETWORK_EVENTS:

        return event_text(ctx, event, reader.language)
    if event.kind == "meeting":
        from .meetings import event_text as meeting_text

        return meeting_text(event.action, reader.language)
    if event.kind == "form_saved":
        revision = event.form_record.revision if event.form_record else 0
        return reader.t(Text("Guardó: {form} (revisión {revision})", "Saved: {form} (revision {revision})").format(
            form=reader.t(d.form(event.action).label), revision=revision))
    try:
        return reader.t(d.transition(event.action).label)
    except KeyError:
        return event.action


def _change_text(ctx: Context, event: CaseEvent, reader: Reader) -> str:
    if event.to_state is None or event.from_state == event.to_state or event.kind in NETWORK_EVENTS:
        return ""
    machine = ctx.definition.machine(event.machine) if event.machine in ctx.definition.tracks or not event.machine else None
    if machine is None:
        return ""

    def label(state: str | None) -> str:
        return reader.t(machine.states[state].label) if state in machine.states else (state or "")

    prefix = f"{reader.t(machine.label)}: " if machine.key else ""
    return f"{prefix}{label(event.from_state)} → {label(event.to_state)}" if event.from_state else f"{prefix}{label(event.to_state)}"


def form_revision(ctx: Context, user: User, reference: str, form_key: str, revision: int | None,
                  language: str) -> tuple[Case, FormView | None]:
    """One revision (default: the current one) of a form the user may read; None if not yet written."""
    case, actor = open_case(ctx, user, reference)
    if form_key not in ctx.definition.forms:
        raise CaseNotFound(NO_SUCH_FORM)
    if not ctx.engine.can_read(form_key, actor.relations):
        raise AccessDenied()
    query = select(FormRecord).where(FormRecord.case_id == case.id, FormRecord.form_key == form_key)
    query = query.where(FormRecord.revision == revision) if revision is not None else query.where(FormRecord.current)
    record = ctx.session.scalar(query)
    if record is None:
        if revision is not None:
            raise CaseNotFound()
        return case, None
    only = ctx.engine.readable_sections(form_key, actor.relations)
    return case, Reader(ctx, language).form(record, open_values(ctx, case, record), only)


def editable_values(ctx: Context, user: User, reference: str, form_key: str) -> tuple[Case, FormDef, dict[str, Any]]:
    """The definition and current values to pre-fill an edit form with (decrypted for its editor)."""
    case, actor = open_case(ctx, user, reference)
    if form_key not in ctx.definition.forms:
        raise CaseNotFound(NO_SUCH_FORM)
    records = current_records(ctx, case)
    refusal = ctx.engine.edit_refusal(form_key, facts_for(ctx, case, records), actor)
    if refusal is not None:
        raise refusal
    record = records.get(form_key)
    if record is None:
        return case, ctx.definition.form(form_key), {}
    form = ctx.definition.form(record.form_key, record.form_version if record.status in ("draft", "returned") else None)
    return case, form, open_values(ctx, case, record)


def prefill_values(ctx: Context, user: User, reference: str, transition: Transition) -> tuple[Case, dict[str, Any]]:
    """For a transition that updates a record (`prefill`): the current revision of its form, if the user
    may read it, to open the form filled; else nothing."""
    case, actor = open_case(ctx, user, reference)
    if not transition.prefill or transition.form is None or not ctx.engine.can_read(transition.form, actor.relations):
        return case, {}
    if ctx.engine.readable_sections(transition.form, actor.relations) is not None:
        return case, {}  # a reader of some sections only would otherwise see the rest in the form
    record = current_records(ctx, case).get(transition.form)
    return case, open_values(ctx, case, record) if record is not None else {}


def return_comments(ctx: Context, case: Case, form_key: str, language: str) -> tuple[FieldView, ...]:
    """The comments of the latest return of `form_key`, if it is currently returned."""
    d = ctx.definition
    keys = [t.key for m in d.machines() for t in m.transitions.values()
            if any(e.kind == "return_form" and e.form == form_key for e in t.effects) and t.form]
    if not keys:
        return ()
    event = ctx.session.scalar(
        select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.action.in_(keys))
        .order_by(CaseEvent.seq.desc()).limit(1)
    )
    if event is None or event.form_record is None:
        return ()
    reader = Reader(ctx, language)
    record = event.form_record
    values = open_values(ctx, case, record)
    form = d.form(record.form_key, record.form_version)
    return tuple(reader.value(f, values.get(f.key)) for f in form.fields())
