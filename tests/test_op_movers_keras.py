"""Keras models whose layers convert to the gathering, tiling and resizing operators, converted
by tinycompress's frontend to INT8 TFLite and compiled bit-exactly: UpSampling2D (nearest: TILE
and RESHAPE; bilinear: RESIZE_BILINEAR), tf.image.resize nearest (RESIZE_NEAREST_NEIGHBOR),
tf.pad REFLECT and SYMMETRIC (MIRROR_PAD), space_to_depth / depth_to_space, and an Embedding
layer (GATHER of a constant table by int32 token ids)."""

from __future__ import annotations

import numpy as np
import pytest

from optest import assert_bit_exact
from tinycompress.frontends.tflite import read_tflite

pytestmark = pytest.mark.slow


def _kinds(tflite: bytes) -> list[str]:
    return [op.kind for op in read_tflite(tflite).ops]


# The highest versions of these operators the reference interpreter's BUILTIN_REF resolver
# registers (ai-edge-litert 2.3); TensorFlow 2.21's converter writes TILE 3 and DEPTH_TO_SPACE 2
# for int8, which it then refuses to load, although the registered kernels run int8 (the
# per-op tests).
REFERENCE_VERSIONS = {"TILE": 2, "DEPTH_TO_SPACE": 1}


def _reference_versions(tflite: bytes) -> bytes:
    """The model with the operator versions above lowered to what the reference registers."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as s

    m = s.ModelT.InitFromPackedBuf(bytearray(tflite), 0)
    for code in m.operatorCodes:
        builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
        for kind, version in REFERENCE_VERSIONS.items():
            if builtin == getattr(s.BuiltinOperator, kind):
                code.version = min(code.version, version)
    b = flatbuffers.Builder(1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def test_keras_image_movers_bit_exact():
    import keras
    import tensorflow as tf

    from tinycompress.frontends.keras import convert

    keras.utils.set_random_seed(0)
    conv = keras.layers.Conv2D(8, 3)
    up_nearest = keras.layers.UpSampling2D(2, interpolation="nearest")
    up_bilinear = keras.layers.UpSampling2D(2, interpolation="bilinear")
    conv(tf.zeros((1, 8, 8, 3)))

    @tf.function
    def fn(x):
        y = conv(tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="REFLECT"))
        y = tf.nn.depth_to_space(tf.nn.space_to_depth(y, 2) * 0.5, 2)
        y = tf.pad(y, [[0, 0], [0, 1], [1, 0], [0, 0]], mode="SYMMETRIC")
        y = up_bilinear(up_nearest(y))
        return tf.image.resize(y, (11, 13), method="nearest")

    x = np.random.default_rng(0).uniform(-1, 1, (64, 8, 8, 3)).astype(np.float32)
    tflite = convert(fn, (8, 8, 3), x, "movers")
    kinds = _kinds(tflite)
    for kind in ("MIRROR_PAD", "SPACE_TO_DEPTH", "DEPTH_TO_SPACE", "TILE", "RESIZE_BILINEAR",
                 "RESIZE_NEAREST_NEIGHBOR"):
        assert kind in kinds, kinds
    assert_bit_exact(_reference_versions(tflite), count=32, spread={})


def test_keras_embedding_bit_exact():
    import keras

    from tinycompress.frontends.keras import _quantize, _quiet_tf

    tf = _quiet_tf()
    keras.utils.set_random_seed(1)
    embedding = keras.layers.Embedding(50, 16)
    dense = keras.layers.Dense(8)
    dense(embedding(np.zeros((1, 6), np.int32)))

    # Keras 3's Embedding wraps negative ids (LESS, ADD, SELECT: boolean operators tinycompress
    # refuses); its table gathered directly is the GATHER an int8 model keeps.
    @tf.function
    def fn(ids):
        return dense(tf.gather(embedding.embeddings, ids))

    concrete = fn.get_concrete_function(tf.TensorSpec((1, 6), tf.int32))
    rng = np.random.default_rng(1)
    ids = rng.integers(0, 50, (64, 1, 6)).astype(np.int32)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], fn)
    tflite = _quantize(converter, lambda: ([i] for i in ids), "embedding")
    assert _kinds(tflite)[0] == "GATHER", _kinds(tflite)
    assert_bit_exact(tflite, inputs=[ids.reshape(64, 6)], spread={})
