"""Residual blocks run a row at a time (ops/residual_rows.py, fusion.py): CONV_2D -> CONV_2D ->
ADD with the block's input, fused where it lowers the arena; bit-exact against the reference
under ASan/UBSan on the host (portable kernels) and under QEMU with the DSP (M4), Helium (M55)
and portable (M0) kernels, with outputs that span the int8 range."""

from __future__ import annotations

import numpy as np
import pytest

from graph_builder import graph_model
from optest import QEMU_MARKS, assert_bit_exact, assert_bit_exact_on_qemu
from tflite_builder import _PADDING, T
from tinycompress.compiler import compile_tflite

RELU = 1  # ActivationFunctionType.RELU
SPREAD = dict(min_distinct=48, max_clamped=0.2, min_span=150)


def block(h, w, c, m, k1, k2, residual_first=False, act1=RELU, tail=True, seed=0,
          wide=False) -> bytes:
    """x -> ADD (r) -> CONV_2D k1 (a, c -> m) -> CONV_2D k2 (b, m -> c) -> ADD with r (s) [->
    ADD (y)]: r lives in the arena, and with `tail` s is not the graph's output; `wide`: then a
    1x1 CONV_2D to 8c channels (z) and an ADD (zz, the graph's output)."""
    rng = np.random.default_rng(seed)
    tensors = {
        "x": T((1, h, w, c), scale=0.05, zero_point=-3),
        "k0": T((1, 1, 1, c), scale=0.05, data=rng.integers(-60, 60, (1, 1, 1, c))),
        "r": T((1, h, w, c), scale=0.06, zero_point=4),
        "f1": T((m, k1, k1, c), scale=0.005, data=rng.integers(-127, 128, (m, k1, k1, c))),
        "b1": T((m,), "int32", scale=0.06 * 0.005, data=rng.integers(-3000, 3000, m)),
        "a": T((1, h, w, m), scale=0.045 * k1 * np.sqrt(c) / 3, zero_point=-20),
        "f2": T((c, k2, k2, m), scale=0.006, data=rng.integers(-127, 128, (c, k2, k2, m))),
        "b2": T((c,), "int32", scale=0.006 * 0.045 * k1 * np.sqrt(c) / 3,
                data=rng.integers(-3000, 3000, c)),
        "bt": T((1, h, w, c), scale=0.05 * k1 * k2 * np.sqrt(c * m) / 9, zero_point=5),
        "s": T((1, h, w, c), scale=0.05 * k1 * k2 * np.sqrt(c * m) / 7, zero_point=-6),
    }
    pair = ["r", "bt"] if residual_first else ["bt", "r"]
    ops = [("ADD", ["x", "k0"], ["r"], {}),
           ("CONV_2D", ["r", "f1", "b1"], ["a"],
            dict(padding=_PADDING["SAME"], stride_h=1, stride_w=1,
                 fused_activation_function=act1)),
           ("CONV_2D", ["a", "f2", "b2"], ["bt"], dict(padding=_PADDING["SAME"], stride_h=1, stride_w=1)),
           ("ADD", pair, ["s"], dict(fused_activation_function=0))]
    if tail:
        tensors["k1"] = T((1, 1, 1, c), scale=tensors["s"].scale, data=rng.integers(-20, 20, (1, 1, 1, c)))
        tensors["y"] = T((1, h, w, c), scale=tensors["s"].scale * 0.6, zero_point=2)
        ops.append(("ADD", ["s", "k1"], ["y"], {}))
    if wide:
        tensors["f3"] = T((8 * c, 1, 1, c), scale=0.01, data=rng.integers(-127, 128, (8 * c, 1, 1, c)))
        tensors["b3"] = T((8 * c,), "int32", scale=0.01 * tensors["y"].scale, data=np.zeros(8 * c, np.int64))
        tensors["z"] = T((1, h, w, 8 * c), scale=0.3, zero_point=0)
        ops.append(("CONV_2D", ["y", "f3", "b3"], ["z"], dict(padding=_PADDING["SAME"], stride_h=1, stride_w=1)))
        tensors["k2"] = T((1, 1, 1, 8 * c), scale=0.3, data=rng.integers(-20, 20, (1, 1, 1, 8 * c)))
        tensors["zz"] = T((1, h, w, 8 * c), scale=0.4, zero_point=0)
        ops.append(("ADD", ["z", "k2"], ["zz"], {}))
    return graph_model(tensors, ops, ["x"], ["zz" if wide else "y" if tail else "s"])


def fused(manifest: dict) -> bool:
    return any(layer["op"] == "FUSED_RESIDUAL" for layer in manifest["layers"])


CASES = [  # h, w, c, m, k1, k2, residual first
    (8, 6, 8, 8, 3, 3, False),
    (7, 5, 4, 6, 1, 3, True),   # a pointwise conv1, more channels inside the block
    (9, 4, 6, 5, 3, 5, False),  # conv2's window taller than conv1's
    (8, 7, 8, 8, 3, 3, True),
    (10, 3, 3, 6, 1, 5, False),  # no border rows for conv1 (1x1), two for conv2
]


@pytest.mark.parametrize("h,w,c,m,k1,k2,first", CASES)
def test_fused_block_is_bit_exact_and_shrinks_the_arena(h, w, c, m, k1, k2, first):
    tfl = block(h, w, c, m, k1, k2, first)
    man = assert_bit_exact(tfl, count=16, spread=SPREAD)
    assert fused(man)
    _, layered = compile_tflite(tfl, name="m", optimize="speed")  # speed: nothing fused
    assert not fused(layered) and len(layered["layers"]) == len(man["layers"]) + 2
    assert man["arena_bytes"] < layered["arena_bytes"]
    assert man["ops"] == layered["ops"]  # the source model's operators


def test_not_fused_when_conv1_reads_rows_the_add_has_overwritten():
    # conv1 5 rows high, conv2 3: conv1's next row reads R's row the ADD just wrote
    _, man = compile_tflite(block(8, 6, 8, 8, 5, 3), name="m")
    assert not fused(man)


def test_fused_block_into_the_callers_buffer():
    # the block's output is the graph's: the rows go to the caller's buffer, not over R
    man = assert_bit_exact(block(6, 5, 8, 8, 3, 3, tail=False), count=8, spread=SPREAD)
    assert fused(man)


def test_not_fused_where_it_would_not_lower_the_arena():
    # a later layer of eight times the channels is the peak whatever the block does
    man = assert_bit_exact(block(6, 5, 8, 8, 3, 3, wide=True), count=4)
    assert not fused(man)
    assert len(man["layers"]) == 7


@pytest.mark.parametrize("board", ["mps2-an386", "mps3-an547", "mps2-an385"])  # DSP, Helium, M3
@pytest.mark.parametrize("h,w,c,m,k1,k2,first", [CASES[0], CASES[2], CASES[3]])
def test_fused_block_on_cortex_m(board, h, w, c, m, k1, k2, first):
    man = assert_bit_exact_on_qemu(block(h, w, c, m, k1, k2, first), board, count=6,
                                   spread=SPREAD)
    assert fused(man)


for _mark in QEMU_MARKS:
    test_fused_block_on_cortex_m = _mark(test_fused_block_on_cortex_m)
