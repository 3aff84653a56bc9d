"""Shared machinery of the per-op tests: compile a TFLite model, run the generated C on the host
under AddressSanitizer and UBSan (or cross-compiled under QEMU), and compare every output element
with the reference interpreter (tolerance 0)."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, settings, strategies as st

from tinycompress.boards import get_board
from tinycompress.compiler import compile_tflite, write_outdir
from tinycompress.errors import UnsupportedModelError
from tinycompress.reference import Reference
from tinycompress.targets import host, qemu

VECTORS = 24

# Marks for tests that cross-compile and run under QEMU (setup.sh installs both tools).
QEMU_MARKS = [
    pytest.mark.qemu,
    pytest.mark.skipif(shutil.which("qemu-system-arm") is None
                       or shutil.which("arm-none-eabi-gcc") is None,
                       reason="needs qemu-system-arm and arm-none-eabi-gcc (setup.sh installs them)"),
]


def random_inputs(manifest: dict, count: int, rng: np.random.Generator) -> list[np.ndarray]:
    xs = []
    for spec in manifest["inputs"]:
        if spec["dtype"] == "int8":
            xs.append(rng.integers(-128, 128, (count, spec["size"])).astype(np.int8))
        elif spec["dtype"] == "int16":
            xs.append(rng.integers(-32768, 32768, (count, spec["size"])).astype(np.int16))
        else:
            xs.append((rng.standard_normal((count, spec["size"])) * 3).astype(spec["dtype"]))
    return xs


def assert_spread(outputs: np.ndarray, min_distinct: int = 32, max_clamped: float = 0.25,
                  min_span: int = 0) -> None:
    """Outputs that test rounding: at least `min_distinct` distinct values, at most
    `max_clamped` of the elements at the type's extremes (int8/int16 only), and max - min at
    least `min_span`."""
    outputs = np.asarray(outputs)
    distinct = np.unique(outputs).size
    assert distinct >= min_distinct, f"outputs take only {distinct} distinct values"
    span = int(outputs.max()) - int(outputs.min()) if outputs.size else 0
    assert span >= min_span, f"outputs span only {span} (min {outputs.min()}, max {outputs.max()})"
    if outputs.dtype.kind == "i":
        info = np.iinfo(outputs.dtype)
        clamped = float(np.mean((outputs == info.min) | (outputs == info.max)))
        assert clamped <= max_clamped, f"{clamped:.0%} of the outputs are clamped"


def assert_bit_exact(tflite: bytes, count: int = VECTORS, seed: int = 0,
                     sanitize: bool = True, inputs: list[np.ndarray] | None = None,
                     weights: str = "dense", spread: dict | None = None) -> dict:
    """Compile (layer weights stored as `weights`), run and compare; on mismatch, fail naming
    the first differing element. With `spread` (assert_spread's arguments, {} for its
    defaults), the reference outputs must also span the output type's range."""
    files, manifest = compile_tflite(tflite, name="m", weights=weights)
    rng = np.random.default_rng(seed)
    xs = inputs if inputs is not None else random_inputs(manifest, count, rng)
    count = len(xs[0])
    ref = Reference(tflite)
    expected = [[] for _ in manifest["outputs"]]
    for v in range(count):
        outs = ref.run([x[v] for x in xs])
        for k, o in enumerate(outs):
            expected[k].append(o)
    with tempfile.TemporaryDirectory(prefix="tc-optest-") as tmp:
        out = Path(tmp) / "out"
        write_outdir(out, files)
        got = host.run_multi(out, manifest, xs, sanitize=sanitize)
    for k, (g, e) in enumerate(zip(got, expected)):
        e = np.stack(e)
        if spread is not None and k == 0:
            assert_spread(e, **spread)
        assert g.shape == e.shape, f"output {k}: shape {g.shape} != {e.shape}"
        bad = np.argwhere(g != e)
        if bad.size:
            v, i = bad[0]
            raise AssertionError(
                f"output {k}: {len(bad)} of {e.size} elements differ; first at vector {v} "
                f"element {i}: got {g[v, i]}, expected {e[v, i]}")
    return manifest


def compile_problems(tflite: bytes) -> list[str]:
    """The problems compile_tflite refuses `tflite` with (failing if it compiles)."""
    with pytest.raises(UnsupportedModelError) as e:
        compile_tflite(tflite, name="m")
    return e.value.problems


# --- the CONV_2D and DEPTHWISE_CONV_2D tests -------------------------------------------------
# Their models (tflite_builder.conv_model / dw_model) take h, w, cin, then the output channels
# (cout) or the depth multiplier, kh, kw, stride, dilation, padding.

def conv_shape_id(shape: tuple) -> str:
    """The test id of a (h, w, cin, cout or mult, kh, kw, stride, dilation, padding) case."""
    (sh, sw), (dh, dw), padding = shape[6:]
    return "x".join(map(str, shape[:6])) + f"-s{sh}{sw}-d{dh}{dw}-{padding}"


# (fused activation, per-channel filter scales) pairs covering every supported activation.
CONV_ACTIVATIONS = [("NONE", True), ("RELU", False), ("RELU6", True), ("RELU_N1_TO_1", False)]

conv_random_settings = settings(max_examples=15, deadline=None,
                                suppress_health_check=[HealthCheck.too_slow])

# Hypothesis strategies of a random conv case, but for the output channels (cout or mult).
CONV_RANDOM_CASE = dict(
    h=st.integers(1, 10), w=st.integers(1, 10), cin=st.integers(1, 9),
    kh=st.integers(1, 5), kw=st.integers(1, 5), sh=st.integers(1, 3), sw=st.integers(1, 3),
    dh=st.integers(1, 2), dw=st.integers(1, 2), padding=st.sampled_from(["SAME", "VALID"]),
    in_zp=st.integers(-128, 127), out_zp=st.integers(-128, 127),
    in_s=st.floats(1e-3, 1.0), w_s=st.floats(1e-4, 1.0), out_s=st.floats(1e-3, 2.0),
    act=st.sampled_from(["NONE", "RELU", "RELU6", "RELU_N1_TO_1"]),
    per_channel=st.booleans(), seed=st.integers(0, 1000))


def assert_random_conv_bit_exact(build, channels, h, w, cin, kh, kw, sh, sw, dh, dw, padding,
                                 act, per_channel, seed, **quant) -> None:
    """assert_bit_exact on `build(h, w, cin, channels, kh, kw, ...)` for a CONV_RANDOM_CASE
    (skipped where a VALID filter does not fit the input)."""
    if padding == "VALID" and (h < (kh - 1) * dh + 1 or w < (kw - 1) * dw + 1):
        return
    assert_bit_exact(build(h, w, cin, channels, kh, kw, (sh, sw), (dh, dw), padding, act,
                           per_channel=per_channel, scale_spread=(1e-2, 1.0), seed=seed, **quant),
                     count=4, sanitize=False)


def assert_bit_exact_on_qemu(tflite: bytes, board: str, weights: str = "dense", count: int = 6,
                             seed: int = 0, portable: bool = False,
                             inputs: np.ndarray | None = None, spread: dict | None = None) -> dict:
    """Compile for `board` (its core's kernels; with `portable`, the portable C, as without
    --board), layer weights stored as `weights`; run `count` random vectors (or `inputs`, one
    row per vector, in sequence) under QEMU on `board` and compare with the reference; on
    mismatch, fail naming the first differing element. With `spread` (assert_spread's
    arguments) the reference outputs must also span the output type's range. One-input,
    one-output models."""
    files, manifest = compile_tflite(tflite, name="m", board=None if portable else board,
                                     weights=weights)
    rng = np.random.default_rng(seed)
    x = inputs if inputs is not None else random_inputs(manifest, count, rng)[0]
    expected = np.asarray(Reference(tflite).run_batch(x))
    if spread is not None:
        assert_spread(expected, **spread)
    with tempfile.TemporaryDirectory(prefix="tc-qemutest-") as tmp:
        out = Path(tmp) / "out"
        files["manifest.json"] = (json.dumps(manifest) + "\n").encode()
        write_outdir(out, files)
        got = qemu.run(out, get_board(board), x).outputs
    expected = expected.reshape(got.shape)
    bad = np.argwhere(got != expected)
    if bad.size:
        v, i = bad[0]
        raise AssertionError(f"{board}, --weights {weights}: {len(bad)} of {expected.size} "
                             f"elements differ; first at vector {v} element {i}: got {got[v, i]}, "
                             f"expected {expected[v, i]}")
    return manifest
