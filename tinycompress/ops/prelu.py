"""PRELU, int8: out = x >= 0 ? x : alpha * x, alpha a tensor broadcast against the input (a
constant per channel from Keras' PReLU, or any activation).

The reference interpreter (activations.cc PreluPrepare / PreluEval, reference_ops::Prelu and
BroadcastPrelu4DSlow) rescales the offset input by one of two multipliers, chosen by its sign:
    identity = QuantizeMultiplier(input_scale / output_scale)
    alpha    = QuantizeMultiplier(input_scale * alpha_scale / output_scale)
    d = x - input_zp
    out = clamp(output_zp + (d >= 0 ? MBQM(d, identity) : MBQM(d * (a - alpha_zp), alpha)), int8)
Both multipliers are computed in float32 from the tensors' float scales, and this
MultiplyByQuantizedMultiplier rounds twice (gemmlowp's left shift,
SaturatingRoundingDoublingHighMul, RoundingDivideByPOT), as LEAKY_RELU's; tests/test_op_prelu.py
measures both against the interpreter. The C walks the output with the fewest nested loops
(_elementwise.py), the alpha index strides 0 along broadcast dimensions.

Refused: int16 and other types, per-channel quantisation of any tensor (the reference reads one
scale and zero point of each), alpha that does not broadcast to the input shape, and broadcasting
at rank above 4 (the reference's broadcasting loop is 4-D).
"""

from __future__ import annotations

import numpy as np

from ..ir import Graph, Op
from ..quant import quantize_multiplier
from ._elementwise import broadcast_loops, broadcast_shape, index_expr, sources
from .base import Context, Kernel, Lowering, need_int8, per_tensor, register

MAX_BROADCAST_RANK = 4


def prelu_multipliers(in_s: float, alpha_s: float, out_s: float):
    """((identity m, e), (alpha m, e)), in float32 as PreluPrepare computes them."""
    i, a, o = np.float32(in_s), np.float32(alpha_s), np.float32(out_s)
    return quantize_multiplier(float(i / o)), quantize_multiplier(float(i * a / o))


def _shape_problems(op: Op, x_shape: tuple, a_shape: tuple, y_shape: tuple) -> list[str]:
    if broadcast_shape([x_shape, a_shape]) != tuple(x_shape):
        return [f"{op.describe()}: alpha of shape {list(a_shape)} does not broadcast to the "
                f"input shape {list(x_shape)}"]
    if tuple(y_shape) != tuple(x_shape):
        return [f"{op.describe()}: output shape {list(y_shape)} differs from the input shape "
                f"{list(x_shape)}"]
    if tuple(a_shape) != tuple(x_shape) and len(x_shape) > MAX_BROADCAST_RANK:
        return [f"{op.describe()}: broadcasting alpha at rank {len(x_shape)} is not supported "
                f"(the reference broadcasts up to rank {MAX_BROADCAST_RANK})"]
    return []


@register
class Prelu(Lowering):
    kind = "PRELU"

    def check(self, op: Op, g: Graph) -> list[str]:
        if len(op.inputs) != 2 or not all(op.inputs) or len(op.outputs) != 1:
            return [f"{op.describe()}: expected an input, an alpha and one output"]
        names = [op.inputs[0], op.inputs[1], op.outputs[0]]
        problems = need_int8(op, g, names)
        for n in names:
            problems += per_tensor(op, g.tensors[n])
        x, a, y = (g.tensors[n] for n in names)
        return problems + _shape_problems(op, x.shape, a.shape, y.shape)

    def lower(self, op: Op, g: Graph, ctx: Context) -> Kernel:
        x, a, y = (g.tensors[n] for n in (*op.inputs, op.outputs[0]))
        (m1, e1), (m2, e2) = prelu_multipliers(x.quant.s, a.quant.s, y.quant.s)
        loops = broadcast_loops(y.shape, [x.shape, a.shape])
        srcs, consts, act = sources(op, g)
        return Kernel(
            template="kernels/prelu_s8.c.j2",
            params=dict(loops=loops, idx=[index_expr(loops, 0), index_expr(loops, 1)],
                        idx_out=index_expr(loops, None), sources=srcs, in_zp=x.quant.zp,
                        alpha_zp=a.quant.zp, mult=[m1, m2], shift=[e1, e2],
                        out_zp=y.quant.zp, lo=-128, hi=127),
            consts=consts,
            act_inputs=act,
            act_outputs=[op.outputs[0]],
            macs=y.size,
        )
