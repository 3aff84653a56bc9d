"""Benchmark: a LeNet-300-100 pruned and weight-shared as Deep Compression leaves it (8% of the
weights kept, 64 shared values: linear centroids over the kept weights, as the paper initialises
them), compiled for a board (its core's kernels: the dense layers on the DSP/Helium kernels), per
--weights format: parameter bytes, instructions per inference and per layer under QEMU, the ratio
to dense, bit-exact against the reference interpreter on a few input vectors.

    python benchmarks/sparse_fc.py [--board mps2-an386]
                                   [--formats dense,csr,hcsr,hcsr+raw,sparse,lut,huffman,auto]
                                   [--density 0.08] [--clusters 64] [--json F]

Synthetic weights (no training, no data): Gaussian float weights, the largest `density` of each
layer by magnitude kept, snapped to `clusters` linearly spaced values, per-tensor int8.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from _table import finish, print_table, run, yes_no

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the test suite's TFLite graph builder

SIZES = (784, 300, 100, 10)


def pruned_shared(shape, density, clusters, rng):
    """int8 weights: `density` of them nonzero (largest magnitudes of a Gaussian), `clusters`
    linearly spaced shared values over the kept range."""
    w = rng.normal(size=shape)
    cut = np.quantile(np.abs(w), 1 - density)
    keep = np.abs(w) >= cut
    lo, hi = w[keep].min(), w[keep].max()
    centers = np.linspace(lo, hi, clusters)
    idx = np.abs(w[..., None] - centers).argmin(axis=-1)
    q = np.round(centers[idx] / max(abs(lo), abs(hi)) * 127)
    q[~keep] = 0
    return q.astype(np.int8)


def lenet300(density: float, clusters: int, seed: int = 0) -> tuple[bytes, int]:
    """The TFLite model and its input size. Output scales put each layer's outputs over the
    int8 range for random int8 inputs (measured on float sums of the same weights)."""
    from ai_edge_litert.schema_py_generated import ActivationFunctionType as act
    from graph_builder import graph_model
    from tflite_builder import T

    rng = np.random.default_rng(seed)
    x = rng.integers(-128, 128, (64, SIZES[0])).astype(np.float64)
    tensors, ops, in_s, in_zp = {"x0": T((1, SIZES[0]), scale=0.05, zero_point=-3)}, [], 0.05, -3
    for i, (d, u) in enumerate(zip(SIZES, SIZES[1:])):
        w = pruned_shared((u, d), density, clusters, rng)
        b = rng.integers(-2000, 2000, u).astype(np.int32)
        acc = (x - in_zp) @ w.T.astype(np.float64) + b
        last = i == len(SIZES) - 2
        real = acc * in_s * 0.01
        out_s = float(np.abs(real).max() / 100 if last else np.std(real) / 40)
        out_zp = 0 if last else -128
        tensors[f"w{i}"] = T((u, d), scale=0.01, zero_point=0, data=w)
        tensors[f"b{i}"] = T((u,), "int32", scale=in_s * 0.01, zero_point=0, data=b)
        tensors[f"x{i + 1}"] = T((1, u), scale=out_s, zero_point=out_zp)
        ops.append(("FULLY_CONNECTED", [f"x{i}", f"w{i}", f"b{i}"], [f"x{i + 1}"],
                    {"fused_activation_function": act.NONE if last else act.RELU}))
        x = np.clip(np.round(real / out_s) + out_zp, -128, 127) if last else \
            np.clip(np.round(np.maximum(real, 0) / out_s) + out_zp, -128, 127)
        in_s, in_zp = out_s, out_zp
    return graph_model(tensors, ops, ["x0"], [f"x{len(SIZES) - 1}"]), SIZES[0]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--board", default="mps2-an386")
    ap.add_argument("--formats", default="dense,csr,hcsr,hcsr+raw,sparse,lut,huffman,auto")
    ap.add_argument("--density", type=float, default=0.08)
    ap.add_argument("--clusters", type=int, default=64)
    ap.add_argument("--vectors", type=int, default=4)
    ap.add_argument("--json", type=Path, help="Also write the rows as JSON here.")
    args = ap.parse_args(argv)

    from tinycompress.boards import get_board
    from tinycompress.compiler import compile_tflite, write_outdir
    from tinycompress.reference import Reference
    from tinycompress.targets import qemu

    board = get_board(args.board)
    tfl, size = lenet300(args.density, args.clusters)
    x = np.random.default_rng(1).integers(-128, 128, (args.vectors, size)).astype(np.int8)
    expected = np.asarray(Reference(tfl).run_batch(x))
    spread = int(expected.max()) - int(expected.min())
    rows = []
    with tempfile.TemporaryDirectory(prefix="tc-sparse-bench-") as tmp:
        for fmt in args.formats.split(","):
            files, m = compile_tflite(tfl, name="m", board=board.name, weights=fmt)
            out = Path(tmp) / fmt
            files["manifest.json"] = (json.dumps(m) + "\n").encode()
            write_outdir(out, files)
            r = qemu.run(out, board, x, workdir=Path(tmp) / f"{fmt}-build")
            rows.append({
                "format": fmt, "weights_bytes": m["weights_bytes"],
                "labels": [lay.get("weight_format", "dense") + "/" + lay.get("variant", "?")
                           for lay in m["layers"]],
                "instructions": int(r.instructions_per_inference),
                "layers": [int(v) for v in r.layer_instructions],
                "bit_exact": bool(np.array_equal(r.outputs, expected.reshape(r.outputs.shape))),
            })
            print(f"  {fmt}: {rows[-1]['instructions']:,} {rows[-1]['layers']}", file=sys.stderr)
    print(f"LeNet-300-100, {args.density:.0%} of the weights kept, {args.clusters} shared values; "
          f"instructions per inference on {board.name} ({board.core}); output spread {spread}")
    dense = next((r for r in rows if r["format"] == "dense"), None)
    print_table(["--weights", "stored as (fc1, fc2, fc3)", "weights B", "instr/inf",
                 "per layer", "x dense", "bit-exact"],
                ([r["format"], ", ".join(r["labels"]), f"{r['weights_bytes']:,}",
                  f"{r['instructions']:,}", " / ".join(f"{v:,}" for v in r["layers"]),
                  f"{r['instructions'] / dense['instructions']:.3f}" if dense else "n/a",
                  yes_no(r["bit_exact"])] for r in rows))
    return finish(rows, args.json)


if __name__ == "__main__":
    run(main)
