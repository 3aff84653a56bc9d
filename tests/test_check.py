"""`check`: measured figures against board capacity and budgets; exit 1 with the overshoot."""

import json
import shutil
from pathlib import Path

import pytest

from tinycompress.check import check, estimate_latency_ms
from tinycompress.cli import main
from tinycompress.boards import get_board
from tinycompress.errors import UserError
from optest import QEMU_MARKS

FAKE = Path(__file__).resolve().parent / "fixtures" / "fake_model"


def _measurement(**over):
    m = {"machine": "mps2-an386", "cflags": [], "vectors": 1,
         "instructions_per_inference": 1_200_000, "instructions_min": 1_200_000,
         "instructions_method": "exact", "instructions_resolution": 1,
         "layer_instructions": [1_000_000, 200_000], "flash_bytes": 100_000,
         "static_ram_bytes": 40_000, "stack_bytes": 2_000, "ram_bytes": 42_000,
         "model_flash_bytes": 98_000, "model_static_ram_bytes": 39_000}
    m.update(over)
    return m


@pytest.fixture
def outdir(tmp_path):
    out = tmp_path / "fake_model"
    shutil.copytree(FAKE, out)
    return out


def _record(outdir, board, **over):
    p = outdir / "manifest.json"
    m = json.loads(p.read_text())
    m.setdefault("measurements", {})[board] = _measurement(**over)
    p.write_text(json.dumps(m))


def test_fits(outdir, capsys):
    _record(outdir, "nucleo-l4r5zi")
    # 1.2 M instructions x 1.5 CPI / 120 MHz = 15 ms
    assert main(["check", str(outdir), "--board", "nucleo-l4r5zi", "--max-flash", "256K",
                 "--max-ram", "64K", "--max-latency-ms", "20"]) == 0
    out = capsys.readouterr().out
    assert "fits" in out and "estimate" in out and "15.000 ms" in out


def test_over_flash_board_capacity(outdir, capsys):
    _record(outdir, "nucleo-f446re", flash_bytes=600 * 1024)  # F446RE has 512 K
    assert main(["check", str(outdir), "--board", "nucleo-f446re"]) == 1
    out = capsys.readouterr().out
    assert "OVER by 88.0 K" in out and "does not fit" in out


def test_over_flash_budget_json(outdir, capsys):
    _record(outdir, "nucleo-l4r5zi")
    assert main(["check", str(outdir), "--board", "nucleo-l4r5zi", "--max-flash", "64K",
                 "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is False
    over = [c for c in data["checks"] if c["over"]]
    assert over == [{"name": "flash", "measured": 100_000, "limit": 65536,
                     "limit_source": "budget", "unit": "bytes", "over": True,
                     "margin": 65536 - 100_000, "estimate": False}]


def test_over_ram(outdir, capsys):
    _record(outdir, "nucleo-f446re", ram_bytes=140 * 1024)  # 128 K of SRAM
    assert main(["check", str(outdir), "--board", "nucleo-f446re", "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    (bad,) = [c for c in data["checks"] if c["over"]]
    assert bad["name"] == "ram" and bad["limit_source"] == "board" and bad["margin"] == -12 * 1024


def test_over_ram_budget(outdir):
    _record(outdir, "nucleo-l4r5zi")
    report = check(outdir, "nucleo-l4r5zi", max_ram=32 * 1024)
    assert not report.ok
    assert [(i.name, i.limit_source) for i in report.items if i.over] == [("ram", "budget")]


def test_over_latency(outdir, capsys):
    _record(outdir, "sparkfun-edge")  # 48 MHz, CPI 1.3: 32.5 ms
    assert main(["check", str(outdir), "--board", "sparkfun-edge",
                 "--max-latency-ms", "10", "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["latency_ms_estimate"] == pytest.approx(32.5)
    (bad,) = [c for c in data["checks"] if c["over"]]
    assert bad["name"] == "latency" and bad["estimate"] is True


def test_latency_estimate_formula():
    b = get_board("nucleo-l4r5zi")
    assert estimate_latency_ms(120_000, b) == pytest.approx(120_000 * 1.5 / 120e6 * 1e3)


def test_bad_options(outdir, capsys):
    _record(outdir, "nucleo-l4r5zi")
    assert main(["check", str(outdir), "--board", "nucleo-l4r5zi", "--max-flash", "lots"]) == 2
    assert "size 'lots' not understood" in capsys.readouterr().err
    assert main(["check", str(outdir), "--board", "nucleo-l4r5zi",
                 "--max-latency-ms", "-1"]) == 2
    assert main(["check", str(outdir), "--board", "atmega328"]) == 2
    assert "known boards:" in capsys.readouterr().err


def test_incomplete_measurement_refused(outdir):
    p = outdir / "manifest.json"
    m = json.loads(p.read_text())
    m["measurements"] = {"nucleo-l4r5zi": {"flash_bytes": 1}}
    p.write_text(json.dumps(m))
    with pytest.raises(UserError, match="lack ram_bytes, instructions_per_inference"):
        check(outdir, "nucleo-l4r5zi")


def test_missing_outdir(tmp_path):
    assert main(["check", str(tmp_path / "nothing"), "--board", "microbit"]) == 2


@QEMU_MARKS[0]
@QEMU_MARKS[1]
def test_measures_when_nothing_recorded(outdir, capsys):
    assert main(["check", str(outdir), "--board", "microbit", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] and data["measured_now"]
    stored = json.loads((outdir / "manifest.json").read_text())["measurements"]["microbit"]
    assert stored == data["measurement"]
    # Second time: read back, not re-measured.
    assert main(["check", str(outdir), "--board", "microbit", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["measured_now"] is False


# ---------------------------------------------------------------- real models on the micro:bit
# When the image cannot be linked for the QEMU machine, check answers with the model's
# compile-time figures instead of the linker's raw output, and never says it fits.


def _fc(depth: int, units: int, seed: int = 0) -> bytes:
    import numpy as np
    from tflite_builder import T, model

    rng = np.random.default_rng(seed)
    w = rng.integers(-127, 128, (units, depth)).astype(np.int8)
    b = rng.integers(-500, 500, units).astype(np.int32)
    return model("FULLY_CONNECTED",
                 [T((1, depth), scale=0.05, zero_point=3), T((units, depth), scale=0.01, data=w),
                  T((units,), "int32", scale=float(np.float32(0.05) * np.float32(0.01)),
                    data=b)],
                 [T((1, units), scale=0.1, zero_point=-2)])


def _compiled(tmp_path, tflite: bytes, name: str, board=None) -> Path:
    from tinycompress.compiler import compile_model

    src = tmp_path / f"{name}.tflite"
    src.write_bytes(tflite)
    out = tmp_path / name
    compile_model(src, out, board=board)
    return out


@pytest.fixture(scope="module")
def lenet5_caffe(tmp_path_factory):
    """The Deep Compression paper's LeNet-5 (431K parameters: ~430 K of flash in INT8)."""
    import numpy as np
    pytest.importorskip("tensorflow")
    from tinycompress import zoo
    from tinycompress.frontends.keras import convert

    x = np.random.default_rng(0).random((8, 28, 28, 1)).astype(np.float32)
    tflite = convert(zoo.lenet5_caffe(), (28, 28, 1), x, "lenet5_caffe")
    return _compiled(tmp_path_factory.mktemp("lenet"), tflite, "lenet5_caffe")


def _json(capsys, *argv):
    code = main([str(a) for a in argv] + ["--json"])
    out, err = capsys.readouterr()
    assert "Traceback" not in err and "overflowed" not in err, err
    return code, json.loads(out)


def _over(report) -> list[tuple[str, str]]:
    return [(c["name"], c["limit_source"]) for c in report["checks"] if c["over"]]


@pytest.mark.slow
@QEMU_MARKS[0]
@QEMU_MARKS[1]
def test_lenet5_too_big_for_microbit_answers_with_the_table(lenet5_caffe, capsys):
    from tinycompress.compiler import code_size

    out = lenet5_caffe
    code = main(["check", str(out), "--board", "microbit"])
    text, err = capsys.readouterr()
    assert code == 1 and err == ""
    flat = " ".join(text.split())
    assert "OVER by" in flat and "does not fit" in flat
    assert "could not be linked for QEMU microbit" in flat and "region `CODE' overflowed by" in flat
    assert "/tmp/" not in flat  # the linker's reason without its paths
    code, report = _json(capsys, "check", out, "--board", "microbit", "--max-ram", "8K",
                         "--max-latency-ms", "10")
    assert code == 1 and report["ok"] is False and report["source"] == "compile-time"
    assert report["measured_now"] is False and report["latency_ms_estimate"] is None
    assert _over(report) == [("flash", "board"), ("ram", "budget")]
    # The model's objects compiled for the micro:bit's Cortex-M0 (compiled without --board, the
    # manifest's figures are a Cortex-M4's).
    manifest = json.loads((out / "manifest.json").read_text())
    files = {f: (out / f).read_bytes() for f in manifest["sources"] + manifest["headers"]}
    m0 = code_size(files, manifest, "microbit")
    (flash, ram, *_) = report["checks"]
    assert flash["measured"] == m0["flash_bytes"] > 256 * 1024 and flash["limit"] == 256 * 1024
    assert flash["margin"] == 256 * 1024 - m0["flash_bytes"]
    assert ram["measured"] == m0["ram_bytes"] == manifest["ram_bytes"]
    assert "cortex-m0" in report["measurement"]["flash_source"]
    assert any("--max-latency-ms 10 not checked" in n for n in report["notes"])
    assert "measurements" not in manifest  # nothing recorded


@QEMU_MARKS[0]
@QEMU_MARKS[1]
def test_too_big_uses_the_manifest_figures_when_compiled_for_the_board(tmp_path, capsys):
    out = _compiled(tmp_path, _fc(1024, 300), "big", board="microbit")  # 300 K of weights
    manifest = json.loads((out / "manifest.json").read_text())
    code, report = _json(capsys, "check", out, "--board", "microbit", "--max-flash", "512K")
    assert code == 1 and _over(report) == [("flash", "board")]
    assert report["checks"][0]["measured"] == manifest["flash_bytes"]
    assert report["measurement"]["flash_source"] == manifest["flash_source"]
    assert "region `CODE' overflowed by" in report["link_error"]


@QEMU_MARKS[0]
@QEMU_MARKS[1]
def test_an_image_that_cannot_be_linked_never_fits(tmp_path, capsys):
    """The model's own figures fit, but with the harness's 16 K output buffer the image
    overflows the micro:bit's RAM: exit 1, and the text says why."""
    from tflite_builder import conv_model

    out = _compiled(tmp_path, conv_model(64, 64, 4, 4, 3, 3), "wide")
    code, report = _json(capsys, "check", out, "--board", "microbit")
    assert code == 1 and report["ok"] is False and _over(report) == []
    assert "region `DATA' overflowed by" in report["link_error"]
    assert main(["check", str(out), "--board", "microbit"]) == 1
    assert "does not fit: the image could not be linked for QEMU microbit" in " ".join(
        capsys.readouterr().out.split())


@QEMU_MARKS[0]
@QEMU_MARKS[1]
def test_measured_model_fits_and_each_budget_overrun_exits_1(tmp_path, capsys):
    out = _compiled(tmp_path, _fc(64, 16), "small")
    code, report = _json(capsys, "check", out, "--board", "microbit")
    assert code == 0 and report["ok"] and report["source"] == "qemu" and report["measured_now"]
    flash, ram = report["checks"][0]["measured"], report["checks"][1]["measured"]
    latency = report["latency_ms_estimate"]
    assert 0 < flash < 256 * 1024 and 0 < ram < 16 * 1024 and latency > 0
    for option, value, over in (("--max-flash", flash - 1, ("flash", "budget")),
                                ("--max-ram", ram - 1, ("ram", "budget")),
                                ("--max-latency-ms", latency * 0.99, ("latency", "budget"))):
        code, report = _json(capsys, "check", out, "--board", "microbit", option, value)
        assert code == 1 and _over(report) == [over], option
        assert report["measured_now"] is False  # read back from manifest.json
        (item,) = [c for c in report["checks"] if c["over"]]
        assert item["margin"] < 0
        assert item["margin"] == pytest.approx(item["limit"] - item["measured"])
    code, report = _json(capsys, "check", out, "--board", "microbit", "--max-flash", flash,
                         "--max-ram", ram, "--max-latency-ms", latency * 1.01)
    assert code == 0 and report["ok"]
    assert main(["check", str(out), "--board", "microbit", "--max-ram", str(ram - 1)]) == 1
    assert "OVER by 1 B" in capsys.readouterr().out
