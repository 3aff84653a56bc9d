"""Keras 3 recurrent layers in a form the TFLite converter takes.

Keras 3's TensorFlow backend runs LSTM, GRU and SimpleRNN as a tf.while_loop over a TensorList;
the converter turns that into a WHILE loop whose INT8 calibration crashes the converter
(SIGSEGV in Calibrator.FeedTensor). Two ways out:

- LSTM: the converter fuses an LSTM into UNIDIRECTIONAL_SEQUENCE_LSTM (TFLite's integer LSTM: int16
  cell state and gates) from a function that carries Keras 2's marker: tf.function attributes
  api_implements="lstm_<id>", time_major, go_backwards, taking (inputs, init_h, init_c, kernel,
  recurrent_kernel, bias) and returning (last output, sequence, h, c, runtime). `fused_lstm`
  puts such a function in place of keras.src.backend.lstm (the hook the Keras 3 layer calls
  first) while the model is converted with TFLiteConverter.from_keras_model at a static batch of
  1 (from_concrete_functions inlines the marked function before the converter sees it, and with a
  dynamic batch the converter does not fuse).
- GRU, SimpleRNN, and LSTMs the fused form does not cover (masks, no bias): `unrolled`, the layer
  unrolled over its time steps, a static graph of FULLY_CONNECTED, ADD, MUL, LOGISTIC, TANH,
  SPLIT and slicing ops.
"""

from __future__ import annotations

import contextlib
import uuid

RECURRENT = ("LSTM", "GRU", "SimpleRNN")


def all_layers(model) -> list:
    result = []
    for layer in model.layers:
        result.append(layer)
        if hasattr(layer, "layers"):
            result.extend(all_layers(layer))
    return result


def fusable(layer) -> bool:
    """An LSTM the fused form covers: the standard cell with a bias, not unrolled."""
    return (type(layer).__name__ == "LSTM" and layer.use_bias and not layer.unroll
            and layer.activation.__name__ == "tanh"
            and layer.recurrent_activation.__name__ == "sigmoid")


def has_fusable_lstm(model) -> bool:
    return any(fusable(layer) for layer in all_layers(model))


def unrolled(model):
    """The model with every recurrent layer the fused form does not cover unrolled over its time
    steps, weights shared, or the model itself when there is none."""
    import keras

    def needs(layer) -> bool:
        return type(layer).__name__ in RECURRENT and not layer.unroll and not fusable(layer)

    if not any(needs(layer) for layer in all_layers(model)):
        return model

    def clone(layer):
        config = layer.get_config()
        if needs(layer):
            config["unroll"] = True
        return type(layer).from_config(config)

    copy = keras.models.clone_model(model, clone_function=clone)
    copy.set_weights(model.get_weights())
    return copy


def at_batch_one(model):
    """A copy of a single-input model whose input has a static batch of 1, weights shared."""
    import keras

    shape = tuple(model.inputs[0].shape[1:])
    x = keras.Input(shape, batch_size=1, dtype=model.inputs[0].dtype)
    copy = keras.models.clone_model(model, input_tensors=x)
    copy.set_weights(model.get_weights())
    return copy


@contextlib.contextmanager
def fused_lstm():
    """While active, Keras 3 LSTM layers trace as Keras 2's fusable standard_lstm function."""
    import keras.src.backend as backend

    saved = backend.lstm
    backend.lstm = _standard_lstm
    try:
        yield
    finally:
        backend.lstm = saved


def _standard_lstm(inputs, initial_state_h, initial_state_c, mask, kernel, recurrent_kernel,
                   bias, activation, recurrent_activation, return_sequences=False,
                   go_backwards=False, unroll=False, time_major=False):
    import tensorflow as tf

    if mask is not None or unroll or bias is None:
        raise NotImplementedError  # the layer falls back to its generic loop
    attributes = {"api_implements": f"lstm_{uuid.uuid4()}", "api_preferred_device": "CPU",
                  "time_major": time_major, "go_backwards": go_backwards}

    @tf.function(experimental_attributes=attributes, autograph=False)
    def standard_lstm(x, h, c, kernel, recurrent_kernel, bias):
        steps = tf.unstack(x if time_major else tf.transpose(x, [1, 0, 2]))
        outputs = []
        for xt in (reversed(steps) if go_backwards else steps):
            z = tf.matmul(xt, kernel) + tf.matmul(h, recurrent_kernel) + bias
            i, f, g, o = tf.split(z, 4, axis=1)
            c = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
            h = tf.sigmoid(o) * tf.tanh(c)
            outputs.append(h)
        seq = tf.stack(outputs)
        return h, seq if time_major else tf.transpose(seq, [1, 0, 2]), h, c, tf.constant(0.0)

    last, seq, h, c, _ = standard_lstm(
        inputs, initial_state_h, initial_state_c, tf.convert_to_tensor(kernel),
        tf.convert_to_tensor(recurrent_kernel), tf.convert_to_tensor(bias))
    return last, seq, [h, c]
