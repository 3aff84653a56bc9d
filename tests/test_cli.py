"""The command line contract: outputs, JSON keys, exit codes, one-line errors, atomic OUTDIR."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from tinycompress.cli import main
from tinycompress.compiler import compile_model
from tflite_builder import T, model


def small_fc(depth=16, units=4, seed=0):
    rng = np.random.default_rng(seed)
    w = rng.integers(-127, 128, (units, depth)).astype(np.int8)
    b = rng.integers(-500, 500, units).astype(np.int32)
    return model("FULLY_CONNECTED",
                 [T((1, depth), scale=0.05, zero_point=3), T((units, depth), scale=0.01, data=w),
                  T((units,), "int32", scale=float(np.float32(0.05) * np.float32(0.01)), data=b)],
                 [T((1, units), scale=0.1, zero_point=-2)], {"fused_activation_function": "RELU"})


def run(capsys, *argv):
    code = main(list(map(str, argv)))
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one error line, got: {err!r}"
    assert lines[0].startswith("error: ")
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture
def fc_file(tmp_path):
    path = tmp_path / "fc.tflite"
    path.write_bytes(small_fc())
    return path


def test_compile_json_and_files(capsys, tmp_path, fc_file):
    code, out, _ = run(capsys, "compile", fc_file, "-o", tmp_path / "out", "--json", "--name", "net")
    assert code == 0
    report = json.loads(out)
    for key in ("ops", "macs", "weights_bytes", "flash_bytes", "ram_bytes", "files"):
        assert key in report
    assert report["ops"] == {"FULLY_CONNECTED": 1}
    assert report["macs"] == 16 * 4
    # weights (int8 4x16) + folded bias (int32 x4)
    assert report["weights_bytes"] == 64 + 16
    # The generated C in src/, the reference model and the manifest at the top.
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "net.tflite", "src"]
    assert sorted(p.name for p in (out / "src").iterdir()) == [
        "net.c", "net.h", "net_weights.c", "net_weights.h", "tc_runtime.h"]
    assert sorted(report["files"]) == ["manifest.json", "net.tflite", "src/net.c", "src/net.h",
                                       "src/net_weights.c", "src/net_weights.h",
                                       "src/tc_runtime.h"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["sources"] == ["src/net.c", "src/net_weights.c"]
    header = (out / "src" / "net.h").read_text()
    assert "int net_invoke(const int8_t *input, int8_t *output);" in header
    assert re.search(r"#define NET_INPUT_ELEMENTS 16\b", header)
    assert re.search(r"#define NET_INPUT_BYTES 16\b", header)
    assert re.search(r"#define NET_WEIGHTS_BYTES 80\b", header)
    # No leftovers of the atomic write next to OUTDIR.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fc.tflite", "out"]


def test_readme_api_example_compiles(tmp_path, fc_file):
    """The README's example of calling the generated API builds against a compiled model, as C99
    and as C++, without a warning."""
    import shutil
    import subprocess

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme[readme.index("#### The generated API"):]
    example = re.search(r"```c\n(.*?)```", section, re.S).group(1)
    assert "model_invoke(" in example and "MODEL_OK" in example
    compile_model(fc_file, tmp_path / "out")
    (tmp_path / "example.c").write_text(example)
    for cc, std in (("gcc", "-std=c99"), ("g++", "-std=c++11")):
        if shutil.which(cc) is None:
            continue
        lang = ["-x", "c++"] if cc == "g++" else []
        p = subprocess.run([cc, std, "-Wall", "-Wextra", "-Werror", "-pedantic", *lang, "-c",
                            str(tmp_path / "example.c"), f"-I{tmp_path / 'out' / 'src'}", "-o",
                            str(tmp_path / "example.o")], capture_output=True, text=True)
        assert p.returncode == 0, p.stderr


def test_verify_json_bit_exact_with_accuracy(capsys, tmp_path, fc_file):
    assert run(capsys, "compile", fc_file, "-o", tmp_path / "out")[0] == 0
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "data.npz", x=rng.integers(-128, 128, (50, 16)).astype(np.int8),
             y=rng.integers(0, 4, 50))
    code, out, _ = run(capsys, "verify", tmp_path / "out", "--data", tmp_path / "data.npz",
                       "--json")
    assert code == 0
    report = json.loads(out)
    assert report["bit_exact"] is True and report["mismatches"] == 0
    assert report["vectors"] == 50 and report["target"] == "host"
    assert 0.0 <= report["accuracy"] <= 1.0 and report["max_abs_diff"] == 0


def test_verify_detects_a_corrupted_weight(capsys, tmp_path, fc_file):
    out_dir = tmp_path / "out"
    assert run(capsys, "compile", fc_file, "-o", out_dir)[0] == 0
    weights = out_dir / "src" / "model_weights.c"
    text = weights.read_text()
    # Change the first bias value.
    m = re.search(r"model_l0_bias\[MODEL_L0_BIAS_ELEMENTS\] TC_ALIGNED\(4\) = \{\n\s+(-?\d+)", text)
    assert m
    start, end = m.span(1)
    weights.write_text(text[:start] + str(int(m.group(1)) + 5000) + text[end:])
    code, out, _ = run(capsys, "verify", out_dir, "--json", "--vectors", "20")
    assert code == 1
    report = json.loads(out)
    assert report["bit_exact"] is False and report["mismatches"] > 0
    assert report["first_mismatch"]["index"] == 0


def test_missing_model_is_one_line_error(capsys, tmp_path):
    code, _, err = run(capsys, "compile", tmp_path / "nope.keras", "-o", tmp_path / "out")
    assert code == 2
    assert "does not exist" in one_line_error(err)
    assert not (tmp_path / "out").exists()


def test_not_a_flatbuffer(capsys, tmp_path):
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"hello world, not a model")
    code, _, err = run(capsys, "compile", bad, "-o", tmp_path / "out")
    assert code == 2 and "not a TFLite flatbuffer" in one_line_error(err)


@pytest.mark.parametrize("name", ["int", "9lives", "tc_model", "has-dash"])
def test_bad_name(capsys, tmp_path, fc_file, name):
    code, _, err = run(capsys, "compile", fc_file, "-o", tmp_path / "out", "--name", name)
    assert code == 2 and "--name" in one_line_error(err)
    assert not (tmp_path / "out").exists()


def test_unsupported_ops_are_all_named_and_nothing_written(capsys, tmp_path):
    path = tmp_path / "sqrt.tflite"
    path.write_bytes(model("SQRT", [T((1, 4), "float32")], [T((1, 4), "float32")]))
    code, _, err = run(capsys, "compile", path, "-o", tmp_path / "out")
    line = one_line_error(err)
    assert code == 2
    assert "SQRT" in line and "op 0" in line
    assert not (tmp_path / "out").exists()


def test_float_keras_without_calibration(capsys, tmp_path):
    from tinycompress import zoo

    m = zoo.lenet300_100()
    m.save(tmp_path / "m.keras")
    code, _, err = run(capsys, "compile", tmp_path / "m.keras", "-o", tmp_path / "out")
    assert code == 2 and "--calibration" in one_line_error(err)


def test_foreign_files_in_outdir_are_kept(capsys, tmp_path, fc_file):
    out_dir = tmp_path / "out"
    (out_dir / "src").mkdir(parents=True)
    (out_dir / "src" / "model.c").write_text("/* mine */\n")
    (out_dir / "notes.txt").write_text("keep me\n")
    code, _, err = run(capsys, "compile", fc_file, "-o", out_dir)
    assert code == 2 and "not written by tinycompress" in one_line_error(err)
    assert (out_dir / "src" / "model.c").read_text() == "/* mine */\n"
    assert sorted(p.name for p in out_dir.iterdir()) == ["notes.txt", "src"]
    assert [p.name for p in (out_dir / "src").iterdir()] == ["model.c"]
    # Without the clash, tinycompress writes beside foreign files and recompiles over its own.
    (out_dir / "src" / "model.c").unlink()
    assert run(capsys, "compile", fc_file, "-o", out_dir)[0] == 0
    assert run(capsys, "compile", fc_file, "-o", out_dir)[0] == 0
    assert (out_dir / "notes.txt").read_text() == "keep me\n"


def test_src_that_is_a_file_is_refused(capsys, tmp_path, fc_file):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / "src").write_text("not a directory\n")
    code, _, err = run(capsys, "compile", fc_file, "-o", out_dir)
    assert code == 2 and "is not a directory" in one_line_error(err)
    assert sorted(p.name for p in out_dir.iterdir()) == ["src"]


def test_recompile_leaves_no_stale_files(capsys, tmp_path, fc_file):
    """A second compile under another name removes the first one's files (its own, listed in
    its manifest), not the user's; an OUTDIR of the flat layout is moved to src/ likewise."""
    out_dir = tmp_path / "out"
    assert run(capsys, "compile", fc_file, "-o", out_dir, "--name", "first")[0] == 0
    (out_dir / "src" / "mine.c").write_text("/* mine */\n")
    assert run(capsys, "compile", fc_file, "-o", out_dir, "--name", "second")[0] == 0
    assert sorted(p.name for p in out_dir.iterdir()) == ["manifest.json", "second.tflite", "src"]
    assert sorted(p.name for p in (out_dir / "src").iterdir()) == [
        "mine.c", "second.c", "second.h", "second_weights.c", "second_weights.h", "tc_runtime.h"]
    # An OUTDIR written flat by an earlier tinycompress: its files go, src/ replaces them.
    flat = tmp_path / "flat"
    flat.mkdir()
    for f in ("model.c", "model.h", "model.tflite"):
        (flat / f).write_text("old\n")
    (flat / "manifest.json").write_text(json.dumps(
        {"tinycompress": "0.0", "files": {"model.c": "", "model.h": "", "model.tflite": ""}}))
    assert run(capsys, "compile", fc_file, "-o", flat)[0] == 0
    assert sorted(p.name for p in flat.iterdir()) == ["manifest.json", "model.tflite", "src"]
    assert (flat / "model.tflite").read_bytes() == fc_file.read_bytes()


def test_verify_bad_inputs(capsys, tmp_path, fc_file):
    code, _, err = run(capsys, "verify", tmp_path / "missing")
    assert code == 2 and "manifest.json" in one_line_error(err)
    assert run(capsys, "compile", fc_file, "-o", tmp_path / "out")[0] == 0
    np.savez(tmp_path / "wrong.npz", x=np.zeros((3, 5), np.float32))
    code, _, err = run(capsys, "verify", tmp_path / "out", "--data", tmp_path / "wrong.npz")
    assert code == 2 and "shape" in one_line_error(err)
    code, _, err = run(capsys, "verify", tmp_path / "out", "--data", tmp_path / "none.npz")
    assert code == 2 and "not found" in one_line_error(err)


def test_compare_float_outputs_bitwise():
    from tinycompress.verify import compare

    a = np.array([[0.5, 1.0, -2.0]], np.float32)
    b = a.copy()
    assert compare(a, b)["bit_exact"]
    b[0, 1] = np.nextafter(np.float32(1.0), np.float32(2.0))  # one ULP: still a mismatch
    r = compare(a, b)
    assert not r["bit_exact"] and r["mismatches"] == 1 and r["first_mismatch"]["index"] == 1
    assert 0 < r["max_abs_diff"] < 1e-6


def test_per_tensor_weights_option(capsys, tmp_path, fc_file):
    from tinycompress import zoo
    from tinycompress.frontends.tflite import read_tflite

    m = zoo.lenet300_100()
    m.save(tmp_path / "m.keras")
    np.savez(tmp_path / "cal.npz",
             x=np.random.default_rng(0).uniform(0, 1, (16, 28, 28, 1)).astype(np.float32))
    for flag, out in (([], "pc"), (["--per-tensor-weights"], "pt")):
        code, _, err = run(capsys, "compile", tmp_path / "m.keras", "-o", tmp_path / out,
                           "--calibration", tmp_path / "cal.npz", *flag)
        assert code == 0, err
    scales = {}
    for out in ("pc", "pt"):
        g = read_tflite((tmp_path / out / "model.tflite").read_bytes())
        fc_weights = [g.tensors[op.inputs[1]] for op in g.ops if op.kind == "FULLY_CONNECTED"]
        scales[out] = [len(w.quant.scale) for w in fc_weights]
    assert scales["pc"] == [300, 100, 10]
    assert scales["pt"] == [1, 1, 1]
    code, out, _ = run(capsys, "verify", tmp_path / "pt", "--json", "--vectors", "30")
    assert code == 0 and json.loads(out)["bit_exact"] is True
    # An INT8 .tflite is already quantised: the option is refused.
    code, _, err = run(capsys, "compile", fc_file, "-o", tmp_path / "x", "--per-tensor-weights")
    assert code == 2 and "already quantised" in one_line_error(err)
