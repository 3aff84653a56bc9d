"""What BATCH_TO_SPACE_ND and SPACE_TO_BATCH_ND share: the block geometry and its copy nests.

Both relate a "space" tensor [B, H, W, C] to a "blocked" one [B * bh * bw, H', W', C]:
blocked[(oh * bw + ow) * B + n, h, w, c] = space[n, h * bh + oh - pad_h, w * bw + ow - pad_w, c]
wherever that space position exists (BATCH_TO_SPACE_ND crops, SPACE_TO_BATCH_ND pads). A 3-D
tensor [B, H, C] is the case W = bw = 1.

Along one axis, the blocked indices whose space index is inside the tensor form one range per
offset; where every offset has the same range (no crop or pad, or ones the block divides) the
offset is one more loop, otherwise each offset gets its own nest. So the usual case is one nest
of one memcpy of C elements per pixel."""

from __future__ import annotations

from dataclasses import dataclass

from ..ir import Graph, Op, Tensor
from ._movers import (Nest, check_const_ints, check_mover, check_rank, check_same_quant,
                      check_shape, const_ints, make_nest, strides)


@dataclass(frozen=True)
class AxisPart:
    first: int  # first offset
    offsets: int  # consecutive offsets sharing the range (a loop when > 1)
    lo: int  # first blocked index
    count: int  # blocked indices
    s0: int  # space index of (first, lo)


def axis_parts(blocked: int, space: int, block: int, pad: int) -> list[AxisPart]:
    """The ranges of blocked indices h whose space index h * block + offset - pad is inside
    [0, space), one AxisPart for all offsets when their ranges agree."""
    ranges = []
    for o in range(block):
        lo = max(0, -((o - pad) // block))
        hi = min(blocked, (space - 1 + pad - o) // block + 1)
        ranges.append((lo, max(0, hi - lo)))
    if len(set(ranges)) == 1:
        lo, count = ranges[0]
        return [AxisPart(0, block, lo, count, lo * block - pad)]
    return [AxisPart(o, 1, lo, count, lo * block + o - pad) for o, (lo, count) in
            enumerate(ranges)]


def as_4d(t: Tensor) -> list[int]:
    s = list(t.shape)
    return s if len(s) == 4 else [s[0], s[1], 1, s[2]]


def geometry(op: Op, g: Graph) -> tuple[list[int], list[int]]:
    """(block [bh, bw], pads [top, left]) with a 3-D tensor's width as the block 1."""
    block = const_ints(op, g, 1)
    pads = const_ints(op, g, 2)
    if len(block) == 1:
        return [block[0], 1], [pads[0], 0]
    return block, [pads[0], pads[2]]


def space_batch_nests(space: list[int], blocked: list[int], block, pads, to_space: bool,
                      src: str = "in0"):
    """The copy nests between a space tensor and a blocked one (4-D shapes), reading the blocked
    one when `to_space` (BATCH_TO_SPACE_ND), else the space one (SPACE_TO_BATCH_ND)."""
    (bh, bw), (ph, pw) = block, pads
    bs, ss = strides(blocked), strides(space)
    batch = space[0]
    nests = []
    for ph_part in axis_parts(blocked[1], space[1], bh, ph):
        for pw_part in axis_parts(blocked[2], space[2], bw, pw):
            # (size, blocked stride, space stride)
            dims = {"n": (batch, bs[0], ss[0]),
                    "h": (ph_part.count, bs[1], bh * ss[1]),
                    "oh": (ph_part.offsets, bw * batch * bs[0], ss[1]),
                    "w": (pw_part.count, bs[2], bw * ss[2]),
                    "ow": (pw_part.offsets, batch * bs[0], ss[2]),
                    "c": (space[3], 1, 1)}
            b_base = ((ph_part.first * bw + pw_part.first) * batch * bs[0] + ph_part.lo * bs[1]
                      + pw_part.lo * bs[2])
            s_base = ph_part.s0 * ss[1] + pw_part.s0 * ss[2]
            if to_space:
                order = ("n", "h", "oh", "w", "ow", "c")
                nest = make_nest([dims[k] for k in order], b_base, s_base, src)
            else:
                order = ("oh", "ow", "n", "h", "w", "c")
                nest = make_nest([(dims[k][0], dims[k][2], dims[k][1]) for k in order], s_base,
                                 b_base, src)
            nests.append(nest)
    return nests


class SpaceBatch:
    """The checks both operators share; `what` names the third operand (crops or paddings)."""

    what = ""

    def check_common(self, op: Op, g: Graph) -> tuple[list[str], bool]:
        """(problems, whether the geometry can be read)."""
        problems, x, y = check_mover(op, g, 3)
        if x is None:
            return problems, False
        problems += check_same_quant(op, x, y) + check_rank(op, x, (3, 4))
        if problems:
            return problems, False
        spatial = len(x.shape) - 2
        problems += check_const_ints(op, g, 1, "block shape", (spatial,))
        problems += check_const_ints(op, g, 2, self.what, (spatial, 2))
        if problems:
            return problems, False
        block, pads = const_ints(op, g, 1), const_ints(op, g, 2)
        if any(b < 1 for b in block):
            problems.append(f"{op.describe()}: block shape {block} must be positive")
        if any(p < 0 for p in pads):
            problems.append(f"{op.describe()}: {self.what} {pads} must not be negative")
        return problems, not problems

    @staticmethod
    def amounts(op: Op, g: Graph) -> list[int]:
        """The crops or paddings [top, bottom, left, right] (a 3-D tensor's left and right 0)."""
        v = const_ints(op, g, 2)
        return v if len(v) == 4 else v + [0, 0]

    @staticmethod
    def nests(op: Op, g: Graph, to_space: bool) -> list[Nest | None]:
        """The copy nests from the input to the output (space_batch_nests)."""
        x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        block, pads = geometry(op, g)
        space, blocked = (y, x) if to_space else (x, y)
        return space_batch_nests(as_4d(space), as_4d(blocked), block, pads, to_space)

    def check_output(self, op: Op, g: Graph, want4: list[int]) -> list[str]:
        y = g.tensors[op.outputs[0]]
        want = want4 if len(y.shape) == 4 else [want4[0], want4[1], want4[3]]
        if any(d < 1 for d in want):
            return [f"{op.describe()}: the {self.what} leave an empty output {want}"]
        return check_shape(op, y, want)
