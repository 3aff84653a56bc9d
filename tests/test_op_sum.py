"""SUM int8: the generated C against the reference interpreter, bit for bit, over ranks, axes
(negative, repeated, non-adjacent, all), keep_dims and quantisations, incl. equal ones.

The interpreter (ai-edge-litert 2.3.0) reads and writes int8 SUM tensors as uint8 (see
tinycompress/ops/sum.py), so its outputs for the model itself are the int8 arithmetic only where
no input is negative and every output is in [0, 127]; those cases compare directly. Everywhere
else the expected outputs come from the interpreter running a twin model: zero points and input
bytes shifted by 128 make every value it reads as uint8 exactly x + 128 and every output byte it
writes y + 128, so its uint8 arithmetic is the int8 one."""

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from optest import assert_bit_exact, assert_spread, compile_problems
from test_op_reduce_max import out_shape
from tflite_builder import T, model
from tinycompress.compiler import compile_tflite, write_outdir
from tinycompress.reference import Reference
from tinycompress.targets import host


def sum_model(shape, axes, keep, q_in=(0.05, -3), q_out=(0.2, 5), shift=0):
    """SUM over `axes`; `shift` adds to both zero points (the twin's 128)."""
    return model("SUM", [T(shape, scale=q_in[0], zero_point=q_in[1] + shift),
                         T((len(axes),), "int32", data=np.array(axes, np.int32))],
                 [T(out_shape(shape, axes, keep), scale=q_out[0], zero_point=q_out[1] + shift)],
                 {"keep_dims": keep})


def twin_reference(shape, axes, keep, q_in, q_out, xs: np.ndarray) -> np.ndarray:
    """The int8 SUM of xs (N, size) as the interpreter computes it on the twin model."""
    ref = Reference(sum_model(shape, axes, keep, q_in, q_out, shift=128))
    as_uint8 = (xs.astype(np.int16) + 128).astype(np.uint8).view(np.int8)
    outs = np.stack([ref.run([row])[0] for row in as_uint8])
    return (outs.view(np.uint8).astype(np.int16) - 128).astype(np.int8)


def assert_sum_bit_exact(shape, axes, keep, q_in=(0.05, -3), q_out=(0.2, 5), count=24, seed=0,
                         sanitize=True, spread=None, xs=None):
    """Compile SUM, run the C (under ASan/UBSan) on `count` random vectors and compare every
    output with the twin-model reference."""
    files, manifest = compile_tflite(sum_model(shape, axes, keep, q_in, q_out), name="m")
    if xs is None:
        xs = np.random.default_rng(seed).integers(-128, 128, (count, int(np.prod(shape))))
        xs = xs.astype(np.int8)
    expected = twin_reference(shape, axes, keep, q_in, q_out, xs)
    with tempfile.TemporaryDirectory(prefix="tc-sumtest-") as tmp:
        write_outdir(Path(tmp) / "out", files)
        (got,) = host.run_multi(Path(tmp) / "out", manifest, [xs], sanitize=sanitize)
    if spread is not None:
        assert_spread(expected, **spread)
    bad = np.argwhere(got != expected)
    assert not bad.size, (f"{len(bad)} of {expected.size} elements differ; first at vector "
                          f"{bad[0][0]} element {bad[0][1]}: got {got[tuple(bad[0])]}, expected "
                          f"{expected[tuple(bad[0])]}")


def test_interpreter_reads_int8_sum_as_uint8():
    """The reference's bug this file works around: -1 + -1 sums as 255 + 255, clamped to 255
    (-1 as int8), not -2. When this fails, the interpreter is fixed: compare directly."""
    ref = Reference(sum_model((1, 2), [1], False, (0.1, 0), (0.1, 0)))
    assert ref.run([np.array([-1, -1], np.int8)])[0].tolist() == [-1]
    assert twin_reference((1, 2), [1], False, (0.1, 0), (0.1, 0),
                          np.array([[-1, -1]], np.int8)).tolist() == [[-2]]


CASES = [
    ((1, 8, 8, 16), [1, 2]),
    ((1, 5, 7, 3), [2, 1]),
    ((1, 5, 7, 3), [-3, -2]),
    ((1, 5, 7, 3), [3]),
    ((1, 5, 7, 3), [1, 3]),       # non-adjacent
    ((2, 4, 3), [0, 2]),
    ((6, 5), [1, 1]),             # repeated axis
    ((1, 3, 3, 2), [0]),          # a size-1 axis: a pure rescale
    ((2, 3, 4, 5, 2), [1, 3]),    # rank 5
]


def _spread_scale(shape, axes, q_in=0.05):
    """An output scale under which sums of uniform inputs span the int8 range: their standard
    deviation (74 sqrt(n) input steps) maps to about 40 output steps."""
    n = int(np.prod([shape[a] for a in set(a % len(shape) for a in axes)]))
    return float(np.float32(q_in * 74 * np.sqrt(n) / 40))


@pytest.mark.parametrize("shape,axes,keep", [c + (k % 2 == 0,) for k, c in enumerate(CASES)]
                         + [((1, 8, 8, 16), [1, 2], True), ((1, 5, 7, 3), [1, 3], False)])
def test_sum_axes(shape, axes, keep):
    q_out = (_spread_scale(shape, axes), -10)
    spread = {} if np.prod(out_shape(shape, axes, keep)) * 24 >= 200 else None
    assert_sum_bit_exact(shape, axes, keep, q_out=q_out, spread=spread)


@pytest.mark.parametrize("q_in,q_out", [
    ((0.05, -3), (0.05, -3)),     # equal quantisations: still the rescaling path
    ((0.05, 127), (0.5, -128)),
    ((0.05, -128), (0.5, 127)),
    ((0.1, 0), (0.02, 0)),        # a left shift
    ((0.01, 20), (3.0, -60)),     # a large right shift
])
def test_sum_quantisations(q_in, q_out):
    assert_sum_bit_exact((1, 4, 4, 6), [1, 2], False, q_in, q_out)


@pytest.mark.parametrize("shape,axes,keep,q_in,q_out,top", [
    ((1, 8, 8, 16), [1, 2], False, (0.05, 0), (4.0, 0), 127),     # sums <= 8128: outputs <= 102
    ((1, 5, 7, 3), [1, 3], True, (0.05, -20), (1.0, 3), 127),     # (x + 20) * 15 / 20 + 3 <= 114
    ((6, 5), [1], False, (0.05, -128), (1.3, 0), 127),            # 5 * 255 / 26 <= 50
    ((2, 4, 3), [0, 2], True, (0.05, 0), (0.05, 0), 10),          # equal: 12 * 10 <= 120
])
def test_sum_direct_where_the_interpreter_reads_int8(shape, axes, keep, q_in, q_out, top):
    """Without the twin: inputs in [0, top], outputs in [0, 127], where reading int8 as uint8
    changes nothing; the interpreter's own outputs for the model itself."""
    xs = np.random.default_rng(3).integers(0, top + 1, (24, int(np.prod(shape)))).astype(np.int8)
    manifest = assert_bit_exact(sum_model(shape, axes, keep, q_in, q_out), inputs=[xs])
    assert manifest["layers"][0]["kernel"] == "kernels/sum_s8.c.j2"


def test_sum_refuses():
    assert compile_problems(sum_model((4, 4), [1], False, (1.0, 0), (2.0 ** -24, 0))) == [
        f"SUM (op 0, 'out0'): the rescale 1.0 / {2.0 ** -24} of a sum of 4 elements needs a "
        "left shift of 25 bits, which overflows int32"]
    big = sum_model((1, 4096, 2049), [1, 2], False)    # 2^23 + 4096 elements: only shapes
    assert compile_problems(big) == [
        "SUM (op 0, 'out0'): reducing 8392704 elements overflows the int32 sum"]
    b = model("SUM", [T((4, 2), "int16", scale=0.1),
                      T((1,), "int32", data=np.array([1], np.int32))],
              [T((4,), "int16", scale=0.1)], {"keep_dims": False})
    assert "SUM (op 0, 'out0'): tensor 'in0' is int16, expected int8" in compile_problems(b)
    b = model("SUM", [T((4, 2), scale=0.1), T((1,), "int32")], [T((4,), scale=0.1)],
              {"keep_dims": False})
    assert "SUM (op 0, 'out0'): the axes must be a constant int32 tensor" in compile_problems(b)
    b = model("SUM", [T((4, 2), scale=0.1), T((1,), "int32", data=np.array([-3], np.int32))],
              [T((4,), scale=0.1)], {"keep_dims": False})
    assert "SUM (op 0, 'out0'): axes [-3] out of range for rank 2" in compile_problems(b)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), rank=st.integers(1, 4), keep=st.booleans(),
       s_in=st.floats(1e-3, 1.0), s_out=st.floats(1e-3, 1.0),
       z_in=st.integers(-128, 127), z_out=st.integers(-128, 127), seed=st.integers(0, 99))
def test_sum_random(data, rank, keep, s_in, s_out, z_in, z_out, seed):
    shape = tuple(data.draw(st.lists(st.integers(1, 7), min_size=rank, max_size=rank)))
    axes = data.draw(st.lists(st.integers(-rank, rank - 1), min_size=1, max_size=rank))
    assert_sum_bit_exact(shape, axes, keep, (s_in, z_in), (s_out, z_out), count=6, seed=seed,
                         sanitize=False)
