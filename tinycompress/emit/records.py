"""What the manifest records beyond the generated files, for reports (`tinycompress report`):
the memory plan (which buffer holds which arena range during which layers) and, per weight
layer, the sparsity of its int8 weights and the bytes each compression stage would store.

Times are indices of emitted layers (the manifest's `layers`), not graph op positions: an op
elided by aliasing (a RESHAPE) runs no code, so a buffer's life is counted in the layers around
it."""

from __future__ import annotations

import bisect

import numpy as np

from ..ir import Graph, Op
from ..ops._weight_formats import FORMATS, encode, huffman, lut, sparse_candidates
from ..planner import PARTS, Plan

# Ops whose second input is a weight matrix the compressed formats can store.
WEIGHT_OPS = ("FULLY_CONNECTED", "CONV_2D", "DEPTHWISE_CONV_2D")


def part_bases(mem: Plan) -> dict[str, int]:
    """The byte offset of each arena part in the arena struct (its arrays follow each other in
    PARTS order; every part's size is a multiple of its alignment, so there is no padding)."""
    bases, at = {}, 0
    for part, _, _ in PARTS:
        if mem.arena_parts.get(part):
            bases[part] = at
            at += mem.arena_parts[part]
    return bases


def memory_plan(mem: Plan, op_positions: list[int]) -> list[dict]:
    """The arena's buffers in offset order: tensor (or None for an op's scratch), the other
    tensors that share its storage (`shares`: views, and outputs written in place over it), the
    arena part of its C type, its byte offset in the whole arena, bytes and the first and last
    emitted layer that use it. `op_positions[i]` is layer i's position
    in the graph's ops (ascending)."""
    def first_layer(pos: int) -> int:
        return min(bisect.bisect_left(op_positions, pos), len(op_positions) - 1)

    def last_layer(pos: int) -> int:
        return max(bisect.bisect_right(op_positions, pos) - 1, 0)

    if not op_positions:
        return []
    base = part_bases(mem)
    rows = []
    for b in mem.buffers:
        scratch = b.kind == "scratch"
        first = first_layer(b.first)
        rows.append({"kind": "scratch" if scratch else "activation",
                     "tensor": None if scratch else b.tensor, "shares": list(b.shares),
                     "part": b.part,
                     "offset": base.get(b.part, 0) + b.offset, "bytes": b.size,
                     "first_layer": first, "last_layer": max(first, last_layer(b.last))})
    return sorted(rows, key=lambda r: (r["offset"], r["first_layer"], r["bytes"]))


def weight_rows(op: Op, g: Graph) -> np.ndarray | None:
    """The op's int8 weights as the compressed formats encode them (one row per output
    channel; DEPTHWISE_CONV_2D's 1HWC filter transposed to [C][KH*KW]), or None."""
    if op.kind not in WEIGHT_OPS or len(op.inputs) < 2 or not op.inputs[1]:
        return None
    w = g.tensors[op.inputs[1]]
    if w.data is None or w.data.ndim < 2:
        return None
    data = np.asarray(w.data).astype(np.int64)
    if op.kind == "DEPTHWISE_CONV_2D":
        return data[0].reshape(-1, data.shape[-1]).T
    return data.reshape(data.shape[0], -1)


def weight_stats(op: Op, g: Graph, stages: bool, stored: str = "dense") -> dict | None:
    """Count and nonzero count of the layer's weights; with `stages`, the bytes of the weight
    matrix alone at each Deep Compression stage, as tinycompress would store it: float32, int8,
    pruned (sparse, int8 values), shared (sparse with codebook indices; the pruned bytes when
    the values do not fit a codebook smaller than int8), Huffman coded (None when a code would
    be too long for the decoder) and stored (in the layer's weight format `stored`, the
    manifest's weight_format)."""
    rows = weight_rows(op, g)
    if rows is None:
        return None
    n = int(rows.size)
    out = {"count": n, "nonzero": int(np.count_nonzero(rows))}
    if stages:
        cands = sparse_candidates(rows)
        coded = huffman(rows)
        out["stages"] = {
            "float32": 4 * n, "int8": n,
            "pruned": min(c.nbytes for c in cands if c.label == "sparse"),
            "shared": min(c.nbytes for c in cands),
            "huffman": None if coded is None else coded.nbytes,
            "stored": _stored_bytes(rows, stored, cands, coded)}
    return out


def _stored_bytes(rows: np.ndarray, label: str, cands: list, coded) -> int:
    """The bytes of the weight matrix in the format the layer stores it in."""
    if label == "lut":
        return lut(rows).nbytes
    if label.startswith("sparse"):
        return min(c.nbytes for c in cands)
    if label == "huffman" and coded is not None:
        return coded.nbytes
    if label in FORMATS and label not in ("dense", "huffman"):  # int4, csr, hcsr, hcsr+raw
        return encode(rows, label, rows_format=True).nbytes
    return int(rows.size)
