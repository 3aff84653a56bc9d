"""The static memory planner: buffers whose lifetimes overlap never share bytes; views alias;
reuse actually happens."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from tinycompress.ir import Graph, Op, Quant, Tensor
from tinycompress.planner import ALIGN, plan

Q = Quant((0.1,), (0,))


def _check_no_overlap(p):
    for i, a in enumerate(p.buffers):
        assert a.offset % ALIGN == 0
        assert a.offset + a.size <= p.arena_parts[a.part]
        for b in p.buffers[i + 1:]:
            if a.part == b.part and a.first <= b.last and b.first <= a.last:
                assert a.offset + a.size <= b.offset or b.offset + b.size <= a.offset, (a, b)


def random_graph(sizes, edges):
    """A DAG: op i reads the outputs of some earlier ops (edges) and writes tensor t{i}."""
    tensors = {"in": Tensor("in", (8,), "int8", Q)}
    ops = []
    for i, size in enumerate(sizes):
        srcs = sorted({f"t{j}" for j in edges.get(i, []) if j < i}) or ["in"]
        tensors[f"t{i}"] = Tensor(f"t{i}", (size,), "int8", Q)
        ops.append(Op("ADD", srcs, [f"t{i}"], index=i, name=f"t{i}"))
    return Graph(tensors, ops, ["in"], [f"t{len(sizes) - 1}"])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 300), min_size=2, max_size=14),
       st.dictionaries(st.integers(0, 13), st.lists(st.integers(0, 13), max_size=3)),
       st.dictionaries(st.integers(0, 13), st.integers(1, 200)))
def test_no_live_buffers_overlap(sizes, edges, scratch):
    g = random_graph(sizes, edges)
    g.verify()
    p = plan(g, {k: v for k, v in scratch.items() if k < len(sizes)})
    _check_no_overlap(p)
    # Every non-I/O activation has arena storage; the graph output lives in the caller's buffer.
    for name in g.tensors:
        if name not in ("in", g.outputs[0]):
            assert p.storage[name][0] == "arena"
    assert p.storage[g.outputs[0]] == ("output", 0)


def test_chain_reuses_memory():
    g = random_graph([100] * 6, {i: [i - 1] for i in range(1, 6)})
    p = plan(g)
    # A chain needs two live buffers at a time, not five.
    assert p.arena_bytes == 2 * 112


def test_reshape_is_an_alias():
    tensors = {
        "in": Tensor("in", (1, 4, 4), "int8", Q),
        "a": Tensor("a", (1, 4, 4), "int8", Q),
        "b": Tensor("b", (1, 16), "int8", Q),
        "c": Tensor("c", (1, 16), "int8", Q),
    }
    ops = [Op("ADD", ["in"], ["a"]), Op("RESHAPE", ["a"], ["b"]), Op("ADD", ["b"], ["c"])]
    p = plan(Graph(tensors, ops, ["in"], ["c"]))
    assert p.elided == {1}
    assert p.storage["a"] == p.storage["b"]


MLPERF = Path(__file__).resolve().parents[2] / "shared" / "models" / "mlperf-tiny"


@pytest.mark.parametrize("model", ["ad01_int8.tflite", "kws_ref_model.tflite",
                                   "pretrainedResnet_quant.tflite", "vww_96_int8.tflite"])
def test_mlperf_graphs_plan_without_overlap(model):
    from tinycompress import passes
    from tinycompress.frontends.tflite import read_tflite

    path = MLPERF / model
    if not path.exists():
        pytest.skip("shared models not present")
    g = passes.run(read_tflite(path.read_bytes()))
    p = plan(g)
    _check_no_overlap(p)
    inner = [t.nbytes for n, t in g.tensors.items()
             if not t.is_const and n not in g.inputs + g.outputs]
    assert p.arena_bytes >= max(inner)
    assert p.arena_bytes < sum(inner)  # memory is reused
