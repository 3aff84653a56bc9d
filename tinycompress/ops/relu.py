"""RELU, RELU6, RELU_N1_TO_1 and RELU_0_TO_1, int8: a 256-entry table (see _lut.py); RELU and
RELU6 also int16.

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
up. Any input and output quantisation (per tensor).

int16 (RELU and RELU6 only, as in the reference): the same arithmetic with int16 bounds, zero
points 0 required, computed per element in C (_int16_requant.py). The reference has no int16
RELU_N1_TO_1 or RELU_0_TO_1; those are refused.
"""

from __future__ import annotations

import math

import numpy as np

from ..ir import Graph, Op
from ..quant import (multiply_by_quantized_multiplier_double_rounding, quantize_multiplier,
                     tflite_round)
from ._int16_requant import check_int16, requant_s16_kernel
from ._lut import check_unary_int8, lut_kernel
from .base import Context, Kernel, Lowering, register

# kind -> (act_min, act_max) of the reference's QuantizedReluX.
RANGES = {"RELU": (0.0, math.inf), "RELU6": (0.0, 6.0), "RELU_N1_TO_1": (-1.0, 1.0),
          "RELU_0_TO_1": (0.0, 1.0)}


def _bound(value: float, out_scale: float, out_zp: int) -> int:
    """output_zp + (int)roundf(value / output_scale), the division in float32."""
    return out_zp + int(tflite_round(float(np.float32(value) / np.float32(out_scale))))


INT16_KINDS = ("RELU", "RELU6")


def relu_bounds(kind: str, out_scale: float, out_zp: int, qmin: int = -128,
                qmax: int = 127) -> tuple[int, int]:
    """QuantizedReluX's (quantized_activation_min, quantized_activation_max)."""
    act_min, act_max = RANGES[kind]
    lo = max(qmin, _bound(act_min, out_scale, out_zp))
    hi = qmax if math.isinf(act_max) else min(qmax, _bound(act_max, out_scale, out_zp))
    return lo, hi


def relu_multiplier(in_scale: float, out_scale: float) -> tuple[int, int]:
    return quantize_multiplier(float(np.float32(in_scale) / np.float32(out_scale)))


def relu_table(kind: str, in_scale: float, in_zp: int, out_scale: float,
               out_zp: int) -> np.ndarray:
    """Entry k: the reference's output for input k - 128."""
    lo, hi = relu_bounds(kind, out_scale, out_zp)
    m, s = relu_multiplier(in_scale, out_scale)
    table = np.empty(256, np.int8)
    for q in range(-128, 128):
        v = out_zp + multiply_by_quantized_multiplier_double_rounding(q - in_zp, m, s)
        table[q + 128] = min(hi, max(lo, v))
    return table


def _int16(op: Op, g: Graph, kind: str) -> bool:
    return (kind in INT16_KINDS and len(op.inputs) == 1 and bool(op.inputs[0])
            and g.tensors[op.inputs[0]].dtype == "int16")


class _Relu(Lowering):
    def check(self, op: Op, g: Graph) -> list[str]:
        return check_int16(op, g) if _int16(op, g, self.kind) else check_unary_int8(op, g)

    def lower(self, op: Op, g: Graph, ctx: Context) -> Kernel:
        x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        if _int16(op, g, self.kind):
            m = relu_multiplier(x.quant.s, y.quant.s)
            return requant_s16_kernel(op, g, m, m, *relu_bounds(self.kind, y.quant.s, 0,
                                                                -(1 << 15), (1 << 15) - 1))
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
