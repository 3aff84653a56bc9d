"""Static memory planning: every activation gets an offset in the arena, by tensor lifetimes.

View ops (RESHAPE) share their input's storage instead of copying. Graph inputs and outputs live
in the caller's buffers. Variable (state) tensors persist between invocations, so they live in a
separate static state buffer, one slot each, never reused. The remaining buffers (activations
and per-op scratch) are placed greedily, largest first, at the lowest offset that does not
overlap any buffer whose lifetime intersects (the strategy of TFLM's GreedyMemoryPlanner, which
we reimplement).

The arena and the state buffer are each split into parts by element type (PARTS), and a buffer
is placed in the part of its C type (PART_OF_CTYPE): the generated C declares every part as an
array of that type, so each byte is only ever accessed as its declared type or as a character
type (int8_t, uint8_t), as C's aliasing rule (C99 6.5p7) demands of memory reused over time.
int8, uint8 and bool data shares the int32_t part with int32 data (a character-type access is
always allowed); int16 data has the int16_t part, uint16 scratch (the packed kernels' gather
lists) its own uint16_t part, so that the generated C never casts one part's pointer to another
multi-byte type. Offsets are in bytes from the start of the buffer's part."""

from __future__ import annotations

from dataclasses import dataclass, field

from .ir import Graph

ALIGN = 16
VIEW_OPS = ("RESHAPE", "SQUEEZE", "EXPAND_DIMS")


# (part, element C type, element bytes), in the order the generated struct lays them out.
PARTS = (("i64", "int64_t", 8), ("i32", "int32_t", 4), ("f32", "float", 4), ("i16", "int16_t", 2),
         ("u16", "uint16_t", 2))
PART_OF_CTYPE = {
    "int8_t": "i32", "uint8_t": "i32", "int32_t": "i32",
    "int16_t": "i16", "uint16_t": "u16", "float": "f32", "int64_t": "i64",
}
CHAR_CTYPES = ("int8_t", "uint8_t")


def part_of(ctype: str) -> str:
    """The arena part that holds data of C type `ctype`."""
    return PART_OF_CTYPE[ctype]


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


@dataclass
class Buffer:
    key: str  # the storage root's tensor name, or "scratch:<op index>"
    size: int
    first: int  # op index that writes it first (-1: before the first op)
    last: int  # op index that reads it last
    offset: int = -1
    part: str = "i32"  # the arena part (PARTS) it lives in


@dataclass
class Plan:
    # tensor name -> ("input", k) | ("output", k) | ("arena", offset) | ("state", offset), the
    # offsets in the part of the tensor's C type (part_of)
    storage: dict[str, tuple[str, int]]
    scratch: dict[int, int]  # op position -> offset of its scratch in scratch_part[pos]
    arena_bytes: int
    elided: set[int] = field(default_factory=set)  # op positions whose work is done by aliasing
    buffers: list[Buffer] = field(default_factory=list)
    state_bytes: int = 0
    scratch_part: dict[int, str] = field(default_factory=dict)
    arena_parts: dict[str, int] = field(default_factory=dict)  # part -> bytes (nonzero only)
    state_parts: dict[str, int] = field(default_factory=dict)


def plan_state(g: Graph) -> tuple[dict[str, tuple[str, int]], dict[str, int]]:
    """Offsets of the variable tensors in their parts of the state buffer, in order of first
    use, and the bytes of each part."""
    storage, parts = {}, {}
    for name in g.state_tensors():
        t = g.tensors[name]
        part = part_of(t.ctype)
        storage[name] = ("state", parts.get(part, 0))
        parts[part] = parts.get(part, 0) + _align(t.nbytes)
    return storage, _ordered(parts)


def _ordered(parts: dict[str, int]) -> dict[str, int]:
    return {p: parts[p] for p, _, _ in PARTS if parts.get(p)}


def _place(buffers: list[Buffer]) -> None:
    """Greedy placement within each part: largest first, at the lowest offset clear of every
    placed buffer of the part whose lifetime intersects."""
    placed: list[Buffer] = []
    for buf in sorted(buffers, key=lambda b: (-b.size, b.first, b.key)):
        conflicts = sorted(
            (p for p in placed
             if p.part == buf.part and p.first <= buf.last and buf.first <= p.last),
            key=lambda p: p.offset,
        )
        offset = 0
        for p in conflicts:
            if offset + buf.size <= p.offset:
                break
            offset = max(offset, p.offset + p.size)
        buf.offset = offset
        placed.append(buf)


def plan(g: Graph, scratch_bytes: dict[int, int] | None = None,
         scratch_ctypes: dict[int, str] | None = None) -> Plan:
    """The memory plan; `scratch_bytes` and `scratch_ctypes` (default int8_t) give each op's
    scratch."""
    scratch_bytes = scratch_bytes or {}
    scratch_ctypes = scratch_ctypes or {}
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
        Buffer(key=r, size=_align(sizes[r]), first=first[r],
               last=max(last.get(r, first[r]), first[r]), part=part_of(g.tensors[r].ctype))
        for r in first if r not in fixed
    ]
    for pos, nbytes in scratch_bytes.items():
        if nbytes > 0:
            buffers.append(Buffer(key=f"scratch:{pos}", size=_align(nbytes), first=pos, last=pos,
                                  part=part_of(scratch_ctypes.get(pos, "int8_t"))))
    _place(buffers)
    placed = sorted(buffers, key=lambda b: (-b.size, b.first, b.key))

    storage, state_parts = plan_state(g)
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
    scratch_part = {int(b.key.split(":")[1]): b.part for b in placed
                    if b.key.startswith("scratch:")}
    parts: dict[str, int] = {}
    for b in placed:
        parts[b.part] = max(parts.get(b.part, 0), b.offset + b.size)
    arena_parts = _ordered(parts)
    return Plan(storage=storage, scratch=scratch, arena_bytes=sum(arena_parts.values()),
                elided=elided, buffers=placed, state_bytes=sum(state_parts.values()),
                scratch_part=scratch_part, arena_parts=arena_parts, state_parts=state_parts)
