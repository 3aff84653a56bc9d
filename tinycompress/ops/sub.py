"""SUB, int8 (sub.cc, reference_ops::Sub / BroadcastSubRecursiveDimensions for int8).

ADD's arithmetic with the rescaled second operand subtracted: both operands offset by their zero
points, shifted left by 20 bits and scaled to twice the larger input scale (each with double
rounding), s1 - s2 scaled by 2 max(s_1, s_2) / (2^20 s_out), offset by the output zero point and
clamped by the fused activation; broadcasting up to rank 6 as ADD (_elementwise.add_kernel, the
same kernel templates).

TFLite's sub.cc once negated the second multiplier and called the ADD kernel instead. The two
differ where the second operand's SaturatingRoundingDoublingHighMul meets a tie, which rounds
up for either sign, so SRDHM(x, -m) != -SRDHM(x, m). Measured on ai-edge-litert's BUILTIN_REF:
in the 3 elements of 200,000 random quantisations where the variants give different outputs,
the interpreter subtracted the rescaled operand (3 of 3), not the negated multiplier (0 of 3);
tests/test_op_sub.py keeps them."""

from __future__ import annotations

from ..ir import Graph, Op
from ._elementwise import add_kernel, check_add_scales, check_binary
from .base import Context, Kernel, Lowering, register


@register
class Sub(Lowering):
    kind = "SUB"

    def check(self, op: Op, g: Graph) -> list[str]:
        return check_binary(op, g) or check_add_scales(op, g)

    def lower(self, op: Op, g: Graph, ctx: Context) -> Kernel:
        return add_kernel(op, g, ctx, subtract=True)
