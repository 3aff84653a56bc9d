"""A small Keras model that splits, slices, reverses, transposes, permutes, unstacks and stacks,
converted by tinycompress's own frontend: every layout op the converter emits compiles, and the
whole model is bit-exact against the reference interpreter, on the host and on a Cortex-M4F under
QEMU."""

from __future__ import annotations

import os

import numpy as np
import pytest

from optest import QEMU_MARKS, assert_bit_exact, assert_bit_exact_on_qemu
from tinycompress.frontends.keras import convert

LAYOUT_OPS = {"TRANSPOSE", "SPLIT", "STRIDED_SLICE", "UNPACK", "PACK"}


@pytest.fixture(scope="module")
def layout_tflite():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    lam = keras.layers.Lambda
    inp = keras.Input((8, 6, 4))
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inp)
    x = keras.layers.Permute((2, 1, 3))(x)                                  # (6, 8, 8)
    a, b = lam(lambda t: tf.split(t, 2, axis=-1))(x)                        # (6, 8, 4) each
    b = lam(lambda t: t[:, 1:5, ::2, :])(b)                                 # (4, 4, 4)
    a = lam(lambda t: tf.transpose(t[:, ::-1, 2:6, :], (0, 2, 1, 3)))(a)    # (4, 6, 4)
    a = lam(lambda t: t[:, :, :4, :])(a)                                    # (4, 4, 4)
    c = lam(lambda t: tf.stack(tf.unstack(t, axis=1)[1::2], axis=2))(b)     # (4, 2, 4)
    c = keras.layers.Reshape((4, 4, 2))(c)
    x = keras.layers.Concatenate()([a, b, c])
    x = keras.layers.Flatten()(x)
    model = keras.Model(inp, keras.layers.Dense(10)(x))
    cal = np.random.default_rng(0).uniform(-1, 1, (32, 8, 6, 4)).astype(np.float32)
    return convert(model, (8, 6, 4), cal, "layout_model")


@pytest.mark.slow
def test_layout_model_is_bit_exact(layout_tflite):
    manifest = assert_bit_exact(layout_tflite, count=50, spread={})
    assert LAYOUT_OPS <= set(manifest["ops"]), manifest["ops"]



@pytest.mark.slow
@QEMU_MARKS[0]
@QEMU_MARKS[1]
def test_layout_model_on_cortex_m(layout_tflite):
    assert_bit_exact_on_qemu(layout_tflite, "mps2-an386", count=6)  # Cortex-M4F
