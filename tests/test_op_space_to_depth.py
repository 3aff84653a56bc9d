"""SPACE_TO_DEPTH: bit-exact against the reference interpreter over block sizes, batches and
channels, int8 (any quantisation, also unlike the output's) and int32; every refusal."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from mover_models import assert_refused, block_size_model
from optest import assert_bit_exact
from tflite_builder import T, model


def s2d_model(shape, block, dtype="int8", q=(0.05, -3), qo=None, out=None):
    n, h, w, c = shape
    out = out or (n, h // block, w // block, c * block * block)
    return block_size_model("SPACE_TO_DEPTH", shape, out, block, dtype, q, qo)


CASES = [((1, 4, 4, 3), 2), ((1, 6, 6, 1), 3), ((2, 4, 6, 2), 2), ((1, 8, 4, 5), 4),
         ((1, 2, 2, 8), 2), ((1, 3, 3, 2), 1), ((3, 2, 4, 1), 2)]


@pytest.mark.parametrize("shape,block", CASES)
def test_space_to_depth(shape, block):
    assert_bit_exact(s2d_model(shape, block), spread={})


@pytest.mark.parametrize("q,qo", [((0.05, -128), (0.05, -128)), ((0.3, 127), (0.3, 127)),
                                  ((0.05, 3), (0.9, -60))])
def test_space_to_depth_quantisation_is_not_touched(q, qo):
    assert_bit_exact(s2d_model((1, 4, 4, 3), 2, q=q, qo=qo), spread={})


def test_space_to_depth_int32():
    rng = np.random.default_rng(1)
    x = rng.integers(-2**31, 2**31 - 1, (8, 4 * 6 * 2), dtype=np.int64).astype(np.int32)
    assert_bit_exact(s2d_model((1, 4, 6, 2), 2, "int32"), inputs=[x], spread={})


def test_space_to_depth_refusals():
    cases = [
        (s2d_model((1, 4, 4, 3), 2, "int16", q=(0.01, 0)), "is int16; supported: int8, int32"),
        (s2d_model((1, 5, 4, 3), 2, out=(1, 2, 2, 12)), "not divisible by block_size 2"),
        (s2d_model((1, 4, 4, 3), 0, out=(1, 4, 4, 3)), "block_size 0 is not a positive integer"),
        (s2d_model((1, 4, 4, 3), 2, out=(1, 2, 2, 6)), "has shape [1, 2, 2, 6], expected"),
        (model("SPACE_TO_DEPTH", [T((4, 4, 3), scale=0.1)], [T((2, 2, 12), scale=0.1)],
               {"block_size": 2}), "rank 3; supported: 4"),
        (model("SPACE_TO_DEPTH", [T((1, 2, 2, 1), scale=0.1, data=np.zeros((1, 2, 2, 1),
                                                                          np.int8))],
               [T((1, 1, 1, 4), scale=0.1)], {"block_size": 2}), "input 'in0' is a constant"),
    ]
    assert_refused("SPACE_TO_DEPTH", cases)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(1, 2), hb=st.integers(1, 3), wb=st.integers(1, 3), c=st.integers(1, 5),
       block=st.integers(1, 3), zp=st.integers(-128, 127))
def test_space_to_depth_random(n, hb, wb, c, block, zp):
    assert_bit_exact(s2d_model((n, hb * block, wb * block, c), block, q=(0.1, zp)), count=4,
                     sanitize=False)
