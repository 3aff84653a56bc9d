"""LEAKY_RELU int8: bit-exact against the reference interpreter over all 256 inputs, many
quantisations and alphas (small, zero, negative, above 1)."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from optest import assert_bit_exact, compile_problems
from tflite_builder import T, model
from tinycompress.ops.leaky_relu import leaky_relu_table
from tinycompress.reference import Reference

ALL = [np.arange(-128, 128, dtype=np.int8)[None, :]]


def leaky(alpha, in_s, in_zp, out_s, out_zp, shape=(1, 256), dtype="int8"):
    return model("LEAKY_RELU", [T(shape, dtype, scale=in_s, zero_point=in_zp)],
                 [T(shape, dtype, scale=out_s, zero_point=out_zp)], {"alpha": alpha})


# Output ranges chosen to hold alpha * min(x) .. max(x), so the outputs span the int8 range.
CASES = [
    (0.2, 0.05, 0, 0.03, -77),          # Keras LeakyReLU's default negative slope (0.3) region
    (0.3, 0.05, -128, 0.05, -128),
    (0.01, 0.1, 127, 0.001, 127),       # input all <= 0: only the alpha branch
    (0.1, 0.0123, -40, 0.007, -110),
    (0.0, 0.05, 20, 0.03, -128),        # alpha 0: a RELU
    (-1.0, 0.04, 10, 0.03, -128),       # negative alpha: a V shape
    (-0.5, 0.04, 10, 0.03, -128),
    (-0.5, 1 / 16, 0, 1 / 16, -100),    # power-of-two scales: every odd negative input ties
    (-1.5, 1 / 32, 30, 1 / 16, -128),
    (1.5, 0.02, 60, 0.04, 26),          # alpha above 1
    (3.0, 0.2, -5, 1.0, 60),
]


@pytest.mark.parametrize("alpha,in_s,in_zp,out_s,out_zp", CASES)
def test_all_inputs(alpha, in_s, in_zp, out_s, out_zp):
    assert_bit_exact(leaky(alpha, in_s, in_zp, out_s, out_zp), inputs=ALL,
                     spread=dict(min_distinct=100, max_clamped=0.6))


@pytest.mark.parametrize("shape", [(1,), (1, 7), (1, 4, 4, 3), (2, 300)])
def test_shapes(shape):
    assert_bit_exact(leaky(0.2, 0.05, -5, 0.03, -60, shape=shape), count=4)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(alpha=st.floats(-2.0, 4.0) | st.sampled_from([-0.5, -1.5, -0.25]),
       log_in=st.floats(-9.0, 2.5) | st.integers(-10, 2).map(lambda e: e * float(np.log(2))),
       log_out=st.floats(-9.0, 2.5), in_zp=st.integers(-128, 127),
       out_zp=st.integers(-128, 127))
def test_random_quantisation(alpha, log_in, log_out, in_zp, out_zp):
    m = leaky(alpha, float(np.exp(log_in)), in_zp, float(np.exp(log_out)), out_zp)
    assert_bit_exact(m, inputs=ALL, sanitize=False)


@pytest.mark.parametrize("alpha", [-0.5, -1.5, -0.25, -2.5])
@pytest.mark.parametrize("dtype", ["int8", "int16"])
def test_negative_alpha_ties_round_like_the_reference(alpha, dtype):
    """Power-of-two scales make the alpha branch's products tie (x.5) often: the interpreter
    rounds their magnitude (-MBQM(d, -alpha)); rounding the product itself misses them."""
    from tinycompress.ops.leaky_relu import leaky_multipliers
    from tinycompress.quant import multiply_by_quantized_multiplier_double_rounding as mbqm

    wide = dtype == "int16"
    inputs, scale = (ALL16, 2.0 ** -12) if wide else (ALL, 2.0 ** -4)
    m = leaky(alpha, scale, 0, scale, 0, shape=inputs[0].shape, dtype=dtype)
    manifest = assert_bit_exact(m, inputs=inputs, spread=dict(min_distinct=100, max_clamped=0.6))
    assert manifest
    expected = Reference(m).run(inputs)[0].ravel()
    _, (ma, sa) = leaky_multipliers(alpha, scale, scale)
    lo, hi = (-32768, 32767) if wide else (-128, 127)
    naive = [min(hi, max(lo, mbqm(int(x), ma, sa))) for x in inputs[0].ravel() if x < 0]
    assert (np.array(naive) != expected[:len(naive)]).sum() > len(naive) // 8


def test_tables_match_reference_over_many_quantisations():
    """The compile-time tables alone (no C), against the interpreter: 150 quantisations."""
    rng = np.random.default_rng(13)
    for _ in range(150):
        alpha = float(np.float32(rng.choice([0.0, 0.01, 0.2, 0.3, -0.7, -0.5, -1.5, 2.0,
                                             rng.uniform(-3, 3)])))
        in_s, out_s = (float(np.float32(np.exp(rng.uniform(-9, 2.5)))) for _ in range(2))
        if rng.random() < 0.25:  # power-of-two scales: ties on the alpha branch
            in_s, out_s = (float(2.0 ** rng.integers(-10, 2)) for _ in range(2))
        in_zp, out_zp = (int(v) for v in rng.integers(-128, 128, 2))
        expected = Reference(leaky(alpha, in_s, in_zp, out_s, out_zp)).run(ALL)[0]
        table = leaky_relu_table(alpha, in_s, in_zp, out_s, out_zp)
        np.testing.assert_array_equal(table, expected,
                                      err_msg=f"{alpha} {in_s} {in_zp} {out_s} {out_zp}")


ALL16 = [np.arange(-32768, 32768, dtype=np.int16)[None, :]]


@pytest.mark.parametrize("alpha,in_s,out_s", [(0.2, 1 / 4096, 1 / 4096), (0.01, 1e-3, 1.1e-3),
                                              (-1.0, 3e-4, 2e-4), (-0.5, 3e-4, 2e-4),
                                              (2.5, 1e-4, 2.6e-4), (0.3, 0.05, 0.7)])
def test_int16_all_inputs(alpha, in_s, out_s):
    """Every int16 input once; zero points 0 as the reference requires."""
    assert_bit_exact(leaky(alpha, in_s, 0, out_s, 0, shape=(1, 65536), dtype="int16"),
                     inputs=ALL16, spread=dict(min_distinct=100, max_clamped=0.5))


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(alpha=st.floats(-2.0, 4.0) | st.sampled_from([-0.5, -1.5]),
       log_in=st.floats(-14.0, 0.0) | st.integers(-14, 0).map(lambda e: e * float(np.log(2))),
       log_out=st.floats(-14.0, 0.0))
def test_int16_random_quantisation(alpha, log_in, log_out):
    m = leaky(alpha, float(np.exp(log_in)), 0, float(np.exp(log_out)), 0, shape=(1, 65536),
              dtype="int16")
    assert_bit_exact(m, inputs=ALL16, sanitize=False)


def test_refuses_int16_zero_points():
    problems = compile_problems(leaky(0.2, 1 / 4096, 3, 1 / 4096, 0, shape=(1, 8), dtype="int16"))
    assert any("LEAKY_RELU" in p and "int16 needs zero points 0" in p for p in problems), problems


def test_refuses_other_types():
    m = model("LEAKY_RELU", [T((1, 8), "int32", scale=0.1, zero_point=0)],
              [T((1, 8), "int32", scale=0.1, zero_point=0)], {"alpha": 0.2})
    problems = compile_problems(m)
    assert any("LEAKY_RELU" in p and "is int32, expected int8" in p for p in problems), problems


@pytest.mark.slow
def test_keras_leaky_relu():
    from keras_activation import convert_around

    tflite, kinds = convert_around(lambda keras: keras.layers.LeakyReLU(negative_slope=0.2),
                                   name="leaky_relu")
    assert kinds == ["CONV_2D", "LEAKY_RELU"]
    assert_bit_exact(tflite, spread={})
