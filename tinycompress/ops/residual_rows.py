"""A residual block run a row at a time: CONV_2D -> CONV_2D -> ADD with the block's input.

    A = conv1(R);  B = conv2(A);  C = ADD(B, R)      (R, B, C of one shape; A used only by conv2,
                                                      B only by the ADD)

Run layer by layer, the block holds R and A (or A and B) at once: on ResNet-8 (IC) two 16,384 B
activations, the model's peak. Fused (kind FUSED_RESIDUAL), conv2's output row y needs only
conv1's rows y - p2 .. y + p2 (p: a filter's vertical half-height), which are kept in a window of
kh2 rows; the ADD writes output row y over R's row y, which no later conv1 row reads when
p2 >= p1 (conv1's row y + 1 + p2, the next computed, reads R's rows from y + 1 + p2 - p1 on).
The block then needs R, the window, one row of B and the pieces' scratch.

The pieces are the layers' own kernels, lowered on a graph of row-shaped tensors (`row_graph`):
conv1 on a window of kh1 rows of R into one row of A (vertically every tap inside: a padded
border row reads the input zero point, which the kernels add as w * 0, as the reference skips
it), conv2 on the window of A into one row of B, the ADD on one row. Each is built with the
variant the whole layer takes (so the DSP kernels' int16-weight choice counts the whole layer's
positions), so the fused block computes exactly what the three layers compute. The template
(kernels/residual_rows.c.j2) calls them once a row.

`blocks` finds the fusable blocks; `fused_kernel` builds one's kernel, None when a piece cannot
share the block's scratch (compressed weights gather through uint16 lists); `fuse` rewrites the
graph. Whether to fuse is the emitter's choice (tinycompress/fusion.py): where it lowers the
arena."""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..ir import Graph, Op, Tensor
from ..planner import Alias
from ._conv_common import pad_before
from .base import REGISTRY, Context, Kernel

KIND = "FUSED_RESIDUAL"
TEMPLATE = "kernels/residual_rows.c.j2"
SCRATCH_CTYPES = ("int8_t", "int32_t")  # what a piece's scratch may be: the block's is int32_t


@dataclass(frozen=True)
class Block:
    conv1: int  # op positions in the graph
    conv2: int
    add: int
    residual: int  # which ADD operand is R (0 or 1)
    kh1: int  # the convolutions' filter heights (odd)
    kh2: int


def _rows_kept(g: Graph, op: Op) -> int | None:
    """The vertical half-height p of a CONV_2D whose output rows are its input's rows, each
    row y read from input rows y - p .. y + p (stride and dilation 1, odd height, padded alike
    above and below), batch 1; else None."""
    if op.kind != "CONV_2D" or len(op.inputs) < 2 or not op.outputs:
        return None
    x, w, y = (g.tensors[n] for n in (op.inputs[0], op.inputs[1], op.outputs[0]))
    if len(x.shape) != 4 or len(y.shape) != 4 or x.shape[0] != 1 or w.data is None:
        return None
    kh = int(w.shape[1])
    opts = op.options
    if (int(opts.get("stride_h", 1)) != 1 or int(opts.get("dilation_h_factor", 1)) != 1
            or kh % 2 == 0 or x.shape[1] != y.shape[1]
            or pad_before(int(x.shape[1]), kh, 1, 1, int(y.shape[1])) != kh // 2):
        return None
    return kh // 2


def blocks(g: Graph) -> list[Block]:
    """The graph's fusable residual blocks (see the module docstring), in op order."""
    pos = {id(op): k for k, op in enumerate(g.ops)}
    consumers = g.consumers()
    fixed = set(g.inputs) | set(g.outputs)
    found = []
    for k1, c1 in enumerate(g.ops):
        p1 = _rows_kept(g, c1)
        a = c1.outputs[0] if c1.outputs else ""
        if p1 is None or a in fixed or len(consumers.get(a, [])) != 1:
            continue
        c2 = consumers[a][0]
        p2 = _rows_kept(g, c2)
        b = c2.outputs[0]
        if (p2 is None or p2 < p1 or c2.inputs[0] != a or b in fixed
                or len(consumers.get(b, [])) != 1):
            continue
        add, r = consumers[b][0], c1.inputs[0]
        if add.kind != "ADD" or sorted(add.inputs) != sorted([b, r]) or b == r:
            continue
        shapes = {tuple(g.tensors[t].shape) for t in (r, b, add.outputs[0])}
        if len(shapes) == 1 and all(g.tensors[t].dtype == "int8" for t in (r, a, b, add.outputs[0])):
            found.append(Block(k1, pos[id(c2)], pos[id(add)], add.inputs.index(r),
                               2 * p1 + 1, 2 * p2 + 1))
    return found


def row_graph(g: Graph, b: Block) -> tuple[Graph, list[Op]]:
    """A graph of the block's pieces on row-shaped tensors (same types and quantisation): conv1
    from a window of kh1 rows of R to one row of A, conv2 from kh2 rows of A to one row of B,
    the ADD of one row of B and of R to one row of C; the constants are the graph's own."""
    c1, c2, add = g.ops[b.conv1], g.ops[b.conv2], g.ops[b.add]
    r, a, bt, c = c1.inputs[0], c1.outputs[0], c2.outputs[0], add.outputs[0]
    tensors = {n: t for n, t in g.tensors.items() if t.is_const}

    def rows(name: str, n: int, suffix: str) -> str:
        t = g.tensors[name]
        new = f"{name}@{suffix}"
        tensors[new] = Tensor(new, (1, n, *t.shape[2:]), t.dtype, t.quant)
        return new

    ops = [replace(c1, inputs=[rows(r, b.kh1, "window"), *c1.inputs[1:]],
                   outputs=[rows(a, 1, "row")]),
           replace(c2, inputs=[rows(a, b.kh2, "window"), *c2.inputs[1:]],
                   outputs=[rows(bt, 1, "row")])]
    pair = [rows(bt, 1, "row"), rows(r, 1, "row")]
    ops.append(replace(add, inputs=pair[::-1] if b.residual == 0 else pair,
                       outputs=[rows(c, 1, "row")]))
    return Graph(tensors, ops, [ops[0].inputs[0]], [ops[2].outputs[0]]), ops


def _piece(op: Op, g: Graph, ctx: Context, whole: Kernel) -> Kernel:
    lowering = REGISTRY[op.kind]
    if whole.variant:
        k = lowering.build(op, g, replace(ctx, weights="dense"), variant_name=whole.variant)
    else:
        k = lowering.lower(op, g, ctx)
    # (not written in place: the block gives every piece its own output)
    k.params.update(inplace=False, ring_at=0, _alias_in=-1, _alias_out=-1,
                    _in_ctypes=[g.tensors[t].ctype for t in k.act_inputs],
                    _out_ctypes=[g.tensors[t].ctype for t in k.act_outputs], _state_ctypes=[])
    return k


def _align(n: int, to: int = 4) -> int:
    return (n + to - 1) // to * to


def fused_kernel(g: Graph, b: Block, kernels: dict[int, Kernel], ctx: Context) -> Kernel | None:
    """The FUSED_RESIDUAL kernel of block `b` from the kernels its layers were lowered to, or
    None when a piece has compressed weights or scratch of another type than int8/int32."""
    wholes = [kernels[p] for p in (b.conv1, b.conv2, b.add)]
    if any(k.weight_format != "dense" or k.scratch_ctype not in SCRATCH_CTYPES or k.act_states
           for k in wholes):
        return None
    rg, ops = row_graph(g, b)
    pieces = [_piece(op, rg, ctx, whole) for op, whole in zip(ops, wholes)]
    # The ADD writes C's row over R's row: its R operand and output are not restrict.
    pieces[2].params.update(_alias_in=b.residual, _alias_out=0)
    c1 = g.ops[b.conv1]
    rt, at = g.tensors[c1.inputs[0]], g.tensors[c1.outputs[0]]
    h, row_r, row_a = int(rt.shape[1]), rt.size // int(rt.shape[1]), at.size // int(at.shape[1])
    kh1, kh2 = b.kh1, b.kh2
    # conv1's border window of R is filled after the ADD has read B's row: they share bytes
    awin, brow = 0, _align(kh2 * row_a)
    rwin = brow
    ks = _align(brow + kh1 * row_r, 16)  # (kh1 rows of R, at least B's one row)
    scratch = ks + max(_align(k.scratch_bytes) for k in pieces)
    estimates = [k.instructions for k in pieces]
    return Kernel(
        template=TEMPLATE,
        params=dict(h=h, row_r=row_r, row_a=row_a, kh1=kh1, kh2=kh2, p1=kh1 // 2, p2=kh2 // 2,
                    zp_r=int(rt.quant.zp), zp_a=int(at.quant.zp), residual=b.residual,
                    awin=awin, brow=brow, rwin=rwin, ks_words=ks // 4,
                    fuses=[g.ops[p].kind for p in (b.conv1, b.conv2, b.add)],
                    piece_scratch=[(k.scratch_ctype if k.scratch_bytes else "")
                                   for k in pieces]),
        act_inputs=[c1.inputs[0]], act_outputs=[g.ops[b.add].outputs[0]],
        scratch_bytes=scratch, scratch_ctype="int32_t",
        macs=h * sum(k.macs for k in pieces), variant="residual_rows",
        instructions=(h * sum(estimates) if None not in estimates else None),
        inplace=(Alias(0, 0),), parts=pieces)


def fuse(g: Graph, b: Block) -> Graph:
    """The graph with block `b`'s three ops replaced by one FUSED_RESIDUAL op at conv1's place
    (inputs: R and both convolutions' constants; output: the ADD's)."""
    c1, c2, add = g.ops[b.conv1], g.ops[b.conv2], g.ops[b.add]
    op = Op(KIND, [c1.inputs[0], *c1.inputs[1:], *c2.inputs[1:]], [add.outputs[0]],
            name=f"{c1.name} + {c2.name} + {add.name}", index=c1.index)
    ops = [op if k == b.conv1 else o for k, o in enumerate(g.ops) if k not in (b.conv2, b.add)]
    return replace(g, ops=ops)
