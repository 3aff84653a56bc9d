"""Deep Compression end to end: [remove filters ->] prune -> fine-tune -> cluster -> fine-tune
centroids -> size report.

Entry point: :func:`compress`. The Huffman stage is accounting only: it measures how many bytes
the pruned, clustered kernels take with relative indexing and Huffman-coded streams
(:mod:`tinycompress.compress.huffman`), as in table 1 of the paper; the model keeps float32
kernels whose values are the shared centroids, ready for the INT8 compiler. The bytes `compile`
places in flash come from the compiler's cost model (`tinycompress.cost.estimate`, which the
`compress` command reports); this module never imports the compiler.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from tinycompress.compress import cluster as cluster_pass
from tinycompress.compress import prune as prune_pass
from tinycompress.compress import structured as structured_pass
from tinycompress.compress.huffman import layer_sizes, sparse_encode
from tinycompress.compress.layers import check_names, targets
from tinycompress.compress.train import evaluate, resolve_loss
from tinycompress.errors import UserError

__all__ = ["CompressSpec", "LayerReport", "CompressionReport", "compress"]

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class CompressSpec:
    """Which stages run, and the relative-index widths (paper: conv 8 bits, fully connected 5).

    ``structured`` (off by default) is an optional first stage that physically removes the
    weakest filters (:mod:`tinycompress.compress.structured`); the model then shrinks.
    """

    prune: prune_pass.PruneSpec | None = field(default_factory=prune_pass.PruneSpec)
    cluster: cluster_pass.ClusterSpec | None = field(default_factory=cluster_pass.ClusterSpec)
    huffman: bool = True
    conv_index_bits: int = 8
    dense_index_bits: int = 5
    structured: structured_pass.StructuredSpec | None = None

    def __post_init__(self):
        if self.structured is not None and not isinstance(self.structured, structured_pass.StructuredSpec):
            raise UserError(f"structured must be a StructuredSpec or None, got {type(self.structured).__name__}")
        if self.prune is not None and not isinstance(self.prune, prune_pass.PruneSpec):
            raise UserError(f"prune must be a PruneSpec or None, got {type(self.prune).__name__}")
        if self.cluster is not None and not isinstance(self.cluster, cluster_pass.ClusterSpec):
            raise UserError(f"cluster must be a ClusterSpec or None, got {type(self.cluster).__name__}")
        for name in ("conv_index_bits", "dense_index_bits"):
            v = getattr(self, name)
            if not isinstance(v, int) or not 1 <= v <= 16:
                raise UserError(f"{name} must be an integer in 1..16, got {v!r}")


@dataclass(frozen=True)
class LayerReport:
    """One kernel, paper style. Byte counts exclude biases and normalisation parameters.

    ``weights`` and ``bytes_before`` describe the kernel of the input model; after structured
    pruning the kernel is smaller, and ``kept`` counts the removed filters as removed weights.
    """

    name: str
    layer_type: str
    weights: int
    kept: float            # fraction of weights left after pruning
    weight_bits: int       # bits per stored weight: 32 (float) or the cluster index width
    index_bits: int        # relative index width (0 when the kernel is stored dense)
    bytes_before: int      # float32 dense
    bytes_pruned: int      # float32 values + relative indices
    bytes_clustered: int   # cluster indices + relative indices + codebook
    bytes_huffman: int     # both streams Huffman coded + code tables + codebook
    bytes_after: int       # smallest encoding the enabled stages allow (never above float32)

    @property
    def ratio(self) -> float:
        return self.bytes_before / self.bytes_after if self.bytes_after else float("inf")


@dataclass
class CompressionReport:
    layers: list[LayerReport]
    metric: str                      # "accuracy" or "mse"
    before: float
    after_prune: float | None
    after: float
    other_bytes: int                 # biases, BN and unsupported layers: float32, unchanged
    prune: prune_pass.PruneReport | None = None
    cluster: cluster_pass.ClusterReport | None = None
    structured: structured_pass.StructuredReport | None = None

    @property
    def bytes_before(self) -> int:
        return sum(r.bytes_before for r in self.layers)

    @property
    def bytes_after(self) -> int:
        return sum(r.bytes_after for r in self.layers)

    @property
    def ratio(self) -> float:
        return self.bytes_before / self.bytes_after if self.bytes_after else float("inf")

    def table(self) -> str:
        """A plain-text table like table 1 of the paper."""
        head = (f"{'layer':<14}{'type':<16}{'weights':>9}{'kept':>7}{'w-bits':>7}{'i-bits':>7}"
                f"{'float32 B':>11}{'P B':>9}{'P+Q B':>9}{'P+Q+H B':>9}{'ratio':>8}")
        lines = [head, "-" * len(head)]
        if self.structured is not None:
            lines = ["filters removed (structured pruning):", self.structured.table(), ""] + lines
        for r in self.layers:
            lines.append(f"{r.name:<14.14}{r.layer_type:<16.16}{r.weights:>9}{r.kept:>7.1%}{r.weight_bits:>7}"
                         f"{r.index_bits:>7}{r.bytes_before:>11}{r.bytes_pruned:>9}{r.bytes_clustered:>9}"
                         f"{r.bytes_huffman:>9}{r.ratio:>7.1f}x")
        n = sum(r.weights for r in self.layers)
        kept = sum(r.kept * r.weights for r in self.layers) / n if n else 0.0
        lines.append("-" * len(head))
        lines.append(f"{'total':<30}{n:>9}{kept:>7.1%}{'':>14}{self.bytes_before:>11}"
                     f"{sum(r.bytes_pruned for r in self.layers):>9}"
                     f"{sum(r.bytes_clustered for r in self.layers):>9}"
                     f"{sum(r.bytes_huffman for r in self.layers):>9}{self.ratio:>7.1f}x")
        fmt = (lambda v: f"{v:.2%}") if self.metric == "accuracy" else (lambda v: f"{v:.5g}")
        mid = f", after pruning {fmt(self.after_prune)}" if self.after_prune is not None else ""
        lines.append(f"{self.metric}: before {fmt(self.before)}{mid}, after {fmt(self.after)}; "
                     f"biases/other parameters {self.other_bytes} B float32 (not compressed)")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {
            "metric": self.metric, "before": self.before, "after_prune": self.after_prune,
            "after": self.after, "bytes_before": self.bytes_before, "bytes_after": self.bytes_after,
            "ratio": self.ratio, "other_bytes": self.other_bytes,
            "layers": [{**{k: getattr(r, k) for k in r.__dataclass_fields__}, "ratio": r.ratio}
                       for r in self.layers],
            "structured": self.structured.to_dict() if self.structured is not None else None,
        }


def _sizes(kernel: np.ndarray, index_bits: int, clustered: bool, weight_bits: int, huffman: bool) -> dict:
    k = np.asarray(kernel)
    n = int(k.size)
    if clustered:
        s = layer_sizes(k, index_bits, weight_bits)
        # A layer is stored in whichever enabled encoding is smallest: for tiny kernels the
        # Huffman code tables can cost more than they save.
        after = min(s.huffman_bytes, s.clustered_bytes) if huffman else s.clustered_bytes
        return dict(weight_bits=weight_bits, bytes_pruned=s.sparse_bytes, bytes_clustered=s.clustered_bytes,
                    bytes_huffman=s.huffman_bytes, bytes_after=min(after, 4 * n))
    gaps, _ = sparse_encode((k != 0).astype(np.int64), index_bits)
    sparse = (int(gaps.size) * (32 + index_bits) + 7) // 8
    return dict(weight_bits=32, bytes_pruned=sparse, bytes_clustered=sparse, bytes_huffman=sparse,
                bytes_after=min(sparse, 4 * n))


def _frozen_copy(model):
    """The uncompressed model as a distillation teacher: same architecture and weights, frozen."""
    import keras

    teacher = keras.models.clone_model(model)
    teacher.set_weights(model.get_weights())
    teacher.trainable = False
    return teacher


def compress(model, x: np.ndarray, y: np.ndarray, spec: CompressSpec | None = None,
             x_val: np.ndarray | None = None, y_val: np.ndarray | None = None,
             progress: Progress | None = None):
    """Run the Deep Compression stages on ``model``; return ``(model, CompressionReport)``.

    ``model`` is changed in place, unless ``spec.structured`` is set: that first stage returns a
    new, smaller model, which the later stages then change.

    A stage whose ``TrainSpec.distill`` is above 0 distils from a frozen copy of the input model.

    ``x``/``y`` train the fine-tuning; ``x_val``/``y_val`` (default: ``x``/``y``) measure the
    metric before and after and drive the pruning sensitivity analysis. ``progress(stage, step,
    total)`` is called before every training step and once per stage with ``step == total``.
    """
    spec = CompressSpec() if spec is None else spec
    if not isinstance(spec, CompressSpec):
        raise UserError(f"compress needs a CompressSpec, got {type(spec).__name__}")
    x, y = np.asarray(x), np.asarray(y)
    if len(x) != len(y):
        raise UserError(f"x has {len(x)} samples but y has {len(y)}; give one label per sample")
    if (x_val is None) != (y_val is None):
        raise UserError("give both x_val and y_val, or neither")
    if x_val is None:
        x_val, y_val = x, y
    tgts = targets(model)
    if not tgts:
        raise UserError(f"model {model.name!r} has no compressible layers (Dense, Conv2D, DepthwiseConv2D)")
    # Refuse unknown layer names now, not after minutes of fine-tuning.
    for stage, what in ((spec.prune, "prunable"), (spec.cluster, "clusterable")):
        if stage is not None:
            check_names(stage.per_layer, (t.name for t in tgts), what)
    trains = [s.train for s in (spec.prune, spec.cluster) if s is not None]
    if spec.structured is not None and spec.structured.train is not None:
        trains.insert(0, spec.structured.train)
    loss = trains[0].loss if trains else "auto"
    _, kind = resolve_loss(model, y, loss)
    metric = "accuracy" if kind == "classification" else "mse"

    def stage_done(stage):
        if progress is not None:
            progress(stage, 1, 1)

    before = evaluate(model, x_val, y_val, kind)
    teacher = _frozen_copy(model) if any(t.distill > 0 for t in trains) else None
    after_prune = None
    prune_report = cluster_report = structured_report = None
    original = {t.name: int(np.prod(t.variable.shape)) for t in tgts}
    if spec.structured is not None:
        model, structured_report = structured_pass.apply(model, spec.structured, x, y, progress, teacher)
        tgts = targets(model)
        stage_done("structured")
    if spec.prune is not None:
        model, prune_report = prune_pass.apply(model, spec.prune, x, y, x_val, y_val, progress, teacher)
        after_prune = evaluate(model, x_val, y_val, kind)
        stage_done("prune")
    if spec.cluster is not None:
        model, cluster_report = cluster_pass.apply(model, spec.cluster, x, y, progress, teacher)
        stage_done("cluster")
    after = evaluate(model, x_val, y_val, kind)

    bits = {r.name: r.bits for r in cluster_report.layers} if cluster_report else {}
    rows = []
    for t in tgts:
        w = t.numpy()
        n0 = original.get(t.name, int(w.size))
        ib = spec.conv_index_bits if t.kind == "conv" else spec.dense_index_bits
        sz = _sizes(w, ib, t.name in bits, bits.get(t.name, 32), spec.huffman)
        stored_dense = spec.prune is None and spec.cluster is None
        rows.append(LayerReport(
            name=t.name, layer_type=t.layer_type, weights=n0, kept=float(np.count_nonzero(w) / n0),
            index_bits=0 if stored_dense else ib, bytes_before=4 * n0,
            **(dict(weight_bits=32, bytes_pruned=4 * w.size, bytes_clustered=4 * w.size,
                    bytes_huffman=4 * w.size, bytes_after=4 * w.size) if stored_dense else sz)))
    kernel_ids = {id(t.variable) for t in tgts}
    other = sum(4 * int(np.prod(v.shape)) for v in model.weights if id(v) not in kernel_ids)
    report = CompressionReport(rows, metric, before, after_prune, after, other, prune_report, cluster_report,
                               structured_report)
    return model, report
