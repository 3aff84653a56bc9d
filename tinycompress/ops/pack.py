"""PACK (pack.cc -> reference_ops::Pack): N inputs of one shape stacked along a new axis.

The output has the inputs' shape with N inserted at `axis` (negative: counted from the end of
the output's axes). As the reference (which refuses differing quantisation) the values are copied
unchanged: each input is one strided box copy into its place (_strided.py), a memcpy per index
of the axes outside `axis`. Constant inputs are read from flash."""

from __future__ import annotations

from ..ir import Graph, Op
from ._movement import check_io_count, check_moved, check_shape, resolve_axis
from ._strided import Box, box_kernel, strides
from .base import Context, Kernel, Lowering, register


def pack_axis(op: Op, g: Graph) -> int | None:
    return resolve_axis(int(op.options.get("axis", 0)), len(g.tensors[op.inputs[0]].shape) + 1)


@register
class Pack(Lowering):
    kind = "PACK"

    def check(self, op: Op, g: Graph) -> list[str]:
        problems = check_io_count(op, None, 1)
        if problems:
            return problems
        problems = check_moved(op, g, list(op.inputs), [op.outputs[0]])
        if problems:
            return problems
        shape = list(g.tensors[op.inputs[0]].shape)
        n = int(op.options.get("values_count", len(op.inputs)))
        if n != len(op.inputs):
            problems.append(f"{op.describe()}: values_count {n} but {len(op.inputs)} inputs")
        for name in op.inputs[1:]:
            if list(g.tensors[name].shape) != shape:
                problems.append(f"{op.describe()}: input '{name}' has shape "
                                f"{list(g.tensors[name].shape)}, the first input {shape}")
        axis = pack_axis(op, g)
        if axis is None:
            problems.append(f"{op.describe()}: axis {op.options.get('axis')} is out of range for "
                            f"an output of rank {len(shape) + 1}")
        if problems:
            return problems
        return check_shape(op, g, op.outputs[0], shape[:axis] + [len(op.inputs)] + shape[axis:])

    def lower(self, op: Op, g: Graph, ctx: Context) -> Kernel:
        shape = tuple(g.tensors[op.inputs[0]].shape)
        axis = pack_axis(op, g)
        out_st = strides(g.tensors[op.outputs[0]].shape)
        dst_steps = out_st[:axis] + out_st[axis + 1:]
        boxes = [Box(name, op.outputs[0], shape, strides(shape), dst_steps,
                     dst_base=k * out_st[axis]) for k, name in enumerate(op.inputs)]
        return box_kernel(g, list(op.inputs), [op.outputs[0]], boxes)
