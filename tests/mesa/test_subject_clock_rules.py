"""The validator on clocks whose subject is not a case (`subject:` in workflow.yaml, docs/clocks.md): a known kind,
its two parties only, a date given by its service or a duration, nothing about a case's steps."""

from __future__ import annotations

from pathlib import Path

import pytest

from referral.workflow import load_definition
from referral.workflow.clocks import Occurrence, reactions
from referral.workflow.errors import DefinitionError

from ..definitions import CHILE, Mutation, assert_names, refusal_of, rewritten, setter

CLOCK = ("clocks", "acuerdo_mesa_intersectorial")


@pytest.mark.parametrize("mutate,fragments", [
    pytest.param(setter(*CLOCK, "subject", value="otra_cosa"), ["not a kind of subject"], id="an unknown kind"),
    pytest.param(setter(*CLOCK, "remind", value=["punto_focal"]), ["reminds or escalates to"],
                 id="a case relation"),
    pytest.param(setter(*CLOCK, "deadline_from", value="ficha.fecha"), ["subject.due_on"], id="a form's date"),
    pytest.param(setter(*CLOCK, "restarts_on", value={"note_recorded": ["contacto"], "by": ["nodo_lider"]}),
                 ["about a case's steps"], id="restarted by a note"),
])
def test_the_validator_refuses_a_subject_clock_that_cannot_work(tmp_path: Path, mutate: Mutation,
                                                                fragments: list[str]) -> None:
    assert_names(refusal_of(rewritten(tmp_path, mutate)), "acuerdo_mesa_intersectorial", *fragments)


def test_a_subject_clock_has_no_case_events(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError, match="no starts_on"):
        load_definition(rewritten(tmp_path, setter(*CLOCK, "starts_on", value={"enter_state": "detectado"})))


def test_no_step_of_a_case_starts_or_stops_a_subject_clock() -> None:
    chile = load_definition(CHILE)
    closing = reactions(chile, Occurrence("", "seguimiento", "cerrado", "cerrar"))
    opening = reactions(chile, Occurrence("", None, "detectado"))
    for key in ("acuerdo_mesa_intersectorial", "meta_plan_accion", "informe_semestral_plan"):
        assert key not in closing.stops and key not in opening.starts
