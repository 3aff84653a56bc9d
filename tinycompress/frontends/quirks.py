"""Harmless quantisation quirks that TFLM accepts and LiteRT refuses, normalised.

TFLM's own person-detection model (tflite-micro models/person_detect.tflite) quantises its 1-D
bias tensors with one scale per element but `quantized_dimension` 3, an axis a 1-D tensor does
not have. TFLM never reads the axis of a bias; LiteRT's interpreter refuses the file
("quantized_dimension must be in range [0, 1)"). The axis says nothing when

- there is one scale (per-tensor quantisation: the axis is meaningless), or
- the tensor has one dimension and one scale per element (axis 0 is the only possible one),

so both are read as axis 0. A per-channel quantisation with a single zero point (LiteRT wants one
per scale) means that zero point on every channel. Anything else out of range is refused.

`normal_quant` is the rule the reader applies; `normalise_tflite` applies it to the flatbuffer
(unpack, modify, pack), so that the reference interpreter runs an equivalent copy of a model the
compiler accepted; `quirk_notes` says what that copy changed, for the compile manifest."""

from __future__ import annotations

from collections import Counter

import flatbuffers
from ai_edge_litert import schema_py_generated as schema


class QuantError(ValueError):
    """The quantisation parameters are wrong, not merely quirky (the message says how)."""


def normal_quant(shape: tuple[int, ...], nscales: int, zero_points: list[int] | None,
                 axis: int) -> tuple[int, list[int], list[str]]:
    """(axis, zero points, notes) with the harmless quirks normalised; `notes` name each quirk
    (empty when there was none). Raises QuantError when the parameters are not usable."""
    notes = []
    if not 0 <= axis < max(len(shape), 1):
        if nscales == 1:
            notes.append(f"quantized_dimension {axis} on per-tensor tensors set to 0")
        elif len(shape) == 1 and nscales == shape[0]:
            notes.append(f"quantized_dimension {axis} on 1-D per-channel tensors (biases) set "
                         "to 0")
        else:
            raise QuantError(f"{nscales} scales along axis {axis}, which shape {list(shape)} "
                             "does not have")
        axis = 0
    zps = [int(z) for z in zero_points] if zero_points is not None else []
    if not zps:
        raise QuantError(f"{nscales} scale(s) but no zero point (TFLite wants one per scale)")
    if len(zps) == 1 and nscales > 1:
        notes.append("one zero point for per-channel scales repeated on every channel")
        zps = zps * nscales
    if len(zps) != nscales:
        raise QuantError(f"{nscales} scales but {len(zps)} zero points")
    return axis, zps, notes


def _normalise_model(model: schema.ModelT) -> list[str]:
    """Normalise the quirks of every tensor in place; the notes, each with its tensor count."""
    counts: Counter[str] = Counter()
    for sg in model.subgraphs or []:
        for t in sg.tensors or []:
            q = t.quantization
            if q is None or q.scale is None or len(q.scale) == 0:
                continue
            shape = tuple(int(d) for d in (t.shape if t.shape is not None else []))
            zps = None if q.zeroPoint is None else list(q.zeroPoint)
            try:
                axis, zps, notes = normal_quant(shape, len(q.scale), zps,
                                                int(q.quantizedDimension))
            except QuantError:
                continue  # the reader refuses it; nothing to normalise
            if notes:
                q.quantizedDimension = axis
                q.zeroPoint = zps
                counts.update(notes)
    return [f"{note} ({n} tensor{'s' if n > 1 else ''})" for note, n in sorted(counts.items())]


def quirk_notes(data: bytes) -> list[str]:
    """What normalise_tflite changes in `data` (empty: nothing, the file is used as it is)."""
    return _normalise_model(schema.ModelT.InitFromPackedBuf(bytearray(data), 0))


def normalise_tflite(data: bytes) -> tuple[bytes, list[str]]:
    """An equivalent copy of the TFLite flatbuffer `data` with the quirks normalised, and the
    notes saying what changed; `data` itself when there is nothing to change."""
    model = schema.ModelT.InitFromPackedBuf(bytearray(data), 0)
    notes = _normalise_model(model)
    if not notes:
        return data, []
    for buf in model.buffers or []:
        if (buf.offset or 0) > 1:  # data kept after the flatbuffer: the copy holds it inside
            buf.data = bytes(data[buf.offset:buf.offset + buf.size])
            buf.offset = buf.size = 0
    builder = flatbuffers.Builder(len(data) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output()), notes
