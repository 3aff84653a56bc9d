"""Benchmark: how `fit`'s fine-tuning settings move one candidate's accuracy drop, and how far the
held-out drop stands from the test drop.

    python benchmarks/fit_finetune.py                        # the plans below, seeds 0 and 1
    python benchmarks/fit_finetune.py --plans 2e-3:12,4e-3:12 --seeds 0,1,2,3
    python benchmarks/fit_finetune.py --model lenet5_caffe --plans 2e-3:6,4e-3:6

One candidate per model (LeNet-300-100: the closest `fit` found for 30K on nucleo-f446re in stop
19, fc1 93.0% pruned 4-bit, fc2 88.6% 6-bit, fc3 18.1% 8-bit, distillation 0.9; LeNet-5
20-50-500: fit9's result for 48K, conv1 49.1% 8-bit, conv2 80.8% 6-bit, fc1 93.2% 4-bit, fc2
66.4% 8-bit, undistilled) is compressed from benchmarks/fit.py's baseline (trained on the
Fashion-MNIST training images after the first 10,000) once per plan (pruning learning rate :
pruning epochs; 3 clustering epochs) and seed, converted to INT8, and run by the reference interpreter on the 10,000 held-out images (the first
training images, fit's --val) and the 10,000 test images. Each drop is paired against the float
baseline on the same images (fit's estimate), with its standard error. Flash is not measured:
the candidate is the same in every row. Downloads nothing; trains nothing but the baseline (cached).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).parent))

import deep_compression as dc  # noqa: E402
import fit as fitbench  # noqa: E402
from _table import print_table, run  # noqa: E402

from tinycompress import zoo  # noqa: E402

CANDIDATES = {  # per model: the closest or the result `fit` found (stop 19: fit10 trial 28, fit9 trial 0)
    "lenet300_100": {"sparsity": {"fc1": 0.930, "fc2": 0.886, "fc3": 0.181}, "bits": {"fc1": 4, "fc2": 6, "fc3": 8},
                     "distill": 0.9, "optimize": "size"},
    "lenet5_caffe": {"sparsity": {"conv1": 0.491, "conv2": 0.808, "fc1": 0.932, "fc2": 0.664},
                     "bits": {"conv1": 8, "conv2": 6, "fc1": 4, "fc2": 8}, "distill": 0.0, "optimize": "size"},
}
PLANS = "1e-3:12,2e-3:12,4e-3:12,8e-3:12,2e-3:24"


def int8_correct(model, data, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per image: is the INT8 model's top-1 class (reference interpreter) the label?"""
    import absl.logging
    from ai_edge_litert.interpreter import Interpreter

    from tinycompress.frontends.keras import convert
    from tinycompress.reference import Reference

    absl.logging.set_verbosity(absl.logging.ERROR)  # the converter's deprecation note, every model
    shape = tuple(int(d) for d in model.inputs[0].shape[1:])
    tflite = convert(model, shape, data.x_cal, "candidate", per_channel=False)
    scale, zero = Interpreter(model_content=tflite).get_input_details()[0]["quantization"]
    xq = np.clip(np.round(x.reshape(len(x), -1) / scale) + zero, -128, 127).astype(np.int8)
    return np.argmax(Reference(tflite).run_batch(xq), axis=1) == y


def paired(base: np.ndarray, cand: np.ndarray) -> str:
    from tinycompress.fit.measure import paired_drop

    drop, se = paired_drop(base, cand)
    return f"{drop:+.2f} ({se:.2f})"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="lenet300_100", choices=sorted(CANDIDATES))
    ap.add_argument("--plans", default=PLANS, help="comma-separated LR:EPOCHS of the pruning stage")
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--cache-dir", type=Path, default=Path(".cache/benchmarks"))
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    from tinycompress.fit import measure
    from tinycompress.fit.space import Candidate
    from tinycompress.frontends.keras import load_keras_model

    x, y = zoo.fashion_arrays("train")
    held = fitbench.HELD_OUT
    base_path = fitbench.fit_baseline(args.model, dc.RECIPES[args.model], args.cache_dir, x[held:], y[held:])
    data = measure.Data(x[held:], y[held:], x[:held], y[:held])
    xt, yt = zoo.fashion_arrays("test")
    sets = {"held-out": (x[:held], y[:held].reshape(-1)), "test": (xt, yt.reshape(-1))}
    baseline = load_keras_model(base_path)
    base_ok = {k: np.argmax(baseline.predict(v[0], verbose=0, batch_size=1000), 1) == v[1] for k, v in sets.items()}
    rows = []
    for plan in args.plans.split(","):
        lr, epochs = (float(v) for v in plan.split(":"))
        for seed in (int(s) for s in args.seeds.split(",")):
            t0 = time.perf_counter()
            tp = measure.TrainPlan(prune_epochs=epochs, cluster_epochs=3.0, prune_lr=lr, seed=seed)
            model = measure.compressed(base_path, Candidate.from_dict(CANDIDATES[args.model]), data, tp)
            ok = {k: int8_correct(model, data, *v) for k, v in sets.items()}
            both = paired(np.concatenate(list(base_ok.values())), np.concatenate(list(ok.values())))
            rows.append({"lr": lr, "epochs": epochs, "seed": seed, "seconds": round(time.perf_counter() - t0),
                         **{k: paired(base_ok[k], ok[k]) for k in sets}, "both": both})
            print(f"  {rows[-1]}", flush=True)
    print_table(["pruning lr", "epochs", "seed", "held-out drop pp (SE)", "test drop pp (SE)", "both (SE)", "s"],
                [[f"{r['lr']:g}", f"{r['epochs']:g}", r["seed"], r["held-out"], r["test"], r["both"], r["seconds"]]
                 for r in rows])
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    run(main)
