"""Copy strided boxes of elements between tensors, as the fewest nested loops.

What STRIDED_SLICE, SLICE, SPLIT, SPLIT_V, TRANSPOSE, PACK and UNPACK share: each moves its
values without arithmetic, and each output (or each input, for PACK) is one *box*: a count per
axis, and per axis how far one step moves in the source and in the destination (in elements,
possibly negative: a reversed slice), from a base offset in each.

`plan_box` turns a box into loops: axes of count 1 vanish, an axis merges into the one outside it
when both tensors walk the pair as one run (outer step = inner step * inner count, in each), and
an innermost axis contiguous in both becomes one memcpy of the whole run. A slice of rows is then
one memcpy, a channel split one loop of memcpys, a transpose a loop nest of element copies.

The kernel copies bytes, whatever the element type (int8, int16, int32, float32: equal-sized
elements move identically), through `unsigned char` pointers: no typed loads of arena bytes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..ir import Graph
from .base import ConstArray, Kernel

TEMPLATE = "kernels/strided_copy.c.j2"

# Integer C types of constant sources by element size (the kernel copies bytes: a float32
# constant is stored as its int32 bit pattern).
_RAW_TYPES = {1: (np.int8, "int8_t"), 2: (np.int16, "int16_t"), 4: (np.int32, "int32_t")}


@dataclass(frozen=True)
class Box:
    """`counts[k]` elements along axis k, each step `src_steps[k]` elements in the source tensor
    `src` and `dst_steps[k]` in the destination `dst`, from `src_base` and `dst_base`."""

    src: str
    dst: str
    counts: tuple[int, ...]
    src_steps: tuple[int, ...]
    dst_steps: tuple[int, ...]
    src_base: int = 0
    dst_base: int = 0


@dataclass(frozen=True)
class Loop:
    count: int
    src_step: int  # bytes
    dst_step: int  # bytes


@dataclass(frozen=True)
class BoxPlan:
    """Loops (outermost first) around one copy of `run` contiguous bytes."""

    loops: tuple[Loop, ...]
    run: int
    src_base: int  # bytes
    dst_base: int  # bytes


def strides(shape) -> tuple[int, ...]:
    """Row-major element strides of `shape`."""
    result, acc = [], 1
    for d in reversed(tuple(shape)):
        result.append(acc)
        acc *= int(d)
    return tuple(reversed(result))


def plan_box(box: Box, itemsize: int) -> BoxPlan:
    axes = [(int(c), int(s), int(d)) for c, s, d in zip(box.counts, box.src_steps, box.dst_steps)
            if c != 1]
    merged: list[tuple[int, int, int]] = []
    for count, s, d in axes:
        if merged:
            ocount, os, od = merged[-1]
            if os == s * count and od == d * count:
                merged[-1] = (ocount * count, s, d)
                continue
        merged.append((count, s, d))
    run = itemsize
    if merged and merged[-1][1] == 1 and merged[-1][2] == 1:
        run = merged.pop()[0] * itemsize
    loops = tuple(Loop(c, s * itemsize, d * itemsize) for c, s, d in merged)
    return BoxPlan(loops, run, box.src_base * itemsize, box.dst_base * itemsize)


def offset_expr(base: int, steps: list[int]) -> str:
    """The C byte offset `base + i0 * steps[0] + ...` (terms with a zero step left out)."""
    text = str(base) if base else ""
    for k, step in enumerate(steps):
        if step == 0:
            continue
        term = f"i{k}" if abs(step) == 1 else f"i{k} * {abs(step)}"
        if not text:
            text = term if step > 0 else f"-{term}"
        else:
            text += f" - {term}" if step < 0 else f" + {term}"
    return text or "0"


def box_kernel(g: Graph, inputs: list[str], outputs: list[str], boxes: list[Box]) -> Kernel:
    """The kernel performing `boxes`, reading `inputs` (activations by pointer, constants from
    flash) and writing `outputs`, every tensor of one element size."""
    itemsize = g.tensors[outputs[0]].itemsize
    consts, act_inputs, srcs = [], [], {}
    for k, name in enumerate(inputs):
        if name in srcs:
            continue
        t = g.tensors[name]
        if t.is_const:
            raw, ctype = _RAW_TYPES[itemsize]
            consts.append(ConstArray(f"in{k}", ctype,
                                     np.ascontiguousarray(t.data).reshape(-1).view(raw),
                                     f"constant input {k} {list(t.shape)} {t.dtype}"))
            srcs[name] = {"var": f"s{len(srcs)}", "const": f"in{k}", "arg": ""}
        else:
            srcs[name] = {"var": f"s{len(srcs)}", "const": "", "arg": f"in{len(act_inputs)}"}
            act_inputs.append(name)
    dsts = {name: {"var": f"d{k}", "arg": f"out{k}"} for k, name in enumerate(outputs)}
    copies = []
    for box in boxes:
        p = plan_box(box, itemsize)
        copies.append(dict(
            src=srcs[box.src]["var"], dst=dsts[box.dst]["var"], loops=p.loops, run=p.run,
            src_off=offset_expr(p.src_base, [lp.src_step for lp in p.loops]),
            dst_off=offset_expr(p.dst_base, [lp.dst_step for lp in p.loops])))
    depth = max((len(c["loops"]) for c in copies), default=0)
    return Kernel(
        template=TEMPLATE,
        params=dict(srcs=list(srcs.values()), dsts=list(dsts.values()), copies=copies,
                    counters=[f"i{k}" for k in range(depth)]),
        consts=consts,
        act_inputs=act_inputs,
        act_outputs=list(outputs),
    )
