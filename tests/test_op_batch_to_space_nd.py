"""BATCH_TO_SPACE_ND: bit-exact against the reference interpreter over block shapes, crops,
batches, 3-D and 4-D inputs, int8 (zero points -128 to 127), int16 and int32; every refusal."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from mover_models import assert_refused, space_batch_model
from optest import assert_bit_exact
from tflite_builder import T, model


def b2s_model(shape, block, crops, dtype="int8", q=(0.05, -3), qo=None, out=None,
              const_crops=True):
    sp = len(block)
    crops = np.array(crops, np.int32).reshape(sp, 2)
    if out is None:
        spatial = [d * k - a - b for d, (a, b), k in zip(shape[1:1 + sp], crops, block)]
        out = (shape[0] // int(np.prod(block)), *spatial, *shape[1 + sp:])
    return space_batch_model("BATCH_TO_SPACE_ND", shape, block, crops, out, dtype, q, qo,
                             const_amounts=const_crops)


CASES = [
    ((4, 2, 2, 3), (2, 2), [[0, 0], [0, 0]]),
    ((4, 3, 3, 2), (2, 2), [[1, 0], [0, 1]]),    # cropped, offsets with different ranges
    ((12, 3, 2, 2), (2, 3), [[1, 0], [0, 2]]),
    ((6, 3, 2, 1), (2, 3), [[2, 2], [3, 0]]),    # cropping a block multiple
    ((6, 2, 2, 4), (3, 1), [[0, 0], [0, 0]]),
    ((2, 2, 2, 3), (1, 1), [[0, 0], [0, 0]]),    # identity
    ((4, 5, 2), (2,), [[1, 2]]),                 # 3-D
    ((8, 2, 3), (4,), [[0, 0]]),
]


@pytest.mark.parametrize("shape,block,crops", CASES)
def test_batch_to_space_nd(shape, block, crops):
    assert_bit_exact(b2s_model(shape, block, crops), spread={})


@pytest.mark.parametrize("zp", [-128, 127])
def test_batch_to_space_nd_zero_points(zp):
    assert_bit_exact(b2s_model((4, 3, 3, 2), (2, 2), [[1, 1], [2, 0]], q=(0.2, zp)), spread={})


@pytest.mark.parametrize("dtype", ["int16", "int32"])
def test_batch_to_space_nd_wider_types(dtype):
    info = np.iinfo(dtype)
    x = np.random.default_rng(3).integers(info.min, info.max, (8, 4 * 3 * 2 * 2), dtype=np.int64)
    assert_bit_exact(b2s_model((4, 3, 2, 2), (2, 2), [[1, 0], [0, 1]], dtype, q=(0.01, 0)),
                     inputs=[x.astype(dtype)], spread={})


def test_batch_to_space_nd_refusals():
    base = ((4, 2, 2, 3), (2, 2), [[0, 0], [0, 0]])
    cases = [
        (b2s_model(*base, qo=(0.05, 9)), "zero point 9); they must be equal"),
        (b2s_model(*base, const_crops=False), "crops operand 'in2' is computed at run time"),
        (b2s_model((4, 2, 2, 3), (2, 2), [[0, 0], [0, -1]], out=(1, 4, 4, 3)),
         "crops [0, 0, 0, -1] must not be negative"),
        (b2s_model((6, 2, 2, 3), (2, 2), [[0, 0], [0, 0]], out=(1, 4, 4, 3)),
         "input batch 6 is not divisible by the block size 4"),
        (b2s_model((4, 2, 2, 3), (2, 2), [[2, 2], [0, 0]], out=(1, 1, 4, 3)),
         "the crops leave an empty output [1, 0, 4, 3]"),
        (b2s_model((4, 2, 2, 3), (2, 2), [[0, 0], [0, 0]], dtype="uint8", q=(0.05, 3)),
         "is uint8; supported: int8, int16, int32"),
        (model("BATCH_TO_SPACE_ND", [T((4, 2, 2, 3), scale=0.1),
                                     T((2,), "int16", data=np.array([2, 2], np.int16)),
                                     T((2, 2), "int32", data=np.zeros((2, 2), np.int32))],
               [T((1, 4, 4, 3), scale=0.1)]), "block shape operand 'in1' is int16"),
    ]
    assert_refused("BATCH_TO_SPACE_ND", cases)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), n=st.integers(1, 2), c=st.integers(1, 4), bh=st.integers(1, 3),
       bw=st.integers(1, 3), zp=st.integers(-128, 127))
def test_batch_to_space_nd_random(data, n, c, bh, bw, zp):
    h, w = data.draw(st.integers(1, 4)), data.draw(st.integers(1, 4))
    ct = data.draw(st.integers(0, h * bh - 1))
    cb = data.draw(st.integers(0, h * bh - 1 - ct))
    cl = data.draw(st.integers(0, w * bw - 1))
    cr = data.draw(st.integers(0, w * bw - 1 - cl))
    assert_bit_exact(b2s_model((n * bh * bw, h, w, c), (bh, bw), [[ct, cb], [cl, cr]],
                               q=(0.1, zp)), count=4, sanitize=False)
