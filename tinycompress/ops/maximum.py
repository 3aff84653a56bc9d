"""MAXIMUM and MINIMUM, int8 and int16 (maximum_minimum.cc, reference_ops::
MaximumMinimumBroadcastSlow).

The reference compares the raw stored values, element by element with numpy broadcasting (up to
rank 6 here), and writes the larger (smaller) one; it reads no quantisation parameters. That is
the maximum of the real values only when both inputs and the output share one scale and zero
point, which the converter's quantiser guarantees; tinycompress refuses anything else rather than
compile a raw comparison of differently quantised values (the interpreter runs it silently)."""

from __future__ import annotations

from ..ir import Graph, Op
from ._elementwise import check_binary, loop_params
from .base import Context, Kernel, Lowering, register

DTYPES = ("int8", "int16")


def check_same_quantisation(op: Op, g: Graph) -> list[str]:
    y = g.tensors[op.outputs[0]]
    problems = []
    for name in op.inputs:
        q = g.tensors[name].quant
        if (q.s, q.zp) != (y.quant.s, y.quant.zp):
            problems.append(f"{op.describe()}: input '{name}' is quantised ({q.s}, {q.zp}), the "
                            f"output ({y.quant.s}, {y.quant.zp}); {op.kind} compares raw "
                            "values, so they must be equal")
    return problems


class _MaxMin(Lowering):
    cmp: str

    def check(self, op: Op, g: Graph) -> list[str]:
        return check_binary(op, g, DTYPES) or check_same_quantisation(op, g)

    def lower(self, op: Op, g: Graph, ctx: Context) -> Kernel:
        params, consts, act = loop_params(op, g)
        params.update(cmp=self.cmp, ctype=g.tensors[op.outputs[0]].ctype)
        return Kernel(template="kernels/maximum_minimum.c.j2", params=params, consts=consts,
                      act_inputs=act, act_outputs=[op.outputs[0]])


@register
class Maximum(_MaxMin):
    kind = "MAXIMUM"
    cmp = ">"


@register
class Minimum(_MaxMin):
    kind = "MINIMUM"
    cmp = "<"
