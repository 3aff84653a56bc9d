"""PRELU int8: bit-exact against the reference interpreter over alpha broadcasts (per channel,
per position, scalar, an activation), quantisations and shapes; plus the refusals."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from optest import assert_bit_exact, compile_problems
from tflite_builder import T, model
from tinycompress.ops.prelu import prelu_multipliers
from tinycompress.quant import (multiply_by_quantized_multiplier_double_rounding,
                                quantize_multiplier)
from tinycompress.reference import Reference


def prelu(x_shape, a_shape, qx=(0.05, -3), qa=(0.004, -100), qy=(0.04, -20), const=True,
          seed=0, dtype="int8", alpha=None):
    rng = np.random.default_rng(seed)
    data = None
    if const:
        data = alpha if alpha is not None else rng.integers(-128, 128, a_shape).astype(np.int8)
    return model("PRELU", [T(x_shape, dtype, scale=qx[0], zero_point=qx[1]),
                           T(a_shape, dtype, scale=qa[0], zero_point=qa[1], data=data)],
                 [T(x_shape, dtype, scale=qy[0], zero_point=qy[1])])


SHAPES = [
    ((1, 6, 6, 8), (8,)),             # per channel (Keras PReLU(shared_axes=[1, 2]))
    ((1, 6, 6, 8), (1, 1, 8)),
    ((1, 4, 5, 3), (4, 5, 3)),        # per position (Keras PReLU's default)
    ((1, 4, 5, 3), (1, 4, 5, 3)),     # same shape
    ((1, 4, 5, 3), (4, 1, 3)),        # shared along width only
    ((1, 4, 5, 3), (1,)),             # one alpha
    ((2, 37), (37,)),
    ((50,), (50,)),
    ((1, 2, 3, 2, 4), (1, 2, 3, 2, 4)),  # rank 5, same shape
]


@pytest.mark.parametrize("x_shape,a_shape", SHAPES)
def test_broadcast(x_shape, a_shape):
    assert_bit_exact(prelu(x_shape, a_shape), spread=dict(min_distinct=100, max_clamped=0.1))


@pytest.mark.parametrize("x_shape,a_shape", [((1, 4, 4, 6), (6,)), ((1, 4, 4, 6), (1, 4, 4, 6)),
                                             ((3, 10), (1,))])
def test_alpha_activation(x_shape, a_shape):
    """Alpha as a second graph input rather than a constant."""
    assert_bit_exact(prelu(x_shape, a_shape, const=False))


# (input, alpha, output) quantisations: zero points at both extremes, alpha scales of a
# Keras-like small slope and of a slope near 1, fine and coarse outputs.
QUANTS = [
    ((0.05, 0), (0.002, -128), (0.03, -30)),
    ((0.05, -128), (0.01, 0), (0.05, -128)),
    ((0.1, 127), (0.003, 127), (0.08, -128)),  # x <= 0, alpha <= 0
    ((0.02, 60), (0.008, 20), (0.04, 26)),
    ((0.2, -5), (0.0039, -128), (0.21, 0)),
]


@pytest.mark.parametrize("qx,qa,qy", QUANTS)
def test_quantisation(qx, qa, qy):
    assert_bit_exact(prelu((1, 8, 8, 4), (4,), qx, qa, qy), count=8,
                     spread=dict(min_distinct=64, max_clamped=0.2))


def test_float32_multiplier():
    """A quantisation (found by search) where the identity multiplier computed in float32 and in
    double differ in one table entry: the reference computes it in float32."""
    qx, qa, qy = (0.9903002381324768, -85), (0.1550890952348709, -105), (0.2610093653202057, -66)
    (m, e), _ = prelu_multipliers(qx[0], qa[0], qy[0])
    m64, e64 = quantize_multiplier(float(np.float32(qx[0])) / float(np.float32(qy[0])))
    # Input -68 (d = 17, the identity branch) comes out one apart.
    d = -68 - qx[1]
    assert (multiply_by_quantized_multiplier_double_rounding(d, m, e)
            != multiply_by_quantized_multiplier_double_rounding(d, m64, e64))
    alpha = np.array([53, 126, -59, 77, 100, 39, 111, 121], np.int8)
    x = [np.arange(-128, 128, dtype=np.int8)[None, :]]
    assert_bit_exact(prelu((1, 32, 8), (8,), qx, qa, qy, alpha=alpha), inputs=x)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(log_x=st.floats(-7.0, 1.0), log_a=st.floats(-9.0, 0.0), log_y=st.floats(-7.0, 1.0),
       zx=st.integers(-128, 127), za=st.integers(-128, 127), zy=st.integers(-128, 127),
       shapes=st.sampled_from(SHAPES[:7]), const=st.booleans(), seed=st.integers(0, 99))
def test_random(log_x, log_a, log_y, zx, za, zy, shapes, const, seed):
    q = [(float(np.exp(s)), z) for s, z in ((log_x, zx), (log_a, za), (log_y, zy))]
    assert_bit_exact(prelu(*shapes, *q, const=const, seed=seed), count=4, sanitize=False)


def test_refuses_int16():
    problems = compile_problems(prelu((1, 8), (8,), (1 / 4096, 0), (1 / 4096, 0), (1 / 4096, 0),
                                      dtype="int16"))
    assert any("PRELU" in p and "is int16, expected int8" in p for p in problems), problems


def test_refuses_per_channel_alpha():
    m = model("PRELU", [T((1, 4, 3), scale=0.1, zero_point=0),
                        T((3,), scale=[0.01, 0.02, 0.03], zero_point=[0, 0, 0],
                          data=np.ones(3, np.int8))],
              [T((1, 4, 3), scale=0.1, zero_point=0)])
    problems = compile_problems(m)
    assert any("PRELU" in p and "'in1' is quantised per channel" in p for p in problems), problems


def test_refuses_alpha_that_does_not_broadcast():
    problems = compile_problems(prelu((1, 4, 3), (4,)))
    assert any("PRELU" in p and "does not broadcast to the input shape [1, 4, 3]" in p
               for p in problems), problems
    # An alpha larger than the input broadcasts, but not to the input's shape.
    problems = compile_problems(prelu((1, 1, 3), (2, 1, 3)))
    assert any("does not broadcast to the input shape [1, 1, 3]" in p for p in problems), problems


def test_refuses_output_of_another_shape():
    m = model("PRELU", [T((1, 4, 3), scale=0.1, zero_point=0),
                        T((3,), scale=0.01, zero_point=0, data=np.ones(3, np.int8))],
              [T((1, 12), scale=0.1, zero_point=0)])
    problems = compile_problems(m)
    assert any("output shape [1, 12] differs from the input shape [1, 4, 3]" in p
               for p in problems), problems


def test_refuses_broadcast_above_rank_4():
    problems = compile_problems(prelu((1, 2, 3, 2, 4), (4,)))
    assert any("broadcasting alpha at rank 5 is not supported" in p for p in problems), problems


def test_refuses_wrong_operand_count():
    m = model("PRELU", [T((1, 4), scale=0.1, zero_point=0)], [T((1, 4), scale=0.1, zero_point=0)])
    problems = compile_problems(m)
    assert any("PRELU" in p and "expected an input, an alpha and one output" in p
               for p in problems), problems


def test_reference_broadcasts_per_position_alpha():
    """Sanity of the builder: Keras' per-position alpha (H, W, C) runs in the interpreter."""
    m = prelu((1, 4, 5, 3), (4, 5, 3))
    assert Reference(m).run([np.zeros((1, 4, 5, 3), np.int8)])[0].shape == (60,)


@pytest.mark.slow
@pytest.mark.parametrize("shared_axes", [[1, 2], None])
def test_keras_prelu(shared_axes):
    """Keras PReLU, per channel (alpha [1, 1, 8]) and per position (Keras' default, [6, 6, 8])."""
    from keras_activation import convert_around

    def layer(keras):
        return keras.layers.PReLU(shared_axes=shared_axes,
                                  alpha_initializer=keras.initializers.RandomUniform(0.05, 0.4))

    tflite, kinds = convert_around(layer, name="prelu")
    assert kinds == ["CONV_2D", "PRELU"]
    assert_bit_exact(tflite, spread={})
