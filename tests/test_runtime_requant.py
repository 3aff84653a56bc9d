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
