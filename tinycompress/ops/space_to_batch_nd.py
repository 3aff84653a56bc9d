"""SPACE_TO_BATCH_ND (space_to_batch_nd.cc, reference_ops::SpaceToBatchND), int8, int16, int32;
3-D [B, H, C] and 4-D [B, H, W, C] inputs.

The input, padded by the constant paddings, is cut into bh x bw blocks that become batches:
output[(oh * bw + ow) * B + n, h, w, c] = input[n, h * bh + oh - pad_top, w * bw + ow - pad_left,
c], and the pad value where that position is padding. The reference pads with the output zero
point (int8; 0 for int16, whose zero point it requires to be 0, and int32), refuses an output
quantised unlike the input and copies bytes.

The C sets the output to the pad value when there is padding, then copies the input with copy
nests (see _space_batch.py): one memcpy of C elements per input pixel."""

from __future__ import annotations

from ..ir import Graph, Op
from ._movers import copy_nest_kernel
from ._space_batch import SpaceBatch, as_4d, geometry
from .base import Context, Kernel, Lowering, register


@register
class SpaceToBatchND(SpaceBatch, Lowering):
    kind = "SPACE_TO_BATCH_ND"
    what = "paddings"

    def check(self, op: Op, g: Graph) -> list[str]:
        problems, ok = self.check_common(op, g)
        if not ok:
            return problems
        x = g.tensors[op.inputs[0]]
        if x.dtype == "int16" and x.quant.zp != 0:
            return [f"{op.describe()}: int16 input '{x.name}' has zero point {x.quant.zp}; the "
                    "reference requires 0"]
        (bh, bw), _ = geometry(op, g)
        p = self.amounts(op, g)
        b, h, w, c = as_4d(x)
        hp, wp = h + p[0] + p[1], w + p[2] + p[3]
        if hp % bh or wp % bw:
            return [f"{op.describe()}: the padded input {hp} x {wp} is not divisible by the "
                    f"block shape {bh} x {bw}"]
        return self.check_output(op, g, [b * bh * bw, hp // bh, wp // bw, c])

    def lower(self, op: Op, g: Graph, ctx: Context) -> Kernel:
        x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        padded = any(self.amounts(op, g))
        fill = (y.quant.zp if y.dtype == "int8" else 0) if padded else None
        return copy_nest_kernel(x, y, self.nests(op, g, to_space=False), fill)
