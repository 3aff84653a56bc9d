"""The constants TFLite's integer LSTM computes in Prepare, computed here at compile time.

unidirectional_sequence_lstm.cc (PopulateQuantizedLstmParams8x8_16 and
PopulatePrecomputedZPTimesWeightsWithBias) derives, once per model:
- the effective scales of the eight gate matrix products, in float32 arithmetic:
      input_to_gate     = weight_scale * input_scale / gate_scale
      recurrent_to_gate = weight_scale * output_state_scale / gate_scale
  with gate_scale 2^-12 (the gates are Q3.12) when there is no layer normalisation, each
  decomposed by QuantizeMultiplier (of the float32 value, in double);
- the hidden state's scale 2^-15 * 2^-15 / hidden_scale (the product of two Q0.15 values requantised
  to the fifth intermediate's scale; double arithmetic stored in a float) and its zero point;
- the cell state's scale as a power of two 2^cell_scale (CheckedLog2) and the clip
  static_cast<int16_t>(clamp(cell_clip / cell_state_scale, -32768, 32767)), float32;
- "effective biases": bias + (-input_zero_point) * row sums of the input weights, and
  (-output_state_zero_point) * row sums of the recurrent weights, in int32.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..ir import Graph, Op, Tensor
from ..quant import quantize_multiplier

F32 = np.float32

# UNIDIRECTIONAL_SEQUENCE_LSTM operand positions (lstm_shared.h, namespace lstm::full).
INPUT = 0
INPUT_WEIGHTS = (1, 2, 3, 4)  # input to input, forget, cell, output gate
RECURRENT_WEIGHTS = (5, 6, 7, 8)
PEEPHOLE_WEIGHTS = (9, 10, 11)
GATE_BIASES = (12, 13, 14, 15)
PROJECTION_WEIGHTS, PROJECTION_BIAS = 16, 17
OUTPUT_STATE, CELL_STATE = 18, 19
LAYER_NORM_COEFFICIENTS = (20, 21, 22, 23)
HIDDEN_INTERMEDIATE = 4  # the fifth intermediate: the hidden state's quantisation
GATE_NAMES = ("input", "forget", "cell", "output")
GATE_SCALE = 2.0**-12  # Q3.12 gate pre-activations (no layer normalisation)
# The cell state's log2 scales the kernel takes: its tanh is gemmlowp's with 15 + log2 integer
# bits, which TFLite evaluates for 0..6 only.
CELL_SCALE_LOG2 = range(-15, -8)


def operand(op: Op, g: Graph, position: int) -> Tensor | None:
    """The op's operand at `position`, None when absent (-1 or past the end)."""
    if position >= len(op.inputs) or not op.inputs[position]:
        return None
    return g.tensors[op.inputs[position]]


def checked_log2(scale: float) -> int | None:
    """TFLite's CheckedLog2: the rounded log2 of a power-of-two scale, None otherwise."""
    if not scale > 0.0:
        return None
    exact = math.log2(float(F32(scale)))
    rounded = round(exact)
    return int(rounded) if abs(exact - rounded) < 1e-3 else None


def gate_scale(weight_scale: float, activation_scale: float) -> float:
    """weight_scale * activation_scale / 2^-12 as Prepare computes it, in float32."""
    return float(F32(F32(weight_scale) * F32(activation_scale)) / F32(GATE_SCALE))


def hidden_scale(intermediate_scale: float) -> float:
    """std::pow(2, -15) / scale * std::pow(2, -15): double arithmetic, stored in a float."""
    return float(F32(2.0**-15 / float(F32(intermediate_scale)) * 2.0**-15))


def quantized_cell_clip(cell_clip: float, cell_scale: float) -> int:
    """static_cast<int16_t>(min(max(clip / scale, -32768.0f), 32767.0f)); 0 for no clip."""
    if not cell_clip > 0.0:
        return 0
    q = float(F32(F32(cell_clip) / F32(cell_scale)))
    return int(min(max(q, -32768.0), 32767.0))


def effective_bias(weights: np.ndarray, zero_point: int, bias: np.ndarray | None) -> np.ndarray:
    """bias + (-zero_point) * row sums (PrecomputeZeroPointTimesWeightWithBias), in int64."""
    rows = weights.astype(np.int64).sum(axis=1)
    base = bias.astype(np.int64) if bias is not None else np.zeros(len(rows), np.int64)
    return base - int(zero_point) * rows


@dataclass
class LstmParams:
    """Everything the kernel bakes in, per gate in the order input, forget, cell, output."""

    w_in: np.ndarray  # [4 * n_cell, n_input] int8
    w_rec: np.ndarray  # [4 * n_cell, n_output] int8
    b_in: np.ndarray  # [4 * n_cell] int64: bias + (-input zero point) * row sums
    b_rec: np.ndarray  # [4 * n_cell] int64: (-output state zero point) * row sums
    mult_in: list[tuple[int, int]]  # (multiplier, shift) of each input-to-gate product
    mult_rec: list[tuple[int, int]]
    hidden: tuple[int, int]
    hidden_zp: int
    cell_log2: int
    cell_clip: int


def lstm_params(op: Op, g: Graph) -> LstmParams:
    """The constants of a checked standard (no CIFG/peephole/projection/layer norm) LSTM."""
    x = g.tensors[op.inputs[INPUT]]
    h = g.tensors[op.inputs[OUTPUT_STATE]]
    cell = g.tensors[op.inputs[CELL_STATE]]
    hidden = g.tensors[op.intermediates[HIDDEN_INTERMEDIATE]]
    w_in = [operand(op, g, p) for p in INPUT_WEIGHTS]
    w_rec = [operand(op, g, p) for p in RECURRENT_WEIGHTS]
    biases = [operand(op, g, p) for p in GATE_BIASES]
    cell_log2 = checked_log2(cell.quant.s)
    return LstmParams(
        w_in=np.concatenate([w.data for w in w_in]).astype(np.int8),
        w_rec=np.concatenate([w.data for w in w_rec]).astype(np.int8),
        b_in=np.concatenate([effective_bias(w.data, x.quant.zp, b.data)
                             for w, b in zip(w_in, biases)]),
        b_rec=np.concatenate([effective_bias(w.data, h.quant.zp, None) for w in w_rec]),
        mult_in=[quantize_multiplier(gate_scale(w.quant.s, x.quant.s)) for w in w_in],
        mult_rec=[quantize_multiplier(gate_scale(w.quant.s, h.quant.s)) for w in w_rec],
        hidden=quantize_multiplier(hidden_scale(hidden.quant.s)),
        hidden_zp=int(hidden.quant.zp),
        cell_log2=cell_log2,
        cell_clip=quantized_cell_clip(float(op.options.get("cell_clip", 0.0) or 0.0),
                                      2.0**cell_log2),
    )


def accumulator_bound(weights: np.ndarray, bias: np.ndarray) -> int:
    """The largest |bias + sum w * x| any int8 x can give, over the rows."""
    return int((np.abs(bias) + 128 * np.abs(weights.astype(np.int64)).sum(axis=1)).max())


def overflow_problems(op: Op, p: LstmParams) -> list[str]:
    """The gate products whose int32 accumulator, or its requantised value plus the other
    product's, could overflow (the reference would wrap; the C refuses rather than differ)."""
    problems = []
    n_cell = len(p.b_in) // 4
    for k, name in enumerate(GATE_NAMES):
        rows = slice(k * n_cell, (k + 1) * n_cell)
        for what, w, b, (m, s) in (("input", p.w_in, p.b_in, p.mult_in[k]),
                                   ("recurrent", p.w_rec, p.b_rec, p.mult_rec[k])):
            bound = accumulator_bound(w[rows], b[rows])
            if bound >= 2**31 or bound * m * 2.0 ** (s - 31) >= 2**30:
                problems.append(f"{op.describe()}: the {what}-to-{name}-gate accumulator can "
                                f"reach {bound}, which overflows int32 arithmetic")
    return problems
