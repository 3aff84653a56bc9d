"""TILE: bit-exact against the reference interpreter over ranks 1-5, multiples on any dimension
(int32 and int64 operands), int8 (any quantisation, also unlike the output's), int16 and int32;
every refusal."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from optest import assert_bit_exact, compile_problems
from tflite_builder import T, model


def tile_model(shape, multiples, dtype="int8", mdtype="int32", q=(0.05, -3), qo=None,
               const_multiples=True):
    out = tuple(d * m for d, m in zip(shape, multiples))
    scale = None if dtype == "int32" else q[0]
    so, zo = qo if qo is not None else q
    m = np.array(multiples, mdtype)
    return model("TILE", [T(shape, dtype, scale=scale, zero_point=q[1]),
                          T(m.shape, mdtype, data=m if const_multiples else None)],
                 [T(out, dtype, scale=None if dtype == "int32" else so, zero_point=zo)])


def wide(shape, dtype, count=12, seed=0):
    """Inputs spanning the dtype (assert_bit_exact draws small int32 values)."""
    info = np.iinfo(dtype)
    rng = np.random.default_rng(seed)
    return [rng.integers(info.min, info.max, (count, int(np.prod(shape))), dtype=np.int64)
            .astype(dtype)]


CASES = [
    ((1, 2, 2, 3), (1, 2, 2, 1)),      # UpSampling2D-style spatial repeats
    ((1, 1, 1, 8), (1, 4, 4, 1)),      # broadcast a pixel
    ((1, 3, 4, 2), (1, 1, 1, 3)),      # channels
    ((2, 3, 2), (3, 1, 2)),
    ((5,), (4,)),
    ((3, 4), (1, 1)),                   # identity
    ((1, 2, 1, 3, 2), (2, 1, 3, 1, 2)),
]


@pytest.mark.parametrize("mdtype", ["int32", "int64"])
@pytest.mark.parametrize("shape,multiples", CASES)
def test_tile(shape, multiples, mdtype):
    assert_bit_exact(tile_model(shape, multiples, mdtype=mdtype), spread={})


@pytest.mark.parametrize("q,qo", [((0.05, -128), (0.05, -128)), ((0.2, 127), (0.2, 127)),
                                  ((0.05, 3), (0.7, -20))])
def test_tile_quantisation_is_not_touched(q, qo):
    # The reference copies the raw values whatever the two quantisations are.
    assert_bit_exact(tile_model((1, 3, 2, 4), (1, 2, 3, 1), q=q, qo=qo), spread={})


@pytest.mark.parametrize("dtype", ["int16", "int32"])
def test_tile_wider_types(dtype):
    shape = (1, 3, 2, 5)
    assert_bit_exact(tile_model(shape, (2, 1, 3, 2), dtype, q=(0.01, 0)),
                     inputs=wide(shape, dtype), spread={})


def test_tile_refusals():
    cases = [
        (tile_model((1, 2, 2, 3), (1, 2, 2, 1), const_multiples=False),
         "multiples operand 'in1' is computed at run time"),
        (tile_model((1, 2, 2, 3), (1, 2, 2, 1), mdtype="int16"), "is int16; int32 or int64"),
        (model("TILE", [T((1, 2), scale=0.1), T((1,), "int32", data=np.array([2], np.int32))],
               [T((1, 4), scale=0.1)]), "has shape [1], expected [2]"),
        (model("TILE", [T((1, 2), scale=0.1), T((2,), "int32", data=np.array([0, 2], np.int32))],
               [T((1, 4), scale=0.1)]), "multiples [0, 2] must be positive"),
        (tile_model((2, 3), (1, 2), dtype="float32"), "is float32; supported: int8, int16, int32"),
        (model("TILE", [T((1, 2), scale=0.1), T((2,), "int32", data=np.array([1, 2], np.int32))],
               [T((1, 5), scale=0.1)]), "output 'out0' has shape [1, 5], expected [1, 4]"),
        (model("TILE", [T((1, 2), scale=0.1, data=np.array([[1, 2]], np.int8)),
                        T((2,), "int32", data=np.array([1, 2], np.int32))],
               [T((1, 4), scale=0.1)]), "input 'in0' is a constant"),
        (model("TILE", [T((1, 1, 1, 1, 1, 1, 2), scale=0.1),
                        T((7,), "int32", data=np.ones(7, np.int32))],
               [T((1, 1, 1, 1, 1, 1, 2), scale=0.1)]), "rank 7; supported: 1 to 6"),
        (model("TILE", [T((2,), scale=0.1), T((1,), "int32", data=np.array([2], np.int32))],
               [T((4,), "int16", scale=0.1)]), "tensor 'out0' is int16, the input 'in0' int8"),
        (model("TILE", [T((2,)), T((1,), "int32", data=np.array([2], np.int32))],
               [T((4,), scale=0.1)]), "tensor 'in0' has no quantisation parameters"),
        (model("TILE", [T((2,), scale=[0.1, 0.2], zero_point=[0, 0]),
                        T((1,), "int32", data=np.array([2], np.int32))],
               [T((4,), scale=0.1)]), "tensor 'in0' is quantised per channel"),
        (model("TILE", [T((2,), scale=0.1)], [T((2,), scale=0.1)]),
         "expected 2 inputs and 1 output(s), got 1 and 1"),
    ]
    for tflite, message in cases:
        problems = compile_problems(tflite)
        assert any(message in p and p.startswith("TILE (op 0") for p in problems), \
            (message, problems)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), rank=st.integers(1, 5), zp=st.integers(-128, 127))
def test_tile_random(data, rank, zp):
    shape = tuple(data.draw(st.lists(st.integers(1, 4), min_size=rank, max_size=rank)))
    multiples = tuple(data.draw(st.lists(st.integers(1, 3), min_size=rank, max_size=rank)))
    assert_bit_exact(tile_model(shape, multiples, q=(0.1, zp)), count=4, sanitize=False)
