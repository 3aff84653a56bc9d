"""ADD, int8 (reference_integer_ops::Add / BroadcastAdd6DSlow, as prepared by add.cc).

Both operands are offset by their zero points, shifted left by 20 bits and scaled to a common
scale, twice the larger input scale: input k by s_k / (2 max(s_1, s_2)). The sum is scaled by
2 max(s_1, s_2) / (2^20 s_out), offset by the output zero point and clamped by the fused
activation. All multipliers come from the double-precision ratios (QuantizeMultiplier, shifts
<= 0). Measured against the interpreter: every rescale rounds twice (gemmlowp's
SaturatingRoundingDoublingHighMul, then RoundingDivideByPOT), not once as FULLY_CONNECTED's
MultiplyByQuantizedMultiplier: over 12 quantisations where the variants disagree, double precision
+ double rounding matched 14 of 14 elements, single rounding at most 4; float32 multipliers
lost too. The arithmetic, shared with SUB, is _elementwise.add_kernel."""

from __future__ import annotations

from ..ir import Graph, Op
from ._elementwise import add_kernel, check_add_scales, check_binary
from .base import Context, Kernel, Lowering, register


@register
class Add(Lowering):
    kind = "ADD"

    def check(self, op: Op, g: Graph) -> list[str]:
        return check_binary(op, g) or check_add_scales(op, g)

    def lower(self, op: Op, g: Graph, ctx: Context) -> Kernel:
        return add_kernel(op, g, ctx)
