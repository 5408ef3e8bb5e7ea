"""The request's unit of work around one service call: commit when it returns, roll back when it refuses.

    with attempt(form, done=_("Atención registrada."),
                 already={NoteAlreadyRecorded: _("Esta atención ya había sido registrada.")}) as outcome:
        record_note(ctx, current_user, reference, values, token)
    if outcome.finished:  # committed, or a second click whose first one did it: nothing written by this one
        return redirect(...)

`InvalidInput` is the service saying the values do not pass its rules: the unit is rolled back and
each message goes onto the form field it names (`agreements-0-text` names a field of one row); a message
that names no field of the form is flashed, so no refusal is ever silent. Any other exception rolls the
unit back and propagates (the error pages)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from flask import flash
from flask_wtf import FlaskForm

from ..kernel.errors import CaseError, InvalidInput
from ..workflow import Text
from .context import current_ctx, language
from .form_errors import apply_errors


@dataclass
class Outcome:
    ok: bool = False  # the call returned and the unit was committed
    already: CaseError | None = None  # one of the `already` exceptions: the same action had been done
    errors: Mapping[str, Sequence[Text]] = field(default_factory=dict)  # InvalidInput's, field key -> messages

    @property
    def finished(self) -> bool:
        """Nothing is left to do on this page: the action was done, now or by an earlier click."""
        return self.ok or self.already is not None


@contextmanager
def attempt(form: FlaskForm | None = None, *, done: str | None = None, invalid: str | None = None, report: bool = True,
            already: Mapping[type[CaseError], str] | None = None,
            rename: Callable[[str], str] = lambda key: key) -> Iterator[Outcome]:
    """Run the block as the request's unit of work (see the module's docstring): `done` is flashed when it
    committed; `invalid`, when given, is flashed for an InvalidInput instead of the messages that name no
    field of the form (with `report=False`, nothing is flashed: the caller renders `outcome.errors` itself, as the
    workflow's dynamic forms do); `already` names the exceptions a service raises for an action done before (a second click)
    with what to tell the user; `rename` maps a service's field key onto the form's name for it."""
    session = current_ctx().session
    repeated = tuple(already or ())
    outcome = Outcome()
    try:
        yield outcome
    except InvalidInput as refused:
        session.rollback()
        outcome.errors = {rename(key): messages for key, messages in refused.errors.items()}
        lang = language()
        left = apply_errors(form, outcome.errors, lang) if form is not None else outcome.errors
        if invalid is not None:
            flash(invalid, "error")
        elif report:
            for messages in left.values():
                flash(" ".join(m.get(lang) for m in messages), "error")
    except repeated as before:
        session.rollback()
        outcome.already = before
        flash(next(said for kind, said in (already or {}).items() if isinstance(before, kind)), "info")
    except BaseException:
        session.rollback()
        raise
    else:
        session.commit()
        outcome.ok = True
        if done is not None:
            flash(done, "success")
