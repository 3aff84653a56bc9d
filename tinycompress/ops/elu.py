"""ELU, int8: a 256-entry table built exactly as the reference interpreter builds it (see _lut.py).

The reference (activations.cc EluPrepare) fills its table with LUTPopulate<int8_t> and the
transform x < 0 ? expm1f(x) : x in float32 (alpha is fixed at 1); we repeat it with the host's
libm expm1f. Any per-tensor input and output quantisation; int16 is refused (the reference has no
int16 ELU).

The reference resolver (BUILTIN_REF) registers no ELU, so tinycompress.reference (and with it
`verify` and the tests) runs each ELU by TFLite's builtin ELU without delegates, whose Prepare is
the same EluPrepare and whose int8 Eval is a lookup in that table (reference_split.py); the
model's other ops stay on the reference kernels.
The TFLite converter (TF 2.21) keeps Keras' ELU in float32 in INT8 models (DEQUANTIZE, ELU,
QUANTIZE), which is refused: int8 ELU comes from other producers.
"""

from __future__ import annotations

import numpy as np

from ..ir import Graph, Op
from ._lut import check_unary_int8, float_table, libm_expm1f, lut_kernel
from .base import Context, Kernel, Lowering, register


def elu_f32(x: np.float32) -> np.float32:
    return libm_expm1f(x) if x < np.float32(0.0) else np.float32(x)


@register
class Elu(Lowering):
    kind = "ELU"

    def check(self, op: Op, g: Graph) -> list[str]:
        return check_unary_int8(op, g)

    def lower(self, op: Op, g: Graph, ctx: Context) -> Kernel:
        x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        table = float_table(elu_f32, x.quant.s, x.quant.zp, y.quant.s, y.quant.zp)
        return lut_kernel(op, g, table, "elu")
