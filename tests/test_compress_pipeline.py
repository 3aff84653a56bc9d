"""End-to-end Deep Compression on tiny models: report consistency, regression models."""

import json

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from tinycompress import zoo  # noqa: E402
from tinycompress.compress.cluster import ClusterSpec  # noqa: E402
from tinycompress.compress.huffman import layer_sizes  # noqa: E402
from tinycompress.compress.layers import targets  # noqa: E402
from tinycompress.compress.pipeline import CompressSpec, compress  # noqa: E402
from tinycompress.compress.prune import PruneSpec  # noqa: E402
from tinycompress.compress.train import TrainSpec  # noqa: E402
from tinycompress.errors import UserError  # noqa: E402

FAST = TrainSpec(epochs=1, batch_size=32, learning_rate=3e-3)


def data(n=256, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 12, 12, 1)).astype(np.float32)
    y = (x[:, :6].mean(axis=(1, 2, 3)) > 0).astype(np.int32)
    return x, y


def model():
    return zoo.lenet5(input_shape=(12, 12, 1), classes=2, seed=0)


def test_full_pipeline_report():
    x, y = data()
    spec = CompressSpec(prune=PruneSpec(sparsity=0.7, train=FAST),
                        cluster=ClusterSpec(conv_bits=6, dense_bits=4, train=FAST))
    stages = []
    m, rep = compress(model(), x, y, spec, x[:128], y[:128], progress=lambda s, i, n: stages.append(s))
    assert stages[0] == "prune" and stages[-1] == "cluster" and set(stages) == {"prune", "cluster"}
    assert rep.metric == "accuracy" and 0 <= rep.before <= 1 and 0 <= rep.after <= 1
    assert rep.after_prune is not None
    assert [r.name for r in rep.layers] == ["conv1", "conv2", "fc1", "fc2", "fc3"]
    n = sum(r.weights for r in rep.layers)
    assert abs(sum(r.kept * r.weights for r in rep.layers) / n - 0.3) <= 5 / n
    for r, t in zip(rep.layers, targets(m)):
        w = t.numpy()
        assert r.bytes_before == 4 * w.size
        assert r.weight_bits == (6 if t.kind == "conv" else 4)
        assert r.index_bits == (8 if t.kind == "conv" else 5)
        assert np.unique(w[w != 0]).size <= 2 ** r.weight_bits - 1
        s = layer_sizes(w, r.index_bits, r.weight_bits)
        assert (r.bytes_pruned, r.bytes_clustered, r.bytes_huffman) == (s.sparse_bytes, s.clustered_bytes,
                                                                         s.huffman_bytes)
        assert r.bytes_after == min(r.bytes_huffman, r.bytes_clustered)
    assert rep.ratio > 5
    assert rep.other_bytes == 4 * (6 + 16 + 120 + 84 + 2)  # biases only
    text = rep.table()
    assert "fc1" in text and "total" in text and "accuracy: before" in text
    json.dumps(rep.to_dict())


def test_prune_only_and_cluster_only_and_no_huffman():
    x, y = data()
    _, rep = compress(model(), x, y, CompressSpec(prune=PruneSpec(sparsity=0.5, allocation="uniform",
                                                                  train=FAST), cluster=None))
    assert all(r.weight_bits == 32 and r.bytes_after == r.bytes_pruned for r in rep.layers)
    assert rep.cluster is None and rep.prune is not None
    _, rep = compress(model(), x, y, CompressSpec(prune=None, cluster=ClusterSpec(train=FAST), huffman=False))
    assert rep.after_prune is None
    assert all(r.kept == 1.0 and r.bytes_after == min(r.bytes_clustered, r.bytes_before) for r in rep.layers)
    # conv1 has 150 distinct weights: an 8-bit codebook of 150 floats beats nothing; stored dense.
    assert rep.layers[0].bytes_clustered > rep.layers[0].bytes_before == rep.layers[0].bytes_after


def test_regression_model_reports_mse():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 32)).astype(np.float32)
    m = zoo.mlp_autoencoder(input_dim=32, hidden=16, bottleneck=4, depth=1)
    spec = CompressSpec(prune=PruneSpec(sparsity=0.5, allocation="uniform", train=FAST),
                        cluster=ClusterSpec(dense_bits=3, train=FAST))
    m, rep = compress(m, x, x, spec)
    assert rep.metric == "mse" and rep.before > 0 and rep.after > 0
    assert "mse: before" in rep.table()
    assert all(r.layer_type == "Dense" for r in rep.layers)


def test_errors():
    x, y = data()
    with pytest.raises(UserError, match="x has 256 samples but y has 3"):
        compress(model(), x, y[:3])
    with pytest.raises(UserError, match="give both x_val and y_val"):
        compress(model(), x, y, x_val=x)
    with pytest.raises(UserError, match="prune must be a PruneSpec or None, got dict"):
        CompressSpec(prune={"sparsity": 0.5})
    with pytest.raises(UserError, match="dense_index_bits must be an integer in 1..16, got 0"):
        CompressSpec(dense_index_bits=0)


def test_one_hot_labels_use_categorical_crossentropy():
    from tinycompress.compress.train import evaluate, resolve_loss

    x, y = data(64)
    onehot = np.eye(2, dtype=np.float32)[y]
    m = model()
    fn, kind = resolve_loss(m, onehot)
    assert kind == "classification" and type(fn).__name__ == "CategoricalCrossentropy"
    assert evaluate(m, x, onehot, kind) == evaluate(m, x, y, kind)
    assert resolve_loss(m, y)[1] == "classification"
    assert resolve_loss(m, onehot * 0.5)[1] == "regression"  # not one-hot: plain MSE


def test_compressed_model_still_converts_to_tflite():
    tf = pytest.importorskip("tensorflow")
    x, y = data(128)
    spec = CompressSpec(prune=PruneSpec(sparsity=0.6, allocation="uniform", schedule="oneshot",
                                        train=TrainSpec(epochs=0)),
                        cluster=ClusterSpec(conv_bits=4, dense_bits=3, train=TrainSpec(epochs=0)))
    m, _ = compress(model(), x, y, spec)
    flat = tf.lite.TFLiteConverter.from_keras_model(m).convert()
    interp = tf.lite.Interpreter(model_content=flat)
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    interp.set_tensor(inp["index"], x[:1])
    interp.invoke()
    np.testing.assert_allclose(interp.get_tensor(out["index"]), np.asarray(m(x[:1])), atol=1e-5)


def test_cosine_schedule_trains_and_bad_schedule_is_refused():
    from tinycompress.compress.train import fine_tune

    x, y = data(128)
    spec = TrainSpec(epochs=2, batch_size=32, learning_rate=3e-3, schedule="cosine")
    losses = fine_tune(model(), x, y, spec)
    assert len(losses) == 8 and all(np.isfinite(losses))
    with pytest.raises(UserError, match="unknown schedule 'linear'; use one of: constant, cosine"):
        TrainSpec(schedule="linear")


def test_weight_shared_kernel_converts_per_tensor_to_one_int8_codebook():
    """Per-tensor weight scales keep a clustered kernel's few values few in int8 (per channel,
    an output channel without the extreme centroids would scale them differently)."""
    from tinycompress.frontends.keras import convert
    from tinycompress.frontends.tflite import read_tflite

    x, y = data(64)
    spec = CompressSpec(prune=PruneSpec(sparsity=0.5, allocation="uniform", schedule="oneshot",
                                        train=TrainSpec(epochs=0)),
                        cluster=ClusterSpec(conv_bits=3, dense_bits=3, train=TrainSpec(epochs=0)))
    m, _ = compress(model(), x, y, spec)
    for per_channel in (True, False):
        graph = read_tflite(convert(m, (12, 12, 1), x, "m", per_channel=per_channel), "m")
        fc2 = [t for t in graph.tensors.values() if t.data is not None and t.data.ndim == 2
               and t.data.shape == (84, 120)]
        assert len(fc2) == 1
        assert fc2[0].quant.per_channel == per_channel
        if not per_channel:
            q = fc2[0].data
            assert np.unique(q[q != 0]).size <= 7


@pytest.mark.parametrize("grid", ["int8", "none"])
def test_int8_grid_makes_per_tensor_quantisation_exact(grid):
    """With grid="int8" the fine-tuned centroids are the int8 values of TFLite's per-tensor
    quantisation: dequantised, every kernel of the INT8 model is the Keras kernel exactly."""
    from tinycompress.frontends.keras import convert
    from tinycompress.frontends.tflite import read_tflite

    x, y = data(128)
    spec = CompressSpec(prune=PruneSpec(sparsity=0.5, allocation="uniform", schedule="oneshot",
                                        train=TrainSpec(epochs=0)),
                        cluster=ClusterSpec(conv_bits=4, dense_bits=3, grid=grid,
                                            train=TrainSpec(epochs=1, batch_size=32, learning_rate=1e-2)))
    m, rep = compress(model(), x, y, spec)
    assert all(r.moved > 0 for r in rep.cluster.layers)  # the centroids did train
    graph = read_tflite(convert(m, (12, 12, 1), x, "m", per_channel=False), "m")
    consts = [t for t in graph.tensors.values() if t.data is not None and t.data.dtype == np.int8]
    exact = []
    for t in targets(m):
        w = t.numpy()
        q = [c for c in consts if c.data.size == w.size]
        assert len(q) == 1, t.name
        deq = np.sort((q[0].data.astype(np.float64) * q[0].quant.scale[0]).reshape(-1))
        exact.append(np.allclose(deq, np.sort(w.reshape(-1)), rtol=1e-6, atol=0))
        if grid == "int8":
            codes = w[w != 0] / (np.abs(w).max() / 127)
            np.testing.assert_allclose(codes, np.round(codes), atol=1e-4)
            assert np.all(np.abs(np.round(codes)) >= 1)  # kept weights stay nonzero
    assert all(exact) if grid == "int8" else not all(exact)


def test_unknown_layer_names_are_refused_before_any_training():
    x, y = data(64)
    calls = []
    for spec in (CompressSpec(prune=PruneSpec(per_layer={"fc9": 0.5}, train=FAST), cluster=None),
                 CompressSpec(prune=PruneSpec(sparsity=0.5, train=FAST), cluster=ClusterSpec(per_layer={"fc9": 3}))):
        with pytest.raises(UserError, match=r"per_layer names unknown layer\(s\) fc9; \w+ layers: conv1, conv2"):
            compress(model(), x, y, spec, progress=lambda *a: calls.append(a))
    assert calls == []
