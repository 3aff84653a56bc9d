"""Smoke test of benchmarks/deep_compression.py --quick (the numbers come from the full run)."""

import importlib.util
import sys
from pathlib import Path

import pytest

pytest.importorskip("keras")

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "deep_compression.py"


@pytest.mark.parametrize("model", ["lenet300_100", "lenet5"])
def test_quick_run_prints_the_table(model, tmp_path, capsys):
    from tinycompress.datasets import FASHION_MNIST_ROOT

    if not Path(FASHION_MNIST_ROOT).is_dir():
        pytest.skip("Fashion-MNIST (dataset-fashion-mnist) is not installed")
    spec = importlib.util.spec_from_file_location("deep_compression_bench", BENCH)
    bench = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = bench  # dataclasses look their module up
    try:
        spec.loader.exec_module(bench)
    finally:
        del sys.modules[spec.name]
    qemu = ["--qemu-vectors", "2"] if model == "lenet5" else []  # the board build, on QEMU
    rc = bench.main(["--quick", "--model", model, "--weights", "huffman", *qemu,
                     "--cache-dir", str(tmp_path), "--json", str(tmp_path / "out.json")])
    out = capsys.readouterr().out
    assert rc == 0, out  # every generated C bit-exact on the test images
    assert "float32 Keras (baseline)" in out and "C --weights huffman" in out and "target" in out
    assert "fc1 huffman" in out
    assert (tmp_path / "out.json").is_file()
    if qemu:
        assert "yes/yes" in out  # bit-exact on the host and on the board build under QEMU
