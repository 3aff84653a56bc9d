"""ABS, int8 and int16 (elementwise.cc AbsEvalQuantized).

Each output is |x - z_in| + z_out when the input and output scales are equal (compared in
float32), otherwise MultiplyByQuantizedMultiplier(|x - z_in|, m, e) + z_out with m, e =
QuantizeMultiplier(s_in / s_out) (the ratio in float32), clamped to the output type. Measured
against the interpreter, that multiply rounds twice (SaturatingRoundingDoublingHighMul after a
left shift by max(e, 0), then RoundingDivideByPOT by max(-e, 0)): 15,360 of 15,360 elements over
60 random quantisations, single rounding 14,708. The reference's int16 path needs both zero
points 0; a rescale whose left shift would overflow int32 is refused."""

from __future__ import annotations

import numpy as np

from ..ir import Graph, Op
from ..quant import quantize_multiplier
from .base import Context, Kernel, Lowering, check_unary, need_quantised, per_tensor, register

DTYPES = ("int8", "int16")
RANGES = {"int8": (-128, 127), "int16": (-32768, 32767)}


def abs_multiplier(s_in: float, s_out: float) -> tuple[int, int] | None:
    """(m, e) of the rescale, None when the float32 scales are equal (no rescale)."""
    if np.float32(s_in) == np.float32(s_out):
        return None
    return quantize_multiplier(float(np.float32(s_in) / np.float32(s_out)))


def quantisation_problems(op: Op, x, y) -> list[str]:
    """The zero points and rescale ABS's int8/int16 kernel takes, given supported dtypes."""
    problems = []
    if x.dtype == "int16" and (x.quant.zp, y.quant.zp) != (0, 0):
        problems.append(f"{op.describe()}: int16 zero points ({x.quant.zp}, {y.quant.zp}) must "
                        "be 0 (as the reference)")
    rescale = abs_multiplier(x.quant.s, y.quant.s)
    largest = -RANGES[x.dtype][0] + RANGES[x.dtype][1]  # |x - z_in| at most
    if rescale is not None and largest * 2 ** max(rescale[1], 0) >= 2**31:
        problems.append(f"{op.describe()}: the rescale {x.quant.s} / {y.quant.s} needs a left "
                        f"shift of {rescale[1]} bits, which overflows int32")
    return problems


@register
class Abs(Lowering):
    kind = "ABS"

    def check(self, op: Op, g: Graph) -> list[str]:
        def tensors(x, y):
            problems = need_quantised(op, g, [x.name, y.name], DTYPES)
            problems += per_tensor(op, x) + per_tensor(op, y)
            return problems or quantisation_problems(op, x, y)
        return check_unary(op, g, tensors, allow_const=False)

    def lower(self, op: Op, g: Graph, ctx: Context) -> Kernel:
        x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        rescale = abs_multiplier(x.quant.s, y.quant.s)
        qmin, qmax = RANGES[y.dtype]
        return Kernel(
            template="kernels/abs.c.j2",
            params=dict(size=x.size, ctype=y.ctype, in_zp=x.quant.zp, out_zp=y.quant.zp,
                        mult=None if rescale is None else rescale[0],
                        shift=0 if rescale is None else rescale[1], qmin=qmin, qmax=qmax),
            act_inputs=[x.name],
            act_outputs=[y.name],
        )
