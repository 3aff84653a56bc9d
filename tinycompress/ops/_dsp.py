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
    every channel of a per-channel layer shifts right by e >= 2, e - 2 per channel, so that both
    roundings are one SMLAL (tc_requant_1r); else nothing (per-tensor layers get the constant)."""
    shifts = [s for _, s in q["mults"]]
    if not q["per_channel"] or max(shifts) > -2:
        return []
    return [ConstArray("rshift2", "int8_t", np.array([-s - 2 for s in shifts], np.int8),
                       "per-channel right shift - 2")]


def zp_folded_requant(q: dict, max_abs_acc: int) -> dict | None:
    """For the DSP depthwise kernels (tc_requant_1rz in tc_runtime.h, one SMMLAR of twice the
    accumulator): when every channel shifts right by e >= 1, |2^(e-1) + out_zp 2^e| < 2^30 and
    every accumulator stays below 2^30 in magnitude (`max_abs_acc` bounds it), the rounding and
    the output zero point folded into one constant kz per channel: per channel `mult`, `kz` and
    `e` lists. None otherwise."""
    es = [-s for _, s in q["mults"]]
    if min(es) < 1 or max_abs_acc >= 1 << 30:
        return None
    kz = [(1 << (e - 1)) + q["out_zp"] * (1 << e) for e in es]
    if max(abs(k) for k in kz) >= 1 << 30:
        return None
    return dict(mult=[m for m, _ in q["mults"]], kz=kz, e=es)


def wrapped_bias(bias: np.ndarray, io: int, rows: np.ndarray, n_out: int) -> ConstArray:
    """The DSP and Helium convolutions' bias: bias + input offset * filter row sums, wrapped to
    int32 as the reference's accumulator wraps."""
    wrapped = (bias + io * rows.astype(np.int64).sum(axis=1) + 2**31) % 2**32 - 2**31
    return ConstArray("bias_folded", "int32_t", wrapped.astype(np.int32),
                      f"[{n_out}] bias + input offset ({io}) * filter sums, mod 2^32")


def layout_w16(w: np.ndarray, block: int) -> np.ndarray:
    """[rows][cols] int8 weights -> int32 words of int16 pairs for the *_w16 DSP kernels
    (tc_dot2x2_w16 with block 2, tc_dot4x1_w16 with block 4 in tc_runtime.h): rows padded with
    zero rows to whole blocks, cols with zeros to whole groups of four; per block, per group of
    four values k..k+3, each row's two words (w[k] | w[k+2] << 16), (w[k+1] | w[k+3] << 16), the
    pairs SXTB16 and SXTB16 ROR #8 make of the inputs. Returns [blocks][groups][block][2]
    flattened."""
    rows, cols = w.shape
    padded = np.zeros((-(-rows // block) * block, -(-cols // 4) * 4), np.int64)
    padded[:rows, :cols] = w
    return pairs_w16(padded.reshape(-1, block, padded.shape[1] // 4, 4).transpose(0, 2, 1, 3))


def pairs_w16(groups: np.ndarray) -> np.ndarray:
    """[..., 4] int8 values (w0..w3) -> their int16-pair words (w0 | w2 << 16),
    (w1 | w3 << 16), flattened in order: what SMLAD / SMLABB / SMLATT pair with SXTB16 and
    SXTB16 ROR #8 of four inputs."""
    g = groups.astype(np.int64)
    lo = (g[..., 0] & 0xFFFF) | ((g[..., 2] & 0xFFFF) << 16)
    hi = (g[..., 1] & 0xFFFF) | ((g[..., 3] & 0xFFFF) << 16)
    words = np.stack([lo, hi], axis=-1).reshape(-1)
    return ((words + 2**31) % 2**32 - 2**31).astype(np.int32)


def layout_w8(w: np.ndarray, block: int) -> np.ndarray:
    """[rows][cols] int8 weights -> int32 words of four int8 for the *_w8 DSP kernels
    (tc_dot2x2_w8 with block 2, tc_dot4x1_w8 with block 4): padded as layout_w16, per block and
    group of four values k..k+3 each row's word w[k] | w[k+1] << 8 | w[k+2] << 16 | w[k+3] << 24
    (little-endian: the bytes in order), which SXTB16 and SXTB16 ROR #8 split into layout_w16's
    two pairs. Returns [blocks][groups][block] flattened: the int8 size, padding aside."""
    rows, cols = w.shape
    padded = np.zeros((-(-rows // block) * block, -(-cols // 4) * 4), np.int64)
    padded[:rows, :cols] = w
    groups = padded.reshape(-1, block, padded.shape[1] // 4, 4).transpose(0, 2, 1, 3)
    return words_w8(groups)


def words_w8(groups: np.ndarray) -> np.ndarray:
    """[..., 4] int8 values -> one little-endian int32 word each, flattened in order."""
    b = groups.astype(np.int64) & 0xFF
    words = (b[..., 0] | b[..., 1] << 8 | b[..., 2] << 16 | b[..., 3] << 24).reshape(-1)
    return ((words + 2**31) % 2**32 - 2**31).astype(np.int32)


def dw_tap_pairs(groups: np.ndarray, w8: bool) -> np.ndarray:
    """[G][T][4] int8 depthwise weights (G groups of four channels, T taps) -> the words the DSP
    depthwise kernel reads per group: per pair of taps (t, t + 1) the weights paired by
    channel, as SMLAD takes them against PKHBT / PKHTB of the two taps' input words (channel
    k's int16 pair (tap t, tap t + 1)), then with T odd the last tap as pairs_w16 / words_w8
    (channels (0, 2), (1, 3)). Per pair: int16 (w_t, w_t+1) for channels 0, 1, 2, 3 (four
    words), or with `w8` the bytes w_t0 w_t1 w_t+1,0 w_t+1,1 and w_t2 w_t3 w_t+1,2 w_t+1,3
    (two words, which SXTB16 and SXTB16 ROR #8 make the int16 pairs)."""
    g = groups.astype(np.int64)
    n_groups, taps, _ = g.shape
    out = []
    for i in range(n_groups):
        for t in range(0, taps - 1, 2):
            a, b = g[i, t], g[i, t + 1]
            if w8:
                out.append(words_w8(np.array([[a[0], a[1], b[0], b[1]], [a[2], a[3], b[2], b[3]]])))
            else:
                w = (a & 0xFFFF) | ((b & 0xFFFF) << 16)
                out.append(((w + 2**31) % 2**32 - 2**31).astype(np.int32))
        if taps % 2:
            last = g[i, taps - 1:taps]
            out.append(words_w8(last) if w8 else pairs_w16(last))
    return np.concatenate(out).astype(np.int32)


# The blocked kernels' choice between int16 weights (_w16) and int8 (_w8) per `ctx.optimize`:
# "speed" takes _w16 everywhere, "size" _w8 everywhere, "balanced" (Context's default) _w16 for a
# layer only when it saves at least W16_MIN_SAVED_PER_BYTE instructions per extra flash byte (one
# a weight). Each weight serves one MAC per output position, so per extra byte _w16 saves its
# instructions per MAC times the layer's output positions. Instructions _w16 saves per MAC,
# measured on Cortex-M4F (QEMU, every layer of the four MLPerf Tiny models, _w8 - _w16):
# CONV_2D 0.19-0.27 (two SXTB16 a row's word, over two pixels), DEPTHWISE_CONV_2D 0.50-0.59
# (two SXTB16 a pair of taps' word, and one LSL a requantisation), FULLY_CONNECTED 0.38-0.75.
# Measured per extra byte the layers fall into two groups with a gap between 19 and 26
# instructions: KWS's pointwise convolutions save 26 to 28 (their 125 positions) and its
# depthwise ones 63, VWW's 12x12 convolutions 29 to 33, while VWW's 6x6 depthwise layers save 18
# to 19, IC's 8x8 convolutions 12 to 15 and AD's layers 0.4. The threshold sits in the gap:
# int16 for the first group (KWS all int16 but its FULLY_CONNECTED: 57.8 KB flash), int8 for the
# second (IC's 8x8 layers in int16 would add 57 KB, past its flash target of 0.8x TFLM's).
W16_SAVED_PER_MAC = {"CONV_2D": 0.2, "DEPTHWISE_CONV_2D": 0.5, "FULLY_CONNECTED": 0.38}
W16_MIN_SAVED_PER_BYTE = 22


def wants_w16(ctx, op: str, positions: int) -> bool:
    """Whether an `op` layer of `positions` output positions (batches included) takes its _w16
    kernel under ctx.optimize (see W16_SAVED_PER_MAC)."""
    mode = ctx.optimize
    if mode in ("speed", "size"):
        return mode == "speed"
    return W16_SAVED_PER_MAC[op] * positions >= W16_MIN_SAVED_PER_BYTE


def s4_scratch(taps: int) -> int:
    """Scratch of the DSP int4 kernels' widened vectors (templates/cores/dsp/kernels/_dot_s4.c.j2):
    16 bytes per 8 taps, and with odd taps a second copy from the second tap (odd rows)."""
    return max(16, 16 * (taps // 8 + ((taps - 1) // 8 if taps % 2 else 0)))


def s4_dsp_fits(enc, taps: int) -> bool:
    """int4 weights the DSP kernels take: 16 * the largest sum of products (|w| <= 8,
    |x| <= 128) fits int32 (tc_dot1_s4 sums 16 * w * x)."""
    return enc is not None and enc.format == "int4" and 16 * 8 * 128 * taps < 2**31
