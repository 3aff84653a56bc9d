"""Whole models verify bit-exactly on emulated Cortex-M cores (M0 code on the M3 machine,
M3, M4F, M7, M33, M55), with deterministic instruction counts. The full model x core matrix with
sizes is `python benchmarks/cortexm.py`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tinycompress.boards import get_board
from tinycompress.compiler import compile_model, read_manifest
from tinycompress.reference import Reference
from tinycompress.targets import qemu
from tinycompress.vectors import draw
from optest import QEMU_MARKS

pytestmark = QEMU_MARKS

MLPERF = Path(__file__).resolve().parents[2] / "shared" / "models" / "mlperf-tiny"
CORES = ["mps2-an385-m0", "mps2-an385", "mps2-an386", "mps2-an500", "mps2-an505", "mps3-an547"]


def _run(tmp_path, model: Path, board: str, vectors: int):
    out = tmp_path / "out"
    compile_model(model, out, name="m", board=board)
    manifest = read_manifest(out)
    x = draw(manifest, out, vectors)
    expected = Reference((out / manifest["tflite"]).read_bytes()).run_batch(x)
    result = qemu.run(out, get_board(board), x)
    return result, expected, x, out


@pytest.mark.parametrize("board", CORES)
@pytest.mark.parametrize("model", ["ad01_int8.tflite", "kws_ref_model.tflite"])
def test_mlperf_small_models_on_every_core(tmp_path, model, board):
    if not (MLPERF / model).exists():
        pytest.skip("shared models not present")
    result, expected, x, out = _run(tmp_path, MLPERF / model, board, vectors=6)
    assert result.outputs.shape == expected.shape
    assert len(np.unique(expected)) > 6  # not all clamped: the comparison means something
    assert np.array_equal(result.outputs, expected), "outputs differ from the reference"
    assert result.count_method == "exact"
    # Cortex-M0 code runs on the M3 machine (the M0 machine's 16 KB RAM cannot hold these
    # models); the image was checked to hold Armv6-M instructions only.
    assert (result.note is not None) == (board == "mps2-an385-m0")
    assert result.cflags[0] == f"-mcpu={get_board(board).core}"
    # Same input, same count: instruction counts under QEMU are deterministic.
    again = qemu.run(out, get_board(board), x[:1])
    assert int(again.instructions[0]) == int(result.instructions[0])
    # With one vector, the layers' counts add up to at most the whole inference.
    assert 0 < sum(again.layer_instructions) <= int(again.instructions[0])


@pytest.mark.slow
@pytest.mark.parametrize("model,board", [
    ("pretrainedResnet_quant.tflite", "mps2-an386"),
    ("pretrainedResnet_quant.tflite", "mps3-an547"),
    ("vww_96_int8.tflite", "mps2-an500"),
    ("vww_96_int8.tflite", "mps2-an505"),
])
def test_mlperf_large_models(tmp_path, model, board):
    if not (MLPERF / model).exists():
        pytest.skip("shared models not present")
    result, expected, _, _ = _run(tmp_path, MLPERF / model, board, vectors=4)
    assert np.array_equal(result.outputs, expected)


def test_verify_command_reports_each_layer_on_qemu(tmp_path, capsys):
    """`verify --target qemu` gives every layer's weight format, bytes and instructions."""
    import json

    from tflite_builder import conv_model
    from tinycompress.cli import main

    (tmp_path / "m.tflite").write_bytes(conv_model(6, 6, 3, 4, 3, 3, per_channel=False))
    out = tmp_path / "out"
    assert main(["compile", str(tmp_path / "m.tflite"), "-o", str(out), "--name", "m"]) == 0
    capsys.readouterr()
    args = ["verify", str(out), "--target", "qemu", "--board", "mps2-an386", "--vectors", "2"]
    assert main([*args, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    (layer,) = report["layers"]
    assert (layer["op"], layer["weight_format"]) == ("CONV_2D", "dense")
    # The compiler's count (int8 filters, int32 folded bias, requantisation constants).
    assert layer["weights_bytes"] == read_manifest(out)["layers"][0]["weights_bytes"] >= 4 * 27 + 4 * 4
    assert 0 < layer["instructions"] <= report["instructions_per_inference"]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "per layer on mps2-an386" in text and f"{layer['instructions']:,}" in text
