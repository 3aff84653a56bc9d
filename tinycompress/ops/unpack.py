"""UNPACK (unpack.cc -> reference_ops::Unpack): the input cut into its slices along `axis`, one
output per index, that axis removed.

`num` must equal the input's extent along `axis` (negative: counted from the end) and the number
of outputs. As the reference (which refuses differing quantisation) the values are copied
unchanged: each output is one strided box copy (_strided.py)."""

from __future__ import annotations

from ..ir import Graph, Op
from ._movement import check_io_count, check_moved, check_shape, resolve_axis
from ._strided import Box, box_kernel, strides
from .base import Context, Kernel, Lowering, register


@register
class Unpack(Lowering):
    kind = "UNPACK"

    def check(self, op: Op, g: Graph) -> list[str]:
        problems = check_io_count(op, 1, None)
        if problems:
            return problems
        problems = check_moved(op, g, [op.inputs[0]], list(op.outputs))
        if problems:
            return problems
        shape = list(g.tensors[op.inputs[0]].shape)
        axis = resolve_axis(int(op.options.get("axis", 0)), len(shape))
        if axis is None:
            return [f"{op.describe()}: axis {op.options.get('axis')} is out of range for rank "
                    f"{len(shape)}"]
        num = int(op.options.get("num", len(op.outputs)))
        if not num == shape[axis] == len(op.outputs):
            return [f"{op.describe()}: num {num}, {len(op.outputs)} outputs and the input's "
                    f"{shape[axis]} along axis {axis} differ"]
        for name in op.outputs:
            problems += check_shape(op, g, name, shape[:axis] + shape[axis + 1:])
        return problems

    def lower(self, op: Op, g: Graph, ctx: Context) -> Kernel:
        shape = tuple(g.tensors[op.inputs[0]].shape)
        axis = resolve_axis(int(op.options.get("axis", 0)), len(shape))
        st = strides(shape)
        counts = shape[:axis] + shape[axis + 1:]
        boxes = [Box(op.inputs[0], name, counts, st[:axis] + st[axis + 1:], strides(counts),
                     src_base=k * st[axis]) for k, name in enumerate(op.outputs)]
        return box_kernel(g, [op.inputs[0]], list(op.outputs), boxes)
