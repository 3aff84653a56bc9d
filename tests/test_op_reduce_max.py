"""REDUCE_MAX and REDUCE_MIN, int8 and int16: bit-exact against the reference interpreter over
ranks, axes (negative, repeated, non-adjacent, all), keep_dims both ways and quantisations,
incl. the global max pooling over H, W; and their refusals."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from optest import assert_bit_exact, compile_problems
from tflite_builder import T, model
from tinycompress.ops._reduce import resolve_axes

LIMITS = {"int8": (-128, 127), "int16": (-32768, 32767)}


def out_shape(shape, axes, keep):
    res = resolve_axes(axes, len(shape))
    return tuple(1 if k in res else d for k, d in enumerate(shape)) if keep else \
        tuple(d for k, d in enumerate(shape) if k not in res)


def reduce_model(kind, shape, axes, keep, q=(0.05, -3), q_out=None, dtype="int8"):
    q_out = q_out or q
    return model(kind, [T(shape, dtype, scale=q[0], zero_point=q[1]),
                        T((len(axes),), "int32", data=np.array(axes, np.int32))],
                 [T(out_shape(shape, axes, keep), dtype, scale=q_out[0], zero_point=q_out[1])],
                 {"keep_dims": keep})


def spread_inputs(kind, shape, axes, count, dtype="int8", seed=0):
    """Inputs whose reductions span the type's range: each output's inputs lie just below
    (REDUCE_MAX) or above (REDUCE_MIN) a level drawn per output, so the results are those
    levels, not the type's extremes that uniform inputs give."""
    rng = np.random.default_rng(seed)
    lo, hi = LIMITS[dtype]
    width = (hi - lo + 1) // 12
    level = rng.integers(lo, hi + 1, (count,) + out_shape(shape, axes, True))
    noise = rng.integers(0, width, (count,) + tuple(shape))
    x = level - noise if kind == "REDUCE_MAX" else level + noise
    return [np.clip(x, lo, hi).astype(dtype).reshape(count, -1)]


CASES = [
    ((1, 8, 8, 16), [1, 2]),      # GlobalMaxPooling2D
    ((1, 5, 7, 3), [2, 1]),
    ((1, 5, 7, 3), [-3, -2]),
    ((1, 5, 7, 3), [3]),
    ((1, 5, 7, 3), [1, 3]),       # non-adjacent
    ((2, 4, 3), [0, 2]),
    ((6, 5), [1, 1]),             # repeated axis
    ((1, 3, 3, 2), [0]),          # a size-1 axis: a copy
    ((2, 3, 4, 5, 2), [1, 3]),    # rank 5
]


@pytest.mark.parametrize("kind", ["REDUCE_MAX", "REDUCE_MIN"])
@pytest.mark.parametrize("shape,axes,keep", [c + (k % 2 == 0,) for k, c in enumerate(CASES)]
                         + [((1, 8, 8, 16), [1, 2], True), ((1, 5, 7, 3), [1, 3], False)])
def test_reduce_axes(kind, shape, axes, keep):
    xs = spread_inputs(kind, shape, axes, 24)
    assert_bit_exact(reduce_model(kind, shape, axes, keep), inputs=xs, spread={})


@pytest.mark.parametrize("kind", ["REDUCE_MAX", "REDUCE_MIN"])
@pytest.mark.parametrize("shape,axes,keep", [((4, 6), [0, 1], False), ((4, 6), [1, -2], True),
                                             ((9,), [0], False)])
def test_reduce_all_axes(kind, shape, axes, keep):
    """One output per vector: 64 vectors for the spread."""
    xs = spread_inputs(kind, shape, axes, 64, seed=1)
    assert_bit_exact(reduce_model(kind, shape, axes, keep), inputs=xs, spread={})


@pytest.mark.parametrize("kind", ["REDUCE_MAX", "REDUCE_MIN"])
@pytest.mark.parametrize("q", [(0.1, -128), (0.1, 127), (0.003, 9)])
def test_reduce_quantisations(kind, q):
    """Raw values: uniform inputs, where the extremes (incl. -128 and 127) are the answers."""
    assert_bit_exact(reduce_model(kind, (1, 4, 4, 8), [1, 2], False, q=q))
    assert_bit_exact(reduce_model(kind, (3, 5), [1], True, q=q),
                     inputs=[np.full((2, 15), LIMITS["int8"][kind == "REDUCE_MIN"], np.int8)])


@pytest.mark.parametrize("kind", ["REDUCE_MAX", "REDUCE_MIN"])
@pytest.mark.parametrize("shape,axes,keep", [((1, 6, 6, 8), [1, 2], False),
                                             ((5, 7), [0], True), ((4, 6), [0, 1], False)])
def test_reduce_int16(kind, shape, axes, keep):
    m = reduce_model(kind, shape, axes, keep, q=(0.001, 0), dtype="int16")
    count = 64 if len(axes) == len(shape) else 24
    assert_bit_exact(m, inputs=spread_inputs(kind, shape, axes, count, "int16"), spread={})


def test_reduce_refuses():
    b = reduce_model("REDUCE_MAX", (1, 4, 4, 2), [1, 2], False, q=(0.1, 0), q_out=(0.2, 0))
    assert compile_problems(b) == [
        f"REDUCE_MAX (op 0, 'out0'): output quantised ({np.float32(0.2)}, 0), the input "
        f"({np.float32(0.1)}, 0); the reference requires them equal"]
    b = reduce_model("REDUCE_MIN", (1, 4, 4, 2), [1], True, q=(0.1, 0), q_out=(0.1, 3))
    (problem,) = compile_problems(b)
    assert "REDUCE_MIN (op 0" in problem and "output quantised" in problem
    b = reduce_model("REDUCE_MAX", (4, 2), [1], True, q=(0.1, 5), dtype="int16")
    assert compile_problems(b) == [
        "REDUCE_MAX (op 0, 'out0'): int16 zero point 5 must be 0 (as the reference)"]
    b = model("REDUCE_MAX", [T((1, 4, 4, 2), scale=0.1), T((2,), "int32")],
              [T((1, 2), scale=0.1)], {"keep_dims": False})
    assert "REDUCE_MAX (op 0, 'out0'): the axes must be a constant int32 tensor" in \
        compile_problems(b)
    b = model("REDUCE_MIN", [T((4, 2), scale=0.1), T((1,), "int32", data=np.array([2], np.int32))],
              [T((4,), scale=0.1)], {"keep_dims": False})
    assert "REDUCE_MIN (op 0, 'out0'): axes [2] out of range for rank 2" in compile_problems(b)
    b = model("REDUCE_MAX", [T((4, 2), scale=0.1), T((1,), "int32", data=np.array([1], np.int32))],
              [T((2,), scale=0.1)], {"keep_dims": False})
    assert ("REDUCE_MAX (op 0, 'out0'): output shape [2] does not match the reduction [4]"
            in compile_problems(b))
    b = model("REDUCE_MAX", [T((4, 2), "int32"), T((1,), "int32", data=np.array([1], np.int32))],
              [T((4,), "int32")], {"keep_dims": False})
    assert "REDUCE_MAX (op 0, 'out0'): tensor 'in0' is int32, expected int8 or int16" in \
        compile_problems(b)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), kind=st.sampled_from(["REDUCE_MAX", "REDUCE_MIN"]),
       rank=st.integers(1, 4), keep=st.booleans(), s=st.floats(1e-3, 1.0),
       z=st.integers(-128, 127), seed=st.integers(0, 99))
def test_reduce_random(data, kind, rank, keep, s, z, seed):
    shape = tuple(data.draw(st.lists(st.integers(1, 7), min_size=rank, max_size=rank)))
    axes = data.draw(st.lists(st.integers(-rank, rank - 1), min_size=1, max_size=rank))
    assert_bit_exact(reduce_model(kind, shape, axes, keep, q=(s, z)),
                     inputs=spread_inputs(kind, shape, axes, 6, seed=seed), sanitize=False)
