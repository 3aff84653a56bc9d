"""GATHER (gather.cc, reference_ops::Gather), int8, int16 and int32 params, int32/int64 indices,
any axis, batch_dims 0.

output[o, i..., r] = params[o, indices[i...], r], o over the dimensions before the axis and r over
those after it. The reference copies elements and does not compare the quantisation of params
and output; neither does this kernel. Either operand may be constant: constant params (an
embedding table) are stored in flash and indexed by activation indices, activation params are
gathered by constant indices (a fixed selection or permutation), or both are activations (both
constant is refused: the converter folds that).

Out-of-range indices: the reference fails the invocation ("gather index out of bounds") for an
index outside [0, N) of the gathered dimension. Constant indices are checked here at compile time
and refused. Indices computed at run time are clamped to [0, N - 1] by the C, which cannot fail a
layer: it never reads outside the params, and in-range indices match the reference exactly.

The C: constant indices become runs of consecutive indices, each one memcpy of run x inner
elements per outer index (kernels/copy_nest.c.j2) when there are few runs; otherwise, and for
activation indices, one loop over the indices (kernels/gather.c.j2), the constant ones stored as
the smallest unsigned type that holds them."""

from __future__ import annotations

import numpy as np

from ..ir import Graph, Op, Tensor
from ._movers import check_arity, check_data, check_shape, index_ctype, make_nest, nest_params
from .base import ConstArray, Context, Kernel, Lowering, register

MAX_RUNS = 8  # constant-index runs unrolled as memcpys; more loop over a table
INDEX_DTYPES = ("int32", "int64")


def _axis(op: Op, rank: int) -> int:
    axis = int(op.options.get("axis", 0))
    return axis + rank if axis < 0 else axis


def index_runs(indices) -> list[tuple[int, int, int]]:
    """(source index, length, destination position) of the runs of consecutive indices."""
    runs: list[list[int]] = []
    for pos, k in enumerate(int(v) for v in indices):
        if runs and runs[-1][0] + runs[-1][1] == k:
            runs[-1][1] += 1
        else:
            runs.append([k, 1, pos])
    return [tuple(r) for r in runs]


@register
class Gather(Lowering):
    kind = "GATHER"

    def check(self, op: Op, g: Graph) -> list[str]:
        problems = check_arity(op, 2)
        if problems:
            return problems
        p, idx, y = (g.tensors[n] for n in (op.inputs[0], op.inputs[1], op.outputs[0]))
        problems = check_data(op, g, [p.name, y.name])
        if idx.dtype not in INDEX_DTYPES:
            problems.append(f"{op.describe()}: indices '{idx.name}' are {idx.dtype}; supported: "
                            f"{', '.join(INDEX_DTYPES)}")
        if p.is_const and idx.is_const:
            problems.append(f"{op.describe()}: params '{p.name}' and indices '{idx.name}' are both "
                            "constant; fold the operation when converting")
        if int(op.options.get("batch_dims", 0) or 0) != 0:
            problems.append(f"{op.describe()}: batch_dims {op.options.get('batch_dims')} is not "
                            "supported (0 only)")
        rank = len(p.shape)
        axis = _axis(op, rank)
        if not 0 <= axis < rank:
            return problems + [f"{op.describe()}: axis {op.options.get('axis')} is out of range "
                               f"for params '{p.name}' of rank {rank}"]
        if problems:
            return problems
        n = p.shape[axis]
        if idx.is_const:
            bad = [int(v) for v in idx.data.reshape(-1) if not 0 <= int(v) < n]
            if bad:
                problems.append(f"{op.describe()}: constant indices '{idx.name}' hold {bad[:4]}, "
                                f"outside [0, {n}) of axis {axis}; the reference fails the "
                                "invocation on them")
        want = list(p.shape[:axis]) + list(idx.shape) + list(p.shape[axis + 1:])
        return problems + check_shape(op, y, want)

    def lower(self, op: Op, g: Graph, ctx: Context) -> Kernel:
        p, idx, y = (g.tensors[n] for n in (op.inputs[0], op.inputs[1], op.outputs[0]))
        axis = _axis(op, len(p.shape))
        outer = int(np.prod(p.shape[:axis], dtype=np.int64))
        inner = int(np.prod(p.shape[axis + 1:], dtype=np.int64))
        if idx.is_const:
            return gather_rows(p, y, outer, p.shape[axis], inner, idx.data.reshape(-1), None)
        return gather_rows(p, y, outer, p.shape[axis], inner, None, idx)


def gather_rows(p: Tensor, y: Tensor, outer: int, n: int, inner: int,
                const_indices: np.ndarray | None, run_time_indices: Tensor | None) -> Kernel:
    """The kernel copying rows of `inner` elements of params `p`, seen as [outer, n, inner],
    to `y` by indices into n: constant ones (in range) or a run-time tensor's (clamped)."""
    consts, act = [], []
    if p.is_const:
        consts.append(ConstArray("params", p.ctype, p.data.reshape(-1), f"params {list(p.shape)}"))
        src = "params"
    else:
        act.append(p.name)
        src = "in0"
    if const_indices is not None and len(index_runs(const_indices)) <= MAX_RUNS:
        count = len(const_indices)
        nests = [make_nest([(outer, n * inner, count * inner), (length * inner, 1, 1)],
                           start * inner, dst * inner, src)
                 for start, length, dst in index_runs(const_indices)]
        return Kernel(template="kernels/copy_nest.c.j2", params=nest_params(nests, y),
                      consts=consts, act_inputs=act, act_outputs=[y.name])
    if const_indices is not None:
        ctype, dtype = index_ctype(n)
        consts.append(ConstArray("indices", ctype, const_indices.astype(dtype),
                                 f"indices [{len(const_indices)}]"))
        index, index_ctype_, count = "indices", ctype, len(const_indices)
    else:
        index, index_ctype_, count = f"in{len(act)}", run_time_indices.ctype, run_time_indices.size
        act.append(run_time_indices.name)
    return Kernel(
        template="kernels/gather.c.j2",
        params=dict(src=src, index=index, clamp=const_indices is None, index_ctype=index_ctype_,
                    outer=outer, n=n, count=count, inner=inner, esize=y.itemsize),
        consts=consts,
        act_inputs=act,
        act_outputs=[y.name],
    )
