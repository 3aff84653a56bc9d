"""End to end: whole models compile and verify bit-exactly (every output element of at least 100
vectors) against the reference interpreter on the host."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tinycompress.compiler import compile_model
from tinycompress.verify import verify

MLPERF = Path(__file__).resolve().parents[2] / "shared" / "models" / "mlperf-tiny"
MLPERF_MODELS = ["ad01_int8.tflite", "kws_ref_model.tflite", "pretrainedResnet_quant.tflite",
                 "vww_96_int8.tflite"]


@pytest.mark.slow
@pytest.mark.parametrize("model", MLPERF_MODELS)
def test_mlperf_tiny_int8_models_bit_exact(tmp_path, model):
    path = MLPERF / model
    if not path.exists():
        pytest.skip(f"{path} not present (shared/ models)")
    out = tmp_path / "out"
    result = compile_model(path, out, name="m")
    assert result.manifest["macs"] > 0
    report = verify(out, count=100, sanitize=model != "vww_96_int8.tflite")
    assert report["vectors"] == 100
    assert report["bit_exact"], report
    assert report["mismatches"] == 0


def _zoo_models():
    from tinycompress import zoo

    return {
        "lenet5": lambda: zoo.lenet5(),
        "ds_cnn": lambda: zoo.ds_cnn(),
        "resnet8": lambda: zoo.resnet8(),
        "mlp_autoencoder": lambda: zoo.mlp_autoencoder(),
    }


def _calibration(model, rng, n=64):
    shape = tuple(int(d) for d in model.inputs[0].shape[1:])
    return rng.uniform(0.0, 1.0, (n,) + shape).astype(np.float32)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["lenet5", "ds_cnn", "resnet8", "mlp_autoencoder"])
def test_keras_zoo_models_bit_exact(tmp_path, name):
    model = _zoo_models()[name]()
    rng = np.random.default_rng(1)
    x = _calibration(model, rng)
    # Briefly fit on random targets so batch-norm statistics and weights are not at init.
    model.compile(optimizer="adam", loss="mse")
    y = model.predict(x, verbose=0)
    model.fit(x, np.roll(y, 1, axis=0), epochs=1, verbose=0)
    model.save(tmp_path / f"{name}.keras")
    np.savez(tmp_path / "cal.npz", x=x)
    out = tmp_path / "out"
    compile_model(tmp_path / f"{name}.keras", out, calibration=tmp_path / "cal.npz", name=name)
    report = verify(out, count=100, sanitize=True)
    assert report["vectors"] == 100
    assert report["bit_exact"], report


@pytest.mark.slow
def test_compile_is_reproducible(tmp_path):
    from tinycompress import zoo

    model = zoo.lenet5()
    rng = np.random.default_rng(0)
    x = _calibration(model, rng, n=32)
    model.save(tmp_path / "m.keras")
    np.savez(tmp_path / "cal.npz", x=x)
    a, b = tmp_path / "a", tmp_path / "b"
    compile_model(tmp_path / "m.keras", a, calibration=tmp_path / "cal.npz")
    compile_model(tmp_path / "m.keras", b, calibration=tmp_path / "cal.npz")
    files_a = sorted(p.relative_to(a).as_posix() for p in a.rglob("*") if p.is_file())
    assert files_a == sorted(p.relative_to(b).as_posix() for p in b.rglob("*") if p.is_file())
    assert any(f.startswith("src/") for f in files_a)
    for f in files_a:
        assert (a / f).read_bytes() == (b / f).read_bytes(), f"{f} differs between two compiles"


@pytest.mark.slow
def test_float_interface_model_bit_exact(tmp_path):
    """A model converted with a float32 interface (QUANTIZE in, DEQUANTIZE out) verifies
    bit-exactly: float outputs are compared by their bits."""
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    from tinycompress import zoo

    model = zoo.lenet5()
    x = _calibration(model, np.random.default_rng(2), n=32)
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([x[i:i + 1]] for i in range(len(x)))
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    (tmp_path / "m.tflite").write_bytes(conv.convert())
    np.savez(tmp_path / "x.npz", x=x)
    result = compile_model(tmp_path / "m.tflite", tmp_path / "out")
    assert {"QUANTIZE", "DEQUANTIZE"} <= set(result.manifest["ops"])
    assert result.manifest["input"]["dtype"] == "float32"
    report = verify(tmp_path / "out", count=0, data=tmp_path / "x.npz", sanitize=True)
    assert report["vectors"] == 32 and report["bit_exact"], report


@pytest.mark.slow
@pytest.mark.parametrize("source,shape", [
    ("kws_ref_model_savedmodel/kws_ref_model", (49, 10, 1)),  # SavedModel with optimizer state
    ("vww_96.h5", (96, 96, 3)),  # Keras 2 .h5 (DepthwiseConv2D with groups=1)
])
def test_float_mlperf_sources_convert_and_verify(tmp_path, source, shape):
    path = MLPERF / source
    if not path.exists():
        pytest.skip("shared models not present")
    x = np.random.default_rng(3).uniform(0, 1, (16,) + shape).astype(np.float32)
    np.savez(tmp_path / "cal.npz", x=x)
    compile_model(path, tmp_path / "out", calibration=tmp_path / "cal.npz")
    report = verify(tmp_path / "out", count=20)
    assert report["bit_exact"], report
