"""Shared machinery of the int8 table-lookup kernels (LOGISTIC, TANH, ELU, int8 QUANTIZE, and the
integer-arithmetic tables of RELU*, LEAKY_RELU and HARD_SWISH).

An elementwise int8 -> int8 op depends on 256 possible inputs only, so the compiler computes the
whole function at compile time, exactly as the reference computes it, and the generated C is one
table lookup per element.

For LOGISTIC, TANH and ELU the reference interpreter (BUILTIN_REF) itself builds such a table in
Prepare, with float32 arithmetic and the C library's expf/tanhf (activations.cc,
PopulateLookupTable / LUTPopulate):
    dequantized = input_scale * (float)(q - input_zero_point)          float32
    transformed = transform(dequantized)                               float32, libm
    rescaled    = roundf(transformed * (1.0f / output_scale))          half away from zero
    quantized   = (int32_t)(rescaled + (float)output_zero_point), clamped to [-128, 127]
We repeat that computation with numpy float32 and the host's libm (numpy's own exp/tanh are not
glibc's and differ in the last ulp for a large share of arguments, which moves table entries).
Measured: 0 mismatches over 400 (scale, zero point) pairs x 256 inputs.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from typing import Callable

import numpy as np

from ..errors import TinyCompressError
from ..ir import Graph, Op
from .base import ConstArray, Kernel, check_unary, need_int8, per_tensor, table_kernel

_F32 = np.float32


@functools.lru_cache(maxsize=1)
def _libm() -> ctypes.CDLL:
    name = ctypes.util.find_library("m") or "libm.so.6"
    try:
        lib = ctypes.CDLL(name)
    except OSError as e:  # pragma: no cover - every supported host has a C math library
        raise TinyCompressError(
            f"cannot load the C math library ({name}) needed to build LOGISTIC/TANH/ELU tables "
            "exactly as the reference interpreter does") from e
    for fn in ("expf", "tanhf", "expm1f"):
        getattr(lib, fn).restype = ctypes.c_float
        getattr(lib, fn).argtypes = [ctypes.c_float]
    return lib


def libm_expf(x: np.float32) -> np.float32:
    return _F32(_libm().expf(float(x)))


def libm_tanhf(x: np.float32) -> np.float32:
    return _F32(_libm().tanhf(float(x)))


def libm_expm1f(x: np.float32) -> np.float32:
    return _F32(_libm().expm1f(float(x)))


def logistic_f32(x: np.float32) -> np.float32:
    """The reference's transform: 1.0f / (1.0f + expf(-x)), all in float32."""
    return _F32(_F32(1.0) / _F32(_F32(1.0) + libm_expf(_F32(-x))))


def roundf(x: np.float32) -> np.float32:
    """C roundf: halves away from zero, in float32 (exact for every float32)."""
    x = _F32(x)
    if not np.isfinite(x) or abs(x) >= _F32(2.0**23):
        return x
    return _F32(np.copysign(np.floor(np.float64(abs(x)) + 0.5), x))


def float_table(transform: Callable[[np.float32], np.float32], in_scale: float, in_zp: int,
                out_scale: float, out_zp: int) -> np.ndarray:
    """The reference's PopulateLookupTable<int8_t>: entry k is the output for input k - 128."""
    inverse_scale = _F32(_F32(1.0) / _F32(out_scale))
    table = np.empty(256, np.int8)
    for q in range(-128, 128):
        dequantized = _F32(_F32(in_scale) * _F32(q - in_zp))
        rescaled = roundf(_F32(transform(dequantized) * inverse_scale))
        quantized = int(_F32(rescaled + _F32(out_zp)))
        table[q + 128] = max(-128, min(127, quantized))
    return table


def check_unary_int8(op: Op, g: Graph) -> list[str]:
    """One int8 per-tensor input, one int8 per-tensor output of the same size."""
    return check_unary(op, g, lambda x, y: need_int8(op, g, [x.name, y.name])
                       + per_tensor(op, x) + per_tensor(op, y))


def lut_kernel(op: Op, g: Graph, table: np.ndarray, comment: str) -> Kernel:
    """A kernel out[i] = table[in[i] + 128] over the whole tensor."""
    assert table.shape == (256,) and table.dtype == np.int8
    return table_kernel(op, g, "kernels/lut_s8.c.j2", ConstArray(
        "lut", "int8_t", table, f"[256] {comment}, indexed by input + 128"), inplace=True)
