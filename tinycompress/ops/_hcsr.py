"""The ``hcsr`` weight format: Huffman-coded compressed sparse rows, decoded by table lookup,
two entries a 32-bit load.

FULLY_CONNECTED only (a ROW_FORMAT, as ``csr``). Per row the count of its entries, then one bit
stream over the rows in order: per entry the gap from the previous entry of the row (the first
from column -1) and the entry's int8 value, each canonical-Huffman coded (one code for gaps, one
for values). A gap longer than the layer's `cap` (16..128: the one of the fewest fillers within
CAP_SLACK of the fewest bytes) is bridged by filler entries of value 0 (the value code always
has a symbol for 0). Codes are written least significant bit first and limited in length
(`limited_lengths`) so that each code is decoded by one lookup of its table with no fallback:

* ``gap_table``  uint16 [2^gap_peek]: the next gap_peek bits -> gap << 8 | code length;
* ``val_table``  uint32 [2^val_peek]: the next val_peek bits -> value << 16 | code length
                 (the value in the high halfword: SMLATB multiplies it on a DSP core).

The kernel (fully_connected_s8_hcsr.c.j2) reads a row's entries two at a time (a last odd one
alone) from one unaligned little-endian 32-bit load at byte p with a sentinel in its top bit,
shifted right by the bit offset o (0..7): two lookups and two shifts an entry, each shift by the
table entry's low byte, then the column update, an input load and a multiply-add. The leading
zeros of what is left are then o plus the bits the pair took, which advance p and o (no running
bit count). So a pair's codes must end by bit 30 of its load (`ROOM`): where a pair would not,
the encoder (`_fit`, `_pair`) puts a filler entry of value 0 into it, splitting a gap. The stream is
padded with 4 bytes. The lengths are chosen per layer (peek 1..MAX_PEEK bits for each code) to
minimise the bytes of the stream and both tables together. The bias is the folded one
(bias + input offset * row sums) in the narrowest integer type that holds it (fully_connected.py
`_hcsr`), so the kernel multiplies the raw int8 inputs; ``hcsr+raw`` (`raw_bias`) is the same
encoding with the narrowest of the raw and the folded bias, the kernel then adding the input
offset to each input.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from ..compress.huffman import canonical_codes, code_lengths
from .base import ConstArray

CAPS = (16, 32, 64, 128)  # longest gap one entry holds (longer ones take fillers)
# The cap with the fewest entries among those within CAP_SLACK of the fewest bytes: a filler
# costs a whole entry's decode.
CAP_SLACK = 0.03
MAX_PEEK = 10  # table bits at most (1,024 entries)
ROOM = 31  # a load's bits o.. that codes may take: bit 31 holds the sentinel
MAX_ENTRY_BITS = ROOM - 7  # gap_peek + val_peek: one entry alone fits at any bit offset (0..7)
# Code length limits tried in turn until every pair fits: the last one fits any pair at cap 16
# (4-bit gaps, 8-bit values: a pair 24 bits at most).
LIMITS = ((MAX_PEEK, MAX_PEEK), (8, 8), (6, 7), (4, 8))
FILLER_GAPS = 8  # the gaps of the shortest codes a splitting filler may take
STREAM_PAD = 4  # the kernel's 32-bit load at the last entry stays inside the array

Entry = tuple[int, int]  # (gap from the previous entry of the row, value)


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


def _best_code(freqs: Counter, table_bytes: int,
               limit: int = MAX_PEEK) -> tuple[int, dict[int, int], float] | None:
    """(peek, lengths, bytes of stream bits + table) of the cheapest length limit up to `limit`
    (None if `freqs` has more symbols than codes of `limit` bits)."""
    best = None
    for peek in range(max(1, (len(freqs) - 1).bit_length()), limit + 1):
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


def _rows(w: np.ndarray, cap: int) -> list[list[Entry]]:
    counts, gaps, vals = _row_entries(w, cap)
    ends = np.cumsum(counts).tolist()
    entries = list(zip(gaps, vals))
    return [entries[e - int(n):e] for n, e in zip(counts, ends)]


def _fit(a: Entry, b: Entry, o: int, gl: dict, vl: dict, fill: list[int]):
    """The next pair at bit offset o: (a, b) if it fits in ROOM, else the fitting split of the
    fewest extra bits (a filler F = (f, 0) taking part of a gap): (a, F), (F, a') or (F, F');
    returns (the pair, what replaces a and b in the row) or None."""
    bits = lambda e: gl[e[0]] + vl[e[1]]  # noqa: E731
    if o + bits(a) + bits(b) <= ROOM:
        return (a, b), []
    options = []
    for f in fill:
        if f < b[0] and b[0] - f in gl and o + bits(a) + gl[f] + vl[0] <= ROOM:
            options.append((gl[f] + vl[0] + gl[b[0] - f] - gl[b[0]], (a, (f, 0)),
                            [(b[0] - f, b[1])]))
        rest = (a[0] - f, a[1])
        if f < a[0] and rest[0] in gl and o + gl[f] + vl[0] + bits(rest) <= ROOM:
            options.append((gl[f] + vl[0] + gl[rest[0]] - gl[a[0]], ((f, 0), rest), [b]))
        for f2 in fill:
            rest = (a[0] - f - f2, a[1])
            if rest[0] in gl and o + gl[f] + gl[f2] + 2 * vl[0] <= ROOM:
                options.append((gl[f] + gl[f2] + 2 * vl[0] + gl[rest[0]] - gl[a[0]],
                                ((f, 0), (f2, 0)), [rest, b]))
    return min(options, key=lambda t: t[0])[1:] if options else None


def _pair(rows: list[list[Entry]], gl: dict, vl: dict) -> list[list[Entry]] | None:
    """The rows as the kernel reads them (pairs, a last odd entry alone), fillers put in where a
    pair would not fit its load; None if one cannot be made to."""
    fill = sorted((g for g in gl if g > 0), key=lambda g: (gl[g], g))[:FILLER_GAPS]
    bp, out = 0, []
    for row in rows:
        rest, done = list(row), []
        while len(rest) >= 2:
            fit = _fit(rest[0], rest[1], bp & 7, gl, vl, fill)
            if fit is None:
                return None
            pair, rest[:2] = fit
            done += pair
            bp += sum(gl[g] + vl[v] for g, v in pair)
        done += rest
        bp += sum(gl[g] + vl[v] for g, v in rest)
        out.append(done)
    return out


def _code(rows: list[list[Entry]]):
    """(paired rows, gap peek and lengths, value peek and lengths, bytes of stream and tables)
    under the first of LIMITS where every pair fits, or None. The codes are built from the
    entries (and value 0), then again from the entries with the fillers the first pairing put
    in (every symbol of the entries kept), and the rows paired again with the second codes
    (the first pairing stands if the second fails)."""
    gaps = Counter(g for row in rows for g, _ in row)
    vals = Counter(v for row in rows for _, v in row) + Counter([0])
    for g_limit, v_limit in LIMITS:
        gf, vf, found = gaps, vals, None
        for _ in range(2):
            g, v = _best_code(gf, 2, g_limit), _best_code(vf, 4, v_limit)
            paired = _pair(rows, g[1], v[1]) if g and v else None
            if paired is None:
                break
            found = paired, g, v
            flat = [e for row in paired for e in row]
            gf = Counter(e[0] for e in flat) + Counter(set(gaps))
            vf = Counter(e[1] for e in flat) + Counter(set(vals))
        if found is not None:
            paired, g, v = found
            bits = sum(g[1][a] + v[1][b] for row in paired for a, b in row)
            return paired, g[:2], v[:2], bits / 8 + 2 * (1 << g[0]) + 4 * (1 << v[0])
    return None


def hcsr(w: np.ndarray, raw_bias: bool = False):
    """The hcsr Encoding of `w` (rows x cols int8 values) with the cap and code lengths that take
    the fewest bytes; `raw_bias` (label hcsr+raw): the kernel takes the narrowest bias, raw or
    folded (fully_connected.py `_hcsr`)."""
    from ._weight_formats import Encoding

    rows, cols = w.shape
    found = []
    for cap in CAPS:
        coded = _code(_rows(w, cap))
        if coded is not None:
            found.append((coded[3], sum(len(r) for r in coded[0]), cap, *coded[:3]))
        if cap >= cols:
            break  # no gap is longer than the row
    fewest = min(f[0] for f in found)
    _, n_entries, cap, paired, (g_peek, g_len), (v_peek, v_len) = min(
        (f for f in found if f[0] <= (1 + CAP_SLACK) * fewest), key=lambda f: f[1])
    g_code, v_code = lsb_codes(g_len), lsb_codes(v_len)
    stream = [c for row in paired for g, v in row for c in (g_code[g], v_code[v])]
    counts = np.array([len(r) for r in paired], np.int64)
    ctype, cdt = ("uint8_t", np.uint8) if counts.max(initial=0) <= 255 else ("uint16_t", np.uint16)
    g_tab = lookup(g_code, g_peek, lambda g, n: g << 8 | n)
    v_tab = lookup(v_code, v_peek, lambda v, n: (v & 0xFFFF) << 16 | n)
    nbits = sum(n for _, n in stream)
    consts = [
        ConstArray("counts", ctype, counts.astype(cdt), f"[{rows}] entries per row (fillers too)"),
        ConstArray("stream", "uint8_t", _pack_lsb(stream),
                   f"{nbits} bits: per entry the Huffman codes of its gap and value, LSB first"),
        ConstArray("gap_table", "uint16_t", g_tab.astype(np.uint16),
                   f"[{1 << g_peek}] next {g_peek} bits -> gap << 8 | code length"),
        ConstArray("val_table", "uint32_t", v_tab.astype(np.uint32),
                   f"[{1 << v_peek}] next {v_peek} bits -> value << 16 | code length"),
    ]
    fillers = n_entries - int(np.count_nonzero(w))
    return Encoding("hcsr", "hcsr+raw" if raw_bias else "hcsr", consts,
                    dict(n_entries=n_entries, n_fillers=fillers, cap=cap, gap_peek=g_peek,
                         val_peek=v_peek, raw_bias=raw_bias))


def decode(enc, rows: int, cols: int) -> np.ndarray:
    """The dense matrix back, read as the kernel reads it (a model of the C, for tests)."""
    c = {a.name: a.values for a in enc.consts}
    stream = bytes(c["stream"].astype(np.uint8))
    gt, vt = c["gap_table"].astype(np.int64), c["val_table"].astype(np.int64)
    gm, vm = (1 << enc.params["gap_peek"]) - 1, (1 << enc.params["val_peek"]) - 1
    out = np.zeros((rows, cols), np.int64)
    p = o = 0
    for r in range(rows):
        pos, k = -1, int(c["counts"][r])
        for n in [2] * (k // 2) + [1] * (k % 2):
            w = (int.from_bytes(stream[p:p + 4], "little") | 1 << 31) >> o
            for _ in range(n):
                g = int(gt[w & gm])
                w >>= g & 255
                pos += g >> 8
                v = int(vt[w & vm])
                w >>= v & 255
                if not 0 <= pos < cols:
                    raise ValueError(f"row {r}: an entry at column {pos} of {cols}")
                out[r, pos] = ((v >> 16) ^ 0x8000) - 0x8000
            if w == 0:
                raise ValueError(f"row {r}: a pair's codes ran past its load")
            k_bits = 32 - w.bit_length()
            p, o = p + (k_bits >> 3), k_bits & 7
    return out
