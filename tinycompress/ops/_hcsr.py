"""The ``hcsr`` weight format: Huffman-coded compressed sparse rows, decoded by table lookup.

FULLY_CONNECTED only (a ROW_FORMAT, as ``csr``). Per row the count of its entries, then one bit
stream over the rows in order: per entry the gap from the previous entry of the row (the first
from column -1) and the entry's int8 value, each canonical-Huffman coded (one code for gaps, one
for values). A gap longer than the layer's `cap` (16..128: the one of the fewest fillers within
CAP_SLACK of the fewest bytes) is bridged by filler entries of value 0 (the value code then has
a symbol for 0). Codes are written
least significant bit first and limited in length (`limited_lengths`) so that each code is
decoded by one lookup of its table with no fallback:

* ``gap_table``  uint16 [2^gap_peek]: the next gap_peek bits -> gap << 8 | code length;
* ``val_table``  int32 [2^val_peek]: the next val_peek bits -> code length << 16 | value
                 (the value in the low halfword: gcc multiplies it with SMLABB on a DSP core).

One entry takes at most gap_peek + val_peek <= 25 bits, so the kernel (fully_connected_s8_hcsr
.c.j2) reads each entry with one unaligned little-endian 32-bit load at byte bp / 8 shifted right
by bp % 8 (the stream padded with 4 bytes), then two lookups, a shift, the column update, an
input load and a multiply-add: no bit-serial loop, no refill, no branch but the loop's. The
lengths are chosen per layer (peek 1..MAX_PEEK bits for each code) to minimise the bytes of the
stream and both tables together. The bias is the folded one (bias + input offset * row sums)
in the narrowest integer type that holds it (fully_connected.py `_hcsr`), so the kernel
multiplies the raw int8 inputs; ``hcsr+raw`` (`raw_bias`) is the same encoding with the narrowest
of the raw and the folded bias, the kernel then adding the input offset to each input.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from ..compress.huffman import canonical_codes, code_lengths
from .base import ConstArray

CAPS = (16, 32, 64, 128)  # longest gap one entry holds (longer ones take fillers)
# The cap with the fewest entries among those within CAP_SLACK of the fewest bytes: a filler
# costs a whole entry's decode (LeNet-300-100 8%/64 trained, fc1: cap 64 25,038 B 424 fillers,
# cap 128 25,383 B 54 fillers).
CAP_SLACK = 0.02
MAX_PEEK = 10  # table bits at most (1,024 entries)
MAX_ENTRY_BITS = 25  # a 32-bit load shifted by up to 7 bits holds 25 of them
STREAM_PAD = 4  # the kernel's 32-bit load at the last entry stays inside the array


def limited_lengths(freqs: Counter, limit: int) -> dict[int, int]:
    """Huffman code lengths of `freqs`'s symbols, none longer than `limit` (which must have room:
    len(freqs) <= 2^limit). Longer codes are cut to `limit`, then the Kraft sum is brought back
    to at most 1 by lengthening the codes whose symbols cost least per unit of it freed, and
    codes are shortened again while the sum allows (most frequent first)."""
    lengths = code_lengths(freqs)
    if len(lengths) > (1 << limit):
        raise ValueError(f"{len(lengths)} symbols do not fit codes of {limit} bits")
    if max(lengths.values(), default=0) <= limit:
        return lengths
    lengths = {s: min(n, limit) for s, n in lengths.items()}
    kraft = sum(1 << (limit - n) for n in lengths.values())  # in units of 2^-limit
    while kraft > 1 << limit:
        s = min((s for s, n in lengths.items() if n < limit),
                key=lambda s: (freqs[s] / (1 << (limit - lengths[s] - 1)), s))
        kraft -= 1 << (limit - lengths[s] - 1)
        lengths[s] += 1
    for s in sorted(lengths, key=lambda s: (-freqs[s], s)):
        while lengths[s] > 1 and kraft + (1 << (limit - lengths[s])) <= 1 << limit:
            kraft += 1 << (limit - lengths[s])
            lengths[s] -= 1
    return lengths


def _reversed(code: int, n: int) -> int:
    return int(format(code, f"0{n}b")[::-1], 2) if n else 0


def lsb_codes(lengths: dict[int, int]) -> dict[int, tuple[int, int]]:
    """Canonical codes as written LSB first: {symbol: (bit-reversed code, length)}."""
    return {s: (_reversed(c, n), n) for s, (c, n) in canonical_codes(lengths).items()}


def lookup(codes: dict[int, tuple[int, int]], peek: int, entry) -> np.ndarray:
    """table[next `peek` bits, the first in bit 0] = entry(symbol, length) of the code they
    start with (0 where no code starts: never read in a valid stream)."""
    table = np.zeros(1 << peek, np.int64)
    for s, (r, n) in codes.items():
        table[r::1 << n] = entry(s, n)
    return table


def _best_code(freqs: Counter, table_bytes: int) -> tuple[int, dict[int, int], int]:
    """(peek, lengths, bytes of stream bits + table) of the cheapest length limit."""
    best = None
    for peek in range(max(1, (len(freqs) - 1).bit_length()), MAX_PEEK + 1):
        lengths = limited_lengths(freqs, peek)
        used = max(lengths.values(), default=1)
        bits = sum(freqs[s] * n for s, n in lengths.items())
        cost = bits / 8 + table_bytes * (1 << used)
        if best is None or cost < best[2]:
            best = (used, lengths, cost)
    return best


def _row_entries(w: np.ndarray, cap: int) -> tuple[np.ndarray, list[int], list[int]]:
    """Per row its entry count, and the gaps and values of all entries, rows in order."""
    counts, gaps, vals = [], [], []
    for row in w:
        prev, n = -1, 0
        for c in np.flatnonzero(row).tolist():
            g = c - prev
            while g > cap:
                gaps.append(cap)
                vals.append(0)
                g -= cap
                n += 1
            gaps.append(g)
            vals.append(int(row[c]))
            n += 1
            prev = c
        counts.append(n)
    return np.array(counts, np.int64), gaps, vals


def _pack_lsb(codes: list[tuple[int, int]]) -> np.ndarray:
    """(LSB-first code, length) pairs into bytes, + STREAM_PAD zero bytes."""
    nbits = sum(n for _, n in codes)
    bits = np.zeros(nbits, np.uint8)
    code = np.array([c for c, _ in codes], np.int64)
    length = np.array([n for _, n in codes], np.int64)
    if nbits:
        start = np.concatenate([[0], np.cumsum(length)[:-1]])
        for j in range(int(length.max())):
            m = length > j
            bits[start[m] + j] = (code[m] >> j) & 1
    out = np.zeros((nbits + 7) // 8 + STREAM_PAD, np.uint8)
    out[: (nbits + 7) // 8] = np.packbits(bits, bitorder="little")
    return out


def hcsr(w: np.ndarray, raw_bias: bool = False):
    """The hcsr Encoding of `w` (rows x cols int8 values) with the cap and code lengths that take
    the fewest bytes; `raw_bias` (label hcsr+raw): the kernel takes the narrowest bias, raw or
    folded (fully_connected.py `_hcsr`)."""
    from ._weight_formats import Encoding

    rows, cols = w.shape
    found = []
    for cap in CAPS:
        counts, gaps, vals = _row_entries(w, cap)
        g_peek, g_len, g_cost = _best_code(Counter(gaps), 2)
        v_peek, v_len, v_cost = _best_code(Counter(vals), 4)
        if g_peek + v_peek <= MAX_ENTRY_BITS:
            found.append((g_cost + v_cost, cap, counts, gaps, vals, g_peek, g_len, v_peek, v_len))
        if cap >= cols:
            break  # no gap is longer than the row
    fewest = min(f[0] for f in found)
    best = min((f for f in found if f[0] <= (1 + CAP_SLACK) * fewest), key=lambda f: len(f[4]))
    _, cap, counts, gaps, vals, g_peek, g_len, v_peek, v_len = best
    g_code, v_code = lsb_codes(g_len), lsb_codes(v_len)
    stream = [c for g, v in zip(gaps, vals) for c in (g_code[g], v_code[v])]
    ctype, cdt = ("uint8_t", np.uint8) if counts.max(initial=0) <= 255 else ("uint16_t", np.uint16)
    g_tab = lookup(g_code, g_peek, lambda g, n: g << 8 | n)
    v_tab = lookup(v_code, v_peek, lambda v, n: n << 16 | (v & 0xFFFF))
    nbits = sum(n for _, n in stream)
    consts = [
        ConstArray("counts", ctype, counts.astype(cdt), f"[{rows}] entries per row (fillers too)"),
        ConstArray("stream", "uint8_t", _pack_lsb(stream),
                   f"{nbits} bits: per entry the Huffman codes of its gap and value, LSB first"),
        ConstArray("gap_table", "uint16_t", g_tab.astype(np.uint16),
                   f"[{1 << g_peek}] next {g_peek} bits -> gap << 8 | code length"),
        ConstArray("val_table", "int32_t", v_tab.astype(np.int32),
                   f"[{1 << v_peek}] next {v_peek} bits -> code length << 16 | value"),
    ]
    fillers = len(vals) - int(np.count_nonzero(w))
    return Encoding("hcsr", "hcsr+raw" if raw_bias else "hcsr", consts,
                    dict(n_entries=len(vals), n_fillers=fillers, cap=cap, gap_peek=g_peek,
                         val_peek=v_peek, raw_bias=raw_bias))


def decode(enc, rows: int, cols: int) -> np.ndarray:
    """The dense matrix back, read as the kernel reads it (a model of the C, for tests)."""
    c = {a.name: a.values for a in enc.consts}
    stream = bytes(c["stream"].astype(np.uint8))
    gt, vt = c["gap_table"].astype(np.int64), c["val_table"].astype(np.int64)
    gm, vm = (1 << enc.params["gap_peek"]) - 1, (1 << enc.params["val_peek"]) - 1
    out = np.zeros((rows, cols), np.int64)
    bp = 0
    for r in range(rows):
        pos = -1
        for _ in range(int(c["counts"][r])):
            w = int.from_bytes(stream[bp >> 3:(bp >> 3) + 4], "little") >> (bp & 7)
            g = int(gt[w & gm])
            w >>= g & 255
            pos += g >> 8
            v = int(vt[w & vm])
            bp += (g & 255) + (v >> 16)
            value = ((v & 0xFFFF) ^ 0x8000) - 0x8000
            if not 0 <= pos < cols:
                raise ValueError(f"row {r}: an entry at column {pos} of {cols}")
            out[r, pos] = value
    return out
