"""MEAN, int8 (reduce.cc EvalQuantizedMean -> reference_ops::QuantizedMeanOrSum).

With BUILTIN_REF every int8 MEAN takes the integer path (there is no special case for axes H, W):
the multiplier of in_scale / out_scale (double precision, QuantizeMultiplier) is rescaled to
include 1 / n, where n is the number of reduced elements: with e = floor(log2 n) clamped to at
most 32 and to at most 31 + shift, multiplier' = (multiplier << e) / n (int64, truncating) and
shift' = shift - e. Each output is MultiplyByQuantizedMultiplier(sum - in_zp * n, multiplier',
shift') + out_zp, clamped to int8. No fused activation.

Measured against the interpreter: that MultiplyByQuantizedMultiplier rounds twice (gemmlowp's
SaturatingRoundingDoublingHighMul, then RoundingDivideByPOT), as MUL's does; single rounding
differed on 9 of 640 global averages of [1, 8, 8, 64], double rounding on none."""

from __future__ import annotations

import numpy as np

from ..ir import Graph, Op
from ..quant import quantize_multiplier
from ._reduce import check_reduction, reduction_loops, resolve_axes
from .base import Context, Kernel, Lowering, register

__all__ = ["Mean", "mean_multiplier", "reduction_loops", "resolve_axes"]


def mean_multiplier(in_scale: float, out_scale: float, n: int) -> tuple[int, int]:
    m, shift = quantize_multiplier(float(in_scale) / float(out_scale))
    e = min(n.bit_length() - 1, 32, 31 + shift)
    return int((m << e) // n), shift - e


@register
class Mean(Lowering):
    kind = "MEAN"

    def check(self, op: Op, g: Graph) -> list[str]:
        problems, axes = check_reduction(op, g)
        if axes is None:
            return problems
        x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        n = int(np.prod([x.shape[k] for k in axes], dtype=np.int64))
        if n * 256 >= 2**31:
            problems.append(f"{op.describe()}: reducing {n} elements overflows the int32 sum")
        elif x.quant is not None and y.quant is not None and not problems:
            _, shift = mean_multiplier(x.quant.s, y.quant.s, n)
            if n * 256 * 2 ** max(shift, 0) >= 2**31:
                problems.append(f"{op.describe()}: the rescale {x.quant.s} / {y.quant.s} needs a "
                                f"left shift of {shift} bits, which overflows int32")
        return problems

    def lower(self, op: Op, g: Graph, ctx: Context) -> Kernel:
        x, a, y = g.tensors[op.inputs[0]], g.tensors[op.inputs[1]], g.tensors[op.outputs[0]]
        axes = resolve_axes(a.data.reshape(-1).tolist(), len(x.shape))
        n = int(np.prod([x.shape[k] for k in axes], dtype=np.int64))
        mult, shift = mean_multiplier(x.quant.s, y.quant.s, n)
        kept, reduced = reduction_loops(list(x.shape), axes)
        counters = [f"k{i}" for i in range(len(kept))] + [f"r{i}" for i in range(len(reduced))]
        return Kernel(
            template="kernels/mean_s8.c.j2",
            params=dict(kept=kept, reduced=reduced, counters=counters, count=n,
                        in_zp=x.quant.zp, out_zp=y.quant.zp, mult=mult,
                        left_shift=max(shift, 0), right_shift=max(-shift, 0)),
            act_inputs=[op.inputs[0]],
            act_outputs=[op.outputs[0]],
            macs=x.size,
        )
