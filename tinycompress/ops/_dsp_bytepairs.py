"""The byte-pair weight layout of the Cortex-M DSP FULLY_CONNECTED kernel with int8 weights
(tc_dot4x1_w8p in tc_runtime.h, templates/cores/dsp/kernels/fully_connected_s8_w16.c.j2).

Unpacking int8 weights for SMLAD costs one SXTB16 per two weights (tc_dot4x1_w8). Here two rows
share each halfword instead: row 1's weight in the high byte, row 0's plus 128 (0..255) in the
low byte, so the halfword read as int16 is 256 w1 + (w0 + 128) and one SMLAD of a raw word with
two inputs adds 256 (row 1's two products) + (row 0's two products) + 128 (the two inputs). One
SXTB16 ROR #8 of the same word gives row 1's two weights for a second SMLAD of row 1 alone. With
the packed accumulator started at bias0 + 256 bias1 - 128 sum(x) and row 1's at bias1, row 0's
sum is the packed one minus 256 row 1's, all modulo 2^32 as the reference's int32 accumulator:
16 MACs in 15 instructions (three LDRD, four SXTB16, eight SMLAD) at the int8 size."""

from __future__ import annotations

import numpy as np

from ._dsp import words_w8


def layout_w8p(w: np.ndarray) -> np.ndarray:
    """[rows][cols] int8 weights -> int32 words: rows padded with zero rows to whole blocks of
    four, cols with zeros to whole groups of four; per block and group of four values k..k+3,
    rows (0, 1)'s words for (k, k+2) and (k+1, k+3) (the pairs tc_widen_w16 makes of the
    inputs), then rows (2, 3)'s; each halfword row 0's (or 2's) weight + 128, then row 1's (or
    3's). Returns [blocks][groups][2 row pairs][2] flattened: the int8 size, padding aside."""
    rows, cols = w.shape
    padded = np.zeros((-(-rows // 4) * 4, -(-cols // 4) * 4), np.int64)
    padded[:rows, :cols] = w
    g = padded.reshape(-1, 2, 2, padded.shape[1] // 4, 4)  # [block][pair][row in pair][group][k]
    low, high = g[:, :, 0] + 128, g[:, :, 1]  # [block][pair][group][k]
    inter = np.stack([low, high], axis=-1)  # [block][pair][group][k][low, high]
    words = inter[..., [0, 2, 1, 3], :].reshape(*inter.shape[:3], 2, 4)  # (k, k+2), (k+1, k+3)
    return words_w8(words.transpose(0, 2, 1, 3, 4))


def bias_pairs(folded: np.ndarray) -> np.ndarray:
    """The accumulators' starting values, padded to whole blocks of four rows: at an even row n,
    bias[n] + 256 bias[n + 1] (wrapped to int32; the kernel takes off 128 sum(x)), at an odd row
    its own bias."""
    b = np.zeros(-(-len(folded) // 4) * 4, np.int64)
    b[:len(folded)] = folded
    b[0::2] = b[0::2] + 256 * b[1::2]
    return ((b + 2**31) % 2**32 - 2**31).astype(np.int32)
