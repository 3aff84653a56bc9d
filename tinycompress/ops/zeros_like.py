"""ZEROS_LIKE (zeros_like.cc), int32: an output of the input's shape, every element 0.

The reference supports int32, int64 and float32 only (measured: int8 and int16 fail the
invocation, "ZerosLike only currently supports int64, int32, and float32"), so int32 is what an
integer model can hold here; the other types are refused. The C is one memset; the input is
only read for its shape, at compile time."""

from __future__ import annotations

from ..ir import Graph, Op
from .base import Context, Kernel, Lowering, check_unary, register


@register
class ZerosLike(Lowering):
    kind = "ZEROS_LIKE"

    def check(self, op: Op, g: Graph) -> list[str]:
        def tensors(x, y):
            return [f"{op.describe()}: tensor '{t.name}' is {t.dtype}; supported: int32 (the "
                    "reference has no int8 or int16 ZEROS_LIKE)" for t in (x, y)
                    if t.dtype != "int32"]
        return check_unary(op, g, tensors, allow_const=False,
                           const_note=" (the converter folds ZEROS_LIKE of a constant)")

    def lower(self, op: Op, g: Graph, ctx: Context) -> Kernel:
        y = g.tensors[op.outputs[0]]
        return Kernel(template="kernels/zeros_like.c.j2", params=dict(nbytes=y.nbytes),
                      act_inputs=[op.inputs[0]], act_outputs=[y.name])
