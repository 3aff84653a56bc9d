"""L2_NORMALIZATION, int8, over the last axis.

The reference interpreter (l2norm.cc Prepare, reference_integer_ops::L2Normalization) requires
an output scale of exactly 1/128 and zero point 0, no fused activation and rank <= 4, and per
row of the last axis computes
    acc = sum of (x - input_zp)^2                                                 (int32)
    multiplier, shift = GetInvSqrtQuantizedMultiplierExp(acc, -1)          (~ 1 / sqrt(acc))
    out = clamp(MultiplyByQuantizedMultiplier(x - input_zp, multiplier, shift + 7), -128, 127)
The inverse square root is gemmlowp fixed point (five Newton-Raphson steps in Q3.28); the C
(l2_normalization_s8.c.j2) calls tc_inv_sqrt (tc_runtime.h) once per row, which reproduces it
operation for operation. MultiplyByQuantizedMultiplier rounds twice in this build, as measured
for LEAKY_RELU and PRELU; the tests measure it here too. The input quantisation is free (the
scale cancels out). The TFLite converter (TF 2.21) turns tf.math.l2_normalize in an INT8 model
into this op with the output quantisation 1/128, 0 (tests/test_op_l2_normalization.py converts
one; Keras' UnitNormalization layer does not become this op).

Refused: another output quantisation, a fused activation, rank above 4, int16, and rows longer
than 33025 elements (the int32 sum of squares could overflow, where the reference's arithmetic
is undefined).
"""

from __future__ import annotations

import numpy as np

from ..ir import Graph, Op
from .base import (Context, Kernel, Lowering, activation_of, check_unary, need_int8, per_tensor,
                   register)

OUTPUT_SCALE, OUTPUT_ZP = 1.0 / 128, 0
MAX_RANK = 4
MAX_DEPTH = ((1 << 31) - 1) // (255 * 255)  # 33025


def _tensor_problems(op: Op, g: Graph, x, y) -> list[str]:
    problems = need_int8(op, g, [x.name, y.name]) + per_tensor(op, x) + per_tensor(op, y)
    if problems:
        return problems
    if np.float32(y.quant.s) != np.float32(OUTPUT_SCALE) or y.quant.zp != OUTPUT_ZP:
        problems.append(f"{op.describe()}: int8 L2_NORMALIZATION output must have scale 1/128 "
                        f"and zero point 0 (as the reference kernel requires), got {y.quant.s} "
                        f"and {y.quant.zp}")
    if not x.shape or len(x.shape) > MAX_RANK:
        problems.append(f"{op.describe()}: input of rank {len(x.shape)}; the reference supports "
                        f"ranks 1 to {MAX_RANK}")
    elif x.shape[-1] > MAX_DEPTH:
        problems.append(f"{op.describe()}: the last axis has {x.shape[-1]} elements; at most "
                        f"{MAX_DEPTH} (the int32 sum of squares)")
    return problems


@register
class L2Normalization(Lowering):
    kind = "L2_NORMALIZATION"

    def check(self, op: Op, g: Graph) -> list[str]:
        problems = check_unary(op, g, lambda x, y: _tensor_problems(op, g, x, y))
        if activation_of(op) != "NONE":
            problems.append(f"{op.describe()}: fused activation {activation_of(op)} is not "
                            "supported (nor by the reference kernel)")
        return problems

    def lower(self, op: Op, g: Graph, ctx: Context) -> Kernel:
        x = g.tensors[op.inputs[0]]
        depth = x.shape[-1]
        return Kernel(
            template="kernels/l2_normalization_s8.c.j2",
            params=dict(outer=x.size // depth, depth=depth, in_zp=x.quant.zp),
            act_inputs=[op.inputs[0]],
            act_outputs=[op.outputs[0]],
            macs=x.size,
        )
