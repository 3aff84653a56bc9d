"""Reference Keras 3 models (LeNet, MLPerf Tiny) and a fast Fashion-MNIST LeNet-5 trainer.

Every builder uses the functional API with a fixed input shape, explicit layer names (so the
generated C is the same from run to run) and initializers seeded from ``seed`` (so two builds
with the same seed have the same weights, without touching global random state). Builders
return uncompiled models; all layers are standard, so ``tf.lite.TFLiteConverter`` accepts them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tinycompress.errors import UserError

__all__ = [
    "lenet5", "lenet5_caffe", "lenet300_100", "ds_cnn", "resnet8", "mlp_autoencoder",
    "train_lenet5_fashion", "fashion_arrays", "evaluate_accuracy", "MODELS",
]


def _keras():
    import keras  # imported lazily: importing TensorFlow takes seconds

    return keras


class _Seeds:
    """Hands out distinct, reproducible initializer seeds, one per layer."""

    def __init__(self, seed: int):
        if not isinstance(seed, (int, np.integer)) or seed < 0:
            raise UserError(f"seed must be a non-negative integer, got {seed!r}")
        self._next = int(seed) * 1000

    def __call__(self, kind: str = "glorot"):
        keras = _keras()
        self._next += 1
        if kind == "he":
            return keras.initializers.HeNormal(seed=self._next)
        return keras.initializers.GlorotUniform(seed=self._next)


def _check_shape(name: str, shape: Sequence[int], ndim: int) -> tuple[int, ...]:
    shape = tuple(shape)
    if len(shape) != ndim or not all(isinstance(d, (int, np.integer)) and d > 0 for d in shape):
        raise UserError(f"{name}: input_shape must be {ndim} positive integers, got {shape!r}")
    return tuple(int(d) for d in shape)


def _check_positive(name: str, **values: int) -> None:
    for key, v in values.items():
        if not isinstance(v, (int, np.integer)) or v < 1:
            raise UserError(f"{name}: {key} must be a positive integer, got {v!r}")


def _check_dropout(name: str, dropout: float) -> float:
    if not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
        raise UserError(f"{name}: dropout must be a rate in [0, 1), got {dropout!r}")
    return float(dropout)


def _lenet_start(name: str, input_shape, classes, seed, dropout):
    """Checks and the shared pieces of the LeNet-5 builders: (layers, input, init, drop(x, i))."""
    keras = _keras()
    L = keras.layers
    shape = _check_shape(name, input_shape, 3)
    _check_positive(name, classes=classes)
    dropout = _check_dropout(name, dropout)

    def drop(x, i):
        return L.Dropout(dropout, name=f"drop{i}")(x) if dropout else x

    return L, keras.Input(shape=shape, name="input"), _Seeds(seed), drop


def lenet5(input_shape: Sequence[int] = (28, 28, 1), classes: int = 10, seed: int = 0,
           dropout: float = 0.0):
    """LeNet-5: Conv(6,5x5,same)-MaxPool-Conv(16,5x5)-MaxPool-Dense120-Dense84-Dense10-Softmax.

    ``dropout`` > 0 puts a Dropout layer (``drop1``..``drop3``) before each Dense layer; it acts in
    training only, so the converted model and the generated C are the same as without it.
    """
    L, inp, init, drop = _lenet_start("lenet5", input_shape, classes, seed, dropout)
    x = L.Conv2D(6, 5, padding="same", activation="relu", kernel_initializer=init(), name="conv1")(inp)
    x = L.MaxPooling2D(2, name="pool1")(x)
    x = L.Conv2D(16, 5, padding="valid", activation="relu", kernel_initializer=init(), name="conv2")(x)
    x = L.MaxPooling2D(2, name="pool2")(x)
    x = L.Flatten(name="flatten")(x)
    x = L.Dense(120, activation="relu", kernel_initializer=init(), name="fc1")(drop(x, 1))
    x = L.Dense(84, activation="relu", kernel_initializer=init(), name="fc2")(drop(x, 2))
    x = L.Dense(classes, kernel_initializer=init(), name="fc3")(drop(x, 3))
    out = L.Softmax(name="softmax")(x)
    return _keras().Model(inp, out, name="lenet5")


def lenet5_caffe(input_shape: Sequence[int] = (28, 28, 1), classes: int = 10, seed: int = 0,
                 dropout: float = 0.0):
    """The Caffe LeNet-5 of the Deep Compression paper's table 1 (431,080 parameters, 1,724 KB):
    Conv(20,5x5)-MaxPool-Conv(50,5x5)-MaxPool-Dense500-Dense10-Softmax, all convolutions VALID.

    ``dropout`` > 0 puts training-only Dropout layers (``drop1``, ``drop2``) before the Dense layers.
    """
    L, inp, init, drop = _lenet_start("lenet5_caffe", input_shape, classes, seed, dropout)
    x = L.Conv2D(20, 5, activation="relu", kernel_initializer=init(), name="conv1")(inp)
    x = L.MaxPooling2D(2, name="pool1")(x)
    x = L.Conv2D(50, 5, activation="relu", kernel_initializer=init(), name="conv2")(x)
    x = L.MaxPooling2D(2, name="pool2")(x)
    x = L.Flatten(name="flatten")(x)
    x = L.Dense(500, activation="relu", kernel_initializer=init(), name="fc1")(drop(x, 1))
    x = L.Dense(classes, kernel_initializer=init(), name="fc2")(drop(x, 2))
    out = L.Softmax(name="softmax")(x)
    return _keras().Model(inp, out, name="lenet5_caffe")


def lenet300_100(input_shape: Sequence[int] = (28, 28, 1), classes: int = 10, seed: int = 0):
    """LeNet-300-100 (the fully connected net of the Deep Compression paper)."""
    keras = _keras()
    L = keras.layers
    shape = tuple(input_shape)
    if not shape or not all(isinstance(d, (int, np.integer)) and d > 0 for d in shape):
        raise UserError(f"lenet300_100: input_shape must be positive integers, got {shape!r}")
    _check_positive("lenet300_100", classes=classes)
    init = _Seeds(seed)
    inp = keras.Input(shape=shape, name="input")
    x = L.Flatten(name="flatten")(inp)
    x = L.Dense(300, activation="relu", kernel_initializer=init(), name="fc1")(x)
    x = L.Dense(100, activation="relu", kernel_initializer=init(), name="fc2")(x)
    x = L.Dense(classes, kernel_initializer=init(), name="fc3")(x)
    out = L.Softmax(name="softmax")(x)
    return keras.Model(inp, out, name="lenet300_100")


def ds_cnn(input_shape: Sequence[int] = (49, 10, 1), classes: int = 12, filters: int = 64,
           blocks: int = 4, seed: int = 0):
    """MLPerf Tiny keyword spotting DS-CNN (``filters=64``: 24,908 parameters).

    Conv(filters,10x4,stride 2)+BN+ReLU, then ``blocks`` x [DepthwiseConv 3x3+BN+ReLU,
    Conv 1x1+BN+ReLU], global AveragePooling, Flatten, Dense, Softmax. Dropout as in the
    reference (identity at inference). Use ``filters=16`` for fast tests.
    """
    keras = _keras()
    L = keras.layers
    shape = _check_shape("ds_cnn", input_shape, 3)
    _check_positive("ds_cnn", classes=classes, filters=filters, blocks=blocks)
    init = _Seeds(seed)
    inp = keras.Input(shape=shape, name="input")
    x = L.Conv2D(filters, (10, 4), strides=(2, 2), padding="same", kernel_initializer=init(), name="conv1")(inp)
    x = L.BatchNormalization(name="conv1_bn")(x)
    x = L.ReLU(name="conv1_relu")(x)
    x = L.Dropout(0.2, name="dropout1")(x)
    for i in range(1, blocks + 1):
        x = L.DepthwiseConv2D((3, 3), padding="same", depthwise_initializer=init(), name=f"dw{i}")(x)
        x = L.BatchNormalization(name=f"dw{i}_bn")(x)
        x = L.ReLU(name=f"dw{i}_relu")(x)
        x = L.Conv2D(filters, (1, 1), padding="same", kernel_initializer=init(), name=f"pw{i}")(x)
        x = L.BatchNormalization(name=f"pw{i}_bn")(x)
        x = L.ReLU(name=f"pw{i}_relu")(x)
    x = L.Dropout(0.4, name="dropout2")(x)
    x = L.AveragePooling2D(pool_size=tuple(int(d) for d in x.shape[1:3]), name="avgpool")(x)
    x = L.Flatten(name="flatten")(x)
    x = L.Dense(classes, kernel_initializer=init(), name="fc")(x)
    out = L.Softmax(name="softmax")(x)
    return keras.Model(inp, out, name="ds_cnn")


def resnet8(input_shape: Sequence[int] = (32, 32, 3), classes: int = 10,
            widths: Sequence[int] = (16, 32, 64), seed: int = 0):
    """MLPerf Tiny image classification ResNet-8 (default widths: 78,666 parameters).

    Stem Conv3x3+BN+ReLU, three residual stacks (the 2nd and 3rd stride 2 with 1x1 conv
    shortcuts), AveragePooling over the final map, Flatten, Dense, Softmax.
    """
    keras = _keras()
    L = keras.layers
    shape = _check_shape("resnet8", input_shape, 3)
    widths = tuple(widths)
    if len(widths) != 3:
        raise UserError(f"resnet8: widths must be 3 filter counts (one per stack), got {widths!r}")
    _check_positive("resnet8", classes=classes, **{f"widths[{i}]": w for i, w in enumerate(widths)})
    init = _Seeds(seed)
    inp = keras.Input(shape=shape, name="input")
    x = L.Conv2D(widths[0], 3, padding="same", kernel_initializer=init("he"), name="stem")(inp)
    x = L.BatchNormalization(name="stem_bn")(x)
    x = L.ReLU(name="stem_relu")(x)
    for s, w in enumerate(widths, start=1):
        stride = 1 if s == 1 else 2
        y = L.Conv2D(w, 3, strides=stride, padding="same", kernel_initializer=init("he"), name=f"s{s}_conv1")(x)
        y = L.BatchNormalization(name=f"s{s}_bn1")(y)
        y = L.ReLU(name=f"s{s}_relu1")(y)
        y = L.Conv2D(w, 3, padding="same", kernel_initializer=init("he"), name=f"s{s}_conv2")(y)
        y = L.BatchNormalization(name=f"s{s}_bn2")(y)
        if stride != 1 or int(x.shape[-1]) != w:
            x = L.Conv2D(w, 1, strides=stride, padding="same", kernel_initializer=init("he"),
                         name=f"s{s}_shortcut")(x)
        x = L.Add(name=f"s{s}_add")([x, y])
        x = L.ReLU(name=f"s{s}_relu2")(x)
    x = L.AveragePooling2D(pool_size=int(min(x.shape[1:3])), name="avgpool")(x)
    x = L.Flatten(name="flatten")(x)
    x = L.Dense(classes, kernel_initializer=init("he"), name="fc")(x)
    out = L.Softmax(name="softmax")(x)
    return keras.Model(inp, out, name="resnet8")


def mlp_autoencoder(input_dim: int = 640, hidden: int = 128, bottleneck: int = 8, depth: int = 4,
                    seed: int = 0):
    """MLPerf Tiny anomaly detection FC autoencoder (defaults: 640-128x4-8-128x4-640, BN+ReLU)."""
    keras = _keras()
    L = keras.layers
    _check_positive("mlp_autoencoder", input_dim=input_dim, hidden=hidden, bottleneck=bottleneck, depth=depth)
    init = _Seeds(seed)
    inp = keras.Input(shape=(int(input_dim),), name="input")
    x = inp
    widths = [hidden] * depth + [bottleneck] + [hidden] * depth
    for i, w in enumerate(widths, start=1):
        x = L.Dense(w, kernel_initializer=init(), name=f"fc{i}")(x)
        x = L.BatchNormalization(name=f"fc{i}_bn")(x)
        x = L.ReLU(name=f"fc{i}_relu")(x)
    out = L.Dense(int(input_dim), kernel_initializer=init(), name="output")(x)
    return keras.Model(inp, out, name="mlp_autoencoder")


MODELS = {
    "lenet5": lenet5,
    "lenet5_caffe": lenet5_caffe,
    "lenet300_100": lenet300_100,
    "ds_cnn": ds_cnn,
    "resnet8": resnet8,
    "mlp_autoencoder": mlp_autoencoder,
}


def fashion_arrays(split: str = "train", limit: int | None = None,
                   root: str | os.PathLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Fashion-MNIST as model inputs: x float32 [N,28,28,1] in [0,1], y int32 [N]."""
    from tinycompress.datasets import load_fashion_mnist

    x, y = load_fashion_mnist(split, root=root)
    if limit is not None:
        if not isinstance(limit, (int, np.integer)) or limit < 1:
            raise UserError(f"limit must be a positive integer, got {limit!r}")
        x, y = x[:limit], y[:limit]
    return (x.astype(np.float32) / 255.0)[..., None], y.astype(np.int32)


def train_lenet5_fashion(epochs: int = 2, seed: int = 0, cache_dir: str | os.PathLike | None = None,
                         batch_size: int = 64, learning_rate: float = 3e-3, train_limit: int | None = None,
                         verbose: int = 0):
    """Train :func:`lenet5` on Fashion-MNIST; return ``(model, test_accuracy)``.

    Adam (lr 3e-3), sparse categorical cross-entropy, batch 64. Two epochs reach 88.2% test
    accuracy (seed 0) in about 40 s on a 2-core CPU. With ``cache_dir`` the trained model
    is saved as ``lenet5_fashion_e{epochs}_s{seed}_b{batch}_lr{lr}[_n{limit}].keras`` and loaded
    on later calls.
    Training seeds Python, NumPy and TensorFlow global RNGs with ``seed``.
    """
    _check_positive("train_lenet5_fashion", epochs=epochs, batch_size=batch_size)
    keras = _keras()
    x_test, y_test = fashion_arrays("test")
    cache = None
    if cache_dir is not None:
        limit = f"_n{train_limit}" if train_limit else ""
        name = f"lenet5_fashion_e{epochs}_s{seed}_b{batch_size}_lr{learning_rate:g}{limit}.keras"
        cache = Path(cache_dir) / name
        if cache.is_file():
            model = keras.models.load_model(cache)
            return model, evaluate_accuracy(model, x_test, y_test)
    x, y = fashion_arrays("train", limit=train_limit)
    keras.utils.set_random_seed(int(seed))
    model = lenet5(seed=seed)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x, y, epochs=epochs, batch_size=batch_size, shuffle=True, verbose=verbose)
    acc = evaluate_accuracy(model, x_test, y_test)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp.keras")
        model.save(tmp)
        os.replace(tmp, cache)
    return model, acc


def evaluate_accuracy(model, x: np.ndarray, y: np.ndarray, batch_size: int = 1024) -> float:
    """Top-1 accuracy of a classifier on integer labels ``y``."""
    pred = np.asarray(model.predict(x, batch_size=batch_size, verbose=0))
    return float(np.mean(np.argmax(pred, axis=-1) == np.asarray(y).reshape(-1)))
