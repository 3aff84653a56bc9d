"""Benchmark: `--weights auto` by `--optimize` against dense and each format, on a Deep-Compressed
LeNet-300-100 (issues 10 and 11), on an emulated Cortex-M4.

    python benchmarks/weights_auto.py [--baseline B.keras] [--train 6000] [--epochs 1]
                                      [--board mps2-an386] [--vectors 3] [--json F]

Compresses LeNet-300-100 with `tinycompress compress` (92% of the weights pruned, --clusters 64)
on the first --train Fashion-MNIST training images (the baseline: --baseline, else LeNet-300-100
trained 2 epochs on them), then compiles the compressed model for the board: with no flags (what
compile recognises from the model), with each --weights, and auto with each --optimize; runs
--vectors test images under QEMU (exact instructions per inference, bit-exact against the
reference interpreter) and prints bytes (`weights_bytes`, every parameter byte in flash),
instructions, the cost model's estimate and the ratios to dense (the core's DSP kernels).
Reads Fashion-MNIST from the Debian package dataset-fashion-mnist; downloads nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from _table import finish, print_table, run, yes_no

RUNS = [("no flags", {}), ("dense", {"weights": "dense"}), ("lut", {"weights": "lut"}),
        ("sparse", {"weights": "sparse"}), ("huffman", {"weights": "huffman"}),
        ("csr", {"weights": "csr"}), ("hcsr", {"weights": "hcsr"}),
        ("hcsr+raw", {"weights": "hcsr+raw"}),
        ("auto size", {"weights": "auto", "optimize": "size"}),
        ("auto speed", {"weights": "auto", "optimize": "speed"}),
        ("auto balanced", {"weights": "auto", "optimize": "balanced"})]


def compressed_model(tmp: Path, baseline: Path | None, n_train: int, epochs: float) -> dict:
    """Run `tinycompress compress` (92% sparsity, 64 clusters); its JSON summary."""
    from tinycompress import zoo
    from tinycompress.cli import main

    x, y = zoo.fashion_arrays("train", limit=n_train)
    np.savez(tmp / "train.npz", x=x, y=y)
    if baseline is None:
        import keras

        keras.utils.set_random_seed(0)
        model = zoo.lenet300_100()
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        model.fit(x, y, epochs=2, batch_size=64, verbose=0)
        baseline = tmp / "base.keras"
        model.save(baseline)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["compress", str(baseline), "--data", str(tmp / "train.npz"), "-o",
                     str(tmp / "c.keras"), "--sparsity", "0.92", "--clusters", "64",
                     "--epochs", str(epochs), "--json"])
    if code:
        raise SystemExit(f"compress failed ({code})")
    return json.loads(out.getvalue())


def measure(tmp: Path, board: str, n_vectors: int, title: str, flags: dict) -> dict:
    from tinycompress import zoo
    from tinycompress.compiler import compile_model
    from tinycompress.reference import Reference
    from tinycompress.targets import qemu
    from tinycompress.vectors import quantize_input

    out = tmp / title.replace(" ", "-")
    m = compile_model(tmp / "c.keras", out, calibration=tmp / "train.npz", board=board,
                      **flags).manifest
    x_test, _ = zoo.fashion_arrays("test", limit=n_vectors)
    x = quantize_input(x_test.reshape(n_vectors, -1), m["input"])
    r = qemu.run(out, board, x, workdir=tmp / f"{out.name}-build")
    expected = np.asarray(Reference((out / m["tflite"]).read_bytes()).run_batch(x))
    est = sum(la["instructions_estimate"] or 0 for la in m["layers"])
    return {"run": title, "weights": m["weights"], "optimize": m.get("optimize"),
            "per_channel": m["per_channel_weights"],
            "formats": "/".join(la["weight_format"] for la in m["layers"]
                                if la["op"] == "FULLY_CONNECTED"),
            "weights_bytes": m["weights_bytes"], "instructions": r.instructions_per_inference,
            "estimate": est, "bit_exact": bool(np.array_equal(r.outputs, expected.reshape(
                r.outputs.shape)))}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", type=Path)
    ap.add_argument("--train", type=int, default=6000)
    ap.add_argument("--epochs", type=float, default=1.0)
    ap.add_argument("--board", default="mps2-an386")
    ap.add_argument("--vectors", type=int, default=3)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="tc-auto-bench-") as t:
        tmp = Path(t)
        summary = compressed_model(tmp, args.baseline, args.train, args.epochs)
        rows = []
        for title, flags in RUNS:
            rows.append(measure(tmp, args.board, args.vectors, title, flags))
            print(f"  {title}: {rows[-1]['weights_bytes']:,} B, {rows[-1]['instructions']:,}",
                  file=sys.stderr)
    print(f"LeNet-300-100, {summary['nonzero_params'] / summary['params']:.1%} of the weights kept, "
          f"--clusters 64; compress reported {summary['deployed']['bytes']:,} B; "
          f"{args.board}, instructions per inference (QEMU)")
    float32 = 4 * 266_610  # every LeNet-300-100 parameter (kernels and biases) as float32
    dense = next(r for r in rows if r["run"] == "dense")
    print_table(["compile", "stored as (fc1/fc2/fc3)", "weights B", "x float32", "x dense B",
                 "instructions", "estimate", "x dense instr", "bit-exact"],
                ([r["run"], r["formats"], f"{r['weights_bytes']:,}",
                  f"{float32 / r['weights_bytes']:.1f}",
                  f"{r['weights_bytes'] / dense['weights_bytes']:.3f}",
                  f"{r['instructions']:,}", f"{r['estimate']:,}",
                  f"{r['instructions'] / dense['instructions']:.3f}", yes_no(r["bit_exact"])]
                 for r in rows))
    return finish(rows, args.json)


if __name__ == "__main__":
    run(main)
