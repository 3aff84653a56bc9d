"""SUB, MAXIMUM and REDUCE_MAX as the converter writes them: one small Keras model with
layers.Subtract, layers.Maximum and GlobalMaxPooling2D, converted to INT8 by tinycompress's own
frontend, compiled and compared bit for bit with the reference interpreter on its quantised
calibration data."""

import numpy as np
import pytest

from optest import assert_bit_exact
from tinycompress.frontends.tflite import read_tflite

keras = pytest.importorskip("keras")


@pytest.mark.slow
def test_keras_subtract_maximum_global_max_pooling():
    from tinycompress.frontends.keras import convert

    L = keras.layers
    keras.utils.set_random_seed(0)
    inp = keras.Input((8, 8, 3))
    a = L.Conv2D(8, 3, padding="same")(inp)
    b = L.Conv2D(8, 1)(inp)
    h = L.Maximum()([L.Subtract()([a, b]), b])
    out = L.Dense(4)(L.GlobalMaxPooling2D()(h))
    x = np.random.default_rng(0).standard_normal((64, 8, 8, 3)).astype(np.float32)
    tflite = convert(keras.Model(inp, out), (8, 8, 3), x, "sub_max_gmp")

    g = read_tflite(tflite)
    kinds = [op.kind for op in g.ops]
    for kind in ("SUB", "MAXIMUM", "REDUCE_MAX"):
        assert kind in kinds, kinds
    reduce_max = next(op for op in g.ops if op.kind == "REDUCE_MAX")
    assert g.tensors[reduce_max.inputs[1]].data.tolist() == [1, 2]
    q = g.tensors[g.inputs[0]].quant
    xq = np.clip(np.round(x[:24] / q.s) + q.zp, -128, 127).astype(np.int8).reshape(24, -1)
    manifest = assert_bit_exact(tflite, inputs=[xq], spread={"min_distinct": 24})
    assert {"SUB", "MAXIMUM", "REDUCE_MAX"} <= set(manifest["ops"])
