"""Compressed weight formats that kernels execute directly (Deep Compression, stored in flash).

A layer's weights are a matrix of int8 values, one row per output channel (FULLY_CONNECTED: a row
of `depth` weights; CONV_2D: the OHWI filter of one output channel, `kh*kw*ic` weights;
DEPTHWISE_CONV_2D: the `kh*kw` taps of one output channel, its 1HWC filter transposed to
[C*M][KH*KW] at compile time). Every
format keeps the exact int8 values, so a kernel computes the same accumulators as with dense
weights; only the storage and the walk over a row change. Rows are decoded one at a time, nothing
is expanded in RAM: a lut row on its own (row r starts at index r*cols), sparse and huffman rows
in order (every kernel walks its rows in order).

Formats (every array below is a `ConstArray`, so `weights_bytes` counts all of it):

* ``dense``   int8 [rows][cols], today's format.
* ``lut``     a codebook of at most 2^b int8 values, per tensor or per output channel (whichever
              takes fewer bytes), and packed b-bit indices (b = 1..8, the fewest bits that index
              the largest codebook), row r starting at bit r*cols*b.
* ``sparse``  the nonzero weights as entries (gap, value) by relative position over the flattened
              [rows][cols] matrix, as in the Deep Compression paper: gap-1 in 4 or 8 bits
              (whichever is smaller; a gap may cross row ends, and a longer one is bridged with
              filler entries of value 0), the value as int8, or as a b-bit index into a
              per-tensor codebook when that is smaller (reported as ``sparse+lut``). One more gap
              without a value, the terminator, leads from the last nonzero weight to the start of
              the next row. No per-row offsets: kernels walk the rows in order, carrying the
              cursor from row to row (below).
* ``huffman`` the entries of ``sparse`` (gaps up to 16 or 256, the terminator included) with both
              symbol streams Huffman coded (canonical codes, one table for gaps and one for
              values, interleaved gap/value per entry, the terminator's gap last). Tables are
              stored as counts of codes per length plus the symbols in canonical order (the value
              table holds the int8 weights themselves, no codebook).

* ``int4``    the plain signed nibble: every weight of the layer in [-8, 7] (int8 values that a
              4-bit quantisation left there: compile --weight-bits 4, qat --weight-bits 4, or a
              model quantised elsewhere), two a byte over the flattened [rows][cols] matrix,
              element 2k in the low nibble of byte k and element 2k+1 in the high nibble (the
              order of TFLite's and CMSIS-NN's packed int4 tensors), an odd total padded with a
              zero nibble. No codebook, no scale change: the value is the int8 weight itself, so
              the accumulators are those of the INT8 model with the same values
              (`int4_nbytes` is its byte count; `fits_int4` the one detection rule). Rows
              start at element r*cols, so with odd cols every other row starts in a high nibble
              (the kernel takes that one alone, then 8 at a time, then the rest).
* ``csr``     FULLY_CONNECTED only, laid out for speed rather than size (encode's `rows_format`;
              elsewhere it means ``sparse``, and ``auto`` considers it only for FULLY_CONNECTED):
              per row the count of its nonzero weights, then per nonzero weight its absolute
              column and int8 value (`csr` below). Its bias is always the folded int32 one.
              Measured (benchmarks/sparse_fc.py, LeNet-300-100 8% kept, 64 shared values,
              Cortex-M4F): 119k instructions against the dense DSP kernels' 344k (0.35x),
              65,858 B against dense 268,040 B, huffman 26,575 B (1.19M instructions) and
              hcsr 28,381 B (338k). On a Helium core (Cortex-M55) the same arrays take the
              MVE kernel (fully_connected.py `_mve_csr`: per row one tail-predicated loop,
              8 columns a load with uint16 columns, 16 with uint8, the inputs gathered, one
              VMLADAVA a load): 20,210 instructions against the portable csr kernel's 117,988
              and the dense Helium kernel's 50,993 (0.40x).

* ``hcsr``    FULLY_CONNECTED only (a ROW_FORMAT, as csr): Huffman-coded compressed sparse rows
              (`_hcsr.py`): per row the count of its entries, then per entry its gap from the
              previous entry of the row and its int8 value, each canonical-Huffman coded with
              length-limited codes written LSB first, so that the kernel decodes two entries
              from one 32-bit load, one lookup per code (gap_table: gap << 8 | length, uint16;
              val_table: value << 16 | length, uint32), no bit-serial fallback, and advances by
              the leading zeros past a sentinel bit; gaps past the cap (16..128), and pairs
              that would run past their load, take filler entries of value 0. The bias is the
              folded one, narrow; ``hcsr+raw`` is the same encoding with the narrowest of the
              raw and the folded bias (`packed_bias`): with the raw one the kernel adds the
              input offset to each input it multiplies (one add an entry), fewer bytes on a
              small layer. Within a few percent of huffman's bytes, at about 12 instructions an
              entry on a Cortex-M4 (the README's weights_auto table has the figures).

Bias constants of a compressed layer (`packed_bias`): stored in the narrowest of int8/int16/int32
that holds all of them. Folding `input offset * row sum` into the bias saves the kernel work but
often makes it wide (a trained LeNet-5's raw biases fit int16, the folded ones need int32), so the
raw bias is stored instead when it takes fewer bytes, and the kernel adds the offset term:
FULLY_CONNECTED adds the input offset to each input it multiplies (one add per stored weight),
CONV_2D and DEPTHWISE_CONV_2D sum the row while decoding it into the scratch and fold
bias + offset * sum once per output channel. The accumulators stay int32 and the sums the same
(the folded value is checked to fit int32 as before). Dense layers (and the DSP and Helium
kernels) keep their int32 biases.

Bit streams are MSB first and padded with 4 bytes so the kernels' 32-bit reader may refill past
the last code without reading outside the array (the padding is counted).

Huffman tables also hold, per table, a first-level lookup of the next `peek` bits (1 + the code's
rank in canonical order, 0 for a longer code) and the code length per rank; the counts per length
are stored only when some code is longer than the lookup (decoded bit by bit). `peek` is the
longest code when that is at most PEEK_FULL bits, else the fewest bits (at most PEEK_MAX) that
decode PEEK_COVER of the stream's symbols by lookup. All of it is counted.

Kernels (templates/kernels/wdecode.c.j2): lut reads a group of indices that fills whole bytes at a
time with compile-time shifts; sparse reads gaps and codebook indices by entry number; huffman
decodes with the lookups. Sparse and huffman keep one cursor (entry number, or bit reader) over
the whole layer and `pos`, the column of the next entry (its gap read) relative to the current
row: a row takes entries while `pos` < cols, then `pos` -= cols, so an entry past the row's end
waits for a later row and a row without entries keeps its bias. The terminator ends the last row
with entries like any other; rows after it are not walked (a compile-time bound). Per entry this
costs what the per-row entry offsets cost (one compare), and nothing per row: measured against
the offsets (uint16, rows+1) they replace, FULLY_CONNECTED 64x256 90% sparse sparse+lut 2,607 ->
2,514 B, 70.4k -> 73.3k instructions (a few more fillers: gaps crossing row ends are longer),
huffman 2,448 -> 2,339 B, 108k -> 85k (no seek per row, no bit count per code). A per-row entry
count (uint8) would cost `rows` bytes for the same walk. On a pruned (conv2 80%, fc1/fc2 95%)
and 8-cluster LeNet-5 (trained biases, per-tensor scales) the two changes (no row offsets, narrow
biases) take `--weights` sparse 6,737 -> 6,138 B, huffman 6,198 -> 5,551 B, auto 6,345 -> 5,277 B;
Cortex-M4 instructions per inference (QEMU, --board mps2-an386): sparse 2.04M -> 1.91M, huffman
2.19M -> 2.04M; lut 2.28M -> 2.34M (fc1 adds the input offset to each of its 48,000 inputs
multiplied, for a 240 B smaller bias).
CONV_2D decodes two output channels' rows into the kernel's scratch (2 x kh*kw*ic bytes) once
and reuses them at every output position, with the folded bias (stored, or folded from the raw
one at decode time). When the filter is sparse enough (decided at compile
time from its int8 values, `gather_taps` in conv_2d.py: the nonzero taps, each row's list padded
to groups of 8, at most 65% of the filter) the same decode also lists each row's nonzero taps,
as the tap's offset inside an interior position's input patch (ky*dh*iw*ic + kx*dw*ic + ci,
uint16, checked at compile time) and its value (int8); interior positions multiply only those, 8
at a time, and border positions keep the decoded rows (not kept when there is no border). The
scratch holds 2 x (3 x the longest list, padded) bytes more (offsets first, 2-byte aligned).
Skipped products are zero and int32 sums exact, so the accumulators do not change.
DEPTHWISE_CONV_2D decodes one channel's row (kh*kw bytes), its border positions taking the raw
bias (stored, or taken back from the folded one and the row's sum;
templates/kernels/depthwise_conv_2d_s8_packed.c.j2). A row has only kh*kw taps (9 for 3x3), too
few for groups of 8: when the filter is sparse enough (depthwise_conv_2d.py, gather_max_density:
at most 47% of the taps nonzero for 3x3, 65% for 5x5, any density past the 25 taps the dense
interior unrolls) the decode lists the row's nonzero taps the same way (offset ky*dh*iw*ic +
kx*dw*ic, uint16; value, int8; tap_lists in conv_2d.py and templates/kernels/tap_lists.c.j2,
shared with CONV_2D) and an interior position enters an unrolled run of multiply-adds at the
row's length (a switch; no padding). The scratch holds 3 x the longest list (at least 1) bytes
more, the decoded row only when there is a border. A gathered tap costs 4 instructions, an
unrolled dense one 3, the switch about 8 a position, so 3x3 gains little: 80% sparse, whole
layer 0.87 to 0.89 of the dense taps; 50% sparse about even (kept dense).
The kernels are portable C; on DSP and Helium cores a compressed layer runs them too, except
int4 FULLY_CONNECTED and CONV_2D on a DSP core (templates/cores/dsp/kernels/*_s4.c.j2: SMLAD on
the nibbles masked in place, two rows a pass; LeNet-5 4-bit on Cortex-M4: 1.37M instructions per
inference against 2.31M portable and 1.10M for the INT8 model on the DSP kernels) and csr
FULLY_CONNECTED on a Helium core (above).

`auto` (`--weights auto`) is chosen per layer by the cost model (ops/cost.py): every format's
kernel is built (int4 only for a layer whose weights all lie in -8..7, `fits_int4`; csr and hcsr
only for FULLY_CONNECTED), its bytes counted (all of the layer's arrays, bias and requantisation included)
and its instructions estimated for the target core (a dense layer on a DSP or Helium core runs
that core's kernel), and `--optimize` picks (balanced: the model's fewest instructions within 10%
of its fewest bytes, ops/cost.py `choose_model`). `encode(w, "auto")` alone takes the format of the fewest bytes of the weights.
Measured on Cortex-M4 (QEMU, instructions per inference, portable C,
`python benchmarks/weight_formats.py`): FULLY_CONNECTED 64x256 90% sparse 16 clusters: dense 83k,
sparse+lut 73k, lut 100k, huffman 85k (the bit-serial decoders before: lut 317k, huffman 340k);
CONV_2D 3x3 16->16 on 8x8 80% sparse: dense 730k, sparse+lut 425k, lut 434k, huffman 436k
(the dense loop over decoded rows: sparse+lut 672k, lut 671k, huffman 678k; before that, rows
walked per output position: sparse+lut 1.46M, lut 5.79M, huffman 6.12M); LeNet-5's conv2 (5x5
20->50 on 12x12 VALID, 80% sparse, 15 clusters): dense 6.61M (the DSP kernel 2.63M),
sparse+lut 1.82M, lut 1.95M, huffman 1.92M (dense loop: 5.92M, 5.92M, 6.03M);
DEPTHWISE_CONV_2D 3x3 x32 on 16x16 50% sparse: dense 1.32M, sparse+lut 800k, lut 797k, huffman
804k (one channel a pass with unrolled taps, against the portable dense loop); 80% sparse, the
interior gathering: sparse+lut 698k, lut 712k, huffman 700k (unrolled dense taps: 798k, 796k,
800k); 5x5 x32 on 16x16 70% sparse: dense 2.63M, sparse+lut 1.31M, lut 1.40M, huffman 1.34M
(unrolled dense taps: 1.54M, 1.83M, 1.57M). In FULLY_CONNECTED
sparse skips the zeros and huffman too, paying a table decode per stored entry, while lut pays an
unpack per weight, zeros included: at 90% sparsity huffman runs faster than lut, on a denser
layer slower, and the rank keeps lut before huffman. In CONV_2D and DEPTHWISE_CONV_2D the decode
is paid once per output channel (and CONV_2D's gather lists skip the zeros whatever the format),
so all formats run about as fast as each other and the rule picks the smallest (after the 10%
steps).
"""

from __future__ import annotations

from collections import Counter
from math import gcd
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..compress.huffman import canonical_codes, code_lengths, sparse_encode
from ._hcsr import decode as hcsr_decode
from ._hcsr import hcsr
from .base import ConstArray

FORMATS = ("dense", "lut", "sparse", "huffman", "int4", "csr", "hcsr", "hcsr+raw")
CHOICES = ("auto",) + FORMATS
INT4_MIN, INT4_MAX = -8, 7
INT4_GROUP = 8  # weights (4 bytes) an int4 kernel unpacks a loop iteration
STREAM_PAD = 4
MAX_HUFFMAN_LEN = 24
PEEK_FULL = 6  # Huffman lookup tables cover the whole code up to this many bits (64 entries)
PEEK_MAX = 10  # and never take more bits than this
PEEK_COVER = 0.97


@dataclass
class Encoding:
    """One layer's weights in one format: the arrays to place in flash and the values the
    decoder templates (templates/kernels/wdecode.c.j2) are rendered with."""

    format: str  # the family (dense, lut, sparse, huffman)
    label: str  # what the manifest reports (e.g. "sparse+lut")
    consts: list[ConstArray]
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def nbytes(self) -> int:
        return sum(c.nbytes for c in self.consts)


def bits_for(n: int) -> int:
    """The fewest bits (at least 1) that index n symbols."""
    return max(1, int(n - 1).bit_length())


def pack_bits(values, bits: int) -> np.ndarray:
    """Unsigned values, `bits` each, MSB first, into bytes (+ STREAM_PAD zero bytes)."""
    return _pack([(int(v), bits) for v in values])


def _pack(codes: list[tuple[int, int]]) -> np.ndarray:
    """Variable-length (code, length) pairs, MSB first, into bytes (+ STREAM_PAD zero bytes)."""
    code = np.array([c for c, _ in codes], np.int64)
    length = np.array([n for _, n in codes], np.int64)
    nbits = int(length.sum())
    out = np.zeros((nbits + 7) // 8 + STREAM_PAD, np.uint8)
    if not nbits:
        return out
    start = np.concatenate([[0], np.cumsum(length)[:-1]])
    bits = np.zeros(nbits, np.uint8)
    for j in range(int(length.max())):
        m = length > j
        bits[start[m] + j] = (code[m] >> (length[m] - 1 - j)) & 1
    out[: (nbits + 7) // 8] = np.packbits(bits)
    return out


def _nonempty(a: np.ndarray) -> np.ndarray:
    """C has no zero-length arrays: an empty array becomes one zero (counted)."""
    return a if a.size else np.zeros(1, a.dtype)


INT_TYPES = (("int8_t", np.int8), ("int16_t", np.int16), ("int32_t", np.int32))


def narrowest_int(values: np.ndarray) -> tuple[str, np.ndarray]:
    """(C type, values) in the narrowest of int8/int16/int32 that holds every value."""
    v = np.asarray(values, np.int64)
    for ctype, dt in INT_TYPES:
        info = np.iinfo(dt)
        if v.size == 0 or (v.min() >= info.min and v.max() <= info.max):
            return ctype, v.astype(dt)
    raise OverflowError(f"values {v.min()}..{v.max()} do not fit int32")


def packed_bias(raw: np.ndarray, folded: np.ndarray | None, comment_raw: str,
                comment_folded: str, name_raw: str = "bias", name_folded: str = "bias"
                ) -> tuple[ConstArray, bool]:
    """A compressed layer's bias constant in the narrowest integer type that holds it: the folded
    one (bias + input offset * row sum), or the raw bias when that takes fewer bytes (the kernel
    then adds input offset * row sum itself) or there is no folded one (None). Returns the array
    and whether it holds the raw bias."""
    rt, rv = narrowest_int(raw)
    if folded is not None:
        ft, fv = narrowest_int(folded)
        if fv.nbytes <= rv.nbytes:
            return ConstArray(name_folded, ft, fv, comment_folded), False
    return ConstArray(name_raw, rt, rv, comment_raw), True


def dense(w: np.ndarray) -> Encoding:
    rows, cols = w.shape
    return Encoding("dense", "dense", [ConstArray("weights", "int8_t", w.astype(np.int8),
                                                 f"[{rows}][{cols}] weights")], {})


def lut(w: np.ndarray) -> Encoding:
    rows, cols = w.shape
    uniq = np.unique(w)
    b_t = bits_for(len(uniq))
    per_row = [np.unique(r) for r in w]
    k_c = max(len(u) for u in per_row)
    b_c = bits_for(k_c)
    idx_bytes = lambda b: (rows * cols * b + 7) // 8 + STREAM_PAD  # noqa: E731
    per_channel = idx_bytes(b_c) + rows * k_c < idx_bytes(b_t) + len(uniq)
    if per_channel:
        bits, k = b_c, k_c
        book = np.zeros((rows, k_c), np.int8)
        idx = np.zeros((rows, cols), np.int64)
        for r, u in enumerate(per_row):
            book[r, : len(u)] = u
            idx[r] = np.searchsorted(u, w[r])
    else:
        bits, k = b_t, len(uniq)
        book = uniq.astype(np.int8)
        idx = np.searchsorted(uniq, w)
    consts = [
        ConstArray("codebook", "int8_t", book.astype(np.int8),
                   f"[{rows}][{k}] per-channel codebook" if per_channel
                   else f"[{k}] codebook"),
        ConstArray("indices", "uint8_t", pack_bits(idx.reshape(-1), bits),
                   f"[{rows}][{cols}] {bits}-bit codebook indices, MSB first"),
    ]
    return Encoding("lut", "lut", consts, dict(lut_bits=bits, lut_per_channel=per_channel,
                                               lut_k=k, lut_group=lut_group(bits)))


def lut_group(bits: int) -> int:
    """Indices a lut kernel unpacks at a time: the fewest that fill whole bytes (8 / gcd(b, 8)),
    at least 4 so that a loop iteration does enough work."""
    return max(4, 8 // gcd(bits, 8))


def _entries(w: np.ndarray, gap_bits: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Relative positions over the flattened [rows][cols] matrix: (gaps, values, last_row).

    Entry j lies gaps[j] positions after entry j-1 (the first after position -1); a gap may cross
    row ends, and one longer than 2^gap_bits is bridged by filler entries of value 0. The nonzero
    weights (and fillers) have a value each; one more gap, the terminator, leads from the last
    nonzero weight (in row `last_row`) to the start of the next row (fillers first when that is
    too far), so a kernel ends row `last_row` as it ends any other: the next position is past the
    row's end. The terminator has no value and is never consumed. Rows after `last_row` hold no
    entries (the kernel does not walk them); with no nonzero weight at all, there are no entries
    and last_row is -1."""
    rows, cols = w.shape
    gaps, vals = sparse_encode(w.reshape(-1), gap_bits)
    if not len(gaps):
        return gaps, vals, -1
    last_pos = int(gaps.sum()) - 1
    last_row = last_pos // cols
    dist = (last_row + 1) * cols - last_pos
    max_gap = 1 << gap_bits
    fill = (dist - 1) // max_gap
    gaps = np.concatenate([gaps, np.full(fill, max_gap, np.int64), [dist - fill * max_gap]])
    vals = np.concatenate([vals, np.zeros(fill, np.int64)])
    return gaps.astype(np.int64), vals.astype(np.int64), last_row


def sparse(w: np.ndarray) -> Encoding:
    return min(sparse_candidates(w), key=lambda c: c.nbytes)


def sparse_candidates(w: np.ndarray) -> list[Encoding]:
    """Every sparse encoding of `w`: int8 values ("sparse") and, when the values fit a codebook
    of fewer than 8 bits, codebook indices ("sparse+lut"), each with 4- and 8-bit gaps."""
    found = []
    for gap_bits in (4, 8):
        gaps, vals, last_row = _entries(w, gap_bits)
        gap_stream = pack_bits(gaps - 1, gap_bits)
        uniq = np.unique(vals)
        vbits = bits_for(len(uniq))
        params = dict(gap_bits=gap_bits, val_bits=0, last_row=last_row, n_entries=len(vals))
        base = [ConstArray("gaps", "uint8_t", gap_stream,
                           f"[{len(gaps)}] {gap_bits}-bit gaps - 1 over the flattened rows "
                           "(the last: the terminator), MSB first")]
        raw = Encoding("sparse", "sparse", base + [
            ConstArray("nonzeros", "int8_t", _nonempty(vals.astype(np.int8)),
                       f"[{len(vals)}] nonzero weights (0 = filler)")], params)
        cands = [raw]
        if vbits < 8 and len(uniq):
            cands.append(Encoding("sparse", "sparse+lut", base + [
                ConstArray("codebook", "int8_t", uniq.astype(np.int8), f"[{len(uniq)}] codebook"),
                ConstArray("nonzeros", "uint8_t", pack_bits(np.searchsorted(uniq, vals), vbits),
                           f"[{len(vals)}] {vbits}-bit codebook indices, MSB first")],
                dict(params, val_bits=vbits)))
        found += cands
    return found


def _canonical_table(lengths: dict[int, int]) -> tuple[np.ndarray, list[int]]:
    """counts[len] for len 0..max and the symbols in canonical order (length, then symbol)."""
    max_len = max(lengths.values()) if lengths else 1
    counts = np.zeros(max_len + 1, np.int64)
    for n in lengths.values():
        counts[n] += 1
    order = [s for s, _ in sorted(lengths.items(), key=lambda kv: (kv[1], kv[0]))]
    return counts, order


def peek_bits(lengths: dict[int, int], freqs: Counter) -> int:
    """Bits of a first-level lookup table: the whole code when its longest code has at most
    PEEK_FULL bits, else the fewest bits (at most PEEK_MAX) that decode PEEK_COVER of the symbols
    in the stream by lookup (the rest fall back to the bit-serial decode)."""
    max_len = max(lengths.values(), default=1)
    if max_len <= PEEK_FULL:
        return max_len
    total = sum(freqs[s] for s in lengths)
    for peek in range(1, PEEK_MAX):
        if sum(freqs[s] for s, n in lengths.items() if n <= peek) >= PEEK_COVER * total:
            return peek
    return min(PEEK_MAX, max_len)


def lookup_table(codes: dict[int, tuple[int, int]], order: list[int], peek: int
                 ) -> tuple[np.ndarray, np.ndarray]:
    """table[next `peek` bits] = 1 + the code's rank in canonical order (0: a longer code), and
    the code length of each rank."""
    table = np.zeros(1 << peek, np.int64)
    for rank, sym in enumerate(order):
        code, n = codes[sym]
        if n <= peek:
            table[code << (peek - n):(code + 1) << (peek - n)] = rank + 1
    lens = np.array([codes[s][1] for s in order], np.int64)
    return table, lens


def huffman(w: np.ndarray) -> Encoding | None:
    """None when a code would be longer than MAX_HUFFMAN_LEN bits (the decoder's limit)."""
    best = None
    for gap_bits in (4, 8):
        gaps, vals, last_row = _entries(w, gap_bits)
        gsyms = [int(x) - 1 for x in gaps]
        vsyms = [int(x) + 128 for x in vals]
        g_len, v_len = code_lengths(Counter(gsyms)), code_lengths(Counter(vsyms))
        if max(list(g_len.values()) + list(v_len.values()) + [1]) > MAX_HUFFMAN_LEN:
            continue
        g_code, v_code = canonical_codes(g_len), canonical_codes(v_len)
        codes: list[tuple[int, int]] = []  # gap, value, gap, value, ..., gap (the terminator)
        for j, g in enumerate(gsyms):
            codes.append(g_code[g])
            if j < len(vsyms):
                codes.append(v_code[vsyms[j]])
        g_counts, g_syms = _canonical_table(g_len)
        v_counts, v_syms = _canonical_table(v_len)
        g_peek, v_peek = peek_bits(g_len, Counter(gsyms)), peek_bits(v_len, Counter(vsyms))
        small = lambda a: ("uint8_t", a.astype(np.uint8)) if a.max(initial=0) <= 255 else ("uint16_t", a.astype(np.uint16))  # noqa: E731
        consts = [
            ConstArray("stream", "uint8_t", _pack(codes),
                       f"{sum(n for _, n in codes)} bits of Huffman codes (gap, value) over the "
                       "flattened rows, then the terminator's gap"),
        ]
        for t, what, count, order, cmap, peek, syms in (
                ("gap", "gap", g_counts, g_syms, g_code, g_peek,
                 ConstArray("gap_syms", "uint8_t", _nonempty(np.array(g_syms, np.uint8)),
                            "gap - 1 in canonical order")),
                ("val", "value", v_counts, v_syms, v_code, v_peek,
                 ConstArray("val_syms", "int8_t",
                            _nonempty(np.array(v_syms, np.int64) - 128).astype(np.int8),
                            "weights in canonical order"))):
            table, lens = lookup_table(cmap, order, peek)
            consts += [syms,
                       ConstArray(f"{t}_table", *small(table),
                                  f"[{1 << peek}] next {peek} bits -> 1 + {what} code rank (0: longer)"),
                       ConstArray(f"{t}_lens", "uint8_t", _nonempty(lens.astype(np.uint8)),
                                  f"{what} code length per rank")]
            if peek < len(count) - 1:  # codes longer than the lookup: bit-serial fallback
                consts.append(ConstArray(f"{t}_counts", *small(count), f"{what} codes per length"))
        enc = Encoding("huffman", "huffman", consts,
                       dict(gap_max_len=len(g_counts) - 1, val_max_len=len(v_counts) - 1,
                            gap_peek=g_peek, val_peek=v_peek, last_row=last_row,
                            n_entries=len(vals)))
        if best is None or enc.nbytes < best.nbytes:
            best = enc
    return best


def fits_int4(w: np.ndarray) -> bool:
    """Whether a layer's int8 weights can be stored as int4: every value in [-8, 7] (then every
    output channel's are). The one detection rule (`auto` and compile's recognition use it)."""
    w = np.asarray(w)
    return bool(w.size) and int(w.min()) >= INT4_MIN and int(w.max()) <= INT4_MAX


def int4_nbytes(rows: int, cols: int) -> int:
    """Bytes of a [rows][cols] int4 matrix: two weights a byte, an odd total padded."""
    return (rows * cols + 1) // 2


def pack_int4(values: np.ndarray) -> np.ndarray:
    """Values in [-8, 7] two a byte, element 2k in the low nibble of byte k (an odd count padded
    with a zero nibble)."""
    v = (np.asarray(values, np.int64).reshape(-1) & 15).astype(np.uint8)
    if v.size % 2:
        v = np.concatenate([v, np.zeros(1, np.uint8)])
    return (v[0::2] | (v[1::2] << 4)).astype(np.uint8)


def unpack_int4(packed: np.ndarray, count: int) -> np.ndarray:
    p = np.asarray(packed, np.uint8).astype(np.int64)
    nib = np.stack([p & 15, p >> 4], axis=1).reshape(-1)[:count]
    return (nib ^ 8) - 8


def int4(w: np.ndarray) -> Encoding | None:
    """None when some weight lies outside [-8, 7]."""
    if not fits_int4(w):
        return None
    rows, cols = w.shape
    packed = pack_int4(w)
    assert packed.size == int4_nbytes(rows, cols)
    return Encoding("int4", "int4", [ConstArray(
        "nibbles", "uint8_t", packed,
        f"[{rows}][{cols}] int4 weights, two a byte, low nibble first")], {})


def csr(w: np.ndarray) -> Encoding:
    """Compressed sparse rows laid out for speed (FULLY_CONNECTED only): per row the count of its
    nonzero weights (uint8, or uint16 when a row holds more than 255), then per nonzero weight its
    absolute column (uint8 when the rows have at most 256 columns, else uint16) and its int8
    value, rows in order. The kernel walks whole rows with no decode: per weight a column load,
    an input load, a value load and a multiply-add (the input offset folded into the bias)."""
    rows, cols = w.shape
    nz_r, nz_c = np.nonzero(w)
    counts = np.bincount(nz_r, minlength=rows)
    ctype, cdt = ("uint8_t", np.uint8) if counts.max(initial=0) <= 255 else ("uint16_t", np.uint16)
    itype, idt = ("uint8_t", np.uint8) if cols <= 256 else ("uint16_t", np.uint16)
    consts = [
        ConstArray("counts", ctype, counts.astype(cdt), f"[{rows}] nonzero weights per row"),
        ConstArray("cols", itype, _nonempty(nz_c.astype(idt)),
                   f"[{len(nz_c)}] column of each nonzero weight, row by row"),
        ConstArray("nonzeros", "int8_t", _nonempty(w[nz_r, nz_c].astype(np.int8)),
                   f"[{len(nz_c)}] nonzero weights, row by row"),
    ]
    return Encoding("csr", "csr", consts, dict(n_entries=len(nz_c)))


ENCODERS = {"dense": dense, "lut": lut, "sparse": sparse, "huffman": huffman, "int4": int4,
            "csr": csr, "hcsr": hcsr, "hcsr+raw": lambda w: hcsr(w, raw_bias=True)}
ROW_FORMATS = ("csr", "hcsr", "hcsr+raw")  # formats only FULLY_CONNECTED kernels execute


def encode(w: np.ndarray, wanted: str, what: str = "layer", rows_format: bool = False) -> Encoding:
    """The layer's weights (rows x cols, int8 values) in format `wanted` (one of CHOICES); a
    format this layer cannot take (a Huffman code too long) falls back to dense. int4 asked for
    a layer whose weights do not fit it is refused (a UserError naming `what`). Without
    `rows_format` (the caller's kernels do not execute ROW_FORMATS) csr and hcsr mean sparse and
    `auto` does not consider them."""
    w = np.asarray(w).astype(np.int64)
    if w.ndim != 2:
        raise ValueError(f"weights must be 2-D (rows x cols), got shape {w.shape}")
    if wanted not in CHOICES:
        raise ValueError(f"weight format '{wanted}' is unknown; known: {', '.join(CHOICES)}")
    if wanted == "int4" and not fits_int4(w):
        from ..errors import UserError

        span = f"{int(w.min())}..{int(w.max())}" if w.size else "nothing"
        raise UserError(f"{what}: --weights int4 needs weights in -8..7, this layer's span "
                        f"{span}: quantise to 4 bits first (compile --weight-bits 4, or qat "
                        "--weight-bits 4) or choose another --weights format")
    if wanted in ROW_FORMATS and not rows_format:
        wanted = "sparse"
    if wanted != "auto":
        return ENCODERS[wanted](w) or dense(w)
    encoders = [f for k, f in ENCODERS.items() if rows_format or k not in ROW_FORMATS]
    return min((e for e in (f(w) for f in encoders) if e is not None), key=lambda e: e.nbytes)


def decode(enc: Encoding, rows: int, cols: int) -> np.ndarray:
    """The dense int8 matrix back from an encoding (a Python model of the C decoders, for tests)."""
    c = {a.name: a.values for a in enc.consts}
    p = enc.params
    if enc.format == "dense":
        return c["weights"].astype(np.int64).reshape(rows, cols)
    if enc.format == "int4":
        return unpack_int4(c["nibbles"], rows * cols).reshape(rows, cols)
    if enc.format == "csr":
        out = np.zeros((rows, cols), np.int64)
        n = enc.params["n_entries"]
        r = np.repeat(np.arange(rows), c["counts"].astype(np.int64))
        out[r, c["cols"][:n].astype(np.int64)] = c["nonzeros"][:n]
        return out
    if enc.format == "hcsr":
        return hcsr_decode(enc, rows, cols)
    if enc.format == "lut":
        idx = _unpack(c["indices"], p["lut_bits"], rows * cols).reshape(rows, cols)
        book = c["codebook"].astype(np.int64)
        if p["lut_per_channel"]:
            return np.take_along_axis(book.reshape(rows, -1), idx, axis=1)
        return book[idx]
    out = np.zeros((rows, cols), np.int64)
    if enc.format == "sparse":
        n = p["n_entries"]
        if p["last_row"] < 0:
            return out
        gaps = _unpack(c["gaps"], p["gap_bits"], n + 1) + 1
        if p["val_bits"]:
            vals = c["codebook"].astype(np.int64)[_unpack(c["nonzeros"], p["val_bits"], n)]
        else:
            vals = c["nonzeros"].astype(np.int64)[:n]
        pos = np.cumsum(gaps) - 1
        end = (p["last_row"] + 1) * cols
        if not (pos[-1] >= end and (n == 0 or pos[n - 1] < end)):
            raise ValueError("the terminator does not end the last row with entries")
        out.reshape(-1)[pos[:n]] = vals
        return out
    raise ValueError(f"decode of {enc.format} is not modelled in Python")


def _unpack(stream: np.ndarray, bits: int, count: int) -> np.ndarray:
    b = np.unpackbits(stream.astype(np.uint8))[: count * bits].reshape(count, bits)
    return (b.astype(np.int64) << np.arange(bits - 1, -1, -1)).sum(axis=1)
