"""PTQ vs QAT INT8 of an aggressively compressed LeNet-5 on Fashion-MNIST, measured on the C.

    python benchmarks/compressed_qat.py            # full data, all 10,000 test images
    python benchmarks/compressed_qat.py --quick    # smoke run (6,000 training / 2,000 test images)

Baseline: the classic LeNet-5 (61,706 parameters, zoo.lenet5) trained --base-epochs (Adam,
cosine decay; the teacher of distill_qat.py, cached in --cache-dir). It is compressed as
``tinycompress compress --sparsity 0.9 --bits 4 --epochs E`` does (tinycompress.compress: 90%
of the kernel weights pruned, spread over the layers by sensitivity, then 15 shared values plus
zero per layer, 4-bit cluster indices, on the per-tensor int8 grid). PTQ: that model compiled
to C as it is. QAT: the same compressed model after the quantization-aware training ``compress
--qat`` appends (QATSpec(epochs=E/2, per_channel=False, keep_structure=True) on the same
training split, calibration and held-out split), pruned weights kept zero and shared weights
shared; and once more with a longer QAT at a higher learning rate (--qat-epochs, --qat-lr).
They are compiled with ``--per-tensor-weights --weights auto`` (calibration: the first 500
training images) and verified bit-exactly against the TFLite reference interpreter on every
test image (host gcc); the baseline row is the dense model compiled with the defaults.
Reads Fashion-MNIST from the Debian package dataset-fashion-mnist; downloads nothing.

Measured (seed 0, all 10,000 test images, every C bit-exact; LeNet-5 10 epochs):

| model | zero weights | max distinct nonzero / kernel | Keras float accuracy | INT8 C accuracy | bit-exact | weights_bytes |
|---|---|---|---|---|---|---|
| LeNet-5 float baseline (dense INT8 C) | 0.0% | 47,988 | 90.53% | 90.50% | yes | 63,618 |
| compressed, PTQ INT8 | 90.0% | 15 | 88.51% | 88.61% | yes | 7,851 |
| compressed + QAT INT8 (compress --qat: 1 epoch(s), Adam 1e-4) | 90.0% | 15 | 88.56% | 88.61% | yes | 7,851 |
| compressed + QAT INT8 (2 epochs, Adam 0.001) | 90.0% | 15 | 88.68% | 88.66% | yes | 7,851 |

PTQ loses nothing (the shared weights were fine-tuned on the int8 grid), so QAT has nothing to
recover: +0.00 pp (compress --qat), +0.05 pp (2 epochs, Adam 0.001); 8.1x fewer weight bytes than
the dense INT8 C, 1.9 pp below it.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).parent))

from _table import finish, print_table, yes_no  # noqa: E402
from distill_qat import c_row, teacher  # noqa: E402

import tinycompress  # noqa: E402
from tinycompress import zoo  # noqa: E402


def kernel_stats(model) -> tuple[float, int]:
    """(fraction of kernel weights that are zero, most distinct nonzero values in one kernel)."""
    kernels = [w.numpy() for layer in model.layers for w in layer.weights if w.path.endswith("kernel")]
    zero = sum(int(np.sum(k == 0)) for k in kernels) / sum(k.size for k in kernels)
    return zero, max(int(np.unique(k[k != 0]).size) for k in kernels)


def compressed_models(base, x, y, args, work: Path, log):
    """The compressed model (PTQ) and the same after compress --qat's QAT; their paths and reports."""
    import keras

    from tinycompress.compress.qat import QATSpec, qat
    from tinycompress.compress.save import save_keras

    ptq_path, qat_path = work / "ptq.keras", work / "qat.keras"
    model = keras.models.clone_model(base)
    model.set_weights(base.get_weights())
    stage = lambda s, i, n: log(f"  {s}: {i}/{n}") if i == n else None  # noqa: E731
    res = tinycompress.compress(model, (x, y), ptq_path, sparsity=args.sparsity, bits=args.bits,
                                epochs=args.epochs, val_split=0.1, progress=stage)
    log(f"compressed: {res.nonzero_params:,} of {res.params:,} kernel weights kept, "
        f"held-out accuracy {res.accuracy_before:.2%} -> {res.accuracy_after:.2%}")
    n_val = int(len(x) * 0.1)  # compress --qat: the same split, calibration and spec
    spec = QATSpec(epochs=max(0.1, args.epochs / 2), per_channel=False, keep_structure=True)
    q_model = keras.models.load_model(ptq_path)
    exported, report = qat(q_model, x[n_val:], y[n_val:], spec, x[:n_val], y[:n_val], x_cal=x,
                           progress=lambda e, n, loss: log(f"  qat: epoch {e}/{n} loss {loss:.4f}"))
    save_keras(exported, qat_path)
    long_path = work / "qat_long.keras"  # the same QAT, longer and at a higher learning rate
    long_spec = QATSpec(epochs=args.qat_epochs, learning_rate=args.qat_lr, per_channel=False, keep_structure=True)
    exported, _ = qat(keras.models.load_model(ptq_path), x[n_val:], y[n_val:], long_spec, x[:n_val], y[:n_val],
                      x_cal=x, progress=lambda e, n, loss: log(f"  long qat: epoch {e}/{n} loss {loss:.4f}"))
    save_keras(exported, long_path)
    return ptq_path, qat_path, long_path, report


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="smoke run: 6,000 training / 2,000 test images")
    p.add_argument("--base-epochs", type=int, default=None, help="default 10 (--quick: 2)")
    p.add_argument("--epochs", type=float, default=None, help="compress --epochs (default 2, --quick: 1)")
    p.add_argument("--sparsity", type=float, default=0.9)
    p.add_argument("--bits", type=int, default=4, help="cluster index bits: 2**bits - 1 shared values + zero")
    p.add_argument("--qat-epochs", type=float, default=2.0, help="epochs of the last row's longer QAT")
    p.add_argument("--qat-lr", type=float, default=1e-3, help="learning rate of the last row's QAT")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cache-dir", type=Path, default=Path(".cache/benchmarks"))
    p.add_argument("--json", type=Path, default=None, help="also write the rows as JSON")
    args = p.parse_args(argv)
    limit, test_limit = (6000, 2000) if args.quick else (None, None)
    base_epochs = args.base_epochs or (2 if args.quick else 10)
    args.epochs = args.epochs or (1.0 if args.quick else 2.0)
    log = lambda s: print(s, file=sys.stderr, flush=True)  # noqa: E731

    t0 = time.perf_counter()
    x, y = zoo.fashion_arrays("train", limit=limit)
    xt, yt = zoo.fashion_arrays("test", limit=test_limit)
    x_cal = x[:500]
    base = teacher(base_epochs, args.seed, args.cache_dir, limit)
    log(f"baseline ready ({time.perf_counter() - t0:.0f} s)")
    rows = []
    with tempfile.TemporaryDirectory(prefix="tc-cq-") as tmp:
        work = Path(tmp)
        test = work / "test.npz"
        np.savez(test, x=xt, y=yt)
        base_path = work / "base.keras"
        base.save(base_path)
        ptq_path, qat_path, long_path, q_report = compressed_models(base, x, y, args, work, log)
        log(f"compressed and QAT done ({time.perf_counter() - t0:.0f} s)")
        import keras

        per_tensor = dict(per_channel=False, weights="auto")
        q_epochs = max(0.1, args.epochs / 2)
        for label, path, flags in [("LeNet-5 float baseline (dense INT8 C)", base_path, {}),
                                   ("compressed, PTQ INT8", ptq_path, per_tensor),
                                   (f"compressed + QAT INT8 (compress --qat: {q_epochs:g} epoch(s), Adam 1e-4)",
                                    qat_path, per_tensor),
                                   (f"compressed + QAT INT8 ({args.qat_epochs:g} epochs, Adam {args.qat_lr:g})",
                                    long_path, per_tensor)]:
            model = keras.models.load_model(path)
            zero, distinct = kernel_stats(model)
            row = {"model": label, "keras_accuracy": zoo.evaluate_accuracy(model, xt, yt),
                   "sparsity": zero, "distinct": distinct,
                   **c_row(path, x_cal, test, work / f"c{len(rows)}", **flags)}
            rows.append(row)
            log(f"  {label}: C {row['c_accuracy']:.2%}, bit-exact {row['bit_exact']}")
    print(f"\nFashion-MNIST, {rows[0]['vectors']:,} test images (all verified); LeNet-5 {base_epochs} epochs; "
          f"compress --sparsity {args.sparsity:g} --bits {args.bits} --epochs {args.epochs:g}, "
          f"QAT {max(0.1, args.epochs / 2):g} epoch(s)\n")
    print_table(["model", "zero weights", "max distinct nonzero / kernel", "Keras float accuracy",
                 "INT8 C accuracy", "bit-exact", "weights_bytes", "formats"],
                [[r["model"], f"{r['sparsity']:.1%}", f"{r['distinct']:,}", f"{r['keras_accuracy']:.2%}",
                  f"{r['c_accuracy']:.2%}", yes_no(r["bit_exact"]), f"{r['weights_bytes']:,}", r["formats"]]
                 for r in rows])
    print(f"\nQAT over PTQ: {100 * (rows[2]['c_accuracy'] - rows[1]['c_accuracy']):+.2f} pp as C, "
          f"longer QAT {100 * (rows[3]['c_accuracy'] - rows[1]['c_accuracy']):+.2f} pp "
          f"(held-out simulated INT8: PTQ {q_report.ptq_metric:.2%}, QAT {q_report.qat_metric:.2%}); "
          f"compressed C {rows[0]['weights_bytes'] / rows[1]['weights_bytes']:.1f}x fewer weight bytes "
          f"than the dense INT8 C.")
    print(f"total wall time {time.perf_counter() - t0:.0f} s")
    return finish(rows, args.json)


if __name__ == "__main__":
    sys.exit(main())
