"""Models for the report tests: the MLPerf Tiny keyword-spotting model, and a copy of it with its
weights pruned and shared as Deep Compression leaves them (int8 values edited in the flatbuffer:
the smallest 80% of each weight tensor zeroed, the rest snapped to 8 shared values)."""

from __future__ import annotations

from pathlib import Path

import flatbuffers
import numpy as np
from ai_edge_litert import schema_py_generated as s

# shared/ beside the repository (CI), or further up (a git worktree sits one folder deeper).
_HERE = Path(__file__).resolve()
_REL = Path("shared") / "models" / "mlperf-tiny" / "kws_ref_model.tflite"
KWS = next((p / _REL for p in _HERE.parents[2:] if (p / _REL).is_file()), _HERE.parents[2] / _REL)
WEIGHT_OPS = {s.BuiltinOperator.CONV_2D, s.BuiltinOperator.DEPTHWISE_CONV_2D,
              s.BuiltinOperator.FULLY_CONNECTED}


def prune_and_share(w: np.ndarray, sparsity: float = 0.8, clusters: int = 8) -> np.ndarray:
    """int8 weights with the smallest `sparsity` of them zeroed and the rest snapped to the
    nearest of `clusters` values (evenly spaced quantiles of the kept weights)."""
    flat = w.astype(np.int64).reshape(-1)
    keep = np.abs(flat) > np.quantile(np.abs(flat), sparsity)
    out = np.zeros_like(flat)
    if keep.any():
        levels = np.unique(np.round(np.quantile(flat[keep], np.linspace(0, 1, clusters))))
        levels = levels[levels != 0]
        nearest = np.abs(flat[keep, None] - levels[None, :]).argmin(axis=1)
        out[keep] = levels[nearest]
    return out.astype(np.int8).reshape(w.shape)


def compressed_tflite(src: Path = KWS) -> bytes:
    m = s.ModelT.InitFromPackedBuf(Path(src).read_bytes(), 0)
    sg = m.subgraphs[0]
    for op in sg.operators:
        code = m.operatorCodes[op.opcodeIndex]
        if max(code.builtinCode, code.deprecatedBuiltinCode) not in WEIGHT_OPS:
            continue
        t = sg.tensors[op.inputs[1]]
        buf = m.buffers[t.buffer]
        w = np.frombuffer(bytes(buf.data), np.int8)
        buf.data = np.frombuffer(prune_and_share(w).tobytes(), np.uint8)
    b = flatbuffers.Builder(1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())
