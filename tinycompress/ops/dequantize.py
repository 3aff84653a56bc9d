"""DEQUANTIZE int8 -> float32 and int16 -> float32 (a model's float output).

The reference (reference_ops::Dequantize) computes (float)(double(scale) * (q - zero_point));
the product of a float32 and an integer below 2^9 is exact in double, so this is the float32
product rounded once. The 256 possible results are computed at compile time and stored as their
IEEE-754 bit patterns; the C copies bits (no float arithmetic at run time).

int16 (the reference requires zero point 0): q is exact in float32 and the product of a float32
and an integer below 2^16 exact in double, so the reference's result is the float32 product
scale * (float)q rounded once: the C computes exactly that, one float32 multiply per element
(FLT_EVAL_METHOD 0: SSE, the Cortex-M FPU and soft-float all round a float product once), with
the scale written as a hexadecimal float literal.
"""

from __future__ import annotations

import numpy as np

from ..ir import Graph, Op, Tensor
from .base import (ConstArray, Context, Kernel, Lowering, check_unary, need_int8, per_tensor,
                   register, table_kernel)


def dequantize_table(scale: float, zero_point: int) -> np.ndarray:
    values = (np.float64(np.float32(scale)) * (np.arange(-128, 128) - zero_point))
    return values.astype(np.float32).view(np.uint32)


@register
class Dequantize(Lowering):
    kind = "DEQUANTIZE"

    def check(self, op: Op, g: Graph) -> list[str]:
        def types(x: Tensor, y: Tensor) -> list[str]:
            if x.dtype == "int16":
                if x.quant is None:
                    return [f"{op.describe()}: tensor '{x.name}' has no quantisation parameters"]
                problems = per_tensor(op, x)
                if not problems and x.quant.zp != 0:
                    problems.append(f"{op.describe()}: int16 input '{x.name}' has zero point "
                                    f"{x.quant.zp}; the reference requires 0")
            else:
                problems = need_int8(op, g, [x.name], "int8 or int16") + per_tensor(op, x)
            if y.dtype != "float32":
                problems.append(f"{op.describe()}: output '{y.name}' is {y.dtype}, "
                                "expected float32")
            return problems
        return check_unary(op, g, types, allow_const=False,
                           const_note=" (weight dequantisation)")

    def lower(self, op: Op, g: Graph, ctx: Context) -> Kernel:
        x = g.tensors[op.inputs[0]]
        if x.dtype == "int16":
            return Kernel(template="kernels/dequantize_s16_f32.c.j2",
                          params=dict(size=x.size, scale=float(np.float32(x.quant.s)).hex()),
                          act_inputs=[x.name], act_outputs=[op.outputs[0]])
        return table_kernel(op, g, "kernels/dequantize_s8_f32.c.j2", ConstArray(
            "lut", "uint32_t", dequantize_table(x.quant.s, x.quant.zp),
            "[256] float32 bit patterns of scale * (q - zero_point), indexed by q + 128"))
