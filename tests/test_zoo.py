"""Reference model builders and the Fashion-MNIST LeNet-5 trainer."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from tinycompress import zoo  # noqa: E402
from tinycompress.datasets import FASHION_MNIST_ROOT  # noqa: E402
from tinycompress.errors import UserError  # noqa: E402

# Parameter counts worked out by hand from the layer shapes (and, for DS-CNN and ResNet-8,
# equal to the MLPerf Tiny reference models).
EXPECTED = [
    # name, kwargs, input shape, output shape, parameters
    ("lenet5", {}, (28, 28, 1), (10,),
     (5 * 5 * 6 + 6) + (5 * 5 * 6 * 16 + 16) + (400 * 120 + 120) + (120 * 84 + 84) + (84 * 10 + 10)),
    ("lenet5_caffe", {}, (28, 28, 1), (10,),  # 431K, table 1 of the Deep Compression paper
     (5 * 5 * 20 + 20) + (5 * 5 * 20 * 50 + 50) + (800 * 500 + 500) + (500 * 10 + 10)),
    ("lenet5_caffe", {"dropout": 0.5}, (28, 28, 1), (10,), 431080),
    ("lenet300_100", {}, (28, 28, 1), (10,), (784 * 300 + 300) + (300 * 100 + 100) + (100 * 10 + 10)),
    ("ds_cnn", {}, (49, 10, 1), (12,),
     (10 * 4 * 64 + 64) + 4 * 64 + 4 * ((9 * 64 + 64) + 4 * 64 + (64 * 64 + 64) + 4 * 64) + (64 * 12 + 12)),
    ("resnet8", {}, (32, 32, 3), (10,), 78666),
    ("mlp_autoencoder", {}, (640,), (640,),
     (640 * 128 + 128 + 4 * 128) + 3 * (128 * 128 + 128 + 4 * 128) + (128 * 8 + 8 + 4 * 8)
     + (8 * 128 + 128 + 4 * 128) + 3 * (128 * 128 + 128 + 4 * 128) + (128 * 640 + 640)),
    ("ds_cnn", {"filters": 16, "blocks": 2}, (49, 10, 1), (12,),
     (10 * 4 * 16 + 16) + 4 * 16 + 2 * ((9 * 16 + 16) + 4 * 16 + (16 * 16 + 16) + 4 * 16) + (16 * 12 + 12)),
    ("mlp_autoencoder", {"input_dim": 32, "hidden": 16, "bottleneck": 4, "depth": 1}, (32,), (32,),
     (32 * 16 + 16 + 64) + (16 * 4 + 4 + 16) + (4 * 16 + 16 + 64) + (16 * 32 + 32)),
]


@pytest.mark.parametrize("name,kwargs,in_shape,out_shape,params", EXPECTED)
def test_builders_shapes_and_params(name, kwargs, in_shape, out_shape, params):
    model = zoo.MODELS[name](**kwargs)
    assert model.input_shape == (None, *in_shape)
    assert model.output_shape == (None, *out_shape)
    assert model.count_params() == params
    y = np.asarray(model(np.zeros((2, *in_shape), np.float32)))
    assert y.shape == (2, *out_shape)
    if name != "mlp_autoencoder":  # classifiers end in softmax
        np.testing.assert_allclose(y.sum(axis=-1), 1.0, rtol=1e-5)


def test_resnet8_has_residual_adds_and_1x1_shortcuts():
    model = zoo.resnet8()
    adds = [l for l in model.layers if isinstance(l, keras.layers.Add)]
    shortcuts = [l for l in model.layers
                 if isinstance(l, keras.layers.Conv2D) and l.kernel_size == (1, 1)]
    assert len(adds) == 3
    assert [l.strides for l in shortcuts] == [(2, 2), (2, 2)]
    assert [l.filters for l in shortcuts] == [32, 64]


def test_ds_cnn_layer_types():
    model = zoo.ds_cnn()
    kinds = [type(l) for l in model.layers]
    assert kinds.count(keras.layers.DepthwiseConv2D) == 4
    assert kinds.count(keras.layers.BatchNormalization) == 9
    first = next(l for l in model.layers if isinstance(l, keras.layers.Conv2D))
    assert first.kernel_size == (10, 4) and first.strides == (2, 2)


def test_builders_are_deterministic_per_seed_and_names_are_stable():
    a, b, c = zoo.lenet5(seed=3), zoo.lenet5(seed=3), zoo.lenet5(seed=4)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    assert not np.array_equal(a.get_weights()[0], c.get_weights()[0])
    assert [l.name for l in a.layers] == [l.name for l in b.layers]
    # Two dense layers of one model do not share an initializer seed.
    fc = [l.get_weights()[0] for l in zoo.mlp_autoencoder().layers if isinstance(l, keras.layers.Dense)]
    assert not np.array_equal(fc[1], fc[2])


@pytest.mark.parametrize("call,pattern", [
    (lambda: zoo.lenet5(input_shape=(28, 28)), "3 positive integers"),
    (lambda: zoo.lenet5(classes=0), "classes must be a positive integer, got 0"),
    (lambda: zoo.resnet8(widths=(16, 32)), "widths must be 3"),
    (lambda: zoo.ds_cnn(filters=-1), "filters must be a positive integer"),
    (lambda: zoo.lenet5(seed=-1), "seed must be a non-negative integer"),
    (lambda: zoo.lenet5(dropout=1.0), r"dropout must be a rate in \[0, 1\), got 1.0"),
])
def test_builder_errors(call, pattern):
    with pytest.raises(UserError, match=pattern):
        call()


def test_lenet5_dropout_is_training_only():
    plain, dropped = zoo.lenet5(seed=1), zoo.lenet5(seed=1, dropout=0.5)
    assert [l.name for l in dropped.layers if isinstance(l, keras.layers.Dropout)] == ["drop1", "drop2", "drop3"]
    for wa, wb in zip(plain.get_weights(), dropped.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    x = np.random.default_rng(0).random((4, 28, 28, 1)).astype(np.float32)
    np.testing.assert_allclose(plain.predict(x, verbose=0), dropped.predict(x, verbose=0), rtol=1e-6)
    assert not np.allclose(plain(x, training=True), dropped(x, training=True))


def test_lenet5_converts_to_tflite():
    tf = pytest.importorskip("tensorflow")
    flat = tf.lite.TFLiteConverter.from_keras_model(zoo.lenet5()).convert()
    assert flat[4:8] == b"TFL3"


@pytest.mark.skipif(not (FASHION_MNIST_ROOT / "train-images-idx3-ubyte.gz").is_file(),
                    reason="Debian package dataset-fashion-mnist not installed")
def test_train_lenet5_fashion_small_and_cache(tmp_path):
    model, acc = zoo.train_lenet5_fashion(epochs=1, train_limit=6000, cache_dir=tmp_path)
    assert acc > 0.65  # 6k images, one epoch; the full default reaches ~87%
    cached = list(tmp_path.glob("*.keras"))
    assert [p.name for p in cached] == ["lenet5_fashion_e1_s0_b64_lr0.003_n6000.keras"]
    again, acc2 = zoo.train_lenet5_fashion(epochs=1, train_limit=6000, cache_dir=tmp_path)
    assert acc2 == acc
    for wa, wb in zip(model.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(wa, wb)


def test_fashion_arrays_scaling():
    if not (FASHION_MNIST_ROOT / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip("Debian package dataset-fashion-mnist not installed")
    x, y = zoo.fashion_arrays("test", limit=100)
    assert x.shape == (100, 28, 28, 1) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0 and y.dtype == np.int32
