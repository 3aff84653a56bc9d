"""UNIDIRECTIONAL_SEQUENCE_LSTM, TFLite's integer LSTM: bit-exact against the reference interpreter
on hand-built models (shapes, batch- and time-major, zero points, cell scales and clips, the
state carried across invocations, PREFIX_reset), on Keras LSTM layers fused and quantised by the
TFLite converter, gemmlowp's int16 logistic and tanh over every input, and every refusal."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from lstm_models import leading_ops, lstm_model
from optest import QEMU_MARKS, assert_bit_exact, assert_bit_exact_on_qemu, compile_problems
from tflite_builder import T
from tinycompress.compiler import compile_tflite, write_outdir
from tinycompress.emit import templates_dir
from tinycompress.frontends.tflite import read_tflite
from tinycompress.reference import Reference
from tinycompress.targets.host import CFLAGS, SANITIZE

TESTS = Path(__file__).resolve().parent

# (n_batch, steps, n_input, n_cell, time_major)
SHAPES = [
    (1, 4, 5, 6, False),
    (1, 1, 3, 8, False),     # one step: the state carries across invocations only
    (1, 12, 16, 20, False),  # mnist_lstm-like
    (2, 5, 4, 7, False),     # batch rows one after the other
    (3, 4, 6, 5, True),      # time-major: batch rows interleaved
    (1, 6, 1, 1, False),     # one feature, one cell
]


def _shape_id(shape):
    n_batch, steps, n_input, n_cell, time_major = shape
    return f"b{n_batch}-t{steps}-i{n_input}-c{n_cell}" + ("-tm" if time_major else "")


@pytest.mark.parametrize("shape", SHAPES, ids=_shape_id)
def test_lstm_shapes(shape):
    n_batch, steps, n_input, n_cell, time_major = shape
    big = n_batch * steps * n_cell >= 20
    assert_bit_exact(lstm_model(n_batch, steps, n_input, n_cell, time_major), count=12,
                     spread={} if big else None)


# (input scale, input zp, output state scale, zp, log2 cell scale, cell clip)
QUANT = [
    (0.05, -128, 1 / 128, 0, -12, 10.0),   # the converter's clip (saturates to 32767 here)
    (0.02, 127, 1 / 100, -3, -11, 10.0),   # clip 20480
    (0.3, 5, 1 / 120, 4, -9, 0.0),         # no clip
    (0.004, -17, 1 / 128, -1, -15, 0.7),   # tight clip, tanh with 0 integer bits
    (0.1, 0, 1 / 127, 1, -13, 3.0),
    (0.07, 40, 1 / 110, -6, -14, 2.0),
]


@pytest.mark.parametrize("in_s,in_zp,h_s,h_zp,cell_log2,clip", QUANT)
def test_lstm_quantisation(in_s, in_zp, h_s, h_zp, cell_log2, clip):
    assert_bit_exact(lstm_model(1, 6, 7, 12, in_s=in_s, in_zp=in_zp, h_s=h_s, h_zp=h_zp,
                                cell_log2=cell_log2, clip=clip, seed=3), count=12, spread={})


@pytest.mark.parametrize("h_zp", [-128, 127])
def test_lstm_extreme_output_state_zero_points(h_zp):
    # Half the hidden range is unrepresentable, so the outputs clamp: no spread to assert.
    assert_bit_exact(lstm_model(2, 4, 5, 9, h_zp=h_zp, in_zp=-h_zp - 1, seed=4), count=10)


@pytest.mark.parametrize("hidden", [(0.01, -5), (1 / 300, 9)])
def test_lstm_hidden_quantisation_of_its_own(hidden):
    """The fifth intermediate's scale and zero point requantise the hidden state, even where
    they differ from the output state's (which the recurrent product reads it with)."""
    assert_bit_exact(lstm_model(1, 5, 4, 10, hidden=hidden, seed=5), count=10)


@pytest.mark.parametrize("gate_std", [0.3, 6.0])
def test_lstm_gate_ranges(gate_std):
    """Gates near their linear range and deep in saturation (clamped Q3.12 pre-activations)."""
    assert_bit_exact(lstm_model(1, 8, 6, 16, gate_std=gate_std, seed=6), count=10,
                     spread=dict(min_distinct=16, max_clamped=0.5))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n_batch=st.integers(1, 3), steps=st.integers(1, 8), n_input=st.integers(1, 12),
       n_cell=st.integers(1, 16), time_major=st.booleans(), in_zp=st.integers(-128, 127),
       h_zp=st.integers(-20, 20), in_s=st.floats(0.003, 0.5), h_s=st.floats(1 / 140, 1 / 90),
       cell_log2=st.integers(-15, -9), clip=st.sampled_from([0.0, 0.5, 2.0, 10.0]),
       gate_std=st.floats(0.5, 4.0), seed=st.integers(0, 1000))
def test_lstm_random(n_batch, steps, n_input, n_cell, time_major, in_zp, h_zp, in_s, h_s,
                     cell_log2, clip, gate_std, seed):
    assert_bit_exact(lstm_model(n_batch, steps, n_input, n_cell, time_major, in_s, in_zp, h_s,
                                h_zp, cell_log2, clip, gate_std=gate_std, seed=seed),
                     count=5, sanitize=False)


def test_lstm_state_reset(tmp_path):
    """The state persists between invocations; PREFIX_reset() restores the reset values (the
    int8 output state's zero point, nonzero here, as TFLite resets it)."""
    tflite = lstm_model(1, 3, 4, 6, h_zp=-7, seed=7)
    files, manifest = compile_tflite(tflite, name="m")
    assert manifest["state_bytes"] > 0
    out = tmp_path / "out"
    write_outdir(out, files)
    xs = np.random.default_rng(0).integers(-128, 128, (2, 12)).astype(np.int8)
    ref = Reference(tflite)
    first, second = ref.run([xs[0]])[0], ref.run([xs[1]])[0]
    assert not np.array_equal(first, Reference(tflite).run([xs[1]])[0])  # the state matters
    rows = ", ".join("{" + ", ".join(map(str, row)) + "}" for row in xs)
    main = tmp_path / "main.c"
    main.write_text(f"""#include <stdio.h>
#include "m.h"
static const int8_t x[2][12] = {{{rows}}};
int main(void) {{
    int8_t y[M_OUTPUT_ELEMENTS];
    int run, i;
    for (run = 0; run < 3; ++run) {{
        if (run == 2) {{
            m_reset();
        }}
        m_invoke(x[run == 1], y);
        for (i = 0; i < M_OUTPUT_ELEMENTS; ++i) {{
            printf("%d ", y[i]);
        }}
        printf("\\n");
    }}
    return 0;
}}
""")
    exe = tmp_path / "main"
    subprocess.run(["gcc", *CFLAGS, *SANITIZE, f"-I{out / 'src'}", *[str(out / s) for s in
                    manifest["sources"]], str(main), "-o", str(exe)], check=True,
                   capture_output=True, text=True)
    lines = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout
    got = [np.array(line.split(), np.int8) for line in lines.splitlines()]
    np.testing.assert_array_equal(got[0], first)
    np.testing.assert_array_equal(got[1], second)
    np.testing.assert_array_equal(got[2], first)  # x[0] again after the reset


@QEMU_MARKS[0]
@QEMU_MARKS[1]
def test_lstm_on_qemu():
    assert_bit_exact_on_qemu(lstm_model(2, 5, 6, 9, time_major=True, h_zp=-3, seed=8),
                             "mps2-an386")


# --- gemmlowp's int16 logistic and tanh --------------------------------------------------------

_ORACLE = r"""#include <cstdint>
#include <cstdio>
#include "fixedpoint/fixedpoint.h"
template <int B> void tanh_all() {
  for (int v = -32768; v < 32768; ++v)
    std::printf("%d\n", gemmlowp::tanh(gemmlowp::FixedPoint<std::int16_t, B>::FromRaw(v)).raw());
}
int main() {
  for (int v = -32768; v < 32768; ++v) {
    const auto x = gemmlowp::FixedPoint<std::int16_t, 3>::FromRaw(v);
    std::printf("%d\n", gemmlowp::logistic(x).raw());
  }
  tanh_all<0>(); tanh_all<1>(); tanh_all<2>(); tanh_all<3>(); tanh_all<4>(); tanh_all<5>();
  tanh_all<6>();
}
"""

_MINE = r"""#include <stdio.h>
#include "tc_runtime.h"
int main(void) {
    int v, b;
    for (v = -32768; v < 32768; ++v) printf("%d\n", (int)tc_logistic_q3_16(v));
    for (b = 0; b <= 6; ++b)
        for (v = -32768; v < 32768; ++v) printf("%d\n", (int)tc_tanh16(v, b));
    return 0;
}
"""


def _gemmlowp_dir() -> Path | None:
    """The gemmlowp headers TensorFlow's wheel ships (TFLite compiles against them)."""
    spec = importlib.util.find_spec("tensorflow")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "include" / "external" / "gemmlowp"
    return path if (path / "fixedpoint" / "fixedpoint.h").exists() else None


def test_int16_logistic_and_tanh_match_gemmlowp(tmp_path):
    """tc_logistic_q3_16 and tc_tanh16 (0..6 integer bits) equal gemmlowp's, on every int16."""
    headers = _gemmlowp_dir()
    if headers is None or shutil.which("g++") is None:
        pytest.skip("needs g++ and the gemmlowp headers of the tensorflow wheel")
    (tmp_path / "oracle.cc").write_text(_ORACLE)
    (tmp_path / "mine.c").write_text(_MINE)
    subprocess.run(["g++", "-O2", f"-I{headers}", "oracle.cc", "-o", "oracle"], cwd=tmp_path,
                   check=True, capture_output=True)
    subprocess.run(["gcc", *CFLAGS, *SANITIZE, f"-I{templates_dir()}", "mine.c", "-o", "mine"],
                   cwd=tmp_path, check=True, capture_output=True)
    want = subprocess.run(["./oracle"], cwd=tmp_path, check=True, capture_output=True).stdout
    got = subprocess.run(["./mine"], cwd=tmp_path, check=True, capture_output=True).stdout
    want, got = np.array(want.split(), np.int32), np.array(got.split(), np.int32)
    assert want.size == 8 * 65536
    bad = np.flatnonzero(want != got)
    assert bad.size == 0, (f"{bad.size} differ; first: function {bad[0] // 65536} "
                           f"input {bad[0] % 65536 - 32768}: {got[bad[0]]} != {want[bad[0]]}")
    assert np.unique(want[:65536]).size > 13000  # distinct sigmoid values over Q3.12


# --- Keras LSTM layers through the TFLite converter ---------------------------------------------

KERAS = [  # name, units, steps, features, return_sequences
    ("u4_t3_seq", 4, 3, 2, True),
    ("u8_t10_last", 8, 10, 5, False),
    ("u16_t6_seq", 16, 6, 9, True),
    ("u32_t20_last", 32, 20, 7, False),
    ("u12_t15_seq", 12, 15, 1, True),
]


@pytest.fixture(scope="module")
def keras_models(tmp_path_factory):
    """The KERAS models, converted in one child process (see lstm_models.py)."""
    pytest.importorskip("tensorflow")
    out = tmp_path_factory.mktemp("keras-lstm")
    specs = [dict(name=n, units=u, steps=t, features=f, return_sequences=r, seed=k)
             for k, (n, u, t, f, r) in enumerate(KERAS)]
    (out / "specs.json").write_text(json.dumps(specs))
    proc = subprocess.run([sys.executable, str(TESTS / "lstm_models.py"), str(out / "specs.json"),
                           str(out)], capture_output=True, text=True, timeout=1200,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {n: (out / f"{n}.tflite").read_bytes() for n, *_ in KERAS}


@pytest.mark.slow
@pytest.mark.parametrize("name,units,steps,features,return_sequences", KERAS,
                         ids=[k[0] for k in KERAS])
def test_keras_lstm(keras_models, name, units, steps, features, return_sequences):
    tflite = keras_models[name]
    kinds = [op.kind for op in read_tflite(tflite).ops]
    # return_sequences=False: the converter slices the last step off the whole sequence.
    assert kinds == ["UNIDIRECTIONAL_SEQUENCE_LSTM"] + ([] if return_sequences
                                                         else ["STRIDED_SLICE"])
    assert_bit_exact(leading_ops(tflite, 1), count=10, spread={})


# --- refusals ----------------------------------------------------------------------------------

def _w(shape=(6, 5), dtype="int8", **kw):
    kw.setdefault("scale", 0.01)
    return T(shape, dtype, data=np.ones(shape, dtype), **kw)


def _state(shape=(1, 6), dtype="int8", variable=True, **kw):
    kw.setdefault("scale", 1 / 128)
    return T(shape, dtype, variable=variable, **kw)


REFUSALS = [
    ("inputs", dict(n_operands=21), "expected 20 or 24 inputs"),
    ("float", dict(operands={0: T((1, 4, 5), "float32")}), "only the integer LSTM"),
    ("per-channel-input", dict(operands={0: T((1, 4, 5), scale=[0.1] * 5, zero_point=[0] * 5,
                                              axis=2)}), "quantised per channel"),
    ("2-d", dict(operands={0: T((4, 5), scale=0.05)}), "expected 3-D"),
    ("output", dict(output=T((1, 4, 6), "int16", scale=0.01)), "expected quantised int8"),
    ("intermediates", dict(intermediates=[T((0,), "float32")] * 4),
     "needs 5 intermediate tensors"),
    ("hidden", dict(intermediates=[T((0,), "float32")] * 5), "(the hidden state) needs one"),
    ("cifg", dict(operands={1: None, 5: None, 12: None}), "CIFG"),
    ("peephole", dict(operands={9: _w((6,), "int16"), 10: _w((6,), "int16"),
                                11: _w((6,), "int16")}), "peephole"),
    ("projection", dict(operands={16: _w((6, 6))}), "projection"),
    ("layer-norm", dict(operands={p: _w((6,), "int16") for p in (20, 21, 22, 23)}),
     "layer-norm LSTM"),
    ("activation", dict(options={"fused_activation_function": "RELU"}), "activation RELU"),
    ("diagonal", dict(options={"diagonal_recurrent_tensors": True}), "diagonal recurrent"),
    ("negative-clip", dict(clip=-1.0), "is negative"),
    ("weights-dtype", dict(operands={2: _w(dtype="int16")}), "constant quantised int8 weights"),
    ("weights-variable", dict(operands={3: T((6, 5), scale=0.01)}),
     "constant quantised int8 weights"),
    ("weights-zp", dict(operands={4: _w(zero_point=3)}), "zero point 0"),
    ("weights-per-channel", dict(operands={6: _w((6, 6), scale=[0.01] * 6, zero_point=[0] * 6)}),
     "zero point 0"),
    ("weights-shape", dict(operands={7: _w((6, 5))}), "expected [6, 6]"),
    ("bias", dict(operands={13: _w((6,), "int8")}), "constant int32 bias"),
    ("state-not-variable", dict(operands={18: _state(variable=False)}),
     "must be a variable (state) tensor"),
    ("state-dtype", dict(operands={19: _state(dtype="int8")}), "expected int16"),
    ("state-size", dict(operands={18: _state(shape=(1, 7))}), "expected 6"),
    ("cell-scale", dict(operands={19: _state(dtype="int16", scale=0.001)}),
     "needs a power of two"),
    ("cell-scale-range", dict(operands={19: _state(dtype="int16", scale=2.0**-16)}),
     "needs a power of two"),
    ("cell-zp", dict(operands={19: _state(dtype="int16", scale=2.0**-12, zero_point=4)}),
     "zero point 4, expected 0"),
    ("n-output", dict(operands={p: _w((6, 4)) for p in (5, 6, 7, 8)} | {18: _state((1, 4))}),
     "4 outputs for 6 cells"),
    ("output-shape", dict(output=T((1, 3, 6), scale=0.01)), "expected [1, 4, 6]"),
    ("overflow", dict(operands={14: T((6,), "int32", scale=1e-4,
                                       data=np.full(6, 2**31 - 10, np.int32))}),
     "overflows int32"),
]


@pytest.mark.parametrize("changes,message", [r[1:] for r in REFUSALS], ids=[r[0] for r in REFUSALS])
def test_lstm_refusals(changes, message):
    problems = compile_problems(lstm_model(1, 4, 5, 6, **changes))
    assert any(message in p and "UNIDIRECTIONAL_SEQUENCE_LSTM" in p for p in problems), problems
