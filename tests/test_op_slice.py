"""SLICE: bit-exact against the reference interpreter over ranks 1-8, every element type, int32
and int64 operands and sizes of -1; invalid or run-time operands are refused."""

import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from movement import DTYPES, assert_moved, tensor
from optest import compile_problems
from tflite_builder import T, model


def slice_model(shape, begin, size, dtype="int8", itype="int32", out_shape=None, q=(0.05, -3)):
    if out_shape is None:
        out_shape = [d - b if s == -1 else s for d, b, s in zip(shape, begin, size)]
    return model("SLICE", [tensor(shape, dtype, q), T((len(begin),), itype,
                                                       data=np.array(begin, itype)),
                           T((len(size),), itype, data=np.array(size, itype))],
                 [tensor(out_shape, dtype, q)])


CASES = [
    ((1, 8, 8, 16), [0, 2, 0, 0], [1, 4, 8, 16]),   # rows: one memcpy
    ((1, 6, 5, 16), [0, 1, 1, 4], [1, 4, 3, 8]),    # a box inside every axis
    ((1, 4, 4, 12), [0, 0, 0, 5], [-1, -1, -1, 1]),  # one channel
    ((2, 3, 4), [1, 0, 2], [1, -1, -1]),
    ((10,), [3], [5]),
    ((7, 9), [2, 0], [3, -1]),
    ((2, 3, 2, 3, 2), [1, 1, 0, 1, 1], [1, 2, 2, 2, 1]),
    ((2, 2, 3, 2, 3, 2), [0, 1, 1, 0, 1, 0], [2, 1, 2, 2, 2, 1]),
    ((2, 3, 2, 2, 3, 2, 2, 3), [1, 0, 0, 1, 1, 0, 0, 1], [1, 2, -1, 1, 2, 2, 1, 2]),
]


@pytest.mark.parametrize("itype", ["int32", "int64"])
@pytest.mark.parametrize("shape,begin,size", CASES)
def test_slice(shape, begin, size, itype):
    assert_moved(slice_model(shape, begin, size, itype=itype), [shape])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,begin,size", [CASES[1], CASES[3], CASES[6]])
def test_slice_dtypes(shape, begin, size, dtype):
    assert_moved(slice_model(shape, begin, size, dtype), [shape], dtype)


@pytest.mark.parametrize("zp", [-128, 0, 127])
def test_slice_zero_points(zp):
    assert_moved(slice_model((1, 5, 5, 4), [0, 1, 2, 1], [1, 3, 2, 3], q=(0.3, zp)),
                 [(1, 5, 5, 4)])


def test_slice_kernel_is_one_memcpy_for_rows():
    from tinycompress.compiler import compile_tflite
    files, _ = compile_tflite(slice_model((1, 8, 8, 16), [0, 2, 0, 0], [1, 4, 8, 16]), name="m")
    body = files["src/m.c"].decode()
    assert "memcpy(d0, s0 + 256, 512);" in body and "for (" not in body.split("m_invoke")[0]


def _runtime_begin():
    return model("SLICE", [tensor((4, 4)), T((2,), "int32"), T((2,), "int32",
                                                             data=np.array([2, 2], np.int32))],
                 [tensor((2, 2))])


REFUSALS = [
    (lambda: slice_model((4, 4), [0, 0], [2, 2], itype="int16"), "begin operand .* is int16"),
    (_runtime_begin, "begin operand 'in1' is computed at run time"),
    (lambda: slice_model((4, 4), [3, 0], [2, 2], out_shape=(2, 2)), "begin 3, size 2 do not fit"),
    (lambda: slice_model((4, 4), [0, 0], [-2, 2], out_shape=(2, 2)), "size -2 do not fit"),
    (lambda: slice_model((4, 4), [0], [2], out_shape=(2, 4)), "begin has 1 values and size 1"),
    (lambda: slice_model((4, 4), [0, 0], [2, 2], out_shape=(2, 3)),
     r"has shape \[2, 3\]; the reference computes \[2, 2\]"),
    (lambda: model("SLICE", [tensor((4, 4)), T((2,), "int32", data=np.zeros(2, np.int32)),
                             T((2, 1), "int32", data=np.ones((2, 1), np.int32))],
                   [tensor((1, 1))]), r"size operand 'in2' has shape \[2, 1\]; a 1-D"),
    (lambda: model("SLICE", [tensor((4, 4), q=(0.1, 0)), T((2,), "int32",
                                                          data=np.zeros(2, np.int32)),
                             T((2,), "int32", data=np.ones(2, np.int32))],
                   [tensor((1, 1), q=(0.2, 0))]),
     r"'in0' is quantised \(scale 0.1, zero point 0\), 'out0' quantised \(scale 0.2, zero "
     r"point 0\); SLICE moves values without requantising"),
    (lambda: model("SLICE", [tensor((4, 4)), T((2,), "int32", data=np.zeros(2, np.int32))],
                   [tensor((1, 1))]), "expected 3 inputs and 1 outputs, got 2 and 1"),
]


@pytest.mark.parametrize("build,message", REFUSALS)
def test_slice_refusals(build, message):
    problems = compile_problems(build())
    assert any(re.search(f"SLICE \\(op 0.*{message}", p) for p in problems), problems


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), rank=st.integers(1, 5), dtype=st.sampled_from(DTYPES))
def test_slice_random(data, rank, dtype):
    shape = tuple(data.draw(st.lists(st.integers(1, 6), min_size=rank, max_size=rank)))
    begin = [data.draw(st.integers(0, d - 1)) for d in shape]
    size = [data.draw(st.sampled_from([-1, data.draw(st.integers(1, d - b))]))
            for d, b in zip(shape, begin)]
    assert_moved(slice_model(shape, begin, size, dtype), [shape], dtype, count=4,
                 sanitize=False, spread=False)
