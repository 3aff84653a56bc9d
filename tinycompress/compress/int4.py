"""Post-training 4-bit weights, applied to an INT8 TFLite model: round-to-nearest or GPTQ.

The INT8 model (the converter's, calibrated) keeps its graph, activations and requantisation
arithmetic; every FULLY_CONNECTED, CONV_2D and DEPTHWISE_CONV_2D weight tensor with zero point 0
gets values on a 4-bit grid and a new scale, and its bias is re-quantised to the new accumulator
grid. The result is still an INT8 TFLite model whose weights are int8 values in [-7, 7], so the
reference interpreter runs it and the generated C (weights stored as `int4`, two a byte) is
verified bit-exactly against it.

Grid. Per output channel (or per tensor, as the INT8 model has it), symmetric, zero point 0:
``s4 = s8 * max|q8| / 7`` and ``q4`` in -7..7. The narrow range (no -8) keeps the grid symmetric
about zero, as TFLite's int8 weights use -127..127; the int4 storage and kernels take -8 too
(a model quantised elsewhere may hold it). A channel of zeros keeps its scale.

Round-to-nearest (``rtn``): ``q4 = round(q8 * s8 / s4)``, half away from zero. The source values are
the INT8 model's (``q8 s8``), within half an int8 step (1/36 of an int4 step) of the float weights,
so a weight that lies within that of a rounding boundary can land one step from where rounding the
float weight would put it. A model whose weights already lie on a 4-bit grid (a QAT 4-bit export,
``max|w| = 7 s4`` per channel, which the converter quantises to ``q8 = round(q4 * 127 / 7)``) gets
exactly its values back: the error of ``q8`` is at most 0.5 * 7 / 127 < 0.03 of an int4 step.

GPTQ (``gptq``, Frantar et al. 2023, "OPTQ: accurate quantization for generative pre-trained
transformers"): per layer, in graph order, the layer's inputs on the calibration data are read from
the model with the earlier layers already at 4 bits (the interpreter, every tensor kept), as the
rows of ``X`` (a convolution's input patches in the filter's order, padding as 0); ``H = X^T X / n``
plus 1% of its mean diagonal (dampening). The columns of the weight matrix are quantised one at a
time, the largest diagonal of ``H`` first ("act order"), and each column's rounding error is spread
over the columns not yet quantised through the upper Cholesky factor ``U`` of ``H^-1``:
``W[:, j>i] -= (w_i - q_i) / U[i, i] * U[i, j>i]``. This minimises the layer's output error
``||(W - Q) X||`` column by column instead of the weight error. A depthwise filter's output channel
sees one input channel, so each has its own ``H`` (kh*kw square). Columns whose input is always
zero (diagonal 0) get ``H[i, i] = 1`` and take no error. Rows are independent given ``H``, so the
weights are handled in int8 units per row (``q8``, step ``s4 / s8``).

Bias: the INT8 bias ``b8`` on the grid ``s_in * s8`` becomes ``round(b8 * s8 / s4)`` on
``s_in * s4`` (its scale written too: TFLite checks ``bias scale = input scale * filter scale``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import UserError

__all__ = ["WEIGHT_BITS", "METHODS", "INT4_QMAX", "check_weight_bits", "check_method",
           "quantize_int4", "gptq_rows", "hessian"]

WEIGHT_BITS = (8, 4)
METHODS = ("rtn", "gptq")
INT4_QMAX = 7
DAMP = 0.01
MAX_GPTQ_SAMPLES = 500  # as many as the converter's calibration takes
WEIGHT_OPS = ("FULLY_CONNECTED", "CONV_2D", "DEPTHWISE_CONV_2D")


def check_weight_bits(bits) -> int:
    """The weight width as an int, or a UserError naming the choices."""
    if isinstance(bits, bool) or not isinstance(bits, (int, str)) or str(bits).strip() not in {
            str(b) for b in WEIGHT_BITS}:
        raise UserError(f"--weight-bits {bits} is not supported: choose "
                        f"{' or '.join(map(str, WEIGHT_BITS))}")
    return int(bits)


def check_method(method: str) -> str:
    if method not in METHODS:
        raise UserError(f"--weight-method '{method}' is unknown: choose {' or '.join(METHODS)} "
                        "(round to nearest, or GPTQ error compensation from calibration data)")
    return method


def _round_away(x):
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


@dataclass
class WeightLayer:
    """One weight op of the flatbuffer, its weights as rows (one per output channel)."""

    op: object  # schema OperatorT
    kind: str
    weight: int  # tensor indices
    bias: int | None
    input: int
    rows: np.ndarray  # int64 [rows][cols]: FC [out][in], CONV OHWI, DW [C*M][kh*kw]
    scale: np.ndarray  # float64 per row (a per-tensor scale repeated)
    per_channel: bool

    def to_tensor(self, rows: np.ndarray, shape) -> np.ndarray:
        if self.kind == "DEPTHWISE_CONV_2D":
            return rows.T.reshape(shape)
        return rows.reshape(shape)


def weight_layers(m) -> list[WeightLayer]:
    """The FULLY_CONNECTED / CONV_2D / DEPTHWISE_CONV_2D ops of subgraph 0 whose int8 weights
    have zero point 0 (the converter's), in graph order."""
    from ..frontends.tflite import BUILTIN_NAMES

    sg = m.subgraphs[0]
    codes = [max(c.builtinCode, c.deprecatedBuiltinCode) for c in m.operatorCodes]
    out = []
    for op in sg.operators:
        kind = BUILTIN_NAMES.get(codes[op.opcodeIndex])
        if kind not in WEIGHT_OPS or len(op.inputs) < 2 or op.inputs[1] < 0:
            continue
        t = sg.tensors[op.inputs[1]]
        q = t.quantization
        data = m.buffers[t.buffer].data if t.buffer < len(m.buffers) else None
        if t.type != 9 or q is None or q.scale is None or data is None or len(data) == 0:
            continue  # not a constant int8 tensor (9: TensorType.INT8)
        if np.any(np.asarray(q.zeroPoint if q.zeroPoint is not None else [0]) != 0):
            continue
        w = np.frombuffer(bytes(bytearray(data)), np.int8).astype(np.int64).reshape(t.shape)
        rows = (w.reshape(-1, w.shape[-1]).T if kind == "DEPTHWISE_CONV_2D"
                else w.reshape(w.shape[0], -1))
        scale = np.asarray(q.scale, np.float64).reshape(-1)
        per_channel = scale.size > 1
        if per_channel and scale.size != rows.shape[0]:
            continue
        bias = op.inputs[2] if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
        out.append(WeightLayer(op, kind, op.inputs[1], bias, op.inputs[0], rows,
                               np.broadcast_to(scale, rows.shape[:1]).copy(), per_channel))
    return out


def int4_step(layer: WeightLayer) -> np.ndarray:
    """Per row, the int4 step in int8 units: max|q8| / 7 (per tensor: the tensor's max)."""
    peak = np.abs(layer.rows).max(axis=1) if layer.per_channel else np.full(
        layer.rows.shape[0], np.abs(layer.rows).max(initial=0))
    return np.where(peak > 0, peak / INT4_QMAX, 1.0).astype(np.float64)


def round_to_nearest(rows: np.ndarray, step: np.ndarray) -> np.ndarray:
    return np.clip(_round_away(rows / step[:, None]), -INT4_QMAX, INT4_QMAX).astype(np.int64)


def gptq_rows(w: np.ndarray, step: np.ndarray, h: np.ndarray, damp: float = DAMP,
              act_order: bool = True) -> np.ndarray:
    """GPTQ of the rows `w` (float, [rows][cols]) onto the grids `step` (per row) given the
    input Hessian `h` ([cols][cols]); returns the int values (-7..7)."""
    w = np.array(w, np.float64)
    h = np.array(h, np.float64)
    cols = w.shape[1]
    diag = np.diag(h).copy()
    dead = diag <= 0
    h[dead, dead] = 1.0
    perm = np.argsort(-np.diag(h), kind="stable") if act_order else np.arange(cols)
    w, h = w[:, perm], h[perm][:, perm]
    h += damp * float(np.mean(np.diag(h))) * np.eye(cols)
    u = np.linalg.cholesky(np.linalg.inv(h)).T  # upper: H^-1 = U^T U
    q = np.zeros(w.shape, np.int64)
    s = step[:, None].astype(np.float64)
    for i in range(cols):
        qi = np.clip(_round_away(w[:, i:i + 1] / s), -INT4_QMAX, INT4_QMAX)
        q[:, i] = qi[:, 0].astype(np.int64)
        err = (w[:, i:i + 1] - qi * s) / u[i, i]
        w[:, i + 1:] -= err * u[i, i + 1:][None, :]
    out = np.empty_like(q)
    out[:, perm] = q
    return out


# ---------------------------------------------------------------------------------------------
# Calibration activations (GPTQ)

def _patches(x: np.ndarray, kh: int, kw: int, opts) -> np.ndarray:
    """[N, H, W, C] real inputs -> [N * oh * ow, kh, kw, C] patches (TFLite padding, as 0)."""
    n, ih, iw, c = x.shape
    same = opts.padding == 0  # Padding.SAME
    sh, sw = opts.strideH, opts.strideW
    dh, dw = max(1, opts.dilationHFactor), max(1, opts.dilationWFactor)
    oh = (ih + sh - 1) // sh if same else (ih - (kh - 1) * dh - 1 + sh) // sh
    ow = (iw + sw - 1) // sw if same else (iw - (kw - 1) * dw - 1 + sw) // sw
    top = max(0, ((oh - 1) * sh + (kh - 1) * dh + 1 - ih) // 2)
    left = max(0, ((ow - 1) * sw + (kw - 1) * dw + 1 - iw) // 2)
    big_h, big_w = (oh - 1) * sh + (kh - 1) * dh + 1, (ow - 1) * sw + (kw - 1) * dw + 1
    xp = np.zeros((n, max(big_h, top + ih), max(big_w, left + iw), c), np.float64)
    xp[:, top:top + ih, left:left + iw] = x
    out = np.empty((n, oh, ow, kh, kw, c), np.float64)
    for ky in range(kh):
        for kx in range(kw):
            out[:, :, :, ky, kx] = xp[:, ky * dh:ky * dh + (oh - 1) * sh + 1:sh,
                                      kx * dw:kx * dw + (ow - 1) * sw + 1:sw]
    return out.reshape(-1, kh, kw, c)


def hessian(layer: WeightLayer, x: np.ndarray, shape) -> np.ndarray:
    """``X^T X / n`` of the layer's real-valued inputs `x` ([N, ...], the op's input tensor):
    [cols][cols], or for a depthwise filter [C*M][kh*kw][kh*kw] (one per output channel)."""
    opts = layer.op.builtinOptions
    if layer.kind == "FULLY_CONNECTED":
        xs = x.reshape(-1, layer.rows.shape[1])
        return xs.T @ xs / len(xs)
    kh, kw = int(shape[1]), int(shape[2])
    p = _patches(x, kh, kw, opts)
    if layer.kind == "CONV_2D":
        xs = p.reshape(len(p), -1)
        return xs.T @ xs / len(xs)
    xs = p.reshape(len(p), kh * kw, -1)  # [positions][taps][C]
    per_c = np.einsum("ntc,nuc->ctu", xs, xs) / len(xs)
    mult = layer.rows.shape[0] // per_c.shape[0]
    return np.repeat(per_c, mult, axis=0)  # output channel c*M + m sees input channel c


def _layer_inputs(tflite: bytes, tensor: int, x_cal: np.ndarray) -> tuple[np.ndarray, tuple]:
    """The real values of tensor `tensor` over the calibration samples (the interpreter keeping
    every tensor), and the shape of one sample's."""
    import warnings

    from ai_edge_litert.interpreter import Interpreter

    from ..frontends.keras import captured_output
    from ..frontends.quirks import normalise_tflite

    with warnings.catch_warnings(), captured_output():
        warnings.simplefilter("ignore")  # "preserve_all_tensors is for debugging"
        interp = Interpreter(model_content=normalise_tflite(tflite)[0], num_threads=1,
                             experimental_preserve_all_tensors=True)
        interp.allocate_tensors()
    inp = interp.get_input_details()[0]
    s, zp = inp["quantization"]
    det = next(d for d in interp.get_tensor_details() if d["index"] == tensor)
    ts, tz = det["quantization"]
    want = int(np.prod(inp["shape"][1:]))
    if x_cal.ndim < 1 or int(np.prod(x_cal.shape[1:])) != want:
        raise UserError(f"calibration array 'x' has shape {list(x_cal.shape)}, but the model "
                        f"takes {list(inp['shape'][1:])} per sample")
    out = []
    for row in x_cal[:MAX_GPTQ_SAMPLES]:
        v = np.asarray(row, np.float64).reshape(inp["shape"])
        if inp["dtype"] == np.int8 and s:
            v = np.clip(_round_away(v / s) + zp, -128, 127)
        interp.set_tensor(inp["index"], v.astype(inp["dtype"]))
        interp.invoke()
        out.append(interp.get_tensor(tensor).astype(np.float64))
    vals = np.concatenate(out)
    return (vals - tz) * ts if ts else vals, tuple(det["shape"])


# ---------------------------------------------------------------------------------------------
# The model rewrite

def _write(m, layer: WeightLayer, q4: np.ndarray, step: np.ndarray) -> None:
    """Weights q4 (rows) with scales s8 * step into the flatbuffer, the bias re-quantised."""
    sg = m.subgraphs[0]
    t = sg.tensors[layer.weight]
    s4 = (layer.scale * step).astype(np.float32)
    m.buffers[t.buffer].data = layer.to_tensor(q4, t.shape).astype(np.int8).view(np.uint8).reshape(-1)
    t.quantization.scale = (s4 if layer.per_channel else s4[:1]).tolist()
    if layer.bias is None:
        return
    b = sg.tensors[layer.bias]
    data = m.buffers[b.buffer].data
    if b.type != 2 or data is None or len(data) == 0:  # 2: INT32
        return
    b8 = np.frombuffer(bytes(bytearray(data)), "<i4").astype(np.float64)
    ratio = layer.scale.astype(np.float64) / s4.astype(np.float64)
    b4 = np.clip(_round_away(b8 * (ratio if layer.per_channel else ratio[0])), -2**31, 2**31 - 1)
    m.buffers[b.buffer].data = b4.astype("<i4").view(np.uint8).reshape(-1)
    in_scale = float(sg.tensors[layer.input].quantization.scale[0])
    bs = (np.float64(np.float32(in_scale)) * s4.astype(np.float64)).astype(np.float32)
    b.quantization.scale = (bs if layer.per_channel else bs[:1]).tolist()


def _pack(m) -> bytes:
    import flatbuffers

    b = flatbuffers.Builder(1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def quantize_int4(tflite: bytes, method: str = "rtn", x_cal: np.ndarray | None = None,
                  source: str = "model") -> tuple[bytes, list[dict]]:
    """The INT8 model `tflite` with its weight layers on 4-bit grids (module docstring) and one
    report row per layer (op, kind, shape, method, grid steps)."""
    from ai_edge_litert import schema_py_generated as schema

    check_method(method)
    if method == "gptq" and x_cal is None:
        raise UserError(f"{source}: --weight-method gptq needs calibration data: give "
                        "--calibration DATA.npz (array 'x', float inputs)")
    m = schema.ModelT.InitFromPackedBuf(bytearray(tflite), 0)
    layers = weight_layers(m)
    if not layers:
        raise UserError(f"{source}: no FULLY_CONNECTED, CONV_2D or DEPTHWISE_CONV_2D layer with "
                        "int8 weights to quantise to 4 bits")
    report = []
    for i, layer in enumerate(layers):
        step = int4_step(layer)
        if method == "rtn":
            q4 = round_to_nearest(layer.rows, step)
        else:
            shape = m.subgraphs[0].tensors[layer.weight].shape
            x, _ = _layer_inputs(_pack(m) if i else tflite, layer.input, np.asarray(x_cal))
            h = hessian(layer, x, shape)
            if h.ndim == 2:
                q4 = gptq_rows(layer.rows, step, h)
            else:
                q4 = np.concatenate([gptq_rows(layer.rows[r:r + 1], step[r:r + 1], h[r])
                                     for r in range(len(layer.rows))])
        _write(m, layer, q4, step)
        report.append({"op": layer.kind, "index": i, "rows": int(layer.rows.shape[0]),
                       "cols": int(layer.rows.shape[1]), "method": method,
                       "changed_vs_rtn": int(np.sum(q4 != round_to_nearest(layer.rows, step)))})
    return _pack(m), report
