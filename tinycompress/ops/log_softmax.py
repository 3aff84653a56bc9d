"""LOG_SOFTMAX, int8, over the last axis.

The reference interpreter (activations.cc LogSoftmaxPrepare, kernel_type kReference, and
reference_integer_ops::LogSoftmax) requires an output scale of exactly 16/256 and zero point 127
(outputs log(p) in [-255/16, 0]) and computes, in gemmlowp fixed point:
    multiplier, shift = PreprocessSoftmaxScaling(1.0, input_scale, 5)       (beta is 1)
    reverse = QuantizeMultiplierSmallerThanOneExp(2^(31 - shift) / multiplier)
    diff_min = -CalculateInputRadius(5, shift)
    per row: d = x - max
        sum = sum over d >= diff_min of Rescale<12>(exp_on_negative_values<5>(MBQM(d, multiplier)))
        log_sum = log_x_for_x_greater_than_or_equal_to_1<5>(sum)                    (Q5.26)
        adjusted = max(diff_min - 1, MBQM(log_sum + INT32_MIN, reverse))
        out = d > adjusted ? clamp(RoundingDivideByPOT(MBQM(d, multiplier) - log_sum, 22) + 127)
                           : -128
MultiplyByQuantizedMultiplier (MBQM) rounds twice in this build (measured on LEAKY_RELU,
PRELU and L2_NORMALIZATION; for the input multiplier, whose shift is positive, the two roundings
agree, and for the reverse scaling of the row's bound no test row has told them apart). The C
(log_softmax_s8.c.j2) does exactly that with the constants baked in: the exponentials by
tc_exp_on_negative_q5 (once per element), the log by tc_log_q12_to_q5 (once per row) and the
reverse scaling (tc_runtime.h). No table: the second pass only rescales d.

The TFLite converter (TF 2.21) turns tf.nn.log_softmax in an INT8 model into this op with
that output quantisation, 16/256 and 127 (tests/test_op_log_softmax.py converts one).

Refused: another output quantisation, int16, input scales too small for the reference
(its multiplier must exceed 1: input scale > 2^-26), and rows of 4096 or more elements (the
Q12.19 sum of exponentials could overflow int32, where the reference's arithmetic is undefined).
"""

from __future__ import annotations

import numpy as np

from ..ir import Graph, Op
from ..quant import (calculate_input_radius, preprocess_softmax_scaling,
                     quantize_multiplier_smaller_than_one_exp)
from .base import Context, Kernel, Lowering, check_unary, need_int8, per_tensor, register

SCALED_DIFF_INTEGER_BITS = 5
OUTPUT_SCALE, OUTPUT_ZP = 16.0 / 256, 127
MAX_DEPTH = 4095  # 4096 exponentials of 1.0 (2^19 each in Q12.19) reach 2^31


def log_softmax_scaling(input_scale: float) -> dict:
    """The constants LogSoftmaxPrepare computes for int8 (beta 1)."""
    multiplier, shift = preprocess_softmax_scaling(1.0, float(np.float32(input_scale)),
                                                   SCALED_DIFF_INTEGER_BITS)
    reverse_multiplier, reverse_shift = quantize_multiplier_smaller_than_one_exp(
        float(1 << (31 - shift)) / float(multiplier))
    return dict(multiplier=multiplier, shift=shift, reverse_multiplier=reverse_multiplier,
                reverse_shift=reverse_shift,
                diff_min=-calculate_input_radius(SCALED_DIFF_INTEGER_BITS, shift))


def _tensor_problems(op: Op, g: Graph, x, y) -> list[str]:
    problems = need_int8(op, g, [x.name, y.name]) + per_tensor(op, x) + per_tensor(op, y)
    if problems:
        return problems
    if np.float32(y.quant.s) != np.float32(OUTPUT_SCALE) or y.quant.zp != OUTPUT_ZP:
        problems.append(f"{op.describe()}: int8 LOG_SOFTMAX output must have scale 16/256 and "
                        f"zero point 127 (as the reference kernel requires), got {y.quant.s} "
                        f"and {y.quant.zp}")
    if not float(np.float32(x.quant.s)) * (1 << 26) > 1.0:
        problems.append(f"{op.describe()}: input scale {x.quant.s} must exceed 2^-26 (the "
                        "reference kernel aborts otherwise)")
    if not x.shape or x.shape[-1] > MAX_DEPTH:
        problems.append(f"{op.describe()}: the last axis of input shape {list(x.shape)} must "
                        f"have 1 to {MAX_DEPTH} elements (the sum of exponentials is int32)")
    return problems


@register
class LogSoftmax(Lowering):
    kind = "LOG_SOFTMAX"

    def check(self, op: Op, g: Graph) -> list[str]:
        return check_unary(op, g, lambda x, y: _tensor_problems(op, g, x, y))

    def lower(self, op: Op, g: Graph, ctx: Context) -> Kernel:
        x = g.tensors[op.inputs[0]]
        depth = x.shape[-1]
        return Kernel(
            template="kernels/log_softmax_s8.c.j2",
            params=dict(outer=x.size // depth, depth=depth, **log_softmax_scaling(x.quant.s)),
            act_inputs=[op.inputs[0]],
            act_outputs=[op.outputs[0]],
        )
