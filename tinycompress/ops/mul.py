"""MUL, int8 (reference_integer_ops::Mul / BroadcastMul6DSlow, as prepared by mul.cc).

(x1 - z1) * (x2 - z2) is scaled by s1 * s2 / s_out, offset by the output zero point and clamped
by the fused activation. Measured against the reference interpreter: unlike ADD and
FULLY_CONNECTED, its int8 MUL rescales with gemmlowp's double rounding (left shift,
SaturatingRoundingDoublingHighMul, RoundingDivideByPOT), not the single-rounding
MultiplyByQuantizedMultiplier: 244 of 30720 random products differed with single rounding, none
with double rounding."""

from __future__ import annotations

import numpy as np

from ..ir import Graph, Op
from ..quant import activation_range, quantize_multiplier
from ._elementwise import check_binary, loop_params, same_shape_aliases
from .base import Context, Kernel, Lowering, activation_of, register


# A product of two offset int8 values has magnitude at most 255^2 = 65025; shifted left by more
# than 15 bits it could overflow int32 before the multiplication.
MAX_LEFT_SHIFT = 15


def mul_multiplier(s1: float, s2: float, s_out: float) -> tuple[int, int]:
    """mul.cc computes s1 * s2 / s_out in float32 (measured: 30 of 30 products where the float32
    and double multipliers disagree followed float32), unlike FC's double-precision scales."""
    real = np.float32(s1) * np.float32(s2) / np.float32(s_out)
    return quantize_multiplier(float(real))


@register
class Mul(Lowering):
    kind = "MUL"

    def check(self, op: Op, g: Graph) -> list[str]:
        problems = check_binary(op, g)
        if problems:
            return problems
        a, b, y = (g.tensors[n] for n in (*op.inputs, op.outputs[0]))
        _, e = mul_multiplier(a.quant.s, b.quant.s, y.quant.s)
        if e > MAX_LEFT_SHIFT:
            problems.append(f"{op.describe()}: the rescale {a.quant.s} * {b.quant.s} / "
                            f"{y.quant.s} needs a left shift of {e} bits, which overflows int32 "
                            f"(at most {MAX_LEFT_SHIFT})")
        return problems

    def lower(self, op: Op, g: Graph, ctx: Context) -> Kernel:
        a, b, y = (g.tensors[n] for n in (*op.inputs, op.outputs[0]))
        m, e = mul_multiplier(a.quant.s, b.quant.s, y.quant.s)
        lo, hi = activation_range(activation_of(op), y.quant.s, y.quant.zp)
        params, consts, act = loop_params(op, g)
        params.update(offset=[-a.quant.zp, -b.quant.zp], mult=m, left_shift=max(e, 0),
                      right_shift=max(-e, 0), out_zp=y.quant.zp, lo=lo, hi=hi)
        return Kernel(
            template="kernels/mul_s8.c.j2",
            params=params,
            consts=consts,
            act_inputs=act,
            act_outputs=[op.outputs[0]],
            macs=y.size,
            inplace=same_shape_aliases(op, g, act),
        )
