"""QUANTIZE: float32 -> int8 (a model's float input) and requantisation between integer types:
int8 -> int8, int8 -> int16, int16 -> int8, int16 -> int16 and int16 -> int32.

float32 -> int8. The reference (reference_ops::AffineQuantize) computes
    q = clamp(zero_point + (int32_t)roundf(x / scale), -128, 127)
with a float32 division (measured: multiplying by 1/scale instead differs). That is a
non-decreasing function of x, so the compiler finds, for every output value k in -127..127, the
smallest float32 x with q(x) >= k, by bisection over the float32 values in order, and the C
counts the thresholds below the input with an 8-step binary search on the input's bit pattern:
no float arithmetic at run time and exact for every finite input. Where the reference overflows
(|x / scale| >= 2^31, undefined behaviour in its cast) and for NaN (sign decides) the C
saturates.

int8 -> int8. Measured against the reference interpreter: its Requantize uses the
double-rounding MultiplyByQuantizedMultiplier (SaturatingRoundingDoublingHighMul, then
RoundingDivideByPOT), not the single-rounding form of the other kernels, with the multiplier
QuantizeMultiplier(double(input_scale) / double(output_scale)):
    q = clamp(MBQM_double(x - input_zp, multiplier, shift) + output_zp, -128, 127)
The 256 results become a table (see _lut.py).

Requantisation with int16 on either side is the same Requantize (reference_ops, requantize.h):
    q = clamp(MBQM_double(x - input_zp, multiplier, shift) + output_zp, out_min, out_max)
measured: 0 mismatches over every int16 input for int16 -> int8, int16 -> int16 and int16 ->
int32 (the single-rounding form differs on up to 16386 of the 65536), and over the 256 int8
inputs for int8 -> int16. The reference refuses int16 -> int16 unless both zero points are 0
(quantize.cc), and so do we; int8 -> int32 it does not implement. An int8 input gives a table of
256 output values (int16: 512 bytes); an int16 input is computed at run time, one
tc_requant_dr per element (a table would take 64 K entries). The addition of the output zero
point wraps as the reference's int32 addition does (only reachable with ratios near 2^31).
"""

from __future__ import annotations

import numpy as np

from ..ir import Graph, Op, Tensor
from ..quant import multiply_by_quantized_multiplier_double_rounding, quantize_multiplier
from ._lut import lut_kernel
from .base import (ConstArray, Context, Kernel, Lowering, check_unary, need_int8, per_tensor,
                   register, table_kernel)

# (input dtype, output dtype) pairs of the requantisation the reference implements and we do.
REQUANTIZE = {("int8", "int8"), ("int8", "int16"), ("int16", "int8"), ("int16", "int16"),
              ("int16", "int32")}
_LIMITS = {"int8": (-128, 127), "int16": (-32768, 32767), "int32": (-(1 << 31), (1 << 31) - 1)}

KEY_NEG_INF = -1 - 0x7F800000
KEY_POS_INF = 0x7F800000


def key_to_float(keys: np.ndarray) -> np.ndarray:
    """The float32 values whose order keys are `keys` (key = bits, or -1 - magnitude bits)."""
    keys = np.asarray(keys, np.int64)
    bits = np.where(keys >= 0, keys, (-1 - keys) | 0x80000000).astype(np.uint32)
    return bits.view(np.float32)


def quantize_f32(x: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """The reference's AffineQuantize to int8, saturating where its cast would overflow."""
    ratio = np.asarray(x, np.float32) / np.float32(scale)
    mag = np.floor(np.abs(ratio).astype(np.float64) + 0.5)  # roundf: halves away from zero
    rounded = np.where(np.abs(ratio) < 2.0**23, np.copysign(mag, ratio), ratio)
    rounded = np.clip(np.nan_to_num(rounded, nan=0.0), -2.0**40, 2.0**40)
    return np.clip(rounded + zero_point, -128, 127).astype(np.int64)


def thresholds(scale: float, zero_point: int) -> np.ndarray:
    """For k = -127..127 the smallest order key of a float32 x with quantize(x) >= k."""
    want = np.arange(-127, 128)
    lo = np.full(want.shape, KEY_NEG_INF, np.int64)
    hi = np.full(want.shape, KEY_POS_INF, np.int64)  # quantize(+inf) = 127 >= every k
    while (lo < hi).any():
        mid = (lo + hi) // 2
        ok = quantize_f32(key_to_float(mid), scale, zero_point) >= want
        hi = np.where(ok, mid, hi)
        lo = np.where(ok, lo, mid + 1)
    return lo.astype(np.int32)


def requantize_multiplier(in_scale: float, out_scale: float) -> tuple[int, int]:
    """QuantizeMultiplier(double(input_scale) / double(output_scale))."""
    return quantize_multiplier(float(in_scale) / float(out_scale))


def requantize_table(in_scale: float, in_zp: int, out_scale: float, out_zp: int,
                     out_dtype: str = "int8") -> np.ndarray:
    """The reference's Requantize of every int8 input -128..127, as `out_dtype` values."""
    multiplier, shift = requantize_multiplier(in_scale, out_scale)
    lo, hi = _LIMITS[out_dtype]
    return np.array([
        max(lo, min(hi, multiply_by_quantized_multiplier_double_rounding(
            q - in_zp, multiplier, shift) + out_zp))
        for q in range(-128, 128)], out_dtype)


def _check_types(op: Op, g: Graph, x: Tensor, y: Tensor) -> list[str]:
    if x.dtype == "float32":
        return need_int8(op, g, [y.name]) + per_tensor(op, y)
    if (x.dtype, y.dtype) not in REQUANTIZE:
        return [f"{op.describe()}: QUANTIZE {x.dtype} -> {y.dtype} ('{x.name}' -> '{y.name}') is "
                "not supported; supported: float32 -> int8 and requantisation "
                + ", ".join(f"{a} -> {b}" for a, b in sorted(REQUANTIZE))]
    problems = []
    for t in (x, y):
        if t.quant is None:
            problems.append(f"{op.describe()}: tensor '{t.name}' has no quantisation parameters")
        else:
            problems += per_tensor(op, t)
    if not problems and x.dtype == y.dtype == "int16" and (x.quant.zp or y.quant.zp):
        problems.append(f"{op.describe()}: int16 -> int16 requantisation needs zero points 0 "
                        f"(as the reference), got {x.quant.zp} and {y.quant.zp}")
    return problems


@register
class Quantize(Lowering):
    kind = "QUANTIZE"

    def check(self, op: Op, g: Graph) -> list[str]:
        return check_unary(op, g, lambda x, y: _check_types(op, g, x, y), allow_const=False)

    def lower(self, op: Op, g: Graph, ctx: Context) -> Kernel:
        x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        if x.dtype == "float32":
            return table_kernel(op, g, "kernels/quantize_f32_s8.c.j2", ConstArray(
                "thresholds", "int32_t", thresholds(y.quant.s, y.quant.zp),
                "[255] order keys of the smallest float32 quantising to -127..127"))
        if x.dtype == "int8":
            table = requantize_table(x.quant.s, x.quant.zp, y.quant.s, y.quant.zp, y.dtype)
            if y.dtype == "int8":
                return lut_kernel(op, g, table, "requantisation")
            return table_kernel(op, g, "kernels/lut_s8.c.j2", ConstArray(
                "lut", y.ctype, table,
                f"[256] requantisation to {y.dtype}, indexed by input + 128"), inplace=True)
        multiplier, shift = requantize_multiplier(x.quant.s, y.quant.s)
        lo, hi = _LIMITS[y.dtype]
        return Kernel(
            template="kernels/requantize_s16.c.j2",
            params=dict(size=x.size, in_zp=x.quant.zp, out_zp=y.quant.zp, mult=multiplier,
                        shift=shift, lo=lo, hi=hi, clamp=y.dtype != "int32",
                        otype=y.ctype),
            act_inputs=[x.name], act_outputs=[y.name])
