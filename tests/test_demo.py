"""The README's main job on a small budget: train LeNet-5 on Fashion-MNIST, Deep-Compress it,
compile, verify on the host and under QEMU, check it against the default board."""

from __future__ import annotations

import json

import pytest

from tinycompress.cli import main
from optest import QEMU_MARKS

pytestmark = QEMU_MARKS  # the default board's run under QEMU


@pytest.mark.slow
def test_demo_compresses_compiles_verifies_and_checks(tmp_path, capsys):
    code = main(["demo", "-o", str(tmp_path / "demo"), "--epochs", "1", "--compress-epochs", "0.2",
                 "--vectors", "300", "--json"])
    out = capsys.readouterr().out
    assert code == 0
    summary = json.loads(out)
    assert summary["bit_exact"] is True and summary["mismatches"] == 0
    assert summary["vectors"] == 300
    # A LeNet-5 trained for one epoch on Fashion-MNIST is far above chance (10%); its INT8 C
    # stays close to it, and so does the compressed C after a short fine-tuning.
    assert summary["float_accuracy"] > 0.80
    assert summary["dense"]["bit_exact"] and summary["dense"]["accuracy"] > 0.78
    assert summary["int8_c_accuracy"] > 0.70
    assert summary["dense"]["weights_bytes"] < summary["float32_weights_bytes"] / 3
    assert summary["ratio"] > 30 and summary["kept"] < 0.08
    assert summary["qemu"]["bit_exact"] and summary["qemu"]["vectors"] == 100
    assert summary["check"]["board"] == "nucleo-f446re" and summary["check"]["fits"]
    assert (tmp_path / "demo" / "c" / "src" / "lenet5.h").exists()
    assert (tmp_path / "demo" / "c-dense" / "src" / "lenet5.h").exists()
    assert json.loads((tmp_path / "demo" / "summary.json").read_text()) == summary


def test_demo_refuses_an_unknown_board_before_training(tmp_path, capsys):
    assert main(["demo", "-o", str(tmp_path / "demo"), "--board", "nucleo-zz"]) == 2
    assert "nucleo-zz" in capsys.readouterr().err
    assert not (tmp_path / "demo" / "cache").exists()
