"""MIRROR_PAD (mirror_pad.cc), int8, int16 and int32, REFLECT and SYMMETRIC, any rank up to 6.

The paddings come from a constant int32/int64 tensor of shape [rank, 2]. Output position p of a
dimension of size D padded by (L, R) reads input index L - p (REFLECT) or L - 1 - p (SYMMETRIC)
left of the input, and D - 2 - q (REFLECT) or D - 1 - q (SYMMETRIC) for the q-th position right
of it. TensorFlow limits each padding to D - 1 (REFLECT) or D (SYMMETRIC); beyond that the
reference reads outside its input, so those are refused. The reference refuses an output
quantised unlike the input, and copies bytes without requantisation.

The C copies the input into the interior of the output (one copy nest, as PAD), then fills the
pads dimension by dimension from the innermost outwards, each pad slice a memcpy of an already
complete slice of the output itself: dimension d loops over the interior of the dimensions
outside it, and its slices are whole (already padded) inner blocks."""

from __future__ import annotations

from dataclasses import dataclass

from ..ir import Graph, Op
from ._movers import (Loop, check_const_ints, check_mover, check_rank_up_to, check_same_quant,
                      check_shape, const_ints, make_nest, nest_params, strides)
from .base import Context, Kernel, Lowering, register

MAX_RANK = 6
MODES = {0: "REFLECT", 1: "SYMMETRIC"}  # schema MirrorPadMode


@dataclass(frozen=True)
class Fill:
    """The pads of one dimension: for every index of `loops` (the interior of the dimensions
    outside it, output strides), slices of `slice` elements at output offset `base`: left slice
    p (< left) copies slice left_src - p, right slice right_dst + q (q < right) copies
    right_src - q."""

    loops: tuple[Loop, ...]
    base: int
    slice: int
    left: int
    left_src: int
    right: int
    right_dst: int
    right_src: int


def _pads(op: Op, g: Graph) -> list[tuple[int, int]]:
    v = const_ints(op, g, 1)
    return [(v[2 * k], v[2 * k + 1]) for k in range(len(v) // 2)]


def fills(in_shape, pads, symmetric: bool) -> list[Fill]:
    """The pad fills, innermost dimension first (the order they must run in)."""
    out_shape = [d + a + b for d, (a, b) in zip(in_shape, pads)]
    out_strides = strides(out_shape)
    o = 1 if symmetric else 0
    result = []
    for d in reversed(range(len(in_shape))):
        left, right = pads[d]
        if not left and not right:
            continue
        nest = make_nest([(in_shape[k], out_strides[k], out_strides[k]) for k in range(d)]
                         + [(1, 1, 1)])
        base = sum(pads[k][0] * out_strides[k] for k in range(d))
        size, s = in_shape[d], out_strides[d]
        loops = nest.loops if nest.chunk == 1 else nest.loops + (Loop(nest.chunk, 1, 1),)
        result.append(Fill(loops, base, s, left, 2 * left - o, right, left + size,
                           left + size - 2 + o))
    return result


@register
class MirrorPad(Lowering):
    kind = "MIRROR_PAD"

    def check(self, op: Op, g: Graph) -> list[str]:
        problems, x, y = check_mover(op, g, 2)
        if x is None:
            return problems
        problems += check_same_quant(op, x, y)
        mode = op.options.get("mode", 0)
        if mode not in MODES:
            problems.append(f"{op.describe()}: mode {mode!r} is not supported (REFLECT or "
                            "SYMMETRIC)")
        rank_problems = check_rank_up_to(op, x, MAX_RANK)
        if rank_problems:
            return problems + rank_problems
        problems += check_const_ints(op, g, 1, "paddings", (len(x.shape), 2))
        if problems:
            return problems
        pads = _pads(op, g)
        limit = 0 if mode == 1 else 1
        for k, (d, (a, b)) in enumerate(zip(x.shape, pads)):
            if min(a, b) < 0 or max(a, b) > d - limit:
                problems.append(f"{op.describe()}: paddings {[a, b]} of dimension {k} (size {d}) "
                                f"are outside 0 to {d - limit}, the range {MODES[mode]} allows")
        return problems + check_shape(op, y, [d + a + b for d, (a, b) in zip(x.shape, pads)])

    def lower(self, op: Op, g: Graph, ctx: Context) -> Kernel:
        x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        pads = _pads(op, g)
        in_strides, out_strides = strides(x.shape), strides(y.shape)
        interior = make_nest(list(zip(x.shape, in_strides, out_strides)),
                             out_base=sum(a * s for (a, _), s in zip(pads, out_strides)))
        params = nest_params([interior], y)
        params["fills"] = fills(list(x.shape), pads, op.options.get("mode", 0) == 1)
        params["depth"] = max([params["depth"]] + [len(f.loops) for f in params["fills"]])
        return Kernel(
            template="kernels/mirror_pad.c.j2",
            params=params,
            act_inputs=[x.name],
            act_outputs=[y.name],
        )
