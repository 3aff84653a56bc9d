"""TRANSPOSE_CONV, int8 (or int16, 16x8) activations and per-channel or per-tensor int8 filters
(transpose_conv.cc -> reference_integer_ops::TransposeConv), Keras' Conv2DTranspose.

Operands: the output shape (a constant int32 [4]), the filter [oc][kh][kw][ic] (OHWI, scales along
axis 0), the input [b][ih][iw][ic] and an optional int32 bias [oc]. The padding is the one a
forward convolution from the output to the input would have (ComputePaddingHeightWidth over the
*output* size, dilation 1): `pt`, `pl` rows and columns, half the SAME total rounded down, 0 for
VALID.

The reference scatters: for every input pixel (iy, ix), channel ci, and tap (ky, kx), it adds
(x + input_offset) * w[oc][ky][kx][ci] to an int32 scratch at output (iy*sh - pt + ky,
ix*sw - pl + kx) when that lies inside the output; then per output it adds the bias, requantises
by channel (double(in_scale) * double(filter_scale[oc]) / double(out_scale), gemmlowp's double
rounding: measured, single rounding differs by one on some outputs), adds the output zero point
and clamps to the fused activation's range (honoured from version 4 of the operator on).

16x8 (int16 activations with zero points 0, int8 filters, int64 bias): the same scatter into
int64 sums, requantised by the int64 MultiplyByQuantizedMultiplier, whose multiplier is rounded
to 16 bits ((m + 2^15) >> 16, at most 0x7FFF) and which rounds once:
(acc * m16 + 2^(r - 1)) >> r with r = 15 - shift; it requires |acc| < 2^47 and shift < 8,
and `check` refuses a layer beyond either. An int32 bias with int16 activations is refused
(measured: the reference does not compute with one what it does with the same int64 bias).

The C gathers instead and needs no scratch: output (oy, ox) sums, over the inputs iy with
ky = oy + pt - iy*sh in [0, kh) (and likewise ix, kx), the dot product of the input pixel with the
filter row of that tap. Those are the same int32 terms added in another order; `check` refuses a
layer whose sum (bias included) could leave int32, so no order overflows and the result equals
the reference's exactly (int64 sums for 16x8).
"""

from __future__ import annotations

import numpy as np

from ..ir import Graph, Op, Tensor
from ..quant import activation_range
from ._conv_common import INT32_MAX, bias_and_requant_consts, pad_before, requant_of
from .base import (ConstArray, Context, Kernel, Lowering, activation_of, check_activation,
                   register)

OUTPUT_SHAPE, FILTER, INPUT, BIAS = range(4)
BIAS_TYPES = {"int8": "int32", "int16": "int64"}


def conv_out_size(padding: str, size: int, k: int, stride: int) -> int:
    """ComputeOutSize in C++ integer arithmetic (VALID truncates towards zero): the input size
    the reference requires of an output of `size`."""
    num = size + stride - (1 if padding == "SAME" else k)
    return num // stride if num >= 0 else -(-num // stride)


def padding_of(op: Op, out_shape, k_h: int, k_w: int) -> tuple[int, int]:
    """(top, left) padding: ComputePaddingHeightWidth over the output size, dilation 1 (the
    padding of the forward convolution from the output to the input)."""
    padding = op.options.get("padding", "SAME")
    pads = []
    for size, k, key in ((int(out_shape[1]), k_h, "stride_h"), (int(out_shape[2]), k_w,
                                                                 "stride_w")):
        stride = int(op.options.get(key, 1))
        pads.append(pad_before(size, k, stride, 1, conv_out_size(padding, size, k, stride)))
    return pads[0], pads[1]


def taps(size_in: int, stride: int, k: int, pad: int, o: int) -> int:
    """How many (input, tap) pairs of one axis reach output `o`."""
    t = o + pad
    return len([i for i in range(size_in) if 0 <= t - i * stride < k])


def _operands(op: Op, g: Graph):
    x, w, y = (g.tensors[op.inputs[INPUT]], g.tensors[op.inputs[FILTER]],
               g.tensors[op.outputs[0]])
    bias = g.tensors[op.inputs[BIAS]] if len(op.inputs) > BIAS and op.inputs[BIAS] else None
    return x, w, y, bias


def _check_operands(op: Op, g: Graph) -> list[str]:
    """The operand count, the output shape operand and the constant filter; everything later
    checks rely on."""
    d = op.describe()
    if len(op.inputs) not in (3, 4) or not all(op.inputs[:3]) or len(op.outputs) != 1:
        return [f"{d}: expected an output shape, a filter, an input, an optional bias and one "
                "output"]
    shape_t, w, y = g.tensors[op.inputs[OUTPUT_SHAPE]], g.tensors[op.inputs[FILTER]], \
        g.tensors[op.outputs[0]]
    if not shape_t.is_const or shape_t.dtype != "int32" or shape_t.size != 4:
        return [f"{d}: output shape operand '{shape_t.name}' must be a constant int32 tensor of "
                "4 values"]
    want = [int(v) for v in shape_t.data.reshape(-1)]
    if want != list(y.shape):
        return [f"{d}: output shape operand {want} does not match the output tensor's shape "
                f"{list(y.shape)}"]
    if not w.is_const:
        return [f"{d}: filter '{w.name}' must be a constant tensor"]
    return []


def _check_dtypes(op: Op, x: Tensor, w: Tensor, y: Tensor) -> list[str]:
    """int8 activations, or int16 ones (16x8) with zero points 0; int8 filters; quantised."""
    d = op.describe()
    if x.dtype not in ("int8", "int16"):
        return [f"{d}: input '{x.name}' is {x.dtype}; int8 or int16 (with int8 filters) expected"]
    problems = []
    if w.dtype != "int8":
        problems.append(f"{d}: filter '{w.name}' is {w.dtype}, expected int8")
    if y.dtype != x.dtype:
        problems.append(f"{d}: output '{y.name}' is {y.dtype}, the input {x.dtype}")
    for t in (x, w, y):
        if t.quant is None:
            problems.append(f"{d}: tensor '{t.name}' has no quantisation parameters")
    if problems or x.dtype == "int8":
        return problems
    for t, what in ((x, "input"), (y, "output")):
        if any(z != 0 for z in t.quant.zero_point):
            problems.append(f"{d}: int16 {what} '{t.name}' has zero point {t.quant.zero_point[0]}; "
                            "16x8 needs 0")
    return problems


def _check_types(op: Op, x: Tensor, w: Tensor, y: Tensor, bias: Tensor | None) -> list[str]:
    d = op.describe()
    problems = []
    for t, what in ((x, "input"), (w, "filter"), (y, "output")):
        if len(t.shape) != 4:
            problems.append(f"{d}: {what} '{t.name}' has shape {list(t.shape)}, expected 4-D")
    for t, what in ((x, "input"), (y, "output")):
        if t.quant.per_channel:
            problems.append(f"{d}: {what} '{t.name}' is quantised per channel; per-tensor expected")
    if problems:
        return problems
    n_out = w.shape[0]
    if any(z != 0 for z in w.quant.zero_point):
        problems.append(f"{d}: filter '{w.name}' has zero point(s) "
                        f"{sorted(set(w.quant.zero_point))}; int8 filters need 0")
    if w.quant.per_channel and (w.quant.axis != 0 or len(w.quant.scale) != n_out):
        problems.append(f"{d}: filter '{w.name}' has {len(w.quant.scale)} scales along axis "
                        f"{w.quant.axis}; expected {n_out} along axis 0")
    if x.shape[3] != w.shape[3]:
        problems.append(f"{d}: input has {x.shape[3]} channels, filter {w.shape[3]}")
    if y.shape[3] != n_out:
        problems.append(f"{d}: output has {y.shape[3]} channels, filter has {n_out}")
    if x.shape[0] != y.shape[0]:
        problems.append(f"{d}: input batch {x.shape[0]} != output batch {y.shape[0]}")
    b_type = BIAS_TYPES[x.dtype]
    if bias is not None and (not bias.is_const or bias.dtype != b_type or bias.size != n_out):
        problems.append(f"{d}: bias '{bias.name}' must be a constant {b_type} tensor of {n_out} "
                        f"values, got {bias.dtype} {list(bias.shape)}")
    return problems


def _check_geometry(op: Op, x: Tensor, w: Tensor, y: Tensor) -> list[str]:
    """The reference's Prepare: the input is what a forward convolution of the output would
    give (for valid options)."""
    padding = op.options.get("padding", "SAME")
    problems = []
    for dim, name, key in ((1, "height", "stride_h"), (2, "width", "stride_w")):
        want = conv_out_size(padding, y.shape[dim], w.shape[dim], op.options.get(key, 1))
        if want != x.shape[dim]:
            problems.append(f"{op.describe()}: input {name} {x.shape[dim]} != {want} computed "
                            f"from the output {name} {y.shape[dim]}, filter, stride and "
                            f"{padding} padding")
    return problems


def _check_options(op: Op) -> list[str]:
    d = op.describe()
    problems = check_activation(op)
    padding = op.options.get("padding", "SAME")
    if padding not in ("SAME", "VALID"):
        problems.append(f"{d}: padding {padding} is not supported (SAME or VALID)")
    for key in ("stride_h", "stride_w"):
        v = op.options.get(key, 1)
        if not isinstance(v, int) or v < 1:
            problems.append(f"{d}: {key} = {v} is not a positive integer")
    return problems


def accumulator_bound(x: Tensor, w: Tensor, bias: Tensor | None, sh: int, sw: int) -> int:
    """The largest magnitude an output's sum (bias included) can take, in any order."""
    k_h, k_w, n_in = w.shape[1], w.shape[2], w.shape[3]
    zp = int(x.quant.zp)
    lo, hi = (-128, 127) if x.dtype == "int8" else (-32768, 32767)
    x_max = max(abs(lo - zp), abs(hi - zp))
    w_max = int(np.abs(w.data.astype(np.int64)).max(initial=0))
    b_max = int(np.abs(bias.data.astype(np.int64)).max(initial=0)) if bias is not None else 0
    n_taps = -(-k_h // sh) * -(-k_w // sw) * n_in
    return b_max + n_taps * x_max * w_max


# int8: int32 sums; int16: int64 sums that MultiplyByQuantizedMultiplier(int64) takes below 2^47.
ACC_LIMITS = {"int8": INT32_MAX, "int16": 2**47 - 1}


def reduced_multipliers(q: dict) -> list[tuple[int, int]]:
    """The int64 MultiplyByQuantizedMultiplier of the 16x8 path: the multiplier rounded to 16
    bits (saturating at 0x7FFF) and the right shift 15 - shift: (x * m16 + 2^(r-1)) >> r."""
    return [((m + (1 << 15)) >> 16 if m < 0x7FFF0000 else 0x7FFF, 15 - e) for m, e in q["mults"]]


def _requant_consts(q: dict, x: Tensor, bias: np.ndarray | None, n_out: int) -> list:
    if x.dtype == "int8":
        return bias_and_requant_consts(n_out, 0, None, bias, q)
    consts = [] if bias is None else [ConstArray("bias", "int64_t", bias.astype(np.int64),
                                                 f"[{n_out}] bias")]
    if q["per_channel"]:
        red = reduced_multipliers(q)
        consts += [ConstArray("mult", "int32_t", np.array([m for m, _ in red], np.int32),
                              "per-channel 16-bit multipliers"),
                   ConstArray("shift", "int8_t", np.array([r for _, r in red], np.int8),
                              "per-channel right shifts")]
    return consts


@register
class TransposeConv(Lowering):
    kind = "TRANSPOSE_CONV"

    def check(self, op: Op, g: Graph) -> list[str]:
        problems = _check_options(op)
        first = _check_operands(op, g)
        if first:
            return problems + first
        x, w, y, bias = _operands(op, g)
        types = _check_dtypes(op, x, w, y)
        if types or problems:  # (the geometry needs valid options)
            return problems + types
        problems = _check_types(op, x, w, y, bias)
        if problems:
            return problems
        problems = _check_geometry(op, x, w, y)
        bound = accumulator_bound(x, w, bias, op.options.get("stride_h", 1),
                                  op.options.get("stride_w", 1))
        acc = "int32" if x.dtype == "int8" else "the 2^47 of the int64 requantisation"
        if bound > ACC_LIMITS[x.dtype]:
            problems.append(f"{op.describe()}: an output's sum can reach {bound}, beyond {acc} "
                            "(too many input channels and taps per output)")
        q = requant_of(x, w, y, "NONE", w.shape[0])
        if x.dtype == "int16" and max(e for _, e in q["mults"]) >= 8:
            problems.append(f"{op.describe()}: the rescale of the 16x8 path needs a left shift "
                            f"of {max(e for _, e in q['mults'])} bits; at most 7 supported")
        return problems

    def lower(self, op: Op, g: Graph, ctx: Context) -> Kernel:
        x, w, y, bias = _operands(op, g)
        n_out, k_h, k_w, n_in = w.shape
        b, ih, iw = x.shape[:3]
        oh, ow = y.shape[1:3]
        sh, sw = int(op.options.get("stride_h", 1)), int(op.options.get("stride_w", 1))
        pt, pl = padding_of(op, y.shape, k_h, k_w)
        q = requant_of(x, w, y, activation_of(op), n_out)
        s16 = x.dtype == "int16"
        if s16:
            q["lo"], q["hi"] = activation_range(activation_of(op), y.quant.s, 0, -32768, 32767)
        consts = [ConstArray("weights", "int8_t", w.data.astype(np.int8),
                             f"[{n_out}][{k_h}][{k_w}][{n_in}] filter, OHWI")]
        raw = bias.data.astype(np.int64).reshape(-1) if bias is not None else None
        consts += _requant_consts(q, x, raw, n_out)
        red, rshift = reduced_multipliers(q)[0]
        macs = (sum(taps(ih, sh, k_h, pt, o) for o in range(oh))
                * sum(taps(iw, sw, k_w, pl, o) for o in range(ow)) * n_in * n_out * b)
        return Kernel(
            template="kernels/transpose_conv_s8.c.j2",
            params=dict(batches=b, ih=ih, iw=iw, ic=n_in, oh=oh, ow=ow, oc=n_out, kh=k_h, kw=k_w,
                        sh=sh, sw=sw, pt=pt, pl=pl, io=-int(x.quant.zp), has_bias=bias is not None,
                        out_zp=q["out_zp"], lo=q["lo"], hi=q["hi"], per_channel=q["per_channel"],
                        mult=q["mult"], shift=q["shift"], s16=s16, red=red, rshift=rshift),
            consts=consts,
            act_inputs=[op.inputs[INPUT]],
            act_outputs=[op.outputs[0]],
            macs=macs,
        )
