"""EXPAND_DIMS: bit-exact against the reference interpreter for every axis (negative too), int32
and int64 axis operands and every element type; as a view it is elided (the planner aliases its
input and output) inside a graph, feeding a graph output and reading a graph input, and copies
only between two caller buffers. Invalid or run-time axes, constant inputs and differing
quantisation (which the reference refuses too) are refused."""

import re

import numpy as np
import pytest

from graph_builder import graph_model
from movement import DTYPES, assert_moved, tensor
from optest import compile_problems
from tflite_builder import T, model


def _axis(axis, dtype="int32", shape=(1,)):
    return T(shape, dtype, data=np.full(shape, axis, dtype))


def expand_model(shape, axis, dtype="int8", q=(0.05, -3), atype="int32", out_shape=None):
    if out_shape is None:
        a = axis + len(shape) + 1 if axis < 0 else axis
        out_shape = tuple(shape[:a]) + (1,) + tuple(shape[a:])
    return model("EXPAND_DIMS", [tensor(shape, dtype, q), _axis(axis, atype)],
                 [tensor(out_shape, dtype, q)])


CASES = [((4, 4, 16), 0), ((4, 4, 16), 3), ((4, 4, 16), -1), ((4, 4, 16), -4), ((16,), 1),
         ((2, 3, 2, 3), 2)]


@pytest.mark.parametrize("atype", ["int32", "int64"])
@pytest.mark.parametrize("shape,axis", CASES)
def test_expand_dims_between_caller_buffers_copies(shape, axis, atype):
    manifest = assert_moved(expand_model(shape, axis, atype=atype), [shape])
    assert [l["kernel"] for l in manifest["layers"]] == ["kernels/copy.c.j2"]


@pytest.mark.parametrize("dtype", DTYPES)
def test_expand_dims_dtypes(dtype):
    assert_moved(expand_model((3, 5), 1, dtype), [(3, 5)], dtype)


def test_expand_dims_scalar_axis_operand():
    b = model("EXPAND_DIMS", [tensor((6, 4)), _axis(1, shape=())], [tensor((6, 1, 4))])
    assert_moved(b, [(6, 4)])


def _perm(values):
    return T((len(values),), "int32", data=np.array(values, np.int32))


def _graph(where: str) -> bytes:
    """EXPAND_DIMS of [4, 6] to [4, 1, 6] between TRANSPOSEs: its input and output in the arena
    ("middle"), its output a graph output ("output"), its input the graph input ("input")."""
    ts = {"x": tensor((6, 4)), "p": _perm([1, 0]), "a": tensor((4, 6)), "ax": _axis(1),
          "b": tensor((4, 1, 6)), "q": _perm([2, 1, 0]), "y": tensor((6, 1, 4))}
    ex = ("EXPAND_DIMS", ["a", "ax"], ["b"], {})
    if where == "middle":
        ops = [("TRANSPOSE", ["x", "p"], ["a"], {}), ex, ("TRANSPOSE", ["b", "q"], ["y"], {})]
        return graph_model(ts, ops, ["x"], ["y"])
    if where == "output":
        return graph_model(ts, [("TRANSPOSE", ["x", "p"], ["a"], {}), ex], ["x"], ["b"])
    return graph_model(ts, [ex, ("TRANSPOSE", ["b", "q"], ["y"], {})], ["a"], ["y"])


@pytest.mark.parametrize("where,shape,kernels", [
    ("middle", (6, 4), ["TRANSPOSE", "TRANSPOSE"]),
    ("output", (6, 4), ["TRANSPOSE"]),
    ("input", (4, 6), ["TRANSPOSE"]),
])
def test_expand_dims_is_elided(where, shape, kernels):
    manifest = assert_moved(_graph(where), [shape])
    assert [l["op"] for l in manifest["layers"]] == kernels
    assert manifest["ops"]["EXPAND_DIMS"] == 1


REFUSALS = [
    (lambda: expand_model((4, 4), 3, out_shape=(4, 4, 1)),
     "axis 3 is out of range for an output of rank 3"),
    (lambda: expand_model((4, 4), -4, out_shape=(1, 4, 4)),
     "axis -4 is out of range for an output of rank 3"),
    (lambda: expand_model((4, 4), 1, out_shape=(4, 4, 1)),
     r"output 'out0' has shape \[4, 4, 1\]; the reference computes \[4, 1, 4\]"),
    (lambda: model("EXPAND_DIMS", [tensor((4,)), T((1,), "int32")], [tensor((1, 4))]),
     "axis operand 'in1' is computed at run time"),
    (lambda: expand_model((4,), 0, atype="int16"),
     "axis operand 'in1' is int16; int32 or int64 expected"),
    (lambda: model("EXPAND_DIMS", [tensor((4,)), _axis(0, shape=(2,))], [tensor((1, 4))]),
     r"axis operand 'in1' has shape \[2\]; one value expected"),
    (lambda: model("EXPAND_DIMS", [tensor((4,), q=(0.1, 0)), _axis(0)],
                   [tensor((1, 4), q=(0.3, 0))]),
     r"'out0' quantised \(scale 0.3, zero point 0\); EXPAND_DIMS moves values"),
    (lambda: model("EXPAND_DIMS", [tensor((4,), data=np.arange(4, dtype=np.int8)), _axis(0)],
                   [tensor((1, 4))]), "constant input 'in0' is not supported"),
    (lambda: model("EXPAND_DIMS", [tensor((4,))], [tensor((1, 4))]),
     "expected 2 inputs and 1 outputs, got 1 and 1"),
]


@pytest.mark.parametrize("build,message", REFUSALS)
def test_expand_dims_refusals(build, message):
    problems = compile_problems(build())
    assert any(re.search(f"EXPAND_DIMS \\(op 0.*{message}", p) for p in problems), problems
