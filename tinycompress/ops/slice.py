"""SLICE (slice.cc -> reference_ops::Slice): output = input[begin : begin + size] on every axis.

`begin` and `size` are constant int32 or int64 tensors with one value per input axis; a size of
-1 takes the rest of the axis. The values are copied unchanged (any supported element type, see
_movement.py) by one strided box copy (_strided.py): a slice of whole rows is one memcpy."""

from __future__ import annotations

from ..ir import Graph, Op
from ._movement import check_io_count, check_moved, check_shape, const_ints
from ._strided import Box, box_kernel, strides
from .base import Context, Kernel, Lowering, register

INT_TYPES = ("int32", "int64")


def slice_box(shape, begin, size) -> tuple[list[int] | None, str]:
    """(output shape, "") of a valid slice, else (None, why not)."""
    out = []
    for k, (d, b, s) in enumerate(zip(shape, begin, size)):
        s = d - b if s == -1 else s
        if b < 0 or s < 0 or b + s > d:
            return None, (f"begin {b}, size {size[k]} do not fit axis {k} of {d} (sizes are "
                          "-1 or at least 0, begin at least 0)")
        out.append(s)
    return out, ""


@register
class Slice(Lowering):
    kind = "SLICE"

    def _operands(self, op: Op, g: Graph):
        begin, p1 = const_ints(op, g, 1, "begin", INT_TYPES)
        size, p2 = const_ints(op, g, 2, "size", INT_TYPES)
        return begin, size, p1 + p2

    def check(self, op: Op, g: Graph) -> list[str]:
        problems = check_io_count(op, 3, 1)
        if problems:
            return problems
        problems = check_moved(op, g, [op.inputs[0]], [op.outputs[0]])
        begin, size, more = self._operands(op, g)
        problems += more
        if problems:
            return problems
        shape = g.tensors[op.inputs[0]].shape
        if len(begin) != len(shape) or len(size) != len(shape):
            return [f"{op.describe()}: begin has {len(begin)} values and size {len(size)}; the "
                    f"input has rank {len(shape)}"]
        out, why = slice_box(shape, begin, size)
        if out is None:
            return [f"{op.describe()}: {why}"]
        return check_shape(op, g, op.outputs[0], out)

    def lower(self, op: Op, g: Graph, ctx: Context) -> Kernel:
        x = g.tensors[op.inputs[0]]
        begin, size, _ = self._operands(op, g)
        out, _ = slice_box(x.shape, begin, size)
        st = strides(x.shape)
        box = Box(op.inputs[0], op.outputs[0], tuple(out), st, strides(out),
                  src_base=sum(b * s for b, s in zip(begin, st)))
        return box_kernel(g, [op.inputs[0]], [op.outputs[0]], [box])
