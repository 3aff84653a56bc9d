"""Weight layouts of the Cortex-M DSP kernels (templates/cores/dsp/).

The DSP kernels multiply four weight rows at a time against one input vector widened to int16
pairs (tc_dot4_s8 in tc_runtime.h). Each block of four rows is stored interleaved by groups of
four values, so the kernel walks one pointer through a block:

    row 0 k0..3, row 1 k0..3, row 2 k0..3, row 3 k0..3, row 0 k4..7, ...

then the last `cols % 4` values of the block's rows, row by row. Rows past the last full block
stay row-major. A block occupies exactly the bytes of its four rows, so row n's block (n a
multiple of 4) starts at n * cols as in the row-major layout.
"""

from __future__ import annotations

import numpy as np

from .base import ConstArray


def interleave_rows4(w: np.ndarray) -> np.ndarray:
    """[rows][cols] -> the same values in the DSP block layout (same shape, same size)."""
    rows, cols = w.shape
    c4 = cols // 4 * 4
    out = w.copy()
    for n in range(0, rows - 3, 4):
        block = w[n:n + 4]
        head = block[:, :c4].reshape(4, c4 // 4, 4).transpose(1, 0, 2).reshape(-1)
        tail = block[:, c4:].reshape(-1)
        out[n:n + 4] = np.concatenate([head, tail]).reshape(4, cols)
    return out


def uses_dsp_layout(families: tuple[str, ...]) -> bool:
    return "dsp" in families


def uses_mve(families: tuple[str, ...]) -> bool:
    """Helium kernels (templates/cores/mve/) take FULLY_CONNECTED and CONV_2D: they read weight
    rows row-major, 16 values a load (tc_mve_matvec_s8), and keep the int32 accumulators of one
    output position in scratch for a vectorised requantisation."""
    return "mve" in families


def matrix_layout(w: np.ndarray, families: tuple[str, ...]) -> tuple[np.ndarray, str]:
    """[rows][cols] weights as the core's matrix kernels read them + a note for the C comment."""
    if uses_mve(families):
        return w, "row-major (MVE)"
    return interleave_rows4(w), "rows interleaved by 4 (DSP)"


def acc_bytes(rows: int) -> int:
    """Scratch for the MVE kernels' int32 accumulators, rounded up to 16 bytes."""
    return (4 * rows + 15) // 16 * 16


def rounding_powers(q: dict) -> list[ConstArray]:
    """For the DSP requantisation (templates/cores/dsp/kernels/conv_2d_s8_requant.c.j2): when
    every channel of a per-channel layer shifts right by e >= 2, 2^(32 - e) per channel, so the
    rounding shift is one SMLAL (tc_rdbpot_p); else nothing (per-tensor layers get the constant)."""
    shifts = [s for _, s in q["mults"]]
    if not q["per_channel"] or max(shifts) > -2:
        return []
    return [ConstArray("rpow", "int32_t", np.array([1 << (32 + s) for s in shifts], np.int32),
                       "per-channel 2^(32 - right shift)")]


def wrapped_bias(bias: np.ndarray, io: int, rows: np.ndarray, n_out: int) -> ConstArray:
    """The DSP and Helium convolutions' bias: bias + input offset * filter row sums, wrapped to
    int32 as the reference's accumulator wraps."""
    wrapped = (bias + io * rows.astype(np.int64).sum(axis=1) + 2**31) % 2**32 - 2**31
    return ConstArray("bias_folded", "int32_t", wrapped.astype(np.int32),
                      f"[{n_out}] bias + input offset ({io}) * filter sums, mod 2^32")


def s4_scratch(taps: int) -> int:
    """Scratch of the DSP int4 kernels' widened vectors (templates/cores/dsp/kernels/_dot_s4.c.j2):
    16 bytes per 8 taps, and with odd taps a second copy from the second tap (odd rows)."""
    return max(16, 16 * (taps // 8 + ((taps - 1) // 8 if taps % 2 else 0)))


def s4_dsp_fits(enc, taps: int) -> bool:
    """int4 weights the DSP kernels take: 16 * the largest sum of products (|w| <= 8,
    |x| <= 128) fits int32 (tc_dot1_s4 sums 16 * w * x)."""
    return enc is not None and enc.format == "int4" and 16 * 8 * 128 * taps < 2**31
