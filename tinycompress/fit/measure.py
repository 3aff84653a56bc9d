"""One candidate, measured as it will be deployed.

A candidate is compressed (`tinycompress.compress`), converted to INT8 with per-tensor weight
scales, compiled for the board with ``--weights auto``, and measured: flash, RAM and latency from
the figures `check` uses (the QEMU image of the board's core, or the compile-time figures when it
does not link), accuracy of the INT8 model on the held-out split with the reference interpreter
(equal to the generated C's once that is verified bit-exact, which `fit` does for the result).

:func:`probe` is the cheap measure: the candidate's masks and codebooks on the untrained
baseline, compiled. Its bytes are the trained candidate's to within the Huffman streams, so a
candidate whose probe is over budget is not fine-tuned. A cost model can replace it later: the
search only needs a callable ``(Candidate) -> Figures``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinycompress.datasets import check_holdout
from tinycompress.errors import UserError
from tinycompress.fit.space import Candidate

CALIBRATION_SAMPLES = 500
EPOCH_SAMPLES = 5000   # held-out samples the per-epoch (Keras) accuracy is measured on
PRUNE_RAMP = 0.5       # fraction of the pruning epochs over which sparsity rises (PruneSpec.ramp)


@dataclass(frozen=True)
class Budgets:
    """The limits a result must meet; None: not constrained. ``max_drop`` in percentage points.
    ``accuracy_margin`` (pp) is added to a measured drop before it is compared with ``max_drop``;
    None: one standard error of the paired drop estimate (:func:`paired_drop`)."""

    max_flash: int | None = None
    max_ram: int | None = None
    max_latency_ms: float | None = None
    max_drop: float | None = None
    accuracy_margin: float | None = None

    def __post_init__(self):
        for name in ("max_flash", "max_ram", "max_latency_ms", "max_drop", "accuracy_margin"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, (int, float)) or v < 0 or
                                  (name not in ("max_drop", "accuracy_margin") and v == 0)):
                raise UserError(f"{name.replace('_', '-')} {v!r} must be a positive number")

    def excess(self, flash: float, ram: float, latency_ms: float | None, drop: float | None) -> dict:
        """Budget -> how far over it (relative to the limit; <= 0: met). A latency that could
        not be measured counts as over when latency is constrained."""
        out = {}
        for key, value, limit in (("flash", flash, self.max_flash), ("ram", ram, self.max_ram),
                                  ("latency", latency_ms, self.max_latency_ms)):
            if limit is not None:
                out[key] = 1.0 if value is None else (value - limit) / limit
        if self.max_drop is not None and drop is not None:
            out["accuracy"] = (drop - self.max_drop) / 100.0
        return out


@dataclass(frozen=True)
class TrainPlan:
    """Fine-tuning of every candidate that passes the probe (Adam, cosine decay; the pruning
    stage's learning rate is ``prune_lr`` times the candidate's ``lr_scale``)."""

    prune_epochs: float = 8.0
    cluster_epochs: float = 2.0
    prune_lr: float = 2e-3
    cluster_lr: float = 1e-4
    batch_size: int = 64
    seed: int = 0


@dataclass
class Figures:
    flash_bytes: int
    ram_bytes: int
    latency_ms: float | None
    instructions: int | None
    weights_bytes: int
    source: str            # "qemu" or "compile-time"

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Data:
    """The fine-tuning split, the held-out split and calibration samples."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray

    @property
    def x_cal(self) -> np.ndarray:
        return self.x_train[:CALIBRATION_SAMPLES]


def split(x: np.ndarray, y: np.ndarray, val_split: float, max_val: int = 5000) -> Data:
    """The first ``val_split`` of the samples (at most ``max_val``) held out, the rest tuned on."""
    n_val = min(max_val, int(len(x) * val_split))
    if n_val < 1 or n_val >= len(x):
        raise UserError(f"--val-split {val_split:g} of {len(x)} samples holds out {n_val}: need at least "
                        "one held-out sample and one to fine-tune on; give more data or another split")
    check_holdout(y[n_val:], y[:n_val], f"--val-split {val_split:g} (the first {n_val} samples)",
                  "--val VAL.npz")
    return Data(x[n_val:], y[n_val:], x[:n_val], y[:n_val])


def deploy(model, data: Data, outdir: Path, board: str, optimize: str = "balanced") -> tuple[bytes, Figures, dict]:
    """Convert (INT8, per-tensor weights), compile for the board (weights auto, ``optimize``), measure."""
    import absl.logging

    from tinycompress.check import check
    from tinycompress.compiler import compile_model
    from tinycompress.frontends.keras import convert

    absl.logging.set_verbosity(absl.logging.ERROR)  # the converter's deprecation note, every trial
    outdir.mkdir(parents=True, exist_ok=True)
    shape = tuple(int(d) for d in model.inputs[0].shape[1:])
    tflite = convert(model, shape, data.x_cal, "candidate", per_channel=False)
    tfl_path = outdir / "model.tflite"
    tfl_path.write_bytes(tflite)
    manifest = compile_model(tfl_path, outdir / "c", board=board, weights="auto", optimize=optimize).manifest
    report = check(outdir / "c", board)
    m = report.measurement
    instr = m.get("instructions_per_inference")
    fig = Figures(int(m["flash_bytes"]), int(m["ram_bytes"]), report.latency_ms,
                  None if instr is None else int(instr), int(manifest["weights_bytes"]),
                  str(m.get("source", "qemu")))
    return tflite, fig, manifest


def int8_correct(tflite: bytes, manifest: dict, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per sample: is the INT8 model's top-1 class (reference interpreter) the label? (bool)"""
    from tinycompress.reference import Reference
    from tinycompress.vectors import quantize_input

    out = Reference(tflite).run_batch(quantize_input(x, manifest["input"]))
    return np.argmax(out, axis=1) == np.asarray(y).reshape(-1)


def int8_accuracy(tflite: bytes, manifest: dict, x: np.ndarray, y: np.ndarray) -> float:
    """Top-1 accuracy of the INT8 model on (x, y), run by the reference interpreter."""
    return float(np.mean(int8_correct(tflite, manifest, x, y)))


def paired_drop(base_correct: np.ndarray, cand_correct: np.ndarray) -> tuple[float, float]:
    """(drop, standard error), percentage points: the accuracy drop from the baseline to a
    candidate measured on the same samples, and the standard error of that estimate from the
    per-sample differences d = base - cand in {-1, 0, 1} (std(d) / sqrt(n)). Paired, it counts
    only the samples on which the two disagree: much tighter than two independent accuracies'
    error (about sqrt(2 p (1 - p) / n))."""
    b = np.asarray(base_correct, dtype=np.float64).reshape(-1)
    c = np.asarray(cand_correct, dtype=np.float64).reshape(-1)
    if b.shape != c.shape or b.size == 0:
        raise ValueError(f"paired_drop needs two equal, non-empty sets of samples ({b.size} vs {c.size})")
    d = b - c
    se = float(np.std(d, ddof=1) / math.sqrt(d.size)) if d.size > 1 else 0.0
    return 100.0 * float(np.mean(d)), 100.0 * se


def _specs(cand: Candidate, plan: TrainPlan | None):
    """The CompressSpec of a candidate: fine-tuned by ``plan``, or one-shot when None (probe)."""
    from tinycompress.compress import ClusterSpec, CompressSpec, PruneSpec, TrainSpec

    def train(epochs, lr):
        if plan is None:
            return TrainSpec(epochs=0)
        return TrainSpec(epochs=epochs, learning_rate=lr, batch_size=plan.batch_size, seed=plan.seed,
                         schedule="cosine", distill=cand.distill)

    p = plan or TrainPlan()
    return CompressSpec(
        prune=PruneSpec(per_layer=dict(cand.sparsity), schedule="polynomial" if plan else "oneshot", ramp=PRUNE_RAMP,
                        train=train(p.prune_epochs, p.prune_lr * cand.lr_scale)),
        cluster=ClusterSpec(per_layer=dict(cand.bits), grid="int8",
                            train=train(p.cluster_epochs, p.cluster_lr)),
        huffman=False)


OnEpoch = Callable[[int, float], None]   # (epoch index over both stages, Keras held-out accuracy)


def compressed(base_path: Path, cand: Candidate, data: Data, plan: TrainPlan | None,
               on_epoch: OnEpoch | None = None):
    """The baseline compressed as ``cand`` says. ``on_epoch`` after every fine-tuning epoch
    (it may raise to stop the trial: optuna.TrialPruned)."""
    import keras

    from tinycompress.compress import compress
    from tinycompress.compress.train import evaluate
    from tinycompress.frontends.keras import load_keras_model

    keras.utils.set_random_seed(plan.seed if plan else 0)
    model = load_keras_model(Path(base_path))
    per_epoch = math.ceil(len(data.x_train) / (plan.batch_size if plan else 64))
    seen = {"epochs": 0}
    x_eval, y_eval = data.x_val[:EPOCH_SAMPLES], data.y_val[:EPOCH_SAMPLES]

    def progress(stage: str, step: int, total: int):
        # Called before every step (0..total-1) and once at the end of a stage (1/1).
        boundary = 0 < step < total and step % per_epoch == 0
        if on_epoch is None or not (boundary or step == total):
            return
        on_epoch(seen["epochs"], evaluate(model, x_eval, y_eval, "classification"))
        seen["epochs"] += 1

    model, _ = compress(model, data.x_train, data.y_train, _specs(cand, plan), data.x_val, data.y_val,
                        progress=progress)
    return model
