"""EXPAND_DIMS (expand_dims.cc): the input with an axis of extent 1 inserted; a view, so usually
free.

The axis is a constant int32/int64 operand of one value in [-rank - 1, rank] (negative: counted
from the end of the output's axes). The reference refuses differing input and output quantisation.
The data is unchanged: the planner aliases input and output storage (planner.VIEW_OPS), and the
kernel copies only when both are the caller's buffers."""

from __future__ import annotations

from ..ir import Graph, Op
from ._movement import check_io_count, check_view, const_ints, resolve_axis, view_kernel
from .base import Context, Kernel, Lowering, register


@register
class ExpandDims(Lowering):
    kind = "EXPAND_DIMS"

    def check(self, op: Op, g: Graph) -> list[str]:
        problems = check_io_count(op, 2, 1)
        if problems:
            return problems
        axis, problems = const_ints(op, g, 1, "axis", ("int32", "int64"), scalar=True)
        if problems:
            return problems
        shape = list(g.tensors[op.inputs[0]].shape)
        a = resolve_axis(axis[0], len(shape) + 1)
        if a is None:
            return [f"{op.describe()}: axis {axis[0]} is out of range for an output of rank "
                    f"{len(shape) + 1}"]
        return check_view(op, g, shape[:a] + [1] + shape[a:])

    def lower(self, op: Op, g: Graph, ctx: Context) -> Kernel:
        return view_kernel(op, g)
