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
"""

from __future__ import annotations

import numpy as np

from ..ir import Graph, Op
from ._dsp import acc_bytes, rounding_powers, uses_dsp_layout, uses_mve
from ._weight_formats import encode, packed_bias
from ._conv_common import (axes, bias_and_requant_consts, bias_of, check_common, fold_bias,
                           requant, well_formed)
from .base import ConstArray, Context, Kernel, Lowering, register
from .conv_2d import interior_condition, patch_max_offset, tap_lists

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


@register
class DepthwiseConv2D(Lowering):
    kind = "DEPTHWISE_CONV_2D"

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

    def lower(self, op: Op, g: Graph, ctx: Context) -> Kernel:
        x, w, out = g.tensors[op.inputs[0]], g.tensors[op.inputs[1]], g.tensors[op.outputs[0]]
        _, k_h, k_w, n_out = w.shape
        n_in = x.shape[3]
        ay, ax = axes(x.shape, k_h, k_w, op.options, out.shape)
        io = -int(x.quant.zp)
        q = requant(op, g, n_out)
        bias = bias_of(op, g, n_out)
        weights = np.ascontiguousarray(w.data[0].transpose(2, 0, 1))  # [C*M][KH][KW]
        taps = k_h * k_w
        folded = fold_bias(bias, io, weights.astype(np.int64).reshape(n_out, -1).sum(axis=1),
                           128 * 128 * taps)
        cond = interior_condition(ay, ax) if folded is not None else None
        border = cond != "1"

        consts = [ConstArray("weights", "int8_t", weights.astype(np.int8),
                             f"[{n_out}][{k_h}][{k_w}] filter, channel-major")]
        consts += bias_and_requant_consts(n_out, io, folded if cond is not None else None,
                                          bias if border else None, q)
        scratch = 0
        mve16 = False
        dense_bytes = None
        fold_at_decode = False
        gather = 0
        enc = encode(weights.reshape(n_out, taps), ctx.weights) if ctx.weights != "dense" else None
        if enc is not None and enc.format != "dense":
            # Compressed filters (portable packed kernel, on every core): one bias is stored, the
            # other derived from the decoded row's sum (a border position with the folded bias
            # recovers the raw one; with the raw bias the interior's is folded per channel).
            dense_bytes = sum(c.nbytes for c in consts)
            # The bias in its narrowest type: folded for the interior, or raw (the kernel folds
            # it per channel as it decodes the row, from the row's sum) when that is smaller.
            bias_c, fold_at_decode = packed_bias(
                bias, folded if cond is not None else None, f"[{n_out}] bias",
                f"[{n_out}] bias + input offset ({io}) * filter sums", "bias", "bias_folded")
            fold_at_decode = fold_at_decode and cond is not None
            consts = [*enc.consts, bias_c, *(c for c in consts if c.name in ("mult", "shift"))]
            gather = (tap_lists(weights.reshape(n_out, taps), patch_max_offset(ay, ax, n_in, 1), 1,
                                gather_max_density(taps)) if cond is not None else 0)
            # The gather list (uint16 offsets, then int8 values), then the decoded row when some
            # position reads it (a border, or no gather).
            scratch = 3 * gather + (taps if border or not gather else 0)
        else:
            enc = None
        if enc is None and uses_dsp_layout(ctx.families):
            # The DSP kernel reads padding taps as the input zero point and folds the input
            # offset into the bias modulo 2^32 (the accumulator wraps like the reference's);
            # with depth multiplier 1 it takes four channels a tap, so the filter stays tap-major.
            wrapped = ((bias + io * weights.astype(np.int64).reshape(n_out, -1).sum(axis=1)
                        + 2**31) % 2**32 - 2**31)
            cond = interior_condition(ay, ax)
            border = cond != "1"
            dm1 = n_out == n_in
            consts = [ConstArray("weights", "int8_t",
                                 w.data[0].astype(np.int8) if dm1 else weights.astype(np.int8),
                                 f"[{k_h}][{k_w}][{n_out}] filter, tap-major (DSP)" if dm1
                                 else f"[{n_out}][{k_h}][{k_w}] filter, channel-major"),
                      ConstArray("bias_folded", "int32_t", wrapped.astype(np.int32),
                                 f"[{n_out}] bias + input offset ({io}) * filter sums, mod 2^32"),
                      *(c for c in consts if c.name in ("mult", "shift"))]
            scratch = (n_in + 3) // 4 * 4 if dm1 and border else 0
            # Helium: sixteen channels a pass out of line (tc_mve_dw_acc_s8) pays per output
            # position; measured on the MLPerf models it wins from 32 channels at stride 1.
            mve16 = (dm1 and uses_mve(ctx.families) and n_in >= 32
                     and ay.stride == ax.stride == 1)
            if mve16:  # the accumulators, then the zero-point row
                scratch = acc_bytes(n_in) + scratch
            if not uses_mve(ctx.families):
                consts += rounding_powers(q)
        params = dict(
            batches=x.shape[0], ih=ay.size, iw=ax.size, ic=n_in, oh=ay.out, ow=ax.out, oc=n_out,
            dm=n_out // n_in, kh=k_h, kw=k_w, sh=ay.stride, sw=ax.stride, dh=ay.dilation,
            dw=ax.dilation, pt=ay.pad, pl=ax.pad, io=io, interior=cond, border=border, mve16=mve16,
            fold_at_decode=fold_at_decode, gather=gather,
            dense_unroll_max_taps=DENSE_UNROLL_MAX_TAPS,
            out_zp=q["out_zp"], lo=q["lo"], hi=q["hi"], per_channel=q["per_channel"],
            mult=q["mult"], shift=q["shift"],
            # Every channel shifts right only: the DSP requantisation skips the left shift.
            shifts_nonpositive=all(s <= 0 for _, s in q["mults"]),
        )
        if enc is not None:
            params["wf"] = dict(enc.params, format=enc.format, label=enc.label, rows=n_out,
                                cols=taps)
        return Kernel(
            template=("kernels/depthwise_conv_2d_s8_packed.c.j2" if enc is not None
                      else "kernels/depthwise_conv_2d_s8.c.j2"),
            params=params,
            consts=consts,
            weight_format=enc.label if enc is not None else "dense",
            dense_weights_bytes=dense_bytes,
            act_inputs=[op.inputs[0]],
            act_outputs=[op.outputs[0]],
            scratch_bytes=scratch,
            macs=int(x.shape[0]) * ay.out * ax.out * n_out * taps,
        )
