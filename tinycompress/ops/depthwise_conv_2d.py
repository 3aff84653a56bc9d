"""DEPTHWISE_CONV_2D, int8, per-channel or per-tensor weights
(reference_integer_ops::DepthwiseConvPerChannel).

Output channel `c * M + m` (M the depth multiplier, derived from the shapes as the interpreter's
ComputeDepthMultiplier does) filters input channel `c` alone with its own KHxKW taps. As for
CONV_2D, interior output positions use a bias with the input offset folded in; border positions
keep the reference form and skip the taps that fall in the padding. The filter, 1HWC in the
model, is stored channel-major ([C*M][KH][KW]) so each channel's taps are contiguous: one row of
KH*KW weights per output channel, the rows the compressed weight formats encode (`--weights`,
_weight_formats.py). A compressed filter runs the portable packed kernel on every core: each
channel's row is decoded once into the scratch (KH*KW bytes) and reused at every output position;
a sparse enough filter's interior gathers the row's nonzero taps from a list instead
(gather_max_density).

The kernels are a variant table (`VARIANTS`), most specific first: compressed filters take the
portable packed kernel on every core (with the core's requantisation helpers); dense filters the
Helium kernel on an MVE core, the DSP kernel on a DSP core (input offset folded modulo 2^32,
padding read as the input zero point, four channels a tap with depth multiplier 1), else the
portable loops.
"""

from __future__ import annotations

import numpy as np

from dataclasses import dataclass
from typing import Any

from ..ir import Graph, Op
from ._dsp import dw_tap_pairs, rounding_powers, wants_w16, wrapped_bias, zp_folded_requant
from ._weight_formats import Encoding, encode, packed_bias
from ._conv_common import (axes, bias_and_requant_consts, bias_of, check_common, fold_bias,
                           requant, well_formed)
from ..planner import Alias
from .base import ConstArray, Context, Kernel, Variant, VariantLowering, register
from .conv_2d import (interior_condition, packed_work, patch_max_offset, positions,
                      requant_template, tap_lists)
from .cost import Work

# Compressed filters: interior positions gather the row's nonzero taps from a list (a switch on
# the row's length entering an unrolled run of multiply-adds, no padding: a row has only kh*kw
# taps, too few for CONV_2D's loop over groups of 8) instead of the dense taps, when the nonzero
# taps are at most gather_max_density(kh*kw) of the filter. Measured on Cortex-M4 (QEMU, portable
# C, instructions of the whole layer, gather / dense; 32 channels on 16x16 and 32x32 SAME, lut
# and sparse): a gathered tap takes 4 instructions (offset, value, input, multiply-add), an
# unrolled dense one 3, and the switch about 8 per position. 3x3: 70% of the taps nonzero 1.03 to
# 1.06, 51 to 56% 0.97 to 1.01, 44% 0.92 to 0.97 (1.00 to 1.03 on a 9x9 output, whose border
# dominates), 20% 0.88 to 0.89; 5x5: 76% 0.96 to 1.04, 67% 0.94 to 0.95, 20% 0.73 to 0.88; 7x7
# (dense taps in a loop, not unrolled): 100% 0.74 to 0.89, 20% 0.68 to 0.75.
DENSE_UNROLL_MAX_TAPS = 25  # the packed kernel's dense interior unrolls up to this many taps


def gather_max_density(taps: int) -> float:
    """The largest fraction of nonzero taps at which the interior gathers: 4 * nonzeros + 10
    instructions against 3 * taps for the unrolled dense taps (3x3: 47%, 5x5: 65%), always when
    the dense taps run in a loop."""
    return 1.0 if taps > DENSE_UNROLL_MAX_TAPS else 0.75 - 2.5 / taps


@dataclass
class DwLayer:
    """What every DEPTHWISE_CONV_2D variant needs, derived once from the op."""

    op: Op
    batches: int
    n_in: int
    n_out: int
    k_h: int
    k_w: int
    ay: Any
    ax: Any
    io: int
    q: dict
    bias: np.ndarray  # int64 raw bias
    filt: np.ndarray  # the model's [1][KH][KW][C*M] filter
    weights: np.ndarray  # [C*M][KH][KW], channel-major
    folded: np.ndarray | None  # bias + input offset * filter sums, None when it overflows
    cond: str | None  # the interior condition with the folded bias (None: no interior)
    enc: Encoding | None  # compressed filter rows, None for dense

    @property
    def taps(self) -> int:
        return self.k_h * self.k_w

    @property
    def rows(self) -> np.ndarray:
        return self.weights.reshape(self.n_out, self.taps)

    def dense_consts(self) -> list[ConstArray]:
        border = self.cond != "1"
        return [ConstArray("weights", "int8_t", self.weights.astype(np.int8),
                           f"[{self.n_out}][{self.k_h}][{self.k_w}] filter, channel-major"),
                *bias_and_requant_consts(self.n_out, self.io,
                                         self.folded if self.cond is not None else None,
                                         self.bias if border else None, self.q)]

    def kernel(self, consts, scratch: int = 0, cond: str | None = None, **params) -> Kernel:
        ay, ax, q = self.ay, self.ax, self.q
        base = dict(
            batches=self.batches, ih=ay.size, iw=ax.size, ic=self.n_in, oh=ay.out, ow=ax.out,
            oc=self.n_out, dm=self.n_out // self.n_in, kh=self.k_h, kw=self.k_w, sh=ay.stride,
            sw=ax.stride, dh=ay.dilation, dw=ax.dilation, pt=ay.pad, pl=ax.pad, io=self.io,
            interior=cond, border=cond != "1", fold_at_decode=False, gather=0,
            dense_unroll_max_taps=DENSE_UNROLL_MAX_TAPS,
            out_zp=q["out_zp"], lo=q["lo"], hi=q["hi"], per_channel=q["per_channel"],
            mult=q["mult"], shift=q["shift"],
            # Every channel shifts right only: the DSP requantisation skips the left shift.
            shifts_nonpositive=all(s <= 0 for _, s in q["mults"]),
        )
        return Kernel(template="", params=dict(base, **params), consts=consts,
                      act_inputs=[self.op.inputs[0]], act_outputs=[self.op.outputs[0]],
                      scratch_bytes=scratch,
                      macs=self.batches * ay.out * ax.out * self.n_out * self.taps)


def in_place(dw: DwLayer, padded_ring: bool = False) -> tuple[Alias, ...]:
    """The portable and DSP (w16, w8) kernels write over their input when the output is shaped
    as the input at stride 1 (depth multiplier 1), through a ring of pad-top + 1 output rows
    in the scratch (templates/kernels/_inplace_rows.c.j2). With `padded_ring` (the DSP kernels
    reading every tap from their ring of padded input rows) output row oy goes straight over
    input row oy: the ring holds input rows up to oy - pad-top + KH - 1 >= oy before row oy is
    computed, and no input row is read from the buffer twice."""
    ay, ax = dw.ay, dw.ax
    if not (ay.stride == ax.stride == 1 and ay.out == ay.size and ax.out == ax.size
            and dw.n_out == dw.n_in):
        return ()
    return (Alias(0, 0, 0 if padded_ring else (ay.pad + 1) * ax.out * dw.n_out),)


def _portable(dw: DwLayer, ctx: Context) -> Kernel:
    k = dw.kernel(dw.dense_consts(), cond=dw.cond, requant=requant_template(ctx))
    k.inplace = in_place(dw)
    return k


def _packed(dw: DwLayer, ctx: Context) -> Kernel:
    """Compressed filters: one bias is stored, the other derived from the decoded row's sum (a
    border position with the folded bias recovers the raw one; with the raw bias the interior's
    is folded per channel)."""
    enc, n_out, cond = dw.enc, dw.n_out, dw.cond
    border = cond != "1"
    # The bias in its narrowest type: folded for the interior, or raw (the kernel folds it per
    # channel as it decodes the row, from the row's sum) when that is smaller.
    bias_c, fold_at_decode = packed_bias(
        dw.bias, dw.folded if cond is not None else None, f"[{n_out}] bias",
        f"[{n_out}] bias + input offset ({dw.io}) * filter sums", "bias", "bias_folded")
    dense = dw.dense_consts()
    consts = [*enc.consts, bias_c, *(c for c in dense if c.name in ("mult", "shift"))]
    gather = (tap_lists(dw.rows, patch_max_offset(dw.ay, dw.ax, dw.n_in, 1), 1,
                        gather_max_density(dw.taps)) if cond is not None else 0)
    # The gather list (uint16 offsets, then int8 values), then the decoded row when some
    # position reads it (a border, or no gather).
    scratch = 3 * gather + (dw.taps if border or not gather else 0)
    k = dw.kernel(consts, scratch, cond=cond, fold_at_decode=fold_at_decode and cond is not None,
                  gather=gather, requant=requant_template(ctx),
                  wf=dict(enc.params, format=enc.format, label=enc.label, rows=n_out,
                          cols=dw.taps))
    k.weight_format = enc.label
    k.dense_weights_bytes = sum(c.nbytes for c in dense)
    k.scratch_ctype = "uint16_t" if gather else "int8_t"  # (the int8 values follow the offsets)
    return k


def _dsp(dw: DwLayer, ctx: Context) -> Kernel:
    """The DSP kernel reads padding taps as the input zero point and folds the input offset into
    the bias modulo 2^32 (the accumulator wraps like the reference's); with depth multiplier 1
    it takes four channels a tap, so the filter stays tap-major."""
    cond = interior_condition(dw.ay, dw.ax)
    dm1 = dw.n_out == dw.n_in
    dense = dw.dense_consts()
    consts = [ConstArray("weights", "int8_t",
                         dw.filt.astype(np.int8) if dm1 else dw.weights.astype(np.int8),
                         f"[{dw.k_h}][{dw.k_w}][{dw.n_out}] filter, tap-major (DSP)" if dm1
                         else f"[{dw.n_out}][{dw.k_h}][{dw.k_w}] filter, channel-major"),
              wrapped_bias(dw.bias, dw.io, dw.rows, dw.n_out),
              *(c for c in dense if c.name in ("mult", "shift"))]
    scratch = (dw.n_in + 3) // 4 * 4 if dm1 and cond != "1" else 0  # the zero-point row
    if "mve" not in ctx.families:
        consts += rounding_powers(dw.q)
    return dw.kernel(consts, scratch, cond=cond)


def even_odd(values: np.ndarray) -> np.ndarray:
    """Per-channel values in the Helium depthwise kernel's order: zero-padded to groups of
    eight channels, each group's even channels then its odd ones (the lanes VMULLB and VMULLT
    fill); a last group of at most four channels (four int32 lanes) stays in natural order."""
    groups = -(-len(values) // 8)
    padded = np.zeros(groups * 8, values.dtype)
    padded[:len(values)] = values
    out = padded.reshape(groups, 4, 2).transpose(0, 2, 1).reshape(groups, 8)
    if 0 < len(values) % 8 <= 4:
        out[-1] = padded[-8:]
    return out.ravel()


def _mve(dw: DwLayer, ctx: Context) -> Kernel:
    """Helium, depth multiplier 1: eight channels a vector in int16 lanes, the filter
    tap-major, bias, multipliers and shifts in even/odd order (even_odd), padding read as the
    input zero point; other depth multipliers take the DSP kernel's loops."""
    if dw.n_out != dw.n_in:
        return _dsp(dw, ctx)
    cond = interior_condition(dw.ay, dw.ax)
    bias = wrapped_bias(dw.bias, dw.io, dw.rows, dw.n_out)
    consts = [ConstArray("weights", "int8_t", dw.filt.astype(np.int8),
                         f"[{dw.k_h}][{dw.k_w}][{dw.n_out}] filter, tap-major"),
              ConstArray("bias_eo", "int32_t", even_odd(bias.values),
                         f"{bias.comment}; even/odd channels by groups of 8")]
    if dw.q["per_channel"]:
        mults = dw.q["mults"]
        consts += [ConstArray("mult_eo", "int32_t", even_odd(np.array([m for m, _ in mults],
                                                                       np.int32)),
                              "per-channel multipliers, even/odd channels by groups of 8"),
                   ConstArray("shift_eo", "int8_t", even_odd(np.array([s for _, s in mults],
                                                                      np.int8)),
                              "per-channel shifts, even/odd channels by groups of 8")]
    return dw.kernel(consts, (dw.n_in + 3) // 4 * 4 if cond != "1" else 0, cond=cond)


def _dsp_w16(dw: DwLayer, ctx: Context, w8: bool = False) -> Kernel:
    """Depth multiplier 1, channels a multiple of four: one stream of words per group of four
    channels (dw_stream), the kernel's one pointer through the layer's constants; the taps read
    from a ring of padded input rows when some position has taps in the padding. With int16
    weights and tc_requant_1rz, weights and bias are doubled (the accumulator is then the 2x that
    SMMLAR takes)."""
    cond = interior_condition(dw.ay, dw.ax)
    # |bias + sum of w (x + input offset)|: |w| <= 128, |x + offset| <= 255
    zq = zp_folded_requant(dw.q, int(np.abs(dw.bias).max(initial=0)) + dw.taps * 128 * 255)
    doubled = bool(zq) and not w8
    consts = [dw_stream(dw, w8, zq if zq and dw.q["per_channel"] else None, doubled)]
    if zq is None:
        consts += [*(c for c in dw.dense_consts() if c.name in ("mult", "shift")),
                   *rounding_powers(dw.q)]
    tensor_zq = dict(kz=zq["kz"][0], e=zq["e"][0]) if zq and not dw.q["per_channel"] else None
    ring = padded_ring(dw) if cond != "1" else None
    scratch = 2 * ring["slots"] * ring["row"] if ring else 0
    k = dw.kernel(consts, scratch, cond=cond, w8=w8, ring=ring, tensor_zq=tensor_zq,
                  stream_zq=bool(zq and dw.q["per_channel"]), doubled=doubled)
    k.inplace = in_place(dw, padded_ring=ring is not None)
    return k


def dw_stream(dw: DwLayer, w8: bool, zq: dict | None, doubled: bool = False) -> ConstArray:
    """Per group of four channels: the four biases (bias + input offset * filter sums, mod 2^32,
    as wrapped_bias), the weights as dw_tap_pairs lays them out (2 KH KW words, or KH KW with
    `w8`), then with per-channel `zq` (zp_folded_requant) one word of the four channels' right
    shifts e as bytes (ASR by a register reads its low byte) and each channel's multiplier and
    kz. `doubled` (int16 weights only): weights and biases times two."""
    n_groups, taps = dw.n_in // 4, dw.taps
    scale = 2 if doubled else 1
    groups = dw.filt.reshape(taps, n_groups, 4).transpose(1, 0, 2).astype(np.int64) * scale
    weights = dw_tap_pairs(groups, w8).reshape(n_groups, -1)
    bias = wrapped_bias(dw.bias, dw.io, dw.rows, dw.n_out).values.reshape(n_groups, 4)
    parts = [bias.astype(np.int64) * scale, weights.astype(np.int64)]
    if zq is not None:
        mk = np.array([zq["mult"], zq["kz"]], np.int64).T.reshape(n_groups, 8)
        e = np.array(zq["e"], np.int64).reshape(n_groups, 4)
        packed = e[:, 0] | e[:, 1] << 8 | e[:, 2] << 16 | e[:, 3] << 24
        parts += [packed[:, None], mk]
    words = np.concatenate(parts, axis=1).reshape(-1)
    per = words.size // n_groups
    return ConstArray("weights", "int32_t", ((words + 2**31) % 2**32 - 2**31).astype(np.int32),
                      f"[{n_groups}][{per}] per group of four channels: {'twice ' * doubled}"
                      f"bias + input offset ({dw.io}) * filter sums (mod 2^32), "
                      f"{'twice ' * doubled}the filter taps paired by channel as "
                      f"{'int8 words' if w8 else 'int16 pairs'}"
                      + (", right shifts as bytes, multiplier and kz per channel" if zq else ""))


def padded_ring(dw: DwLayer) -> dict:
    """The w16 kernel's ring of input rows padded with the input zero point (left, right, and
    whole rows above and below), so that every output position reads its taps at constant
    offsets from one pointer: `slots` rows, the rows one window spans ((KH - 1) * dilation + 1),
    each written twice (slot and slot + `slots`: a window's rows are then contiguous from any
    slot), of `row` bytes (the padded width the positions read), `copied` bytes of each input
    row copied in."""
    ax, c = dw.ax, dw.n_in
    width = (ax.out - 1) * ax.stride + (dw.k_w - 1) * ax.dilation + 1
    return dict(slots=(dw.k_h - 1) * dw.ay.dilation + 1, row=width * c,
                copied=max(0, min(ax.size, width - ax.pad)) * c)


def _dsp_w8(dw: DwLayer, ctx: Context) -> Kernel:
    return _dsp_w16(dw, ctx, w8=True)


def _w16_applies(dw: DwLayer, ctx: Context) -> bool:
    return dw.n_out == dw.n_in and dw.n_in % 4 == 0


def _dense_work(dw: DwLayer, ctx: Context, k: Kernel) -> Work:
    """The DSP and Helium kernels: every position alike (padding read as the zero point)."""
    p = positions(dw.ay, dw.ax, dw.batches, False)[0]
    return Work(macs=p * dw.n_out * dw.taps, outputs=p * dw.n_out)


def _portable_work(dw: DwLayer, ctx: Context, k: Kernel) -> Work:
    p, interior = positions(dw.ay, dw.ax, dw.batches, dw.cond is not None)
    return Work(macs=interior * dw.n_out * dw.taps, outputs=p * dw.n_out,
                border=(p - interior) * dw.n_out * dw.taps)


def _packed_work(dw: DwLayer, ctx: Context, k: Kernel) -> Work:
    gathered = int(np.count_nonzero(dw.rows)) if k.params["gather"] else None
    return packed_work(dw.rows, dw.enc, positions(dw.ay, dw.ax, dw.batches, dw.cond is not None),
                       dw.batches, gathered)


VARIANTS = (
    Variant("packed", "kernels/depthwise_conv_2d_s8_packed.c.j2", _packed,
            when=lambda dw, ctx: dw.enc is not None, cost=_packed_work),
    # (the Helium kernel takes depth multiplier 1, the DSP loops the others)
    Variant("mve", "cores/mve/kernels/depthwise_conv_2d_s8.c.j2", _mve, ("mve",),
            cost=_dense_work),
    Variant("dsp_w16", "cores/dsp/kernels/depthwise_conv_2d_s8_w16.c.j2", _dsp_w16, ("dsp",),
            lambda dw, ctx: _w16_applies(dw, ctx) and wants_w16(
                ctx, "DEPTHWISE_CONV_2D", dw.batches * dw.ay.out * dw.ax.out), _dense_work),
    Variant("dsp_w8", "cores/dsp/kernels/depthwise_conv_2d_s8_w16.c.j2", _dsp_w8, ("dsp",),
            _w16_applies, _dense_work),
    Variant("dsp", "cores/dsp/kernels/depthwise_conv_2d_s8.c.j2", _dsp, ("dsp",),
            cost=_dense_work),
    Variant("portable", "kernels/depthwise_conv_2d_s8.c.j2", _portable, cost=_portable_work),
)


@register
class DepthwiseConv2D(VariantLowering):
    kind = "DEPTHWISE_CONV_2D"
    variants = VARIANTS

    def check(self, op: Op, g: Graph) -> list[str]:
        problems = check_common(op, g, filter_channel_axis=3)
        if not well_formed(op, g):
            return problems
        x, w = g.tensors[op.inputs[0]], g.tensors[op.inputs[1]]
        if w.shape[0] != 1:
            problems.append(f"{op.describe()}: filter has shape {list(w.shape)}, expected "
                            "[1, height, width, channels]")
        if w.shape[3] % x.shape[3]:
            problems.append(f"{op.describe()}: {w.shape[3]} output channels are not a multiple "
                            f"of the {x.shape[3]} input channels")
        return problems

    def prepare(self, op: Op, g: Graph, ctx: Context) -> DwLayer:
        x, w, out = g.tensors[op.inputs[0]], g.tensors[op.inputs[1]], g.tensors[op.outputs[0]]
        _, k_h, k_w, n_out = w.shape
        ay, ax = axes(x.shape, k_h, k_w, op.options, out.shape)
        io = -int(x.quant.zp)
        bias = bias_of(op, g, n_out)
        weights = np.ascontiguousarray(w.data[0].transpose(2, 0, 1))  # [C*M][KH][KW]
        rows = weights.reshape(n_out, k_h * k_w)
        folded = fold_bias(bias, io, rows.astype(np.int64).sum(axis=1), 128 * 128 * k_h * k_w)
        enc = encode(rows, ctx.weights, op.describe()) if ctx.weights != "dense" else None
        return DwLayer(
            op=op, batches=int(x.shape[0]), n_in=x.shape[3], n_out=n_out, k_h=k_h, k_w=k_w,
            ay=ay, ax=ax, io=io, q=requant(op, g, n_out), bias=bias, filt=w.data[0],
            weights=weights, folded=folded,
            cond=interior_condition(ay, ax) if folded is not None else None,
            enc=enc if enc is not None and enc.format != "dense" else None)

