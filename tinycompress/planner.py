"""Static memory planning: every activation gets an offset in one arena, by tensor lifetimes.

View ops (RESHAPE) share their input's storage instead of copying. Graph inputs and outputs live
in the caller's buffers. Variable (state) tensors persist between invocations, so they live in a
separate static state buffer, one slot each, never reused. The remaining buffers (activations and per-op scratch) are placed greedily,
largest first, at the lowest offset that does not overlap any buffer whose lifetime intersects
(the strategy of TFLM's GreedyMemoryPlanner, which we reimplement)."""

from __future__ import annotations

from dataclasses import dataclass, field

from .ir import Graph

ALIGN = 16
VIEW_OPS = ("RESHAPE", "SQUEEZE", "EXPAND_DIMS")


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


@dataclass
class Buffer:
    key: str  # the storage root's tensor name, or "scratch:<op index>"
    size: int
    first: int  # op index that writes it first (-1: before the first op)
    last: int  # op index that reads it last
    offset: int = -1


@dataclass
class Plan:
    # tensor name -> ("input", k) | ("output", k) | ("arena", offset) | ("state", offset)
    storage: dict[str, tuple[str, int]]
    scratch: dict[int, int]  # op position -> arena offset of its scratch
    arena_bytes: int
    elided: set[int] = field(default_factory=set)  # op positions whose work is done by aliasing
    buffers: list[Buffer] = field(default_factory=list)
    state_bytes: int = 0


def plan_state(g: Graph) -> tuple[dict[str, tuple[str, int]], int]:
    """Offsets of the variable tensors in the state buffer, in order of first use."""
    storage, offset = {}, 0
    for name in g.state_tensors():
        storage[name] = ("state", offset)
        offset += _align(g.tensors[name].nbytes)
    return storage, offset


def plan(g: Graph, scratch_bytes: dict[int, int] | None = None) -> Plan:
    scratch_bytes = scratch_bytes or {}
    parent: dict[str, str] = {}

    def root(t: str) -> str:
        while parent.get(t, t) != t:
            t = parent[t]
        return t

    fixed = {t: ("input", k) for k, t in enumerate(g.inputs)}
    for k, t in enumerate(g.outputs):
        if t not in fixed:
            fixed[t] = ("output", k)

    elided: set[int] = set()
    for pos, op in enumerate(g.ops):
        if op.kind not in VIEW_OPS:
            continue
        src, dst = root(op.inputs[0]), op.outputs[0]
        if g.tensors[op.inputs[0]].nbytes != g.tensors[dst].nbytes:
            continue
        if src in fixed and dst in fixed:
            continue  # two caller buffers: the op copies
        if dst in fixed:
            parent[src] = dst  # the producer writes straight into the caller's buffer
        else:
            parent[dst] = src
        elided.add(pos)

    # Lifetimes of the arena-resident storage roots.
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    sizes: dict[str, int] = {}
    for pos, op in enumerate(g.ops):
        for t in op.outputs:
            r = root(t)
            first.setdefault(r, pos)
            sizes[r] = max(sizes.get(r, 0), g.tensors[t].nbytes)
        for t in op.inputs:
            if t and not g.tensors[t].is_const and not g.tensors[t].variable:
                last[root(t)] = pos
    buffers = [
        Buffer(key=r, size=_align(sizes[r]), first=first[r], last=max(last.get(r, first[r]), first[r]))
        for r in first if r not in fixed
    ]
    for pos, nbytes in scratch_bytes.items():
        if nbytes > 0:
            buffers.append(Buffer(key=f"scratch:{pos}", size=_align(nbytes), first=pos, last=pos))

    placed: list[Buffer] = []
    for buf in sorted(buffers, key=lambda b: (-b.size, b.first, b.key)):
        conflicts = sorted(
            (p for p in placed if p.first <= buf.last and buf.first <= p.last),
            key=lambda p: p.offset,
        )
        offset = 0
        for p in conflicts:
            if offset + buf.size <= p.offset:
                break
            offset = max(offset, p.offset + p.size)
        buf.offset = offset
        placed.append(buf)

    storage, state_bytes = plan_state(g)
    offsets = {b.key: b.offset for b in placed}
    for name, t in g.tensors.items():
        if t.is_const or t.variable or t.intermediate:
            continue
        r = root(name)
        if r in fixed:
            storage[name] = fixed[r]
        elif r in offsets:
            storage[name] = ("arena", offsets[r])
    scratch = {int(b.key.split(":")[1]): b.offset for b in placed if b.key.startswith("scratch:")}
    arena = max((b.offset + b.size for b in placed), default=0)
    return Plan(storage=storage, scratch=scratch, arena_bytes=arena, elided=elided, buffers=placed,
                state_bytes=state_bytes)
