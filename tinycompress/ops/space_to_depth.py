"""SPACE_TO_DEPTH (space_to_depth.cc, reference_ops::SpaceToDepth), int8 and int32, NHWC.

Every block_size x block_size patch of the input becomes one output pixel of block_size^2 times
the channels: output[n, i, j, (bi * b + bj) * C + c] = input[n, i * b + bi, j * b + bj, c]. The
reference moves elements as they are and does not compare the quantisation of input and output;
neither does this kernel. (It refuses int16, so does this.)

The C is one copy nest (kernels/copy_nest.c.j2): for every output pixel and patch row, one memcpy
of block_size * C contiguous elements."""

from __future__ import annotations

from ..ir import Graph, Op
from ._movers import (check_activation_input, check_arity, check_data, check_rank, check_shape,
                      make_nest, nest_params, strides)
from .base import Context, Kernel, Lowering, register

DTYPES = ("int8", "int32")


def check_block(op: Op, b) -> list[str]:
    if not isinstance(b, int) or b < 1:
        return [f"{op.describe()}: block_size {b!r} is not a positive integer"]
    return []


@register
class SpaceToDepth(Lowering):
    kind = "SPACE_TO_DEPTH"

    def check(self, op: Op, g: Graph) -> list[str]:
        problems = check_arity(op, 1)
        if problems:
            return problems
        x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        problems = check_data(op, g, [x.name, y.name], DTYPES) + check_activation_input(op, x)
        problems += check_rank(op, x, (4,))
        b = op.options.get("block_size")
        problems += check_block(op, b)
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
        return Kernel(
            template="kernels/copy_nest.c.j2",
            params=nest_params([make_nest(dims)], y),
            act_inputs=[x.name],
            act_outputs=[y.name],
        )
