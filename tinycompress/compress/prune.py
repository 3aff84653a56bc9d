"""Magnitude pruning with fine-tuning (Deep Compression stage 1; Han et al. 2015, 2016).

Entry point: :func:`apply`. Per layer, the smallest-magnitude kernel weights are set to zero
until the layer's target sparsity is reached *exactly* (``round(sparsity * size)`` zeros),
while the network is fine-tuned with the masks applied to gradients and weights after every
step. Sparsity rises along the polynomial schedule of Zhu & Gupta (2017),
``s_t = s_f + (s_i - s_f) * (1 - t / T)**power``, or all at once (``schedule="oneshot"``).

Per-layer targets come from ``PruneSpec.per_layer`` or, by default, from a sensitivity
analysis as in the paper: every layer is pruned alone at increasing sparsity, and the overall
target is spread so that every layer costs the same accuracy drop.

``iterations > 1`` prunes in steps (each removing the same fraction of the remaining weights);
with ``rewind=True`` the surviving weights are reset to their values at the start of
:func:`apply` before each retraining, as in the lottery-ticket procedure (Frankle & Carbin 2019,
rewinding to the pretrained weights).

A ``Dropout`` layer that feeds a pruned layer has its rate scaled down to the weights that layer
keeps, ``D_r = D_o * sqrt(1 - sparsity)``, before fine-tuning starts (Han et al. 2015, section
3.3: a smaller network needs less dropout; ``adjust_dropout=False`` keeps the rates).

Pruned weights are exactly zero, so later passes recover the masks with
:func:`tinycompress.compress.layers.kernel_masks`; the report also carries them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from tinycompress.compress.layers import Target, check_names, targets
from tinycompress.compress.train import TrainSpec, UpdateRule, evaluate, fine_tune, resolve_loss
from tinycompress.errors import UserError

__all__ = ["PruneSpec", "LayerPruneResult", "PruneReport", "apply", "adjust_dropout", "magnitude_mask",
           "polynomial_sparsity", "sensitivity", "allocate"]

SCHEDULES = ("polynomial", "oneshot")
ALLOCATIONS = ("sensitivity", "uniform")
SENSITIVITY_GRID = (0.0, 0.25, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.98)

Progress = Callable[[str, int, int], None]


def _check_fraction(name: str, v, hi: float = 0.99) -> None:
    if not isinstance(v, (int, float)) or not 0.0 <= v <= hi:
        raise UserError(f"{name} must be a number in 0..{hi}, got {v!r}")


@dataclass(frozen=True)
class PruneSpec:
    """What to prune and how.

    ``sparsity`` is the fraction of all allow-listed kernel weights to remove; ``per_layer``
    (layer name -> sparsity) fixes some layers, the others share what is left of the overall
    target (by ``allocation``). ``ramp`` is the fraction of fine-tuning steps over which the
    polynomial schedule rises; the remaining steps train with fixed masks.
    """

    sparsity: float = 0.8
    per_layer: Mapping[str, float] = field(default_factory=dict)
    allocation: str = "sensitivity"
    schedule: str = "polynomial"
    power: int = 3
    ramp: float = 0.5
    frequency: int = 10
    iterations: int = 1
    rewind: bool = False
    train: TrainSpec = field(default_factory=TrainSpec)
    sensitivity_samples: int = 1000
    adjust_dropout: bool = True

    def __post_init__(self):
        _check_fraction("sparsity", self.sparsity)
        for name, s in dict(self.per_layer).items():
            _check_fraction(f"per_layer[{name!r}]", s)
        if self.allocation not in ALLOCATIONS:
            raise UserError(f"unknown allocation {self.allocation!r}; use one of: {', '.join(ALLOCATIONS)}")
        if self.schedule not in SCHEDULES:
            raise UserError(f"unknown schedule {self.schedule!r}; use one of: {', '.join(SCHEDULES)}")
        if not isinstance(self.power, int) or not 1 <= self.power <= 10:
            raise UserError(f"power must be an integer in 1..10, got {self.power!r}")
        _check_fraction("ramp", self.ramp, hi=1.0)
        if not isinstance(self.frequency, int) or self.frequency < 1:
            raise UserError(f"frequency must be a positive integer (steps between mask updates), "
                            f"got {self.frequency!r}")
        if not isinstance(self.iterations, int) or not 1 <= self.iterations <= 100:
            raise UserError(f"iterations must be an integer in 1..100, got {self.iterations!r}")
        if not isinstance(self.train, TrainSpec):
            raise UserError(f"train must be a TrainSpec, got {type(self.train).__name__}")
        if not isinstance(self.sensitivity_samples, int) or self.sensitivity_samples < 1:
            raise UserError(f"sensitivity_samples must be a positive integer, got {self.sensitivity_samples!r}")


@dataclass(frozen=True)
class LayerPruneResult:
    name: str
    layer_type: str
    weights: int
    target: float   # requested sparsity
    sparsity: float  # reached (zeros / weights)

    @property
    def kept(self) -> float:
        return 1.0 - self.sparsity


@dataclass
class PruneReport:
    layers: list[LayerPruneResult]
    masks: dict[str, np.ndarray]
    sensitivity: dict[str, list[tuple[float, float]]]  # layer -> [(sparsity, quality drop)]
    losses: list[float]

    @property
    def sparsity(self) -> float:
        """Overall sparsity over all pruned kernels."""
        n = sum(r.weights for r in self.layers)
        return sum(r.sparsity * r.weights for r in self.layers) / n if n else 0.0


def magnitude_mask(w: np.ndarray, sparsity: float) -> np.ndarray:
    """Boolean mask keeping all but the ``round(sparsity * w.size)`` smallest ``|w|``."""
    flat = np.abs(np.asarray(w)).reshape(-1)
    k = int(round(sparsity * flat.size))
    mask = np.ones(flat.size, dtype=bool)
    if k:
        mask[np.argsort(flat, kind="stable")[:k]] = False
    return mask.reshape(np.shape(w))


def polynomial_sparsity(step: int, ramp_steps: int, initial: float, final: float, power: int = 3) -> float:
    """Zhu & Gupta (2017) schedule: sparsity at ``step`` of a ramp of ``ramp_steps``."""
    if ramp_steps <= 0 or step >= ramp_steps:
        return final
    return final + (initial - final) * (1.0 - step / ramp_steps) ** power


class _MaskRule(UpdateRule):
    """Masks kernel gradients and re-applies the masks after each step."""

    def __init__(self, tgts: list[Target]):
        import tensorflow as tf

        self.targets = tgts
        self.masks = [tf.Variable(np.ones(t.variable.shape, np.float32), trainable=False) for t in tgts]
        self._by_id = {id(t.variable): m for t, m in zip(tgts, self.masks)}

    def set(self, masks: Mapping[str, np.ndarray]) -> None:
        for t, m in zip(self.targets, self.masks):
            m.assign(np.asarray(masks[t.name], np.float32))
            t.variable.assign(t.variable.numpy() * masks[t.name])

    def gradients(self, grads, variables):
        out = []
        for g, v in zip(grads, variables):
            m = self._by_id.get(id(v))
            out.append(g * m if (m is not None and g is not None) else g)
        return out, variables

    def after_step(self):
        for t, m in zip(self.targets, self.masks):
            t.variable.assign(t.variable * m)


def _quality(model, x, y, kind) -> float:
    q = evaluate(model, x, y, kind)
    return q if kind == "classification" else -q


def sensitivity(model, x: np.ndarray, y: np.ndarray, tgts: list[Target] | None = None,
                grid=SENSITIVITY_GRID, loss: str = "auto") -> dict[str, list[tuple[float, float]]]:
    """Quality drop (accuracy, or MSE increase) when each layer alone is pruned at each sparsity."""
    tgts = targets(model) if tgts is None else tgts
    _, kind = resolve_loss(model, y, loss)
    base = _quality(model, x, y, kind)
    curves = {}
    for t in tgts:
        w = t.numpy()
        curve = []
        for s in grid:
            t.variable.assign(w * magnitude_mask(w, s))
            curve.append((float(s), float(base - _quality(model, x, y, kind))))
        t.variable.assign(w)
        curves[t.name] = curve
    return curves


def _sparsity_at(curve: list[tuple[float, float]], delta: float) -> float:
    """Largest sparsity whose (monotone envelope of) drop stays <= delta, interpolated."""
    g = np.array([s for s, _ in curve])
    env = np.maximum.accumulate(np.array([d for _, d in curve]))
    above = np.flatnonzero(env > delta)
    if above.size == 0:
        return float(g[-1])
    j = int(above[0])
    if j == 0:
        return float(g[0])
    frac = (delta - env[j - 1]) / (env[j] - env[j - 1])
    return float(g[j - 1] + frac * (g[j] - g[j - 1]))


def allocate(curves: Mapping[str, list[tuple[float, float]]], sizes: Mapping[str, int],
             overall: float) -> dict[str, float]:
    """Per-layer sparsities with equal quality drop whose weighted mean is exactly ``overall``."""
    names = list(curves)
    n = np.array([sizes[k] for k in names], dtype=np.float64)
    if not names or overall == 0:
        return {k: 0.0 for k in names}

    def mean_sparsity(delta):
        return float(np.dot(n, [_sparsity_at(curves[k], delta) for k in names]) / n.sum())

    hi = max(max(d for _, d in c) for c in curves.values()) + 1e-9
    if mean_sparsity(hi) < overall:
        top = max(s for s, _ in next(iter(curves.values())))
        raise UserError(f"overall sparsity {overall:g} is above what per-layer pruning up to {top:g} "
                        f"reaches here ({mean_sparsity(hi):.3f}); lower sparsity or set per_layer")
    lo = min(min(d for _, d in c) for c in curves.values()) - 1e-9
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if mean_sparsity(mid) >= overall:
            hi = mid
        else:
            lo = mid
    s = np.array([_sparsity_at(curves[k], hi) for k in names])
    s *= overall / (np.dot(n, s) / n.sum())
    return {k: float(v) for k, v in zip(names, s)}


def _targets_for(model, spec: PruneSpec, x_val, y_val, tgts) -> tuple[dict[str, float], dict]:
    sizes = {t.name: int(np.prod(t.variable.shape)) for t in tgts}
    check_names(spec.per_layer, sizes, "prunable")
    fixed = {k: float(v) for k, v in spec.per_layer.items()}
    free = [t for t in tgts if t.name not in fixed]
    if not free:
        return fixed, {}
    total = sum(sizes.values())
    left = spec.sparsity * total - sum(fixed[k] * sizes[k] for k in fixed)
    free_total = sum(sizes[t.name] for t in free)
    overall_free = left / free_total
    if overall_free < -1e-9 or overall_free > 0.99:
        raise UserError(f"per_layer sparsities leave {overall_free:.3f} for the other layers to reach "
                        f"overall sparsity {spec.sparsity:g}; that must be in 0..0.99")
    overall_free = min(max(overall_free, 0.0), 0.99)
    if spec.allocation == "uniform":
        return {**fixed, **{t.name: overall_free for t in free}}, {}
    curves = sensitivity(model, x_val, y_val, free, loss=spec.train.loss)
    return {**fixed, **allocate(curves, {t.name: sizes[t.name] for t in free}, overall_free)}, curves


def adjust_dropout(model, sparsity: Mapping[str, float]) -> dict[str, float]:
    """Scale the rate of every Dropout layer that feeds a layer of ``sparsity`` (name -> fraction
    pruned) by ``sqrt(1 - sparsity)``; return the new rates by Dropout layer name."""
    import keras

    rates = {}
    for name, s in sparsity.items():
        for node in model.get_layer(name)._inbound_nodes:
            for tensor in node.input_tensors:
                prev = tensor._keras_history[0]
                if isinstance(prev, keras.layers.Dropout) and prev.name not in rates:
                    prev.rate = float(prev.rate * np.sqrt(1.0 - s))
                    rates[prev.name] = prev.rate
    return rates


def apply(model, spec: PruneSpec, x: np.ndarray, y: np.ndarray, x_val: np.ndarray | None = None,
          y_val: np.ndarray | None = None, progress: Progress | None = None, teacher=None):
    """Prune ``model`` in place and fine-tune it; return ``(model, PruneReport)``.

    ``teacher``: the model to distil from when ``spec.train.distill`` is above 0."""
    if not isinstance(spec, PruneSpec):
        raise UserError(f"prune.apply needs a PruneSpec, got {type(spec).__name__}")
    tgts = targets(model)
    if not tgts:
        raise UserError(f"model {model.name!r} has no prunable layers (Dense, Conv2D, DepthwiseConv2D)")
    if x_val is None:
        x_val, y_val = x, y
    n_val = min(len(x_val), spec.sensitivity_samples)
    final, curves = _targets_for(model, spec, x_val[:n_val], y_val[:n_val], tgts)

    if spec.adjust_dropout:
        adjust_dropout(model, final)
    rule = _MaskRule(tgts)
    snapshot = model.get_weights() if spec.rewind else None
    start = {t.name: float(np.mean(t.numpy() == 0)) for t in tgts}
    losses: list[float] = []
    for it in range(1, spec.iterations + 1):
        goal = {k: 1.0 - (1.0 - s) ** (it / spec.iterations) for k, s in final.items()}
        goal = {k: max(g, start[k]) if it < spec.iterations else final[k] for k, g in goal.items()}
        prev = {t.name: float(np.mean(t.numpy() == 0)) for t in tgts}
        stage = f"prune {it}/{spec.iterations}" if spec.iterations > 1 else "prune"

        if spec.rewind or spec.schedule == "oneshot":
            masks = {t.name: magnitude_mask(t.numpy(), goal[t.name]) for t in tgts}
            if spec.rewind:
                model.set_weights(snapshot)
            rule.set(masks)
            on_step = None
        else:
            ramp_steps = int(spec.ramp * spec.train.steps(len(x)))

            def on_step(step, total, prev=prev, goal=goal, ramp_steps=ramp_steps):
                if step > ramp_steps or (step % spec.frequency and step != ramp_steps):
                    return
                rule.set({t.name: magnitude_mask(
                    t.numpy(), polynomial_sparsity(step, ramp_steps, prev[t.name], goal[t.name], spec.power))
                    for t in tgts})

        def report_step(step, total, on_step=on_step, stage=stage):
            if on_step is not None:
                on_step(step, total)
            if progress is not None:
                progress(stage, step, total)

        losses += fine_tune(model, x, y, spec.train, rule, on_step=report_step, teacher=teacher)
        # The schedule ends at the goal; make sure of it even when there were few steps.
        rule.set({t.name: magnitude_mask(t.numpy(), goal[t.name]) for t in tgts})

    masks = {t.name: t.numpy() != 0 for t in tgts}
    layers = [LayerPruneResult(t.name, t.layer_type, int(masks[t.name].size), final[t.name],
                               float(1.0 - masks[t.name].mean())) for t in tgts]
    return model, PruneReport(layers, masks, curves, losses)
