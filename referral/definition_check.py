"""Definitions and data stay in step (issue 19, item 4).

The database names keys of the workflow definition: the case's state and its `workflow_version`, each
track and its state, each form and the version a record was filled in, each clock, each relation a node
holds, each referral kind and state, each worklist. When the loaded definition no longer has one of them
(a state renamed, a form version removed), pages and sweeps would fail one case at a time, later.

`stored_key_problems` compares them at once, in one GROUP BY statement per table (its cost grows with the
number of distinct keys, not of cases), and `create_app` refuses to start on any problem
(`startup_message`). `rename_keys` is what `flask --app wsgi workflow migrate` runs: it renames stored keys
in the caller's transaction with UPDATE statements (no row is loaded) and stamps the cases with the
loaded definition's version once nothing is left to fix.

History is not checked: the timeline (`case_events`) and the audit log keep the words of their time, and
both are read with a fallback to the stored key. A rename still carries over to `case_events` (the same
state under a new name), never to the audit log, whose hash chain forbids any change.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import case, func, inspect, select, update
from sqlalchemy.orm import Session

from .kernel.models import Case, CaseEvent, FormRecord, IntakeDraft, Participant, Track, WorklistEntry
from .clocks.models import CaseClock, Notification
from .kernel.referral_models import Referral
from .stats.models import CaseStat
from .workflow import WorkflowDefinition

MIGRATE_COMMAND = "flask --app wsgi workflow migrate"


@dataclass(frozen=True)
class Problem:
    """A key stored in the database that the loaded definition does not have."""

    kind: str  # workflow | version | state | track | track_state | form | form_version | clock | relation
    #            | referral_kind | referral_state | inbox
    key: str  # as stored ("residencia.otorgada" for a track's state, "plan v3" for a form version)
    where: str  # table.column
    rows: int

    def __str__(self) -> str:
        rows = f"{self.rows} row{'s' if self.rows != 1 else ''}"
        if self.kind == "version":
            return f"{self.where}: {rows} written under definition version {self.key}"
        if self.kind == "workflow":
            return f"{self.where}: {rows} belong to workflow '{self.key}'"
        return f"{self.where}: {self.kind.replace('_', ' ')} '{self.key}' ({rows}) is not in the loaded definition"


# -- the check --------------------------------------------------------------------------------------


def stored_key_problems(session: Session, d: WorkflowDefinition) -> list[Problem]:
    """Every stored definition key the loaded definition lacks, with where it is stored and how many rows.

    Eleven statements at most (one per table, each a GROUP BY over its key columns); a table the database
    does not have yet (an older schema) is skipped."""
    tables = set(inspect(session.connection()).get_table_names())
    problems: list[Problem] = []
    for check in _CHECKS:
        if check.table in tables:
            problems.extend(check.run(session, d))
    return problems


def key_problems(problems: Sequence[Problem]) -> list[Problem]:
    """The problems that name a missing key (not only an older version or another workflow's name)."""
    return [p for p in problems if p.kind not in ("version", "workflow")]


def startup_message(problems: Sequence[Problem], d: WorkflowDefinition) -> str:
    lines = [f"the database holds keys the loaded workflow definition ('{d.key}' version {d.version}) does not "
             "have, or cases written under another version:"]
    lines += [f"  - {p}" for p in problems]
    lines.append(f"If the definition renamed them, run `{MIGRATE_COMMAND} --rename-state OLD=NEW ...` (see "
                 f"`{MIGRATE_COMMAND} --help`; `flask --app wsgi workflow check` lists the problems); if the "
                 "definition is the wrong one, start with the right REFERRAL_WORKFLOW. Only a changed version "
                 f"(nothing missing): `{MIGRATE_COMMAND} --yes` confirms it.")
    return "\n".join(lines)


Query = Callable[[Session, WorkflowDefinition], list[Problem]]


@dataclass(frozen=True)
class _Check:
    table: str
    run: Query


def _cases(session: Session, d: WorkflowDefinition) -> list[Problem]:
    rows = session.execute(select(Case.workflow, Case.workflow_version, Case.state, func.count())
                           .group_by(Case.workflow, Case.workflow_version, Case.state)).all()
    found: list[Problem] = []
    workflows: dict[str, int] = {}
    versions: dict[int, int] = {}
    states: dict[str, int] = {}
    for workflow, version, state, count in rows:
        if workflow != d.key:
            workflows[workflow] = workflows.get(workflow, 0) + count
        if version != d.version:
            versions[version] = versions.get(version, 0) + count
        if state not in d.main.states:
            states[state] = states.get(state, 0) + count
    found += [Problem("workflow", k, "cases.workflow", n) for k, n in sorted(workflows.items())]
    found += [Problem("version", str(k), "cases.workflow_version", n) for k, n in sorted(versions.items())]
    found += [Problem("state", k, "cases.state", n) for k, n in sorted(states.items())]
    return found


def _tracks(session: Session, d: WorkflowDefinition) -> list[Problem]:
    found = []
    for track, state, count in session.execute(select(Track.track, Track.state, func.count())
                                               .group_by(Track.track, Track.state).order_by(Track.track, Track.state)):
        if track not in d.tracks:
            found.append(Problem("track", track, "case_tracks.track", count))
        elif state not in d.tracks[track].states:
            found.append(Problem("track_state", f"{track}.{state}", "case_tracks.state", count))
    return _merged(found)


def _forms(model: type[FormRecord] | type[IntakeDraft], table: str) -> Query:
    def run(session: Session, d: WorkflowDefinition) -> list[Problem]:
        found = []
        for key, version, count in session.execute(
                select(model.form_key, model.form_version, func.count())
                .group_by(model.form_key, model.form_version).order_by(model.form_key, model.form_version)):
            if key not in d.forms:
                found.append(Problem("form", key, f"{table}.form_key", count))
            elif version not in d.forms[key]:
                found.append(Problem("form_version", f"{key} v{version}", f"{table}.form_version", count))
        return _merged(found)
    return run


def _single(column: Any, where: str, kind: str, known: Callable[[WorkflowDefinition], Mapping[str, Any]]) -> Query:
    """One column's distinct values against the keys the definition has (`known(d)`)."""
    def run(session: Session, d: WorkflowDefinition) -> list[Problem]:
        keys = known(d)
        return [Problem(kind, value, where, count) for value, count in session.execute(
            select(column, func.count()).group_by(column).order_by(column)) if value not in keys]
    return run


def _referrals(session: Session, d: WorkflowDefinition) -> list[Problem]:
    spec = d.network.referrals
    kinds = set(spec.kinds) if spec else set()
    states = set(spec.states) if spec else set()
    found = []
    for kind, state, relation, count in session.execute(
            select(Referral.kind, Referral.state, Referral.relation, func.count())
            .group_by(Referral.kind, Referral.state, Referral.relation)
            .order_by(Referral.kind, Referral.state, Referral.relation)):
        if kind not in kinds:
            found.append(Problem("referral_kind", kind, "referrals.kind", count))
        if state not in states:
            found.append(Problem("referral_state", state, "referrals.state", count))
        if relation not in d.relations:
            found.append(Problem("relation", relation, "referrals.relation", count))
    return _merged(found)


def _worklists(session: Session, d: WorkflowDefinition) -> list[Problem]:
    found = []
    for inbox, state, count in session.execute(
            select(WorklistEntry.inbox, WorklistEntry.state, func.count())
            .group_by(WorklistEntry.inbox, WorklistEntry.state).order_by(WorklistEntry.inbox, WorklistEntry.state)):
        if inbox not in d.inboxes:
            found.append(Problem("inbox", inbox, "worklist_entries.inbox", count))
        if state not in d.main.states:
            found.append(Problem("state", state, "worklist_entries.state", count))
    return _merged(found)


def _merged(found: list[Problem]) -> list[Problem]:
    """One problem per (kind, key, where), rows summed (a key seen in several GROUP BY rows)."""
    total: dict[tuple[str, str, str], int] = {}
    for p in found:
        total[(p.kind, p.key, p.where)] = total.get((p.kind, p.key, p.where), 0) + p.rows
    return [Problem(kind, key, where, rows) for (kind, key, where), rows in total.items()]


_CHECKS: tuple[_Check, ...] = (
    _Check("cases", _cases),
    _Check("case_tracks", _tracks),
    _Check("form_records", _forms(FormRecord, "form_records")),
    _Check("intake_drafts", _forms(IntakeDraft, "intake_drafts")),
    _Check("case_clocks", _single(CaseClock.clock, "case_clocks.clock", "clock", lambda d: d.clocks)),
    _Check("notifications", _single(Notification.clock, "notifications.clock", "clock", lambda d: d.clocks)),
    _Check("case_participants", _single(Participant.relation, "case_participants.relation", "relation",
                                        lambda d: d.relations)),
    _Check("referrals", _referrals),
    _Check("worklist_entries", _worklists),
    _Check("case_stats", _single(CaseStat.state, "case_stats.state", "state", lambda d: d.main.states)),
)


# -- the migration --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Renames:
    """Stored keys to rename: the case's states, a track's states ({track: {old: new}}), clocks, forms."""

    states: Mapping[str, str] = field(default_factory=dict)
    track_states: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    clocks: Mapping[str, str] = field(default_factory=dict)
    forms: Mapping[str, str] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.states or self.track_states or self.clocks or self.forms)


def refusals(renames: Renames, d: WorkflowDefinition) -> list[str]:
    """Renames that cannot be right whatever the data: a new key the definition lacks, an unknown track."""
    wrong = [f"state '{new}' (for '{old}') is not a state of the case" for old, new in renames.states.items()
             if new not in d.main.states]
    for track, mapping in renames.track_states.items():
        if track not in d.tracks:
            wrong.append(f"track '{track}' is not in the loaded definition")
            continue
        wrong += [f"state '{new}' (for '{old}') is not a state of track '{track}'" for old, new in mapping.items()
                  if new not in d.tracks[track].states]
    wrong += [f"clock '{new}' (for '{old}') is not in the loaded definition" for old, new in renames.clocks.items()
              if new not in d.clocks]
    wrong += [f"form '{new}' (for '{old}') is not in the loaded definition" for old, new in renames.forms.items()
              if new not in d.forms]
    return wrong


def rename_keys(session: Session, renames: Renames) -> dict[str, int]:
    """Rename stored keys with UPDATE statements in the caller's transaction; rows changed per table.column.

    Every mapping is applied at once per column (a CASE expression), so swapping two keys works."""
    counts: dict[str, int] = {}

    def run(label: str, statement: Any) -> None:
        changed = session.execute(statement).rowcount  # type: ignore[attr-defined]
        if changed:
            counts[label] = counts.get(label, 0) + changed

    if renames.states:
        states = dict(renames.states)
        for model, label in ((Case, "cases.state"), (WorklistEntry, "worklist_entries.state"),
                             (CaseStat, "case_stats.state")):
            column = model.state  # type: ignore[attr-defined]
            run(label, update(model).where(column.in_(states)).values(
                state=_mapped(column, states)).execution_options(**_BULK))
        for column, label in ((CaseEvent.from_state, "case_events.from_state"),
                              (CaseEvent.to_state, "case_events.to_state")):
            run(label, update(CaseEvent).where(CaseEvent.machine == "", CaseEvent.kind.in_(_CASE_EVENT_KINDS),
                                               column.in_(states))
                .values({column: _mapped(column, states)}).execution_options(**_BULK))
    for track, mapping in renames.track_states.items():
        states = dict(mapping)
        run("case_tracks.state", update(Track).where(Track.track == track, Track.state.in_(states))
            .values(state=_mapped(Track.state, states)).execution_options(**_BULK))
        for column, label in ((CaseEvent.from_state, "case_events.from_state"),
                              (CaseEvent.to_state, "case_events.to_state")):
            run(label, update(CaseEvent).where(CaseEvent.machine == track, CaseEvent.kind == "transition",
                                               column.in_(states))
                .values({column: _mapped(column, states)}).execution_options(**_BULK))
    if renames.clocks:
        clocks = dict(renames.clocks)
        for model, label in ((CaseClock, "case_clocks.clock"), (Notification, "notifications.clock")):
            column = model.clock  # type: ignore[attr-defined]
            run(label, update(model).where(column.in_(clocks)).values(clock=_mapped(column, clocks))
                .execution_options(**_BULK))
    if renames.forms:
        forms = dict(renames.forms)
        for model, label in ((FormRecord, "form_records.form_key"), (IntakeDraft, "intake_drafts.form_key")):
            column = model.form_key  # type: ignore[attr-defined]
            run(label, update(model).where(column.in_(forms)).values(form_key=_mapped(column, forms))
                .execution_options(**_BULK))
        run("case_events.action", update(CaseEvent).where(CaseEvent.kind.in_(("intake", "form_saved")),
                                                          CaseEvent.action.in_(forms))
            .values(action=_mapped(CaseEvent.action, forms)).execution_options(**_BULK))
    return counts


# Bulk statements name no case for the worklists' bookkeeping (referral/cases/worklists.py): the migration
# computes every worklist row again itself, from the renamed data and the loaded definition.
_BULK: dict[str, Any] = {"synchronize_session": False, "worklist_cases": ()}
_CASE_EVENT_KINDS = ("intake", "transition", "form_saved")  # the case machine's own steps (not referrals')


def _mapped(column: Any, mapping: Mapping[str, str]) -> Any:
    return case(mapping, value=column, else_=column)


def stamp_version(session: Session, d: WorkflowDefinition) -> int:
    """Every case now matches the loaded definition: record its key and version on them."""
    result = session.execute(update(Case).where((Case.workflow_version != d.version) | (Case.workflow != d.key))
                             .values(workflow_version=d.version, workflow=d.key)
                             .execution_options(**_BULK))
    return int(result.rowcount)  # type: ignore[attr-defined]
