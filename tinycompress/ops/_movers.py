"""What the data-moving operators share (GATHER, TILE, MIRROR_PAD, SPACE_TO_DEPTH, DEPTH_TO_SPACE,
BATCH_TO_SPACE_ND, SPACE_TO_BATCH_ND, the RESIZE ops): the checks of their data and constant
parameter tensors, and copy nests.

A copy nest is a loop nest with its strides baked in that copies one strided box of the input to
one of the output: `kernels/copy_nest.c.j2` renders a list of them. `make_nest` drops the
dimensions of size 1 and merges neighbours that are contiguous in both tensors, so the innermost
loop becomes one memcpy of the longest run the layout allows."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..ir import Graph, Op, Tensor
from .base import Kernel

# Data types copied by element size (the reference moves them without arithmetic).
MOVER_DTYPES = ("int8", "int16", "int32")
QUANTISED = ("int8", "int16")


@dataclass(frozen=True)
class Loop:
    size: int
    in_stride: int  # in elements
    out_stride: int


@dataclass(frozen=True)
class Nest:
    loops: tuple[Loop, ...]
    chunk: int  # elements copied contiguously by each innermost iteration
    in_base: int
    out_base: int
    src: str = "in0"  # C expression of the source array


def make_nest(dims, in_base: int = 0, out_base: int = 0, src: str = "in0") -> Nest | None:
    """The nest of `dims`, (size, input stride, output stride) outermost first, or None when it
    copies nothing (a size is 0)."""
    if any(int(s) <= 0 for s, _, _ in dims):
        return None
    merged: list[tuple[int, int, int]] = []
    for s, i, o in ((int(s), int(i), int(o)) for s, i, o in dims if int(s) != 1):
        if merged and merged[-1][1] == s * i and merged[-1][2] == s * o:
            merged[-1] = (merged[-1][0] * s, i, o)
        else:
            merged.append((s, i, o))
    chunk = 1
    if merged and merged[-1][1] == 1 and merged[-1][2] == 1:
        chunk = merged.pop()[0]
    return Nest(tuple(Loop(*d) for d in merged), chunk, int(in_base), int(out_base), src)


def index_ctype(n: int) -> tuple[str, type]:
    """The smallest C type (and numpy type) of a table of indices in [0, n)."""
    if n <= 256:
        return "uint8_t", np.uint8
    if n <= 65536:
        return "uint16_t", np.uint16
    return "int32_t", np.int32


def strides(shape) -> list[int]:
    """Row-major element strides of a shape."""
    result = [1] * len(shape)
    for k in reversed(range(len(shape) - 1)):
        result[k] = result[k + 1] * int(shape[k + 1])
    return result


def nest_params(nests: list[Nest | None], t: Tensor, fill: int | None = None) -> dict:
    """The parameters of kernels/copy_nest.c.j2 for nests writing `t` (after a memset of every
    byte to `fill` unless None)."""
    kept = [n for n in nests if n is not None]
    return dict(nests=kept, depth=max((len(n.loops) for n in kept), default=0),
                ctype=t.ctype, esize=t.itemsize, fill=fill, out_bytes=t.nbytes)


def copy_nest_kernel(x: Tensor, y: Tensor, nests: list[Nest | None],
                     fill: int | None = None) -> Kernel:
    """The kernels/copy_nest.c.j2 kernel copying input `x` into output `y` with `nests`."""
    return Kernel(
        template="kernels/copy_nest.c.j2",
        params=nest_params(nests, y, fill),
        act_inputs=[x.name],
        act_outputs=[y.name],
    )


# --- checks ----------------------------------------------------------------------------------

def check_data(op: Op, g: Graph, names: list[str], dtypes=MOVER_DTYPES) -> list[str]:
    """The data tensors `names` (input first): one of `dtypes`, all the same, quantised per tensor
    where int8/int16."""
    problems = []
    first = g.tensors[names[0]]
    for n in names:
        t = g.tensors[n]
        if t.dtype not in dtypes:
            problems.append(f"{op.describe()}: tensor '{n}' is {t.dtype}; supported: "
                            f"{', '.join(dtypes)}")
        elif t.dtype != first.dtype:
            problems.append(f"{op.describe()}: tensor '{n}' is {t.dtype}, the input "
                            f"'{first.name}' {first.dtype}; they must be equal")
        elif t.dtype in QUANTISED and t.quant is None:
            problems.append(f"{op.describe()}: tensor '{n}' has no quantisation parameters")
        elif t.quant is not None and t.quant.per_channel:
            problems.append(f"{op.describe()}: tensor '{n}' is quantised per channel; "
                            "per-tensor expected")
    return problems


def check_mover(op: Op, g: Graph, inputs: int, dtypes=MOVER_DTYPES
                ) -> tuple[list[str], Tensor | None, Tensor | None]:
    """(problems, data input, output) of an op with `inputs` inputs and one output whose first
    input is the data: check_arity, then check_data of input and output and
    check_activation_input. The tensors are None when the arity is wrong."""
    problems = check_arity(op, inputs)
    if problems:
        return problems, None, None
    x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
    return check_data(op, g, [x.name, y.name], dtypes) + check_activation_input(op, x), x, y


def check_rank_up_to(op: Op, t: Tensor, max_rank: int) -> list[str]:
    if not 1 <= len(t.shape) <= max_rank:
        return [f"{op.describe()}: input '{t.name}' has rank {len(t.shape)}; supported: 1 to "
                f"{max_rank}"]
    return []


def check_same_quant(op: Op, x: Tensor, y: Tensor) -> list[str]:
    """The reference's Prepare refusal of an output quantised unlike the input."""
    qx, qy = x.quant, y.quant
    if qx is None or qy is None or qx.per_channel or qy.per_channel:
        return []
    if qx.s != qy.s or qx.zp != qy.zp:
        return [f"{op.describe()}: input '{x.name}' is quantised (scale {qx.s}, zero point "
                f"{qx.zp}), output '{y.name}' (scale {qy.s}, zero point {qy.zp}); they must be "
                "equal (as the reference requires)"]
    return []


def check_activation_input(op: Op, t: Tensor) -> list[str]:
    """A data input computed at run time (a constant one is folded by the converter)."""
    if t.is_const:
        return [f"{op.describe()}: input '{t.name}' is a constant; only inputs computed at run "
                "time are supported (fold the constant operation when converting)"]
    return []


def check_const_ints(op: Op, g: Graph, index: int, what: str, shape: tuple) -> list[str]:
    """Input `index` (`what`, e.g. "multiples"; check_arity has made sure it exists): a constant
    int32/int64 tensor of `shape`."""
    t = g.tensors[op.inputs[index]]
    if not t.is_const:
        return [f"{op.describe()}: the {what} operand '{t.name}' is computed at run time; only a "
                "constant one is supported (tinycompress compiles static shapes)"]
    if t.dtype not in ("int32", "int64"):
        return [f"{op.describe()}: the {what} operand '{t.name}' is {t.dtype}; int32 or int64 "
                "expected"]
    if tuple(t.shape) != tuple(shape):
        return [f"{op.describe()}: the {what} operand '{t.name}' has shape {list(t.shape)}, "
                f"expected {list(shape)}"]
    return []


def const_ints(op: Op, g: Graph, index: int) -> list[int]:
    return [int(v) for v in np.asarray(g.tensors[op.inputs[index]].data).reshape(-1)]


def check_arity(op: Op, inputs: int, outputs: int = 1) -> list[str]:
    if len(op.inputs) != inputs or not all(op.inputs) or len(op.outputs) != outputs:
        return [f"{op.describe()}: expected {inputs} inputs and {outputs} output(s), got "
                f"{len(op.inputs)} and {len(op.outputs)}"]
    return []


def check_shape(op: Op, y: Tensor, want) -> list[str]:
    want = [int(d) for d in want]
    if list(y.shape) != want:
        return [f"{op.describe()}: output '{y.name}' has shape {list(y.shape)}, expected {want}"]
    return []


def check_rank(op: Op, t: Tensor, ranks) -> list[str]:
    if len(t.shape) not in ranks:
        return [f"{op.describe()}: tensor '{t.name}' has rank {len(t.shape)}; supported: "
                f"{', '.join(map(str, ranks))}"]
    return []
