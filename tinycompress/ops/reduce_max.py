"""REDUCE_MAX and REDUCE_MIN, int8 and int16 (reduce.cc EvalGeneric, reference_ops::
ReduceGeneric).

The largest (smallest) raw value over any non-empty set of axes (negative, repeated, all), with
or without keep_dims; Keras's GlobalMaxPooling2D converts to REDUCE_MAX over axes [1, 2].
The reference requires the output to have the input's scale and zero point (and int16 zero
points 0); it starts each output from the type's lowest (highest) value."""

from __future__ import annotations

from ..ir import Graph, Op
from ._reduce import check_reduction, reduced_count, reduction_loops
from .base import Context, Kernel, Lowering, register

DTYPES = ("int8", "int16")
LIMITS = {"int8": (-128, 127), "int16": (-32768, 32767)}


def quantisation_problems(op: Op, g: Graph) -> list[str]:
    x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
    if (x.quant.s, x.quant.zp) != (y.quant.s, y.quant.zp):
        return [f"{op.describe()}: output quantised ({y.quant.s}, {y.quant.zp}), the input "
                f"({x.quant.s}, {x.quant.zp}); the reference requires them equal"]
    if x.dtype == "int16" and x.quant.zp != 0:
        return [f"{op.describe()}: int16 zero point {x.quant.zp} must be 0 (as the reference)"]
    return []


class _ReduceMaxMin(Lowering):
    cmp: str

    def check(self, op: Op, g: Graph) -> list[str]:
        problems, axes = check_reduction(op, g, DTYPES)
        return problems or quantisation_problems(op, g)

    def lower(self, op: Op, g: Graph, ctx: Context) -> Kernel:
        x = g.tensors[op.inputs[0]]
        _, axes = check_reduction(op, g, DTYPES)
        kept, reduced = reduction_loops(list(x.shape), axes)
        lo, hi = LIMITS[x.dtype]
        counters = [f"k{i}" for i in range(len(kept))] + [f"r{i}" for i in range(len(reduced))]
        return Kernel(
            template="kernels/reduce_max.c.j2",
            params=dict(kept=kept, reduced=reduced, counters=counters, ctype=x.ctype,
                        kind=op.kind, cmp=self.cmp, init=lo if self.cmp == ">" else hi,
                        count=reduced_count(g, op, axes)),
            act_inputs=[op.inputs[0]],
            act_outputs=[op.outputs[0]],
        )


@register
class ReduceMax(_ReduceMaxMin):
    kind = "REDUCE_MAX"
    cmp = ">"


@register
class ReduceMin(_ReduceMaxMin):
    kind = "REDUCE_MIN"
    cmp = "<"
