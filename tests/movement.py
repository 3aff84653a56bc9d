"""What the tests of the data-movement operators share: tensors of each supported element type
(quantised alike on both sides, as those ops need) and bit-exact runs on inputs spanning that
type's whole range."""

from __future__ import annotations

import numpy as np

from optest import assert_bit_exact
from tflite_builder import T

DTYPES = ["int8", "int16", "int32", "float32"]

# Quantisation of int8 / int16 activations (int16: symmetric, as the reference's 16x8 scheme).
INT8_Q = (0.05, -3)
INT16_Q = (0.0007, 0)


def tensor(shape, dtype: str = "int8", q=INT8_Q, data=None) -> T:
    """A tensor of `dtype`; int8 quantised as `q`, int16 as INT16_Q, int32/float32 not."""
    if dtype == "int8":
        return T(tuple(shape), dtype, scale=q[0], zero_point=q[1], data=data)
    if dtype == "int16":
        return T(tuple(shape), dtype, scale=INT16_Q[0], zero_point=0, data=data)
    return T(tuple(shape), dtype, data=data)


def full_range(shapes, dtype: str, count: int, seed: int = 0) -> list[np.ndarray]:
    """One (count, size) array per input shape, drawn over all of `dtype`'s values (floats:
    normal, with a few of +-0 and large magnitudes)."""
    rng = np.random.default_rng(seed)
    xs = []
    for shape in shapes:
        size = int(np.prod(shape, dtype=np.int64))
        if dtype == "float32":
            x = (rng.standard_normal((count, size)) * 10.0 ** rng.integers(-3, 4, (count, size)))
            xs.append(x.astype(np.float32))
        else:
            info = np.iinfo(dtype)
            xs.append(rng.integers(info.min, info.max, (count, size), endpoint=True).astype(dtype))
    return xs


def assert_moved(tflite: bytes, shapes, dtype: str = "int8", count: int = 24, seed: int = 0,
                 sanitize: bool = True, spread: bool = True) -> dict:
    """assert_bit_exact on full-range inputs of `shapes`; with `spread`, the reference's first
    output must take many distinct values (optest.assert_spread)."""
    xs = full_range(shapes, dtype, count, seed)
    return assert_bit_exact(tflite, inputs=xs, sanitize=sanitize,
                            spread={} if spread else None)
