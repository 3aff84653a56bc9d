"""CONV_2D, int8, per-channel or per-tensor weights (reference_integer_ops::ConvPerChannel).

Per output position and channel the reference computes
    acc = sum over the taps inside the input of w * (x + input_offset);  acc += bias;
    out = clamp(MultiplyByQuantizedMultiplier(acc, m[c], s[c]) + output_zp, lo, hi)
with taps in padding skipped. For output positions whose taps all lie inside the input (the
interior) the input offset term is a per-channel constant, folded into the bias at compile time;
border positions keep the reference form. A 1x1 stride-1 convolution is a matrix product.
"""

from __future__ import annotations

import numpy as np

from ..ir import Graph, Op
from ._dsp import acc_bytes, matrix_layout, rounding_powers, uses_dsp_layout, uses_mve
from ._weight_formats import encode, packed_bias
from ._conv_common import (axes, bias_and_requant_consts, bias_of, check_common, fold_bias,
                           requant, well_formed)
from .base import ConstArray, Context, Kernel, Lowering, register


def interior_condition(ay, ax) -> str | None:
    """A C condition on (oy, ox) true exactly for interior outputs; "1" when every output is
    interior, None when none is."""
    (ya, yb), (xa, xb) = ay.interior(), ax.interior()
    if ya == yb or xa == xb:
        return None
    parts = []
    if ya > 0:
        parts.append(f"oy >= {ya}")
    if yb < ay.out:
        parts.append(f"oy < {yb}")
    if xa > 0:
        parts.append(f"ox >= {xa}")
    if xb < ax.out:
        parts.append(f"ox < {xb}")
    return " && ".join(parts) if parts else "1"


# Compressed filters: interior positions gather each filter row's nonzero taps from a list, in
# groups of GATHER_UNROLL (a list padded with zero weights to whole groups), instead of the dense
# loop over the decoded row, when the gathered taps (padding included) are at most
# GATHER_MAX_DENSITY of the filter. Measured on Cortex-M4 (QEMU, portable C, instructions of the
# whole layer, gather / dense loop; 3x3 filters with 5, 8 and 16 input channels and 5x5 with 20,
# lut and sparse): with 70% of the taps nonzero 0.97 to 1.10, 60% 0.85 to 0.91 (1.04 to 1.06 for
# 3x3x5, whose 45-tap rows lose more to the padding), 50% 0.71 to 1.00; 5x5 20->50 on 12x12 at
# 20% 5.94M -> 1.95M (lut). A gathered tap takes about 4.6 instructions (offset, weight, input,
# multiply-add, the loop's share), a dense one about 3.5 (two rows share each input load).
GATHER_MAX_DENSITY = 0.65
GATHER_UNROLL = 8  # measured: groups of 8 run faster than of 4, and 4 than 1
GATHER_MAX_OFFSET = 2**16 - 1  # uint16 offsets


def tap_lists(rows: np.ndarray, max_offset: int, unroll: int, max_density: float) -> int:
    """For a compressed filter's rows (int8 values, one row per output channel): the length of
    the per-row lists of nonzero taps an interior position gathers (the most nonzeros of any row,
    rounded up to whole groups of `unroll`, at least one group), or 0 for the dense loop over the
    decoded row: when the gathered taps (padding included) exceed `max_density` of the filter, or
    the largest offset inside the input patch does not fit uint16. Shared by CONV_2D
    (gather_taps) and DEPTHWISE_CONV_2D."""
    groups = -(-np.count_nonzero(rows, axis=1) // unroll)
    if max_offset > GATHER_MAX_OFFSET or groups.sum() * unroll > max_density * rows.size:
        return 0
    return max(1, int(groups.max())) * unroll


def patch_max_offset(ay, ax, n_in: int, row_channels: int) -> int:
    """The largest offset of a tap inside an interior position's input patch, [kh][kw] taps of
    `row_channels` contiguous channels, in an input of `n_in` channels (the offset of tap
    (ky, kx, ci): ky*dh*iw*n_in + kx*dw*n_in + ci)."""
    return ((ay.k - 1) * ay.dilation * ax.size * n_in + (ax.k - 1) * ax.dilation * n_in
            + row_channels - 1)


def gather_taps(rows: np.ndarray, ay, ax, n_in: int, folded: bool) -> int:
    """For a compressed CONV_2D's filter rows (int8 values, [out][kh*kw*ic]): the length of the
    per-row lists of nonzero taps the interior gathers (tap_lists: groups of GATHER_UNROLL, at
    most GATHER_MAX_DENSITY of the filter, uint16 offsets), or 0 for the dense loop over the
    decoded row, also when there is no interior with a folded bias."""
    if not folded:
        return 0
    return tap_lists(rows, patch_max_offset(ay, ax, n_in, n_in), GATHER_UNROLL,
                     GATHER_MAX_DENSITY)


@register
class Conv2D(Lowering):
    kind = "CONV_2D"

    def check(self, op: Op, g: Graph) -> list[str]:
        problems = check_common(op, g, filter_channel_axis=0)
        if not well_formed(op, g):
            return problems
        x, w = g.tensors[op.inputs[0]], g.tensors[op.inputs[1]]
        if w.shape[3] != x.shape[3]:
            problems.append(f"{op.describe()}: grouped convolution (input has {x.shape[3]} "
                            f"channels, filter {w.shape[3]}) is not supported")
        return problems

    def lower(self, op: Op, g: Graph, ctx: Context) -> Kernel:
        x, w, out = g.tensors[op.inputs[0]], g.tensors[op.inputs[1]], g.tensors[op.outputs[0]]
        n_out, k_h, k_w, n_in = w.shape
        ay, ax = axes(x.shape, k_h, k_w, op.options, out.shape)
        io = -int(x.quant.zp)
        q = requant(op, g, n_out)
        bias = bias_of(op, g, n_out)
        weights = w.data.astype(np.int64)
        taps = k_h * k_w * n_in
        folded = fold_bias(bias, io, weights.reshape(n_out, -1).sum(axis=1), 128 * 128 * taps)
        cond = interior_condition(ay, ax) if folded is not None else None
        border = cond != "1"
        pointwise = (cond == "1" and k_h == k_w == 1 and ay.stride == ax.stride == 1)

        consts = [ConstArray("weights", "int8_t", w.data.astype(np.int8),
                             f"[{n_out}][{k_h}][{k_w}][{n_in}] filter, OHWI")]
        consts += bias_and_requant_consts(n_out, io, folded if cond is not None else None,
                                          bias if border else None, q)
        dense_bytes = None
        fold_at_decode = False
        enc = encode(weights.reshape(n_out, -1), ctx.weights) if ctx.weights != "dense" else None
        scratch = 0
        if enc is not None and enc.format != "dense":
            # Compressed filters: each output channel's row is decoded once into the scratch and
            # reused at every output position (interior with the folded bias, border per tap);
            # a sparse filter's interior gathers the row's nonzero taps from a list instead.
            dense_bytes = sum(c.nbytes for c in consts)
            # A border position reads padding as the input zero point, so with a folded bias
            # the raw bias is not needed.
            pointwise = False
            # The bias in its narrowest type: folded for the interior, or raw (the kernel folds
            # it per channel as it decodes the row, from the row's sum) when that is smaller.
            bias_c, fold_at_decode = packed_bias(
                bias, folded if cond is not None else None, f"[{n_out}] bias",
                f"[{n_out}] bias + input offset ({io}) * filter sums", "bias", "bias_folded")
            fold_at_decode = fold_at_decode and cond is not None
            consts = [*enc.consts, bias_c, *(c for c in consts if c.name in ("mult", "shift"))]
            gather = gather_taps(weights.reshape(n_out, -1), ay, ax, n_in, cond is not None)
            # Per row in the scratch: the gather lists (uint16 offsets, then int8 values, the
            # offsets first so that they stay aligned), then the decoded row when some position
            # needs it (a border, or no gather).
            scratch = min(n_out, 2) * (3 * gather + (taps if border or not gather else 0))
        else:
            enc = None
        if enc is None and uses_dsp_layout(ctx.families):
            # The DSP kernels gather each output position's taps (padding read as the input zero
            # point) and multiply four rows at a time in the interleaved layout of _dsp.py. The
            # accumulator wraps modulo 2^32 like the reference's, so the input offset is always
            # folded (as a wrapped int32) and every position takes the same path.
            wrapped = ((bias + io * weights.reshape(n_out, -1).sum(axis=1)
                        + 2**31) % 2**32 - 2**31)
            cond = interior_condition(ay, ax)
            border = cond != "1"
            laid, note = matrix_layout(w.data.astype(np.int8).reshape(n_out, taps), ctx.families)
            consts = [ConstArray("weights", "int8_t", laid,
                                 f"[{n_out}][{k_h}][{k_w}][{n_in}] filter, OHWI, {note}"),
                      ConstArray("bias_folded", "int32_t", wrapped.astype(np.int32),
                                 f"[{n_out}] bias + input offset ({io}) * filter sums, mod 2^32"),
                      *(c for c in consts if c.name in ("mult", "shift"))]
            widened = max(8, taps // 4 * 8)
            # (1x1: two pixels widened together, twice the words.)
            scratch = 2 * widened if pointwise else widened + (taps + 3) // 4 * 4
            if uses_mve(ctx.families):  # accumulators, then the gathered taps (MVE kernels)
                scratch = acc_bytes(n_out) + (0 if pointwise else (taps + 3) // 4 * 4)
            else:
                consts += rounding_powers(q)
        params = dict(
            batches=x.shape[0], ih=ay.size, iw=ax.size, ic=n_in, oh=ay.out, ow=ax.out, oc=n_out,
            kh=k_h, kw=k_w, sh=ay.stride, sw=ax.stride, dh=ay.dilation, dw=ax.dilation,
            pt=ay.pad, pl=ax.pad, io=io, interior=cond, border=border,
            fold_at_decode=fold_at_decode, gather=gather if enc is not None else 0,
            gather_unroll=GATHER_UNROLL,
            out_zp=q["out_zp"], lo=q["lo"], hi=q["hi"], per_channel=q["per_channel"],
            mult=q["mult"], shift=q["shift"],
            # Every channel shifts right only: the DSP requantisation skips the left shift.
            shifts_nonpositive=all(s <= 0 for _, s in q["mults"]),
        )
        if enc is not None:
            params["wf"] = dict(enc.params, format=enc.format, label=enc.label, rows=n_out,
                                cols=taps)
        return Kernel(
            template=("kernels/conv_2d_s8_packed.c.j2" if enc is not None
                      else "kernels/conv_2d_s8_1x1.c.j2" if pointwise
                      else "kernels/conv_2d_s8.c.j2"),
            params=params,
            consts=consts,
            weight_format=enc.label if enc is not None else "dense",
            dense_weights_bytes=dense_bytes,
            act_inputs=[op.inputs[0]],
            act_outputs=[op.outputs[0]],
            scratch_bytes=scratch,
            macs=int(x.shape[0]) * ay.out * ax.out * n_out * taps,
        )
