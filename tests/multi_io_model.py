"""A Keras functional model of two inputs and two outputs, of different shapes and quantisations,
converted to INT8 TFLite with the converter's post-training quantisation (the Keras frontend takes
one-input models; compile takes the .tflite as it is)."""

from __future__ import annotations

import numpy as np


def multi_io_keras(seed: int = 0):
    import keras
    from keras import layers as L

    keras.utils.set_random_seed(seed)
    a = keras.Input(shape=(12,), name="features")
    b = keras.Input(shape=(6, 6, 2), name="image")
    hb = L.Conv2D(4, 3, activation="relu", name="conv")(b)
    hb = L.Flatten(name="flat")(hb)
    ha = L.Dense(10, activation="relu", name="dense_a")(a)
    h = L.Concatenate(name="join")([ha, L.Dense(10, name="dense_b")(hb)])
    logits = L.Dense(3, name="logits")(h)
    gates = L.Reshape((2, 4), name="gates")(L.Dense(8, activation="sigmoid", name="gate")(h))
    return keras.Model([a, b], [logits, gates], name="two_by_two")


def multi_io_tflite(samples: int = 64, seed: int = 0) -> bytes:
    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter

    model = multi_io_keras(seed)
    rng = np.random.default_rng(seed)
    xa = rng.normal(0.0, 1.0, (samples, 1, 12)).astype(np.float32)
    xb = rng.uniform(-2.0, 3.0, (samples, 1, 6, 6, 2)).astype(np.float32)

    @tf.function
    def fn(a, b):
        return model([a, b], training=False)

    concrete = fn.get_concrete_function(tf.TensorSpec((1, 12), tf.float32),
                                        tf.TensorSpec((1, 6, 6, 2), tf.float32))
    # The converter's input order is its own: read it from a float conversion, feed accordingly.
    float_model = tf.lite.TFLiteConverter.from_concrete_functions([concrete]).convert()
    details = Interpreter(model_content=float_model).get_input_details()
    order = [0 if len(d["shape"]) == 2 else 1 for d in details]
    data = (xa, xb)
    conv = tf.lite.TFLiteConverter.from_concrete_functions([concrete])
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([data[k][i] for k in order] for i in range(samples))
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    return bytes(conv.convert())
