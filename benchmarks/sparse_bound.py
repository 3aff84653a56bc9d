"""Benchmark: what bounds a sparse weight format's bytes and decode on a Deep-Compressed
LeNet-300-100 (issue 11's `--weights auto` target): per FULLY_CONNECTED layer, its stored entries
(nonzero weights and hcsr's gap fillers), the entropies of their gaps and values, the bits an
entry takes as hcsr codes them, the joint (gap, value) Huffman code and how many entries a
one-lookup table of 2^L entries would decode (4 bytes an entry), and fixed 12-bit entries
(6-bit gap, 6-bit cluster index: about 6.5 instructions an entry on a Cortex-M4).

    python benchmarks/sparse_bound.py [--baseline B.keras] [--train 6000] [--epochs 1]

The model is weights_auto.py's (`compress --sparsity 0.92 --clusters 64`); nothing runs on QEMU.
Reads Fashion-MNIST from the Debian package dataset-fashion-mnist; downloads nothing.
"""

from __future__ import annotations

import argparse
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np

from _table import print_table, run
from weights_auto import compressed_model

TABLE_BITS = (8, 10, 12)


def int8_kernels(tmp: Path) -> list[np.ndarray]:
    """The compiled model's FULLY_CONNECTED int8 weight matrices, first layer first."""
    from ai_edge_litert.interpreter import Interpreter

    from tinycompress.compiler import compile_model

    m = compile_model(tmp / "c.keras", tmp / "dense", calibration=tmp / "train.npz",
                      weights="dense").manifest
    it = Interpreter(model_path=str(tmp / "dense" / m["tflite"]))
    found = []
    for d in it.get_tensor_details():
        if len(d["shape"]) == 2 and d["dtype"] == np.int8:
            try:
                found.append(it.get_tensor(d["index"]))
            except ValueError:
                continue  # an activation: no data
    return sorted(found, key=lambda w: -w.size)


def entropy(freqs: Counter) -> float:
    p = np.array(list(freqs.values()), float) / sum(freqs.values())
    return float(-(p * np.log2(p)).sum())


def layer_row(w: np.ndarray) -> list:
    from tinycompress.compress.huffman import code_lengths
    from tinycompress.ops import _hcsr

    enc = _hcsr.hcsr(w)
    _, gaps, vals = _hcsr._row_entries(w, enc.params["cap"])
    n = len(gaps)
    joint = Counter(g << 8 | (v & 255) for g, v in zip(gaps, vals))
    lengths = code_lengths(joint)
    stream = next(a for a in enc.consts if a.name == "stream").values.size - _hcsr.STREAM_PAD
    fixed = len(_hcsr._row_entries(w, 64)[1])  # 6-bit gaps: fillers past 64
    cover = [sum(f for s, f in joint.items() if lengths[s] <= b) / n for b in TABLE_BITS]
    stored = enc.params["n_entries"]
    return [f"{w.shape[0]}x{w.shape[1]}", f"{np.count_nonzero(w):,}", f"{n:,}",
            f"{entropy(Counter(gaps)):.2f} + {entropy(Counter(vals)):.2f}", f"{stored:,}",
            f"{8 * stream / stored:.2f}", f"{sum(joint[s] * lengths[s] for s in joint) / n:.2f}",
            " / ".join(f"{c:.0%}" for c in cover), f"{fixed * 1.5:,.0f} vs {stream:,}"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", type=Path)
    ap.add_argument("--train", type=int, default=6000)
    ap.add_argument("--epochs", type=float, default=1.0)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="tc-sparse-bound-") as t:
        tmp = Path(t)
        compressed_model(tmp, args.baseline, args.train, args.epochs)
        rows = [layer_row(w) for w in int8_kernels(tmp)]
    print_table(["layer (out x in)", "nonzero", "entries", "entropy gap + value (bits)",
                 "hcsr entries (pair fillers too)", "hcsr bits/entry", "joint Huffman bits/entry",
                 "joint codes <= " + " / ".join(f"{b}" for b in TABLE_BITS) + " bits (table "
                 + " / ".join(f"{4 << b:,}" for b in TABLE_BITS) + " B)",
                 "fixed 12-bit stream B vs hcsr's"], rows)
    return 0


if __name__ == "__main__":
    run(main)
