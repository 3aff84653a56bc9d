"""Structured (filter/channel) pruning that physically removes channels (Li et al. 2017).

Entry point: :func:`apply`. For every ``Conv2D`` (``groups == 1``) or ``Dense`` layer whose
output reaches exactly one weighted consumer through channel-wise layers, the filters (units)
with the smallest L1 or L2 kernel norm are removed, and the consumer loses the matching input
channels. The result is a NEW, smaller Keras functional (or Sequential) model; the input model
is left untouched.

The path from a producer to its consumer may run through (dispatch on layer type, walking the
MRO, never on names):

* ``BatchNormalization`` on the channel axis (its parameters are sliced),
* activation layers (``Activation``, ``ReLU``, ``LeakyReLU``, ``ELU``) that map 0 to 0,
* ``Dropout`` (and its spatial subclasses), ``ZeroPadding2D``, max/average pooling and their
  global forms (channels last),
* ``Flatten`` (the consumer ``Dense`` loses the rows of every flattened position of a removed
  channel),
* ``DepthwiseConv2D`` with ``depth_multiplier == 1`` (the same channels go through it).

The consumer is a ``Conv2D`` (``groups == 1``) or ``Dense``. A producer is refused, with the
reason in :attr:`StructuredReport.skipped`, when its output (or any layer on the path) feeds
more than one layer, a model output, or any other layer (``Add``, ``Concatenate``, ``Reshape``,
``Softmax``, ...), when a fused activation on the path maps 0 to a nonzero value (``sigmoid``),
or when a layer on the path is shared or channels-first.

Exactness: weights of kept channels are copied unchanged, so before fine-tuning the new model
computes exactly what the original computes with the removed filters *zeroed* along their path:
producer kernel and bias, the ``BatchNormalization`` gamma, beta and moving mean and the
``DepthwiseConv2D`` kernel and bias of those channels set to zero (:func:`zeroed` builds that
reference). Channel norms are taken over the original, full kernels, so the choice does not
depend on the order in which layers are visited.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from tinycompress.compress.layers import check_names
from tinycompress.compress.train import TrainSpec, fine_tune
from tinycompress.errors import UserError

__all__ = ["StructuredSpec", "LayerStructuredResult", "StructuredReport", "apply", "zeroed",
           "filter_norms"]

CRITERIA = ("l1", "l2")

Progress = Callable[[str, int, int], None]


def _check_fraction(name: str, v) -> None:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 <= v <= 0.99:
        raise UserError(f"{name} must be a number in 0..0.99 (fraction of filters removed), got {v!r}")


@dataclass(frozen=True)
class StructuredSpec:
    """Which filters to remove.

    ``fraction`` of the filters (units) of every eligible layer not named in ``per_layer``
    (layer name -> fraction) is removed: ``round(fraction * filters)``, always keeping at least
    one. ``criterion`` ranks filters by the L1 or L2 norm of their kernel. With ``train`` the
    smaller model is fine-tuned with :func:`tinycompress.compress.train.fine_tune` (needs
    ``x`` and ``y``); without it, it is returned as removed.
    """

    fraction: float = 0.25
    per_layer: Mapping[str, float] = field(default_factory=dict)
    criterion: str = "l1"
    train: TrainSpec | None = None

    def __post_init__(self):
        _check_fraction("fraction", self.fraction)
        if not isinstance(self.per_layer, Mapping):
            raise UserError(f"per_layer must map layer names to fractions, got {type(self.per_layer).__name__}")
        for name, f in dict(self.per_layer).items():
            _check_fraction(f"per_layer[{name!r}]", f)
        if self.criterion not in CRITERIA:
            raise UserError(f"unknown criterion {self.criterion!r}; use one of: {', '.join(CRITERIA)}")
        if self.train is not None and not isinstance(self.train, TrainSpec):
            raise UserError(f"train must be a TrainSpec or None, got {type(self.train).__name__}")


@dataclass(frozen=True)
class LayerStructuredResult:
    name: str
    layer_type: str
    filters_before: int
    filters_after: int
    removed: tuple[int, ...]     # indices of removed filters in the original layer
    path: tuple[str, ...]        # channel-wise layers between producer and consumer
    consumer: str                # the layer that lost the matching input channels


@dataclass
class StructuredReport:
    layers: list[LayerStructuredResult]
    skipped: dict[str, str]      # producer layer name -> why it was left alone
    params_before: int
    params_after: int
    losses: list[float] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "params_before": self.params_before, "params_after": self.params_after,
            "layers": [{"name": r.name, "layer_type": r.layer_type, "filters_before": r.filters_before,
                        "filters_after": r.filters_after, "removed": list(r.removed),
                        "path": list(r.path), "consumer": r.consumer} for r in self.layers],
            "skipped": dict(self.skipped),
        }

    def table(self) -> str:
        lines = [f"{'layer':<16}{'type':<10}{'filters':>9}{'kept':>7}  consumer"]
        for r in self.layers:
            lines.append(f"{r.name:<16.16}{r.layer_type:<10.10}{r.filters_before:>9}{r.filters_after:>7}  "
                         f"{r.consumer}")
        for name, why in self.skipped.items():
            lines.append(f"{name:<16.16}skipped: {why}")
        lines.append(f"parameters {self.params_before} -> {self.params_after}")
        return "\n".join(lines)


# --- layer roles, by type -------------------------------------------------------------------

def _L():
    import keras

    return keras.layers


def _isa(layer, *names: str) -> bool:
    L = _L()
    return isinstance(layer, tuple(getattr(L, n) for n in names))


def _is_producer(layer) -> bool:
    return _isa(layer, "Conv2D", "Dense")


def _zero_to_zero(fn) -> bool:
    """Does the element-wise function map 0 to 0 (so a zeroed channel stays zero)?"""
    out = np.asarray(fn(np.zeros((1, 2, 2, 4), np.float32)))
    return bool(np.all(out == 0))


def _channels_last(layer) -> str | None:
    fmt = getattr(layer, "data_format", None)
    if fmt not in (None, "channels_last"):
        return f"{type(layer).__name__} {layer.name!r} is {fmt}"
    return None


def _own_problem(layer) -> str | None:
    """Why a producer, path layer or consumer cannot take part, if it cannot."""
    why = _channels_last(layer)
    if why:
        return why
    if _isa(layer, "Conv2D") and getattr(layer, "groups", 1) != 1:
        return f"Conv2D {layer.name!r} has groups={layer.groups} (only 1 is rewired)"
    if _isa(layer, "DepthwiseConv2D") and layer.depth_multiplier != 1:
        return (f"DepthwiseConv2D {layer.name!r} has depth_multiplier={layer.depth_multiplier} "
                f"(only 1 passes channels through)")
    return None


def _path_role(layer, rank: int) -> str | None:
    """``"pass"``, ``"slice"`` (per-channel parameters), ``"flatten"``, ``"consumer"``, or None."""
    if _isa(layer, "DepthwiseConv2D"):
        return "slice"
    if _is_producer(layer):
        return "consumer"
    if _isa(layer, "BatchNormalization"):
        axis = layer.axis if isinstance(layer.axis, int) else (list(layer.axis) + [None])[0]
        return "slice" if axis in (-1, rank - 1) else None
    if _isa(layer, "Flatten"):
        return "flatten"
    if _isa(layer, "Activation", "ReLU", "LeakyReLU", "ELU", "Dropout", "ZeroPadding2D",
            "MaxPooling2D", "AveragePooling2D", "GlobalAveragePooling2D", "GlobalMaxPooling2D"):
        return "pass"
    return None


# --- the graph --------------------------------------------------------------------------------

class _Graph:
    """Consumers of every layer of a functional (or Sequential) model, and its output layers."""

    def __init__(self, model):
        import keras

        fn = model._functional if isinstance(model, keras.Sequential) else model
        if not hasattr(fn, "_nodes_by_depth"):
            raise UserError(f"model {model.name!r} is a subclassed model; structured pruning needs a "
                            f"functional or Sequential Keras model")
        nodes = [n for ns in fn._nodes_by_depth.values() for n in ns]
        self.calls: dict[int, int] = defaultdict(int)
        self.consumers: dict[int, list] = defaultdict(list)   # id(layer) -> [(layer, input tensor)]
        for n in nodes:
            self.calls[id(n.operation)] += 1
            for t in n.input_tensors:
                self.consumers[id(t._keras_history.operation)].append((n.operation, t))
        self.outputs = {id(t._keras_history.operation) for t in fn.outputs}
        ordered = [n.operation for d in sorted(fn._nodes_by_depth, reverse=True) for n in fn._nodes_by_depth[d]]
        self.layers = list({id(op): op for op in ordered}.values())


@dataclass
class _Chain:
    producer: object
    steps: list            # [(layer, role, input shape)]
    consumer: object


def _trace(graph: _Graph, producer) -> _Chain | str:
    """The chain from ``producer`` to its consumer, or the reason there is none."""
    if graph.calls[id(producer)] != 1:
        return f"it is called {graph.calls[id(producer)]} times (shared layer)"
    why = _own_problem(producer)
    if why:
        return why
    if not _zero_to_zero(producer.activation):
        return "its activation maps 0 to nonzero, so a removed filter is not a zero channel"
    cur, steps = producer, []
    while True:
        via = f" (through {cur.name!r})" if cur is not producer else ""
        if id(cur) in graph.outputs:
            return f"its output{via} is a model output"
        cons = graph.consumers[id(cur)]
        if len(cons) != 1:
            names = ", ".join(repr(c.name) for c, _ in cons)
            if not cons:
                return f"its output{via} feeds nothing"
            return f"its output{via} feeds {len(cons)} layers ({names})"
        layer, tensor = cons[0]
        if graph.calls[id(layer)] != 1:
            return f"{type(layer).__name__} {layer.name!r} is shared (called {graph.calls[id(layer)]} times)"
        role = _path_role(layer, len(tensor.shape))
        if role is None:
            return (f"its output{via} feeds {type(layer).__name__} {layer.name!r} (only Conv2D/Dense consumers, "
                    f"through channel-wise layers, are rewired)")
        why = _own_problem(layer)
        if why:
            return why
        if role == "consumer":
            return _Chain(producer, steps, layer)
        act = getattr(layer, "activation", None) if role != "pass" else None
        if role == "pass" and _isa(layer, "Activation", "ReLU", "LeakyReLU", "ELU"):
            act = layer
        if act is not None and not _zero_to_zero(act):
            return (f"{type(layer).__name__} {layer.name!r} maps 0 to nonzero, so a removed channel "
                    f"would not be zero")
        steps.append((layer, role, tuple(tensor.shape)))
        cur = layer


def _masks(chain: _Chain, keep: np.ndarray) -> tuple[list[tuple[object, np.ndarray]], np.ndarray]:
    """Channel masks at each per-channel step and at the consumer's input (last axis)."""
    mask, out = keep, []
    for layer, role, shape in chain.steps:
        if role == "flatten":
            mask = np.tile(mask, int(np.prod(shape[1:-1], dtype=np.int64)))
        elif role == "slice":
            out.append((layer, mask))
    return out, mask


def filter_norms(layer, criterion: str = "l1") -> np.ndarray:
    """L1 or L2 norm of each output filter (unit) of a Conv2D or Dense kernel."""
    k = np.asarray(layer.kernel.numpy())
    k = k.reshape(-1, k.shape[-1])
    return np.abs(k).sum(axis=0) if criterion == "l1" else np.sqrt((k * k).sum(axis=0))


def _weakest(norms: np.ndarray, fraction: float) -> np.ndarray:
    n = norms.size
    k = min(int(round(fraction * n)), n - 1)
    keep = np.ones(n, dtype=bool)
    if k > 0:
        keep[np.argsort(norms, kind="stable")[:k]] = False
    return keep


# --- applying ---------------------------------------------------------------------------------

def _plan(model, spec: StructuredSpec):
    graph = _Graph(model)
    producers = [l for l in graph.layers if _is_producer(l)]
    chains: dict[str, _Chain] = {}
    skipped: dict[str, str] = {}
    for p in producers:
        c = _trace(graph, p)
        if isinstance(c, str):
            skipped[p.name] = c
        else:
            chains[p.name] = c
    check_names(spec.per_layer, (p.name for p in producers), "Conv2D/Dense")
    for name in spec.per_layer:
        if name in skipped:
            raise UserError(f"per_layer[{name!r}]: filters cannot be removed: {skipped[name]}")
    return chains, skipped


def _new_weights(layer, out_keep, in_keep, chan_keep) -> list[np.ndarray]:
    w = [np.asarray(v) for v in layer.get_weights()]
    if chan_keep is not None:  # BatchNormalization (all 1-D) or DepthwiseConv2D (kernel, bias)
        if _isa(layer, "DepthwiseConv2D"):
            return [w[0][:, :, chan_keep, :]] + [b[chan_keep] for b in w[1:]]
        return [v[chan_keep] for v in w]
    if in_keep is not None:
        w[0] = w[0][..., in_keep, :]
    if out_keep is not None:
        w[0] = w[0][..., out_keep]
        w[1:] = [b[out_keep] for b in w[1:]]
    return w


def _clone(model, edit: Callable):
    import keras

    return keras.models.clone_model(model, clone_function=edit)


def apply(model, spec: StructuredSpec, x: np.ndarray | None = None, y: np.ndarray | None = None,
          progress: Progress | None = None, teacher=None):
    """Remove the weakest filters; return ``(new smaller model, StructuredReport)``.

    ``teacher``: the model to distil from when ``spec.train.distill`` is above 0.

    ``model`` is not modified. ``x``/``y`` are needed only when ``spec.train`` asks for
    fine-tuning; ``progress(stage, step, total)`` is called before every fine-tuning step.
    """
    if not isinstance(spec, StructuredSpec):
        raise UserError(f"structured.apply needs a StructuredSpec, got {type(spec).__name__}")
    if spec.train is not None and (x is None or y is None):
        raise UserError("StructuredSpec.train asks for fine-tuning: give training data x and y")
    chains, skipped = _plan(model, spec)

    out_keep: dict[str, np.ndarray] = {}
    in_keep: dict[str, np.ndarray] = {}
    chan_keep: dict[str, np.ndarray] = {}
    results = []
    for name, chain in chains.items():
        p = chain.producer
        keep = _weakest(filter_norms(p, spec.criterion), spec.per_layer.get(name, spec.fraction))
        out_keep[name] = keep
        steps, cmask = _masks(chain, keep)
        for layer, m in steps:
            chan_keep[layer.name] = m
        in_keep[chain.consumer.name] = cmask
        results.append(LayerStructuredResult(
            name, type(p).__name__, int(keep.size), int(keep.sum()), tuple(int(i) for i in np.flatnonzero(~keep)),
            tuple(layer.name for layer, _, _ in chain.steps), chain.consumer.name))

    def edit(layer):
        cfg = layer.get_config()
        if layer.name in out_keep:
            cfg["filters" if _isa(layer, "Conv2D") else "units"] = int(out_keep[layer.name].sum())
        return type(layer).from_config(cfg)

    new = _clone(model, edit)
    for layer in model.layers:
        if not layer.weights:
            continue
        target = new.get_layer(layer.name)
        target.set_weights(_new_weights(layer, out_keep.get(layer.name), in_keep.get(layer.name),
                                        chan_keep.get(layer.name)))

    losses: list[float] = []
    if spec.train is not None:
        def on_step(step, total):
            if progress is not None:
                progress("structured", step, total)

        losses = fine_tune(new, x, y, spec.train, on_step=on_step, teacher=teacher)
    return new, StructuredReport(results, skipped, int(model.count_params()), int(new.count_params()), losses)


def zeroed(model, report: StructuredReport):
    """A copy of ``model`` (same size) with the filters ``report`` removed set to zero along
    their path: the reference that :func:`apply`'s model matches before fine-tuning."""
    graph = _Graph(model)
    by_name = {l.name: l for l in graph.layers}
    zero: dict[str, list[np.ndarray]] = {}
    for r in report.layers:
        chain = _trace(graph, by_name[r.name])
        if isinstance(chain, str):
            raise UserError(f"layer {r.name!r} of the report cannot be zeroed in this model: {chain}")
        keep = np.ones(r.filters_before, dtype=bool)
        keep[list(r.removed)] = False
        w = [np.array(v) for v in chain.producer.get_weights()]
        w[0][..., ~keep] = 0
        for b in w[1:]:
            b[~keep] = 0
        zero[r.name] = w
        for layer, m in _masks(chain, keep)[0]:
            v = [np.array(a) for a in layer.get_weights()]
            if _isa(layer, "DepthwiseConv2D"):
                v[0][:, :, ~m, :] = 0
                for b in v[1:]:
                    b[~m] = 0
            else:  # BatchNormalization: gamma, beta, moving mean to 0 -> output 0 for a 0 input
                for a, var in zip(v, layer.weights):
                    if var is not layer.moving_variance:
                        a[~m] = 0
            zero[layer.name] = v
    copy = _clone(model, lambda layer: type(layer).from_config(layer.get_config()))
    for layer in model.layers:
        if layer.weights:
            copy.get_layer(layer.name).set_weights(zero.get(layer.name, layer.get_weights()))
    return copy
