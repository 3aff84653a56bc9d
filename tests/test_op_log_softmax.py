"""LOG_SOFTMAX int8: bit-exact against the reference interpreter over shapes, input
quantisations and special rows (all equal, one dominant element, the longest row supported)."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from optest import QEMU_MARKS, assert_bit_exact, assert_bit_exact_on_qemu, compile_problems
from tflite_builder import T, model


def log_softmax(shape, s=0.03, zp=0, out_s=16 / 256, out_zp=127, dtype="int8"):
    return model("LOG_SOFTMAX", [T(shape, dtype, scale=s, zero_point=zp)],
                 [T(shape, dtype, scale=out_s, zero_point=out_zp)])


# Output log(p) * 16 + 127: an input scale around 0.03 puts most of a random row's log
# probabilities inside [-255/16, 0].
@pytest.mark.parametrize("shape", [(1, 10), (4, 100), (2, 3, 50), (1, 1000), (60,),
                                   (1, 2, 2, 37)])
def test_shapes(shape):
    assert_bit_exact(log_softmax(shape), spread=dict(min_distinct=100, max_clamped=0.25))


@pytest.mark.parametrize("s,zp", [(0.03, -128), (0.03, 127), (0.01, 3), (0.06, -40), (0.1, 0),
                                  (0.25, 20), (1.0, 0), (2e-4, 5)])
def test_input_quantisation(s, zp):
    """The input zero point cancels out (x - max); the scale sets the exponent multipliers."""
    assert_bit_exact(log_softmax((3, 40), s, zp), count=12)


def test_spread_fine_input_scale():
    assert_bit_exact(log_softmax((8, 24), 0.02, 0), spread=dict(min_distinct=80))


def test_one_element_rows():
    # log(1) = 0 -> 127 for every element.
    assert_bit_exact(log_softmax((5, 1)))


def test_special_rows():
    rows = np.array([[7] * 16, [-128] * 16, [127] + [-128] * 15, [0, 127] * 8,
                     list(range(-128, 128, 16)), [127, 126] + [-128] * 14], np.int8)
    for s in (0.03, 0.5):
        assert_bit_exact(log_softmax((1, 16), s), inputs=[rows])


def test_longest_row():
    """4095 equal elements: a sum of exponentials of 4095 * 2^19, just below 2^31."""
    x = np.zeros((2, 4095), np.int8)
    x[1, ::7] = 100
    assert_bit_exact(log_softmax((1, 4095), 0.03), inputs=[x], sanitize=False)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(outer=st.integers(1, 4), depth=st.integers(1, 300), log_s=st.floats(-9.0, 1.0),
       zp=st.integers(-128, 127), seed=st.integers(0, 99))
def test_random(outer, depth, log_s, zp, seed):
    assert_bit_exact(log_softmax((outer, depth), float(np.exp(log_s)), zp), count=4, seed=seed,
                     sanitize=False)


@pytest.mark.parametrize("out_s,out_zp", [(1 / 16 + 1e-4, 127), (16 / 256, 0), (1 / 256, -128)])
def test_refuses_other_output_quantisation(out_s, out_zp):
    problems = compile_problems(log_softmax((1, 10), out_s=out_s, out_zp=out_zp))
    assert any("LOG_SOFTMAX" in p and "must have scale 16/256 and zero point 127" in p
               for p in problems), problems


def test_refuses_tiny_input_scale():
    problems = compile_problems(log_softmax((1, 10), s=1e-9))
    assert any("LOG_SOFTMAX" in p and "must exceed 2^-26" in p for p in problems), problems


def test_refuses_rows_of_4096():
    problems = compile_problems(log_softmax((1, 4096)))
    assert any("must have 1 to 4095 elements" in p for p in problems), problems


def test_refuses_int16():
    problems = compile_problems(log_softmax((1, 10), 1 / 4096, 0, 1 / 4096, 0, dtype="int16"))
    assert any("LOG_SOFTMAX" in p and "is int16, expected int8" in p for p in problems), problems


@pytest.mark.slow
def test_keras_log_softmax():
    """tf.nn.log_softmax after a convolution: the converter gives LOG_SOFTMAX the fixed output
    quantisation 16/256, 127 the kernel requires."""
    from keras_activation import convert_around

    def layer(keras):
        import tensorflow as tf

        return keras.layers.Lambda(lambda x: tf.nn.log_softmax(x, axis=-1))

    tflite, kinds = convert_around(layer, name="log_softmax")
    assert kinds == ["CONV_2D", "LOG_SOFTMAX"]
    assert_bit_exact(tflite, spread=dict(min_distinct=64))


@QEMU_MARKS[0]
@QEMU_MARKS[1]
def test_cortex_m4_under_qemu():
    """The fixed-point log and exponentials cross-compiled for a Cortex-M4."""
    assert_bit_exact_on_qemu(log_softmax((2, 40)), "mps2-an386")
