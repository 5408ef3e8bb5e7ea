"""A machine of a workflow (the case or one track) drawn as an SVG state diagram, in pure Python.

Layered (Sugiyama-style) layout, deterministic, no Graphviz and no JavaScript:

1. States are ranked by breadth-first search from the start (closed states go to the bottom rank).
2. Every transition that moves the case is a small labelled node on its arrow: the lines from its source
   states meet there and one arrow leaves it for the target, so a transition possible from five states
   is written once. Forward transitions sit just above their target, the others (back to an earlier
   state) just below their lowest source, and their arrow climbs back as a dashed curve. Transitions
   that keep the state (`stay`) are written inside the box of each state they may be fired from (↻).
3. Edges that span several layers get invisible dummy points; a few barycentre sweeps order each layer
   to reduce crossings (the order with the fewest crossings is kept); x positions pull every node
   towards its neighbours without overlaps; edges are drawn as vertical-tangent cubic curves.

Who may fire a transition is written as a letter beside its label ([A]), and the letters are spelled
out (roles and their relations to the case) in a legend under the diagram; every state and transition
also carries a <title>. Labels are data: everything written is XML-escaped. The drawing uses SVG
presentation attributes and classes only (no style attribute, no script), so the page's strict
Content-Security-Policy holds; class names start with `wf-` so that none of the page's own rules (`.state`
is a case's state badge) reaches into the drawing.
"""

from __future__ import annotations

import itertools
import re
import textwrap
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape

from .definition import Machine, Permit, Transition, WorkflowDefinition
from .text import Text

FONT = 12
LINE = 15  # line height
CHAR = 0.58 * FONT  # a generous average glyph width for a sans-serif face
PAD_X, PAD_Y = 10, 7
GAP_X, LAYER_GAP = 22, 26
MARGIN = 16
SWEEPS = 6
WRAP_STATE, WRAP_TRANSITION = 24, 22
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

TITLE = Text("Diagrama de estados: {label}", "State diagram: {label}")
DESC = Text("{states} estados y {transitions} transiciones. La tabla «Transiciones» de esta sección las lista "
            "en texto, con sus condiciones.",
            "{states} states and {transitions} transitions. The “Transitions” table of this section lists them "
            "as text, with their conditions.")
START = Text("inicio", "start")
INITIAL = Text("estado inicial", "initial state")
CLOSED = Text("estado cerrado o final", "closed or final state")
STAY = Text("acción sin cambio de estado", "action that keeps the state")
BACK = Text("vuelve a un estado anterior", "goes back to an earlier state")
WHO = Text("Quién puede", "Who may")
FROM_TO = Text("{label}: de {sources} a {target}. {who}: {permits}", "{label}: from {sources} to {target}. {who}: {permits}")
IN_STATE = Text("{label} (en {state}). {who}: {permits}", "{label} (in {state}). {who}: {permits}")


@dataclass
class _Node:
    key: str
    kind: str  # "state", "transition", "start" or "dummy"
    lines: tuple[str, ...] = ()
    title: str = ""
    classes: str = ""
    layer: int = 0
    width: float = 2.0
    height: float = 2.0
    x: float = 0.0  # centre
    y: float = 0.0  # centre
    bold_lines: int = 0  # the first lines are the label; the rest (stays) are smaller

    @property
    def left(self) -> float:
        return self.x - self.width / 2

    @property
    def right(self) -> float:
        return self.x + self.width / 2

    @property
    def top(self) -> float:
        return self.y - self.height / 2

    @property
    def bottom(self) -> float:
        return self.y + self.height / 2


@dataclass
class _Edge:
    source: str
    target: str
    arrow: bool  # an arrowhead at the target end
    back: bool = False  # returns to a state of an earlier rank (drawn dashed)
    up: bool = False  # climbs to an earlier layer (leaves its label from the side)
    chain: list[str] = field(default_factory=list)  # source, dummies..., target


@dataclass
class _Graph:
    nodes: dict[str, _Node] = field(default_factory=dict)
    edges: list[_Edge] = field(default_factory=list)

    def add(self, node: _Node) -> _Node:
        self.nodes[node.key] = node
        return node


def who_text(d: WorkflowDefinition, permits: Sequence[Permit], language: str) -> str:
    """`Role (Relation, Other relation); Other role (Relation)`: roles in the order
    the definition gives, each with the relations it must hold."""
    by_role: dict[str, list[str]] = {}
    for permit in permits:
        relations = by_role.setdefault(permit.role, [])
        if permit.relation not in relations:
            relations.append(permit.relation)
    return "; ".join(
        f"{d.roles[role].label.get(language) if role in d.roles else role} "
        f"({', '.join(d.relation_label(r).get(language) for r in relations)})"
        for role, relations in by_role.items())


def machine_svg(d: WorkflowDefinition, machine: Machine, language: str, id_prefix: str = "wf") -> str:
    """The machine as one self-contained <svg> element (a string of escaped XML)."""
    prefix = re.sub(r"[^A-Za-z0-9_-]", "-", id_prefix) or "wf"
    letters = _who_letters(machine)
    graph = _graph(d, machine, language, letters)
    layers = _layers(graph)
    _order(graph, layers)
    _place(graph, layers)
    return _render(d, machine, language, graph, layers, letters, prefix)


# -- the graph ------------------------------------------------------------------------------------


def _who_letters(machine: Machine) -> dict[tuple[Permit, ...], str]:
    letters: dict[tuple[Permit, ...], str] = {}
    for t in machine.transitions.values():
        if t.permits not in letters:
            index = len(letters)
            letters[t.permits] = LETTERS[index % 26] + (str(index // 26) if index >= 26 else "")
    return letters


def _wrap(text: str, width: int) -> tuple[str, ...]:
    return tuple(textwrap.wrap(text, width, break_long_words=True, break_on_hyphens=False)) or ("",)


def _ranks(machine: Machine) -> dict[str, int]:
    """Breadth-first rank of each state from the start (rank 0 is the start dot). Closed states go below
    every open one, and the search does not go on through them until the open states reachable without
    reopening are ranked: a reopening step draws as a way back, not as the way forward."""
    successors: dict[str | None, list[str]] = {}
    for t in machine.transitions.values():
        if t.stays:
            continue
        for source in t.sources:
            successors.setdefault(source, []).append(t.target)
    ranks: dict[str, int] = {}
    first = ([machine.initial] if machine.initial is not None else []) + successors.get(None, [])
    queue: deque[tuple[str, int]] = deque((s, 1) for s in first)
    held: list[str] = []  # closed states reached: their successors wait
    while True:
        while queue:
            state, rank = queue.popleft()
            if state in ranks or state not in machine.states:
                continue
            ranks[state] = rank
            if machine.states[state].closed:
                held.append(state)
            else:
                queue.extend((n, rank + 1) for n in successors.get(state, []))
        if not held:
            unranked = [k for k in machine.states if k not in ranks]
            if not unranked:  # every state ranked (the validator refuses unreachable ones; drawn anyway)
                break
            queue.append((unranked[0], max(ranks.values(), default=0) + 1))
            continue
        for state in held:
            queue.extend((n, ranks[state] + 1) for n in successors.get(state, []))
        held = []
    open_ranks = [r for k, r in ranks.items() if not machine.states[k].closed]
    bottom = max(open_ranks, default=0) + 1
    for key, state in machine.states.items():
        if state.closed:
            ranks[key] = max(ranks[key], bottom)
    return ranks


def _graph(d: WorkflowDefinition, machine: Machine, language: str, letters: dict[tuple[Permit, ...], str]) -> _Graph:
    graph = _Graph()
    ranks = _ranks(machine)
    exits = {s for t in machine.transitions.values() if not t.stays for s in t.sources if s is not None}
    stays: dict[str, list[Transition]] = {}
    for t in machine.transitions.values():
        if t.stays:
            for source in t.sources:
                if source is not None:
                    stays.setdefault(source, []).append(t)
    graph.add(_Node("start", "start", title=START.get(language), classes="wf-start", layer=0, width=12, height=12))
    for key, state in machine.states.items():
        label = state.label.get(language)
        lines = _wrap(label, WRAP_STATE)
        extra = tuple(f"↻ {t.label.get(language)} [{letters[t.permits]}]" for t in stays.get(key, ()))
        classes = ["wf-state"]
        if key == machine.initial:
            classes.append("wf-initial")
        if state.closed or key not in exits:
            classes.append("wf-closed")
        titles = [label] + [IN_STATE.format(label=t.label.get(language), state=label, who=WHO.get(language),
                                            permits=who_text(d, t.permits, language)).get(language)
                            for t in stays.get(key, ())]
        wrapped_extra = tuple(line for text in extra for line in _wrap(text, WRAP_STATE + 8))
        node = _Node(f"s:{key}", "state", lines + wrapped_extra, "\n".join(titles), " ".join(classes),
                     layer=2 * ranks[key], bold_lines=len(lines))
        node.width = max(_text_width(line) for line in node.lines) + 2 * PAD_X
        node.height = len(node.lines) * LINE + 2 * PAD_Y
        graph.add(node)
    if machine.initial is not None:
        graph.edges.append(_Edge("start", f"s:{machine.initial}", arrow=True))
    for t in machine.transitions.values():
        if t.stays:
            continue
        source_ranks = [ranks[s] if s is not None else 0 for s in t.sources]
        target_rank = ranks[t.target]
        forward = target_rank > max(source_ranks)
        layer = 2 * target_rank - 1 if forward else 2 * max(source_ranks) + 1
        label = t.label.get(language)
        sources = ", ".join(machine.states[s].label.get(language) if s is not None else START.get(language)
                            for s in t.sources)
        title = FROM_TO.format(label=label, sources=sources, target=machine.states[t.target].label.get(language),
                               who=WHO.get(language), permits=who_text(d, t.permits, language)).get(language)
        lines = _wrap(f"{label} [{letters[t.permits]}]", WRAP_TRANSITION)
        back = target_rank < max(source_ranks)  # to an earlier rank (a step sideways is not a way back)
        node = _Node(f"t:{t.key}", "transition", lines, title, "wf-transition" + (" wf-back" if back else ""),
                     layer=layer, bold_lines=len(lines))
        node.width = max(_text_width(line) for line in lines) + 2 * PAD_X - 4
        node.height = len(lines) * LINE + 6
        graph.add(node)
        for source in t.sources:
            graph.edges.append(_Edge("start" if source is None else f"s:{source}", node.key, arrow=False))
        graph.edges.append(_Edge(node.key, f"s:{t.target}", arrow=True, back=back, up=not forward))
    return graph


def _text_width(text: str) -> float:
    return len(text) * CHAR


# -- layering, order, coordinates -------------------------------------------------------------------


def _layers(graph: _Graph) -> list[list[str]]:
    """Split every edge that spans layers with one dummy per layer crossed; the layers, top first."""
    for number, edge in enumerate(graph.edges):
        upper, lower = graph.nodes[edge.source].layer, graph.nodes[edge.target].layer
        step = 1 if lower > upper else -1
        edge.chain = [edge.source]
        for layer in range(upper + step, lower, step):
            dummy = graph.add(_Node(f"d:{number}:{layer}", "dummy", layer=layer))
            edge.chain.append(dummy.key)
        edge.chain.append(edge.target)
    depth = max(n.layer for n in graph.nodes.values())
    layers: list[list[str]] = [[] for _ in range(depth + 1)]
    for key, node in graph.nodes.items():  # definition order first, dummies in the order of their edges
        layers[node.layer].append(key)
    return layers


def _segments(graph: _Graph) -> list[tuple[str, str]]:
    """(upper, lower) node pairs of adjacent layers, one per piece of every edge."""
    pieces = []
    for edge in graph.edges:
        for a, b in itertools.pairwise(edge.chain):
            pieces.append((a, b) if graph.nodes[a].layer < graph.nodes[b].layer else (b, a))
    return pieces


def _crossings(layers: list[list[str]], below: dict[str, list[str]]) -> int:
    total = 0
    for upper, lower in itertools.pairwise(layers):
        position = {k: i for i, k in enumerate(lower)}
        ends = [(i, position[b]) for i, a in enumerate(upper) for b in below.get(a, ())]
        total += sum(1 for n, (a1, b1) in enumerate(ends) for a2, b2 in ends[n + 1:]
                     if (a1 - a2) * (b1 - b2) < 0)
    return total


def _order(graph: _Graph, layers: list[list[str]]) -> None:
    """Barycentre sweeps down and up; keeps the order with the fewest crossings (stable on ties)."""
    below: dict[str, list[str]] = {}
    above: dict[str, list[str]] = {}
    for upper, lower in _segments(graph):
        below.setdefault(upper, []).append(lower)
        above.setdefault(lower, []).append(upper)
    best = [list(layer) for layer in layers]
    best_count = _crossings(best, below)
    current = [list(layer) for layer in layers]
    for sweep in range(SWEEPS):
        downward = sweep % 2 == 0
        indices = range(1, len(current)) if downward else range(len(current) - 2, -1, -1)
        neighbours = above if downward else below
        for i in indices:
            fixed = current[i - 1] if downward else current[i + 1]
            current[i] = _by_barycentre(current[i], fixed, neighbours)
        count = _crossings(current, below)
        if count < best_count:
            best, best_count = [list(layer) for layer in current], count
    layers[:] = best


def _by_barycentre(layer: list[str], fixed: list[str], neighbours: dict[str, list[str]]) -> list[str]:
    """`layer` sorted by the mean position of each node's neighbours in the `fixed` layer; a node with none
    keeps its place (scaled), ties keep the current order."""
    position = {k: n for n, k in enumerate(fixed)}
    scale = max(len(fixed), 1) / max(len(layer), 1)

    def barycentre(item: tuple[int, str]) -> tuple[float, int]:
        n, key = item
        linked = [position[k] for k in neighbours.get(key, ()) if k in position]
        return (sum(linked) / len(linked) if linked else n * scale, n)

    return [key for _, key in sorted(enumerate(layer), key=barycentre)]


def _place(graph: _Graph, layers: list[list[str]]) -> None:
    """y per layer; x pulled towards the neighbours' mean, never overlapping, order kept."""
    neighbours: dict[str, list[str]] = {}
    for a, b in _segments(graph):
        neighbours.setdefault(a, []).append(b)
        neighbours.setdefault(b, []).append(a)
    y = float(MARGIN)
    for layer in layers:
        height = max((graph.nodes[k].height for k in layer), default=0.0)
        for key in layer:
            graph.nodes[key].y = y + height / 2
        y += height + LAYER_GAP
    for layer in layers:  # packed left to right
        x = float(MARGIN)
        for key in layer:
            node = graph.nodes[key]
            node.x = x + node.width / 2
            x += node.width + GAP_X
    for sweep in range(8):
        order = layers if sweep % 2 == 0 else list(reversed(layers))
        for layer in order:
            nodes = [graph.nodes[k] for k in layer]
            wanted = []
            for node in nodes:
                linked = [graph.nodes[k].x for k in neighbours.get(node.key, ())]
                wanted.append(sum(linked) / len(linked) if linked else node.x)
            _spread(nodes, wanted)
    shift = MARGIN - min(n.left for n in graph.nodes.values())
    for node in graph.nodes.values():
        node.x += shift


def _spread(nodes: list[_Node], wanted: list[float]) -> None:
    """Centres as close to `wanted` as a left push and a right push agree on (their mean keeps the gaps)."""
    if not nodes:
        return
    pushed_right = list(wanted)
    for i in range(1, len(nodes)):
        least = pushed_right[i - 1] + (nodes[i - 1].width + nodes[i].width) / 2 + GAP_X
        pushed_right[i] = max(pushed_right[i], least)
    pushed_left = list(wanted)
    for i in range(len(nodes) - 2, -1, -1):
        most = pushed_left[i + 1] - (nodes[i + 1].width + nodes[i].width) / 2 - GAP_X
        pushed_left[i] = min(pushed_left[i], most)
    for node, a, b in zip(nodes, pushed_right, pushed_left, strict=True):
        node.x = round((a + b) / 2, 1)


# -- drawing -----------------------------------------------------------------------------------------


def _attr(value: object) -> str:
    return escape(str(value), quote=True)


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _path(graph: _Graph, edge: _Edge) -> str:
    nodes = [graph.nodes[k] for k in edge.chain]
    first, second, last, before_last = nodes[0], nodes[1], nodes[-1], nodes[-2]
    down = last.layer > first.layer
    if edge.up and first.kind == "transition":  # leaves the label from its side, climbs back
        start = (first.right, first.y)
    else:
        start = (min(max(second.x, first.left + 8), first.right - 8), first.bottom if down else first.top)
    if first.kind == "start":
        start = (first.x, first.bottom)
    end = (min(max(before_last.x, last.left + 8), last.right - 8), last.top if down else last.bottom)
    points = [start] + [(n.x, n.y) for n in nodes[1:-1]] + [end]
    parts = [f"M{_num(points[0][0])},{_num(points[0][1])}"]
    for (x1, y1), (x2, y2) in itertools.pairwise(points):
        middle = (y1 + y2) / 2
        parts.append(f"C{_num(x1)},{_num(middle)} {_num(x2)},{_num(middle)} {_num(x2)},{_num(y2)}")
    return " ".join(parts)


def _render(d: WorkflowDefinition, machine: Machine, language: str, graph: _Graph, layers: list[list[str]],
            letters: dict[tuple[Permit, ...], str], prefix: str) -> str:
    drawn = [n for n in graph.nodes.values() if n.kind != "dummy"]
    width = max(n.right for n in graph.nodes.values()) + MARGIN
    legend_top = max(n.bottom for n in graph.nodes.values()) + LAYER_GAP
    key_lines = [(f"[{letter}] {who_text(d, permits, language)}", "wf-who") for permits, letter in letters.items()]
    key_lines.append((f"● {START.get(language)} · ▭ {INITIAL.get(language)} · ▭▭ {CLOSED.get(language)} · "
                      f"↻ {STAY.get(language)} · ┄ {BACK.get(language)}", "wf-key"))
    columns = max(int((width - 2 * MARGIN) / CHAR), 60)
    key_lines = [(line if n == 0 else f"    {line}", kind) for text, kind in key_lines
                 for n, line in enumerate(_wrap(text, columns))]
    width = max(width, max(_text_width(text) for text, _ in key_lines) + 2 * MARGIN)
    height = legend_top + LINE * (len(key_lines) + 1) + MARGIN
    label = machine.label.get(language)
    moving = sum(1 for t in machine.transitions.values())
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="workflow-diagram" role="img" '
        f'width="{_num(width)}" height="{_num(height)}" viewBox="0 0 {_num(width)} {_num(height)}" '
        f'font-family="system-ui, sans-serif" font-size="{FONT}" aria-labelledby="{prefix}-title {prefix}-desc">',
        f'<title id="{prefix}-title">{_attr(TITLE.format(label=label).get(language))}</title>',
        f'<desc id="{prefix}-desc">{_attr(DESC.format(states=len(machine.states), transitions=moving).get(language))}'
        "</desc>",
        f'<defs><marker id="{prefix}-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#1c2430"/></marker></defs>',
    ]
    out.append('<g class="wf-edges" fill="none" stroke="#5a6675" stroke-width="1.3">')
    for edge in graph.edges:
        classes = "wf-edge" + (" wf-back" if edge.back else "") + (" wf-arrow" if edge.arrow else "")
        extra = f' marker-end="url(#{prefix}-arrow)"' if edge.arrow else ""
        if edge.back:
            extra += ' stroke-dasharray="5 3" stroke="#1f5fa8"'
        out.append(f'<path class="{classes}" d="{_path(graph, edge)}"{extra}/>')
    out.append("</g>")
    for node in drawn:
        out.append(_draw_node(node))
    y = legend_top
    for text, kind in key_lines:
        y += LINE
        out.append(f'<text class="wf-legend {kind}" x="{MARGIN}" y="{_num(y)}" fill="#1c2430">{_attr(text)}</text>')
    out.append("</svg>")
    return "\n".join(out)


def _draw_node(node: _Node) -> str:
    title = f"<title>{_attr(node.title)}</title>"
    if node.kind == "start":
        return (f'<g class="wf-start">{title}<circle cx="{_num(node.x)}" cy="{_num(node.y)}" r="6" '
                'fill="#1c2430"/></g>')
    x, y, w, h = node.left, node.top, node.width, node.height
    parts = [f'<g class="{_attr(node.classes)}">{title}']
    if node.kind == "state":
        thick = "2.5" if "wf-initial" in node.classes else "1.3"
        parts.append(f'<rect x="{_num(x)}" y="{_num(y)}" width="{_num(w)}" height="{_num(h)}" rx="6" '
                     f'fill="#ffffff" stroke="#17324f" stroke-width="{thick}"/>')
        if "wf-closed" in node.classes:
            parts.append(f'<rect x="{_num(x + 3)}" y="{_num(y + 3)}" width="{_num(w - 6)}" height="{_num(h - 6)}" '
                         'rx="4" fill="none" stroke="#17324f" stroke-width="1"/>')
        top = y + PAD_Y
    else:
        parts.append(f'<rect x="{_num(x)}" y="{_num(y)}" width="{_num(w)}" height="{_num(h)}" rx="{_num(h / 2)}" '
                     'fill="#e8f0fb" stroke="#a9c4ea" stroke-width="1"/>')
        top = y + 3
    for n, line in enumerate(node.lines):
        label = n < node.bold_lines
        weight = ' font-weight="600"' if label and node.kind == "state" else ""
        size = "" if label else f' font-size="{FONT - 1}"'
        fill = "#1c2430" if label else "#5a6675"
        parts.append(f'<text x="{_num(node.x)}" y="{_num(top + LINE * n + LINE - 4)}" text-anchor="middle" '
                     f'fill="{fill}"{weight}{size}>{_attr(line)}</text>')
    parts.append("</g>")
    return "".join(parts)

