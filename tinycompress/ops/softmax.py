"""SOFTMAX, int8 input, int8 or int16 output, over the last axis.

The reference interpreter (BUILTIN_REF) runs reference_ops::Softmax, gemmlowp fixed point
(activations.cc SoftmaxPrepare, kernel_type kReference):
    multiplier, shift = PreprocessSoftmaxScaling(beta, input_scale, 5)   (capped at 2^30 - 1)
    diff_min = -CalculateInputRadius(5, shift)
    per row: d = x - max; if d >= diff_min:
        e(d) = exp_on_negative_values<5>(MultiplyByQuantizedMultiplier(d, multiplier, shift))
        sum += RoundingDivideByPOT(e(d), 12)                             (Q12.19)
    scale, n = GetReciprocal(sum, 12)
    out = clamp(RoundingDivideByPOT(SRDHM(scale, e(d)), n + 31 - bits) + min, min, max)
          (entries with d < diff_min give min)
e(d) depends on d = max - x in [0, 255] only. An excluded entry (d < diff_min) behaves exactly
like an entry with e(d) = 0, so the C only evaluates e(d) for d < n_exp, where n_exp ends the
non-zero range (exp_table). Two kernels, both bit-exact; the C does the sums, one reciprocal per
row and one multiply per element, all in integers, and differs only in where e(d) comes from:

- table (softmax_s8.c.j2): the compiler evaluates e(d) for d < n_exp and bakes the n_exp int32
  into flash (up to 1 KB: 888 B at input scale 0.1, 444 B at 0.2). One load per use.
- run time (softmax_s8_exp.c.j2): tc_exp_on_negative_q5(tc_mul_by_qm(-d, multiplier, shift)),
  gemmlowp's polynomial on [-1/4, 0) and up to seven barrel multiplies (tc_runtime.h), evaluated
  twice per element (sum, then output) so that it needs no scratch. No table.

Rule (exp_variant): run time when the table would be read fewer times per inference than it has
entries (outer * depth < n_exp) and is larger than the code computing it costs (4 * n_exp >
RUNTIME_CODE_BYTES, the -O2 figure below), the table otherwise. A classifier head (one row of 10
classes, n_exp 100-256 at the usual input scales) computes; long rows, many rows, or a short
table (input scale above ~0.25 with beta 1) read a table.

Measured on one row of 10 classes, beta 1, each variant forced (arm-none-eabi-gcc 12
-mcpu=cortex-m4 -mthumb -c on the generated m.c and m_weights.c, text + data by
arm-none-eabi-size; `tinycompress verify OUT --target qemu --board mps2-an386`):
- flash: the run-time kernel is 308 B more code at -Os (368 B at -O2, the build of `compile`'s
  flash figure and of QEMU): tc_exp_on_negative_q5 220 B (248 B) + 28 B of barrel constants,
  the rest in the kernel function. The table is 4 * n_exp B: 888 B at input scale 0.1 (n_exp 222), 444 B
  at 0.2, 128 B at 0.5. So computing saves flash only when n_exp exceeds about 77 (-Os) or 92
  (-O2), hence the rule's byte condition. A second SOFTMAX in the model shares the one copy of
  the function.
- time (QEMU mps2-an386, exact TCG count, worst of 50 random rows): 774 -> 3,120 instructions
  per inference at input scale 0.1, 694 -> 2,486 at 0.2: about 90-120 per e(d) evaluation,
  20 evaluations per row of 10, noise beside any convolution.
- MLPerf Tiny heads (flash as `compile` measures it, -O2 Cortex-M4): KWS (12 classes, 500 B
  table) 43,120 -> 42,960 B, and under QEMU its SOFTMAX 799 -> 3,285 of 6.05 M instructions;
  ResNet-8 90,020 -> 89,864 B; VWW (1 KB table) 276,836 -> 276,136 B.

The reference aborts (gemmlowp assert in RoundingDivideByPOT) when a row's sum of exponentials
reaches 512 (int8 output); the C then clamps the shift to 31 rather than invoking undefined
behaviour. Output quantisation: the reference requires scale 1/256 and zero point -128 for int8
output; its int16 output is always prob * 65536 - 32768, so we require scale 1/65536 and zero
point -32768 there rather than silently mislabel the result.
"""

from __future__ import annotations

import numpy as np

from ..ir import Graph, Op
from ..quant import (calculate_input_radius, exp_on_negative_values,
                     multiply_by_quantized_multiplier, preprocess_softmax_scaling)
from .base import ConstArray, Context, Kernel, Lowering, need_int8, per_tensor, register

SCALED_DIFF_INTEGER_BITS = 5
ACCUMULATION_INTEGER_BITS = 12
OUTPUTS = {"int8": (8, 1.0 / 256, -128), "int16": (16, 1.0 / 65536, -32768)}


def beta_of(op: Op) -> float:
    return float(np.float32(op.options.get("beta", 1.0)))


def exp_scaling(input_scale: float, beta: float) -> tuple[int, int]:
    """(multiplier, shift) of MultiplyByQuantizedMultiplier taking -d to Q5.26."""
    return preprocess_softmax_scaling(beta, float(np.float32(input_scale)),
                                      SCALED_DIFF_INTEGER_BITS)


def exp_table(input_scale: float, beta: float) -> np.ndarray:
    """e(d) for d = max - x = 0, 1, ..., as Q0.31, up to the last non-zero entry."""
    multiplier, shift = exp_scaling(input_scale, beta)
    radius = calculate_input_radius(SCALED_DIFF_INTEGER_BITS, shift)
    table = []
    for d in range(min(255, radius) + 1):
        rescaled = multiply_by_quantized_multiplier(-d, multiplier, shift)
        table.append(exp_on_negative_values(rescaled, SCALED_DIFF_INTEGER_BITS))
    while len(table) > 1 and table[-1] == 0:
        table.pop()
    return np.array(table, np.int32)


RUNTIME_CODE_BYTES = 368  # extra code of the run-time kernel at -O2 on Cortex-M4 (measured, above)


def exp_variant(outer: int, depth: int, n_exp: int) -> str:
    """"runtime" when the table would be read fewer times per inference (once per element,
    outer * depth) than it has entries and is larger than the code that computes it, "table"
    otherwise (see the module docstring)."""
    return "runtime" if outer * depth < n_exp and 4 * n_exp > RUNTIME_CODE_BYTES else "table"


@register
class Softmax(Lowering):
    kind = "SOFTMAX"

    def check(self, op: Op, g: Graph) -> list[str]:
        if len(op.inputs) != 1 or len(op.outputs) != 1 or not op.inputs[0]:
            return [f"{op.describe()}: expected one input and one output"]
        x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        problems = need_int8(op, g, [x.name]) + per_tensor(op, x)
        if y.dtype not in OUTPUTS or y.quant is None:
            return problems + [f"{op.describe()}: output '{y.name}' is {y.dtype}"
                               f"{'' if y.quant else ' without quantisation'}; expected "
                               "quantised int8 or int16"]
        problems += per_tensor(op, y)
        if problems:
            return problems
        bits, want_scale, want_zp = OUTPUTS[y.dtype]
        if y.quant.zp != want_zp or abs(y.quant.s - want_scale) > 0.001 * want_scale:
            problems.append(f"{op.describe()}: {y.dtype} softmax output must have scale "
                            f"1/{1 << bits} and zero point {want_zp} (the reference kernel "
                            f"computes exactly that), got {y.quant.s} and {y.quant.zp}")
        if x.size != y.size or not x.shape:
            problems.append(f"{op.describe()}: input and output shapes differ or are scalars")
        beta = beta_of(op)
        # QuantizeMultiplierGreaterThanOne aborts the reference unless this exceeds 1.
        if not beta * float(np.float32(x.quant.s)) * (1 << 26) > 1.0:
            problems.append(f"{op.describe()}: beta * input scale = {beta * x.quant.s:.3g} "
                            "must exceed 2^-26 (the reference kernel aborts otherwise)")
        return problems

    def lower(self, op: Op, g: Graph, ctx: Context) -> Kernel:
        x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        bits, _, out_min = OUTPUTS[y.dtype]
        depth = x.shape[-1]
        outer = x.size // depth
        table = exp_table(x.quant.s, beta_of(op))
        params = dict(outer=outer, depth=depth, n_exp=len(table), bits=bits,
                      out_min=out_min, out_max=-out_min - 1, otype=y.ctype)
        if exp_variant(outer, depth, len(table)) == "runtime":
            multiplier, shift = exp_scaling(x.quant.s, beta_of(op))
            template, consts = "kernels/softmax_s8_exp.c.j2", []
            params.update(multiplier=multiplier, shift=shift)
        else:
            template = "kernels/softmax_s8.c.j2"
            consts = [ConstArray("exp", "int32_t", table,
                                 f"[{len(table)}] Q0.31 exp(beta * scale * -d) for d = max - x")]
        return Kernel(
            template=template,
            params=params,
            consts=consts,
            act_inputs=[op.inputs[0]],
            act_outputs=[op.outputs[0]],
        )
