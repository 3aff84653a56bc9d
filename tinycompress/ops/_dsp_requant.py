"""The one-SMMLAR requantisation of the Cortex-M DSP convolutions (tc_requant_mr in tc_runtime.h,
templates/cores/dsp/kernels/conv_2d_s8_requant.c.j2): its per-channel constants, and when it
applies.

The reference requantises an accumulator a with multiplier m in [0, 2^31) and shift -e <= 0 as
rdbpot(srdhm(a, m), e) + zp (gemmlowp's two roundings). With the accumulator doubled (the kernel
sums 2a: the bias doubled and either the int16 weights or the widened inputs doubled),

    r = srdhm(a, m) = floor((a m + 2^30) / 2^31) = floor((2a m + 2^31) / 2^32),

the high word SMMLAR rounds to; SMMLAR also adds a constant k to it for free. For e >= 1 the
rounding shift (ties away from zero) is floor((r + 2^(e-1) - [r < 0]) / 2^e), and [r < 0] may
be read off the accumulator's sign (they differ only when r = 0, where both give 0); adding
zp 2^e inside the floor adds zp after it. So with k = 2^(e-1) + zp 2^e the whole is
(SMMLAR(2a, m, k) + (2a >> 31)) >> e: five instructions with the clamp and store. For e = 0
the sign term is masked off (f = 0; -1 otherwise), which the kernel pays only when some channel
has e = 0.

It applies when every shift is <= 0 and every channel's accumulator provably stays below 2^30
in magnitude (its range from the bias, the weights and the input range: 2a fits int32), or else
requantises to one value over its whole range (the requantisation is monotone: a dead channel
with a huge bias): such a channel becomes m = 0, e = 1, k = 2 v + 1, which gives v whatever the
wrapped accumulator's sign. A shift larger than the accumulator can reach gives 0 at any larger
shift too, so e is clamped to one past the accumulator's bit length, which keeps k in int32; zp
is folded into k only when every k + r still fits int32."""

from __future__ import annotations

import numpy as np

from ..quant import multiply_by_quantized_multiplier_double_rounding as dr
from .base import ConstArray

ACC_LIMIT = 2**30  # |accumulator| below this: doubled, it fits int32


def accumulator_range(rows: np.ndarray, bias: np.ndarray, io: int) -> tuple[np.ndarray, np.ndarray]:
    """Per channel, the least and greatest bias + sum w (x + io) over int8 inputs x (padding
    reads x = -io, a zero term, inside the range)."""
    w = rows.astype(np.int64)
    pos, neg = np.where(w > 0, w, 0).sum(axis=1), np.where(w < 0, w, 0).sum(axis=1)
    lo_x, hi_x = -128 + io, 127 + io
    b = bias.astype(np.int64)
    return b + pos * lo_x + neg * hi_x, b + pos * hi_x + neg * lo_x


def requant_mr(q: dict, rows: np.ndarray, bias: np.ndarray, io: int) -> dict | None:
    """The constants of tc_requant_mr for a layer of `rows` [channels][taps] int8 weights, raw
    `bias` and input offset `io`, or None when it does not apply (a left shift, or a channel
    whose accumulator may reach 2^30 and whose output is not constant). Returns consts (rq: m
    and k per channel, interleaved for one LDRD; rqe: e; rqf: the sign masks, only when some e
    is 0) and zp_folded (whether k holds the output zero point)."""
    mults = q["mults"]
    if any(s > 0 for _, s in mults):
        return None
    lo, hi = accumulator_range(rows, bias, io)
    if lo.min(initial=0) < -2**31 or hi.max(initial=0) >= 2**31:
        return None  # the reference's accumulator may wrap: its range is no interval
    bound = np.maximum(np.abs(lo), np.abs(hi))
    const = np.array([int(b) >= ACC_LIMIT and dr(int(a), mm, s) == dr(int(c), mm, s)
                      for a, c, b, (mm, s) in zip(lo, hi, bound, mults)], bool)
    if np.any((bound >= ACC_LIMIT) & ~const):
        return None
    bound = np.where(const, 0, bound)
    m = np.array([0 if k else mm for k, (mm, _) in zip(const, mults)], np.int64)
    r_bound = (bound * m + 2**30) // 2**31 + 1  # |r| <= this
    # the smallest shift E with 2^(E-1) > r_bound: |r| < 2^(E-1), so shifts >= E all give 0
    cap = np.array([int(v).bit_length() + 1 for v in r_bound], np.int64)
    e = np.where(const, 1, np.minimum(np.array([-s for _, s in mults], np.int64), cap))
    half = np.where(e >= 1, np.left_shift(1, np.maximum(e - 1, 0)), 0)
    value = np.array([2 * dr(int(a), mm, s) if k else 0
                      for a, k, (mm, s) in zip(lo, const, mults)], np.int64)
    zp = q["out_zp"]
    k = half + value + zp * np.left_shift(1, e)
    zp_folded = bool(np.all(np.abs(k) + r_bound + 1 < 2**31))
    if not zp_folded:
        k = half + value
    words = np.stack([m, k], axis=1).reshape(-1)
    consts = [ConstArray("rq", "int32_t", words.astype(np.int32),
                         "per channel: multiplier, rounding constant"
                         + (" + output zero point * 2^shift" if zp_folded else "")),
              ConstArray("rqe", "int8_t", e.astype(np.int8), "per-channel right shift")]
    if np.any(e == 0):
        consts.append(ConstArray("rqf", "int8_t", np.where(e >= 1, -1, 0).astype(np.int8),
                                 "per-channel sign mask (0: shift 0, no rounding)"))
    return dict(consts=consts, zp_folded=zp_folded)


def single_rounding_mm(mult: int, shift: int, zp: int) -> dict | None:
    """FULLY_CONNECTED's single rounding, floor((x m + 2^(t-1)) / 2^t) with t = 31 - shift,
    for t >= 33 in one SMMLA (tc_smmla): 2^(t-1) is a whole multiple of 2^32, so the floors nest
    as floor((floor(x m / 2^32) + 2^(t-33)) / 2^(t-32)), and zp 2^(t-32) inside adds zp. The
    high word is below 2^30 in magnitude, so k fits int32 when it is below 2^30 too (else zp
    is added after). None for t < 33 (shift > -2)."""
    if shift > -2:
        return None
    e = -shift - 1
    k = (1 << (e - 1)) + zp * (1 << e)
    folded = abs(k) < 2**30
    return dict(k=k if folded else 1 << (e - 1), e=e, zp_folded=folded)
