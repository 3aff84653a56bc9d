"""CUMSUM (cumsum.cc, optimized_ops::CumSum), int32, along one constant axis, with the exclusive
and reverse options.

out[..., k, ...] = the sum of in[..., j, ...] over j <= k (j < k when exclusive; j >= k, or
j > k, when reverse), in int32. The reference supports int32, int64 and float32 only (measured:
int8 and int16 are refused at Prepare), so int32 is what an integer model can hold here. Its
int32 sum overflows as the machine wraps; the C sums with tc_wadd (wrapping, without undefined
behaviour)."""

from __future__ import annotations

import numpy as np

from ..ir import Graph, Op
from ._movers import check_activation_input, check_arity, check_const_ints, const_ints
from .base import Context, Kernel, Lowering, register


@register
class CumSum(Lowering):
    kind = "CUMSUM"

    def check(self, op: Op, g: Graph) -> list[str]:
        problems = check_arity(op, 2)
        if problems:
            return problems
        x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        problems = [f"{op.describe()}: tensor '{t.name}' is {t.dtype}; supported: int32 (the "
                    "reference has no int8 or int16 CUMSUM)" for t in (x, y) if t.dtype != "int32"]
        problems += check_activation_input(op, x)
        problems += check_const_ints(op, g, 1, "axis", tuple(g.tensors[op.inputs[1]].shape))
        if problems:
            return problems
        axis_t = g.tensors[op.inputs[1]]
        if g.tensors[op.inputs[1]].dtype != "int32" or axis_t.size != 1:
            return [f"{op.describe()}: the axis operand '{axis_t.name}' must be one int32 value"]
        axis = const_ints(op, g, 1)[0]
        if not -len(x.shape) <= axis < len(x.shape):
            return [f"{op.describe()}: axis {axis} out of range for rank {len(x.shape)}"]
        if list(y.shape) != list(x.shape):
            return [f"{op.describe()}: output '{y.name}' has shape {list(y.shape)}, expected "
                    f"{list(x.shape)}"]
        return []

    def lower(self, op: Op, g: Graph, ctx: Context) -> Kernel:
        x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        axis = const_ints(op, g, 1)[0] % len(x.shape)
        return Kernel(
            template="kernels/cumsum.c.j2",
            params=dict(outer=int(np.prod(x.shape[:axis], dtype=np.int64)), n=x.shape[axis],
                        inner=int(np.prod(x.shape[axis + 1:], dtype=np.int64)),
                        exclusive=bool(op.options.get("exclusive", False)),
                        reverse=bool(op.options.get("reverse", False))),
            act_inputs=[x.name],
            act_outputs=[y.name],
        )
