"""STRIDED_SLICE (strided_slice.cc -> reference_ops::StridedSlice), numpy-style `x[b:e:s, ...]`.

Operands: the input, then constant int32 `begin`, `end` and `strides` vectors of one length n
(n may be less than the rank: the remaining axes are taken whole). Options: `begin_mask` and
`end_mask` (bit i: ignore begin[i] / end[i], take the axis from its first / to its last element
in the stride's direction), `ellipsis_mask` (bit i: spec i stands for as many whole axes as the
other specs leave), `new_axis_mask` (bit i: spec i inserts an axis of 1), `shrink_axis_mask`
(bit i: take the one element at begin[i] and drop the axis) and `offset` (end[i] counts from
begin[i]).

The reference first rewrites the specs onto "effective" axes (the input's, with the new axes
inserted): the ellipsis becomes whole axes, a new axis becomes [0, 1) of an axis of 1. Then per
axis: begin (+ the axis size when negative) is clamped to [0, size] for a positive stride and
[-1, size - 1] for a negative one, or with the begin mask is 0 / size - 1; end likewise (+ begin
with `offset`), with the end mask size / -1; a shrunk axis ends at begin + 1. It visits begin,
begin + stride, ... while below (above, for a negative stride) end, and writes the output in that
order. Its output shape is ceil((end - begin) / stride) per kept axis; with `offset` it is
ceil(end[i] / stride) from the unclamped operand, so the two can disagree: such an op is
refused, as is a shrunk axis that selects nothing.

That walk is one strided box copy (_strided.py): a step of stride * the input's stride per axis,
negative for a reversed axis, from the first element selected."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..ir import Graph, Op
from ._movement import check_io_count, check_moved, check_shape, const_ints
from ._strided import Box, box_kernel, strides
from .base import Context, Kernel, Lowering, register

MASKS = ("begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask", "shrink_axis_mask")


@dataclass(frozen=True)
class Axis:
    """One effective axis: which input axis it walks (None: a new axis of 1), from where, in
    steps of `stride`, how many times, and whether it is kept in the output shape."""

    input_axis: int | None
    start: int
    stride: int
    count: int
    kept: bool
    shape_count: int  # the extent the reference's output shape gives it


@dataclass(frozen=True)
class _Spec:
    begin: int
    end: int
    stride: int
    begin_mask: bool
    end_mask: bool
    shrink: bool


def _expand_masks(rank: int, n: int, m: dict) -> tuple[int, set, set, int, int]:
    """(effective rank, effective axes of the ellipsis, of the new axes, first ellipsis axis,
    how many more axes the ellipsis spans than its one spec), as BuildStridedSliceParams: bits
    are read at the effective index (the new-axis bits shifted back past the ellipsis)."""
    ell, new = m["ellipsis_mask"], m["new_axis_mask"]
    dims = rank + sum(1 for i in range(n) if new >> i & 1 and not ell >> i & 1)
    ellipsis, new_axes, ell_start, expanded, i = set(), set(), dims, 0, 0
    while i < dims:
        if ell >> i & 1:
            ell_start = i
            ell_end = max(i + 1, min(i + 1 + dims - n, dims))
            expanded = ell_end - ell_start - 1
            ellipsis.update(range(i, ell_end))
            i = ell_end
            continue
        if i - expanded >= 0 and new >> (i - expanded) & 1:
            new_axes.add(i)
        i += 1
    return dims, ellipsis, new_axes, ell_start, expanded


def _effective(rank: int, begin, end, stride, m: dict) -> tuple[list, str]:
    """[(input axis or None, _Spec)] per effective axis, or ([], why not)."""
    n = len(begin)
    dims, ellipsis, new_axes, ell_start, expanded = _expand_masks(rank, n, m)
    whole = _Spec(0, 0, 1, True, True, False)
    axes, added_ell, added_axes = [], 0, 0
    for i in range(dims):
        if i in ellipsis:
            added_ell = max(0, i - ell_start)
            axes.append((i - added_axes, whole))
        elif i in new_axes:
            axes.append((None, _Spec(0, 1, 1, False, False, False)))
            added_axes += 1
        elif i >= n + expanded:
            axes.append((i - added_axes, whole))
        else:
            o = i - added_ell
            if o >= n:
                return [], f"the masks leave spec {o} of {n} for effective axis {i}"
            bit = (lambda mask: bool(m[mask] >> o & 1))
            axes.append((i - added_axes, _Spec(begin[o], end[o], stride[o], bit("begin_mask"),
                                               bit("end_mask"), bit("shrink_axis_mask"))))
    if any(a is not None and a >= rank for a, _ in axes):
        return [], f"the masks address more axes than the input's {rank}"
    return axes, ""


def _clamp(v: int, size: int, stride: int) -> int:
    return min(max(v, 0), size) if stride > 0 else min(max(v, -1), size - 1)


def _walk(spec: _Spec, size: int, offset: bool) -> tuple[int, int]:
    """(start, end) of one axis, as StridedSliceStartForAxis / StridedSliceEndForAxis."""
    s = spec.stride
    start = _clamp(spec.begin + size if spec.begin < 0 else spec.begin, size, s)
    if spec.begin_mask:
        start = 0 if s > 0 else size - 1
    if spec.shrink:
        return start, (start if start >= size else start + 1)
    end = spec.end + start if offset else spec.end
    end = _clamp(end + size if end < 0 else end, size, s)
    if spec.end_mask:
        end = size if s > 0 else -1
    return start, end


def plan_axes(shape, begin, end, stride, options: dict) -> tuple[list[Axis], str]:
    """The effective axes of a strided slice of `shape`, or ([], why it is refused)."""
    m = {k: int(options.get(k, 0) or 0) for k in MASKS}
    offset = bool(options.get("offset", False))
    axes, why = _effective(len(shape), begin, end, stride, m)
    if why:
        return [], why
    result = []
    for k, (a, spec) in enumerate(axes):
        size = 1 if a is None else shape[a]
        if spec.stride == 0:
            return [], "a stride is 0"
        start, stop = _walk(spec, size, offset)
        count = max(0, -(-(stop - start) // spec.stride))
        if offset and not spec.shrink:
            if k >= len(end):
                return [], "with offset every axis needs its own end value"
            reported = max(0, math.ceil(end[k] / spec.stride))
        else:
            reported = count
        result.append(Axis(a, start, spec.stride, count, not spec.shrink, reported))
    return result, ""


@register
class StridedSlice(Lowering):
    kind = "STRIDED_SLICE"

    def _plan(self, op: Op, g: Graph) -> tuple[list[Axis], list[str]]:
        values, problems = [], []
        for index, what in ((1, "begin"), (2, "end"), (3, "strides")):
            v, p = const_ints(op, g, index, what)
            values.append(v)
            problems += p
        if problems:
            return [], problems
        begin, end, stride = values
        if not len(begin) == len(end) == len(stride):
            return [], [f"{op.describe()}: begin, end and strides have {len(begin)}, {len(end)} "
                        f"and {len(stride)} values; the reference needs them equal"]
        axes, why = plan_axes(g.tensors[op.inputs[0]].shape, begin, end, stride, op.options)
        return axes, [f"{op.describe()}: {why}"] if why else []

    def check(self, op: Op, g: Graph) -> list[str]:
        problems = check_io_count(op, 4, 1)
        if problems:
            return problems
        problems = check_moved(op, g, [op.inputs[0]], [op.outputs[0]])
        axes, more = self._plan(op, g)
        problems += more
        if problems:
            return problems
        for k, ax in enumerate(axes):
            if not ax.kept and ax.count != 1:
                problems.append(f"{op.describe()}: shrunk axis {k} selects {ax.count} elements "
                                "(begin out of range, or a negative stride); 1 is needed")
            elif ax.kept and ax.count != ax.shape_count:
                problems.append(f"{op.describe()}: axis {k} walks {ax.count} elements but the "
                                f"reference's output shape gives it {ax.shape_count} (offset "
                                "with an end beyond the input)")
        if problems:
            return problems
        return check_shape(op, g, op.outputs[0], [ax.count for ax in axes if ax.kept])

    def lower(self, op: Op, g: Graph, ctx: Context) -> Kernel:
        axes, _ = self._plan(op, g)
        st = strides(g.tensors[op.inputs[0]].shape)
        counts = tuple(ax.count for ax in axes)
        steps = tuple(0 if ax.input_axis is None else ax.stride * st[ax.input_axis] for ax in axes)
        base = sum(ax.start * st[ax.input_axis] for ax in axes if ax.input_axis is not None)
        box = Box(op.inputs[0], op.outputs[0], counts, steps, strides(counts), src_base=base)
        return box_kernel(g, [op.inputs[0]], [op.outputs[0]], [box])
