"""Cortex-M DSP kernels (templates/cores/dsp/): every op compiled for a DSP core (`board=`),
run under QEMU and compared bit for bit with the reference interpreter, over shapes that
exercise the SMLAD paths' tails (depths not a multiple of 4, row counts not a multiple of 4),
padding, strides, dilation, per-tensor and per-channel requantisation."""

from __future__ import annotations

import numpy as np
import pytest

from test_op_add import binary_model
from test_op_conv_2d import conv_model
from test_op_depthwise_conv_2d import dw_model
from test_op_fully_connected import fc_model
from optest import QEMU_MARKS, assert_bit_exact_on_qemu

pytestmark = QEMU_MARKS

BOARD = "mps2-an386"  # Cortex-M4F


def assert_bit_exact_on(tflite: bytes, board: str = BOARD, count: int = 6, seed: int = 0,
                        inputs=None) -> dict:
    """Compile for `board` with its DSP kernels, run under QEMU, compare with the reference."""
    manifest = assert_bit_exact_on_qemu(tflite, board, count=count, seed=seed, inputs=inputs)
    assert "dsp" in manifest["kernel_families"]
    return manifest


@pytest.mark.parametrize("batch,depth,units,per_channel", [
    (1, 3, 1, False), (1, 7, 5, True), (2, 16, 10, False), (1, 33, 9, True), (1, 640, 128, False),
])
def test_fc_dsp(batch, depth, units, per_channel):
    assert_bit_exact_on(fc_model(batch, depth, units, "RELU", in_zp=-3, out_zp=5, in_s=0.05,
                                 w_s=0.01, out_s=0.1, per_channel=per_channel))


@pytest.mark.parametrize("h,w,cin,cout,k,stride,dil,padding,per_channel", [
    (5, 4, 8, 12, 1, 1, 1, "SAME", True),     # pointwise, channels a multiple of 4: pixel pairs
    (3, 3, 16, 8, 1, 1, 1, "SAME", False),    # pixel pairs and a last odd pixel
    (3, 3, 7, 5, 1, 1, 1, "VALID", False),    # pointwise, depth and channel tails
    (7, 6, 3, 9, 3, 1, 1, "SAME", True),      # im2col through the byte buffer, borders
    (8, 8, 4, 6, 3, 2, 1, "SAME", True),      # direct widening, stride 2, odd padding
    (9, 7, 5, 4, 3, 1, 2, "SAME", False),     # dilation
    (10, 5, 1, 7, 4, 2, 1, "VALID", True),    # KWS-like first layer, one input channel
    (6, 6, 16, 8, 1, 2, 1, "SAME", True),     # 1x1 with stride: the im2col kernel
])
def test_conv_dsp(h, w, cin, cout, k, stride, dil, padding, per_channel):
    assert_bit_exact_on(conv_model(h, w, cin, cout, k, k, stride=(stride, stride),
                                   dilation=(dil, dil), padding=padding, act="RELU6",
                                   in_zp=-7, out_zp=3, per_channel=per_channel))


def test_conv_dsp_huge_bias_wraps_like_the_reference():
    """A bias too big to fold without overflow: the DSP kernel folds it modulo 2^32."""
    assert_bit_exact_on(conv_model(5, 5, 6, 5, 3, 3, in_zp=100, bias_range=(2**31 - 10**6,
                                                                            2**31 - 1)))


@pytest.mark.parametrize("h,w,cin,mult,k,stride,dil,padding,per_channel", [
    (6, 5, 8, 1, 3, 1, 1, "SAME", True),      # four channels a word, borders
    (7, 7, 6, 1, 3, 2, 1, "SAME", False),     # channel tail, stride 2
    (5, 6, 3, 1, 3, 1, 2, "VALID", True),     # fewer than four channels, dilation
    (8, 6, 5, 1, 5, 1, 1, "SAME", True),      # 5x5
    (5, 5, 3, 2, 3, 1, 1, "SAME", True),      # depth multiplier 2: the scalar loops
])
def test_depthwise_dsp(h, w, cin, mult, k, stride, dil, padding, per_channel):
    assert_bit_exact_on(dw_model(h, w, cin, mult, k, k, stride=(stride, stride),
                                 dilation=(dil, dil), padding=padding, act="RELU",
                                 in_zp=9, out_zp=-4, per_channel=per_channel))


@pytest.mark.parametrize("out_s,act,per_channel", [
    (0.0004, "NONE", True),     # left shifts in some channels: the general tc_requant_dr
    (0.0004, "RELU", False),    # per-tensor left shift
    (0.002, "RELU6", True),     # right shifts of 1 and 2: tc_requant_dr_rshift, clamp both sides
    (0.0015, "NONE", False),    # per-tensor right shift by 1: tc_rdbpot
    (0.1, "NONE", True),        # every shift <= -2: tc_requant_1r with c.rshift2, SSAT clamp
])
def test_dsp_requantisation_paths(out_s, act, per_channel):
    """Each compile-time variant of the DSP requantisation (cores/dsp/.../conv_2d_s8_requant)."""
    assert_bit_exact_on(conv_model(5, 4, 8, 12, 1, 1, act=act, in_zp=-7, out_zp=3, out_s=out_s,
                                   per_channel=per_channel))
    assert_bit_exact_on(dw_model(5, 5, 8, 1, 3, 3, act=act, in_zp=9, out_zp=-4, out_s=out_s,
                                 per_channel=per_channel))


@pytest.mark.parametrize("shape1,shape2,act,q1,q2,qo,const", [
    ((1, 6, 6, 8), (1, 6, 6, 8), "NONE", (0.05, -3), (0.1, 7), (0.12, 2), (False, True)),
    ((1, 5, 3, 7), (1, 5, 3, 7), "RELU", (0.02, 100), (0.1, -128), (0.03, -5), (True, False)),
    ((1, 4, 4, 6), (1, 1, 1, 6), "RELU6", (0.1, 0), (0.1, 20), (0.05, 9), (False, True)),
])
def test_add_dsp(shape1, shape2, act, q1, q2, qo, const):
    """ADD's rescales on DSP cores: shifts by 1 (tc_rdbpot), by 2 or more (tc_rdbpot_p), the
    exact half, SSAT or a clamp; one operand constant (the QEMU harness feeds one input)."""
    assert_bit_exact_on(binary_model("ADD", shape1, shape2, act=act, q1=q1, q2=q2, qo=qo,
                                     const=const))


# ---- the blocked kernels (cores/dsp/kernels/*_w16.c.j2): variant dsp_w8 (int8 weight words,
# the default) and dsp_w16 (int16 weights, with `optimize` "speed" on the Context) -----------

@pytest.fixture(params=["dsp_w8", "dsp_w16"])
def blocked(request, monkeypatch):
    """The variant under test, forced by the compile Context's `optimize` (the attribute
    `--optimize` sets; ops/_dsp.py wants_w16): "size" for dsp_w8, "speed" for dsp_w16."""
    from tinycompress import compiler
    plain = compiler.context_for
    mode = {"dsp_w8": "size", "dsp_w16": "speed"}[request.param]

    def forced(*args, **kwargs):
        ctx = plain(*args, **kwargs)
        ctx.optimize = mode
        return ctx
    monkeypatch.setattr(compiler, "context_for", forced)
    return request.param


def test_balanced_takes_w16_where_it_saves_enough_per_flash_byte():
    """Balanced (the Context's default): int16 weights for a layer with many output positions per
    weight, int8 for one with few; speed and size override."""
    from types import SimpleNamespace
    from tinycompress.ops._dsp import wants_w16
    from tinycompress.ops.base import Context
    plain = SimpleNamespace(optimize=Context().optimize)
    assert wants_w16(plain, "CONV_2D", 48 * 48) and not wants_w16(plain, "CONV_2D", 6 * 6)
    assert wants_w16(plain, "DEPTHWISE_CONV_2D", 125)
    # KWS's pointwise layers (125 positions, 26 instructions an extra byte measured) take int16;
    # IC's 8x8 ones (12 a byte) and VWW's 6x6 depthwise ones (19 a byte) stay int8.
    assert wants_w16(plain, "CONV_2D", 125) and not wants_w16(plain, "CONV_2D", 8 * 8)
    assert not wants_w16(plain, "DEPTHWISE_CONV_2D", 6 * 6)
    assert not wants_w16(plain, "FULLY_CONNECTED", 1)
    assert wants_w16(SimpleNamespace(optimize="speed"), "FULLY_CONNECTED", 1)
    assert not wants_w16(SimpleNamespace(optimize="size"), "CONV_2D", 10**6)


def assert_blocked_bit_exact(tflite: bytes, variant: str, count: int = 6) -> None:
    """Compiled for the M4F, every layer takes `variant` and matches the reference on `count`
    random vectors whose reference outputs spread over most of the int8 range."""
    from tinycompress.compiler import compile_tflite
    from tinycompress.reference import Reference
    from optest import random_inputs
    _, manifest = compile_tflite(tflite, name="m", board=BOARD)
    x = random_inputs(manifest, count, np.random.default_rng(1))[0]
    assert np.ptp(np.asarray(Reference(tflite).run_batch(x), np.int32)) >= 100, "not spread"
    manifest = assert_bit_exact_on(tflite, inputs=x)
    assert [layer["variant"] for layer in manifest["layers"]] == [variant]


def test_layout_w8_unpacks_to_the_w16_pairs():
    """SXTB16 and SXTB16 ROR #8 of each layout_w8 word (modelled in numpy) give layout_w16's
    two words, for odd row and column counts (the zero padding included)."""
    from tinycompress.ops._dsp import layout_w8, layout_w16
    w = np.random.default_rng(0).integers(-128, 128, (7, 13)).astype(np.int8)
    w[0, :4] = [-128, 127, -1, 0]
    for block in (2, 4):
        b = layout_w8(w, block).view(np.uint32).astype(np.int64)
        byte = [(b >> (8 * i) & 0xFF) for i in range(4)]
        half = [(v ^ 0x80) - 0x80 & 0xFFFF for v in byte]  # sign-extend each byte to int16
        pairs = np.stack([half[0] | half[2] << 16, half[1] | half[3] << 16], axis=-1)
        assert np.array_equal(pairs.reshape(-1).astype(np.uint32),
                              layout_w16(w, block).view(np.uint32))
        assert b.size == -(-7 // block) * block * 4  # one word a row and group: int8 size


@pytest.mark.parametrize("h,w,cin,cout,k,stride,dil,padding,batch", [
    (5, 5, 8, 7, 1, 1, 1, "SAME", 1),      # pointwise from the input, odd channels and pixels
    (3, 4, 16, 6, 1, 1, 1, "VALID", 2),    # pointwise, two batches: pixel pairs across them
    (6, 5, 5, 3, 3, 2, 1, "SAME", 1),      # im2col, 45 taps (zero-weight tail), borders
    (6, 6, 12, 6, 3, 1, 1, "VALID", 1),    # interior only, rows widened straight from the input
    (9, 8, 4, 5, 3, 2, 2, "SAME", 2),      # dilation and stride, batches
    (10, 5, 1, 8, 4, 2, 1, "VALID", 1),    # KWS-like first layer: one input channel
    (5, 5, 6, 9, 1, 1, 1, "SAME", 1),      # 1x1 whose depth is not a multiple of 4: im2col
])
def test_conv_dsp_blocked(h, w, cin, cout, k, stride, dil, padding, batch, blocked):
    assert_blocked_bit_exact(conv_model(h, w, cin, cout, k, k, stride=(stride, stride),
                                        dilation=(dil, dil), padding=padding, act="RELU",
                                        in_zp=-7, out_zp=-20, batch=batch, per_channel=True),
                             blocked)


@pytest.mark.parametrize("batch,depth,units,per_channel", [
    (1, 640, 128, True), (2, 10, 7, False), (3, 4, 1, True), (1, 33, 9, False),
])
def test_fc_dsp_blocked(batch, depth, units, per_channel, blocked):
    assert_blocked_bit_exact(fc_model(batch, depth, units, "NONE", in_zp=-3, out_zp=5,
                                      in_s=0.05, w_s=0.01, out_s=0.3 if depth > 100 else 0.03,
                                      per_channel=per_channel), blocked)


@pytest.mark.parametrize("h,w,cin,k,stride,dil,padding", [
    (7, 6, 12, 3, 2, 1, "SAME"),     # stride 2, borders on both sides
    (5, 6, 4, 3, 1, 2, "VALID"),     # dilation, interior only: taps straight from the input
    (9, 7, 16, 5, 1, 1, "SAME"),     # 5x5: twelve pairs of taps and a last single one
    (1, 1, 8, 3, 1, 1, "SAME"),      # every tap but one in the padding (zero-point ring rows)
    (9, 8, 8, 3, 1, 2, "SAME"),      # dilation with padding: a ring of 5 rows
    (10, 9, 4, 3, 2, 2, "SAME"),     # stride 2 and dilation 2: rows skipped by the window
    (6, 6, 8, 2, 1, 1, "SAME"),      # 2x2: pairs only, padding on one side
    (4, 40, 64, 3, 1, 1, "SAME"),    # tap offsets past 4095 bytes: the pair asm's register form
    (4, 40, 64, 3, 1, 1, "VALID"),   # the same from the input
])
def test_depthwise_dsp_blocked(h, w, cin, k, stride, dil, padding, blocked):
    assert_blocked_bit_exact(dw_model(h, w, cin, 1, k, k, stride=(stride, stride),
                                      dilation=(dil, dil), padding=padding, act="NONE",
                                      in_zp=9, out_zp=-4, out_s=0.05, per_channel=True), blocked)


# ---- the blocked CONV_2D's inline two-pixel pass and one-SMMLAR requantisation
# (conv_2d_s8_w16.c.j2, tc_requant_mr, ops/_dsp_requant.py) ------------------------------------

def blocked_conv_source(tflite: bytes) -> str:
    from tinycompress.compiler import compile_tflite
    files, _ = compile_tflite(tflite, name="m", board=BOARD)
    return files["src/m.c"].decode()


@pytest.mark.parametrize("h,w,cin,cout,k,stride,padding,batch", [
    (4, 5, 8, 6, 1, 1, "SAME", 1),      # 2 groups unrolled, pixels and channels even
    (3, 3, 12, 5, 1, 1, "SAME", 1),     # 3 groups, an odd last pixel, an odd last channel
    (7, 7, 3, 8, 3, 2, "SAME", 1),      # VWW's first layer: 27 taps (7 groups), stride 2, borders
    (3, 3, 128, 6, 1, 1, "VALID", 1),   # 32 groups (VWW's pointwise layers)
    (3, 2, 148, 4, 1, 1, "VALID", 1),   # 37 groups: the pass through the out-of-line dot
    (5, 4, 16, 7, 3, 1, "SAME", 2),     # 36 groups: the largest unrolled, batches, odd channels
])
def test_conv_dsp_blocked_inline_pass(h, w, cin, cout, k, stride, padding, batch, blocked):
    tflite = conv_model(h, w, cin, cout, k, k, stride=(stride, stride), padding=padding,
                        act="NONE", in_zp=5, out_zp=-9, in_s=0.05, w_s=0.01,
                        out_s=0.05 * cin * k * k / 16, batch=batch, per_channel=True, seed=cin)
    source = blocked_conv_source(tflite)
    assert "tc_requant_mr(" in source
    assert ("TC_DOT2X2_W" in source) == (-(-cin * k * k // 4) <= 36)
    assert_blocked_bit_exact(tflite, blocked)


def test_conv_dsp_blocked_shift_zero_and_a_dead_channel(blocked):
    """Channels whose shift is 0 (the sign mask, tc_requant_mr0) or 1 beside ordinary ones, and
    a dead channel: bias -2^30 (the accumulator may not be doubled) and a multiplier so small
    that its output is one value (m = 0, the constant in k), as VWW's layers have."""
    cout, cin = 8, 4
    scales = [1e-3] * cout  # in_s * w_s / out_s = 2.5e-3: shift -8 or -9
    scales[1], scales[2] = 0.3, 0.18  # 0.75: shift 0; 0.45: shift -1 (clamped mostly)
    scales[5] = 2e-9  # the dead channel
    biases = [100, -50, 30, 0, 7, -2**30, -3, 1000]
    tflite = conv_model(6, 6, cin, cout, 1, 1, act="NONE", in_zp=-7, out_zp=3, in_s=0.05,
                        out_s=0.02, w_scales=scales, biases=biases, seed=3)
    source = blocked_conv_source(tflite)
    assert "tc_requant_mr0(" in source
    assert_blocked_bit_exact(tflite, blocked)


# ---- FULLY_CONNECTED with int8 weights in byte pairs (ops/_dsp_bytepairs.py, tc_dot4x1_w8p) ----

def test_byte_pairs_give_the_row_sums():
    """tc_dot4x1_w8p's arithmetic modelled in numpy on layout_w8p / bias_pairs: the raw words'
    halfwords as int16, their bytes 1 and 3 (SXTB16 ROR #8), the packed accumulator less 256
    times the odd row's, all modulo 2^32, give bias + w . x on every row; odd row and column
    counts (padding), weights at -128 and 127, huge biases that wrap."""
    from tinycompress.ops._dsp_bytepairs import bias_pairs, layout_w8p
    rng = np.random.default_rng(5)
    rows, cols = 7, 13
    w = rng.integers(-128, 128, (rows, cols))
    w[0, :3], w[1, :3] = [-128, 127, -1], [127, -128, 0]
    x = np.zeros(16, np.int64)
    x[:cols] = rng.integers(-128, 128, cols)
    bias = rng.integers(-(2**31), 2**31, rows)
    words = layout_w8p(w.astype(np.int8)).view(np.uint32).astype(np.int64).reshape(2, 4, 2, 2)
    start = bias_pairs(bias).astype(np.int64).reshape(2, 4)
    xl, xh = np.stack([x[0::4], x[2::4]], -1), np.stack([x[1::4], x[3::4]], -1)  # (k, k+2), ...
    def halves(v):  # the int16 halfwords of words v
        return np.stack([(v & 0xFFFF ^ 0x8000) - 0x8000, (v >> 16 ^ 0x8000) - 0x8000], -1)
    def bytes13(v):  # SXTB16 ROR #8: bytes 1 and 3 sign-extended
        return np.stack([(v >> 8 & 0xFF ^ 0x80) - 0x80, (v >> 24 ^ 0x80) - 0x80], -1)
    got = []
    for b in range(2):
        acc = start[b].copy()
        acc[0::2] -= 128 * x.sum()
        for pair in range(2):
            wl, wh = words[b, :, pair, 0], words[b, :, pair, 1]
            acc[2 * pair] += (halves(wl) * xl).sum() + (halves(wh) * xh).sum()
            acc[2 * pair + 1] += (bytes13(wl) * xl).sum() + (bytes13(wh) * xh).sum()
        acc[0::2] -= acc[1::2] << 8
        got += list(acc)
    wrap = lambda v: (np.asarray(v) + 2**31) % 2**32 - 2**31  # noqa: E731
    assert np.array_equal(wrap(got)[:rows], wrap(bias + w @ x[:cols]))


@pytest.mark.parametrize("batch,depth,units,act", [
    (1, 13, 6, "RELU6"),      # depth tail, two rows past the last block, a clamp that is not SSAT
    (2, 128, 11, "NONE"),     # three rows past the last block, batches
    (1, 8, 5, "RELU"),        # one row past the last block
])
def test_fc_dsp_blocked_tails(batch, depth, units, act, blocked):
    assert_blocked_bit_exact(fc_model(batch, depth, units, act, in_zp=-3, out_zp=-10,
                                      in_s=0.05, w_s=0.01, out_s=0.006 * depth ** 0.5,
                                      per_channel=False), blocked)

@pytest.mark.parametrize("batch,kh,kw,out_s,out_zp,act,per_channel", [
    (2, 3, 3, 0.05, -4, "RELU", True),       # batches: the ring refilled per batch, RELU clamp
    (1, 1, 3, 0.05, 100, "NONE", False),     # 1x3 (KWS-like), per tensor: tc_requant_1rz_dsp
    (1, 3, 1, 0.002, 7, "RELU6", True),      # 3x1, right shifts of 1 to 3, RELU6 clamp
    (1, 3, 3, 0.0008, 7, "NONE", True),      # a channel shifting by 0: conv_2d_s8_requant's path
    (1, 3, 3, 0.05, -128, "NONE", True),     # zero point -128 folded into kz
])
def test_depthwise_dsp_blocked_requant_and_shapes(batch, kh, kw, out_s, out_zp, act, per_channel,
                                                  blocked):
    """The ring with batches and non-square filters, and each requantisation of the kernel: the
    stream's multiplier and kz per channel (SMMLAR of the doubled accumulator with int16
    weights, of the accumulator shifted left once with int8), constants per tensor, the
    fallback when a channel does not shift right."""
    assert_blocked_bit_exact(dw_model(7, 6, 8, 1, kh, kw, padding="SAME", act=act, in_zp=-9,
                                      out_zp=out_zp, out_s=out_s, per_channel=per_channel,
                                      batch=batch), blocked)
