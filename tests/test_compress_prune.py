"""Magnitude pruning: exact per-layer sparsity, schedule, sensitivity allocation, rewinding."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from tinycompress.compress import prune  # noqa: E402
from tinycompress.compress.layers import kernel_masks, targets  # noqa: E402
from tinycompress.compress.train import TrainSpec  # noqa: E402
from tinycompress.errors import UserError  # noqa: E402

FAST = TrainSpec(epochs=2, batch_size=32, learning_rate=3e-3)


class MyDense(keras.layers.Dense):
    """A user subclass: the allow-list dispatches on the MRO, so it is pruned like Dense."""


def tiny_model(seed=0):
    L = keras.layers
    init = keras.initializers.GlorotUniform
    inp = keras.Input((8, 8, 1))
    h = L.Conv2D(4, 3, activation="relu", kernel_initializer=init(seed), name="c1")(inp)
    h = L.DepthwiseConv2D(3, activation="relu", depthwise_initializer=init(seed + 1), name="dw")(h)
    h = L.Flatten()(h)
    h = MyDense(24, activation="relu", kernel_initializer=init(seed + 2), name="d1")(h)
    h = L.Dense(3, kernel_initializer=init(seed + 3), name="d2")(h)
    return keras.Model(inp, L.Softmax()(h))


def tiny_data(n=384, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 8, 8, 1)).astype(np.float32)
    y = (x[:, :4, :, 0].mean(axis=(1, 2)) > 0).astype(np.int32) + (x[:, 4:, :4, 0].mean(axis=(1, 2)) > 0.2)
    return x, y.astype(np.int32)


def test_allow_list_dispatches_on_type():
    m = tiny_model()
    got = [(t.name, t.layer_type, t.kind) for t in targets(m)]
    assert got == [("c1", "Conv2D", "conv"), ("dw", "DepthwiseConv2D", "conv"),
                   ("d1", "MyDense", "dense"), ("d2", "Dense", "dense")]
    assert all(t.variable.path.endswith("kernel") for t in targets(m))


def test_polynomial_schedule():
    assert prune.polynomial_sparsity(0, 100, 0.0, 0.8) == 0.0
    assert prune.polynomial_sparsity(50, 100, 0.0, 0.8) == pytest.approx(0.8 - 0.8 * 0.5 ** 3)
    assert prune.polynomial_sparsity(100, 100, 0.0, 0.8) == 0.8
    assert prune.polynomial_sparsity(500, 100, 0.2, 0.8) == 0.8


def test_magnitude_mask_exact_count_with_ties():
    w = np.array([[0.0, 0.0, 0.1], [-0.1, 0.5, 0.0]])
    m = prune.magnitude_mask(w, 0.5)
    assert m.sum() == 3 and m[1, 1]
    assert prune.magnitude_mask(np.arange(7.0), 0.3).sum() == 7 - 2


def test_per_layer_sparsity_exact_and_masks_hold_through_fine_tuning():
    m, (x, y) = tiny_model(), tiny_data()
    biases = {t.name: t.layer.bias.numpy().copy() for t in targets(m)}
    per = {"c1": 0.25, "dw": 0.5, "d1": 0.9, "d2": 0.7}
    seen = []
    spec = prune.PruneSpec(per_layer=per, train=FAST, frequency=2)
    m, rep = prune.apply(m, spec, x, y, progress=lambda s, i, n: seen.append(
        float(np.mean(kernel_masks(m)["d1"] == 0))))
    for r in rep.layers:
        assert r.sparsity == round(per[r.name] * r.weights) / r.weights, r
        assert r.target == per[r.name]
    km = kernel_masks(m)
    for name, mask in rep.masks.items():
        np.testing.assert_array_equal(km[name], mask)
    # Gradual: sparsity of d1 never drops, starts low and ends at the target.
    assert seen[0] < 0.1 and seen[-1] == pytest.approx(0.9, abs=1e-3)
    assert all(b >= a - 1e-12 for a, b in zip(seen, seen[1:]))
    assert len(set(np.round(seen, 4))) > 3
    # Biases (zero-initialised) are not allow-listed: they train freely and end up nonzero.
    assert not biases["d1"].any() and np.count_nonzero(targets(m)[2].layer.bias.numpy()) > 20


def test_sensitivity_allocation_reaches_overall_target():
    m, (x, y) = tiny_model(), tiny_data()
    spec = prune.PruneSpec(sparsity=0.6, train=TrainSpec(epochs=0))
    m, rep = prune.apply(m, spec, x, y, x[:200], y[:200])
    assert set(rep.sensitivity) == {"c1", "dw", "d1", "d2"}
    for curve in rep.sensitivity.values():
        assert curve[0] == (0.0, 0.0)
    n = sum(r.weights for r in rep.layers)
    assert abs(rep.sparsity - 0.6) <= len(rep.layers) / n  # exact up to rounding per layer
    assert len({round(r.sparsity, 2) for r in rep.layers}) > 1  # spread by sensitivity


def test_allocate_equalises_drop_and_is_exact():
    curves = {"a": [(0.0, 0.0), (0.5, 0.0), (0.9, 0.1)], "b": [(0.0, 0.0), (0.5, 0.1), (0.9, 0.5)]}
    s = prune.allocate(curves, {"a": 100, "b": 100}, 0.6)
    assert (s["a"] + s["b"]) / 2 == pytest.approx(0.6)
    assert s["a"] > s["b"]
    with pytest.raises(UserError, match="overall sparsity 0.95 is above"):
        prune.allocate(curves, {"a": 100, "b": 100}, 0.95)


def test_uniform_allocation_with_some_layers_fixed():
    m, (x, y) = tiny_model(), tiny_data()
    spec = prune.PruneSpec(sparsity=0.5, per_layer={"d2": 0.6}, allocation="uniform", schedule="oneshot",
                           train=TrainSpec(epochs=0))
    _, rep = prune.apply(m, spec, x, y)
    n = sum(r.weights for r in rep.layers)
    assert abs(rep.sparsity - 0.5) <= len(rep.layers) / n
    others = {r.name: r.target for r in rep.layers if r.name != "d2"}
    assert len(set(others.values())) == 1 and list(others.values())[0] < 0.5
    # d1 alone holds 1536 of 1680 weights: fixing it at 0.1 leaves too much for the others.
    bad = prune.PruneSpec(sparsity=0.5, per_layer={"d1": 0.1}, allocation="uniform", train=TrainSpec(epochs=0))
    with pytest.raises(UserError, match="leave 4.767 for the other layers to reach overall sparsity 0.5"):
        prune.apply(m, bad, x, y)


def test_iterative_pruning_with_rewinding_resets_survivors():
    m, (x, y) = tiny_model(), tiny_data()
    start = {t.name: t.numpy().copy() for t in targets(m)}
    spec = prune.PruneSpec(per_layer={"c1": 0.5, "dw": 0.5, "d1": 0.8, "d2": 0.5}, iterations=3,
                           rewind=True, train=TrainSpec(epochs=0))
    m, rep = prune.apply(m, spec, x, y)
    for t in targets(m):
        mask = rep.masks[t.name]
        np.testing.assert_array_equal(t.numpy(), start[t.name] * mask)
    assert rep.layers[2].sparsity == round(0.8 * 1536) / 1536
    # With training between iterations the survivors move away from the rewound values.
    m2 = tiny_model()
    spec = prune.PruneSpec(sparsity=0.5, allocation="uniform", iterations=2, rewind=True, train=FAST)
    m2, rep2 = prune.apply(m2, spec, x, y)
    assert rep2.sparsity == pytest.approx(0.5, abs=0.01)
    assert not np.array_equal(targets(m2)[2].numpy(), start["d1"] * rep2.masks["d1"])


@pytest.mark.parametrize("kwargs,pattern", [
    ({"sparsity": 1.5}, r"sparsity must be a number in 0..0.99, got 1.5"),
    ({"per_layer": {"d1": -0.1}}, r"per_layer\['d1'\] must be a number in 0..0.99"),
    ({"schedule": "cubic"}, "unknown schedule 'cubic'; use one of: polynomial, oneshot"),
    ({"allocation": "greedy"}, "unknown allocation 'greedy'"),
    ({"frequency": 0}, "frequency must be a positive integer"),
    ({"iterations": 0}, "iterations must be an integer in 1..100, got 0"),
    ({"train": {"epochs": 1}}, "train must be a TrainSpec"),
])
def test_spec_errors(kwargs, pattern):
    with pytest.raises(UserError, match=pattern):
        prune.PruneSpec(**kwargs)


def test_train_spec_errors():
    with pytest.raises(UserError, match="batch_size must be an integer in 1..65536, got 0"):
        TrainSpec(batch_size=0)
    with pytest.raises(UserError, match="unknown loss 'hinge'"):
        TrainSpec(loss="hinge")


def test_apply_errors():
    m, (x, y) = tiny_model(), tiny_data()
    with pytest.raises(UserError, match="unknown layer\\(s\\) nope; prunable layers: c1, dw, d1, d2"):
        prune.apply(m, prune.PruneSpec(per_layer={"nope": 0.5}), x, y)
    no_kernels = keras.Sequential([keras.Input((4,)), keras.layers.ReLU()])
    with pytest.raises(UserError, match="no prunable layers"):
        prune.apply(no_kernels, prune.PruneSpec(), x, y)
    with pytest.raises(UserError, match="x has 384 samples but y has 10"):
        prune.apply(m, prune.PruneSpec(allocation="uniform"), x, y[:10])


def test_dropout_before_a_pruned_layer_shrinks_with_the_weights_it_keeps():
    from tinycompress import zoo

    m = zoo.lenet5(input_shape=(12, 12, 1), classes=2, seed=0, dropout=0.4)
    rates = prune.adjust_dropout(m, {"conv1": 0.5, "fc1": 0.96, "fc2": 0.75})
    assert rates == pytest.approx({"drop1": 0.4 * 0.2, "drop2": 0.4 * 0.5})
    assert m.get_layer("drop3").rate == 0.4  # fc3 is not pruned here

    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 12, 12, 1)).astype(np.float32)
    y = (x[:, :6].mean(axis=(1, 2, 3)) > 0).astype(np.int32)
    fast = TrainSpec(epochs=0.5, batch_size=32)
    only_fc1 = {"conv1": 0.0, "conv2": 0.0, "fc1": 0.75, "fc2": 0.0, "fc3": 0.0}
    kept = zoo.lenet5(input_shape=(12, 12, 1), classes=2, seed=0, dropout=0.4)
    prune.apply(kept, prune.PruneSpec(per_layer=only_fc1, train=fast, adjust_dropout=False), x, y)
    assert kept.get_layer("drop1").rate == 0.4
    adjusted = zoo.lenet5(input_shape=(12, 12, 1), classes=2, seed=0, dropout=0.4)
    prune.apply(adjusted, prune.PruneSpec(per_layer=only_fc1, train=fast), x, y)
    assert adjusted.get_layer("drop1").rate == pytest.approx(0.2)
