"""Identical constant arrays are stored once (an unrolled recurrent layer repeats its weights at
every time step), and the C that shares them computes what the reference computes."""

import numpy as np

from optest import assert_bit_exact
from tinycompress.compiler import compile_tflite


def _two_dense_model(same: bool) -> bytes:
    """FULLY_CONNECTED -> FULLY_CONNECTED, 16 -> 16 -> 16, the second with the first's weights
    (same=True) or its own."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as s

    rng = np.random.default_rng(3)
    w1 = rng.integers(-127, 128, (16, 16)).astype(np.int8)
    w2 = w1 if same else rng.integers(-127, 128, (16, 16)).astype(np.int8)
    m = s.ModelT()
    m.version = 3
    m.buffers = [s.BufferT()]
    code = s.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = s.BuiltinOperator.FULLY_CONNECTED
    code.version = 1
    m.operatorCodes = [code]
    sg = s.SubGraphT()
    sg.tensors = []

    def tensor(name, shape, dtype, scale, zp, data=None):
        t = s.TensorT()
        t.name, t.shape, t.type = name, np.array(shape, np.int32), dtype
        t.buffer = 0
        if data is not None:
            b = s.BufferT()
            b.data = np.frombuffer(data.tobytes(), np.uint8)
            m.buffers.append(b)
            t.buffer = len(m.buffers) - 1
        q = s.QuantizationParametersT()
        q.scale, q.zeroPoint = np.array([scale], np.float32), np.array([zp], np.int64)
        t.quantization = q
        sg.tensors.append(t)
        return len(sg.tensors) - 1

    i8 = s.TensorType.INT8
    x = tensor("x", (1, 16), i8, 0.05, 3)
    a = tensor("w1", (16, 16), i8, 0.01, 0, w1)
    h = tensor("h", (1, 16), i8, 0.2, -7)
    b = tensor("w2", (16, 16), i8, 0.01, 0, w2)
    y = tensor("y", (1, 16), i8, 0.8, 2)
    ops = []
    for inp, w, out in ((x, a, h), (h, b, y)):
        o = s.OperatorT()
        o.opcodeIndex = 0
        o.inputs, o.outputs = np.array([inp, w, -1], np.int32), np.array([out], np.int32)
        o.builtinOptionsType = s.BuiltinOptions.FullyConnectedOptions
        o.builtinOptions = s.FullyConnectedOptionsT()
        ops.append(o)
    sg.operators = ops
    sg.inputs, sg.outputs = np.array([x], np.int32), np.array([y], np.int32)
    m.subgraphs = [sg]
    fb = flatbuffers.Builder(1024)
    fb.Finish(m.Pack(fb), file_identifier=b"TFL3")
    return bytes(fb.Output())


def test_identical_weights_are_stored_once():
    _, shared = compile_tflite(_two_dense_model(True), name="m")
    _, apart = compile_tflite(_two_dense_model(False), name="m")
    assert apart["weights_bytes"] - shared["weights_bytes"] == 256
    assert [la["weights_bytes"] for la in shared["layers"]][1] < 256
    assert sum(la["weights_bytes"] for la in shared["layers"]) == shared["weights_bytes"]


def test_shared_weights_are_bit_exact():
    assert_bit_exact(_two_dense_model(True), count=16, spread={"min_distinct": 16})
