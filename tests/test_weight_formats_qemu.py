"""Compressed weight formats under QEMU (Cortex-M4): the lut (every index width 1..8 bits, rows
on and off byte boundaries), sparse, sparse+lut and table-driven huffman kernels, FULLY_CONNECTED,
CONV_2D and DEPTHWISE_CONV_2D (filter rows decoded into the scratch), the csr and hcsr row
kernels, and csr on the Cortex-M55's Helium kernel (mps3-an547), cross-compiled with the core's
flags and compared bit for bit with the reference interpreter."""

from __future__ import annotations

import numpy as np
import pytest

from test_weight_formats import (BIAS_CASES, CONV_CASES, CSR_CASES, DW_CASES, FC_CASES, conv,
                                 dw, dw_scratch, fc, spread_scale, structured)
from optest import QEMU_MARKS, assert_bit_exact_on_qemu
from tinycompress.compiler import compile_tflite

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


def counted_rows(counts, cols, seed=0):
    """One row per count, holding that many nonzero weights (40 clusters) at random columns."""
    rng = np.random.default_rng(seed)
    rows = structured(len(counts), cols, 0.0, 40, seed=seed)
    return np.stack([np.where(np.isin(np.arange(cols), rng.permutation(cols)[:k]), r, 0)
                     for k, r in zip(counts, rows)]).astype(np.int8)


def few_per_row(rows, cols, seed, most=2, values=(-2, -1, 1, 2)):
    """0..most small nonzero weights a row: accumulators small enough for scales near 1."""
    rng = np.random.default_rng(seed)
    w = np.zeros((rows, cols), np.int8)
    for r in range(rows):
        k = int(rng.integers(0, most + 1))
        w[r, rng.choice(cols, k, replace=False)] = rng.choice(values, k)
    return w


SHAPES = dict(min_distinct=20, max_clamped=0.1, min_span=140)  # outputs over the int8 range
NEAR_ONE = dict(min_distinct=40, max_clamped=0.2, min_span=250)
# name: (weights, per_channel, batch, fc()'s quantisation or None for spread_scale(w) / 2,
#        the requantisation the kernel takes, the outputs' spread); uint16 columns: 8 lanes,
#        uint8: 16. Shifts (scale 5e-4 x per-channel 0.5..1.5 / out_s): <= -1 take VQDMULH and
#        VRSHL, one 0 VQRDMULH, others tc_mul_by_qm one output at a time.
MVE_CSR_CASES = {
    "784-cols-8pct-64-clusters": (*CSR_CASES["784-cols-8pct-64-clusters"], None, "sr_pc", SHAPES),
    "300-cols-full-rows": (*CSR_CASES["300-cols-full-rows"], None, "sr_pt", SHAPES),
    "counts-0-to-19": (*CSR_CASES["counts-0-to-19"], None, "sr_pt", SHAPES),
    "empty-rows-start-middle-end": (*CSR_CASES["empty-rows-start-middle-end"], None, "sr_pc",
                                    SHAPES),
    # uint16 columns, rows of 0..17 and 40, 41 weights: every remainder of 8 lanes, empty rows
    "300-cols-counts-0-to-17": (counted_rows(list(range(18)) + [0, 40, 41], 300, 3), True, 1,
                                None, "sr_pc", SHAPES),
    # shifts -1 and -2: gemmlowp's double rounding would round 30-50 of the 144 outputs the
    # other way (a rounding tie every other value after its first step)
    "shifts-minus-2-and-minus-1": (few_per_row(24, 300, 0, 3), True, 2,
                                   dict(out_s=0.0015, bias_range=(-60, 60)), "sr_pc", NEAR_ONE),
    "shift-minus-1": (few_per_row(24, 300, 0, 3), False, 2,
                      dict(out_s=0.0015, bias_range=(-60, 60)), "sr_pt", NEAR_ONE),
    "shift-0": (few_per_row(24, 300, 1), False, 2, dict(out_s=0.0007, bias_range=(-60, 60)),
                "sr_pt", NEAR_ONE),
    "shifts-0-and-1": (few_per_row(24, 40, 2, 1, (-1, 1)), True, 2,
                       dict(out_s=0.0004, bias_range=(-30, 30)), "tc_mul_by_qm", NEAR_ONE),
    "shifts-minus-1-and-0": (few_per_row(24, 300, 3), True, 2,
                             dict(out_s=0.00075, bias_range=(-60, 60)), "tc_mul_by_qm",
                             NEAR_ONE),
}


@pytest.mark.parametrize("case", sorted(MVE_CSR_CASES))
def test_fc_csr_mve(case):
    """csr on the Cortex-M55 (mps3-an547) takes the Helium kernel (mve_csr): uint16 columns (8
    lanes) and uint8 (16 lanes), counts uint8 and uint16, row counts of every remainder of the
    vector and shorter than one, empty rows at the start, middle and end, per-channel and
    per-tensor, batches of 1 to 3, each requantisation path; the outputs span most of the int8
    range. Its weight arrays are the csr ones, byte for byte (the M4's kernel reads the same
    file)."""
    w, per_channel, batch, quant, requant, spread = MVE_CSR_CASES[case]
    tfl = fc(w, per_channel, batch, **(quant or dict(out_s=spread_scale(w) / 2)))
    m = assert_bit_exact_on_qemu(tfl, "mps3-an547", weights="csr", count=3, spread=spread)
    lay = m["layers"][0]
    assert lay["variant"] == "mve_csr" and lay["weight_format"] == "csr"
    assert lay["instructions_estimate"] is not None
    on_m55, _ = compile_tflite(tfl, name="m", board="mps3-an547", weights="csr")
    assert requant in on_m55["src/m.c"].decode()
    on_m4, m4 = compile_tflite(tfl, name="m", board=BOARD, weights="csr")
    assert m4["layers"][0]["variant"] == "csr"
    assert on_m55["src/m_weights.c"] == on_m4["src/m_weights.c"]
    assert m["weights_bytes"] == m4["weights_bytes"]


@pytest.mark.parametrize("case", ["lenet-fc1-like-8pct-64", "784-cols-long-gaps", "counts-0-to-19",
                                  "empty-rows-start-middle-end", "every-value", "all-zero",
                                  "pairs-take-fillers"])
def test_fc_hcsr(case):
    """hcsr compiled for the board (SMLATB, CLZ and unaligned loads): fillers past the cap,
    every remainder of the unrolled loop of pairs and odd rows, empty rows, 256 values, no
    weights, batches of 2."""
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


@pytest.mark.parametrize("board", ["mps2-an385-m0", "mps2-an385", "mps3-an547"])
@pytest.mark.parametrize("case", ["pairs-take-fillers", "counts-0-to-19", "every-value"])
def test_fc_hcsr_other_cores(board, case):
    """hcsr's builds on each core: no CLZ on the M0 (the bit offset advanced by the code
    lengths), CLZ and Thumb-2 LSR without SMLATB on the M3, CLZ, LSR and SMLATB on the M55."""
    from test_weight_formats import HCSR_CASES, spread_scale
    w, per_channel, batch = HCSR_CASES[case]
    m = assert_bit_exact_on_qemu(fc(w, per_channel, batch, out_s=spread_scale(w)), board,
                                 weights="hcsr", count=3, portable=False)
    assert m["layers"][0]["variant"] == "hcsr"
