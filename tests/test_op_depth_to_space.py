"""DEPTH_TO_SPACE: bit-exact against the reference interpreter over block sizes, batches and
channels, int8 (any quantisation, also unlike the output's) and int32; every refusal."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from mover_models import assert_refused, block_size_model
from optest import assert_bit_exact
from tflite_builder import T, model


def d2s_model(shape, block, dtype="int8", q=(0.05, -3), qo=None, out=None):
    n, h, w, c = shape
    out = out or (n, h * block, w * block, c // (block * block))
    return block_size_model("DEPTH_TO_SPACE", shape, out, block, dtype, q, qo)


CASES = [((1, 2, 2, 12), 2), ((1, 2, 2, 9), 3), ((2, 2, 3, 8), 2), ((1, 1, 2, 32), 4),
         ((1, 3, 3, 4), 2), ((1, 3, 3, 2), 1), ((3, 1, 1, 4), 2)]


@pytest.mark.parametrize("shape,block", CASES)
def test_depth_to_space(shape, block):
    assert_bit_exact(d2s_model(shape, block), spread={})


@pytest.mark.parametrize("q,qo", [((0.05, -128), (0.05, -128)), ((0.3, 127), (0.3, 127)),
                                  ((0.05, 3), (0.9, -60))])
def test_depth_to_space_quantisation_is_not_touched(q, qo):
    assert_bit_exact(d2s_model((1, 2, 2, 12), 2, q=q, qo=qo), spread={})


def test_depth_to_space_int32():
    rng = np.random.default_rng(1)
    x = rng.integers(-2**31, 2**31 - 1, (8, 2 * 3 * 8), dtype=np.int64).astype(np.int32)
    assert_bit_exact(d2s_model((1, 2, 3, 8), 2, "int32"), inputs=[x], spread={})


def test_depth_to_space_refusals():
    cases = [
        (d2s_model((1, 2, 2, 12), 2, "int16", q=(0.01, 0)), "is int16; supported: int8, int32"),
        (d2s_model((1, 2, 2, 6), 2, out=(1, 4, 4, 1)), "6 channels, not divisible by "
                                                        "block_size^2 = 4"),
        (d2s_model((1, 2, 2, 4), -1, out=(1, 2, 2, 4)), "block_size -1 is not a positive"),
        (d2s_model((1, 2, 2, 12), 2, out=(1, 4, 2, 6)), "has shape [1, 4, 2, 6], expected"),
        (model("DEPTH_TO_SPACE", [T((2, 2, 12), scale=0.1)], [T((4, 4, 3), scale=0.1)],
               {"block_size": 2}), "rank 3; supported: 4"),
        (model("DEPTH_TO_SPACE", [T((1, 1, 1, 4), scale=0.1, data=np.zeros((1, 1, 1, 4),
                                                                          np.int8))],
               [T((1, 2, 2, 1), scale=0.1)], {"block_size": 2}), "input 'in0' is a constant"),
    ]
    assert_refused("DEPTH_TO_SPACE", cases)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(1, 2), h=st.integers(1, 3), w=st.integers(1, 3), c=st.integers(1, 3),
       block=st.integers(1, 3), zp=st.integers(-128, 127))
def test_depth_to_space_random(n, h, w, c, block, zp):
    assert_bit_exact(d2s_model((n, h, w, c * block * block), block, q=(0.1, zp)), count=4,
                     sanitize=False)
