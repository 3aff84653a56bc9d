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
from ._movers import const_ints, nest_params
from ._space_batch import SpaceBatch, as_4d, geometry, space_batch_nests
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
        crops = self.crops(op, g)
        b, h, w, c = as_4d(x)
        if b % (bh * bw):
            return [f"{op.describe()}: input batch {b} is not divisible by the block size "
                    f"{bh * bw}"]
        return self.check_output(op, g, [b // (bh * bw), h * bh - crops[0] - crops[1],
                                         w * bw - crops[2] - crops[3], c])

    @staticmethod
    def crops(op: Op, g: Graph) -> list[int]:
        v = const_ints(op, g, 2)
        return v if len(v) == 4 else v + [0, 0]

    def lower(self, op: Op, g: Graph, ctx: Context) -> Kernel:
        x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        block, pads = geometry(op, g)
        nests = space_batch_nests(as_4d(y), as_4d(x), block, pads, to_space=True)
        return Kernel(
            template="kernels/copy_nest.c.j2",
            params=nest_params(nests, y),
            act_inputs=[x.name],
            act_outputs=[y.name],
        )
