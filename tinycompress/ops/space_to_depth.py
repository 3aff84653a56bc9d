"""SPACE_TO_DEPTH (space_to_depth.cc, reference_ops::SpaceToDepth), int8 and int32, NHWC.

Every block_size x block_size patch of the input becomes one output pixel of block_size^2 times
the channels: output[n, i, j, (bi * b + bj) * C + c] = input[n, i * b + bi, j * b + bj, c]. The
reference moves elements as they are and does not compare the quantisation of input and output;
neither does this kernel. (It refuses int16, so does this.)

The C is one copy nest (kernels/copy_nest.c.j2): for every output pixel and patch row, one memcpy
of block_size * C contiguous elements."""

from __future__ import annotations

from ..ir import Graph, Op
from ._depth_space import check_block_op
from ._movers import check_shape, copy_nest_kernel, make_nest, strides
from .base import Context, Kernel, Lowering, register


@register
class SpaceToDepth(Lowering):
    kind = "SPACE_TO_DEPTH"

    def check(self, op: Op, g: Graph) -> list[str]:
        problems, x, y, b = check_block_op(op, g)
        if problems:
            return problems
        n, h, w, c = x.shape
        if h % b or w % b:
            return [f"{op.describe()}: input '{x.name}' {list(x.shape)} is not divisible by "
                    f"block_size {b} in height and width"]
        return check_shape(op, y, [n, h // b, w // b, c * b * b])

    def lower(self, op: Op, g: Graph, ctx: Context) -> Kernel:
        x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        b = op.options["block_size"]
        n, h, w, c = x.shape
        sn, sh, sw, _ = strides(x.shape)
        on, oh, ow, _ = strides(y.shape)
        # output [n, i, j, bi, bj, c] <- input [n, i * b + bi, j * b + bj, c]
        dims = [(n, sn, on), (h // b, b * sh, oh), (w // b, b * sw, ow), (b, sh, b * c),
                (b, sw, c), (c, 1, 1)]
        return copy_nest_kernel(x, y, [make_nest(dims)])
