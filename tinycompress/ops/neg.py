"""NEG, int8 and int16 (neg.cc).

The reference negates the raw stored value and reads no quantisation parameters; the type's
minimum wraps onto itself (-(-128) is -128 in int8). The raw negation is the negation of the real
values when the output has the input's scale and the opposite zero point (the converter's
symmetric int16 and zero-point-0 int8 tensors), which tinycompress requires rather than compile a
result that means something else."""

from __future__ import annotations

from ..ir import Graph, Op
from .base import Context, Kernel, Lowering, check_unary, need_quantised, per_tensor, register

DTYPES = ("int8", "int16")
MINIMUM = {"int8": -128, "int16": -32768}


def negation_problems(op: Op, x, y) -> list[str]:
    if (y.quant.s, y.quant.zp) != (x.quant.s, -x.quant.zp):
        return [f"{op.describe()}: output quantised ({y.quant.s}, {y.quant.zp}); NEG negates the "
                f"raw values, which negates the real ones only for ({x.quant.s}, {-x.quant.zp}) "
                f"(the input's scale, its zero point negated)"]
    return []


@register
class Neg(Lowering):
    kind = "NEG"

    def check(self, op: Op, g: Graph) -> list[str]:
        def tensors(x, y):
            problems = need_quantised(op, g, [x.name, y.name], DTYPES)
            problems += per_tensor(op, x) + per_tensor(op, y)
            return problems or negation_problems(op, x, y)
        return check_unary(op, g, tensors, allow_const=False)

    def lower(self, op: Op, g: Graph, ctx: Context) -> Kernel:
        x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        return Kernel(template="kernels/neg.c.j2",
                      params=dict(size=x.size, ctype=y.ctype, qmin=MINIMUM[y.dtype]),
                      act_inputs=[x.name], act_outputs=[y.name])
