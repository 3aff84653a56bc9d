"""`fit`: search compression settings that meet a board's budgets with the least accuracy loss.

A search that is cheap before it is expensive: a sensitivity analysis of the baseline sets the
per-layer ranges; every candidate is first probed (its masks and codebooks on the untrained
baseline, compiled and measured: exact bytes in seconds) and fine-tuned only when the probe fits;
a fine-tuning whose held-out accuracy falls behind the other trials' at the same epoch is stopped
(optuna's median pruner; :func:`.study.hopeless` says when it may be). The first trials are the
centre of the space, undistilled and distilled (:func:`.space.first_trials`). The survivors are measured as deployed (:mod:`.measure`).

Processes share nothing but the optuna study (:mod:`.study`); whichever finishes writes OUTDIR
from the study's best trial, rebuilt from its stored settings when its artifacts are on another
machine.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from tinycompress import results
from tinycompress.errors import UserError
from tinycompress.fit import measure, space, study as st

__all__ = ["fit", "FitResult"]

DEFAULT_TRIALS = 20


@dataclass
class FitResult:
    """What a search found. ``best`` is the study's best trial (feasible or, when ``feasible`` is
    False, the closest candidate); ``front`` the Pareto front of accuracy drop, flash, latency."""

    study_name: str
    storage: str | None
    board: str
    budgets: dict
    baseline_accuracy: float
    feasible: bool
    best: st.TrialRecord | None
    trials: list[st.TrialRecord]
    front: list[st.TrialRecord]
    ranges: list[dict]
    outdir: Path | None = None
    keras_path: Path | None = None
    json_path: Path | None = None
    check: dict | None = None
    test: dict | None = None
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def workers(self) -> list[str]:
        return sorted({t.worker for t in self.trials if t.worker})

    def to_result(self) -> results.FitResult:
        """The typed result (:class:`tinycompress.results.FitResult`, schema docs/schema/fit.json)."""
        d = {k: v for k, v in self.__dict__.items() if k not in ("best", "trials", "front")}
        d.update(best=None if self.best is None else _trial_json(self.best),
                 trials=[_trial_json(t) for t in self.trials], front=[t.number for t in self.front],
                 workers=self.workers)
        return results.FitResult.from_json(results.json_types(d))

    def to_dict(self) -> dict:
        """The JSON of :meth:`to_result` (what ``--json`` prints and fit.json holds)."""
        return self.to_result().to_json()


def _trial_json(t: st.TrialRecord) -> dict:
    return {**t.to_dict(), "candidate": t.candidate or None}


def _file_sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _load_model(path: Path):
    from tinycompress.frontends.keras import load_keras_model

    if not Path(path).is_file():
        raise UserError(f"model file {path} does not exist")
    if Path(path).suffix not in (".keras", ".h5"):
        raise UserError(f"{path}: fit searches a float Keras model; give a .keras (or .h5) file")
    return load_keras_model(Path(path))


def _correct(model, data: measure.Data) -> np.ndarray:
    """Per held-out sample: is the float model's top-1 class the label?"""
    pred = np.asarray(model.predict(data.x_val, batch_size=1024, verbose=0))
    return np.argmax(pred, axis=-1) == data.y_val.reshape(-1)


def _pack(correct: np.ndarray) -> dict:
    return {"n": int(correct.size), "bits": np.packbits(correct.astype(np.uint8)).tobytes().hex()}


def _unpack(d: dict) -> np.ndarray:
    return np.unpackbits(np.frombuffer(bytes.fromhex(d["bits"]), dtype=np.uint8))[: d["n"]].astype(bool)


def _prepare(study, model_path: Path, data: measure.Data, board: str, budgets: measure.Budgets,
             log) -> tuple[list[space.LayerRange], float, np.ndarray]:
    """Ranges, baseline accuracy and the baseline's per-sample held-out correctness (for the
    paired drop estimate): the study's, or computed now (sensitivity analysis) and stored."""
    from tinycompress.compress.layers import targets
    from tinycompress.compress.prune import sensitivity
    from tinycompress.compress.train import resolve_loss

    sha, attrs = _file_sha(model_path), study.user_attrs
    if "ranges" in attrs:
        for key, mine in (("model_sha256", sha), ("board", board), ("budgets", asdict(budgets))):
            if attrs.get(key) != mine:
                raise UserError(f"study {study.study_name!r} was made with another {key.split('_')[0]} "
                                f"({attrs.get(key)!r}); give another --study name")
        stored = attrs.get("baseline_correct")
        correct = _unpack(stored) if stored else _correct(_load_model(model_path), data)
        return space.ranges_from_json(attrs["ranges"]), float(attrs["baseline_accuracy"]), correct
    model = _load_model(model_path)
    if resolve_loss(model, data.y_val)[1] != "classification":
        raise UserError("fit measures accuracy: it needs a classifier and integer class labels in y")
    tgts = targets(model)
    if not tgts:
        raise UserError(f"model {model.name!r} has no compressible layers (Dense, Conv2D, DepthwiseConv2D)")
    correct = _correct(model, data)
    acc = float(np.mean(correct))
    log(f"sensitivity analysis of {len(tgts)} layers (baseline held-out accuracy {acc:.2%})")
    curves = sensitivity(model, data.x_val[:1000], data.y_val[:1000], tgts)
    ranges = space.layer_ranges(curves, {t.name: int(np.prod(t.variable.shape)) for t in tgts},
                                {t.name: t.kind for t in tgts})
    for key, value in (("model_sha256", sha), ("board", board), ("budgets", asdict(budgets)),
                       ("baseline_accuracy", acc), ("baseline_correct", _pack(correct)),
                       ("sensitivity", curves), ("ranges", space.ranges_to_json(ranges))):
        study.set_user_attr(key, value)
    return ranges, acc, correct


def _validate(model: Path, board: str, trials, time_budget, workers: int, outdir) -> None:
    from tinycompress.boards import get_board

    get_board(board)  # unknown board: the list of known ones
    if not Path(model).is_file():
        raise UserError(f"model file {model} does not exist")
    if trials is not None and trials < 1:
        raise UserError(f"--trials {trials} must be at least 1")
    if time_budget is not None and time_budget <= 0:
        raise UserError(f"--time-budget {time_budget:g} must be a positive number of minutes")
    if workers < 1:
        raise UserError(f"--workers {workers} must be at least 1")
    if outdir is not None and Path(outdir).exists() and not Path(outdir).is_dir():
        raise UserError(f"output {outdir} exists and is not a directory: choose another -o")


def run_trials(config: dict, worker: int, on_trial=None, log=None, storage=None) -> None:
    """Join the study of ``config`` and run trials until it has enough or time is up.
    ``storage``: an opened optuna storage (default: opened from ``config["storage"]``)."""
    import optuna

    log = log or (lambda s: None)
    t0 = time.perf_counter()
    data = load_split(config)
    budgets = measure.Budgets(**config["budgets"])
    storage = storage if storage is not None else st.open_storage(config["storage"])
    study = st.create(storage, config["study"], config["seed"], worker)
    ranges, base_acc, base_correct = _prepare(study, Path(config["model"]), data, config["board"], budgets, log)
    setup = st.Setup(Path(config["model"]), config["board"], budgets, measure.TrainPlan(**config["plan"]),
                     Path(config["workdir"]), ranges, base_acc, base_correct)
    n = config["trials"]
    timeout = None if config["time_budget_s"] is None else max(1.0, config["time_budget_s"] - (time.perf_counter() - t0))
    callbacks = [] if n is None else [optuna.study.MaxTrialsCallback(n, states=None)]
    if on_trial is not None:
        callbacks.append(lambda s, t: on_trial(st.records([t])[0]))
    objective = lambda trial: _objective(trial, setup, data, log)  # noqa: E731
    if n is None or len(study.trials) < n:
        if worker == 0 and not study.trials:
            for params in space.first_trials(ranges):
                study.enqueue_trial(params)
        study.optimize(objective, timeout=timeout, callbacks=callbacks, catch=(UserError,), gc_after_trial=True)
    if config.get("polish") and worker == 0:
        st.polish(study, objective, config["polish"], log)


def _objective(trial, setup, data, log):
    try:
        return st.run_candidate(trial, setup, data, log)
    except UserError as e:
        trial.set_user_attr("error", str(e))
        raise


def load_split(config: dict) -> measure.Data:
    """The fine-tuning and held-out samples: VAL.npz when given, else a split of TRAIN.npz."""
    x, y = _load_data(Path(config["data"]))
    if config.get("val") is None:
        return measure.split(x, y, config["val_split"])
    xv, yv = _load_data(Path(config["val"]))
    if xv.shape[1:] != x.shape[1:]:
        raise UserError(f"{config['val']}: x has samples shaped {list(xv.shape[1:])}, but the training "
                        f"data's are {list(x.shape[1:])}; give held-out samples like the training ones")
    return measure.Data(x, y, xv, yv)


def _load_data(path: Path):
    from tinycompress.datasets import load_npz

    x, y = load_npz(path, require_y=True)
    if y.dtype.kind not in "iu":
        raise UserError(f"{path}: fit measures accuracy and needs integer class labels in 'y', got {y.dtype}")
    return x, y.reshape(-1)


def _spawn(config: dict, workers: int, workdir: Path) -> list[subprocess.Popen]:
    cfg = workdir / "worker_config.json"
    cfg.write_text(json.dumps(config, indent=2))
    procs = []
    for i in range(1, workers):
        out = open(workdir / f"worker_{i}.log", "w")
        procs.append(subprocess.Popen([sys.executable, "-m", "tinycompress.fit.worker", str(cfg), str(i)],
                                      stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL))
    return procs


def fit(model, data, board: str, *, outdir=None, max_flash: int | None = None, max_ram: int | None = None,
        max_latency_ms: float | None = None, max_accuracy_drop: float | None = None,
        accuracy_margin: float | None = None, trials: int | None = None, time_budget: float | None = None, storage: str | None = None,
        study: str | None = None, workers: int = 1, val=None, val_split: float = 0.1, test=None,
        plan: measure.TrainPlan | None = None, seed: int = 0, workdir=None, polish: int = 1,
        on_trial: Callable[[st.TrialRecord], None] | None = None,
        log: Callable[[str], None] | None = None, write: bool = True) -> FitResult:
    """Search compression settings of the float Keras ``model`` (path) fine-tuned on ``data``
    (TRAIN.npz with x and integer labels y) for ``board``; budgets in bytes, ms and percentage
    points, measured on ``val`` (VAL.npz: samples the baseline did not train on) or, without it, on
    the first ``val_split`` of ``data`` (an accuracy drop on samples the baseline memorised is
    overstated). A candidate meets ``max_accuracy_drop`` when its held-out drop plus
    ``accuracy_margin`` (pp; default: one standard error of the paired drop estimate, from the
    samples on which it and the baseline disagree) is within it, and the best feasible candidate
    is the one with the smallest such upper bound. ``trials`` counts the study's trials over all processes; ``time_budget`` is minutes for
    this process. ``test`` (TEST.npz): the result's generated C is verified bit-exact on it and its
    accuracy reported. Then the ``polish`` most promising candidates that meet the size budgets
    are fine-tuned again, twice as long (after the time budget). ``write=False`` runs trials only
    (a worker of a larger study)."""
    t0 = time.perf_counter()
    log = log or (lambda s: None)
    model, data = Path(model), Path(data)
    _validate(model, board, trials, time_budget, workers, outdir)
    if trials is None and time_budget is None:
        trials = DEFAULT_TRIALS
    budgets = measure.Budgets(max_flash, max_ram, max_latency_ms, max_accuracy_drop, accuracy_margin)
    base = Path(outdir) if outdir is not None else Path("fit-out")
    workdir = Path(workdir) if workdir is not None else base.parent / f".{base.name}.fit"
    if storage is None and workers > 1:
        storage = f"journal:{workdir / 'study.journal'}"
    name = study or "fit-" + hashlib.sha256(json.dumps(
        [_file_sha(model), board, asdict(budgets), seed]).encode()).hexdigest()[:10]
    plan = plan or measure.TrainPlan()
    config = {"model": str(model.resolve()), "data": str(data.resolve()), "board": board,
              "budgets": asdict(budgets), "trials": trials,
              "time_budget_s": None if time_budget is None else 60.0 * time_budget,
              "storage": storage, "study": name, "seed": seed, "val_split": val_split,
              "val": None if val is None else str(Path(val).resolve()), "polish": polish,
              "plan": asdict(plan), "workdir": str((workdir / name).resolve())}
    load_split(config)  # bad data is refused before any worker starts
    opened = st.open_storage(storage)  # in memory when None: this process holds the study
    Path(config["workdir"]).mkdir(parents=True, exist_ok=True)
    procs = _spawn(config, workers, Path(config["workdir"])) if workers > 1 else []
    try:
        run_trials(config, 0, on_trial, log, opened)
    except BaseException:
        for p in procs:  # the workers this call started, by their handles
            p.terminate()
        raise
    finally:
        codes = [p.wait() for p in procs]
    result = _result(config, opened)
    result.notes += [f"worker {i} exited with code {c}; see {config['workdir']}/worker_{i}.log"
                     for i, c in enumerate(codes, 1) if c]
    if write and outdir is not None and result.best is not None:
        from tinycompress.fit.output import write_outputs

        write_outputs(result, config, Path(outdir), test, log)
    result.seconds = time.perf_counter() - t0
    if write and outdir is not None:
        result.json_path = Path(outdir) / "fit.json"
        result.json_path.write_text(json.dumps(result.to_dict(), indent=2, default=str) + "\n")
    return result


def _result(config: dict, storage) -> FitResult:
    s = st.create(storage, config["study"], config["seed"], 0)
    recs = st.records(s.get_trials(deepcopy=False))
    best, feasible = st.best(recs)
    return FitResult(config["study"], config["storage"], config["board"], config["budgets"],
                     float(s.user_attrs.get("baseline_accuracy", float("nan"))), feasible, best, recs,
                     st.pareto_front(recs), s.user_attrs.get("ranges", []))
