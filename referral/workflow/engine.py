"""The generic engine: may this actor fire this transition on a case with these facts?

Pure functions over a WorkflowDefinition; no database, no Flask, no knowledge of any country.
The service layer gathers the facts (states, forms, flags) and the actor (role and the relations
of the actor's node to the case), asks the engine, and applies what it allows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .definition import Guard, Machine, Notice, Transition, WorkflowDefinition
from .errors import TransitionRefused
from .predicates import CaseFacts
from .text import Text


@dataclass(frozen=True)
class Actor:
    """Who acts: a role, and the relations of the actor's node to the case (detecting, lead, ...)."""

    role: str
    relations: frozenset[str]


@dataclass(frozen=True)
class Option:
    """A transition the actor is permitted to fire from the current state; `refusal` if a guard fails
    (the first), `failing` every guard that fails now (all the prerequisites missing, at once)."""

    transition: Transition
    refusal: TransitionRefused | None
    failing: tuple[Guard, ...] = ()


class Engine:
    def __init__(self, definition: WorkflowDefinition):
        self.definition = definition
        self.fact_forms = _forms_read_by_conditions(definition)
        self.reviewed_forms = frozenset(
            e.form for m in definition.machines() for t in m.transitions.values() for e in t.effects
            if e.kind in ("approve_form", "return_form")
        )

    # -- questions ------------------------------------------------------------------------------

    def check(self, key: str, facts: CaseFacts, actor: Actor,
              values: Mapping[str, Any] | None = None) -> Transition:
        """Return the transition if it may fire now; raise TransitionRefused saying why not.

        `values` are the typed values of the transition's form; None means not typed yet, and
        conditions on them are then left open.
        """
        try:
            transition = self.definition.transition(key)
        except KeyError:
            raise TransitionRefused("unknown", Text("Acción desconocida.", "Unknown action.")) from None
        self._check_permitted(transition, actor)
        self._check_source(transition, facts)
        self._check_guards(transition, facts, values)
        return transition

    def options(self, facts: CaseFacts, actor: Actor) -> list[Option]:
        """Every transition this actor may fire from the case's current states, guards evaluated."""
        found = []
        for machine in self.definition.machines():
            for transition in machine.transitions.values():
                if not self._permitted(transition, actor) or not self._source_ok(transition, facts):
                    continue
                failing = self.failing_guards(transition, facts, None)
                refusal = TransitionRefused("guard", failing[0].message) if failing else None
                found.append(Option(transition, refusal, failing))
        return found

    @staticmethod
    def failing_guards(transition: Transition, facts: CaseFacts,
                       values: Mapping[str, Any] | None) -> tuple[Guard, ...]:
        """Every guard of the transition that fails now, in the definition's order (not only the first):
        what is missing before it may fire. A guard on input not typed yet is open, not failing."""
        return tuple(guard for guard in transition.guards if guard.check.evaluate(facts, values) is False)

    def edit_refusal(self, form_key: str, facts: CaseFacts, actor: Actor) -> TransitionRefused | None:
        """None if the actor may edit the form now, else why not."""
        use = self.definition.form_uses.get(form_key)
        label = self.definition.form(form_key).label
        if use is None or not any(p.role == actor.role and p.relation in actor.relations for p in use.editors):
            return TransitionRefused("forbidden", Text(
                f"Su rol y la relación de su nodo con el caso no permiten editar «{label.es}».",
                f"Your role and your node's relation to the case do not allow editing «{label.get('en')}».",
            ))
        if use.editable_when is not None and use.editable_when.evaluate(facts, None) is not True:
            return TransitionRefused("state", Text(
                f"«{label.es}» no se puede editar en la etapa actual del caso.",
                f"«{label.get('en')}» cannot be edited at the case's current stage.",
            ))
        record = facts.forms.get(form_key)
        if record is not None and record.status == "submitted" and form_key in self.reviewed_forms:
            return TransitionRefused("state", Text(
                f"«{label.es}» está enviado y espera revisión; no se puede editar hasta que sea aprobado o devuelto.",
                f"«{label.get('en')}» was submitted and awaits review; it cannot be edited until approved or returned.",
            ))
        return None

    def can_read(self, form_key: str, relations: frozenset[str]) -> bool:
        use = self.definition.form_uses.get(form_key)
        return bool(relations) and (use is None or not use.readers or bool(relations & set(use.readers)))

    def readable_sections(self, form_key: str, relations: frozenset[str]) -> frozenset[str] | None:
        """The sections of a form these relations may read; None means all of them.

        A relation listed under the form's `sections` reads only those; if any other relation of the
        node reads the whole form, the node reads it whole."""
        use = self.definition.form_uses.get(form_key)
        if use is None or not use.sections:
            return None
        whole = {r for r in relations if use.readers and r in use.readers and r not in use.sections}
        if whole or not use.readers:
            return None
        allowed: set[str] = set()
        for relation in relations:
            allowed.update(use.sections.get(relation, ()))
        return frozenset(allowed)

    def flags(self, facts: CaseFacts) -> dict[str, bool]:
        """The case's flags (e.g. child case, urgent) computed from its forms."""
        return {key: flag.when.evaluate(facts, None) is True for key, flag in self.definition.flags.items()}

    def notices(self, facts: CaseFacts, relations: frozenset[str]) -> list[Notice]:
        """The warnings these relations are shown on the case now."""
        return [n for n in self.definition.notices.values()
                if relations & set(n.relations) and n.when.evaluate(facts, None) is True]

    def priority(self, flags: Mapping[str, bool]) -> int:
        return sum(flag.priority for key, flag in self.definition.flags.items() if flags.get(key))

    # -- parts ----------------------------------------------------------------------------------

    @staticmethod
    def _permitted(transition: Transition, actor: Actor) -> bool:
        return any(p.role == actor.role and p.relation in actor.relations for p in transition.permits)

    def _check_permitted(self, transition: Transition, actor: Actor) -> None:
        if self._permitted(transition, actor):
            return
        role = self.definition.roles.get(actor.role)
        role_label = role.label if role else Text(actor.role)
        raise TransitionRefused("forbidden", Text(
            f"Su rol ({role_label.es}) y la relación de su nodo con el caso no permiten «{transition.label.es}».",
            f"Your role ({role_label.get('en')}) and your node's relation to the case do not allow "
            f"«{transition.label.get('en')}».",
        ))

    def _machine(self, transition: Transition) -> Machine:
        return self.definition.machine(transition.machine)

    def _current(self, transition: Transition, facts: CaseFacts) -> str | None:
        return facts.state if transition.machine == "" else facts.tracks.get(transition.machine)

    def _source_ok(self, transition: Transition, facts: CaseFacts) -> bool:
        if self._current(transition, facts) not in transition.sources:
            return False
        machine = self._machine(transition)
        if None in transition.sources and machine.available_when is not None:
            return machine.available_when.evaluate(facts, None) is True
        if transition.available_when is not None:  # e.g. a step that exists for child cases only
            return transition.available_when.evaluate(facts, None) is True
        return True

    def _check_source(self, transition: Transition, facts: CaseFacts) -> None:
        if self._source_ok(transition, facts):
            return
        machine = self._machine(transition)
        current = self._current(transition, facts)
        label = transition.label
        if transition.available_when is not None and current in transition.sources:
            raise TransitionRefused("state", Text(f"«{label.es}» no corresponde a este caso.",
                                                  f"«{label.get('en')}» does not apply to this case."))
        if current is None:
            raise TransitionRefused("state", Text(
                f"«{label.es}» no es posible ahora: {machine.label.es} no está disponible para este caso.",
                f"«{label.get('en')}» is not possible now: {machine.label.get('en')} is not available for this case.",
            ))
        state = machine.states[current].label if current in machine.states else Text(current)
        where = Text("el caso", "the case") if not machine.key else machine.label
        raise TransitionRefused("state", Text(
            f"«{label.es}» no es posible cuando {where.es} está en «{state.es}».",
            f"«{label.get('en')}» is not possible while {where.get('en')} is «{state.get('en')}».",
        ))

    def _check_guards(self, transition: Transition, facts: CaseFacts, values: Mapping[str, Any] | None) -> None:
        failing = self.failing_guards(transition, facts, values)
        if failing:
            refused = TransitionRefused("guard", failing[0].message)
            refused.reasons = tuple(guard.message for guard in failing)
            raise refused


def _forms_read_by_conditions(d: WorkflowDefinition) -> frozenset[str]:
    """Forms whose values some condition reads: only these need decrypting to decide."""
    predicates = [g.check for m in d.machines() for t in m.transitions.values() for g in t.guards]
    predicates += [f.when for f in d.flags.values()]
    predicates += [n.when for n in d.notices.values()]
    predicates += [m.available_when for m in d.machines() if m.available_when is not None]
    predicates += [u.editable_when for u in d.form_uses.values() if u.editable_when is not None]
    predicates += [c.when for c in d.clocks.values() if c.when is not None]
    predicates += [e.when for m in d.machines() for t in m.transitions.values() for e in t.effects
                   if e.when is not None]
    return frozenset(name.split(".")[0] for p in predicates for kind, name in p.references() if kind == "field")
