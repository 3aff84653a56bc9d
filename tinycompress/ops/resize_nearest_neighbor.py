"""RESIZE_NEAREST_NEIGHBOR (resize_nearest_neighbor.cc, reference_ops::ResizeNearestNeighbor),
int8, int16 and int32, NHWC, align_corners and half_pixel_centers, up- and downscaling.

Output row y copies input row GetNearestNeighbor(y), in single-precision float: with scale =
(in - 1) / (out - 1) under align_corners (and out > 1), else in / out, and offset 0.5 under
half_pixel_centers, else 0, the source is round((y + offset) * scale) (half away from zero) under
align_corners, else floor((y + offset) * scale), at most in - 1 (and at least 0). The same for
columns. The reference copies elements and does not compare the quantisation of input and output;
neither does this kernel.

The float arithmetic is evaluated here, at compile time, in float32 exactly as the reference does
it. The C computes each source index with integers when the exact rational form of the formula
(e.g. floor(y * in / out)) gives the same indices for every output position, as it does for the
usual sizes, so no table is stored; otherwise it reads the index from a small constant array (one
entry per output row or column). An output row whose source row is the previous one's is a
memcpy of that output row; a column map that is the identity copies whole rows."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..ir import Graph, Op
from ._movers import const_ints, index_ctype
from ._resize import check_resize, options
from .base import ConstArray, Context, Kernel, Lowering, register

DTYPES = ("int8", "int16", "int32")


def reference_map(in_size: int, out_size: int, align: bool, half: bool) -> list[int]:
    """The reference's GetNearestNeighbor for every output index (float32 arithmetic)."""
    f32 = np.float32
    if align and out_size > 1:
        scale = f32(in_size - 1) / f32(out_size - 1)
    else:
        scale = f32(in_size) / f32(out_size)
    offset = f32(0.5 if half else 0.0)
    result = []
    for v in range(out_size):
        s = float((f32(v) + offset) * scale)  # exact float32 product, >= 0
        k = math.floor(s + 0.5) if align else math.floor(s)
        k = min(k, in_size - 1)
        result.append(max(0, k) if half else k)
    return result


@dataclass(frozen=True)
class AxisMap:
    """Source index of output index v: min((a * v + b) / d, limit) in integers (limit None: no
    clamp needed), or `table`'s entry when no such form matches the reference."""

    a: int = 0
    b: int = 0
    d: int = 1
    limit: int | None = None
    table: str = ""
    identity: bool = False

    def expr(self, var: str, c: dict) -> str:
        if self.identity:
            return var
        if self.table:
            return f"{c[self.table]}[{var}]"
        core = f"({self.a} * {var} + {self.b}) / {self.d}" if self.b else \
            f"{self.a} * {var} / {self.d}"
        return core if self.limit is None else f"tc_min_i32({core}, {self.limit})"


def axis_map(in_size: int, out_size: int, align: bool, half: bool, name: str,
             consts: list[ConstArray]) -> AxisMap:
    ref = reference_map(in_size, out_size, align, half)
    if ref == list(range(out_size)):
        return AxisMap(identity=True)
    if align and out_size > 1:
        a, d = 2 * (in_size - 1), 2 * (out_size - 1)
        b = (in_size - 1 if half else 0) + (out_size - 1)
    elif half:
        a, b, d = 2 * in_size, in_size, 2 * out_size
    else:
        a, b, d = in_size, 0, out_size
    exact = [(a * v + b) // d for v in range(out_size)]
    if [min(e, in_size - 1) for e in exact] == ref and a * (out_size - 1) + b < 2**31:
        limit = in_size - 1 if max(exact) > in_size - 1 else None
        return AxisMap(a, b, d, limit)
    ctype, dtype = index_ctype(in_size)
    consts.append(ConstArray(name, ctype, np.array(ref, dtype), f"source {name}"))
    return AxisMap(table=name)


@register
class ResizeNearestNeighbor(Lowering):
    kind = "RESIZE_NEAREST_NEIGHBOR"

    def check(self, op: Op, g: Graph) -> list[str]:
        return check_resize(op, g, DTYPES)

    def lower(self, op: Op, g: Graph, ctx: Context) -> Kernel:
        x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        n, h, w, c = x.shape
        oh, ow = const_ints(op, g, 1)
        align, half = options(op)
        consts: list[ConstArray] = []
        rows = axis_map(h, oh, align, half, "rows", consts)
        cols = axis_map(w, ow, align, half, "cols", consts)
        return Kernel(
            template="kernels/resize_nearest.c.j2",
            params=dict(rows=rows, cols=cols, n=n, h=h, w=w, depth=c, oh=oh, ow=ow,
                        ctype=y.ctype, esize=y.itemsize),
            consts=consts,
            act_inputs=[x.name],
            act_outputs=[y.name],
        )
