"""FULLY_CONNECTED, int8 (reference_integer_ops::FullyConnected / FullyConnectedPerChannel).

    acc = bias[n] + sum_k (w[n][k] - filter_zp) * (x[k] + input_offset)
    y[n] = clamp(MultiplyByQuantizedMultiplier(acc, m[n], s[n]) + output_zp, lo, hi)

The input offset is folded into the bias at compile time (bias + input_offset * row sums), so
every kernel multiplies raw int8 inputs. The kernels are a variant table (`VARIANTS`), most
specific first: csr weights take the Helium row kernel on an MVE core (mve_csr: the inputs
gathered at 8 or 16 columns a load, one tail-predicated loop a row), csr and hcsr weights
their portable row kernels elsewhere (fully_connected_s8_csr.c.j2, fully_connected_s8_hcsr.c.j2,
hcsr on any core); other
compressed weights (`--weights`, _weight_formats.py) take the portable packed kernel on every core; int8 weights take the Helium kernel on an MVE core, the DSP kernel (four
interleaved rows a pass with SMLAD, _dsp.py) on a DSP core, else the portable loops, which also
take int16 weights (a nonzero filter zero point, folded into the weights).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..ir import Graph, Op
from ..quant import activation_range, quantize_multiplier
from ._dsp import (acc_bytes, layout_w16, matrix_layout, s4_dsp_fits, s4_scratch,
                   wants_w16)
from ._dsp_bytepairs import bias_pairs, layout_w8p
from ._dsp_requant import single_rounding_mm
from ._weight_formats import Encoding, encode, narrowest_int, packed_bias
from .base import (ConstArray, Context, Kernel, Variant, VariantLowering, activation_of,
                   check_activation, need_int8, register)
from .cost import Work


@dataclass
class FcLayer:
    """What every FULLY_CONNECTED variant needs, derived once from the op."""

    op: Op
    batches: int
    depth: int
    n_out: int
    in_zp: int
    out_zp: int
    lo: int
    hi: int
    mults: list[tuple[int, int]]
    weights: np.ndarray  # int64 [n_out][depth], the filter zero point folded in
    raw_bias: np.ndarray  # int64 [n_out]
    folded: np.ndarray  # int64 [n_out], bias + input offset * row sums
    wide: bool  # a nonzero filter zero point: the weights need int16
    enc: Encoding | None  # compressed weights, None for dense

    @property
    def per_channel(self) -> bool:
        return len(set(self.mults)) > 1

    def requant_consts(self) -> list[ConstArray]:
        if not self.per_channel:
            return []
        return [ConstArray("mult", "int32_t", np.array([m for m, _ in self.mults], np.int32),
                           "per-channel multipliers"),
                ConstArray("shift", "int8_t", np.array([s for _, s in self.mults], np.int8),
                           "per-channel shifts")]

    def kernel(self, consts: list[ConstArray], scratch: int = 0, **params) -> Kernel:
        base = dict(batches=self.batches, depth=self.depth, n_out=self.n_out,
                    out_zp=self.out_zp, lo=self.lo, hi=self.hi, per_channel=self.per_channel,
                    mult=self.mults[0][0], shift=self.mults[0][1], wtype="int8_t",
                    bias_raw=False, io=-self.in_zp, wf=None)
        return Kernel(template="", params=dict(base, **params),
                      consts=consts + self.requant_consts(),
                      act_inputs=[self.op.inputs[0]], act_outputs=[self.op.outputs[0]],
                      scratch_bytes=scratch, macs=self.batches * self.n_out * self.depth)

    def folded_bias(self) -> ConstArray:
        return ConstArray("bias", "int32_t", self.folded.astype(np.int32),
                          f"[{self.n_out}] bias + input offset * row sums")


def _portable(fc: FcLayer, ctx: Context) -> Kernel:
    wtype = "int16_t" if fc.wide else "int8_t"
    w = ConstArray("weights", wtype, fc.weights.astype(np.int16 if fc.wide else np.int8),
                   f"[{fc.n_out}][{fc.depth}] weights{' + filter offset' if fc.wide else ''}")
    return fc.kernel([w, fc.folded_bias()], wtype=wtype)


def _laid_out(fc: FcLayer, ctx: Context, scratch: int) -> Kernel:
    """The DSP and Helium kernels: int8 weights in the core's matrix layout (_dsp.py)."""
    laid, note = matrix_layout(fc.weights.astype(np.int8), ctx.families)
    w = ConstArray("weights", "int8_t", laid, f"[{fc.n_out}][{fc.depth}] weights, {note}")
    k = fc.kernel([w, fc.folded_bias()], scratch)
    k.scratch_ctype = "int32_t"  # the widened input or the accumulators
    return k


def _dsp(fc: FcLayer, ctx: Context) -> Kernel:
    # The input row widened to int16 pairs once (two words per four values).
    return _laid_out(fc, ctx, max(8, fc.depth // 4 * 8))


def _dsp_w16(fc: FcLayer, ctx: Context, w8: bool = False) -> Kernel:
    """Four rows a pass over weights pre-widened to int16 pairs (layout_w16: twice the flash of
    int8), or with `w8` kept int8 as byte pairs of two rows (layout_w8p, _dsp_bytepairs.py).
    Scratch: the widened input row (8 bytes a group of four), then, when the depth is not a
    multiple of four, the row copied with zeros to whole groups."""
    groups = (fc.depth + 3) // 4
    rows = fc.weights.astype(np.int8)
    laid = layout_w8p(rows) if w8 else layout_w16(rows, 4)
    form = "int8 byte pairs by 4 rows (DSP w8)" if w8 else "int16 pairs by 4 rows (DSP w16)"
    w = ConstArray("weights", "int32_t", laid, f"[{fc.n_out}][{fc.depth}] weights, {form}")
    bias = (ConstArray("bias", "int32_t", bias_pairs(fc.folded), f"[{fc.n_out}] bias + input "
                       "offset * row sums, padded to 4 rows; at even rows + 256 the next one's")
            if w8 else fc.folded_bias())
    mm = None if fc.per_channel else single_rounding_mm(*fc.mults[0], fc.out_zp)
    return fc.kernel([w, bias], 8 * groups + (4 * groups if fc.depth % 4 else 0), w8=w8, mm=mm)


def _dsp_w8(fc: FcLayer, ctx: Context) -> Kernel:
    return _dsp_w16(fc, ctx, w8=True)


def _mve(fc: FcLayer, ctx: Context) -> Kernel:
    return _laid_out(fc, ctx, acc_bytes(fc.n_out))  # the int32 accumulators of one batch row


def _packed(fc: FcLayer, ctx: Context) -> Kernel:
    """Compressed weights, decoded row by row as the kernel multiplies them. The bias is the
    narrowest that fits: the raw one when folding the input offset in widens it (the kernel
    then adds the offset to each input it multiplies)."""
    enc, n_out = fc.enc, fc.n_out
    bias_c, bias_raw = packed_bias(
        fc.raw_bias, fc.folded,
        f"[{n_out}] bias (the kernel adds the input offset {-fc.in_zp} to x)",
        f"[{n_out}] bias + input offset * row sums")
    k = fc.kernel([*enc.consts, bias_c], bias_raw=bias_raw,
                  wf=dict(enc.params, format=enc.format, label=enc.label, rows=n_out,
                          cols=fc.depth))
    k.weight_format = enc.label
    # Dense, it would hold int8 weights and the int32 folded bias.
    k.dense_weights_bytes = (sum(c.nbytes for c in k.consts) - enc.nbytes - bias_c.nbytes
                             + n_out * fc.depth + 4 * n_out)
    return k


def _dense_work(fc: FcLayer, ctx: Context, k: Kernel) -> Work:
    b = fc.batches
    return Work(macs=b * fc.n_out * fc.depth, outputs=b * fc.n_out, inputs=b * fc.depth)


def _packed_work(fc: FcLayer, ctx: Context, k: Kernel) -> Work:
    """lut multiplies every weight (zeros too); sparse and huffman the nonzeros, decoding every
    stored entry (fillers and the terminator included)."""
    if fc.enc.format not in ("sparse", "huffman"):  # lut, int4: every weight
        return _dense_work(fc, ctx, k)
    b = fc.batches
    return Work(macs=b * int(np.count_nonzero(fc.weights)),
                stored=b * (fc.enc.params["n_entries"] + 1), outputs=b * fc.n_out,
                inputs=b * fc.depth)


def _dsp_s4(fc: FcLayer, ctx: Context) -> Kernel:
    """int4 weights on a DSP core: SMLAD on nibbles masked in place (_dot_s4.c.j2)."""
    k = fc.kernel([*fc.enc.consts, fc.folded_bias()], s4_scratch(fc.depth))
    k.weight_format = fc.enc.label
    k.dense_weights_bytes = fc.n_out * fc.depth + 4 * fc.n_out + sum(
        c.nbytes for c in fc.requant_consts())
    return k


CSR_UNROLL = 8  # csr weights a pass (LeNet-300-100 8%/64 on M4F: 4 -> 158k, 8 -> 118k, 16 -> 115k)


def _csr(fc: FcLayer, ctx: Context) -> Kernel:
    """csr weights (_weight_formats.csr): rows walked whole, the input offset folded into the
    int32 bias."""
    enc = fc.enc
    k = fc.kernel([*enc.consts, fc.folded_bias()], U=CSR_UNROLL, col_type=enc.consts[1].ctype,
                  wf=dict(enc.params, format=enc.format, label=enc.label))
    k.weight_format = enc.label
    k.dense_weights_bytes = (sum(c.nbytes for c in k.consts) - enc.nbytes
                             + fc.n_out * fc.depth)
    return k


def _mve_csr(fc: FcLayer, ctx: Context) -> Kernel:
    """csr weights on a Helium core (cores/mve/kernels/fully_connected_s8_csr_mve.c.j2): the
    same arrays, bytes and folded bias as `_csr`; a row's columns 16 a load (uint8) or 8
    (uint16), the inputs gathered at them, one VMLADAVA a load; the int32 accumulators of one
    batch row in scratch, requantised four at a time (`sr_vec`: VQDMULH and VRSHL are TFLite's
    single rounding when every shift is <= -1, VQRDMULH when the one shift is 0; else one at a
    time, tc_mul_by_qm)."""
    k = _csr(fc, ctx)
    k.params["lanes"] = _csr_lanes(fc)
    k.params["sr_vec"] = mve_single_rounding(fc.mults, fc.per_channel)
    k.scratch_bytes = acc_bytes(fc.n_out)
    k.scratch_ctype = "int32_t"
    return k


def mve_single_rounding(mults: list[tuple[int, int]], per_channel: bool) -> bool:
    """Whether tc_mve_requant_sr_pc_s8 / _pt_s8 requantise these multipliers exactly: every
    shift <= -1 (VQDMULH, VRSHL), or one per-tensor shift 0 (VQRDMULH)."""
    shifts = {s for _, s in mults}
    return max(shifts) <= -1 or (shifts == {0} and not per_channel)


def _is_csr(fc: FcLayer, ctx: Context) -> bool:
    return fc.enc is not None and fc.enc.format == "csr"


def _csr_lanes(fc: FcLayer) -> int:
    """The MVE csr kernel's lanes: 16 with uint8 columns, 8 with uint16."""
    return 16 if fc.enc.consts[1].ctype == "uint8_t" else 8


def _mve_csr_work(fc: FcLayer, ctx: Context, k: Kernel) -> Work:
    """The MVE csr kernel: per vector of columns (`stored`: full loads, the row's tail one more)
    a column load, a gather, a value load and a VMLADAVA; per output its count, bias, tail test
    and requant."""
    lanes = _csr_lanes(fc)
    counts = np.count_nonzero(fc.weights, axis=1)
    b = fc.batches
    return Work(stored=b * int(((counts + lanes - 1) // lanes).sum()), outputs=b * fc.n_out)


def _csr_work(fc: FcLayer, ctx: Context, k: Kernel) -> Work:
    """csr (fully_connected_s8_csr.c.j2): per nonzero weight a column load, an input load, a
    value load and a multiply-add (CSR_UNROLL a pass); per output its row count and requant."""
    b = fc.batches
    return Work(macs=b * int(np.count_nonzero(fc.weights)), outputs=b * fc.n_out)


# hcsr pairs of entries a pass (benchmarks/sparse_fc.py measures the kernel)
HCSR_UNROLL = 8


def _hcsr(fc: FcLayer, ctx: Context) -> Kernel:
    """hcsr weights (_hcsr.py): rows walked whole, two entries a 32-bit load, each decoded by
    two lookups. The bias is the folded one in the narrowest type that holds it: the raw one
    costs an add per entry (or an int16 copy of the input, whose scratch address gcc re-adds at
    every load). hcsr+raw takes the narrowest, the raw one adding the input offset to each input
    multiplied (the README's weights_auto table has both)."""
    enc, n_out = fc.enc, fc.n_out
    folded = f"[{n_out}] bias + input offset * row sums"
    if enc.params["raw_bias"]:  # hcsr+raw: the narrowest bias
        bias_c, bias_raw = packed_bias(
            fc.raw_bias, fc.folded,
            f"[{n_out}] bias (the kernel adds the input offset {-fc.in_zp} to x)", folded)
    else:
        ctype, vals = narrowest_int(fc.folded)
        bias_c, bias_raw = ConstArray("bias", ctype, vals, folded), False
    k = fc.kernel([*enc.consts, bias_c], U=HCSR_UNROLL, bias_raw=bias_raw,
                  wf=dict(enc.params, format=enc.format, label=enc.label))
    k.weight_format = enc.label
    k.dense_weights_bytes = (sum(c.nbytes for c in k.consts) - enc.nbytes - bias_c.nbytes
                             + n_out * fc.depth + 4 * n_out)
    return k


def _hcsr_work(fc: FcLayer, ctx: Context, k: Kernel) -> Work:
    """hcsr (fully_connected_s8_hcsr.c.j2): per stored entry (fillers too) two lookups and a
    multiply-add, a load a pair; per output its count, its odd last entry and requant; with the
    raw bias (`macs`) the input offset added to each input multiplied."""
    b, n = fc.batches, fc.enc.params["n_entries"]
    return Work(macs=b * n if k.params["bias_raw"] else 0, stored=b * n, outputs=b * fc.n_out)


VARIANTS = (
    Variant("dsp_s4", "cores/dsp/kernels/fully_connected_s4.c.j2", _dsp_s4, needs=("dsp",),
            when=lambda fc, ctx: s4_dsp_fits(fc.enc, fc.depth), cost=_dense_work),
    Variant("mve_csr", "cores/mve/kernels/fully_connected_s8_csr_mve.c.j2", _mve_csr,
            needs=("mve",), when=_is_csr, cost=_mve_csr_work),
    Variant("csr", "kernels/fully_connected_s8_csr.c.j2", _csr, when=_is_csr, cost=_csr_work),
    Variant("hcsr", "kernels/fully_connected_s8_hcsr.c.j2", _hcsr,
            when=lambda fc, ctx: fc.enc is not None and fc.enc.format == "hcsr", cost=_hcsr_work),
    Variant("packed", "kernels/fully_connected_s8_packed.c.j2", _packed,
            when=lambda fc, ctx: fc.enc is not None, cost=_packed_work),
    Variant("mve", "cores/mve/kernels/fully_connected_s8.c.j2", _mve, needs=("mve",),
            when=lambda fc, ctx: not fc.wide, cost=_dense_work),
    Variant("dsp_w16", "cores/dsp/kernels/fully_connected_s8_w16.c.j2", _dsp_w16,
            needs=("dsp",), when=lambda fc, ctx: not fc.wide
            and wants_w16(ctx, "FULLY_CONNECTED", fc.batches), cost=_dense_work),
    Variant("dsp_w8", "cores/dsp/kernels/fully_connected_s8_w16.c.j2", _dsp_w8,
            needs=("dsp",), when=lambda fc, ctx: not fc.wide, cost=_dense_work),
    Variant("dsp", "cores/dsp/kernels/fully_connected_s8.c.j2", _dsp, needs=("dsp",),
            when=lambda fc, ctx: not fc.wide, cost=_dense_work),
    Variant("portable", "kernels/fully_connected_s8.c.j2", _portable, cost=_dense_work),
)


@register
class FullyConnected(VariantLowering):
    kind = "FULLY_CONNECTED"
    variants = VARIANTS

    def check(self, op: Op, g: Graph) -> list[str]:
        problems = check_activation(op)
        if len(op.inputs) < 2 or not op.inputs[1] or not g.tensors[op.inputs[1]].is_const:
            return problems + [f"{op.describe()}: weights must be a constant tensor"]
        problems += need_int8(op, g, [op.inputs[0], op.inputs[1], op.outputs[0]])
        w = g.tensors[op.inputs[1]]
        if len(w.shape) != 2:
            problems.append(f"{op.describe()}: weights have shape {list(w.shape)}, expected 2-D")
        if len(op.inputs) > 2 and op.inputs[2]:
            b = g.tensors[op.inputs[2]]
            if not b.is_const or b.dtype != "int32":
                problems.append(f"{op.describe()}: bias must be a constant int32 tensor")
        if op.options.get("weights_format", 0) not in (0, "DEFAULT"):
            problems.append(f"{op.describe()}: shuffled weights format is not supported")
        return problems

    def prepare(self, op: Op, g: Graph, ctx: Context) -> FcLayer:
        x, w, out = g.tensors[op.inputs[0]], g.tensors[op.inputs[1]], g.tensors[op.outputs[0]]
        bias = g.tensors[op.inputs[2]] if len(op.inputs) > 2 and op.inputs[2] else None
        n_out, depth = w.shape
        in_s, in_zp = x.quant.s, x.quant.zp
        out_s, out_zp = out.quant.s, out.quant.zp
        filter_offset = -int(w.quant.zero_point[0])
        # As PopulateConvolutionQuantizationParams: the effective scale in double precision,
        # input_scale * filter_scale / output_scale, per output channel or per tensor.
        scales = w.quant.scale if w.quant.per_channel else w.quant.scale * n_out
        mults = [quantize_multiplier(float(in_s) * float(fs) / float(out_s)) for fs in scales]
        lo, hi = activation_range(activation_of(op), out_s, out_zp)
        weights = w.data.astype(np.int64) + filter_offset
        raw = bias.data.astype(np.int64) if bias is not None else np.zeros(n_out, np.int64)
        # Fold the input offset into the bias: sum (w)(x + io) = sum w x + io * sum w.
        folded = raw + (-in_zp) * weights.sum(axis=1)
        if np.abs(folded).max(initial=0) >= 2**31:
            raise OverflowError(f"{op.describe()}: folded bias overflows int32")
        wide = filter_offset != 0
        # Compressed formats hold int8 values: with a filter zero point the weights stay dense.
        enc = (encode(weights, ctx.weights, op.describe(), rows_format=True)
               if not wide and ctx.weights != "dense" else None)
        return FcLayer(op=op, batches=x.size // depth, depth=depth, n_out=n_out, in_zp=in_zp,
                       out_zp=out_zp, lo=lo, hi=hi, mults=mults, weights=weights, raw_bias=raw,
                       folded=folded, wide=wide,
                       enc=enc if enc is not None and enc.format != "dense" else None)
