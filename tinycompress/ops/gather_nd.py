"""GATHER_ND (gather_nd.cc, reference_ops::GatherNd), int8, int16 and int32 params, int16, int32
or int64 indices.

With indices of shape [..., d], each index vector picks the slice params[i0, ..., i(d-1)] of
shape params.shape[d:]; the output has shape indices.shape[:-1] + params.shape[d:]. Seen as a
GATHER: params as [n, slice] (n the product of its first d dimensions), each vector one flat row
number sum_k i_k * prod(params.shape[k+1:d]). The reference copies elements without reading the
quantisation, and fails the invocation on an index outside its dimension.

Constant indices are checked at compile time and become flat row numbers, lowered as GATHER's
(tinycompress/ops/gather.py: runs of rows as memcpys, or a table). Indices computed at run time
(kernels/gather_nd.c.j2) are clamped per component to [0, dim - 1], so the C never reads outside
the params; in-range indices match the reference exactly. Both operands constant is refused (the
converter folds that)."""

from __future__ import annotations

import numpy as np

from ..ir import Graph, Op
from ._movers import check_arity, check_data, check_shape
from .base import ConstArray, Context, Kernel, Lowering, register
from .gather import gather_rows

INDEX_DTYPES = ("int16", "int32", "int64")


def flat_rows(indices: np.ndarray, dims) -> np.ndarray:
    """Row numbers into params seen as [prod(dims), slice] of index vectors (last axis)."""
    vectors = indices.reshape(-1, len(dims)).astype(np.int64)
    return np.ravel_multi_index(tuple(vectors.T), tuple(int(d) for d in dims)).astype(np.int64)


@register
class GatherNd(Lowering):
    kind = "GATHER_ND"

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
        if problems:
            return problems
        depth = idx.shape[-1] if idx.shape else 0
        if len(idx.shape) < 1 or not 1 <= depth <= len(p.shape):
            return [f"{op.describe()}: indices '{idx.name}' of shape {list(idx.shape)} index "
                    f"{depth} dimensions of params of rank {len(p.shape)}; 1 to {len(p.shape)} "
                    "expected"]
        if idx.is_const:
            vectors = idx.data.reshape(-1, depth)
            bad = [list(map(int, v)) for v in vectors
                   if any(not 0 <= int(c) < int(d) for c, d in zip(v, p.shape))]
            if bad:
                return [f"{op.describe()}: constant indices '{idx.name}' hold {bad[:3]}, outside "
                        f"params {list(p.shape[:depth])}; the reference fails the invocation "
                        "on them"]
        return check_shape(op, y, list(idx.shape[:-1]) + list(p.shape[depth:]))

    def lower(self, op: Op, g: Graph, ctx: Context) -> Kernel:
        p, idx, y = (g.tensors[n] for n in (op.inputs[0], op.inputs[1], op.outputs[0]))
        depth = idx.shape[-1]
        dims = [int(d) for d in p.shape[:depth]]
        n = int(np.prod(dims, dtype=np.int64))
        inner = int(np.prod(p.shape[depth:], dtype=np.int64))
        if idx.is_const:
            return gather_rows(p, y, 1, n, inner, flat_rows(idx.data, dims), None)
        consts, act = [], []
        if p.is_const:
            consts.append(ConstArray("params", p.ctype, p.data.reshape(-1),
                                     f"params {list(p.shape)}"))
        else:
            act.append(p.name)
        act.append(idx.name)
        return Kernel(
            template="kernels/gather_nd.c.j2",
            params=dict(src="params" if p.is_const else "in0", index=f"in{len(act) - 1}",
                        index_ctype=idx.ctype, index_max=int(np.iinfo(idx.dtype).max), dims=dims, count=idx.size // depth,
                        inner=inner, esize=y.itemsize),
            consts=consts,
            act_inputs=act,
            act_outputs=[y.name],
        )
