"""SQUEEZE: bit-exact against the reference interpreter for given and empty squeeze_dims
(negative too) and every element type; as a view it is elided (the planner aliases its input and
output) inside a graph, feeding a graph output and reading a graph input, and copies only between
two caller buffers. Invalid dims, constant inputs and differing quantisation are refused."""

import re

import numpy as np
import pytest

from graph_builder import graph_model
from movement import DTYPES, assert_moved, tensor
from optest import compile_problems
from tflite_builder import T, model


def squeeze_model(shape, dims, dtype="int8", q=(0.05, -3), out_shape=None):
    if out_shape is None:
        drop = {d % len(shape) for d in dims} if dims else {k for k, d in enumerate(shape)
                                                             if d == 1}
        out_shape = tuple(d for k, d in enumerate(shape) if k not in drop)
    return model("SQUEEZE", [tensor(shape, dtype, q)], [tensor(out_shape, dtype, q)],
                 {"squeeze_dims": list(dims)})


CASES = [
    ((1, 1, 1, 16), [1, 2]),
    ((1, 1, 1, 16), []),
    ((1, 4, 1, 8), [-2]),
    ((1, 4, 1, 8), [0]),
    ((3, 1), [1]),
    ((1, 5), [0, -2]),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,dims", CASES)
def test_squeeze_between_caller_buffers_copies(shape, dims, dtype):
    manifest = assert_moved(squeeze_model(shape, dims, dtype), [shape], dtype)
    assert [l["kernel"] for l in manifest["layers"]] == ["kernels/copy.c.j2"]


def _perm(values):
    return T((len(values),), "int32", data=np.array(values, np.int32))


def _graph(where: str) -> bytes:
    """SQUEEZE of [1, 4, 1, 6] (axes 0, 2) inside a graph of TRANSPOSEs: with its input and output
    in the arena ("middle"), its output a graph output ("output"), its input the graph input
    ("input"); "split": one of SPLIT's two outputs squeezed into a graph output."""
    ts = {"x": tensor((1, 6, 1, 4)), "p": _perm([0, 3, 2, 1]), "a": tensor((1, 4, 1, 6)),
          "b": tensor((4, 6)), "q": _perm([1, 0]), "y": tensor((6, 4))}
    sq = ("SQUEEZE", ["a"], ["b"], {"squeeze_dims": [0, 2]})
    if where == "middle":
        ops = [("TRANSPOSE", ["x", "p"], ["a"], {}), sq, ("TRANSPOSE", ["b", "q"], ["y"], {})]
        return graph_model(ts, ops, ["x"], ["y"])
    if where == "output":
        return graph_model(ts, [("TRANSPOSE", ["x", "p"], ["a"], {}), sq], ["x"], ["b"])
    if where == "input":
        ts["a"] = tensor((1, 4, 1, 6))
        return graph_model(ts, [sq, ("TRANSPOSE", ["b", "q"], ["y"], {})], ["a"], ["y"])
    ts.update(ax=T((), "int32", data=np.array(3, np.int32)), c=tensor((1, 4, 1, 3)),
              d=tensor((1, 4, 1, 3)), e=tensor((4, 3)))
    ops = [("TRANSPOSE", ["x", "p"], ["a"], {}),
           ("SPLIT", ["ax", "a"], ["c", "d"], {"num_splits": 2}),
           ("SQUEEZE", ["c"], ["e"], {"squeeze_dims": [0, 2]})]
    return graph_model(ts, ops, ["x"], ["e", "d"])


@pytest.mark.parametrize("where,shape,kernels", [
    ("middle", (1, 6, 1, 4), ["TRANSPOSE", "TRANSPOSE"]),
    ("output", (1, 6, 1, 4), ["TRANSPOSE"]),
    ("input", (1, 4, 1, 6), ["TRANSPOSE"]),
    ("split", (1, 6, 1, 4), ["TRANSPOSE", "SPLIT"]),
])
def test_squeeze_is_elided(where, shape, kernels):
    manifest = assert_moved(_graph(where), [shape])
    assert [l["op"] for l in manifest["layers"]] == kernels
    assert manifest["ops"]["SQUEEZE"] == 1


REFUSALS = [
    (lambda: squeeze_model((1, 4, 1), [1], out_shape=(1, 1)),
     r"squeeze_dims \[1\] name axis 1, which is not an axis of extent 1 of the input \[1, 4, 1\]"),
    (lambda: squeeze_model((1, 4, 1), [3], out_shape=(4,)), "name axis 3, which is not"),
    (lambda: squeeze_model((1, 4, 1), [0], out_shape=(1, 4)),
     r"output 'out0' has shape \[1, 4\]; the reference computes \[4, 1\]"),
    (lambda: model("SQUEEZE", [tensor((1, 4), q=(0.1, 0))], [tensor((4,), q=(0.1, 1))],
                   {"squeeze_dims": [0]}),
     r"'out0' quantised \(scale 0.1, zero point 1\); SQUEEZE moves values"),
    (lambda: model("SQUEEZE", [T((1, 4), "uint8")], [T((4,), "uint8")], {"squeeze_dims": [0]}),
     "tensor 'in0' is uint8; supported are"),
    (lambda: model("SQUEEZE", [tensor((1, 4), data=np.arange(4, dtype=np.int8))],
                   [tensor((4,))], {"squeeze_dims": [0]}),
     "constant input 'in0' is not supported"),
    (lambda: model("SQUEEZE", [tensor((1, 4))], [tensor((4,)), tensor((4,))],
                   {"squeeze_dims": [0]}), "expected 1 inputs and 1 outputs, got 1 and 2"),
]


@pytest.mark.parametrize("build,message", REFUSALS)
def test_squeeze_refusals(build, message):
    problems = compile_problems(build())
    assert any(re.search(f"SQUEEZE \\(op 0.*{message}", p) for p in problems), problems
