"""SPACE_TO_BATCH_ND: bit-exact against the reference interpreter over block shapes, paddings
(the pad value is the output zero point: -128 to 127), batches, 3-D and 4-D inputs, int8, int16
and int32; every refusal."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from mover_models import assert_refused, space_batch_model
from optest import assert_bit_exact
from tflite_builder import T, model


def s2b_model(shape, block, pads, dtype="int8", q=(0.05, -3), qo=None, out=None,
              const_block=True):
    sp = len(block)
    pads = np.array(pads, np.int32).reshape(sp, 2)
    if out is None:
        spatial = [(d + a + b) // k for d, (a, b), k in zip(shape[1:1 + sp], pads, block)]
        out = (shape[0] * int(np.prod(block)), *spatial, *shape[1 + sp:])
    return space_batch_model("SPACE_TO_BATCH_ND", shape, block, pads, out, dtype, q, qo,
                             const_block=const_block)


CASES = [
    ((1, 4, 4, 3), (2, 2), [[0, 0], [0, 0]]),
    ((1, 5, 5, 2), (2, 2), [[1, 0], [0, 1]]),    # padded, offsets with different ranges
    ((2, 3, 5, 2), (2, 3), [[1, 0], [0, 1]]),
    ((1, 4, 6, 1), (2, 3), [[2, 2], [3, 0]]),    # padding a block multiple
    ((1, 6, 2, 4), (3, 1), [[0, 0], [0, 0]]),
    ((1, 2, 2, 3), (1, 1), [[0, 0], [0, 0]]),    # identity
    ((1, 5, 3), (2,), [[1, 2]]),                 # 3-D
    ((2, 4, 2), (4,), [[0, 0]]),
]


@pytest.mark.parametrize("shape,block,pads", CASES)
def test_space_to_batch_nd(shape, block, pads):
    assert_bit_exact(s2b_model(shape, block, pads), spread={})


@pytest.mark.parametrize("zp", [-128, 0, 127])
def test_space_to_batch_nd_pad_value_is_the_zero_point(zp):
    # 78 of the 128 outputs are padding: at zero point -128 or 127 they count as clamped.
    m = s2b_model((1, 5, 5, 2), (2, 2), [[1, 2], [2, 1]], q=(0.2, zp))
    assert_bit_exact(m, spread={"max_clamped": 0.65})


@pytest.mark.parametrize("dtype", ["int16", "int32"])
def test_space_to_batch_nd_wider_types(dtype):
    info = np.iinfo(dtype)
    x = np.random.default_rng(3).integers(info.min, info.max, (8, 3 * 4 * 2), dtype=np.int64)
    assert_bit_exact(s2b_model((1, 3, 4, 2), (2, 2), [[1, 0], [1, 1]], dtype, q=(0.01, 0)),
                     inputs=[x.astype(dtype)], spread={})


def test_space_to_batch_nd_refusals():
    base = ((1, 4, 4, 3), (2, 2), [[0, 0], [0, 0]])
    cases = [
        (s2b_model(*base, qo=(0.1, -3)), "they must be equal"),
        (s2b_model(*base, const_block=False), "block shape operand 'in1' is computed at run"),
        (s2b_model((1, 4, 4, 3), (2, 0), [[0, 0], [0, 0]], out=(4, 2, 2, 3)),
         "block shape [2, 0] must be positive"),
        (s2b_model((1, 4, 4, 3), (2, 2), [[0, 0], [-2, 2]], out=(4, 2, 2, 3)),
         "paddings [0, 0, -2, 2] must not be negative"),
        (s2b_model((1, 5, 4, 3), (2, 2), [[0, 0], [0, 0]], out=(4, 2, 2, 3)),
         "padded input 5 x 4 is not divisible by the block shape 2 x 2"),
        (s2b_model((1, 4, 4, 3), (2, 2), [[0, 0], [0, 0]], dtype="int16", q=(0.01, 5)),
         "int16 input 'in0' has zero point 5; the reference requires 0"),
        (s2b_model((1, 4, 4, 3), (2, 2), [[0, 0], [0, 0]], out=(4, 2, 2, 2)),
         "output 'out0' has shape [4, 2, 2, 2], expected [4, 2, 2, 3]"),
        (model("SPACE_TO_BATCH_ND", [T((1, 4, 4, 3), scale=0.1),
                                     T((3,), "int32", data=np.array([2, 2, 1], np.int32)),
                                     T((2, 2), "int32", data=np.zeros((2, 2), np.int32))],
               [T((4, 2, 2, 3), scale=0.1)]), "block shape operand 'in1' has shape [3]"),
        (model("SPACE_TO_BATCH_ND", [T((4, 4), scale=0.1),
                                     T((1,), "int32", data=np.array([2], np.int32)),
                                     T((1, 2), "int32", data=np.zeros((1, 2), np.int32))],
               [T((8, 2), scale=0.1)]), "rank 2; supported: 3, 4"),
    ]
    assert_refused("SPACE_TO_BATCH_ND", cases)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), n=st.integers(1, 2), c=st.integers(1, 4), bh=st.integers(1, 3),
       bw=st.integers(1, 3), zp=st.integers(-128, 127))
def test_space_to_batch_nd_random(data, n, c, bh, bw, zp):
    pt, pl = data.draw(st.integers(0, 3)), data.draw(st.integers(0, 3))
    h, w = data.draw(st.integers(1, 7)), data.draw(st.integers(1, 7))
    pb = -(h + pt) % bh + bh * data.draw(st.integers(0, 1))
    pr = -(w + pl) % bw
    assert_bit_exact(s2b_model((n, h, w, c), (bh, bw), [[pt, pb], [pl, pr]], q=(0.1, zp)),
                     count=4, sanitize=False)
