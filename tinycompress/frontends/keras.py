"""Keras 3 models (.keras, .h5, SavedModel) to an INT8 TFLite model by calibrated post-training
quantisation. The graph is traced with a static batch of 1, so Flatten becomes a plain RESHAPE."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from ..errors import UserError
from .recurrent import all_layers, at_batch_one, fused_lstm, has_fusable_lstm, unrolled

MAX_CALIBRATION_SAMPLES = 500


def _quiet_tf():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import tensorflow as tf  # noqa: PLC0415 (slow import, only when converting)

    tf.get_logger().setLevel("ERROR")
    return tf


@contextlib.contextmanager
def captured_output():
    """Send what TensorFlow's C++ code prints (logging, calibration chatter) to a buffer instead of
    the user's terminal; yields a list that receives the text. TINYCOMPRESS_TF_LOGS=1 shows it."""
    captured: list[str] = []
    if os.environ.get("TINYCOMPRESS_TF_LOGS"):
        yield captured
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with tempfile.TemporaryFile(mode="w+b") as buf:
        os.dup2(buf.fileno(), 1)
        os.dup2(buf.fileno(), 2)
        try:
            yield captured
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            buf.seek(0)
            captured.append(buf.read().decode(errors="replace"))


def _legacy_objects():
    """Layers whose Keras 2 configs Keras 3 refuses, made to accept them."""
    import keras

    class DepthwiseConv2D(keras.layers.DepthwiseConv2D):
        def __init__(self, *args, groups=None, **kwargs):  # Keras 2 wrote groups=1
            super().__init__(*args, **kwargs)

    return {"DepthwiseConv2D": DepthwiseConv2D}


def load_keras_model(path: Path):
    _quiet_tf()
    import keras

    try:
        if path.suffix == ".h5":
            return keras.models.load_model(path, compile=False, custom_objects=_legacy_objects())
        return keras.models.load_model(path, compile=False)
    except UserError:
        raise
    except Exception as e:  # Keras raises many types for broken files
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"cannot load Keras model {path}: {first}") from e


def _fit_calibration(x: np.ndarray, shape: tuple[int, ...], source: str) -> np.ndarray:
    """Bring calibration data of shape (N, ...) to the model input shape (N, *shape)."""
    x = np.asarray(x)
    if x.dtype.kind not in "fiu":
        raise UserError(f"{source}: calibration array 'x' has dtype {x.dtype}; give numbers")
    x = x.astype(np.float32)
    want = int(np.prod(shape))
    if x.ndim < 1 or x.shape[0] == 0 or int(np.prod(x.shape[1:])) != want:
        raise UserError(
            f"{source}: calibration array 'x' has shape {list(x.shape)}, but the model takes "
            f"{list(shape)} per sample: give x of shape [N, {', '.join(map(str, shape))}]"
        )
    return x.reshape((x.shape[0],) + tuple(shape))


def convert(model_or_fn, input_shape: tuple[int, ...], x_cal: np.ndarray, source: str,
            per_channel: bool = True) -> bytes:
    """Convert a Keras model (or a tf.function of one input) to INT8 TFLite, batch 1.

    ``per_channel=False`` quantises every weight tensor with one scale (the converter's default
    is one per output channel): a weight-shared kernel then keeps one int8 codebook for all of
    its rows, and a layer needs one requantisation multiplier instead of one per channel."""
    tf = _quiet_tf()
    x_cal = _fit_calibration(x_cal, input_shape, source)[:MAX_CALIBRATION_SAMPLES]
    spec = tf.TensorSpec((1,) + tuple(input_shape), tf.float32)
    if hasattr(model_or_fn, "get_concrete_function"):
        fn = model_or_fn
    else:
        model = model_or_fn

        @tf.function
        def fn(x):
            return model(x, training=False)

    concrete = fn.get_concrete_function(spec)

    def representative():
        for i in range(x_cal.shape[0]):
            yield [x_cal[i : i + 1]]

    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete])
    return _quantize(converter, representative, source, per_channel)


def calibration_ranges(model, input_shape: tuple[int, ...], x_cal: np.ndarray, source: str = "model",
                       ops: tuple[str, ...] = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")):
    """The ranges the converter's calibration records for a Keras model, as ``convert`` would
    calibrate it: ``(input (min, max), [(op kind, output min, output max)])`` for the ops of the
    kinds ``ops``, in graph order (the converter's own float kernels, on the same samples)."""
    from ai_edge_litert import schema_py_generated as schema

    from .tflite import BUILTIN_NAMES

    tf = _quiet_tf()
    x_cal = _fit_calibration(x_cal, input_shape, source)[:MAX_CALIBRATION_SAMPLES]

    @tf.function
    def fn(x):
        return model(x, training=False)

    concrete = fn.get_concrete_function(tf.TensorSpec((1,) + tuple(input_shape), tf.float32))
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete])
    converter._experimental_calibrate_only = True
    data = _quantize(converter, lambda: ([x_cal[i:i + 1]] for i in range(len(x_cal))), source)
    flat = schema.ModelT.InitFromPackedBuf(bytearray(data), 0)
    sg = flat.subgraphs[0]
    codes = [max(c.builtinCode, c.deprecatedBuiltinCode) for c in flat.operatorCodes]

    def rng(index):
        q = sg.tensors[index].quantization
        return float(q.min[0]), float(q.max[0])

    found = [(BUILTIN_NAMES[codes[op.opcodeIndex]], *rng(op.outputs[0])) for op in sg.operators
             if BUILTIN_NAMES[codes[op.opcodeIndex]] in ops]
    return rng(sg.inputs[0]), found


def _quantize(converter, representative, source: str, per_channel: bool = True) -> bytes:
    """Run a TFLite converter as full-integer post-training quantisation with int8 I/O."""
    tf = _quiet_tf()
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    if not per_channel:
        converter._experimental_disable_per_channel = True
    try:
        with captured_output():
            return bytes(converter.convert())
    except Exception as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"TFLite conversion of {source} failed: {first}") from e


def _convert_saved_model(path: Path, x_cal: np.ndarray, per_channel: bool = True) -> bytes:
    """A SavedModel's serving signature, through TF's graph-level loader: it restores variables
    without reviving Python objects, so Keras 2 SavedModels with optimizer state load too."""
    tf = _quiet_tf()
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    try:
        proto.ParseFromString((path / "saved_model.pb").read_bytes())
    except Exception as e:
        raise UserError(f"cannot read {path / 'saved_model.pb'}: {e}") from e
    graphs = [m for m in proto.meta_graphs if "serve" in m.meta_info_def.tags]
    sig = graphs[0].signature_def.get("serving_default") if graphs else None
    if sig is None:
        raise UserError(f"SavedModel {path} has no 'serving_default' signature with tag 'serve'")
    if len(sig.inputs) != 1:
        raise UserError(f"SavedModel {path} has {len(sig.inputs)} inputs; one is supported")
    info = next(iter(sig.inputs.values()))
    dims = [d.size for d in info.tensor_shape.dim]
    if not dims or any(d < 0 for d in dims[1:]):
        raise UserError(f"SavedModel {path}: input shape {dims} is not static")
    shape = tuple(int(d) for d in dims[1:])
    x_cal = _fit_calibration(x_cal, shape, str(path))[:MAX_CALIBRATION_SAMPLES]
    tensor = info.name.split(":")[0]
    converter = tf.compat.v1.lite.TFLiteConverter.from_saved_model(
        str(path), input_shapes={tensor: [1, *shape]}, signature_key="serving_default")
    return _quantize(converter, lambda: ([x_cal[i : i + 1]] for i in range(len(x_cal))),
                     f"SavedModel {path}", per_channel)


def layer_list(model) -> list[tuple[str, str]]:
    """(name, class name) of every layer, nested models flattened."""
    return [(layer.name, type(layer).__name__) for layer in all_layers(model)]


def convert_path(path: Path, x_cal: np.ndarray, per_channel: bool = True,
                 on_loaded=None) -> bytes:
    """Convert a .keras/.h5 file or a SavedModel directory to INT8 TFLite bytes
    (per-tensor weight scales with per_channel=False). `on_loaded(model)` is called once a Keras
    model is loaded (the child process records its layers with it)."""
    if path.is_dir():
        return _convert_saved_model(path, x_cal, per_channel)
    model = load_keras_model(path)
    if on_loaded is not None:
        on_loaded(model)
    if len(model.inputs) != 1:
        raise UserError(f"{path} has {len(model.inputs)} inputs; one is supported")
    shape = tuple(int(d) for d in model.inputs[0].shape[1:])
    if any(d is None for d in model.inputs[0].shape[1:]):
        raise UserError(f"{path}: input shape {model.inputs[0].shape} is not static")
    if has_fusable_lstm(model):
        return convert_fused_lstm(model, shape, x_cal, str(path), per_channel)
    return convert(unrolled(model), shape, x_cal, str(path), per_channel=per_channel)


def convert_fused_lstm(model, input_shape: tuple[int, ...], x_cal: np.ndarray, source: str,
                       per_channel: bool = True) -> bytes:
    """Convert a model with LSTM layers, each fused into UNIDIRECTIONAL_SEQUENCE_LSTM (see
    recurrent.py); other recurrent layers are unrolled."""
    tf = _quiet_tf()
    x_cal = _fit_calibration(x_cal, input_shape, source)[:MAX_CALIBRATION_SAMPLES]
    with fused_lstm():
        converter = tf.lite.TFLiteConverter.from_keras_model(at_batch_one(unrolled(model)))
        return _quantize(converter, lambda: ([x_cal[i:i + 1]] for i in range(len(x_cal))),
                         source, per_channel)
