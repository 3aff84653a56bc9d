"""Weight sharing: bits per layer, masks preserved, centroid fine-tuning."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from tinycompress.compress import cluster, prune  # noqa: E402
from tinycompress.compress.layers import kernel_masks, targets  # noqa: E402
from tinycompress.compress.train import TrainSpec  # noqa: E402
from tinycompress.errors import UserError  # noqa: E402


def tiny_model(seed=0):
    L = keras.layers
    init = keras.initializers.GlorotUniform
    inp = keras.Input((8, 8, 1))
    h = L.Conv2D(8, 3, activation="relu", kernel_initializer=init(seed), name="c1")(inp)
    h = L.DepthwiseConv2D(3, activation="relu", depthwise_initializer=init(seed + 1), name="dw")(h)
    h = L.Flatten()(h)
    h = L.Dense(32, activation="relu", kernel_initializer=init(seed + 2), name="d1")(h)
    h = L.Dense(3, kernel_initializer=init(seed + 3), name="d2")(h)
    return keras.Model(inp, L.Softmax()(h))


def tiny_data(n=384, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 8, 8, 1)).astype(np.float32)
    y = (x[:, :4, :, 0].mean(axis=(1, 2)) > 0).astype(np.int32) + (x[:, 4:, :4, 0].mean(axis=(1, 2)) > 0.2)
    return x, y.astype(np.int32)


def pruned_model():
    m, (x, y) = tiny_model(), tiny_data()
    spec = prune.PruneSpec(per_layer={"c1": 0.3, "dw": 0.3, "d1": 0.8, "d2": 0.5}, schedule="oneshot",
                           train=TrainSpec(epochs=0))
    m, rep = prune.apply(m, spec, x, y)
    return m, rep.masks, x, y


def test_kmeans_linear_and_kmeanspp_find_clusters():
    rng = np.random.default_rng(0)
    v = np.concatenate([rng.normal(c, 0.01, 200) for c in (-1.0, 0.5, 2.0)])
    for init in ("linear", "kmeans++", "random"):
        c = cluster.kmeans_1d(v, 3, init=init, seed=1)
        np.testing.assert_allclose(c, [-1.0, 0.5, 2.0], atol=0.01)
    # Linear initialisation spans [min, max]; fewer distinct values than k returns them.
    assert cluster.kmeans_1d(np.array([0.2, 0.2, -0.3]), 7).tolist() == pytest.approx([-0.3, 0.2])
    assert cluster.kmeans_1d(np.zeros(0), 4).size == 0
    np.testing.assert_array_equal(cluster.assign(np.array([-5.0, 0.6, 9.0]), np.array([-1.0, 0.5, 2.0])),
                                  [0, 1, 2])


def test_bits_per_kind_and_layer_and_masks_kept():
    m, masks, x, y = pruned_model()
    spec = cluster.ClusterSpec(conv_bits=3, dense_bits=2, per_layer={"d2": 1}, train=TrainSpec(epochs=0))
    m, rep = cluster.apply(m, spec, x, y)
    bits = {r.name: r.bits for r in rep.layers}
    assert bits == {"c1": 3, "dw": 3, "d1": 2, "d2": 1}
    km = kernel_masks(m)
    for t in targets(m):
        w = t.numpy()
        assert np.unique(w[w != 0]).size <= 2 ** bits[t.name] - 1
        np.testing.assert_array_equal(km[t.name], masks[t.name])  # zeros stay, nothing new zeroed
    assert all(r.moved == 0.0 for r in rep.layers)  # no fine-tuning asked


def test_centroid_fine_tuning_moves_centroids_and_keeps_weight_sharing():
    m, masks, x, y = pruned_model()
    spec = cluster.ClusterSpec(conv_bits=4, dense_bits=3, train=TrainSpec(epochs=3, batch_size=32,
                                                                          learning_rate=1e-2))
    m0_bias = targets(m)[2].layer.bias.numpy().copy()
    m, rep = cluster.apply(m, spec, x, y)
    assert len(rep.losses) == 3 * 12
    assert rep.losses[-1] < rep.losses[0]
    for r, t in zip(rep.layers, targets(m)):
        assert r.moved > 0, r.name
        w = t.numpy()
        np.testing.assert_array_equal(w != 0, masks[t.name])
        vals = np.unique(w[w != 0])
        assert vals.size == r.distinct_nonzero <= 2 ** r.bits - 1
        assert np.isin(vals, r.codebook).all()  # every weight is a (fine-tuned) centroid
    assert not np.array_equal(targets(m)[2].layer.bias.numpy(), m0_bias)  # others trained too


def test_frozen_others():
    m, _, x, y = pruned_model()
    bias = targets(m)[2].layer.bias.numpy().copy()
    spec = cluster.ClusterSpec(train=TrainSpec(epochs=1, batch_size=64), train_others=False)
    m, rep = cluster.apply(m, spec, x, y)
    np.testing.assert_array_equal(targets(m)[2].layer.bias.numpy(), bias)
    assert rep.layers[2].moved > 0


@pytest.mark.parametrize("kwargs,pattern", [
    ({"conv_bits": 0}, r"conv_bits must be an integer number of bits in 1..8, got 0"),
    ({"dense_bits": 9}, r"dense_bits must be an integer number of bits in 1..8, got 9"),
    ({"per_layer": {"d1": 2.5}}, r"per_layer\['d1'\] must be an integer"),
    ({"init": "density"}, "unknown init 'density'; use one of: linear, kmeans\\+\\+, random"),
    ({"kmeans_iterations": -1}, "kmeans_iterations must be an integer in 0..10000"),
])
def test_spec_errors(kwargs, pattern):
    with pytest.raises(UserError, match=pattern):
        cluster.ClusterSpec(**kwargs)


def test_unknown_layer_name():
    m, (x, y) = tiny_model(), tiny_data()
    with pytest.raises(UserError, match="unknown layer\\(s\\) fc9; clusterable layers: c1, dw, d1, d2"):
        cluster.apply(m, cluster.ClusterSpec(per_layer={"fc9": 4}), x, y)


def test_clusters_caps_the_shared_values_below_the_bits_capacity():
    """`clusters` K places at most K centroids a layer even when the index bits (here 7, for
    K = 64) could hold 127: a layer of many distinct weights ends with exactly 64 values."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((40,)), keras.layers.Dense(50, name="d")])
    spec = cluster.ClusterSpec(dense_bits=7, clusters=64, train=TrainSpec(epochs=0))
    _, report = cluster.apply(model, spec)
    (layer,) = report.layers
    assert layer.bits == 7 and layer.clusters == 64 and layer.distinct_nonzero == 64
    uncapped = keras.Sequential([keras.Input((40,)), keras.layers.Dense(50, name="d")])
    spec2 = cluster.ClusterSpec(dense_bits=7, train=TrainSpec(epochs=0))
    layer2 = cluster.apply(uncapped, spec2)[1].layers[0]
    assert layer2.clusters == 127


@pytest.mark.parametrize("bad", [0, 256, 2.5])
def test_clusters_out_of_range_is_refused(bad):
    with pytest.raises(UserError, match="clusters must be an integer in 1..255"):
        cluster.ClusterSpec(clusters=bad)
