"""Small Keras models around one activation layer, converted to INT8 TFLite by tinycompress' own
Keras frontend: for the activation op tests' end-to-end cases (tests marked slow)."""

from __future__ import annotations

import numpy as np

SHAPE = (6, 6, 4)


def convert_around(make_layer, before_conv: bool = False, name: str = "act") -> tuple[bytes, list]:
    """A Conv2D(8, 3) followed by the layer `make_layer(keras)` returns (with `before_conv`,
    the layer on the input, then the convolution), converted with 64 calibration samples.
    Returns the INT8 TFLite bytes and the op kinds of the converted graph."""
    from tinycompress.frontends.keras import _quiet_tf, convert
    from tinycompress.frontends.tflite import read_tflite

    _quiet_tf()
    import keras

    keras.utils.set_random_seed(0)
    inp = keras.Input(SHAPE)
    conv = keras.layers.Conv2D(8, 3, padding="same")
    out = conv(make_layer(keras)(inp)) if before_conv else make_layer(keras)(conv(inp))
    x_cal = np.random.default_rng(0).standard_normal((64, *SHAPE)).astype(np.float32) * 2
    tflite = convert(keras.Model(inp, out), SHAPE, x_cal, name)
    return tflite, [op.kind for op in read_tflite(tflite).ops]
