"""Compressed weight formats under QEMU (Cortex-M4): the lut (every index width 1..8 bits, rows
on and off byte boundaries), sparse, sparse+lut and table-driven huffman kernels, FULLY_CONNECTED,
CONV_2D and DEPTHWISE_CONV_2D (filter rows decoded into the scratch), cross-compiled with the
core's flags and compared bit for bit with the reference interpreter."""

from __future__ import annotations

import pytest

from test_weight_formats import (BIAS_CASES, CONV_CASES, DW_CASES, FC_CASES, conv, dw,
                                 dw_scratch, fc, structured)
from optest import QEMU_MARKS, assert_bit_exact_on_qemu

pytestmark = QEMU_MARKS

BOARD = "mps2-an386"  # Cortex-M4F


def on_m4(tflite: bytes, weights: str, portable: bool = True) -> dict:
    """Three vectors on BOARD. The portable C (the compressed kernels are portable), unless
    `portable` is False: then the core's kernels, compressed layers falling back to portable."""
    return assert_bit_exact_on_qemu(tflite, BOARD, weights=weights, count=3, portable=portable)


@pytest.mark.parametrize("clusters", [2, 3, 5, 9, 17, 33, 65, 129])
def test_fc_lut_every_index_width(clusters):
    """53 columns: rows start off the index groups (head and tail decoded one at a time)."""
    w = structured(6, 53, 0.0, clusters, seed=clusters)
    m = on_m4(fc(w, per_channel=clusters % 2 == 1), "lut")
    assert m["layers"][0]["weight_format"] == "lut"


@pytest.mark.parametrize("fmt", ["sparse", "huffman"])
@pytest.mark.parametrize("sparsity", [0.0, 0.9, 0.95, 1.0])
def test_fc_entries(fmt, sparsity):
    """Huffman at 95%: gap codes longer than the lookup take the bit-serial fallback. Two batch
    rows: the cursor over the entries restarts for each."""
    on_m4(fc(structured(16, 100, sparsity, 16), batch=2), fmt)


@pytest.mark.parametrize("fmt", ["sparse", "huffman"])
@pytest.mark.parametrize("case", ["empty-rows-start-middle-end", "only-the-last-row",
                                  "gaps-longer-than-rows"])
def test_fc_empty_rows_and_long_gaps(case, fmt):
    w, per_channel, batch = FC_CASES[case]
    on_m4(fc(w, per_channel, batch), fmt)


@pytest.mark.parametrize("fmt", ["sparse", "huffman"])
def test_conv_empty_rows(fmt):
    w, geo = CONV_CASES["3x3-empty-rows-start-middle-end"]
    on_m4(conv(w, **geo), fmt)


@pytest.mark.parametrize("fmt", ["lut", "sparse", "huffman"])
def test_conv_rows_in_scratch(fmt):
    """80% sparse: two decoded rows (45 bytes) for the border, and per row the interior's list of
    nonzero taps (at most 12 in a row: 16 in groups of 8; uint16 offset + int8 value each)."""
    m = on_m4(conv(CONV_CASES["3x3-80pct-6-clusters"][0]), fmt)
    assert m["layers"][0]["scratch_bytes"] == 2 * (3 * 3 * 5 + 3 * 16)


@pytest.mark.parametrize("fmt", ["lut", "sparse", "huffman"])
@pytest.mark.parametrize("case", ["3x3-90pct-stride2x1-dilation2-c5", "3x3-85pct-dilation1x3-valid",
                                  "5x5-80pct-valid-15-clusters-c7", "3x3-80pct-batch2-stride2"])
def test_conv_gathers_nonzero_taps(case, fmt):
    """The interior's gather over the nonzero taps (uint16 offsets in the scratch) on the core."""
    w, geo = CONV_CASES[case]
    on_m4(conv(w, **geo), fmt)


def test_conv_odd_channels_strided_dilated():
    w, geo = CONV_CASES["3x3-stride2-dilation-ic1"]
    on_m4(conv(w[:3], **geo), "lut")


@pytest.mark.parametrize("fmt", ["lut", "sparse", "huffman", "auto"])
@pytest.mark.parametrize("case", ["3x3-c5-50pct-6-clusters", "3x3-c3-dm2-stride2",
                                  "5x5-c6-90pct-dilation2", "3x3-c7-all-zero",
                                  "3x3-c8-empty-rows-start-middle-end",
                                  "3x3-c5-dense-one-cluster"])
def test_dw_rows_in_scratch(case, fmt):
    """Compiled for the board (DSP kernels elsewhere): the compressed depthwise layer runs the
    portable kernel with one channel's row (kh*kw bytes) in the scratch, and a sparse filter's
    list of nonzero taps beside it."""
    rows, kh, kw, geo = DW_CASES[case]
    m = on_m4(dw(rows, kh, kw, **geo), fmt, portable=False)
    assert "dsp" in m["kernel_families"]
    if m["layers"][0]["weight_format"] != "dense":
        assert m["layers"][0]["scratch_bytes"] == dw_scratch(case)


@pytest.mark.parametrize("fmt", ["lut", "sparse", "huffman"])
@pytest.mark.parametrize("case", ["3x3-c5-85pct-stride2-dilation2", "3x3-c3-dm2-80pct-dilation1x2",
                                  "3x3-c3-dm2-75pct-valid-stride2x1", "5x5-c7-60pct-valid",
                                  "5x5-c9-dm1-50pct-stride1x2-dilation2x1",
                                  "7x7-c4-80pct-dilation-1x2"])
def test_dw_gathers_nonzero_taps(case, fmt):
    """The interior's switch over the row's nonzero taps (uint16 offsets in the scratch) on the
    core: stride, dilation, SAME and VALID, depth multiplier 1 and 2, odd channel counts."""
    rows, kh, kw, geo = DW_CASES[case]
    m = on_m4(dw(rows, kh, kw, **geo), fmt)
    assert m["layers"][0]["scratch_bytes"] == dw_scratch(case)


@pytest.mark.parametrize("fmt", ["lut", "sparse", "huffman"])
@pytest.mark.parametrize("case", ["int8-raw-zp-128", "int16-raw-zp-128", "int32-raw-zp-128"])
def test_bias_widths(case, fmt):
    """Narrow raw biases (the kernel adds the input offset: FULLY_CONNECTED to x, CONV_2D and
    DEPTHWISE_CONV_2D folded per channel at decode time) and a wide folded one."""
    in_zp, bias_range = BIAS_CASES[case]
    on_m4(fc(structured(6, 50, 0.5, 5), per_channel=True, in_zp=in_zp, bias_range=bias_range),
          fmt)
    on_m4(conv(structured(5, 45, 0.6, 6, seed=3).reshape(5, 3, 3, 5), in_zp=in_zp,
               bias_range=bias_range), fmt)
    on_m4(dw(structured(6, 9, 0.3, 6, seed=4), 3, 3, in_zp=in_zp, bias_range=bias_range), fmt)


@pytest.mark.parametrize("clusters", [2, 3, 5, 9, 17, 33, 65, 200])
def test_dw_lut_every_index_width(clusters):
    """25 taps a row: rows start off the index groups."""
    rows = structured(16, 25, 0.0, clusters, seed=clusters)
    m = on_m4(dw(rows, 5, 5, h=6, wd=5), "lut")
    assert m["layers"][0]["weight_format"] == "lut"


@pytest.mark.parametrize("fmt", ["lut", "huffman"])
def test_dw_on_a_helium_core(fmt):
    """Cortex-M55 (mps3-an547): the compressed depthwise layer runs the portable kernel beside the
    core's MVE/DSP requantisation templates."""
    rows, kh, kw, geo = DW_CASES["3x3-c3-dm2-stride2"]
    m = assert_bit_exact_on_qemu(dw(rows, kh, kw, **geo), "mps3-an547", weights=fmt, count=3)
    assert m["kernel_families"][0] == "mve" and m["layers"][0]["weight_format"] == fmt


@pytest.mark.parametrize("case", ["784-cols-8pct-64-clusters", "counts-0-to-19",
                                  "empty-rows-start-middle-end", "300-cols-full-rows"])
def test_fc_csr(case):
    """csr compiled for the board: uint16 and uint8 columns and counts, every remainder of the
    unrolled loop, empty rows, batches of 2 and 3."""
    from test_weight_formats import CSR_CASES, spread_scale
    w, per_channel, batch = CSR_CASES[case]
    m = on_m4(fc(w, per_channel, batch, out_s=spread_scale(w)), "csr", portable=False)
    assert m["layers"][0]["variant"] == "csr"


@pytest.mark.parametrize("case", ["lenet-fc1-like-8pct-64", "784-cols-long-gaps", "counts-0-to-19",
                                  "empty-rows-start-middle-end", "every-value", "all-zero"])
def test_fc_hcsr(case):
    """hcsr compiled for the board (gcc's SMLABB and unaligned loads): fillers past the cap,
    every remainder of the unrolled loop, empty rows, 256 values, no weights, batches of 2."""
    from test_weight_formats import HCSR_CASES, spread_scale
    w, per_channel, batch = HCSR_CASES[case]
    m = on_m4(fc(w, per_channel, batch, out_s=spread_scale(w)), "hcsr", portable=False)
    assert m["layers"][0]["variant"] == "hcsr"


@pytest.mark.parametrize("case", ["lenet-fc1-like-8pct-64", "counts-0-to-19"])
def test_fc_hcsr_raw_bias(case):
    """hcsr+raw with the raw (int8) bias on the board: the input offset 128 added per input."""
    from test_weight_formats import HCSR_CASES, spread_scale
    w, per_channel, batch = HCSR_CASES[case]
    m = on_m4(fc(w, per_channel, batch, in_zp=-128, bias_range=(-100, 100),
                 out_s=spread_scale(w)), "hcsr+raw", portable=False)
    assert m["layers"][0]["weight_format"] == "hcsr+raw"
