"""OUTDIR of a `fit`: the best trial compiled for the board (checked, and verified on TEST.npz
when given), its compressed model as ``model.keras`` (the JSON is written by the caller)."""

from __future__ import annotations

import shutil
from pathlib import Path

from tinycompress.errors import UserError
from tinycompress.fit import measure, study as st
from tinycompress.fit.space import Candidate

KERAS_NAME = "model.keras"


def _artifacts(result, config: dict, log) -> Path:
    """The best trial's directory: where it ran, or rebuilt here from its stored settings (its
    artifacts are on another machine of the study)."""
    from optuna.trial import FixedTrial

    from tinycompress.fit.search import load_split
    from tinycompress.fit.space import ranges_from_json

    best = result.best
    where = Path(best.artifacts) if best.artifacts else None
    if where is not None and (where / "model.tflite").is_file() and (where / KERAS_NAME).is_file():
        return where
    log(f"rebuilding trial {best.number} from its settings (its files are not on this machine)")
    data = load_split(config)
    plan = measure.TrainPlan(**(best.plan or config["plan"]))   # a polished trial's is longer
    setup = st.Setup(Path(config["model"]), config["board"], measure.Budgets(**config["budgets"]),
                     plan, Path(config["workdir"]) / "rebuilt",
                     ranges_from_json(result.ranges), result.baseline_accuracy)
    trial = FixedTrial(best.params, best.number)
    st.run_candidate(trial, setup, data, fixed=Candidate.from_dict(best.candidate))
    return Path(trial.user_attrs["artifacts"])


def write_outputs(result, config: dict, outdir: Path, test, log) -> None:
    """Compile the best trial into ``outdir``, check it against the budgets, verify it on ``test``."""
    from tinycompress.check import check
    from tinycompress.compiler import compile_model

    where = _artifacts(result, config, log)
    b = config["budgets"]
    optimize = Candidate.from_dict(result.best.candidate).optimize
    compile_model(where / "model.tflite", outdir, board=config["board"], weights="auto", optimize=optimize)
    report = check(outdir, config["board"], max_flash=b["max_flash"], max_ram=b["max_ram"],
                   max_latency_ms=b["max_latency_ms"])
    result.check = report.to_dict()
    shutil.copyfile(where / KERAS_NAME, outdir / KERAS_NAME)
    result.outdir, result.keras_path = outdir, outdir / KERAS_NAME
    if test is not None:
        result.test = verify_on_test(outdir, Path(config["model"]), Path(test), log, config["board"], optimize)


QEMU_VECTORS = 20


def verify_on_test(outdir: Path, model: Path, test: Path, log, board: str | None = None,
                   optimize: str = "balanced") -> dict:
    """The generated C against the reference interpreter: the portable C (the same model compiled
    without a board, on the host) on every TEST.npz sample, and, with ``board``, OUTDIR's C for
    the board's core under QEMU on the first ``QEMU_VECTORS``; its accuracy against the float
    baseline's on the same samples."""
    import tempfile

    from tinycompress.compiler import compile_model, read_manifest
    from tinycompress.compress.train import evaluate
    from tinycompress.datasets import load_npz
    from tinycompress.fit.search import _load_model
    from tinycompress.verify import verify

    x, y = load_npz(test, require_y=True)
    log(f"verifying the generated C on {len(x)} test samples")
    tflite = outdir / read_manifest(outdir)["tflite"]
    with tempfile.TemporaryDirectory(prefix="tc-fit-host-") as tmp:
        compile_model(tflite, Path(tmp) / "c", weights="auto", optimize=optimize)
        v = verify(Path(tmp) / "c", target="host", count=0, data=test)
    q = verify(outdir, target="qemu", board=board, count=QEMU_VECTORS, data=test) if board else None
    if not v["bit_exact"] or (q is not None and not q["bit_exact"]):
        raise UserError(f"the generated C of {tflite} is not bit-exact on {test}; this is a tinycompress "
                        "bug: report it with the model")
    base = evaluate(_load_model(model), x, y.reshape(-1), "classification")
    return {"data": str(test), "vectors": v["vectors"], "bit_exact": v["bit_exact"],
            "qemu_vectors": None if q is None else q["vectors"], "accuracy": v["accuracy"],
            "baseline_accuracy": float(base), "drop_pp": 100.0 * (float(base) - v["accuracy"])}
