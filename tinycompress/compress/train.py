"""The fine-tuning loop shared by the compression passes.

A plain GradientTape loop (not ``model.fit``) so that a pass can rewrite gradients before the
optimizer sees them and fix weights up after every step: pruning multiplies kernel gradients
and kernels by their masks, clustering sums kernel gradients per cluster into centroid
gradients and writes the centroids back. A pass hands that in as an :class:`UpdateRule`.

Two regularisers help a heavily pruned network recover (both off by default):

* ``augment``: random image augmentation of every batch (NHWC inputs): ``flip`` mirrors half
  the images left-right, ``shift`` (or ``shiftN``) moves each image by up to 2 (N) pixels in
  each direction, filling with zeros.
* ``distill``: knowledge distillation (Hinton et al. 2015). The loss becomes
  ``(1 - a) * CE(labels) + a * T^2 * CE(softmax(teacher / T), softmax(student / T))`` with the
  uncompressed model as the teacher (:func:`tinycompress.compress.compress` passes it in). For a
  model that ends in a softmax the logits are taken as the log of its probabilities.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from tinycompress.errors import UserError

__all__ = ["TrainSpec", "UpdateRule", "fine_tune", "resolve_loss", "evaluate", "augment_batch"]

LOSSES = ("auto", "sparse_categorical_crossentropy", "categorical_crossentropy", "mse")
SCHEDULES = ("constant", "cosine")


@dataclass(frozen=True)
class TrainSpec:
    """Fine-tuning settings used by every pass."""

    epochs: float = 1.0            # may be fractional: 0.5 = half the batches of one epoch
    batch_size: int = 64
    learning_rate: float = 1e-3    # Adam
    loss: str = "auto"             # auto: sparse CE for integer labels, CE for one-hot, else MSE
    seed: int = 0
    schedule: str = "constant"     # learning rate: constant, or cosine decay to 1% over the steps
    augment: str = ""              # comma-separated: flip, shift or shiftN (pixels, default 2)
    distill: float = 0.0           # weight a of the teacher's soft targets (0: labels only)
    temperature: float = 4.0       # distillation temperature T

    def __post_init__(self):
        if not (isinstance(self.epochs, (int, float)) and 0 <= self.epochs <= 1000):
            raise UserError(f"epochs must be a number in 0..1000, got {self.epochs!r}")
        if not (isinstance(self.batch_size, int) and 1 <= self.batch_size <= 1 << 16):
            raise UserError(f"batch_size must be an integer in 1..65536, got {self.batch_size!r}")
        if not (isinstance(self.learning_rate, (int, float)) and 0 < self.learning_rate <= 10):
            raise UserError(f"learning_rate must be in (0, 10], got {self.learning_rate!r}")
        if self.loss not in LOSSES:
            raise UserError(f"unknown loss {self.loss!r}; use one of: {', '.join(LOSSES)}")
        if self.schedule not in SCHEDULES:
            raise UserError(f"unknown schedule {self.schedule!r}; use one of: {', '.join(SCHEDULES)}")
        self.augmentations()  # validates
        if not (isinstance(self.distill, (int, float)) and 0 <= self.distill <= 1):
            raise UserError(f"distill must be a weight in 0..1, got {self.distill!r}")
        if not (isinstance(self.temperature, (int, float)) and 0 < self.temperature <= 100):
            raise UserError(f"temperature must be in (0, 100], got {self.temperature!r}")

    def augmentations(self) -> tuple[tuple[str, int], ...]:
        """``augment`` parsed: ``(("flip", 0), ("shift", pixels))``, in the order given."""
        if not isinstance(self.augment, str):
            raise UserError(f"augment must be a string like 'flip,shift2', got {self.augment!r}")
        ops = []
        for item in filter(None, (p.strip() for p in self.augment.split(","))):
            if item == "flip":
                ops.append(("flip", 0))
            elif item.startswith("shift") and (item == "shift" or item[5:].isdigit()):
                ops.append(("shift", int(item[5:] or 2)))
            else:
                raise UserError(f"unknown augmentation {item!r} in {self.augment!r}; "
                                "use flip, shift or shiftN (e.g. 'flip,shift2')")
        return tuple(ops)

    def steps(self, n: int) -> int:
        """Number of optimizer steps for ``n`` training samples."""
        per_epoch = -(-n // self.batch_size)
        return int(round(self.epochs * per_epoch))


class UpdateRule:
    """Hooks a pass plugs into the training step (all called inside ``tf.function``)."""

    def variables(self, model) -> list:
        """Variables to differentiate with respect to."""
        return list(model.trainable_variables)

    def gradients(self, grads: list, variables: list) -> tuple[list, list]:
        """Turn model gradients into ``(gradients, variables)`` for the optimizer."""
        return grads, variables

    def after_step(self) -> None:
        """Fix weights up after the optimizer step (e.g. re-apply masks)."""


def _ends_in_softmax(model) -> bool:
    import keras

    last = model.layers[-1]
    if isinstance(last, keras.layers.Softmax):
        return True
    if isinstance(last, keras.layers.Activation) or hasattr(last, "activation"):
        act = getattr(last, "activation", None)
        return act is keras.activations.softmax
    return False


def resolve_loss(model, y: np.ndarray, loss: str = "auto") -> tuple[Callable, str]:
    """``(loss_fn(y_true, y_pred), kind)`` where kind is "classification" or "regression"."""
    import keras

    y = np.asarray(y)
    classes = model.output_shape[-1]
    if loss == "auto":
        if y.dtype.kind in "iu" and classes > 1 and (y.ndim == 1 or y.shape[1:] == (1,)):
            loss = "sparse_categorical_crossentropy"
        elif (y.ndim == 2 and y.shape[1] == classes > 1 and _ends_in_softmax(model)
              and np.all((y == 0) | (y == 1)) and np.all(y.sum(axis=1) == 1)):
            loss = "categorical_crossentropy"
        else:
            loss = "mse"
    if loss == "sparse_categorical_crossentropy":
        fn = keras.losses.SparseCategoricalCrossentropy(from_logits=not _ends_in_softmax(model))
        return fn, "classification"
    if loss == "categorical_crossentropy":
        fn = keras.losses.CategoricalCrossentropy(from_logits=not _ends_in_softmax(model))
        return fn, "classification"
    return keras.losses.MeanSquaredError(), "regression"


def evaluate(model, x: np.ndarray, y: np.ndarray, kind: str, batch_size: int = 1024) -> float:
    """Top-1 accuracy (classification) or mean squared error (regression)."""
    pred = np.asarray(model.predict(x, batch_size=batch_size, verbose=0))
    if kind == "classification":
        y = np.asarray(y)
        labels = np.argmax(y, axis=-1) if (y.ndim == 2 and y.shape[1] > 1) else y.reshape(-1)
        return float(np.mean(np.argmax(pred, axis=-1) == labels))
    return float(np.mean((pred - np.asarray(y, dtype=pred.dtype).reshape(pred.shape)) ** 2))


def augment_batch(xb: np.ndarray, ops: tuple[tuple[str, int], ...], rng: np.random.Generator) -> np.ndarray:
    """A randomly augmented copy of the image batch ``xb`` [N,H,W,C] (see the module docstring)."""
    xb = np.array(xb, copy=True)
    n, h, w = xb.shape[:3]
    for kind, pixels in ops:
        if kind == "flip":
            flip = rng.random(n) < 0.5
            xb[flip] = xb[flip, :, ::-1]
        elif kind == "shift" and pixels > 0:
            padded = np.pad(xb, ((0, 0), (pixels, pixels), (pixels, pixels), (0, 0)))
            dy = rng.integers(0, 2 * pixels + 1, n)
            dx = rng.integers(0, 2 * pixels + 1, n)
            rows = (dy[:, None] + np.arange(h))[:, :, None]
            cols = (dx[:, None] + np.arange(w))[:, None, :]
            xb = padded[np.arange(n)[:, None, None], rows, cols]
    return xb


def _logits(pred, softmaxed: bool):
    import keras

    return keras.ops.log(keras.ops.maximum(pred, 1e-7)) if softmaxed else pred


def fine_tune(model, x: np.ndarray, y: np.ndarray, spec: TrainSpec, rule: UpdateRule | None = None,
              on_step: Callable[[int, int], None] | None = None, teacher=None) -> list[float]:
    """Train ``model`` in place for ``spec.steps(len(x))`` steps; return the per-step losses.

    ``on_step(step, total)`` is called before every step from Python (a pass uses it to move
    its pruning schedule on); it may assign variables the rule reads. ``teacher`` (a model with
    the same inputs and classes) is needed when ``spec.distill`` is above 0, and unused otherwise.
    """
    import keras
    import tensorflow as tf

    x = np.asarray(x)
    y = np.asarray(y)
    if len(x) != len(y):
        raise UserError(f"x has {len(x)} samples but y has {len(y)}; give one label per sample")
    if len(x) == 0:
        raise UserError("no training samples; fine-tuning needs at least one (x, y) pair")
    rule = rule or UpdateRule()
    loss_fn, kind = resolve_loss(model, y, spec.loss)
    augment = spec.augmentations()
    if augment and x.ndim != 4:
        raise UserError(f"augment={spec.augment!r} needs image inputs [N,H,W,C], got shape {x.shape}; "
                        "drop the augmentation for this model")
    distill = float(spec.distill) if spec.distill > 0 else 0.0
    if distill:
        if kind != "classification":
            raise UserError("distill needs a classifier (class labels); use distill=0 for this model")
        if teacher is None:
            raise UserError("distill > 0 needs a teacher model; pass teacher= (compress() passes the input model)")
        if tuple(teacher.output_shape) != tuple(model.output_shape):
            raise UserError(f"teacher output {teacher.output_shape} does not match the model's "
                            f"{model.output_shape}; distil from a model with the same classes")
        student_softmax, teacher_softmax = _ends_in_softmax(model), _ends_in_softmax(teacher)
        temp = float(spec.temperature)
    total = spec.steps(len(x))
    if total == 0:
        rule_after = tf.function(rule.after_step)
        rule_after()
        return []
    lr = spec.learning_rate
    if spec.schedule == "cosine":
        lr = keras.optimizers.schedules.CosineDecay(spec.learning_rate, total, alpha=0.01)
    optimizer = keras.optimizers.Adam(lr)
    model_vars = rule.variables(model)

    @tf.function(reduce_retracing=True)
    def step(xb, yb):
        with tf.GradientTape() as tape:
            pred = model(xb, training=True)
            loss = loss_fn(yb, pred)
            if distill:
                soft = keras.ops.softmax(_logits(teacher(xb, training=False), teacher_softmax) / temp)
                log_p = keras.ops.log_softmax(_logits(pred, student_softmax) / temp)
                kd = -keras.ops.mean(keras.ops.sum(soft * log_p, axis=-1))
                loss = (1.0 - distill) * loss + distill * temp * temp * kd
            if model.losses:
                loss = loss + tf.add_n(model.losses)
        grads = tape.gradient(loss, model_vars)
        grads, opt_vars = rule.gradients(grads, model_vars)
        pairs = [(g, v) for g, v in zip(grads, opt_vars) if g is not None]
        optimizer.apply([g for g, _ in pairs], [v for _, v in pairs])
        rule.after_step()
        return loss

    rng = np.random.default_rng(spec.seed)
    losses: list[float] = []
    order = rng.permutation(len(x))
    pos = 0
    for s in range(total):
        if on_step is not None:
            on_step(s, total)
        if pos >= len(x):
            order, pos = rng.permutation(len(x)), 0
        idx = order[pos:pos + spec.batch_size]
        pos += spec.batch_size
        xb = augment_batch(x[idx], augment, rng) if augment else x[idx]
        losses.append(float(step(tf.convert_to_tensor(xb), tf.convert_to_tensor(y[idx]))))
    return losses
