"""L2_NORMALIZATION int8: bit-exact against the reference interpreter over shapes (ranks 1-4),
input quantisations and special rows (all at the zero point, a sum of squares of 1, long rows),
plus the refusals."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from optest import QEMU_MARKS, assert_bit_exact, assert_bit_exact_on_qemu, compile_problems
from tflite_builder import T, model


def l2(shape, s=0.05, zp=0, out_s=1 / 128, out_zp=0, act="NONE", dtype="int8"):
    return model("L2_NORMALIZATION", [T(shape, dtype, scale=s, zero_point=zp)],
                 [T(shape, dtype, scale=out_s, zero_point=out_zp)],
                 {"fused_activation_function": act})


# Few elements per row give components near +-1 (the whole output range).
@pytest.mark.parametrize("shape", [(1, 3), (4, 5), (2, 3, 4), (1, 2, 2, 6), (8,), (3, 2)])
def test_shapes(shape):
    assert_bit_exact(l2(shape), spread=dict(min_distinct=48, max_clamped=0.1))


@pytest.mark.parametrize("shape", [(1, 100), (2, 1000), (1, 6000)])
def test_long_rows(shape):
    """Larger sums of squares: the inverse square root's range reduction and negative shifts."""
    assert_bit_exact(l2(shape), count=6)


@pytest.mark.parametrize("s,zp", [(0.05, -128), (0.05, 127), (0.003, 10), (1.7, -60), (1e-5, 0)])
def test_input_quantisation(s, zp):
    """The scale cancels out; the zero point is subtracted before squaring."""
    assert_bit_exact(l2((4, 6), s, zp), spread=dict(min_distinct=80, max_clamped=0.1))


def test_special_rows():
    zp = 3
    rows = np.array([[zp] * 8,                        # sum of squares 0
                     [zp + 1] + [zp] * 7,             # 1
                     [zp - 1] + [zp] * 7,
                     [zp + 1, zp - 1] + [zp] * 6,     # 2
                     [127] * 8, [-128] * 8,
                     [127] + [-128] * 7,
                     list(range(-128, 128, 32))], np.int8)
    assert_bit_exact(l2((1, 8), 0.05, zp), inputs=[rows])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(outer=st.integers(1, 4), depth=st.integers(1, 400), log_s=st.floats(-9.0, 2.0),
       zp=st.integers(-128, 127), seed=st.integers(0, 99))
def test_random(outer, depth, log_s, zp, seed):
    assert_bit_exact(l2((outer, depth), float(np.exp(log_s)), zp), count=4, seed=seed,
                     sanitize=False)


@pytest.mark.parametrize("out_s,out_zp", [(1 / 128 + 1e-6, 0), (1 / 128, 1), (1 / 256, -128)])
def test_refuses_other_output_quantisation(out_s, out_zp):
    problems = compile_problems(l2((1, 10), out_s=out_s, out_zp=out_zp))
    assert any("L2_NORMALIZATION" in p and "must have scale 1/128 and zero point 0" in p
               for p in problems), problems


def test_refuses_fused_activation():
    problems = compile_problems(l2((1, 10), act="RELU"))
    assert any("fused activation RELU is not supported" in p for p in problems), problems


def test_refuses_rank_5():
    problems = compile_problems(l2((1, 2, 2, 2, 3)))
    assert any("input of rank 5; the reference supports ranks 1 to 4" in p
               for p in problems), problems


def test_refuses_rows_beyond_int32_sum():
    problems = compile_problems(l2((1, 33026)))
    assert any("the last axis has 33026 elements; at most 33025" in p for p in problems), problems


def test_refuses_int16():
    problems = compile_problems(l2((1, 10), 1 / 4096, 0, 1 / 4096, 0, dtype="int16"))
    assert any("L2_NORMALIZATION" in p and "is int16, expected int8" in p
               for p in problems), problems


@pytest.mark.slow
def test_keras_l2_normalize():
    """tf.math.l2_normalize after a convolution: the converter gives L2_NORMALIZATION the fixed
    output quantisation 1/128, 0 the kernel requires."""
    from keras_activation import convert_around

    def layer(keras):
        import tensorflow as tf

        return keras.layers.Lambda(lambda x: tf.math.l2_normalize(x, axis=-1))

    tflite, kinds = convert_around(layer, name="l2_normalize")
    assert kinds == ["CONV_2D", "L2_NORMALIZATION"]
    assert_bit_exact(tflite, spread=dict(min_distinct=64))


@QEMU_MARKS[0]
@QEMU_MARKS[1]
def test_cortex_m4_under_qemu():
    """The fixed-point inverse square root cross-compiled for a Cortex-M4."""
    assert_bit_exact_on_qemu(l2((3, 20), 0.03, 4), "mps2-an386")
