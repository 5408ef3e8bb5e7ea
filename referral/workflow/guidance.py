"""Which steps of a case are this user's next ones, ranked: the case page's «Acciones disponibles».

Pure, from the definition and the case's facts (no role is named here): what the user may do now
(the engine's options whose guards hold), what blocks a step the user may fire (its failing guards
name forms and referrals: writing that form, recording it, or sending that referral is the way on),
and the referrals waiting for the user's node to answer. Destructive or final steps (`confirm` in
the definition) always come last and are never the primary step.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from .definition import Guard, WorkflowDefinition
from .engine import Option
from .network import ReferralTransition
from .predicates import CaseFacts
from .text import Text

# kinds of step
TRANSITION, EDIT, ANSWER, REFER = "transition", "edit", "answer", "refer"
# ranks, first shown first; a step ranked up to PREREQUISITE may be the user's primary step
RANK_ANSWER, RANK_PRIMARY, RANK_PREREQUISITE, RANK_OTHER, RANK_FINAL = range(5)

WRITE = Text("Redactar: {form}", "Write: {form}")
CORRECT = Text("Corregir: {form} (devuelto con comentarios)", "Correct: {form} (returned with comments)")
REFER_TO = Text("Derivar: {kind}", "Refer: {kind}")


@dataclass(frozen=True)
class Step:
    kind: str  # TRANSITION, EDIT, ANSWER or REFER
    key: str  # a transition, form, referral transition or referral kind key
    label: Text
    rank: int
    confirm: Text | None = None  # destructive: the consequence the user confirms on the step's own page
    has_form: bool = False  # a transition with an input form
    subject: str = ""  # an answer's referral id
    needed_for: tuple[Text, ...] = ()  # the blocked steps this one clears the way for

    @property
    def leads(self) -> bool:
        """Whether this step can be the user's primary one (her own work, not destructive)."""
        return self.rank <= RANK_PREREQUISITE and self.confirm is None


@dataclass(frozen=True)
class PendingAnswer:
    """A move the user's node may make on a referral sent to it (gathered by the service layer)."""

    subject: str  # the referral's id
    transition: ReferralTransition
    state: str  # the referral's state
    what: Text  # the referral's kind and service, for the label


@dataclass(frozen=True)
class _Needs:
    """What the failing guards of the user's blocked steps refer to, and which steps they block."""

    forms: Mapping[str, tuple[Text, ...]]
    kinds: Mapping[str, tuple[Text, ...]]
    services: Mapping[str, tuple[Text, ...]]


def next_steps(d: WorkflowDefinition, options: Sequence[Option], facts: CaseFacts, editable: Iterable[str],
               answers: Sequence[PendingAnswer] = (), sendable: Iterable[str] = ()) -> tuple[Step, ...]:
    """The user's steps, ranked: answers owed by her node, her primary steps, what clears the way for a
    step she cannot take yet, her other steps, and last the destructive ones. Stable within a rank
    (the definition's order)."""
    needs = _needs(option for option in options if option.failing)
    steps = [_answer(d, answer) for answer in answers]
    steps += [_transition(option, needs) for option in options if not option.failing]
    steps += [step for form in editable if (step := _edit(d, form, facts, needs)) is not None]
    steps += [step for kind in sendable if (step := _refer(d, kind, needs)) is not None]
    return tuple(sorted(steps, key=lambda step: step.rank))


def _needs(blocked: Iterable[Option]) -> _Needs:
    forms: dict[str, list[Text]] = {}
    kinds: dict[str, list[Text]] = {}
    services: dict[str, list[Text]] = {}
    for option in blocked:
        for kind, name in _references(option.failing):
            target = {"form": forms, "field": forms, "referral_kind": kinds, "service": services}.get(kind)
            if target is None:
                continue
            labels = target.setdefault(name.split(".")[0] if kind == "field" else name, [])
            if option.transition.label not in labels:
                labels.append(option.transition.label)
    return _Needs(*({k: tuple(v) for k, v in found.items()} for found in (forms, kinds, services)))


def _fill(words: Text, **values: Text) -> Text:
    """`words` with its {placeholders} filled, each language with its own words."""
    return Text(words.es.format(**{k: v.es for k, v in values.items()}),
                words.get("en").format(**{k: v.get("en") for k, v in values.items()}))


def _references(guards: Iterable[Guard]) -> Iterable[tuple[str, str]]:
    for guard in guards:
        yield from guard.check.references()


def _answer(d: WorkflowDefinition, answer: PendingAnswer) -> Step:
    t = answer.transition
    referrals = d.network.referrals
    owed = referrals is not None and answer.state == referrals.initial
    rank = RANK_FINAL if t.confirm else RANK_ANSWER if owed else RANK_OTHER
    label = _fill(Text("{action}: {what}", "{action}: {what}"), action=t.label, what=answer.what)
    return Step(ANSWER, t.key, label, rank, t.confirm, has_form=True, subject=answer.subject)


def _transition(option: Option, needs: _Needs) -> Step:
    t = option.transition
    needed_for = needs.forms.get(t.form or "", ())
    if t.confirm is not None:
        rank = RANK_FINAL
    elif needed_for:
        rank = RANK_PREREQUISITE  # it records what a blocked step needs (e.g. a communication)
    else:
        rank = RANK_PRIMARY if t.style == "primary" else RANK_OTHER
    return Step(TRANSITION, t.key, t.label, rank, t.confirm, has_form=t.form is not None, needed_for=needed_for)


def _edit(d: WorkflowDefinition, form: str, facts: CaseFacts, needs: _Needs) -> Step | None:
    """Writing a form the user may edit now, when a step she may not take yet waits for it."""
    needed_for = needs.forms.get(form, ())
    if not needed_for:
        return None
    record = facts.forms.get(form)
    words = CORRECT if record is not None and record.status == "returned" else WRITE
    return Step(EDIT, form, _fill(words, form=d.form(form).label), RANK_PREREQUISITE, needed_for=needed_for)


def _refer(d: WorkflowDefinition, kind_key: str, needs: _Needs) -> Step | None:
    """Sending a referral of this kind, when a step the user may not take yet waits for one."""
    referrals = d.network.referrals
    if referrals is None or kind_key not in referrals.kinds:
        return None
    kind = referrals.kinds[kind_key]
    needed_for = needs.kinds.get(kind_key, ()) + tuple(
        label for service in d.network.kind_services(kind) for label in needs.services.get(service, ()))
    if not needed_for:
        return None
    return Step(REFER, kind_key, _fill(REFER_TO, kind=kind.label), RANK_PREREQUISITE,
                needed_for=tuple(dict.fromkeys(needed_for)))
