"""TRANSPOSE (transpose.cc -> reference_ops::Transpose): output axis k is input axis perm[k].

`perm` is a constant int32 tensor, a permutation of the input's axes (the reference reads it as
int32 whatever its type, so an int64 perm is refused). The C walks the output in order, reading
the input with the permuted strides; output axes that stay adjacent in the input merge, and a
permutation that keeps the innermost axis in place copies whole rows with memcpy (_strided.py)."""

from __future__ import annotations

from ..ir import Graph, Op
from ._movement import check_io_count, check_moved, check_shape, const_ints
from ._strided import Box, box_kernel, strides
from .base import Context, Kernel, Lowering, register


@register
class Transpose(Lowering):
    kind = "TRANSPOSE"

    def check(self, op: Op, g: Graph) -> list[str]:
        problems = check_io_count(op, 2, 1)
        if problems:
            return problems
        problems = check_moved(op, g, [op.inputs[0]], [op.outputs[0]])
        perm, more = const_ints(op, g, 1, "perm")
        problems += more
        if problems:
            return problems
        shape = g.tensors[op.inputs[0]].shape
        if sorted(perm) != list(range(len(shape))):
            return [f"{op.describe()}: perm {perm} is not a permutation of the {len(shape)} "
                    "input axes"]
        return check_shape(op, g, op.outputs[0], [shape[p] for p in perm])

    def lower(self, op: Op, g: Graph, ctx: Context) -> Kernel:
        shape = g.tensors[op.inputs[0]].shape
        perm, _ = const_ints(op, g, 1, "perm")
        out = [shape[p] for p in perm]
        st = strides(shape)
        box = Box(op.inputs[0], op.outputs[0], tuple(out), tuple(st[p] for p in perm),
                  strides(out))
        return box_kernel(g, [op.inputs[0]], [op.outputs[0]], [box])
