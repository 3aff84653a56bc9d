"""`pip install .` gives a working tool outside the checkout: templates, firmware and boards ship
inside the wheel as package data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_works_outside_the_checkout(tmp_path):
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", str(ROOT),
                    "-w", str(wheels)], check=True, capture_output=True, text=True,
                   stdin=subprocess.DEVNULL)
    (wheel,) = wheels.glob("tinycompress-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for needed in ("tinycompress/_templates/model.c.j2", "tinycompress/_templates/tc_runtime.h",
                   "tinycompress/_templates/kernels/conv_2d_s8.c.j2",
                   "tinycompress/_firmware/linker.ld.j2", "tinycompress/_boards/nucleo-l4r5zi.toml",
                   "tinycompress/_templates/report/report.html.j2",
                   "tinycompress/report_html/__init__.py"):
        assert needed in names, needed
    # Install the wheel alone into a target directory and run it from elsewhere, with the
    # checkout off the import path.
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
                    str(site), str(wheel)], check=True, capture_output=True, text=True,
                   stdin=subprocess.DEVNULL)
    model = ROOT.parent / "shared" / "models" / "mlperf-tiny" / "ad01_int8.tflite"
    if not model.exists():
        pytest.skip("shared models not present")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(site)
    work = tmp_path / "elsewhere"
    work.mkdir()
    code = ("import sys; from tinycompress.cli import main; import tinycompress; "
            "assert 'site' in tinycompress.__file__, tinycompress.__file__; "
            "sys.exit(main(sys.argv[1:]))")
    outputs = {}
    for argv in (["compile", str(model), "-o", "out", "--json"],
                 ["verify", "out", "--vectors", "5", "--json"], ["boards", "--json"]):
        proc = subprocess.run([sys.executable, "-c", code, *argv], cwd=work, env=env,
                              capture_output=True, text=True, stdin=subprocess.DEVNULL)
        assert proc.returncode == 0, proc.stderr[-2000:]
        outputs[argv[0]] = json.loads(proc.stdout)
    assert outputs["verify"]["bit_exact"] is True and outputs["verify"]["vectors"] == 5
    assert "nucleo-l4r5zi" in json.dumps(outputs["boards"])
