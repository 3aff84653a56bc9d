"""Structure-aware mutations of TFLite models, for the reader fuzzer's custom mutator.

Random bytes mostly end at the flatbuffer verifier. These mutations keep the file well-formed
(unpack with the schema's object API, change one thing, pack) and change what the model says:
shapes, types, quantisation (scales, zero points, axes), constant values, operator inputs and
outputs, options, the operator itself (a FULLY_CONNECTED becomes a CONV_2D with its tensors), the
graph's inputs and outputs. They reach the passes and the lowerings' checks with models that are
valid flatbuffers but hostile or nonsensical, which is where a missing check raises."""

from __future__ import annotations

import random
import warnings

import flatbuffers
import numpy as np
from ai_edge_litert import schema_py_generated as schema

from tinycompress.frontends.flatbuffer_check import OPTION_TYPES, expected_options
from tinycompress.ops import REGISTRY

INTS = (0, 1, 2, 3, -1, -2, 4, 7, 8, 16, 127, 128, 255, 256, -128, 65535, 2**31 - 1, -(2**31))
SCALES = (1.0, 0.5, 2.0, 1e-6, 1e-30, 1e30, 3.0e38, 1 / 256, 1 / 128)
TYPES = [v for k, v in vars(schema.TensorType).items() if not k.startswith("_")]
KINDS = sorted(getattr(schema.BuiltinOperator, k) for k in REGISTRY
               if hasattr(schema.BuiltinOperator, k))


def _dims(rng: random.Random, shape) -> np.ndarray:
    dims = [int(d) for d in (shape if shape is not None else [])]
    roll = rng.random()
    if roll < 0.2 and dims:
        dims.pop(rng.randrange(len(dims)))
    elif roll < 0.4 and len(dims) < 6:
        dims.insert(rng.randrange(len(dims) + 1), rng.choice((1, 2, 3)))
    elif dims:
        k = rng.randrange(len(dims))
        dims[k] = rng.choice((0, 1, 2, 3, -1, dims[k] + 1, max(dims[k] - 1, 0), 2 * dims[k],
                              255, 4096))
    return np.array(dims, np.int32)


def _tensor(m, rng: random.Random) -> None:
    sg = m.subgraphs[0]
    if not sg.tensors:
        return
    t = rng.choice(sg.tensors)
    roll = rng.random()
    if roll < 0.3:
        t.shape = _dims(rng, t.shape)
    elif roll < 0.4:
        t.type = rng.choice(TYPES)
    elif roll < 0.5:
        t.buffer = rng.randrange(len(m.buffers or [None]))
    elif roll < 0.55:
        t.isVariable = not t.isVariable
    else:
        _quantisation(t, rng)


def _quantisation(t, rng: random.Random) -> None:
    q = t.quantization
    if q is None or q.scale is None or rng.random() < 0.1:
        q = t.quantization = schema.QuantizationParametersT()
        q.scale, q.zeroPoint = [rng.choice(SCALES)], [0]
        return
    roll = rng.random()
    scales, zps = list(q.scale), list(q.zeroPoint if q.zeroPoint is not None else [0])
    if roll < 0.3:
        scales[rng.randrange(len(scales))] = rng.choice(SCALES) * rng.choice((1.0, 3.7, 0.01))
    elif roll < 0.55:
        zps[rng.randrange(len(zps))] = rng.choice((0, -128, 127, -1, 1, 5, 255, -32768))
    elif roll < 0.75:
        q.quantizedDimension = rng.choice((0, 1, 2, 3, -1, 5))
    else:  # per-channel along a random axis of the shape, or back to per-tensor
        shape = [int(d) for d in (t.shape if t.shape is not None else [])]
        n = shape[q.quantizedDimension] if shape and 0 <= q.quantizedDimension < len(shape) else 1
        n = rng.choice((1, max(n, 1), len(scales) + 1))
        scales, zps = [scales[0]] * n, [zps[0]] * n
    q.scale, q.zeroPoint = np.array(scales, np.float32), np.array(zps, np.int64)


def _buffer(m, rng: random.Random) -> None:
    full = [b for b in (m.buffers or []) if b.data is not None and len(b.data)]
    if full:
        b = rng.choice(full)
        data = np.array(b.data, np.uint8)
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.choice((0, 0x7F, 0x80, 0xFF, rng.randrange(256)))
        b.data = data


def _operator(m, rng: random.Random) -> None:
    sg = m.subgraphs[0]
    if not sg.operators:
        return
    op = rng.choice(sg.operators)
    n = len(sg.tensors or [])
    roll = rng.random()
    if roll < 0.3 and n:
        which = "inputs" if rng.random() < 0.7 else "outputs"
        idx = [int(i) for i in (getattr(op, which) if getattr(op, which) is not None else [])]
        if idx and rng.random() < 0.7:
            idx[rng.randrange(len(idx))] = rng.choice([-1] * (which == "inputs") + list(range(n)))
        elif idx and rng.random() < 0.5:
            idx.pop(rng.randrange(len(idx)))
        else:
            idx.append(rng.randrange(n))
        setattr(op, which, np.array(idx, np.int32))
    elif roll < 0.7:
        _options(op, rng)
    else:
        _change_kind(m, op, rng)


def _options(op, rng: random.Random) -> None:
    opts = op.builtinOptions
    fields = sorted(vars(opts)) if opts is not None else []
    if not fields:
        return
    key = rng.choice(fields)
    value = getattr(opts, key)
    if isinstance(value, float):
        setattr(opts, key, rng.choice((0.0, -1.0, 1e-9, 1e9, float("nan"), 2.5)))
    elif isinstance(value, (bool, int, np.integer)) or value is None:
        setattr(opts, key, rng.choice(INTS) if not isinstance(value, bool) else not value)
    elif isinstance(value, (list, np.ndarray)):
        setattr(opts, key, [rng.choice(INTS[:9]) for _ in range(rng.randint(0, 5))])


def _change_kind(m, op, rng: random.Random) -> None:
    """Another supported operator over the same tensors, with its default options."""
    code = schema.OperatorCodeT()
    code.builtinCode = rng.choice(KINDS)
    code.deprecatedBuiltinCode = min(code.builtinCode, 127)
    code.version = rng.choice((1, 2, 3, 4))
    m.operatorCodes.append(code)
    op.opcodeIndex = len(m.operatorCodes) - 1
    kind = next(k for k, v in vars(schema.BuiltinOperator).items() if v == code.builtinCode)
    want = expected_options(kind)
    cls = getattr(schema, OPTION_TYPES.get(want, "") + "T", None) if want else None
    op.builtinOptionsType = want if cls is not None else 0
    op.builtinOptions = cls() if cls is not None else None


def _graph_io(m, rng: random.Random) -> None:
    sg = m.subgraphs[0]
    n = len(sg.tensors or [])
    which = rng.choice(("inputs", "outputs"))
    idx = [int(i) for i in (getattr(sg, which) if getattr(sg, which) is not None else [])]
    if idx and rng.random() < 0.4:
        idx.pop(rng.randrange(len(idx)))
    elif n:
        idx.append(rng.randrange(n))
    setattr(sg, which, np.array(idx, np.int32))


# Mutations and their weights.
MUTATIONS = ((_tensor, 4), (_buffer, 1), (_operator, 4), (_graph_io, 1))


def mutate_model(data: bytes, rng: random.Random) -> bytes | None:
    """`data` with one to three structural changes, None when it does not unpack."""
    try:
        m = schema.ModelT.InitFromPackedBuf(bytearray(data), 0)
    except Exception:
        return None
    if not m.subgraphs or m.operatorCodes is None:
        return None
    choices = [f for f, w in MUTATIONS for _ in range(w)]
    b = flatbuffers.Builder(len(data) + 1024)
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            for _ in range(rng.randint(1, 3)):
                rng.choice(choices)(m, rng)
            b.Finish(m.Pack(b), file_identifier=b"TFL3")
    except Exception:  # a mutation that does not apply (an empty list, say): none this time
        return None
    return bytes(b.Output())
