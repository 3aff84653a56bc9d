"""BROADCAST_TO (broadcast_to.cc, reference_ops::BroadcastTo), int8, int16 and int32.

The output has the shape of the constant `shape` operand; the input is broadcast to it by numpy's
rule (aligned at the last dimension, each input dimension 1 or equal to the output's, missing
leading dimensions taken as 1). The reference copies elements without arithmetic and does not
compare the quantisation of input and output, so neither does this kernel; it allows up to 8
dimensions (kMaxDims).

The C is one copy nest (kernels/copy_nest.c.j2) reading the input with stride 0 along every
broadcast dimension, so the innermost iteration copies the longest run both tensors have
contiguous."""

from __future__ import annotations

from ..ir import Graph, Op
from ._movers import (check_const_ints, check_mover, check_rank_up_to, check_shape,
                      const_ints, copy_nest_kernel, make_nest, strides)
from .base import Context, Kernel, Lowering, register

MAX_RANK = 8


def aligned_input_shape(in_shape, rank: int) -> list[int]:
    """The input shape with leading 1s up to `rank`."""
    return [1] * (rank - len(in_shape)) + [int(d) for d in in_shape]


@register
class BroadcastTo(Lowering):
    kind = "BROADCAST_TO"

    def check(self, op: Op, g: Graph) -> list[str]:
        problems, x, y = check_mover(op, g, 2)
        if x is None:
            return problems
        shape_t = g.tensors[op.inputs[1]]
        rank_problems = check_rank_up_to(op, x, MAX_RANK)
        if rank_problems:
            return problems + rank_problems
        if len(shape_t.shape) != 1:
            return problems + [f"{op.describe()}: the shape operand '{shape_t.name}' has shape "
                               f"{list(shape_t.shape)}; a 1-D tensor expected"]
        problems += check_const_ints(op, g, 1, "shape", tuple(shape_t.shape))
        if problems:
            return problems
        shape = const_ints(op, g, 1)
        if not len(x.shape) <= len(shape) <= MAX_RANK:
            return [f"{op.describe()}: shape {shape} has rank {len(shape)}; it must be at least "
                    f"the input's ({len(x.shape)}) and at most {MAX_RANK}"]
        aligned = aligned_input_shape(x.shape, len(shape))
        if any(s < 1 for s in shape) or any(d not in (1, s) for d, s in zip(aligned, shape)):
            return [f"{op.describe()}: input shape {list(x.shape)} cannot be broadcast to "
                    f"{shape} (each dimension must be 1 or equal, sizes positive)"]
        return check_shape(op, y, shape)

    def lower(self, op: Op, g: Graph, ctx: Context) -> Kernel:
        x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        aligned = aligned_input_shape(x.shape, len(y.shape))
        in_strides, out_strides = strides(aligned), strides(y.shape)
        dims = [(s, 0 if d == 1 else si, so)
                for d, s, si, so in zip(aligned, y.shape, in_strides, out_strides)]
        return copy_nest_kernel(x, y, [make_nest(dims)])
