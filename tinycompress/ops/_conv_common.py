"""Geometry and quantisation shared by CONV_2D and DEPTHWISE_CONV_2D (int8).

TFLite's reference kernels (reference_integer_ops::ConvPerChannel / DepthwiseConvPerChannel)
place the first tap of output row `o` at input row `o * stride - pad`, where `pad` is the
`ComputePaddingHeightWidth` padding: half the total SAME padding, rounded down (the odd "offset"
row or column, when the total is odd, falls after the image and is only implied by the output
size). Taps outside the image are skipped, not read as zero: with a non-zero input offset the
two differ, so a kernel must know which taps of an output position are real.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..ir import Graph, Op, Tensor
from ..quant import activation_range, quantize_multiplier
from .base import ConstArray, activation_of, check_activation, need_int8

INT32_MAX = 2**31 - 1


def out_size(padding: str, in_size: int, k: int, stride: int, dilation: int) -> int:
    """ComputeOutSize."""
    eff = (k - 1) * dilation + 1
    if padding == "SAME":
        return (in_size + stride - 1) // stride
    return (in_size - eff + stride) // stride


def pad_before(in_size: int, k: int, stride: int, dilation: int, out: int) -> int:
    """ComputePaddingWithOffset: total padding halved, rounded down; never negative."""
    eff = (k - 1) * dilation + 1
    total = max((out - 1) * stride + eff - in_size, 0)
    return total // 2


@dataclass(frozen=True)
class Axis:
    """One spatial dimension of a convolution."""

    size: int  # input size
    k: int  # filter size
    stride: int
    dilation: int
    out: int
    pad: int

    def taps(self, o: int) -> tuple[int, int]:
        """The half-open range of filter taps of output `o` that fall inside the input."""
        start = o * self.stride - self.pad
        lo = 0 if start >= 0 else (-start + self.dilation - 1) // self.dilation
        hi = min(self.k, (self.size - start + self.dilation - 1) // self.dilation)
        return lo, max(lo, hi)

    def interior(self) -> tuple[int, int]:
        """The half-open range [a, b) of outputs all of whose taps are inside the input
        (empty as a == b when there is none). Interior outputs form one contiguous run."""
        full = [o for o in range(self.out) if self.taps(o) == (0, self.k)]
        if not full:
            return 0, 0
        a, b = full[0], full[-1] + 1
        assert full == list(range(a, b))
        return a, b


def axes(x_shape, k_h: int, k_w: int, opts: dict, out_shape) -> tuple[Axis, Axis]:
    sh, sw = int(opts.get("stride_h", 1)), int(opts.get("stride_w", 1))
    dh, dw = int(opts.get("dilation_h_factor", 1)), int(opts.get("dilation_w_factor", 1))
    oh, ow = int(out_shape[1]), int(out_shape[2])
    ay = Axis(int(x_shape[1]), k_h, sh, dh, oh, pad_before(int(x_shape[1]), k_h, sh, dh, oh))
    ax = Axis(int(x_shape[2]), k_w, sw, dw, ow, pad_before(int(x_shape[2]), k_w, sw, dw, ow))
    return ay, ax


def well_formed(op: Op, g: Graph) -> bool:
    """Input, constant filter and output present, int8 and 4-D: op-specific shape checks apply."""
    if len(op.inputs) < 2 or not op.inputs[1] or not op.outputs:
        return False
    ts = [g.tensors[op.inputs[0]], g.tensors[op.inputs[1]], g.tensors[op.outputs[0]]]
    return ts[1].is_const and all(t.dtype == "int8" and t.quant is not None and len(t.shape) == 4
                                  for t in ts)


def check_common(op: Op, g: Graph, filter_channel_axis: int) -> list[str]:
    """Every problem of a CONV_2D / DEPTHWISE_CONV_2D that the shared int8 path cannot run."""
    d = op.describe()
    problems = check_activation(op)
    if len(op.inputs) < 2 or not op.inputs[1] or not g.tensors[op.inputs[1]].is_const:
        return problems + [f"{d}: filter must be a constant tensor"]
    types = need_int8(op, g, [op.inputs[0], op.inputs[1], op.outputs[0]])
    if types:
        return problems + types
    x, w, out = g.tensors[op.inputs[0]], g.tensors[op.inputs[1]], g.tensors[op.outputs[0]]
    ranks = [f"{d}: {what} '{t.name}' has shape {list(t.shape)}, expected 4-D"
             for t, what in ((x, "input"), (w, "filter"), (out, "output")) if len(t.shape) != 4]
    if ranks:
        return problems + ranks
    for t, what in ((x, "input"), (out, "output")):
        if t.quant.per_channel:
            problems.append(f"{d}: {what} '{t.name}' is quantised per channel; per-tensor expected")
    n_ch = w.shape[filter_channel_axis]
    if any(z != 0 for z in w.quant.zero_point):
        problems.append(f"{d}: filter '{w.name}' has zero point(s) "
                        f"{sorted(set(w.quant.zero_point))}; int8 convolutions need 0")
    if w.quant.per_channel and (w.quant.axis != filter_channel_axis
                                or len(w.quant.scale) != n_ch):
        problems.append(f"{d}: filter '{w.name}' has {len(w.quant.scale)} scales along axis "
                        f"{w.quant.axis}; expected {n_ch} along axis {filter_channel_axis}")
    if out.shape[3] != n_ch:
        problems.append(f"{d}: output has {out.shape[3]} channels, filter has {n_ch}")
    if x.shape[0] != out.shape[0]:
        problems.append(f"{d}: input batch {x.shape[0]} != output batch {out.shape[0]}")
    if len(op.inputs) > 2 and op.inputs[2]:
        b = g.tensors[op.inputs[2]]
        if not b.is_const or b.dtype != "int32":
            problems.append(f"{d}: bias must be a constant int32 tensor")
        elif b.size != n_ch:
            problems.append(f"{d}: bias has {b.size} values for {n_ch} output channels")
    padding = op.options.get("padding", "SAME")
    if padding not in ("SAME", "VALID"):
        problems.append(f"{d}: padding {padding} is not supported")
    for key in ("stride_h", "stride_w", "dilation_h_factor", "dilation_w_factor"):
        v = op.options.get(key, 1)
        if not isinstance(v, int) or v < 1:
            problems.append(f"{d}: {key} = {v} is not a positive integer")
    if any("padding" in p or "positive integer" in p for p in problems):
        return problems
    k_h, k_w = (w.shape[1], w.shape[2])
    for dim, name, k, s_key, d_key in ((1, "height", k_h, "stride_h", "dilation_h_factor"),
                                       (2, "width", k_w, "stride_w", "dilation_w_factor")):
        want = out_size(padding, x.shape[dim], k, op.options.get(s_key, 1),
                        op.options.get(d_key, 1))
        if want != out.shape[dim]:
            problems.append(f"{d}: output {name} {out.shape[dim]} != {want} computed from "
                            f"the input, filter, stride, dilation and {padding} padding")
    return problems


def requant(op: Op, g: Graph, n_ch: int) -> dict:
    """PopulateConvolutionQuantizationParams for int8: per output channel, the multiplier of
    double(input_scale) * double(filter_scale) / double(output_scale), and the clamp range."""
    x, w, out = g.tensors[op.inputs[0]], g.tensors[op.inputs[1]], g.tensors[op.outputs[0]]
    return requant_of(x, w, out, activation_of(op), n_ch)


def requant_of(x: Tensor, w: Tensor, out: Tensor, activation: str, n_ch: int) -> dict:
    """requant for explicit input, filter and output tensors (TRANSPOSE_CONV's input is not its
    first operand)."""
    scales = w.quant.scale if w.quant.per_channel else w.quant.scale * n_ch
    mults = [quantize_multiplier(float(x.quant.s) * float(fs) / float(out.quant.s))
             for fs in scales]
    lo, hi = activation_range(activation, out.quant.s, out.quant.zp)
    return dict(mults=mults, per_channel=len(set(mults)) > 1, out_zp=int(out.quant.zp),
                lo=lo, hi=hi, mult=mults[0][0], shift=mults[0][1])


def bias_of(op: Op, g: Graph, n_ch: int) -> np.ndarray:
    if len(op.inputs) > 2 and op.inputs[2]:
        return g.tensors[op.inputs[2]].data.astype(np.int64).reshape(-1)
    return np.zeros(n_ch, np.int64)


def fold_bias(bias: np.ndarray, input_offset: int, tap_sums: np.ndarray,
              max_abs_products: int) -> np.ndarray | None:
    """bias + input_offset * (sum of a channel's weights), when every partial sum an interior
    output can reach stays in int32 (the sum of weight * input adds at most `max_abs_products`
    in magnitude). None when folding could overflow: the kernel then adds the offset per tap."""
    folded = bias + input_offset * tap_sums
    if np.abs(folded).max(initial=0) + max_abs_products > INT32_MAX:
        return None
    return folded


def bias_and_requant_consts(n_out: int, io: int, folded, bias, q: dict) -> list:
    """The per-channel constants of a convolution: the bias with the input offset folded in (for
    interior positions), the raw bias (for border positions), and per-channel multipliers and
    shifts; `None` leaves an array out."""
    consts = []
    if folded is not None:
        consts.append(ConstArray("bias_folded", "int32_t", folded.astype(np.int32),
                                 f"[{n_out}] bias + input offset ({io}) * filter sums"))
    if bias is not None:
        consts.append(ConstArray("bias", "int32_t", bias.astype(np.int32), f"[{n_out}] bias"))
    if q["per_channel"]:
        consts.append(ConstArray("mult", "int32_t", np.array([m for m, _ in q["mults"]], np.int32),
                                 "per-channel multipliers"))
        consts.append(ConstArray("shift", "int8_t", np.array([s for _, s in q["mults"]], np.int8),
                                 "per-channel shifts"))
    return consts
