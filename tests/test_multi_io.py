"""A Keras functional model of two inputs and two outputs (different shapes and quantisations):
verify compares every output on the host (ASan/UBSan) and on QEMU's Cortex-M4F, and reports
each; the generated API (status codes, macros) works from C and from C++."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import numpy as np
import pytest

from multi_io_model import multi_io_tflite
from optest import QEMU_MARKS
from tinycompress.compiler import compile_model
from tinycompress.verify import verify


@pytest.fixture(scope="module")
def outdir(tmp_path_factory):
    root = tmp_path_factory.mktemp("mio")
    (root / "mio.tflite").write_bytes(multi_io_tflite())
    compile_model(root / "mio.tflite", root / "out", name="mio")
    return root / "out"


def test_manifest_lists_both_inputs_and_outputs(outdir):
    m = json.loads((outdir / "manifest.json").read_text())
    assert [len(m["inputs"]), len(m["outputs"])] == [2, 2]
    assert [i["shape"] for i in m["inputs"]] == [[1, 12], [1, 6, 6, 2]]
    assert [o["shape"] for o in m["outputs"]] == [[1, 3], [1, 2, 4]]
    assert m["outputs"][0]["scale"] != m["outputs"][1]["scale"]
    assert m["inputs"][0]["zero_point"] != m["inputs"][1]["zero_point"]


def _outputs_spread(outdir, count):
    """The reference's outputs on verify's vectors, per output: how many distinct values."""
    from tinycompress import vectors as vec
    from tinycompress.reference import Reference

    m = json.loads((outdir / "manifest.json").read_text())
    ref = Reference((outdir / m["tflite"]).read_bytes())
    return [len(np.unique(o)) for o in ref.run_all(vec.draw_all(m, outdir, count))]


def test_host_bit_exact_per_output_under_sanitizers(outdir):
    report = verify(outdir, "host", count=60, sanitize=True)
    assert report["bit_exact"] and report["vectors"] == 60
    assert [o["name"] for o in report["outputs"]] == ["Identity", "Identity_1"]
    assert all(o["bit_exact"] and o["mismatches"] == 0 for o in report["outputs"])
    spread = _outputs_spread(outdir, 60)
    assert spread[0] > 60 and spread[1] > 60, spread  # outputs spread over the int8 range


def test_a_mismatch_is_reported_on_its_output(outdir, tmp_path):
    """Corrupting the bias of the layer that feeds output 1 only: output 1 mismatches, output 0
    stays exact, and the first mismatch names output 1."""
    out = tmp_path / "out"
    shutil.copytree(outdir, out)
    weights = out / "src" / "mio_weights.c"
    m = json.loads((out / "manifest.json").read_text())
    gate = next(lay["index"] for lay in m["layers"]
                if lay["op"] == "FULLY_CONNECTED" and "gate" in lay["name"])
    text = weights.read_text()
    hit = re.search(rf"mio_l{gate}_bias\[MIO_L{gate}_BIAS_ELEMENTS\] TC_ALIGNED\(4\) = "
                    r"\{\n\s+(-?\d+)", text)
    assert hit
    weights.write_text(text[:hit.start(1)] + str(int(hit.group(1)) + 20000) + text[hit.end(1):])
    report = verify(out, "host", count=20)
    assert not report["bit_exact"]
    assert report["outputs"][0]["bit_exact"] and not report["outputs"][1]["bit_exact"]
    assert report["first_mismatch"]["output"] == 1
    assert report["mismatches"] == report["outputs"][1]["mismatches"] > 0


@QEMU_MARKS[0]
@QEMU_MARKS[1]
def test_qemu_cortex_m4f_bit_exact_per_output(outdir, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(outdir, out)
    report = verify(out, "qemu", count=30, board="mps2-an386")
    assert report["bit_exact"] and report["machine"] == "mps2-an386"
    assert all(o["bit_exact"] for o in report["outputs"]) and len(report["outputs"]) == 2
    assert report["instructions_per_inference"] > 0


API_MAIN = r"""
#include <stdio.h>
#include <string.h>
#include "mio.h"
#include "mio_weights.h"
#include "tc_runtime.h"

int main(void)
{
    static int8_t a[MIO_INPUT0_ELEMENTS], b[MIO_INPUT1_ELEMENTS];
    static int8_t y0[MIO_OUTPUT0_ELEMENTS], y1[MIO_OUTPUT1_ELEMENTS];
    static int8_t both[MIO_OUTPUT0_BYTES + MIO_OUTPUT1_BYTES];
    float real = 0.5f;
    int q = (int)(real / MIO_INPUT0_SCALE + 0.5f) + MIO_INPUT0_ZERO_POINT;
    memset(a, q, sizeof a);
    memset(b, MIO_INPUT1_ZERO_POINT, sizeof b);
    memset(y0, 77, sizeof y0);
    printf("%d", mio_invoke(NULL, b, y0, y1) == MIO_ERR_NULL);
    printf("%d", mio_invoke(a, b, y0, NULL) == MIO_ERR_NULL);
    printf("%d", mio_invoke(a, b, a, y1) == MIO_ERR_OVERLAP);
    printf("%d", mio_invoke(a, b, both, both + 1) == MIO_ERR_OVERLAP);
    printf("%d", y0[0] == 77 && y0[MIO_OUTPUT0_ELEMENTS - 1] == 77); /* untouched */
    printf("%d", mio_invoke(a, b, both, both + MIO_OUTPUT0_BYTES) == MIO_OK);
    printf("%d", mio_invoke(a, b, y0, y1) == MIO_OK);
    printf("%d", memcmp(y0, both, sizeof y0) == 0);
    printf("%d\n", MIO_NUM_INPUTS == 2 && MIO_NUM_OUTPUTS == 2 && MIO_WEIGHTS_BYTES > 0);
    return 0;
}
"""


@pytest.mark.parametrize("lang", ["c", "c++"])
def test_status_codes_and_macros_from_c_and_cpp(outdir, tmp_path, lang):
    """NULL and overlapping buffers are refused with their codes, the outputs untouched; every
    header compiles as C++ (g++ -Wall -Wextra -Werror) and links with the C objects."""
    from tinycompress.targets.host import CFLAGS, SANITIZE

    compiler = "gcc" if lang == "c" else "g++"
    if shutil.which(compiler) is None:
        pytest.skip(f"needs {compiler}")
    src = outdir / "src"
    main = tmp_path / ("main.c" if lang == "c" else "main.cpp")
    main.write_text(API_MAIN)
    objs = []
    for c in sorted(src.glob("*.c")):
        obj = tmp_path / f"{c.stem}.o"
        subprocess.run(["gcc", *CFLAGS, *SANITIZE, "-c", str(c), "-o", str(obj)], check=True,
                       capture_output=True, text=True)
        objs.append(str(obj))
    std = ["-std=c99"] if lang == "c" else ["-std=c++11"]
    exe = tmp_path / "api"
    p = subprocess.run([compiler, *std, "-Wall", "-Wextra", "-Werror", "-O1", *SANITIZE,
                        f"-I{src}", str(main), *objs, "-o", str(exe)],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr[-2000:]
    run = subprocess.run([str(exe)], capture_output=True, text=True,
                         env={"ASAN_OPTIONS": "detect_leaks=0", "PATH": "/usr/bin:/bin"})
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == "1" * 9


def _two_input_data(outdir, n, rng):
    """Float samples for both inputs that quantise over most of each input's int8 range."""
    m = json.loads((outdir / "manifest.json").read_text())
    xs = []
    for spec in m["inputs"]:
        q = rng.integers(-128, 128, (n, *spec["shape"][1:]))
        xs.append(((q - spec["zero_point"]) * spec["scale"]).astype(np.float32))
    return xs


def test_data_file_feeds_every_input(outdir, tmp_path):
    """x0 and x1 from an .npz feed the two inputs, in the manifest's order: the C is bit-exact
    on them, labels give an accuracy, and the vectors are the data's (the first rows of x1
    quantised land in the reference's input 1)."""
    from tinycompress import vectors as vec
    from tinycompress.datasets import load_inputs

    rng = np.random.default_rng(7)
    x0, x1 = _two_input_data(outdir, 40, rng)
    y = rng.integers(0, 3, 40)
    np.savez(tmp_path / "d.npz", x0=x0, x1=x1, y=y)
    report = verify(outdir, "host", count=0, data=tmp_path / "d.npz", sanitize=True)
    assert report["bit_exact"] and report["vectors"] == 40
    assert 0.0 <= report["accuracy"] <= 1.0 and report["accuracy"] == report["reference_accuracy"]
    m = json.loads((outdir / "manifest.json").read_text())
    xs, _ = load_inputs(tmp_path / "d.npz", 2)
    got = vec.draw_all(m, outdir, 0, xs)
    assert got[1].shape == (40, 72) and len(np.unique(got[1])) > 200 // 2
    spec = m["inputs"][1]
    want = np.clip(np.round(x1.reshape(40, -1) / spec["scale"]) + spec["zero_point"], -128, 127)
    assert np.array_equal(got[1], want.astype(np.int8))


@pytest.mark.parametrize("arrays, message", [
    ({"x": np.zeros((4, 12), np.float32)}, "lacks x0, x1"),
    ({"x0": np.zeros((4, 12), np.float32)}, "lacks x1"),
    ({"x0": np.zeros((4, 12), np.float32), "x1": np.zeros((3, 6, 6, 2), np.float32)},
     "have 4, 3 samples"),
    ({"x0": np.zeros((4, 12), np.float32), "x1": np.zeros((4, 5), np.float32)},
     "data array 'x1' has shape \\[4, 5\\], but model input 1 is \\[1, 6, 6, 2\\]"),
])
def test_bad_data_for_several_inputs_is_refused(outdir, tmp_path, arrays, message):
    from tinycompress.errors import UserError

    np.savez(tmp_path / "d.npz", **arrays)
    with pytest.raises(UserError, match=message):
        verify(outdir, "host", count=4, data=tmp_path / "d.npz")


def test_flash_image_of_a_two_input_model(outdir, tmp_path):
    """The board image compiles both inputs' vectors in (zeros when none are given)."""
    if shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("needs arm-none-eabi-gcc")
    from tinycompress.targets.board import build_image

    image = build_image(outdir, "nucleo-f446re", tmp_path / "fw")
    assert image.elf.is_file() and image.flash_bytes > 0
    glue = (tmp_path / "fw" / "tc_model_glue.h").read_text()
    assert "mio_invoke(&tc_test_input0[(v) * 12u], &tc_test_input1[(v) * 72u]" in glue
