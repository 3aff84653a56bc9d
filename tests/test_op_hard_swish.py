"""HARD_SWISH int8: bit-exact against the reference interpreter over all 256 inputs and many
quantisations, including reluish and output exponents far from 0 (the compiler tabulates the
reference's int16 fixed-point arithmetic)."""

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from optest import assert_bit_exact, compile_problems
from tflite_builder import T, model
from tinycompress.ops.hard_swish import hard_swish_table, multipliers
from tinycompress.reference import Reference

ALL = [np.arange(-128, 128, dtype=np.int8)[None, :]]


def hard_swish(in_s, in_zp, out_s, out_zp, shape=(1, 256), dtype="int8"):
    return model("HARD_SWISH", [T(shape, dtype, scale=in_s, zero_point=in_zp)],
                 [T(shape, dtype, scale=out_s, zero_point=out_zp)])


# hard_swish(x) lies in [-0.375, max(x)]: output ranges chosen to hold it.
CASES = [
    (0.05, 0, 6.75 / 255, -114),      # x in [-6.4, 6.35]
    (0.047, -128, 0.047, -120),       # x >= 0: the identity part
    (0.0235, 127, 0.0016, 110),       # x <= 0: the dip to -3/8 only
    (0.1, -20, 0.057, -121),          # large x: the reluish multiplier saturates
    (0.004, -40, 0.00227, -57),       # reluish exponent < 0
    (0.03, 5, 0.015, -103),
]


@pytest.mark.parametrize("in_s,in_zp,out_s,out_zp", CASES)
def test_all_inputs(in_s, in_zp, out_s, out_zp):
    assert_bit_exact(hard_swish(in_s, in_zp, out_s, out_zp), inputs=ALL,
                     spread=dict(min_distinct=80, max_clamped=0.2))


@pytest.mark.parametrize("shape", [(1,), (1, 7), (1, 4, 4, 3), (2, 300)])
def test_shapes(shape):
    assert_bit_exact(hard_swish(0.05, -5, 0.03, -60, shape=shape), count=4)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(log_in=st.floats(-9.0, 2.5), log_out=st.floats(-9.0, 2.5), in_zp=st.integers(-128, 127),
       out_zp=st.integers(-128, 127))
def test_random_quantisation(log_in, log_out, in_zp, out_zp):
    in_s, out_s = float(np.exp(log_in)), float(np.exp(log_out))
    assume(multipliers(in_s, out_s)[0][1] <= 0)
    assert_bit_exact(hard_swish(in_s, in_zp, out_s, out_zp), inputs=ALL, sanitize=False)


def test_tables_match_reference_over_many_quantisations():
    """The compile-time tables alone (no C), against the interpreter: 200 quantisations with
    output exponents down to about -22 and reluish exponents from about -8 to 9."""
    rng = np.random.default_rng(17)
    checked = set()
    while len(checked) < 200:
        in_s, out_s = (float(np.float32(np.exp(rng.uniform(-9, 2.5)))) for _ in range(2))
        if multipliers(in_s, out_s)[0][1] > 0:
            continue
        in_zp, out_zp = (int(v) for v in rng.integers(-128, 128, 2))
        expected = Reference(hard_swish(in_s, in_zp, out_s, out_zp)).run(ALL)[0]
        table = hard_swish_table(in_s, in_zp, out_s, out_zp)
        np.testing.assert_array_equal(table, expected,
                                      err_msg=f"{in_s} {in_zp} {out_s} {out_zp}")
        checked.add((in_s, out_s))
    exponents = {tuple(e for _, e in multipliers(i, o)) for i, o in checked}
    assert min(e for e, _ in exponents) <= -16 and max(e for _, e in exponents) >= 5


def test_refuses_output_multiplier_of_one_or_more():
    problems = compile_problems(hard_swish(1.0, 0, 1 / 256, 0))
    assert any("HARD_SWISH" in p and "output multiplier must be below 1" in p
               for p in problems), problems


def test_refuses_int16():
    problems = compile_problems(hard_swish(1 / 4096, 0, 1 / 4096, 0, shape=(1, 8), dtype="int16"))
    assert any("HARD_SWISH" in p and "is int16, expected int8" in p for p in problems), problems


@pytest.mark.slow
def test_keras_hard_swish():
    from keras_activation import convert_around

    tflite, kinds = convert_around(lambda keras: keras.layers.Activation("hard_swish"),
                                   name="hard_swish")
    assert kinds == ["CONV_2D", "HARD_SWISH"]
    assert_bit_exact(tflite, spread={})
