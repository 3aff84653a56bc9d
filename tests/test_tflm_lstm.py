"""TFLM's example LSTM models (shared/models/tflm-examples: mnist_lstm, micro_speech_lstm, dtln)
compile and run bit-exactly against the reference interpreter, whole and cut after their last
UNIDIRECTIONAL_SEQUENCE_LSTM, with the LSTM state carried from one invocation to the next, on the
host and under QEMU."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lstm_models import leading_ops
from optest import QEMU_MARKS, assert_bit_exact, assert_bit_exact_on_qemu
from tinycompress.compiler import compile_tflite
from tinycompress.frontends.tflite import read_tflite
from tinycompress.reference import Reference

# shared/ beside the repository (as tests/test_e2e_models.py finds it), looked for further up
# too: a git worktree sits one folder deeper.
_HERE = Path(__file__).resolve()
MODELS = next((p / "shared" / "models" / "tflm-examples" for p in _HERE.parents[2:]
               if (p / "shared" / "models" / "tflm-examples").is_dir()),
              _HERE.parents[2] / "shared" / "models" / "tflm-examples")

# file, ops up to and including the last LSTM, (n_cell, log2 cell scale) of each LSTM
LSTM_MODELS = {
    "trained_lstm_int8.tflite": (1, [(20, -12)]),
    "micro_speech_lstm.tflite": (1, [(80, -11)]),
    "dtln_noise_suppression.tflite": (2, [(128, -11), (128, -12)]),
}


def _load(name: str) -> bytes:
    path = MODELS / name
    if not path.exists():
        pytest.skip(f"{path} not present (shared/ models)")
    return path.read_bytes()


@pytest.mark.parametrize("name", sorted(LSTM_MODELS))
def test_tflm_lstm_model_is_what_we_test(name):
    """The models use the integer LSTM variant the kernel implements, with int8 output states
    reset to a nonzero zero point in two of them."""
    g = read_tflite(_load(name))
    lstms = [op for op in g.ops if op.kind == "UNIDIRECTIONAL_SEQUENCE_LSTM"]
    n_lstm_ops, cells = LSTM_MODELS[name]
    assert len(lstms) == len(cells) and g.ops.index(lstms[-1]) + 1 == n_lstm_ops
    for op, (n_cell, log2) in zip(lstms, cells):
        assert g.tensors[op.inputs[19]].quant.s == 2.0**log2
        assert g.tensors[op.inputs[4]].shape[0] == n_cell
        assert not any(op.inputs[p] for p in (9, 10, 11, 16, 17))  # no peephole, projection


@pytest.mark.parametrize("name", sorted(LSTM_MODELS))
def test_tflm_lstm_model_bit_exact(name):
    """The whole model, 24 random vectors in sequence (the state carries over)."""
    manifest = assert_bit_exact(_load(name), count=24,
                                sanitize=name != "dtln_noise_suppression.tflite")
    assert manifest["state_bytes"] > 0


@pytest.mark.parametrize("name", sorted(LSTM_MODELS))
def test_tflm_lstm_output_bit_exact(name):
    """The model cut after its last LSTM: every hidden value, 16 vectors, spanning the range."""
    tflite = leading_ops(_load(name), LSTM_MODELS[name][0])
    assert_bit_exact(tflite, count=16, sanitize=False, spread={})


def test_tflm_dtln_state_carries_over():
    """dtln runs one frame per invocation: the same frame gives different outputs as its two
    LSTMs' states evolve, and the C follows the reference through them."""
    tflite = _load("dtln_noise_suppression.tflite")
    x = np.random.default_rng(1).integers(-128, 128, (1, 257)).astype(np.int8)
    frames = np.repeat(x, 12, axis=0)
    ref = Reference(tflite)
    outputs = [ref.run([f])[0] for f in frames]
    assert not np.array_equal(outputs[0], outputs[1])
    assert not np.array_equal(outputs[1], outputs[11])
    assert_bit_exact(tflite, inputs=[frames], sanitize=False)


def test_tflm_lstm_state_sizes():
    """Each LSTM keeps its int8 output state and int16 cell state in the static state buffer."""
    _, manifest = compile_tflite(_load("dtln_noise_suppression.tflite"), name="m")
    assert manifest["state_bytes"] == 2 * (128 + 2 * 128)


@pytest.mark.parametrize("name", sorted(LSTM_MODELS))
@QEMU_MARKS[0]
@QEMU_MARKS[1]
def test_tflm_lstm_model_on_qemu(name):
    assert_bit_exact_on_qemu(_load(name), "mps2-an386", count=6)
