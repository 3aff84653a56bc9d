"""RSQRT, int8: a 256-entry table of the reference's integer arithmetic (see _lut.py).

The reference (elementwise.cc RsqrtEvalQuantized, int8; Prepare's SetRsqrtOutputMultiplier)
computes, for d = x - input_zp:
    d == 0: 127 (the largest output stands in for 1 / sqrt(0))
    m, s = GetInvSqrtQuantizedMultiplierExp(d, -1)            (~ 1 / sqrt(d), gemmlowp Q3.28)
    data = MBQM(1, m, s + 20)                                 (1 / sqrt(d) in Q20)
    out = clamp(MBQM(data, M, e - 20) + output_zp, -128, 127)
with M, e = QuantizeMultiplier(1 / (sqrtf(input_scale) * output_scale)) (the product in float32,
the reciprocal in double) and MBQM rounding twice: measured over 200 random quantisations, the
double-rounding tables match the interpreter on every accepted input, single rounding misses 2
(tests/test_op_rsqrt.py keeps that comparison).
An input below the zero point (a negative real value) makes the reference fail the invocation
("Rsqrt is only defined for positive values"); the table, which cannot fail, gives it 127, the
value of d == 0. int16 is refused."""

from __future__ import annotations

import numpy as np

from ..ir import Graph, Op
from ..quant import (count_leading_zeros_u32, multiply_by_quantized_multiplier_double_rounding,
                     quantize_multiplier, rounding_divide_by_pot,
                     saturating_rounding_doubling_high_mul as srdhm,
                     saturating_rounding_multiply_by_pot as sat_shl)
from ._lut import check_unary_int8, lut_kernel
from .base import Context, Kernel, Lowering, register

K_SHIFT = 20
INT32_MAX = (1 << 31) - 1


def _wrap32(v: int) -> int:
    return (v + (1 << 31)) % (1 << 32) - (1 << 31)


def inv_sqrt_multiplier_exp(acc: int) -> tuple[int, int]:
    """TFLite GetInvSqrtQuantizedMultiplierExp(acc, reverse_shift = -1), as tc_inv_sqrt in
    tc_runtime.h: (multiplier, shift) with multiplier * 2^(shift - 31) ~ 1 / sqrt(acc)."""
    if acc <= 1:
        return INT32_MAX, 0
    s = 11
    while acc >= 1 << 29:
        acc //= 4
        s += 1
    pairs = (count_leading_zeros_u32(acc) - 1) // 2 - 1
    s -= pairs
    acc = _wrap32(acc << (2 * pairs))
    half_input = rounding_divide_by_pot(acc >> 1, 1)
    half_three = (1 << 28) + (1 << 27)
    x = 1 << 28
    for _ in range(5):
        x3 = sat_shl(srdhm(srdhm(x, x), x), 6)
        x = sat_shl(_wrap32(srdhm(half_three, x) - srdhm(half_input, x3)), 3)
    x = srdhm(x, 1518500250)  # times sqrt(2) / 2
    if s < 0:
        x, s = _wrap32(x << -s), 0
    return x, -s


def rsqrt_multiplier(in_scale: float, out_scale: float) -> tuple[int, int]:
    f = np.float32
    return quantize_multiplier(1.0 / float(f(np.sqrt(f(in_scale))) * f(out_scale)))


def rsqrt_table(in_scale: float, in_zp: int, out_scale: float, out_zp: int) -> np.ndarray:
    """Entry k: the reference's output for input k - 128 (127 where it fails: d < 0)."""
    mult, shift = rsqrt_multiplier(in_scale, out_scale)
    table = np.full(256, 127, np.int8)
    for q in range(-128, 128):
        d = q - in_zp
        if d <= 0:
            continue
        m, s = inv_sqrt_multiplier_exp(d)
        data = multiply_by_quantized_multiplier_double_rounding(1, m, s + K_SHIFT)
        v = multiply_by_quantized_multiplier_double_rounding(data, mult, shift - K_SHIFT)
        table[q + 128] = min(127, max(-128, v + out_zp))
    return table


@register
class Rsqrt(Lowering):
    kind = "RSQRT"

    def check(self, op: Op, g: Graph) -> list[str]:
        return check_unary_int8(op, g)

    def lower(self, op: Op, g: Graph, ctx: Context) -> Kernel:
        x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        table = rsqrt_table(x.quant.s, x.quant.zp, y.quant.s, y.quant.zp)
        return lut_kernel(op, g, table, "rsqrt")
