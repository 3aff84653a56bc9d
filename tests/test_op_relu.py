"""RELU, RELU6, RELU_N1_TO_1 and RELU_0_TO_1 int8: bit-exact against the reference interpreter
over all 256 inputs and many input/output quantisations (the compiler tabulates the reference's
rescale-and-clamp arithmetic)."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from optest import assert_bit_exact, compile_problems
from tflite_builder import T, model
from tinycompress.ops.relu import RANGES, relu_table
from tinycompress.reference import Reference

ALL = [np.arange(-128, 128, dtype=np.int8)[None, :]]
KINDS = sorted(RANGES)


def unary(kind, in_s, in_zp, out_s, out_zp, shape=(1, 256), dtype="int8"):
    return model(kind, [T(shape, dtype, scale=in_s, zero_point=in_zp)],
                 [T(shape, dtype, scale=out_s, zero_point=out_zp)])


# (input scale, zero point, output scale, zero point) per kind, chosen so that the non-clamped
# part of the function spans most of the output codes (the spread assertion checks it).
CASES = {
    "RELU": [(0.05, 0, 0.025, -128), (0.05, -128, 0.05, -128), (0.1, -100, 0.05, -100),
             (0.0123, -40, 0.0077, -128), (2.5, 10, 1.3, -128)],
    "RELU6": [(0.05, 0, 6 / 255, -128), (0.047, -128, 0.0235, -128), (0.03, -90, 0.024, -128),
              (0.03, -13, 0.0311, -100)],
    "RELU_N1_TO_1": [(0.01, 0, 2 / 255, 0), (0.0079, -128, 0.0078, 0), (0.0081, 127, 0.0079, 1),
                     (0.0085, 20, 0.008, -5)],
    "RELU_0_TO_1": [(0.005, 0, 1 / 255, -128), (0.004, -128, 0.004, -128),
                    (0.0041, -77, 0.0039, -127), (0.0037, -50, 0.0045, -120)],
}


@pytest.mark.parametrize("kind,q", [(k, q) for k in KINDS for q in CASES[k]])
def test_all_inputs(kind, q):
    # About half the inputs fall below the lower bound (the function itself, not saturation).
    assert_bit_exact(unary(kind, *q), inputs=ALL, spread=dict(min_distinct=90, max_clamped=0.6))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("q", [(0.1, 0, 0.1, 0), (0.07, -5, 0.5, 3), (0.3, 100, 0.002, -128),
                               (0.02, 127, 0.01, 127), (0.02, 127, 0.01, -128)])
def test_all_inputs_other_scales(kind, q):
    """Coarse, equal and very fine output scales, extreme zero points (mostly clamped: these
    check the clamp bounds and their rounding)."""
    assert_bit_exact(unary(kind, *q), inputs=ALL)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("shape", [(1,), (1, 7), (1, 4, 4, 3), (2, 300)])
def test_shapes(kind, shape):
    assert_bit_exact(unary(kind, 0.05, -5, 0.03, -60, shape=shape), count=4)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(KINDS), log_in=st.floats(-9.0, 2.5), log_out=st.floats(-9.0, 2.5),
       in_zp=st.integers(-128, 127), out_zp=st.integers(-128, 127))
def test_random_quantisation(kind, log_in, log_out, in_zp, out_zp):
    q = (float(np.exp(log_in)), in_zp, float(np.exp(log_out)), out_zp)
    assert_bit_exact(unary(kind, *q), inputs=ALL, sanitize=False)


def test_tables_match_reference_over_many_quantisations():
    """The compile-time tables alone (no C), against the interpreter: 4 x 60 quantisations,
    including output/input scale ratios far below and above 1."""
    rng = np.random.default_rng(11)
    for kind in KINDS:
        for _ in range(60):
            in_s, out_s = (float(np.float32(np.exp(rng.uniform(-9, 2.5)))) for _ in range(2))
            in_zp, out_zp = (int(v) for v in rng.integers(-128, 128, 2))
            expected = Reference(unary(kind, in_s, in_zp, out_s, out_zp)).run(ALL)[0]
            table = relu_table(kind, in_s, in_zp, out_s, out_zp)
            np.testing.assert_array_equal(table, expected, err_msg=f"{kind} {in_s} {in_zp} "
                                                                   f"{out_s} {out_zp}")


ALL16 = [np.arange(-32768, 32768, dtype=np.int16)[None, :]]


@pytest.mark.parametrize("kind", ["RELU", "RELU6"])
@pytest.mark.parametrize("in_s,out_s", [(1 / 4096, 1 / 4096), (6 / 32768, 6 / 32767),
                                        (1e-3, 2.7e-4), (1e-3, 0.002), (3e-5, 7e-3)])
def test_int16_all_inputs(kind, in_s, out_s):
    """Every int16 input once; zero points 0 as the reference requires."""
    assert_bit_exact(unary(kind, in_s, 0, out_s, 0, shape=(1, 65536), dtype="int16"),
                     inputs=ALL16, spread=dict(min_distinct=100, max_clamped=0.6))


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(["RELU", "RELU6"]), log_in=st.floats(-14.0, 0.0),
       log_out=st.floats(-14.0, 0.0))
def test_int16_random_quantisation(kind, log_in, log_out):
    m = unary(kind, float(np.exp(log_in)), 0, float(np.exp(log_out)), 0, shape=(1, 65536),
              dtype="int16")
    assert_bit_exact(m, inputs=ALL16, sanitize=False)


@pytest.mark.parametrize("kind", ["RELU_N1_TO_1", "RELU_0_TO_1"])
def test_refuses_int16_where_the_reference_has_none(kind):
    problems = compile_problems(unary(kind, 1 / 4096, 0, 1 / 4096, 0, shape=(1, 8),
                                      dtype="int16"))
    assert any(kind in p and "is int16, expected int8" in p for p in problems), problems


@pytest.mark.parametrize("kind", ["RELU", "RELU6"])
@pytest.mark.parametrize("in_zp,out_zp", [(1, 0), (0, -5)])
def test_refuses_int16_zero_points(kind, in_zp, out_zp):
    problems = compile_problems(unary(kind, 1 / 4096, in_zp, 1 / 4096, out_zp, shape=(1, 8),
                                      dtype="int16"))
    assert any(kind in p and f"int16 needs zero points 0 (as the reference kernel), got {in_zp} "
               f"and {out_zp}" in p for p in problems), problems


def test_refuses_int16_input_with_int8_output():
    m = model("RELU", [T((1, 8), "int16", scale=1 / 4096, zero_point=0)],
              [T((1, 8), scale=0.1, zero_point=0)])
    problems = compile_problems(m)
    assert any("RELU" in p and "'out0' is int8; expected quantised int16 like the input" in p
               for p in problems), problems


def test_refuses_per_channel():
    m = model("RELU", [T((1, 2, 3), scale=[0.1, 0.2], zero_point=[0, 0], axis=1)],
              [T((1, 2, 3), scale=0.1, zero_point=0)])
    problems = compile_problems(m)
    assert any("RELU" in p and "per channel" in p for p in problems), problems


@pytest.mark.slow
def test_keras_relu6():
    """Keras ReLU(max_value=6) on the model input (a standalone RELU6: after a convolution the
    converter fuses it)."""
    from keras_activation import convert_around

    tflite, kinds = convert_around(lambda keras: keras.layers.ReLU(max_value=6),
                                   before_conv=True, name="relu6")
    assert kinds == ["RELU6", "CONV_2D"]
    assert_bit_exact(tflite, spread={})
