"""CONV_2D, int8, per-channel or per-tensor weights (reference_integer_ops::ConvPerChannel).

Per output position and channel the reference computes
    acc = sum over the taps inside the input of w * (x + input_offset);  acc += bias;
    out = clamp(MultiplyByQuantizedMultiplier(acc, m[c], s[c]) + output_zp, lo, hi)
with taps in padding skipped. For output positions whose taps all lie inside the input (the
interior) the input offset term is a per-channel constant, folded into the bias at compile time;
border positions keep the reference form. A 1x1 stride-1 convolution is a matrix product.

The kernels are a variant table (`VARIANTS`), most specific first: compressed filters take the
portable packed kernel on every core (with the core's requantisation helpers); dense filters the
Helium kernels on an MVE core, the DSP kernels on a DSP core (both fold the input offset into the
bias modulo 2^32 and read padding as the input zero point, so every position takes one path),
else the portable loops; each with its 1x1 stride-1 form.
"""

from __future__ import annotations

import numpy as np

from dataclasses import dataclass
from typing import Any

from ..ir import Graph, Op
from ._dsp import (acc_bytes, layout_w8, layout_w16, matrix_layout, rounding_powers, s4_dsp_fits,
                   s4_scratch, wants_w16,
                   wrapped_bias)
from ._dsp_requant import requant_mr
from ._weight_formats import Encoding, encode, packed_bias
from ._conv_common import (axes, bias_and_requant_consts, bias_of, check_common, fold_bias,
                           requant, well_formed)
from ..planner import Alias
from .base import ConstArray, Context, Kernel, Variant, VariantLowering, register
from .cost import Work


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


@dataclass
class ConvLayer:
    """What every CONV_2D variant needs, derived once from the op."""

    op: Op
    batches: int
    n_out: int
    k_h: int
    k_w: int
    n_in: int
    ay: Any
    ax: Any
    io: int
    q: dict
    bias: np.ndarray  # int64 raw bias
    weights: np.ndarray  # int64 [n_out][k_h][k_w][n_in]
    folded: np.ndarray | None  # bias + input offset * filter sums, None when it overflows
    cond: str | None  # the interior condition with the folded bias (None: no interior)
    pointwise: bool  # 1x1, stride 1, every position interior
    enc: Encoding | None  # compressed filter rows, None for dense

    @property
    def taps(self) -> int:
        return self.k_h * self.k_w * self.n_in

    @property
    def rows(self) -> np.ndarray:
        return self.weights.reshape(self.n_out, -1)

    def dense_consts(self) -> list[ConstArray]:
        """The portable kernels' constants: the OHWI filter, the folded bias for the interior,
        the raw bias for the border, the per-channel multipliers."""
        border = self.cond != "1"
        return [ConstArray("weights", "int8_t", self.weights.astype(np.int8),
                           f"[{self.n_out}][{self.k_h}][{self.k_w}][{self.n_in}] filter, OHWI"),
                *bias_and_requant_consts(self.n_out, self.io,
                                         self.folded if self.cond is not None else None,
                                         self.bias if border else None, self.q)]

    def kernel(self, consts, scratch: int = 0, cond: str | None = None, **params) -> Kernel:
        ay, ax, q = self.ay, self.ax, self.q
        base = dict(
            batches=self.batches, ih=ay.size, iw=ax.size, ic=self.n_in, oh=ay.out, ow=ax.out,
            oc=self.n_out, kh=self.k_h, kw=self.k_w, sh=ay.stride, sw=ax.stride, dh=ay.dilation,
            dw=ax.dilation, pt=ay.pad, pl=ax.pad, io=self.io, interior=cond,
            border=cond != "1", fold_at_decode=False, gather=0, gather_unroll=GATHER_UNROLL,
            out_zp=q["out_zp"], lo=q["lo"], hi=q["hi"], per_channel=q["per_channel"],
            mult=q["mult"], shift=q["shift"],
            # Every channel shifts right only: the DSP requantisation skips the left shift.
            shifts_nonpositive=all(s <= 0 for _, s in q["mults"]),
        )
        return Kernel(template="", params=dict(base, **params), consts=consts,
                      act_inputs=[self.op.inputs[0]], act_outputs=[self.op.outputs[0]],
                      scratch_bytes=scratch,
                      macs=self.batches * ay.out * ax.out * self.n_out * self.taps)


def requant_template(ctx: Context) -> str:
    """The requantisation helpers a portable convolution kernel imports: the DSP core's exact
    cheaper steps where the core has them (templates/cores/dsp/), else the portable ones."""
    return ("cores/dsp/kernels/conv_2d_s8_requant.c.j2" if "dsp" in ctx.families
            else "kernels/conv_2d_s8_requant.c.j2")


def _portable(cv: ConvLayer, ctx: Context) -> Kernel:
    return cv.kernel(cv.dense_consts(), cond=cv.cond, requant=requant_template(ctx))


def _packed(cv: ConvLayer, ctx: Context) -> Kernel:
    """Compressed filters: each output channel's row is decoded once into the scratch and
    reused at every output position (interior with the folded bias, border per tap); a sparse
    filter's interior gathers the row's nonzero taps from a list instead. A border position
    reads padding as the input zero point, so with a folded bias the raw bias is not needed."""
    enc, n_out, cond = cv.enc, cv.n_out, cv.cond
    border = cond != "1"
    # The bias in its narrowest type: folded for the interior, or raw (the kernel folds it per
    # channel as it decodes the row, from the row's sum) when that is smaller.
    bias_c, fold_at_decode = packed_bias(
        cv.bias, cv.folded if cond is not None else None, f"[{n_out}] bias",
        f"[{n_out}] bias + input offset ({cv.io}) * filter sums", "bias", "bias_folded")
    dense = cv.dense_consts()
    consts = [*enc.consts, bias_c, *(c for c in dense if c.name in ("mult", "shift"))]
    gather = gather_taps(cv.rows, cv.ay, cv.ax, cv.n_in, cond is not None)
    # Per row in the scratch: the gather lists (uint16 offsets, then int8 values, the offsets
    # first so that they stay aligned), then the decoded row when some position needs it (a
    # border, or no gather).
    scratch = min(n_out, 2) * (3 * gather + (cv.taps if border or not gather else 0))
    k = cv.kernel(consts, scratch, cond=cond, fold_at_decode=fold_at_decode and cond is not None,
                  gather=gather, requant=requant_template(ctx),
                  wf=dict(enc.params, format=enc.format, label=enc.label, rows=n_out,
                          cols=cv.taps))
    k.weight_format = enc.label
    k.dense_weights_bytes = sum(c.nbytes for c in dense)
    k.scratch_ctype = "uint16_t" if gather else "int8_t"  # (the int8 values follow the offsets)
    return k


# Helium rows up to this depth are summed inline (the input in two vectors): measured on the
# M55 (QEMU), deeper inline rows run slower than tc_mve_matvec_s8 (gcc 12 spills, or merges the
# row pointers into offsets it adds every iteration): KWS 1x1 (64 deep) 0.48 instr/MAC inline with
# the input in four vectors, 0.51 reloading it per four rows, 0.39 out of line; VWW 1x1 (8, 16, 32
# deep) 2.91, 1.30, 0.72 out of line, 1.41, 0.49, 0.43 inline.
MVE_INLINE_DEPTH = 32


def _laid_out(cv: ConvLayer, ctx: Context, scratch: int) -> Kernel:
    """The DSP and Helium kernels gather each output position's taps (padding read as the input
    zero point) and multiply four rows at a time in the core's layout (_dsp.py). The accumulator
    wraps modulo 2^32 like the reference's, so the input offset is always folded (as a wrapped
    int32) and every position takes the same path."""
    laid, note = matrix_layout(cv.rows.astype(np.int8), ctx.families)
    dense = cv.dense_consts()
    consts = [ConstArray("weights", "int8_t", laid, f"[{cv.n_out}][{cv.k_h}][{cv.k_w}]"
                         f"[{cv.n_in}] filter, OHWI, {note}"),
              wrapped_bias(cv.bias, cv.io, cv.rows, cv.n_out),
              *(c for c in dense if c.name in ("mult", "shift"))]
    k = cv.kernel(consts, scratch, cond=interior_condition(cv.ay, cv.ax))
    k.scratch_ctype = "int32_t"  # widened pairs or accumulators, then int8 taps
    return k


def _gathered_taps(cv: ConvLayer) -> int:
    return 0 if cv.pointwise else (cv.taps + 3) // 4 * 4


def _dsp(cv: ConvLayer, ctx: Context) -> Kernel:
    widened = max(8, cv.taps // 4 * 8)  # (1x1: two pixels widened together, twice the words)
    k = _laid_out(cv, ctx, 2 * widened if cv.pointwise else widened + _gathered_taps(cv))
    k.consts += rounding_powers(cv.q)
    return k


def _dsp_w16(cv: ConvLayer, ctx: Context, w8: bool = False) -> Kernel:
    """Two pixels x two output channels a pass over a filter pre-widened to int16 pairs
    (layout_w16: twice the flash of the int8 filter, the inner loop only loads and multiplies),
    or with `w8` kept int8 in the same blocking (layout_w8: one word a row and group of four
    taps, unpacked with SXTB16 in the loop). Scratch: the two pixels' widened patches (16 bytes
    a group of four taps), then, unless the pixels are read straight from the input, their two
    int8 patches (4 bytes a group each)."""
    groups = (cv.taps + 3) // 4
    cond = interior_condition(cv.ay, cv.ax)
    direct = (cond == "1" and cv.k_h == cv.k_w == 1 and cv.ay.stride == cv.ax.stride == 1
              and cv.n_in % 4 == 0)
    rows = cv.rows.astype(np.int8)
    mr = requant_mr(cv.q, cv.rows, cv.bias, cv.io)
    scale = 2 if mr else 1  # the one-SMMLAR requantisation sums twice the accumulator
    laid = layout_w8(rows, 2) if w8 else layout_w16(scale * cv.rows, 2)
    form = "int8 words by 2 rows (DSP w8)" if w8 else "int16 pairs by 2 rows (DSP w16)"
    consts = [ConstArray("weights", "int32_t", laid, f"[{cv.n_out}][{cv.k_h}][{cv.k_w}]"
                         f"[{cv.n_in}] filter, OHWI, {form}" + (", doubled" if mr and not w8
                                                              else "")),
              wrapped_bias(scale * cv.bias, cv.io, scale * cv.rows, cv.n_out)]
    if mr:
        consts[1].comment += ", doubled"
        consts += mr["consts"]
    else:
        consts += [*(c for c in cv.dense_consts() if c.name in ("mult", "shift")),
                   *rounding_powers(cv.q)]
    scratch = 16 * groups + (0 if direct else 8 * groups)
    delay = in_place_delay(cv)
    ring = 0 if not delay else (delay + 3) // 2 * 2  # (even: a pass's two pixels adjoin)
    k = cv.kernel(consts, scratch, cond=cond, pointwise=direct, w8=w8,
                  x2=bool(mr) and w8, mr_zp_folded=bool(mr) and mr["zp_folded"],
                  ring_delay=delay or 0, ring_pixels=ring)
    out_bytes = cv.batches * cv.ay.out * cv.ax.out * cv.n_out
    if delay is not None and 4 * ring * cv.n_out <= out_bytes:
        k.inplace = (Alias(0, 0, ring * cv.n_out),)
    return k


def first_reads(cv: ConvLayer) -> np.ndarray:
    """Per output pixel (batches, rows, columns flattened), the lowest input byte its patch
    reads (a huge number when every tap is in the padding)."""
    ay, ax = cv.ay, cv.ax
    o = np.arange(cv.batches * ay.out * ax.out)
    b, r = np.divmod(o, ay.out * ax.out)
    oy, ox = np.divmod(r, ax.out)
    first = []
    for a, pos in ((ay, oy), (ax, ox)):
        i0 = pos * a.stride - a.pad
        k = np.maximum(0, -(i0 // a.dilation))  # the first tap inside the input
        first.append((i0 + k * a.dilation, (k < a.k)
                      & (i0 + k * a.dilation < a.size)))
    (iy, vy), (ix, vx) = first
    byte = ((b * ay.size + iy) * ax.size + ix) * cv.n_in
    return np.where(vy & vx, byte, np.iinfo(np.int64).max).astype(np.int64)


def in_place_delay(cv: ConvLayer) -> int | None:
    """How many output pixels the DSP kernel (two pixels a pass, both read before either is
    stored) must hold back for its output to be written over its input: after the pass that
    ends at pixel n, the pixels before n - delay are stored, so their bytes, below
    (n - delay) oc, must lie under every byte a later pixel reads (0: stored as computed,
    None: the output grows faster than the reads advance)."""
    first = first_reads(cv)
    n_pix = len(first)
    later = np.minimum.accumulate(first[::-1])[::-1]  # later[n]: the lowest byte pixels >= n read
    ends = np.arange(2, n_pix, 2)
    if not len(ends):
        return 0
    delay = int(np.max(ends - later[ends] // cv.n_out))
    return max(delay, 0) if delay < n_pix else None


def _dsp_w8(cv: ConvLayer, ctx: Context) -> Kernel:
    return _dsp_w16(cv, ctx, w8=True)


def _mve(cv: ConvLayer, ctx: Context) -> Kernel:
    """Helium: rows of at most MVE_INLINE_DEPTH values are summed and requantised inline, the
    accumulators in registers; deeper rows go through tc_mve_matvec_s8, the accumulators in
    scratch before the gathered taps (templates/cores/mve/kernels/_mve_rows.c.j2)."""
    inline = cv.taps <= MVE_INLINE_DEPTH
    k = _laid_out(cv, ctx, (0 if inline else acc_bytes(cv.n_out)) + _gathered_taps(cv))
    k.params["inline_rows"] = inline
    return k


def _dsp_s4(cv: ConvLayer, ctx: Context) -> Kernel:
    """int4 filters on a DSP core: each position's taps gathered as the DSP kernel does, then
    SMLAD on the nibbles masked in place (templates/cores/dsp/kernels/_dot_s4.c.j2)."""
    dense = cv.dense_consts()
    consts = [*cv.enc.consts, wrapped_bias(cv.bias, cv.io, cv.rows, cv.n_out),
              *(c for c in dense if c.name in ("mult", "shift")), *rounding_powers(cv.q)]
    k = cv.kernel(consts, (cv.taps + 3) // 4 * 4 + s4_scratch(cv.taps),
                  cond=interior_condition(cv.ay, cv.ax))
    k.weight_format = cv.enc.label
    k.dense_weights_bytes = sum(c.nbytes for c in dense)
    return k


def _is_packed(cv: ConvLayer, ctx: Context) -> bool:
    return cv.enc is not None


def _is_pointwise(cv: ConvLayer, ctx: Context) -> bool:
    return cv.pointwise


def positions(ay, ax, batches: int, folded: bool) -> tuple[int, int]:
    """(output positions, interior positions with a folded bias) of a convolution."""
    (ya, yb), (xa, xb) = ay.interior(), ax.interior()
    return batches * ay.out * ax.out, batches * (yb - ya) * (xb - xa) if folded else 0


def packed_work(rows: np.ndarray, enc: Encoding, pos: tuple[int, int], batches: int,
                gathered: int | None) -> Work:
    """A packed convolution's work: each row decoded once per batch (every stored entry, or
    every weight for lut); interior positions multiply `gathered` taps of all rows when the
    kernel gathers (None: every tap), border positions every tap of the decoded rows."""
    n, taps = rows.shape
    p, interior = pos
    stored = (enc.params["n_entries"] + 1 if enc.format in ("sparse", "huffman")
              else rows.size)
    return Work(macs=interior * (n * taps if gathered is None else gathered),
                stored=batches * stored, outputs=p * n, border=(p - interior) * n * taps)


def _portable_work(cv: ConvLayer, ctx: Context, k: Kernel) -> Work:
    p, interior = positions(cv.ay, cv.ax, cv.batches, cv.cond is not None)
    return Work(macs=interior * cv.n_out * cv.taps, outputs=p * cv.n_out,
                border=(p - interior) * cv.n_out * cv.taps)


def _dense_work(cv: ConvLayer, ctx: Context, k: Kernel) -> Work:
    """The DSP and Helium kernels (and 1x1): every position alike, its taps gathered once."""
    p = positions(cv.ay, cv.ax, cv.batches, False)[0]
    return Work(macs=p * cv.n_out * cv.taps, outputs=p * cv.n_out, inputs=p * cv.taps)


def _packed_work(cv: ConvLayer, ctx: Context, k: Kernel) -> Work:
    groups = -(-np.count_nonzero(cv.rows, axis=1) // GATHER_UNROLL)
    gathered = int(groups.sum()) * GATHER_UNROLL if k.params["gather"] else None
    return packed_work(cv.rows, cv.enc, positions(cv.ay, cv.ax, cv.batches, cv.cond is not None),
                       cv.batches, gathered)


VARIANTS = (
    Variant("dsp_s4", "cores/dsp/kernels/conv_2d_s4.c.j2", _dsp_s4, ("dsp",),
            lambda cv, ctx: s4_dsp_fits(cv.enc, cv.taps), _dense_work),
    Variant("packed", "kernels/conv_2d_s8_packed.c.j2", _packed, when=_is_packed,
            cost=_packed_work),
    Variant("mve_1x1", "cores/mve/kernels/conv_2d_s8_1x1.c.j2", _mve, ("mve",), _is_pointwise,
            _dense_work),
    Variant("mve", "cores/mve/kernels/conv_2d_s8.c.j2", _mve, ("mve",), cost=_dense_work),
    Variant("dsp_w16", "cores/dsp/kernels/conv_2d_s8_w16.c.j2", _dsp_w16, ("dsp",),
            lambda cv, ctx: wants_w16(ctx, "CONV_2D", cv.batches * cv.ay.out * cv.ax.out),
            _dense_work),
    Variant("dsp_w8", "cores/dsp/kernels/conv_2d_s8_w16.c.j2", _dsp_w8, ("dsp",),
            cost=_dense_work),
    Variant("dsp_1x1", "cores/dsp/kernels/conv_2d_s8_1x1.c.j2", _dsp, ("dsp",), _is_pointwise,
            _dense_work),
    Variant("dsp", "cores/dsp/kernels/conv_2d_s8.c.j2", _dsp, ("dsp",), cost=_dense_work),
    Variant("1x1", "kernels/conv_2d_s8_1x1.c.j2", _portable, when=_is_pointwise,
            cost=_dense_work),
    Variant("portable", "kernels/conv_2d_s8.c.j2", _portable, cost=_portable_work),
)


@register
class Conv2D(VariantLowering):
    kind = "CONV_2D"
    variants = VARIANTS

    def check(self, op: Op, g: Graph) -> list[str]:
        problems = check_common(op, g, filter_channel_axis=0)
        if not well_formed(op, g):
            return problems
        x, w = g.tensors[op.inputs[0]], g.tensors[op.inputs[1]]
        if w.shape[3] != x.shape[3]:
            problems.append(f"{op.describe()}: grouped convolution (input has {x.shape[3]} "
                            f"channels, filter {w.shape[3]}) is not supported")
        return problems

    def prepare(self, op: Op, g: Graph, ctx: Context) -> ConvLayer:
        x, w, out = g.tensors[op.inputs[0]], g.tensors[op.inputs[1]], g.tensors[op.outputs[0]]
        n_out, k_h, k_w, n_in = w.shape
        ay, ax = axes(x.shape, k_h, k_w, op.options, out.shape)
        io = -int(x.quant.zp)
        bias = bias_of(op, g, n_out)
        weights = w.data.astype(np.int64)
        rows = weights.reshape(n_out, -1)
        folded = fold_bias(bias, io, rows.sum(axis=1), 128 * 128 * rows.shape[1])
        cond = interior_condition(ay, ax) if folded is not None else None
        enc = encode(rows, ctx.weights, op.describe()) if ctx.weights != "dense" else None
        return ConvLayer(
            op=op, batches=int(x.shape[0]), n_out=n_out, k_h=k_h, k_w=k_w, n_in=n_in, ay=ay,
            ax=ax, io=io, q=requant(op, g, n_out), bias=bias, weights=weights, folded=folded,
            cond=cond, pointwise=cond == "1" and k_h == k_w == 1 and ay.stride == ax.stride == 1,
            enc=enc if enc is not None and enc.format != "dense" else None)
