"""Deep Compression on Fashion-MNIST LeNets: table 1 of the paper, measured on the emitted C.

    python benchmarks/deep_compression.py                     # the three models, the tuned recipes
    python benchmarks/deep_compression.py --model lenet5 --prune-epochs 6
    python benchmarks/deep_compression.py --quick             # smoke run (small data, ~1 min)

Per model: train the float baseline to convergence (Adam, cosine decay; cached in --cache-dir),
compress it (sensitivity- or per-layer-allocated pruning with a polynomial schedule and
fine-tuning, then k-means weight sharing with centroid fine-tuning; the compressed model is
cached too), convert both to INT8 and compile them to C (dense, and the compressed model with
each of --weights), verify every generated C bit-exactly against the TFLite reference
interpreter on the full Fashion-MNIST test set (host gcc) and report its accuracy, and run
--qemu-vectors test images on an emulated Cortex-M4 (QEMU, bit-exact flag and instructions per
inference, the C compiled for the board: its core's DSP/Helium kernels where it has them).
Bytes: float32 counts every Keras parameter (kernels and biases) at 4 bytes; the
C's bytes are the compiler's `weights_bytes`, every parameter byte placed in flash (weights,
codebooks, indices, Huffman tables, biases, requantisation constants, softmax exp table
when the kernel uses one). Reads Fashion-MNIST from the Debian package dataset-fashion-mnist;
downloads nothing.

The compressed model is quantised with per-tensor weight scales (--per-tensor-off: per channel),
so a weight-shared kernel stays one small int8 codebook and a layer needs one requantisation
multiplier; the dense INT8 row uses the compiler's default per-channel scales.

Results (seed 0; C accuracy on the 10,000 test images, bit-exact on host and on the first 20
images under QEMU on Cortex-M4; shared weights fine-tuned on the per-tensor int8 grid):
- LeNet-300-100: float 90.03% -> 89.68% (-0.35 pp) at 42.0x (25,409 B, 9.5% of weights kept,
  3-bit shared weights, fine-tuned with distillation 0.5 from the baseline). Target met; with
  --seed 1, 90.09% -> 89.90% (-0.19 pp) at 41.7x. The earlier recipe (8.6% kept, no
  distillation) met it by luck: seed 0 -0.43 pp at 45.5x, seed 1 -1.09 pp (seed 1 with 30
  pruning epochs -1.01, 3 pruning iterations -1.27, pruning lr 1e-3 -0.97, distillation -0.22,
  9.8% kept -0.77; seed 0 with distillation -0.57).
- lenet5_caffe, the paper's 431K LeNet-5 (dropout 0.4, 20 epochs; 95.1% on training images):
  float 91.79% -> 91.89% (+0.10 pp) at 43.4x (39,762 B, 8.0% kept; conv1 8-bit, conv2 and fc2
  5-bit, fc1 4-bit shared weights). Target met. With --seed 1 (baseline retrained too): 91.89%
  -> 92.18% (+0.29 pp) at 42.5x. Two changes made it: the int8 grid (the per-tensor INT8
  conversion of float centroids cost 0.72 pp, nearly all of it in conv1's 4-bit codebook) and
  conv1's 8 bits (+300 B; clustering the same pruned model with seeds 0..3 gave 91.77..91.90% in
  Keras, against 90.30..91.09% with a 4-bit conv1, seeds 0..2).
- lenet5, the classic 61,706-parameter net (dropout 0.3, 30 epochs): float 91.23% -> 90.05%
  (-1.18 pp) at 43.3x (5,704 B, 6.8% kept; conv1 8-bit). Target NOT met: pruning alone already
  leaves 90.11% (Keras), and no bit allocation within the 6,170 B budget recovered it.
On the LeNet-5s, fine-tuning augmentation (flip, shift) and distillation from the baseline did
not help (classic net, before the int8 grid: a flip+shift baseline, 90.88%, fine-tuned with
flip+shift and distillation 0.5: -1.92 pp at 52.8x; distillation 0.5 with adjusted dropout:
89.13% against 89.45% without); scaling dropout to the kept weights did (87.68% -> 89.13% at 42x).
Instructions per inference on the Cortex-M4 (the C built for the board, dense layers on its DSP
kernels; compressed layers run portable C), re-measured 2026-12-04 on another machine (baselines
retrained there; LeNet-300-100 then lost 0.73 pp): LeNet-300-100 283k dense, 317k compressed
(auto: hcsr, hcsr, csr); lenet5_caffe 2.65M, 2.76M; classic LeNet-5 694k, 732k (before hcsr and
the current DSP kernels: 402k and 1.11M, 4.15M and 5.42M, 1.10M and 1.01M). Compressed
convolutions multiply only the nonzero taps.
Wall time on 2 cores: about 140 s with everything cached; from scratch about 50 min (baselines
about 3 + 13 + 20 min, compression about 2 + 5 + 4 min).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from tinycompress import zoo  # noqa: E402
from tinycompress.compress import ClusterSpec, CompressSpec, PruneSpec, TrainSpec, compress  # noqa: E402


@dataclass(frozen=True)
class Recipe:
    """Baseline training and compression settings for one model."""

    base_epochs: int
    base_lr: float
    base_batch: int
    per_layer: dict[str, float] = field(default_factory=dict)  # prune sparsity per layer
    sparsity: float = 0.9                                        # used when per_layer is empty
    prune_epochs: float = 4.0
    prune_lr: float = 5e-4
    prune_iterations: int = 1
    bits: dict[str, int] = field(default_factory=dict)           # cluster bits per layer
    conv_bits: int = 8
    dense_bits: int = 5
    cluster_epochs: float = 2.0
    cluster_lr: float = 1e-4
    grid: str = "int8"            # centroids on the per-tensor int8 grid ("none": float centroids)
    base_augment: str = ""        # baseline training: "flip,shift" (tf.image; TrainSpec.augment syntax)
    base_dropout: float = 0.0     # baseline training: Dropout before each Dense layer (LeNet-5)
    augment: str = ""             # fine-tuning (TrainSpec.augment)
    distill: float = 0.0          # fine-tuning: weight of the baseline's soft targets
    temperature: float = 4.0


LATER_FIELDS = ("base_augment", "base_dropout", "augment", "distill", "temperature")
RECIPES = {
    "lenet300_100": Recipe(base_epochs=30, base_lr=1e-3, base_batch=128,
                           per_layer={"fc1": 0.91, "fc2": 0.88, "fc3": 0.6}, dense_bits=3,
                           prune_epochs=20.0, prune_lr=2e-3, cluster_epochs=3, distill=0.5),
    "lenet5": Recipe(base_epochs=30, base_lr=2e-3, base_batch=128, base_dropout=0.3,
                     per_layer={"conv1": 0.4, "conv2": 0.75, "fc1": 0.955, "fc2": 0.9, "fc3": 0.6},
                     conv_bits=4, dense_bits=3, bits={"conv1": 8}, prune_epochs=12.0, prune_lr=2e-3,
                     cluster_epochs=2),
}
RECIPES["lenet5_caffe"] = Recipe(base_epochs=20, base_lr=1e-3, base_batch=128, base_dropout=0.4,
                                 per_layer={"conv1": 0.3, "conv2": 0.8, "fc1": 0.93, "fc2": 0.75},
                                 conv_bits=5, dense_bits=4, bits={"conv1": 8, "fc2": 5},
                                 prune_epochs=12.0, prune_lr=1e-3, cluster_epochs=2)
QUICK = {"train_limit": 3000, "test_limit": 1000, "base_epochs": 2, "prune_epochs": 1.0,
         "cluster_epochs": 0.5, "qemu_vectors": 0}


def _key(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:12]


def _save(model, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.keras")
    model.save(tmp)
    os.replace(tmp, path)


def baseline(name: str, recipe: Recipe, seed: int, cache_dir: Path, train_limit: int | None,
             log=print):
    """The float model trained to convergence (Adam with cosine decay), cached; its path."""
    import keras

    regular = (f"_{recipe.base_augment.replace(',', '+')}" if recipe.base_augment else "") + \
        (f"_d{recipe.base_dropout:g}" if recipe.base_dropout else "")
    path = cache_dir / (f"{name}_fashion_e{recipe.base_epochs}_lr{recipe.base_lr:g}_b{recipe.base_batch}"
                        f"_cos{regular}_s{seed}{f'_n{train_limit}' if train_limit else ''}.keras")
    if path.is_file():
        return keras.models.load_model(path), path
    x, y = zoo.fashion_arrays("train", limit=train_limit)
    keras.utils.set_random_seed(seed)
    model = zoo.MODELS[name](seed=seed, **({"dropout": recipe.base_dropout} if recipe.base_dropout else {}))
    steps = recipe.base_epochs * -(-len(x) // recipe.base_batch)
    lr = keras.optimizers.schedules.CosineDecay(recipe.base_lr, steps, alpha=0.01)
    model.compile(optimizer=keras.optimizers.Adam(lr), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    t0 = time.perf_counter()
    if recipe.base_augment or recipe.base_dropout:
        model.fit(_batches(x, y, recipe.base_augment, recipe.base_batch, seed), epochs=recipe.base_epochs,
                  verbose=0)
    else:
        model.fit(x, y, epochs=recipe.base_epochs, batch_size=recipe.base_batch, shuffle=True, verbose=0)
    log(f"  trained {name} baseline: {recipe.base_epochs} epochs in {time.perf_counter() - t0:.0f} s")
    _save(model, path)
    return model, path


def _batches(x: np.ndarray, y: np.ndarray, augment: str, batch: int, seed: int):
    """A tf.data pipeline of shuffled training batches, randomly flipped and/or shifted when
    ``augment`` says so (the fine-tuning's syntax, TrainSpec.augment: flip, shift, shiftN)."""
    import tensorflow as tf

    ops = TrainSpec(augment=augment).augmentations()

    def aug(a, b):
        for kind, pixels in ops:
            if kind == "flip":
                a = tf.image.random_flip_left_right(a)
            elif pixels:
                a = tf.image.random_crop(tf.pad(a, [[pixels, pixels], [pixels, pixels], [0, 0]]), x.shape[1:])
        return a, b

    ds = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(x), seed=seed)
    if ops:
        ds = ds.map(aug, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.batch(batch).prefetch(2)


def compressed(name: str, base_path: Path, recipe: Recipe, seed: int, cache_dir: Path,
               train_limit: int | None, log=print):
    """The Deep-Compressed model (cached by baseline and recipe); its path and the report text."""
    import keras

    regular = dict(augment=recipe.augment, distill=recipe.distill, temperature=recipe.temperature)
    spec = CompressSpec(
        prune=PruneSpec(sparsity=recipe.sparsity, per_layer=recipe.per_layer,
                        iterations=recipe.prune_iterations,
                        train=TrainSpec(epochs=recipe.prune_epochs, learning_rate=recipe.prune_lr, seed=seed,
                                        schedule="cosine", **regular)),
        cluster=ClusterSpec(conv_bits=recipe.conv_bits, dense_bits=recipe.dense_bits, per_layer=recipe.bits,
                            grid=recipe.grid,
                            train=TrainSpec(epochs=recipe.cluster_epochs, learning_rate=recipe.cluster_lr,
                                            seed=seed, schedule="cosine", **regular)),
    )
    # Fields added later enter the key only when set, so earlier recipes keep their cache entries.
    fields = {k: v for k, v in asdict(recipe).items()
              if k not in LATER_FIELDS or v != Recipe.__dataclass_fields__[k].default}
    path = cache_dir / f"{name}_dc_{_key(base_path.name, fields, seed, train_limit)}.keras"
    text = path.with_suffix(".txt")
    if path.is_file() and text.is_file():
        return keras.models.load_model(path), path, text.read_text()
    model = keras.models.load_model(base_path)
    x, y = zoo.fashion_arrays("train", limit=train_limit)
    # Accuracy before/after and the sensitivity analysis use a held-out part of the training set,
    # never the test set (the test set only measures the final C).
    n_val = min(5000, len(x) // 6)
    x_tr, y_tr, x_val, y_val = x[n_val:], y[n_val:], x[:n_val], y[:n_val]
    keras.utils.set_random_seed(seed)
    t0 = time.perf_counter()
    model, report = compress(model, x_tr, y_tr, spec, x_val, y_val)
    secs = time.perf_counter() - t0
    body = (f"{report.table()}\n(accuracies on the first {n_val} training images: seen by the baseline, "
            f"held out from fine-tuning; compression took {secs:.0f} s)")
    log(f"  compressed {name} in {secs:.0f} s")
    _save(model, path)
    text.write_text(body)
    return model, path, body


def int8_tflite(model, x_cal: np.ndarray, path: Path, per_channel: bool) -> Path:
    """The INT8 TFLite model, per-channel (the compiler's default) or per-tensor weight scales."""
    from tinycompress.frontends.keras import convert

    shape = tuple(int(d) for d in model.inputs[0].shape[1:])
    path.write_bytes(convert(model, shape, x_cal, path.stem, per_channel=per_channel))
    return path


def build_c(tflite: Path, outdir: Path, weights: str, test: Path, board: str | None,
            qemu_vectors: int, test_count: int) -> dict:
    """Compile to C, verify on the test set (host), optionally on QEMU; the numbers for a row.

    The host runs the portable C; QEMU runs the C compiled for `board` (its core's kernels where
    the core has them, as a deployment would), verified again there."""
    from tinycompress.compiler import compile_model
    from tinycompress.verify import verify

    m = compile_model(tflite, outdir, weights=weights).manifest
    host = verify(outdir, target="host", count=test_count, data=test)
    row = {"weights_bytes": int(m["weights_bytes"]), "bit_exact": host["bit_exact"],
           "accuracy": host["accuracy"], "vectors": host["vectors"],
           "formats": [(_short(lay.get("name", "?"), lay.get("op", "?")), lay["weight_format"],
                        lay["weights_bytes"])
                       for lay in m["layers"] if lay.get("weight_format") and lay.get("weights_bytes")]}
    if board and qemu_vectors:
        on_board = outdir.with_name(outdir.name + "_board")
        compile_model(tflite, on_board, weights=weights, board=board)
        q = verify(on_board, target="qemu", board=board, count=qemu_vectors, data=test)
        row.update(qemu_bit_exact=q["bit_exact"], instructions=q["instructions_per_inference"])
    return row


def _short(layer: str, op: str) -> str:
    for part in layer.replace(";", "/").split("/"):
        for key in ("conv1", "conv2", "fc1", "fc2", "fc3"):
            if part.startswith(key):
                return key
    return op.lower()


def run_model(name: str, recipe: Recipe, args, work: Path, log) -> dict:
    t0 = time.perf_counter()
    base, base_path = baseline(name, recipe, args.seed, args.cache_dir, args.train_limit, log)
    x_test, y_test = zoo.fashion_arrays("test", limit=args.test_limit)
    float_acc = zoo.evaluate_accuracy(base, x_test, y_test)
    params = int(base.count_params())
    dc, _, dc_text = compressed(name, base_path, recipe, args.seed, args.cache_dir, args.train_limit, log)
    dc_acc = zoo.evaluate_accuracy(dc, x_test, y_test)
    nonzero = int(sum(np.count_nonzero(w) for w in dc.get_weights()))
    kernels = [w for layer in dc.layers for w in layer.weights if w.path.endswith("kernel")]
    k_total = sum(int(np.prod(w.shape)) for w in kernels)
    k_kept = sum(int(np.count_nonzero(w.numpy())) for w in kernels)

    x_cal, _ = zoo.fashion_arrays("train", limit=500)
    test = work / f"{name}_test.npz"
    np.savez(test, x=x_test, y=y_test)
    count = 0  # all of the test file
    rows = [{"label": "float32 Keras (baseline)", "float_acc": float_acc, "bytes": 4 * params, "kept": 1.0}]
    # Weight sharing gives a kernel one small set of float values; per-tensor scales keep it one
    # small set of int8 values (per-channel scales would give every row its own), and need one
    # requantisation multiplier per layer. The dense baseline keeps the default per-channel scales.
    base_tfl = int8_tflite(base, x_cal, work / f"{name}_base.tflite", per_channel=True)
    dc_tfl = int8_tflite(dc, x_cal, work / f"{name}_dc.tflite", per_channel=args.per_tensor_off)
    c = build_c(base_tfl, work / f"{name}_dense", "dense", test, args.board, args.qemu_vectors, count)
    rows.append({"label": "INT8 C, dense", "float_acc": float_acc, "kept": 1.0, **c})
    for fmt in args.weights:
        c = build_c(dc_tfl, work / f"{name}_{fmt}", fmt, test, args.board, args.qemu_vectors, count)
        rows.append({"label": f"Deep Compression, C --weights {fmt}", "float_acc": dc_acc,
                     "kept": k_kept / k_total, **c})
    for r in rows:
        r.setdefault("weights_bytes", r.get("bytes"))
        r["ratio"] = 4 * params / r["weights_bytes"]
    return {"model": name, "params": params, "nonzero_params": nonzero, "rows": rows,
            "float_accuracy": float_acc, "compress_report": dc_text,
            "seconds": time.perf_counter() - t0}


def print_table(res: dict, board: str | None) -> None:
    base = res["float_accuracy"]
    print(f"\n{res['model']} on Fashion-MNIST ({res['params']:,} parameters; "
          f"{res['rows'][-1].get('vectors', '?')} test images)")
    head = (f"{'':36}{'Keras acc':>10}{'C acc':>8}{'bit-exact':>10}{'vs base':>9}{'bytes':>11}"
            f"{'ratio':>8}{'kept':>7}{'Cortex-M4 instr':>17}")
    print(head)
    print("-" * len(head))
    for r in res["rows"]:
        cacc = r.get("accuracy")
        exact = r.get("bit_exact")
        if exact is not None and "qemu_bit_exact" in r:
            exact_s = f"{'yes' if exact else 'NO'}/{'yes' if r['qemu_bit_exact'] else 'NO'}"
        else:
            exact_s = "-" if exact is None else ("yes" if exact else "NO")
        instr = f"{r['instructions']:,}" if "instructions" in r else "-"
        acc = cacc if cacc is not None else r["float_acc"]
        cacc_s = f"{cacc:.2%}" if cacc is not None else "-"
        delta = f"{100 * (acc - base):+.2f}pp"
        print(f"{r['label']:36.36}{r['float_acc']:>10.2%}{cacc_s:>8}{exact_s:>10}{delta:>9}"
              f"{r['weights_bytes']:>11,}{r['ratio']:>7.1f}x{r['kept']:>7.1%}{instr:>17}")
    for r in res["rows"][2:]:
        fm = ", ".join(f"{n} {f} {b:,}" for n, f, b in r["formats"])
        print(f"  {r['label']}: {fm}")
    best = max(res["rows"][2:], key=lambda r: r["ratio"])
    drop = 100 * (base - best["accuracy"])
    ok = best["ratio"] >= 40 and drop <= 0.5 and best["bit_exact"]
    print(f"  target (>= 40x smaller than float32, <= 0.5 pp below the float baseline, bit-exact): "
          f"{'MET' if ok else 'NOT met'} ({best['ratio']:.1f}x, {-drop:+.2f} pp)")
    if board:
        print(f"  bit-exact: host on all test images / {board} (QEMU) on the first images run there")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="lenet300_100,lenet5_caffe,lenet5",
                   help="comma-separated: lenet300_100, lenet5_caffe (the paper's 431K LeNet-5), lenet5 (classic 61.7K)")
    p.add_argument("--quick", action="store_true", help="smoke run: little data and training, no QEMU")
    p.add_argument("--base-epochs", type=int, help="baseline training epochs (default: the recipe's)")
    p.add_argument("--prune-epochs", type=float, help="pruning fine-tuning epochs")
    p.add_argument("--prune-iterations", type=int, help="iterative pruning steps")
    p.add_argument("--prune-lr", type=float, help="pruning fine-tuning learning rate (Adam, cosine decay)")
    p.add_argument("--cluster-epochs", type=float, help="centroid fine-tuning epochs")
    p.add_argument("--sparsity", type=float,
                   help="overall sparsity spread by sensitivity (replaces the recipe's per-layer sparsity)")
    p.add_argument("--layer-sparsity",
                   help="per-layer sparsity, e.g. fc1=0.92,fc2=0.88 (replaces the recipe's)")
    p.add_argument("--augment", help="fine-tuning augmentation, e.g. flip,shift (replaces the recipe's)")
    p.add_argument("--distill", type=float, help="fine-tuning distillation weight (replaces the recipe's)")
    p.add_argument("--base-augment", help="baseline augmentation: flip,shift or '' (replaces the recipe's)")
    p.add_argument("--base-dropout", type=float, help="baseline dropout (replaces the recipe's)")
    p.add_argument("--grid", choices=("int8", "none"),
                   help="centroid grid: int8 (per-tensor int8 values, the default) or none (float)")
    p.add_argument("--dense-bits", type=int)
    p.add_argument("--layer-bits", help="cluster bits per layer, e.g. conv1=8,fc2=5 (replaces the recipe's)")
    p.add_argument("--conv-bits", type=int)
    p.add_argument("--weights", default="auto,huffman", help="compiler formats for the compressed model")
    p.add_argument("--per-tensor-off", action="store_true",
                   help="quantise the compressed model per channel (default: per tensor)")
    p.add_argument("--board", default="mps2-an386", help="QEMU board ('' to skip)")
    p.add_argument("--qemu-vectors", type=int, default=None, help="test images run under QEMU (default 20; --quick: 0)")
    p.add_argument("--train-limit", type=int, default=None)
    p.add_argument("--test-limit", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cache-dir", type=Path, default=Path(".cache/benchmarks"))
    p.add_argument("--json", type=Path, default=None, help="also write the results as JSON")
    args = p.parse_args(argv)
    if args.quick:
        for k, v in QUICK.items():
            if getattr(args, k, None) is None:
                setattr(args, k, v)
    if args.qemu_vectors is None:
        args.qemu_vectors = 20
    args.weights = [w for w in args.weights.split(",") if w]
    log = lambda s: print(s, file=sys.stderr, flush=True)  # noqa: E731

    t0 = time.perf_counter()
    results = []
    with tempfile.TemporaryDirectory(prefix="tc-dc-") as tmp:
        for name in args.model.split(","):
            if name not in RECIPES:
                p.error(f"unknown model {name!r}; choose from {', '.join(RECIPES)}")
            r = RECIPES[name]
            over = {"base_epochs": args.base_epochs, "prune_epochs": args.prune_epochs,
                    "prune_iterations": args.prune_iterations, "prune_lr": args.prune_lr,
                    "cluster_epochs": args.cluster_epochs,
                    "dense_bits": args.dense_bits, "conv_bits": args.conv_bits, "augment": args.augment,
                    "distill": args.distill, "base_augment": args.base_augment,
                    "base_dropout": args.base_dropout, "grid": args.grid}
            kw = {k: v for k, v in over.items() if v is not None}
            if args.quick:
                kw.setdefault("base_epochs", QUICK["base_epochs"])
                kw.setdefault("prune_epochs", QUICK["prune_epochs"])
                kw.setdefault("cluster_epochs", QUICK["cluster_epochs"])
            if args.sparsity is not None:
                kw.update(sparsity=args.sparsity, per_layer={})
            if args.layer_sparsity:
                kw["per_layer"] = {k: float(v) for k, v in
                                   (item.split("=") for item in args.layer_sparsity.split(","))}
            if args.layer_bits:
                kw["bits"] = {k: int(v) for k, v in (item.split("=") for item in args.layer_bits.split(","))}
            recipe = Recipe(**{**asdict(r), **kw})
            log(f"{name}: {recipe}")
            work = Path(tmp) / name
            work.mkdir()
            res = run_model(name, recipe, args, work, log)
            res["recipe"] = asdict(recipe)
            results.append(res)
            print(res["compress_report"])
            print_table(res, args.board if args.qemu_vectors else None)
            sys.stdout.flush()
    print(f"\ntotal wall time {time.perf_counter() - t0:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str) + "\n")
    ok = all(r["bit_exact"] for res in results for r in res["rows"][1:])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
