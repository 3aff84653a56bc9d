"""Quantization-aware training (Jacob et al. 2018) that simulates TFLite's int8 scheme exactly.

Entry point: :func:`qat`. The model is read into a chain of steps (:func:`plan`): a weight layer
(``Conv2D``, ``DepthwiseConv2D``, ``Dense``) with the ``BatchNormalization`` and ReLU/ReLU6 that
follow it, pooling, ``Flatten``/``Reshape``, ``Dropout`` and a final softmax. The forward pass
computes what the INT8 model computes, in float:

* the input and the output of every weight layer are *quantisation points*: asymmetric int8,
  ``q = clamp(round(x / s) + z, -128, 127)``, ``x' = (q - z) s``. Their ranges are tracked while
  training by moving min/max (an exponential moving average of the batch min/max, decay
  ``ema_decay``); ``(s, z)`` come from a range exactly as the TFLite converter derives them, in
  float32: the range widened to hold 0, ``s = (max - min) / 255``, ``z = round(-128 - min / s)``.
  Max pooling, ``Flatten``/``Reshape`` keep their input's grid; average pooling rounds onto
  its input's grid (TFLite makes them share it); a final softmax has TFLite's fixed output grid ``s = 1/256, z = -128``.
* batch normalisation is folded into the preceding layer with its moving statistics (frozen
  during QAT): ``w' = w * g / sqrt(var + eps)``, ``b' = beta + (b - mean) * g / sqrt(var + eps)``
  per output channel; then the folded weights are quantised per output channel, symmetric:
  ``s_c = max|w'_c| / 127``, ``q = clamp(round(w' / s_c), -127, 127)`` (``per_channel=False``:
  one scale per tensor, as ``compile --per-tensor-weights``), and the bias on the accumulator's
  grid ``s_in * s_c`` (int32), as the converter does. ``weight_bits=4``: the 4-bit grid
  ``s_c = max|w'_c| / 7``, ``q`` in -7..7 (the grid of ``compile --weight-bits 4``,
  compress/int4.py), the bias on ``s_in * s_c`` likewise.
* the fused activation is applied before the output's quantisation, so the clamp is the kernel's:
  ReLU's lower bound is the zero point, ReLU6's upper bound ``z + round(6 / s)``.
* rounding and clamping pass gradients straight through (inside the clamp range for
  activations), so the float weights behind the quantised ones learn.

Export (:meth:`QATModel.export`): a plain Keras model of ordinary layers (batch norm folded,
activations fused into the weight layers), whose kernels and biases *are* the fake-quantised
values ``q * s_c`` and ``q_b * s_in * s_c``. The converter finds the same per-channel scales
(``max|q * s_c| / 127 = s_c``) and integers again. A 4-bit export holds ``q * s_c`` with
``max|q| = 7`` per channel: the converter quantises it to int8 (``round(q * 127 / 7)``) and
``compile --weight-bits 4`` (round to nearest) takes the same ``q`` and bias integers back. Activation ranges: at the end of training
:meth:`QATModel.calibrate` sets every point's range the way the converter's calibration will,
the global min/max of the exported float model's tensors over the calibration samples (the
first 500 of the training data, which ``compile --calibration TRAIN.npz`` takes as well), one
point after another so each bias is quantised with the final input scale. Compiling the exported
model with the same calibration data therefore reproduces the simulated model's scales and zero
points (the float kernels of the converter's calibrator may differ from TensorFlow's in the last
bit, and a scale then in its last bit). The simulated accuracy (:meth:`QATModel.evaluate`) is
measured with those final ranges.

``keep_structure=True`` (``compress --qat``) keeps a compressed model's structure while
training: pruned weights stay zero and the weights of one shared value stay equal (after every
step each kernel's shared values are replaced by the mean of their members).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from tinycompress.errors import UserError

__all__ = ["QATSpec", "QATReport", "QATModel", "LayerQuant", "plan", "qat", "range_to_quant",
           "quantize_weights"]

SOFTMAX_QUANT = (1.0 / 256.0, -128)
_MAX_UNIQUE = 256  # more distinct kernel values than this: not a weight-shared kernel


@dataclass(frozen=True)
class QATSpec:
    """Training settings and the weight quantisation scheme."""

    epochs: float = 2.0
    batch_size: int = 64
    learning_rate: float = 1e-4     # Adam; QAT fine-tunes a trained model
    seed: int = 0
    per_channel: bool = True        # False: one weight scale per tensor (compile --per-tensor-weights)
    ema_decay: float = 0.99         # moving min/max of the activation ranges
    calibration_samples: int = 500  # as many as compile's calibration takes
    keep_structure: bool = False    # pruned weights stay zero, shared weights stay shared
    weight_bits: int = 8            # 8, or 4: weights on the 4-bit grid (compile --weight-bits 4)

    def __post_init__(self):
        if not (isinstance(self.epochs, (int, float)) and 0 <= self.epochs <= 1000):
            raise UserError(f"epochs must be a number in 0..1000, got {self.epochs!r}")
        if not (isinstance(self.batch_size, int) and 1 <= self.batch_size <= 1 << 16):
            raise UserError(f"batch_size must be an integer in 1..65536, got {self.batch_size!r}")
        if not (isinstance(self.learning_rate, (int, float)) and 0 < self.learning_rate <= 10):
            raise UserError(f"learning_rate must be in (0, 10], got {self.learning_rate!r}")
        if not (isinstance(self.ema_decay, (int, float)) and 0 <= self.ema_decay < 1):
            raise UserError(f"ema_decay must be in [0, 1), got {self.ema_decay!r}")
        if self.weight_bits not in (8, 4) or isinstance(self.weight_bits, bool):
            raise UserError(f"--weight-bits {self.weight_bits} is not supported: choose 8 or 4")
        if not (isinstance(self.calibration_samples, int) and self.calibration_samples >= 1):
            raise UserError(f"calibration_samples must be a positive integer, got {self.calibration_samples!r}")

    @property
    def weight_qmax(self) -> int:
        """The largest weight magnitude on the grid: 127 (int8) or 7 (int4)."""
        return 127 if self.weight_bits == 8 else 7


# ---------------------------------------------------------------------------------------------
# The arithmetic (numpy, as the converter computes it)

def _round_away(x):
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def range_to_quant(rmin: float, rmax: float) -> tuple[float, int]:
    """``(scale, zero_point)`` of an asymmetric int8 tensor with calibrated range [rmin, rmax],
    as TFLite's converter derives them, in float32 arithmetic: the range widened to hold 0,
    ``s = (max - min) / 255``, ``z = round(-128 - min / s)`` (half away from zero) clamped."""
    f = np.float32
    lo, hi = min(f(rmin), f(0)), max(f(rmax), f(0))
    scale = f(hi - lo) / f(255)
    if scale == 0:
        return 1.0, -128
    zp = f(-128) - lo / scale
    zp = -128 if zp < -128 else 127 if zp > 127 else int(_round_away(float(zp)))
    return float(scale), zp


def _channel_view(kernel: np.ndarray, kind: str) -> np.ndarray:
    """The kernel as [positions, output channels] (depthwise: channel i * multiplier + m)."""
    if kind == "depthwise":
        kh, kw, cin, mult = kernel.shape
        return kernel.reshape(kh * kw, cin * mult)
    return kernel.reshape(-1, kernel.shape[-1])


def quantize_weights(kernel: np.ndarray, kind: str, per_channel: bool = True,
                     qmax: int = 127) -> tuple[np.ndarray, np.ndarray]:
    """``(q int8 in the kernel's layout, scales float32 per output channel)`` (one scale repeated
    per channel when ``per_channel=False``): symmetric, ``s = max|w| / qmax``, ``q`` in
    -qmax..qmax (127: int8, 7: int4)."""
    k = np.asarray(kernel, dtype=np.float32)
    view = _channel_view(k, kind).astype(np.float64)
    bound = np.max(np.abs(view), axis=0) if per_channel else np.full(view.shape[1], np.max(np.abs(view)))
    scale = np.where(bound > 0, bound / float(qmax), 1.0).astype(np.float32)
    q = np.clip(_round_away(view / scale.astype(np.float64)), -qmax, qmax).astype(np.int8)
    return q.reshape(k.shape), scale


def _quantize_bias(bias: np.ndarray, in_scale: float, w_scale: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(int32 bias, its float32 scales)``: the bias on the accumulator grid ``s_in * s_w``."""
    scale = (np.float64(np.float32(in_scale)) * w_scale.astype(np.float64))
    q = np.clip(_round_away(np.asarray(bias, np.float64) / scale), -(2 ** 31), 2 ** 31 - 1)
    return q.astype(np.int32), scale


# ---------------------------------------------------------------------------------------------
# Reading the model into steps

@dataclass
class Step:
    """One stage of the chain. ``kind``: conv, depthwise, dense, maxpool, avgpool, reshape,
    dropout, softmax."""

    kind: str
    layer: object
    bn: object = None
    act: str = "linear"             # linear, relu, relu6 (weight layers)
    point: int = -1                 # index of the output quantisation point (weight layers)
    names: list[str] = field(default_factory=list)  # the Keras layers it stands for


WEIGHTED = ("conv", "depthwise", "dense")


def _activation_name(fn) -> str | None:
    import keras

    table = {keras.activations.linear: "linear", keras.activations.relu: "relu",
             keras.activations.relu6: "relu6", keras.activations.softmax: "softmax"}
    return table.get(fn)


def _relu_kind(layer) -> str | None:
    """"relu"/"relu6" for a ReLU/Activation layer the kernels fuse, else None."""
    import keras

    if isinstance(layer, keras.layers.ReLU):
        neg = float(layer.negative_slope)
        thr = float(layer.threshold)
        top = None if layer.max_value is None else float(layer.max_value)
        if neg == 0 and thr == 0 and top in (None, 6.0):
            return "relu" if top is None else "relu6"
        return None
    if isinstance(layer, keras.layers.Activation):
        name = _activation_name(layer.activation)
        return name if name in ("relu", "relu6") else None
    return None


def _is_softmax(layer) -> bool:
    import keras

    if isinstance(layer, keras.layers.Softmax):
        return layer.axis in (-1, [-1], (-1,))
    return isinstance(layer, keras.layers.Activation) and _activation_name(layer.activation) == "softmax"


def _chain(model) -> list:
    """The layers of a single-input, single-output model without branches, in order."""
    import keras

    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise UserError(f"QAT takes a model with one input and one output; {model.name!r} has "
                        f"{len(model.inputs)} and {len(model.outputs)}")
    layers = [la for la in model.layers if not isinstance(la, keras.layers.InputLayer)]
    prev = model.inputs[0]
    for layer in layers:
        if len(layer._inbound_nodes) != 1 or layer.input is not prev:
            raise UserError(f"QAT takes a chain of layers (each feeding only the next); layer "
                            f"{layer.name!r} ({type(layer).__name__}) branches or is shared: "
                            "restructure the model or quantise it post-training")
        prev = layer.output
    if prev is not model.outputs[0]:
        raise UserError(f"QAT takes a chain of layers; the output of {model.name!r} is not its last layer's")
    return layers


def _weighted_kind(layer) -> str | None:
    import keras

    L = keras.layers
    if isinstance(layer, L.DepthwiseConv2D):
        return "depthwise"
    if isinstance(layer, L.Conv2D):
        return "conv"
    if isinstance(layer, L.Dense):
        return "dense"
    return None


def _check_weighted(layer, kind: str) -> None:
    if kind == "conv" and (layer.groups != 1 or layer.data_format != "channels_last"):
        raise UserError(f"QAT: Conv2D {layer.name!r} has groups={layer.groups}, "
                        f"data_format={layer.data_format!r}; only groups=1, channels_last are simulated")
    if kind == "depthwise" and layer.data_format != "channels_last":
        raise UserError(f"QAT: DepthwiseConv2D {layer.name!r} is channels_first; use channels_last")
    if kind == "dense" and len(layer.input.shape) != 2:
        raise UserError(f"QAT: Dense {layer.name!r} takes a rank-{len(layer.input.shape)} input; "
                        "Flatten before it (only [batch, features] inputs are simulated)")


def plan(model) -> list[Step]:
    """The model as a chain of :class:`Step`; unsupported layers are refused naming them."""
    import keras

    L = keras.layers
    steps: list[Step] = []
    layers = _chain(model)
    i, points = 0, 1
    while i < len(layers):
        layer = layers[i]
        kind = _weighted_kind(layer)
        if kind is not None:
            _check_weighted(layer, kind)
            act = _activation_name(layer.activation)
            step = Step(kind, layer, names=[layer.name])
            if act == "linear" and i + 1 < len(layers) and isinstance(layers[i + 1], L.BatchNormalization):
                bn = layers[i + 1]
                if bn.axis not in (-1, len(layer.output.shape) - 1, [-1], [len(layer.output.shape) - 1]):
                    raise UserError(f"QAT: BatchNormalization {bn.name!r} normalises axis {bn.axis}; "
                                    "only the channel axis (last) folds into the layer before it")
                step.bn, i = bn, i + 1
                step.names.append(bn.name)
            if act == "linear" and i + 1 < len(layers) and _relu_kind(layers[i + 1]):
                act, i = _relu_kind(layers[i + 1]), i + 1
                step.names.append(layers[i].name)
            if act not in ("linear", "relu", "relu6", "softmax"):
                what = getattr(layer.activation, "__name__", str(layer.activation))
                raise UserError(f"QAT: layer {layer.name!r} has activation {what!r}; "
                                "the simulated kernels fuse none, relu, relu6 (or a final softmax)")
            step.act, step.point = ("linear" if act == "softmax" else act), points
            points += 1
            steps.append(step)
            if act == "softmax":
                steps.append(Step("softmax", None, names=[]))
        elif isinstance(layer, L.BatchNormalization):
            raise UserError(f"QAT: BatchNormalization {layer.name!r} does not follow a Conv2D/"
                            "DepthwiseConv2D/Dense without activation, so it cannot be folded")
        elif isinstance(layer, L.MaxPooling2D):
            steps.append(Step("maxpool", layer, names=[layer.name]))
        elif isinstance(layer, L.AveragePooling2D):
            steps.append(Step("avgpool", layer, names=[layer.name]))
        elif isinstance(layer, (L.Flatten, L.Reshape)):
            steps.append(Step("reshape", layer, names=[layer.name]))
        elif isinstance(layer, L.Dropout):
            steps.append(Step("dropout", layer, names=[layer.name]))
        elif _is_softmax(layer):
            steps.append(Step("softmax", layer, names=[layer.name]))
        else:
            raise UserError(f"QAT cannot simulate layer {layer.name!r} ({type(layer).__name__}); "
                            "supported: Conv2D, DepthwiseConv2D, Dense (+ BatchNormalization, ReLU/ReLU6), "
                            "MaxPooling2D, AveragePooling2D, Flatten, Reshape, Dropout, a final Softmax")
        i += 1
    if any(s.kind == "softmax" for s in steps[:-1]):
        raise UserError("QAT: a softmax is simulated only as the model's last layer")
    if not any(s.kind in WEIGHTED for s in steps):
        raise UserError(f"QAT: model {model.name!r} has no Conv2D/DepthwiseConv2D/Dense layer to quantise")
    return steps


# ---------------------------------------------------------------------------------------------
# The simulated model

@dataclass
class LayerQuant:
    """What the INT8 model holds for one weight layer (BN folded), in the Keras kernel layout."""

    name: str
    kind: str
    act: str
    kernel: np.ndarray           # int8, -127..127 (4-bit: -7..7)
    kernel_scale: np.ndarray     # float32, one per output channel
    bias: np.ndarray             # int32, on the grid input_scale * kernel_scale
    input_quant: tuple[float, int]
    output_quant: tuple[float, int]


def _round_tf(x):
    import tensorflow as tf

    return tf.sign(x) * tf.floor(tf.abs(x) + 0.5)


def _fake_quant(x, scale, zp, ste: bool):
    """x on the int8 grid (scale, zp); with ``ste`` the gradient passes inside the clamp range."""
    import tensorflow as tf

    q = tf.clip_by_value(_round_tf(x / scale) + zp, -128.0, 127.0)
    y = (q - zp) * scale
    if not ste:
        return y
    xc = tf.clip_by_value(x, (-128.0 - zp) * scale, (127.0 - zp) * scale)
    return xc + tf.stop_gradient(y - xc)


def _quant_tf(rmin, rmax):
    """(scale, zp) from a range in TensorFlow (training: the moving range changes every step)."""
    import tensorflow as tf

    rmin, rmax = tf.minimum(rmin, 0.0), tf.maximum(rmax, 0.0)
    scale = tf.maximum((rmax - rmin) / 255.0, 1e-12)
    zp = tf.clip_by_value(_round_tf(-128.0 - rmin / scale), -128.0, 127.0)
    return scale, zp


def _numpy(v) -> np.ndarray:
    return np.asarray(v.numpy() if hasattr(v, "numpy") else v)


class QATModel:
    """A Keras model (trained in place) with its quantisation points; see the module docstring."""

    def __init__(self, model, spec: QATSpec | None = None):
        import tensorflow as tf

        self.model = model
        self.spec = spec or QATSpec()
        self.steps = plan(model)
        n = 1 + sum(s.kind in WEIGHTED for s in self.steps)
        self.rmin = tf.Variable(tf.zeros([n]), trainable=False, name="qat_rmin")
        self.rmax = tf.Variable(tf.ones([n]), trainable=False, name="qat_rmax")
        self.layers: list[LayerQuant] = []
        self.points: list[tuple[float, int]] = []
        self._params: list = []
        self._structure = self._read_structure() if self.spec.keep_structure else {}

    # -- weights ---------------------------------------------------------------------------
    def _folded(self, step):
        """The kernel and bias with the batch normalisation folded in (tensors)."""
        import tensorflow as tf

        layer = step.layer
        w = tf.convert_to_tensor(layer.kernel)
        out = int(w.shape[2] * w.shape[3]) if step.kind == "depthwise" else int(w.shape[-1])
        b = tf.convert_to_tensor(layer.bias) if layer.use_bias else tf.zeros([out])
        if step.bn is not None:
            bn = step.bn
            gamma = tf.convert_to_tensor(bn.gamma) if bn.scale else tf.ones([out])
            beta = tf.convert_to_tensor(bn.beta) if bn.center else tf.zeros([out])
            factor = gamma / tf.sqrt(tf.convert_to_tensor(bn.moving_variance) + bn.epsilon)
            w = w * (tf.reshape(factor, w.shape[2:]) if step.kind == "depthwise" else factor)
            b = beta + (b - tf.convert_to_tensor(bn.moving_mean)) * factor
        return w, b

    def _weight_scale_tf(self, w, kind):
        import tensorflow as tf

        axes = {"dense": [0], "conv": [0, 1, 2], "depthwise": [0, 1]}[kind]
        bound = tf.reduce_max(tf.abs(w), axis=axes) if self.spec.per_channel else \
            tf.reduce_max(tf.abs(w)) * tf.ones(w.shape[len(axes):])
        qmax = float(self.spec.weight_qmax)
        return tf.stop_gradient(tf.where(bound > 0, bound / qmax, tf.ones_like(bound)))

    def _apply(self, step, h, w, b):
        import tensorflow as tf

        layer = step.layer
        if step.kind == "dense":
            y = tf.matmul(h, w)
        elif step.kind == "conv":
            y = tf.nn.conv2d(h, w, strides=layer.strides, padding=layer.padding.upper(),
                             dilations=layer.dilation_rate)
        else:
            y = tf.nn.depthwise_conv2d(h, w, strides=[1, *layer.strides, 1], padding=layer.padding.upper(),
                                       dilations=layer.dilation_rate)
        y = y + b
        return tf.nn.relu(y) if step.act == "relu" else tf.nn.relu6(y) if step.act == "relu6" else y

    def _other(self, step, h, training: bool):
        """A step without weights, in float."""
        import tensorflow as tf

        layer = step.layer
        if step.kind in ("maxpool", "avgpool"):
            pool = tf.nn.max_pool2d if step.kind == "maxpool" else tf.nn.avg_pool2d
            return pool(h, ksize=layer.pool_size, strides=layer.strides, padding=layer.padding.upper())
        if step.kind == "reshape":
            target = getattr(layer, "target_shape", None) or [-1]
            return tf.reshape(h, [tf.shape(h)[0], *target])
        if step.kind == "dropout":
            return tf.nn.dropout(h, rate=layer.rate) if training and layer.rate > 0 else h
        return tf.nn.softmax(h, axis=-1)

    # -- forward passes ----------------------------------------------------------------------
    def train_forward(self, x, update: bool = True):
        """The training graph: moving ranges (updated when ``update``), straight-through fake
        quantisation. Returns ``(logits, output)``: logits are the tensor before a final softmax."""
        import tensorflow as tf

        decay = float(self.spec.ema_decay)

        def point(i, h):
            if update:
                self.rmin[i].assign(decay * self.rmin[i] + (1 - decay) * tf.reduce_min(h))
                self.rmax[i].assign(decay * self.rmax[i] + (1 - decay) * tf.reduce_max(h))
            return _quant_tf(self.rmin[i], self.rmax[i])

        h = tf.convert_to_tensor(x, tf.float32)
        s_in, z_in = point(0, h)
        h = _fake_quant(h, s_in, z_in, ste=True)
        logits = h
        for step in self.steps:
            if step.kind in WEIGHTED:
                w, b = self._folded(step)
                s_w = self._weight_scale_tf(w, step.kind)
                qmax = float(self.spec.weight_qmax)
                w_q = w + tf.stop_gradient(tf.clip_by_value(_round_tf(w / s_w), -qmax, qmax) * s_w - w)
                s_b = tf.reshape(s_in * s_w, [-1])
                b_q = b + tf.stop_gradient(_round_tf(b / s_b) * s_b - b)
                h = self._apply(step, h, w_q, b_q)
                s_in, z_in = point(step.point, h)
                h = _fake_quant(h, s_in, z_in, ste=True)
            elif step.kind == "softmax":
                logits = h
                h = _fake_quant(self._other(step, h, True), *SOFTMAX_QUANT, ste=True)
                continue
            else:
                h = self._other(step, h, training=True)
                if step.kind == "avgpool":
                    h = _fake_quant(h, s_in, z_in, ste=True)
            logits = h
        return logits, h

    def calibrate(self, x_cal: np.ndarray, converter: bool = True) -> None:
        """Freeze every quantisation point to the range the converter's calibration finds for
        the exported model on ``x_cal`` (see the module docstring); also sets the moving ranges.

        The ranges are first computed in TensorFlow, then (``converter=True``) taken from the
        TFLite converter's own calibration of the exported model until they no longer change
        (each bias depends on its input's scale, so twice is the usual count)."""
        x_cal = np.asarray(x_cal, np.float32)[: self.spec.calibration_samples]
        ranges = self._freeze(x_cal)
        for _ in range(4 if converter else 0):
            found = self._converter_ranges(x_cal)
            if found is None or found == ranges:
                break
            ranges = self._freeze(x_cal, found)
        self.rmin.assign([r[0] for r in ranges])
        self.rmax.assign([r[1] for r in ranges])

    def _converter_ranges(self, x_cal: np.ndarray) -> list[tuple[float, float]] | None:
        """The converter's calibrated ranges of the points, or None when its graph does not map
        one to one onto the weight layers (then TensorFlow's ranges stay)."""
        from tinycompress.frontends.keras import calibration_ranges

        kinds = {"conv": "CONV_2D", "depthwise": "DEPTHWISE_CONV_2D", "dense": "FULLY_CONNECTED"}
        shape = tuple(int(d) for d in self.model.inputs[0].shape[1:])
        first, ops = calibration_ranges(self.export(), shape, x_cal, f"QAT model {self.model.name!r}")
        want = [kinds[s.kind] for s in self.steps if s.kind in WEIGHTED]
        if [k for k, _, _ in ops] != want:
            return None
        return [first] + [(lo, hi) for _, lo, hi in ops]

    def _freeze(self, x_cal: np.ndarray, ranges: list[tuple[float, float]] | None = None):
        """Quantise every layer point after point; ``ranges`` (input, then one per weight layer)
        set the points, else the min/max over ``x_cal`` of the float tensors. Returns the ranges."""
        import tensorflow as tf

        h = tf.convert_to_tensor(x_cal)
        found = [(float(tf.reduce_min(h)), float(tf.reduce_max(h)))]
        current = range_to_quant(*(ranges[0] if ranges else found[0]))
        points, layers, params = [current], [], []
        for step in self.steps:
            if step.kind in WEIGHTED:
                w, b = (_numpy(t) for t in self._folded(step))
                q, s = quantize_weights(w, step.kind, self.spec.per_channel, self.spec.weight_qmax)
                bq, bs = _quantize_bias(b, current[0], s)
                w_exp = (q.astype(np.float64) * _broadcast_scale(s, q.shape, step.kind)).astype(np.float32)
                b_exp = (bq.astype(np.float64) * bs).astype(np.float32)
                h = self._apply(step, h, tf.constant(w_exp), tf.constant(b_exp))
                found.append((float(tf.reduce_min(h)), float(tf.reduce_max(h))))
                out = range_to_quant(*(ranges[len(found) - 1] if ranges else found[-1]))
                layers.append(LayerQuant(step.layer.name, step.kind, step.act, q, s, bq, current, out))
                params.append((w_exp, b_exp))
                points.append(out)
                current = out
            else:
                h = self._other(step, h, training=False)
                params.append(None)
                if step.kind == "softmax":
                    current = SOFTMAX_QUANT
        self.layers, self.points, self._params = layers, points, params
        return list(ranges) if ranges else found

    def simulate(self, x):
        """The INT8 model's output, simulated in float with the frozen (calibrated) parameters."""
        import tensorflow as tf

        if not self.points:
            raise UserError("calibrate the QAT model before simulating it (QATModel.calibrate)")
        h = _fake_quant(tf.convert_to_tensor(x, tf.float32), *self.points[0], ste=False)
        current = self.points[0]
        for step, p in zip(self.steps, self._params):
            if step.kind in WEIGHTED:
                h = self._apply(step, h, tf.constant(p[0]), tf.constant(p[1]))
                current = self.points[step.point]
                h = _fake_quant(h, *current, ste=False)
            elif step.kind == "softmax":
                h = _fake_quant(self._other(step, h, False), *SOFTMAX_QUANT, ste=False)
            else:
                h = self._other(step, h, training=False)
                if step.kind == "avgpool":
                    h = _fake_quant(h, *current, ste=False)
        return h

    def predict(self, x: np.ndarray, batch_size: int = 1000) -> np.ndarray:
        x = np.asarray(x, np.float32)
        return np.concatenate([_numpy(self.simulate(x[i:i + batch_size]))
                               for i in range(0, len(x), batch_size)])

    def evaluate(self, x: np.ndarray, y: np.ndarray, kind: str = "classification") -> float:
        """Simulated INT8 top-1 accuracy (or mean squared error for ``kind="regression"``)."""
        pred = self.predict(x)
        y = np.asarray(y)
        if kind == "classification":
            return float(np.mean(np.argmax(pred, axis=-1) == y.reshape(-1)))
        return float(np.mean((pred - y.reshape(pred.shape)) ** 2))

    # -- export ------------------------------------------------------------------------------
    def export(self):
        """A plain Keras model (ordinary layers, BN folded, activations fused) whose weights are
        the fake-quantised values; the converter quantises it to the simulated INT8 model."""
        import keras

        if not self.points:
            raise UserError("calibrate the QAT model before exporting it (QATModel.calibrate)")
        L = keras.layers
        src = self.model
        inp = keras.Input(shape=tuple(src.inputs[0].shape[1:]), name=src.inputs[0].name.split(":")[0])
        h, loaded = inp, []
        for step, p in zip(self.steps, self._params):
            layer = step.layer
            if step.kind in WEIGHTED:
                common = dict(activation=step.act, use_bias=True, name=layer.name)
                if step.kind == "dense":
                    new = L.Dense(layer.units, **common)
                elif step.kind == "conv":
                    new = L.Conv2D(layer.filters, layer.kernel_size, strides=layer.strides, padding=layer.padding,
                                   dilation_rate=layer.dilation_rate, **common)
                else:
                    new = L.DepthwiseConv2D(layer.kernel_size, strides=layer.strides, padding=layer.padding,
                                            depth_multiplier=layer.depth_multiplier,
                                            dilation_rate=layer.dilation_rate, **common)
                h = new(h)
                loaded.append((new, p))
            elif step.kind == "dropout":
                continue
            elif step.kind == "softmax":
                h = L.Softmax(name=layer.name if layer is not None else f"{self.steps[-2].layer.name}_softmax")(h)
            else:
                h = type(layer).from_config(layer.get_config())(h)
        out = keras.Model(inp, h, name=src.name)
        for new, (w, b) in loaded:
            new.set_weights([w, b])
        return out

    # -- structure of a compressed model -----------------------------------------------------
    def _read_structure(self) -> dict:
        """Per kernel variable: the segment of each weight (0: pruned; k: k-th shared value)."""
        out = {}
        for step in self.steps:
            if step.kind not in WEIGHTED:
                continue
            k = _numpy(step.layer.kernel).reshape(-1)
            values, index = np.unique(k, return_inverse=True)
            nonzero = values != 0
            if len(values) - int(not nonzero.all()) <= _MAX_UNIQUE:
                seg = np.where(k == 0, 0, 1 + index).astype(np.int32)
                out[id(step.layer)] = (step.layer.kernel, seg, len(values) + 1)
            else:
                out[id(step.layer)] = (step.layer.kernel, (k != 0).astype(np.int32), 2)
        return out

    def keep_structure(self) -> None:
        """Pruned weights back to zero, each shared value to the mean of its members."""
        import tensorflow as tf

        for var, seg, n in self._structure.values():
            flat = tf.reshape(tf.convert_to_tensor(var), [-1])
            if n == 2:  # pruned only
                var.assign(tf.reshape(flat * tf.cast(seg, flat.dtype), var.shape))
                continue
            means = tf.math.unsorted_segment_mean(flat, seg, n)
            means = tf.concat([tf.zeros([1]), means[1:]], axis=0)
            var.assign(tf.reshape(tf.gather(means, seg), var.shape))


def _broadcast_scale(scale: np.ndarray, shape: tuple[int, ...], kind: str) -> np.ndarray:
    s = scale.astype(np.float64)
    return s.reshape(shape[2], shape[3]) if kind == "depthwise" else s


# ---------------------------------------------------------------------------------------------
# Training

@dataclass
class QATReport:
    metric: str                      # "accuracy" or "mse"
    float_metric: float              # the float model before QAT
    ptq_metric: float                # simulated INT8, post-training (calibrated, no training)
    qat_metric: float                # simulated INT8 after QAT (final calibration)
    layers: list[LayerQuant]
    losses: list[float]

    def to_dict(self) -> dict:
        return {"metric": self.metric, "float_accuracy": self.float_metric,
                "ptq_accuracy": self.ptq_metric, "qat_accuracy": self.qat_metric,
                "layers": [{"name": la.name, "kind": la.kind, "activation": la.act,
                            "input_scale": la.input_quant[0], "input_zero_point": la.input_quant[1],
                            "output_scale": la.output_quant[0], "output_zero_point": la.output_quant[1]}
                           for la in self.layers]}


def _task(model, y: np.ndarray, steps: list[Step]) -> str:
    y = np.asarray(y)
    classes = int(model.outputs[0].shape[-1])
    if y.dtype.kind in "iu" and (y.ndim == 1 or y.shape[1:] == (1,)):
        if y.size and (int(y.min()) < 0 or int(y.max()) >= classes):
            raise UserError(f"labels span {int(y.min())}..{int(y.max())} but the model has {classes} "
                            f"classes; give labels in 0..{classes - 1}")
        return "classification"
    if steps[-1].kind == "softmax":
        raise UserError(f"the model ends in a softmax but y has dtype {y.dtype} and shape {y.shape}; "
                        "give integer class labels")
    return "regression"


def train(qm: QATModel, x: np.ndarray, y: np.ndarray, kind: str,
          progress: Callable[[int, int, float], None] | None = None) -> list[float]:
    """Fine-tune ``qm.model`` through the fake-quantised forward pass; per-epoch mean losses."""
    import keras
    import tensorflow as tf

    spec = qm.spec
    per_epoch = -(-len(x) // spec.batch_size)
    total = int(round(spec.epochs * per_epoch))
    if total == 0:
        return []
    optimizer = keras.optimizers.Adam(spec.learning_rate)
    variables = list(qm.model.trainable_variables)
    if kind == "classification":
        loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    else:
        loss_fn = keras.losses.MeanSquaredError()

    @tf.function(reduce_retracing=True)
    def step(xb, yb):
        with tf.GradientTape() as tape:
            logits, out = qm.train_forward(xb)
            loss = loss_fn(yb, logits if kind == "classification" else out)
        grads = tape.gradient(loss, variables)
        pairs = [(g, v) for g, v in zip(grads, variables) if g is not None]
        optimizer.apply([g for g, _ in pairs], [v for _, v in pairs])
        if qm.spec.keep_structure:
            qm.keep_structure()
        return loss

    rng = np.random.default_rng(spec.seed)
    tf.random.set_seed(spec.seed)
    losses, epoch_losses, order, pos = [], [], rng.permutation(len(x)), 0
    epochs = -(-total // per_epoch)
    for s in range(total):
        if pos >= len(x):
            order, pos = rng.permutation(len(x)), 0
        idx = order[pos:pos + spec.batch_size]
        pos += spec.batch_size
        epoch_losses.append(float(step(tf.convert_to_tensor(x[idx], tf.float32), tf.convert_to_tensor(y[idx]))))
        if (s + 1) % per_epoch == 0 or s + 1 == total:
            losses.append(float(np.mean(epoch_losses)))
            epoch_losses = []
            if progress is not None:
                progress(len(losses), epochs, losses[-1])
    return losses


def qat(model, x: np.ndarray, y: np.ndarray, spec: QATSpec | None = None,
        x_val: np.ndarray | None = None, y_val: np.ndarray | None = None,
        x_cal: np.ndarray | None = None,
        progress: Callable[[int, int, float], None] | None = None):
    """Quantization-aware training of ``model`` (changed in place); returns ``(exported plain
    Keras model, QATReport)``. ``x_cal`` (default: ``x``) calibrates the ranges: its first
    ``spec.calibration_samples`` samples, as ``compile --calibration`` takes them; ``x_val``/
    ``y_val`` (default ``x``/``y``) measure float, PTQ and QAT accuracy."""
    spec = spec or QATSpec()
    if not isinstance(spec, QATSpec):
        raise UserError(f"qat needs a QATSpec, got {type(spec).__name__}")
    x, y = np.asarray(x, np.float32), np.asarray(y)
    if len(x) != len(y) or len(x) == 0:
        raise UserError(f"x has {len(x)} samples and y {len(y)}; give one label per sample (at least one)")
    if (x_val is None) != (y_val is None):
        raise UserError("give both x_val and y_val, or neither")
    x_val, y_val = (x, y) if x_val is None else (np.asarray(x_val, np.float32), np.asarray(y_val))
    qm = QATModel(model, spec)
    kind = _task(model, y, qm.steps)
    _task(model, y_val, qm.steps)
    x_cal = x if x_cal is None else np.asarray(x_cal, np.float32)
    pred = np.asarray(model.predict(x_val, batch_size=1000, verbose=0))
    if kind == "classification":
        before = float(np.mean(np.argmax(pred, -1) == y_val.reshape(-1)))
    else:
        before = float(np.mean((pred - y_val.reshape(pred.shape)) ** 2))
    qm.calibrate(x_cal)
    ptq = qm.evaluate(x_val, y_val, kind)
    losses = train(qm, x, y, kind, progress)
    qm.calibrate(x_cal)
    after = qm.evaluate(x_val, y_val, kind)
    report = QATReport("accuracy" if kind == "classification" else "mse", before, ptq, after,
                       qm.layers, losses)
    return qm.export(), report
