"""ELU int8: bit-exact over all 256 inputs and many quantisations.

The reference resolver (BUILTIN_REF) registers no ELU kernel, so tinycompress.reference runs ELU
by TFLite's builtin ELU, without delegates (reference_split.py): its Prepare is the one
EluPrepare (LUTPopulate with expm1f) and its int8 Eval a lookup in that table, so it is the
reference's arithmetic; every other op of the model stays on the reference kernels."""

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter, OpResolverType
from hypothesis import HealthCheck, given, settings, strategies as st

from optest import assert_bit_exact, compile_problems
from tflite_builder import T, model
from tinycompress.ops._lut import float_table
from tinycompress.ops.elu import elu_f32
from tinycompress.reference import Reference

ALL = [np.arange(-128, 128, dtype=np.int8)[None, :]]


def elu(in_s, in_zp, out_s, out_zp, shape=(1, 256), dtype="int8"):
    return model("ELU", [T(shape, dtype, scale=in_s, zero_point=in_zp)],
                 [T(shape, dtype, scale=out_s, zero_point=out_zp)])


def test_reference_resolver_has_no_elu():
    """Why the reference runs ELU on the builtin resolver; when BUILTIN_REF gains ELU, drop
    ELU from reference_split.runner."""
    with pytest.raises((RuntimeError, ValueError), match="ELU"):
        Interpreter(model_content=elu(0.05, 0, 0.03, -60),
                    experimental_op_resolver_type=OpResolverType.BUILTIN_REF).allocate_tensors()
    ref = Reference(elu(0.05, 0, 0.03, -60))
    assert ref.split
    out = ref.run(ALL)[0]
    assert out[0] < out[128] < out[255] and len(np.unique(out)) > 80


def test_elu_between_reference_ops():
    """ADD, ELU, ADD: the ADDs on the reference kernels, the ELU on the builtin one, in
    sequence; against the table computed here."""
    from graph_builder import graph_model
    from tinycompress.reference_split import BUILTIN, REF, runner
    from tinycompress.frontends.tflite import read_tflite

    q, qe = dict(scale=0.05, zero_point=0), dict(scale=0.03, zero_point=-60)
    tensors = {"x": T((1, 256), **q), "c": T((1, 256), **q, data=np.full((1, 256), 4, np.int8)),
               "a": T((1, 256), **q), "e": T((1, 256), **qe),
               "d": T((1, 256), **qe, data=np.full((1, 256), -60, np.int8)),
               "y": T((1, 256), **qe)}
    tflite = graph_model(tensors, [("ADD", ["x", "c"], ["a"], {}), ("ELU", ["a"], ["e"], {}),
                                   ("ADD", ["e", "d"], ["y"], {})], ["x"], ["y"])
    g = read_tflite(tflite)
    assert [runner(op, g) for op in g.ops] == [REF, BUILTIN, REF]
    x = np.arange(-128, 128, dtype=np.int8)
    table = float_table(elu_f32, 0.05, 0, 0.03, -60)
    want = table[np.clip(x.astype(int) + 4, -128, 127) + 128]
    np.testing.assert_array_equal(Reference(tflite).run([x[None, :]])[0], want)
    assert_bit_exact(tflite, inputs=[x[None, :]], spread=dict(min_distinct=80, max_clamped=0.2))


# elu(x) lies in [-1, max(x)]: output ranges chosen to hold it.
CASES = [
    (0.05, 0, 7.35 / 255, -93),      # x in [-6.4, 6.35]
    (0.0235, -128, 0.0235, -128),    # x >= 0: the identity part
    (0.0235, 127, 0.0039, 127),      # x <= 0: expm1 only
    (0.01, -20, 0.0085, -10),
    (0.1, 40, 0.038, -100),        # x down to -16.8: expm1 near -1
]


@pytest.mark.parametrize("in_s,in_zp,out_s,out_zp", CASES)
def test_all_inputs(in_s, in_zp, out_s, out_zp):
    assert_bit_exact(elu(in_s, in_zp, out_s, out_zp), inputs=ALL,
                     spread=dict(min_distinct=80, max_clamped=0.2))


@pytest.mark.parametrize("shape", [(1,), (1, 7), (1, 4, 4, 3), (2, 300)])
def test_shapes(shape):
    assert_bit_exact(elu(0.05, -5, 0.03, -60, shape=shape), count=4)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(log_in=st.floats(-9.0, 2.5), log_out=st.floats(-9.0, 2.5), in_zp=st.integers(-128, 127),
       out_zp=st.integers(-128, 127))
def test_random_quantisation(log_in, log_out, in_zp, out_zp):
    m = elu(float(np.exp(log_in)), in_zp, float(np.exp(log_out)), out_zp)
    assert_bit_exact(m, inputs=ALL, sanitize=False)


def test_tables_match_reference_over_many_quantisations():
    """The compile-time tables alone (no C), against the interpreter: 200 quantisations."""
    rng = np.random.default_rng(19)
    for _ in range(200):
        in_s, out_s = (float(np.float32(np.exp(rng.uniform(-9, 2.5)))) for _ in range(2))
        in_zp, out_zp = (int(v) for v in rng.integers(-128, 128, 2))
        expected = Reference(elu(in_s, in_zp, out_s, out_zp)).run(ALL)[0]
        table = float_table(elu_f32, in_s, in_zp, out_s, out_zp)
        np.testing.assert_array_equal(table, expected,
                                      err_msg=f"{in_s} {in_zp} {out_s} {out_zp}")


def test_refuses_int16():
    problems = compile_problems(elu(1 / 4096, 0, 1 / 4096, 0, shape=(1, 8), dtype="int16"))
    assert any("ELU" in p and "is int16, expected int8" in p for p in problems), problems


@pytest.mark.slow
def test_keras_elu_stays_float():
    """The TFLite converter keeps Keras' ELU in float32 even for INT8 models (DEQUANTIZE, ELU,
    QUANTIZE), and the float ELU is refused: int8 ELU comes from other producers."""
    from keras_activation import convert_around

    tflite, kinds = convert_around(lambda keras: keras.layers.ELU(), name="elu")
    assert kinds == ["CONV_2D", "DEQUANTIZE", "ELU", "QUANTIZE"]
    problems = compile_problems(tflite)
    assert any(p.startswith("ELU") and "is float32, expected int8" in p for p in problems), problems


def test_verify_runs_an_elu_model(tmp_path):
    """`verify` (host, ASan/UBSan) on an ELU model: its reference runs the ELU apart."""
    from tinycompress.compiler import compile_model
    from tinycompress.verify import verify

    (tmp_path / "m.tflite").write_bytes(elu(0.05, 0, 7.35 / 255, -93))
    compile_model(tmp_path / "m.tflite", tmp_path / "out", name="m")
    report = verify(tmp_path / "out", count=16, sanitize=True)
    assert report["bit_exact"] and report["vectors"] == 16, report
