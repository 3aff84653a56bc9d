"""ABS int8 and int16: bit-exact against the reference interpreter with and without a rescale
(right and left shifts), every int8 input value, zero points at both ends, and its refusals."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from optest import assert_bit_exact, compile_problems
from tflite_builder import T, model

ALL_INT8 = [np.arange(-128, 128, dtype=np.int8).reshape(1, 256)]


def abs_model(shape, q_in, q_out, dtype="int8"):
    return model("ABS", [T(shape, dtype, scale=q_in[0], zero_point=q_in[1])],
                 [T(shape, dtype, scale=q_out[0], zero_point=q_out[1])])


@pytest.mark.parametrize("q_in,q_out", [
    ((0.05, 0), (0.05, -128)),      # same scale: |x| + zp, no rescale
    ((0.05, -128), (0.05, -128)),   # |x + 128| - 128 = x
    ((0.05, 127), (0.05, -128)),
    ((0.05, 3), (0.025, -128)),     # rescale by 2: a left shift
    ((0.05, -7), (0.03, -100)),     # rescale above 1
    ((0.02, 20), (0.07, 5)),        # rescale below 1: a right shift
    ((0.1, 0), (0.9, -128)),        # a larger right shift
])
def test_abs_int8_every_input(q_in, q_out):
    assert_bit_exact(abs_model((256,), q_in, q_out), inputs=ALL_INT8)


@pytest.mark.parametrize("shape", [(1, 8, 8, 3), (5, 7), (1,)])
def test_abs_int8_shapes(shape):
    spread = {} if np.prod(shape) >= 64 else None
    assert_bit_exact(abs_model(shape, (0.05, -3), (0.025, -128)), spread=spread)


@pytest.mark.parametrize("q_in,q_out", [
    ((0.001, 0), (0.001, 0)),       # no rescale; -32768 clamps to 32767
    ((0.001, 0), (0.0009, 0)),      # rescale above 1
    ((0.001, 0), (0.003, 0)),       # rescale below 1
])
def test_abs_int16(q_in, q_out):
    assert_bit_exact(abs_model((1, 6, 6, 4), q_in, q_out, "int16"),
                     spread={"min_distinct": 64, "max_clamped": 0.3})
    edges = [np.array([[-32768, -32767, -1, 0, 1, 32767]], np.int16)]
    assert_bit_exact(abs_model((6,), q_in, q_out, "int16"), inputs=edges)


def test_abs_refuses():
    assert compile_problems(abs_model((4,), (0.1, 3), (0.1, 0), "int16")) == [
        "ABS (op 0, 'out0'): int16 zero points (3, 0) must be 0 (as the reference)"]
    (problem,) = compile_problems(abs_model((4,), (1000.0, 0), (1e-6, 0)))
    assert problem.startswith("ABS (op 0, 'out0'): the rescale 1000.0 / ") and \
        "needs a left shift of 30 bits, which overflows int32" in problem
    b = model("ABS", [T((4,), "int32")], [T((4,), "int32")])
    assert "ABS (op 0, 'out0'): tensor 'in0' is int32, expected int8 or int16" in \
        compile_problems(b)
    b = model("ABS", [T((4,), scale=0.1)], [T((4,), "int16", scale=0.1)])
    assert "ABS (op 0, 'out0'): tensor 'out0' is int16, expected int8" in compile_problems(b)
    b = model("ABS", [T((4,), scale=0.1, data=np.arange(4, dtype=np.int8))], [T((4,), scale=0.1)])
    assert "ABS (op 0, 'out0'): constant input 'in0' is not supported" in compile_problems(b)
    b = model("ABS", [T((2, 2), scale=[0.1, 0.2], zero_point=[0, 0], axis=1)],
              [T((2, 2), scale=0.1)])
    assert any("quantised per channel" in p for p in compile_problems(b))


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(s_in=st.floats(1e-3, 1.0), s_out=st.floats(1e-3, 1.0), z_in=st.integers(-128, 127),
       z_out=st.integers(-128, 127), int16=st.booleans())
def test_abs_random(s_in, s_out, z_in, z_out, int16):
    if int16:
        assert_bit_exact(abs_model((64,), (s_in, 0), (s_out, 0), "int16"), count=8,
                         sanitize=False)
    else:
        assert_bit_exact(abs_model((256,), (s_in, z_in), (s_out, z_out)), inputs=ALL_INT8,
                         sanitize=False)
