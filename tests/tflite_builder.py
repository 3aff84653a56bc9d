"""Build small TFLite models directly from the flatbuffer schema, for per-op tests.

The TFLite converter decides quantisation parameters itself; these tests need to choose them
(zero points, per-channel scales, dilations, depth multipliers), so they write the flatbuffer.
"""

from __future__ import annotations

from dataclasses import dataclass

import flatbuffers
import numpy as np
from ai_edge_litert import schema_py_generated as s

from tinycompress.ops._conv_common import out_size

_TYPES = {
    "int8": s.TensorType.INT8,
    "int16": s.TensorType.INT16,
    "int32": s.TensorType.INT32,
    "int64": s.TensorType.INT64,
    "float32": s.TensorType.FLOAT32,
    "uint8": s.TensorType.UINT8,
}

# op kind -> BuiltinOptions name where it is not the kind in CamelCase + "Options".
_OPTION_NAMES = {
    "AVERAGE_POOL_2D": "Pool2DOptions", "MAX_POOL_2D": "Pool2DOptions",
    "L2_POOL_2D": "Pool2DOptions", "DEPTHWISE_CONV_2D": "DepthwiseConv2DOptions",
    "CONV_2D": "Conv2DOptions", "MEAN": "ReducerOptions", "SUM": "ReducerOptions",
    "REDUCE_MAX": "ReducerOptions", "REDUCE_MIN": "ReducerOptions",
    "REDUCE_PROD": "ReducerOptions", "PADV2": "PadV2Options", "SVDF": "SVDFOptions",
    "L2_NORMALIZATION": "L2NormOptions", "UNIDIRECTIONAL_SEQUENCE_LSTM":
    "UnidirectionalSequenceLSTMOptions", "BATCH_MATMUL": "BatchMatMulOptions",
    "RESIZE_NEAREST_NEIGHBOR": "ResizeNearestNeighborOptions", "MIRROR_PAD": "MirrorPadOptions",
    "SPLIT_V": "SplitVOptions", "LEAKY_RELU": "LeakyReluOptions", "HARD_SWISH": "HardSwishOptions",
    "MAXIMUM": "MaximumMinimumOptions", "MINIMUM": "MaximumMinimumOptions",
    "ARG_MAX": "ArgMaxOptions", "ARG_MIN": "ArgMinOptions", "DEPTH_TO_SPACE":
    "DepthToSpaceOptions", "SPACE_TO_DEPTH": "SpaceToDepthOptions",
}


def _options_of(kind: str):
    """(BuiltinOptions enum name, options class) of an op kind, or None when it has none."""
    name = _OPTION_NAMES.get(kind) or "".join(w.capitalize() for w in kind.split("_")) + "Options"
    cls = getattr(s, name + "T", None)
    if cls is None or not hasattr(s.BuiltinOptions, name):
        return None
    return name, cls


_PADDING = {"SAME": s.Padding.SAME, "VALID": s.Padding.VALID}
_ACT = {k: v for k, v in vars(s.ActivationFunctionType).items() if not k.startswith("_")}


@dataclass
class T:
    """A tensor: shape, dtype, quantisation (scale list for per-channel) and constant data."""

    shape: tuple
    dtype: str = "int8"
    scale: float | list | None = None
    zero_point: int | list = 0
    axis: int = 0
    data: np.ndarray | None = None
    variable: bool = False  # a variable (state) tensor: an op input, not a graph input


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(w.capitalize() for w in rest)


def model(kind: str, inputs: list[T], outputs: list[T], options: dict | None = None,
          version: int = 1, intermediates: list[T] | None = None) -> bytes:
    """A one-operator TFLite model. Constant inputs carry `data`; variable ones are state; others
    become graph inputs. `intermediates` are the op's parameter-only tensors (integer LSTM)."""
    m = s.ModelT()
    m.version = 3
    m.description = "tinycompress test"
    m.buffers = [s.BufferT()]
    code = s.OperatorCodeT()
    builtin = getattr(s.BuiltinOperator, kind)
    code.builtinCode = builtin
    code.deprecatedBuiltinCode = min(builtin, 127)
    code.version = version
    m.operatorCodes = [code]

    sg = s.SubGraphT()
    sg.tensors = []
    op_inputs, graph_inputs = [], []

    def add(t: T, name: str) -> int:
        tt = s.TensorT()
        tt.name = name
        tt.shape = np.array(t.shape, dtype=np.int32)
        tt.type = _TYPES[t.dtype]
        tt.buffer = 0
        tt.isVariable = t.variable
        if t.data is not None:
            b = s.BufferT()
            b.data = np.frombuffer(np.ascontiguousarray(t.data, dtype=t.dtype).tobytes(),
                                   dtype=np.uint8)
            m.buffers.append(b)
            tt.buffer = len(m.buffers) - 1
        if t.scale is not None:
            q = s.QuantizationParametersT()
            scales = t.scale if isinstance(t.scale, (list, tuple, np.ndarray)) else [t.scale]
            zps = t.zero_point if isinstance(t.zero_point, (list, tuple, np.ndarray)) else (
                [t.zero_point] * len(scales))
            q.scale = np.array(scales, dtype=np.float32)
            q.zeroPoint = np.array(zps, dtype=np.int64)
            q.quantizedDimension = t.axis
            tt.quantization = q
        sg.tensors.append(tt)
        return len(sg.tensors) - 1

    for i, t in enumerate(inputs):
        if t is None:
            op_inputs.append(-1)
            continue
        idx = add(t, f"in{i}")
        op_inputs.append(idx)
        if t.data is None and not t.variable:
            graph_inputs.append(idx)
    out_idx = [add(t, f"out{i}") for i, t in enumerate(outputs)]

    op = s.OperatorT()
    op.opcodeIndex = 0
    op.inputs = np.array(op_inputs, dtype=np.int32)
    op.outputs = np.array(out_idx, dtype=np.int32)
    if intermediates:
        op.intermediates = np.array([add(t, f"inter{i}") for i, t in enumerate(intermediates)],
                                    dtype=np.int32)
    if _options_of(kind) is not None:
        enum_name, cls = _options_of(kind)
        opts = cls()
        for key, value in (options or {}).items():
            if key == "padding":
                value = _PADDING[value]
            elif key == "fused_activation_function":
                value = _ACT[value]
            attr = _camel(key)
            if not hasattr(opts, attr) and hasattr(opts, attr[0].upper() + attr[1:]):
                attr = attr[0].upper() + attr[1:]
            if not hasattr(opts, attr):
                raise KeyError(f"{cls.__name__} has no field {attr}")
            setattr(opts, attr, value)
        op.builtinOptionsType = getattr(s.BuiltinOptions, enum_name)
        op.builtinOptions = opts
    sg.operators = [op]
    sg.inputs = np.array(graph_inputs, dtype=np.int32)
    sg.outputs = np.array(out_idx, dtype=np.int32)
    m.subgraphs = [sg]

    b = flatbuffers.Builder(1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def conv_model(h, w, cin, cout, kh, kw, stride=(1, 1), dilation=(1, 1), padding="SAME",
               act="NONE", in_zp=-3, out_zp=5, in_s=0.05, w_s=0.01, out_s=0.1, bias=True,
               per_channel=True, scale_spread=(0.5, 1.5), seed=0, batch=1, bias_range=(-5000, 5000),
               zero_bias=False, depth_multiplier=None, w_scales=None, biases=None) -> bytes:
    """A CONV_2D over a (batch, h, w, cin) input with random int8 filters (cout, kh, kw, cin) and
    int32 bias drawn from `bias_range` (all zero with `zero_bias`; left out without `bias`).
    Per-channel filter scales are w_s times a factor drawn from `scale_spread`. With
    `depth_multiplier`, a DEPTHWISE_CONV_2D instead, its filters (1, kh, kw, cout) quantised
    along axis 3 (see dw_model). `w_scales` / `biases` give the per-channel filter scales / the
    bias values outright."""
    depthwise = depth_multiplier is not None
    rng = np.random.default_rng(seed)
    filter_shape = (1, kh, kw, cout) if depthwise else (cout, kh, kw, cin)
    wt = rng.integers(-127, 128, filter_shape).astype(np.int8)
    w_scale = (list(rng.uniform(*scale_spread, cout) * w_s) if per_channel else w_s)
    b = rng.integers(*bias_range, cout).astype(np.int32) * (0 if zero_bias else 1)
    if w_scales is not None:
        w_scale = list(w_scales)
    if biases is not None:
        b = np.asarray(biases, np.int32)
    bias_scale = (list(np.float32(in_s) * np.float32(w_scale)) if per_channel
                  else float(np.float32(in_s) * np.float32(w_s)))
    oh = out_size(padding, h, kh, stride[0], dilation[0])
    ow = out_size(padding, w, kw, stride[1], dilation[1])
    zeros = [0] * cout if per_channel else 0
    inputs = [T((batch, h, w, cin), scale=in_s, zero_point=in_zp),
              T(filter_shape, scale=w_scale, zero_point=zeros, axis=3 if depthwise else 0,
                data=wt),
              T((cout,), "int32", scale=bias_scale, zero_point=zeros, data=b)]
    if not bias:  # the interpreter wants an absent bias left out, not marked -1
        inputs = inputs[:2]
    options = {"padding": padding, "stride_h": stride[0], "stride_w": stride[1],
               "dilation_h_factor": dilation[0], "dilation_w_factor": dilation[1],
               "fused_activation_function": act}
    if depthwise:
        options["depth_multiplier"] = depth_multiplier
    return model("DEPTHWISE_CONV_2D" if depthwise else "CONV_2D", inputs,
                 [T((batch, oh, ow, cout), scale=out_s, zero_point=out_zp)], options, version=3)


def dw_model(h, w, cin, mult, kh, kw, *args, **kwargs) -> bytes:
    """A DEPTHWISE_CONV_2D with `mult` output channels per input channel; the other arguments
    as conv_model's."""
    return conv_model(h, w, cin, cin * mult, kh, kw, *args, depth_multiplier=mult, **kwargs)
