"""Build small multi-operator TFLite models from the flatbuffer schema (tflite_builder builds
one-operator ones): for tests of how operators compose, e.g. that the planner elides views."""

from __future__ import annotations

import flatbuffers
import numpy as np
from ai_edge_litert import schema_py_generated as s

from tflite_builder import _TYPES, T, _camel, _options_of


def _tensor(m, name: str, t: T):
    tt = s.TensorT()
    tt.name = name
    tt.shape = np.array(t.shape, dtype=np.int32)
    tt.type = _TYPES[t.dtype]
    tt.buffer = 0
    if t.data is not None:
        b = s.BufferT()
        b.data = np.frombuffer(np.ascontiguousarray(t.data, dtype=t.dtype).tobytes(), np.uint8)
        m.buffers.append(b)
        tt.buffer = len(m.buffers) - 1
    if t.scale is not None:
        q = s.QuantizationParametersT()
        q.scale = np.array([t.scale], dtype=np.float32)
        q.zeroPoint = np.array([t.zero_point], dtype=np.int64)
        tt.quantization = q
    return tt


def graph_model(tensors: dict[str, T], ops: list[tuple], inputs: list[str],
                outputs: list[str]) -> bytes:
    """A model of `ops`, each (kind, input names, output names, options dict), in order, over
    the named `tensors` (per-tensor quantisation; constants carry data)."""
    m = s.ModelT()
    m.version = 3
    m.description = "tinycompress test graph"
    m.buffers = [s.BufferT()]
    names = list(tensors)
    kinds = list(dict.fromkeys(kind for kind, *_ in ops))
    m.operatorCodes = []
    for kind in kinds:
        code = s.OperatorCodeT()
        code.builtinCode = getattr(s.BuiltinOperator, kind)
        code.deprecatedBuiltinCode = min(code.builtinCode, 127)
        code.version = 1
        m.operatorCodes.append(code)
    sg = s.SubGraphT()
    sg.tensors = [_tensor(m, n, tensors[n]) for n in names]
    sg.operators = []
    for kind, ins, outs, options in ops:
        op = s.OperatorT()
        op.opcodeIndex = kinds.index(kind)
        op.inputs = np.array([names.index(n) for n in ins], dtype=np.int32)
        op.outputs = np.array([names.index(n) for n in outs], dtype=np.int32)
        if _options_of(kind) is not None:
            enum_name, cls = _options_of(kind)
            opts = cls()
            for key, value in (options or {}).items():
                setattr(opts, _camel(key), value)
            op.builtinOptionsType = getattr(s.BuiltinOptions, enum_name)
            op.builtinOptions = opts
        sg.operators.append(op)
    sg.inputs = np.array([names.index(n) for n in inputs], dtype=np.int32)
    sg.outputs = np.array([names.index(n) for n in outputs], dtype=np.int32)
    m.subgraphs = [sg]
    b = flatbuffers.Builder(1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())
