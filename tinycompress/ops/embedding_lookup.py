"""EMBEDDING_LOOKUP (embedding_lookup.cc EvalSimple), int8, int16 and int32 values.

Inputs: the lookup ids (1-D int32) and the value table (rank >= 2); output[i, ...] =
value[ids[i], ...], rows copied byte for byte without reading the quantisation (the hybrid case,
int8 values to a float32 output, is refused: float). It is GATHER along axis 0 with the operands
swapped, and lowers exactly as that (tinycompress/ops/gather.py): a constant table in flash
indexed by run-time ids (the usual case), which the C clamps to [0, rows - 1] where the reference
fails the invocation ("Embedding Lookup: index out of bounds"); or constant ids selecting rows of
a run-time table, checked at compile time."""

from __future__ import annotations

from ..ir import Graph, Op
from ._movers import check_arity, check_data, check_shape
from .base import Context, Kernel, Lowering, register
from .gather import Gather


def as_gather(op: Op) -> Op:
    """The GATHER (axis 0) this lookup computes: params first, then indices."""
    return Op("GATHER", [op.inputs[1], op.inputs[0]], list(op.outputs),
              {"axis": 0, "batch_dims": 0}, op.name, op.index)


@register
class EmbeddingLookup(Lowering):
    kind = "EMBEDDING_LOOKUP"

    def check(self, op: Op, g: Graph) -> list[str]:
        problems = check_arity(op, 2)
        if problems:
            return problems
        ids, value, y = (g.tensors[n] for n in (op.inputs[0], op.inputs[1], op.outputs[0]))
        problems = check_data(op, g, [value.name, y.name])
        if ids.dtype != "int32" or len(ids.shape) != 1:
            problems.append(f"{op.describe()}: lookup ids '{ids.name}' are {ids.dtype} of shape "
                            f"{list(ids.shape)}; a 1-D int32 tensor expected")
        if len(value.shape) < 2:
            problems.append(f"{op.describe()}: value '{value.name}' has rank {len(value.shape)}; "
                            "at least 2 expected")
        if ids.is_const and value.is_const:
            problems.append(f"{op.describe()}: ids '{ids.name}' and value '{value.name}' are both "
                            "constant; fold the operation when converting")
        if problems:
            return problems
        rows = value.shape[0]
        if ids.is_const:
            bad = [int(v) for v in ids.data.reshape(-1) if not 0 <= int(v) < rows]
            if bad:
                problems.append(f"{op.describe()}: constant ids '{ids.name}' hold {bad[:4]}, "
                                f"outside [0, {rows}); the reference fails the invocation on them")
        return problems + check_shape(op, y, [ids.shape[0], *value.shape[1:]])

    def lower(self, op: Op, g: Graph, ctx: Context) -> Kernel:
        return Gather().lower(as_gather(op), g, ctx)
