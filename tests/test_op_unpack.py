"""UNPACK: bit-exact against the reference interpreter along every axis (negative too), every
element type, down to scalar outputs; a mismatched `num` or quantisation is refused (as the
reference refuses the latter)."""

import re

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from movement import DTYPES, assert_moved, tensor
from optest import compile_problems
from tflite_builder import model
from tinycompress.compiler import compile_tflite


def unpack_model(shape, axis, dtype="int8", q=(0.05, -3)):
    a = axis + len(shape) if axis < 0 else axis
    out = tuple(shape[:a]) + tuple(shape[a + 1:])
    n = shape[a]
    return model("UNPACK", [tensor(shape, dtype, q)], [tensor(out, dtype, q) for _ in range(n)],
                 {"num": n, "axis": axis})


CASES = [
    ((1, 4, 4, 3), 0),
    ((2, 4, 4, 3), 3),
    ((2, 4, 4, 3), -1),
    ((3, 4, 5), 1),
    ((3, 4, 5), -3),
    ((5, 6), 1),
    ((2, 3, 2, 3, 4), 2),
    ((2, 2, 3, 2, 2, 3, 2, 2), 4),
]


@pytest.mark.parametrize("shape,axis", CASES)
def test_unpack(shape, axis):
    assert_moved(unpack_model(shape, axis), [shape])


def test_unpack_to_scalars():
    assert_moved(unpack_model((6,), 0), [(6,)], spread=False)


@pytest.mark.parametrize("dtype", DTYPES)
def test_unpack_dtypes(dtype):
    assert_moved(unpack_model((3, 4, 5), 1, dtype), [(3, 4, 5)], dtype)


@pytest.mark.parametrize("zp", [-128, 127])
def test_unpack_zero_points(zp):
    assert_moved(unpack_model((2, 5, 5, 3), 1, q=(0.3, zp)), [(2, 5, 5, 3)])


def test_unpack_kernel_is_a_loop_of_memcpys():
    files, _ = compile_tflite(unpack_model((4, 3, 5), 1), name="m")
    body = files["src/m.c"].decode()
    assert "memcpy(d2 + i0 * 5, s0 + 10 + i0 * 15, 5);" in body


REFUSALS = [
    (lambda: model("UNPACK", [tensor((2, 3))], [tensor((3,))] * 2, {"num": 2, "axis": 2}),
     "axis 2 is out of range for rank 2"),
    (lambda: model("UNPACK", [tensor((2, 3))], [tensor((3,))] * 2, {"num": 3, "axis": 0}),
     "num 3, 2 outputs and the input's 2 along axis 0 differ"),
    (lambda: model("UNPACK", [tensor((2, 3))], [tensor((3,)), tensor((2,))],
                   {"num": 2, "axis": 0}),
     r"output 'out1' has shape \[2\]; the reference computes \[3\]"),
    (lambda: model("UNPACK", [tensor((2, 3), q=(0.1, 0))],
                   [tensor((3,), q=(0.1, 0)), tensor((3,), q=(0.2, 0))], {"num": 2, "axis": 0}),
     r"'out1' quantised \(scale 0.2, zero point 0\); UNPACK moves values"),
    (lambda: model("UNPACK", [tensor((2, 3)), tensor((2, 3))], [tensor((3,))] * 2,
                   {"num": 2, "axis": 0}), "expected 1 inputs and outputs, got 2 and 2"),
]


@pytest.mark.parametrize("build,message", REFUSALS)
def test_unpack_refusals(build, message):
    problems = compile_problems(build())
    assert any(re.search(f"UNPACK \\(op 0.*{message}", p) for p in problems), problems


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), rank=st.integers(1, 5), dtype=st.sampled_from(DTYPES))
def test_unpack_random(data, rank, dtype):
    shape = tuple(data.draw(st.lists(st.integers(1, 4), min_size=rank, max_size=rank)))
    axis = data.draw(st.integers(-rank, rank - 1))
    assert_moved(unpack_model(shape, axis, dtype), [shape], dtype, count=4, sanitize=False,
                 spread=False)
