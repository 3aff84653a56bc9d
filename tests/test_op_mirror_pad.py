"""MIRROR_PAD: bit-exact against the reference interpreter in REFLECT and SYMMETRIC modes over
ranks 1-5, paddings on any dimension up to their limits (int32 and int64 operands), int8 (zero
points -128 to 127), int16 and int32; every refusal."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from optest import assert_bit_exact, compile_problems
from tflite_builder import T, model

REFLECT, SYMMETRIC = 0, 1


def mirror_model(shape, pads, mode=REFLECT, dtype="int8", pdtype="int32", q=(0.05, -3), qo=None,
                 const_pads=True):
    p = np.array(pads, pdtype).reshape(len(shape), 2)
    out = tuple(int(d + a + b) for d, (a, b) in zip(shape, p))
    scale = None if dtype == "int32" else q[0]
    so, zo = qo if qo is not None else q
    return model("MIRROR_PAD", [T(shape, dtype, scale=scale, zero_point=q[1]),
                                T(p.shape, pdtype, data=p if const_pads else None)],
                 [T(out, dtype, scale=None if dtype == "int32" else so, zero_point=zo)],
                 {"mode": mode})


CASES = [
    ((1, 4, 4, 3), [[0, 0], [1, 1], [1, 1], [0, 0]]),   # conv SAME-style
    ((1, 5, 6, 2), [[0, 0], [2, 0], [0, 3], [0, 0]]),
    ((1, 3, 3, 4), [[0, 0], [0, 0], [0, 0], [2, 1]]),   # channels
    ((2, 3, 3, 2), [[1, 1], [1, 2], [2, 1], [1, 0]]),   # everything
    ((1, 3, 3, 2), [[0, 0], [0, 0], [0, 0], [0, 0]]),   # nothing
    ((6,), [[3, 2]]),
    ((3, 5), [[2, 0], [1, 4]]),
    ((2, 3, 4), [[0, 1], [1, 2], [3, 3]]),
    ((2, 1, 3, 2, 3), [[1, 1], [0, 0], [2, 1], [1, 1], [0, 2]]),
]


@pytest.mark.parametrize("mode", [REFLECT, SYMMETRIC])
@pytest.mark.parametrize("shape,pads", CASES)
def test_mirror_pad(shape, pads, mode):
    assert_bit_exact(mirror_model(shape, pads, mode), spread={})


@pytest.mark.parametrize("mode", [REFLECT, SYMMETRIC])
def test_mirror_pad_largest_paddings(mode):
    # REFLECT pads at most size - 1, SYMMETRIC at most size.
    d = 3 if mode == REFLECT else 4
    assert_bit_exact(mirror_model((1, 4, 4, 2), [[0, 0], [d, d], [d, 0], [0, 0]], mode,
                                  pdtype="int64"), spread={})


@pytest.mark.parametrize("zp", [-128, 0, 127])
def test_mirror_pad_zero_points(zp):
    assert_bit_exact(mirror_model((1, 3, 4, 2), [[0, 0], [2, 1], [1, 2], [0, 0]], q=(0.37, zp)),
                     spread={})


@pytest.mark.parametrize("dtype", ["int16", "int32"])
def test_mirror_pad_wider_types(dtype):
    shape = (1, 3, 4, 3)
    info = np.iinfo(dtype)
    x = np.random.default_rng(2).integers(info.min, info.max, (8, 36), dtype=np.int64)
    assert_bit_exact(mirror_model(shape, [[0, 0], [1, 2], [2, 1], [1, 1]], SYMMETRIC, dtype,
                                  q=(0.01, 0)), inputs=[x.astype(dtype)], spread={})


def test_mirror_pad_refusals():
    base = ((1, 3, 3, 2), [[0, 0], [1, 1], [1, 1], [0, 0]])
    cases = [
        (mirror_model(*base, q=(0.05, 0), qo=(0.1, 0)), "input 'in0' is quantised (scale "
                                                        "0.05"),
        (mirror_model(*base, q=(0.05, 0), qo=(0.05, 4)), "zero point 4); they must be equal"),
        (mirror_model(*base, mode=2), "mode 2 is not supported"),
        (mirror_model(*base, const_pads=False), "paddings operand 'in1' is computed at run"),
        (mirror_model((1, 3, 3, 2), [[0, 0], [3, 0], [0, 0], [0, 0]]),
         "paddings [3, 0] of dimension 1 (size 3) are outside 0 to 2, the range REFLECT"),
        (mirror_model((1, 3, 3, 2), [[0, 0], [0, 0], [0, 4], [0, 0]], SYMMETRIC),
         "paddings [0, 4] of dimension 2 (size 3) are outside 0 to 3, the range SYMMETRIC"),
        (model("MIRROR_PAD", [T((3,), scale=0.1), T((2, 2), "int32",
                                                    data=np.zeros((2, 2), np.int32))],
               [T((3,), scale=0.1)], {"mode": 0}), "has shape [2, 2], expected [1, 2]"),
        (model("MIRROR_PAD", [T((1,) * 7, scale=0.1), T((7, 2), "int32",
                                                        data=np.zeros((7, 2), np.int32))],
               [T((1,) * 7, scale=0.1)], {"mode": 0}), "rank 7; supported: 1 to 6"),
        (model("MIRROR_PAD", [T((3,), scale=0.1), T((1, 2), "int32",
                                                    data=np.array([[1, 1]], np.int32))],
               [T((4,), scale=0.1)], {"mode": 0}), "output 'out0' has shape [4], expected [5]"),
    ]
    for tflite, message in cases:
        problems = compile_problems(tflite)
        assert any(message in p and p.startswith("MIRROR_PAD (op 0") for p in problems), \
            (message, problems)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), rank=st.integers(1, 4), mode=st.sampled_from([REFLECT, SYMMETRIC]),
       zp=st.integers(-128, 127))
def test_mirror_pad_random(data, rank, mode, zp):
    shape = tuple(data.draw(st.lists(st.integers(1, 5), min_size=rank, max_size=rank)))
    limit = [d - 1 if mode == REFLECT else d for d in shape]
    pads = [[data.draw(st.integers(0, m)), data.draw(st.integers(0, m))] for m in limit]
    assert_bit_exact(mirror_model(shape, pads, mode, q=(0.1, zp)), count=4, sanitize=False)
