"""What the broadcasting binary operators (ADD, SUB, MUL, MAXIMUM, MINIMUM, SQUARED_DIFFERENCE)
share: broadcasting (numpy rules, as TFLite's BroadcastBinaryFunction6D), flattened into the
fewest nested loops, the checks of a binary operator, and ADD's and SUB's rescaling.

A broadcast is described as loops over the output, outermost first, each with its trip count and
the element stride of every input along it (0 where that input is broadcast). Adjacent loops merge
when every input walks them contiguously (or stays put on both), so a same-shape op is one loop
and [1,H,W,C] + [1,1,1,C] is two."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..ir import DTYPES, Graph, Op
from ..quant import activation_range, quantize_multiplier
from ..planner import Alias
from ._dsp import uses_mve
from .base import (ConstArray, Context, Kernel, activation_of, check_activation, need_quantised,
                   per_tensor)

MAX_RANK = 6


@dataclass(frozen=True)
class Loop:
    size: int
    strides: tuple[int, ...]  # one per input, in elements
    out_stride: int


def broadcast_shape(shapes: list[tuple[int, ...]]) -> tuple[int, ...] | None:
    try:
        return tuple(int(d) for d in np.broadcast_shapes(*[tuple(s) for s in shapes]))
    except ValueError:
        return None


def broadcast_loops(out_shape: tuple[int, ...], shapes: list[tuple[int, ...]]) -> list[Loop]:
    rank = len(out_shape)
    per_input = []
    for shape in shapes:
        ext = (1,) * (rank - len(shape)) + tuple(shape)
        strides, acc = [0] * rank, 1
        for d in reversed(range(rank)):
            strides[d] = 0 if ext[d] == 1 else acc
            acc *= ext[d]
        per_input.append(strides)
    loops = [(int(out_shape[d]), tuple(s[d] for s in per_input)) for d in range(rank)
             if out_shape[d] != 1]
    merged: list[tuple[int, tuple[int, ...]]] = []
    for size, strides in loops:
        if merged:
            osize, ostrides = merged[-1]
            if all(o == s * size for o, s in zip(ostrides, strides)):
                merged[-1] = (osize * size, strides)
                continue
        merged.append((size, strides))
    result, out_stride = [], 1
    for size, strides in reversed(merged):
        result.append(Loop(size, strides, out_stride))
        out_stride *= size
    return list(reversed(result))


def index_expr(loops: list[Loop], which: int | None) -> str:
    """The C index of input `which` (None: the output) from loop counters i0, i1, ..."""
    terms = []
    for k, loop in enumerate(loops):
        stride = loop.out_stride if which is None else loop.strides[which]
        if stride:
            terms.append(f"i{k}" if stride == 1 else f"i{k} * {stride}")
    return " + ".join(terms) or "0"


def check_binary(op: Op, g: Graph, dtypes: tuple[str, ...] = ("int8",)) -> list[str]:
    """Two inputs and one output of one of `dtypes` (all three the same), quantised per tensor,
    of rank at most MAX_RANK, the output of the broadcast shape; a supported fused activation."""
    problems = check_activation(op)
    if len(op.inputs) != 2 or not all(op.inputs) or len(op.outputs) != 1:
        return problems + [f"{op.describe()}: expected two inputs and one output"]
    names = [op.inputs[0], op.inputs[1], op.outputs[0]]
    problems += need_quantised(op, g, names, dtypes)
    for n in names:
        problems += per_tensor(op, g.tensors[n])
    shapes = [g.tensors[n].shape for n in op.inputs]
    out = g.tensors[op.outputs[0]]
    if any(len(s) > MAX_RANK for s in shapes + [out.shape]):
        problems.append(f"{op.describe()}: tensors of rank above {MAX_RANK} are not supported")
    want = broadcast_shape(shapes)
    if want is None:
        problems.append(f"{op.describe()}: input shapes {[list(s) for s in shapes]} do not "
                        "broadcast")
    elif tuple(want) != tuple(out.shape):
        problems.append(f"{op.describe()}: output shape {list(out.shape)} is not the broadcast "
                        f"shape {list(want)}")
    return problems


def sources(op: Op, g: Graph) -> tuple[list[dict], list[ConstArray], list[str]]:
    """Per input: where the template reads it (an activation pointer or a constant array)."""
    srcs, consts, act = [], [], []
    for k, name in enumerate(op.inputs):
        t = g.tensors[name]
        if t.is_const:
            cname = f"in{k}"
            consts.append(ConstArray(cname, t.ctype, t.data.astype(DTYPES[t.dtype]).reshape(-1),
                                     f"constant operand {k} {list(t.shape)}"))
            srcs.append({"const": cname, "arg": ""})
        else:
            srcs.append({"const": "", "arg": f"in{len(act)}"})
            act.append(name)
    return srcs, consts, act


def loop_params(op: Op, g: Graph) -> tuple[dict, list[ConstArray], list[str]]:
    """The template parameters of the broadcast loop nest (kernels/add_mul_loops.c.j2: loops,
    input and output index expressions, sources) of a checked binary op, its constant operands
    and its activation inputs."""
    a, b, y = (g.tensors[n] for n in (*op.inputs, op.outputs[0]))
    loops = broadcast_loops(y.shape, [a.shape, b.shape])
    srcs, consts, act = sources(op, g)
    params = dict(loops=loops, idx=[index_expr(loops, 0), index_expr(loops, 1)],
                  idx_out=index_expr(loops, None), sources=srcs)
    return params, consts, act


def same_shape_aliases(op: Op, g: Graph, act: list[str]) -> tuple[Alias, ...]:
    """The in-place offers of a binary op's loop nest (kernels/add_mul_loops.c.j2 and the Helium
    ADD): each element is read before the element at the same index is written, so the output
    may be written over an activation input of its own shape and type (not over a broadcast
    one)."""
    y = g.tensors[op.outputs[0]]
    return tuple(Alias(0, k) for k, t in enumerate(act)
                 if tuple(g.tensors[t].shape) == tuple(y.shape) and g.tensors[t].dtype == y.dtype)


# --- ADD and SUB (reference_integer_ops::Add, reference_ops::Sub for int8) ----------------------

ADD_LEFT_SHIFT = 20


def add_multipliers(s1: float, s2: float, s_out: float):
    """((m1, e1), (m2, e2), (m_out, e_out)) as add.cc's and sub.cc's Prepare compute them for
    int8: each input scaled to twice the larger input scale, the sum (difference) to the output."""
    twice_max = 2.0 * max(float(s1), float(s2))
    return (quantize_multiplier(float(s1) / twice_max),
            quantize_multiplier(float(s2) / twice_max),
            quantize_multiplier(twice_max / ((1 << ADD_LEFT_SHIFT) * float(s_out))))


def check_add_scales(op: Op, g: Graph) -> list[str]:
    """The output rescale of ADD and SUB must be below 1 (QuantizeMultiplierSmallerThanOneExp)."""
    a, b, y = (g.tensors[n] for n in (*op.inputs, op.outputs[0]))
    twice_max = 2.0 * max(a.quant.s, b.quant.s)
    if not twice_max / ((1 << ADD_LEFT_SHIFT) * y.quant.s) < 1.0:
        return [f"{op.describe()}: output scale {y.quant.s} is too small for the input scales "
                f"{a.quant.s}, {b.quant.s} (output multiplier >= 1)"]
    return []


def add_kernel(op: Op, g: Graph, ctx: Context, subtract: bool = False) -> Kernel:
    """ADD (or, with `subtract`, SUB) of a checked op: both operands offset, shifted left by 20
    and rescaled to a common scale (double rounding each), summed (subtracted), rescaled to the
    output, offset and clamped. On Helium cores, same-shape operands four elements a vector."""
    a, b, y = (g.tensors[n] for n in (*op.inputs, op.outputs[0]))
    (m1, e1), (m2, e2), (mo, eo) = add_multipliers(a.quant.s, b.quant.s, y.quant.s)
    lo, hi = activation_range(activation_of(op), y.quant.s, y.quant.zp)
    params, consts, act = loop_params(op, g)
    loops = params["loops"]
    flat = len(loops) == 1 and loops[0].strides == (1, 1) and loops[0].out_stride == 1
    params.update(kind="SUB" if subtract else "ADD", sign="-" if subtract else "+",
                  offset=[-a.quant.zp, -b.quant.zp], left_shift=ADD_LEFT_SHIFT,
                  mult=[m1, m2], shift=[e1, e2],
                  # A multiplier of exactly 1/2 on x * 2^20 is a shift by 19, exactly.
                  half=[(m, e) == (1 << 30, 0) for m, e in ((m1, e1), (m2, e2))],
                  out_mult=mo, out_shift=eo, out_zp=y.quant.zp, lo=lo, hi=hi)
    return Kernel(
        template=("kernels/add_s8_mve.c.j2" if flat and uses_mve(ctx.families)
                  else "kernels/add_s8.c.j2"),
        params=params,
        consts=consts,
        act_inputs=act,
        act_outputs=[op.outputs[0]],
        macs=0,
        inplace=same_shape_aliases(op, g, act),
    )
