"""Layer fusion for memory: which residual blocks run a row at a time (ops/residual_rows.py).

After lowering, each fusable block (CONV_2D -> CONV_2D -> ADD with the block's input) is fused
when the memory plan with it fused is strictly smaller than without, one block at a time in op
order; the fused block runs the layers' own kernels row by row, a few more instructions (a
window of rows moved once a row, two border windows copied), so `--optimize speed` fuses
nothing."""

from __future__ import annotations

from .ir import Graph
from .ops import Context, Kernel
from .ops.base import memory_needs
from .ops.residual_rows import blocks, fuse, fused_kernel
from .planner import plan


def arena_bytes(g: Graph, kernels: dict[int, Kernel]) -> int:
    """The planned arena of the graph's ops lowered to `kernels` (by position)."""
    return plan(g, *memory_needs(kernels)).arena_bytes


def fuse_for_memory(g: Graph, kernels: dict[int, Kernel],
                    ctx: Context) -> tuple[Graph, dict[int, Kernel]]:
    """The graph with every block fused whose fusion lowers the arena, and the kernels by the
    ops' new positions."""
    if ctx.optimize == "speed":
        return g, kernels
    best = arena_bytes(g, kernels)
    tried: set[int] = set()  # the source-model index of each block's conv1 already tried
    while True:
        todo = [b for b in blocks(g) if g.ops[b.conv1].index not in tried]
        if not todo:
            return g, kernels
        b = todo[0]
        tried.add(g.ops[b.conv1].index)
        k = fused_kernel(g, b, kernels, ctx)
        if k is None:
            continue
        by_op = {id(g.ops[pos]): kern for pos, kern in kernels.items()}
        fused = fuse(g, b)
        new = {pos: by_op.get(id(op), k) for pos, op in enumerate(fused.ops)}
        size = arena_bytes(fused, new)
        if size < best:
            g, kernels, best = fused, new, size
