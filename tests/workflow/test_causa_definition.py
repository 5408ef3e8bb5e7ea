"""The definition keys the causa penal brought (issue 15): a `pattern` field rule with the example its error
shows, `links` on one identifying text field, `notices` only to relations that may read what they say, and
`prefill` only on a transition with a form. Each is refused at load with a message naming the element."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from referral.workflow import load_definition

from ..definitions import CHILE, Mutation, assert_names, copy_of_chile, refusal_of, rewritten, setter

NOW = dt.datetime(2026, 11, 18, 12, 0)
RUC_RULE = 'rules: {pattern: "[0-9]{10}-[0-9Kk]", pattern_example: "2300123456-7"}'


def causa_transition(*path: Any, value: Any) -> Mutation:
    return setter("tracks", "causa_penal", "transitions", *path, value=value)


INVALID = [
    pytest.param(setter("links", "causa_penal", "field", value="certificacion_victima"),
                 ["links.causa_penal", "one identifying text field, not a choice"],
                 id="a link on a low-cardinality field"),
    pytest.param(setter("links", "causa_penal", "field", value="rol"),
                 ["links.causa_penal", "unknown field 'rol'"],
                 id="a link on an unknown field"),
    pytest.param(setter("links", "causa_penal", "count_visible_to", value=["fiscalia"]),
                 ["links.causa_penal", "unknown relation 'fiscalia'"],
                 id="a link counted for an unknown relation"),
    pytest.param(setter("notices", "no_punibilidad", "relations", value=["nodo_lider", "derivacion_alojamiento"]),
                 ["notice 'no_punibilidad'", "['derivacion_alojamiento'] may not read form 'causa_penal'"],
                 id="a notice to a relation that may not read the form it speaks of"),
    pytest.param(setter("notices", "no_punibilidad", "relations", value=[]),
                 ["notice 'no_punibilidad'", "name the relations"],
                 id="a notice to nobody"),
    pytest.param(setter("notices", "no_punibilidad", "when", value={"field": "causa_penal.punible", "equals": True}),
                 ["notice 'no_punibilidad'", "punible"],
                 id="a notice on an unknown field"),
    pytest.param(causa_transition("actualizar_causa", "prefill", value="si"),
                 ["actualizar_causa.prefill", "true or false"],
                 id="a prefill that is not a boolean"),
    pytest.param(causa_transition("actualizar_causa", "form", value=None),
                 ["actualizar_causa.prefill", "only a transition with a form"],
                 id="a prefill without a form"),
]


@pytest.mark.parametrize(("mutate", "fragments"), INVALID)
def test_a_broken_link_notice_or_prefill_is_refused_and_named(tmp_path: Path, mutate: Mutation,
                                                               fragments: list[str]) -> None:
    assert_names(refusal_of(rewritten(tmp_path, mutate)), *fragments)


@pytest.mark.parametrize(("rule", "fragments"), [
    pytest.param('rules: {pattern: "[0-9]{10}-[0-9Kk]", pattern_example: "23-1"}',
                 ["(ruc)", "pattern_example '23-1' does not match"], id="an example the pattern refuses"),
    pytest.param('rules: {pattern: "[0-9", pattern_example: "2300123456-7"}',
                 ["(ruc)", "not a regular expression"], id="a pattern that is no regular expression"),
    pytest.param('rules: {pattern: "[0-9]{10}-[0-9Kk]"}',
                 ["(ruc)", "'pattern' and 'pattern_example' go together"], id="a pattern without its example"),
])
def test_a_broken_pattern_rule_is_refused_and_named(tmp_path: Path, rule: str, fragments: list[str]) -> None:
    folder = copy_of_chile(tmp_path)
    path = folder / "forms" / "causa_penal.v1.yaml"
    text = path.read_text(encoding="utf-8")
    assert RUC_RULE in text, "update the test: the RUC rule moved"
    path.write_text(text.replace(RUC_RULE, rule), encoding="utf-8")
    assert_names(refusal_of(folder), *fragments)


@pytest.mark.parametrize(("typed", "fine"), [
    ("2300417852-7", True), ("2300417852-K", True), ("2300417852-k", True), (" 2300417852-7 ", True),
    ("2300417852", False), ("230041785-27", False), ("23004178521-7", False), ("2300417852-X", False),
    ("RUC 2300417852-7", False), ("2300417852-7\n1", False),
])
def test_the_ruc_format_is_checked_and_the_error_never_repeats_what_was_typed(typed: str, fine: bool) -> None:
    form = load_definition(CHILE).form("causa_penal")
    problems = form.problems({"ruc": typed}, NOW, final=False)
    if fine:
        assert "ruc" not in problems
    else:
        (message,) = problems["ruc"]
        assert message.es == "El formato no es válido; debe ser como 2300123456-7."
        assert typed.strip() not in message.es and typed.strip() not in message.en
