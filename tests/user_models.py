"""Models as users bring them: Keras Applications architectures at microcontroller sizes and small
models built from the layers behind every operator tinycompress lowers. Weights are random
(seeded): nothing is downloaded. Each builder returns (model, calibration samples)."""

from __future__ import annotations

import numpy as np


def _keras():
    import keras

    return keras


def _calibration(model, n: int, seed: int, low: float = 0.0, high: float = 1.0) -> np.ndarray:
    shape = tuple(int(d) for d in model.inputs[0].shape[1:])
    return np.random.default_rng(seed).uniform(low, high, (n,) + shape).astype(np.float32)


def _settled(model, x: np.ndarray):
    """The model after one short epoch towards shuffled targets of its own outputs, so batch
    norm statistics and output ranges are those of a trained model rather than of its random
    initialisation (whose logits are all near zero)."""
    model.compile(optimizer="adam", loss="mse")
    y = model.predict(x, verbose=0)
    model.fit(x, np.roll(y, 1, axis=0) * 4.0, epochs=1, batch_size=8, verbose=0)
    return model, x


def mobilenet_v3_small(minimalistic: bool = False, seed: int = 0):
    """Keras MobileNetV3Small, alpha 0.75, 96x96x3, 10 classes (logits out: with random weights
    a softmax saturates to a near one-hot output, which tests no rounding), random weights."""
    keras = _keras()
    keras.utils.set_random_seed(seed)
    model = keras.applications.MobileNetV3Small(
        input_shape=(96, 96, 3), alpha=0.75, minimalistic=minimalistic, weights=None,
        classes=10, include_preprocessing=False, dropout_rate=0.0, classifier_activation=None)
    return _settled(model, _calibration(model, 16, seed, -1.0, 1.0))


def every_layer(seed: int = 0):
    """One model through SeparableConv2D, BatchNormalization, LeakyReLU, PReLU, UpSampling2D,
    Subtract, Maximum, Conv2DTranspose, GlobalMaxPooling2D, swish and hard-swish."""
    keras = _keras()
    L = keras.layers
    keras.utils.set_random_seed(seed)
    x_in = keras.Input((16, 16, 3), name="image")
    x = L.Conv2D(8, 3, padding="same", name="conv")(x_in)
    x = L.BatchNormalization(name="bn")(x)
    x = L.LeakyReLU(0.1, name="leaky")(x)
    a = L.SeparableConv2D(8, 3, padding="same", name="sep")(x)
    a = L.PReLU(shared_axes=[1, 2], name="prelu")(a)
    b = L.Conv2D(8, 1, activation="swish", name="swish_conv")(x)
    d = L.Subtract(name="sub")([a, b])
    m = L.Maximum(name="max")([a, b])
    x = L.Concatenate(name="cat")([d, m])
    x = L.Conv2D(8, 3, strides=2, padding="same", activation="hard_swish", name="down")(x)
    x = L.UpSampling2D(2, name="up")(x)
    x = L.Conv2DTranspose(8, 3, strides=2, padding="same", name="deconv")(x)
    x = L.GlobalMaxPooling2D(name="gmp")(x)
    out = L.Dense(5, activation="softmax", name="head")(x)
    model = keras.Model(x_in, out, name="every_layer")
    return _settled(model, _calibration(model, 32, seed))


def conv1d_sensor(seed: int = 0):
    """A Conv1D accelerometer classifier: 128 steps of 3 axes, 6 classes."""
    keras = _keras()
    L = keras.layers
    keras.utils.set_random_seed(seed)
    x_in = keras.Input((128, 3), name="imu")
    x = L.Conv1D(16, 5, activation="relu", name="c1")(x_in)
    x = L.MaxPooling1D(2, name="p1")(x)
    x = L.Conv1D(24, 5, activation="relu", name="c2")(x)
    x = L.GlobalAveragePooling1D(name="gap")(x)
    out = L.Dense(6, activation="softmax", name="head")(x)
    model = keras.Model(x_in, out, name="conv1d_sensor")
    return _settled(model, _calibration(model, 32, seed, -2.0, 2.0))


def recurrent_keywords(cell: str = "LSTM", seed: int = 0):
    """A keyword spotter over 49 frames of 10 MFCCs with one LSTM or GRU layer."""
    keras = _keras()
    L = keras.layers
    keras.utils.set_random_seed(seed)
    x_in = keras.Input((49, 10), name="mfcc")
    x = getattr(L, cell)(32, name=cell.lower())(x_in)
    out = L.Dense(12, activation="softmax", name="head")(x)
    model = keras.Model(x_in, out, name=f"{cell.lower()}_keywords")
    return _settled(model, _calibration(model, 32, seed, -1.0, 1.0))


MODELS = {
    "mobilenet_v3_small": lambda: mobilenet_v3_small(False),
    "mobilenet_v3_small_minimalistic": lambda: mobilenet_v3_small(True),
    "every_layer": every_layer,
    "conv1d_sensor": conv1d_sensor,
    "lstm_keywords": lambda: recurrent_keywords("LSTM"),
    "gru_keywords": lambda: recurrent_keywords("GRU"),
}
