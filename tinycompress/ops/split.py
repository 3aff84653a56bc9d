"""SPLIT and SPLIT_V (split.cc, split_v.cc -> reference_ops::Split): the input cut along one axis
into consecutive pieces, one per output.

SPLIT takes the axis as its first input (a constant int32) and cuts `num_splits` equal pieces.
SPLIT_V takes the input, then the piece sizes (a constant int32/int64 vector, at most one -1 for
what remains) and the axis (a constant int32). A negative axis counts from the end. Each output
is one strided box copy of the input (_strided.py): for each index of the axes outside the split
axis, one memcpy of the piece's contiguous run."""

from __future__ import annotations

from ..ir import Graph, Op
from ._movement import check_io_count, check_moved, check_shape, const_ints, resolve_axis
from ._strided import Box, box_kernel, strides
from .base import Context, Kernel, Lowering, register


def split_boxes(src: str, shape, axis: int, outputs: list[str], sizes: list[int]) -> list[Box]:
    st = strides(shape)
    boxes, start = [], 0
    for name, n in zip(outputs, sizes):
        counts = list(shape)
        counts[axis] = n
        boxes.append(Box(src, name, tuple(counts), st, strides(counts),
                         src_base=start * st[axis]))
        start += n
    return boxes


@register
class Split(Lowering):
    kind = "SPLIT"
    data_input = 1

    def plan(self, op: Op, g: Graph) -> tuple[int | None, list[int] | None, list[str]]:
        """(axis, piece sizes, problems) from the operands and options."""
        axis, problems = const_ints(op, g, 0, "axis", scalar=True)
        if problems:
            return None, None, problems
        shape = g.tensors[op.inputs[1]].shape
        a = resolve_axis(axis[0], len(shape))
        if a is None:
            return None, None, [f"{op.describe()}: axis {axis[0]} is out of range for rank "
                                f"{len(shape)}"]
        n = int(op.options.get("num_splits", len(op.outputs)))
        if n != len(op.outputs) or shape[a] % n:
            return None, None, [f"{op.describe()}: {shape[a]} along axis {a} does not split into "
                                f"num_splits {n} equal pieces over {len(op.outputs)} outputs"]
        return a, [shape[a] // n] * n, []

    def check(self, op: Op, g: Graph) -> list[str]:
        problems = check_io_count(op, 2 if self.kind == "SPLIT" else 3, None)
        if problems:
            return problems
        src = op.inputs[self.data_input]
        problems = check_moved(op, g, [src], list(op.outputs))
        axis, sizes, more = self.plan(op, g)
        problems += more
        if problems:
            return problems
        shape = list(g.tensors[src].shape)
        for name, n in zip(op.outputs, sizes):
            problems += check_shape(op, g, name, shape[:axis] + [n] + shape[axis + 1:])
        return problems

    def lower(self, op: Op, g: Graph, ctx: Context) -> Kernel:
        src = op.inputs[self.data_input]
        axis, sizes, _ = self.plan(op, g)
        boxes = split_boxes(src, g.tensors[src].shape, axis, list(op.outputs), sizes)
        return box_kernel(g, [src], list(op.outputs), boxes)


@register
class SplitV(Split):
    kind = "SPLIT_V"
    data_input = 0

    def plan(self, op: Op, g: Graph) -> tuple[int | None, list[int] | None, list[str]]:
        sizes, p1 = const_ints(op, g, 1, "size_splits", ("int32", "int64"))
        axis, p2 = const_ints(op, g, 2, "axis", scalar=True)
        if p1 or p2:
            return None, None, p1 + p2
        shape = g.tensors[op.inputs[0]].shape
        a = resolve_axis(axis[0], len(shape))
        if a is None:
            return None, None, [f"{op.describe()}: axis {axis[0]} is out of range for rank "
                                f"{len(shape)}"]
        n = int(op.options.get("num_splits", len(op.outputs)))
        if not n == len(sizes) == len(op.outputs):
            return None, None, [f"{op.describe()}: {len(sizes)} size_splits, num_splits {n} and "
                                f"{len(op.outputs)} outputs differ"]
        given = list(sizes)
        if sizes.count(-1) == 1 and all(s >= 0 for s in sizes if s != -1):
            sizes[sizes.index(-1)] = shape[a] - sum(s for s in sizes if s != -1)
        if any(s < 0 for s in sizes) or sum(sizes) != shape[a]:
            return None, None, [f"{op.describe()}: size_splits {given} do not add up to "
                                f"{shape[a]} along axis {a} (at most one -1, others at least 0)"]
        return a, sizes, []
