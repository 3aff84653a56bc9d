"""TRANSPOSE_CONV int8: bit-exact against the reference interpreter over strides, SAME and VALID
padding, filter sizes, channels, batches, per-tensor and per-channel filters, zero points and
fused activations; every refusal of its check."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from optest import assert_bit_exact, compile_problems
from tflite_builder import T, model
from tinycompress.compiler import compile_tflite
from tinycompress.errors import UserError


def keras_out(size: int, k: int, stride: int, padding: str) -> int:
    """Conv2DTranspose's output size (no output padding)."""
    return size * stride if padding == "SAME" else (size - 1) * stride + max(k, stride)


def transpose_conv_model(ih, iw, cin, cout, kh, kw, stride=(1, 1), padding="SAME", out_hw=None,
                         act=None, in_zp=-3, out_zp=5, in_s=0.05, w_s=0.01, out_s=None,
                         per_channel=True, scale_spread=(0.5, 1.5), bias=True, seed=0, batch=1,
                         bias_range=(-3000, 3000), version=3, dtypes=("int8", "int32"),
                         w_zp=0, shape_operand=None, center=False) -> bytes:
    """A TRANSPOSE_CONV of a (batch, ih, iw, cin) input to (batch, oh, ow, cout) (by default the
    Keras output size) with random int8 filters (cout, kh, kw, cin), per-channel scales w_s times
    a factor from `scale_spread`. By default the output scale puts a typical output about 40
    steps from its zero point (with `center`, from the middle of the int8 range). `act` sets
    the fused activation (version 4 of the operator). `dtypes` are the activations' and the
    bias's (int16 and int64 for the 16x8 path)."""
    rng = np.random.default_rng(seed)
    oh, ow = out_hw or (keras_out(ih, kh, stride[0], padding),
                        keras_out(iw, kw, stride[1], padding))
    x_type, b_type = dtypes
    if out_s is None:  # (int16: about 8000 steps)
        taps = max(1.0, kh * kw * cin / (stride[0] * stride[1]))
        out_s = in_s * w_s * np.sqrt(taps) * 73 * (74 / 40 if x_type == "int8" else 18918 / 8000)
    wt = rng.integers(-127, 128, (cout, kh, kw, cin)).astype(np.int8)
    w_scale = list(rng.uniform(*scale_spread, cout) * w_s) if per_channel else w_s
    bias_scale = (list(np.float32(in_s) * np.float32(w_scale)) if per_channel
                  else float(np.float32(in_s) * np.float32(w_s)))
    zps = [w_zp] * cout if per_channel else w_zp
    zeros = [0] * cout if per_channel else 0
    shape = np.array(shape_operand or [batch, oh, ow, cout], np.int32)
    inputs = [T(shape.shape, "int32", data=shape),
              T((cout, kh, kw, cin), scale=w_scale, zero_point=zps, axis=0, data=wt),
              T((batch, ih, iw, cin), x_type, scale=in_s, zero_point=in_zp)]
    if bias:
        b = rng.integers(*bias_range, cout)
        if center:  # shift every output by -out_zp steps
            b = b - np.round(out_zp * out_s / (in_s * np.array(w_scale))).astype(np.int64)
        b = b.astype(b_type)
        inputs.append(T((cout,), b_type, scale=bias_scale, zero_point=zeros, data=b))
    options = {"padding": padding, "stride_h": stride[0], "stride_w": stride[1]}
    if act is not None:
        options["fused_activation_function"] = act
        version = max(version, 4)
    return model("TRANSPOSE_CONV", inputs,
                 [T((batch, oh, ow, cout), x_type, scale=out_s, zero_point=out_zp)], options,
                 version=version)


# (ih, iw, cin, cout, kh, kw, stride, padding)
SHAPES = [
    (4, 4, 3, 5, 3, 3, (2, 2), "SAME"),      # the usual decoder upsampling
    (4, 4, 3, 5, 3, 3, (2, 2), "VALID"),
    (5, 3, 4, 6, 4, 4, (2, 2), "SAME"),      # filter a multiple of the stride
    (3, 4, 2, 3, 2, 2, (2, 2), "VALID"),     # no overlap between taps
    (3, 3, 8, 4, 5, 5, (1, 1), "SAME"),      # stride 1: a full convolution
    (3, 3, 4, 4, 5, 5, (1, 1), "VALID"),
    (4, 5, 3, 2, 1, 1, (1, 1), "SAME"),      # pointwise
    (3, 4, 3, 4, 1, 1, (3, 3), "VALID"),     # 1x1 stride 3: outputs between inputs get the bias
    (4, 3, 5, 3, 3, 2, (3, 2), "SAME"),      # unequal strides and filter sides
    (3, 4, 2, 5, 5, 3, (3, 1), "VALID"),
    (2, 2, 16, 8, 4, 4, (3, 3), "SAME"),     # filter larger than the stride, not a multiple
    (1, 1, 6, 7, 3, 3, (2, 2), "VALID"),     # one input pixel
    (6, 1, 3, 3, 5, 1, (2, 1), "SAME"),      # a column
]


def shape_id(case) -> str:
    ih, iw, cin, cout, kh, kw, (sh, sw), padding = case
    return f"{ih}x{iw}x{cin}-{cout}-k{kh}{kw}-s{sh}{sw}-{padding}"


@pytest.mark.parametrize("case", SHAPES, ids=[shape_id(c) for c in SHAPES])
@pytest.mark.parametrize("per_channel", [True, False], ids=["per-channel", "per-tensor"])
def test_transpose_conv_shapes(case, per_channel):
    ih, iw, cin, cout, kh, kw, stride, padding = case
    assert_bit_exact(transpose_conv_model(ih, iw, cin, cout, kh, kw, stride, padding,
                                          per_channel=per_channel), spread={})


S16_SHAPES = [SHAPES[i] for i in (0, 1, 2, 4, 7, 9)]


@pytest.mark.parametrize("case", S16_SHAPES, ids=[shape_id(c) for c in S16_SHAPES])
@pytest.mark.parametrize("per_channel", [True, False], ids=["per-channel", "per-tensor"])
def test_transpose_conv_16x8(case, per_channel):
    # int16 activations (zero point 0), int8 filters, int64 bias and sums.
    ih, iw, cin, cout, kh, kw, stride, padding = case
    assert_bit_exact(transpose_conv_model(ih, iw, cin, cout, kh, kw, stride, padding, in_zp=0,
                                          out_zp=0, in_s=0.002, dtypes=("int16", "int64"),
                                          per_channel=per_channel,
                                          bias_range=(-2000000, 2000000)),
                     spread=dict(min_distinct=64))


@pytest.mark.parametrize("act", ["RELU", "RELU6", "RELU_N1_TO_1"])
def test_transpose_conv_16x8_activations(act):
    assert_bit_exact(transpose_conv_model(4, 4, 3, 5, 3, 3, (2, 2), "SAME", act=act, in_zp=0,
                                          out_zp=0, in_s=0.002, dtypes=("int16", "int64"),
                                          out_s=2e-4 if act == "RELU_N1_TO_1" else 1e-3))


@pytest.mark.parametrize("in_zp,out_zp", [(-128, 127), (127, -128), (0, 0), (-128, -128),
                                          (127, 127), (50, -20)])
def test_transpose_conv_zero_points(in_zp, out_zp):
    # (The bias centres the outputs on real 0, not on the zero point, so that an extreme output
    # zero point still leaves most outputs unclamped.)
    assert_bit_exact(transpose_conv_model(4, 4, 4, 6, 3, 3, (2, 2), "SAME", in_zp=in_zp,
                                          out_zp=out_zp, center=True), spread={})


@pytest.mark.parametrize("act", ["NONE", "RELU", "RELU6", "RELU_N1_TO_1"])
def test_transpose_conv_activations(act):
    # Version 4 of the operator applies the fused activation; outputs around 0 so that every
    # clamp bites.
    assert_bit_exact(transpose_conv_model(4, 4, 3, 5, 3, 3, (2, 2), "SAME", act=act, out_zp=-10,
                                          out_s=0.02 if act == "RELU_N1_TO_1" else 0.1))


def out_sizes(size: int, k: int, stride: int, padding: str) -> list[int]:
    """Every output size whose forward convolution has `size` outputs: the sizes the reference
    accepts (Keras' output_padding picks among them)."""
    first = (size - 1) * stride + (1 if padding == "SAME" else k)
    return list(range(first, first + stride))


@pytest.mark.parametrize("padding", ["SAME", "VALID"])
@pytest.mark.parametrize("stride", [(2, 3), (3, 1)])
def test_transpose_conv_output_sizes(padding, stride):
    # Each output size the input allows: the padding follows the output size.
    for oh in out_sizes(3, 3, stride[0], padding):
        for ow in out_sizes(4, 2, stride[1], padding):
            assert_bit_exact(transpose_conv_model(3, 4, 3, 5, 3, 2, stride, padding,
                                                  out_hw=(oh, ow)), count=6)


def test_transpose_conv_no_bias_and_batches():
    assert_bit_exact(transpose_conv_model(3, 4, 3, 4, 3, 3, (2, 2), "SAME", bias=False),
                     spread={})
    assert_bit_exact(transpose_conv_model(3, 4, 3, 4, 3, 3, (2, 2), "VALID", batch=3), spread={})


def test_transpose_conv_large_bias_and_scales():
    # Biases of the order of the products and per-channel scales a decade apart.
    assert_bit_exact(transpose_conv_model(4, 4, 8, 6, 3, 3, (2, 2), "SAME",
                                          bias_range=(-200000, 200000), scale_spread=(0.1, 1.0)))


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ih=st.integers(1, 6), iw=st.integers(1, 6), cin=st.integers(1, 8), cout=st.integers(1, 6),
       kh=st.integers(1, 5), kw=st.integers(1, 5), sh=st.integers(1, 3), sw=st.integers(1, 3),
       padding=st.sampled_from(["SAME", "VALID"]), dh=st.integers(0, 2), dw=st.integers(0, 2),
       in_zp=st.integers(-128, 127), out_zp=st.integers(-128, 127),
       in_s=st.floats(1e-3, 1.0), w_s=st.floats(1e-4, 1.0), out_gain=st.floats(0.1, 10.0),
       act=st.sampled_from(["NONE", "RELU", "RELU6", "RELU_N1_TO_1"]),
       per_channel=st.booleans(), s16=st.booleans(), seed=st.integers(0, 1000))
def test_transpose_conv_random(ih, iw, cin, cout, kh, kw, sh, sw, padding, dh, dw, in_zp, out_zp,
                               in_s, w_s, out_gain, act, per_channel, s16, seed):
    oh = out_sizes(ih, kh, sh, padding)[dh % sh]
    ow = out_sizes(iw, kw, sw, padding)[dw % sw]
    out_s = in_s * w_s * np.sqrt(max(1.0, kh * kw * cin / (sh * sw))) * 135 * out_gain
    kind = dict(dtypes=("int16", "int64"), in_zp=0, out_zp=0, in_s=in_s / 256,
                out_s=out_s / 256 * 2.3) if s16 else dict(in_zp=in_zp, out_zp=out_zp, in_s=in_s,
                                                          out_s=out_s)
    assert_bit_exact(transpose_conv_model(ih, iw, cin, cout, kh, kw, (sh, sw), padding,
                                          out_hw=(oh, ow), act=act, w_s=w_s,
                                          per_channel=per_channel, seed=seed, **kind),
                     count=4, sanitize=False)


# --- refusals -----------------------------------------------------------------------------------

def _problems(**kwargs) -> str:
    args = dict(ih=3, iw=3, cin=2, cout=3, kh=3, kw=3, stride=(2, 2), padding="SAME")
    args.update(kwargs)
    return " | ".join(compile_problems(transpose_conv_model(**args)))


def _patched(tflite: bytes, edit) -> bytes:
    """The model with `edit(model_t)` applied to its flatbuffer object tree."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as s
    m = s.ModelT.InitFromPackedBuf(bytearray(tflite), 0)
    edit(m)
    b = flatbuffers.Builder(1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def test_transpose_conv_refuses_options():
    p = _problems(act="TANH")
    assert "TRANSPOSE_CONV (op 0" in p and "fused activation TANH" in p

    def bad_stride(m):
        m.subgraphs[0].operators[0].builtinOptions.strideH = 0
    p = " | ".join(compile_problems(_patched(transpose_conv_model(3, 3, 2, 3, 3, 3, (2, 2)),
                                             bad_stride)))
    assert "stride_h = 0 is not a positive integer" in p

    def bad_padding(m):  # not a Padding value at all: the reader refuses the file first
        m.subgraphs[0].operators[0].builtinOptions.padding = 7
    with pytest.raises(UserError, match="padding 7, which is not a value TFLite defines"):
        compile_tflite(_patched(transpose_conv_model(3, 3, 2, 3, 3, 3, (2, 2)), bad_padding),
                       name="m")


def test_transpose_conv_refuses_operands():
    def drop_input(m):
        m.subgraphs[0].operators[0].inputs = m.subgraphs[0].operators[0].inputs[:2]
    p = " | ".join(compile_problems(_patched(transpose_conv_model(3, 3, 2, 3, 3, 3), drop_input)))
    assert "expected an output shape, a filter, an input" in p
    assert "must be a constant int32 tensor of 4 values" in _problems(shape_operand=[1, 6, 6])
    assert "output shape operand [1, 5, 6, 3] does not match the output tensor's shape " \
        "[1, 6, 6, 3]" in _problems(shape_operand=[1, 5, 6, 3])

    def filter_variable(m):
        sg = m.subgraphs[0]
        sg.tensors[1].buffer = 0
        sg.inputs = np.array([1, 2], np.int32)
    p = " | ".join(compile_problems(_patched(transpose_conv_model(3, 3, 2, 3, 3, 3),
                                             filter_variable)))
    assert "filter 'in1' must be a constant tensor" in p


def test_transpose_conv_refuses_types():
    assert "input 'in2' is float32; int8 or int16 (with int8 filters) expected" in \
        _problems(dtypes=("float32", "int32"))
    assert "bias 'in3' must be a constant int32 tensor of 3 values, got int64" in \
        _problems(dtypes=("int8", "int64"))
    assert "bias 'in3' must be a constant int64 tensor of 3 values, got int32" in \
        _problems(dtypes=("int16", "int32"), in_zp=0, out_zp=0)
    p = _problems(dtypes=("int16", "int64"), in_zp=3, out_zp=-2)
    assert "int16 input 'in2' has zero point 3; 16x8 needs 0" in p
    assert "int16 output 'out0' has zero point -2; 16x8 needs 0" in p

    def retype(index, dtype):
        def edit(m):
            from ai_edge_litert import schema_py_generated as s
            m.subgraphs[0].tensors[index].type = getattr(s.TensorType, dtype.upper())
        return edit
    base = transpose_conv_model(3, 3, 2, 3, 3, 3, bias=False)
    p = " | ".join(compile_problems(_patched(base, retype(3, "int16"))))
    assert "output 'out0' is int16, the input int8" in p

    def unquantised(m):
        m.subgraphs[0].tensors[3].quantization = None
    p = " | ".join(compile_problems(_patched(base, unquantised)))
    assert "tensor 'out0' has no quantisation parameters" in p

    def int16_filter(m):
        from ai_edge_litert import schema_py_generated as s
        t = m.subgraphs[0].tensors[1]
        t.type = s.TensorType.INT16
        m.buffers[t.buffer].data = np.frombuffer(np.zeros(t.shape, np.int16).tobytes(), np.uint8)
    p = " | ".join(compile_problems(_patched(base, int16_filter)))
    assert "filter 'in1' is int16, expected int8" in p
    assert "filter 'in1' has zero point(s) [4]; int8 filters need 0" in _problems(w_zp=4)

    def per_channel_input(m):
        q = m.subgraphs[0].tensors[2].quantization
        q.scale, q.zeroPoint, q.quantizedDimension = np.array([0.1, 0.2], np.float32), \
            np.array([0, 0], np.int64), 3
    p = " | ".join(compile_problems(_patched(transpose_conv_model(3, 3, 2, 3, 3, 3),
                                             per_channel_input)))
    assert "input 'in2' is quantised per channel; per-tensor expected" in p

    def scales_axis(m):
        m.subgraphs[0].tensors[1].quantization.quantizedDimension = 3
        m.subgraphs[0].tensors[1].quantization.scale = np.array([0.1, 0.2], np.float32)
        m.subgraphs[0].tensors[1].quantization.zeroPoint = np.array([0, 0], np.int64)
    p = " | ".join(compile_problems(_patched(transpose_conv_model(3, 3, 2, 3, 3, 3), scales_axis)))
    assert "filter 'in1' has 2 scales along axis 3; expected 3 along axis 0" in p


def test_transpose_conv_refuses_shapes():
    def reshape(index, shape):
        def edit(m):
            m.subgraphs[0].tensors[index].shape = np.array(shape, np.int32)
        return edit
    base = transpose_conv_model(3, 3, 2, 3, 3, 3, per_channel=False, bias=False)
    p = " | ".join(compile_problems(_patched(base, reshape(2, [1, 3, 6]))))
    assert "input 'in2' has shape [1, 3, 6], expected 4-D" in p
    p = " | ".join(compile_problems(_patched(base, reshape(2, [1, 3, 3, 5]))))
    assert "input has 5 channels, filter 2" in p
    p = " | ".join(compile_problems(_patched(base, reshape(2, [2, 3, 3, 2]))))
    assert "input batch 2 != output batch 1" in p

    def out_channels(m):
        m.subgraphs[0].tensors[0].shape = np.array([4], np.int32)
        m.buffers[m.subgraphs[0].tensors[0].buffer].data = np.frombuffer(
            np.array([1, 6, 6, 4], np.int32).tobytes(), np.uint8)
        m.subgraphs[0].tensors[3].shape = np.array([1, 6, 6, 4], np.int32)
    p = " | ".join(compile_problems(_patched(base, out_channels)))
    assert "output has 4 channels, filter has 3" in p


def test_transpose_conv_refuses_geometry():
    # The reference's Prepare refuses an input that a forward convolution of the output would
    # not give, e.g. VALID with an output smaller than the filter.
    p = _problems(ih=2, iw=2, kh=6, kw=6, stride=(3, 3), padding="VALID", out_hw=(1, 2))
    assert "input height 2 != 0 computed from the output height 1, filter, stride and VALID " \
        "padding" in p and "input width 2 != 0" in p
    assert "input width 3 != 4 computed from the output width 7" in _problems(out_hw=(6, 7))


def test_transpose_conv_16x8_refusals():
    p = _problems(dtypes=("int16", "int64"), in_zp=0, out_zp=0, bias_range=(2**47, 2**47 + 1))
    assert "beyond the 2^47 of the int64 requantisation" in p
    p = _problems(dtypes=("int16", "int64"), in_zp=0, out_zp=0, in_s=1.0, w_s=1.0, out_s=1e-3,
                  per_channel=False)
    assert "the rescale of the 16x8 path needs a left shift of 10 bits; at most 7 supported" in p


def test_transpose_conv_refuses_accumulator_overflow():
    # 8192 input channels, 9 taps per output, inputs up to 255 from the zero point, weights 127.
    p = _problems(ih=1, iw=1, cin=8192, cout=1, kh=3, kw=3, stride=(1, 1), in_zp=127)
    assert "an output's sum can reach" in p and "beyond int32" in p


# --- through the Keras frontend -----------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("padding", ["same", "valid"])
def test_keras_conv2d_transpose(padding):
    # A decoder: Conv2DTranspose (stride 2, with its bias fused into TRANSPOSE_CONV) twice,
    # converted by the frontend's post-training quantisation.
    import keras
    from tinycompress.frontends.keras import convert

    keras.utils.set_random_seed(0)
    inp = keras.Input((6, 6, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inp)
    x = keras.layers.Conv2DTranspose(5, 3, strides=2, padding=padding,
                                     bias_initializer="random_normal")(x)
    x = keras.layers.Conv2DTranspose(2, 4, strides=2, padding=padding,
                                     bias_initializer="random_normal")(x)
    x_cal = np.random.default_rng(0).standard_normal((64, 6, 6, 3)).astype(np.float32)
    tflite = convert(keras.Model(inp, x), (6, 6, 3), x_cal, "conv2d_transpose")
    manifest = assert_bit_exact(tflite, count=16, spread={})
    assert manifest["ops"]["TRANSPOSE_CONV"] == 2
