"""What a user sees of a case's referrals, consents and emergency accesses: plain view models.

A node that takes part in a case only through a referral sees that referral alone (not the others,
not the consents); the case team (detecting node, focal point, national coordination, lead node)
sees them all. Sealed notes are opened only for those who see the row.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select

from ..auth.models import User
from ..kernel.access import open_case
from ..kernel.errors import AccessDenied
from ..kernel.models import Case, FormRecord
from ..kernel.records import case_referrals, current_records, details_cell, facts_for, open_values
from ..clocks.models import RUNNING, CaseClock
from ..clocks.wording import deadline, time_left, urgency
from ..country import is_child
from ..context import Context
from ..kernel.keystore import open_cell
from ..network.directory import ORG_TYPES
from ..network.models import Node
from ..workflow import Actor, CaseFacts, Text, TransitionRefused
from ..workflow.guidance import PendingAnswer
from ..workflow.network import RECEIVER, FormSource, ReferralsDef, check_send, options, permitted
from .consent import is_live
from ..kernel.referral_models import Consent, EmergencyAccess, Referral
from .service import open_details, party_of

NO_ANSWER = Text("Sin respuesta", "No answer yet")


@dataclass(frozen=True)
class ActionLink:
    key: str
    label: str
    style: str
    needs_reason: bool
    confirm: str = ""  # destructive: the consequence its page asks to confirm


@dataclass(frozen=True)
class ReferralRow:
    id: str
    reference: str
    kind_label: str
    service_label: str
    from_node: str
    to_node: str
    state: str
    state_label: str
    live: bool
    created_at: str
    due_on: str
    answer_reason: str
    consent_label: str
    override: bool
    notes: tuple[tuple[str, str], ...]  # (label, text), only for those who may read them
    actions: tuple[ActionLink, ...]
    deadline: str = ""
    deadline_urgency: str = ""
    child: bool = False


@dataclass(frozen=True)
class ConsentRow:
    id: str
    given_by: str
    scope: str
    given_on: str
    valid_until: str
    evidence: str
    live: bool
    revoked_at: str
    note: str


@dataclass(frozen=True)
class KindLink:
    key: str
    label: str
    help: str


@dataclass(frozen=True)
class CaseNetwork:
    referrals: tuple[ReferralRow, ...]
    consents: tuple[ConsentRow, ...] | None  # None: this node may not see the consents
    kinds: tuple[KindLink, ...]  # kinds of referral the user may send now
    may_record_consent: bool
    emergency_until: str  # the user's node reads the case through an emergency access until then


def _local(ctx: Context, moment: dt.datetime | None) -> str:
    return moment.astimezone(ctx.timezone).strftime("%d-%m-%Y %H:%M") if moment else ""


def _date(day: dt.date | None) -> str:
    return day.strftime("%d-%m-%Y") if day else ""


def is_team(ctx: Context, relations: frozenset[str]) -> bool:
    """Whether the node takes part in the case beyond a referral (an emergency access reads it all)."""
    return bool(relations - ctx.definition.network.referral_relations())


def referral_subjects(ctx: Context, case: Case) -> set[str]:
    """Ids of the referrals to or from the acting node (what a node there by referral may follow)."""
    node_id = ctx.keyholder
    return {str(r.id) for r in case_referrals(ctx, case) if node_id in (r.to_node_id, r.from_node_id)}


def event_text(ctx: Context, event: Any, language: str) -> str:
    """The timeline's words for a step of a referral, a consent or an emergency access (no free text)."""
    d = ctx.definition
    r = d.network.referrals
    if event.kind == "referral" and r is not None:
        referral = ctx.session.get(Referral, uuid.UUID(event.subject)) if event.subject else None
        kind = r.kinds.get(event.machine)
        service = d.network.services.get(referral.service or "") if referral else None
        what = (kind.label.get(language) if kind else event.machine) + (
            f" ({service.label.get(language)})" if service else "")
        to = referral.to_node.short_name if referral else ""
        state = r.states.get(event.to_state or "")
        state_label = state.label.get(language) if state else (event.to_state or "")
        if event.from_state is None:
            return Text("{what} a {to}: enviada", "{what} to {to}: sent").format(what=what, to=to).get(language)
        return Text("{what} a {to}: {state}", "{what} to {to}: {state}").format(
            what=what, to=to, state=state_label).get(language)
    if event.kind == "consent" and d.network.consent is not None:
        scope = d.network.consent.scopes.get(event.action.partition(".")[2])
        label = scope.get(language) if scope else event.action
        if event.to_state == "revocado":
            return Text("Consentimiento revocado: {scope}", "Consent revoked: {scope}").format(scope=label).get(language)
        return Text("Consentimiento registrado: {scope}", "Consent recorded: {scope}").format(scope=label).get(language)
    if event.kind == "emergency_access":
        if event.to_state == "terminado":
            return Text("Terminó su acceso de emergencia", "Ended their emergency access").get(language)
        return Text("Acceso de emergencia (romper el vidrio)", "Emergency access (break the glass)").get(language)
    return str(event.action)


def referral_row(ctx: Context, case: Case, referral: Referral, user: User, actor: Actor, language: str,
                 *, notes: bool = True) -> ReferralRow:
    d = ctx.definition
    r = d.network.referrals
    assert r is not None
    kind = r.kinds.get(referral.kind)
    state = r.states.get(referral.state)
    service = d.network.services.get(referral.service or "")
    reason = ""
    if referral.answer_reason:
        for codes in r.reasons.values():
            if referral.answer_reason in codes:
                reason = codes[referral.answer_reason].get(language)
                break
    consent_label = ""
    if referral.consent_id is not None:
        consent_label = Text("Con consentimiento registrado", "With recorded consent").get(language)
    elif referral.override_reason and d.network.consent:
        label = d.network.consent.override_reasons.get(referral.override_reason)
        consent_label = Text("Sin consentimiento: ", "Without consent: ").get(language) + (
            label.get(language) if label else referral.override_reason)
    texts: list[tuple[str, str]] = []
    if notes and referral.details is not None:
        labels = {"note": Text("Nota para el nodo", "Note to the node"),
                  "override": Text("Motivo para derivar sin consentimiento", "Reason to refer without consent")}
        team = is_team(ctx, actor.relations)
        for key, value in open_details(ctx, case, referral).items():
            if key == "override" and not team:
                continue  # why consent was overridden is the case team's (and the auditors' reason code)
            label = labels.get(key)
            if label is None and key.startswith("answer_") and key[7:] in r.transitions:
                label = r.transitions[key[7:]].label
            texts.append(((label or Text(key)).get(language), str(value)))
    party = party_of(user, actor, referral)
    actions = () if referral.ended_at is not None else tuple(
        ActionLink(t.key, t.label.get(language), "secondary destructive" if t.confirm else t.style,
                   t.reasons is not None, t.confirm.get(language) if t.confirm else "")
        for t in options(d, referral.kind, referral.state, party))
    return ReferralRow(
        id=str(referral.id), reference=case.reference, kind_label=kind.label.get(language) if kind else referral.kind,
        service_label=service.label.get(language) if service else "", from_node=referral.from_node.short_name,
        to_node=referral.to_node.short_name, state=referral.state,
        state_label=state.label.get(language) if state else referral.state, live=bool(state and state.live
                                                                                      and referral.ended_at is None),
        created_at=_local(ctx, referral.created_at), due_on=_date(referral.due_on), answer_reason=reason,
        consent_label=consent_label, override=referral.consent_id is None and bool(referral.override_reason),
        notes=tuple(texts), actions=actions, child=is_child(d, case.flags),
    )


def case_network(ctx: Context, user: User, case: Case, actor: Actor, language: str,
                 facts: CaseFacts | None = None) -> CaseNetwork:
    """The case page's referral section for this user (the case is already open for them; `facts`,
    if the caller has them, spare decrypting the case's forms again)."""
    d = ctx.definition
    team = is_team(ctx, actor.relations)
    rows = tuple(referral_row(ctx, case, r, user, actor, language) for r in case_referrals(ctx, case)
                 if team or user.node_id in (r.to_node_id, r.from_node_id))
    consents = None
    rules = d.network.consent
    if team and rules is not None:
        consents = tuple(_consent_row(ctx, case, c, is_live(ctx, c), language) for c in ctx.session.scalars(
            select(Consent).where(Consent.case_id == case.id).order_by(Consent.created_at.desc())))
    kinds = []
    if d.network.referrals is not None:
        facts = facts_for(ctx, case) if facts is None else facts
        for kind in d.network.referrals.kinds.values():
            service = None if kind.transfers else (d.network.kind_services(kind) or (None,))[0]
            try:
                check_send(d, kind.key, service, facts, user.role, actor.relations)
            except TransitionRefused:
                continue
            kinds.append(KindLink(kind.key, kind.label.get(language), kind.help.get(language) if kind.help else ""))
    emergency = None
    spec = d.network.emergency_access
    # Only a node holding the emergency relation reads the case through an access: a grant gives its node that
    # relation, expiring with the access, and ending the access ends it (referral/referrals/emergency.py).
    if spec is not None and spec.relation in actor.relations:
        emergency = ctx.session.scalar(select(EmergencyAccess.expires_at).where(
            EmergencyAccess.case_id == case.id, EmergencyAccess.node_id == user.node_id, EmergencyAccess.active,
            EmergencyAccess.expires_at > ctx.now()).order_by(EmergencyAccess.expires_at.desc()).limit(1))
    return CaseNetwork(rows, consents, tuple(kinds),
                       bool(rules and permitted(rules.by, user.role, actor.relations)),
                       _local(ctx, emergency))


def _consent_row(ctx: Context, case: Case, consent: Consent, live: bool, language: str) -> ConsentRow:
    rules = ctx.definition.network.consent
    assert rules is not None
    scope = rules.scopes[consent.scope].get(language) if consent.scope in rules.scopes else consent.scope
    if consent.scope == "nodo" and consent.node is not None:
        scope = f"{scope}: {consent.node.short_name}"
    elif consent.scope == "tipo_nodo" and consent.org_type:
        kind = ORG_TYPES.get(consent.org_type)
        scope = f"{scope}: {kind.get(language) if kind else consent.org_type}"
    note = ""
    if consent.details is not None:
        value = open_cell(ctx, case, consent.details, details_cell("consents", consent.id))
        note = str(value.get("note", "")) if isinstance(value, dict) else ""
    return ConsentRow(
        id=str(consent.id), given_by=rules.given_by[consent.given_by].get(language) if consent.given_by in rules.given_by
        else consent.given_by, scope=scope, given_on=_date(consent.given_on), valid_until=_date(consent.valid_until),
        evidence=rules.evidence[consent.evidence].get(language) if consent.evidence in rules.evidence else consent.evidence,
        live=live, revoked_at=_local(ctx, consent.revoked_at), note=note)


def referral_detail(ctx: Context, user: User, reference: str, referral_id: uuid.UUID,
                    language: str) -> tuple[Case, ReferralRow, int]:
    """One referral for a user who may see it (a party, or the case team)."""
    from .service import ReferralNotFound

    case, actor = open_case(ctx, user, reference)
    referral = ctx.session.get(Referral, referral_id)
    if referral is None or referral.case_id != case.id:
        raise ReferralNotFound()
    if not is_team(ctx, actor.relations) and user.node_id not in (referral.to_node_id, referral.from_node_id):
        raise AccessDenied()
    return case, referral_row(ctx, case, referral, user, actor, language), case.version


# -- the node's referrals: what needs my action -----------------------------------------------------


@dataclass(frozen=True)
class MyReferrals:
    received: tuple[ReferralRow, ...]  # to my node, live: pending (needs my answer) first
    sent: tuple[ReferralRow, ...]  # from my node, live


def my_referrals(ctx: Context, user: User, language: str) -> MyReferrals:
    """Live referrals to and from the user's node, with their answer or action deadline."""
    r = ctx.definition.network.referrals
    if r is None:
        return MyReferrals((), ())
    live = r.live_states()
    received, sent = [], []
    now = ctx.now()
    rows = list(ctx.session.scalars(select(Referral).where(
        Referral.state.in_(live), Referral.ended_at.is_(None),
        (Referral.to_node_id == user.node_id) | (Referral.from_node_id == user.node_id)
    ).order_by(Referral.created_at).limit(500)))
    clocks = {c.subject: c for c in ctx.session.scalars(select(CaseClock).where(
        CaseClock.subject.in_([str(x.id) for x in rows]), CaseClock.status == RUNNING).order_by(CaseClock.due_at.desc()))}
    sent_at: dict[str, dt.datetime] = {}
    for referral in rows:
        sent_at[str(referral.id)] = referral.created_at
        case = ctx.session.get(Case, referral.case_id)
        if case is None:
            continue
        try:
            case, actor = open_case(ctx, user, case.reference)
        except AccessDenied:  # no access any more (e.g. a sender that has left the case): not listed
            continue
        row = referral_row(ctx, case, referral, user, actor, language, notes=False)
        clock = clocks.get(str(referral.id))
        if clock is not None:
            row = _with_deadline(row, ctx, clock, now, language)
        (received if referral.to_node_id == user.node_id else sent).append(row)
    received.sort(key=lambda x: (x.state != r.initial, sent_at[x.id]))  # waiting for us, oldest first
    return MyReferrals(tuple(received), tuple(sent))


def _with_deadline(row: ReferralRow, ctx: Context, clock: CaseClock, now: dt.datetime, language: str) -> ReferralRow:
    from dataclasses import replace

    return replace(row, deadline=f"{deadline(clock.due_at, ctx.timezone)} · {time_left(clock.due_at, now).get(language)}",
                   deadline_urgency=urgency(clock.started_at, clock.due_at, now))


def pending_query(ctx: Context, user: User) -> Select[tuple[int]] | None:
    """The count of referrals waiting for an answer from the user's node, as a statement; None: no referrals."""
    from sqlalchemy import func

    r = ctx.definition.network.referrals
    if r is None:
        return None
    return select(func.count()).select_from(Referral).where(
        Referral.to_node_id == user.node_id, Referral.state == r.initial, Referral.ended_at.is_(None))


def pending_for(ctx: Context, user: User) -> int:
    """How many referrals wait for an answer from the user's node (the navigation's badge)."""
    query = pending_query(ctx, user)
    return 0 if query is None else int(ctx.session.scalar(query) or 0)


# -- the auditors' list of exceptions ----------------------------------------------------------------


@dataclass(frozen=True)
class ExceptionRow:
    when: str
    kind: str
    case: str  # the case's name for the auditor's scope (never its reference)
    role: str
    node_type: str
    reason: str
    until: str


def exceptions(ctx: Context, language: str, scope: int, limit: int = 500) -> tuple[ExceptionRow, ...]:
    """Emergency accesses and referrals without consent: who (role, node type), when, why (a code's label).

    Never a name and never the typed explanation (it may name the person): auditors read the reason
    category; the case team reads the explanation on the case. A case is named as on the auditors'
    timelines (its pseudonym for the auditor's scope), never by its reference."""
    from ..audit.service import pseudonym
    from ..stats.pseudonyms import scoped

    def name(case_id: uuid.UUID) -> str:
        return scoped(ctx, scope, pseudonym(ctx, case_id))

    d = ctx.definition
    rows: list[tuple[dt.datetime, ExceptionRow]] = []
    spec = d.network.emergency_access
    for access, node in ctx.session.execute(select(EmergencyAccess, Node).join(Node, Node.id == EmergencyAccess.node_id)
                                            .order_by(EmergencyAccess.granted_at.desc()).limit(limit)):
        role = d.roles.get(access.user_role)
        reason = spec.reasons.get(access.reason) if spec else None
        rows.append((access.granted_at, ExceptionRow(
            _local(ctx, access.granted_at), Text("Acceso de emergencia", "Emergency access").get(language),
            name(access.case_id), role.label.get(language) if role else access.user_role, node.org_type,
            reason.get(language) if reason else access.reason, _local(ctx, access.ended_at or access.expires_at))))
    rules = d.network.consent
    for referral, role_key in ctx.session.execute(
            select(Referral, User.role).join(User, User.id == Referral.created_by_user_id)
            .where(Referral.consent_id.is_(None), Referral.override_reason.is_not(None))
            .order_by(Referral.created_at.desc()).limit(limit)):
        label = rules.override_reasons.get(referral.override_reason or "") if rules else None
        role = d.roles.get(role_key)
        rows.append((referral.created_at, ExceptionRow(
            _local(ctx, referral.created_at), Text("Derivación sin consentimiento", "Referral without consent")
            .get(language), name(referral.case_id), role.label.get(language) if role else role_key,
            referral.from_node.org_type, label.get(language) if label else str(referral.override_reason), "")))
    rows.sort(key=lambda item: item[0], reverse=True)
    return tuple(row for _, row in rows[:limit])


# -- rows of a form that ask for a service (the plan's actions) ---------------------------------------


@dataclass(frozen=True)
class ReferLink:
    label: str  # «Alojamiento · 30-11-2026 · <node short name>»
    kind: str
    service: str
    due: str  # ISO date, or ""
    node: str  # node id, or ""


def _row_referral(referrals: list[Referral], kind: str, service: Any, node: str) -> Referral | None:
    """The newest referral of this kind and service (to the row's node, when the row names one)."""
    return next((r for r in referrals if r.kind == kind and r.service == service
                 and (not node or str(r.to_node_id) == node)), None)


@dataclass(frozen=True)
class RowState:
    label: str  # «Alojamiento o casa de acogida · <node short name>»
    state: str  # the referral's state, or the typed one, or «Sin derivar»
    referred: bool  # True: the state is the referral's


@dataclass(frozen=True)
class _FormRows:
    referrals_def: ReferralsDef
    source: FormSource
    case: Case
    actor: Actor
    record: FormRecord
    referrals: list[Referral]


def _form_rows(ctx: Context, user: User, reference: str, form_key: str) -> _FormRows | None:
    """The case, the current record of a form whose rows ask for referrals, and the case's referrals
    (newest first); None when the form's rows refer nothing or the form has no record yet."""
    r = ctx.definition.network.referrals
    source = r.from_forms.get(form_key) if r else None
    if source is None:
        return None
    case, actor = open_case(ctx, user, reference)
    record = current_records(ctx, case).get(form_key)
    if record is None:
        return None
    return _FormRows(r, source, case, actor, record, list(case_referrals(ctx, case)))


NOT_REFERRED = Text("Sin derivar y sin estado registrado", "Not referred and no state recorded")


def row_states(ctx: Context, user: User, reference: str, form_key: str, language: str) -> tuple[RowState, ...]:
    """For each row of the form's current revision that asks for a service, its state: the state of the
    newest referral made for it (same kind, service and node), else the state typed into the row. Only
    the case team sees them (a node that takes part through one referral sees that referral alone)."""
    found = _form_rows(ctx, user, reference, form_key)
    if found is None or not is_team(ctx, found.actor.relations):
        return ()
    r, source, case, record, referrals = found.referrals_def, found.source, found.case, found.record, found.referrals
    services = ctx.definition.network.services
    group = next((f for f in ctx.definition.form(record.form_key, record.form_version).fields()
                  if f.key == source.group), None)
    typed = next((f for f in group.fields if f.key == source.state), None) if group and source.state else None
    rows = []
    for row in open_values(ctx, case, record).get(source.group) or []:
        service = row.get(source.service)
        node_raw = str(row.get(source.node) or "") if source.node else ""
        node = ctx.session.get(Node, int(node_raw)) if node_raw.isdigit() else None
        label = " · ".join([services[service].label.get(language) if service in services else str(service)]
                           + ([node.short_name] if node else []))
        referral = _row_referral(referrals, source.kind, service, node_raw)
        if referral is not None:
            rows.append(RowState(label, r.states[referral.state].label.get(language), True))
            continue
        value = row.get(source.state) if source.state else None
        choice = next((c for c in (typed.choices if typed else ()) if c.value == value), None)
        rows.append(RowState(label, choice.label.get(language) if choice else NOT_REFERRED.get(language), False))
    return tuple(rows)


def refer_links(ctx: Context, user: User, reference: str, form_key: str, language: str) -> tuple[ReferLink, ...]:
    """For each row of the form's current revision that asks for a referable service, a link to the
    finder with its service, date and node filled in, if the user may send that referral now."""
    found = _form_rows(ctx, user, reference, form_key)
    if found is None:
        return ()
    r, source, case, record, referrals = found.referrals_def, found.source, found.case, found.record, found.referrals
    actor = found.actor
    facts = facts_for(ctx, case)
    services = ctx.definition.network.services
    links = []
    for row in open_values(ctx, case, record).get(source.group) or []:
        service = row.get(source.service)
        earlier = _row_referral(referrals, source.kind, service, str(row.get(source.node) or "") if source.node else "")
        if earlier is not None and r.states[earlier.state].live:
            continue  # already referred and under way: its state is shown instead
        try:
            check_send(ctx.definition, source.kind, service, facts, user.role, actor.relations)
        except TransitionRefused:
            continue
        due = row.get(source.due) if source.due else None
        node_raw = str(row.get(source.node) or "") if source.node else ""
        node = ctx.session.get(Node, int(node_raw)) if node_raw.isdigit() else None
        parts = [services[service].label.get(language)] + ([_date(due)] if isinstance(due, dt.date) else []) + (
            [node.short_name] if node else [])
        links.append(ReferLink(" · ".join(parts), source.kind, service,
                               due.isoformat() if isinstance(due, dt.date) else "", str(node.id) if node else ""))
    return tuple(links)


def pending_answers(ctx: Context, user: User, case: Case, actor: Actor) -> list[PendingAnswer]:
    """The moves the user's node may make, as the receiving end, on live referrals sent to it (its
    answer, then its follow-through): what the case page's «Acciones disponibles» offers it."""
    d = ctx.definition
    r = d.network.referrals
    if r is None:
        return []
    found = []
    live = set(r.live_states())
    for referral in reversed(case_referrals(ctx, case)):  # oldest first
        if referral.to_node_id != user.node_id or referral.ended_at is not None or referral.state not in live:
            continue
        kind = r.kinds.get(referral.kind)
        service = d.network.services.get(referral.service or "")
        what = kind.label if kind else Text(referral.kind)
        if service is not None:
            what = Text(f"{what.es} ({service.label.es})", f"{what.get('en')} ({service.label.get('en')})")
        found += [PendingAnswer(str(referral.id), t, referral.state, what)
                  for t in options(d, referral.kind, referral.state, party_of(user, actor, referral))
                  if any(p.relation == RECEIVER for p in t.by)]
    return found
