"""The request's unit of work around a view's service call (referral/web/unit.py `attempt`): what it commits,
what it leaves behind when the service refuses or fails, what the user is told."""

from __future__ import annotations

from typing import Any

import pytest
from flask import get_flashed_messages
from flask_wtf import FlaskForm
from sqlalchemy import text
from wtforms import StringField

from referral.kernel.errors import CaseError, InvalidInput
from referral.web.context import current_ctx
from referral.web.unit import attempt
from referral.workflow import Text

from .backends import both_backends

pytestmark = both_backends


class _Form(FlaskForm):
    class Meta:
        csrf = False

    name = StringField()


class _Again(CaseError):
    pass


def _rows() -> int:
    return int(current_ctx().session.execute(text("SELECT count(*) FROM t_unit")).scalar_one())


def _write() -> None:
    current_ctx().session.execute(text("INSERT INTO t_unit (v) VALUES (1)"))


@pytest.fixture
def request_ctx(app: Any) -> Any:
    with app.test_request_context("/", method="POST"):
        session = current_ctx().session
        session.execute(text("CREATE TABLE IF NOT EXISTS t_unit (v integer)"))
        session.execute(text("DELETE FROM t_unit"))
        session.commit()
        yield
        session.rollback()
        session.execute(text("DROP TABLE t_unit"))
        session.commit()


def test_a_returned_call_is_committed_and_said(request_ctx: Any) -> None:
    with attempt(done="Guardado.") as outcome:
        _write()
    current_ctx().session.rollback()  # nothing pending: the row is there because it was committed
    assert outcome.ok and outcome.finished and _rows() == 1
    assert get_flashed_messages(with_categories=True) == [("success", "Guardado.")]


def test_invalid_input_writes_nothing_and_every_message_reaches_the_user(request_ctx: Any) -> None:
    form = _Form()
    with attempt(form) as outcome:
        _write()
        raise InvalidInput({"name": [Text("Falta el nombre.", "Name missing.")],
                            "elsewhere": [Text("Otro problema.", "Another problem.")]})
    assert not outcome.ok and not outcome.finished and _rows() == 0
    assert form.name.errors == ["Falta el nombre."]  # on its field
    assert get_flashed_messages(with_categories=True) == [("error", "Otro problema.")]  # no field: flashed, not lost


REFUSAL = {"name": [Text("Falta el nombre.", "Name missing.")]}


def test_invalid_input_may_be_left_to_the_caller(request_ctx: Any) -> None:
    with attempt(report=False) as quiet:  # the dynamic forms render outcome.errors themselves
        raise InvalidInput(REFUSAL)
    assert quiet.errors == REFUSAL and get_flashed_messages() == []


def test_invalid_input_may_be_said_in_the_views_words(request_ctx: Any) -> None:
    refusal = REFUSAL
    with attempt(invalid="No se guardó.") as said:
        raise InvalidInput(refusal)
    assert said.errors == refusal and get_flashed_messages() == ["No se guardó."]


def test_a_second_click_writes_nothing_and_is_told_as_such(request_ctx: Any) -> None:
    with attempt(already={_Again: "Ya estaba hecho."}) as outcome:
        _write()
        raise _Again()
    assert isinstance(outcome.already, _Again) and outcome.finished and not outcome.ok and _rows() == 0
    assert get_flashed_messages(with_categories=True) == [("info", "Ya estaba hecho.")]


def test_any_other_failure_writes_nothing_and_reaches_the_error_pages(request_ctx: Any) -> None:
    with pytest.raises(ZeroDivisionError), attempt(_Form(), done="Guardado."):
        _write()
        _ = 1 / 0
    assert _rows() == 0 and get_flashed_messages() == []
