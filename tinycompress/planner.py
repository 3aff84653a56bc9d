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


def _align4(n: int) -> int:
    return (n + 3) // 4 * 4


@dataclass(frozen=True)
class Alias:
    """A kernel's promise (the kernel ABI, ops/base.py Kernel.inplace): its output `out` may be
    written over its activation input `inp` (indices into the op's activation outputs and
    inputs), given `extra_scratch` more bytes of int8 scratch after the kernel's own (where a
    windowed kernel keeps the output rows it cannot write back yet). The planner takes it when
    the input dies at the op: no later op reads its storage, it is not a caller's buffer or a
    state tensor, and both are of one arena part."""

    out: int = 0
    inp: int = 0
    extra_scratch: int = 0


@dataclass
class Buffer:
    """A range of one arena part: a tensor's storage (`tensor`: the storage root, `shares`: the
    other tensors that live in it, views and in-place outputs) or an op's scratch (`op`: its
    position in the graph's ops)."""

    kind: str  # "tensor" | "scratch"
    size: int
    first: int  # op index that writes it first (-1: before the first op)
    last: int  # op index that reads it last
    offset: int = -1
    part: str = "i32"  # the arena part (PARTS) it lives in
    tensor: str = ""
    op: int = -1
    shares: tuple[str, ...] = ()

    @property
    def order(self) -> tuple:
        """The greedy placement's order: largest first, then earliest, then by identity."""
        return (-self.size, self.first, self.tensor or f"scratch:{self.op}")


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
    inplace: dict[int, Alias] = field(default_factory=dict)  # op position -> the alias taken
    scratch_bytes: dict[int, int] = field(default_factory=dict)  # op position -> bytes (+extra)


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
    for buf in sorted(buffers, key=lambda b: b.order):
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


class _Roots:
    """Union of tensors into storage roots: a view's output, or an in-place output, joins its
    input's root."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def __call__(self, t: str) -> str:
        while self.parent.get(t, t) != t:
            t = self.parent[t]
        return t


def _fixed(g: Graph) -> dict[str, tuple[str, int]]:
    fixed = {t: ("input", k) for k, t in enumerate(g.inputs)}
    for k, t in enumerate(g.outputs):
        if t not in fixed:
            fixed[t] = ("output", k)
    return fixed


def _views(g: Graph, root: _Roots, fixed: dict) -> set[int]:
    """Join every view op's output to its input (or, when only the output is a caller's
    buffer, the input to it); the positions of the ops elided so."""
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
            root.parent[src] = dst  # the producer writes straight into the caller's buffer
        else:
            root.parent[dst] = src
        elided.add(pos)
    return elided


def _activations(g: Graph, names: list[str]) -> list[str]:
    return [t for t in names if t and not g.tensors[t].is_const and not g.tensors[t].variable]


def _inplace(g: Graph, root: _Roots, fixed: dict, elided: set[int],
             aliases: dict[int, tuple[Alias, ...]]) -> dict[int, Alias]:
    """Take each op's first alias whose input dies at the op (in op order, so a chain of
    in-place ops shares one buffer): the output joins the input's root."""
    last: dict[str, int] = {}  # storage root -> the last op reading any of its tensors
    for pos, op in enumerate(g.ops):
        for t in _activations(g, op.inputs):
            last[root(t)] = pos
    taken: dict[int, Alias] = {}
    for pos, offers in sorted(aliases.items()):
        op = g.ops[pos]
        ins, outs = _activations(g, op.inputs), [t for t in op.outputs if t]
        for a in offers:
            src, dst = root(ins[a.inp]), outs[a.out]
            if (pos in elided or src in fixed or dst in fixed or root(dst) != dst
                    or g.tensors[src].variable or g.tensors[src].intermediate
                    or part_of(g.tensors[src].ctype) != part_of(g.tensors[dst].ctype)
                    or last.get(src, -1) > pos
                    or sum(root(t) == src for t in ins) > 1):
                continue
            root.parent[dst] = src
            last[src] = max(last.get(src, -1), last.get(dst, -1))
            taken[pos] = a
            break
    return taken


def _tensor_buffers(g: Graph, root: _Roots, fixed: dict) -> list[Buffer]:
    """One buffer per arena-resident storage root, over the lifetime of all its tensors."""
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    sizes: dict[str, int] = {}
    shares: dict[str, list[str]] = {}
    for pos, op in enumerate(g.ops):
        for t in op.outputs:
            r = root(t)
            first.setdefault(r, pos)
            sizes[r] = max(sizes.get(r, 0), g.tensors[t].nbytes)
            if t != r and t not in shares.setdefault(r, []):
                shares[r].append(t)
        for t in _activations(g, op.inputs):
            last[root(t)] = pos
    return [Buffer(kind="tensor", tensor=r, size=_align(sizes[r]), first=first[r],
                   last=max(last.get(r, first[r]), first[r]), part=part_of(g.tensors[r].ctype),
                   shares=tuple(shares.get(r, ())))
            for r in first if r not in fixed]


def plan(g: Graph, scratch_bytes: dict[int, int] | None = None,
         scratch_ctypes: dict[int, str] | None = None,
         aliases: dict[int, tuple[Alias, ...]] | None = None) -> Plan:
    """The memory plan; `scratch_bytes` and `scratch_ctypes` (default int8_t) give each op's
    scratch, `aliases` the outputs each op's kernel may write over an input (Alias). An alias
    that costs its kernel work (extra scratch: rows or pixels copied back through a ring) is
    kept only where it lowers the arena: each, in op order, is dropped when the plan without it
    is no larger."""
    aliases = dict(aliases or {})
    best = _plan(g, scratch_bytes, scratch_ctypes, aliases)
    for pos in sorted(best.inplace):
        if not best.inplace[pos].extra_scratch:
            continue
        trial = {k: v for k, v in aliases.items() if k != pos}
        without = _plan(g, scratch_bytes, scratch_ctypes, trial)
        if without.arena_bytes <= best.arena_bytes:
            aliases, best = trial, without
    return best


def _plan(g: Graph, scratch_bytes: dict[int, int] | None,
          scratch_ctypes: dict[int, str] | None,
          aliases: dict[int, tuple[Alias, ...]]) -> Plan:
    scratch_bytes = dict(scratch_bytes or {})
    scratch_ctypes = scratch_ctypes or {}
    root, fixed = _Roots(), _fixed(g)
    elided = _views(g, root, fixed)
    taken = _inplace(g, root, fixed, elided, aliases)
    for pos, a in taken.items():
        if a.extra_scratch:
            scratch_bytes[pos] = _align4(scratch_bytes.get(pos, 0)) + a.extra_scratch
    buffers = _tensor_buffers(g, root, fixed)
    for pos, nbytes in sorted(scratch_bytes.items()):
        if nbytes > 0:
            buffers.append(Buffer(kind="scratch", op=pos, size=_align(nbytes), first=pos,
                                  last=pos, part=part_of(scratch_ctypes.get(pos, "int8_t"))))
    _place(buffers)
    placed = sorted(buffers, key=lambda b: b.order)

    storage, state_parts = plan_state(g)
    offsets = {b.tensor: b.offset for b in placed if b.kind == "tensor"}
    for name, t in g.tensors.items():
        if t.is_const or t.variable or t.intermediate:
            continue
        r = root(name)
        if r in fixed:
            storage[name] = fixed[r]
        elif r in offsets:
            storage[name] = ("arena", offsets[r])
    scratch = {b.op: b.offset for b in placed if b.kind == "scratch"}
    scratch_part = {b.op: b.part for b in placed if b.kind == "scratch"}
    parts: dict[str, int] = {}
    for b in placed:
        parts[b.part] = max(parts.get(b.part, 0), b.offset + b.size)
    arena_parts = _ordered(parts)
    return Plan(storage=storage, scratch=scratch, arena_bytes=sum(arena_parts.values()),
                elided=elided, buffers=placed, state_bytes=sum(state_parts.values()),
                scratch_part=scratch_part, arena_parts=arena_parts, state_parts=state_parts,
                inplace=taken, scratch_bytes={k: v for k, v in scratch_bytes.items() if v > 0})
