"""Cortex-M Helium (MVE) kernels (templates/cores/mve/): FULLY_CONNECTED and CONV_2D compiled for
the Cortex-M55 (mps3-an547), run under QEMU and compared bit for bit with the reference
interpreter. Shapes exercise the 16-value tail predicate (depths not a multiple of 16), row
counts not a multiple of 4, the vectorised requantisation's channel tail, per-tensor and
per-channel multipliers with right and left shifts, padding, strides and dilation."""

from __future__ import annotations

import pytest

from test_cores_dsp import assert_bit_exact_on, pytestmark  # noqa: F401  (QEMU skip + mark)
from test_op_add import binary_model
from test_op_conv_2d import conv_model
from test_op_depthwise_conv_2d import dw_model
from test_op_fully_connected import fc_model

BOARD = "mps3-an547"  # Cortex-M55 with MVE


def on_m55(tflite: bytes) -> dict:
    manifest = assert_bit_exact_on(tflite, board=BOARD)
    assert manifest["kernel_families"][0] == "mve"
    return manifest


@pytest.mark.parametrize("batch,depth,units,per_channel", [
    (1, 3, 1, False), (1, 7, 5, True), (2, 16, 10, False), (1, 33, 9, True), (1, 640, 128, False),
])
def test_fc_mve(batch, depth, units, per_channel):
    on_m55(fc_model(batch, depth, units, "RELU", in_zp=-3, out_zp=5, in_s=0.05, w_s=0.01,
                    out_s=0.1, per_channel=per_channel))


@pytest.mark.parametrize("h,w,cin,cout,k,stride,dil,padding,per_channel,out_s", [
    (5, 4, 32, 12, 1, 1, 1, "SAME", True, 0.1),     # pointwise, 16-value blocks
    (3, 3, 7, 5, 1, 1, 1, "VALID", False, 0.1),     # pointwise, depth and channel tails
    (4, 4, 20, 6, 1, 1, 1, "SAME", True, 0.002),    # multipliers > 1: left shifts
    (4, 3, 9, 7, 1, 1, 1, "SAME", False, 0.0015),   # per-tensor left shift
    (3, 2, 72, 5, 1, 1, 1, "VALID", True, 0.1),     # pointwise, input not held in registers
    (2, 3, 128, 8, 1, 1, 1, "SAME", False, 0.1),    # pointwise, deep, no tails
    (7, 6, 3, 9, 3, 1, 1, "SAME", True, 0.1),       # im2col, borders
    (8, 8, 4, 6, 3, 2, 1, "SAME", True, 0.1),       # stride 2, odd padding
    (9, 7, 5, 4, 3, 1, 2, "SAME", False, 0.1),      # dilation
    (10, 5, 1, 7, 4, 2, 1, "VALID", True, 0.1),     # KWS-like first layer, one input channel
    (6, 6, 16, 8, 1, 2, 1, "SAME", True, 0.1),      # 1x1 with stride: the im2col kernel
])
def test_conv_mve(h, w, cin, cout, k, stride, dil, padding, per_channel, out_s):
    on_m55(conv_model(h, w, cin, cout, k, k, stride=(stride, stride), dilation=(dil, dil),
                      padding=padding, act="RELU6", in_zp=-7, out_zp=3, out_s=out_s,
                      per_channel=per_channel))


def test_conv_mve_huge_bias_wraps_like_the_reference():
    on_m55(conv_model(5, 5, 6, 5, 3, 3, in_zp=100, bias_range=(2**31 - 10**6, 2**31 - 1)))


@pytest.mark.parametrize("h,w,cin,mult,k,stride,dil,padding,per_channel,out_s", [
    (6, 5, 8, 1, 3, 1, 1, "SAME", True, 0.1),       # two vectors of four channels, borders
    (7, 7, 6, 1, 3, 2, 1, "SAME", False, 0.1),      # channel tail under a predicate, stride 2
    (5, 6, 3, 1, 3, 1, 2, "VALID", True, 0.1),      # fewer than four channels, dilation
    (8, 6, 5, 1, 5, 1, 1, "SAME", True, 0.002),     # 5x5, left shifts
    (5, 5, 3, 2, 3, 1, 1, "SAME", True, 0.1),       # depth multiplier 2: the scalar loops
    (5, 4, 38, 1, 3, 1, 1, "SAME", True, 0.1),      # sixteen-channel passes, 6-channel tail
    (4, 4, 32, 1, 3, 1, 1, "VALID", False, 0.002),  # sixteen-channel passes only, left shift
    (6, 5, 12, 1, 3, 2, 1, "SAME", False, 0.002),   # a group of eight, then four int32 lanes
    (5, 5, 4, 1, 5, 1, 1, "SAME", True, 0.1),       # four channels only: int32 lanes
])
def test_depthwise_mve(h, w, cin, mult, k, stride, dil, padding, per_channel, out_s):
    on_m55(dw_model(h, w, cin, mult, k, k, stride=(stride, stride), dilation=(dil, dil),
                    padding=padding, act="RELU", in_zp=9, out_zp=-4, out_s=out_s,
                    per_channel=per_channel))


@pytest.mark.parametrize("shape1,shape2,act,q1,q2,qo,const", [
    ((1, 6, 6, 8), (1, 6, 6, 8), "RELU", (0.05, -3), (0.1, 7), (0.12, 2), (False, True)),
    ((1, 5, 3, 7), (1, 5, 3, 7), "NONE", (0.02, 100), (0.02, -128), (0.03, -5), (True, False)),
    ((3, 5), (3, 5), "RELU6", (0.1, 0), (0.003, 20), (0.05, 9), (False, True)),
    ((1, 4, 4, 6), (1, 1, 1, 6), "NONE", (0.05, -3), (0.1, 7), (0.12, 2), (False, True)),  # broadcast
])
def test_add_mve(shape1, shape2, act, q1, q2, qo, const):
    """One operand constant (the QEMU harness feeds one input); ResNet-8's two-input ADDs run
    in tests/test_e2e_qemu.py."""
    on_m55(binary_model("ADD", shape1, shape2, act=act, q1=q1, q2=q2, qo=qo, const=const))
