"""RELU, RELU6, RELU_N1_TO_1 and RELU_0_TO_1, int8: a 256-entry table (see _lut.py).

The reference interpreter (activations.cc ReluPrepare / QuantizedReluX, optimized_ops::ReluX,
which is the reference formula) rescales and then clamps:
    multiplier, shift = QuantizeMultiplier(input_scale / output_scale)             float32
    lo = max(-128, output_zp + (int)roundf(act_min / output_scale))          float32 division
    hi = act_max is +inf ? 127 : min(127, output_zp + (int)roundf(act_max / output_scale))
    out = min(hi, max(lo, output_zp + MultiplyByQuantizedMultiplier(x - input_zp, ...)))
with (act_min, act_max) = (0, inf), (0, 6), (-1, 1) and (0, 1). Measured against the
interpreter: this MultiplyByQuantizedMultiplier rounds twice (gemmlowp's left shift,
SaturatingRoundingDoublingHighMul, RoundingDivideByPOT), not once: over 400 random quantisations
x 256 inputs, single rounding missed 142 tables, double rounding none. The output depends on the
input value only, so the compiler evaluates that for all 256 inputs and the C looks each element
up. Any input and output quantisation (per tensor); int16 is refused.
"""

from __future__ import annotations

import math

import numpy as np

from ..ir import Graph, Op
from ..quant import (multiply_by_quantized_multiplier_double_rounding, quantize_multiplier,
                     tflite_round)
from ._lut import check_unary_int8, lut_kernel
from .base import Context, Kernel, Lowering, register

# kind -> (act_min, act_max) of the reference's QuantizedReluX.
RANGES = {"RELU": (0.0, math.inf), "RELU6": (0.0, 6.0), "RELU_N1_TO_1": (-1.0, 1.0),
          "RELU_0_TO_1": (0.0, 1.0)}


def _bound(value: float, out_scale: float, out_zp: int) -> int:
    """output_zp + (int)roundf(value / output_scale), the division in float32."""
    return out_zp + int(tflite_round(float(np.float32(value) / np.float32(out_scale))))


def relu_table(kind: str, in_scale: float, in_zp: int, out_scale: float,
               out_zp: int) -> np.ndarray:
    """Entry k: the reference's output for input k - 128."""
    act_min, act_max = RANGES[kind]
    lo = max(-128, _bound(act_min, out_scale, out_zp))
    hi = 127 if math.isinf(act_max) else min(127, _bound(act_max, out_scale, out_zp))
    m, s = quantize_multiplier(float(np.float32(in_scale) / np.float32(out_scale)))
    table = np.empty(256, np.int8)
    for q in range(-128, 128):
        v = out_zp + multiply_by_quantized_multiplier_double_rounding(q - in_zp, m, s)
        table[q + 128] = min(hi, max(lo, v))
    return table


class _Relu(Lowering):
    def check(self, op: Op, g: Graph) -> list[str]:
        return check_unary_int8(op, g)

    def lower(self, op: Op, g: Graph, ctx: Context) -> Kernel:
        x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        table = relu_table(self.kind, x.quant.s, x.quant.zp, y.quant.s, y.quant.zp)
        return lut_kernel(op, g, table, self.kind.lower())


@register
class Relu(_Relu):
    kind = "RELU"


@register
class Relu6(_Relu):
    kind = "RELU6"


@register
class ReluN1To1(_Relu):
    kind = "RELU_N1_TO_1"


@register
class Relu0To1(_Relu):
    kind = "RELU_0_TO_1"
