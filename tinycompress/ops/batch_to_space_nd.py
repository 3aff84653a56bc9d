"""BATCH_TO_SPACE_ND (batch_to_space_nd.cc, reference_ops::BatchToSpaceND), int8, int16, int32;
3-D [B, H, C] and 4-D [B, H, W, C] inputs.

The input batch is split into bh x bw blocks that interleave into the spatial dimensions, then the
constant crops are cut off: output[n, h * bh + oh - crop_top, w * bw + ow - crop_left, c] =
input[(oh * bw + ow) * B + n, h, w, c]. The block shape and crops must be constant int32/int64
tensors. The reference refuses an output quantised unlike the input and copies bytes.

The C is copy nests (see _space_batch.py): without crops the block ones merged into one nest, one
memcpy of C elements per input pixel."""

from __future__ import annotations

from ..ir import Graph, Op
from ._movers import copy_nest_kernel
from ._space_batch import SpaceBatch, as_4d, geometry
from .base import Context, Kernel, Lowering, register


@register
class BatchToSpaceND(SpaceBatch, Lowering):
    kind = "BATCH_TO_SPACE_ND"
    what = "crops"

    def check(self, op: Op, g: Graph) -> list[str]:
        problems, ok = self.check_common(op, g)
        if not ok:
            return problems
        x = g.tensors[op.inputs[0]]
        (bh, bw), _ = geometry(op, g)
        crops = self.amounts(op, g)
        b, h, w, c = as_4d(x)
        if b % (bh * bw):
            return [f"{op.describe()}: input batch {b} is not divisible by the block size "
                    f"{bh * bw}"]
        return self.check_output(op, g, [b // (bh * bw), h * bh - crops[0] - crops[1],
                                         w * bw - crops[2] - crops[3], c])

    def lower(self, op: Op, g: Graph, ctx: Context) -> Kernel:
        x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        return copy_nest_kernel(x, y, self.nests(op, g, to_space=True))
