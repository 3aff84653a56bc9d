"""End to end on the models users bring (tests/user_models.py): Keras MobileNetV3Small (full and
minimalistic), a model through every layer behind the newer operators, a Conv1D sensor model,
LSTM and GRU keyword spotters. Each converts, compiles and verifies bit-exactly against the
reference interpreter on the host (ASan/UBSan) and under QEMU on a Cortex-M4F (mps2-an386) and a
Cortex-M55 (mps3-an547), built with that core's kernels; the reference outputs must span the
output range (not mostly clamped)."""

from __future__ import annotations

import numpy as np
import pytest

import user_models
from optest import QEMU_MARKS, assert_spread
from tinycompress.boards import get_board
from tinycompress.compiler import compile_model, read_manifest
from tinycompress.reference import Reference
from tinycompress.verify import verify

pytestmark = pytest.mark.slow

MODELS = sorted(user_models.MODELS)
# MobileNetV3Small (0.8-1.1 MB) runs on the M55 with its weights in the AN547's 2 MB SRAM
# (its 512 KB ITCM holds the code).
QEMU_CASES = [pytest.param(m, b, marks=QEMU_MARKS) for m in MODELS
              for b in ("mps2-an386", "mps3-an547")]


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """name -> (model file, calibration file), built once per test module."""
    root = tmp_path_factory.mktemp("users")
    cache = {}

    def get(name):
        if name not in cache:
            model, x = user_models.MODELS[name]()
            model.save(root / f"{name}.keras")
            np.savez(root / f"{name}.npz", x=x)
            cache[name] = (root / f"{name}.keras", root / f"{name}.npz")
        return cache[name]

    return get


@pytest.mark.parametrize("name", MODELS)
def test_user_model_bit_exact_on_host(tmp_path, saved, name):
    model, cal = saved(name)
    out = tmp_path / "out"
    result = compile_model(model, out, calibration=cal, name="m")
    report = verify(out, count=0, data=cal, sanitize=not name.startswith("mobilenet"))
    assert report["vectors"] >= 16 and report["bit_exact"], report
    expected = Reference((out / result.manifest["tflite"]).read_bytes()).run_batch(
        np.load(out / "vectors.npz")["x"])
    assert_spread(expected, min_distinct=8, max_clamped=0.5)


@pytest.mark.parametrize("name,board", QEMU_CASES)
def test_user_model_bit_exact_on_qemu(tmp_path, saved, name, board):
    model, cal = saved(name)
    out = tmp_path / "out"
    compile_model(model, out, calibration=cal, name="m", board=board)
    report = verify(out, target="qemu", board=board, count=8, data=cal)
    assert report["bit_exact"] and report["vectors"] >= 8, report
    assert read_manifest(out)["kernel_families"]
    if name.startswith("mobilenet") and board == "mps3-an547":
        assert report["flash_bytes"] > get_board(board).code_region.size  # needs the SRAM
