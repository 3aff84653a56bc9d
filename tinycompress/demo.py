"""The built-in default job: train (or load) a LeNet-5 on Fashion-MNIST, Deep-Compress it (prune,
share weights on the int8 grid), compile the dense INT8 model and the compressed one to C, verify
both bit-exactly against the reference interpreter on the test set, run the compressed C on an
emulated Cortex-M core and check it against the board's flash and RAM; print a summary."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable

import numpy as np

from .compiler import _npz_bytes, compile_model
from .verify import verify

CALIBRATION_SAMPLES = 500
DEFAULT_BOARD = "nucleo-f446re"
# The classic LeNet-5's recipe of benchmarks/deep_compression.py (6.8% of the weights kept; conv
# 4-bit, dense 3-bit shared weights, conv1 8-bit), with shorter fine-tuning.
SPARSITY = {"conv1": 0.4, "conv2": 0.75, "fc1": 0.955, "fc2": 0.9, "fc3": 0.6}
BITS = {"conv1": 8}


def _compressed(model_path: Path, cache: Path, epochs: float, progress) -> tuple[object, dict]:
    """The Deep-Compressed model (cached beside the trained one) and its report."""
    import keras

    from . import zoo
    from .compress import ClusterSpec, CompressSpec, PruneSpec, TrainSpec, compress

    path = cache / f"{model_path.stem}_dc_e{epochs:g}.keras"
    report_path = path.with_suffix(".json")
    if path.is_file() and report_path.is_file():
        return keras.models.load_model(path), json.loads(report_path.read_text())
    model = keras.models.load_model(model_path)
    x, y = zoo.fashion_arrays("train")
    x_val, y_val, x, y = x[:5000], y[:5000], x[5000:], y[5000:]
    spec = CompressSpec(
        prune=PruneSpec(per_layer=SPARSITY, train=TrainSpec(epochs=epochs, learning_rate=2e-3,
                                                            schedule="cosine")),
        cluster=ClusterSpec(conv_bits=4, dense_bits=3, per_layer=BITS,
                            train=TrainSpec(epochs=max(0.1, epochs / 2), learning_rate=1e-4,
                                            schedule="cosine")))
    last = {}

    def step(stage: str, i: int, total: int) -> None:
        if stage != last.get("stage") or i == total or i % max(1, total // 4) == 0:
            progress(f"  {stage}: step {i}/{total}")
        last["stage"] = stage

    keras.utils.set_random_seed(0)
    model, rep = compress(model, x, y, spec, x_val, y_val, progress=step)
    cache.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.keras")
    model.save(tmp)
    tmp.replace(path)
    kept = sum(r.kept * r.weights for r in rep.layers) / sum(r.weights for r in rep.layers)
    summary = {"kept": kept, "table": rep.table()}
    report_path.write_text(json.dumps(summary, indent=2) + "\n")
    return model, summary


def run(workdir: Path, epochs: int = 2, vectors: int = 10000, board: str | None = DEFAULT_BOARD,
        compress_epochs: float = 2.0, progress: Callable[[str], None] = print) -> dict:
    from . import zoo
    from .boards import get_board
    from .datasets import load_fashion_mnist

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    load_fashion_mnist("test")  # fails early, with the install hint, if the data is missing
    if board is not None:
        get_board(board)  # an unknown board fails now, not after training
    progress(f"training LeNet-5 on Fashion-MNIST ({epochs} epochs; cached in {workdir})")
    model, float_acc = zoo.train_lenet5_fashion(epochs=epochs, seed=0, cache_dir=workdir / "cache")
    model_path = workdir / "lenet5_fashion.keras"
    model.save(model_path)
    x_train, _ = zoo.fashion_arrays("train", limit=CALIBRATION_SAMPLES)
    x_test, y_test = zoo.fashion_arrays("test")
    (workdir / "calibration.npz").write_bytes(_npz_bytes(x=x_train))
    (workdir / "test.npz").write_bytes(_npz_bytes(x=x_test, y=y_test.astype(np.int32)))
    float32_bytes = int(sum(np.prod(w.shape) for w in model.weights) * 4)
    progress(f"float model: {100 * float_acc:.2f}% test accuracy; Deep Compression "
             f"(prune {', '.join(f'{k} {v:.0%}' for k, v in SPARSITY.items())}; share weights; "
             f"{compress_epochs:g} + {max(0.1, compress_epochs / 2):g} epochs of fine-tuning)")
    dc_model, dc = _compressed(model_path, workdir / "cache", compress_epochs, progress)
    dc_model_path = workdir / "lenet5_fashion_compressed.keras"
    dc_model.save(dc_model_path)
    dc_acc = zoo.evaluate_accuracy(dc_model, x_test, y_test)

    progress("compiling both to C: dense INT8 (c-dense/) and compressed (c/, --weights auto)")
    dense = compile_model(model_path, workdir / "c-dense", calibration=workdir / "calibration.npz",
                          name="lenet5")
    result = compile_model(dc_model_path, workdir / "c", calibration=workdir / "calibration.npz",
                           name="lenet5", weights="auto", per_channel=False)
    progress(f"verifying the generated C against the reference interpreter on {vectors} "
             "test images (host gcc)")
    dense_report = verify(workdir / "c-dense", target="host", count=vectors, data=workdir / "test.npz")
    report = verify(workdir / "c", target="host", count=vectors, data=workdir / "test.npz")
    m = result.manifest
    summary = {
        "model": str(model_path),
        "compressed_model": str(dc_model_path),
        "outdir": str(workdir / "c"),
        "float_accuracy": float_acc,
        "float32_weights_bytes": float32_bytes,
        "dense": {"outdir": str(workdir / "c-dense"), "accuracy": dense_report.get("accuracy"),
                  "bit_exact": dense_report["bit_exact"],
                  "weights_bytes": dense.manifest["weights_bytes"]},
        "compressed_float_accuracy": dc_acc,
        "kept": dc["kept"],
        "int8_c_accuracy": report.get("accuracy"),
        "bit_exact": report["bit_exact"] and dense_report["bit_exact"],
        "vectors": report["vectors"],
        "mismatches": report["mismatches"] + dense_report["mismatches"],
        "macs": m["macs"],
        "weights_bytes": m["weights_bytes"],
        "ratio": float32_bytes / m["weights_bytes"],
        "formats": {str(i): lay["weight_format"] for i, lay in enumerate(m["layers"])
                    if lay.get("weights_bytes")},
        "flash_bytes": m["flash_bytes"],
        "arena_bytes": m["arena_bytes"],
    }
    if board is not None:
        from .check import check

        b = get_board(board)
        progress(f"running the compressed C under QEMU for board {board} ({b.core}); checking it "
                 "against the board's flash and RAM")
        q = verify(workdir / "c", target="qemu", count=min(vectors, 100), data=workdir / "test.npz",
                   board=board)
        summary["qemu"] = {k: q[k] for k in q if k in (
            "board", "machine", "bit_exact", "vectors", "mismatches", "instructions_per_inference")}
        summary["bit_exact"] = summary["bit_exact"] and q["bit_exact"]
        fit = check(workdir / "c", b, measure=False)
        summary["check"] = {"board": b.name, "fits": fit.ok, "latency_ms_estimate": fit.latency_ms,
                            **{i.name: {"measured": i.measured, "limit": i.limit} for i in fit.items}}
    summary["seconds"] = round(time.monotonic() - t0, 1)
    (workdir / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    return summary
