"""SPLIT and SPLIT_V: bit-exact against the reference interpreter along every axis (negative
too), into 1-5 pieces, over every element type, with -1 and int64 size_splits; several outputs
compared at once. Invalid operands are refused."""

import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from movement import DTYPES, assert_moved, tensor
from optest import compile_problems
from tflite_builder import T, model
from tinycompress.compiler import compile_tflite


def _scalar(v, dtype="int32"):
    return T((), dtype, data=np.array(v, dtype))


def _piece(shape, axis, n):
    s = list(shape)
    s[axis] = n
    return tuple(s)


def split_model(shape, axis, n, dtype="int8", q=(0.05, -3)):
    piece = _piece(shape, axis, shape[axis] // n)
    return model("SPLIT", [_scalar(axis), tensor(shape, dtype, q)],
                 [tensor(piece, dtype, q) for _ in range(n)], {"num_splits": n})


def split_v_model(shape, axis, sizes, dtype="int8", itype="int32", q=(0.05, -3)):
    known = sum(s for s in sizes if s != -1)
    real = [shape[axis] - known if s == -1 else s for s in sizes]
    return model("SPLIT_V", [tensor(shape, dtype, q), T((len(sizes),), itype,
                                                         data=np.array(sizes, itype)),
                             _scalar(axis)],
                 [tensor(_piece(shape, axis, s), dtype, q) for s in real],
                 {"num_splits": len(sizes)})


SPLITS = [
    ((1, 4, 4, 16), 3, 2),
    ((1, 4, 4, 16), -1, 4),
    ((1, 6, 4, 3), 1, 3),
    ((1, 4, 6, 3), 2, 2),
    ((4, 3, 2), 0, 4),
    ((12,), 0, 3),
    ((3, 10), 1, 5),
    ((2, 3, 4, 2, 4), 4, 2),
    ((2, 4, 3), 1, 1),
    ((2, 2, 3, 2, 2, 3, 2, 4), 5, 3),
]


@pytest.mark.parametrize("shape,axis,n", SPLITS)
def test_split(shape, axis, n):
    assert_moved(split_model(shape, axis, n), [shape])


SPLIT_VS = [
    ((1, 4, 4, 16), 3, [3, 8, 5]),
    ((1, 4, 4, 16), -1, [4, -1]),
    ((1, 7, 4, 3), 1, [1, 2, 4]),
    ((5, 3, 2), 0, [-1, 1, 1]),
    ((10,), 0, [4, 3, 2, 1]),
    ((2, 3, 5, 2, 4), 2, [2, 3]),
    ((2, 2, 3, 2, 2, 3, 2, 5), -1, [3, -1]),
]


@pytest.mark.parametrize("itype", ["int32", "int64"])
@pytest.mark.parametrize("shape,axis,sizes", SPLIT_VS)
def test_split_v(shape, axis, sizes, itype):
    assert_moved(split_v_model(shape, axis, sizes, itype=itype), [shape])


@pytest.mark.parametrize("dtype", DTYPES)
def test_split_dtypes(dtype):
    assert_moved(split_model((2, 6, 5), 1, 3, dtype), [(2, 6, 5)], dtype)
    assert_moved(split_v_model((2, 6, 5), -1, [1, -1, 2], dtype), [(2, 6, 5)], dtype)


@pytest.mark.parametrize("zp", [-128, 127])
def test_split_zero_points(zp):
    assert_moved(split_model((1, 5, 5, 8), 3, 2, q=(0.9, zp)), [(1, 5, 5, 8)])


def test_split_kernel_is_a_loop_of_memcpys():
    files, _ = compile_tflite(split_model((1, 4, 4, 16), 3, 2), name="m")
    body = files["src/m.c"].decode()
    assert "memcpy(d0 + i0 * 8, s0 + i0 * 16, 8);" in body
    assert "memcpy(d1 + i0 * 8, s0 + 8 + i0 * 16, 8);" in body
    files, _ = compile_tflite(split_model((4, 3, 2), 0, 4), name="m")
    assert "memcpy(d3, s0 + 18, 6);" in files["src/m.c"].decode()


def _runtime_axis():
    return model("SPLIT", [T((), "int32"), tensor((4, 4))], [tensor((2, 4))] * 2,
                 {"num_splits": 2})


REFUSALS = [
    ("SPLIT", _runtime_axis, "axis operand 'in0' is computed at run time"),
    ("SPLIT", lambda: model("SPLIT", [_scalar(0, "int64"), tensor((4, 4))],
                            [tensor((2, 4))] * 2, {"num_splits": 2}),
     "axis operand 'in0' is int64; int32 expected"),
    ("SPLIT", lambda: model("SPLIT", [T((2,), "int32", data=np.zeros(2, np.int32)),
                                      tensor((4, 4))], [tensor((2, 4))] * 2, {"num_splits": 2}),
     r"axis operand 'in0' has shape \[2\]; one value expected"),
    ("SPLIT", lambda: model("SPLIT", [_scalar(2), tensor((4, 4))], [tensor((2, 4))] * 2,
                            {"num_splits": 2}), "axis 2 is out of range for rank 2"),
    ("SPLIT", lambda: model("SPLIT", [_scalar(1), tensor((4, 5))], [tensor((4, 2))] * 2,
                            {"num_splits": 2}),
     "5 along axis 1 does not split into num_splits 2 equal pieces over 2 outputs"),
    ("SPLIT", lambda: model("SPLIT", [_scalar(1), tensor((4, 4))], [tensor((4, 2))] * 2,
                            {"num_splits": 4}), "num_splits 4 equal pieces over 2 outputs"),
    ("SPLIT", lambda: model("SPLIT", [_scalar(1), tensor((4, 4))],
                            [tensor((4, 2)), tensor((4, 3))], {"num_splits": 2}),
     r"output 'out1' has shape \[4, 3\]; the reference computes \[4, 2\]"),
    ("SPLIT", lambda: model("SPLIT", [_scalar(1), tensor((4, 4), q=(0.1, 1))],
                            [tensor((4, 2), q=(0.1, 1)), tensor((4, 2), q=(0.1, 2))],
                            {"num_splits": 2}),
     r"'out1' quantised \(scale 0.1, zero point 2\); SPLIT moves values"),
    ("SPLIT", lambda: model("SPLIT", [tensor((4, 4))], [tensor((4, 4))], {"num_splits": 1}),
     "expected 2 inputs and outputs, got 1 and 1"),
    ("SPLIT_V", lambda: model("SPLIT_V", [tensor((4, 6)), T((2,), "int16",
                                                            data=np.array([2, 4], np.int16)),
                                          _scalar(1)], [tensor((4, 2)), tensor((4, 4))],
                              {"num_splits": 2}),
     "size_splits operand 'in1' is int16; int32 or int64 expected"),
    ("SPLIT_V", lambda: model("SPLIT_V", [tensor((4, 6)), T((2,), "int32",
                                                            data=np.array([2, 4], np.int32)),
                                          _scalar(-3)], [tensor((4, 2)), tensor((4, 4))],
                              {"num_splits": 2}), "axis -3 is out of range for rank 2"),
    ("SPLIT_V", lambda: model("SPLIT_V", [tensor((4, 6)), T((2,), "int32",
                                                            data=np.array([2, 4], np.int32)),
                                          _scalar(1)], [tensor((4, 2)), tensor((4, 4))],
                              {"num_splits": 3}),
     "2 size_splits, num_splits 3 and 2 outputs differ"),
    ("SPLIT_V", lambda: model("SPLIT_V", [tensor((4, 6)), T((2,), "int32",
                                                            data=np.array([2, 3], np.int32)),
                                          _scalar(1)], [tensor((4, 2)), tensor((4, 3))],
                              {"num_splits": 2}),
     r"size_splits \[2, 3\] do not add up to 6 along axis 1"),
    ("SPLIT_V", lambda: model("SPLIT_V", [tensor((4, 6)), T((2,), "int32",
                                                            data=np.array([-1, -1], np.int32)),
                                          _scalar(1)], [tensor((4, 3)), tensor((4, 3))],
                              {"num_splits": 2}),
     r"size_splits \[-1, -1\] do not add up to 6"),
]


@pytest.mark.parametrize("kind,build,message", REFUSALS)
def test_split_refusals(kind, build, message):
    problems = compile_problems(build())
    assert any(re.search(f"{kind} \\(op 0.*{message}", p) for p in problems), problems


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), rank=st.integers(1, 5), dtype=st.sampled_from(DTYPES))
def test_split_random(data, rank, dtype):
    shape = list(data.draw(st.lists(st.integers(1, 4), min_size=rank, max_size=rank)))
    axis = data.draw(st.integers(-rank, rank - 1))
    n = data.draw(st.integers(1, 4))
    shape[axis] *= n
    assert_moved(split_model(tuple(shape), axis, n, dtype), [tuple(shape)], dtype, count=4,
                 sanitize=False, spread=False)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), rank=st.integers(1, 5), dtype=st.sampled_from(DTYPES))
def test_split_v_random(data, rank, dtype):
    shape = list(data.draw(st.lists(st.integers(1, 4), min_size=rank, max_size=rank)))
    axis = data.draw(st.integers(-rank, rank - 1))
    sizes = data.draw(st.lists(st.integers(1, 4), min_size=1, max_size=4))
    shape[axis] = sum(sizes)
    if data.draw(st.booleans()):
        sizes[data.draw(st.integers(0, len(sizes) - 1))] = -1
    assert_moved(split_v_model(tuple(shape), axis, sizes, dtype), [tuple(shape)], dtype, count=4,
                 sanitize=False, spread=False)
