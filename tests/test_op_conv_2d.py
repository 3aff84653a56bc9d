"""CONV_2D int8: bit-exact against the reference interpreter over kernel sizes, strides,
paddings, dilations, channels, activations and quantisation (per-channel and per-tensor)."""

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, strategies as st

from tflite_builder import T, conv_model, model
from optest import (CONV_ACTIVATIONS, CONV_RANDOM_CASE, assert_bit_exact,
                    assert_random_conv_bit_exact, compile_problems, conv_random_settings,
                    conv_shape_id, random_inputs)
from tinycompress.compiler import compile_tflite, write_outdir
from tinycompress.reference import Reference
from tinycompress.targets import host


def assert_same_as_reference(ours: bytes, reference: bytes, count: int = 8) -> None:
    """Compile `ours`, run it on the host, compare with the interpreter running `reference`
    (for models the interpreter itself refuses, through an equivalent one)."""
    files, manifest = compile_tflite(ours, name="m")
    x = random_inputs(manifest, count, np.random.default_rng(0))
    ref = Reference(reference)
    expected = np.stack([ref.run([x[0][v]])[0] for v in range(count)])
    with tempfile.TemporaryDirectory(prefix="tc-optest-") as tmp:
        write_outdir(Path(tmp) / "out", files)
        got = host.run_multi(Path(tmp) / "out", manifest, x, sanitize=True)[0]
    assert np.array_equal(got, expected), f"{int((got != expected).sum())} elements differ"


SHAPES = [  # h, w, cin, cout, kh, kw, stride, dilation, padding
    (5, 5, 1, 1, 1, 1, (1, 1), (1, 1), "SAME"),
    (6, 7, 3, 4, 1, 1, (1, 1), (1, 1), "VALID"),
    (7, 6, 5, 3, 1, 1, (2, 2), (1, 1), "SAME"),
    (8, 8, 3, 8, 3, 3, (1, 1), (1, 1), "SAME"),
    (8, 8, 3, 8, 3, 3, (1, 1), (1, 1), "VALID"),
    (9, 7, 4, 5, 3, 3, (2, 2), (1, 1), "SAME"),
    (9, 7, 4, 5, 3, 3, (2, 3), (1, 1), "VALID"),
    (6, 6, 2, 3, 2, 2, (1, 1), (1, 1), "SAME"),
    (10, 9, 3, 4, 4, 4, (2, 2), (1, 1), "SAME"),
    (11, 11, 2, 6, 5, 5, (3, 3), (1, 1), "SAME"),
    (11, 11, 2, 6, 5, 5, (1, 2), (1, 1), "VALID"),
    (9, 9, 3, 4, 3, 3, (1, 1), (2, 2), "SAME"),
    (10, 9, 3, 4, 3, 2, (1, 2), (2, 1), "VALID"),
    (12, 8, 2, 3, 5, 3, (2, 1), (2, 2), "SAME"),
    (20, 8, 1, 7, 10, 4, (2, 2), (1, 1), "SAME"),
    (3, 3, 4, 4, 5, 5, (1, 1), (1, 1), "SAME"),   # filter larger than the input
    (4, 4, 32, 32, 3, 3, (1, 1), (1, 1), "SAME"),
    (5, 6, 32, 16, 1, 1, (1, 1), (1, 1), "SAME"),
    (4, 3, 5, 7, 1, 1, (1, 1), (1, 1), "VALID"),
]


@pytest.mark.parametrize("shape", SHAPES, ids=conv_shape_id)
def test_conv_shapes(shape):
    h, w, cin, cout, kh, kw, stride, dilation, padding = shape
    assert_bit_exact(conv_model(h, w, cin, cout, kh, kw, stride, dilation, padding, act="RELU"),
                     count=8)


@pytest.mark.parametrize("act,per_channel", CONV_ACTIVATIONS)
def test_conv_activations(act, per_channel):
    assert_bit_exact(conv_model(7, 6, 3, 5, 3, 3, act=act, in_zp=17, out_zp=-9, in_s=0.02,
                                w_s=0.05, out_s=0.08, per_channel=per_channel), count=8)


def test_conv_without_bias():
    """The interpreter refuses an int8 CONV_2D without bias; ours treats it as a zero bias."""
    kw = dict(h=6, w=6, cin=2, cout=3, kh=3, kw=3, in_zp=40)
    assert_same_as_reference(conv_model(**kw, bias=False), conv_model(**kw, zero_bias=True))


def test_conv_batch():
    assert_bit_exact(conv_model(5, 5, 2, 3, 3, 3, stride=(2, 2), batch=2), count=4)


def test_kws_first_conv():
    """MLPerf Tiny KWS: 49x10x1 input, 64 filters 10x4, stride 2, SAME, RELU."""
    assert_bit_exact(conv_model(49, 10, 1, 64, 10, 4, stride=(2, 2), act="RELU", in_zp=83,
                                out_zp=-128, in_s=0.5, w_s=0.003, out_s=0.15), count=6)


def test_pointwise_64():
    """MLPerf Tiny KWS/VWW pointwise: 25x5x64 -> 64, 1x1."""
    assert_bit_exact(conv_model(25, 5, 64, 64, 1, 1, act="RELU", in_zp=-128, out_zp=-128,
                                in_s=0.03, w_s=0.004, out_s=0.05), count=6)


@conv_random_settings
@given(cout=st.integers(1, 9), **CONV_RANDOM_CASE)
def test_conv_random(cout, **case):
    assert_random_conv_bit_exact(conv_model, cout, **case)


@pytest.mark.parametrize("per_channel", [True, False])
def test_conv_multiplier_above_one(per_channel):
    """Effective scales above 1 (positive shifts), outputs mostly saturated."""
    assert_bit_exact(conv_model(5, 5, 2, 3, 3, 3, in_zp=0, out_zp=0, in_s=0.9, w_s=0.9,
                                out_s=0.01, per_channel=per_channel), count=8)


def test_conv_small_scales():
    """Per-channel scales spanning 1e-4..1."""
    assert_bit_exact(conv_model(6, 6, 8, 16, 3, 3, in_s=0.5, w_s=1.0, out_s=0.3,
                                scale_spread=(1e-4, 1.0), seed=3), count=8)


def test_conv_refuses_grouped_and_filter_zero_point_and_activation():
    rng = np.random.default_rng(0)
    inputs = [T((1, 6, 6, 4), scale=0.05, zero_point=0),
              T((3, 3, 3, 2), scale=[0.01] * 3, zero_point=[0, 1, 0], axis=0,
                data=rng.integers(-127, 128, (3, 3, 3, 2)).astype(np.int8)),
              T((3,), "int32", scale=[0.0005] * 3, zero_point=[0] * 3,
                data=np.zeros(3, np.int32))]
    problems = compile_problems(model("CONV_2D", inputs, [T((1, 6, 6, 3), scale=0.1)],
                                      {"padding": "SAME", "stride_h": 1, "stride_w": 1,
                                       "fused_activation_function": "TANH"}))
    text = "\n".join(problems)
    assert "CONV_2D (op 0" in text
    assert "fused activation TANH" in text
    assert "zero point" in text
    assert "grouped convolution" in text


def test_conv_refuses_wrong_output_shape():
    rng = np.random.default_rng(0)
    inputs = [T((1, 6, 6, 2), scale=0.05, zero_point=0),
              T((3, 3, 3, 2), scale=0.01, data=rng.integers(-127, 128, (3, 3, 3, 2)).astype(np.int8)),
              T((3,), "int32", scale=0.0005, data=np.zeros(3, np.int32))]
    problems = compile_problems(model("CONV_2D", inputs, [T((1, 6, 6, 3), scale=0.1)],
                                      {"padding": "VALID", "stride_h": 1, "stride_w": 1}))
    assert any("output height 6 != 4" in p for p in problems), problems


def test_conv_huge_bias_is_not_folded():
    """A bias so large that folding the input offset could overflow int32: the kernel keeps the
    reference order (sum, then bias) everywhere."""
    assert_bit_exact(conv_model(5, 5, 3, 4, 3, 3, in_zp=-100, bias_range=(2**31 - 2**20, 2**31 - 1),
                                in_s=1e-4, w_s=1e-4, out_s=1.0), count=4)
