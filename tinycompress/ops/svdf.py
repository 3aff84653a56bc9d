"""SVDF, integer: int8 input and output, int8 feature weights, int32 bias (optional), and a
variable (state) tensor of the last `memory` feature activations of every filter.

Two state types, as the kernels that define them:

- int16 state, int16 time weights (TFLite's integer SVDF, reference_ops::EvalIntegerSVDF, what
  the reference interpreter runs; state zero point 0):
- int8 state, int8 time weights (TFLM's svdf_common.cc EvalIntegerSvdfReference<int8_t>, e.g.
  its keyword benchmark model; the reference interpreter reads such a state as int16, out of
  bounds, so tinycompress/reference.py runs this op with svdf_reference below instead).

Per invocation, with state[f][m] (filter f < F, memory slot m < M, oldest first), multipliers
M1 = QM(input_scale * feature_scale / state_scale) and M2 = QM(state_scale * time_scale /
output_scale), zs the state zero point (0 for int16):
    state[f][m] = state[f][m + 1]                  (the whole buffer moves one element left)
    state[f][M - 1] = clamp(MBQM(sum_k wf[f][k] (x[k] - input_zp), M1) + zs, state range)
    dot[f] = sum_m wt[f][m] (state[f][m] - zs)                       (int32, wrapping)
    y[u] = clamp(MBQM(bias[u] + sum_r dot[u * rank + r], M2) + output_zp, -128, 127)
MBQM is the double-rounding MultiplyByQuantizedMultiplier (measured against the interpreter:
the single-rounding form differs). The fused activation is not applied: both integer kernels
ignore it; the reference refuses anything but RELU, TFLM runs any, and we accept NONE and RELU.
M1, M2: both TFLite's svdf.cc and TFLM compute the ratios of the (float) scales in float32 and
only then widen them to double for QuantizeMultiplier, so a multiplier has at most 24 significant
bits. Taking the ratios in double instead (as this module once did for the int16 state) moves
the multiplier by ~1e-7 relative, enough to flip the rounding of a state value now and then: one
output of a 30-vector run was off by one (tests/test_op_svdf.py keeps that case).

The int8 state's zero point is added before the clamp, as TFLM's current kernel does. Older TFLM
builds clamp first and add it after, so that the int8 store wraps (the current kernel's comment
calls that a bug); the tflite-micro Python package (nightly 2026-10-23, used for this check
only, not a dependency) still does. Against that package: int16 states, and int8 states with
zero point 0, match exactly; with other zero points, the older arithmetic in numpy matches it
exactly (all 5,310 outputs of 40 random int8-state models, 30 vectors each, with a bias: without
one that build crashes, reading the bias scale; all seven states of TFLM's keyword model over 40
vectors), so that line is the only difference. On the keyword model the outputs agree with both
(they saturate) but the states differ (79 to 800 elements each after 40 vectors).

The C folds the constants: the input zero point into a per-filter bias (-input_zp * row sum of
wf) and, for int8, -zs * (row sums of wt) into the output bias, summing modulo 2^32 as the
reference's int32 arithmetic wraps (so the fold is exact). No scratch: each unit's filters are
reduced as they are computed, and the memory moves one slot left in the pass that sums its time
products (the same state as the reference's whole-buffer shift, without a second pass).

Measured on TFLM's keyword benchmark model (QEMU mps2-an386, Cortex-M4, exact count): 145,402
instructions per inference, 80 % in the seven SVDF (116 K); the fused shift saved 19 K of 164 K
over a memmove pass. Its first SVDF (64 filters over 96 inputs, memory 8) takes 39 K, about 6 per
feature MAC, as the portable FULLY_CONNECTED.
"""

from __future__ import annotations

import numpy as np

from ..ir import Graph, Op, Tensor
from ..quant import multiply_by_quantized_multiplier_double_rounding as mbqm
from ..quant import quantize_multiplier
from .base import ConstArray, Context, Kernel, Lowering, activation_of, per_tensor, register

STATE_TYPES = ("int16", "int8")  # the time weights have the state's type
ACTIVATIONS = ("NONE", "RELU")
MAX_INPUT = 65536  # keeps the int32 feature accumulator of the reference from overflowing
_LIMITS = {"int8": (-128, 127), "int16": (-32768, 32767)}


def svdf_tensors(op: Op, g: Graph) -> tuple[Tensor, Tensor, Tensor, Tensor | None, Tensor, Tensor]:
    """(input, weights_feature, weights_time, bias or None, state, output) of a checked op."""
    x, wf, wt, b, s = (g.tensors[n] if n else None for n in op.inputs)
    return x, wf, wt, b, s, g.tensors[op.outputs[0]]


def multipliers(in_s: float, wf_s: float, wt_s: float, state_s: float,
                out_s: float) -> tuple[tuple[int, int], tuple[int, int]]:
    """(M1, M2) as (multiplier, shift), from float32 ratios as both kernels compute them."""
    f = np.float32
    r1 = float(f(f(in_s) * f(wf_s)) / f(state_s))
    r2 = float(f(f(state_s) * f(wt_s)) / f(out_s))
    return quantize_multiplier(r1), quantize_multiplier(r2)


def _wrap32(v: np.ndarray) -> np.ndarray:
    return ((np.asarray(v, np.int64) + (1 << 31)) % (1 << 32) - (1 << 31)).astype(np.int64)


def svdf_reference(x: np.ndarray, state: np.ndarray, wf: np.ndarray, wt: np.ndarray,
                   bias: np.ndarray | None, rank: int, in_zp: int, state_zp: int, out_zp: int,
                   m1: tuple[int, int], m2: tuple[int, int], state_dtype: str) -> np.ndarray:
    """One invocation of the integer SVDF in numpy, as the module docstring: x (batch, n_in)
    int8, state (batch, F * M) updated in place; returns the int8 output (batch, units)."""
    n_filt, mem = wt.shape
    lo, hi = _LIMITS[state_dtype]
    flat = state.reshape(-1)
    flat[:-1] = flat[1:].copy()
    st = state.reshape(len(x), n_filt, mem)
    wt64, units = wt.astype(np.int64), n_filt // rank
    out = np.empty((len(x), units), np.int8)
    for b in range(len(x)):
        acc = wf.astype(np.int64) @ (x[b].astype(np.int64) - in_zp)
        st[b, :, mem - 1] = [min(hi, max(lo, mbqm(int(a), *m1) + state_zp)) for a in acc]
        dots = _wrap32((wt64 * (st[b].astype(np.int64) - state_zp)).sum(axis=1))
        total = _wrap32(dots.reshape(units, rank).sum(axis=1)
                        + (0 if bias is None else bias.astype(np.int64)))
        out[b] = [min(127, max(-128, mbqm(int(t), *m2) + out_zp)) for t in total]
    return out


def _check_tensors(op: Op, g: Graph) -> list[str]:
    x, wf, wt, b, s, y = svdf_tensors(op, g)
    problems = []
    for t, what, dtypes in ((x, "input", ("int8",)), (wf, "feature weights", ("int8",)),
                            (wt, "time weights", STATE_TYPES), (s, "state", STATE_TYPES),
                            (y, "output", ("int8",))):
        if t.dtype not in dtypes:
            problems.append(f"{op.describe()}: {what} '{t.name}' is {t.dtype}, expected "
                            f"{' or '.join(dtypes)}")
        elif t.quant is None:
            problems.append(f"{op.describe()}: {what} '{t.name}' has no quantisation parameters")
        else:
            problems += per_tensor(op, t)
    for t, what in ((wf, "feature weights"), (wt, "time weights"), (b, "bias")):
        if t is not None and not t.is_const:
            problems.append(f"{op.describe()}: {what} '{t.name}' must be a constant tensor")
    if b is not None and b.dtype != "int32":
        problems.append(f"{op.describe()}: bias '{b.name}' is {b.dtype}, expected int32")
    if not s.variable:
        problems.append(f"{op.describe()}: state '{s.name}' is not a variable tensor")
    if problems:
        return problems
    if wt.dtype != s.dtype:
        problems.append(f"{op.describe()}: time weights are {wt.dtype} but the state is "
                        f"{s.dtype}; the kernels take both int16 or both int8")
    for t, what in ((wf, "feature weights"), (wt, "time weights")):
        if t.quant.zp != 0:
            problems.append(f"{op.describe()}: {what} '{t.name}' have zero point {t.quant.zp}; "
                            "symmetric (0) expected")
    if s.dtype == "int16" and s.quant.zp != 0:
        problems.append(f"{op.describe()}: int16 state '{s.name}' has zero point {s.quant.zp}; "
                        "the reference kernel assumes 0")
    return problems


def _check_shapes(op: Op, g: Graph) -> list[str]:
    x, wf, wt, b, s, y = svdf_tensors(op, g)
    rank = int(op.options.get("rank", 0) or 0)
    if len(x.shape) != 2 or len(wf.shape) != 2 or len(wt.shape) != 2:
        return [f"{op.describe()}: input {list(x.shape)}, feature weights {list(wf.shape)} and "
                f"time weights {list(wt.shape)} must be 2-D"]
    batch, n_in = x.shape
    n_filt, mem = wt.shape
    if rank < 1 or n_filt % rank:
        return [f"{op.describe()}: rank {rank} does not divide the {n_filt} filters"]
    units = n_filt // rank
    want = {"feature weights": (wf.shape, (n_filt, n_in)),
            "state": (s.shape, (batch, n_filt * mem)), "output": (y.shape, (batch, units))}
    if b is not None:
        want["bias"] = (b.shape, (units,))
    problems = [f"{op.describe()}: {what} has shape {list(got)}, expected {list(exp)}"
                for what, (got, exp) in want.items() if tuple(got) != exp]
    if n_in > MAX_INPUT:
        problems.append(f"{op.describe()}: {n_in} input features; at most {MAX_INPUT} are "
                        "supported (the int32 accumulator would overflow)")
    return problems


@register
class Svdf(Lowering):
    kind = "SVDF"

    def check(self, op: Op, g: Graph) -> list[str]:
        if len(op.inputs) != 5 or len(op.outputs) != 1 or not all(
                op.inputs[i] for i in (0, 1, 2, 4)):
            return [f"{op.describe()}: expected input, feature weights, time weights, optional "
                    "bias and state, and one output"]
        problems = []
        if activation_of(op) not in ACTIVATIONS:
            problems.append(f"{op.describe()}: fused activation {activation_of(op)} is not "
                            f"supported ({' or '.join(ACTIVATIONS)}; the integer kernel applies "
                            "none)")
        problems += _check_tensors(op, g)
        return problems or _check_shapes(op, g)

    def lower(self, op: Op, g: Graph, ctx: Context) -> Kernel:
        x, wf, wt, b, s, y = svdf_tensors(op, g)
        rank = int(op.options["rank"])
        batch, n_in = x.shape
        n_filt, mem = wt.shape
        units = n_filt // rank
        m1, m2 = multipliers(x.quant.s, wf.quant.s, wt.quant.s, s.quant.s, y.quant.s)
        zs = s.quant.zp
        fbias = -x.quant.zp * wf.data.astype(np.int64).sum(axis=1)
        obias = (np.zeros(units, np.int64) if b is None else b.data.astype(np.int64))
        obias = _wrap32(obias - zs * wt.data.astype(np.int64).sum(axis=1).reshape(units, rank)
                        .sum(axis=1))
        lo, hi = _LIMITS[s.dtype]
        consts = [
            ConstArray("wf", "int8_t", wf.data, f"[{n_filt}][{n_in}] feature weights"),
            ConstArray("fbias", "int32_t", fbias.astype(np.int32),
                       f"[{n_filt}] -input_zp * feature weight row sums"),
            ConstArray("wt", s.ctype, wt.data, f"[{n_filt}][{mem}] time weights"),
            ConstArray("obias", "int32_t", obias.astype(np.int32),
                       f"[{units}] bias - state_zp * time weight row sums over the rank"),
        ]
        return Kernel(
            template="kernels/svdf_s8.c.j2",
            params=dict(batches=batch, n_in=n_in, n_filt=n_filt, mem=mem, rank=rank, units=units,
                        m1=m1[0], s1=m1[1], m2=m2[0], s2=m2[1], zs=zs, lo=lo, hi=hi,
                        out_zp=y.quant.zp, stype=s.ctype),
            consts=consts,
            act_inputs=[x.name],
            act_outputs=[y.name],
            act_states=[s.name],
            macs=batch * n_filt * (n_in + mem),
        )
