"""UNIDIRECTIONAL_SEQUENCE_LSTM, TFLite's integer LSTM: int8 input, output and hidden state, int16
cell state and gates (lstm_eval.cc EvalInteger8x8_16, the "8x8_16" kernel).

What the reference computes, per batch row and time step (x the input row, h the int8 output
state, c the int16 cell state, both variable tensors kept between invocations), for each gate
G in (input, forget, cell, output) and each cell r:
    a     = clamp16(MBQM(b_in[r] + W_G[r] . x, m_G, s_G))                   (input product)
    a     = clamp16(MBQM(b_rec[r] + R_G[r] . h, m'_G, s'_G) + a)              (recurrent product)
    G[r]  = sigmoid(a)  Q3.12 -> Q0.15 (gemmlowp::logistic on int16), tanh(a) for the cell gate
with the effective scales and the zero-point-folded biases b_in, b_rec of _lstm_params.py. Then
    c     = RoundingDivideByPOT(forget * c, 15)
            + RoundingDivideByPOT(input * cell, 30 + log2(cell scale))      (each cast to int16)
    c     = clamp16(c), then clamped to [-clip, clip] when cell_clip > 0
    h[r]  = clamp8(MBQM(output * tanh(c), m_h, s_h) + hidden_zero_point)
            (tanh with 15 + log2(cell scale) integer bits)
and the output row is h. MBQM is the double-rounding MultiplyByQuantizedMultiplier
(SaturatingRoundingDoublingHighMul, then RoundingDivideByPOT): the interpreter's LSTM (TFLite's
tensor_utils) requantises so, unlike its other int8 kernels (single rounding). Measured against
the interpreter, row by row: single rounding gives off-by-one gates on mnist_lstm and dtln and
off-by-one hidden values on hand-built models, double rounding none; and the hidden zero point
is added (subtracting it, as older TFLite sources read, is off by 2 * zp on micro_speech_lstm).

Batch-major input [batch, time, features] runs the batch rows one after the other; time-major
[time, batch, features] interleaves them, which gives the same values since the rows never
meet. The C (templates/kernels/lstm_s8.c.j2) does exactly this in int32: the gate matrices
stacked [4 * n_cell][n_input] and [4 * n_cell][n_output], the four gates of a step in an int16
scratch, gemmlowp's int16 logistic and tanh from tc_runtime.h (checked against gemmlowp over every
int16 input).

The state starts at zero, the int8 output state at its zero point (as TFLite resets variable
tensors), and carries over between invocations until PREFIX_reset().

Supported: the standard LSTM that TFLite's converter fuses from a Keras LSTM and that TFLM's
examples use (mnist_lstm, micro_speech_lstm, dtln): all four gates, no peephole, no projection,
no layer normalisation, tanh activation, any cell clip, batch- or time-major, any batch. Refused,
by name: CIFG (coupled input-forget gate), peephole connections, projection, layer-norm LSTM,
diagonal recurrent weights, hybrid or int16-activation LSTMs, per-channel or asymmetric weights.
"""

from __future__ import annotations

import numpy as np

from ..ir import Graph, Op
from ._lstm_params import (CELL_SCALE_LOG2, CELL_STATE, GATE_BIASES, HIDDEN_INTERMEDIATE, INPUT,
                           INPUT_WEIGHTS, LAYER_NORM_COEFFICIENTS, OUTPUT_STATE, PEEPHOLE_WEIGHTS,
                           PROJECTION_BIAS, PROJECTION_WEIGHTS, RECURRENT_WEIGHTS, checked_log2,
                           lstm_params, operand, overflow_problems)
from .base import ConstArray, Context, Kernel, Lowering, per_tensor, register


def _variant_problems(op: Op, g: Graph) -> list[str]:
    """The LSTM variants and options the kernel does not implement, by name."""
    d = op.describe()
    problems = []
    if operand(op, g, INPUT_WEIGHTS[0]) is None:
        problems.append(f"{d}: CIFG (coupled input and forget gates, no input gate) is not "
                        "supported; the standard LSTM with four gates is")
    if any(operand(op, g, p) is not None for p in PEEPHOLE_WEIGHTS):
        problems.append(f"{d}: peephole connections (cell-to-gate weights) are not supported")
    if any(operand(op, g, p) is not None for p in (PROJECTION_WEIGHTS, PROJECTION_BIAS)):
        problems.append(f"{d}: a projection layer is not supported")
    if any(operand(op, g, p) is not None for p in LAYER_NORM_COEFFICIENTS):
        problems.append(f"{d}: the layer-norm LSTM is not supported")
    act = op.options.get("fused_activation_function", "TANH")
    if act != "TANH":
        problems.append(f"{d}: activation {act} is not supported: the integer LSTM computes "
                        "tanh (TANH)")
    if op.options.get("diagonal_recurrent_tensors"):
        problems.append(f"{d}: diagonal recurrent weights are not supported")
    if not float(op.options.get("cell_clip", 0.0) or 0.0) >= 0.0:
        problems.append(f"{d}: cell_clip {op.options.get('cell_clip')} is negative")
    return problems


def _structure_problems(op: Op, g: Graph) -> list[str]:
    """Operand counts, the input and output, and the five intermediates."""
    d = op.describe()
    if len(op.inputs) not in (20, 24) or len(op.outputs) != 1 or not op.inputs[INPUT]:
        return [f"{d}: expected 20 or 24 inputs and one output, got {len(op.inputs)} and "
                f"{len(op.outputs)}"]
    x, y = g.tensors[op.inputs[INPUT]], g.tensors[op.outputs[0]]
    if x.dtype != "int8" or x.quant is None:
        return [f"{d}: input '{x.name}' is {x.dtype}{'' if x.quant else ' without quantisation'};"
                " only the integer LSTM (quantised int8 input) is supported"]
    problems = per_tensor(op, x)
    if len(x.shape) != 3:
        problems.append(f"{d}: input '{x.name}' has shape {list(x.shape)}, expected 3-D "
                        "(batch, time, features) or (time, batch, features)")
    if y.dtype != "int8" or y.quant is None:
        problems.append(f"{d}: output '{y.name}' is {y.dtype}, expected quantised int8")
    if len(op.intermediates) != 5:
        problems.append(f"{d}: the integer LSTM needs 5 intermediate tensors (gate and hidden "
                        f"quantisation), got {len(op.intermediates)}")
    else:
        hidden = g.tensors[op.intermediates[HIDDEN_INTERMEDIATE]]
        if hidden.quant is None or hidden.quant.per_channel:
            problems.append(f"{d}: intermediate '{hidden.name}' (the hidden state) needs one "
                            "scale and zero point")
    return problems


def _weight_problems(op: Op, g: Graph, n_cell: int, n_input: int, n_output: int) -> list[str]:
    """The eight gate matrices (int8, per tensor, zero point 0) and four biases (int32)."""
    d = op.describe()
    problems = []
    for positions, cols in ((INPUT_WEIGHTS, n_input), (RECURRENT_WEIGHTS, n_output)):
        for p in positions:
            w = operand(op, g, p)
            if w is None or not w.is_const or w.dtype != "int8" or w.quant is None:
                problems.append(f"{d}: operand {p} must be constant quantised int8 weights")
            elif w.quant.per_channel or w.quant.zero_point[0] != 0:
                problems.append(f"{d}: weights '{w.name}' must have one scale and zero point 0 "
                                "(the integer LSTM ignores others)")
            elif tuple(w.shape) != (n_cell, cols):
                problems.append(f"{d}: weights '{w.name}' have shape {list(w.shape)}, expected "
                                f"{[n_cell, cols]}")
    for p in GATE_BIASES:
        b = operand(op, g, p)
        if b is None or not b.is_const or b.dtype != "int32" or tuple(b.shape) != (n_cell,):
            problems.append(f"{d}: operand {p} must be a constant int32 bias of {n_cell} values")
    return problems


def _state_problems(op: Op, g: Graph, n_batch: int, n_cell: int, n_output: int) -> list[str]:
    """The two variable tensors: int8 output state, int16 cell state at a power-of-two scale."""
    d = op.describe()
    problems = []
    for p, dtype, size in ((OUTPUT_STATE, "int8", n_batch * n_output),
                           (CELL_STATE, "int16", n_batch * n_cell)):
        t = operand(op, g, p)
        if t is None or not t.variable:
            problems.append(f"{d}: operand {p} must be a variable (state) tensor")
        elif t.dtype != dtype or t.quant is None or t.quant.per_channel:
            problems.append(f"{d}: state '{t.name}' is {t.dtype}, expected {dtype} with one "
                            "scale and zero point")
        elif t.size != size:
            problems.append(f"{d}: state '{t.name}' has {t.size} values, expected {size}")
    if problems:
        return problems
    cell = operand(op, g, CELL_STATE)
    log2 = checked_log2(cell.quant.s)
    if log2 not in CELL_SCALE_LOG2:
        problems.append(f"{d}: cell state '{cell.name}' has scale {cell.quant.s:.6g}; the integer "
                        f"LSTM needs a power of two, 2^{CELL_SCALE_LOG2[0]} to "
                        f"2^{CELL_SCALE_LOG2[-1]}")
    if cell.quant.zp != 0:
        problems.append(f"{d}: cell state '{cell.name}' has zero point {cell.quant.zp}, "
                        "expected 0")
    return problems


def _dims(op: Op, g: Graph) -> tuple[int, int, int, int, int]:
    """(batch, time, n_input, n_cell, n_output) of a structurally checked op."""
    x = g.tensors[op.inputs[INPUT]]
    time_major = bool(op.options.get("time_major", False))
    steps, n_batch = (x.shape[0], x.shape[1]) if time_major else (x.shape[1], x.shape[0])
    w = operand(op, g, INPUT_WEIGHTS[3]) or operand(op, g, INPUT_WEIGHTS[1])
    r = operand(op, g, RECURRENT_WEIGHTS[3]) or operand(op, g, RECURRENT_WEIGHTS[1])
    n_cell = w.shape[0] if w is not None and w.shape else 0
    n_output = r.shape[-1] if r is not None and r.shape else 0
    return n_batch, steps, x.shape[2], n_cell, n_output


@register
class UnidirectionalSequenceLstm(Lowering):
    kind = "UNIDIRECTIONAL_SEQUENCE_LSTM"

    def check(self, op: Op, g: Graph) -> list[str]:
        problems = _structure_problems(op, g)
        if problems:
            return problems
        problems = _variant_problems(op, g)
        if problems:
            return problems
        n_batch, steps, n_input, n_cell, n_output = _dims(op, g)
        problems = _weight_problems(op, g, n_cell, n_input, n_output)
        problems += _state_problems(op, g, n_batch, n_cell, n_output)
        if n_output != n_cell:
            problems.append(f"{op.describe()}: {n_output} outputs for {n_cell} cells; without "
                            "a projection they must be equal")
        y = g.tensors[op.outputs[0]]
        want = list(g.tensors[op.inputs[INPUT]].shape[:2]) + [n_output]
        if list(y.shape) != want:
            problems.append(f"{op.describe()}: output '{y.name}' has shape {list(y.shape)}, "
                            f"expected {want}")
        return problems or overflow_problems(op, lstm_params(op, g))

    def lower(self, op: Op, g: Graph, ctx: Context) -> Kernel:
        n_batch, steps, n_input, n_cell, n_output = _dims(op, g)
        p = lstm_params(op, g)
        mults = p.mult_in + p.mult_rec
        consts = [
            ConstArray("w_in", "int8_t", p.w_in,
                       f"[4][{n_cell}][{n_input}] input weights: input, forget, cell, output gate"),
            ConstArray("w_rec", "int8_t", p.w_rec,
                       f"[4][{n_cell}][{n_output}] recurrent weights, same gate order"),
            ConstArray("b_in", "int32_t", p.b_in.astype(np.int32),
                       f"[4][{n_cell}] gate bias + (-input zero point) * input weight row sums"),
            ConstArray("b_rec", "int32_t", p.b_rec.astype(np.int32),
                       f"[4][{n_cell}] (-output state zero point) * recurrent weight row sums"),
            ConstArray("mult", "int32_t", np.array([m for m, _ in mults], np.int32),
                       "[2][4] multipliers: input products, then recurrent, per gate"),
            ConstArray("shift", "int8_t", np.array([s for _, s in mults], np.int8),
                       "[2][4] shifts, same order"),
        ]
        return Kernel(
            template="kernels/lstm_s8.c.j2",
            params=dict(n_batch=n_batch, steps=steps, n_input=n_input, n_cell=n_cell,
                        time_major=bool(op.options.get("time_major", False)),
                        cell_shift=30 + p.cell_log2, tanh_bits=15 + p.cell_log2,
                        clip=p.cell_clip, hidden_mult=p.hidden[0], hidden_shift=p.hidden[1],
                        hidden_zp=p.hidden_zp),
            consts=consts,
            act_inputs=[op.inputs[INPUT]],
            act_outputs=[op.outputs[0]],
            act_states=[op.inputs[OUTPUT_STATE], op.inputs[CELL_STATE]],
            scratch_bytes=4 * n_cell * 2, scratch_ctype="int16_t",  # the four gates, Q0.15
            macs=n_batch * steps * 4 * n_cell * (n_input + n_output),
        )
