"""Knowledge distillation into a smaller network (Hinton, Vinyals, Dean 2015), with optional
hint (intermediate-feature) training (FitNets, Romero et al. 2015).

Entry point: :func:`distill`. The student learns from the hard labels and from the teacher's
*soft targets*, its class distribution softened at temperature T:

    loss = (1 - alpha) * CE(y, softmax(z_s))
           + alpha * T^2 * KL(softmax(z_t / T) || softmax(z_s / T))
           + hint_weight * sum over hints of mean((r(f_s) - f_t)^2)

with ``z_t``, ``z_s`` the teacher's and student's logits. The T^2 keeps the soft term's
gradients on the scale of the hard term's as T changes (their magnitude goes as 1/T^2).

Logits: a model whose last layer is a ``Softmax`` layer (or an ``Activation("softmax")``)
gives the tensor that layer takes; a model whose last layer has ``activation="softmax"`` (a
``Dense`` or convolution) gives that layer's output computed without its activation (the same
layer and weights, called with a linear activation); any other model is taken to output logits.
The saved student keeps its softmax.

Hints: ``hints=(("teacher_layer", "student_layer"), ...)`` adds, per pair, the mean squared
error between the teacher layer's output ``f_t`` and the student layer's output ``f_s`` passed
through a regressor ``r``: a 1x1 convolution (image features [N,H,W,C] of equal H and W) or a
dense layer ([N,C] features) when the channel counts differ, the identity when they are equal.
The regressors train with the student and are dropped afterwards.

The comparison the report gives: the same student (same initial weights, same batches, same
epochs) trained on the hard labels alone, and the teacher, on held-out data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from tinycompress.errors import UserError

__all__ = ["DistillSpec", "DistillReport", "distill", "distillation_loss", "logits_model",
           "check_models", "check_labels", "parse_hints"]

Progress = Callable[[str, int, int, float, float], None]


@dataclass(frozen=True)
class DistillSpec:
    temperature: float = 4.0
    alpha: float = 0.7                      # weight of the soft targets
    epochs: float = 5.0
    batch_size: int = 64
    learning_rate: float = 1e-3             # Adam
    seed: int = 0
    hints: tuple[tuple[str, str], ...] = ()  # (teacher layer, student layer)
    hint_weight: float = 0.5
    baseline: bool = True                   # also train the student alone, for the report

    def __post_init__(self):
        if not (isinstance(self.temperature, (int, float)) and 0 < self.temperature <= 100):
            raise UserError(f"temperature must be in (0, 100], got {self.temperature!r}")
        if not (isinstance(self.alpha, (int, float)) and 0 <= self.alpha <= 1):
            raise UserError(f"alpha must be a weight in 0..1, got {self.alpha!r}")
        if not (isinstance(self.epochs, (int, float)) and 0 <= self.epochs <= 1000):
            raise UserError(f"epochs must be a number in 0..1000, got {self.epochs!r}")
        if not (isinstance(self.batch_size, int) and 1 <= self.batch_size <= 1 << 16):
            raise UserError(f"batch_size must be an integer in 1..65536, got {self.batch_size!r}")
        if not (isinstance(self.learning_rate, (int, float)) and 0 < self.learning_rate <= 10):
            raise UserError(f"learning_rate must be in (0, 10], got {self.learning_rate!r}")
        if not (isinstance(self.hint_weight, (int, float)) and self.hint_weight >= 0):
            raise UserError(f"hint_weight must be a non-negative number, got {self.hint_weight!r}")


@dataclass
class DistillReport:
    teacher_accuracy: float
    student_alone_accuracy: float | None
    distilled_accuracy: float
    teacher_params: int
    student_params: int
    teacher_logits: str              # how the teacher's logits were found
    losses_alone: list[float] = field(default_factory=list)
    losses_distilled: list[float] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def parse_hints(items) -> tuple[tuple[str, str], ...]:
    """``["t_layer=s_layer", ...]`` -> ``(("t_layer", "s_layer"), ...)``."""
    out = []
    for item in items:
        t, sep, s = str(item).partition("=")
        if not sep or not t or not s:
            raise UserError(f"--hint {item!r} is not TEACHER_LAYER=STUDENT_LAYER: give e.g. conv2=conv2")
        out.append((t, s))
    return tuple(out)


# ---------------------------------------------------------------------------------------------
# Losses

def distillation_loss(labels, student_logits, teacher_logits, temperature: float, alpha: float):
    """The mean over the batch of ``(1 - alpha) CE + alpha T^2 KL`` (module docstring)."""
    import keras
    from keras import ops

    ce = keras.losses.sparse_categorical_crossentropy(labels, student_logits, from_logits=True)
    t = float(temperature)
    log_p_t = ops.log_softmax(teacher_logits / t, axis=-1)
    log_p_s = ops.log_softmax(student_logits / t, axis=-1)
    kl = ops.sum(ops.exp(log_p_t) * (log_p_t - log_p_s), axis=-1)
    return ops.mean((1.0 - alpha) * ce + alpha * t * t * kl)


# ---------------------------------------------------------------------------------------------
# Models

def _softmax_fn():
    import keras

    return keras.activations.softmax


def _pre_activation_layer():
    import keras

    class PreActivation(keras.layers.Layer):
        """Calls a layer with its activation replaced by the identity (same weights)."""

        def __init__(self, inner, **kwargs):
            super().__init__(name=f"{inner.name}_logits", **kwargs)
            self.inner = inner

        def call(self, x):
            saved = self.inner.activation
            self.inner.activation = keras.activations.linear
            try:
                return self.inner.call(x)
            finally:
                self.inner.activation = saved

    return PreActivation


def logits_model(model, features: tuple[str, ...] = ()):
    """``(keras.Model giving [logits, *features], how)``; ``features`` are layer names whose
    outputs are added. The model shares ``model``'s layers (training it trains ``model``)."""
    import keras

    last = model.layers[-1]
    if isinstance(last, keras.layers.Softmax) or (
            isinstance(last, keras.layers.Activation) and last.activation is _softmax_fn()):
        logits, how = last.input, f"the input of its final softmax layer {last.name!r}"
    elif getattr(last, "activation", None) is _softmax_fn() and hasattr(last, "call"):
        logits = _pre_activation_layer()(last)(last.input)
        how = f"the output of its last layer {last.name!r} without the softmax activation"
    else:
        logits, how = model.outputs[0], "its output (it does not end in a softmax)"
    outs = [logits] + [_layer(model, name).output for name in features]
    return keras.Model(model.inputs, outs), how


def _layer(model, name: str):
    names = [la.name for la in model.layers]
    if name not in names:
        raise UserError(f"no layer {name!r} in model {model.name!r}; its layers: {', '.join(names)}")
    return model.get_layer(name)


def check_models(teacher, student) -> None:
    """Refuse a teacher and student whose outputs or inputs differ in shape."""
    t_out, s_out = tuple(teacher.outputs[0].shape[1:]), tuple(student.outputs[0].shape[1:])
    if len(teacher.outputs) != 1 or len(student.outputs) != 1:
        raise UserError(f"distillation takes single-output models; the teacher has "
                        f"{len(teacher.outputs)} outputs and the student {len(student.outputs)}")
    if t_out != s_out:
        raise UserError(f"the teacher's output shape {list(t_out)} differs from the student's "
                        f"{list(s_out)}: distil between models with the same output shape (classes)")
    t_in, s_in = tuple(teacher.inputs[0].shape[1:]), tuple(student.inputs[0].shape[1:])
    if t_in != s_in:
        raise UserError(f"the teacher takes inputs of shape {list(t_in)} but the student "
                        f"{list(s_in)}: both must take the same data")


def check_labels(y: np.ndarray, classes: int, source: str = "y") -> np.ndarray:
    """Integer class labels [N] in 0..classes-1 (one-hot rows and integral floats accepted)."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == classes and classes > 1 and np.all((y == 0) | (y == 1)) \
            and np.all(y.sum(axis=1) == 1):
        y = np.argmax(y, axis=1)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1 or y.dtype.kind not in "biuf" or (y.dtype.kind == "f" and np.any(y != np.round(y))):
        raise UserError(f"{source} must hold integer class labels (shape [N]), got dtype {y.dtype} "
                        f"and shape {list(y.shape)}")
    if y.size and (y.min() < 0 or y.max() >= classes):
        raise UserError(f"{source} holds labels {int(y.min())}..{int(y.max())}, out of range for "
                        f"{classes} classes: give labels in 0..{classes - 1}")
    return y.astype(np.int32)


def _regressors(teacher, student, hints) -> list:
    """One regressor (or None: identity) per hint; refuses shapes that cannot be matched."""
    import keras

    out = []
    for t_name, s_name in hints:
        t_shape = tuple(_layer(teacher, t_name).output.shape[1:])
        s_shape = tuple(_layer(student, s_name).output.shape[1:])
        if t_shape == s_shape:
            out.append(None)
            continue
        spatial = len(t_shape) == len(s_shape) == 3 and t_shape[:2] == s_shape[:2]
        flat = len(t_shape) == len(s_shape) == 1
        if not (spatial or flat):
            raise UserError(f"hint {t_name}={s_name}: teacher features {list(t_shape)} and student "
                            f"features {list(s_shape)} cannot be matched; a hint needs [H,W,C] maps "
                            "of equal H and W, or [C] vectors (channel counts may differ)")
        layer = (keras.layers.Conv2D(t_shape[-1], 1, name=f"hint_{s_name}") if spatial
                 else keras.layers.Dense(t_shape[-1], name=f"hint_{s_name}"))
        layer.build((None,) + s_shape)
        out.append(layer)
    return out


def _batches(n: int, spec: DistillSpec):
    """The same batch order for every run with the same seed: (epoch, indices) per step."""
    rng = np.random.default_rng(spec.seed)
    per_epoch = -(-n // spec.batch_size)
    total = int(round(spec.epochs * per_epoch))
    order, pos = rng.permutation(n), 0
    for s in range(total):
        if pos >= n:
            order, pos = rng.permutation(n), 0
        yield s // per_epoch, s + 1 == total or (s + 1) % per_epoch == 0, order[pos:pos + spec.batch_size]
        pos += spec.batch_size


def _accuracy(model, x, y) -> float:
    pred = np.asarray(model.predict(x, batch_size=1000, verbose=0))
    return float(np.mean(np.argmax(pred, axis=-1) == np.asarray(y).reshape(-1)))


def train_student(student, x, y, spec: DistillSpec, teacher=None, x_val=None, y_val=None,
                  progress: Progress | None = None, phase: str = "student") -> list[float]:
    """Train ``student`` in place, on the labels alone (``teacher=None``) or distilled; returns
    the mean loss of each epoch. ``progress(phase, epoch, epochs, loss, val_accuracy)``."""
    import keras
    import tensorflow as tf

    hints = spec.hints if teacher is not None else ()
    s_model, _ = logits_model(student, tuple(s for _, s in hints))
    t_model = logits_model(teacher, tuple(t for t, _ in hints))[0] if teacher is not None else None
    regressors = _regressors(teacher, student, hints) if hints else []
    variables = list(student.trainable_variables) + [v for r in regressors if r is not None
                                                     for v in r.trainable_variables]
    optimizer = keras.optimizers.Adam(spec.learning_rate)
    alpha, temp, beta = float(spec.alpha), float(spec.temperature), float(spec.hint_weight)

    @tf.function(reduce_retracing=True)
    def step(xb, yb):
        with tf.GradientTape() as tape:
            s_out = s_model(xb, training=True)
            s_out = s_out if isinstance(s_out, (list, tuple)) else [s_out]
            if t_model is None:
                loss = keras.ops.mean(keras.losses.sparse_categorical_crossentropy(yb, s_out[0], from_logits=True))
            else:
                t_out = t_model(xb, training=False)
                t_out = t_out if isinstance(t_out, (list, tuple)) else [t_out]
                loss = distillation_loss(yb, s_out[0], tf.stop_gradient(t_out[0]), temp, alpha)
                for reg, f_s, f_t in zip(regressors, s_out[1:], t_out[1:]):
                    f_s = reg(f_s) if reg is not None else f_s
                    loss = loss + beta * keras.ops.mean(keras.ops.square(f_s - tf.stop_gradient(f_t)))
            loss = loss + tf.add_n(student.losses) if student.losses else loss
        grads = tape.gradient(loss, variables)
        pairs = [(g, v) for g, v in zip(grads, variables) if g is not None]
        optimizer.apply([g for g, _ in pairs], [v for _, v in pairs])
        return loss

    tf.random.set_seed(spec.seed)
    per_epoch = -(-len(x) // spec.batch_size)
    epochs = -(-int(round(spec.epochs * per_epoch)) // per_epoch)
    losses, current = [], []
    for epoch, last, idx in _batches(len(x), spec):
        current.append(float(step(tf.convert_to_tensor(x[idx]), tf.convert_to_tensor(y[idx]))))
        if last:
            losses.append(float(np.mean(current)))
            current = []
            if progress is not None:
                acc = _accuracy(student, x_val, y_val) if x_val is not None else float("nan")
                progress(phase, epoch + 1, epochs, losses[-1], acc)
    return losses


def _copy(model):
    import keras

    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    return clone


def distill(teacher, student, x: np.ndarray, y: np.ndarray, spec: DistillSpec | None = None,
            x_val: np.ndarray | None = None, y_val: np.ndarray | None = None,
            progress: Progress | None = None):
    """Distil ``teacher`` into ``student`` (trained in place). Returns ``(student, alone,
    DistillReport)``: ``alone`` is the student trained on the labels alone from the same initial
    weights with the same budget (None when ``spec.baseline`` is False). Accuracies are measured
    on ``x_val``/``y_val`` (default ``x``/``y``)."""
    spec = spec or DistillSpec()
    if not isinstance(spec, DistillSpec):
        raise UserError(f"distill needs a DistillSpec, got {type(spec).__name__}")
    check_models(teacher, student)
    classes = int(student.outputs[0].shape[-1])
    x = np.asarray(x, np.float32)
    y = check_labels(y, classes, "y")
    if len(x) != len(y) or len(x) == 0:
        raise UserError(f"x has {len(x)} samples and y {len(y)}; give one label per sample (at least one)")
    if (x_val is None) != (y_val is None):
        raise UserError("give both x_val and y_val, or neither")
    x_val, y_val = (x, y) if x_val is None else (np.asarray(x_val, np.float32),
                                                 check_labels(y_val, classes, "y_test"))
    if tuple(x.shape[1:]) != tuple(student.inputs[0].shape[1:]):
        raise UserError(f"x has samples of shape {list(x.shape[1:])} but the models take "
                        f"{list(student.inputs[0].shape[1:])}")
    _, how = logits_model(teacher, tuple(t for t, _ in spec.hints))
    logits_model(student, tuple(s for _, s in spec.hints))  # refuses unknown layer names now
    if spec.hints:
        _regressors(teacher, student, spec.hints)            # and features that cannot match
    teacher.trainable = False
    alone, alone_losses, alone_acc = None, [], None
    if spec.baseline:
        alone = _copy(student)
        alone_losses = train_student(alone, x, y, spec, None, x_val, y_val, progress, "student alone")
        alone_acc = _accuracy(alone, x_val, y_val)
    losses = train_student(student, x, y, spec, teacher, x_val, y_val, progress, "distilled")
    report = DistillReport(_accuracy(teacher, x_val, y_val), alone_acc, _accuracy(student, x_val, y_val),
                           int(teacher.count_params()), int(student.count_params()), how,
                           alone_losses, losses)
    return student, alone, report
