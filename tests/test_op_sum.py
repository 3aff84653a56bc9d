"""SUM int8: the generated C against the reference, bit for bit, over ranks, axes (negative,
repeated, non-adjacent, all), keep_dims and quantisations, incl. equal ones.

The interpreter's reference kernel (ai-edge-litert 2.3.0) reads and writes int8 SUM tensors as
uint8 (see tinycompress/ops/sum.py), so tinycompress.reference runs every int8 SUM on a twin
model (reference_split.py): zero points and input bytes shifted by 128 make every value it reads
as uint8 exactly x + 128 and every output byte it writes y + 128, so its uint8 arithmetic is the
int8 one. Where the bug cannot show (no negative input, every output in [0, 127]) the C is also
compared with the interpreter running the model itself, which checks the twin."""

import tempfile
from pathlib import Path

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter, OpResolverType
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
    """The int8 SUM of xs (N, size) as tinycompress.reference computes it (on the twin)."""
    ref = Reference(sum_model(shape, axes, keep, q_in, q_out))
    assert ref.split
    return np.stack([ref.run([row])[0] for row in xs])


def interpreter_itself(tflite: bytes, xs: np.ndarray) -> np.ndarray:
    """The reference kernels on the model itself (no twin): rows of xs (N, size) in sequence."""
    interp = Interpreter(model_content=tflite, num_threads=1,
                         experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    interp.allocate_tensors()
    i, o = interp.get_input_details()[0], interp.get_output_details()[0]
    outs = []
    for row in xs:
        interp.set_tensor(i["index"], row.reshape(i["shape"]))
        interp.invoke()
        outs.append(interp.get_tensor(o["index"]).reshape(-1).copy())
    return np.stack(outs)


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
    """The interpreter's bug the reference works around: -1 + -1 sums as 255 + 255, clamped to
    255 (-1 as int8), not -2. When the first assertion fails, the interpreter is fixed: drop the
    twin (reference_split.runner)."""
    m = sum_model((1, 2), [1], False, (0.1, 0), (0.1, 0))
    assert interpreter_itself(m, np.array([[-1, -1]], np.int8)).tolist() == [[-1]]
    assert Reference(m).run([np.array([-1, -1], np.int8)])[0].tolist() == [-2]


def test_reference_runs_only_the_sum_on_the_twin():
    """SUM between two other ops: the ADD before and after run on the reference kernels, the SUM
    on its twin; compared with the int8 arithmetic computed here."""
    from tinycompress.reference_split import TWIN, REF, runner
    from tinycompress.frontends.tflite import read_tflite

    from graph_builder import graph_model

    q = dict(scale=0.1, zero_point=0)
    tensors = {"x": T((1, 4), **q), "three": T((1, 4), **q, data=np.full((1, 4), -3, np.int8)),
               "a": T((1, 4), **q), "axes": T((1,), "int32", data=np.array([1], np.int32)),
               "s": T((1,), **q), "five": T((1,), **q, data=np.array([-5], np.int8)),
               "y": T((1,), **q)}
    tflite = graph_model(tensors, [("ADD", ["x", "three"], ["a"], {}),
                                   ("SUM", ["a", "axes"], ["s"], {"keep_dims": False}),
                                   ("ADD", ["s", "five"], ["y"], {})], ["x"], ["y"])
    g = read_tflite(tflite)
    assert [runner(op, g) for op in g.ops] == [REF, TWIN, REF]
    ref = Reference(tflite)
    for x in ([-1, -1, -1, -1], [5, -9, 0, 2], [30, 30, 30, 30]):
        want = min(127, max(-128, sum(v - 3 for v in x))) - 5
        assert ref.run([np.array([x], np.int8)])[0].tolist() == [want]


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
    m = sum_model(shape, axes, keep, q_in, q_out)
    manifest = assert_bit_exact(m, inputs=[xs])
    assert manifest["layers"][0]["kernel"] == "kernels/sum_s8.c.j2"
    direct = interpreter_itself(m, xs)
    assert len(np.unique(direct)) > 8
    np.testing.assert_array_equal(twin_reference(shape, axes, keep, q_in, q_out, xs), direct)


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


@pytest.mark.slow
def test_keras_reduce_sum_verifies(tmp_path):
    """A Keras model with a keepdims sum (keras.ops.sum) converts to an int8 SUM and `verify`
    finds the C bit-exact against the reference (the SUM on its twin), over 32 calibration
    samples whose reference outputs spread."""
    import keras

    from tinycompress.compiler import compile_model
    from tinycompress.frontends.keras import _quiet_tf, convert
    from tinycompress.frontends.tflite import read_tflite
    from tinycompress.verify import verify

    _quiet_tf()
    keras.utils.set_random_seed(0)
    inp = keras.Input((6, 6, 4))
    x = keras.layers.Conv2D(8, 3, padding="same")(inp)
    x = keras.layers.Lambda(lambda t: keras.ops.sum(t, axis=(1, 2), keepdims=True))(x)
    out = keras.layers.Dense(16)(keras.layers.Flatten()(x))
    cal = np.random.default_rng(0).standard_normal((32, 6, 6, 4)).astype(np.float32)
    tflite = convert(keras.Model(inp, out), (6, 6, 4), cal, "m")
    assert "SUM" in [op.kind for op in read_tflite(tflite).ops]
    assert Reference(tflite).split
    (tmp_path / "m.tflite").write_bytes(tflite)
    compile_model(tmp_path / "m.tflite", tmp_path / "out", name="m")
    report = verify(tmp_path / "out", count=32, sanitize=True)
    assert report["bit_exact"] and report["vectors"] == 32, report
    from tinycompress.compiler import read_manifest
    from tinycompress.vectors import draw

    xs = draw(read_manifest(tmp_path / "out"), tmp_path / "out", 32)
    expected = Reference(tflite).run_batch(xs)
    assert_spread(expected, min_distinct=8, max_clamped=0.5)
    # The interpreter on the model itself (no twin) gives other outputs: the twin matters here.
    assert (interpreter_itself(tflite, xs) != expected).any()
