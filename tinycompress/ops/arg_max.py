"""ARG_MAX and ARG_MIN over int8 input, int32 or int64 output (arg_min_max.cc,
reference_ops::ArgMinMax).

The index along one axis (a constant int32 or int64 operand of one element, negative counted
from the end) of the first largest (smallest) raw value, written as output_type (which must be
the output tensor's type): the reference starts from index 0 and
moves on only for a strictly greater (smaller) value, so ties keep the first. The output drops
that axis. Raw int8 values order as the real ones for any per-tensor quantisation (scales are
positive), so none is required; the reference refuses int16 input."""

from __future__ import annotations

import numpy as np

from ..ir import Graph, Op
from .base import Context, Kernel, Lowering, per_tensor, register

OUTPUT_DTYPES = ("int32", "int64")
OUTPUT_TYPES = {2: "int32", 4: "int64"}  # ArgMaxOptions / ArgMinOptions output_type (TensorType)


def resolved_axis(op: Op, g: Graph) -> int:
    x, a = g.tensors[op.inputs[0]], g.tensors[op.inputs[1]]
    axis = int(a.data.reshape(-1)[0])
    return axis + len(x.shape) if axis < 0 else axis


def axis_problems(op: Op, g: Graph) -> list[str]:
    x, a, y = g.tensors[op.inputs[0]], g.tensors[op.inputs[1]], g.tensors[op.outputs[0]]
    if not a.is_const or a.dtype not in ("int32", "int64") or a.size != 1:
        return [f"{op.describe()}: the axis must be a constant int32 or int64 tensor of one "
                "element"]
    rank, axis = len(x.shape), int(a.data.reshape(-1)[0])
    if not -rank <= axis < rank:
        return [f"{op.describe()}: axis {axis} out of range for rank {rank}"]
    axis = resolved_axis(op, g)
    want = [d for k, d in enumerate(x.shape) if k != axis]
    if list(y.shape) != want:
        return [f"{op.describe()}: output shape {list(y.shape)} is not the input's without axis "
                f"{axis}, {want}"]
    return []


class _ArgMinMax(Lowering):
    cmp: str

    def check(self, op: Op, g: Graph) -> list[str]:
        if len(op.inputs) != 2 or not all(op.inputs) or len(op.outputs) != 1:
            return [f"{op.describe()}: expected an input, an axis operand and one output"]
        x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        problems = []
        if x.dtype != "int8":
            problems.append(f"{op.describe()}: tensor '{x.name}' is {x.dtype}, expected int8")
        problems += per_tensor(op, x)
        if x.is_const:
            problems.append(f"{op.describe()}: constant input '{x.name}' is not supported")
        if y.dtype not in OUTPUT_DTYPES:
            problems.append(f"{op.describe()}: output '{y.name}' is {y.dtype}, expected int32 "
                            "or int64")
        option = op.options.get("output_type")
        if option is not None and OUTPUT_TYPES.get(option, option) != y.dtype:
            problems.append(f"{op.describe()}: output_type {OUTPUT_TYPES.get(option, option)} "
                            f"differs from the output tensor's {y.dtype} (the reference writes "
                            "output_type)")
        return problems + axis_problems(op, g)

    def lower(self, op: Op, g: Graph, ctx: Context) -> Kernel:
        x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        axis = resolved_axis(op, g)
        return Kernel(
            template="kernels/arg_max.c.j2",
            params=dict(kind=op.kind, cmp=self.cmp, ctype_in=x.ctype, ctype=y.ctype,
                        outer=int(np.prod(x.shape[:axis], dtype=np.int64)), size=x.shape[axis],
                        inner=int(np.prod(x.shape[axis + 1:], dtype=np.int64))),
            act_inputs=[x.name],
            act_outputs=[y.name],
        )


@register
class ArgMax(_ArgMinMax):
    kind = "ARG_MAX"
    cmp = ">"


@register
class ArgMin(_ArgMinMax):
    kind = "ARG_MIN"
    cmp = "<"
