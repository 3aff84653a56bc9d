"""The DSP kernels' fast double-rounding requantisation (tc_srdhm_m, tc_requant_dr,
tc_requant_dr_rshift, tc_rdbpot_p, tc_requant_1r, tc_requant_1rz in tc_runtime.h) against tinycompress.quant's gemmlowp functions, compiled
with the host gcc: every multiplier/shift the quantiser can produce is in [0, 2^31) x [-31, 30],
and over random and adversarial accumulators (ties of both signs, INT32 extremes, wrapping left
shifts) the C must give exactly the Python value."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest

from tinycompress.emit import templates_dir
from tinycompress.quant import (multiply_by_quantized_multiplier_double_rounding,
                                saturating_rounding_doubling_high_mul)

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")

PROGRAM = r"""
#include <stdio.h>
#include <inttypes.h>
#include <stdlib.h>
#include "tc_runtime.h"
int main(void)
{
    long x, m, s, zp;
    while (scanf("%ld %ld %ld %ld", &x, &m, &s, &zp) == 4) {
        const long kz = s <= -1 ? (1L << (-s - 1)) + zp * (1L << -s) : 0;
        printf("%" PRId32 " %" PRId32 " %" PRId32 " %" PRId32 " %" PRId32 " %" PRId32 "\n",
               tc_srdhm_m((int32_t)x, (int32_t)m), tc_requant_dr((int32_t)x, (int32_t)m, (int)s),
               s <= 0 ? tc_requant_dr_rshift((int32_t)x, (int32_t)m, (int)s) : 0,
               s <= -2 ? tc_rdbpot_p(tc_srdhm_m((int32_t)x, (int32_t)m), (int32_t)(1L << (32 + s)))
                       : 0,
               s <= -2 ? tc_requant_1r((int32_t)x, (int32_t)m, (int)(-s - 2)) : 0,
               s <= -1 && labs(kz) < (1L << 30)
                   ? tc_requant_1rz((int32_t)x, (int32_t)m, (int32_t)kz, (int)-s) : 0);
    }
    return 0;
}
"""


def cases(n: int = 60000, seed: int = 0) -> list[tuple[int, int, int]]:
    rng = np.random.default_rng(seed)
    lo, hi = -(1 << 31), (1 << 31) - 1
    xs = list(rng.integers(lo, hi, n, endpoint=True)) + list(rng.integers(-70000, 70000, n))
    ms = list(rng.integers(1 << 30, 1 << 31, 2 * n))
    ss = list(rng.integers(-31, 31, 2 * n))
    out = [(int(x), int(m), int(s)) for x, m, s in zip(xs, ms, ss)]
    # Ties of the high multiply: a * 2^30 with a odd is 2^30 mod 2^31, positive and negative.
    out += [(a, 1 << 30, s) for a in (1, -1, 3, -3, 12345, -12345, lo + 1, hi) for s in (0, -1, -5)]
    # Ties of the rounding shift: products landing on k + 1/2 after the shift.
    for e in (1, 2, 7, 31):
        for k in (-5, -1, 0, 4):
            out += [((2 * k + 1) << (e - 1), 1 << 30, 0 - e), ((2 * k + 1) << (e - 1), (1 << 31) - 1, -e)]
    out += [(x, m, s) for x in (lo, hi, 0, -1, 1) for m in (0, 1 << 30, (1 << 31) - 1)
            for s in (-31, -30, -2, -1, 0, 1, 30)]
    # tc_requant_1r: multipliers below 2^30 too (x m in [-2^30, 0): the high multiply gives 0
    # for a negative x), and ties of the second rounding reached through the first.
    small = rng.integers(0, 1 << 30, n)
    out += [(int(x), int(m), int(s)) for x, m, s in zip(rng.integers(-(1 << 20), 1 << 20, n),
                                                        small, rng.integers(-31, -1, n))]
    out += [(x, m, s) for x in (-1, -2, -3, 1, 2) for m in (1, (1 << 30) - 1, 1 << 29)
            for s in (-2, -3, -31)]
    for e in (2, 3, 9, 31):  # x1 = (2k + 1) 2^(e-1) exactly: x = x1 * 2 at m = 2^30
        out += [(((2 * k + 1) << (e - 1)) * 2, 1 << 30, -e) for k in (-3, -1, 0, 2)
                if lo <= ((2 * k + 1) << (e - 1)) * 2 <= hi]
    return [(x if lo <= x <= hi else x % (1 << 32) - (1 << 32) * (x % (1 << 32) > hi), m, s)
            for x, m, s in out]


def test_fast_requantisation_matches_gemmlowp():
    data = cases()
    with tempfile.TemporaryDirectory(prefix="tc-requant-") as tmp:
        src, exe = Path(tmp, "t.c"), Path(tmp, "t")
        src.write_text(PROGRAM)
        subprocess.run(["gcc", "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror",
                        f"-I{templates_dir()}", str(src), "-o", str(exe)], check=True)
        zps = np.random.default_rng(1).integers(-128, 128, len(data))
        zps[:6] = [-128, 127, 0, -1, 1, -128]
        stdin = "".join(f"{x} {m} {s} {z}\n" for (x, m, s), z in zip(data, zps))
        got = subprocess.run([str(exe)], input=stdin, capture_output=True, text=True,
                             check=True).stdout.split("\n")
    checked_1rz = 0
    for (x, m, s), z, line in zip(data, zps, got):
        hm, dr, drr, drp, r1, r1z = (int(v) for v in line.split())
        assert hm == saturating_rounding_doubling_high_mul(x, m), (x, m)
        want = multiply_by_quantized_multiplier_double_rounding(x, m, s)
        assert dr == want, (x, m, s, dr, want)
        if s <= 0:
            assert drr == want, (x, m, s, drr, want)
        if s <= -2:
            assert drp == want, (x, m, s, drp, want)
            assert r1 == want, (x, m, s, r1, want)
        if s <= -1 and abs((1 << (-s - 1)) + int(z) * (1 << -s)) < 1 << 30 and abs(x) < 1 << 30:
            assert r1z == want + z, (x, m, s, z, r1z, want)
            checked_1rz += 1
    assert checked_1rz > len(data) // 4


def smmlar_requant_model(acc: np.ndarray, consts: list, zp_folded: bool, zp: int) -> np.ndarray:
    """tc_requant_mr / tc_requant_mr0 (tc_runtime.h) on int64 accumulators [n][channels]:
    SMMLAR(2a, m, k) = k + floor((2a m + 2^31) / 2^32), plus the masked sign, shifted by e; the
    sum before the shift must fit int32 as the C's does."""
    words = consts[0].values.astype(np.int64).reshape(-1, 2)
    e = consts[1].values.astype(np.int64)
    f = consts[2].values.astype(np.int64) if len(consts) > 2 else -1
    a2 = (2 * acc + 2**31) % 2**32 - 2**31  # wrapped as the kernel's int32 accumulator
    t = words[:, 1] + ((a2 * words[:, 0] + 2**31) >> 32) + ((a2 >> 31) & f)
    assert np.abs(t).max() < 2**31
    return (t >> e) + (0 if zp_folded else zp)


@pytest.mark.parametrize("zp,io,taps,bias_mag", [(-128, 128, 27, 5000), (5, -3, 300, 2**20),
                                                 (127, 0, 1, 0), (-3, 100, 2000, 2**26)])
def test_one_smmlar_requantisation_matches_gemmlowp(zp, io, taps, bias_mag):
    """requant_mr's constants (ops/_dsp_requant.py) with the kernels' formula give the gemmlowp
    double rounding + zero point on every channel: shifts 0 (the sign mask), 1, 2..31 (large
    ones clamped), multipliers across [0, 2^31), a dead channel (huge bias, constant output),
    accumulators at the ends of their range, at ties of both roundings and random."""
    from tinycompress.ops._dsp_requant import accumulator_range, requant_mr
    rng = np.random.default_rng(taps)
    shifts = [0, -1, -2, -3, -7, -13, -20, -26, -30, -31] * 3
    ch = len(shifts)
    mults = [(int(m), s) for m, s in zip(rng.integers(1 << 30, 1 << 31, ch), shifts)]
    mults[1] = (1 << 30, mults[1][1])
    mults[2] = (0, 0)
    rows = rng.integers(-128, 128, (ch, taps))
    bias = rng.integers(-bias_mag, bias_mag + 1, ch)
    rows[-1] = 0
    bias[-1] = -(2**31 - 7)  # dead: -2^31 + 7 requantises to one value (shift -31)
    q = dict(mults=mults, out_zp=zp)
    mr = requant_mr(q, rows, bias, io)
    assert mr is not None
    lo, hi = accumulator_range(rows, bias, io)
    acc = [rng.integers(lo, hi + 1, (4000, ch))]
    acc.append(np.stack([lo, hi, np.zeros(ch, np.int64), np.ones(ch, np.int64),
                         -np.ones(ch, np.int64)]))
    for e in (1, 2, 5):  # ties of the rounding shift reached through the high multiply at 2^30
        acc.append(np.array([[((2 * k + 1) << (e - 1)) * 2] * ch for k in (-3, -1, 0, 2)]))
    acc = np.clip(np.concatenate(acc), lo, hi)
    got = smmlar_requant_model(acc, mr["consts"], mr["zp_folded"], zp)
    want = np.array([[multiply_by_quantized_multiplier_double_rounding(int(a), m, s)
                      for a, (m, s) in zip(row, mults)] for row in acc]) + zp
    assert np.array_equal(got, want)
    assert np.ptp(want) > 100 or taps == 1
    assert any(c.name == "rqf" for c in mr["consts"])  # shift 0 present: the sign mask


def test_one_smmlar_requantisation_refuses_what_it_cannot_do():
    """A left shift, an accumulator that may reach 2^30 with outputs that differ across its
    range, or one the reference may wrap: the kernels keep the other forms."""
    from tinycompress.ops._dsp_requant import requant_mr
    rows = np.ones((2, 4), np.int64)
    ok = dict(mults=[(1 << 30, -2)] * 2, out_zp=0)
    assert requant_mr(dict(mults=[(1 << 30, 1), (1 << 30, -2)], out_zp=0), rows,
                      np.zeros(2, np.int64), 0) is None
    assert requant_mr(ok, rows, np.array([2**30, 0]), 0) is None
    assert requant_mr(ok, rows, np.array([2**31 - 1, 0]), 1) is None
    assert requant_mr(ok, rows, np.array([2**29, 0]), 0) is not None


def test_fc_single_rounding_in_one_smmla():
    """single_rounding_mm's constants with tc_smmla (k + floor(x m / 2^32), then >> e) give
    TFLite's single-rounding MultiplyByQuantizedMultiplier + zp for every shift <= -2, with the
    zero point folded or not, over random and extreme accumulators and exact ties."""
    from tinycompress.ops._dsp_requant import single_rounding_mm
    from tinycompress.quant import multiply_by_quantized_multiplier
    rng = np.random.default_rng(7)
    xs = np.concatenate([rng.integers(-(2**31), 2**31, 800), rng.integers(-70000, 70000, 800),
                         [-(2**31), 2**31 - 1, 0, 1, -1]])
    folded = set()
    for shift in (-2, -3, -9, -17, -24, -30, -31):
        for m in (1 << 30, (1 << 31) - 1, int(rng.integers(1 << 30, 1 << 31))):
            for zp in (-128, 0, 5, 127):
                mm = single_rounding_mm(m, shift, zp)
                folded.add(mm["zp_folded"])
                ties = [((2 * k + 1) << (-shift + 30)) // m for k in (-3, 0, 2)]
                for x in list(xs) + ties:
                    x = int(np.clip(x, -(2**31), 2**31 - 1))
                    t = mm["k"] + ((x * m) >> 32)
                    assert abs(t) < 2**31
                    got = (t >> mm["e"]) + (0 if mm["zp_folded"] else zp)
                    assert got == multiply_by_quantized_multiplier(x, m, shift) + zp, (x, m, shift)
    assert folded == {True, False}
    assert single_rounding_mm(1 << 30, -1, 0) is None and single_rounding_mm(1 << 30, 3, 0) is None
