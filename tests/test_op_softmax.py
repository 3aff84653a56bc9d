"""SOFTMAX int8 -> int8 / int16: bit-exact against the reference interpreter (gemmlowp fixed
point) over row lengths, batches of rows, beta values and input quantisations, with e(d) read
from a table and computed at run time (each variant forced, whatever the compiler's rule would
pick); the run-time exponential itself against tinycompress.quant for every d and many scales.

The reference aborts the process (a gemmlowp assert) when a row's sum of exponentials reaches
512 with int8 output, so inputs are checked for that before they reach the interpreter."""

import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from optest import assert_bit_exact
from tflite_builder import T, model
from tinycompress.compiler import compile_tflite
from tinycompress.emit import templates_dir
from tinycompress.errors import UnsupportedModelError
from tinycompress.ops import softmax
from tinycompress.ops.softmax import SCALED_DIFF_INTEGER_BITS, exp_scaling, exp_table
from tinycompress.quant import (calculate_input_radius, exp_on_negative_values,
                                multiply_by_quantized_multiplier, rounding_divide_by_pot)

VARIANTS = ["table", "runtime"]
KERNELS = {"table": "kernels/softmax_s8.c.j2", "runtime": "kernels/softmax_s8_exp.c.j2"}


def softmax_model(shape, in_s, in_zp, beta=1.0, out="int8", out_s=None, out_zp=None):
    default = {"int8": (1 / 256, -128), "int16": (1 / 65536, -32768)}[out]
    return model("SOFTMAX", [T(shape, scale=in_s, zero_point=in_zp)],
                 [T(shape, out, scale=out_s or default[0],
                    zero_point=default[1] if out_zp is None else out_zp)], {"beta": beta})


def reference_would_abort(x, depth, in_s, beta):
    """True when some row's Q12.19 sum of exponentials reaches 512 (num_bits_over_unit > 8)."""
    table = exp_table(float(np.float32(in_s)), float(np.float32(beta)))
    for row in x.reshape(-1, depth).astype(int):
        d = row.max() - row
        s = sum(rounding_divide_by_pot(int(table[k]), 12) for k in d if k < len(table))
        if s >= 512 << 19:
            return True
    return False


def vectors(shape, in_s, beta, count=12, seed=0):
    """Random rows (uniform, narrow normal, constant, one-hot) that the reference can run."""
    rng = np.random.default_rng(seed)
    size, depth = int(np.prod(shape)), shape[-1]
    rows = []
    for attempt in range(50 * count):
        if len(rows) == count:
            break
        kind = attempt % 4
        if kind == 0:
            x = rng.integers(-128, 128, size)
        elif kind == 1:
            x = np.clip(rng.normal(rng.integers(-100, 100), 6, size), -128, 127)
        elif kind == 2:
            x = np.full(size, rng.integers(-128, 128))
        else:
            x = np.full(size, -128)
            x[rng.integers(0, size)] = 127
        x = x.astype(np.int8)
        if not reference_would_abort(x, depth, in_s, beta):
            rows.append(x)
    assert rows, "every candidate vector would abort the reference"
    return [np.stack(rows)]


@contextmanager
def forced(variant):
    """Compile SOFTMAX with `variant` whatever exp_variant's rule would choose."""
    with mock.patch.object(softmax, "exp_variant", lambda outer, depth, n_exp: variant):
        yield


def assert_variant_bit_exact(variant, tflite, inputs, sanitize=True):
    with forced(variant):
        manifest = assert_bit_exact(tflite, inputs=inputs, sanitize=sanitize)
    (lay,) = manifest["layers"]
    assert lay["kernel"] == KERNELS[variant]
    assert (lay["weights_bytes"] == 0) == (variant == "runtime")


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("shape", [(1, 1), (1, 2), (1, 10), (1, 12), (3, 10), (2, 4, 5), (1, 1000)])
@pytest.mark.parametrize("in_s,in_zp", [(0.05, 0), (0.1, -20), (0.0039, 127)])
def test_softmax_shapes(shape, in_s, in_zp, variant):
    assert_variant_bit_exact(variant, softmax_model(shape, in_s, in_zp),
                             vectors(shape, in_s, 1.0))


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("beta", [0.001, 0.25, 1.0, 2.0, 7.5])
def test_softmax_beta(beta, variant):
    shape = (2, 12)
    assert_variant_bit_exact(variant, softmax_model(shape, 0.08, 3, beta=beta),
                             vectors(shape, 0.08, beta))


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("shape", [(1, 1), (1, 10), (4, 33), (1, 1000)])
def test_softmax_int16_output(shape, variant):
    assert_variant_bit_exact(variant, softmax_model(shape, 0.02, -7, out="int16"),
                             vectors(shape, 1.0, 1.0))  # no abort with int16 output


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("out", ["int8", "int16"])
def test_softmax_all_differences(variant, out):
    """Every d = max - x in 0..255 appears: rows holding 127 and every other value, and the
    same row shifted so that its maximum sits elsewhere."""
    x = np.arange(-128, 128, dtype=np.int8)
    rows = np.stack([x, np.roll(x, 77), x[::-1]])
    for in_s in (0.004, 0.02, 0.1, 0.3, 1.0, 8.0):
        assert_variant_bit_exact(variant, softmax_model((1, 256), in_s, 0, out=out),
                                 [rows], sanitize=False)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(depth=st.integers(1, 300), rows=st.integers(1, 3), log_s=st.floats(-7.0, 1.0),
       in_zp=st.integers(-128, 127), beta=st.floats(0.05, 4.0), seed=st.integers(0, 1000),
       out=st.sampled_from(["int8", "int8", "int16"]), variant=st.sampled_from(VARIANTS))
def test_softmax_random(depth, rows, log_s, in_zp, beta, seed, out, variant):
    in_s = float(np.exp(log_s))
    shape = (rows, depth)
    xs = vectors(shape, in_s if out == "int8" else 1.0, beta if out == "int8" else 1.0,
                 count=8, seed=seed)
    assert_variant_bit_exact(variant, softmax_model(shape, in_s, in_zp, beta=beta, out=out),
                             xs, sanitize=False)


# --- the run-time exponential (tc_exp_on_negative_q5 in tc_runtime.h), exhaustively in d ----

EXP_PROGRAM = r"""
#include <stdio.h>
#include <inttypes.h>
#include "tc_runtime.h"
int main(void)
{
    long m, s, n, a;
    while (scanf("%ld %ld %ld", &m, &s, &n) == 3) {
        long d;
        if (m == 0) { /* raw Q5.26 arguments follow, n of them */
            for (d = 0; d < n && scanf("%ld", &a) == 1; ++d) {
                printf("%" PRId32 "\n", tc_exp_on_negative_q5((int32_t)a));
            }
            continue;
        }
        for (d = 0; d < n; ++d) {
            printf("%" PRId32 "\n",
                   tc_exp_on_negative_q5(tc_mul_by_qm((int32_t)-d, (int32_t)m, (int)s)));
        }
    }
    return 0;
}
"""


def run_exp_program(stdin: str) -> list[int]:
    with tempfile.TemporaryDirectory(prefix="tc-softmax-exp-") as tmp:
        src, exe = Path(tmp, "t.c"), Path(tmp, "t")
        src.write_text(EXP_PROGRAM)
        subprocess.run(["gcc", "-std=c99", "-O1", "-Wall", "-Wextra", "-Werror",
                        "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
                        f"-I{templates_dir()}", str(src), "-o", str(exe)], check=True)
        out = subprocess.run([str(exe)], input=stdin, capture_output=True, text=True,
                             check=True).stdout
    return [int(v) for v in out.split()]


def exp_scalings() -> list[tuple[float, float]]:
    """(input scale, beta) pairs over everything check() accepts: beta * scale from just above
    2^-26 to past the 2^30 - 1 cap, plus the scales the op tests use."""
    pairs = [(float(2.0 ** e), 1.0) for e in np.linspace(-25.9, 3.0, 150)]
    pairs += [(s, 1.0) for s in (0.004, 0.0039, 0.02, 0.05, 0.08, 0.1, 0.2, 0.3, 1.0, 8.0)]
    pairs += [(0.08, b) for b in (0.001, 0.25, 2.0, 7.5)]
    pairs += [(2.0 ** -26 * 1.0001, 1.0), (1.0 / 256, 1.0), (1.0 / 16, 0.5)]
    return pairs


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
def test_runtime_exp_every_difference():
    """For every accepted scale and every d in 0..255 the reference would exponentiate
    (d <= CalculateInputRadius), the C's e(d) equals exp_on_negative_values<5> of the rescaled
    difference, and on d < n_exp the compiler's table; under ASan/UBSan. Then raw Q5.26
    arguments over the whole non-positive int32 range (ties of the quarter boundaries,
    INT32_MIN) against the Python."""
    cases = []
    for in_s, beta in exp_scalings():
        multiplier, shift = exp_scaling(in_s, beta)
        radius = calculate_input_radius(SCALED_DIFF_INTEGER_BITS, shift)
        cases.append((in_s, beta, multiplier, shift, min(255, radius) + 1))
    rng = np.random.default_rng(0)
    raw = ([0, -1, -2, -(1 << 24), -(1 << 24) - 1, -(1 << 24) + 1, -(1 << 26), -31 * (1 << 26),
            -(1 << 31), -(1 << 31) + 1]
           + [-(k << 24) + t for k in range(128) for t in (0, -1, 1) if -(k << 24) + t <= 0]
           + [int(v) for v in rng.integers(-(1 << 31), 1, 20000)])
    stdin = "".join(f"{m} {s} {n}\n" for _, _, m, s, n in cases)
    stdin += f"0 0 {len(raw)}\n" + "".join(f"{a}\n" for a in raw)
    got = run_exp_program(stdin)
    assert len(got) == sum(c[-1] for c in cases) + len(raw)
    pos = 0
    for in_s, beta, multiplier, shift, n in cases:
        table = exp_table(in_s, beta)
        assert len(table) <= n
        for d in range(n):
            want = exp_on_negative_values(
                multiply_by_quantized_multiplier(-d, multiplier, shift), SCALED_DIFF_INTEGER_BITS)
            assert got[pos + d] == want, (in_s, beta, d, got[pos + d], want)
            assert want == (table[d] if d < len(table) else 0), (in_s, beta, d)
        pos += n
    for a, g in zip(raw, got[pos:]):
        assert g == exp_on_negative_values(a, SCALED_DIFF_INTEGER_BITS), a


# --- the compiler's choice ------------------------------------------------------------------

@pytest.mark.parametrize("shape,in_s", [((1, 10), 0.1), ((1, 10), 0.2), ((1, 10), 0.5),
                                        ((3, 10), 0.5), ((4, 10), 0.5), ((1, 12), 1.0),
                                        ((1, 300), 0.1), ((2, 111), 0.2), ((1, 1), 8.0),
                                        ((1, 1), 0.1)])
def test_softmax_variant_rule(shape, in_s):
    """Run time when the table would be read fewer times per inference (outer * depth elements)
    than it has entries (n_exp) and outweighs the code, the table otherwise; the table's bytes
    are the layer's weights."""
    n_exp = len(exp_table(in_s, 1.0))
    elements = int(np.prod(shape))
    want = "runtime" if elements < n_exp and 4 * n_exp > softmax.RUNTIME_CODE_BYTES else "table"
    assert softmax.exp_variant(elements // shape[-1], shape[-1], n_exp) == want
    _, manifest = compile_tflite(softmax_model(shape, in_s, 0), name="m")
    (lay,) = manifest["layers"]
    assert lay["kernel"] == KERNELS[want]
    assert lay["weights_bytes"] == (0 if want == "runtime" else 4 * n_exp)
    assert manifest["weights_bytes"] == lay["weights_bytes"]


def test_softmax_variant_rule_examples():
    """The rule on the cases it was made for: a 10-class head computes, long rows tabulate."""
    assert len(exp_table(0.1, 1.0)) == 222 and len(exp_table(0.5, 1.0)) == 32
    assert softmax.exp_variant(1, 10, 222) == "runtime"
    assert softmax.exp_variant(3, 10, 111) == "runtime"
    assert softmax.exp_variant(1, 10, 32) == "table"  # 128 B of table: less than the code
    assert softmax.exp_variant(4, 8, 32) == "table"  # as many reads as entries
    assert softmax.exp_variant(1, 1000, 256) == "table"


@pytest.mark.parametrize("out,out_s,out_zp", [("int8", 1 / 256, 0), ("int8", 1 / 128, -128),
                                              ("int16", 1 / 32768, 0)])
def test_softmax_refuses_other_output_quantisation(out, out_s, out_zp):
    with pytest.raises(UnsupportedModelError, match="softmax output must have scale"):
        compile_tflite(softmax_model((1, 10), 0.1, 0, out=out, out_s=out_s, out_zp=out_zp),
                       name="m")


def test_softmax_refuses_tiny_beta():
    with pytest.raises(UnsupportedModelError, match="must exceed 2\\^-26"):
        compile_tflite(softmax_model((1, 10), 2.0**-26, 0), name="m")
