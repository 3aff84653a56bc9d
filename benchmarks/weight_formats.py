"""Benchmark: the compressed weight formats' kernels on an emulated Cortex-M core, per layer and
format: the label `auto`-style encoders chose, parameter bytes (`weights_bytes`, every array
counted) and exact instructions per inference under QEMU, checked bit-exactly against the
reference interpreter.

    python benchmarks/weight_formats.py [--board mps2-an386]
                                        [--cases fc,conv,lenet-conv2,dw,dw-80,dw5-70]
                                        [--formats dense,lut,sparse,huffman] [--json F]

The layers are Deep Compression's kind: pruned (a fraction of zeros) and weight-shared (16
clusters). The C is the portable C (compiled without `--board`), as the compressed kernels are.
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
sys.path.insert(0, str(ROOT / "tests"))  # the test suite's small TFLite model builder


def structured(shape, sparsity, clusters, seed=0):
    """int8 weights with `clusters` distinct nonzero values and a fraction `sparsity` of zeros."""
    rng = np.random.default_rng(seed)
    pool = np.setdiff1d(np.arange(-127, 128), [0])
    w = rng.choice(pool, clusters, replace=False)[rng.integers(0, clusters, shape)]
    w[rng.random(shape) < sparsity] = 0
    return w.astype(np.int8)


def cases():
    from tflite_builder import T, model

    def fc(units, depth, sparsity):
        w = structured((units, depth), sparsity, 16)
        b = np.random.default_rng(1).integers(-5000, 5000, units).astype(np.int32)
        return model("FULLY_CONNECTED",
                     [T((1, depth), scale=0.05, zero_point=-3),
                      T((units, depth), scale=0.01, zero_point=0, data=w),
                      T((units,), "int32", scale=0.0005, zero_point=0, data=b)],
                     [T((1, units), scale=0.1, zero_point=5)], {"fused_activation_function": "NONE"})

    def conv(h, cin, cout, k, sparsity, padding="SAME", clusters=16):
        w = structured((cout, k, k, cin), sparsity, clusters)
        oh = h if padding == "SAME" else h - k + 1
        b = np.random.default_rng(1).integers(-5000, 5000, cout).astype(np.int32)
        return model("CONV_2D",
                     [T((1, h, h, cin), scale=0.05, zero_point=-3),
                      T((cout, k, k, cin), scale=[0.01] * cout, zero_point=[0] * cout, axis=0,
                        data=w),
                      T((cout,), "int32", scale=[0.0005] * cout, zero_point=[0] * cout, data=b)],
                     [T((1, oh, oh, cout), scale=0.1, zero_point=5)],
                     {"padding": padding, "stride_h": 1, "stride_w": 1, "dilation_h_factor": 1,
                      "dilation_w_factor": 1, "fused_activation_function": "RELU"}, version=3)

    def dw(h, c, k, sparsity):
        w = structured((1, k, k, c), sparsity, 16)
        b = np.random.default_rng(1).integers(-5000, 5000, c).astype(np.int32)
        return model("DEPTHWISE_CONV_2D",
                     [T((1, h, h, c), scale=0.05, zero_point=-3),
                      T((1, k, k, c), scale=[0.01] * c, zero_point=[0] * c, axis=3, data=w),
                      T((c,), "int32", scale=[0.0005] * c, zero_point=[0] * c, data=b)],
                     [T((1, h, h, c), scale=0.1, zero_point=5)],
                     {"padding": "SAME", "stride_h": 1, "stride_w": 1, "depth_multiplier": 1,
                      "dilation_h_factor": 1, "dilation_w_factor": 1,
                      "fused_activation_function": "RELU"}, version=3)

    return {
        "fc": ("FC 64x256, 90% sparse", lambda: fc(64, 256, 0.9)),
        "conv": ("CONV 3x3 16->16 on 8x8, 80% sparse", lambda: conv(8, 16, 16, 3, 0.8)),
        # LeNet-5's conv2 as Deep Compression leaves it (80% pruned, 15 clusters)
        "lenet-conv2": ("CONV 5x5 20->50 on 12x12 VALID, 80% sparse",
                        lambda: conv(12, 20, 50, 5, 0.8, "VALID", 15)),
        "dw": ("DW 3x3 x32 on 16x16, 50% sparse", lambda: dw(16, 32, 3, 0.5)),
        # sparse enough for the interior to gather the nonzero taps
        "dw-80": ("DW 3x3 x32 on 16x16, 80% sparse", lambda: dw(16, 32, 3, 0.8)),
        "dw5-70": ("DW 5x5 x32 on 16x16, 70% sparse", lambda: dw(16, 32, 5, 0.7)),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--board", default="mps2-an386")
    ap.add_argument("--cases", default="fc,conv,dw")
    ap.add_argument("--formats", default="dense,lut,sparse,huffman,auto")
    ap.add_argument("--json", type=Path, help="Also write the rows as JSON here.")
    args = ap.parse_args(argv)

    from tinycompress.boards import get_board
    from tinycompress.compiler import compile_tflite, write_outdir
    from tinycompress.reference import Reference
    from tinycompress.targets import qemu

    board = get_board(args.board)
    table = cases()
    rows = []
    with tempfile.TemporaryDirectory(prefix="tc-wf-bench-") as tmp:
        for key in args.cases.split(","):
            title, build = table[key]
            tfl = build()
            x = np.random.default_rng(0).integers(-128, 128, (1, 0)).astype(np.int8)
            expected = None
            for fmt in args.formats.split(","):
                files, m = compile_tflite(tfl, name="m", weights=fmt)
                if expected is None:
                    x = np.random.default_rng(0).integers(
                        -128, 128, (1, m["input"]["size"])).astype(np.int8)
                    expected = np.asarray(Reference(tfl).run_batch(x))
                out = Path(tmp) / f"{key}-{fmt}"
                files["manifest.json"] = (json.dumps(m) + "\n").encode()
                write_outdir(out, files)
                r = qemu.run(out, board, x, workdir=Path(tmp) / f"{key}-{fmt}-build")
                lay = m["layers"][0]
                rows.append({
                    "case": key, "title": title, "format": fmt,
                    "label": lay.get("weight_format", "dense"),
                    "weights_bytes": m["weights_bytes"],
                    "scratch_bytes": lay.get("scratch_bytes", 0),
                    "instructions": int(r.instructions_per_inference),
                    "bit_exact": bool(np.array_equal(r.outputs, expected.reshape(r.outputs.shape))),
                })
                print(f"  {key} {fmt}: {rows[-1]['instructions']:,}", file=sys.stderr)

    print_rows(rows, board)
    return finish(rows, args.json)


def print_rows(rows: list[dict], board) -> None:
    print(f"instructions per inference on {board.name} ({board.core}), portable C")
    dense = {r["case"]: r["instructions"] for r in rows if r["format"] == "dense"}
    print_table(["layer", "--weights", "stored as", "weights B", "scratch B", "instr/inf",
                 "x dense", "bit-exact"],
                ([r["title"], r["format"], r["label"], f"{r['weights_bytes']:,}",
                  r["scratch_bytes"], f"{r['instructions']:,}",
                  f"{r['instructions'] / dense[r['case']]:.2f}" if r["case"] in dense else "n/a",
                  yes_no(r["bit_exact"])] for r in rows))


if __name__ == "__main__":
    run(main)
