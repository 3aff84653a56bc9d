"""FULLY_CONNECTED, int8 (reference_integer_ops::FullyConnected / FullyConnectedPerChannel)."""

from __future__ import annotations

import numpy as np

from ..ir import Graph, Op
from ..quant import activation_range, quantize_multiplier
from ._dsp import acc_bytes, matrix_layout, uses_dsp_layout, uses_mve
from ._weight_formats import encode, packed_bias
from .base import (ConstArray, Context, Kernel, Lowering, activation_of, check_activation,
                   need_int8, register)


@register
class FullyConnected(Lowering):
    kind = "FULLY_CONNECTED"

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

    def lower(self, op: Op, g: Graph, ctx: Context) -> Kernel:
        x, w, out = g.tensors[op.inputs[0]], g.tensors[op.inputs[1]], g.tensors[op.outputs[0]]
        bias = g.tensors[op.inputs[2]] if len(op.inputs) > 2 and op.inputs[2] else None
        n_out, depth = w.shape
        batches = x.size // depth
        in_s, in_zp = x.quant.s, x.quant.zp
        out_s, out_zp = out.quant.s, out.quant.zp
        filter_offset = -int(w.quant.zero_point[0])
        # As PopulateConvolutionQuantizationParams: the effective scale in double precision,
        # input_scale * filter_scale / output_scale, per output channel or per tensor.
        scales = w.quant.scale if w.quant.per_channel else w.quant.scale * n_out
        mults = [quantize_multiplier(float(in_s) * float(fs) / float(out_s)) for fs in scales]
        lo, hi = activation_range(activation_of(op), out_s, out_zp)
        weights = w.data.astype(np.int64) + filter_offset
        # Fold the input offset into the bias: sum (w)(x + io) = sum w x + io * sum w.
        folded = (bias.data.astype(np.int64) if bias is not None else np.zeros(n_out, np.int64))
        folded = folded + (-in_zp) * weights.sum(axis=1)
        if np.abs(folded).max(initial=0) >= 2**31:
            raise OverflowError(f"{op.describe()}: folded bias overflows int32")
        wide = filter_offset != 0
        per_channel = len(set(mults)) > 1
        dense_w = ConstArray("weights", "int16_t" if wide else "int8_t",
                             weights.astype(np.int16 if wide else np.int8),
                             f"[{n_out}][{depth}] weights{' + filter offset' if wide else ''}")
        # Compressed formats hold int8 values: with a filter zero point the weights stay dense.
        enc = encode(weights, ctx.weights) if not wide and ctx.weights != "dense" else None
        if enc is not None and enc.format == "dense":
            enc = None
        dsp = uses_dsp_layout(ctx.families) and not wide and enc is None
        if dsp:  # the DSP kernel reads four rows at a time, interleaved (see _dsp.py)
            laid, note = matrix_layout(weights.astype(np.int8), ctx.families)
            dense_w = ConstArray("weights", "int8_t", laid, f"[{n_out}][{depth}] weights, {note}")
        bias_c = ConstArray("bias", "int32_t", folded.astype(np.int32),
                            f"[{n_out}] bias + input offset * row sums")
        bias_raw = False
        if enc is not None:
            # Compressed: the narrowest bias that fits; the raw one when folding the input
            # offset in widens it (the kernel then adds the offset to each input it multiplies).
            raw = bias.data.astype(np.int64) if bias is not None else np.zeros(n_out, np.int64)
            bias_c, bias_raw = packed_bias(
                raw, folded, f"[{n_out}] bias (the kernel adds the input offset {-in_zp} to x)",
                f"[{n_out}] bias + input offset * row sums")
        consts = [*(enc.consts if enc is not None else [dense_w]), bias_c]
        if per_channel:
            consts.append(ConstArray("mult", "int32_t", np.array([m for m, _ in mults], np.int32),
                                     "per-channel multipliers"))
            consts.append(ConstArray("shift", "int8_t", np.array([s for _, s in mults], np.int8),
                                     "per-channel shifts"))
        return Kernel(
            template=("kernels/fully_connected_s8_packed.c.j2" if enc is not None
                      else "kernels/fully_connected_s8.c.j2"),
            params=dict(batches=batches, depth=depth, n_out=n_out, out_zp=out_zp, lo=lo, hi=hi,
                        per_channel=per_channel, mult=mults[0][0], shift=mults[0][1],
                        wtype="int16_t" if wide else "int8_t", bias_raw=bias_raw, io=-in_zp,
                        wf=dict(enc.params, format=enc.format, label=enc.label, rows=n_out,
                                cols=depth) if enc is not None else None),
            consts=consts,
            weight_format=enc.label if enc is not None else "dense",
            # (dense: the dense weights and the int32 folded bias)
            dense_weights_bytes=(sum(c.nbytes for c in consts) - enc.nbytes + dense_w.nbytes
                                 - bias_c.nbytes + 4 * n_out if enc is not None else None),
            act_inputs=[op.inputs[0]],
            act_outputs=[op.outputs[0]],
            # The DSP kernel widens the input row to int16 pairs once (two words per 4 values).
            # (MVE: the accumulators of one batch row instead.)
            scratch_bytes=(0 if not dsp else acc_bytes(n_out) if uses_mve(ctx.families)
                           else max(8, depth // 4 * 8)),
            macs=batches * n_out * depth,
        )
