"""Operator order for memory (tinycompress/schedule.py): on a branching graph listed in a bad
order the greedy order plans a smaller arena, stays bit-exact, and the manifest's layers keep
their ops' identity; a graph whose order is already best, or that has state, keeps its order."""

from __future__ import annotations

import numpy as np

from graph_builder import graph_model
from optest import assert_bit_exact
from tflite_builder import _PADDING, T
from tinycompress.ir import Graph, Op, Quant, Tensor
from tinycompress.schedule import best_order, greedy_order

Q = Quant((0.1,), (0,))


def two_heads(wide: int = 32) -> bytes:
    """x -> two 1x1 convolutions widening to `wide` channels, then each narrowed back, then
    ADD; listed both wide ones first, so the model's order keeps both wide tensors live."""
    rng = np.random.default_rng(5)
    tensors = {"x": T((1, 4, 4, 4), scale=0.05, zero_point=-3),
               "y": T((1, 4, 4, 4), scale=0.3, zero_point=2)}
    ops = []
    for k in (1, 2):
        for name, cin, cout, src, dst, s_in, s_out in (
                ("w", 4, wide, "x", f"b{k}", 0.05, 0.1), ("n", wide, 4, f"b{k}", f"s{k}", 0.1, 0.2)):
            tensors[f"{name}{k}"] = T((cout, 1, 1, cin), scale=0.01,
                                      data=rng.integers(-127, 128, (cout, 1, 1, cin)))
            tensors[f"{name}{k}_b"] = T((cout,), "int32", scale=s_in * 0.01,
                                        data=rng.integers(-500, 500, cout))
            tensors[dst] = T((1, 4, 4, cout), scale=s_out, zero_point=k)
            ops.append(("CONV_2D", [src, f"{name}{k}", f"{name}{k}_b"], [dst],
                        dict(padding=_PADDING["SAME"], stride_h=1, stride_w=1)))
    ops = [ops[0], ops[2], ops[1], ops[3], ("ADD", ["s1", "s2"], ["y"], {})]
    return graph_model(tensors, ops, ["x"], ["y"])


def test_greedy_order_runs_each_head_to_its_end():
    tensors = {n: Tensor(n, (s,), "int8", Q) for n, s in
               (("x", 8), ("b1", 500), ("b2", 500), ("s1", 8), ("s2", 8), ("y", 8))}
    ops = [Op("RELU", ["x"], ["b1"]), Op("RELU", ["x"], ["b2"]), Op("RELU", ["b1"], ["s1"]),
           Op("RELU", ["b2"], ["s2"]), Op("ADD", ["s1", "s2"], ["y"])]
    g = Graph(tensors, ops, ["x"], ["y"])
    assert greedy_order(g) == [0, 2, 1, 3, 4]
    assert best_order(g, {}, {}, {}) == [0, 2, 1, 3, 4]
    # listed well already: the model's order stays
    good = Graph(tensors, [ops[0], ops[2], ops[1], ops[3], ops[4]], ["x"], ["y"])
    assert best_order(good, {}, {}, {}) == [0, 1, 2, 3, 4]


def test_a_graph_with_state_keeps_its_order():
    tensors = {n: Tensor(n, (s,), "int8", Q) for n, s in
               (("x", 8), ("b1", 500), ("b2", 500), ("s1", 8), ("s2", 8), ("y", 8))}
    tensors["st"] = Tensor("st", (8,), "int8", Q, variable=True)
    ops = [Op("RELU", ["x", "st"], ["b1"]), Op("RELU", ["x", "st"], ["b2"]),
           Op("RELU", ["b1"], ["s1"]), Op("RELU", ["b2"], ["s2"]), Op("ADD", ["s1", "s2"], ["y"])]
    assert best_order(Graph(tensors, ops, ["x"], ["y"]), {}, {}, {}) == [0, 1, 2, 3, 4]


def test_reordered_model_is_bit_exact_and_plans_smaller():
    m = assert_bit_exact(two_heads(), count=4)
    assert [layer["op_index"] for layer in m["layers"]] == [0, 2, 1, 3, 4]
    assert [layer["op"] for layer in m["layers"]] == ["CONV_2D"] * 4 + ["ADD"]
    wide = 4 * 4 * 32
    # one wide tensor live at a time (plus the narrow ones), not both
    assert m["arena_bytes"] < 2 * wide
