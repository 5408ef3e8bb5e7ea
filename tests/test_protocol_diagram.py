"""`/protocolo` draws each machine of the workflow as a server-side SVG state diagram (issue 19, item 5):
every state and transition of any definition, who may fire each, escaped, accessible, no script or style."""

from __future__ import annotations

import dataclasses
import html
import re
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from referral.workflow import Text, WorkflowDefinition, load_definition
from referral.workflow.definition import Machine
from referral.workflow.diagram import _graph, _layers, _order, _place, _who_letters, machine_svg, who_text
from tests.workflow.test_engine import REPAIRS_FORMS, REPAIRS_WORKFLOW

ROOT = Path(__file__).resolve().parents[1]
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def chile() -> WorkflowDefinition:
    return load_definition(ROOT / "workflows" / "chile")


@pytest.fixture
def repairs(tmp_path: Path) -> WorkflowDefinition:
    folder = tmp_path / "workflows" / "repairs"
    (folder / "forms").mkdir(parents=True)
    (folder / "workflow.yaml").write_text(REPAIRS_WORKFLOW, encoding="utf-8")
    for name, text in REPAIRS_FORMS.items():
        (folder / "forms" / name).write_text(textwrap.dedent(text), encoding="utf-8")
    return load_definition(folder)


def parsed(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # noqa: S314 (our own output, parsed to prove it is well-formed XML)


def titles(root: ET.Element, cls: str) -> list[str]:
    return [g.findtext(f"{SVG}title") or "" for g in root.iter(f"{SVG}g") if cls in (g.get("class") or "").split()]


def assert_draws_everything(d: WorkflowDefinition, machine: Machine, language: str) -> None:
    root = parsed(machine_svg(d, machine, language))
    states = titles(root, "wf-state")
    assert len(states) == len(machine.states)
    for state, title in zip(machine.states.values(), states, strict=True):
        assert title.split("\n")[0] == state.label.get(language)
    moving = titles(root, "wf-transition")
    stays = [t for t in machine.transitions.values() if t.stays]
    assert len(moving) == len(machine.transitions) - len(stays)
    every_title = "\n".join(states + moving)
    letters = _who_letters(machine)
    for t in machine.transitions.values():
        who = who_text(d, t.permits, language)
        assert who, t.key
        # each transition, with who may fire it, in a title: once if it moves the case, once per state if not
        expected = len(t.sources) if t.stays else 1
        assert every_title.count(f"{t.label.get(language)}") >= expected, t.key
        assert who in every_title, t.key
        # and on the drawing: the label (wrapped) and the letter the legend spells out
        assert f"[{letters[t.permits]}] {who}" in " ".join(_legend(root)), t.key
    written = " ".join(el.text or "" for el in root.iter(f"{SVG}text"))
    for state in machine.states.values():
        assert " ".join(state.label.get(language).split()) in written


def _legend(root: ET.Element) -> list[str]:
    lines = [el.text or "" for el in root.iter(f"{SVG}text") if "wf-legend" in (el.get("class") or "").split()]
    joined: list[str] = []
    for line in lines:  # continuation lines are indented
        if line.startswith("    ") and joined:
            joined[-1] += " " + line.strip()
        else:
            joined.append(line)
    return joined


def test_every_state_and_transition_of_the_chilean_case_and_its_tracks_is_drawn(chile: WorkflowDefinition) -> None:
    assert len(chile.main.states) >= 10 and len(chile.tracks) >= 3
    for machine in chile.machines():
        assert_draws_everything(chile, machine, "es")
    assert_draws_everything(chile, chile.main, "en")


def test_a_workflow_of_another_domain_is_drawn_by_the_same_code(repairs: WorkflowDefinition) -> None:
    for machine in repairs.machines():
        assert_draws_everything(repairs, machine, "es")
    root = parsed(machine_svg(repairs, repairs.main, "es"))
    closed = [g.findtext(f"{SVG}title") for g in root.iter(f"{SVG}g") if "wf-closed" in (g.get("class") or "").split()]
    assert closed == ["Repaired", "Declined"]  # closed states are marked (a double border)
    initial = [g.findtext(f"{SVG}title") for g in root.iter(f"{SVG}g") if "wf-initial" in (g.get("class") or "").split()]
    assert initial == ["Received"]
    assert len(titles(root, "wf-start")) == 1  # the start dot, with its arrow into the initial state
    appeal = parsed(machine_svg(repairs, repairs.tracks["appeal"], "es"))
    # a track starts from nothing: the start dot leads to its starting transition
    assert any(t.startswith("Lodge an appeal: de inicio a Lodged.") for t in titles(appeal, "wf-transition"))


def test_who_may_fire_groups_the_relations_of_each_role(chile: WorkflowDefinition) -> None:
    who = who_text(chile, chile.main.transitions["cerrar"].permits, "es")
    gestor, coordinator = who.split("; ")
    assert gestor.startswith(chile.roles["gestor"].label.es) and chile.relations["nodo_lider"].label.es in gestor
    assert coordinator.count(",") == 1  # one role, its two relations
    assert chile.relations["punto_focal"].label.es in coordinator


def test_labels_are_data_and_are_escaped(repairs: WorkflowDefinition) -> None:
    machine = repairs.main
    states = dict(machine.states)
    states["received"] = dataclasses.replace(states["received"], label=Text('Recibida <b>"Ñ"</b> & co'))
    transitions = dict(machine.transitions)
    transitions["inspect"] = dataclasses.replace(transitions["inspect"], label=Text("Inspect </svg><script>x</script>"))
    hostile = dataclasses.replace(machine, states=states, transitions=transitions)
    svg = machine_svg(repairs, hostile, "es", id_prefix='x" onload="y')
    assert "<b>" not in svg and "<script>" not in svg and "</svg><" not in svg
    assert "&lt;b&gt;&quot;Ñ&quot;&lt;/b&gt; &amp; co" in svg
    assert 'onload="' not in svg
    root = parsed(svg)  # still well-formed
    assert titles(root, "wf-state")[0] == 'Recibida <b>"Ñ"</b> & co'
    assert any("</svg><script>" in t for t in titles(root, "wf-transition"))


def test_the_drawing_is_deterministic_accessible_and_needs_no_style_or_script(chile: WorkflowDefinition) -> None:
    first = machine_svg(chile, chile.main, "es", "diagram-0")
    assert first == machine_svg(chile, chile.main, "es", "diagram-0")
    root = parsed(first)
    assert root.get("role") == "img" and root.get("aria-labelledby") == "diagram-0-title diagram-0-desc"
    assert root.findtext(f"{SVG}title") == "Diagrama de estados: " + chile.main.label.es
    assert "10 estados" in (root.findtext(f"{SVG}desc") or "")
    assert not [el for el in root.iter() if "style" in el.attrib or el.tag in (f"{SVG}script", f"{SVG}style")]
    assert not re.search(r"\son[a-z]+=", first)  # no event handler attributes
    # the page's own rules (`.state` is a case's state badge) must not reach into the drawing
    classes = {c for el in root.iter() for c in (el.get("class") or "").split()}
    assert classes and all(c.startswith("wf-") for c in classes - {"workflow-diagram"}), classes
    markers = {el.get("marker-end") for el in root.iter(f"{SVG}path")} - {None}
    assert markers == {"url(#diagram-0-arrow)"}  # ids are the caller's, unique per diagram on the page


@pytest.mark.parametrize("key", ["", "residencia", "causa_penal", "retorno"])
def test_the_layout_keeps_boxes_apart_and_layers_in_order(chile: WorkflowDefinition, key: str) -> None:
    machine = chile.machine(key)
    graph = _graph(chile, machine, "es", _who_letters(machine))
    layers = _layers(graph)
    _order(graph, layers)
    _place(graph, layers)
    for layer in layers:
        nodes = [graph.nodes[k] for k in layer]
        for left, right in zip(nodes, nodes[1:], strict=False):
            assert left.right < right.left, (left.key, right.key)  # no overlap, order kept
    tops = [min(graph.nodes[k].top for k in layer) for layer in layers]
    assert tops == sorted(tops)
    # forward arrows point down: a transition that moves forward sits between its sources and its target
    ranks = {k[2:]: graph.nodes[k].layer for k in graph.nodes if k.startswith("s:")}
    for t in machine.transitions.values():
        if not t.stays and all(s is not None and ranks[s] < ranks[t.target] for s in t.sources):
            assert graph.nodes[f"t:{t.key}"].layer == ranks[t.target] - 1


def test_the_ordering_removes_crossings_it_can(chile: WorkflowDefinition) -> None:
    """Barycentre sweeps keep the order with the fewest crossings: never more than the first order."""
    from referral.workflow.diagram import _crossings, _segments

    for machine in chile.machines():
        graph = _graph(chile, machine, "es", _who_letters(machine))
        layers = _layers(graph)
        below: dict[str, list[str]] = {}
        for upper, lower in _segments(graph):
            below.setdefault(upper, []).append(lower)
        before = _crossings(layers, below)
        _order(graph, layers)
        after = _crossings(layers, below)
        assert after <= before
        if machine.key == "":
            assert after < before  # the case machine, in definition order, has crossings the sweeps remove


def test_the_protocol_page_shows_one_diagram_per_machine(app: Any, make_browser: Any) -> None:
    definition = app.extensions["referral.protocol"].definition
    auditor = make_browser()
    auditor.login("auditor")
    response = auditor.get("/protocolo")
    page = response.text
    svgs = re.findall(r"<svg\b.*?</svg>", page, flags=re.S)
    assert len(svgs) == 1 + len(definition.tracks)
    for n, svg in enumerate(svgs):
        root = parsed(svg)
        assert root.get("aria-labelledby") == f"diagram-{n}-title diagram-{n}-desc"
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    # the text list stays beside the drawing
    assert "<h3>Transiciones</h3>" in page and html.escape(definition.main.transitions["cerrar"].label.es) in page


def test_the_protocol_page_is_still_for_signed_in_users_only(app: Any, make_browser: Any) -> None:
    anonymous = make_browser()
    response = anonymous.get("/protocolo")
    assert response.status_code == 302 and "/ingresar" in response.headers["Location"]
    assert "<svg" not in response.text
