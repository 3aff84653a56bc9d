"""Quantization-aware training: the fake-quantised model is the INT8 model compile emits."""

from __future__ import annotations

import json

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from tinycompress import zoo  # noqa: E402
from tinycompress.cli import main  # noqa: E402
from tinycompress.compress.qat import (QATModel, QATSpec, plan, qat, quantize_weights,  # noqa: E402
                                       range_to_quant)
from tinycompress.datasets import FASHION_MNIST_ROOT  # noqa: E402
from tinycompress.errors import UserError  # noqa: E402
from tinycompress.frontends.tflite import read_tflite  # noqa: E402

L = keras.layers
needs_fashion = pytest.mark.skipif(not (FASHION_MNIST_ROOT / "train-images-idx3-ubyte.gz").is_file(),
                                   reason="Debian package dataset-fashion-mnist not installed")


def test_range_to_quant_hand_computed():
    # [0, 1]: 255 steps of 1/255 from -128.
    assert range_to_quant(0.0, 1.0) == (float(np.float32(1 / 255)), -128)
    # a range without 0 is widened to hold it: [0.5, 2] -> [0, 2]
    assert range_to_quant(0.5, 2.0) == (float(np.float32(2 / 255)), -128)
    assert range_to_quant(-2.0, -0.5) == (float(np.float32(2 / 255)), 127)
    # [-1, 3]: scale 4/255; zero point from the min: -128 + 63.75 = -64.25 -> -64
    assert range_to_quant(-1.0, 3.0) == (float(np.float32(4 / 255)), -64)
    assert range_to_quant(0.0, 0.0) == (1.0, -128)


def test_quantize_weights_hand_computed():
    w = np.array([[0.5, -0.02], [-1.0, 0.01], [0.25, 0.004]], np.float32)  # Dense [in=3, out=2]
    q, s = quantize_weights(w, "dense")
    assert s.dtype == np.float32 and np.array_equal(s, np.float32([1.0 / 127, 0.02 / 127]))
    assert q.tolist() == [[64, -127], [-127, 63], [32, 25]]  # w / s with s stored as float32
    q, s = quantize_weights(w, "dense", per_channel=False)
    assert np.array_equal(s, np.float32([1 / 127, 1 / 127]))
    assert q[:, 1].tolist() == [-3, 1, 1]
    # depthwise [kh, kw, cin, mult]: channel i * mult + m
    dw = np.zeros((1, 2, 2, 2), np.float32)
    dw[0, 0, 1, 0] = 2.0
    dw[0, 1, 1, 0] = -1.0
    q, s = quantize_weights(dw, "depthwise")
    assert s.tolist() == [1.0, 1.0, np.float32(2 / 127), 1.0]  # empty channels take scale 1
    assert q[0, :, 1, 0].tolist() == [127, -64]


def small_cnn(seed=0):
    init = keras.initializers.GlorotUniform
    inp = keras.Input((28, 28, 1), name="image")
    h = L.Conv2D(6, 3, use_bias=False, kernel_initializer=init(seed), name="c1")(inp)
    h = L.BatchNormalization(name="bn1")(h)
    h = L.ReLU(name="r1")(h)
    h = L.MaxPooling2D(2, name="p1")(h)
    h = L.DepthwiseConv2D(3, depth_multiplier=2, padding="same", activation="relu6",
                          depthwise_initializer=init(seed + 1), name="dw")(h)
    h = L.MaxPooling2D(2, name="p2")(h)
    h = L.Flatten(name="flat")(h)
    h = L.Dropout(0.1, name="drop")(h)
    h = L.Dense(16, activation="relu", kernel_initializer=init(seed + 2), name="fc1")(h)
    h = L.Dense(10, kernel_initializer=init(seed + 3), name="fc2")(h)
    return keras.Model(inp, L.Softmax(name="softmax")(h))


def keras_layout_to_tflite(la):
    k = la.kernel
    if la.kind == "dense":
        return k.T
    if la.kind == "conv":
        return k.transpose(3, 0, 1, 2)
    return k.reshape(k.shape[0], k.shape[1], -1)[None]


def assert_same_int8_model(tflite: bytes, layers, per_channel=True):
    """Every weight layer of the compiled model holds the QAT model's integers and scales."""
    graph = read_tflite(tflite)
    ops = [o for o in graph.ops if o.kind in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")]
    assert [o.kind for o in ops] == [{"conv": "CONV_2D", "depthwise": "DEPTHWISE_CONV_2D",
                                      "dense": "FULLY_CONNECTED"}[la.kind] for la in layers]
    for op, la in zip(ops, layers):
        w, b = graph.tensors[op.inputs[1]], graph.tensors[op.inputs[2]]
        x, y = graph.tensors[op.inputs[0]], graph.tensors[op.outputs[0]]
        assert np.array_equal(w.data, keras_layout_to_tflite(la)), la.name
        scales = np.float32(w.quant.scale)
        want = la.kernel_scale if per_channel else la.kernel_scale[:1]
        assert np.array_equal(scales, want), la.name
        assert np.array_equal(b.data, la.bias), la.name
        assert (np.float32(x.quant.scale[0]), x.quant.zero_point[0]) == (np.float32(la.input_quant[0]),
                                                                          la.input_quant[1]), la.name
        assert (np.float32(y.quant.scale[0]), y.quant.zero_point[0]) == (np.float32(la.output_quant[0]),
                                                                          la.output_quant[1]), la.name
    assert len(np.unique(graph.tensors[ops[-1].inputs[1]].data)) > 8  # not a trivial model


@pytest.fixture(scope="module")
def fashion(tmp_path_factory):
    if not (FASHION_MNIST_ROOT / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip("Debian package dataset-fashion-mnist not installed")
    x, y = zoo.fashion_arrays("train", limit=2000)
    xt, yt = zoo.fashion_arrays("test", limit=2000)
    d = tmp_path_factory.mktemp("fashion")
    np.savez(d / "train.npz", x=x, y=y)
    np.savez(d / "test.npz", x=xt, y=yt)
    return x, y, xt, yt, d


@pytest.mark.slow
def test_compiled_c_is_the_qat_model(fashion, tmp_path):
    """Integers, scales and zero points equal, element by element; the C's accuracy on 2,000
    test images equals the simulated accuracy within 0.1 pp; the saved model loads plainly."""
    from tinycompress.compiler import compile_model
    from tinycompress.frontends.keras import load_keras_model
    from tinycompress.verify import verify

    x, y, xt, yt, d = fashion
    keras.utils.set_random_seed(0)
    model = small_cnn()
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, batch_size=64, verbose=0)
    exported, report = qat(model, x, y, QATSpec(epochs=1), xt, yt, x_cal=x)
    assert [la.name for la in report.layers] == ["c1", "dw", "fc1", "fc2"]
    assert report.qat_metric > 0.5
    path = tmp_path / "qat.keras"
    exported.save(path)
    assert [type(la).__name__ for la in keras.models.load_model(path).layers] == [
        "InputLayer", "Conv2D", "MaxPooling2D", "DepthwiseConv2D", "MaxPooling2D", "Flatten", "Dense",
        "Dense", "Softmax"]
    load_keras_model(path)
    out = tmp_path / "c"
    result = compile_model(path, out, calibration=d / "train.npz")
    assert_same_int8_model((out / result.manifest["tflite"]).read_bytes(), report.layers)
    checked = verify(out, count=0, data=d / "test.npz")
    assert checked["bit_exact"] and checked["vectors"] == 2000
    assert abs(checked["accuracy"] - report.qat_metric) <= 0.001, (checked["accuracy"], report.qat_metric)


def test_per_tensor_scales_match_the_converter(tmp_path):
    from tinycompress.frontends.keras import convert

    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 12)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int32)
    inp = keras.Input((12,))
    h = L.Dense(8, activation="relu", kernel_initializer=keras.initializers.GlorotUniform(1))(inp)
    h = L.Dense(2, activation="softmax", kernel_initializer=keras.initializers.GlorotUniform(2))(h)
    model = keras.Model(inp, h)
    exported, report = qat(model, x, y, QATSpec(epochs=1, per_channel=False, batch_size=32))
    assert [type(la).__name__ for la in exported.layers][-1] == "Softmax"
    tfl = convert(exported, (12,), x, "qat", per_channel=False)
    assert_same_int8_model(tfl, report.layers, per_channel=False)


def test_training_graph_equals_the_simulation_once_calibrated():
    rng = np.random.default_rng(2)
    x = rng.uniform(size=(64, 10, 10, 1)).astype(np.float32)
    inp = keras.Input((10, 10, 1))
    h = L.Conv2D(3, 3, activation="relu", kernel_initializer=keras.initializers.GlorotUniform(3))(inp)
    h = L.AveragePooling2D(2)(h)
    h = L.Flatten()(h)
    h = L.Dense(4, kernel_initializer=keras.initializers.GlorotUniform(4))(h)
    qm = QATModel(keras.Model(inp, h))
    qm.calibrate(x, converter=False)
    _, train_out = qm.train_forward(x, update=False)
    sim = qm.predict(x)
    assert np.abs(sim - train_out.numpy()).max() <= qm.points[-1][0] * 1.01  # at most one step
    assert np.mean(np.isclose(sim, train_out.numpy())) > 0.99


def test_structure_is_kept_for_compressed_models():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(128, 6)).astype(np.float32)
    y = rng.integers(0, 3, 128).astype(np.int32)
    inp = keras.Input((6,))
    dense = L.Dense(3)
    model = keras.Model(inp, L.Softmax()(dense(inp)))
    shared = np.array([0.0, 0.3, -0.2, 0.5], np.float32)[rng.integers(0, 4, (6, 3))]
    dense.kernel.assign(shared)
    spec = QATSpec(epochs=2, batch_size=16, learning_rate=1e-2, keep_structure=True, per_channel=False)
    exported, report = qat(model, x, y, spec)
    for k in (dense.kernel.numpy(), exported.layers[1].get_weights()[0], report.layers[0].kernel):
        assert np.array_equal(k == 0, shared == 0)
        for v in (0.3, -0.2, 0.5):
            assert len(np.unique(k[shared == v])) == 1
    assert not np.allclose(dense.kernel.numpy()[shared == 0.3], 0.3)  # they did train


@pytest.mark.parametrize("build, message", [
    (lambda i: L.Add()([L.Dense(4)(i), L.Dense(4)(i)]), "chain of layers"),
    (lambda i: L.Dense(4, activation="tanh")(i), "activation 'tanh'"),
    (lambda i: L.BatchNormalization(name="bn")(L.Dense(4, activation="relu")(i)),
     "BatchNormalization 'bn' does not follow"),
    (lambda i: L.LayerNormalization(name="ln")(L.Dense(4)(i)), "cannot simulate layer 'ln'"),
    (lambda i: L.Softmax()(L.Dense(4)(L.Softmax()(L.Dense(4)(i)))), "only as the model's last layer"),
])
def test_unsupported_models_are_refused_naming_the_layer(build, message):
    inp = keras.Input((5,))
    with pytest.raises(UserError, match=message):
        plan(keras.Model(inp, build(inp)))


def test_labels_out_of_range_are_refused():
    inp = keras.Input((5,))
    model = keras.Model(inp, L.Dense(3, activation="softmax")(inp))
    with pytest.raises(UserError, match=r"labels span 0..3 but the model has 3 classes"):
        qat(model, np.zeros((4, 5), np.float32), np.array([0, 1, 2, 3]))


def run(capsys, *argv):
    code = main(list(map(str, argv)))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_json_keys_and_one_line_errors(capsys, tmp_path):
    rng = np.random.default_rng(4)
    x = rng.normal(size=(200, 8)).astype(np.float32)
    np.savez(tmp_path / "train.npz", x=x, y=(x[:, 0] > 0).astype(np.int32))
    inp = keras.Input((8,))
    keras.Model(inp, L.Dense(2, activation="softmax")(L.Dense(6, activation="relu")(inp))).save(tmp_path / "m.keras")
    code, out, err = run(capsys, "qat", tmp_path / "m.keras", "--data", tmp_path / "train.npz",
                         "-o", tmp_path / "q.keras", "--epochs", 1, "--json")
    assert code == 0, err
    got = json.loads(out)
    assert {"float_accuracy", "ptq_accuracy", "qat_accuracy", "output", "layers", "test_samples",
            "calibration_samples"} <= set(got)
    assert got["test_samples"] == 20 and got["calibration_samples"] == 200
    assert err == ""  # quiet under --json
    keras.models.load_model(tmp_path / "q.keras")
    np.savez(tmp_path / "bad.npz", x=x, y=np.full(200, 5))
    code, _, err = run(capsys, "qat", tmp_path / "m.keras", "--data", tmp_path / "bad.npz", "-o", tmp_path / "b.keras")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "labels span 5..5" in err


def test_compress_qat_keeps_the_compression_and_reports_qat(capsys, tmp_path):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(200, 8)).astype(np.float32)
    np.savez(tmp_path / "train.npz", x=x, y=(x[:, 0] > 0).astype(np.int32))
    inp = keras.Input((8,))
    keras.Model(inp, L.Dense(2, activation="softmax", name="out")(L.Dense(16, activation="relu", name="fc")(inp))).save(
        tmp_path / "m.keras")
    code, out, err = run(capsys, "compress", tmp_path / "m.keras", "--data", tmp_path / "train.npz", "-o",
                         tmp_path / "c.keras", "--sparsity", 0.5, "--clusters", 7, "--epochs", 0.5, "--qat", "--json")
    assert code == 0, err
    got = json.loads(out)
    assert {"float_accuracy", "ptq_accuracy", "qat_accuracy"} <= set(got["qat"])
    k = keras.models.load_model(tmp_path / "c.keras").get_layer("fc").get_weights()[0]
    assert 0.4 < np.mean(k == 0) < 0.6 and len(np.unique(k[k != 0])) <= 7
