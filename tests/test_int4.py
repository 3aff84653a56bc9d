"""4-bit weights: the int4 storage (two signed nibbles a byte) bit-exact against the reference
for FULLY_CONNECTED, CONV_2D and DEPTHWISE_CONV_2D (odd row lengths, odd channel counts, rows
starting in a high nibble, under ASan/UBSan), the detection rule and `auto`; post-training
quantisation to 4 bits (round to nearest, GPTQ) of an INT8 model; QAT with 4-bit weights whose
values the compiled model holds exactly; bad widths and methods refused in one line."""

import json

import numpy as np
import pytest

from optest import assert_bit_exact
from tflite_builder import T, model
from test_weight_formats import conv, dw, fc, layer
from tinycompress.cli import main
from tinycompress.compiler import compile_tflite
from tinycompress.compress.int4 import (check_weight_bits, gptq_rows, int4_step, quantize_int4,
                                        round_to_nearest, weight_layers)
from tinycompress.errors import UserError
from tinycompress.ops._weight_formats import (decode, encode, fits_int4, int4, int4_nbytes,
                                              pack_int4, unpack_int4)


def nibbles(rows, cols, seed=0, lo=-8, hi=7):
    """int4-valued int8 weights spanning lo..hi (both ends present)."""
    w = np.random.default_rng(seed).integers(lo, hi + 1, (rows, cols))
    flat = w.reshape(-1)
    flat[:2] = [lo, hi][:flat.size]
    return w.astype(np.int8)


# --- the storage -----------------------------------------------------------------------------

@pytest.mark.parametrize("rows,cols", [(1, 1), (3, 1), (1, 7), (5, 37), (4, 8), (3, 6), (2, 17),
                                       (7, 16), (9, 9)])
def test_pack_round_trip_and_bytes(rows, cols):
    w = nibbles(rows, cols, seed=rows * cols)
    enc = encode(w, "int4")
    assert enc.label == "int4" and enc.nbytes == int4_nbytes(rows, cols) == (rows * cols + 1) // 2
    assert np.array_equal(decode(enc, rows, cols), w)


def test_nibble_order_is_low_first_and_odd_totals_pad_with_zero():
    assert pack_int4([1, -1, -8]).tolist() == [0xF1, 0x08]
    assert unpack_int4(np.array([0xF1, 0x08], np.uint8), 3).tolist() == [1, -1, -8]


def test_detection_rule():
    assert fits_int4(np.array([[-8, 7], [0, 1]]))
    assert not fits_int4(np.array([[-9, 0]])) and not fits_int4(np.array([[8, 0]]))
    assert int4(np.array([[8, 0]])) is None


def test_int4_asked_for_out_of_range_weights_is_refused():
    w = np.random.default_rng(0).integers(-127, 128, (4, 10)).astype(np.int8)
    with pytest.raises(UserError, match=r"FULLY_CONNECTED.*-8\.\.7.*--weight-bits 4"):
        compile_tflite(fc(w), name="m", weights="int4")


def test_auto_takes_int4_for_4_bit_values_and_keeps_int8_dense():
    _, m = compile_tflite(fc(nibbles(8, 40)), name="m", weights="auto")
    assert layer(m)["weight_format"] == "int4"
    assert layer(m)["weights_bytes"] < 0.6 * layer(m)["dense_weights_bytes"]
    wide = np.random.default_rng(1).integers(-127, 128, (8, 40)).astype(np.int8)
    _, m = compile_tflite(fc(wide), name="m", weights="auto")
    assert layer(m)["weight_format"] == "dense"


# --- bit-exact against the reference (host, ASan/UBSan) ----------------------------------------

FC_CASES = {  # (rows, cols, per_channel, batch): odd cols start every other row in a high nibble
    "1x1": (1, 1, False, 1), "5x37": (5, 37, True, 2), "3x8": (3, 8, False, 1),
    "4x6-tail-only": (4, 6, True, 1), "7x17": (7, 17, True, 1), "2x120": (2, 120, False, 3),
}


@pytest.mark.parametrize("case", sorted(FC_CASES))
def test_fc_bit_exact(case):
    rows, cols, per_channel, batch = FC_CASES[case]
    w = nibbles(rows, cols, seed=cols)
    m = assert_bit_exact(fc(w, per_channel, batch, bias_range=(-300, 300)), count=6,
                         weights="int4")
    assert layer(m)["weight_format"] == "int4"
    assert layer(m)["weights_bytes"] < layer(m)["dense_weights_bytes"]


def test_fc_outputs_spread_over_the_int8_range():
    w = nibbles(40, 99, seed=3)
    tfl = model("FULLY_CONNECTED",
                [T((1, 99), scale=0.05, zero_point=-3),
                 T((40, 99), scale=0.05, zero_point=0, data=w),
                 T((40,), "int32", scale=float(np.float32(0.05) * np.float32(0.05)), zero_point=0,
                   data=np.random.default_rng(4).integers(-2000, 2000, 40).astype(np.int32))],
                [T((1, 40), scale=0.2, zero_point=2)], {"fused_activation_function": "NONE"})
    assert_bit_exact(tfl, count=8, weights="int4", spread={})


CONV_CASES = {  # OHWI, geometry: odd channel counts, taps per row odd and even
    "3x3-c5-ic3": ((5, 3, 3, 3), {}),
    "5x5-c7-ic1-valid": ((7, 5, 5, 1), dict(h=8, wd=7, padding="VALID")),
    "1x1-c3-ic9-per-tensor": ((3, 1, 1, 9), dict(per_channel=False)),
    "3x3-c4-ic2-stride2-dilation": ((4, 3, 3, 2), dict(h=9, wd=8, stride=(2, 1), dilation=(1, 2))),
    "5x5-c3-ic6-batch2": ((3, 5, 5, 6), dict(h=7, wd=7, batch=2)),
}


@pytest.mark.parametrize("case", sorted(CONV_CASES))
def test_conv_bit_exact(case):
    shape, geo = CONV_CASES[case]
    w = nibbles(shape[0], int(np.prod(shape[1:])), seed=shape[0]).reshape(shape)
    m = assert_bit_exact(conv(w, **geo), count=4, weights="int4")
    assert layer(m)["weight_format"] == "int4"


DW_CASES = {  # rows [C*M][kh*kw], kh, kw, geometry
    "3x3-c7": (7, 3, 3, {}),
    "3x3-c3-dm2-stride2": (6, 3, 3, dict(dm=2, h=7, wd=8, stride=(2, 2))),
    "5x5-c5-valid-per-tensor": (5, 5, 5, dict(h=9, wd=8, padding="VALID", per_channel=False)),
    "5x5-c3-on-3x3-no-interior": (3, 5, 5, dict(h=3, wd=3)),
}


@pytest.mark.parametrize("case", sorted(DW_CASES))
def test_dw_bit_exact(case):
    rows, kh, kw, geo = DW_CASES[case]
    m = assert_bit_exact(dw(nibbles(rows, kh * kw, seed=rows), kh, kw, **geo), count=4,
                         weights="int4")
    assert layer(m)["weight_format"] == "int4"


@pytest.mark.parametrize("cc", ["gcc", "clang"])
def test_strict_c99(cc, tmp_path):
    """The portable int4 kernels under -std=c99 -Wall -Wextra -Werror (odd and even rows)."""
    import shutil
    import subprocess

    if shutil.which(cc) is None:
        pytest.skip(f"no {cc}")
    models = [fc(nibbles(5, 37), True), fc(nibbles(3, 16)), conv(nibbles(5, 27).reshape(5, 3, 3, 3)),
              dw(nibbles(7, 9), 3, 3)]
    for i, tfl in enumerate(models):
        files, m = compile_tflite(tfl, name="m", weights="int4")
        d = tmp_path / str(i)
        d.mkdir()
        for fname, data in files.items():
            (d / fname).parent.mkdir(parents=True, exist_ok=True)  # OUTDIR/src/
            (d / fname).write_bytes(data)
        for src in m["sources"]:
            proc = subprocess.run([cc, "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-c", src,
                                   "-o", "/dev/null"], cwd=d, capture_output=True, text=True)
            assert proc.returncode == 0, proc.stderr


# --- post-training 4-bit quantisation -----------------------------------------------------------

def int8_fc(seed=0, rows=12, cols=30, per_channel=True):
    rng = np.random.default_rng(seed)
    w = rng.integers(-127, 128, (rows, cols)).astype(np.int8)
    w[:, 0] = 127  # every channel's peak: the converter's
    return fc(w, per_channel, bias_range=(-3000, 3000))


def test_rtn_grid_values_scales_and_bias():
    from ai_edge_litert import schema_py_generated as schema

    tfl = int8_fc(per_channel=True)
    (before,) = weight_layers(schema.ModelT.InitFromPackedBuf(bytearray(tfl), 0))
    out, report = quantize_int4(tfl, "rtn")
    (after,) = weight_layers(schema.ModelT.InitFromPackedBuf(bytearray(out), 0))
    step = int4_step(before)
    assert np.array_equal(after.rows, round_to_nearest(before.rows, step))
    assert np.abs(after.rows).max() == 7 and np.all(np.abs(after.rows).max(axis=1) == 7)
    np.testing.assert_allclose(after.scale, before.scale * np.abs(before.rows).max(axis=1) / 7,
                               rtol=1e-6)
    assert report[0]["changed_vs_rtn"] == 0
    m = assert_bit_exact(out, count=6, weights="int4")
    assert layer(m)["weight_format"] == "int4"


def test_per_tensor_model_keeps_one_scale():
    from ai_edge_litert import schema_py_generated as schema

    out, _ = quantize_int4(int8_fc(seed=2, per_channel=False), "rtn")
    (after,) = weight_layers(schema.ModelT.InitFromPackedBuf(bytearray(out), 0))
    assert not after.per_channel and np.abs(after.rows).max() == 7
    assert_bit_exact(out, count=4, weights="int4")


def test_gptq_equals_rtn_without_input_correlation():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(6, 20)) * 40
    step = np.abs(w).max(axis=1) / 7
    q = gptq_rows(w, step, np.diag(rng.uniform(0.5, 2, 20)), damp=0.0)
    assert np.array_equal(q, round_to_nearest(w, step))


def test_gptq_lowers_the_output_error_of_correlated_inputs():
    rng = np.random.default_rng(1)
    mix = rng.normal(size=(20, 20))
    x = rng.normal(size=(2000, 20)) @ mix  # correlated inputs
    h = x.T @ x / len(x)
    w = rng.normal(size=(16, 20)) * 30
    step = np.abs(w).max(axis=1) / 7
    err = lambda q: float(np.sum(((w - q * step[:, None]) @ x.T) ** 2))  # noqa: E731
    rtn, gq = err(round_to_nearest(w, step)), err(gptq_rows(w, step, h))
    assert gq < 0.8 * rtn, (gq, rtn)
    assert np.abs(gptq_rows(w, step, h)).max() <= 7


def test_gptq_needs_calibration_data():
    with pytest.raises(UserError, match="gptq needs calibration data"):
        quantize_int4(int8_fc(), "gptq")


def test_gptq_on_a_conv_dw_fc_chain_is_bit_exact():
    """A CONV_2D -> DEPTHWISE_CONV_2D -> FULLY_CONNECTED Keras model, converted, then GPTQ
    with calibration activations of each layer (patches of both convolutions)."""
    import keras

    keras.utils.set_random_seed(0)
    inp = keras.Input((8, 8, 2))
    h = keras.layers.Conv2D(3, 3, padding="same", activation="relu")(inp)
    h = keras.layers.DepthwiseConv2D(3, strides=2, depth_multiplier=2, activation="relu")(h)
    out = keras.layers.Dense(5)(keras.layers.Flatten()(h))
    from tinycompress.frontends.keras import convert

    x = np.random.default_rng(0).normal(size=(64, 8, 8, 2)).astype(np.float32)
    tfl = convert(keras.Model(inp, out), (8, 8, 2), x, "chain")
    q, report = quantize_int4(tfl, "gptq", x)
    assert [r["op"] for r in report] == ["CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"]
    assert sum(r["changed_vs_rtn"] for r in report) > 0  # the compensation moved some values
    m = assert_bit_exact(q, count=6, weights="int4")
    assert [la["weight_format"] for la in m["layers"] if la["op"] != "RESHAPE"] == ["int4"] * 3


# --- bad inputs --------------------------------------------------------------------------------

@pytest.mark.parametrize("bits", ["3", "16", "0", "four"])
def test_unsupported_weight_bits_are_refused(bits, tmp_path, capsys):
    path = tmp_path / "fc.tflite"
    path.write_bytes(int8_fc())
    assert main(["compile", str(path), "-o", str(tmp_path / "out"), "--weight-bits", bits]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: --weight-bits {bits} is not supported: choose 8 or 4"
    assert not (tmp_path / "out").exists()
    with pytest.raises(UserError):
        check_weight_bits(int(bits) if bits.isdigit() else bits)


def test_qat_refuses_unsupported_weight_bits(tmp_path, capsys):
    assert main(["qat", str(tmp_path / "m.keras"), "--data", str(tmp_path / "d.npz"), "-o",
                 str(tmp_path / "o.keras"), "--weight-bits", "2"]) == 2
    assert capsys.readouterr().err.strip() == "error: --weight-bits 2 is not supported: choose 8 or 4"


def test_unknown_method_and_gptq_without_data_are_refused(tmp_path, capsys):
    path = tmp_path / "fc.tflite"
    path.write_bytes(int8_fc())
    out = str(tmp_path / "out")
    assert main(["compile", str(path), "-o", out, "--weight-bits", "4",
                 "--weight-method", "adaround"]) == 2
    assert "--weight-method 'adaround' is unknown: choose rtn or gptq" in capsys.readouterr().err
    assert main(["compile", str(path), "-o", out, "--weight-bits", "4",
                 "--weight-method", "gptq"]) == 2
    assert "give --calibration DATA.npz" in capsys.readouterr().err
    assert main(["compile", str(path), "-o", out, "--weight-method", "gptq"]) == 2
    assert "applies to 4-bit weights: add --weight-bits 4" in capsys.readouterr().err


def test_cli_compiles_an_int8_model_to_int4(tmp_path, capsys):
    path = tmp_path / "fc.tflite"
    path.write_bytes(int8_fc())
    assert main(["compile", str(path), "-o", str(tmp_path / "out"), "--weight-bits", "4",
                 "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [r["weight_format"] for r in report["per_layer"]] == ["int4"]
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["weight_bits"] == 4 and manifest["weight_method"] == "rtn"


# --- QAT with 4-bit weights ---------------------------------------------------------------------

def c_nibbles(weights_c: str, name: str) -> np.ndarray:
    """The bytes of the constant array `name` in the generated weights file."""
    import re

    body = re.search(rf"\b{name}\[[A-Z0-9_]+\][^=]*=\s*\{{([^}}]*)\}}", weights_c).group(1)
    return np.array([int(v) for v in body.replace(",", " ").split()], np.uint8)


def test_qat_4_bit_values_are_the_compiled_ones(tmp_path):
    """qat --weight-bits 4, then compile --weight-bits 4: the TFLite weights and biases and the
    C's nibbles equal the QAT model's integers element by element, every channel spans -7..7,
    and the C is bit-exact."""
    import keras

    from test_qat import keras_layout_to_tflite
    from tinycompress.compiler import compile_model
    from tinycompress.compress.qat import QATSpec, qat
    from tinycompress.frontends.tflite import read_tflite
    from tinycompress.verify import verify

    rng = np.random.default_rng(5)
    x = rng.uniform(size=(256, 8, 8, 1)).astype(np.float32)
    y = (x[:, :4].mean(axis=(1, 2, 3)) > x[:, 4:].mean(axis=(1, 2, 3))).astype(np.int32)
    keras.utils.set_random_seed(0)
    inp = keras.Input((8, 8, 1))
    h = keras.layers.Conv2D(4, 3, activation="relu")(inp)
    h = keras.layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same", activation="relu")(h)
    h = keras.layers.Dense(2)(keras.layers.Flatten()(h))
    model = keras.Model(inp, keras.layers.Softmax()(h))
    spec = QATSpec(epochs=1, batch_size=32, learning_rate=1e-3, weight_bits=4)
    exported, report = qat(model, x, y, spec, x_cal=x)
    path, cal = tmp_path / "q.keras", tmp_path / "cal.npz"
    exported.save(path)
    np.savez(cal, x=x)
    out = tmp_path / "c"
    m = compile_model(path, out, calibration=cal, weight_bits=4).manifest
    graph = read_tflite((out / m["tflite"]).read_bytes())
    ops = [o for o in graph.ops if o.kind in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")]
    layers = [la for la in m["layers"] if la["op"] in ("CONV_2D", "DEPTHWISE_CONV_2D",
                                                        "FULLY_CONNECTED")]
    weights_c = next((out / s).read_text() for s in m["sources"] if s.endswith("_weights.c"))
    assert len(ops) == len(report.layers) == 3
    for op, la, lay in zip(ops, report.layers, layers):
        want = keras_layout_to_tflite(la)
        assert np.abs(la.kernel).max() <= 7
        assert np.all(np.abs(la.kernel.reshape(-1, la.kernel.shape[-1])
                             if la.kind != "depthwise" else la.kernel).max() == 7)
        assert np.array_equal(graph.tensors[op.inputs[1]].data, want), la.name
        assert np.array_equal(graph.tensors[op.inputs[2]].data, la.bias), la.name
        assert lay["weight_format"] == "int4"
        rows = want.reshape(want.shape[0], -1) if la.kind != "depthwise" else \
            want.reshape(-1, want.shape[-1]).T
        packed = c_nibbles(weights_c, f"{m['name']}_l{lay['index']}_nibbles")
        assert np.array_equal(unpack_int4(packed, rows.size).reshape(rows.shape), rows), la.name
    assert len(np.unique(report.layers[-1].kernel)) > 4  # not a trivial model
    checked = verify(out, count=0, data=cal)
    assert checked["bit_exact"] and checked["vectors"] == 256
