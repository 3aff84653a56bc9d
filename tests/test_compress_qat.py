"""compress --qat keeps a compressed model's structure down to the compiled INT8 weights.

After pruning, weight sharing and QAT, every clustered kernel of the compiled model holds
at most K distinct nonzero int8 values (``--clusters K``, indexed in ceil(log2(K + 1)) bits) plus
zero, and every weight pruned before QAT is still zero in the C's int8 kernel.
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest

keras = pytest.importorskip("keras")

import tinycompress  # noqa: E402
from tinycompress.frontends.tflite import read_tflite  # noqa: E402

L = keras.layers
qat_module = importlib.import_module("tinycompress.compress.qat")


def _model():
    inp = keras.Input((8, 8, 1))
    h = L.Conv2D(6, 3, activation="relu", name="conv")(inp)
    h = L.Flatten()(h)
    h = L.Dense(12, activation="relu", name="fc")(h)
    return keras.Model(inp, L.Softmax()(L.Dense(3, name="out")(h)))


def _int8_kernels(outdir) -> list[np.ndarray]:
    """The int8 weights of the compiled model's CONV_2D / FULLY_CONNECTED ops, in Keras layout."""
    g = read_tflite((outdir / "model.tflite").read_bytes())
    out = []
    for op in g.ops:
        if op.kind in ("CONV_2D", "FULLY_CONNECTED"):
            w = g.tensor(op.inputs[1]).data
            out.append(w.transpose(1, 2, 3, 0) if w.ndim == 4 else w.T)
    return out


def test_compress_qat_compiled_weights_keep_clusters_and_mask(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 8, 8, 1)).astype(np.float32)
    y = (x[:, :4].mean(axis=(1, 2, 3)) > 0).astype(np.int32) + (x[:, 4:, :4].mean(axis=(1, 2, 3)) > 0.1)
    model = _model()
    before_qat = {}
    real_qat = qat_module.qat

    def spy(m, *args, **kwargs):  # the compressed kernels that enter QAT
        before_qat.update({n: m.get_layer(n).get_weights()[0].copy() for n in ("conv", "fc", "out")})
        return real_qat(m, *args, **kwargs)

    monkeypatch.setattr(qat_module, "qat", spy)
    clusters, bits = 3, 2
    res = tinycompress.compress(model, (x, y.astype(np.int32)), tmp_path / "c.keras", layer_sparsity={"conv": 0.5, "fc": 0.7, "out": 0.5},
                                clusters=clusters, epochs=1.0, qat=True)
    assert res.qat is not None and before_qat
    c = tinycompress.compile(tmp_path / "c.keras", tmp_path / "out", calibration=x, per_channel=False)
    kernels = _int8_kernels(c.outdir)
    saved = keras.models.load_model(tmp_path / "c.keras")
    assert len(kernels) == 3
    k_max = (1 << bits) - 1
    for name, q in zip(("conv", "fc", "out"), kernels):
        pruned = before_qat[name] == 0
        assert q.shape == pruned.shape
        assert 0.4 < pruned.mean() < 0.8, name  # the layer was pruned as asked
        assert np.all(saved.get_layer(name).get_weights()[0][pruned] == 0), f"{name}: QAT moved a pruned weight"
        assert np.all(q[pruned] == 0), f"{name}: a pruned weight is nonzero in the C"
        distinct = np.unique(q[q != 0])
        assert 2 <= distinct.size <= k_max, f"{name}: {distinct.size} distinct nonzero int8 values"
