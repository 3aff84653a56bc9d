"""Compressed weight formats (lut, sparse, sparse+lut, huffman) for FULLY_CONNECTED, CONV_2D and
DEPTHWISE_CONV_2D: bit-exact against the reference interpreter over shapes, sparsities (0% to
100%), codebook sizes (1 to 8 bits, one cluster), per-channel and per-tensor quantisation; byte
counts and the `auto` rule; strict C99 on gcc and arm-none-eabi-gcc."""

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, HealthCheck, strategies as st

from optest import assert_bit_exact
from tflite_builder import T, model
from tinycompress.cli import main
from tinycompress.compiler import compile_tflite
from tinycompress.ops._conv_common import out_size
from tinycompress.ops.conv_2d import GATHER_UNROLL
from tinycompress.ops.depthwise_conv_2d import gather_max_density
from tinycompress.ops.cost import BALANCED_SLACK
from tinycompress.ops.fully_connected import CSR_UNROLL, HCSR_UNROLL
from tinycompress.ops import _hcsr as hcsr_mod
from tinycompress.ops._weight_formats import (FORMATS, PEEK_MAX, decode, encode,
                                              huffman, lut, narrowest_int, packed_bias, sparse)

COMPRESSED = ["lut", "sparse", "huffman"]


def structured(rows, cols, sparsity, clusters, seed=0, per_row=False):
    """int8 weights with `clusters` distinct nonzero values (per tensor, or per row) and a
    fraction `sparsity` of zeros, as Deep Compression leaves them."""
    rng = np.random.default_rng(seed)
    pool = np.setdiff1d(np.arange(-127, 128), [0])
    if per_row:
        vals = np.stack([rng.choice(pool, clusters, replace=False) for _ in range(rows)])
        w = np.take_along_axis(vals, rng.integers(0, clusters, (rows, cols)), axis=1)
    else:
        w = rng.choice(pool, clusters, replace=False)[rng.integers(0, clusters, (rows, cols))]
    w[rng.random((rows, cols)) < sparsity] = 0
    return w.astype(np.int8)


def fc(w, per_channel=False, batch=1, act="NONE", seed=1, in_zp=-3, bias_range=(-5000, 5000),
       out_s=0.1):
    units, depth = w.shape
    rng = np.random.default_rng(seed)
    ws = list(rng.uniform(0.5, 1.5, units) * 0.01) if per_channel else 0.01
    bs = (list(np.float32(0.05) * np.float32(ws)) if per_channel
          else float(np.float32(0.05) * np.float32(0.01)))
    zeros = [0] * units if per_channel else 0
    b = rng.integers(*bias_range, units).astype(np.int32)
    return model("FULLY_CONNECTED",
                 [T((batch, depth), scale=0.05, zero_point=in_zp),
                  T((units, depth), scale=ws, zero_point=zeros, data=w),
                  T((units,), "int32", scale=bs, zero_point=zeros, data=b)],
                 [T((batch, units), scale=out_s, zero_point=5)],
                 {"fused_activation_function": act}, version=4 if per_channel else 1)


def filter_quant(cout, per_channel, bias_range):
    """Filter scales (per channel or one), bias scales, zero points and random int32 biases."""
    rng = np.random.default_rng(2)
    ws = list(rng.uniform(0.5, 1.5, cout) * 0.01) if per_channel else 0.01
    bs = (list(np.float32(0.05) * np.float32(ws)) if per_channel
          else float(np.float32(0.05) * np.float32(0.01)))
    zeros = [0] * cout if per_channel else 0
    return ws, bs, zeros, rng.integers(*bias_range, cout).astype(np.int32)


def conv(w, h=6, wd=6, stride=(1, 1), dilation=(1, 1), padding="SAME", per_channel=True,
         in_zp=-3, bias_range=(-5000, 5000), batch=1):
    cout, kh, kw, cin = w.shape
    ws, bs, zeros, b = filter_quant(cout, per_channel, bias_range)
    oh = out_size(padding, h, kh, stride[0], dilation[0])
    ow = out_size(padding, wd, kw, stride[1], dilation[1])
    return model("CONV_2D",
                 [T((batch, h, wd, cin), scale=0.05, zero_point=in_zp),
                  T((cout, kh, kw, cin), scale=ws, zero_point=zeros, axis=0, data=w),
                  T((cout,), "int32", scale=bs, zero_point=zeros, data=b)],
                 [T((batch, oh, ow, cout), scale=0.1, zero_point=5)],
                 {"padding": padding, "stride_h": stride[0], "stride_w": stride[1],
                  "dilation_h_factor": dilation[0], "dilation_w_factor": dilation[1],
                  "fused_activation_function": "RELU"}, version=3)


def dw(rows, kh, kw, dm=1, h=6, wd=6, stride=(1, 1), dilation=(1, 1), padding="SAME",
       per_channel=True, in_zp=-3, bias_range=(-5000, 5000)):
    """A DEPTHWISE_CONV_2D whose filter holds `rows` (one row of kh*kw weights per output
    channel, the rows the formats encode) as its 1HWC tensor."""
    cout = rows.shape[0]
    cin = cout // dm
    w = rows.T.reshape(1, kh, kw, cout)
    ws, bs, zeros, b = filter_quant(cout, per_channel, bias_range)
    oh = out_size(padding, h, kh, stride[0], dilation[0])
    ow = out_size(padding, wd, kw, stride[1], dilation[1])
    return model("DEPTHWISE_CONV_2D",
                 [T((1, h, wd, cin), scale=0.05, zero_point=in_zp),
                  T((1, kh, kw, cout), scale=ws, zero_point=zeros, axis=3, data=w),
                  T((cout,), "int32", scale=bs, zero_point=zeros, data=b)],
                 [T((1, oh, ow, cout), scale=0.1, zero_point=5)],
                 {"padding": padding, "stride_h": stride[0], "stride_w": stride[1],
                  "dilation_h_factor": dilation[0], "dilation_w_factor": dilation[1],
                  "depth_multiplier": dm, "fused_activation_function": "RELU"}, version=3)


def auto_label(tfl: bytes, board: str | None = None) -> str:
    """What --weights auto (balanced) stores the one layer as: the fastest estimate within
    BALANCED_SLACK of the fewest bytes (ops/cost.py)."""
    from tinycompress.cost import estimate

    opts = estimate(tfl, board, FORMATS).layers[0].options.values()
    least = min(o.bytes for o in opts)
    return min((o for o in opts if o.bytes <= (1 + BALANCED_SLACK) * least),
               key=lambda o: (o.instructions, o.bytes)).weight_format


def layer(manifest):
    assert len(manifest["layers"]) == 1
    return manifest["layers"][0]


# --- encoders: exact round trip in Python (fast, many shapes) ---------------------------------

@settings(max_examples=60, deadline=None)
@given(rows=st.integers(1, 9), cols=st.integers(1, 300), sparsity=st.sampled_from(
    [0.0, 0.3, 0.9, 0.99, 1.0]), clusters=st.integers(1, 254), per_row=st.booleans(),
    seed=st.integers(0, 99))
def test_encoders_round_trip(rows, cols, sparsity, clusters, per_row, seed):
    w = structured(rows, cols, sparsity, clusters, seed, per_row)
    for enc in (lut(w.astype(np.int64)), sparse(w.astype(np.int64))):
        assert np.array_equal(decode(enc, rows, cols), w), enc.label


@pytest.mark.parametrize("clusters,bits", [(1, 1), (2, 1), (3, 2), (5, 3), (9, 4), (17, 5),
                                           (33, 6), (65, 7), (129, 8), (255, 8)])
def test_lut_bits_are_the_fewest(clusters, bits):
    w = np.resize(np.arange(clusters) - 100, (4, 512))  # every row holds every value
    enc = lut(w)
    assert enc.params["lut_bits"] == bits
    assert enc.consts[1].nbytes == (4 * 512 * bits + 7) // 8 + 4  # indices + 4 bytes of padding


def test_lut_picks_per_channel_codebooks_when_smaller():
    w = structured(8, 256, 0.0, 4, per_row=True)  # 4 values per row, ~32 over the tensor
    enc = lut(w.astype(np.int64))
    assert enc.params["lut_per_channel"] and enc.params["lut_bits"] == 2


def test_huffman_lookup_tables_are_counted_and_cover_the_codes():
    """A skewed 95%-sparse layer: lookups of at most PEEK_MAX bits, a bit-serial fallback (counts
    per length stored) only for a table whose longest code exceeds its lookup."""
    enc = huffman(structured(16, 100, 0.95, 16).astype(np.int64))
    names = {c.name: c for c in enc.consts}
    for t in ("gap", "val"):
        peek, max_len = enc.params[f"{t}_peek"], enc.params[f"{t}_max_len"]
        assert 1 <= peek <= min(max_len, PEEK_MAX)
        assert names[f"{t}_table"].values.size == 1 << peek
        assert (f"{t}_counts" in names) == (peek < max_len)
    assert enc.params["gap_peek"] < enc.params["gap_max_len"]  # this layer exercises the fallback
    assert enc.nbytes == sum(c.nbytes for c in enc.consts)


def edge_rows(rows, cols, nonzero_rows, seed=0, clusters=5):
    """rows x cols zeros but for `nonzero_rows` (90% sparse there): empty rows where wanted."""
    w = np.zeros((rows, cols), np.int8)
    dense_part = structured(len(nonzero_rows), cols, 0.9, clusters, seed)
    for i, r in enumerate(nonzero_rows):
        w[r] = dense_part[i]
        if not w[r].any():
            w[r, (seed + i) % cols] = 7
    return w


def test_entries_cross_rows_and_end_with_a_terminator():
    """Relative positions over the flattened rows: gaps cross row ends (fillers of value 0 bridge
    the long ones), and one terminating gap without a value leads to the row after the last
    nonzero weight; rows after it and an all-zero layer have no entries."""
    from tinycompress.ops._weight_formats import _entries
    w = np.zeros((5, 40), np.int64)
    w[1, 3], w[1, 39], w[3, 0] = 5, -2, 9  # rows 0, 2 and 4 empty
    gaps, vals, last_row = _entries(w, 4)
    assert last_row == 3
    pos = np.cumsum(gaps) - 1
    assert len(gaps) == len(vals) + 1 and pos[-1] == 4 * 40  # the terminator: row 4's start
    assert list(pos[:-1][vals != 0]) == [43, 79, 120]
    assert np.all(vals[np.diff(np.concatenate([[-1], pos[:-1]])) == 16] == 0) and (gaps <= 16).all()
    assert (vals == 0).sum() == sum((b - a - 1) // 16 for a, b in ((-1, 43), (43, 79), (79, 120),
                                                                   (120, 160)))
    gaps, vals, last_row = _entries(np.zeros((3, 7), np.int64), 8)
    assert last_row == -1 and not len(gaps) and not len(vals)
    w = np.zeros((2, 3), np.int64)
    w[1, 2] = 1  # the very last weight: the terminator leads past the matrix
    gaps, vals, last_row = _entries(w, 8)
    assert last_row == 1 and list(gaps) == [6, 1] and list(vals) == [1]


def test_sparse_formats_store_no_row_offsets():
    """The rows are walked in order with one cursor: no per-row offsets in sparse or huffman."""
    w = structured(64, 256, 0.9, 16).astype(np.int64)
    for enc in (sparse(w), huffman(w)):
        names = [c.name for c in enc.consts]
        assert "offsets" not in names, names
        assert enc.params["last_row"] == 63


def test_unknown_format_is_refused():
    with pytest.raises(ValueError, match="known: auto, dense, lut, sparse, huffman, int4"):
        encode(np.zeros((2, 2)), "zip")


# --- bit-exact against the reference ----------------------------------------------------------

FC_CASES = {  # name: (weights, per_channel, batch)
    "dense-random": (np.random.default_rng(3).integers(-127, 128, (5, 37)).astype(np.int8),
                     False, 1),
    "half-sparse-5-clusters-per-channel": (structured(6, 50, 0.5, 5), True, 2),
    "90pct-16-clusters": (structured(16, 100, 0.9, 16), False, 1),
    "99pct-long-gaps": (structured(3, 700, 0.99, 7, seed=4), True, 1),
    "all-zero": (np.zeros((4, 33), np.int8), False, 1),
    "one-cluster": (np.full((3, 21), -37, np.int8), True, 1),
    "per-row-clusters": (structured(7, 45, 0.2, 3, seed=5, per_row=True), True, 1),
    # empty rows at the start, in the middle and at the end (the cursor crosses them)
    "empty-rows-start-middle-end": (edge_rows(9, 40, [2, 3, 5, 6]), True, 2),
    "only-the-first-row": (edge_rows(4, 30, [0]), False, 1),
    "only-the-last-row": (edge_rows(4, 30, [3], seed=1), False, 1),
    # gaps of several rows (longer than 256: fillers across row ends, a long terminator)
    "gaps-longer-than-rows": (edge_rows(12, 70, [1, 9], seed=2), True, 1),
    "dense-one-row-empty": (np.concatenate([structured(3, 20, 0.0, 4, seed=3),
                                            np.zeros((1, 20), np.int8),
                                            structured(2, 20, 0.0, 4, seed=4)]), False, 1),
    # 256 distinct values: Huffman lookup entries (1 + rank) need uint16
    "every-value": (np.random.default_rng(6).permutation(np.resize(np.arange(-128, 128), 8 * 96))
                    .reshape(8, 96).astype(np.int8), False, 1),
}


@pytest.mark.parametrize("fmt", COMPRESSED)
@pytest.mark.parametrize("case", sorted(FC_CASES))
def test_fc_bit_exact(case, fmt):
    w, per_channel, batch = FC_CASES[case]
    m = assert_bit_exact(fc(w, per_channel, batch), count=8, weights=fmt)
    got = layer(m)["weight_format"]
    assert got.split("+")[0] == fmt
    assert "codebook" not in got or fmt != "lut"


@pytest.mark.parametrize("clusters", [2, 3, 5, 9, 17, 33, 65, 129])
def test_fc_lut_every_index_width(clusters):
    """Codebooks of 1..8-bit indices (widths that do not divide 8 cross byte boundaries)."""
    assert_bit_exact(fc(structured(5, 53, 0.0, clusters, seed=clusters)), count=4,
                     sanitize=clusters in (3, 129), weights="lut")


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.integers(1, 12), cols=st.integers(1, 120),
       sparsity=st.sampled_from([0.0, 0.5, 0.8, 0.95, 1.0]), clusters=st.integers(1, 40),
       fmt=st.sampled_from(COMPRESSED + ["auto"]), per_channel=st.booleans(),
       seed=st.integers(0, 1000))
def test_fc_random_structures(rows, cols, sparsity, clusters, fmt, per_channel, seed):
    w = structured(rows, cols, sparsity, clusters, seed)
    assert_bit_exact(fc(w, per_channel), count=4, sanitize=False, weights=fmt)


CONV_CASES = {  # name: (weights OHWI, geometry)
    "3x3-80pct-6-clusters": (structured(8, 45, 0.8, 6).reshape(8, 3, 3, 5), {}),
    "3x3-stride2-dilation-ic1": (structured(4, 9, 0.5, 3, seed=1).reshape(4, 3, 3, 1),
                                 dict(h=7, wd=5, stride=(2, 1), dilation=(1, 2))),
    "1x1-valid-all-zero-rows": (np.concatenate([structured(3, 16, 0.7, 4, seed=2),
                                                np.zeros((2, 16), np.int8)]).reshape(5, 1, 1, 16),
                                dict(padding="VALID")),
    "5x5-95pct-per-tensor": (structured(3, 5 * 5 * 4, 0.95, 9, seed=3).reshape(3, 5, 5, 4),
                             dict(h=5, wd=6, per_channel=False)),
    # empty filter rows first, in the middle and last; odd channel count (one row alone)
    "3x3-empty-rows-start-middle-end": (edge_rows(7, 9 * 4, [1, 3, 4], seed=5).reshape(7, 3, 3, 4),
                                        dict(h=5, wd=5)),
    # sparse enough for the interior to gather the nonzero taps (GATHER_CASES): padding with
    # borders, stride, dilation on either axis (offsets across filter rows and columns), odd
    # channel counts, 1-wide filters, batch 2, no border at all (no decoded rows kept), all zero
    "3x3-90pct-stride2x1-dilation2-c5": (structured(5, 27, 0.9, 7, seed=6).reshape(5, 3, 3, 3),
                                         dict(h=9, wd=11, stride=(2, 1), dilation=(2, 2))),
    "3x3-85pct-dilation1x3-valid": (structured(6, 36, 0.85, 5, seed=7).reshape(6, 3, 3, 4),
                                    dict(h=6, wd=10, dilation=(1, 3), padding="VALID")),
    "5x5-80pct-valid-15-clusters-c7": (structured(7, 150, 0.8, 15, seed=8).reshape(7, 5, 5, 6),
                                       dict(h=9, wd=8, padding="VALID", per_channel=False)),
    "3x3-80pct-batch2-stride2": (structured(4, 72, 0.8, 6, seed=9).reshape(4, 3, 3, 8),
                                 dict(batch=2, h=7, wd=8, stride=(2, 2))),
    "1x3-75pct-dilation2-c3": (structured(3, 3 * 6, 0.75, 4, seed=10).reshape(3, 1, 3, 6),
                               dict(h=4, wd=9, dilation=(1, 2))),
    "3x1-80pct-dilation2x1-c3": (structured(3, 3 * 7, 0.8, 4, seed=11).reshape(3, 3, 1, 7),
                                 dict(h=8, wd=3, dilation=(2, 1))),
    "3x3-all-zero-c3": (np.zeros((3, 3, 3, 4), np.int8), dict(in_zp=-128)),
}
# CONV_CASES whose interior gathers the nonzero taps (test_conv_gather_or_dense checks the choice)
GATHER_CASES = ["1x1-valid-all-zero-rows", "1x3-75pct-dilation2-c3", "3x1-80pct-dilation2x1-c3",
                "3x3-80pct-6-clusters", "3x3-80pct-batch2-stride2",
                "3x3-85pct-dilation1x3-valid", "3x3-90pct-stride2x1-dilation2-c5",
                "3x3-all-zero-c3", "3x3-empty-rows-start-middle-end",
                "5x5-80pct-valid-15-clusters-c7", "5x5-95pct-per-tensor"]


@pytest.mark.parametrize("fmt", COMPRESSED)
@pytest.mark.parametrize("case", sorted(CONV_CASES))
def test_conv_bit_exact(case, fmt):
    w, geo = CONV_CASES[case]
    m = assert_bit_exact(conv(w, **geo), count=4, weights=fmt)
    assert layer(m)["weight_format"].split("+")[0] == fmt


GATHER = "Interior positions multiply the nonzero taps only"


@pytest.mark.parametrize("case", sorted(CONV_CASES))
def test_conv_gather_or_dense(case):
    """Sparse filters: the interior gathers each row's nonzero taps from lists sized exactly
    (the most nonzeros of any row, in whole groups of GATHER_UNROLL), decoded rows kept only for
    a border; denser filters keep the dense loop and two decoded rows."""
    w, geo = CONV_CASES[case]
    rows = w.reshape(w.shape[0], -1)
    taps = rows.shape[1]
    nr = min(rows.shape[0], 2)
    for fmt in COMPRESSED:
        files, m = compile_tflite(conv(w, **geo), name="m", weights=fmt)
        src = files["src/m.c"].decode()
        border = "Border" in src or "reference's form" in src
        if case in GATHER_CASES:
            u = GATHER_UNROLL
            n = max(1, -(-int(np.count_nonzero(rows, axis=1).max()) // u)) * u
            assert GATHER in src and f"at most {n} long" in src
            assert layer(m)["scratch_bytes"] == nr * (3 * n + (taps if border else 0))
        else:
            assert GATHER not in src and "go0" not in src
            assert layer(m)["scratch_bytes"] == nr * taps


def test_conv_gather_needs_sparse_filters_and_16_bit_offsets():
    """The choice follows the real int8 weights: a 30% sparse filter keeps the dense loop, the
    same filter pruned to 80% gathers; an offset past uint16 (3 rows of 2 x 400 x 64 bytes
    apart) keeps the dense loop however sparse."""
    dense_w = structured(4, 9 * 8, 0.3, 6, seed=12).reshape(4, 3, 3, 8)
    sparse_w = dense_w.copy()
    sparse_w[np.random.default_rng(0).random(sparse_w.shape) < 0.75] = 0

    def source(w):
        return compile_tflite(conv(w), name="m", weights="lut")[0]["src/m.c"].decode()

    assert GATHER not in source(dense_w)
    assert GATHER in source(sparse_w)
    wide = structured(2, 9 * 64, 0.95, 4, seed=13).reshape(2, 3, 3, 64)
    for dil, gathers in (((2, 1), False), ((1, 1), True)):
        files, _ = compile_tflite(conv(wide, h=5, wd=400, dilation=dil, padding="VALID"),
                                  name="m", weights="sparse")
        assert (GATHER in files["src/m.c"].decode()) == gathers


DW_CASES = {  # name: (rows [C*M][KH*KW], kh, kw, geometry)
    "3x3-c5-50pct-6-clusters": (structured(5, 9, 0.5, 6), 3, 3, {}),
    "3x3-c7-dm1-valid-per-tensor": (structured(7, 9, 0.3, 4, seed=1), 3, 3,
                                    dict(h=7, wd=5, padding="VALID", per_channel=False)),
    "3x3-c3-dm2-stride2": (structured(6, 9, 0.6, 5, seed=2), 3, 3,
                           dict(dm=2, h=7, wd=8, stride=(2, 2))),
    "3x3-c2-dm2-dilation-stride": (structured(4, 9, 0.5, 3, seed=3), 3, 3,
                                   dict(dm=2, h=9, wd=7, stride=(1, 2), dilation=(2, 1))),
    "5x5-c6-90pct-dilation2": (structured(6, 25, 0.9, 9, seed=4), 5, 5,
                               dict(h=9, wd=9, dilation=(2, 2))),
    "5x5-c3-dm2-stride2x1-valid": (structured(6, 25, 0.7, 12, seed=5), 5, 5,
                                   dict(dm=2, h=9, wd=7, stride=(2, 1), padding="VALID")),
    # more than 25 taps: the interior's taps in loops, not unrolled
    "7x7-c4-80pct-dilation-1x2": (structured(4, 49, 0.8, 10, seed=9), 7, 7,
                                  dict(h=9, wd=15, dilation=(1, 2))),
    "3x3-c7-all-zero": (np.zeros((7, 9), np.int8), 3, 3, {}),
    "3x3-c8-empty-rows-start-middle-end": (edge_rows(8, 9, [1, 2, 5], seed=6), 3, 3, {}),
    "3x3-c4-only-the-last-row-dense": (np.array([[0] * 9] * 3 + [[3, 1, 4, 1, 5, 9, 2, 6, 5]],
                                                np.int8), 3, 3, {}),
    "3x3-c5-dense-one-cluster": (np.full((5, 9), 23, np.int8), 3, 3, dict(in_zp=-128)),
    "3x3-c6-per-row-clusters": (structured(6, 9, 0.0, 2, seed=6, per_row=True), 3, 3, {}),
    # no interior position (the filter is larger than the input): every position in the
    # reference's form, with the raw bias
    "5x5-c3-on-3x3-no-interior": (structured(3, 25, 0.4, 7, seed=7), 5, 5, dict(h=3, wd=3)),
    # a bias too big to fold (within 128 * 128 * 9 of INT32_MAX), yet the reference's sums
    # (at most 127 * 128 * 9) never overflow: the raw bias everywhere
    "3x3-c5-bias-too-big-to-fold": (structured(5, 9, 0.5, 6, seed=8), 3, 3,
                                    dict(in_zp=0, bias_range=(2**31 - 128 * 128 * 9,
                                                              2**31 - 146400))),
    # sparse enough for the interior to gather the nonzero taps (DW_GATHER_CASES): SAME borders
    # with stride and dilation on either axis (offsets across filter rows and columns), depth
    # multiplier 1 and 2, odd channel counts, no border at all (no decoded row kept)
    "3x3-c5-85pct-stride2-dilation2": (structured(5, 9, 0.85, 5, seed=10), 3, 3,
                                       dict(h=11, wd=10, stride=(2, 2), dilation=(2, 2))),
    "3x3-c3-dm2-80pct-dilation1x2": (structured(6, 9, 0.8, 4, seed=11), 3, 3,
                                     dict(dm=2, h=8, wd=11, dilation=(1, 2))),
    "3x3-c3-dm2-75pct-valid-stride2x1": (structured(6, 9, 0.75, 5, seed=13), 3, 3,
                                         dict(dm=2, h=7, wd=6, stride=(2, 1), padding="VALID")),
    "5x5-c7-60pct-valid": (structured(7, 25, 0.6, 8, seed=12), 5, 5,
                           dict(h=9, wd=8, padding="VALID", per_channel=False)),
    "5x5-c9-dm1-50pct-stride1x2-dilation2x1": (structured(9, 25, 0.5, 11, seed=14), 5, 5,
                                               dict(h=12, wd=9, stride=(1, 2),
                                                    dilation=(2, 1))),
}
# DW_CASES whose interior gathers the nonzero taps (test_dw_gather_or_dense checks the choice)
DW_GATHER_CASES = ["3x3-c3-dm2-75pct-valid-stride2x1", "3x3-c3-dm2-80pct-dilation1x2",
                   "3x3-c3-dm2-stride2", "3x3-c4-only-the-last-row-dense",
                   "3x3-c5-50pct-6-clusters", "3x3-c5-85pct-stride2-dilation2", "3x3-c7-all-zero",
                   "3x3-c8-empty-rows-start-middle-end", "5x5-c3-dm2-stride2x1-valid",
                   "5x5-c6-90pct-dilation2", "5x5-c7-60pct-valid",
                   "5x5-c9-dm1-50pct-stride1x2-dilation2x1", "7x7-c4-80pct-dilation-1x2"]


def dw_scratch(case):
    """The compressed depthwise layer's scratch: the decoded row (kh*kw bytes), or with the
    gather the list (uint16 offset + int8 value per tap, as long as the most nonzeros of any row,
    at least 1) and the decoded row only when there is a border."""
    rows, kh, kw, geo = DW_CASES[case]
    if case not in DW_GATHER_CASES:
        return kh * kw
    n = max(1, int(np.count_nonzero(rows, axis=1).max()))
    return 3 * n + (0 if geo.get("padding") == "VALID" else kh * kw)


@pytest.mark.parametrize("fmt", COMPRESSED + ["auto"])
@pytest.mark.parametrize("case", sorted(DW_CASES))
def test_dw_bit_exact(case, fmt):
    rows, kh, kw, geo = DW_CASES[case]
    m = assert_bit_exact(dw(rows, kh, kw, **geo), count=4, weights=fmt)
    lay = layer(m)
    want = encode(rows, fmt).label if fmt != "auto" else auto_label(dw(rows, kh, kw, **geo))
    assert lay["weight_format"] == want
    if want != "dense":
        assert lay["scratch_bytes"] == dw_scratch(case)
        assert lay["weights_bytes"] < lay["dense_weights_bytes"] or fmt != "auto"


@pytest.mark.parametrize("case", sorted(DW_CASES))
def test_dw_gather_or_dense(case):
    """Sparse filters (at most gather_max_density(kh*kw) of the taps nonzero, always past the
    25 unrolled dense taps): the interior gathers the row's nonzero taps from a list sized
    exactly, the decoded row kept only for a border; denser filters, no interior, or a bias too
    big to fold keep the dense taps and the decoded row."""
    rows, kh, kw, geo = DW_CASES[case]
    density = np.count_nonzero(rows) / rows.size
    if case in DW_GATHER_CASES:
        assert density <= gather_max_density(kh * kw)
    for fmt in COMPRESSED:
        files, m = compile_tflite(dw(rows, kh, kw, **geo), name="m", weights=fmt)
        src = files["src/m.c"].decode()
        if case in DW_GATHER_CASES:
            n = max(1, int(np.count_nonzero(rows, axis=1).max()))
            assert GATHER in src and f"at most {n} long" in src and f"case {n}:" in src
            assert f"case {n + 1}:" not in src
            assert ("decoded row\n" in src) == (geo.get("padding") != "VALID")
        else:
            assert GATHER not in src and "go[" not in src
        assert layer(m)["scratch_bytes"] == dw_scratch(case)


def test_dw_gather_rule():
    """The choice follows the int8 weights and the kernel size: 3x3 gathers at 30% nonzero taps,
    not at 60%; 5x5 at 60%; 7x7 (dense taps in a loop) even with every tap nonzero; an offset
    past uint16 (2 rows of 2 x 300 x 64 bytes apart) keeps the dense taps however sparse."""
    def src(rows, k, **geo):
        return compile_tflite(dw(rows, k, k, **geo), name="m", weights="lut")[0]["src/m.c"].decode()

    rng = np.random.default_rng(3)
    for k, nonzero, gathers in ((3, 0.3, True), (3, 0.6, False), (5, 0.6, True),
                                (5, 0.8, False), (7, 1.0, True)):
        rows = structured(8, k * k, 0.0, 6, seed=k)
        rows[rng.random(rows.shape) >= nonzero] = 0
        assert (GATHER in src(rows, k, h=8, wd=8)) == gathers, (k, nonzero)
    wide = structured(64, 9, 0.9, 4, seed=15)
    for dil, gathers in ((2, False), (1, True)):
        text = src(wide, 3, h=5, wd=300, dilation=(dil, 1), padding="VALID")
        assert (GATHER in text) == gathers


@pytest.mark.parametrize("clusters,bits", [(1, 1), (2, 1), (3, 2), (5, 3), (9, 4), (17, 5),
                                           (33, 6), (65, 7), (200, 8)])
def test_dw_lut_every_index_width(clusters, bits):
    """Codebooks of 1..8-bit indices over 16 channels of 5x5 taps: 25 columns, so rows start off
    the index groups and widths that do not divide 8 cross byte boundaries."""
    rows = structured(16, 25, 0.0, clusters, seed=clusters)
    assert lut(rows.astype(np.int64)).params["lut_bits"] == bits
    assert_bit_exact(dw(rows, 5, 5, h=6, wd=5), count=3, sanitize=clusters in (3, 200),
                     weights="lut")


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cin=st.integers(1, 9), dm=st.integers(1, 2), k=st.sampled_from([3, 5]),
       stride=st.integers(1, 2), dilation=st.integers(1, 2),
       padding=st.sampled_from(["SAME", "VALID"]),
       sparsity=st.sampled_from([0.0, 0.5, 0.8, 0.95, 1.0]), clusters=st.integers(1, 40),
       fmt=st.sampled_from(COMPRESSED + ["auto"]), per_channel=st.booleans(),
       seed=st.integers(0, 1000))
def test_dw_random_structures(cin, dm, k, stride, dilation, padding, sparsity, clusters, fmt,
                              per_channel, seed):
    rows = structured(cin * dm, k * k, sparsity, clusters, seed)
    size = (k - 1) * dilation + 1 + seed % 4
    assert_bit_exact(dw(rows, k, k, dm=dm, h=size, wd=size + 1, stride=(stride, stride),
                        dilation=(dilation, dilation), padding=padding,
                        per_channel=per_channel), count=3, sanitize=False, weights=fmt)


# --- bytes and the auto rule -------------------------------------------------------------------

def test_compressed_formats_are_smaller_on_a_deep_compressed_layer():
    """A 90%-sparse, 16-cluster 64x256 layer: every compressed format beats dense, auto picks one;
    weights_bytes counts every array (codebooks, indices, gaps, tables, offsets, bias)."""
    w = structured(64, 256, 0.9, 16)
    tfl = fc(w)
    sizes = {}
    for fmt in [f for f in FORMATS if f != "int4"] + ["auto"]:  # int4 needs weights in -8..7
        files, m = compile_tflite(tfl, name="m", weights=fmt)
        lay = layer(m)
        sizes[fmt] = lay["weights_bytes"]
        assert lay["dense_weights_bytes"] == 64 * 256 + 64 * 4
        assert m["weights_bytes"] == lay["weights_bytes"]
        text = files["src/m_weights.c"].decode()
        # the weights file holds exactly the counted bytes
        assert f"{m['weights_bytes']} bytes of constant parameter data" in text
    assert sizes["dense"] == 64 * 256 + 64 * 4
    assert sizes["lut"] < 0.7 * sizes["dense"], sizes  # 17 values incl. 0: 5-bit indices
    for fmt in ("sparse", "huffman"):
        assert sizes[fmt] < 0.2 * sizes["dense"], sizes
    assert sizes["auto"] <= (1 + BALANCED_SLACK) * min(sizes.values())


def test_dw_bytes_count_every_array():
    """A 90%-sparse 16-cluster depthwise 3x3 over 32 channels: weights_bytes is every array of
    the weights file (the format's, the folded bias, int16 as its values fit, multipliers and
    shifts; no raw bias: the border recovers it from the decoded row's sum),
    dense_weights_bytes what dense stores (int32 biases)."""
    rows = structured(32, 9, 0.9, 16)
    tfl = dw(rows, 3, 3, h=8, wd=8)
    _, dense_m = compile_tflite(tfl, name="m", weights="dense")
    dense_bytes = layer(dense_m)["weights_bytes"]
    assert dense_bytes == 32 * 9 + 2 * 32 * 4 + 32 * 4 + 32  # weights, 2 biases, mult, shift
    sizes = {}
    for fmt in COMPRESSED + ["auto"]:
        files, m = compile_tflite(tfl, name="m", weights=fmt)
        lay = layer(m)
        enc = encode(rows, fmt if fmt != "auto" else lay["weight_format"].split("+")[0])
        assert lay["weight_format"] == enc.label
        assert lay["dense_weights_bytes"] == dense_bytes
        assert lay["weights_bytes"] == m["weights_bytes"] == enc.nbytes + 32 * 2 + 32 * 4 + 32
        assert "bias + input offset (3) * filter sums" in files["src/m_weights.c"].decode()
        text = files["src/m_weights.c"].decode()
        assert f"{m['weights_bytes']} bytes of constant parameter data" in text
        # 90% sparse: the interior gathers (3 x the longest list) beside the decoded row
        assert lay["scratch_bytes"] == 3 * max(1, np.count_nonzero(rows, axis=1).max()) + 9
        sizes[fmt] = lay["weights_bytes"]
    assert sizes["sparse"] < 0.7 * dense_bytes, sizes
    assert sizes["auto"] <= (1 + BALANCED_SLACK) * min(sizes.values())


@pytest.mark.parametrize("board", ["mps2-an386", "mps3-an547"])
def test_dw_compressed_falls_back_to_the_portable_kernel_on_cores(board):
    """DSP and Helium cores have no compressed depthwise kernel: the portable packed one runs
    (same consts, same bytes as without a board); dense keeps the core's kernel."""
    rows, kh, kw, geo = DW_CASES["3x3-c5-50pct-6-clusters"]
    tfl = dw(rows, kh, kw, **geo)
    for fmt in COMPRESSED:
        files, m = compile_tflite(tfl, name="m", weights=fmt, board=board)
        _, portable = compile_tflite(tfl, name="m", weights=fmt)
        assert "dsp" in m["kernel_families"]
        assert f"DEPTHWISE_CONV_2D s8 on {layer(m)['weight_format']} filters" in \
            files["src/m.c"].decode()
        assert layer(m)["weights_bytes"] == layer(portable)["weights_bytes"]
    files, m = compile_tflite(tfl, name="m", weights="dense", board=board)
    assert layer(m)["weight_format"] == "dense" and " filters:" not in files["src/m.c"].decode()


# --- bias constants in the narrowest type ------------------------------------------------------

def test_narrowest_int_and_packed_bias():
    assert narrowest_int(np.array([-128, 127]))[0] == "int8_t"
    assert narrowest_int(np.array([-129, 5]))[0] == "int16_t"
    assert narrowest_int(np.array([0, 32768]))[0] == "int32_t"
    assert narrowest_int(np.zeros(0))[0] == "int8_t"
    with pytest.raises(OverflowError):
        narrowest_int(np.array([2**31]))
    raw, wide = np.array([-100, 100]), np.array([-30000, 9])
    c, is_raw = packed_bias(raw, wide, "raw", "folded")
    assert is_raw and c.ctype == "int8_t" and c.nbytes == 2
    c, is_raw = packed_bias(wide, raw, "raw", "folded", "bias", "bias_folded")
    assert not is_raw and c.name == "bias_folded" and c.ctype == "int8_t"
    c, is_raw = packed_bias(raw, raw + 27, "raw", "folded")  # a tie: folded (no run-time add)
    assert not is_raw and c.values.tolist() == [-73, 127]
    c, is_raw = packed_bias(wide, None, "raw", "folded")
    assert is_raw and c.ctype == "int16_t"


# (input zero point, bias range): int8, int16 and int32 raw biases, with a folded bias as wide or
# wider (input offset 128 on big row sums), or equal to the raw one (input zero point 0)
BIAS_CASES = {
    "int8-raw-zp-128": (-128, (-100, 100)),
    "int16-raw-zp-128": (-128, (-20000, 20000)),
    "int32-raw-zp-128": (-128, (-10**6, 10**6)),
    "int8-zp0": (0, (-128, 128)),
    "int16-folded-zp37": (37, (-1000, 1000)),
}


def bias_type(files, name="bias"):
    text = files["src/m_weights.c"].decode()
    return [ln.split()[2] for ln in text.splitlines() if f"_{name}[" in ln and "const" in ln]


@pytest.mark.parametrize("fmt", COMPRESSED)
@pytest.mark.parametrize("case", sorted(BIAS_CASES))
def test_fc_bias_widths(case, fmt):
    """The compressed FULLY_CONNECTED stores the narrowest bias: the raw one when folding the
    input offset widens it (the kernel adds the offset to x), bit-exact either way."""
    in_zp, bias_range = BIAS_CASES[case]
    w = structured(6, 50, 0.5, 5)
    tfl = fc(w, per_channel=True, batch=2, in_zp=in_zp, bias_range=bias_range)
    m = assert_bit_exact(tfl, count=6, sanitize=fmt == "sparse", weights=fmt)
    files, _ = compile_tflite(tfl, name="m", weights=fmt)
    raw = np.random.default_rng(1).integers(*bias_range, 6)
    folded = raw - in_zp * w.astype(np.int64).sum(axis=1)
    want_raw = narrowest_int(raw)[1].nbytes < narrowest_int(folded)[1].nbytes
    want = narrowest_int(raw if want_raw else folded)[0]
    assert bias_type(files) == [want]
    assert ("adds the input offset" in files["src/m_weights.c"].decode()) == want_raw
    assert layer(m)["dense_weights_bytes"] == 6 * 50 + 6 * 4 + 6 * 4 + 6


@pytest.mark.parametrize("fmt", COMPRESSED)
@pytest.mark.parametrize("case", sorted(BIAS_CASES))
def test_conv_bias_widths(case, fmt):
    """CONV_2D: with the raw bias stored the kernel folds it per channel pair at decode time."""
    in_zp, bias_range = BIAS_CASES[case]
    w = structured(5, 45, 0.6, 6, seed=3).reshape(5, 3, 3, 5)
    assert_bit_exact(conv(w, in_zp=in_zp, bias_range=bias_range), count=4,
                     sanitize=fmt == "huffman", weights=fmt)


@pytest.mark.parametrize("fmt", COMPRESSED)
@pytest.mark.parametrize("case", sorted(BIAS_CASES))
def test_dw_bias_widths(case, fmt):
    """DEPTHWISE_CONV_2D: the raw bias serves the border, bias + offset * row sum the interior."""
    in_zp, bias_range = BIAS_CASES[case]
    rows = structured(6, 9, 0.3, 6, seed=4)
    files, m = compile_tflite(dw(rows, 3, 3, in_zp=in_zp, bias_range=bias_range), name="m",
                              weights=fmt)
    assert_bit_exact(dw(rows, 3, 3, in_zp=in_zp, bias_range=bias_range), count=4,
                     sanitize=fmt == "lut", weights=fmt)
    assert len(bias_type(files) + bias_type(files, "bias_folded")) == 1


def test_auto_keeps_a_random_dense_layer_dense():
    w = np.random.default_rng(0).integers(-127, 128, (32, 64)).astype(np.int8)
    _, m = compile_tflite(fc(w), name="m", weights="auto")
    assert layer(m)["weight_format"] == "dense"


def test_auto_prefers_dense_when_saving_is_small():
    """A 2-cluster layer with few rows: codebook + indices save much; an almost-dense layer with
    ~200 distinct values saves < 10% and stays dense."""
    rng = np.random.default_rng(1)
    w = rng.integers(-100, 100, (8, 64)).astype(np.int8)
    w[:, :4] = 0
    _, m = compile_tflite(fc(w), name="m", weights="auto")
    assert layer(m)["weight_format"] == "dense"
    _, m = compile_tflite(fc(structured(8, 64, 0.0, 2)), name="m", weights="auto")
    assert layer(m)["weight_format"] == "lut"


def test_filter_zero_point_keeps_fc_dense():
    """int8 compressed values cannot hold weights + filter offset: such a layer stays dense."""
    w = structured(4, 16, 0.9, 3)
    tfl = model("FULLY_CONNECTED",
                [T((1, 16), scale=0.05, zero_point=0), T((4, 16), scale=0.01, zero_point=3, data=w)],
                [T((1, 4), scale=0.1, zero_point=0)], {"fused_activation_function": "NONE"})
    _, m = compile_tflite(tfl, name="m", weights="sparse")
    assert layer(m)["weight_format"] == "dense"


# --- strict C99 on the host and on Cortex-M4 ---------------------------------------------------

@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="no arm-none-eabi-gcc")
def test_strict_c99_on_cortex_m4():
    rows, kh, kw, geo = DW_CASES["3x3-c3-dm2-stride2"]
    models = [fc(structured(6, 50, 0.9, 5), True), conv(CONV_CASES["3x3-80pct-6-clusters"][0]),
              dw(rows, kh, kw, **geo)]
    with tempfile.TemporaryDirectory(prefix="tc-wf-") as tmp:
        for i, tfl in enumerate(models):
            for fmt in COMPRESSED:
                files, m = compile_tflite(tfl, name="m", weights=fmt)
                d = Path(tmp) / f"{i}{fmt}"
                d.mkdir()
                for fname, data in files.items():
                    (d / fname).parent.mkdir(parents=True, exist_ok=True)
                    (d / fname).write_bytes(data)
                for src in m["sources"]:
                    proc = subprocess.run(
                        ["arm-none-eabi-gcc", "-mcpu=cortex-m4", "-mthumb", "-std=c99", "-O2",
                         "-Wall", "-Wextra", "-Werror", "-c", src, "-o", "/dev/null"],
                        cwd=d, capture_output=True, text=True)
                    assert proc.returncode == 0, proc.stderr


def test_cli_reports_per_layer_formats(tmp_path, capsys):
    path = tmp_path / "fc.tflite"
    path.write_bytes(fc(structured(16, 100, 0.9, 16)))
    assert main(["compile", str(path), "-o", str(tmp_path / "out"), "--weights", "auto",
                 "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["weights"] == "auto"
    (row,) = report["per_layer"]
    assert row["op"] == "FULLY_CONNECTED" and row["weight_format"] != "dense"
    assert row["weights_bytes"] < row["dense_weights_bytes"] == 16 * 100 + 16 * 4
    assert main(["compile", str(path), "-o", str(tmp_path / "out2"), "--weights", "lut"]) == 0
    out = capsys.readouterr().out
    assert "parameter bytes per layer" in out and "lut" in out


# --- csr: FULLY_CONNECTED rows laid out for speed (counts, absolute columns, int8 values) -----

CSR_CASES = dict(FC_CASES, **{  # name: (weights, per_channel, batch)
    # more than 256 columns: uint16 columns; rows of every weight: counts past 255 (uint16)
    "300-cols-full-rows": (structured(5, 300, 0.0, 64, seed=7), False, 3),
    "784-cols-8pct-64-clusters": (structured(7, 784, 0.92, 64, seed=8), True, 2),
    # row k holds k weights: every remainder of the unrolled loop, rows shorter than a pass
    "counts-0-to-19": (np.stack([np.where(np.isin(np.arange(37), np.random.default_rng(k)
                                                  .permutation(37)[:k]), r, 0)
                                 for k, r in enumerate(structured(20, 37, 0.0, 9, seed=3))])
                       .astype(np.int8), False, 2),
})


def csr_counts_cover_every_remainder():
    w = CSR_CASES["counts-0-to-19"][0]
    return {int(k) % CSR_UNROLL for k in (w != 0).sum(axis=1)}


def spread_scale(w):
    """An output scale that spreads the outputs of random inputs over the int8 range: the
    largest row's standard deviation (inputs uniform over int8, weight scale 0.01 and up to
    1.5x per channel) as 40 steps."""
    return max(0.1, float(74 * np.sqrt((w.astype(np.float64) ** 2).sum(axis=1)).max()
                          * 0.05 * 0.015 / 40))


@pytest.mark.parametrize("case", sorted(CSR_CASES))
def test_fc_csr_bit_exact(case):
    """Outputs spread over the int8 range (distinct values: a quarter of the outputs of rows
    with weights, up to 32) unless the layer has at most one nonzero value a row or no weights."""
    w, per_channel, batch = CSR_CASES[case]
    varied = (w != 0).sum(axis=1).max() > 1 and len(np.unique(w)) > 2
    filled = int(w.any(axis=1).sum())
    spread = dict(min_distinct=min(32, filled * batch * 8 // 4)) if varied else None
    m = assert_bit_exact(fc(w, per_channel, batch, out_s=spread_scale(w)), count=8,
                         weights="csr", spread=spread)
    assert layer(m)["weight_format"] == "csr" and layer(m)["variant"] == "csr"


def test_mve_csr_requantises_four_at_a_time_only_where_exact():
    """The Helium csr kernel's vector single rounding: shifts <= -1, or one per-tensor 0."""
    from tinycompress.ops.fully_connected import mve_single_rounding
    m = 1 << 30
    assert mve_single_rounding([(m, -1), (m + 5, -9)], True)
    assert mve_single_rounding([(m, 0)], False) and mve_single_rounding([(m, -31)], False)
    assert not mve_single_rounding([(m, 0), (m + 5, 0)], True)  # VQDMULH + VRSHL 0 floors
    assert not mve_single_rounding([(m, 0), (m + 5, -1)], True)
    assert not mve_single_rounding([(m, 1)], False)


def test_csr_layout_and_bytes():
    """Narrow arrays where they fit, wide ones where needed; every array counted."""
    small = encode(structured(4, 256, 0.5, 9), "csr", rows_format=True)
    wide = encode(structured(4, 300, 0.0, 9), "csr", rows_format=True)
    types = lambda e: {c.name: c.ctype for c in e.consts}  # noqa: E731
    assert types(small) == {"counts": "uint8_t", "cols": "uint8_t", "nonzeros": "int8_t"}
    assert types(wide) == {"counts": "uint16_t", "cols": "uint16_t", "nonzeros": "int8_t"}
    n = int((structured(4, 300, 0.0, 9) != 0).sum())
    assert wide.nbytes == 4 * 2 + n * 2 + n
    assert csr_counts_cover_every_remainder() == set(range(CSR_UNROLL))


@settings(max_examples=60, deadline=None)
@given(rows=st.integers(1, 9), cols=st.integers(1, 600), sparsity=st.sampled_from(
    [0.0, 0.3, 0.9, 0.99, 1.0]), clusters=st.integers(1, 254), seed=st.integers(0, 99))
def test_csr_round_trip(rows, cols, sparsity, clusters, seed):
    w = structured(rows, cols, sparsity, clusters, seed)
    assert np.array_equal(decode(encode(w, "csr", rows_format=True), rows, cols), w)


def test_csr_is_fully_connected_only():
    """Convolutions' kernels do not execute csr: they take sparse, and auto leaves csr out."""
    w = structured(6, 40, 0.9, 5)
    assert encode(w, "csr").format == "sparse"
    assert encode(w, "auto").format != "csr"


# --- hcsr: Huffman-coded CSR rows, one 32-bit load and two lookups per entry ------------------

HCSR_CASES = dict(CSR_CASES, **{  # name: (weights, per_channel, batch)
    # gaps of up to 783 columns in a row: fillers at every cap; a row with its only weight last
    "784-cols-long-gaps": (np.stack([np.where(np.arange(784) == c, v, 0) for c, v in
                                     ((783, 5), (0, -7), (400, 9), (783, -128))])
                           .astype(np.int8), False, 1),
    "lenet-fc1-like-8pct-64": (structured(12, 784, 0.92, 64, seed=11), False, 1),
    # pairs of entries past their load's bit 30: fillers split their gaps
    "pairs-take-fillers": (structured(40, 784, 0.92, 64, seed=11), False, 1),
    "one-value-sparse": (np.where(np.random.default_rng(2).random((6, 90)) < 0.1, 44, 0)
                         .astype(np.int8), True, 2),
})


@pytest.mark.parametrize("fmt", ["hcsr", "hcsr+raw"])
@pytest.mark.parametrize("case", sorted(HCSR_CASES))
def test_fc_hcsr_bit_exact(case, fmt):
    """Outputs spread over the int8 range (as csr's test) unless the layer has at most one
    nonzero value a row or no weights; hcsr+raw with the raw bias (in_zp -3: the narrower)."""
    w, per_channel, batch = HCSR_CASES[case]
    varied = (w != 0).sum(axis=1).max() > 1 and len(np.unique(w)) > 2
    filled = int(w.any(axis=1).sum())
    spread = dict(min_distinct=min(32, filled * batch * 8 // 4)) if varied else None
    m = assert_bit_exact(fc(w, per_channel, batch, out_s=spread_scale(w)), count=8,
                         weights=fmt, spread=spread)
    assert layer(m)["weight_format"] == fmt and layer(m)["variant"] == "hcsr"


@settings(max_examples=60, deadline=None)
@given(rows=st.integers(1, 9), cols=st.integers(1, 900), sparsity=st.sampled_from(
    [0.0, 0.3, 0.9, 0.99, 1.0]), clusters=st.integers(1, 254), seed=st.integers(0, 99))
def test_hcsr_round_trip(rows, cols, sparsity, clusters, seed):
    """The Python model of the kernel's reads (one load a pair, two lookups an entry) gives the
    weights back (a pair past its load's bit 30 would not)."""
    w = structured(rows, cols, sparsity, clusters, seed)
    enc = encode(w, "hcsr", rows_format=True)
    assert enc.format == "hcsr"
    assert np.array_equal(decode(enc, rows, cols), w)
    p = enc.params
    assert p["gap_peek"] + p["val_peek"] <= hcsr_mod.MAX_ENTRY_BITS
    assert p["n_entries"] - p["n_fillers"] == np.count_nonzero(w)


@settings(max_examples=80, deadline=None)
@given(freqs=st.lists(st.integers(1, 10**6), min_size=1, max_size=300),
       limit=st.integers(1, 10))
def test_limited_lengths_are_prefix_codes_within_the_limit(freqs, limit):
    """No code longer than the limit, the Kraft sum at most 1 (a prefix code), and no worse than
    the unlimited Huffman code when that already fits."""
    from collections import Counter

    from tinycompress.compress.huffman import code_lengths

    if len(freqs) > 1 << limit:
        with pytest.raises(ValueError):
            hcsr_mod.limited_lengths(Counter(dict(enumerate(freqs))), limit)
        return
    c = Counter(dict(enumerate(freqs)))
    n = hcsr_mod.limited_lengths(c, limit)
    assert set(n) == set(c) and max(n.values()) <= limit and min(n.values()) >= 1
    assert sum(2.0 ** -v for v in n.values()) <= 1
    free = code_lengths(c)
    if max(free.values()) <= limit:
        assert n == free


def test_hcsr_bytes_and_fillers():
    """Every array counted; a gap past the cap takes fillers (value 0); an all-zero layer has no
    entries; hcsr is FULLY_CONNECTED only (convolutions take sparse, auto leaves it out)."""
    w = HCSR_CASES["784-cols-long-gaps"][0]
    enc = encode(w, "hcsr", rows_format=True)
    assert enc.nbytes == sum(c.nbytes for c in enc.consts)
    names = [c.name for c in enc.consts]
    assert names == ["counts", "stream", "gap_table", "val_table"]
    assert enc.params["n_fillers"] >= sum((int(np.flatnonzero(r)[0])) // enc.params["cap"]
                                          for r in w) > 0
    zero = encode(np.zeros((3, 50), np.int64), "hcsr", rows_format=True)
    assert zero.params["n_entries"] == 0 and not zero.consts[0].values.any()
    counts = encode(HCSR_CASES["counts-0-to-19"][0], "hcsr", rows_format=True).consts[0].values
    assert {(int(k) >> 1) % HCSR_UNROLL for k in counts} == set(range(HCSR_UNROLL))  # pairs
    assert {int(k) & 1 for k in counts} == {0, 1}  # and a last odd entry
    x = structured(6, 40, 0.9, 5)
    assert encode(x, "hcsr").format == "sparse"
    assert encode(x, "auto").format != "hcsr"


@pytest.mark.parametrize("cc", ["gcc", "clang", "arm-none-eabi-gcc"])
def test_hcsr_strict_c99(cc, tmp_path):
    """The hcsr kernel (memcpy loads, the int16 conversion of the table's high halfword)
    compiles without a warning on every compiler; the Cortex-M4 build multiplies with SMLATB
    and advances by CLZ."""
    if shutil.which(cc) is None:
        pytest.skip(f"no {cc}")
    files, m = compile_tflite(fc(structured(6, 300, 0.9, 40), True), name="m", weights="hcsr")
    assert layer(m)["variant"] == "hcsr"
    for fname, data in files.items():
        (tmp_path / fname).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / fname).write_bytes(data)
    arch = ["-mcpu=cortex-m4", "-mthumb"] if cc.startswith("arm") else []
    for src in m["sources"]:
        proc = subprocess.run([cc, *arch, "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-S",
                               src, "-o", "-"], cwd=tmp_path, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        if arch and src.endswith("m.c"):
            assert "smlatb" in proc.stdout and "clz" in proc.stdout


def test_hcsr_output_is_byte_reproducible():
    """The same model compiled twice: identical files (the encoder breaks every tie by symbol)."""
    tfl = fc(HCSR_CASES["lenet-fc1-like-8pct-64"][0])
    first, _ = compile_tflite(tfl, name="m", weights="hcsr")
    again, _ = compile_tflite(tfl, name="m", weights="hcsr")
    assert first == again and b"hcsr" in first["src/m.c"]


@pytest.mark.parametrize("case", ["lenet-fc1-like-8pct-64", "784-cols-long-gaps", "counts-0-to-19"])
def test_fc_hcsr_raw_bias(case):
    """hcsr+raw on a layer whose raw bias is narrower (int8 raw, input offset 128: the folded one
    needs int32): the kernel adds the input offset to each input, bit-exact, fewer bytes than
    hcsr's folded bias."""
    w, per_channel, batch = HCSR_CASES[case]
    tfl = fc(w, per_channel, batch, in_zp=-128, bias_range=(-100, 100), out_s=spread_scale(w))
    m = assert_bit_exact(tfl, count=8, weights="hcsr+raw")
    files, folded = compile_tflite(tfl, name="m", weights="hcsr")
    raw_files, _ = compile_tflite(tfl, name="m", weights="hcsr+raw")
    assert b"raw bias" in raw_files["src/m.c"] and b"raw bias" not in files["src/m.c"]
    assert layer(m)["weights_bytes"] < layer(folded)["weights_bytes"]


def test_hcsr_pair_past_its_load_takes_a_filler():
    """A pair whose codes would run past bit 30 of its load: a filler of value 0 takes part of a
    gap (the split of the fewest extra bits), and a layer with such pairs decodes back."""
    gl = {1: 2, 5: 3, 55: 10, 59: 10, 60: 10}
    vl = {0: 2, 7: 9, -3: 9}
    assert hcsr_mod._fit((1, 7), (5, -3), 7, gl, vl, [1, 5]) == (((1, 7), (5, -3)), [])
    assert hcsr_mod._fit((60, 7), (60, -3), 0, gl, vl, [1, 5]) == (((60, 7), (1, 0)), [(59, -3)])
    w = HCSR_CASES["pairs-take-fillers"][0]
    enc = encode(w, "hcsr", rows_format=True)
    gaps = hcsr_mod._row_entries(w, enc.params["cap"])[1]
    assert enc.params["n_entries"] > len(gaps)  # pairs took fillers beyond the cap's
    assert np.array_equal(decode(enc, *w.shape), w)


def test_hcsr_tighter_codes_where_no_filler_fits(monkeypatch):
    """Where a layer's pairs cannot all be made to fit their loads under a code length limit
    (`_pair` None: rare, a large layer of long codes), the layer takes the next, tighter limit
    of LIMITS and still decodes back; the last limit fits any pair at cap 16."""
    pair = hcsr_mod._pair

    def refuse_long_gaps(rows, gl, vl):  # as if a pair with a gap code over 6 bits could not fit
        return None if max(gl.values()) > 6 else pair(rows, gl, vl)

    w = structured(64, 784, 0.8, 100, seed=5)
    assert encode(w, "hcsr", rows_format=True).params["gap_peek"] > 6  # when every pair fits
    monkeypatch.setattr(hcsr_mod, "_pair", refuse_long_gaps)
    enc = encode(w, "hcsr", rows_format=True)
    assert enc.params["gap_peek"] <= 6 and enc.params["val_peek"] <= 7  # LIMITS' (6, 7)
    assert np.array_equal(decode(enc, *w.shape), w)
    g, v = hcsr_mod.LIMITS[-1]
    assert 2 * (g + v) + 7 <= hcsr_mod.ROOM and 16 <= 1 << g and 256 <= 1 << v
