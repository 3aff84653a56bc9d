"""Read a TFLite flatbuffer into the IR (subgraph 0, static batch-1 shapes)."""

from __future__ import annotations

import math
import re
import struct

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from ..errors import UserError, one_line
from ..ir import Graph, IRError, Op, Quant, Tensor
from .flatbuffer_check import verify_tflite
from .quirks import QuantError, normal_quant

_TENSOR_TYPES = {
    schema.TensorType.INT8: "int8",
    schema.TensorType.UINT8: "uint8",
    schema.TensorType.INT16: "int16",
    schema.TensorType.INT32: "int32",
    schema.TensorType.INT64: "int64",
    schema.TensorType.FLOAT32: "float32",
    schema.TensorType.BOOL: "bool",
}
_ZERO_POINT_RANGE = {schema.TensorType.INT8: (-128, 127), schema.TensorType.UINT8: (0, 255),
                     schema.TensorType.INT16: (-32768, 32767)}
_TYPE_NAMES = {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
BUILTIN_NAMES = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
_PADDING = {schema.Padding.SAME: "SAME", schema.Padding.VALID: "VALID"}
_ACTIVATIONS = {
    v: k for k, v in vars(schema.ActivationFunctionType).items() if not k.startswith("_")
}


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _options(op, ir_op: Op, source: str) -> dict:
    """Builtin options as a plain dict with snake_case keys and enum values as names."""
    opts = op.builtinOptions
    if opts is None:
        return {}
    result = {}
    for key, value in vars(opts).items():
        key = _snake(key)
        names = {"padding": _PADDING, "fused_activation_function": _ACTIVATIONS}.get(key)
        if names is not None:
            if value not in names:
                raise UserError(f"{source}: {ir_op.describe()} has {key} {value}, which is not "
                                "a value TFLite defines: the file is corrupted; re-export it")
            value = names[value]
        elif isinstance(value, np.ndarray):
            value = [int(v) for v in value]
        result[key] = value
    return result


def _is_tflite(data: bytes) -> bool:
    return len(data) >= 8 and data[4:8] == b"TFL3"


# What the generated object API raises on a file whose offsets it trusts (verify_tflite should
# have caught every such file first; this is the net under it).
_READ_ERRORS = (TypeError, struct.error, UnicodeDecodeError, ValueError, IndexError,
                OverflowError, RecursionError, MemoryError, AttributeError)


def _unpack(data: bytes, source: str) -> schema.ModelT:
    verify_tflite(data, source)
    try:
        return schema.ModelT.InitFromPackedBuf(bytearray(data), 0)
    except _READ_ERRORS as e:
        raise UserError(f"{source}: cannot read the flatbuffer ({type(e).__name__}: "
                        f"{one_line(str(e), 160)}): the file is corrupted; re-export it") from e


def read_tflite(data: bytes, source: str = "model") -> Graph:
    """Parse TFLite flatbuffer bytes into a Graph. Shapes are made static with batch 1.
    A file that is not a well-formed TFLite model is refused with one UserError line."""
    if not _is_tflite(data):
        raise UserError(f"{source} is not a TFLite flatbuffer (no 'TFL3' identifier): "
                        "give a .tflite, .keras, .h5 or SavedModel directory")
    model = _unpack(data, source)
    if not model.subgraphs:
        raise UserError(f"{source} has no subgraph")
    if len(model.subgraphs) > 1:
        raise UserError(
            f"{source} has {len(model.subgraphs)} subgraphs (control flow); tinycompress "
            "compiles single-subgraph models: convert without WHILE/IF ops"
        )
    sg = model.subgraphs[0]
    names = _tensor_names(sg)
    intermediate_ids = {int(i) for op in (sg.operators or []) for i in _ints(op.intermediates)}
    tensors: dict[str, Tensor] = {}
    for i, t in enumerate(sg.tensors or []):
        tensors[names[i]] = _tensor(t, names[i], model, data, source, i in intermediate_ids)
    ops = [_op(op, index, model, names, source) for index, op in enumerate(sg.operators or [])]
    graph = Graph(tensors=tensors, ops=ops, inputs=[names[i] for i in _ints(sg.inputs)],
                  outputs=[names[i] for i in _ints(sg.outputs)])
    _check_graph(graph, source)
    return graph


def _ints(values) -> list[int]:
    return [int(v) for v in values] if values is not None else []


def _tensor_names(sg) -> list[str]:
    """Unique tensor names: undecodable bytes replaced, empty names and repeats made unique."""
    names: list[str] = []
    seen: set[str] = set()
    for i, t in enumerate(sg.tensors or []):
        raw = t.name.decode("utf-8", "replace") if isinstance(t.name, bytes) else (t.name or "")
        name = base = raw or f"tensor_{i}"
        k = 0
        while name in seen:  # "x#3" may itself be taken
            k += 1
            name = f"{base}#{i}" + (f".{k}" if k > 1 else "")
        seen.add(name)
        names.append(name)
    return names


def _tensor(t, name: str, model, data: bytes, source: str, intermediate: bool) -> Tensor:
    if t.type not in _TENSOR_TYPES:
        raise UserError(
            f"{source}: tensor '{name}' has type {_TYPE_NAMES.get(t.type, t.type)}, "
            "which tinycompress does not support; quantize the model to INT8"
        )
    if t.sparsity is not None:
        raise UserError(f"{source}: tensor '{name}' is stored sparse (TFLite sparsity "
                        "parameters), which tinycompress does not read: convert without "
                        "sparsification (tinycompress compresses weights itself, see --weights)")
    if getattr(t, "externalBuffer", 0):
        raise UserError(f"{source}: tensor '{name}' keeps its data in an external buffer "
                        "file, which tinycompress does not read: export a self-contained model")
    dtype = _TENSOR_TYPES[t.type]
    sig = _ints(t.shapeSignature)
    if any(d < 0 for d in sig[1:]):
        raise UserError(f"{source}: tensor '{name}' has dynamic shape {sig}; only the batch "
                        "dimension may be dynamic (it is fixed to 1)")
    shape = tuple(1 if d < 0 else d for d in _ints(t.shape))
    if 0 in shape and not intermediate:
        raise UserError(f"{source}: tensor '{name}' has shape {list(shape)}, with no element: "
                        "tinycompress compiles tensors of at least one element")
    return Tensor(name=name, shape=shape, dtype=dtype, quant=_quant(t, name, shape, source),
                  data=_constant(t, name, shape, dtype, model, data), variable=bool(t.isVariable),
                  intermediate=intermediate)


def _quant(t, name: str, shape: tuple[int, ...], source: str) -> Quant | None:
    q = t.quantization
    if q is None or q.scale is None or len(q.scale) == 0:
        return None
    zps = None if q.zeroPoint is None else _ints(q.zeroPoint)
    try:
        axis, zps, _ = normal_quant(shape, len(q.scale), zps, int(q.quantizedDimension))
    except QuantError as e:
        raise UserError(f"{source}: tensor '{name}' has {e}: the model is malformed; "
                        "re-export it") from None
    scales = tuple(float(s) for s in q.scale)
    bad = next((s for s in scales if not (math.isfinite(s) and s > 0)), None)
    if bad is not None:
        raise UserError(f"{source}: tensor '{name}' has scale {bad}: quantisation scales are "
                        "positive and finite; re-export the model")
    lo, hi = _ZERO_POINT_RANGE.get(t.type, (-(2**63), 2**63 - 1))
    if any(not lo <= z <= hi for z in zps):
        z = next(z for z in zps if not lo <= z <= hi)
        raise UserError(f"{source}: tensor '{name}' has zero point {z}, outside the range of "
                        f"its type [{lo}, {hi}]: the model is malformed; re-export it")
    return Quant(scale=scales, zero_point=tuple(zps), axis=axis)


def _constant(t, name: str, shape: tuple[int, ...], dtype: str, model,
              data: bytes) -> np.ndarray | None:
    """The tensor's constant data (verify_tflite checked its size), None for activations."""
    buf = model.buffers[t.buffer] if model.buffers and t.buffer < len(model.buffers) else None
    if buf is None:
        return None
    if buf.data is not None and len(buf.data) > 0:
        raw = np.asarray(buf.data, dtype=np.uint8).tobytes()
    elif (buf.offset or 0) > 1 and (buf.size or 0) > 0:
        raw = data[buf.offset:buf.offset + buf.size]  # stored after the flatbuffer
    else:
        return None
    values = np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<")).astype(dtype)
    if values.size != int(np.prod(shape, dtype=np.int64)):
        raise UserError(f"constant '{name}' holds {values.size} values for shape {list(shape)}")
    return values.reshape(shape)


def _op(op, index: int, model, names: list[str], source: str) -> Op:
    code = model.operatorCodes[op.opcodeIndex]
    builtin = max(int(code.builtinCode), int(code.deprecatedBuiltinCode))
    kind = BUILTIN_NAMES.get(builtin, f"BUILTIN_{builtin}")
    if builtin == schema.BuiltinOperator.CUSTOM:
        custom = code.customCode.decode("utf-8", "replace") if code.customCode else "?"
        kind = f"CUSTOM:{custom}"
    inputs = [names[i] if i >= 0 else "" for i in _ints(op.inputs)]
    outputs = [names[i] for i in _ints(op.outputs)]
    result = Op(kind=kind, inputs=inputs, outputs=outputs, name=outputs[0] if outputs else
                f"op_{index}", index=index, intermediates=[names[i] for i in
                                                           _ints(op.intermediates)])
    result.options = _options(op, result, source)
    return result


def _check_graph(g: Graph, source: str) -> None:
    """The model-level invariants: graph inputs and outputs, then the IR's own (Graph.verify),
    each failure one UserError naming the file and the op or tensor. (A model without inputs is
    well-formed; emit refuses it, after the ops' checks.)"""
    if not g.outputs:
        raise UserError(f"{source} has no graph output: the model is malformed; re-export it")
    for what, names in (("input", g.inputs), ("output", g.outputs)):
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise UserError(f"{source}: graph {what} '{repeated[0]}' is listed twice: the model "
                            "is malformed; re-export it")
    for op in g.ops:
        if not op.outputs:
            raise UserError(f"{source}: {op.describe()} has no output: the model is malformed; "
                            "re-export it")
    produced = {t for op in g.ops for t in op.outputs}
    for name in g.outputs:
        if name not in produced:
            raise UserError(f"{source}: graph output '{name}' is not computed by any operator "
                            "(it is a graph input or a constant): tinycompress compiles outputs "
                            "that operators compute")
    try:
        g.verify()
    except IRError as e:
        raise UserError(f"{source}: {e}: the model is malformed; re-export it") from e
