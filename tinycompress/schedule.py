"""Operator order for memory: on a branching graph (a residual block, two heads) the model's op
order may keep a large tensor of one branch live while the other branch runs. `greedy_order`
lists the ops by greedy scheduling of the live bytes: of the ops whose inputs are ready, the one
that adds the fewest bytes (its outputs, less the inputs it is the last to read), ties by the
model's order. `best_order` keeps the model's order unless the memory plan of the greedy one is
strictly smaller. Ops keep their identity (`Op.index`, the position in the source model, which
the manifest's layers record), only their order changes. A graph with variable (state) tensors
keeps its order: ops updating one state must not pass each other."""

from __future__ import annotations

import dataclasses

from .ir import Graph
from .planner import VIEW_OPS, Alias, plan


def _reads(g: Graph, names: list[str]) -> list[str]:
    return [t for t in names if t and not g.tensors[t].is_const]


def greedy_order(g: Graph) -> list[int]:
    """The op positions in greedy live-bytes order (see the module docstring)."""
    fixed = set(g.inputs) | set(g.outputs)
    produced = {t for op in g.ops for t in op.outputs}
    ready_tensors = {t for t in g.tensors if t not in produced}
    readers: dict[str, int] = {}
    for op in g.ops:
        for t in _reads(g, op.inputs):
            readers[t] = readers.get(t, 0) + 1
    order: list[int] = []
    left = set(range(len(g.ops)))

    def added(pos: int) -> int:
        op = g.ops[pos]
        if op.kind in VIEW_OPS:
            return 0  # (shares its input's storage)
        reads = _reads(g, op.inputs)
        freed = sum(g.tensors[t].nbytes for t in set(reads)
                    if t not in fixed and readers[t] == reads.count(t))
        return sum(g.tensors[t].nbytes for t in op.outputs if t and t not in fixed) - freed

    while left:
        ready = [p for p in left if all(t in ready_tensors for t in _reads(g, g.ops[p].inputs))]
        pos = min(ready, key=lambda p: (added(p), p))
        order.append(pos)
        left.discard(pos)
        for t in _reads(g, g.ops[pos].inputs):
            readers[t] -= 1
        ready_tensors.update(t for t in g.ops[pos].outputs if t)
    return order


def reordered(g: Graph, order: list[int]) -> Graph:
    """`g` with its ops in `order` (op positions)."""
    return dataclasses.replace(g, ops=[g.ops[p] for p in order])


def best_order(g: Graph, scratch_bytes: dict[int, int], scratch_ctypes: dict[int, str],
               aliases: dict[int, tuple[Alias, ...]]) -> list[int]:
    """The op order to plan and emit (op positions): the model's, unless greedy_order's plans
    a strictly smaller arena (each op's scratch and aliases follow it)."""
    model = list(range(len(g.ops)))
    if g.state_tensors():
        return model
    order = greedy_order(g)
    if order == model:
        return model

    def moved(d: dict) -> dict:
        return {new: d[old] for new, old in enumerate(order) if old in d}

    ours = plan(g, scratch_bytes, scratch_ctypes, aliases).arena_bytes
    theirs = plan(reordered(g, order), moved(scratch_bytes), moved(scratch_ctypes),
                  moved(aliases)).arena_bytes
    return order if theirs < ours else model
