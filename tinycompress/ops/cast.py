"""CAST between int8, int16 and int32 (cast.cc, copyCast: a static_cast per element).

The reference converts the raw stored values and reads no quantisation parameters (none are
needed: a cast of quantised values keeps their integers, whatever the two tensors declare).
Widening keeps the value; narrowing keeps it modulo 2^bits (measured against the interpreter:
int32 70000 -> int16 4464, int16 300 -> int8 44). C leaves an out-of-range conversion to a
signed type implementation-defined, so the kernel computes that wrap with unsigned arithmetic.
Float and other types are refused."""

from __future__ import annotations

from ..ir import Graph, Op
from .base import Context, Kernel, Lowering, check_unary, register

DTYPES = ("int8", "int16", "int32")
BITS = {"int8": 8, "int16": 16, "int32": 32}


@register
class Cast(Lowering):
    kind = "CAST"

    def check(self, op: Op, g: Graph) -> list[str]:
        def tensors(x, y):
            return [f"{op.describe()}: tensor '{t.name}' is {t.dtype}; supported: "
                    f"{', '.join(DTYPES)}" for t in (x, y) if t.dtype not in DTYPES]
        return check_unary(op, g, tensors, allow_const=False,
                           const_note=" (the converter folds constant casts)")

    def lower(self, op: Op, g: Graph, ctx: Context) -> Kernel:
        x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        bits = BITS[y.dtype]
        return Kernel(template="kernels/cast.c.j2",
                      params=dict(size=x.size, ctype=y.ctype, src=x.dtype, dst=y.dtype,
                                  narrow=bits < BITS[x.dtype], bits=bits, mod=1 << bits),
                      act_inputs=[x.name], act_outputs=[y.name])
