"""The checks the data-movement operators share (slicing, splitting, packing, transposing, views).

They copy values without arithmetic, so any element type the kernel can move is supported:
int8, int16, int32 and float32 (one byte-copying kernel, see _strided.py). The reference copies
raw values without requantising (SLICE, STRIDED_SLICE, TRANSPOSE, SPLIT, SPLIT_V, SQUEEZE) or
refuses differing input and output quantisation (PACK, UNPACK, EXPAND_DIMS); tinycompress asks
them equal for every one of these ops, so the values mean the same on both sides.

Their shape, axis, begin, end, stride and size operands are constant integer tensors, read at
compile time (`const_ints`)."""

from __future__ import annotations

import numpy as np

from ..ir import Graph, Op, Quant
from .base import Kernel

DTYPES = ("int8", "int16", "int32", "float32")
MAX_RANK = 8  # the reference's TRANSPOSE limit; every op here accepts it


def _quant_text(q: Quant | None) -> str:
    if q is None:
        return "not quantised"
    if q.per_channel:
        return f"quantised per channel along axis {q.axis}"
    return f"quantised (scale {str(np.float32(q.s))}, zero point {q.zp})"


def check_moved(op: Op, g: Graph, sources: list[str], dests: list[str]) -> list[str]:
    """Every source and destination of one supported type, per tensor, within MAX_RANK, and
    quantised as each other."""
    problems: list[str] = []
    names = list(dict.fromkeys(sources + dests))
    for n in names:
        t = g.tensors[n]
        if t.dtype not in DTYPES:
            problems.append(f"{op.describe()}: tensor '{n}' is {t.dtype}; supported are "
                            f"{', '.join(DTYPES)}")
        if t.quant is not None and t.quant.per_channel:
            problems.append(f"{op.describe()}: tensor '{n}' is quantised per channel; per-tensor "
                            "expected")
        if len(t.shape) > MAX_RANK:
            problems.append(f"{op.describe()}: tensor '{n}' has rank {len(t.shape)}; at most "
                            f"{MAX_RANK} is supported")
    if problems:
        return problems
    first = g.tensors[sources[0]]
    for n in names[1:]:
        t = g.tensors[n]
        if t.dtype != first.dtype:
            problems.append(f"{op.describe()}: tensor '{n}' is {t.dtype}, '{first.name}' "
                            f"{first.dtype}; {op.kind} needs one element type")
        elif t.quant != first.quant:
            problems.append(f"{op.describe()}: '{first.name}' is {_quant_text(first.quant)}, "
                            f"'{n}' {_quant_text(t.quant)}; {op.kind} moves values without "
                            "requantising, so they must be quantised alike")
    return problems


def const_ints(op: Op, g: Graph, index: int, what: str, dtypes=("int32",),
               scalar: bool = False) -> tuple[list[int] | None, list[str]]:
    """(values, problems) of the constant integer operand `index` of `op` (`what` names it):
    a 1-D tensor, or with `scalar` one value (of shape [] or [1]). The operand must be present
    (check_io_count first)."""
    t = g.tensors[op.inputs[index]]
    if not t.is_const:
        return None, [f"{op.describe()}: the {what} operand '{t.name}' is computed at run time; "
                      "tinycompress needs it constant"]
    if t.dtype not in dtypes:
        return None, [f"{op.describe()}: the {what} operand '{t.name}' is {t.dtype}; "
                      f"{' or '.join(dtypes)} expected (as the reference)"]
    if (scalar and t.size != 1) or (not scalar and len(t.shape) != 1):
        want = "one value" if scalar else "a 1-D tensor"
        return None, [f"{op.describe()}: the {what} operand '{t.name}' has shape "
                      f"{list(t.shape)}; {want} expected"]
    return [int(v) for v in np.asarray(t.data).reshape(-1)], []


def check_io_count(op: Op, n_inputs: int | None, n_outputs: int | None) -> list[str]:
    """`op` has `n_inputs` inputs and `n_outputs` outputs (None: at least one), none absent."""
    ok_in = len(op.inputs) == n_inputs if n_inputs is not None else len(op.inputs) >= 1
    ok_out = len(op.outputs) == n_outputs if n_outputs is not None else len(op.outputs) >= 1
    if ok_in and ok_out and all(op.inputs):
        return []
    ins = f"{n_inputs} inputs" if n_inputs is not None else "inputs"
    outs = f"{n_outputs} outputs" if n_outputs is not None else "outputs"
    return [f"{op.describe()}: expected {ins} and {outs}, got {len(op.inputs)} and "
            f"{len(op.outputs)}"]


def check_shape(op: Op, g: Graph, name: str, want) -> list[str]:
    t = g.tensors[name]
    if tuple(t.shape) != tuple(want):
        return [f"{op.describe()}: output '{name}' has shape {list(t.shape)}; the reference "
                f"computes {list(want)}"]
    return []


def resolve_axis(axis: int, rank: int) -> int | None:
    """`axis` in [-rank, rank) made non-negative, or None when out of range."""
    return axis + rank if -rank <= axis < 0 else (axis if 0 <= axis < rank else None)


def check_view(op: Op, g: Graph, want_shape) -> list[str]:
    """The checks of a view (SQUEEZE, EXPAND_DIMS): a non-constant input, moved as check_moved
    asks, and the output shape the reference computes."""
    x = g.tensors[op.inputs[0]]
    problems = check_moved(op, g, [x.name], [op.outputs[0]])
    if x.is_const:
        problems.append(f"{op.describe()}: constant input '{x.name}' is not supported (a view "
                        "of a constant: fold it into the constant)")
    return problems + check_shape(op, g, op.outputs[0], want_shape)


def view_kernel(op: Op, g: Graph) -> Kernel:
    """A view's kernel: the planner aliases input and output, so it runs only when both are the
    caller's buffers, and copies."""
    return Kernel(
        template="kernels/copy.c.j2",
        params=dict(nbytes=g.tensors[op.inputs[0]].nbytes),
        act_inputs=[op.inputs[0]],
        act_outputs=[op.outputs[0]],
    )
