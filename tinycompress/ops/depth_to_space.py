"""DEPTH_TO_SPACE (depth_to_space.cc, reference_ops::DepthToSpace), int8 and int32, NHWC, DCR
order.

Every input pixel of block_size^2 * C' channels becomes a block_size x block_size patch of C'
channels: output[n, i * b + bi, j * b + bj, c] = input[n, i, j, (bi * b + bj) * C' + c]. The
reference moves elements as they are and does not compare the quantisation of input and output;
neither does this kernel. (It refuses int16, so does this.)

The C is one copy nest (kernels/copy_nest.c.j2): for every input pixel and patch row, one memcpy
of block_size * C' contiguous elements."""

from __future__ import annotations

from ..ir import Graph, Op
from ._depth_space import check_block_op
from ._movers import check_shape, copy_nest_kernel, make_nest, strides
from .base import Context, Kernel, Lowering, register


@register
class DepthToSpace(Lowering):
    kind = "DEPTH_TO_SPACE"

    def check(self, op: Op, g: Graph) -> list[str]:
        problems, x, y, b = check_block_op(op, g)
        if problems:
            return problems
        n, h, w, c = x.shape
        if c % (b * b):
            return [f"{op.describe()}: input '{x.name}' has {c} channels, not divisible by "
                    f"block_size^2 = {b * b}"]
        return check_shape(op, y, [n, h * b, w * b, c // (b * b)])

    def lower(self, op: Op, g: Graph, ctx: Context) -> Kernel:
        x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        b = op.options["block_size"]
        n, h, w, c = x.shape
        c_out = c // (b * b)
        sn, sh, sw, _ = strides(x.shape)
        on, oh, ow, _ = strides(y.shape)
        # output [n, i, bi, j, bj, c] <- input [n, i, j, (bi * b + bj) * C' + c]
        dims = [(n, sn, on), (h, sh, b * oh), (b, b * c_out, oh), (w, sw, b * ow),
                (b, c_out, ow), (c_out, 1, 1)]
        return copy_nest_kernel(x, y, [make_nest(dims)])
