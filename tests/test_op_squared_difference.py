"""SQUARED_DIFFERENCE int8: bit-exact against the reference interpreter over broadcast shapes,
constant operands and quantisation parameters (zero points at both ends, input scales far apart,
output multipliers near 1 and tiny), and its refusals."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from optest import assert_bit_exact, compile_problems
from test_op_add import SHAPES
from tflite_builder import T, model

# (0.05, -3) and (0.1, 7) differ by up to ~20: squares up to ~380, over the int8 range at 1.5.
Q1, Q2, QO = (0.05, -3), (0.1, 7), (1.5, -128)


def sqd_model(shape1, shape2, q1=Q1, q2=Q2, qo=QO, const=(False, False), seed=0):
    rng = np.random.default_rng(seed)
    ins = [T(shape, scale=s, zero_point=z,
             data=rng.integers(-128, 128, shape).astype(np.int8) if c else None)
           for shape, (s, z), c in ((shape1, q1, const[0]), (shape2, q2, const[1]))]
    out = tuple(np.broadcast_shapes(shape1, shape2))
    return model("SQUARED_DIFFERENCE", ins, [T(out, scale=qo[0], zero_point=qo[1])])


@pytest.mark.parametrize("shape1,shape2", SHAPES + [((2, 1, 3, 1, 2, 1), (1, 4, 1, 5, 2, 3))])
def test_sqd_broadcast(shape1, shape2):
    big = np.prod(np.broadcast_shapes(shape1, shape2)) >= 60
    assert_bit_exact(sqd_model(shape1, shape2), spread={} if big else None)


@pytest.mark.parametrize("const", [(True, False), (False, True)])
@pytest.mark.parametrize("shape1,shape2", [((1, 4, 4, 8), (1, 1, 1, 8)), ((1, 4, 4, 8), ())])
def test_sqd_constant_operand(const, shape1, shape2):
    assert_bit_exact(sqd_model(shape1, shape2, const=const))


@pytest.mark.parametrize("q1,q2,qo", [
    ((0.05, 127), (0.05, -128), (0.5, -128)),      # extreme zero points, equal scales (both 1/2)
    ((0.02, -128), (0.3, 127), (0.4, -100)),       # very different input scales
    ((0.3, 5), (0.02, -7), (0.2, 0)),              # the larger scale first
    ((0.01, 3), (0.01, -3), (0.0002, -128)),       # a small output scale: most squares clamp
    ((0.1, 0), (0.1, 0), (100.0, 0)),              # a tiny output multiplier
])
def test_sqd_quantisations(q1, q2, qo):
    assert_bit_exact(sqd_model((1, 5, 5, 7), (1, 5, 5, 7), q1=q1, q2=q2, qo=qo))


def test_sqd_spans_the_output_range():
    assert_bit_exact(sqd_model((1, 8, 8, 4), (1, 8, 8, 4), q1=(0.05, 10), q2=(0.04, -20),
                               qo=(0.4, -128)), spread={})


def test_sqd_refuses():
    problems = compile_problems(sqd_model((4,), (4,), q1=(1.0, 0), q2=(1.0, 0),
                                          qo=(2.0 ** -14, 0)))
    assert problems == [f"SQUARED_DIFFERENCE (op 0, 'out0'): output scale {2.0 ** -14} is too "
                        "small for the input scales 1.0, 1.0 (output multiplier >= 1, which the "
                        "reference refuses)"]
    b = model("SQUARED_DIFFERENCE", [T((4,), "int16", scale=0.1), T((4,), "int16", scale=0.1)],
              [T((4,), "int16", scale=0.1)])
    assert ("SQUARED_DIFFERENCE (op 0, 'out0'): tensor 'in0' is int16, expected int8"
            in compile_problems(b))
    b = model("SQUARED_DIFFERENCE", [T((3,), scale=0.1), T((4,), scale=0.1)], [T((4,), scale=1)])
    assert any("do not broadcast" in p for p in compile_problems(b))


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(s1=st.floats(1e-3, 1.0), s2=st.floats(1e-3, 1.0), so=st.floats(1e-2, 4.0),
       z1=st.integers(-128, 127), z2=st.integers(-128, 127), zo=st.integers(-128, 127),
       bshape=st.sampled_from([(1, 3, 4, 5), (1, 1, 1, 5), (1, 3, 4, 1), (5,), ()]),
       seed=st.integers(0, 99))
def test_sqd_random_quantisation(s1, s2, so, z1, z2, zo, bshape, seed):
    m = sqd_model((1, 3, 4, 5), bshape, q1=(s1, z1), q2=(s2, z2), qo=(so, zo), seed=seed)
    assert_bit_exact(m, count=8, sanitize=False)
