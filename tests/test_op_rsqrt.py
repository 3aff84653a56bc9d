"""RSQRT int8: bit-exact against the reference interpreter over every input it accepts (those at
or above the zero point) and many quantisations; below the zero point the reference fails the
invocation and the C gives 127; int16 refused."""

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from optest import assert_bit_exact, compile_problems
from tflite_builder import T, model
from tinycompress.compiler import compile_tflite, write_outdir
from tinycompress.ops.rsqrt import rsqrt_table
from tinycompress.reference import Reference
from tinycompress.targets import host


def rsqrt(in_s, in_zp, out_s, out_zp, shape=None, dtype="int8"):
    shape = shape or (1, 127 - in_zp + 1)
    return model("RSQRT", [T(shape, dtype, scale=in_s, zero_point=in_zp)],
                 [T(shape, dtype, scale=out_s, zero_point=out_zp)])


def accepted(in_zp):
    """Every input the reference accepts: the zero point to 127."""
    return [np.arange(in_zp, 128, dtype=np.int8)[None, :]]


def spanning_scale(in_s, in_zp):
    """An output scale that maps 1 / sqrt of the smallest non-zero input to about 127 - -128."""
    return float(1.0 / np.sqrt(in_s) / 250.0)


@pytest.mark.parametrize("in_s,in_zp,out_zp", [(0.05, -128, -128), (0.01, -128, -100),
                                               (0.2, -60, -128), (1.0, -128, -128),
                                               (0.003, -20, -128)])
def test_all_accepted_inputs(in_s, in_zp, out_zp):
    m = rsqrt(in_s, in_zp, spanning_scale(in_s, in_zp), out_zp)
    assert_bit_exact(m, inputs=accepted(in_zp), spread=dict(min_distinct=40, max_clamped=0.3))


@pytest.mark.parametrize("shape", [(1,), (1, 7), (1, 4, 4, 3), (2, 300)])
def test_shapes(shape):
    n = int(np.prod(shape))
    x = np.random.default_rng(0).integers(-128, 128, (4, n)).astype(np.int8)
    assert_bit_exact(rsqrt(0.05, -128, 0.02, -128, shape=shape), inputs=[x])


def test_tables_match_reference_over_many_quantisations():
    """The compile-time tables alone (no C), against the interpreter: 200 quantisations."""
    rng = np.random.default_rng(29)
    for _ in range(200):
        in_s, out_s = (float(np.float32(np.exp(rng.uniform(-9, 2)))) for _ in range(2))
        in_zp, out_zp = int(rng.integers(-128, 0)), int(rng.integers(-128, 128))
        expected = Reference(rsqrt(in_s, in_zp, out_s, out_zp)).run(accepted(in_zp))[0]
        table = rsqrt_table(in_s, in_zp, out_s, out_zp)
        np.testing.assert_array_equal(table[in_zp + 128:], expected,
                                      err_msg=f"{in_s} {in_zp} {out_s} {out_zp}")


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(log_in=st.floats(-9.0, 2.0), log_out=st.floats(-9.0, 2.0), in_zp=st.integers(-128, 100),
       out_zp=st.integers(-128, 127))
def test_random_quantisation(log_in, log_out, in_zp, out_zp):
    m = rsqrt(float(np.exp(log_in)), in_zp, float(np.exp(log_out)), out_zp)
    assert_bit_exact(m, inputs=accepted(in_zp), sanitize=False)


def test_below_the_zero_point():
    """The reference refuses a negative real input; the C, which cannot fail, gives 127."""
    m = rsqrt(0.05, 0, 0.02, -128, shape=(1, 3))
    x = np.array([[-5, 0, 4]], np.int8)
    with pytest.raises(RuntimeError, match="Rsqrt is only defined for positive values"):
        Reference(m).run([x])
    files, manifest = compile_tflite(m, name="m")
    with tempfile.TemporaryDirectory() as tmp:
        write_outdir(Path(tmp) / "out", files)
        (got,) = host.run_multi(Path(tmp) / "out", manifest, [x], sanitize=True)
    ok = Reference(m).run([np.array([[0, 0, 4]], np.int8)])[0]
    assert got.reshape(-1).tolist() == [127, 127, int(ok[2])]


def test_refuses_int16():
    problems = compile_problems(rsqrt(1 / 4096, 0, 1 / 4096, 0, shape=(1, 8), dtype="int16"))
    assert any(p.startswith("RSQRT") and "is int16, expected int8" in p for p in problems), \
        problems
