"""What the reductions over a constant axis list (MEAN, SUM, REDUCE_MAX, REDUCE_MIN) share: the
checks of the axis operand and output shape (ResolveAxis: negative axes counted from the end,
duplicates dropped; keep_dims keeps reduced dimensions as 1) and the loop nest over the kept and
reduced dimensions (templates/kernels/reduce_loops.c.j2, mean_s8.c.j2)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..ir import Graph, Op
from .base import need_quantised, per_tensor


@dataclass(frozen=True)
class Dim:
    size: int
    stride: int  # in input elements


def resolve_axes(axes, rank: int) -> list[int]:
    """Axes made non-negative, duplicates dropped (ResolveAxis)."""
    resolved: list[int] = []
    for a in axes:
        a = int(a) + rank if int(a) < 0 else int(a)
        if a not in resolved:
            resolved.append(a)
    return resolved


def reduction_loops(shape, axes) -> tuple[list[Dim], list[Dim]]:
    """(kept, reduced) loops, outermost first, size-1 dims dropped, adjacent dims of the same
    kind merged. Kept loops enumerate the output in order."""
    rank = len(shape)
    strides = [1] * rank
    for k in reversed(range(rank - 1)):
        strides[k] = strides[k + 1] * shape[k + 1]
    groups: list[list] = []  # [is_reduced, size, stride]
    for k in range(rank):
        if shape[k] == 1:
            continue
        red = k in axes
        if groups and groups[-1][0] == red and groups[-1][2] == shape[k] * strides[k]:
            groups[-1][1] *= shape[k]
            groups[-1][2] = strides[k]
        else:
            groups.append([red, shape[k], strides[k]])
    kept = [Dim(s, st) for red, s, st in groups if not red]
    reduced = [Dim(s, st) for red, s, st in groups if red]
    return kept, reduced


def reduced_count(g: Graph, op: Op, axes: list[int]) -> int:
    x = g.tensors[op.inputs[0]]
    return int(np.prod([x.shape[k] for k in axes], dtype=np.int64))


def check_reduction(op: Op, g: Graph, dtypes: tuple[str, ...] = ("int8",)
                    ) -> tuple[list[str], list[int] | None]:
    """The problems of a reduction's operands and its resolved axes (None when they could not be
    resolved): input and output of one of `dtypes`, quantised per tensor; the axes a constant
    int32 tensor in range, not empty; the output shape the reduction's, with or without
    keep_dims."""
    if len(op.inputs) != 2 or not all(op.inputs) or len(op.outputs) != 1:
        return [f"{op.describe()}: expected an input, an axis operand and one output"], None
    x, a, y = g.tensors[op.inputs[0]], g.tensors[op.inputs[1]], g.tensors[op.outputs[0]]
    problems = need_quantised(op, g, [op.inputs[0], op.outputs[0]], dtypes)
    problems += per_tensor(op, x) + per_tensor(op, y)
    if not a.is_const or a.dtype != "int32":
        return problems + [f"{op.describe()}: the axes must be a constant int32 tensor"], None
    rank = len(x.shape)
    raw = [int(v) for v in a.data.reshape(-1)]
    if any(not -rank <= v < rank for v in raw):
        return problems + [f"{op.describe()}: axes {raw} out of range for rank {rank}"], None
    if not raw:
        return problems + [f"{op.describe()}: an empty axis list (a copy) is not supported"], None
    axes = resolve_axes(raw, rank)
    keep = bool(op.options.get("keep_dims", False))
    want = [1 if k in axes else d for k, d in enumerate(x.shape)] if keep else \
        [d for k, d in enumerate(x.shape) if k not in axes]
    if list(y.shape) != want:
        problems.append(f"{op.describe()}: output shape {list(y.shape)} does not match the "
                        f"reduction {want}")
    return problems, axes
