"""DEPTHWISE_CONV_2D int8: bit-exact against the reference interpreter over kernel sizes,
strides, paddings, dilations, depth multipliers, channels, activations and quantisation."""

import numpy as np
import pytest
from hypothesis import given, strategies as st

from tflite_builder import T, dw_model, model
from optest import (CONV_ACTIVATIONS, CONV_RANDOM_CASE, assert_bit_exact,
                    assert_random_conv_bit_exact, compile_problems, conv_random_settings,
                    conv_shape_id)


SHAPES = [  # h, w, cin, mult, kh, kw, stride, dilation, padding
    (5, 5, 1, 1, 1, 1, (1, 1), (1, 1), "SAME"),
    (6, 7, 3, 1, 3, 3, (1, 1), (1, 1), "SAME"),
    (6, 7, 3, 1, 3, 3, (1, 1), (1, 1), "VALID"),
    (9, 8, 4, 2, 3, 3, (2, 2), (1, 1), "SAME"),
    (9, 8, 2, 3, 3, 3, (2, 3), (1, 1), "VALID"),
    (6, 6, 5, 1, 2, 2, (1, 1), (1, 1), "SAME"),
    (10, 9, 3, 2, 4, 4, (2, 2), (1, 1), "SAME"),
    (11, 11, 2, 1, 5, 5, (3, 3), (1, 1), "SAME"),
    (11, 11, 2, 3, 5, 5, (1, 2), (1, 1), "VALID"),
    (9, 9, 3, 1, 3, 3, (1, 1), (2, 2), "SAME"),
    (10, 9, 3, 2, 3, 2, (1, 2), (2, 1), "VALID"),
    (12, 8, 2, 1, 5, 3, (2, 1), (2, 2), "SAME"),
    (20, 8, 1, 2, 10, 4, (2, 2), (1, 1), "SAME"),
    (3, 3, 4, 1, 5, 5, (1, 1), (1, 1), "SAME"),   # filter larger than the input
    (4, 4, 32, 1, 3, 3, (2, 2), (1, 1), "SAME"),
]


@pytest.mark.parametrize("shape", SHAPES, ids=conv_shape_id)
def test_dw_shapes(shape):
    assert_bit_exact(dw_model(*shape, act="RELU"), count=8)


@pytest.mark.parametrize("act,per_channel", CONV_ACTIVATIONS)
def test_dw_activations(act, per_channel):
    assert_bit_exact(dw_model(7, 6, 3, 2, 3, 3, act=act, in_zp=17, out_zp=-9, in_s=0.02,
                              w_s=0.05, out_s=0.08, per_channel=per_channel), count=8)


def test_dw_without_bias():
    assert_bit_exact(dw_model(6, 6, 2, 2, 3, 3, bias=False, in_zp=40), count=8)


def test_dw_batch():
    assert_bit_exact(dw_model(5, 5, 2, 2, 3, 3, stride=(2, 2), batch=2), count=4)


def test_kws_depthwise():
    """MLPerf Tiny KWS: 3x3 depthwise over 25x5x64, SAME, RELU."""
    assert_bit_exact(dw_model(25, 5, 64, 1, 3, 3, act="RELU", in_zp=-128, out_zp=-128,
                              in_s=0.03, w_s=0.02, out_s=0.05), count=6)


@pytest.mark.parametrize("per_channel", [True, False])
def test_dw_multiplier_above_one(per_channel):
    assert_bit_exact(dw_model(5, 5, 2, 2, 3, 3, in_zp=0, out_zp=0, in_s=0.9, w_s=0.9,
                              out_s=0.01, per_channel=per_channel), count=8)


@conv_random_settings
@given(mult=st.integers(1, 3), **CONV_RANDOM_CASE)
def test_dw_random(mult, **case):
    assert_random_conv_bit_exact(dw_model, mult, **case)


def test_dw_refuses_filter_zero_point_and_bad_channels():
    rng = np.random.default_rng(0)
    inputs = [T((1, 6, 6, 2), scale=0.05, zero_point=0),
              T((1, 3, 3, 3), scale=[0.01] * 3, zero_point=[0, 0, 2], axis=3,
                data=rng.integers(-127, 128, (1, 3, 3, 3)).astype(np.int8))]
    problems = compile_problems(model("DEPTHWISE_CONV_2D", inputs, [T((1, 6, 6, 3), scale=0.1)],
                                      {"padding": "SAME", "stride_h": 1, "stride_w": 1,
                                       "depth_multiplier": 1}))
    text = "\n".join(problems)
    assert "DEPTHWISE_CONV_2D (op 0" in text
    assert "zero point" in text
    assert "not a multiple" in text


def test_dw_huge_bias_is_not_folded():
    assert_bit_exact(dw_model(5, 5, 3, 2, 3, 3, in_zp=-100, bias_range=(2**31 - 2**20, 2**31 - 1),
                              in_s=1e-4, w_s=1e-4, out_s=1.0), count=4)
