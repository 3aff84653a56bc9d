"""SUM, int8 (reduce.cc EvalSum -> reference_ops::QuantizedMeanOrSum with compute_sum).

Each output is MultiplyByQuantizedMultiplier(sum - z_in * n, m, e) + z_out, clamped to int8, n
the number of reduced elements and m, e = QuantizeMultiplier(s_in / s_out) in double precision.
Unlike MEAN (ops/mean.py) the multiplier takes no 1/n, and the rescale applies whatever the
quantisations (TFLM's int8 SUM, and the interpreter's, take this path even for equal ones). That
multiply rounds twice (SaturatingRoundingDoublingHighMul after a left shift by max(e, 0), then
RoundingDivideByPOT by max(-e, 0)): measured 1,000 of 1,000 sums, single rounding 949.

The reference interpreter (ai-edge-litert 2.3.0, BUILTIN_REF) reads and writes int8 SUM tensors
as uint8 (QuantizedMeanOrSum given GetTensorData<uint8_t>: LiteRT issue 4079, TensorFlow issue
102490): it sums x + 256 for every negative x and clamps to [0, 255]. tinycompress computes the
int8 arithmetic above, as TFLM does on the device; tinycompress.reference (reference_split.py)
runs every int8 SUM on a twin model the bug computes exactly the int8 arithmetic on (zero points
and data shifted by 128), so `verify` compares with it, and tests/test_op_sum.py also compares
with the interpreter on the model itself where the bug cannot show (non-negative inputs,
outputs in [0, 127]). int16 SUM is refused: the interpreter misreads it too, so
nothing could check it. An empty axis list (a copy in the reference, without rescale) is
refused."""

from __future__ import annotations

from ..ir import Graph, Op
from ..quant import quantize_multiplier
from ._reduce import check_reduction, reduced_count, reduction_loops
from .base import Context, Kernel, Lowering, register


def sum_multiplier(in_scale: float, out_scale: float) -> tuple[int, int]:
    return quantize_multiplier(float(in_scale) / float(out_scale))


@register
class Sum(Lowering):
    kind = "SUM"

    def check(self, op: Op, g: Graph) -> list[str]:
        problems, axes = check_reduction(op, g)
        if axes is None or problems:
            return problems
        x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        n = reduced_count(g, op, axes)
        _, shift = sum_multiplier(x.quant.s, y.quant.s)
        if n * 256 >= 2**31:
            problems.append(f"{op.describe()}: reducing {n} elements overflows the int32 sum")
        elif n * 256 * 2 ** max(shift, 0) >= 2**31:
            problems.append(f"{op.describe()}: the rescale {x.quant.s} / {y.quant.s} of a sum of "
                            f"{n} elements needs a left shift of {shift} bits, which overflows "
                            "int32")
        return problems

    def lower(self, op: Op, g: Graph, ctx: Context) -> Kernel:
        x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        _, axes = check_reduction(op, g)
        n = reduced_count(g, op, axes)
        mult, shift = sum_multiplier(x.quant.s, y.quant.s)
        kept, reduced = reduction_loops(list(x.shape), axes)
        counters = [f"k{i}" for i in range(len(kept))] + [f"r{i}" for i in range(len(reduced))]
        return Kernel(
            template="kernels/sum_s8.c.j2",
            params=dict(kept=kept, reduced=reduced, counters=counters, ctype="int8_t", count=n,
                        in_zp=x.quant.zp, out_zp=y.quant.zp, mult=mult,
                        left_shift=max(shift, 0), right_shift=max(-shift, 0)),
            act_inputs=[op.inputs[0]],
            act_outputs=[op.outputs[0]],
            macs=x.size,
        )
