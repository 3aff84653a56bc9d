"""TILE (tile.cc, reference TileOneDimension), int8, int16 and int32.

The output repeats the input `multiples[k]` times along every dimension k (numpy's tile); the
reference copies elements without arithmetic and does not compare the quantisation of input and
output, so neither does this kernel. The multiples must be a constant int32/int64 tensor.

The C is one copy nest (kernels/copy_nest.c.j2): the output seen as [m0, d0, m1, d1, ...] reads
the input with stride 0 along every m_k, so each innermost iteration is one memcpy of the longest
run both tensors have contiguous (for a channel tile, the whole input row)."""

from __future__ import annotations

from ..ir import Graph, Op
from ._movers import (check_const_ints, check_mover, check_rank_up_to, check_shape,
                      const_ints, copy_nest_kernel, make_nest, strides)
from .base import Context, Kernel, Lowering, register

MAX_RANK = 6


@register
class Tile(Lowering):
    kind = "TILE"

    def check(self, op: Op, g: Graph) -> list[str]:
        problems, x, y = check_mover(op, g, 2)
        if x is None:
            return problems
        rank_problems = check_rank_up_to(op, x, MAX_RANK)
        if rank_problems:
            return problems + rank_problems
        problems += check_const_ints(op, g, 1, "multiples", (len(x.shape),))
        if problems:
            return problems
        multiples = const_ints(op, g, 1)
        if any(m < 1 for m in multiples):
            return [f"{op.describe()}: multiples {multiples} must be positive"]
        return check_shape(op, y, [d * m for d, m in zip(x.shape, multiples)])

    def lower(self, op: Op, g: Graph, ctx: Context) -> Kernel:
        x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        multiples = const_ints(op, g, 1)
        in_strides, out_strides = strides(x.shape), strides(y.shape)
        dims = []
        for d, m, si, so in zip(x.shape, multiples, in_strides, out_strides):
            dims += [(m, 0, d * so), (d, si, so)]
        return copy_nest_kernel(x, y, [make_nest(dims)])
