"""Verify a TFLite flatbuffer before anything reads it.

ai_edge_litert's generated object API (`schema_py_generated.ModelT`) trusts every offset in the
file: a corrupted or hostile file makes it raise whatever Python raises (TypeError, struct.error,
ValueError, ...), loop over a vector that claims four billion entries, or hand back a model whose
indices point nowhere. `verify_tflite` walks the file first with bounds-checked reads, the way
flatbuffers' C++ `Verifier` does, and then checks what the schema cannot say:

- structure: the file size (8 bytes to 2 GiB), the root offset, every table (its vtable inside the file, even-sized, its fields
  inside the table), every vector and string (length inside the file, strings NUL-terminated),
  alignment as the C++ verifier (and so the reference interpreter) requires, a budget on the
  tables and vector bytes visited so that offsets shared many times cannot amplify a small file;
- content: tensor types are TensorType values; shapes are at most MAX_RANK dimensions of at
  least -1 (dynamic) and at most MAX_TENSOR_ELEMENTS elements (MAX_TOTAL_ELEMENTS over the model),
  so nothing downstream allocates gigabytes; buffer indices are in range and a constant's bytes
  are its shape times its element size; operator opcode, input, output and intermediate indices
  are in range (-1, "absent", only for inputs); subgraph inputs and outputs are in range; the
  builtin options table has the type the operator takes; metadata and signatures point at
  buffers, subgraphs and tensors that exist.

Every failure raises `UserError("<source>: <what is wrong>: the file is corrupted; re-export
it")`. Names are not checked here: the reader decodes them as UTF-8 with replacement.

Field numbers are the vtable slots of tensorflow/compiler/mlir/lite/schema/schema.fbs (the same as
in schema_py_generated: slot k is at vtable offset 4 + 2k)."""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field

from ai_edge_litert import schema_py_generated as schema

from ..errors import UserError

MAX_FILE_BYTES = (1 << 31) - 1  # flatbuffers' 32-bit offsets address no more
MAX_RANK = 16
MAX_TENSOR_ELEMENTS = 1 << 24
MAX_TOTAL_ELEMENTS = 1 << 27
MAX_TABLES = 1_000_000

# Bytes per element of the tensor types whose constants have a fixed size (sub-byte, string and
# resource types are not size-checked here; the reader refuses them).
ITEMSIZE = {
    "FLOAT32": 4, "FLOAT16": 2, "INT32": 4, "UINT8": 1, "INT64": 8, "BOOL": 1, "INT16": 2,
    "COMPLEX64": 8, "INT8": 1, "FLOAT64": 8, "COMPLEX128": 16, "UINT64": 8, "UINT32": 4,
    "UINT16": 2, "BFLOAT16": 2, "FLOAT8_E4M3FN": 1, "FLOAT8_E5M2": 1,
}
TYPE_NAMES = {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
OPTION_TYPES = {v: k for k, v in vars(schema.BuiltinOptions).items() if not k.startswith("_")}
OPERATOR_NAMES = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}

# Builtin operator -> BuiltinOptions name where it is not the operator's name in CamelCase +
# "Options". Operators missing from both are not checked (they take no options, or their options
# are named irregularly).
OPTION_NAMES = {
    "AVERAGE_POOL_2D": "Pool2DOptions", "MAX_POOL_2D": "Pool2DOptions",
    "L2_POOL_2D": "Pool2DOptions", "DEPTHWISE_CONV_2D": "DepthwiseConv2DOptions",
    "CONV_2D": "Conv2DOptions", "CONV_3D": "Conv3DOptions", "CONV_3D_TRANSPOSE": "Conv3DOptions",
    "MEAN": "ReducerOptions", "SUM": "ReducerOptions", "REDUCE_MAX": "ReducerOptions",
    "REDUCE_MIN": "ReducerOptions", "REDUCE_PROD": "ReducerOptions", "REDUCE_ANY": "ReducerOptions",
    "REDUCE_ALL": "ReducerOptions", "PADV2": "PadV2Options", "SVDF": "SVDFOptions",
    "L2_NORMALIZATION": "L2NormOptions", "LSTM": "LSTMOptions",
    "UNIDIRECTIONAL_SEQUENCE_LSTM": "UnidirectionalSequenceLSTMOptions",
    "BIDIRECTIONAL_SEQUENCE_LSTM": "BidirectionalSequenceLSTMOptions",
    "UNIDIRECTIONAL_SEQUENCE_RNN": "SequenceRNNOptions", "RNN": "RNNOptions",
    "BATCH_MATMUL": "BatchMatMulOptions", "MIRROR_PAD": "MirrorPadOptions",
    "RESIZE_NEAREST_NEIGHBOR": "ResizeNearestNeighborOptions", "SPLIT_V": "SplitVOptions",
    "LEAKY_RELU": "LeakyReluOptions", "HARD_SWISH": "HardSwishOptions",
    "MAXIMUM": "MaximumMinimumOptions", "MINIMUM": "MaximumMinimumOptions",
    "ARG_MAX": "ArgMaxOptions", "ARG_MIN": "ArgMinOptions",
    "DEPTH_TO_SPACE": "DepthToSpaceOptions", "SPACE_TO_DEPTH": "SpaceToDepthOptions",
    "LOCAL_RESPONSE_NORMALIZATION": "LocalResponseNormalizationOptions",
    "EMBEDDING_LOOKUP_SPARSE": "EmbeddingLookupSparseOptions",
    "SPACE_TO_BATCH_ND": "SpaceToBatchNDOptions", "BATCH_TO_SPACE_ND": "BatchToSpaceNDOptions",
    "LSH_PROJECTION": "LSHProjectionOptions", "TRANSPOSE_CONV": "TransposeConvOptions",
    "FAKE_QUANT": "FakeQuantOptions", "RESIZE_BILINEAR": "ResizeBilinearOptions",
    "LOG_SOFTMAX": "LogSoftmaxOptions", "SQUARED_DIFFERENCE": "SquaredDifferenceOptions",
}


CORRUPTED = "the file is corrupted; re-export it"


class Corrupt(Exception):
    """A structural or index error; verify_tflite turns it into a UserError naming the file and
    `fix` (what to do about it)."""

    def __init__(self, message: str, fix: str = CORRUPTED):
        super().__init__(message)
        self.fix = fix


@dataclass
class _Reader:
    data: bytes
    tables: int = 0
    vector_bytes: int = 0
    budget: int = 0

    def __post_init__(self):
        self.budget = 2 * len(self.data) + (1 << 16)

    def read(self, fmt: str, pos: int, what: str) -> int:
        size = struct.calcsize(fmt)
        if pos < 0 or pos + size > len(self.data):
            raise Corrupt(f"{what} at byte {pos} lies outside the file ({len(self.data)} bytes)")
        if pos % size:
            raise Corrupt(f"{what} at byte {pos} is not aligned to {size} bytes")
        return struct.unpack_from("<" + fmt, self.data, pos)[0]

    def deref(self, pos: int, what: str) -> int:
        """The absolute position an unsigned offset stored at `pos` points to."""
        target = pos + self.read("I", pos, what)
        if target >= len(self.data):
            raise Corrupt(f"{what} points to byte {target}, past the end of the file "
                          f"({len(self.data)} bytes)")
        return target

    def table(self, pos: int, what: str) -> "_Table":
        self.tables += 1
        if self.tables > MAX_TABLES:
            raise Corrupt(f"more than {MAX_TABLES} tables (offsets reused over and over)")
        vt = pos - self.read("i", pos, f"{what}: table")
        vt_len = self.read("H", vt, f"{what}: vtable")
        obj_len = self.read("H", vt + 2, f"{what}: vtable")
        if vt_len < 4 or vt_len % 2 or vt + vt_len > len(self.data):
            raise Corrupt(f"{what}: vtable at byte {vt} has an invalid size {vt_len}")
        if obj_len < 4 or pos + obj_len > len(self.data):
            raise Corrupt(f"{what}: table at byte {pos} of {obj_len} bytes runs past the end of "
                          f"the file ({len(self.data)} bytes)")
        offsets = struct.unpack_from(f"<{(vt_len - 4) // 2}H", self.data, vt + 4)
        return _Table(self, pos, obj_len, offsets, what)

    def spend(self, nbytes: int, what: str) -> None:
        self.vector_bytes += nbytes
        if self.vector_bytes > self.budget:
            raise Corrupt(f"{what}: the vectors reached add up to more than twice the file size "
                          "(offsets reused over and over)")


@dataclass
class _Table:
    r: _Reader
    pos: int
    obj_len: int
    offsets: tuple[int, ...]
    what: str

    def field(self, slot: int, size: int, name: str) -> int | None:
        """Absolute position of field `slot` (`size` bytes), None when absent."""
        off = self.offsets[slot] if slot < len(self.offsets) else 0
        if off == 0:
            return None
        if off < 4 or off + size > self.obj_len:
            raise Corrupt(f"{self.what}: field {name} at offset {off} lies outside its table "
                          f"({self.obj_len} bytes)")
        return self.pos + off

    def scalar(self, slot: int, fmt: str, name: str, default: int = 0) -> int:
        pos = self.field(slot, struct.calcsize(fmt), name)
        return default if pos is None else self.r.read(fmt, pos, f"{self.what}: {name}")

    def child(self, slot: int, name: str) -> "_Table | None":
        pos = self.field(slot, 4, name)
        if pos is None:
            return None
        return self.r.table(self.r.deref(pos, f"{self.what}: {name}"), f"{self.what} {name}")

    def vector(self, slot: int, elem: int, name: str) -> tuple[int, int] | None:
        """(start of the elements, count) of a vector field, None when absent."""
        pos = self.field(slot, 4, name)
        if pos is None:
            return None
        what = f"{self.what}: {name}"
        at = self.r.deref(pos, what)
        count = self.r.read("I", at, what)
        end = at + 4 + count * elem
        if end > len(self.r.data):
            raise Corrupt(f"{what}: {count} elements from byte {at} run past the end of the "
                          f"file ({len(self.r.data)} bytes)")
        self.r.spend(count * elem, what)
        return at + 4, count

    def ints(self, slot: int, fmt: str, name: str) -> list[int] | None:
        vec = self.vector(slot, struct.calcsize(fmt), name)
        if vec is None:
            return None
        start, count = vec
        return list(struct.unpack_from(f"<{count}{fmt}", self.r.data, start))

    def string(self, slot: int, name: str) -> bytes | None:
        vec = self.vector(slot, 1, name)
        if vec is None:
            return None
        start, count = vec
        if start + count >= len(self.r.data) or self.r.data[start + count] != 0:
            raise Corrupt(f"{self.what}: string {name} is not NUL-terminated")
        return bytes(self.r.data[start:start + count])

    def tables(self, slot: int, name: str, item: str) -> list["_Table"]:
        vec = self.vector(slot, 4, name)
        if vec is None:
            return []
        start, count = vec
        return [self.r.table(self.r.deref(start + 4 * i, f"{self.what}: {name}[{i}]"),
                             f"{item} {i}") for i in range(count)]

    def union(self, type_slot: int, name: str) -> tuple[int, "_Table | None"]:
        """(type, table) of a union field (its type in `type_slot`, its value in the next)."""
        kind = self.scalar(type_slot, "B", f"{name}_type")
        value = self.child(type_slot + 1, name) if kind else None
        return kind, value


# --- the schema walk: every table the object API unpacks, read with checks ----------------------

@dataclass
class _Tensor:
    shape: list[int]
    type: int
    buffer: int
    variable: bool
    signature: list[int] | None
    external: int = 0


@dataclass
class _Op:
    opcode: int
    inputs: list[int]
    outputs: list[int]
    intermediates: list[int]
    options_type: int


@dataclass
class _SubGraph:
    tensors: list[_Tensor] = field(default_factory=list)
    inputs: list[int] = field(default_factory=list)
    outputs: list[int] = field(default_factory=list)
    ops: list[_Op] = field(default_factory=list)


@dataclass
class _Model:
    codes: list[int]  # builtin code of each operator code
    subgraphs: list[_SubGraph]
    buffers: list[tuple[int, int, int]]  # (bytes inside the flatbuffer, offset, size)
    metadata: list[int]  # buffer index of each metadata entry
    signatures: list[tuple[int, list[int]]]  # (subgraph index, tensor indices)


def _sparse_vector(t: _Table, type_slot: int, name: str) -> None:
    kind, value = t.union(type_slot, name)
    elem = {1: 4, 2: 2, 3: 1}.get(kind)  # Int32Vector, Uint16Vector, Uint8Vector
    if value is not None and elem is not None:
        value.vector(0, elem, "values")


def _quantization(t: _Table) -> None:
    for slot, name in ((0, "min"), (1, "max"), (2, "scale")):
        t.vector(slot, 4, name)
    t.vector(3, 8, "zero_point")
    kind, details = t.union(4, "details")
    if details is not None and kind == 1:  # CustomQuantization
        details.vector(0, 1, "custom")
    t.scalar(6, "i", "quantized_dimension")


def _sparsity(t: _Table) -> None:
    t.vector(0, 4, "traversal_order")
    t.vector(1, 4, "block_map")
    for dim in t.tables(2, "dim_metadata", f"{t.what} dimension"):
        dim.scalar(0, "b", "format")
        dim.scalar(1, "i", "dense_size")
        _sparse_vector(dim, 2, "array_segments")
        _sparse_vector(dim, 4, "array_indices")


def _tensor(t: _Table) -> _Tensor:
    result = _Tensor(shape=t.ints(0, "i", "shape") or [], type=t.scalar(1, "b", "type"),
                     buffer=t.scalar(2, "I", "buffer"),
                     variable=bool(t.scalar(5, "B", "is_variable")),
                     signature=t.ints(7, "i", "shape_signature"),
                     external=t.scalar(10, "I", "external_buffer"))
    t.string(3, "name")
    for slot, walk in ((4, _quantization), (6, _sparsity)):
        child = t.child(slot, "quantization" if slot == 4 else "sparsity")
        if child is not None:
            walk(child)
    t.scalar(8, "B", "has_rank")
    for variant in t.tables(9, "variant_tensors", f"{t.what} variant"):
        variant.vector(0, 4, "shape")
        variant.scalar(1, "b", "type")
        variant.scalar(2, "B", "has_rank")
    return result


def _operator(t: _Table) -> _Op:
    op = _Op(opcode=t.scalar(0, "I", "opcode_index"), inputs=t.ints(1, "i", "inputs") or [],
             outputs=t.ints(2, "i", "outputs") or [],
             intermediates=t.ints(8, "i", "intermediates") or [],
             options_type=t.union(3, "builtin_options")[0])
    t.vector(5, 1, "custom_options")
    t.scalar(6, "b", "custom_options_format")
    t.vector(7, 1, "mutating_variable_inputs")
    t.scalar(9, "Q", "large_custom_options_offset")
    t.scalar(10, "Q", "large_custom_options_size")
    t.union(11, "builtin_options_2")
    t.scalar(13, "i", "debug_metadata_index")
    return op


def _subgraph(t: _Table, k: int) -> _SubGraph:
    prefix = f"subgraph {k} " if k else ""
    sg = _SubGraph()
    sg.tensors = [_tensor(x) for x in t.tables(0, "tensors", f"{prefix}tensor")]
    sg.inputs = t.ints(1, "i", "inputs") or []
    sg.outputs = t.ints(2, "i", "outputs") or []
    sg.ops = [_operator(x) for x in t.tables(3, "operators", f"{prefix}operator")]
    t.string(4, "name")
    t.scalar(5, "i", "debug_metadata_index")
    return sg


def _signature(t: _Table) -> tuple[int, list[int]]:
    tensors = []
    for slot, name in ((0, "inputs"), (1, "outputs")):
        for m in t.tables(slot, name, f"{t.what} {name[:-1]}"):
            m.string(0, "name")
            tensors.append(m.scalar(1, "I", "tensor_index"))
    t.string(2, "signature_key")
    return t.scalar(4, "I", "subgraph_index"), tensors


def _buffer(t: _Table) -> tuple[int, int, int]:
    data = t.vector(0, 1, "data")
    return (data[1] if data else 0), t.scalar(1, "Q", "offset"), t.scalar(2, "Q", "size")


def _model(r: _Reader) -> _Model:
    if len(r.data) < 8:
        raise Corrupt(f"{len(r.data)} bytes are too few for a flatbuffer")
    if len(r.data) > MAX_FILE_BYTES:
        raise Corrupt(f"{len(r.data)} bytes are more than a flatbuffer addresses "
                      f"({MAX_FILE_BYTES})")
    root = r.table(r.deref(0, "the root offset"), "the model")
    root.scalar(0, "I", "version")
    codes = []
    for c in root.tables(1, "operator_codes", "operator code"):
        c.string(1, "custom_code")
        c.scalar(2, "i", "version")
        codes.append(max(c.scalar(0, "b", "deprecated_builtin_code"),
                         c.scalar(3, "i", "builtin_code")))
    subgraphs = [_subgraph(t, k) for k, t in enumerate(root.tables(2, "subgraphs", "subgraph"))]
    root.string(3, "description")
    buffers = [_buffer(b) for b in root.tables(4, "buffers", "buffer")]
    root.vector(5, 4, "metadata_buffer")
    metadata = []
    for m in root.tables(6, "metadata", "metadata"):
        m.string(0, "name")
        metadata.append(m.scalar(1, "I", "buffer"))
    signatures = [_signature(s) for s in root.tables(7, "signature_defs", "signature")]
    for g in root.tables(8, "external_buffer_groups", "external buffer group"):
        g.string(0, "name")
    for e in root.tables(9, "external_buffers", "external buffer"):
        for slot, fmt, name in ((0, "I", "id"), (1, "I", "group"), (2, "Q", "offset"),
                                (3, "Q", "length")):
            e.scalar(slot, fmt, name)
        e.string(4, "packing")
    return _Model(codes, subgraphs, buffers, metadata, signatures)


# --- content: indices, types, shapes and sizes ----------------------------------------------------

def expected_options(kind: str) -> int:
    """The BuiltinOptions type an operator takes, 0 when it takes none or it is not known."""
    name = OPTION_NAMES.get(kind) or "".join(w.capitalize() for w in kind.split("_")) + "Options"
    return int(getattr(schema.BuiltinOptions, name, 0))


def _elements(shape: list[int]) -> int:
    return math.prod(max(d, 1) for d in shape)


def _check_tensor(what: str, t: _Tensor, m: _Model) -> int:
    """The tensor's element count, after checking its type, shape and buffer."""
    type_name = TYPE_NAMES.get(t.type)
    if type_name is None:
        raise Corrupt(f"{what} has type {t.type}, which is not a TensorType")
    for name, dims in (("shape", t.shape), ("shape_signature", t.signature or [])):
        if len(dims) > MAX_RANK:
            raise Corrupt(f"{what} has a {name} of {len(dims)} dimensions (at most {MAX_RANK})")
        if any(d < -1 for d in dims):
            raise Corrupt(f"{what} has {name} {dims}, with a dimension below -1")
    elements = _elements(t.shape)
    if elements > MAX_TENSOR_ELEMENTS:
        raise Corrupt(f"{what} has shape {t.shape}: {elements} elements, more than tinycompress "
                      f"handles ({MAX_TENSOR_ELEMENTS})",
                      "a microcontroller model holds far fewer; check the export")
    if t.buffer >= len(m.buffers):
        raise Corrupt(f"{what} refers to buffer {t.buffer}, but the file has {len(m.buffers)} "
                      "buffers")
    inside, offset, size = m.buffers[t.buffer]
    nbytes = inside or (size if offset > 1 else 0)
    if nbytes and type_name in ITEMSIZE:
        if any(d < 0 for d in t.shape):
            raise Corrupt(f"{what} is a constant (buffer {t.buffer}) with dynamic shape {t.shape}")
        want = math.prod(t.shape) * ITEMSIZE[type_name]
        if want != nbytes:
            raise Corrupt(f"{what} has shape {t.shape} of {type_name} ({want} bytes), but its "
                          f"buffer {t.buffer} holds {nbytes} bytes")
    return elements


def _check_indices(what: str, name: str, indices: list[int], count: int, optional: bool) -> None:
    for k, i in enumerate(indices):
        if i == -1 and optional:
            continue
        if not 0 <= i < count:
            raise Corrupt(f"{what} {name} {k} is tensor {i}, but the subgraph has {count} tensors"
                          + (" (-1 marks an absent input)" if optional else ""))


def _check_op(what: str, op: _Op, m: _Model, ntensors: int) -> None:
    if op.opcode >= len(m.codes):
        raise Corrupt(f"{what} uses operator code {op.opcode}, but the file has {len(m.codes)}")
    kind = OPERATOR_NAMES.get(m.codes[op.opcode])
    what = f"{what} ({kind})" if kind else what
    _check_indices(what, "input", op.inputs, ntensors, optional=True)
    _check_indices(what, "output", op.outputs, ntensors, optional=False)
    _check_indices(what, "intermediate", op.intermediates, ntensors, optional=False)
    if kind is None or not op.options_type:
        return
    given = OPTION_TYPES.get(op.options_type)
    if given is None:
        raise Corrupt(f"{what} has builtin options of type {op.options_type}, which is not a "
                      "BuiltinOptions value")
    want = expected_options(kind)
    if want and op.options_type != want:
        raise Corrupt(f"{what} carries {given}, but {kind} takes {OPTION_TYPES[want]}")


def _check_subgraph(k: int, sg: _SubGraph, m: _Model) -> int:
    prefix = f"subgraph {k} " if k else ""
    total = 0
    for i, t in enumerate(sg.tensors):
        total += _check_tensor(f"{prefix}tensor {i}", t, m)
    for j, op in enumerate(sg.ops):
        _check_op(f"{prefix}operator {j}", op, m, len(sg.tensors))
    for name, indices in (("input", sg.inputs), ("output", sg.outputs)):
        _check_indices(f"subgraph {k}", name, indices, len(sg.tensors), False)
    return total


def _check_model(m: _Model, file_size: int) -> None:
    for b, (inside, offset, size) in enumerate(m.buffers):
        if offset > 1 and offset + size > file_size:
            raise Corrupt(f"buffer {b} keeps {size} bytes at byte {offset}, past the end of the "
                          f"file ({file_size} bytes)")
    total = sum(_check_subgraph(k, sg, m) for k, sg in enumerate(m.subgraphs))
    if total > MAX_TOTAL_ELEMENTS:
        raise Corrupt(f"the tensors hold {total} elements, more than tinycompress handles "
                      f"({MAX_TOTAL_ELEMENTS})", "a microcontroller model holds far fewer")
    for k, b in enumerate(m.metadata):
        if b >= len(m.buffers):
            raise Corrupt(f"metadata {k} refers to buffer {b}, but the file has "
                          f"{len(m.buffers)} buffers")
    for k, (sg, tensors) in enumerate(m.signatures):
        if sg >= len(m.subgraphs):
            raise Corrupt(f"signature {k} refers to subgraph {sg}, but the file has "
                          f"{len(m.subgraphs)}")
        _check_indices(f"signature {k}", "tensor", tensors, len(m.subgraphs[sg].tensors), False)


def verify_tflite(data: bytes, source: str = "model") -> None:
    """Raise a one-line UserError naming `source` and the fault unless `data` is a well-formed
    TFLite flatbuffer whose indices, types, shapes and sizes are consistent."""
    try:
        r = _Reader(bytes(data))
        _check_model(_model(r), len(r.data))
    except Corrupt as e:
        raise UserError(f"{source}: {e}: {e.fix}") from None
