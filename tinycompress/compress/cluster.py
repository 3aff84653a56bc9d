"""Weight sharing by k-means with centroid fine-tuning (Deep Compression stage 2).

Entry point: :func:`apply`. For every allow-listed kernel, the nonzero weights are clustered
by one-dimensional k-means into ``2**bits - 1`` centroids; cluster index 0 is reserved for the
zero weight (pruned weights and the fillers of relative indexing), so every weight's index fits
in ``bits`` bits and a kernel has at most ``2**bits - 1`` distinct nonzero values. Centroids
start linearly spaced over ``[min, max]`` of the weights (the paper's best initialisation) or
by k-means++. Then the network is fine-tuned: each step takes the gradient with respect to the
kernel, sums it per cluster index (index 0 dropped, so zeros stay zero), lets the optimizer
update the centroids and writes ``centroids[index]`` back into the kernel. Biases and
normalisation parameters train normally.

With ``grid="int8"`` (the default) the kernel is written with every centroid snapped to the
symmetric int8 grid of the layer's per-tensor scale, ``s = max|centroid| / 127`` (TFLite's
per-tensor weight quantisation): the network fine-tunes with exactly the values its INT8 model
will hold, while the float centroids behind them take the gradients (a straight-through
estimator). Quantising the clustered model per tensor then changes no weight. A nonzero
centroid never snaps to zero (it takes the smallest grid step of its sign), so kept weights stay
kept. ``grid="none"`` keeps the float centroids.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from tinycompress.compress.layers import Target, check_names, targets
from tinycompress.compress.train import TrainSpec, UpdateRule, fine_tune
from tinycompress.errors import UserError

__all__ = ["ClusterSpec", "LayerClusterResult", "ClusterReport", "apply", "kmeans_1d", "assign", "snap_int8"]

INITS = ("linear", "kmeans++", "random")
GRIDS = ("int8", "none")
Progress = Callable[[str, int, int], None]


def _check_bits(name: str, v) -> None:
    if not isinstance(v, int) or not 1 <= v <= 8:
        raise UserError(f"{name} must be an integer number of bits in 1..8, got {v!r}")


@dataclass(frozen=True)
class ClusterSpec:
    """Bits per layer (by kind, overridden by layer name), initialisation and fine-tuning."""

    conv_bits: int = 8
    dense_bits: int = 5
    per_layer: Mapping[str, int] = field(default_factory=dict)
    init: str = "linear"
    kmeans_iterations: int = 50
    train: TrainSpec = field(default_factory=lambda: TrainSpec(epochs=1.0, learning_rate=1e-4))
    train_others: bool = True  # also fine-tune biases / BN while the centroids train
    seed: int = 0
    grid: str = "int8"         # snap centroids to the per-tensor int8 grid ("none": float centroids)
    clusters: int | None = None  # at most this many centroids a layer (None: 2**bits - 1)

    def __post_init__(self):
        _check_bits("conv_bits", self.conv_bits)
        _check_bits("dense_bits", self.dense_bits)
        for name, b in dict(self.per_layer).items():
            _check_bits(f"per_layer[{name!r}]", b)
        if self.init not in INITS:
            raise UserError(f"unknown init {self.init!r}; use one of: {', '.join(INITS)}")
        if self.grid not in GRIDS:
            raise UserError(f"unknown grid {self.grid!r}; use one of: {', '.join(GRIDS)}")
        if not isinstance(self.kmeans_iterations, int) or not 0 <= self.kmeans_iterations <= 10000:
            raise UserError(f"kmeans_iterations must be an integer in 0..10000, got {self.kmeans_iterations!r}")
        if self.clusters is not None and (not isinstance(self.clusters, int)
                                          or not 1 <= self.clusters <= 255):
            raise UserError(f"clusters must be an integer in 1..255, got {self.clusters!r}")
        if not isinstance(self.train, TrainSpec):
            raise UserError(f"train must be a TrainSpec, got {type(self.train).__name__}")

    def clusters_for(self, target: Target) -> int:
        """The centroids k-means places in `target`: 2**bits - 1 (index 0 is zero), at most
        `clusters`."""
        k = (1 << self.bits_for(target)) - 1
        return k if self.clusters is None else min(k, self.clusters)

    def bits_for(self, target: Target) -> int:
        if target.name in self.per_layer:
            return int(self.per_layer[target.name])
        return self.conv_bits if target.kind == "conv" else self.dense_bits


@dataclass(frozen=True)
class LayerClusterResult:
    name: str
    layer_type: str
    bits: int
    clusters: int            # centroids used by k-means (<= 2**bits - 1)
    distinct_nonzero: int    # distinct nonzero kernel values after fine-tuning
    codebook: np.ndarray     # sorted centroids after fine-tuning
    moved: float             # mean |centroid change| during fine-tuning


@dataclass
class ClusterReport:
    layers: list[LayerClusterResult]
    losses: list[float]


def assign(values: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Index of the nearest centroid for each value (centroids sorted ascending)."""
    c = np.asarray(centroids)
    if c.size == 1:
        return np.zeros(np.shape(values), dtype=np.int64)
    mids = 0.5 * (c[1:] + c[:-1])
    return np.searchsorted(mids, values)


def kmeans_1d(values: np.ndarray, k: int, init: str = "linear", iterations: int = 50,
              seed: int = 0) -> np.ndarray:
    """Sorted centroids of 1-D k-means (Lloyd) on ``values``; empty clusters keep their place."""
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    if v.size == 0:
        return np.zeros(0, np.float32)
    uniq = np.unique(v)
    if uniq.size <= k:
        return uniq.astype(np.float32)
    rng = np.random.default_rng(seed)
    if init == "linear":
        c = np.linspace(v.min(), v.max(), k)
    elif init == "random":
        c = rng.choice(uniq, size=k, replace=False)
    else:  # k-means++ (Arthur & Vassilvitskii 2007)
        c = [v[rng.integers(v.size)]]
        d2 = (v - c[0]) ** 2
        for _ in range(1, k):
            p = d2 / d2.sum() if d2.sum() > 0 else None
            c.append(v[rng.choice(v.size, p=p)])
            d2 = np.minimum(d2, (v - c[-1]) ** 2)
        c = np.array(c)
    c = np.sort(c)
    for _ in range(iterations):
        idx = assign(v, c)
        sums = np.bincount(idx, weights=v, minlength=k)
        counts = np.bincount(idx, minlength=k)
        new = np.where(counts > 0, sums / np.maximum(counts, 1), c)
        new = np.sort(new)
        if np.allclose(new, c, rtol=0, atol=1e-12):
            c = new
            break
        c = new
    return c.astype(np.float32)


def _nonzero(c: np.ndarray) -> np.ndarray:
    """Centroids must stay nonzero, or their members would read as pruned."""
    c = np.array(c, dtype=np.float32)
    c[c == 0] = np.float32(1e-8)
    return c


def snap_int8(centroids, used):
    """``centroids`` (float tensor) on the symmetric int8 grid of ``max|centroid| / 127`` over the
    ``used`` ones (a 0/1 float mask: clusters with members); nonzero values stay nonzero."""
    import tensorflow as tf

    c = tf.convert_to_tensor(centroids, tf.float32)
    scale = tf.reduce_max(tf.abs(c) * used) / 127.0
    safe = tf.where(scale > 0, scale, 1.0)
    q = tf.clip_by_value(tf.round(c / safe), -127.0, 127.0)
    q = tf.where(tf.logical_and(q == 0, c != 0), tf.sign(c), q)
    return tf.where(scale > 0, q * safe, c)


class _CentroidRule(UpdateRule):
    """Kernel gradients summed per cluster drive the centroids; kernels are rebuilt each step."""

    def __init__(self, tgts: list[Target], indices: list[np.ndarray], centroids: list[np.ndarray],
                 train_others: bool, grid: str):
        import keras
        import tensorflow as tf

        self.targets = tgts
        self.train_others = train_others
        self.grid = grid
        self.used = [tf.constant((np.bincount(i.reshape(-1), minlength=c.size + 1)[1:] > 0).astype(np.float32))
                     for i, c in zip(indices, centroids)]
        self.idx = [tf.constant(i.reshape(-1).astype(np.int32)) for i in indices]
        self.k = [int(c.size) for c in centroids]
        self.cvars = [keras.Variable(c, trainable=True, name=f"{t.name}_centroids")
                      for t, c in zip(tgts, centroids)]
        self._pos = {id(t.variable): j for j, t in enumerate(tgts)}

    def variables(self, model):
        if self.train_others:
            return list(model.trainable_variables)
        return [t.variable for t in self.targets]

    def gradients(self, grads, variables):
        import tensorflow as tf

        out_g, out_v = [], []
        for g, v in zip(grads, variables):
            j = self._pos.get(id(v))
            if j is None:
                out_g.append(g)
                out_v.append(v)
            elif g is not None:
                seg = tf.math.unsorted_segment_sum(tf.reshape(g, [-1]), self.idx[j], self.k[j] + 1)
                out_g.append(seg[1:])
                out_v.append(self.cvars[j])
        return out_g, out_v

    def values(self, j: int):
        """The kernel values of layer ``j``'s clusters: its centroids, snapped to the grid."""
        import tensorflow as tf

        c = self.cvars[j]
        return snap_int8(c, self.used[j]) if self.grid == "int8" else tf.convert_to_tensor(c)

    def after_step(self):
        import tensorflow as tf

        for j, (t, idx) in enumerate(zip(self.targets, self.idx)):
            table = tf.concat([tf.zeros([1], tf.float32), self.values(j)], axis=0)
            t.variable.assign(tf.reshape(tf.gather(table, idx), t.variable.shape))

    def centroids(self) -> list[np.ndarray]:
        """The kernel values of every layer's clusters (snapped when ``grid="int8"``)."""
        return [np.asarray(self.values(j).numpy()) for j in range(len(self.cvars))]


def apply(model, spec: ClusterSpec, x: np.ndarray | None = None, y: np.ndarray | None = None,
          progress: Progress | None = None, teacher=None):
    """Cluster every allow-listed kernel of ``model`` in place; return ``(model, ClusterReport)``.

    ``teacher``: the model to distil from when ``spec.train.distill`` is above 0.

    Without ``x``/``y`` (or with ``spec.train.epochs == 0``) the centroids are not fine-tuned.
    """
    if not isinstance(spec, ClusterSpec):
        raise UserError(f"cluster.apply needs a ClusterSpec, got {type(spec).__name__}")
    tgts = targets(model)
    if not tgts:
        raise UserError(f"model {model.name!r} has no clusterable layers (Dense, Conv2D, DepthwiseConv2D)")
    check_names(spec.per_layer, (t.name for t in tgts), "clusterable")
    indices, centroids, bits = [], [], []
    for t in tgts:
        w = t.numpy()
        nz = w != 0
        b = spec.bits_for(t)
        c = _nonzero(kmeans_1d(w[nz], spec.clusters_for(t), spec.init, spec.kmeans_iterations,
                               spec.seed))
        idx = np.zeros(w.shape, dtype=np.int64)
        if c.size:
            idx[nz] = assign(w[nz], c) + 1
        indices.append(idx)
        centroids.append(c)
        bits.append(b)

    rule = _CentroidRule(tgts, indices, centroids, spec.train_others, spec.grid)
    rule.after_step()  # the kernels hold their (snapped) centroids before any training
    centroids = rule.centroids()
    losses: list[float] = []
    if x is not None and y is not None and spec.train.epochs > 0:
        def report(step, total):
            if progress is not None:
                progress("cluster", step, total)
        losses = fine_tune(model, x, y, spec.train, rule, on_step=report, teacher=teacher)
    tuned = [_nonzero(c) for c in rule.centroids()]
    layers = []
    for t, idx, c0, c, b in zip(tgts, indices, centroids, tuned, bits):
        t.variable.assign(np.concatenate([[0.0], c]).astype(np.float32)[idx])
        w = t.numpy()
        distinct = int(np.unique(w[w != 0]).size)
        moved = float(np.mean(np.abs(c - c0))) if c.size else 0.0
        layers.append(LayerClusterResult(t.name, t.layer_type, b, int(c.size), distinct, np.sort(c), moved))
    return model, ClusterReport(layers, losses)
