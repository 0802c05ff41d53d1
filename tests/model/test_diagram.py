"""DOT text of a neuron and of ``TwoLayerNet``: parsed back, and rendered where ``dot`` exists."""

from __future__ import annotations

import itertools
import re
import shutil
import subprocess
from dataclasses import dataclass, field

import numpy as np
import pytest

import neurust as nr
from neurust import _tutorial

# --------------------------------------------------------------------------------------
# A small DOT reader: enough of the grammar for what neurust writes (no pydot needed)
# --------------------------------------------------------------------------------------

_TOKEN = re.compile(
    r'\s*(?:(?P<string>"(?:[^"\\]|\\.)*")|(?P<arrow>->)|(?P<id>[A-Za-z_][A-Za-z_0-9]*)'
    r"|(?P<punct>[\[\]{}=;,]))"
)


@dataclass
class Dot:
    """A parsed digraph: node attributes by id, edges with theirs, and graph attributes."""

    name: str
    nodes: dict[str, dict[str, str]] = field(default_factory=dict)
    edges: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    graph: dict[str, str] = field(default_factory=dict)

    def visible_edges(self) -> list[tuple[str, str, dict[str, str]]]:
        return [edge for edge in self.edges if edge[2].get("style") != "invis"]

    def pairs(self) -> set[tuple[str, str]]:
        return {(tail, head) for tail, head, _ in self.visible_edges()}


def _unquote(token: str) -> str:
    if not token.startswith('"'):
        return token
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), token[1:-1])


def _tokens(text: str) -> list[str]:
    tokens, position = [], 0
    while position < len(text.rstrip()):
        match = _TOKEN.match(text, position)
        assert match is not None, f"unexpected DOT text at {text[position : position + 30]!r}"
        tokens.append(match.group(match.lastgroup or ""))
        position = match.end()
    return tokens


def parse_dot(text: str) -> Dot:
    """Parse ``digraph NAME { ... }``, failing the test on anything malformed."""
    tokens = _tokens(text)
    assert tokens[0] == "digraph" and tokens[2] == "{" and tokens[-1] == "}", tokens[:3]
    dot = Dot(tokens[1])
    position = 3

    def attributes() -> dict[str, str]:
        nonlocal position
        found: dict[str, str] = {}
        if tokens[position] != "[":
            return found
        position += 1
        while tokens[position] != "]":
            key, equals, value = tokens[position : position + 3]
            assert equals == "=", f"expected key=value, got {key} {equals} {value}"
            found[key] = _unquote(value)
            position += 3
            if tokens[position] == ",":
                position += 1
        position += 1
        return found

    def statements() -> None:
        nonlocal position
        while tokens[position] != "}":
            token = tokens[position]
            if token == "subgraph":
                assert tokens[position + 2] == "{"
                position += 3
                statements()
                continue  # a block needs no ';'
            elif token == "{":
                position += 1
                statements()
                continue
            elif token in ("graph", "node", "edge"):
                position += 1
                found = attributes()
                if token == "graph":
                    dot.graph.update(found)
            elif tokens[position + 1] == "=":
                position += 3
            else:
                chain = [_unquote(token)]
                position += 1
                while tokens[position] == "->":
                    chain.append(_unquote(tokens[position + 1]))
                    position += 2
                found = attributes()
                if len(chain) == 1:
                    dot.nodes.setdefault(chain[0], {}).update(found)
                for tail, head in itertools.pairwise(chain):
                    dot.edges.append((tail, head, found))
            assert tokens[position] == ";", f"statement not closed by ';' at {tokens[position]!r}"
            position += 1
        position += 1

    statements()
    assert position == len(tokens), "text after the closing brace"
    undeclared = {end for edge in dot.edges for end in edge[:2]} - dot.nodes.keys()
    assert not undeclared, f"edges to undeclared nodes {undeclared}"
    return dot


# --------------------------------------------------------------------------------------
# The network
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tutorial_net_dot() -> Dot:
    net = nr.TwoLayerNet(
        _tutorial.NET_INPUTS, _tutorial.NET_HIDDEN, _tutorial.NET_OUTPUTS, activation="relu", seed=0
    )
    return parse_dot(net.to_dot())


def test_network_dot_collapses_wide_layers_as_people_draw_them(tutorial_net_dot: Dot) -> None:
    labels = {node: attrs.get("label") for node, attrs in tutorial_net_dot.nodes.items()}
    assert labels["x_more"] == "… 1000 inputs …"
    assert labels["h_more"] == "… 100 hidden …"
    units = {node for node in labels if re.fullmatch(r"[xhy]\d+", node)}
    assert units == {"x1", "x2", "x3", "x4", "x1000", "h1", "h2", "h3", "h4", "h100", "y1"}


def test_network_dot_names_each_layer_its_size_and_the_activation(tutorial_net_dot: Dot) -> None:
    titles = {node: tutorial_net_dot.nodes[f"{node}_title"]["label"] for node in "xhy"}
    assert titles == {"x": "input\n1000", "h": "hidden\n100, relu", "y": "output\n1"}
    assert tutorial_net_dot.graph["label"] == "1000 → 100 → 1, relu, no biases"
    assert tutorial_net_dot.graph["rankdir"] == "LR"


def test_network_dot_connects_every_drawn_unit_to_the_next_layer(tutorial_net_dot: Dot) -> None:
    inputs = ["x1", "x2", "x3", "x4", "x1000"]
    hidden = ["h1", "h2", "h3", "h4", "h100"]
    expected = {(x, h) for x in inputs for h in hidden} | {(h, "y1") for h in hidden}
    assert tutorial_net_dot.pairs() == expected
    assert len(tutorial_net_dot.visible_edges()) == len(expected)


def test_network_dot_keeps_each_column_in_order_with_invisible_edges(tutorial_net_dot: Dot) -> None:
    invisible = [(t, h) for t, h, attrs in tutorial_net_dot.edges if attrs.get("style") == "invis"]
    column = ["x_title", "x1", "x2", "x3", "x4", "x_more", "x1000"]
    assert list(itertools.pairwise(column)) == invisible[: len(column) - 1]


def test_network_dot_draws_small_layers_whole() -> None:
    dot = parse_dot(nr.TwoLayerNet(3, 4, 2, activation="sigmoid", seed=0).to_dot())
    assert not any(node.endswith("_more") for node in dot.nodes)
    assert len(dot.pairs()) == 3 * 4 + 4 * 2
    assert dot.nodes["h_title"]["label"] == "hidden\n4, sigmoid"


def test_network_dot_feeds_a_bias_node_into_each_layer() -> None:
    dot = parse_dot(nr.TwoLayerNet(2, 3, 1, bias=True, seed=0).to_dot())
    assert dot.nodes["b1"]["label"] == dot.nodes["b2"]["label"] == "+1"
    assert {("b1", "h1"), ("b1", "h2"), ("b1", "h3"), ("b2", "y1")} <= dot.pairs()
    assert "with biases" in dot.graph["label"]


def test_network_dot_max_nodes_sets_where_layers_collapse() -> None:
    dot = parse_dot(nr.TwoLayerNet(1000, 100, 1, seed=0).to_dot(max_nodes=3))
    assert {node for node in dot.nodes if node.startswith("x")} == {
        "x_title",
        "x1",
        "x_more",
        "x1000",
    }
    with pytest.raises(ValueError, match="max_nodes must be at least 3, got 2"):
        nr.TwoLayerNet(4, 4, 1, seed=0).to_dot(max_nodes=2)
    with pytest.raises(TypeError, match="max_nodes must be an int, got str"):
        nr.TwoLayerNet(4, 4, 1, seed=0).to_dot(max_nodes="6")  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------
# One neuron
# --------------------------------------------------------------------------------------


def test_neuron_dot_edge_labels_equal_the_weights() -> None:
    weights = [0.1, -0.25, 1e-7, 3.0, 2 / 3]
    dot = parse_dot(nr.neuron_dot(weights))
    labels = {tail: float(attrs["label"]) for tail, head, attrs in dot.edges if head == "sum"}
    assert labels == {f"x{i}": w for i, w in enumerate(weights, 1)}


def test_neuron_dot_draws_inputs_sum_activation_output_in_order() -> None:
    dot = parse_dot(nr.neuron_dot([1, -1, 5], activation="relu"))
    assert dot.pairs() == {
        ("x1", "sum"),
        ("x2", "sum"),
        ("x3", "sum"),
        ("sum", "act"),
        ("act", "out"),
    }
    assert dot.nodes["sum"]["label"] == "Σ"
    assert dot.nodes["act"]["label"] == "relu"


def test_neuron_dot_shows_the_tutorials_relu_neuron_values() -> None:
    dot = parse_dot(
        nr.neuron_dot(_tutorial.RELU_WEIGHTS, _tutorial.RELU_INPUTS, names=["a", "b", "c"])
    )
    assert [dot.nodes[f"x{i}"]["label"] for i in (1, 2, 3)] == ["a\n2", "b\n3", "c\n4"]
    assert dot.nodes["sum"]["label"] == "Σ\na = 19"
    assert dot.nodes["out"]["label"] == f"y = {_tutorial.RELU_OUTPUT:g}"


def test_neuron_dot_without_activation_is_the_toes_model() -> None:
    text = nr.neuron_dot(
        [_tutorial.ONE_NEURON_WEIGHT], names=["toes"], activation=None, output="win"
    )
    dot = parse_dot(text)
    assert dot.pairs() == {("x1", "sum"), ("sum", "out")}
    assert "act" not in dot.nodes
    assert (dot.nodes["x1"]["label"], dot.nodes["out"]["label"]) == ("toes", "win")
    assert float(dot.edges[0][2]["label"]) == _tutorial.ONE_NEURON_WEIGHT


@pytest.mark.parametrize(
    ("activation", "expected"), [("sigmoid", 1 / (1 + np.exp(-0.5))), ("step", 1.0), ("relu", 0.5)]
)
def test_neuron_dot_applies_the_activation_and_the_bias(activation: str, expected: float) -> None:
    dot = parse_dot(nr.neuron_dot([1.0, 1.0], [0.25, 0.75], activation=activation, bias=-0.5))
    assert dot.nodes["sum"]["label"] == "Σ\na = 0.5"
    assert ("bias", "sum") in dot.pairs()
    assert float(next(a["label"] for t, _, a in dot.edges if t == "bias")) == -0.5
    assert dot.nodes["out"]["label"] == f"y = {expected:g}"


def test_neuron_dot_escapes_quotes_and_backslashes_in_names() -> None:
    names = ['say "hi"', "back\\slash"]
    dot = parse_dot(nr.neuron_dot([1, 2], names=names))
    assert [dot.nodes["x1"]["label"], dot.nodes["x2"]["label"]] == names


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"weights": []}, ValueError, "weights must be a non-empty 1-D sequence"),
        (
            {"weights": [[1, 2]]},
            ValueError,
            r"weights must be a non-empty 1-D sequence, got shape \(1, 2\)",
        ),
        ({"weights": [1, float("nan")]}, ValueError, "weights must be finite"),
        ({"weights": ["a"]}, TypeError, "weights has dtype <U1"),
        ({"weights": [1, 2], "inputs": [1]}, ValueError, "inputs has 1 entries, but weights has 2"),
        ({"weights": [1, 2], "names": ["a"]}, ValueError, "names has 1 entries, but weights has 2"),
        ({"weights": [1], "names": "a"}, TypeError, "names must be a sequence of str, got str"),
        ({"weights": [1], "names": [1]}, TypeError, "names must hold str, got int"),
        ({"weights": [1], "activation": "tanh"}, ValueError, "activation must be one of"),
        ({"weights": [1], "bias": "0"}, TypeError, "bias must be a real number, got str"),
        ({"weights": [1], "bias": float("inf")}, ValueError, "bias must be finite"),
        ({"weights": [1], "output": 3}, TypeError, "output must be a str, got int"),
    ],
)
def test_neuron_dot_rejects_bad_arguments_naming_them(
    kwargs: dict[str, object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        nr.neuron_dot(**kwargs)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------
# Other readers: pydot (if installed) and Graphviz's own dot (if installed)
# --------------------------------------------------------------------------------------


def _examples() -> list[str]:
    return [
        nr.TwoLayerNet(1000, 100, 1, seed=0).to_dot(),
        nr.TwoLayerNet(3, 4, 2, bias=True, seed=0).to_dot(),
        nr.neuron_dot(_tutorial.RELU_WEIGHTS, _tutorial.RELU_INPUTS, bias=0.5),
        nr.neuron_dot([0.1], names=["toes"], activation=None, output="win"),
    ]


def _pydot_edges(graph: object) -> list[tuple[str, str]]:
    edges = [(e.get_source(), e.get_destination()) for e in graph.get_edges()]  # type: ignore[attr-defined]
    for subgraph in graph.get_subgraphs():  # type: ignore[attr-defined]
        edges.extend(_pydot_edges(subgraph))
    return edges


def test_pydot_reads_the_same_edges() -> None:
    pydot = pytest.importorskip("pydot")
    for text in _examples():
        (graph,) = pydot.graph_from_dot_data(text)
        ours = [(tail, head) for tail, head, _ in parse_dot(text).edges]
        assert sorted(_pydot_edges(graph)) == sorted(ours)


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot program is not installed")
def test_graphviz_renders_the_dot_without_warnings() -> None:
    for text in _examples():
        result = subprocess.run(
            ["dot", "-Tsvg"], input=text, capture_output=True, text=True, timeout=60, check=False
        )
        assert result.returncode == 0, result.stderr
        assert result.stderr == ""
        assert "<svg" in result.stdout
