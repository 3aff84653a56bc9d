"""Read a TFLite flatbuffer into the IR (subgraph 0, static batch-1 shapes)."""

from __future__ import annotations

import re

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from ..errors import UserError
from ..ir import Graph, Op, Quant, Tensor

_TENSOR_TYPES = {
    schema.TensorType.INT8: "int8",
    schema.TensorType.UINT8: "uint8",
    schema.TensorType.INT16: "int16",
    schema.TensorType.INT32: "int32",
    schema.TensorType.INT64: "int64",
    schema.TensorType.FLOAT32: "float32",
    schema.TensorType.BOOL: "bool",
}
_TYPE_NAMES = {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
BUILTIN_NAMES = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
_PADDING = {schema.Padding.SAME: "SAME", schema.Padding.VALID: "VALID"}
_ACTIVATIONS = {
    v: k for k, v in vars(schema.ActivationFunctionType).items() if not k.startswith("_")
}


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _options(op) -> dict:
    """Builtin options as a plain dict with snake_case keys and enum values as names."""
    opts = op.builtinOptions
    if opts is None:
        return {}
    result = {}
    for key, value in vars(opts).items():
        key = _snake(key)
        if key == "padding":
            value = _PADDING.get(value, value)
        elif key == "fused_activation_function":
            value = _ACTIVATIONS.get(value, value)
        elif isinstance(value, np.ndarray):
            value = [int(v) for v in value]
        result[key] = value
    return result


def _is_tflite(data: bytes) -> bool:
    return len(data) >= 8 and data[4:8] == b"TFL3"


def read_tflite(data: bytes, source: str = "model") -> Graph:
    """Parse TFLite flatbuffer bytes into a Graph. Shapes are made static with batch 1."""
    if not _is_tflite(data):
        raise UserError(f"{source} is not a TFLite flatbuffer (no 'TFL3' identifier): "
                        "give a .tflite, .keras, .h5 or SavedModel directory")
    model = schema.ModelT.InitFromPackedBuf(bytearray(data), 0)
    if not model.subgraphs:
        raise UserError(f"{source} has no subgraph")
    if len(model.subgraphs) > 1:
        raise UserError(
            f"{source} has {len(model.subgraphs)} subgraphs (control flow); tinycompress "
            "compiles single-subgraph models: convert without WHILE/IF ops"
        )
    sg = model.subgraphs[0]

    names: list[str] = []
    seen: set[str] = set()
    for i, t in enumerate(sg.tensors):
        raw = t.name.decode() if isinstance(t.name, bytes) else (t.name or "")
        name = raw or f"tensor_{i}"
        if name in seen:
            name = f"{name}#{i}"
        seen.add(name)
        names.append(name)

    intermediate_ids = {int(i) for op in (sg.operators or [])
                        for i in (op.intermediates if op.intermediates is not None else [])}
    tensors: dict[str, Tensor] = {}
    for i, t in enumerate(sg.tensors):
        if t.type not in _TENSOR_TYPES:
            raise UserError(
                f"{source}: tensor '{names[i]}' has type {_TYPE_NAMES.get(t.type, t.type)}, "
                "which tinycompress does not support; quantize the model to INT8"
            )
        dtype = _TENSOR_TYPES[t.type]
        shape = tuple(int(d) for d in (t.shape if t.shape is not None else []))
        if t.shapeSignature is not None and len(t.shapeSignature):
            sig = [int(d) for d in t.shapeSignature]
            if any(d < 0 for d in sig[1:]):
                raise UserError(
                    f"{source}: tensor '{names[i]}' has dynamic shape {sig}; only the batch "
                    "dimension may be dynamic (it is fixed to 1)"
                )
        shape = tuple(1 if d < 0 else d for d in shape)
        quant = None
        q = t.quantization
        if q is not None and q.scale is not None and len(q.scale) > 0:
            zps = q.zeroPoint if q.zeroPoint is not None else np.zeros(len(q.scale), np.int64)
            quant = Quant(
                scale=tuple(float(s) for s in q.scale),
                zero_point=tuple(int(z) for z in zps),
                axis=int(q.quantizedDimension),
            )
        data = None
        buf = model.buffers[t.buffer] if t.buffer < len(model.buffers) else None
        if buf is not None and buf.data is not None and len(buf.data) > 0:
            raw_bytes = np.asarray(buf.data, dtype=np.uint8).tobytes()
            data = np.frombuffer(raw_bytes, dtype=np.dtype(dtype).newbyteorder("<")).astype(
                dtype
            )
            if data.size != int(np.prod(shape, dtype=np.int64)):
                raise UserError(f"{source}: constant '{names[i]}' holds {data.size} values "
                                f"for shape {list(shape)}")
            data = data.reshape(shape)
        tensors[names[i]] = Tensor(name=names[i], shape=shape, dtype=dtype, quant=quant,
                                   data=data, variable=bool(t.isVariable),
                                   intermediate=i in intermediate_ids)

    ops: list[Op] = []
    for index, op in enumerate(sg.operators):
        code = model.operatorCodes[op.opcodeIndex]
        builtin = max(int(code.builtinCode), int(code.deprecatedBuiltinCode))
        kind = BUILTIN_NAMES.get(builtin, f"BUILTIN_{builtin}")
        if builtin == schema.BuiltinOperator.CUSTOM:
            custom = code.customCode.decode() if code.customCode else "?"
            kind = f"CUSTOM:{custom}"
        inputs = [names[i] if i >= 0 else "" for i in (op.inputs if op.inputs is not None else [])]
        outputs = [names[i] for i in (op.outputs if op.outputs is not None else [])]
        inter = [names[i] for i in (op.intermediates if op.intermediates is not None else [])]
        ops.append(Op(kind=kind, inputs=inputs, outputs=outputs, options=_options(op),
                      name=outputs[0] if outputs else f"op_{index}", index=index,
                      intermediates=inter))

    return Graph(
        tensors=tensors,
        ops=ops,
        inputs=[names[i] for i in sg.inputs],
        outputs=[names[i] for i in sg.outputs],
    )
