"""What the int16 RELU, RELU6 and LEAKY_RELU share: the reference's int16 kernels
(QuantizedReluX<int16_t>, reference_ops::QuantizeLeakyRelu<int16_t>) need zero points of 0 on
both sides and rescale each element by a multiplier chosen by its sign, then clamp; 65536 inputs
are too many for a table, so the C computes it (requant_s16.c.j2)."""

from __future__ import annotations

from ..ir import Graph, Op
from .base import Kernel, check_unary, per_tensor


def check_int16(op: Op, g: Graph) -> list[str]:
    """One int16 input and output, per tensor, zero points 0 (as the reference requires)."""
    def tensors(x, y) -> list[str]:
        problems = []
        for t in (x, y):
            if t.dtype != "int16" or t.quant is None:
                problems.append(f"{op.describe()}: tensor '{t.name}' is {t.dtype}"
                                f"{'' if t.quant else ' without quantisation'}; expected "
                                "quantised int16 like the input")
        if problems:
            return problems
        problems += per_tensor(op, x) + per_tensor(op, y)
        if not problems and (x.quant.zp != 0 or y.quant.zp != 0):
            problems.append(f"{op.describe()}: int16 needs zero points 0 (as the reference "
                            f"kernel), got {x.quant.zp} and {y.quant.zp}")
        return problems
    return check_unary(op, g, tensors)


def requant_s16_kernel(op: Op, g: Graph, pos: tuple[int, int], neg: tuple[int, int], lo: int,
                       hi: int, *, negate_neg: bool = False) -> Kernel:
    """out = clamp(MBQM(x, x >= 0 ? pos : neg), lo, hi), MBQM rounding twice; with negate_neg,
    -MBQM(x, neg) for x < 0 (LEAKY_RELU's negative alpha, `neg` then its magnitude)."""
    return Kernel(
        template="kernels/requant_s16.c.j2",
        params=dict(size=g.tensors[op.inputs[0]].size, pos=tuple(pos), neg=tuple(neg), lo=lo,
                    hi=hi, negate_neg=negate_neg),
        act_inputs=[op.inputs[0]],
        act_outputs=[op.outputs[0]],
    )
