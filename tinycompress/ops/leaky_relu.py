"""LEAKY_RELU, int8: a 256-entry table (see _lut.py).

The reference interpreter (activations.cc LeakyReluPrepare, reference_ops::QuantizeLeakyRelu)
rescales the offset input by one of two multipliers, chosen by its sign:
    identity = QuantizeMultiplier(input_scale / output_scale)
    alpha    = QuantizeMultiplier(input_scale * alpha / output_scale)
    d = x - input_zp
    out = clamp(output_zp + MultiplyByQuantizedMultiplier(d, d >= 0 ? identity : alpha), -128, 127)
Measured against the interpreter: MultiplyByQuantizedMultiplier rounds twice here (gemmlowp's
left shift, SaturatingRoundingDoublingHighMul, RoundingDivideByPOT): over 150 random
quantisations and alphas (0, negative, above 1) x 256 inputs, single rounding missed 75 tables,
double rounding none. Both multipliers are computed in float32 (the scales and alpha are float
fields; measured: 30 of 30 quantisations where float32 and double multipliers give different
tables followed float32). Any alpha and any per-tensor quantisation.

A negative alpha gives a negative multiplier, and on the alpha branch (d < 0) the product is
then positive. There the interpreter rounds an exact tie (x.5) down, where gemmlowp's rounding
of a positive product goes up: it computes -MBQM(d, -alpha), the magnitude rounded. Measured:
over 372 random quantisations with negative alphas (int8 and int16, a fifth of them with
power-of-two scales, whose products tie often), MBQM(d, alpha) missed 48 (e.g. alpha -0.5 at
scales 1 and 1: every odd negative input, a quarter of the table), -MBQM(d, -alpha) none.
Whole-number alphas never tie (their products are whole), so only fractional ones showed it.

int16: the same arithmetic clamped to int16, zero points 0 required (as the reference),
computed per element in C (_int16_requant.py).
"""

from __future__ import annotations

import numpy as np

from ..ir import Graph, Op
from ..quant import multiply_by_quantized_multiplier_double_rounding, quantize_multiplier
from ._int16_requant import check_int16, requant_s16_kernel
from ._lut import check_unary_int8, lut_kernel
from .base import Context, Kernel, Lowering, register


def alpha_of(op: Op) -> float:
    return float(np.float32(op.options.get("alpha", 0.0)))


def leaky_multipliers(alpha: float, in_scale: float, out_scale: float):
    """((identity m, e), (alpha m, e)), in float32 as LeakyReluPrepare computes them."""
    in_s, out_s = np.float32(in_scale), np.float32(out_scale)
    return (quantize_multiplier(float(in_s / out_s)),
            quantize_multiplier(float(in_s * np.float32(alpha) / out_s)))


def magnitude(m: int, s: int) -> tuple[int, int]:
    """(-m, s) for a negative multiplier, as a multiplier in [0, 2^31) (-2^31 becomes 2^30 with
    one more left shift: the same value)."""
    return (1 << 30, s + 1) if m == -(1 << 31) else (-m, s)


def alpha_branch(d: int, m: int, s: int) -> int:
    """The interpreter's rescale of a negative offset input d by the alpha multiplier."""
    if m < 0:
        return -multiply_by_quantized_multiplier_double_rounding(d, *magnitude(m, s))
    return multiply_by_quantized_multiplier_double_rounding(d, m, s)


def leaky_relu_table(alpha: float, in_scale: float, in_zp: int, out_scale: float,
                     out_zp: int) -> np.ndarray:
    """Entry k: the reference's output for input k - 128."""
    (m_id, s_id), (m_alpha, s_alpha) = leaky_multipliers(alpha, in_scale, out_scale)
    table = np.empty(256, np.int8)
    for q in range(-128, 128):
        d = q - in_zp
        r = (multiply_by_quantized_multiplier_double_rounding(d, m_id, s_id) if d >= 0
             else alpha_branch(d, m_alpha, s_alpha))
        table[q + 128] = min(127, max(-128, out_zp + r))
    return table


def _int16(op: Op, g: Graph) -> bool:
    return len(op.inputs) == 1 and bool(op.inputs[0]) and g.tensors[op.inputs[0]].dtype == "int16"


@register
class LeakyRelu(Lowering):
    kind = "LEAKY_RELU"

    def check(self, op: Op, g: Graph) -> list[str]:
        return check_int16(op, g) if _int16(op, g) else check_unary_int8(op, g)

    def lower(self, op: Op, g: Graph, ctx: Context) -> Kernel:
        x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        if _int16(op, g):
            pos, neg = leaky_multipliers(alpha_of(op), x.quant.s, y.quant.s)
            negate = neg[0] < 0
            return requant_s16_kernel(op, g, pos, magnitude(*neg) if negate else neg,
                                      -(1 << 15), (1 << 15) - 1, negate_neg=negate)
        table = leaky_relu_table(alpha_of(op), x.quant.s, x.quant.zp, y.quant.s, y.quant.zp)
        return lut_kernel(op, g, table, f"leaky relu, alpha {alpha_of(op):g}")
