"""The cost model (tinycompress/ops/cost.py, tinycompress/cost.py): bytes equal to what compile
places, instructions within 25% of QEMU's counts, `--weights auto` by `--optimize`; and compile
recognising a model `compress` wrote (frontends/marker.py) without flags."""

from __future__ import annotations

import json

import numpy as np
import pytest

from optest import QEMU_MARKS
from test_weight_formats import conv, dw, fc, structured

from tinycompress.compiler import compile_tflite
from tinycompress.cost import estimate
from tinycompress.ops._weight_formats import FORMATS
from tinycompress.ops.cost import BALANCED_SLACK, Candidate, choose, choose_model

BOARD = "mps2-an386"  # Cortex-M4: DSP kernels for dense layers


def test_choose_by_optimize():
    cands = [Candidate("dense", 1000, 100), Candidate("sparse", 300, 400),
             Candidate("lut", 310, 250), Candidate("huffman", 280, 900)]
    assert choose(cands, "size").weight_format == "huffman"
    assert choose(cands, "speed").weight_format == "dense"
    # balanced: the fastest within 10% of 280 B (308 B): sparse; lut (310 B) is just outside
    assert choose(cands, "balanced").weight_format == "sparse"
    assert 310 > (1 + BALANCED_SLACK) * 280 >= 300
    # an unknown estimate ranks last
    assert choose([Candidate("a", 100, None), Candidate("b", 105, 50)]).weight_format == "b"
    with pytest.raises(ValueError, match="known: balanced, size, speed"):
        choose(cands, "fast")


def test_balanced_bounds_the_model_not_each_layer():
    """balanced: the fewest instructions of the model within 10% of its fewest bytes (110 B:
    121 B), a layer taking more than a tenth over its own fewest (12 B against 10 B) where the
    other leaves room; size and speed choose layer by layer."""
    layers = [[Candidate("a", 100, 1000), Candidate("b", 105, 500), Candidate("c", 115, 1)],
              [Candidate("d", 10, 100), Candidate("e", 12, 10)]]
    assert [c.weight_format for c in choose_model(layers)] == ["b", "e"]  # 117 B, 510
    assert [choose(cands).weight_format for cands in layers] == ["b", "d"]  # 115 B, 600
    assert [c.weight_format for c in choose_model(layers, "size")] == ["a", "d"]
    assert [c.weight_format for c in choose_model(layers, "speed")] == ["c", "e"]
    # an unknown estimate ranks after every known one, whatever the instructions
    unknown = [[Candidate("a", 100, None), Candidate("b", 101, 10**9)], [Candidate("d", 10, 1)]]
    assert [c.weight_format for c in choose_model(unknown)] == ["b", "d"]
    with pytest.raises(ValueError, match="known: balanced, size, speed"):
        choose_model(layers, "fast")


def _layers():
    return {"fc": fc(structured(64, 256, 0.9, 16)),
            "conv": conv(structured(8, 3 * 3 * 8, 0.8, 16).reshape(8, 3, 3, 8), h=8, wd=8),
            "dw": dw(structured(16, 9, 0.7, 8), 3, 3, h=8, wd=8),
            "fc4": fc(np.clip(structured(64, 256, 0.9, 16), -8, 7)),  # int4 applies
            "conv4": conv(np.clip(structured(8, 72, 0.5, 16), -8, 7).reshape(8, 3, 3, 8),
                          h=8, wd=8)}


@pytest.mark.parametrize("case", ["fc", "conv", "dw", "fc4", "conv4"])
@pytest.mark.parametrize("board", [None, BOARD])
def test_estimate_bytes_are_what_compile_places(case, board):
    from tinycompress.errors import UserError

    tfl = _layers()[case]
    est = estimate(tfl, board)
    for fmt in FORMATS + ("auto",):
        if fmt == "int4" and not case.endswith("4"):  # weights beyond -8..7: compile refuses,
            with pytest.raises(UserError, match="int4"):  # estimate costs the layer dense
                compile_tflite(tfl, name="m", board=board, weights=fmt)
            assert est.layers[0].options[fmt] == est.layers[0].options["dense"]
            continue
        _, m = compile_tflite(tfl, name="m", board=board, weights=fmt)
        lay = m["layers"][0]
        opt = est.layers[0].options[fmt]
        assert est.total(fmt)[0] == m["weights_bytes"] == opt.bytes
        assert (opt.weight_format, opt.variant) == (lay["weight_format"], lay["variant"])
        assert opt.instructions == lay["instructions_estimate"] is not None


@pytest.mark.parametrize("board", [None, BOARD])
def test_auto_follows_optimize(board):
    """size: the fewest bytes of any format; speed: the fewest estimated instructions;
    balanced: the fastest within 10% of the fewest bytes."""
    tfl = _layers()["fc"]
    opts = estimate(tfl, board, FORMATS).layers[0].options.values()
    least = min(o.bytes for o in opts)
    got = {}
    for optimize in ("size", "speed", "balanced"):
        _, m = compile_tflite(tfl, name="m", board=board, weights="auto", optimize=optimize)
        got[optimize] = (m["weights_bytes"], m["layers"][0]["instructions_estimate"])
    assert got["size"][0] == least
    assert got["speed"][1] == min(o.instructions for o in opts)
    near = [o.instructions for o in opts if o.bytes <= (1 + BALANCED_SLACK) * least]
    assert got["balanced"][1] == min(near) and got["balanced"][0] <= (1 + BALANCED_SLACK) * least
    assert got["speed"][0] > got["size"][0]  # the layer has a real trade-off


QEMU_CASES = [  # (board, layer, format): every family, dense and compressed kernels
    ("mps2-an386", "fc", "dense"), ("mps2-an386", "fc", "sparse"), ("mps2-an386", "conv", "lut"),
    ("mps2-an385", "dw", "huffman"), ("mps3-an547", "conv", "dense")]


def _run_counted(tfl: bytes, board: str, fmt: str) -> tuple[dict, int]:
    """The manifest and QEMU's instructions of the one layer, its outputs checked bit-exact."""
    import tempfile
    from pathlib import Path

    from tinycompress.compiler import write_outdir
    from tinycompress.reference import Reference
    from tinycompress.targets import qemu

    files, m = compile_tflite(tfl, name="m", board=board, weights=fmt)
    x = np.random.default_rng(0).integers(-128, 128, (3, m["input"]["size"])).astype(np.int8)
    expected = np.asarray(Reference(tfl).run_batch(x))
    with tempfile.TemporaryDirectory(prefix="tc-cost-") as tmp:
        files["manifest.json"] = (json.dumps(m) + "\n").encode()
        write_outdir(Path(tmp) / "out", files)
        r = qemu.run(Path(tmp) / "out", board, x)
    assert np.array_equal(r.outputs, expected.reshape(r.outputs.shape))
    assert int(expected.max()) - int(expected.min()) > 100  # outputs spread over the int8 range
    return m, int(r.layer_instructions[0])


@pytest.mark.parametrize("board,case,fmt", QEMU_CASES)
@QEMU_MARKS[0]
@QEMU_MARKS[1]
def test_instructions_within_25_percent_of_qemu(board, case, fmt):
    tfl = _layers()[case]
    m, measured = _run_counted(tfl, board, fmt)
    est = m["layers"][0]["instructions_estimate"]
    assert abs(est / measured - 1) <= 0.25, f"estimate {est:,}, QEMU {measured:,}"


# --- compile recognises a compressed model ---------------------------------------------------

@pytest.fixture(scope="module")
def compressed_lenet300(tmp_path_factory):
    """Issue 10's scenario, small: LeNet-300-100 compressed at 92% sparsity with 64 shared
    values (7-bit indices) on a subset; returns (dir, compress's JSON summary)."""
    from tinycompress import zoo
    from tinycompress.cli import main

    tmp = tmp_path_factory.mktemp("lenet300")
    rng = np.random.default_rng(0)
    # inputs in [0, 30): confident softmax outputs, spread over the int8 range
    x = (30 * rng.random((256, 28, 28, 1))).astype(np.float32)
    y = rng.integers(0, 10, 256).astype(np.int32)
    np.savez(tmp / "train.npz", x=x, y=y)
    zoo.lenet300_100().save(tmp / "m.keras")
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["compress", str(tmp / "m.keras"), "--data", str(tmp / "train.npz"), "-o",
                     str(tmp / "c.keras"), "--sparsity", "0.92", "--clusters", "64",
                     "--epochs", "0.2", "--json"])
    assert code == 0
    return tmp, json.loads(out.getvalue())


def _compile(tmp, *flags) -> dict:
    import contextlib
    import io

    from tinycompress.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["compile", str(tmp / "c.keras"), "-o", str(tmp / ("out" + "".join(flags))),
                     "--calibration", str(tmp / "train.npz"), "--json", *flags])
    assert code == 0
    return json.loads(out.getvalue())


@pytest.mark.slow
def test_compile_recognises_compress_without_flags(compressed_lenet300):
    from tinycompress.reference import Reference
    from tinycompress.verify import verify

    tmp, summary = compressed_lenet300
    float32 = 4 * 266_610  # LeNet-300-100's parameters
    plain = _compile(tmp)
    rec = plain["recognised"]
    assert rec["steps"] == ["compress"] and rec["grid"] == "int8"
    assert rec["chosen"] == {"weights": "auto", "per_channel": False}
    assert plain["weights"] == "auto" and plain["per_channel_weights"] is False
    assert {la["weight_format"] for la in plain["per_layer"]} - {"dense"}  # compressed layers
    # compress reported what compile placed, from the same cost model
    assert summary["deployed"]["bytes"] == plain["weights_bytes"]
    assert summary["deployed"]["weights"] == "auto"
    ratio = float32 / plain["weights_bytes"]
    assert ratio > 20, f"{ratio:.1f}x"  # 92% pruned, 7-bit shared values
    # explicit flags override what was recognised
    dense = _compile(tmp, "--weights", "dense", "--per-channel-weights")
    assert dense["recognised"]["overridden"] == ["per_channel", "weights"]
    assert dense["weights_bytes"] > 3 * plain["weights_bytes"]
    report = verify(tmp / "out", count=100)
    assert report["bit_exact"] and report["vectors"] == 100
    x = np.load(tmp / "out" / "vectors.npz")["x"]
    expected = np.asarray(Reference((tmp / "out" / "model.tflite").read_bytes()).run_batch(x))
    assert int(expected.max()) - int(expected.min()) > 100  # outputs spread over the int8 range


def test_marker_round_trip_and_what_compile_chooses(tmp_path):
    """A marker survives in the .keras zip beside Keras' members, later steps add to it, and
    compile's choice follows it; flags given win (recognise)."""
    import keras

    from tinycompress.compiler import recognise
    from tinycompress.frontends import marker

    inp = keras.Input((4,))
    model = keras.Model(inp, keras.layers.Dense(2, name="fc")(inp))
    path = tmp_path / "m.keras"
    model.save(path)
    assert marker.read(path) is None and recognise(path, None, None) == ("dense", True, {})
    m = marker.step(None, "compress", pruned={"fc": 0.1}, shared={"fc": 5}, grid="int8")
    marker.write(path, m)
    keras.models.load_model(path)  # Keras ignores the extra member
    assert marker.read(path)["shared"] == {"fc": 5}
    assert marker.compile_defaults(marker.read(path)) == {"weights": "auto", "per_channel": False}
    # QAT decides the scales: per channel after per-channel QAT, even on the int8 grid
    q = marker.step(marker.read(path), "qat", qat_per_channel=True)
    assert q["steps"] == ["compress", "qat"] and q["pruned"] == {"fc": 0.1}
    assert marker.compile_defaults(q) == {"weights": "auto", "per_channel": True}
    assert marker.compile_defaults(marker.step(None, "qat", qat_per_channel=False)) == \
        {"per_channel": False}
    assert marker.compile_defaults(marker.step(None, "distill")) == {}
    weights, per_channel, info = recognise(path, "lut", None)
    assert (weights, per_channel) == ("lut", False)
    assert info["chosen"] == {"per_channel": False} and info["overridden"] == ["weights"]


def test_estimate_of_a_keras_model_in_memory():
    """The search over compression settings ranks models it holds: estimate converts them as
    compile does (per-tensor scales here) and counts the bytes compile places."""
    import keras

    from tinycompress.compiler import compile_tflite as compile_bytes
    from tinycompress.frontends import load_tflite_bytes

    rng = np.random.default_rng(0)
    inp = keras.Input((16,))
    model = keras.Model(inp, keras.layers.Dense(8, name="fc")(inp))
    w = model.get_layer("fc").get_weights()
    w[0][rng.random(w[0].shape) < 0.8] = 0
    model.get_layer("fc").set_weights(w)
    x = rng.normal(size=(32, 16)).astype(np.float32)
    est = estimate(model, BOARD, calibration=x, per_channel=False)
    assert est.core == "cortex-m4" and [la.op for la in est.layers] == ["FULLY_CONNECTED"]
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        model.save(Path(tmp) / "m.keras")
        tfl = load_tflite_bytes(Path(tmp) / "m.keras", x, per_channel=False)
    for fmt in ("dense", "sparse", "auto"):
        _, m = compile_bytes(tfl, name="m", board=BOARD, weights=fmt)
        assert est.total(fmt)[0] == m["weights_bytes"]
