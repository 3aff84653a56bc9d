"""RESIZE_BILINEAR (resize_bilinear.cc, reference_ops::ResizeBilinearInteger), int8 and int16,
NHWC, align_corners or half_pixel_centers (the reference refuses both), up- and downscaling.

The reference's integer scheme works in units of 1/1024 of an input pixel. The scale is
s = (1024 * in + out / 2) / out, or (1024 * (in - 1) + (out - 1) / 2) / (out - 1) under
align_corners with out > 1 (integer division). Output row y sits at sy = y * s, or
y * s + s / 2 - 512 under half_pixel_centers; its source rows are y0 = max(sy / 1024, 0) and
y1 = min((sy + 1023) / 1024, in - 1) (C division, truncating) with weight wy = sy - 1024 * y0
for y1 (1024 - wy for y0); columns alike. The output is the weighted sum of the four raw input
values (weights products in units of 2^-20), rounded half away from zero by
(v +- 2^19) / 2^20. Measured against the interpreter: it rounds half away from zero (a tie of 0
and -1 gives -1), not half up. The reference ignores the quantisation (no requantisation, no
comparison); so does this kernel.

The C computes those indices and weights with the constants baked in, no tables, and sums
(p00 (1024 - wx) + p01 wx) (1024 - wy) + (p10 (1024 - wx) + p11 wx) wy, the reference's sum
regrouped (exact in int32 for int8: |v| < 2^29; int64 for int16). A pathological downscale whose
y0 passes the last input row (the reference then reads outside its input) is refused."""

from __future__ import annotations

from ..ir import Graph, Op
from ._movers import const_ints
from ._resize import check_resize, options
from .base import Context, Kernel, Lowering, register

DTYPES = ("int8", "int16")


def scale_10(in_size: int, out_size: int, align: bool) -> int:
    if align and out_size > 1:
        return (1024 * (in_size - 1) + (out_size - 1) // 2) // (out_size - 1)
    return (1024 * in_size + out_size // 2) // out_size


def _tdiv(a: int, b: int) -> int:
    """C integer division (truncating towards zero)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def lower_bounds(in_size: int, out_size: int, align: bool, half: bool) -> list[int]:
    """y0 of every output index (the reference's ComputeInterpolationValuesInteger)."""
    s = scale_10(in_size, out_size, align)
    offset = s // 2 - 512 if half else 0
    return [max(_tdiv(v * s + offset, 1024), 0) for v in range(out_size)]


@register
class ResizeBilinear(Lowering):
    kind = "RESIZE_BILINEAR"

    def check(self, op: Op, g: Graph) -> list[str]:
        problems = check_resize(op, g, DTYPES)
        if problems:
            return problems
        x = g.tensors[op.inputs[0]]
        align, half = options(op)
        if align and half:
            return [f"{op.describe()}: align_corners and half_pixel_centers are both set; the "
                    "reference refuses that (at most one)"]
        for axis, size, new in (("height", x.shape[1], const_ints(op, g, 1)[0]),
                                ("width", x.shape[2], const_ints(op, g, 1)[1])):
            if max(lower_bounds(size, new, align, half)) > size - 1:
                problems.append(f"{op.describe()}: resizing {axis} {size} to {new}, the "
                                "reference's integer scale reads past the last input pixel; "
                                "not supported")
        return problems

    def lower(self, op: Op, g: Graph, ctx: Context) -> Kernel:
        x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        n, h, w, c = x.shape
        oh, ow = const_ints(op, g, 1)
        align, half = options(op)
        hs, ws = scale_10(h, oh, align), scale_10(w, ow, align)
        return Kernel(
            template="kernels/resize_bilinear.c.j2",
            params=dict(n=n, h=h, w=w, depth=c, oh=oh, ow=ow, hs=hs, ws=ws,
                        hoff=hs // 2 - 512 if half else 0, woff=ws // 2 - 512 if half else 0,
                        ctype=y.ctype, acc="int32_t" if y.dtype == "int8" else "int64_t"),
            act_inputs=[x.name],
            act_outputs=[y.name],
            macs=4 * y.size,
        )
