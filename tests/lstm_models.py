"""Models for the LSTM tests: hand-built integer LSTMs (`lstm_model`), a model cut after its
first ops (`leading_ops`), and INT8 TFLite models of Keras 3 LSTM layers with TFLite's fused
UNIDIRECTIONAL_SEQUENCE_LSTM (`convert`). The last are made by running this file as a script
(`python tests/lstm_models.py SPECS.json OUTDIR`) in a child process, because TensorFlow's
converter crashes hard on the graphs below when they go wrong.

The Keras models go through tinycompress.frontends.keras.convert_fused_lstm (see
tinycompress/frontends/recurrent.py for why Keras 3's LSTM needs it).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import flatbuffers
import numpy as np
from ai_edge_litert import schema_py_generated as schema

from tflite_builder import T, model

def leading_ops(tflite: bytes, count: int) -> bytes:
    """`tflite` with only its first `count` operators, the last one's output the model's output."""
    m = schema.ModelT.InitFromPackedBuf(bytearray(tflite), 0)
    sg = m.subgraphs[0]
    sg.operators = sg.operators[:count]
    sg.outputs = np.array([sg.operators[-1].outputs[0]], np.int32)
    b = flatbuffers.Builder(1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


# Standard deviation of uniform int8 values times that of uniform int8 weights: the spread of
# one product term of a gate's accumulator.
_TERM_STD = 73.9 * 73.3


def lstm_operands(n_batch=1, steps=4, n_input=5, n_cell=6, time_major=False, in_s=0.05,
                  in_zp=-3, h_s=1 / 128, h_zp=2, cell_log2=-12, gate_std=2.0, seed=0):
    """The 24 operands of a standard integer LSTM with random weights: gate pre-activations of
    about `gate_std` (real units) from each of the input and recurrent products, biases of up
    to 1, the output state quantised (h_s, h_zp), the cell state at 2^cell_log2."""
    rng = np.random.default_rng(seed)
    x_shape = (steps, n_batch, n_input) if time_major else (n_batch, steps, n_input)
    w_s = gate_std / (_TERM_STD * np.sqrt(n_input) * in_s)
    r_s = gate_std / (_TERM_STD * np.sqrt(n_cell) * h_s)

    def weights(scale, cols):
        return T((n_cell, cols), "int8", scale=float(scale), zero_point=0,
                 data=rng.integers(-127, 128, (n_cell, cols)).astype(np.int8))

    def bias():
        b_s = float(np.float32(w_s) * np.float32(in_s))
        return T((n_cell,), "int32", scale=b_s, zero_point=0,
                 data=np.round(rng.uniform(-1, 1, n_cell) / b_s).astype(np.int32))

    return ([T(x_shape, scale=in_s, zero_point=in_zp)]
            + [weights(w_s, n_input) for _ in range(4)] + [weights(r_s, n_cell) for _ in range(4)]
            + [None] * 3 + [bias() for _ in range(4)] + [None, None]
            + [T((n_batch, n_cell), "int8", scale=h_s, zero_point=h_zp, variable=True),
               T((n_batch, n_cell), "int16", scale=2.0**cell_log2, zero_point=0, variable=True)]
            + [None] * 4)


def lstm_model(n_batch=1, steps=4, n_input=5, n_cell=6, time_major=False, in_s=0.05, in_zp=-3,
               h_s=1 / 128, h_zp=2, cell_log2=-12, clip=10.0, hidden=None, gate_std=2.0, seed=0,
               operands=None, options=None, intermediates=None, output=None,
               n_operands=24) -> bytes:
    """A one-op UNIDIRECTIONAL_SEQUENCE_LSTM (see lstm_operands); the hidden intermediate is
    quantised `hidden` = (scale, zero point), by default the output state's, as the converter
    does. `operands` {position: T or None}, `options`, `intermediates`, `output` and
    `n_operands` replace parts (for the refusal tests)."""
    ops = lstm_operands(n_batch, steps, n_input, n_cell, time_major, in_s, in_zp, h_s, h_zp,
                        cell_log2, gate_std, seed)
    for position, t in (operands or {}).items():
        ops[position] = t
    ops = (ops + [None] * n_operands)[:n_operands]
    hs, hz = hidden if hidden is not None else (h_s, h_zp)
    inter = intermediates if intermediates is not None else (
        [T((0,), "float32")] * 4 + [T((0,), "int8", scale=hs, zero_point=hz)])
    y_shape = (steps, n_batch, n_cell) if time_major else (n_batch, steps, n_cell)
    opts = {"fused_activation_function": "TANH", "cell_clip": clip, "proj_clip": 0.0,
            "time_major": time_major}
    opts.update(options or {})
    return model("UNIDIRECTIONAL_SEQUENCE_LSTM", ops,
                 [output or T(y_shape, scale=h_s, zero_point=h_zp)], opts,
                 intermediates=inter)


def convert(units: int, steps: int, features: int, return_sequences: bool, seed: int) -> bytes:
    """An INT8 model (int8 input and output) of Input((steps, features)) -> LSTM(units), random
    weights, calibrated on normal data, through the frontend's fused-LSTM conversion."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras

    from tinycompress.frontends.keras import convert_fused_lstm

    keras.utils.set_random_seed(seed)
    x = keras.Input((steps, features))
    model = keras.Model(x, keras.layers.LSTM(units, return_sequences=return_sequences)(x))
    cal = np.random.default_rng(seed).standard_normal((64, steps, features)).astype(np.float32)
    return convert_fused_lstm(model, (steps, features), cal, "keras lstm")


def main(argv: list[str]) -> int:
    specs = json.loads(Path(argv[0]).read_text())
    out = Path(argv[1])
    for spec in specs:
        data = convert(spec["units"], spec["steps"], spec["features"], spec["return_sequences"],
                       spec["seed"])
        (out / f"{spec['name']}.tflite").write_bytes(data)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
