"""TFLM's own example models, end to end, as a TFLM user brings them (shared/models/tflm-examples,
see its README): compiled, run in sequence on the host (and under QEMU) and compared bit for bit
with the reference. Skipped where the models are not present.

The keyword benchmark model (keyword_scrambled_8bit.tflite): int16 input, QUANTIZE to int8, seven
SVDF with int8 state and int8 time weights (TFLM's variant: the reference runs them with
tinycompress.ops.svdf.svdf_reference, see tinycompress/reference_split.py), five
FULLY_CONNECTED, SOFTMAX to int16 and QUANTIZE to int32. Its weights are scrambled (random, with
the trained scales): every SVDF output saturates (two values) whatever the input, and so does
the softmax. What spreads is the int8 input and the seven states, so besides the outputs of the
whole model (and cut after its input QUANTIZE and its last SVDF) the tests compare the state
buffer itself with the reference's states. Rounding over spread outputs: tests/test_op_svdf.py.
"""

import os
from pathlib import Path

import numpy as np
import pytest
from ai_edge_litert import schema_py_generated as schema
import flatbuffers

from optest import QEMU_MARKS, assert_bit_exact, assert_bit_exact_on_qemu, assert_spread
from tinycompress.reference import Reference

# shared/ beside the repository (as tests/test_e2e_models.py); TC_TFLM_EXAMPLES overrides it.
MODELS = Path(os.environ.get("TC_TFLM_EXAMPLES") or Path(__file__).resolve().parents[2] / "shared"
              / "models" / "tflm-examples")
KEYWORD = MODELS / "keyword_scrambled_8bit.tflite"
SEQUENCE = 40

needs_keyword = pytest.mark.skipif(not KEYWORD.exists(), reason=f"{KEYWORD} not present")


def cut(tflite: bytes, output: str) -> bytes:
    """The model with `output` as its only output and without the ops after its producer. The
    file's tensors have no names: the reader calls tensor i 'tensor_i'."""
    m = schema.ModelT.InitFromPackedBuf(bytearray(tflite), 0)
    sg = m.subgraphs[0]
    index = int(output.rsplit("_", 1)[1])
    sg.outputs = np.array([index], np.int32)
    producer = next(i for i, op in enumerate(sg.operators) if index in op.outputs)
    sg.operators = sg.operators[:producer + 1]
    b = flatbuffers.Builder(len(tflite) + 1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def keyword_inputs(count: int, seed: int = 0) -> np.ndarray:
    """int16 features (scale 0.000625) within the range the model's input QUANTIZE maps onto
    int8 (0 to 15.1), so that its int8 input spreads; some vectors beyond it at both ends."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 24300, (count, 96))
    x[::7] = rng.integers(-32768, 32768, (len(x[::7]), 96))
    return x.astype(np.int16)


@needs_keyword
def test_keyword_model_reference_is_split():
    """The interpreter cannot run the int8-state SVDF; the reference runs those in numpy."""
    ref = Reference(KEYWORD.read_bytes())
    assert ref.split
    assert ref.run([keyword_inputs(1)[0]])[0].dtype == np.int32


@needs_keyword
@pytest.mark.parametrize("output", ["tensor_53", "tensor_0", "tensor_47"])
def test_keyword_model_host(output):
    """The whole model (output int32) and the model cut after its input QUANTIZE and after the
    last SVDF, over 40 vectors in sequence (the seven states carry over)."""
    tflite = KEYWORD.read_bytes()
    if output != "tensor_53":
        tflite = cut(tflite, output)
    x = keyword_inputs(SEQUENCE)
    manifest = assert_bit_exact(tflite, inputs=[x], spread={"min_distinct": 250}
                                if output == "tensor_0" else None)
    assert manifest["input"]["dtype"] == "int16"
    if output == "tensor_53":
        assert manifest["output"]["dtype"] == "int32"
        assert manifest["ops"] == {"FULLY_CONNECTED": 5, "QUANTIZE": 2, "SOFTMAX": 1, "SVDF": 7}
        assert manifest["state_bytes"] == 4 * 512 + 3 * 1024


STATE_MAIN = r"""
#include <stdio.h>
#include "m.c" /* for its static state buffer */
int main(int argc, char **argv)
{
    static int16_t x[M_INPUT_ELEMENTS];
    static int32_t y[M_OUTPUT_ELEMENTS];
    FILE *f = fopen(argv[1], "rb");
    long n = 0;
    (void)argc;
    while (fread(x, sizeof x, 1, f) == 1) {
        m_invoke(x, y);
        ++n;
    }
    fclose(f);
    fwrite(&state, 1, sizeof state, stdout);
    return n == 0;
}
"""


@needs_keyword
def test_keyword_model_states_match_the_reference(tmp_path):
    """After 40 vectors, every byte of the C's seven SVDF states equals the reference's."""
    import subprocess

    from tinycompress import passes
    from tinycompress.compiler import compile_tflite, write_outdir
    from tinycompress.emit import emit
    from tinycompress.frontends.tflite import read_tflite
    from tinycompress.reference_split import SplitReference
    from tinycompress.targets import host

    tflite = KEYWORD.read_bytes()
    files, _ = compile_tflite(tflite, name="m")
    write_outdir(tmp_path / "out", files)
    (tmp_path / "main.c").write_text(STATE_MAIN)
    x = keyword_inputs(SEQUENCE)
    (tmp_path / "in.bin").write_bytes(x.tobytes())
    exe = tmp_path / "state"
    subprocess.run(["gcc", *host.CFLAGS, *host.SANITIZE, f"-I{tmp_path / 'out' / 'src'}",
                    str(tmp_path / "main.c"), str(tmp_path / "out" / "src" / "m_weights.c"), "-o",
                    str(exe)], check=True, capture_output=True, text=True)
    raw = subprocess.run([str(exe), str(tmp_path / "in.bin")], check=True,
                         capture_output=True).stdout
    g = passes.run(read_tflite(tflite))
    plan = emit(g, name="m").plan
    storage = plan.storage
    slots = sorted((off, off + g.tensors[t].nbytes, t)
                   for t, (kind, off) in storage.items() if kind == "state")
    assert len(slots) == 7 and slots[-1][1] == plan.state_bytes == 5120
    assert all(a[1] <= b[0] for a, b in zip(slots, slots[1:]))  # disjoint
    assert not {b.tensor for b in plan.buffers} & {t for *_, t in slots}  # none in the arena
    # The int8 activations' part: the largest two live ones, 96 + 64 bytes (the typed arena keeps
    # the int16 data in a part of its own).
    assert plan.arena_parts["i32"] == 160 and plan.arena_bytes == sum(plan.arena_parts.values())
    ref = SplitReference(tflite)
    for row in x:
        ref.run([row])
    states = [st for st in ref._stages if hasattr(st, "state")]
    assert len(states) == 7
    for st in states:
        _, offset = storage[st.op.inputs[4]]
        got = np.frombuffer(raw, np.int8, count=st.state.size, offset=offset)
        np.testing.assert_array_equal(got, st.state.reshape(-1), err_msg=st.op.inputs[4])
        assert len(np.unique(st.state)) >= 8, st.op.inputs[4]
    # The first SVDF's input spreads, and so does its state; the later ones see saturated inputs.
    assert_spread(states[0].state, min_distinct=128)


@needs_keyword
def test_keyword_model_random_int16_vectors():
    """Uniform int16 vectors (half of them clamp in the input QUANTIZE), sanitizers on."""
    tflite = KEYWORD.read_bytes()
    x = np.random.default_rng(3).integers(-32768, 32768, (24, 96)).astype(np.int16)
    assert_bit_exact(cut(tflite, "tensor_47"), inputs=[x])
    assert_bit_exact(tflite, inputs=[x])


@needs_keyword
def test_keyword_model_verify(tmp_path, capsys):
    """`tinycompress compile` then `verify --vectors 20`: random int16 vectors, bit-exact."""
    import json

    from tinycompress.cli import main

    out = tmp_path / "kw"
    assert main(["compile", str(KEYWORD), "-o", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["state_bytes"] == 5120
    assert summary["ram_bytes"] == summary["arena_bytes"] + 5120
    assert main(["verify", str(out), "--vectors", "20", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["bit_exact"] and report["vectors"] == 20


def _qemu(test):
    for mark in reversed(QEMU_MARKS):
        test = mark(test)
    return test


@needs_keyword
@_qemu
@pytest.mark.parametrize("output", ["tensor_53", "tensor_0"])
def test_keyword_model_qemu(output):
    """Under QEMU on a Cortex-M4F (int16 test vectors in, int32 or int8 outputs back), 12
    vectors in sequence."""
    tflite = KEYWORD.read_bytes()
    if output != "tensor_53":
        tflite = cut(tflite, output)
    manifest = assert_bit_exact_on_qemu(tflite, "mps2-an386", inputs=keyword_inputs(12, seed=5))
    assert manifest["input"]["dtype"] == "int16"
